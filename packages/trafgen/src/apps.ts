/**
 * The generator and the analyser as @nfvio/core components, to sit in a
 * graph like any other app:
 *
 * ```
 *  TrafficSource ──out──▶ (device, VNF, chain ...) ──▶ in── TrafficSink
 *   pull(): frames due                                  push(): analyse,
 *   (model: at their exact times)                        free
 * ```
 *
 * Under the model clock the source moves its meter's local time to each
 * frame's scheduled time (`meter.busy(gap)`: a generator is a wire, busy
 * between frames) and transmits the frames due then, so each frame is
 * stamped on its link with exactly its scheduled time; the engine wakes the
 * source again when its resource frees up, at the last frame's time. The
 * sink timestamps what it receives with `meter.now()`, which under the model
 * clock is the time the frame became visible on its link. Under the real
 * clock the source paces with token buckets (see generator.ts): run the
 * engine with `durationNs` (a paced source waiting for tokens moves nothing
 * for a few breaths, which `untilIdle` would take for the end).
 *
 * Per-stream results: `sink.analyzer.report(source.generator.txCounts())`,
 * or {@link graphReport}.
 */
import { App, type AppContext, type ModuleRef } from "@nfvio/core";
import { Burst } from "@nfvio/packet";
import { z } from "zod";
import { Generator } from "./generator.js";
import { RxAnalyzer, type StreamReport } from "./rx.js";
import { streamSchema, type StreamSpec } from "./stream.js";

/** Where workers import these classes from: the package entry. */
const ENTRY = new URL(import.meta.url.endsWith(".ts") ? "./index.ts" : "./index.js", import.meta.url).href;

export class TrafficSource extends App {
  static readonly schema = z
    .object({
      streams: z.array(streamSchema).min(1),
      /** Buffers allocated at a time (default 32). */
      batch: z.number().int().positive().max(65536).default(32),
    })
    .strict();
  static readonly outputs = ["out"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "TrafficSource" };
  readonly generator: Generator;
  private readonly burst: Burst;
  private readonly times: Float64Array;
  private readonly model: boolean;
  private startNs = NaN;

  constructor(options: z.output<typeof TrafficSource.schema>, ctx: AppContext) {
    super(ctx, ["packets", "bytes", "allocFailures"]);
    this.generator = new Generator(ctx.pool, options.streams as StreamSpec[], { batch: options.batch });
    this.burst = new Burst(options.batch);
    this.times = new Float64Array(options.batch);
    this.model = ctx.clock.kind === "model";
  }

  pull(budget: number): void {
    const out = this.output["out"];
    const pool = this.ctx.pool;
    const meter = this.ctx.meter;
    const gen = this.generator;
    const b = this.burst;
    const c = this.counters.values;
    let left = budget;
    if (Number.isNaN(this.startNs)) {
      this.startNs = meter.now();
      if (this.model) gen.reset(this.startNs);
    }
    while (left > 0) {
      b.clear();
      let n: number;
      if (this.model) {
        const t = gen.nextTime();
        if (t === Infinity) break;
        if (t > meter.t) meter.busy(t - meter.t);
        n = gen.fillUntil(b, t, this.times);
      } else {
        n = gen.fillPaced(b, meter.now() - this.startNs);
      }
      if (n === 0) break;
      let bytes = 0;
      for (let k = 0; k < n; k++) bytes += pool.len[b.idx[k]!]!;
      c[0]! += n;
      c[1]! += bytes;
      c[2] = gen.allocFailures;
      left -= n;
      if (out) out.transmitBurst(b);
      else pool.freeBurst(b);
    }
  }

  stop(): void {
    this.generator.close();
  }
}

export class TrafficSink extends App {
  static readonly schema = z
    .object({
      /** Stream ids to expect (default [0]), or how many (ids 0..n-1). */
      streams: z.union([z.array(z.number().int().min(0).max(65535)).min(1), z.number().int().positive().max(65536)]).default([0]),
      /** Duplicate-detection window, frames (power of two, default 2^20). */
      window: z.number().int().positive().optional(),
      /** Time series interval, ns (default 0: none). */
      intervalNs: z.number().nonnegative().default(0),
    })
    .strict();
  static readonly inputs = ["*"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "TrafficSink" };
  readonly analyzer: RxAnalyzer;
  private readonly burst = new Burst();

  constructor(options: z.output<typeof TrafficSink.schema>, ctx: AppContext) {
    super(ctx, ["rx", "received", "duplicates", "reordered", "foreign"]);
    const ids = typeof options.streams === "number" ? Array.from({ length: options.streams }, (_, k) => k) : options.streams;
    const o: ConstructorParameters<typeof RxAnalyzer>[0] = { streams: ids, intervalNs: options.intervalNs };
    if (options.window !== undefined) o.window = options.window;
    this.analyzer = new RxAnalyzer(o);
  }

  push(): void {
    const pool = this.ctx.pool;
    const b = this.burst;
    const a = this.analyzer;
    for (const l of Object.values(this.input)) {
      if (!l) continue;
      while (l.receiveBurst(b) > 0) {
        a.recordBurst(pool, b, this.ctx.meter.now());
        pool.freeBurst(b);
      }
    }
    const c = this.counters.values;
    let rx = 0;
    let rec = 0;
    let dup = 0;
    let reo = 0;
    for (const s of a.streams.values()) {
      rx += s.rx;
      rec += s.received;
      dup += s.duplicates;
      reo += s.reordered;
    }
    c[0] = rx;
    c[1] = rec;
    c[2] = dup;
    c[3] = reo;
    c[4] = a.foreign;
  }
}

/** Per-stream results of a source/sink pair in one engine (same thread). */
export function graphReport(source: TrafficSource, sink: TrafficSink): StreamReport[] {
  return sink.analyzer.report(source.generator.txCounts());
}
