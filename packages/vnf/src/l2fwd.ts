/**
 * Layer-2 reflectors in the style of DPDK's testpmd forwarding modes:
 *
 * - {@link MacSwap} swaps the destination and source MAC addresses and sends
 *   the frame back (out of the port it came in, or its pair `i ^ 1`);
 * - {@link L2Fwd} forwards port `i` to port `i ^ 1` and optionally rewrites
 *   the destination MAC (the peer's) and the source MAC (the output port's).
 *
 * Both touch only the 12 address bytes of the Ethernet header (IEEE 802.3
 * §3.2), so they are the baseline cost of a VNF in the benchmark.
 */
import { z } from "zod";
import type { PacketBurst } from "./burst.js";
import { zCount, zMac, parseConfig } from "./config.js";
import { Counters, vnfCounterNames } from "./counters.js";
import { DropReason, drop } from "./verdict.js";
import { type Vnf, tally } from "./vnf.js";

const ETH_HLEN = 14;

export const MacSwapConfigSchema = z
  .object({
    /** Number of ports (default 1). */
    ports: zCount(65536).default(1),
    /** `same`: back out of the input port (default); `paired`: out of port `i ^ 1`. */
    output: z.enum(["same", "paired"]).default("same"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.output === "paired" && c.ports % 2 !== 0)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["ports"], message: `must be even when output is "paired" (got ${c.ports})` });
  });
export type MacSwapConfig = z.input<typeof MacSwapConfigSchema>;

/** testpmd `macswap`: swap destination and source MAC, send the frame back. */
export class MacSwap implements Vnf {
  readonly kind = "macswap";
  readonly portCount: number;
  readonly counters = new Counters(vnfCounterNames());
  readonly outbox = null;
  private readonly paired: boolean;

  constructor(config: MacSwapConfig = {}) {
    const c = parseConfig(MacSwapConfigSchema, config);
    this.portCount = c.ports;
    this.paired = c.output === "paired";
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const np = this.portCount;
    const pairBit = this.paired ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const p = ports[i]!;
      if (p >= np) {
        verdicts[i] = drop(DropReason.BadPort);
        continue;
      }
      if (lengths[i]! < ETH_HLEN) {
        verdicts[i] = drop(DropReason.Malformed);
        continue;
      }
      const b = bufs[i]!;
      const o = offsets[i]!;
      for (let k = 0; k < 6; k++) {
        const t = b[o + k]!;
        b[o + k] = b[o + 6 + k]!;
        b[o + 6 + k] = t;
      }
      verdicts[i] = p ^ pairBit;
    }
    return tally(this.counters.values, verdicts, n);
  }
}

export const L2FwdConfigSchema = z
  .object({
    /** One entry per port; port `i` forwards to port `i ^ 1` (a single port loops to itself). */
    ports: z
      .array(
        z
          .object({
            /** This port's MAC: written as source MAC of frames sent out of it. */
            mac: zMac.optional(),
            /** MAC of the station beyond this port: written as destination MAC of frames sent out of it. */
            peerMac: zMac.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(65536),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.ports.length > 1 && c.ports.length % 2 !== 0)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["ports"], message: `needs 1 or an even number of ports (got ${c.ports.length})` });
  });
export type L2FwdConfig = z.input<typeof L2FwdConfigSchema>;

/** DPDK-l2fwd-style forwarder: port `i` → port `i ^ 1`, with optional MAC rewrite per output port. */
export class L2Fwd implements Vnf {
  readonly kind = "l2fwd";
  readonly portCount: number;
  readonly counters = new Counters(vnfCounterNames());
  readonly outbox = null;
  /** Per output port: 12 bytes (dst MAC, src MAC) and flags (bit 0: rewrite dst, bit 1: rewrite src). */
  private readonly macs: Uint8Array;
  private readonly rewrite: Uint8Array;

  constructor(config: L2FwdConfig) {
    const c = parseConfig(L2FwdConfigSchema, config);
    this.portCount = c.ports.length;
    this.macs = new Uint8Array(this.portCount * 12);
    this.rewrite = new Uint8Array(this.portCount);
    c.ports.forEach((p, i) => {
      if (p.peerMac) {
        this.macs.set(p.peerMac, i * 12);
        this.rewrite[i]! |= 1;
      }
      if (p.mac) {
        this.macs.set(p.mac, i * 12 + 6);
        this.rewrite[i]! |= 2;
      }
    });
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const np = this.portCount;
    const pairBit = np > 1 ? 1 : 0;
    const macs = this.macs;
    const rw = this.rewrite;
    for (let i = 0; i < n; i++) {
      const p = ports[i]!;
      if (p >= np) {
        verdicts[i] = drop(DropReason.BadPort);
        continue;
      }
      if (lengths[i]! < ETH_HLEN) {
        verdicts[i] = drop(DropReason.Malformed);
        continue;
      }
      const out = p ^ pairBit;
      const f = rw[out]!;
      if (f !== 0) {
        const b = bufs[i]!;
        const o = offsets[i]!;
        const m = out * 12;
        if (f & 1) for (let k = 0; k < 6; k++) b[o + k] = macs[m + k]!;
        if (f & 2) for (let k = 0; k < 6; k++) b[o + 6 + k] = macs[m + 6 + k]!;
      }
      verdicts[i] = out;
    }
    return tally(this.counters.values, verdicts, n);
  }
}
