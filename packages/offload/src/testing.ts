/**
 * Test and benchmark tools for the offload device (`@nfvio/offload/testing`):
 *
 * - {@link WireSource}: a traffic source on the model clock that offers
 *   frames to a {@link Port} (the device's uplink) at a line rate or a
 *   packet rate, each stamped with its modelled arrival time.
 * - {@link CapturePort}: a wire that takes what the device transmits,
 *   keeps a copy of every frame (or only counts) and frees the buffers.
 *
 * These allocate freely; they are for tests and examples.
 */
import { CounterSet, type EventHandler, type ModelClock, type Port } from "@nfvio/core";
import { Burst, type PacketPool } from "@nfvio/packet";

/** Ethernet L1 overhead per frame on the wire: FCS (not stored in buffers), preamble, SFD, minimum gap (IEEE 802.3). */
export const WIRE_OVERHEAD_BYTES = 24;

export interface WireSourceOptions {
  readonly clock: ModelClock;
  /** Buffers come from here (the device's pool). */
  readonly pool: PacketPool;
  /** Where frames go (`device.uplink`). */
  readonly port: Port;
  /** Frames to send, in turn (frame k is `frames[k % frames.length]`). */
  readonly frames: readonly Uint8Array[];
  /** How many to send. */
  readonly count: number;
  /** Line rate in Gbit/s: frame k leaves after the wire time of the frames before it, with {@link WIRE_OVERHEAD_BYTES} each. */
  readonly gbps?: number;
  /** Or a fixed packet rate. One of gbps and pps is required. */
  readonly pps?: number;
  /** Frames handed over per event (default 32). */
  readonly burst?: number;
  /** Modelled time of the first frame (default now). */
  readonly start?: number;
}

/**
 * Offers frames at a line rate (or packet rate) on the model clock. Each
 * burst is handed over when its first frame is due, and every frame carries
 * its own arrival time in `pool.ts`. If the pool runs dry the source waits
 * and tries again (those frames were not offered yet).
 */
export class WireSource implements EventHandler {
  /** Frames handed to the port. */
  sent = 0;
  /** Bytes handed to the port. */
  bytes = 0;
  /** Modelled time the last frame was due. */
  lastAt = 0;
  private next: number;
  private readonly burst: Burst;
  private eventAt = -1;
  private readonly gap: number;
  private readonly nsPerByte: number;

  constructor(private readonly o: WireSourceOptions) {
    if (o.frames.length === 0) throw new RangeError("WireSource needs at least one frame");
    if ((o.gbps === undefined) === (o.pps === undefined)) throw new RangeError("WireSource needs exactly one of gbps and pps");
    this.gap = o.pps !== undefined ? 1e9 / o.pps : 0;
    this.nsPerByte = o.gbps !== undefined ? 8 / o.gbps : 0;
    this.next = o.start ?? o.clock.now();
    this.burst = new Burst(o.burst ?? 32);
  }

  /** Schedule the first burst. */
  start(): void {
    this.schedule(this.next);
  }

  /** All frames were offered. */
  get done(): boolean {
    return this.sent >= this.o.count;
  }

  private schedule(t: number): void {
    if (this.eventAt >= 0 && this.eventAt <= t) return;
    this.eventAt = t;
    this.o.clock.schedule(t, this);
  }

  onEvent(time: number): void {
    if (this.eventAt !== time) return;
    this.eventAt = -1;
    const o = this.o;
    const pool = o.pool;
    const b = this.burst;
    b.clear();
    const want = Math.min(b.capacity, o.count - this.sent);
    if (want <= 0) return;
    const got = pool.allocBurst(b, want);
    let t = this.next < time ? time : this.next;
    for (let k = 0; k < got; k++) {
      const i = b.idx[k]!;
      const f = o.frames[(this.sent + k) % o.frames.length]!;
      pool.data.set(f, pool.start(i));
      pool.len[i] = f.length;
      pool.ts[i] = t;
      this.lastAt = t;
      this.bytes += f.length;
      t += this.gap + (f.length + WIRE_OVERHEAD_BYTES) * this.nsPerByte;
    }
    this.next = t;
    this.sent += got;
    if (got > 0) o.port.tx(b);
    b.clear();
    if (this.sent < o.count) this.schedule(got > 0 ? this.next : time + 1000);
  }
}

/** A captured frame. */
export interface CapturedFrame {
  readonly data: Uint8Array;
  /** `pool.ts` when it was taken (the device's transmit time). */
  readonly ts: number;
  /** `pool.mark` of the buffer. */
  readonly mark: number;
}

/** A wire that takes every frame, keeps a copy (unless `keep` is false) and frees the buffer. */
export class CapturePort implements Port {
  readonly counters = new CounterSet(["packets", "bytes"]);
  readonly frames: CapturedFrame[] = [];
  /** Time stamp of the last frame taken. */
  lastTs = 0;

  constructor(
    readonly pool: PacketPool,
    readonly keep = true,
  ) {}

  rx(): number {
    return 0;
  }

  tx(burst: Burst): number {
    const pool = this.pool;
    const c = this.counters.values;
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const len = pool.len[i]!;
      if (this.keep) this.frames.push({ data: pool.data.slice(pool.start(i), pool.start(i) + len), ts: pool.ts[i]!, mark: pool.mark[i]! });
      this.lastTs = pool.ts[i]!;
      c[0]! += 1;
      c[1]! += len;
    }
    const n = burst.count;
    pool.freeRange(burst.idx, 0, n);
    return n;
  }
}
