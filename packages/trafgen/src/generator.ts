/**
 * The generator: several frame sources (streams, replays) merged into
 * bursts of pool buffers.
 *
 * - Model clock ({@link Generator.fillUntil}): frames are taken in the
 *   order of their scheduled times (ties: source order), every frame due
 *   by `untilNs`, stamped with its scheduled time, and the time of each is
 *   returned so a driver can hand each frame over at exactly that time.
 * - Real clock ({@link Generator.fillPaced}): each source is paced by its
 *   `pacing`: a token bucket at its rate (`"rate"`), its schedule against
 *   the clock (`"schedule"`, pcap original timing) or not at all (`"none"`),
 *   and frames are stamped with the clock's time when they are written.
 *
 * Buffers are allocated from the pool in bursts into a private stash and
 * handed out one by one; nothing is allocated per frame. An empty pool is
 * counted in {@link Generator.allocFailures} and the fill stops short.
 */
import { Burst, type PacketPool } from "@nfvio/packet";
import { TrafgenError } from "./errors.js";
import { Stream, type FrameSource, type StreamSpec } from "./stream.js";

export interface GeneratorOptions {
  /** Buffers taken from the pool at a time (default 32). */
  batch?: number;
  /**
   * Real clock: depth of each stream's token bucket, in frames (default:
   * the larger of `batch` and 10 ms worth of the stream's rate). After a
   * stall (the thread descheduled, a GC pause) the loop catches up with a
   * burst of at most this many frames; beyond that the time is lost and
   * the achieved rate falls below the asked one.
   */
  bucketFrames?: number;
}

export class Generator {
  readonly sources: readonly FrameSource[];
  readonly batch: number;
  /** Buffers the pool could not give. */
  allocFailures = 0;
  private readonly stash: Burst;
  private stashPos = 0;
  private readonly tokens: Float64Array;
  private readonly lastRefill: Float64Array;
  private readonly depth: Float64Array;
  private rr = 0;
  private realStart = NaN;

  constructor(
    readonly pool: PacketPool,
    sources: readonly (FrameSource | StreamSpec)[],
    options: GeneratorOptions = {},
  ) {
    if (sources.length === 0) throw new TrafgenError("config", "a generator needs at least one stream", { field: "streams" });
    this.sources = Object.freeze(sources.map((s, k) => (isSource(s) ? s : new Stream(s, k))));
    const ids = new Set<number>();
    for (const s of this.sources) {
      if (ids.has(s.id)) throw new TrafgenError("config", `two streams have id ${s.id}; ids travel in the signature and must differ`, { field: "id" });
      ids.add(s.id);
    }
    this.batch = options.batch ?? 32;
    if (!Number.isInteger(this.batch) || this.batch < 1 || this.batch > 65536) throw new TrafgenError("config", `batch ${this.batch} must be an integer in [1, 65536]`, { field: "batch" });
    this.stash = new Burst(this.batch);
    const n = this.sources.length;
    this.tokens = new Float64Array(n);
    this.lastRefill = new Float64Array(n);
    this.depth = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const pps = this.sources[k]!.pps;
      this.depth[k] = options.bucketFrames ?? Math.max(this.batch, Number.isFinite(pps) ? pps / 100 : this.batch);
    }
  }

  /** Scheduled time of the next frame over all sources, or Infinity. */
  nextTime(): number {
    let t = Infinity;
    const s = this.sources;
    for (let k = 0; k < s.length; k++) {
      const x = s[k]!.nextTime();
      if (x < t) t = x;
    }
    return t;
  }

  /** Frames sent so far, all sources. */
  get sent(): number {
    let n = 0;
    for (const s of this.sources) n += s.sent;
    return n;
  }

  /** Frames per source id, for the analyser's loss figures. */
  txCounts(): Map<number, number> {
    return new Map(this.sources.map((s) => [s.id, s.sent]));
  }

  /** Every source's schedule from `startNs` again, frame 0. Stashed buffers are kept. */
  reset(startNs = 0): void {
    for (const s of this.sources) s.reset(startNs);
    this.realStart = NaN;
    this.tokens.fill(0);
  }

  private take(): number {
    if (this.stashPos === this.stash.count) {
      this.stash.clear();
      this.stashPos = 0;
      const want = this.stash.capacity;
      const got = this.pool.allocBurst(this.stash, want);
      if (got < want) this.allocFailures += want - got;
      if (got === 0) return -1;
    }
    return this.stash.idx[this.stashPos++]!;
  }

  /**
   * Model clock: append to `burst` the frames due at or before `untilNs`, in
   * time order, each stamped with its scheduled time, which is also written
   * to `times[burst index]` when `times` is given. Returns how many.
   */
  fillUntil(burst: Burst, untilNs: number, times?: Float64Array): number {
    const src = this.sources;
    const pool = this.pool;
    let n = 0;
    while (burst.count < burst.capacity) {
      let best = -1;
      let t = Infinity;
      for (let k = 0; k < src.length; k++) {
        const x = src[k]!.nextTime();
        if (x < t) {
          t = x;
          best = k;
        }
      }
      if (best < 0 || t > untilNs) break;
      const i = this.take();
      if (i < 0) break;
      src[best]!.emit(pool, i, t);
      if (times !== undefined) times[burst.count] = t;
      burst.idx[burst.count++] = i;
      n++;
    }
    return n;
  }

  /**
   * Real clock: append the frames each source may send by `nowNs` (ns since
   * the run's start) under its pacing, stamped `nowNs`. Returns how many.
   */
  fillPaced(burst: Burst, nowNs: number): number {
    const src = this.sources;
    const ns = src.length;
    if (Number.isNaN(this.realStart)) {
      this.realStart = nowNs;
      for (let k = 0; k < ns; k++) {
        this.lastRefill[k] = nowNs;
        this.tokens[k] = 1;
      }
    }
    const pool = this.pool;
    let n = 0;
    for (let j = 0; j < ns && burst.count < burst.capacity; j++) {
      const k = (this.rr + j) % ns;
      const s = src[k]!;
      if (s.remaining <= 0 || nowNs >= s.endNs || s.nextTime() === Infinity) continue;
      let allow: number;
      if (s.pacing === "rate") {
        const tk = Math.min(this.depth[k]!, this.tokens[k]! + ((nowNs - this.lastRefill[k]!) * s.pps) / 1e9);
        this.lastRefill[k] = nowNs;
        this.tokens[k] = tk;
        allow = Math.floor(tk);
      } else allow = Infinity;
      const room = burst.capacity - burst.count;
      if (allow > room) allow = room;
      if (allow > s.remaining) allow = s.remaining;
      let sent = 0;
      while (sent < allow) {
        if (s.pacing === "schedule" && s.nextTime() > nowNs) break;
        if (s.nextTime() === Infinity) break;
        const i = this.take();
        if (i < 0) break;
        s.emit(pool, i, nowNs);
        burst.idx[burst.count++] = i;
        sent++;
      }
      if (s.pacing === "rate") this.tokens[k]! -= sent;
      n += sent;
    }
    this.rr = ns > 1 ? (this.rr + 1) % ns : 0;
    return n;
  }

  /** True when every source is finished (real clock: also past its end time at `nowNs`). */
  done(nowNs = -Infinity): boolean {
    for (const s of this.sources) {
      if (s.remaining > 0 && s.nextTime() !== Infinity && !(nowNs >= s.endNs)) return false;
    }
    return true;
  }

  /** Return stashed buffers to the pool. */
  close(): void {
    if (this.stashPos < this.stash.count) this.pool.freeRange(this.stash.idx, this.stashPos, this.stash.count);
    this.stash.clear();
    this.stashPos = 0;
  }
}

function isSource(s: FrameSource | StreamSpec): s is FrameSource {
  return typeof (s as FrameSource).emit === "function";
}
