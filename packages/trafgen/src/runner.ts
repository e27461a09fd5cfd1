/**
 * Drive any {@link Port}: send the generator's frames into `port.tx`, read
 * `port.rx`, analyse what comes back.
 *
 * ## Model clock (deterministic)
 * One thread, one {@link ModelClock}. The driver steps the clock to the next
 * event: the next scheduled frame (each frame is handed to `port.tx` at
 * exactly its scheduled time; frames due at the same time go in one burst)
 * or, for a port that implements `nextRxAt()` ({@link TimedPort}), the time
 * its next frame comes out, where it polls `port.rx` and timestamps the
 * frames with the clock. A port without `nextRxAt()` is polled right after
 * each transmission and, once the generator is done, at growing intervals
 * (`pollNs`, doubling while nothing arrives) until `drainNs` has passed;
 * its latencies are then only as exact as those polls. The run is the same
 * bit for bit every time.
 *
 * ## Real clock
 * One thread, busy-polling: each turn takes `now`, asks the generator for
 * the frames its token buckets allow (stamped `now`), transmits them, and
 * polls the port, timestamping received frames with `now`. Every
 * `yieldMs` of wall time it yields to the event loop once (progress bars,
 * timers). The achieved rate is reported next to the asked one: on a
 * shared machine it is lower whenever the thread is descheduled.
 *
 * In both, a frame the port refuses (`tx` returns less than the burst) is
 * freed and counted in `txRefused`; its sequence number was used, so the
 * analyser counts it as lost.
 */
import { ModelClock, type Clock, type Port } from "@nfvio/core";
import { Burst, type PacketPool } from "@nfvio/packet";
import { TrafgenError } from "./errors.js";
import { Generator, type GeneratorOptions } from "./generator.js";
import { RxAnalyzer, type IntervalRow, type LatencySummary, type StreamReport } from "./rx.js";
import { Stream, type FrameSource, type StreamSpec } from "./stream.js";
import { FCS_LEN } from "./units.js";

export interface RunPortOptions extends GeneratorOptions {
  /** The device: frames go into `tx`, come back from `rx`. */
  port: Port;
  /** The pool the port's and the generator's buffers come from. */
  pool: PacketPool;
  /** Streams (specs or sources such as a {@link PcapReplay}). */
  streams: readonly (FrameSource | StreamSpec)[];
  /** Default: a new ModelClock. */
  clock?: Clock;
  /** Stop generating after this long (ns); default: when every stream is done. */
  durationNs?: number;
  /** After the last frame, keep receiving this long (ns) for late frames (RFC 2544 §23 d: 2 s; default 2 s under the model clock, 100 ms real). */
  drainNs?: number;
  /** Model clock, ports without nextRxAt: first poll interval while draining (default 1 µs). */
  pollNs?: number;
  /** Time series interval, ns (default 0: none). */
  intervalNs?: number;
  /** Duplicate-detection window of the analyser (frames, power of two). */
  window?: number;
  /** Latency of this frame is reported separately (RFC 2544 §26.2). */
  tag?: { stream: number; seq: number };
  /** Called now and then with the share of the run done (0-1) and the run's time in ns. */
  onProgress?: (fraction: number, nowNs: number) => void;
  /** Real clock: yield to the event loop every this many ms (default 20). */
  yieldMs?: number;
}

/** One stream's result: the analyser's figures plus rates asked and achieved. */
export interface StreamResult extends StreamReport {
  askedPps: number;
  /** Frames sent / the transmit phase's length. */
  achievedPps: number;
  /** Frames received (first time) / the transmit phase's length. */
  rxPps: number;
  /** L2 bit/s sent (frame bytes, FCS included). */
  txBps: number;
  txBytes: number;
}

export interface RunResult {
  clock: "model" | "real";
  /** Length of the transmit phase, ns: the duration asked, or first to last frame plus one mean gap. */
  txNs: number;
  /** From the start to the end of the drain, ns. */
  elapsedNs: number;
  streams: StreamResult[];
  /** All streams. */
  total: { tx: number; received: number; lost: number; lossRatio: number; duplicates: number; reordered: number; askedPps: number; achievedPps: number; rxPps: number };
  latency: LatencySummary;
  taggedLatencyNs: number;
  foreign: number;
  txRefused: number;
  allocFailures: number;
  series: IntervalRow[];
  /** Wall-clock seconds the run took. */
  wallSeconds: number;
}

/** Run streams through a port (see the module comment). */
export async function runPort(options: RunPortOptions): Promise<RunResult> {
  const clock = options.clock ?? new ModelClock();
  const pool = options.pool;
  const port = options.port;
  const gen = new Generator(pool, options.streams, options);
  const model = clock instanceof ModelClock;
  const t0 = clock.now();
  // Model: signatures carry absolute modelled times; real: ns since t0.
  const base = model ? 0 : t0;
  const analyzerOpts: ConstructorParameters<typeof RxAnalyzer>[0] = { streams: gen.sources.map((s) => ({ id: s.id, name: s.name })), intervalNs: options.intervalNs ?? 0, originNs: t0 - base };
  if (options.window !== undefined) analyzerOpts.window = options.window;
  if (options.tag !== undefined) analyzerOpts.tag = options.tag;
  const rx = new RxAnalyzer(analyzerOpts);
  const drainNs = options.drainNs ?? (model ? 2e9 : 100e6);
  const durationNs = options.durationNs ?? Infinity;
  if (!(durationNs > 0)) throw new TrafgenError("config", `durationNs ${durationNs} must be positive`, { field: "durationNs" });
  const wall0 = process.hrtime.bigint();
  const txb = new Burst(gen.batch);
  const rxb = new Burst(32);
  const times = new Float64Array(gen.batch);
  let txRefused = 0;
  let firstTx = NaN;
  let lastTx = NaN;
  gen.reset(model ? t0 : 0);
  const expected = expectedEnd(gen, durationNs, model ? t0 : 0);
  const progress = options.onProgress;

  const poll = (rxNs: number): number => {
    let n = 0;
    for (;;) {
      rxb.clear();
      const k = port.rx(rxb);
      if (k === 0) break;
      rx.recordBurst(pool, rxb, rxNs - base);
      pool.freeBurst(rxb);
      n += k;
    }
    return n;
  };
  const send = (txNs: number): void => {
    if (txb.count === 0) return;
    let bytes = 0;
    for (let k = 0; k < txb.count; k++) bytes += pool.len[txb.idx[k]!]! + FCS_LEN;
    rx.recordTx(txNs - base, txb.count, bytes);
    const took = port.tx(txb);
    if (took < txb.count) {
      txRefused += txb.count - took;
      pool.freeRange(txb.idx, took, txb.count);
    }
    if (Number.isNaN(firstTx)) firstTx = txNs;
    lastTx = txNs;
    txb.clear();
  };

  let endNs: number;
  try {
    if (model) {
      const mc = clock as ModelClock;
      const timed = typeof (port as { nextRxAt?: () => number }).nextRxAt === "function" ? (port as unknown as { nextRxAt(): number }) : null;
      const until = t0 + durationNs;
      let steps = 0;
      let lastWall = Date.now();
      // Transmit phase.
      for (;;) {
        let tTx = gen.nextTime();
        if (tTx >= until) tTx = Infinity;
        const tRx = timed ? timed.nextRxAt() : Infinity;
        const t = tTx < tRx ? tTx : tRx;
        if (t === Infinity) break;
        if (t > mc.now()) mc.runUntil(t);
        if (tTx === t) {
          gen.fillUntil(txb, t, times);
          send(t);
        }
        poll(t);
        if (progress !== undefined && (++steps & 4095) === 0 && Date.now() - lastWall > 100) {
          lastWall = Date.now();
          progress(Math.min(1, (t - t0) / (expected + drainNs)), t - t0);
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      const txEnd = mc.now();
      (port as { flush?: () => void }).flush?.();
      // Drain phase.
      const drainUntil = txEnd + drainNs;
      if (timed) {
        for (;;) {
          const t = timed.nextRxAt();
          if (t > drainUntil) break;
          if (t > mc.now()) mc.runUntil(t);
          poll(t);
        }
      } else {
        let step = options.pollNs ?? 1000;
        let t = mc.now();
        poll(t);
        while (t < drainUntil) {
          t = Math.min(drainUntil, t + step);
          mc.runUntil(t);
          if (poll(t) === 0) step *= 2;
          else step = options.pollNs ?? 1000;
        }
      }
      endNs = Math.max(mc.now(), txEnd);
    } else {
      const yieldNs = (options.yieldMs ?? 20) * 1e6;
      let lastYield = clock.now();
      let txEnd = NaN;
      for (;;) {
        const now = clock.now();
        const rel = now - t0;
        if (Number.isNaN(txEnd)) {
          if (rel >= durationNs || gen.done(rel)) {
            txEnd = now;
            (port as { flush?: () => void }).flush?.();
          } else {
            gen.fillPaced(txb, rel);
            send(now);
          }
        }
        poll(now);
        if (!Number.isNaN(txEnd) && now - txEnd >= drainNs) break;
        if (now - lastYield >= yieldNs) {
          lastYield = now;
          progress?.(Math.min(1, rel / (expected + drainNs)), rel);
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      endNs = clock.now();
    }
  } finally {
    gen.close();
  }
  progress?.(1, endNs - t0);

  const tx = gen.txCounts();
  const sent = gen.sent;
  let txNs: number;
  const longest = Math.max(...gen.sources.map((s) => (s instanceof Stream ? s.durationNs : Infinity)));
  if (Number.isFinite(durationNs)) txNs = durationNs;
  else if (Number.isFinite(longest)) txNs = longest;
  else if (sent > 1) txNs = ((lastTx - firstTx) * sent) / (sent - 1);
  else txNs = 0;
  const secs = txNs / 1e9;
  const reports = rx.report(tx);
  const streams: StreamResult[] = reports.map((r) => {
    const src = gen.sources.find((s) => s.id === r.id)!;
    // A stream with a duration of its own is measured over it (model clock: exact).
    const own = src instanceof Stream && Number.isFinite(src.durationNs) ? Math.min(src.durationNs, txNs || Infinity) : txNs;
    const ss = own / 1e9;
    return {
      ...r,
      askedPps: src.pps,
      achievedPps: ss > 0 ? r.tx / ss : 0,
      rxPps: ss > 0 ? r.received / ss : 0,
      txBps: ss > 0 ? (src.bytes * 8) / ss : 0,
      txBytes: src.bytes,
    };
  });
  const totTx = streams.reduce((a, s) => a + s.tx, 0);
  const totRx = streams.reduce((a, s) => a + s.received, 0);
  const lost = streams.reduce((a, s) => a + s.lost, 0);
  return {
    clock: model ? "model" : "real",
    txNs,
    elapsedNs: endNs - t0,
    streams,
    total: {
      tx: totTx,
      received: totRx,
      lost,
      lossRatio: totTx > 0 ? lost / totTx : 0,
      duplicates: streams.reduce((a, s) => a + s.duplicates, 0),
      reordered: streams.reduce((a, s) => a + s.reordered, 0),
      askedPps: streams.reduce((a, s) => a + s.askedPps, 0),
      achievedPps: secs > 0 ? totTx / secs : 0,
      rxPps: secs > 0 ? totRx / secs : 0,
    },
    latency: rx.latencyAll(),
    taggedLatencyNs: rx.taggedLatencyNs,
    foreign: rx.foreign,
    txRefused,
    allocFailures: gen.allocFailures,
    series: rx.series(tx, Number.isFinite(durationNs) ? durationNs : undefined),
    wallSeconds: Number(process.hrtime.bigint() - wall0) / 1e9,
  };
}

/** Expected length of the transmit phase, for progress: the duration, or the longest stream's frames at its rate. */
function expectedEnd(gen: Generator, durationNs: number, t0: number): number {
  if (Number.isFinite(durationNs)) return durationNs;
  let e = 0;
  for (const s of gen.sources) {
    const byCount = Number.isFinite(s.remaining) && Number.isFinite(s.pps) ? (s.remaining * 1e9) / s.pps : Infinity;
    const byTime = s.endNs - t0;
    const x = Math.min(byCount, byTime);
    if (Number.isFinite(x) && x > e) e = x;
  }
  return e > 0 ? e : 1;
}
