/**
 * Packet buffer pools: N fixed-size buffers in ONE SharedArrayBuffer, like
 * DPDK's mbuf mempool or Snabb's packet freelist.
 *
 * ## Layout (one SharedArrayBuffer, every section 64-byte aligned)
 * ```
 * header   Int32Array[16]    magic, version, count, stride, headroom, dataRoom, lock, free count
 * stats    Float64Array[8]   allocs, frees, allocFailures, doubleFrees, badFrees
 * ts       Float64Array[N]   timestamp, ns (user-defined epoch)
 * dataOff  Uint32Array[N]    offset of the first packet byte inside the buffer
 * len      Uint32Array[N]    packet length in bytes
 * hash     Uint32Array[N]    flow hash (e.g. Toeplitz RSS)
 * mark     Uint32Array[N]    flow mark set by a classifier
 * flags    Uint32Array[N]    user bits (checksum verified, ...)
 * port     Uint16Array[N]    input port
 * state    Uint8Array[N]     1 = allocated, 0 = free (double-free detection)
 * free     Uint32Array[N]    the free stack
 * data     N × stride bytes  buffer i starts at dataBase + i * stride
 * ```
 * A buffer is `headroom + dataRoom` bytes rounded up to 64; a fresh buffer's
 * packet starts after the headroom so headers can be prepended without a
 * copy (DPDK's RTE_PKTMBUF_HEADROOM, 128 by default, is the model).
 * Parse offsets are not kept here: they belong to the parser's record.
 *
 * ## Threads: one free stack under a futex lock, no per-thread cache
 * The free list is a LIFO stack of indices guarded by a three-state futex
 * mutex built on `Atomics` (U. Drepper, "Futexes Are Tricky", 2011, mutex
 * #2: 0 unlocked, 1 locked, 2 locked with waiters). Alloc and free work on
 * whole bursts, so one lock round trip (one CAS to take, one atomic
 * decrement to release when uncontended) is paid per burst, not per
 * packet. The per-buffer allocated/free state is read and written only
 * while the lock is held, so double frees are found exactly and can never
 * push an index twice: the stack cannot be corrupted by a buggy caller.
 *
 * Per-thread caches with a shared ring (DPDK's default) would save the lock
 * round trip, but they strand buffers in the cache of a thread that freed
 * them: exhaustion would then depend on which thread freed what, and
 * `available` would be a guess. A cache can be added behind the same API
 * if a profile ever shows the lock.
 *
 * Every thread that uses the pool holds its own `PacketPool` object: create
 * it in one thread, send `pool.handle` to the others (postMessage /
 * workerData) and {@link PacketPool.attach} there.
 *
 * Errors: bad options and bad handles throw `RangeError` / `TypeError`
 * (control path). The datapath never throws: exhaustion, double frees and
 * out-of-range indices are counted.
 */
import { Burst } from "./burst.js";

const MAGIC = 0x6e667062; // "nfpb"
const VERSION = 1;

// Header words (Int32Array).
const H_MAGIC = 0;
const H_VERSION = 1;
const H_COUNT = 2;
const H_STRIDE = 3;
const H_HEADROOM = 4;
const H_DATAROOM = 5;
const H_LOCK = 6;
const H_TOP = 7;
const HEADER_WORDS = 16;

// Stats slots (Float64Array), written only under the lock.
const S_ALLOCS = 0;
const S_FREES = 1;
const S_ALLOC_FAILURES = 2;
const S_DOUBLE_FREES = 3;
const S_BAD_FREES = 4;
const STATS_SLOTS = 8;

/** Spins on a busy lock before sleeping on it. */
const SPIN = 64;

/** Largest pool nfvio creates (2^24 buffers). */
export const POOL_MAX_COUNT = 1 << 24;
/** Default data room per buffer, bytes (DPDK's RTE_MBUF_DEFAULT_DATAROOM). */
export const DEFAULT_DATA_ROOM = 2048;
/** Default headroom per buffer, bytes (DPDK's RTE_PKTMBUF_HEADROOM). */
export const DEFAULT_HEADROOM = 128;

export interface PoolOptions {
  /** Number of buffers (default 4096). */
  count?: number;
  /** Bytes available for packet data after the headroom (default 2048). */
  dataRoom?: number;
  /** Bytes reserved before the packet for prepending headers (default 128). */
  headroom?: number;
}

/** What another thread needs to attach to a pool: structured-cloneable. */
export interface PoolHandle {
  readonly kind: "nfvio.packet-pool";
  readonly buffer: SharedArrayBuffer;
}

/** A snapshot of a pool's counters (totals over every attached thread). */
export interface PoolStats {
  count: number;
  available: number;
  inUse: number;
  allocs: number;
  frees: number;
  /** Buffers asked for but not given because the pool was empty. */
  allocFailures: number;
  /** Frees of a buffer that was already free (ignored). */
  doubleFrees: number;
  /** Frees of an index outside the pool (ignored). */
  badFrees: number;
}

interface Layout {
  stats: number;
  ts: number;
  dataOff: number;
  len: number;
  hash: number;
  mark: number;
  flags: number;
  port: number;
  state: number;
  free: number;
  data: number;
  total: number;
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

function layoutFor(count: number, stride: number): Layout {
  let off = HEADER_WORDS * 4;
  const stats = off;
  off = align64(off + STATS_SLOTS * 8);
  const ts = off;
  off = align64(off + count * 8);
  const dataOff = off;
  off = align64(off + count * 4);
  const len = off;
  off = align64(off + count * 4);
  const hash = off;
  off = align64(off + count * 4);
  const mark = off;
  off = align64(off + count * 4);
  const flags = off;
  off = align64(off + count * 4);
  const port = off;
  off = align64(off + count * 2);
  const state = off;
  off = align64(off + count);
  const free = off;
  off = align64(off + count * 4);
  const data = off;
  off += count * stride;
  return { stats, ts, dataOff, len, hash, mark, flags, port, state, free, data, total: off };
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`packet pool: ${name} ${v} must be an integer in [${lo}, ${hi}]`);
}

export class PacketPool {
  /** Number of buffers. */
  readonly count: number;
  /** Bytes from one buffer's start to the next (headroom + dataRoom, rounded up to 64). */
  readonly stride: number;
  readonly headroom: number;
  readonly dataRoom: number;
  /** Every byte of the pool's SharedArrayBuffer: buffer i's bytes start at {@link base}(i). */
  readonly data: Uint8Array;
  /** Little-endian accessors over the same bytes. */
  readonly view: DataView;

  // Per-buffer metadata, indexed by buffer index.
  /** Offset of the packet's first byte from the buffer's start. */
  readonly dataOff: Uint32Array;
  /** Packet length in bytes. */
  readonly len: Uint32Array;
  readonly hash: Uint32Array;
  readonly mark: Uint32Array;
  readonly flags: Uint32Array;
  readonly port: Uint16Array;
  /** Timestamp in ns (the clock that stamped it decides the epoch). */
  readonly ts: Float64Array;

  private readonly buffer: SharedArrayBuffer;
  private readonly h: Int32Array;
  private readonly s: Float64Array;
  private readonly state: Uint8Array;
  private readonly stack: Uint32Array;
  private readonly dataBase: number;

  /** Create a new pool (options) or attach to an existing one (handle). */
  constructor(arg: PoolOptions | PoolHandle = {}) {
    let buffer: SharedArrayBuffer;
    let fresh = false;
    if ("buffer" in arg) {
      buffer = arg.buffer;
      if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError("packet pool: handle.buffer is not a SharedArrayBuffer");
      if (buffer.byteLength < HEADER_WORDS * 4) throw new TypeError("packet pool: handle buffer too small to be a pool");
    } else {
      const count = arg.count ?? 4096;
      const dataRoom = arg.dataRoom ?? DEFAULT_DATA_ROOM;
      const headroom = arg.headroom ?? DEFAULT_HEADROOM;
      checkInt("count", count, 1, POOL_MAX_COUNT);
      checkInt("dataRoom", dataRoom, 64, 65535);
      checkInt("headroom", headroom, 0, 4096);
      const stride = align64(headroom + dataRoom);
      const lay = layoutFor(count, stride);
      if (lay.total > 2 ** 32) throw new RangeError(`packet pool: ${count} buffers of ${stride} bytes need ${lay.total} bytes, above 4 GiB`);
      buffer = new SharedArrayBuffer(lay.total);
      const h = new Int32Array(buffer, 0, HEADER_WORDS);
      h[H_VERSION] = VERSION;
      h[H_COUNT] = count;
      h[H_STRIDE] = stride;
      h[H_HEADROOM] = headroom;
      h[H_DATAROOM] = dataRoom;
      fresh = true;
    }
    const h = new Int32Array(buffer, 0, HEADER_WORDS);
    if (!fresh) {
      if (Atomics.load(h, H_MAGIC) !== MAGIC) throw new TypeError("packet pool: handle buffer does not hold a pool (bad magic)");
      if (h[H_VERSION] !== VERSION) throw new TypeError(`packet pool: layout version ${h[H_VERSION]} is not ${VERSION}`);
    }
    const count = h[H_COUNT]!;
    const stride = h[H_STRIDE]!;
    const lay = layoutFor(count, stride);
    if (lay.total !== buffer.byteLength) throw new TypeError(`packet pool: buffer is ${buffer.byteLength} bytes, layout needs ${lay.total}`);
    this.buffer = buffer;
    this.h = h;
    this.count = count;
    this.stride = stride;
    this.headroom = h[H_HEADROOM]!;
    this.dataRoom = h[H_DATAROOM]!;
    this.s = new Float64Array(buffer, lay.stats, STATS_SLOTS);
    this.ts = new Float64Array(buffer, lay.ts, count);
    this.dataOff = new Uint32Array(buffer, lay.dataOff, count);
    this.len = new Uint32Array(buffer, lay.len, count);
    this.hash = new Uint32Array(buffer, lay.hash, count);
    this.mark = new Uint32Array(buffer, lay.mark, count);
    this.flags = new Uint32Array(buffer, lay.flags, count);
    this.port = new Uint16Array(buffer, lay.port, count);
    this.state = new Uint8Array(buffer, lay.state, count);
    this.stack = new Uint32Array(buffer, lay.free, count);
    this.data = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.dataBase = lay.data;
    if (fresh) {
      // LIFO stack, filled so that a fresh pool hands out 0, 1, 2, ...
      for (let i = 0; i < count; i++) this.stack[i] = count - 1 - i;
      h[H_TOP] = count;
      Atomics.store(h, H_MAGIC, MAGIC); // publish last
    }
  }

  /** Attach to a pool created in another thread (or this one). */
  static attach(handle: PoolHandle): PacketPool {
    return new PacketPool(handle);
  }

  /** Send this to another thread to {@link attach} there. */
  get handle(): PoolHandle {
    return { kind: "nfvio.packet-pool", buffer: this.buffer };
  }

  /** Buffers free right now (a moment's view when other threads run). */
  get available(): number {
    return Atomics.load(this.h, H_TOP);
  }

  get inUse(): number {
    return this.count - Atomics.load(this.h, H_TOP);
  }

  get allocFailures(): number {
    return this.s[S_ALLOC_FAILURES]!;
  }

  get doubleFrees(): number {
    return this.s[S_DOUBLE_FREES]!;
  }

  get badFrees(): number {
    return this.s[S_BAD_FREES]!;
  }

  stats(): PoolStats {
    this.lock();
    const top = this.h[H_TOP]!;
    const st: PoolStats = {
      count: this.count,
      available: top,
      inUse: this.count - top,
      allocs: this.s[S_ALLOCS]!,
      frees: this.s[S_FREES]!,
      allocFailures: this.s[S_ALLOC_FAILURES]!,
      doubleFrees: this.s[S_DOUBLE_FREES]!,
      badFrees: this.s[S_BAD_FREES]!,
    };
    this.unlock();
    return st;
  }

  // ---- Allocation ----

  /** One buffer, reset (see {@link reset}); -1 when the pool is empty (counted). */
  alloc(): number {
    this.lock();
    const top = this.h[H_TOP]!;
    let i = -1;
    if (top > 0) {
      i = this.stack[top - 1]!;
      this.h[H_TOP] = top - 1;
      this.state[i] = 1;
      this.s[S_ALLOCS]! += 1;
    } else this.s[S_ALLOC_FAILURES]! += 1;
    this.unlock();
    if (i >= 0) this.reset(i);
    return i;
  }

  /**
   * Append up to `n` fresh buffers (default: the burst's free room) to
   * `burst`. Returns how many were appended; the shortfall is counted in
   * {@link allocFailures}.
   */
  allocBurst(burst: Burst, n: number = burst.capacity - burst.count): number {
    const want = Math.min(n, burst.capacity - burst.count);
    if (want <= 0) return 0;
    const got = this.allocInto(burst.idx, burst.count, want);
    burst.count += got;
    return got;
  }

  /** Write up to `n` fresh buffer indices into `out[start..]`; returns how many. */
  allocInto(out: Uint32Array, start: number, n: number): number {
    if (n <= 0) return 0;
    const stack = this.stack;
    const state = this.state;
    this.lock();
    const top = this.h[H_TOP]!;
    const got = n < top ? n : top;
    for (let k = 0; k < got; k++) {
      const i = stack[top - 1 - k]!;
      state[i] = 1;
      out[start + k] = i;
    }
    this.h[H_TOP] = top - got;
    this.s[S_ALLOCS]! += got;
    if (got < n) this.s[S_ALLOC_FAILURES]! += n - got;
    this.unlock();
    for (let k = 0; k < got; k++) this.reset(out[start + k]!);
    return got;
  }

  /** Metadata of a freshly allocated buffer: empty packet after the headroom. */
  reset(i: number): void {
    this.dataOff[i] = this.headroom;
    this.len[i] = 0;
    this.hash[i] = 0;
    this.mark[i] = 0;
    this.flags[i] = 0;
    this.port[i] = 0;
    this.ts[i] = 0;
  }

  // ---- Freeing ----

  /** Return one buffer. False (and counted, nothing changed) for a double free or a bad index. */
  free(i: number): boolean {
    this.lock();
    const ok = this.freeLocked(i);
    this.unlock();
    return ok;
  }

  /** Return every buffer of the burst and empty it. Returns how many were really freed. */
  freeBurst(burst: Burst): number {
    const n = this.freeRange(burst.idx, 0, burst.count);
    burst.count = 0;
    return n;
  }

  /** Return the buffers `idx[start..end)`. Returns how many were really freed. */
  freeRange(idx: Uint32Array, start: number, end: number): number {
    if (end <= start) return 0;
    let n = 0;
    this.lock();
    for (let k = start; k < end; k++) if (this.freeLocked(idx[k]!)) n++;
    this.unlock();
    return n;
  }

  private freeLocked(i: number): boolean {
    if (!(i >= 0 && i < this.count) || !Number.isInteger(i)) {
      this.s[S_BAD_FREES]! += 1;
      return false;
    }
    if (this.state[i] !== 1) {
      this.s[S_DOUBLE_FREES]! += 1;
      return false;
    }
    this.state[i] = 0;
    const top = this.h[H_TOP]!;
    this.stack[top] = i;
    this.h[H_TOP] = top + 1;
    this.s[S_FREES]! += 1;
    return true;
  }

  /** True while buffer `i` is allocated (a moment's view; for checks and tests). */
  isAllocated(i: number): boolean {
    return i >= 0 && i < this.count && Atomics.load(this.state, i) === 1;
  }

  // ---- Data access (offsets are into `data` / `view`) ----

  /** Offset in `data` of buffer i's first byte (start of its headroom). */
  base(i: number): number {
    return this.dataBase + i * this.stride;
  }

  /** Offset in `data` of packet i's first byte. */
  start(i: number): number {
    return this.dataBase + i * this.stride + this.dataOff[i]!;
  }

  /** Bytes free before the packet. */
  headroomOf(i: number): number {
    return this.dataOff[i]!;
  }

  /** Bytes free after the packet. */
  tailroomOf(i: number): number {
    return this.stride - this.dataOff[i]! - this.len[i]!;
  }

  /** Grow the packet at the front by n bytes; returns the new start offset in `data`, or -1 without enough headroom. */
  prepend(i: number, n: number): number {
    const off = this.dataOff[i]!;
    if (n > off || n < 0) return -1;
    this.dataOff[i] = off - n;
    this.len[i] = this.len[i]! + n;
    return this.dataBase + i * this.stride + off - n;
  }

  /** Remove n bytes from the front; false if the packet is shorter. */
  adj(i: number, n: number): boolean {
    const len = this.len[i]!;
    if (n > len || n < 0) return false;
    this.dataOff[i] = this.dataOff[i]! + n;
    this.len[i] = len - n;
    return true;
  }

  /** Grow the packet at the end by n bytes; returns the offset in `data` of the new bytes, or -1 without enough tailroom. */
  append(i: number, n: number): number {
    const end = this.dataOff[i]! + this.len[i]!;
    if (n < 0 || end + n > this.stride) return -1;
    this.len[i] = this.len[i]! + n;
    return this.dataBase + i * this.stride + end;
  }

  /** Remove n bytes from the end; false if the packet is shorter. */
  trim(i: number, n: number): boolean {
    const len = this.len[i]!;
    if (n > len || n < 0) return false;
    this.len[i] = len - n;
    return true;
  }

  /** A view of packet i's bytes (allocates a view: control paths and tests). */
  bytes(i: number): Uint8Array {
    const s = this.start(i);
    return this.data.subarray(s, s + this.len[i]!);
  }

  /** Replace packet i's contents with `src` placed after the headroom; false if it does not fit. */
  write(i: number, src: Uint8Array): boolean {
    if (this.headroom + src.length > this.stride) return false;
    this.dataOff[i] = this.headroom;
    this.len[i] = src.length;
    this.data.set(src, this.dataBase + i * this.stride + this.headroom);
    return true;
  }

  /** A new buffer holding a copy of packet i's bytes and metadata; -1 when the pool is empty. */
  clone(i: number): number {
    const j = this.alloc();
    if (j < 0) return -1;
    const s = this.start(i);
    this.dataOff[j] = this.dataOff[i]!;
    this.len[j] = this.len[i]!;
    this.hash[j] = this.hash[i]!;
    this.mark[j] = this.mark[i]!;
    this.flags[j] = this.flags[i]!;
    this.port[j] = this.port[i]!;
    this.ts[j] = this.ts[i]!;
    this.data.copyWithin(this.start(j), s, s + this.len[i]!);
    return j;
  }

  // ---- The lock (Drepper's mutex #2 on an Int32 word) ----

  private lock(): void {
    const h = this.h;
    let c = Atomics.compareExchange(h, H_LOCK, 0, 1);
    if (c === 0) return;
    for (let k = 0; k < SPIN; k++) {
      if (Atomics.load(h, H_LOCK) === 0) {
        c = Atomics.compareExchange(h, H_LOCK, 0, 1);
        if (c === 0) return;
      }
    }
    if (c !== 2) c = Atomics.exchange(h, H_LOCK, 2);
    while (c !== 0) {
      Atomics.wait(h, H_LOCK, 2);
      c = Atomics.exchange(h, H_LOCK, 2);
    }
  }

  private unlock(): void {
    const h = this.h;
    if (Atomics.sub(h, H_LOCK, 1) !== 1) {
      Atomics.store(h, H_LOCK, 0);
      Atomics.notify(h, H_LOCK, 1);
    }
  }
}
