/**
 * An open-addressing hash table keyed on masked FlowKey words: the building
 * block of both table kinds. An exact-match table is one of these; a
 * wildcard table is a set of them, one per distinct mask (tuple space
 * search).
 *
 * Storage is one flat Int32Array: per slot, the full 32-bit hash, the
 * value stored there (-1 when empty) and the key words inline, so a probe
 * touches one cache line. Linear probing, load kept at or below one half, deletion by backward shift (no
 * tombstones), so lookups never degrade after churn. Lookups read the key
 * straight from the FlowKey words and allocate nothing.
 */

/** Mix one word into a running hash (the MurmurHash3 32-bit block step). */
function mix(h: number, x: number): number {
  x = Math.imul(x, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b873593);
  h ^= x;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Final avalanche (MurmurHash3 fmix32). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class MaskedHash {
  /** FlowKey word indexes that take part in the key (those with a non-zero mask). */
  readonly words: Int32Array;
  /** The mask of each of those words. */
  readonly mask: Uint32Array;
  /** Key length in words. */
  readonly k: number;
  /** Entries stored. */
  count = 0;
  /** Int32 words per slot: hash, value (-1 when empty), then the k key words. One cache line for short keys. */
  private readonly stride: number;
  private slotMask: number;
  private t: Int32Array;

  /** A table over the non-zero words of `maskWords` (FlowKey match words). */
  constructor(maskWords: ArrayLike<number>, initialSlots = 16) {
    const words: number[] = [];
    const mask: number[] = [];
    for (let i = 0; i < maskWords.length; i++) {
      if (maskWords[i] !== 0) {
        words.push(i);
        mask.push(maskWords[i]!);
      }
    }
    this.words = Int32Array.from(words);
    this.mask = Uint32Array.from(mask);
    this.k = words.length;
    this.stride = this.k + 2;
    let slots = 16;
    while (slots < initialSlots) slots *= 2;
    this.slotMask = slots - 1;
    this.t = new Int32Array(slots * this.stride).fill(-1);
  }

  /** True if `maskWords` is this table's mask. */
  sameMask(maskWords: ArrayLike<number>): boolean {
    let j = 0;
    for (let i = 0; i < maskWords.length; i++) {
      const m = maskWords[i]!;
      if (m === 0) continue;
      if (j >= this.k || this.words[j] !== i || this.mask[j] !== m >>> 0) return false;
      j++;
    }
    return j === this.k;
  }

  /** Hash of a FlowKey's words under the mask (as an int32). */
  hashKey(fk: ArrayLike<number>): number {
    const words = this.words;
    const mask = this.mask;
    let h = this.k;
    for (let i = 0; i < words.length; i++) h = mix(h, fk[words[i]!]! & mask[i]!);
    return fmix(h) | 0;
  }

  /** Value stored under the masked key of FlowKey words `fk`, or -1. */
  lookup(fk: Uint32Array): number {
    const words = this.words;
    const mask = this.mask;
    const k = this.k;
    let h = k;
    for (let i = 0; i < k; i++) h = mix(h, fk[words[i]!]! & mask[i]!);
    h = fmix(h) | 0;
    const t = this.t;
    const stride = this.stride;
    const sm = this.slotMask;
    let s = h & sm;
    for (;;) {
      const base = s * stride;
      const e = t[base + 1]!;
      if (e === -1) return -1;
      if (t[base] === h) {
        let i = 0;
        while (i < k && t[base + 2 + i] === (fk[words[i]!]! & mask[i]!)) i++;
        if (i === k) return e;
      }
      s = (s + 1) & sm;
    }
  }

  /** Slot holding the masked key of `fk`, or -1. */
  findSlot(fk: ArrayLike<number>): number {
    const h = this.hashKey(fk);
    const k = this.k;
    const t = this.t;
    let s = h & this.slotMask;
    for (;;) {
      const base = s * this.stride;
      if (t[base + 1] === -1) return -1;
      if (t[base] === h) {
        let i = 0;
        while (i < k && t[base + 2 + i] === (fk[this.words[i]!]! & this.mask[i]!)) i++;
        if (i === k) return s;
      }
      s = (s + 1) & this.slotMask;
    }
  }

  headAt(slot: number): number {
    return this.t[slot * this.stride + 1]!;
  }

  setHead(slot: number, value: number): void {
    this.t[slot * this.stride + 1] = value;
  }

  /** Every stored value (control path). */
  *entries(): IterableIterator<number> {
    for (let s = 0; s <= this.slotMask; s++) {
      const e = this.t[s * this.stride + 1]!;
      if (e !== -1) yield e;
    }
  }

  /** Insert the masked key of `fk` with `value` (a non-negative int); the key must not be present. Returns the slot. */
  insert(fk: ArrayLike<number>, value: number): number {
    if ((this.count + 1) * 2 > this.slotMask + 1) this.grow();
    const h = this.hashKey(fk);
    const t = this.t;
    let s = h & this.slotMask;
    while (t[s * this.stride + 1] !== -1) s = (s + 1) & this.slotMask;
    const base = s * this.stride;
    t[base] = h;
    t[base + 1] = value;
    for (let i = 0; i < this.k; i++) t[base + 2 + i] = fk[this.words[i]!]! & this.mask[i]!;
    this.count++;
    return s;
  }

  /** Remove the entry at `slot`, shifting later members of its probe run back. */
  removeSlot(slot: number): void {
    const sm = this.slotMask;
    const st = this.stride;
    const t = this.t;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & sm;
      if (t[j * st + 1] === -1) break;
      const home = t[j * st]! & sm;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        t.copyWithin(hole * st, j * st, j * st + st);
        hole = j;
      }
    }
    t[hole * st + 1] = -1;
    this.count--;
  }

  private grow(): void {
    const old = this.t;
    const st = this.stride;
    const slots = (this.slotMask + 1) * 2;
    this.slotMask = slots - 1;
    const t = new Int32Array(slots * st).fill(-1);
    for (let o = 0; o < old.length; o += st) {
      if (old[o + 1] === -1) continue;
      let s = old[o]! & this.slotMask;
      while (t[s * st + 1] !== -1) s = (s + 1) & this.slotMask;
      t.set(old.subarray(o, o + st), s * st);
    }
    this.t = t;
  }

  /** Bytes held by the table (for capacity reports). */
  get bytes(): number {
    return this.t.byteLength;
  }
}
