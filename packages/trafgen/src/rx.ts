/**
 * Receive-side analysis, per stream: counts, loss, reordering and
 * duplicates by sequence number, and latency from the signature's
 * timestamp into HDR histograms.
 *
 * ## Definitions (exact)
 * For each stream, with `next` = (highest sequence number received so far)
 * + 1 (RFC 4737 §3.3 "NextExp"; 0 before any frame):
 *
 * - A frame whose sequence number was already received is a **duplicate**:
 *   counted in `duplicates` and in `rx`, and in nothing else.
 * - A first-time frame with sequence `s ≥ next` is **in order**; when
 *   `s > next` the frames `next .. s−1` become missing for now
 *   (`gaps += s − next`), and `next = s + 1`.
 * - A first-time frame with `s < next` is **late** (reordered, RFC 4737
 *   §3.3: "reordered" iff s < NextExp): counted in `reordered`, it fills one
 *   missing frame (it is received, not lost), and `next` does not move.
 *   Its displacement `next − 1 − s` is kept as `maxReorderDistance`.
 * - `received` counts first-time frames (in order or late). At the end,
 *   `lost = tx − received`: a frame is lost iff it was sent and never
 *   received, however late; a late frame is never lost, and a duplicate
 *   never hides a loss. `missing = next − received` are the holes below
 *   the highest frame seen (lost unless they arrive later), and
 *   `lost − missing` is the tail: frames after the last one received.
 *
 * Duplicates are found with a bitmap of the last `window` sequence numbers
 * (default 2^20 per stream). The counts are exact as long as no frame
 * arrives `window` or more positions behind the highest one seen; such a
 * frame is counted in `received` and `reordered` as if new and also in
 * `beyondWindow`, so that an inexact count shows. A frame without a
 * signature, or with the stream id of a stream the analyser does not know,
 * is counted in `foreign`.
 *
 * Latency is `rx time − signature timestamp`, rounded to the ns for the
 * histogram (HdrHistogram, 3 significant digits by default: p50 etc. are
 * within 0.1% of the recorded values); min, max and mean are kept exactly
 * besides.
 */
import type { Burst, PacketPool } from "@nfvio/packet";
import { build, type Histogram } from "hdr-histogram-js";
import { TrafgenError } from "./errors.js";
import { extendSeq, readSignature, type SignatureFields } from "./signature.js";
import { FCS_LEN } from "./units.js";

/** Latency figures of a set of frames, ns. */
export interface LatencySummary {
  count: number;
  minNs: number;
  meanNs: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

export interface AnalyzerOptions {
  /** Stream ids (and names) to expect; frames of other ids are foreign. */
  streams: readonly (number | { id: number; name?: string })[];
  /** Duplicate-detection window per stream, frames, a power of two (default 2^20). */
  window?: number;
  /** Significant digits of the latency histograms, 1-5 (default 3). */
  significantDigits?: 1 | 2 | 3 | 4 | 5;
  /** Time series interval, ns (default 0: no series). */
  intervalNs?: number;
  /** Record the latency of this frame separately (RFC 2544 §26.2's tagged frame). */
  tag?: { stream: number; seq: number };
  /** Time of the run's start on the clock the times are given in: the series counts intervals from it (default 0). */
  originNs?: number;
}

/** One stream's receive counters. */
export class StreamRx {
  /** Frames received, duplicates included. */
  rx = 0;
  /** Bytes received (frame sizes, FCS included), duplicates included. */
  rxBytes = 0;
  /** First-time frames. */
  received = 0;
  duplicates = 0;
  reordered = 0;
  beyondWindow = 0;
  /** Highest sequence number received, -1 before any. */
  maxSeq = -1;
  /** Σ (s − next) over jumps: frames skipped when they were skipped. */
  gaps = 0;
  maxReorderDistance = 0;
  firstRxNs = NaN;
  lastRxNs = NaN;
  latMin = Infinity;
  latMax = -Infinity;
  latSum = 0;
  readonly hist: Histogram;
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private readonly window: number;

  constructor(
    readonly id: number,
    readonly name: string,
    window: number,
    digits: 1 | 2 | 3 | 4 | 5,
  ) {
    this.window = window;
    this.mask = window - 1;
    this.bits = new Uint32Array(window >>> 5 || 1);
    this.hist = newHistogram(digits);
  }

  /** Holes below the highest frame seen. */
  get missing(): number {
    return this.maxSeq + 1 - this.received;
  }

  /**
   * Account one frame. Returns 0 duplicate, 1 in order, 2 late. Latency is
   * recorded for first-time frames only.
   */
  record(seq: number, bytes: number, txNs: number, rxNs: number): number {
    this.rx++;
    this.rxBytes += bytes;
    if (this.rx === 1) this.firstRxNs = rxNs;
    this.lastRxNs = rxNs;
    const bits = this.bits;
    const m = this.maxSeq;
    let kind: number;
    if (seq > m) {
      // Clear the slots of m+1 .. seq (they held seq − window values).
      if (seq - m >= this.window) bits.fill(0);
      else for (let s = m + 1; s < seq; s++) bits[(s & this.mask) >>> 5]! &= ~(1 << (s & 31));
      this.gaps += seq - m - 1;
      this.maxSeq = seq;
      kind = 1;
    } else if (m - seq >= this.window) {
      this.beyondWindow++;
      this.reordered++;
      if (m - seq > this.maxReorderDistance) this.maxReorderDistance = m - seq;
      kind = 2;
      this.received++;
      this.latency(rxNs - txNs);
      return kind;
    } else {
      const w = (seq & this.mask) >>> 5;
      if ((bits[w]! & (1 << (seq & 31))) !== 0) {
        this.duplicates++;
        return 0;
      }
      this.reordered++;
      if (m - seq > this.maxReorderDistance) this.maxReorderDistance = m - seq;
      kind = 2;
    }
    bits[(seq & this.mask) >>> 5]! |= 1 << (seq & 31);
    this.received++;
    this.latency(rxNs - txNs);
    return kind;
  }

  private latency(ns: number): void {
    if (ns < this.latMin) this.latMin = ns;
    if (ns > this.latMax) this.latMax = ns;
    this.latSum += ns;
    this.hist.recordValue(ns > 0 ? Math.round(ns) : 0);
  }

  latencySummary(): LatencySummary {
    return summarize(this.hist, this.received, this.latMin, this.latMax, this.latSum);
  }
}

/** What {@link RxAnalyzer.report} gives per stream. */
export interface StreamReport {
  id: number;
  name: string;
  tx: number;
  rx: number;
  received: number;
  lost: number;
  /** lost / tx (0 when nothing was sent). */
  lossRatio: number;
  missing: number;
  duplicates: number;
  reordered: number;
  maxReorderDistance: number;
  beyondWindow: number;
  rxBytes: number;
  latency: LatencySummary;
}

/** One row of the time series (all streams together). */
export interface IntervalRow {
  /** Interval start, s since the run's start. */
  t: number;
  tx: number;
  txBytes: number;
  rx: number;
  rxBytes: number;
  /** Change of in-sequence loss (holes below the highest frame seen) in the interval; late frames make it negative; the last row adds the tail loss, so the column sums to the total loss. */
  lost: number;
  duplicates: number;
  reordered: number;
  txPps: number;
  rxPps: number;
  /** L2 bit/s (frame bytes, FCS included). */
  txBps: number;
  rxBps: number;
  latP50Ns: number;
  latP90Ns: number;
  latP99Ns: number;
  latP999Ns: number;
  latMaxNs: number;
}

export class RxAnalyzer {
  readonly streams: ReadonlyMap<number, StreamRx>;
  /** Frames without a known signature. */
  foreign = 0;
  /** Latency of the tagged frame, when it arrived. */
  taggedLatencyNs = NaN;
  readonly intervalNs: number;
  readonly originNs: number;
  private readonly byId: (StreamRx | undefined)[] = [];
  private readonly sig: SignatureFields = { stream: 0, seq32: 0, txNs: 0 };
  private readonly tag: { stream: number; seq: number } | undefined;
  // time series
  private readonly rows: IntervalRow[] = [];
  private readonly ivHist: Histogram | null;
  private ivIndex = -1;
  private txIndex = -1;

  constructor(options: AnalyzerOptions) {
    const window = options.window ?? 1 << 20;
    if (!Number.isInteger(window) || window < 32 || (window & (window - 1)) !== 0 || window > 1 << 30) {
      throw new TrafgenError("config", `analyser window ${window} must be a power of two in [32, 2^30]`, { field: "window" });
    }
    const digits = options.significantDigits ?? 3;
    const map = new Map<number, StreamRx>();
    for (const s of options.streams) {
      const id = typeof s === "number" ? s : s.id;
      const name = typeof s === "number" ? `stream${s}` : (s.name ?? `stream${s.id}`);
      if (!Number.isInteger(id) || id < 0 || id > 65535) throw new TrafgenError("config", `stream id ${id} must be in [0, 65535]`, { field: "streams" });
      const st = new StreamRx(id, name, window, digits);
      map.set(id, st);
      this.byId[id] = st;
    }
    this.streams = map;
    this.intervalNs = options.intervalNs ?? 0;
    this.originNs = options.originNs ?? 0;
    this.ivHist = this.intervalNs > 0 ? newHistogram(digits) : null;
    this.tag = options.tag;
  }

  /** Account buffer `i` of `pool`, received at `rxNs`. Does not free it. */
  record(pool: PacketPool, i: number, rxNs: number): void {
    const len = pool.len[i]!;
    const sig = this.sig;
    if (!readSignature(pool.view, pool.start(i), len, sig)) {
      this.foreign++;
      return;
    }
    const st = this.byId[sig.stream];
    if (st === undefined) {
      this.foreign++;
      return;
    }
    const seq = extendSeq(sig.seq32, st.maxSeq);
    const before = st.missing;
    const kind = st.record(seq, len + FCS_LEN, sig.txNs, rxNs);
    if (this.tag !== undefined && kind !== 0 && this.tag.stream === st.id && this.tag.seq === seq) this.taggedLatencyNs = rxNs - sig.txNs;
    if (this.ivHist !== null) {
      const row = this.rowAt(rxNs, true);
      row.rx++;
      row.rxBytes += len + FCS_LEN;
      if (kind === 0) row.duplicates++;
      else {
        if (kind === 2) row.reordered++;
        row.lost += st.missing - before;
        const lat = rxNs - sig.txNs;
        this.ivHist.recordValue(lat > 0 ? Math.round(lat) : 0);
      }
    }
  }

  /** Account every buffer of a burst received at `rxNs` (the burst is left as it is). */
  recordBurst(pool: PacketPool, burst: Burst, rxNs: number): void {
    for (let k = 0; k < burst.count; k++) this.record(pool, burst.idx[k]!, rxNs);
  }

  /** Time series: `n` frames of `bytes` in all were sent at `txNs`. */
  recordTx(txNs: number, n: number, bytes: number): void {
    if (this.ivHist === null) return;
    const row = this.rowAt(txNs, false);
    row.tx += n;
    row.txBytes += bytes;
  }

  private rowAt(tNs: number, rx: boolean): IntervalRow {
    const k = Math.max(0, Math.floor((tNs - this.originNs) / this.intervalNs));
    while (this.rows.length <= k) this.rows.push(emptyRow((this.rows.length * this.intervalNs) / 1e9));
    if (rx) {
      if (k !== this.ivIndex) {
        if (this.ivIndex >= 0) this.closeLatency(this.ivIndex);
        this.ivIndex = Math.max(k, this.ivIndex);
      }
    } else this.txIndex = Math.max(this.txIndex, k);
    return this.rows[k]!;
  }

  private closeLatency(k: number): void {
    const h = this.ivHist!;
    const row = this.rows[k]!;
    if (h.totalCount > 0) {
      row.latP50Ns = h.getValueAtPercentile(50);
      row.latP90Ns = h.getValueAtPercentile(90);
      row.latP99Ns = h.getValueAtPercentile(99);
      row.latP999Ns = h.getValueAtPercentile(99.9);
      row.latMaxNs = h.maxValue;
    }
    h.reset();
  }

  /**
   * Per-stream results, given what each stream sent (by id; from
   * `Generator.txCounts()`). Without a tx count a stream's `tx` is taken as
   * its highest sequence number + 1 (tail loss then cannot be seen).
   */
  report(tx?: ReadonlyMap<number, number>): StreamReport[] {
    const out: StreamReport[] = [];
    for (const st of this.streams.values()) {
      const sent = tx?.get(st.id) ?? st.maxSeq + 1;
      const lost = Math.max(0, sent - st.received);
      out.push({
        id: st.id,
        name: st.name,
        tx: sent,
        rx: st.rx,
        received: st.received,
        lost,
        lossRatio: sent > 0 ? lost / sent : 0,
        missing: st.missing,
        duplicates: st.duplicates,
        reordered: st.reordered,
        maxReorderDistance: st.maxReorderDistance,
        beyondWindow: st.beyondWindow,
        rxBytes: st.rxBytes,
        latency: st.latencySummary(),
      });
    }
    return out;
  }

  /** Latency over every stream. */
  latencyAll(): LatencySummary {
    const h = newHistogram(3);
    let count = 0;
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const st of this.streams.values()) {
      h.add(st.hist);
      count += st.received;
      min = Math.min(min, st.latMin);
      max = Math.max(max, st.latMax);
      sum += st.latSum;
    }
    return summarize(h, count, min, max, sum);
  }

  /**
   * The time series, rows up to `endNs` (default: the last with traffic).
   * With `tx`, the tail loss (frames sent after the last received) is added
   * to the last row so that `lost` sums to the total loss.
   */
  series(tx?: ReadonlyMap<number, number>, endNs?: number): IntervalRow[] {
    if (this.ivHist === null) return [];
    if (this.ivIndex >= 0) {
      this.closeLatency(this.ivIndex);
      this.ivIndex = -1;
    }
    if (endNs !== undefined) {
      const last = Math.max(0, Math.ceil(endNs / this.intervalNs) - 1);
      while (this.rows.length <= last) this.rows.push(emptyRow((this.rows.length * this.intervalNs) / 1e9));
    }
    const rows = this.rows.map((r) => ({ ...r }));
    const secs = this.intervalNs / 1e9;
    for (const r of rows) {
      r.txPps = r.tx / secs;
      r.rxPps = r.rx / secs;
      r.txBps = (r.txBytes * 8) / secs;
      r.rxBps = (r.rxBytes * 8) / secs;
    }
    if (tx !== undefined) {
      let tail = 0;
      for (const st of this.streams.values()) tail += Math.max(0, (tx.get(st.id) ?? 0) - (st.maxSeq + 1));
      if (tail > 0 && rows.length === 0) rows.push(emptyRow(0));
      if (rows.length > 0) rows[rows.length - 1]!.lost += tail;
    }
    return rows;
  }
}

function emptyRow(t: number): IntervalRow {
  return { t, tx: 0, txBytes: 0, rx: 0, rxBytes: 0, lost: 0, duplicates: 0, reordered: 0, txPps: 0, rxPps: 0, txBps: 0, rxBps: 0, latP50Ns: 0, latP90Ns: 0, latP99Ns: 0, latP999Ns: 0, latMaxNs: 0 };
}

function newHistogram(digits: 1 | 2 | 3 | 4 | 5): Histogram {
  return build({ bitBucketSize: 64, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: digits, useWebAssembly: false });
}

function summarize(h: Histogram, count: number, min: number, max: number, sum: number): LatencySummary {
  if (count === 0) return { count: 0, minNs: 0, meanNs: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0, p999Ns: 0, maxNs: 0 };
  // HdrHistogram reports the highest value equivalent to a bucket; keep the percentiles inside the exact range.
  const p = (q: number): number => Math.min(max, Math.max(min, h.getValueAtPercentile(q)));
  return { count, minNs: min, meanNs: sum / count, p50Ns: p(50), p90Ns: p(90), p99Ns: p(99), p999Ns: p(99.9), maxNs: max };
}

/** The time series as CSV (a header line, then one line per row). */
export function seriesToCsv(rows: readonly IntervalRow[]): string {
  const cols: (keyof IntervalRow)[] = ["t", "tx", "rx", "lost", "duplicates", "reordered", "txPps", "rxPps", "txBps", "rxBps", "latP50Ns", "latP90Ns", "latP99Ns", "latP999Ns", "latMaxNs", "txBytes", "rxBytes"];
  const lines = [cols.join(",")];
  for (const r of rows) lines.push(cols.map((c) => fmt(r[c])).join(","));
  return lines.join("\n") + "\n";
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}
