/**
 * Benchmarks of RFC 2544 §26 and the NDR/PDR search of ETSI GS NFV-TST 009.
 *
 * Every benchmark is a sequence of trials (RFC 2544 §23): offer a stream at
 * a rate for a trial duration, then wait for residual frames (§23 d) and
 * count. A {@link TrialFn} runs one trial; {@link portTrial} makes one that
 * runs the streams through a fresh port (the device under test) on a fresh
 * clock for every trial, so each trial starts from an idle device (§23 e
 * asks for a wait until the device restabilises; a fresh model device is
 * that).
 *
 * - **Throughput** (RFC 2544 §26.1; definition RFC 1242 §3.17): the
 *   highest rate at which every frame sent is received. Binary search
 *   between 0 and the maximum rate: the first trial is at the maximum; a
 *   trial without loss raises the lower bound, one with loss lowers the
 *   upper bound; the search stops when the bounds are within `resolution`
 *   (a share of the maximum rate, or pps) and reports the lower bound (the
 *   highest rate that passed). §24: a trial SHOULD last at least 60 s; the
 *   default here is 2 s, a deviation to state in reports.
 * - **NDR / PDR** (ETSI GS NFV-TST 009: the No Drop Rate is the highest
 *   offered load with zero loss, the Partial Drop Rate the highest with a
 *   loss ratio at or below a stated threshold): two binary searches, the
 *   PDR search starting from the NDR as its passing lower bound, trials at
 *   a rate already measured reused.
 * - **Latency** (RFC 2544 §26.2): at the throughput rate (or a given one),
 *   for the trial duration; RFC 2544 times one tagged frame sent halfway
 *   through and averages over at least 20 trials. Every frame here carries
 *   its timestamp, so each trial reports the tagged frame's latency *and*
 *   the latency distribution of all frames (HDR histogram); `repeat` trials
 *   are averaged.
 * - **Frame loss rate** (RFC 2544 §26.3): `((sent − received) × 100) /
 *   sent` at 100% of the maximum rate, then 90%, 80%, ... (steps of 10% by
 *   default), until two successive trials lose no frame.
 * - **Back-to-back** (RFC 2544 §26.4; updated by RFC 9004, whose further
 *   corrections are not applied here): the longest burst at the line rate
 *   (minimum inter-frame gap) the device forwards without loss, by binary
 *   search over the burst length; RFC 2544 asks for trials of at least 2 s
 *   repeated 50 times and the average reported (`repeat`).
 */
import { ModelClock, RealClock, type Clock, type Port } from "@nfvio/core";
import { PacketPool } from "@nfvio/packet";
import { TrafgenError } from "./errors.js";
import { runPort, type RunResult } from "./runner.js";
import type { LatencySummary } from "./rx.js";
import { describeSizes, SizeSequence, type SizeSpec } from "./sizes.js";
import type { StreamSpec } from "./stream.js";
import { l1Bps, l2Bps, lineRatePps, parseLineRate } from "./units.js";

/** What one trial is asked to do. */
export interface TrialSpec {
  /** Offered rate, frames per second. */
  pps: number;
  /** Trial duration, ns (ignored when `count` is given). */
  durationNs: number;
  /** Send exactly this many frames (back-to-back bursts). */
  count?: number;
  /** Report the latency of this frame (RFC 2544 §26.2 tagged frame). */
  tagSeq?: number;
}

/** What one trial measured. */
export interface TrialResult {
  pps: number;
  tx: number;
  received: number;
  lost: number;
  lossRatio: number;
  duplicates: number;
  reordered: number;
  latency: LatencySummary;
  /** Latency of the tagged frame, NaN when not asked or lost. */
  taggedLatencyNs: number;
  /** Offered rate achieved by the generator (real clock: may be below `pps`). */
  achievedPps: number;
}

export type TrialFn = (spec: TrialSpec) => Promise<TrialResult>;

export interface PortTrialOptions {
  /** Make the device under test for one trial, on that trial's clock and pool. */
  makePort: (pool: PacketPool, clock: Clock) => Port;
  /** The offered stream: template, size, fields (rate and length are set per trial). */
  stream?: Omit<StreamSpec, "rate" | "count" | "duration" | "burst">;
  /** "model" (default) or "real". */
  clock?: "model" | "real";
  /** Wait after each trial for residual frames, ns (RFC 2544 §23 d: 2 s; default 2 s model, 100 ms real). */
  drainNs?: number;
  /** Buffers in each trial's pool (default 16384). */
  poolSize?: number;
  /** Called after every trial. */
  onTrial?: (spec: TrialSpec, result: TrialResult) => void;
}

/** A {@link TrialFn} running a stream through a fresh port on a fresh clock per trial. */
export function portTrial(options: PortTrialOptions): TrialFn {
  return async (spec) => {
    const pool = new PacketPool({ count: options.poolSize ?? 16384 });
    const clock: Clock = options.clock === "real" ? new RealClock() : new ModelClock();
    const port = options.makePort(pool, clock);
    const stream: StreamSpec = { ...(options.stream ?? {}), rate: spec.pps };
    if (spec.count !== undefined) stream.count = spec.count;
    else stream.duration = spec.durationNs;
    const run: Parameters<typeof runPort>[0] = { port, pool, clock, streams: [stream] };
    if (options.drainNs !== undefined) run.drainNs = options.drainNs;
    if (spec.tagSeq !== undefined) run.tag = { stream: 0, seq: spec.tagSeq };
    let r: RunResult;
    try {
      r = await runPort(run);
    } finally {
      port.close?.();
    }
    const s = r.streams[0]!;
    const res: TrialResult = {
      pps: spec.pps,
      tx: s.tx,
      received: s.received,
      lost: s.lost,
      lossRatio: s.lossRatio,
      duplicates: s.duplicates,
      reordered: s.reordered,
      latency: s.latency,
      taggedLatencyNs: r.taggedLatencyNs,
      achievedPps: s.achievedPps,
    };
    options.onTrial?.(spec, res);
    return res;
  };
}

/** The offered traffic, for converting rates: frame sizes and the line. */
export interface LoadBasis {
  /** Frame size spec (default 64). */
  size?: SizeSpec;
  /** Line rate, bit/s or text (default 100 Gbit/s). */
  lineRate?: string | number;
}

/** A rate in every unit a report wants. */
export interface RateFigures {
  pps: number;
  /** L2 bit/s (frame bytes with FCS). */
  bps: number;
  /** L1 bit/s (plus preamble, SFD, gap). */
  bpsL1: number;
  /** Share of the line rate, %. */
  linePct: number;
}

function basis(b: LoadBasis): { meanSize: number; lineBps: number; maxPps: number } {
  const meanSize = new SizeSequence(b.size ?? 64).meanSize;
  const lineBps = parseLineRate(b.lineRate ?? 100e9);
  return { meanSize, lineBps, maxPps: lineRatePps(meanSize, lineBps) };
}

function figures(pps: number, b: { meanSize: number; lineBps: number; maxPps: number }): RateFigures {
  return { pps, bps: l2Bps(pps, b.meanSize), bpsL1: l1Bps(pps, b.meanSize), linePct: (pps / b.maxPps) * 100 };
}

export interface SearchOptions extends LoadBasis {
  trial: TrialFn;
  /** Highest rate tried, pps (default: the line rate for the frame size). */
  maxPps?: number;
  /** Stop when the bounds are this close: a share of maxPps (0.001 = 0.1%, the default) or `{ pps }`. */
  resolution?: number | { pps: number };
  /** Trial duration, ns (default 2 s; RFC 2544 §24 asks for at least 60 s). */
  trialNs?: number;
  /** Largest loss ratio a passing trial may have (0: RFC 2544 throughput / NDR). */
  lossTolerance?: number;
}

export interface SearchTrial {
  pps: number;
  tx: number;
  received: number;
  lossRatio: number;
  pass: boolean;
}

export interface ThroughputResult {
  benchmark: "throughput";
  reference: string;
  frameSize: string;
  trialNs: number;
  resolutionPps: number;
  lossTolerance: number;
  /** Highest passing rate (0 when none passed). */
  rate: RateFigures;
  /** Lowest failing rate, or null when the maximum passed. */
  failedAbove: number | null;
  trials: SearchTrial[];
}

interface Bounds {
  lo: number;
  hi: number;
  cache: Map<number, TrialResult>;
  trials: SearchTrial[];
}

async function binarySearch(o: SearchOptions, tolerance: number, start: { lo: number; loPassed: boolean; hi: number }, cache: Map<number, TrialResult>): Promise<Bounds & { passedMax: boolean }> {
  const b = basis(o);
  const maxPps = o.maxPps ?? b.maxPps;
  const res = typeof o.resolution === "object" ? o.resolution.pps : (o.resolution ?? 0.001) * maxPps;
  if (!(res > 0)) throw new TrafgenError("config", "search resolution must be positive", { field: "resolution" });
  const trialNs = o.trialNs ?? 2e9;
  const trials: SearchTrial[] = [];
  const run = async (pps: number): Promise<boolean> => {
    let r = cache.get(pps);
    if (r === undefined) {
      r = await o.trial({ pps, durationNs: trialNs });
      cache.set(pps, r);
    }
    const pass = r.tx > 0 && r.lossRatio <= tolerance;
    trials.push({ pps, tx: r.tx, received: r.received, lossRatio: r.lossRatio, pass });
    return pass;
  };
  let lo = start.lo;
  let hi = start.hi;
  if (await run(hi)) return { lo: hi, hi, cache, trials, passedMax: true };
  while (hi - lo > res) {
    const mid = (lo + hi) / 2;
    if (await run(mid)) lo = mid;
    else hi = mid;
  }
  return { lo, hi, cache, trials, passedMax: false };
}

/** RFC 2544 §26.1 throughput (or, with `lossTolerance`, a partial drop rate). */
export async function throughput(o: SearchOptions): Promise<ThroughputResult> {
  const b = basis(o);
  const maxPps = o.maxPps ?? b.maxPps;
  const tol = o.lossTolerance ?? 0;
  const s = await binarySearch(o, tol, { lo: 0, loPassed: true, hi: maxPps }, new Map());
  return {
    benchmark: "throughput",
    reference: "RFC 2544 §26.1 (binary search; RFC 1242 §3.17)",
    frameSize: describe(o.size),
    trialNs: o.trialNs ?? 2e9,
    resolutionPps: typeof o.resolution === "object" ? o.resolution.pps : (o.resolution ?? 0.001) * maxPps,
    lossTolerance: tol,
    rate: figures(s.lo, b),
    failedAbove: s.passedMax ? null : s.hi,
    trials: s.trials,
  };
}

export interface NdrPdrResult {
  benchmark: "ndr-pdr";
  reference: string;
  frameSize: string;
  trialNs: number;
  resolutionPps: number;
  pdrLossTolerance: number;
  ndr: RateFigures;
  pdr: RateFigures;
  trials: SearchTrial[];
}

/** ETSI GS NFV-TST 009 NDR (zero loss) and PDR (loss ratio ≤ `pdrLoss`, a share: default 0.005, i.e. 0.5%). */
export async function ndrPdr(o: SearchOptions & { pdrLoss?: number }): Promise<NdrPdrResult> {
  const b = basis(o);
  const maxPps = o.maxPps ?? b.maxPps;
  const pdrLoss = o.pdrLoss ?? 0.005;
  const cache = new Map<number, TrialResult>();
  const ndr = await binarySearch(o, 0, { lo: 0, loPassed: true, hi: maxPps }, cache);
  const pdr = ndr.passedMax ? ndr : await binarySearch(o, pdrLoss, { lo: ndr.lo, loPassed: true, hi: maxPps }, cache);
  return {
    benchmark: "ndr-pdr",
    reference: "ETSI GS NFV-TST 009 (NDR, PDR; binary search), trials per RFC 2544 §23",
    frameSize: describe(o.size),
    trialNs: o.trialNs ?? 2e9,
    resolutionPps: typeof o.resolution === "object" ? o.resolution.pps : (o.resolution ?? 0.001) * maxPps,
    pdrLossTolerance: pdrLoss,
    ndr: figures(ndr.lo, b),
    pdr: figures(Math.max(pdr.lo, ndr.lo), b),
    trials: ndr === pdr ? ndr.trials : [...ndr.trials, ...pdr.trials],
  };
}

export interface LatencyOptions extends LoadBasis {
  trial: TrialFn;
  /** Rate, pps; default: measure the throughput first (RFC 2544 §26.2 says at the throughput rate). */
  pps?: number;
  /** Options of that throughput search. */
  search?: Omit<SearchOptions, "trial" | "size" | "lineRate">;
  /** Trial duration, ns (default 2 s; RFC 2544 §26.2 asks for at least 120 s). */
  trialNs?: number;
  /** Trials (default 1; RFC 2544 §26.2 asks for at least 20). */
  repeat?: number;
}

export interface LatencyResult {
  benchmark: "latency";
  reference: string;
  frameSize: string;
  trialNs: number;
  rate: RateFigures;
  /** Mean over the trials of the tagged frame's latency (the frame sent halfway through), ns. */
  taggedMeanNs: number;
  trials: { taggedNs: number; latency: LatencySummary; lossRatio: number }[];
  throughput?: ThroughputResult;
}

/** RFC 2544 §26.2 latency at the throughput rate. */
export async function latency(o: LatencyOptions): Promise<LatencyResult> {
  const b = basis(o);
  let tp: ThroughputResult | undefined;
  let pps = o.pps;
  if (pps === undefined) {
    const so: SearchOptions = { ...(o.search ?? {}), trial: o.trial };
    if (o.size !== undefined) so.size = o.size;
    if (o.lineRate !== undefined) so.lineRate = o.lineRate;
    tp = await throughput(so);
    pps = tp.rate.pps;
  }
  if (!(pps > 0)) throw new TrafgenError("usage", "latency: the throughput is 0 (no rate passed), so there is no rate to measure latency at");
  const trialNs = o.trialNs ?? 2e9;
  const repeat = o.repeat ?? 1;
  const trials: LatencyResult["trials"] = [];
  const tagSeq = Math.floor((pps * trialNs) / 1e9 / 2);
  for (let k = 0; k < repeat; k++) {
    const r = await o.trial({ pps, durationNs: trialNs, tagSeq });
    trials.push({ taggedNs: r.taggedLatencyNs, latency: r.latency, lossRatio: r.lossRatio });
  }
  const tagged = trials.map((t) => t.taggedNs).filter((x) => Number.isFinite(x));
  const out: LatencyResult = {
    benchmark: "latency",
    reference: "RFC 2544 §26.2",
    frameSize: describe(o.size),
    trialNs,
    rate: figures(pps, b),
    taggedMeanNs: tagged.length > 0 ? tagged.reduce((a, x) => a + x, 0) / tagged.length : NaN,
    trials,
  };
  if (tp !== undefined) out.throughput = tp;
  return out;
}

export interface LossRateOptions extends LoadBasis {
  trial: TrialFn;
  maxPps?: number;
  /** Step down, % of the maximum (default 10, RFC 2544 §26.3). */
  stepPct?: number;
  trialNs?: number;
}

export interface LossRateResult {
  benchmark: "frame-loss-rate";
  reference: string;
  frameSize: string;
  trialNs: number;
  steps: { loadPct: number; rate: RateFigures; tx: number; received: number; lossPct: number }[];
}

/** RFC 2544 §26.3 frame loss rate over load steps. */
export async function frameLossRate(o: LossRateOptions): Promise<LossRateResult> {
  const b = basis(o);
  const maxPps = o.maxPps ?? b.maxPps;
  const step = o.stepPct ?? 10;
  if (!(step > 0 && step <= 100)) throw new TrafgenError("config", `loss-rate step ${step}% must be in (0, 100]`, { field: "stepPct" });
  const trialNs = o.trialNs ?? 2e9;
  const steps: LossRateResult["steps"] = [];
  let clean = 0;
  for (let pct = 100; pct > 1e-9 && clean < 2; pct -= step) {
    const pps = (maxPps * pct) / 100;
    const r = await o.trial({ pps, durationNs: trialNs });
    const lossPct = r.tx > 0 ? ((r.tx - r.received) * 100) / r.tx : 0;
    steps.push({ loadPct: Math.round(pct * 1e9) / 1e9, rate: figures(pps, b), tx: r.tx, received: r.received, lossPct });
    clean = r.tx > 0 && r.received >= r.tx ? clean + 1 : 0;
  }
  return { benchmark: "frame-loss-rate", reference: "RFC 2544 §26.3", frameSize: describe(o.size), trialNs, steps };
}

export interface BackToBackOptions extends LoadBasis {
  trial: TrialFn;
  /** Longest burst tried, frames (default: 2 s at the line rate, RFC 2544 §26.4's minimum trial length). */
  maxBurst?: number;
  /** Searches to average (default 1; RFC 2544 §26.4 asks for 50). */
  repeat?: number;
}

export interface BackToBackResult {
  benchmark: "back-to-back";
  reference: string;
  frameSize: string;
  burstPps: number;
  /** Longest lossless burst of each search, frames. */
  bursts: number[];
  /** Their mean. */
  meanFrames: number;
  trials: { frames: number; received: number; pass: boolean }[];
}

/** RFC 2544 §26.4 back-to-back frames (binary search over the burst length, bursts at the line rate). */
export async function backToBack(o: BackToBackOptions): Promise<BackToBackResult> {
  const b = basis(o);
  const pps = b.maxPps;
  const maxBurst = o.maxBurst ?? Math.ceil(pps * 2);
  const repeat = o.repeat ?? 1;
  const bursts: number[] = [];
  const trials: BackToBackResult["trials"] = [];
  for (let k = 0; k < repeat; k++) {
    const run = async (n: number): Promise<boolean> => {
      const r = await o.trial({ pps, durationNs: (n * 1e9) / pps, count: n });
      const pass = r.tx === n && r.received >= n;
      trials.push({ frames: n, received: r.received, pass });
      return pass;
    };
    let best = 0;
    if (await run(maxBurst)) best = maxBurst;
    else {
      let lo = 0;
      let hi = maxBurst;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (await run(mid)) lo = mid;
        else hi = mid;
      }
      best = lo;
    }
    bursts.push(best);
  }
  return {
    benchmark: "back-to-back",
    reference: "RFC 2544 §26.4 (see also RFC 9004)",
    frameSize: describe(o.size),
    burstPps: pps,
    bursts,
    meanFrames: bursts.reduce((a, x) => a + x, 0) / bursts.length,
    trials,
  };
}

function describe(s: SizeSpec | undefined): string {
  return describeSizes(s ?? 64);
}
