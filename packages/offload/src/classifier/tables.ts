/**
 * The two flow-table kinds of the device model.
 *
 * - {@link ExactTable}: a hash table keyed on a declared field set (the
 *   table's key template); every entry gives a value for exactly those
 *   fields, so a lookup is one hash probe. Models the large exact-match
 *   (EM) flow tables of SmartNICs.
 * - {@link WildcardTable}: priority-ordered value/mask entries (a TCAM).
 *   Modelled in software by tuple space search: one {@link MaskedHash} per
 *   distinct mask, probed in order of the best rule each holds, stopping as
 *   soon as no remaining subtable can beat the best match found so far.
 *   The result is exactly what a TCAM's priority encoder gives.
 *
 * Both return a rule slot (the classifier's index) or -1 on a miss, and
 * allocate nothing per lookup. Insertions and removals are control path.
 */
import { FLOW_KEY_MATCH_WORDS } from "../flow-key.js";
import { MaskedHash } from "./masked-hash.js";

function growInt32(a: Int32Array, min: number, fill: number): Int32Array<ArrayBuffer> {
  let n = Math.max(16, a.length);
  while (n < min) n *= 2;
  const b = new Int32Array(n).fill(fill);
  b.set(a);
  return b;
}

function growFloat64(a: Float64Array, min: number): Float64Array<ArrayBuffer> {
  let n = Math.max(16, a.length);
  while (n < min) n *= 2;
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

/** Table-local entry ids, recycled through a free list. */
class EntryIds {
  next = 0;
  private free: number[] = [];
  alloc(): number {
    return this.free.length > 0 ? this.free.pop()! : this.next++;
  }
  release(id: number): void {
    this.free.push(id);
  }
}

export class ExactTable {
  readonly kind = "exact" as const;
  readonly hash: MaskedHash;
  private ids = new EntryIds();
  private entryRule = new Int32Array(16).fill(-1);
  private entryKey: Uint32Array;
  private readonly scratch = new Uint32Array(FLOW_KEY_MATCH_WORDS);

  /** An exact table over the key template `mask` (FlowKey match words). */
  constructor(
    readonly id: number,
    readonly capacity: number,
    readonly template: ArrayLike<number>,
  ) {
    this.hash = new MaskedHash(template);
    this.entryKey = new Uint32Array(16 * this.hash.k);
  }

  get size(): number {
    return this.hash.count;
  }

  /** True if an entry with the masked key of `value` exists. */
  has(value: ArrayLike<number>): boolean {
    return this.hash.findSlot(value) !== -1;
  }

  /** Insert `value` (masked match words) for rule slot `rule`; returns the entry id. Caller checks capacity and duplicates. */
  insert(value: ArrayLike<number>, rule: number): number {
    const e = this.ids.alloc();
    const k = this.hash.k;
    if (e >= this.entryRule.length) {
      this.entryRule = growInt32(this.entryRule, e + 1, -1);
      const keys = new Uint32Array(this.entryRule.length * k);
      keys.set(this.entryKey);
      this.entryKey = keys;
    }
    this.entryRule[e] = rule;
    for (let i = 0; i < k; i++) this.entryKey[e * k + i] = (value[this.hash.words[i]!]! & this.hash.mask[i]!) >>> 0;
    // The hash stores the rule slot itself: a hit needs no second indirection.
    this.hash.insert(value, rule);
    return e;
  }

  remove(entry: number): void {
    const k = this.hash.k;
    const s = this.scratch;
    s.fill(0);
    for (let i = 0; i < k; i++) s[this.hash.words[i]!] = this.entryKey[entry * k + i]!;
    const slot = this.hash.findSlot(s);
    if (slot !== -1) this.hash.removeSlot(slot);
    this.entryRule[entry] = -1;
    this.ids.release(entry);
  }

  /** Rule slot matching FlowKey words `fk`, or -1. */
  lookup(fk: Uint32Array): number {
    return this.hash.lookup(fk);
  }
}

/** One mask of a wildcard table, with the best (lowest) rank among its entries. */
interface Subtable {
  readonly hash: MaskedHash;
  minRank: number;
}

export class WildcardTable {
  readonly kind = "wildcard" as const;
  private ids = new EntryIds();
  private entryRule = new Int32Array(16).fill(-1);
  private entryRank = new Float64Array(16);
  private entryNext = new Int32Array(16).fill(-1);
  private entrySub: (Subtable | undefined)[] = [];
  private entryValue: (ArrayLike<number> | undefined)[] = [];
  private subtables: Subtable[] = [];
  /** Subtables sorted by best rank; what a lookup walks. */
  private order: Subtable[] = [];
  private count = 0;

  constructor(
    readonly id: number,
    readonly capacity: number,
  ) {}

  /** TCAM entries in use. */
  get size(): number {
    return this.count;
  }

  /** Distinct masks in use (the tuple count a lookup may probe). */
  get masks(): number {
    return this.order.length;
  }

  /**
   * Insert one entry for rule slot `rule` with `rank` (priority · 2^32 +
   * creation sequence: lower wins). Returns the entry id. Caller checks capacity.
   */
  insert(value: ArrayLike<number>, mask: ArrayLike<number>, rank: number, rule: number): number {
    const e = this.ids.alloc();
    if (e >= this.entryRule.length) {
      this.entryRule = growInt32(this.entryRule, e + 1, -1);
      this.entryNext = growInt32(this.entryNext, e + 1, -1);
      this.entryRank = growFloat64(this.entryRank, e + 1);
    }
    let st = this.subtables.find((s) => s.hash.sameMask(mask));
    if (st === undefined) {
      st = { hash: new MaskedHash(mask), minRank: Infinity };
      this.subtables.push(st);
    }
    this.entryRule[e] = rule;
    this.entryRank[e] = rank;
    this.entrySub[e] = st;
    this.entryValue[e] = value;
    const slot = st.hash.findSlot(value);
    if (slot === -1) {
      this.entryNext[e] = -1;
      st.hash.insert(value, e);
    } else {
      // Same masked key as existing entries: keep the chain sorted by rank.
      let prev = -1;
      let cur = st.hash.headAt(slot);
      while (cur !== -1 && this.entryRank[cur]! < rank) {
        prev = cur;
        cur = this.entryNext[cur]!;
      }
      this.entryNext[e] = cur;
      if (prev === -1) st.hash.setHead(slot, e);
      else this.entryNext[prev] = e;
    }
    this.count++;
    if (rank < st.minRank) {
      st.minRank = rank;
      this.reorder();
    } else if (!this.order.includes(st)) this.reorder();
    return e;
  }

  remove(entry: number): void {
    const st = this.entrySub[entry]!;
    const value = this.entryValue[entry]!;
    const slot = st.hash.findSlot(value);
    if (slot !== -1) {
      const head = st.hash.headAt(slot);
      if (head === entry) {
        const next = this.entryNext[entry]!;
        if (next === -1) st.hash.removeSlot(slot);
        else st.hash.setHead(slot, next);
      } else {
        let prev = head;
        while (prev !== -1 && this.entryNext[prev] !== entry) prev = this.entryNext[prev]!;
        if (prev !== -1) this.entryNext[prev] = this.entryNext[entry]!;
      }
    }
    const rank = this.entryRank[entry]!;
    this.entryRule[entry] = -1;
    this.entryNext[entry] = -1;
    this.entrySub[entry] = undefined;
    this.entryValue[entry] = undefined;
    this.ids.release(entry);
    this.count--;
    if (st.hash.count === 0) {
      this.subtables.splice(this.subtables.indexOf(st), 1);
      this.reorder();
    } else if (rank === st.minRank) {
      let min = Infinity;
      for (const e of st.hash.entries()) min = Math.min(min, this.entryRank[e]!);
      st.minRank = min;
      this.reorder();
    }
  }

  private reorder(): void {
    this.order = this.subtables.filter((s) => s.hash.count > 0).sort((a, b) => a.minRank - b.minRank);
  }

  /** Rule slot of the best-ranked entry matching FlowKey words `fk`, or -1. */
  lookup(fk: Uint32Array): number {
    const order = this.order;
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < order.length; i++) {
      const st = order[i]!;
      if (st.minRank >= bestRank) break;
      const e = st.hash.lookup(fk);
      if (e !== -1) {
        const r = this.entryRank[e]!;
        if (r < bestRank) {
          bestRank = r;
          best = e;
        }
      }
    }
    return best === -1 ? -1 : this.entryRule[best]!;
  }
}

export type FlowTable = ExactTable | WildcardTable;
