/**
 * Named counters in shared memory.
 *
 * A {@link CounterSet} is a fixed list of names, registered up front, over a
 * Float64Array in a SharedArrayBuffer. The owning thread bumps
 * `values[index]` on its hot path (no atomics, no allocation); any thread
 * that attached the set from its {@link CounterSet.handle} reads the values
 * and can take a JSON snapshot.
 *
 * Each counter has a single writer. Readers on other threads use plain
 * reads: integers below 2^53 are exact in a double, and on the 64-bit
 * targets nfvio runs on, V8 reads and writes an aligned f64 with one
 * instruction, so a reader sees an old or a new value. (ECMAScript does not
 * promise tear-free Float64Array accesses across threads; a snapshot taken
 * while the writer runs is a monitoring view, and one taken after the writer
 * has stopped and synchronised, e.g. by a message, is exact.)
 */
import { CoreError } from "./errors.js";

/** Structured-cloneable description of a counter set, for another thread. */
export interface CounterHandle {
  readonly names: readonly string[];
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

export type CounterSnapshot = Record<string, number>;

/** Each name's position in `names`; throws for an empty or repeated name. */
function indexNames(names: readonly string[]): Map<string, number> {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (typeof n !== "string" || n.length === 0) throw new CoreError("usage", `counter names must be non-empty strings (got ${JSON.stringify(n)})`);
    if (seen.has(n)) throw new CoreError("usage", `counter "${n}" registered twice`);
    seen.set(n, i);
  });
  return seen;
}

/**
 * The index of each counter of a name list, for hot paths that write
 * `values[i]` directly. Destructure it once, at module level, so the indices
 * follow the list and the hot path reads plain constants:
 *
 * ```ts
 * const { "rx.packets": RX_PACKETS, "rx.bytes": RX_BYTES } = counterIndex(PORT_COUNTERS);
 * ```
 */
export function counterIndex<const N extends string>(names: readonly N[]): { readonly [K in N]: number } {
  return Object.fromEntries(indexNames(names)) as { readonly [K in N]: number };
}

export class CounterSet {
  readonly names: readonly string[];
  /** The counters, in the order of {@link names}. Hot paths write `values[i] += n`. */
  readonly values: Float64Array;
  private readonly index: ReadonlyMap<string, number>;
  private readonly buffer: SharedArrayBuffer;
  private readonly byteOffset: number;

  /**
   * New counters, all zero, in a SharedArrayBuffer of their own, or over
   * `at` (a region of an existing SharedArrayBuffer, 8-byte aligned, room
   * for `names.length` doubles).
   */
  constructor(names: readonly string[], at?: { buffer: SharedArrayBuffer; byteOffset: number }) {
    this.index = indexNames(names);
    this.names = Object.freeze([...names]);
    this.buffer = at?.buffer ?? new SharedArrayBuffer(Math.max(8, names.length * 8));
    this.byteOffset = at?.byteOffset ?? 0;
    if (this.byteOffset % 8 !== 0 || this.byteOffset + names.length * 8 > this.buffer.byteLength) {
      throw new CoreError("usage", `counter region at ${this.byteOffset} (+${names.length * 8}) does not fit an 8-byte aligned slot of a ${this.buffer.byteLength}-byte buffer`);
    }
    this.values = new Float64Array(this.buffer, this.byteOffset, names.length);
  }

  /** Read counters created elsewhere (another thread) from their handle. */
  static attach(handle: CounterHandle): CounterSet {
    return new CounterSet(handle.names, { buffer: handle.buffer, byteOffset: handle.byteOffset });
  }

  get handle(): CounterHandle {
    return { names: this.names, buffer: this.buffer, byteOffset: this.byteOffset };
  }

  /** Index of a counter for hot-path use; throws for an unknown name. */
  id(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new CoreError("usage", `no counter "${name}" (counters: ${this.names.join(", ") || "none"})`);
    return i;
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  get(name: string): number {
    return this.values[this.id(name)]!;
  }

  add(name: string, n = 1): void {
    this.values[this.id(name)]! += n;
  }

  set(name: string, v: number): void {
    this.values[this.id(name)] = v;
  }

  reset(): void {
    this.values.fill(0);
  }

  /** A plain object of name -> value, JSON-ready. */
  snapshot(): CounterSnapshot {
    const out: CounterSnapshot = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]!] = this.values[i]!;
    return out;
  }

  /** The counters that are not zero, name -> value, in name order: what a port reports by default. */
  nonZero(): CounterSnapshot {
    const out: CounterSnapshot = {};
    for (let i = 0; i < this.names.length; i++) {
      const v = this.values[i]!;
      if (v !== 0) out[this.names[i]!] = v;
    }
    return out;
  }

  toJSON(): CounterSnapshot {
    return this.snapshot();
  }
}
