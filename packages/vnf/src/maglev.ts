/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, §3.4).
 *
 * Each backend has a preference list, a permutation of the lookup table's
 * M slots given by `offset = h1(name) mod M` and
 * `skip = h2(name) mod (M - 1) + 1`: its j-th preference is
 * `(offset + j * skip) mod M`. Because M is prime every skip is coprime to M,
 * so each list visits every slot. Backends take turns claiming their next
 * still-free preferred slot until the table is full (the paper's Pseudocode
 * 1), so every backend owns ⌊M/N⌋ or ⌈M/N⌉ slots, and removing one backend
 * reassigns its slots while moving few others. A flow goes to
 * `table[hash(5-tuple) mod M]`.
 */
import { VnfError } from "./errors.js";
import { hashWords } from "./internal/table.js";

/** True when `n` is prime (trial division; table sizes are small). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Default table size: a prime well above 100 × the backends a service is expected to have (paper §3.4). */
export const MAGLEV_DEFAULT_SIZE = 65537;

const enc = new TextEncoder();

/** Hash a backend name with `seed` (MurmurHash3 over its UTF-8 bytes packed into words). */
export function nameHash(name: string, seed: number): number {
  const bytes = enc.encode(name);
  const words = new Uint32Array(Math.ceil(bytes.length / 4) + 1);
  for (let i = 0; i < bytes.length; i++) words[i >> 2]! |= bytes[i]! << ((i & 3) * 8);
  words[words.length - 1] = bytes.length;
  return hashWords(words, 0, words.length, seed);
}

export class MaglevTable {
  /** Table size M (prime). */
  readonly size: number;
  /** Slot → backend id, or -1 when there are no backends. */
  readonly table: Int32Array;

  constructor(size: number = MAGLEV_DEFAULT_SIZE) {
    if (!isPrime(size)) throw new VnfError("usage", `Maglev table size ${size} is not prime`);
    this.size = size;
    this.table = new Int32Array(size).fill(-1);
  }

  /**
   * Fill the table for the given backends: `ids[i]` is what slots of backend
   * `names[i]` hold. Names must be distinct: they, not the order, decide the
   * permutations, so a backend keeps its preferences whatever else changes.
   */
  populate(names: readonly string[], ids: readonly number[] = names.map((_, i) => i)): void {
    const m = this.size;
    const n = names.length;
    const entry = this.table;
    entry.fill(-1);
    if (n === 0) return;
    if (new Set(names).size !== n) throw new VnfError("usage", "Maglev backend names must be distinct");
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      offset[i] = nameHash(names[i]!, 0x4d61676c) % m;
      skip[i] = (nameHash(names[i]!, 0x65762121) % (m - 1)) + 1;
    }
    let filled = 0;
    for (;;) {
      for (let i = 0; i < n; i++) {
        let c = (offset[i]! + next[i]! * skip[i]!) % m;
        while (entry[c]! >= 0) {
          next[i]!++;
          c = (offset[i]! + next[i]! * skip[i]!) % m;
        }
        entry[c] = ids[i]!;
        next[i]!++;
        if (++filled === m) return;
      }
    }
  }

  /** Backend id for a 32-bit flow hash (signed or unsigned), or -1. */
  lookup(hash: number): number {
    return this.table[(hash >>> 0) % this.size]!;
  }
}
