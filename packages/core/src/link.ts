/**
 * Links: fixed power-of-two rings of packet buffer indices with counters,
 * as in Snabb's `core/link.lua`.
 *
 * A link has exactly one producer (the component whose output port it is)
 * and one consumer (the component whose input port it is). Transmitting into
 * a full link frees the buffer back to its pool and counts a drop: it never
 * blocks and never throws. Every link lives in a SharedArrayBuffer, so the
 * same ring serves one thread or two: the cursors are free-running 32-bit
 * integers published with `Atomics.store` (release) and read with
 * `Atomics.load` (acquire), the single-producer / single-consumer ring of
 * Lamport ("Specifying concurrent program modules", TOPLAS 1983). Slots and
 * packet metadata are plain memory ordered by those cursor accesses.
 *
 * ```
 * header  Int32Array: [magic, capacity] ... write cursor (own 64 B line) ... read cursor (own 64 B line)
 * counters Float64Array: txPackets txBytes txDrops rxPackets rxBytes
 * slots   Uint32Array[capacity]
 * ```
 *
 * Under the model clock a link also carries a time stamp per slot: the
 * modelled time at which the packet becomes visible to the consumer
 * (producer's time after its charged cost, plus any output latency). The
 * consumer only receives packets whose stamp is at or before its own time.
 * Stamps are forced non-decreasing: a link is FIFO.
 */
import type { Burst, PacketPool } from "@nfvio/packet";
import { CounterSet, counterIndex } from "./counters.js";
import { CoreError } from "./errors.js";
import type { Meter } from "./meter.js";

/** Counter names of every link, in slot order. */
export const LINK_COUNTERS = ["txPackets", "txBytes", "txDrops", "rxPackets", "rxBytes"] as const;
export type LinkCounter = (typeof LINK_COUNTERS)[number];
const { txPackets: TXP, txBytes: TXB, txDrops: TXD, rxPackets: RXP, rxBytes: RXB } = counterIndex(LINK_COUNTERS);

/** Default link size (Snabb uses 1024 too). */
export const LINK_CAPACITY = 1024;
/** Largest link nfvio creates. */
export const LINK_MAX_CAPACITY = 1 << 20;

const MAGIC = 0x6e666c6b; // "nflk"
const W_MAGIC = 0;
const W_CAP = 1;
const W_WRITE = 16; // byte 64
const W_READ = 32; // byte 128
const COUNTERS_AT = 192;
const SLOTS_AT = 256;

/** Structured-cloneable description of a link, to attach it in another thread. */
export interface LinkHandle {
  readonly kind: "nfvio.link";
  readonly buffer: SharedArrayBuffer;
}

export class Link {
  readonly capacity: number;
  readonly counters: CounterSet;
  /** Per-slot visibility times under the model clock; null under real time. */
  stamps: Float64Array | null = null;
  /** The producer's meter (model clock only): transmits are stamped with its time. */
  txMeter: Meter | null = null;
  /** The consumer's meter (model clock only): receives see stamps up to its time. */
  rxMeter: Meter | null = null;

  protected readonly buffer: SharedArrayBuffer;
  private readonly h: Int32Array;
  private readonly slots: Uint32Array;
  private readonly c: Float64Array;
  private readonly mask: number;
  private readonly len: Uint32Array;
  /** Own write cursor (producer side). */
  private w: number;
  /** Own read cursor (consumer side). */
  private r: number;
  private lastStamp = 0;

  /**
   * A new empty link of `capacity` slots (a power of two) for buffers of
   * `pool`, or an attachment to an existing link's `buffer`.
   */
  constructor(
    readonly pool: PacketPool,
    capacity: number = LINK_CAPACITY,
    buffer?: SharedArrayBuffer,
  ) {
    if (buffer === undefined) {
      if (!Number.isInteger(capacity) || capacity < 2 || capacity > LINK_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
        throw new CoreError("config", `link capacity ${capacity} must be a power of two in [2, ${LINK_MAX_CAPACITY}]`, { field: "capacity" });
      }
      buffer = new SharedArrayBuffer(SLOTS_AT + capacity * 4);
      const h = new Int32Array(buffer, 0, 64);
      h[W_CAP] = capacity;
      Atomics.store(h, W_MAGIC, MAGIC);
    }
    const h = new Int32Array(buffer, 0, 64);
    if (Atomics.load(h, W_MAGIC) !== MAGIC) throw new CoreError("usage", "link handle does not hold a link (bad magic)");
    this.capacity = h[W_CAP]!;
    if (buffer.byteLength !== SLOTS_AT + this.capacity * 4) throw new CoreError("usage", "link buffer size does not match its capacity");
    this.buffer = buffer;
    this.h = h;
    this.mask = this.capacity - 1;
    this.slots = new Uint32Array(buffer, SLOTS_AT, this.capacity);
    this.counters = new CounterSet(LINK_COUNTERS, { buffer, byteOffset: COUNTERS_AT });
    this.c = this.counters.values;
    this.len = pool.len;
    this.w = Atomics.load(h, W_WRITE);
    this.r = Atomics.load(h, W_READ);
  }

  get handle(): LinkHandle {
    return { kind: "nfvio.link", buffer: this.buffer };
  }

  /** Turn on per-slot stamps (the model clock's engine does this). */
  enableStamps(): void {
    if (this.stamps === null) this.stamps = new Float64Array(this.capacity);
  }

  /** Packets in the ring (ignoring model-time visibility). */
  size(): number {
    return (Atomics.load(this.h, W_WRITE) - Atomics.load(this.h, W_READ)) | 0;
  }

  /** Packets the consumer may receive now (model clock: visible by its time). */
  nreadable(): number {
    const r = this.r;
    const n = (Atomics.load(this.h, W_WRITE) - r) | 0;
    const st = this.stamps;
    if (st === null || this.rxMeter === null || n === 0) return n;
    const t = this.rxMeter.t;
    let k = 0;
    while (k < n && st[(r + k) & this.mask]! <= t) k++;
    return k;
  }

  /** Free slots for the producer. */
  nwritable(): number {
    return this.capacity - ((this.w - Atomics.load(this.h, W_READ)) | 0);
  }

  empty(): boolean {
    return this.nreadable() === 0;
  }

  full(): boolean {
    return this.nwritable() === 0;
  }

  /** Visibility time of the oldest packet, or Infinity when empty / unstamped. */
  headStamp(): number {
    const r = Atomics.load(this.h, W_READ);
    if (this.stamps === null || ((Atomics.load(this.h, W_WRITE) - r) | 0) === 0) return Infinity;
    return this.stamps[r & this.mask]!;
  }

  private stampNow(): number {
    const m = this.txMeter;
    let s = m === null ? 0 : m.t + m.outDelay;
    if (s < this.lastStamp) s = this.lastStamp;
    this.lastStamp = s;
    return s;
  }

  /** Send one buffer. A full link frees it and counts a drop. */
  transmit(i: number): void {
    const w = this.w;
    if (((w - Atomics.load(this.h, W_READ)) | 0) >= this.capacity) {
      this.c[TXD]! += 1;
      this.pool.free(i);
      return;
    }
    this.slots[w & this.mask] = i;
    if (this.stamps !== null) this.stamps[w & this.mask] = this.stampNow();
    this.w = (w + 1) | 0;
    Atomics.store(this.h, W_WRITE, this.w);
    this.c[TXP]! += 1;
    this.c[TXB]! += this.len[i]!;
  }

  /** Take one buffer, or -1 when nothing is readable. */
  receive(): number {
    if (this.nreadable() === 0) return -1;
    const r = this.r;
    const i = this.slots[r & this.mask]!;
    this.r = (r + 1) | 0;
    Atomics.store(this.h, W_READ, this.r);
    this.c[RXP]! += 1;
    this.c[RXB]! += this.len[i]!;
    return i;
  }

  /**
   * Send every buffer of `burst` and empty it. Buffers that do not fit are
   * freed and counted as drops. Returns how many were enqueued.
   */
  transmitBurst(burst: Burst): number {
    const n = burst.count;
    if (n === 0) return 0;
    const k = this.transmitRange(burst.idx, 0, n);
    burst.count = 0;
    return k;
  }

  /** Send `idx[start..end)`; the part that does not fit is freed and counted as drops. Returns how many were enqueued. */
  transmitRange(idx: Uint32Array, start: number, end: number): number {
    const n = end - start;
    if (n <= 0) return 0;
    const w = this.w;
    const room = this.capacity - ((w - Atomics.load(this.h, W_READ)) | 0);
    const k = n < room ? n : room;
    const slots = this.slots;
    const mask = this.mask;
    const len = this.len;
    let bytes = 0;
    for (let j = 0; j < k; j++) {
      const i = idx[start + j]!;
      slots[(w + j) & mask] = i;
      bytes += len[i]!;
    }
    const st = this.stamps;
    if (st !== null && k > 0) {
      const s = this.stampNow();
      for (let j = 0; j < k; j++) st[(w + j) & mask] = s;
    }
    this.w = (w + k) | 0;
    Atomics.store(this.h, W_WRITE, this.w);
    this.c[TXP]! += k;
    this.c[TXB]! += bytes;
    if (k < n) {
      this.c[TXD]! += n - k;
      this.pool.freeRange(idx, start + k, end);
    }
    return k;
  }

  /** Append up to `max` readable buffers (default: the burst's room) to `burst`. Returns how many. */
  receiveBurst(burst: Burst, max: number = burst.capacity - burst.count): number {
    const room = burst.capacity - burst.count;
    let k = this.nreadable();
    if (k > room) k = room;
    if (k > max) k = max;
    if (k <= 0) return 0;
    const r = this.r;
    const slots = this.slots;
    const mask = this.mask;
    const len = this.len;
    const out = burst.idx;
    const base = burst.count;
    let bytes = 0;
    for (let j = 0; j < k; j++) {
      const i = slots[(r + j) & mask]!;
      out[base + j] = i;
      bytes += len[i]!;
    }
    burst.count = base + k;
    this.r = (r + k) | 0;
    Atomics.store(this.h, W_READ, this.r);
    this.c[RXP]! += k;
    this.c[RXB]! += bytes;
    return k;
  }

  /**
   * Free every buffer still in the link (when the link is removed from a
   * graph). Not counted as traffic. Returns how many were freed. Call only
   * when neither end is running.
   */
  drain(): number {
    let r = Atomics.load(this.h, W_READ);
    const w = Atomics.load(this.h, W_WRITE);
    let n = 0;
    while (r !== w) {
      this.pool.free(this.slots[r & this.mask]!);
      r = (r + 1) | 0;
      n++;
    }
    this.r = r;
    Atomics.store(this.h, W_READ, r);
    return n;
  }
}

/**
 * A link meant to cross threads: the same ring, created in one thread and
 * attached in another from its {@link Link.handle}. One thread transmits,
 * the other receives; both see the counters.
 */
export class SharedLink extends Link {
  static attach(handle: LinkHandle, pool: PacketPool): SharedLink {
    if (handle?.kind !== "nfvio.link" || !(handle.buffer instanceof SharedArrayBuffer)) throw new CoreError("usage", "not a link handle");
    return new SharedLink(pool, 0, handle.buffer);
  }
}
