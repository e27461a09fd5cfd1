/**
 * Rates, durations and Ethernet line-rate arithmetic.
 *
 * ## Frame size
 * A frame size is the data link frame size of RFC 1242 §3.5 / RFC 2544 §9:
 * from the first byte of the destination MAC to the last byte of the FCS.
 * A "64-byte frame" is therefore 60 bytes in a packet buffer (what a pcap
 * file or a NIC hands to software) plus the 4-byte FCS the wire adds.
 * {@link FCS_LEN} converts between the two.
 *
 * ## Bits per second: L2 or L1, always explicit
 * Every Ethernet frame also occupies 20 bytes of wire time it does not
 * carry: a 7-byte preamble, a 1-byte start frame delimiter and the 12-byte
 * minimum inter-packet gap (IEEE 802.3 §4.4.2, §3.2.1). So
 *
 * - `bps` (unit `"bps"`, e.g. `"9.5Gbps"`) counts **L2 bits**: frame bytes
 *   including the FCS, without preamble, SFD or gap. `pps = bps / (8 × size)`.
 * - `bpsL1` (unit `"bps-l1"`, e.g. `"10Gbps-l1"`) counts **L1 bits**, the
 *   20 bytes included: `pps = bps / (8 × (size + 20))`. 100% of a line is
 *   its nominal bit rate in L1 bits.
 * - `%` (e.g. `"50%"`) is a share of the line rate in L1 terms:
 *   `pps = share × lineBps / (8 × (size + 20))` — 100% of 10 Gbit/s with
 *   64-byte frames is 14,880,952.38 pps (RFC 2544 Appendix B lists the same
 *   maximum frame rates for 10 Mb/s Ethernet, 14,880 pps).
 *
 * For a mix of sizes, `size` above is the mean frame size over one cycle of
 * the mix, so the rate in bits per second holds on average over each cycle.
 */
import { TrafgenError } from "./errors.js";

/** Bytes of FCS (frame check sequence) the wire appends; not stored in buffers. */
export const FCS_LEN = 4;
/** Preamble (7) + start frame delimiter (1) + minimum inter-packet gap (12), IEEE 802.3 §4.4.2. */
export const L1_OVERHEAD = 20;
/** Smallest Ethernet frame, FCS included (IEEE 802.3 §3.2.7; RFC 2544 §9.1). */
export const MIN_FRAME = 64;
/** Largest untagged standard Ethernet frame, FCS included (RFC 2544 §9.1). */
export const MAX_STD_FRAME = 1518;
/** RFC 2544 §9.1 frame sizes for Ethernet. */
export const RFC2544_SIZES: readonly number[] = Object.freeze([64, 128, 256, 512, 1024, 1280, 1518]);

/** A rate as asked: packets per second, L2 or L1 bits per second, or a share of the line rate. */
export type Rate =
  | { readonly unit: "pps"; readonly value: number }
  | { readonly unit: "bps"; readonly value: number }
  | { readonly unit: "bps-l1"; readonly value: number }
  | { readonly unit: "%"; readonly value: number };

const SI: Record<string, number> = { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9, t: 1e12, T: 1e12 };

/**
 * Parse a rate: `"1Mpps"`, `"250kpps"`, `"1e6pps"`, `"1000"` (pps),
 * `"9.5Gbps"` (L2), `"10Gbps-l1"` (L1), `"50%"` (of the line rate). SI
 * prefixes k, M, G, T are powers of 1000. Throws {@link TrafgenError}
 * ("malformed") with the text in the message.
 */
export function parseRate(text: string | number): Rate {
  if (typeof text === "number") return checkRate({ unit: "pps", value: text }, String(text));
  const s = text.trim();
  const m = /^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(%|([kKmMgGtT]?)(pps|bps-l1|bps|b\/s)?)$/.exec(s);
  if (!m) throw new TrafgenError("malformed", `rate "${text}" does not parse: use e.g. 1Mpps, 9.5Gbps (L2), 10Gbps-l1 (L1) or 50%`, { field: "rate" });
  const n = Number(m[1]);
  if (m[2] === "%") return checkRate({ unit: "%", value: n }, s);
  const mult = SI[m[3] ?? ""]!;
  const unit = m[4] ?? "pps";
  if (unit === "pps") return checkRate({ unit: "pps", value: n * mult }, s);
  if (unit === "bps-l1") return checkRate({ unit: "bps-l1", value: n * mult }, s);
  return checkRate({ unit: "bps", value: n * mult }, s);
}

function checkRate(r: Rate, text: string): Rate {
  if (!Number.isFinite(r.value) || r.value <= 0) throw new TrafgenError("malformed", `rate "${text}" must be a positive number`, { field: "rate" });
  if (r.unit === "%" && r.value > 100) throw new TrafgenError("config", `rate "${text}" is above 100% of the line rate`, { field: "rate" });
  return r;
}

/** A rate as text (the inverse of {@link parseRate} up to formatting). */
export function formatRate(r: Rate): string {
  if (r.unit === "%") return `${r.value}%`;
  return `${r.value}${r.unit}`;
}

/**
 * Packets per second for a rate, given the mean frame size (FCS included)
 * and the line rate in bit/s (L1). See the module comment for the formulas.
 */
export function ratePps(rate: Rate, meanFrameSize: number, lineBps: number): number {
  switch (rate.unit) {
    case "pps":
      return rate.value;
    case "bps":
      return rate.value / (8 * meanFrameSize);
    case "bps-l1":
      return rate.value / (8 * (meanFrameSize + L1_OVERHEAD));
    case "%":
      return (rate.value / 100) * lineRatePps(meanFrameSize, lineBps);
  }
}

/** Maximum frames per second of a line of `lineBps` (L1) for frames of `frameSize` bytes (FCS included). */
export function lineRatePps(frameSize: number, lineBps: number): number {
  return lineBps / (8 * (frameSize + L1_OVERHEAD));
}

/** L2 bit/s carried by `pps` frames of `frameSize` bytes (FCS included). */
export function l2Bps(pps: number, frameSize: number): number {
  return pps * frameSize * 8;
}

/** L1 bit/s (preamble, SFD and gap included) of `pps` frames of `frameSize` bytes. */
export function l1Bps(pps: number, frameSize: number): number {
  return pps * (frameSize + L1_OVERHEAD) * 8;
}

/** Wire time of one frame of `frameSize` bytes (FCS included) with its 20 bytes of L1 overhead, in ns. */
export function wireTimeNs(frameSize: number, lineBps: number): number {
  return ((frameSize + L1_OVERHEAD) * 8 * 1e9) / lineBps;
}

/**
 * Parse a duration: `"2s"`, `"500ms"`, `"250us"`, `"100ns"`, `"1.5m"`
 * (minutes), or a bare number of seconds. Returns nanoseconds.
 */
export function parseDuration(text: string | number): number {
  if (typeof text === "number") {
    if (!Number.isFinite(text) || text < 0) throw new TrafgenError("malformed", `duration ${text} must be a non-negative number of seconds`);
    return text * 1e9;
  }
  const m = /^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ns|us|µs|ms|s|m|min)?$/.exec(text.trim());
  if (!m) throw new TrafgenError("malformed", `duration "${text}" does not parse: use e.g. 2s, 500ms, 100us`);
  const n = Number(m[1]);
  const mult = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, min: 60e9 }[m[2] ?? "s"]!;
  return n * mult;
}

/** Parse a bit rate for a line: `"10G"`, `"25Gbps"`, `"100e9"`. Returns bit/s. */
export function parseLineRate(text: string | number): number {
  if (typeof text === "number") {
    if (!(text > 0)) throw new TrafgenError("malformed", `line rate ${text} must be positive`, { field: "lineRate" });
    return text;
  }
  const m = /^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)(bps|b\/s|bit\/s)?$/.exec(text.trim());
  if (!m || !(Number(m[1]) > 0)) throw new TrafgenError("malformed", `line rate "${text}" does not parse: use e.g. 10G, 25Gbps`, { field: "lineRate" });
  return Number(m[1]) * SI[m[2] ?? ""]!;
}

/** Parse a share: `"0.5%"` → 0.005, `"0.001"` → 0.001. */
export function parseShare(text: string | number, field = "share"): number {
  if (typeof text === "number") return text;
  const s = text.trim();
  const pct = s.endsWith("%");
  const n = Number(pct ? s.slice(0, -1) : s);
  if (!Number.isFinite(n) || n < 0) throw new TrafgenError("malformed", `${field} "${text}" must be a non-negative number or percentage`, { field });
  return pct ? n / 100 : n;
}
