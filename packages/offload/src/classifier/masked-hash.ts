/**
 * An open-addressing hash table keyed on masked FlowKey words: the building
 * block of both table kinds. An exact-match table is one of these; a
 * wildcard table is a set of them, one per distinct mask (tuple space
 * search).
 *
 * Storage is flat typed arrays: per slot, the key words inline, the full
 * 32-bit hash, and the entry id stored there (-1 when empty). Linear
 * probing, load kept at or below one half, deletion by backward shift (no
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
  private slotMask: number;
  private keys: Uint32Array;
  private hashes: Uint32Array;
  private heads: Int32Array;

  /** A table over the non-zero words of `maskWords` (FlowKey match words). */
  constructor(maskWords: Uint32Array, initialSlots = 16) {
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
    let slots = 16;
    while (slots < initialSlots) slots *= 2;
    this.slotMask = slots - 1;
    this.keys = new Uint32Array(slots * this.k);
    this.hashes = new Uint32Array(slots);
    this.heads = new Int32Array(slots).fill(-1);
  }

  /** True if `maskWords` is this table's mask. */
  sameMask(maskWords: Uint32Array): boolean {
    let j = 0;
    for (let i = 0; i < maskWords.length; i++) {
      const m = maskWords[i]!;
      if (m === 0) continue;
      if (j >= this.k || this.words[j] !== i || this.mask[j] !== m) return false;
      j++;
    }
    return j === this.k;
  }

  /** Hash of a FlowKey's words under the mask. */
  hashKey(fk: Uint32Array): number {
    const words = this.words;
    const mask = this.mask;
    let h = this.k;
    for (let i = 0; i < words.length; i++) h = mix(h, fk[words[i]!]! & mask[i]!);
    return fmix(h);
  }

  /** Entry id stored under the masked key of FlowKey words `fk`, or -1. */
  lookup(fk: Uint32Array): number {
    const words = this.words;
    const mask = this.mask;
    const k = this.k;
    let h = k;
    for (let i = 0; i < k; i++) h = mix(h, fk[words[i]!]! & mask[i]!);
    h = fmix(h);
    const heads = this.heads;
    const hashes = this.hashes;
    const keys = this.keys;
    const sm = this.slotMask;
    let s = h & sm;
    for (;;) {
      const e = heads[s]!;
      if (e === -1) return -1;
      if (hashes[s] === h) {
        const base = s * k;
        let i = 0;
        while (i < k && keys[base + i] === ((fk[words[i]!]! & mask[i]!) >>> 0)) i++;
        if (i === k) return e;
      }
      s = (s + 1) & sm;
    }
  }

  /** Slot holding the masked key of `fk` (values already masked or not), or -1. */
  findSlot(fk: Uint32Array): number {
    const h = this.hashKey(fk);
    const k = this.k;
    let s = h & this.slotMask;
    for (;;) {
      if (this.heads[s] === -1) return -1;
      if (this.hashes[s] === h) {
        const base = s * k;
        let i = 0;
        while (i < k && this.keys[base + i] === ((fk[this.words[i]!]! & this.mask[i]!) >>> 0)) i++;
        if (i === k) return s;
      }
      s = (s + 1) & this.slotMask;
    }
  }

  headAt(slot: number): number {
    return this.heads[slot]!;
  }

  setHead(slot: number, entry: number): void {
    this.heads[slot] = entry;
  }

  /** Every stored entry id (control path). */
  *entries(): IterableIterator<number> {
    for (let s = 0; s <= this.slotMask; s++) if (this.heads[s] !== -1) yield this.heads[s]!;
  }

  /** Insert the masked key of `fk` with entry id `entry`; the key must not be present. Returns the slot. */
  insert(fk: Uint32Array, entry: number): number {
    if ((this.count + 1) * 2 > this.slotMask + 1) this.grow();
    const h = this.hashKey(fk);
    let s = h & this.slotMask;
    while (this.heads[s] !== -1) s = (s + 1) & this.slotMask;
    const base = s * this.k;
    for (let i = 0; i < this.k; i++) this.keys[base + i] = (fk[this.words[i]!]! & this.mask[i]!) >>> 0;
    this.hashes[s] = h;
    this.heads[s] = entry;
    this.count++;
    return s;
  }

  /** Remove the entry at `slot`, shifting later members of its probe run back. */
  removeSlot(slot: number): void {
    const sm = this.slotMask;
    const k = this.k;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & sm;
      if (this.heads[j] === -1) break;
      const home = this.hashes[j]! & sm;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.heads[hole] = this.heads[j]!;
        this.hashes[hole] = this.hashes[j]!;
        this.keys.copyWithin(hole * k, j * k, j * k + k);
        hole = j;
      }
    }
    this.heads[hole] = -1;
    this.count--;
  }

  private grow(): void {
    const oldHeads = this.heads;
    const oldHashes = this.hashes;
    const oldKeys = this.keys;
    const k = this.k;
    const slots = (this.slotMask + 1) * 2;
    this.slotMask = slots - 1;
    this.keys = new Uint32Array(slots * k);
    this.hashes = new Uint32Array(slots);
    this.heads = new Int32Array(slots).fill(-1);
    for (let o = 0; o < oldHeads.length; o++) {
      const e = oldHeads[o]!;
      if (e === -1) continue;
      const h = oldHashes[o]!;
      let s = h & this.slotMask;
      while (this.heads[s] !== -1) s = (s + 1) & this.slotMask;
      this.heads[s] = e;
      this.hashes[s] = h;
      this.keys.set(oldKeys.subarray(o * k, o * k + k), s * k);
    }
  }

  /** Bytes held by the table's arrays (for capacity reports). */
  get bytes(): number {
    return this.keys.byteLength + this.hashes.byteLength + this.heads.byteLength;
  }
}
