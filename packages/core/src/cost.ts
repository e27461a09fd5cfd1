/**
 * The cost model: a typed, documented, user-editable table of what work
 * costs, from which modelled time is computed (see docs/cost-model.md).
 *
 * Every entry is `{ value, unit, source }`: the figure, its unit, and where
 * it comes from (a paper, a vendor brief, or "measured here with
 * <command>"). The defaults below are data, not code: override any of them
 * from JSON with {@link loadCostModel}, either as a bare number (the unit
 * stays, the source becomes "user override") or as a full entry.
 */
import { z } from "zod";
import { CoreError } from "./errors.js";

export interface CostEntry {
  value: number;
  unit: string;
  source: string;
  note?: string | undefined;
}

export interface StageCost {
  /** Packets per second the stage sustains. */
  ratePps: CostEntry;
  /** Time from a packet entering the stage to leaving it. */
  latencyNs: CostEntry;
}

export interface CostModel {
  /** Host CPU clock frequency. */
  cpuHz: CostEntry;
  /** Fixed cycles a software stage spends per packet (descriptor handling, touching the header, link hand-off). */
  cyclesPerPacketBase: CostEntry;
  /** Fixed cycles per memcpy call, whatever its length. */
  cyclesPerCopyCall: CostEntry;
  /** Cycles per byte copied by the host CPU. */
  cyclesPerCopyByte: CostEntry;
  /** Cycles to signal one notification and consume it: an eventfd write + read (kick via ioeventfd, call via irqfd). */
  cyclesPerNotification: CostEntry;
  /** Cycles of one VM exit + re-entry round trip. */
  cyclesPerVmExit: CostEntry;
  /** Cycles to inject one interrupt into a running vCPU without posted interrupts. */
  cyclesPerInterruptInjection: CostEntry;
  /** Kernel work of vhost-net per transmitted packet beyond the base and the copies (descriptor fetch, skb/XDP buffer, tun hand-off, used entry). */
  cyclesPerVhostTxPacket: CostEntry;
  /** Kernel work of vhost-net per received packet beyond the base and the copies (socket dequeue, buffer gathering, skb free, used entries). */
  cyclesPerVhostRxPacket: CostEntry;
  /** Latency of one device DMA read of host memory. */
  dmaLatencyNs: CostEntry;
  /** Usable PCIe bandwidth per direction. */
  pcieGbps: CostEntry;
  /** Ethernet line rate of a modelled port. */
  wireGbps: CostEntry;
  /** Hardware pipeline stages of the offload device. */
  stages: Record<string, StageCost>;
}

const MACHINE = "AMD EPYC, 2 vCPUs at 2096 MHz, Node 20.20";

const VHOST_NET_PATCH =
  'Jason Wang, "[PATCH net-next 2/2] vhost_net: basic in_order support", netdev and kvm lists, 8 July 2025 (v2 14 July 2025)';
const VHOST_NET_CALIBRATION_TX = `calibrated to ${VHOST_NET_PATCH}: testpmd txonly in the guest, vhost_net + XDP_DROP on the TAP, 64-byte frames, 4.75 Mpps without and 5.35 Mpps with in-order; set so that one modelled vhost worker (cyclesPerPacketBase + this + a 12-byte header copy + a 64-byte frame copy) lands at 5.0 Mpps at cpuHz; see docs/cost-model.md`;
const VHOST_NET_CALIBRATION_RX = `calibrated to ${VHOST_NET_PATCH}: pktgen on the TAP, vhost_net, XDP_DROP in the guest, 64-byte frames, 3.47 Mpps without and 3.61 Mpps with in-order; set so that one modelled vhost worker (cyclesPerPacketBase + this + header, num_buffers and frame copies + its share of interrupts) lands at about 3.5 Mpps at cpuHz; see docs/cost-model.md`;

/** The defaults. Each figure cites its source; see docs/cost-model.md for the reasoning. */
export const DEFAULT_COST_MODEL: CostModel = {
  cpuHz: {
    value: 2.1e9,
    unit: "Hz",
    source: `measured here with \`grep MHz /proc/cpuinfo\` (${MACHINE}: 2096 MHz), rounded`,
  },
  cyclesPerPacketBase: {
    value: 25,
    unit: "cycles/packet",
    source:
      "measured here with `pnpm --filter @nfvio/core bench:costs` (nfvio link receive + MAC swap + link transmit per packet, bursts of 32, cache-hot; 22-40 cycles over three runs, best rounded up)",
  },
  cyclesPerCopyCall: {
    value: 45,
    unit: "cycles/copy",
    source:
      "measured here with `pnpm --filter @nfvio/core bench:costs` (intercept of a least-squares line through copyWithin times of 64..9000-byte cache-hot copies; 41-58 cycles over three runs)",
  },
  cyclesPerCopyByte: {
    value: 0.06,
    unit: "cycles/byte",
    source:
      "measured here with `pnpm --filter @nfvio/core bench:costs` (slope of a least-squares line through copyWithin times of 64..9000-byte cache-hot copies; 0.05-0.10 over three runs); copies that miss the cache cost more",
  },
  cyclesPerNotification: {
    value: 6500,
    unit: "cycles",
    source:
      "measured here with `python3 -c \"import os,time; fd=os.eventfd(0); n=200000; t=time.perf_counter_ns(); [ (os.eventfd_write(fd,1), os.eventfd_read(fd)) for _ in range(n) ]; print((time.perf_counter_ns()-t)/n)\"` (about 3.1 us per write+read pair, x 2.1 GHz); this sandboxed host has slow syscalls, so expect less on bare metal",
  },
  cyclesPerVmExit: {
    value: 1400,
    unit: "cycles",
    source:
      "LKML, Dec 2020, KVM/SVM thread on VMSAVE/VMLOAD (lkml.iu.edu/hypermail/linux/kernel/2012.2/00527.html): about 1,350 cycles measured from just before VMRUN to just after the exit on AMD EPYC; rounded up",
  },
  cyclesPerInterruptInjection: {
    value: 1400,
    unit: "cycles",
    source:
      "derived: without posted interrupts, injecting into a running vCPU forces one exit and re-entry (Gordon et al., ELI: Bare-Metal Performance for I/O Virtualization, ASPLOS 2012); set equal to cyclesPerVmExit",
  },
  cyclesPerVhostTxPacket: {
    value: 300,
    unit: "cycles/packet",
    source: VHOST_NET_CALIBRATION_TX,
  },
  cyclesPerVhostRxPacket: {
    value: 330,
    unit: "cycles/packet",
    source: VHOST_NET_CALIBRATION_RX,
  },
  dmaLatencyNs: {
    value: 500,
    unit: "ns",
    source:
      "Neugebauer et al., Understanding PCIe performance for end host networking, SIGCOMM 2018 (pcie-bench): small DMA reads of host memory take several hundred ns on Xeon E5 hosts; 500 ns as a round figure",
  },
  pcieGbps: {
    value: 126,
    unit: "Gbit/s",
    source: "PCI Express Base Specification 3.0: 8 GT/s per lane, 128b/130b encoding, x16 -> 126 Gbit/s per direction before TLP overhead",
  },
  wireGbps: {
    value: 100,
    unit: "Gbit/s",
    source: "IEEE 802.3 100 Gb/s Ethernet (802.3ba/bj); the modelled port speed, edit for 25/200 GbE",
  },
  stages: {
    parser: stage(215e6, 50, "parser"),
    classifier: stage(215e6, 100, "classifier"),
    distributor: stage(215e6, 50, "distributor"),
    dma: stage(215e6, 500, "dma"),
    eswitch: stage(215e6, 100, "eswitch"),
  },
};

function stage(pps: number, latencyNs: number, name: string): StageCost {
  return {
    ratePps: {
      value: pps,
      unit: "packets/s",
      source: "NVIDIA ConnectX-6 EN product brief: up to 215 million messages per second; applied to every pipeline stage as the device's ceiling",
    },
    latencyNs: {
      value: latencyNs,
      unit: "ns",
      source:
        name === "dma"
          ? "set to dmaLatencyNs (Neugebauer et al., SIGCOMM 2018)"
          : `assumption: a share of the sub-0.8 us end-to-end device latency of the ConnectX-6 EN product brief given to the ${name} stage; edit with measured figures`,
    },
  };
}

// ---- Validation and loading ----

const entrySchema = z
  .object({
    value: z.number().finite().nonnegative(),
    unit: z.string().min(1),
    source: z.string().min(1),
    note: z.string().optional(),
  })
  .strict();

const positiveEntry = entrySchema.refine((e) => e.value > 0, { message: "must be greater than 0", path: ["value"] });

const stageSchema = z.object({ ratePps: positiveEntry, latencyNs: entrySchema }).strict();

/** The zod schema of a complete cost model. */
export const costModelSchema = z
  .object({
    cpuHz: positiveEntry,
    cyclesPerPacketBase: entrySchema,
    cyclesPerCopyCall: entrySchema,
    cyclesPerCopyByte: entrySchema,
    cyclesPerNotification: entrySchema,
    cyclesPerVmExit: entrySchema,
    cyclesPerInterruptInjection: entrySchema,
    cyclesPerVhostTxPacket: entrySchema,
    cyclesPerVhostRxPacket: entrySchema,
    dmaLatencyNs: entrySchema,
    pcieGbps: positiveEntry,
    wireGbps: positiveEntry,
    stages: z.record(z.string().min(1), stageSchema),
  })
  .strict();

/** What {@link loadCostModel} accepts: any subset, each entry a number or a (partial) entry. */
export type CostOverrides = {
  [K in Exclude<keyof CostModel, "stages">]?: number | Partial<CostEntry>;
} & {
  stages?: Record<string, { ratePps?: number | Partial<CostEntry>; latencyNs?: number | Partial<CostEntry> }>;
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function mergeEntry(base: CostEntry | undefined, over: unknown, unit: string): unknown {
  if (typeof over === "number") return { value: over, unit: base?.unit ?? unit, source: "user override" };
  if (isRecord(over)) {
    const merged: Record<string, unknown> = { ...(base ?? { unit, source: "user override" }), ...over };
    if (over["value"] !== undefined && over["source"] === undefined) merged["source"] = "user override";
    return merged;
  }
  return over; // let the schema say what is wrong
}

/**
 * Build a cost model from overrides (an object, or JSON text) on top of
 * `base` (default: {@link DEFAULT_COST_MODEL}), validated. Errors name the
 * field and the reason.
 */
export function loadCostModel(overrides: CostOverrides | string | unknown = {}, base: CostModel = DEFAULT_COST_MODEL): CostModel {
  let input: unknown = overrides;
  if (typeof overrides === "string") {
    try {
      input = JSON.parse(overrides);
    } catch (e) {
      throw new CoreError("config", `cost model: not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(input)) throw new CoreError("config", "cost model: expected an object of entries");
  const out: Record<string, unknown> = { ...base, stages: { ...base.stages } };
  for (const [k, v] of Object.entries(input)) {
    if (k === "$schema" || k === "description") continue;
    if (k === "stages") {
      if (!isRecord(v)) {
        out["stages"] = v;
        continue;
      }
      const stages = out["stages"] as Record<string, unknown>;
      for (const [name, sv] of Object.entries(v)) {
        const bs = base.stages[name];
        if (!isRecord(sv)) {
          stages[name] = sv;
          continue;
        }
        const merged: Record<string, unknown> = { ...(bs ?? {}) };
        for (const [sk, sov] of Object.entries(sv)) {
          merged[sk] = mergeEntry(bs?.[sk as keyof StageCost], sov, sk === "ratePps" ? "packets/s" : "ns");
        }
        stages[name] = merged;
      }
      continue;
    }
    const b = (base as unknown as Record<string, CostEntry | undefined>)[k];
    out[k] = b === undefined ? v : mergeEntry(b, v, "");
  }
  const parsed = costModelSchema.safeParse(out);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    const field = parsed.error.issues[0]?.path.join(".");
    throw new CoreError("config", `cost model: ${msg}`, field ? { field } : {});
  }
  return parsed.data as CostModel;
}

// ---- Flat numbers for hot paths ----

export interface StageRates {
  readonly ratePps: number;
  readonly latencyNs: number;
  /** 1e9 / ratePps. */
  readonly nsPerPacket: number;
}

/** The cost model as plain numbers, what components read on their hot paths. */
export interface CostRates {
  readonly cpuHz: number;
  readonly cyclesPerPacketBase: number;
  readonly cyclesPerCopyCall: number;
  readonly cyclesPerCopyByte: number;
  readonly cyclesPerNotification: number;
  readonly cyclesPerVmExit: number;
  readonly cyclesPerInterruptInjection: number;
  readonly cyclesPerVhostTxPacket: number;
  readonly cyclesPerVhostRxPacket: number;
  readonly dmaLatencyNs: number;
  readonly pcieGbps: number;
  readonly wireGbps: number;
  readonly stages: Readonly<Record<string, StageRates>>;
}

export function costRates(model: CostModel = DEFAULT_COST_MODEL): CostRates {
  const stages: Record<string, StageRates> = {};
  for (const [k, s] of Object.entries(model.stages)) {
    stages[k] = Object.freeze({ ratePps: s.ratePps.value, latencyNs: s.latencyNs.value, nsPerPacket: 1e9 / s.ratePps.value });
  }
  return Object.freeze({
    cpuHz: model.cpuHz.value,
    cyclesPerPacketBase: model.cyclesPerPacketBase.value,
    cyclesPerCopyCall: model.cyclesPerCopyCall.value,
    cyclesPerCopyByte: model.cyclesPerCopyByte.value,
    cyclesPerNotification: model.cyclesPerNotification.value,
    cyclesPerVmExit: model.cyclesPerVmExit.value,
    cyclesPerInterruptInjection: model.cyclesPerInterruptInjection.value,
    cyclesPerVhostTxPacket: model.cyclesPerVhostTxPacket.value,
    cyclesPerVhostRxPacket: model.cyclesPerVhostRxPacket.value,
    dmaLatencyNs: model.dmaLatencyNs.value,
    pcieGbps: model.pcieGbps.value,
    wireGbps: model.wireGbps.value,
    stages: Object.freeze(stages),
  });
}
