/**
 * Frame sizes of a stream: one fixed size, a weighted mix (IMIX), or a
 * per-frame sweep. Sizes are data link frame sizes, FCS included
 * (RFC 1242 §3.5); see units.ts.
 *
 * ## IMIX
 * There is no standard IMIX: RFC 6985 §1 says as much, and defines a
 * notation for stating exactly which mix a test used. The mix most test
 * equipment calls "simple IMIX" is 64, 570 and 1518-byte frames in the ratio
 * 7:4:1 ({@link SIMPLE_IMIX}). The three sizes are the modes of the IP packet
 * size distribution seen on Internet backbones in the late 1990s: 40-byte
 * packets (TCP acknowledgements), 576 bytes (the datagram size every host
 * must accept, RFC 791 §3.1) and 1500 bytes (the
 * Ethernet MTU); see K. Thompson, G. Miller, R. Wilder, "Wide-area Internet
 * traffic patterns and characteristics", IEEE Network 11(6), 1997. The 7:4:1
 * weights and the L2 sizes are a de facto convention of test-equipment
 * vendors, and vendors differ in the middle size (570 or 594 bytes):
 * reports should state the mix, which `describeSizes` does.
 *
 * ## Exact proportions
 * A mix is expanded into a fixed cycle of `Σ weights` frames ordered by
 * smooth weighted round-robin (each step: every size gains its weight, the
 * largest credit is chosen and pays back the total), so over every whole
 * cycle each size appears exactly `weight` times, and the sizes are spread
 * out instead of sent in runs. The sequence is deterministic, as RFC 6985
 * §3 asks of a repeatable mix.
 */
import { TrafgenError } from "./errors.js";

/** Simple IMIX: 64, 570 and 1518-byte frames, 7:4:1 (see the module comment for where it comes from). */
export const SIMPLE_IMIX: readonly (readonly [size: number, weight: number])[] = Object.freeze([
  Object.freeze([64, 7] as const),
  Object.freeze([570, 4] as const),
  Object.freeze([1518, 1] as const),
]);

/** Largest cycle a mix or sweep may expand to. */
export const MAX_SIZE_CYCLE = 1 << 20;

/** Sizes of one stream: a size, `"imix"`, a weighted mix, or a per-frame sweep from..to by step (then again). */
export type SizeSpec =
  | number
  | "imix"
  | { readonly mix: readonly (readonly [size: number, weight: number])[] }
  | { readonly sweep: { readonly from: number; readonly to: number; readonly step?: number } };

/** The distinct sizes of a spec and the repeating cycle of indexes into them. */
export class SizeSequence {
  /** Distinct sizes, ascending. */
  readonly sizes: readonly number[];
  /** One cycle: indexes into {@link sizes}. */
  readonly cycle: Uint16Array;
  /** Mean frame size over a cycle. */
  readonly meanSize: number;
  private pos = 0;

  constructor(readonly spec: SizeSpec) {
    const { sizes, cycle } = expand(spec);
    this.sizes = Object.freeze(sizes);
    this.cycle = cycle;
    let sum = 0;
    for (let k = 0; k < cycle.length; k++) sum += sizes[cycle[k]!]!;
    this.meanSize = sum / cycle.length;
  }

  /** Index (into {@link sizes}) of the next frame's size. */
  next(): number {
    const i = this.cycle[this.pos]!;
    this.pos = this.pos + 1 === this.cycle.length ? 0 : this.pos + 1;
    return i;
  }

  /** Start the cycle again. */
  reset(): void {
    this.pos = 0;
  }

  get minSize(): number {
    return this.sizes[0]!;
  }

  get maxSize(): number {
    return this.sizes[this.sizes.length - 1]!;
  }
}

function checkSize(n: number): number {
  if (!Number.isInteger(n) || n < 18 || n > 65535) throw new TrafgenError("config", `frame size ${n} must be an integer in [18, 65535] (FCS included)`, { field: "size" });
  return n;
}

function expand(spec: SizeSpec): { sizes: number[]; cycle: Uint16Array } {
  if (typeof spec === "number") return { sizes: [checkSize(spec)], cycle: new Uint16Array(1) };
  if (spec === "imix") return expandMix(SIMPLE_IMIX);
  if (typeof spec === "object" && spec !== null && "mix" in spec) return expandMix(spec.mix);
  if (typeof spec === "object" && spec !== null && "sweep" in spec) {
    const { from, to } = spec.sweep;
    const step = spec.sweep.step ?? 1;
    checkSize(from);
    checkSize(to);
    if (!Number.isInteger(step) || step < 1) throw new TrafgenError("config", `size sweep step ${step} must be a positive integer`, { field: "size" });
    if (to < from) throw new TrafgenError("config", `size sweep ${from}..${to} runs backwards`, { field: "size" });
    const sizes: number[] = [];
    for (let s = from; s <= to; s += step) sizes.push(s);
    if (sizes.length > 65535) throw new TrafgenError("config", `size sweep ${from}..${to}/${step} has more than 65535 sizes`, { field: "size" });
    const cycle = new Uint16Array(sizes.length);
    for (let k = 0; k < cycle.length; k++) cycle[k] = k;
    return { sizes, cycle };
  }
  throw new TrafgenError("config", `size spec ${JSON.stringify(spec)} is not a size, "imix", { mix } or { sweep }`, { field: "size" });
}

function expandMix(mix: readonly (readonly [number, number])[]): { sizes: number[]; cycle: Uint16Array } {
  if (mix.length === 0) throw new TrafgenError("config", "a size mix needs at least one size", { field: "size" });
  const weights = new Map<number, number>();
  for (const [size, w] of mix) {
    checkSize(size);
    if (!Number.isInteger(w) || w < 1) throw new TrafgenError("config", `mix weight ${w} of size ${size} must be a positive integer`, { field: "size" });
    weights.set(size, (weights.get(size) ?? 0) + w);
  }
  const sizes = [...weights.keys()].sort((a, b) => a - b);
  const w = sizes.map((s) => weights.get(s)!);
  const total = w.reduce((a, b) => a + b, 0);
  if (total > MAX_SIZE_CYCLE) throw new TrafgenError("config", `size mix weights sum to ${total}, above ${MAX_SIZE_CYCLE}`, { field: "size" });
  // Smooth weighted round-robin: exact counts per cycle, sizes spread out.
  const credit = new Array<number>(sizes.length).fill(0);
  const cycle = new Uint16Array(total);
  for (let k = 0; k < total; k++) {
    let best = 0;
    for (let j = 0; j < sizes.length; j++) {
      credit[j]! += w[j]!;
      if (credit[j]! > credit[best]!) best = j;
    }
    credit[best]! -= total;
    cycle[k] = best;
  }
  return { sizes, cycle };
}

/**
 * Parse one stream's size spec: `"64"`, `"imix"`, `"64:7,570:4,1518:1"`
 * (a weighted mix), `"64..1518"` or `"64..1518/64"` (a per-frame sweep).
 */
export function parseSizeSpec(text: string): SizeSpec {
  const s = text.trim();
  if (s.toLowerCase() === "imix") return "imix";
  if (/^\d+$/.test(s)) return checkSize(Number(s));
  const sw = /^(\d+)\.\.(\d+)(?:\/(\d+))?$/.exec(s);
  if (sw) return { sweep: { from: Number(sw[1]), to: Number(sw[2]), step: sw[3] === undefined ? 1 : Number(sw[3]) } };
  if (/^\d+:\d+(,\d+:\d+)*$/.test(s)) {
    const mix = s.split(",").map((p) => {
      const [a, b] = p.split(":");
      return [Number(a), Number(b)] as const;
    });
    return { mix };
  }
  throw new TrafgenError("malformed", `size "${text}" does not parse: use 64, imix, 64:7,570:4,1518:1 (a mix) or 64..1518/64 (a sweep)`, { field: "size" });
}

/**
 * Parse a list of runs' sizes, as the CLI takes them: `"64,128,256"` or
 * `"64,imix"` is one run per item (an RFC 2544 §9 style sweep over trials),
 * `"64:7,570:4,1518:1"` one run with that mix, `"64..1518/64"` one run with
 * a per-frame sweep.
 */
export function parseSizeList(text: string): SizeSpec[] {
  const s = text.trim();
  if (s.includes(":")) return [parseSizeSpec(s)];
  return s.split(",").map((x) => parseSizeSpec(x));
}

/** A short text for reports: `64`, `imix(64:7,570:4,1518:1)`, `sweep(64..1518/1)`. */
export function describeSizes(spec: SizeSpec): string {
  if (typeof spec === "number") return String(spec);
  if (spec === "imix") return `imix(${SIMPLE_IMIX.map(([s, w]) => `${s}:${w}`).join(",")})`;
  if ("mix" in spec) return `mix(${spec.mix.map(([s, w]) => `${s}:${w}`).join(",")})`;
  return `sweep(${spec.sweep.from}..${spec.sweep.to}/${spec.sweep.step ?? 1})`;
}
