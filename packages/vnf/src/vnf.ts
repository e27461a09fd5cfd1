/**
 * The shape every VNF core has, so the engine, the service chain and the CLI
 * drive them alike.
 */
import type { PacketBurst } from "./burst.js";
import { Counters, DROP_BASE, DROPPED, RX, TX } from "./counters.js";
import type { Outbox } from "./outbox.js";

/** Milliseconds on the caller's clock (real or modelled time); read once per burst. */
export type Clock = () => number;

/** Runtime options that are not configuration data. */
export interface VnfOptions {
  /** Time source for timeouts and rate limits; default `performance.now()`. */
  clock?: Clock;
}

export const defaultClock: Clock = () => performance.now();

export interface Vnf {
  /** Registry name of the VNF kind (`macswap`, `l2fwd`, `router`, ...). */
  readonly kind: string;
  /** Number of ports the VNF has (input `ports[i]` and forward verdicts are below this). */
  readonly portCount: number;
  /** Named counters: `rx`, `tx`, `dropped`, `drop.<reason>`, then VNF-specific ones. */
  readonly counters: Counters;
  /** Packets the VNF originated during `process()`, or null for VNFs that never originate any. */
  readonly outbox: Outbox | null;
  /**
   * Process packets `0 .. n-1` of `burst`: rewrite bytes in place where the
   * VNF translates, and write one verdict per packet into `verdicts`
   * (see `verdict.ts`). Returns the number of packets forwarded. Never throws
   * on packet contents: malformed input is a counted drop.
   */
  process(burst: PacketBurst, n: number, verdicts: Int32Array): number;
}

/** Count a processed burst's verdicts into the common counters; returns packets forwarded. */
export function tally(c: Float64Array, verdicts: Int32Array, n: number): number {
  let fwd = 0;
  for (let i = 0; i < n; i++) {
    const v = verdicts[i]!;
    if (v >= 0) fwd++;
    else c[DROP_BASE - v - 1]!++;
  }
  c[RX]! += n;
  c[TX]! += fwd;
  c[DROPPED]! += n - fwd;
  return fwd;
}
