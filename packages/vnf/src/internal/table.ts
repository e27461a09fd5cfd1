/**
 * Open-addressing hash table from fixed-width keys (k 32-bit words) to
 * non-negative integer values, in typed arrays allocated once: linear probing,
 * at most half full, deletion by backward shift (no tombstones), so lookups
 * and inserts never allocate. Used for connection tracking, NAT, the load
 * balancer's affinity table and the neighbour cache.
 */

/**
 * MurmurHash3's 32-bit body and finaliser (Appleby), over `k` words of `key`
 * at `ko`, as a signed 32-bit integer (a small integer for V8, so passing it
 * around never boxes a number).
 */
export function hash32(key: Uint32Array, ko: number, k: number, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < k; i++) {
    let w = Math.imul(key[ko + i]! | 0, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    w = Math.imul(w, 0x1b873593);
    h ^= w;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= k * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** {@link hash32} as an unsigned 32-bit number. */
export function hashWords(key: Uint32Array, ko: number, k: number, seed: number): number {
  return hash32(key, ko, k, seed) >>> 0;
}

export class KeyTable {
  /** Words per key. */
  readonly k: number;
  /** Most keys the table accepts. */
  readonly capacity: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;
  private readonly vals: Int32Array;
  private readonly hashes: Int32Array;
  private readonly seed: number;
  size = 0;

  constructor(k: number, capacity: number, seed = 0x6e667669) {
    let buckets = 16;
    while (buckets < capacity * 2) buckets *= 2;
    this.k = k;
    this.capacity = capacity;
    this.mask = buckets - 1;
    this.keys = new Uint32Array(buckets * k);
    this.vals = new Int32Array(buckets).fill(-1);
    this.hashes = new Int32Array(buckets);
    this.seed = seed;
  }

  private slotOf(key: Uint32Array, ko: number, h: number): number {
    const { k, keys, vals, hashes, mask } = this;
    let i = h & mask;
    for (;;) {
      if (vals[i] === -1) return -1 - i;
      if (hashes[i] === h) {
        const b = i * k;
        let j = 0;
        while (j < k && keys[b + j] === key[ko + j]) j++;
        if (j === k) return i;
      }
      i = (i + 1) & mask;
    }
  }

  /** Value stored for the key at `key[ko .. ko+k)`, or -1. */
  get(key: Uint32Array, ko = 0): number {
    const i = this.slotOf(key, ko, hash32(key, ko, this.k, this.seed));
    return i >= 0 ? this.vals[i]! : -1;
  }

  /** Insert or overwrite; false when the key is new and the table holds `capacity` keys. */
  set(key: Uint32Array, ko: number, val: number): boolean {
    const h = hash32(key, ko, this.k, this.seed);
    const i = this.slotOf(key, ko, h);
    if (i >= 0) {
      this.vals[i] = val;
      return true;
    }
    if (this.size >= this.capacity) return false;
    const s = -1 - i;
    const k = this.k;
    for (let j = 0; j < k; j++) this.keys[s * k + j] = key[ko + j]!;
    this.hashes[s] = h;
    this.vals[s] = val;
    this.size++;
    return true;
  }

  /** Remove the key; false when absent. */
  delete(key: Uint32Array, ko = 0): boolean {
    let i = this.slotOf(key, ko, hash32(key, ko, this.k, this.seed));
    if (i < 0) return false;
    const { k, keys, vals, hashes, mask } = this;
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let j = (i + 1) & mask;
    while (vals[j] !== -1) {
      const ideal = hashes[j]! & mask;
      if (((j - ideal) & mask) >= ((j - i) & mask)) {
        for (let w = 0; w < k; w++) keys[i * k + w] = keys[j * k + w]!;
        hashes[i] = hashes[j]!;
        vals[i] = vals[j]!;
        i = j;
      }
      j = (j + 1) & mask;
    }
    vals[i] = -1;
    this.size--;
    return true;
  }

  clear(): void {
    this.vals.fill(-1);
    this.size = 0;
  }
}
