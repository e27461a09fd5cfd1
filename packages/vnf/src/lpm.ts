/**
 * Longest-prefix match by a multibit trie with controlled prefix expansion.
 *
 * IPv4 uses DIR-24-8 (Gupta, Lin and McKeown, "Routing Lookups in Hardware
 * at Memory Access Speeds", INFOCOM 1998): a 2^24-entry first table indexed
 * by the top 24 address bits and 256-entry second-level groups for prefixes
 * longer than /24, so a lookup costs one or two memory reads. The first
 * level's width is a parameter (16..24; DIR-16-8-8 uses a third level) for
 * small-memory setups and tests.
 *
 * IPv6 uses the same structure with a 16-bit first level and 8-bit strides
 * below (at most 15 reads for a /128), as the multibit tries of Srinivasan and
 * Varghese ("Fast Address Lookups Using Controlled Prefix Expansion",
 * SIGMETRICS 1998) do.
 *
 * Each entry is a 32-bit word: bit 31 marks a pointer to a child group (its
 * index in the low 24 bits); otherwise bit 30 marks a valid leaf whose bits
 * 22..29 hold the depth (prefix length) that produced it and bits 0..21 the
 * next-hop index. The depth lets an insert overwrite only entries of shorter
 * prefixes and a delete restore the next covering prefix, found in a
 * per-length map of the installed routes (the RIB), as DPDK's rte_lpm does.
 */
import { VnfError } from "./errors.js";

const EXT = 0x80000000;
const VALID = 0x40000000;
const NH_MASK = 0x3fffff;
const GROUP_MASK = 0xffffff;
/** Largest next-hop index an entry can hold. */
export const LPM_MAX_NEXT_HOP = NH_MASK;

function leaf(nh: number, depth: number): number {
  return (VALID | (depth << 22) | nh) >>> 0;
}

/** Bits [start, start+count) of a big-endian byte key, count <= 24. */
function bitsAt(key: Uint8Array, start: number, count: number): number {
  let v = 0;
  for (let i = 0; i < count; i++) {
    const bit = start + i;
    v = (v << 1) | ((key[bit >> 3]! >> (7 - (bit & 7))) & 1);
  }
  return v >>> 0;
}

class StrideTrie {
  /** Root table followed by the groups (group g at rootSize + g*256). */
  readonly t: Uint32Array;
  readonly rootBits: number;
  readonly rootSize: number;
  readonly keyBits: number;
  private readonly freeGroups: Int32Array;
  private freeTop: number;
  private readonly rib: Map<string, number>[];
  private count = 0;

  constructor(keyBits: number, rootBits: number, groups: number) {
    if (groups < 1 || groups > GROUP_MASK + 1) throw new VnfError("usage", `LPM groups must be 1..${GROUP_MASK + 1}`);
    this.keyBits = keyBits;
    this.rootBits = rootBits;
    this.rootSize = 2 ** rootBits;
    this.t = new Uint32Array(this.rootSize + groups * 256);
    this.freeGroups = new Int32Array(groups);
    for (let i = 0; i < groups; i++) this.freeGroups[i] = groups - 1 - i;
    this.freeTop = groups;
    this.rib = Array.from({ length: keyBits + 1 }, () => new Map<string, number>());
  }

  get size(): number {
    return this.count;
  }

  get freeGroupCount(): number {
    return this.freeTop;
  }

  private ribKey(key: Uint8Array, len: number): string {
    let s = "";
    for (let i = 0; i < (len + 7) >> 3; i++) {
      let byte = key[i]!;
      if (i * 8 + 8 > len) byte &= (0xff << (8 - (len - i * 8))) & 0xff;
      s += byte.toString(16).padStart(2, "0");
    }
    return s;
  }

  private groupsNeeded(len: number): number {
    return len <= this.rootBits ? 0 : Math.ceil((len - this.rootBits) / 8);
  }

  add(key: Uint8Array, len: number, nh: number): void {
    if (!Number.isInteger(len) || len < 0 || len > this.keyBits) throw new VnfError("usage", `prefix length ${len} is not 0..${this.keyBits}`);
    if (!Number.isInteger(nh) || nh < 0 || nh > NH_MASK) throw new VnfError("usage", `next hop ${nh} is not 0..${NH_MASK}`);
    if (this.freeTop < this.groupsNeeded(len))
      throw new VnfError("capacity", `LPM table has no free groups for a /${len} (raise the group count)`);
    const rk = this.ribKey(key, len);
    if (!this.rib[len]!.has(rk)) this.count++;
    this.rib[len]!.set(rk, nh);
    this.addAt(0, 0, this.rootBits, key, len, leaf(nh, len));
  }

  private addAt(base: number, start: number, stride: number, key: Uint8Array, len: number, entry: number): void {
    const t = this.t;
    const end = start + stride;
    if (len <= end) {
      const span = end - len;
      const idx0 = bitsAt(key, start, stride) & ~((1 << span) - 1);
      const end2 = base + idx0 + (1 << span);
      for (let pos = base + idx0; pos < end2; pos++) {
        const e = t[pos]!;
        if (e & EXT) this.setIfShallower(pos, entry, len);
        else if (!(e & VALID) || ((e >>> 22) & 0xff) <= len) t[pos] = entry;
      }
      return;
    }
    const pos = base + bitsAt(key, start, stride);
    let e = t[pos]!;
    if (!(e & EXT)) {
      const g = this.freeGroups[--this.freeTop]!;
      const gb = this.rootSize + g * 256;
      t.fill(e, gb, gb + 256);
      e = (EXT | g) >>> 0;
      t[pos] = e;
    }
    this.addAt(this.rootSize + (e & GROUP_MASK) * 256, end, 8, key, len, entry);
  }

  private setIfShallower(pos: number, entry: number, len: number): void {
    const e = this.t[pos]!;
    if (e & EXT) {
      const gb = this.rootSize + (e & GROUP_MASK) * 256;
      for (let j = 0; j < 256; j++) this.setIfShallower(gb + j, entry, len);
    } else if (!(e & VALID) || ((e >>> 22) & 0xff) <= len) {
      this.t[pos] = entry;
    }
  }

  /** Remove the prefix; returns false when it was not installed. */
  delete(key: Uint8Array, len: number): boolean {
    if (!Number.isInteger(len) || len < 0 || len > this.keyBits) return false;
    if (!this.rib[len]!.delete(this.ribKey(key, len))) return false;
    this.count--;
    let repl = 0;
    for (let l = len - 1; l >= 0; l--) {
      const nh = this.rib[l]!.get(this.ribKey(key, l));
      if (nh !== undefined) {
        repl = leaf(nh, l);
        break;
      }
    }
    this.deleteAt(0, 0, this.rootBits, key, len, repl);
    return true;
  }

  private deleteAt(base: number, start: number, stride: number, key: Uint8Array, len: number, repl: number): void {
    const end = start + stride;
    if (len <= end) {
      const span = end - len;
      const idx0 = bitsAt(key, start, stride) & ~((1 << span) - 1);
      const t = this.t;
      const end2 = base + idx0 + (1 << span);
      for (let pos = base + idx0; pos < end2; pos++) {
        const e = t[pos]!;
        if (e & EXT) this.replaceDepth(pos, len, repl);
        else if (e & VALID && ((e >>> 22) & 0xff) === len) t[pos] = repl;
      }
      return;
    }
    const pos = base + bitsAt(key, start, stride);
    const e = this.t[pos]!;
    if (!(e & EXT)) return;
    this.deleteAt(this.rootSize + (e & GROUP_MASK) * 256, end, 8, key, len, repl);
    this.tryCollapse(pos);
  }

  private replaceDepth(pos: number, len: number, repl: number): void {
    const e = this.t[pos]!;
    if (e & EXT) {
      const gb = this.rootSize + (e & GROUP_MASK) * 256;
      for (let j = 0; j < 256; j++) this.replaceDepth(gb + j, len, repl);
      this.tryCollapse(pos);
    } else if (e & VALID && ((e >>> 22) & 0xff) === len) {
      this.t[pos] = repl;
    }
  }

  /** Replace a pointer by its group's common leaf when all 256 entries are equal leaves, freeing the group. */
  private tryCollapse(pos: number): void {
    const t = this.t;
    const e = t[pos]!;
    if (!(e & EXT)) return;
    const g = e & GROUP_MASK;
    const gb = this.rootSize + g * 256;
    const first = t[gb]!;
    if (first & EXT) return;
    for (let j = 1; j < 256; j++) if (t[gb + j] !== first) return;
    t[pos] = first;
    this.freeGroups[this.freeTop++] = g;
  }

  clear(): void {
    this.t.fill(0);
    const groups = this.freeGroups.length;
    for (let i = 0; i < groups; i++) this.freeGroups[i] = groups - 1 - i;
    this.freeTop = groups;
    for (const m of this.rib) m.clear();
    this.count = 0;
  }

  *routes(): Generator<{ key: string; len: number; nh: number }> {
    for (let len = 0; len < this.rib.length; len++) for (const [key, nh] of this.rib[len]!) yield { key, len, nh };
  }
}

export interface Lpm4Options {
  /** Bits of the first-level table: 24 gives DIR-24-8 (64 MiB), 16 gives DIR-16-8-8 (256 KiB). Default 24. */
  rootBits?: number;
  /** Number of 256-entry groups for longer prefixes (1 KiB each). Default 4096. */
  groups?: number;
}

/** IPv4 longest-prefix match (DIR-24-8). Next hops are integers 0..{@link LPM_MAX_NEXT_HOP}. */
export class Lpm4 {
  private readonly trie: StrideTrie;
  private readonly key = new Uint8Array(4);
  private readonly t: Uint32Array;
  private readonly rootShift: number;
  private readonly rootSize: number;

  constructor(opts: Lpm4Options = {}) {
    const rootBits = opts.rootBits ?? 24;
    if (rootBits !== 16 && rootBits !== 24) throw new VnfError("usage", `Lpm4 rootBits must be 16 or 24 (got ${rootBits})`);
    this.trie = new StrideTrie(32, rootBits, opts.groups ?? 4096);
    this.t = this.trie.t;
    this.rootShift = 32 - rootBits;
    this.rootSize = this.trie.rootSize;
  }

  private setKey(addr: number): Uint8Array {
    const k = this.key;
    k[0] = addr >>> 24;
    k[1] = (addr >>> 16) & 255;
    k[2] = (addr >>> 8) & 255;
    k[3] = addr & 255;
    return k;
  }

  /** Install (or replace) `addr/len` → `nh`. Host bits of `addr` beyond `len` are ignored. */
  add(addr: number, len: number, nh: number): void {
    this.trie.add(this.setKey(addr >>> 0), len, nh);
  }

  /** Remove `addr/len`; false when it was not installed. */
  delete(addr: number, len: number): boolean {
    return this.trie.delete(this.setKey(addr >>> 0), len);
  }

  /** Next hop of the longest prefix covering `addr` (unsigned 32-bit), or -1. */
  lookup(addr: number): number {
    const t = this.t;
    let e = t[addr >>> this.rootShift]!;
    let shift = this.rootShift;
    while (e & EXT) {
      shift -= 8;
      e = t[this.rootSize + (e & GROUP_MASK) * 256 + ((addr >>> shift) & 0xff)]!;
    }
    return e & VALID ? e & NH_MASK : -1;
  }

  /** Number of installed prefixes. */
  get size(): number {
    return this.trie.size;
  }

  /** Unused second-level groups. */
  get freeGroups(): number {
    return this.trie.freeGroupCount;
  }

  clear(): void {
    this.trie.clear();
  }
}

export interface Lpm6Options {
  /** Number of 256-entry groups (1 KiB each); a /64 needs up to 6, a /128 up to 14. Default 8192. */
  groups?: number;
}

/** IPv6 longest-prefix match (16-bit first level, 8-bit strides). */
export class Lpm6 {
  private readonly trie: StrideTrie;
  private readonly t: Uint32Array;
  private readonly key = new Uint8Array(16);

  constructor(opts: Lpm6Options = {}) {
    this.trie = new StrideTrie(128, 16, opts.groups ?? 8192);
    this.t = this.trie.t;
  }

  private setKey(addr: Uint8Array | readonly number[], off: number): Uint8Array {
    const k = this.key;
    if (addr.length === 4 && off === 0 && !(addr instanceof Uint8Array)) {
      for (let w = 0; w < 4; w++) {
        const v = addr[w]! >>> 0;
        k[w * 4] = v >>> 24;
        k[w * 4 + 1] = (v >>> 16) & 255;
        k[w * 4 + 2] = (v >>> 8) & 255;
        k[w * 4 + 3] = v & 255;
      }
    } else {
      for (let i = 0; i < 16; i++) k[i] = addr[off + i]!;
    }
    return k;
  }

  /** Install (or replace) `addr/len` → `nh`; `addr` is 16 bytes or four 32-bit words. */
  add(addr: Uint8Array | readonly number[], len: number, nh: number): void {
    this.trie.add(this.setKey(addr, 0), len, nh);
  }

  /** Remove `addr/len`; false when it was not installed. */
  delete(addr: Uint8Array | readonly number[], len: number): boolean {
    return this.trie.delete(this.setKey(addr, 0), len);
  }

  /** Next hop for the 16-byte address at `b[off..off+16)`, or -1. */
  lookup(b: Uint8Array, off = 0): number {
    const t = this.t;
    let e = t[(b[off]! << 8) | b[off + 1]!]!;
    let i = off + 2;
    while (e & EXT) {
      e = t[65536 + (e & GROUP_MASK) * 256 + b[i++]!]!;
    }
    return e & VALID ? e & NH_MASK : -1;
  }

  get size(): number {
    return this.trie.size;
  }

  get freeGroups(): number {
    return this.trie.freeGroupCount;
  }

  clear(): void {
    this.trie.clear();
  }
}
