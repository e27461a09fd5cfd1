import { burstFromFrames, frameOf } from "../../src/burst.js";
import type { Vnf } from "../../src/vnf.js";

/** Run frames (all on `port`) through a VNF; returns verdicts and the frames as they came out. */
export function run(vnf: Vnf, frames: Uint8Array[], port = 0): { verdicts: number[]; out: Uint8Array[] } {
  const b = burstFromFrames(frames.map((f) => f.slice()), port);
  const v = new Int32Array(frames.length);
  vnf.process(b, frames.length, v);
  return { verdicts: Array.from(v), out: frames.map((_, i) => frameOf(b, i)) };
}

/** Run one frame; returns its verdict and bytes. */
export function run1(vnf: Vnf, frame: Uint8Array, port = 0): { verdict: number; out: Uint8Array } {
  const r = run(vnf, [frame], port);
  return { verdict: r.verdicts[0]!, out: r.out[0]! };
}

/** A manual clock in milliseconds. */
export function manualClock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}
