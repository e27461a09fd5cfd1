/**
 * Device profiles: what a modelled offload device can do and how fast, as
 * data. A profile names the cost of every pipeline stage (a packet rate, a
 * latency, and for stages that move bytes a bandwidth and per-packet byte
 * overhead), the sizes of its queues and buffer pool, its offloads and its
 * classifier tables. Every figure is a `{ value, unit, source }` entry, as in
 * `@nfvio/core`'s cost model: the source is a datasheet, a paper, a standard,
 * or says plainly that the figure is an assumption.
 *
 * Profiles are validated with zod and load from JSON on top of a base
 * ({@link loadDeviceProfile}); a bare number overrides an entry's value and
 * records the source as "user override".
 *
 * Two profiles ship, documented in docs/offload.md:
 * - {@link DPAA_LIKE_PROFILE}: the Freescale/NXP DPAA arrangement (frame
 *   manager parse/classify/distribute, queue manager, buffer manager) with
 *   the figures of the QorIQ T2080.
 * - {@link GENERIC_SMARTNIC_PROFILE}: a 100 GbE SmartNIC on PCIe 4.0 x16 with
 *   ConnectX-6-class message rate and latency.
 */
import type { CostEntry } from "@nfvio/core";
import { z } from "zod";
import { ACTION_TYPES, GENERIC_SMARTNIC_CAPS, type ClassifierCaps } from "../classifier/caps.js";
import { FLOW_FIELDS } from "../classifier/fields.js";
import { OffloadError } from "../errors.js";
import { VIRTIO_NET_HASH_TYPE_ALL } from "../rss.js";

/** The modelled cost of one pipeline stage. */
export interface StageCostSpec {
  /** Packets per second the stage sustains; absent: no per-packet limit (a MAC is bounded by its line rate). */
  readonly ratePps?: CostEntry;
  /** From a packet entering the stage to leaving it. */
  readonly latencyNs: CostEntry;
  /** Bytes the stage moves per second, in Gbit/s (line rate, PCIe or memory bandwidth); absent: no byte limit. */
  readonly gbps?: CostEntry;
  /** Bytes each packet adds to the byte count (Ethernet preamble, gap and FCS; PCIe TLP headers). */
  readonly overheadBytes?: CostEntry;
}

/** Names of the stages every profile must price. */
export const BUILTIN_STAGES = [
  "mac",
  "parser",
  "classifier",
  "eswitch",
  "distributor",
  "rxChecksum",
  "txOffload",
  "queueManager",
  "bufferManager",
  "dmaRead",
  "dmaWrite",
] as const;
export type BuiltinStage = (typeof BUILTIN_STAGES)[number];

/** What the device offers the guest beyond moving frames (virtio-net feature bits follow from these). */
export interface DeviceOffloads {
  /** Verify received checksums (VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_HDR_F_DATA_VALID). */
  readonly rxChecksum: boolean;
  /** Complete transmit checksums (VIRTIO_NET_F_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  readonly txChecksum: boolean;
  /** TCP segmentation (VIRTIO_NET_F_HOST_TSO4/6, HOST_ECN); needs txChecksum. */
  readonly tso: boolean;
  /** Receive-side scaling set by the driver (VIRTIO_NET_F_RSS). */
  readonly rss: boolean;
  /** Hash reports in the virtio-net header (VIRTIO_NET_F_HASH_REPORT). */
  readonly hashReport: boolean;
  readonly source: string;
}

export interface DeviceProfile {
  readonly name: string;
  readonly description: string;
  /** Cost of each stage, by stage name: every {@link BUILTIN_STAGES} entry, plus any added stage's. */
  readonly stages: Readonly<Record<string, StageCostSpec>>;
  /** Frames the uplink's receive FIFO holds before the pipeline takes them (overrun: drop). */
  readonly ingressFifoFrames: CostEntry;
  /** Frames one receive queue's frame queue holds before tail drop. */
  readonly queueDepthFrames: CostEntry;
  /** Frames the uplink's transmit queue holds. */
  readonly egressFrames: CostEntry;
  /** Packet buffers the buffer manager lends the device at once. */
  readonly buffers: CostEntry;
  /** Largest frame (without FCS) the device handles. */
  readonly maxFrameBytes: CostEntry;
  /** Queue pairs one vport (virtio-net device) may have. */
  readonly maxQueuePairs: CostEntry;
  /** Vports (VM-facing functions) besides the uplink. */
  readonly vports: CostEntry;
  readonly offloads: DeviceOffloads;
  /** Classifier tables, actions and RSS limits. */
  readonly classifier: ClassifierCaps;
  /** Where the classifier figures come from. */
  readonly classifierSource: string;
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

const entry = z
  .object({ value: z.number().finite().nonnegative(), unit: z.string().min(1), source: z.string().min(1), note: z.string().optional() })
  .strict();
const positive = entry.refine((e) => e.value > 0, { message: "must be greater than 0", path: ["value"] });
const positiveInt = entry.refine((e) => Number.isInteger(e.value) && e.value >= 1, { message: "must be a positive integer", path: ["value"] });

const stageSchema = z
  .object({ ratePps: positive.optional(), latencyNs: entry, gbps: positive.optional(), overheadBytes: entry.optional() })
  .strict()
  .refine((s) => s.ratePps !== undefined || s.gbps !== undefined, { message: "a stage needs ratePps or gbps (or both)" });

const flowField = z.enum(FLOW_FIELDS);
const actionType = z.enum(ACTION_TYPES);
const u32 = z.number().int().min(0).max(0xffffffff);

const tableSchema = z
  .object({
    kind: z.enum(["exact", "wildcard"]),
    capacity: z.number().int().min(1),
    fields: z.array(flowField),
    actions: z.array(actionType),
    masks: z.enum(["arbitrary", "prefix"]).optional(),
    rangeExpansion: z.number().int().min(0).optional(),
    priorities: z.number().int().min(1).optional(),
    defaultKey: z.array(z.union([flowField, z.object({ field: flowField, mask: z.union([z.number(), z.string()]).optional() }).strict()])).optional(),
  })
  .strict();

const rssCapsSchema = z
  .object({
    maxKeySize: z.number().int().min(40).max(255),
    maxIndirectionTableLength: z.number().int().min(128).max(0x8000),
    supportedHashTypes: u32,
    maxQueuePairs: z.number().int().min(1).max(0x8000),
  })
  .strict();

const capsSchema = z
  .object({
    name: z.string().min(1),
    tables: z.array(tableSchema).min(1).max(255),
    maxLookups: z.number().int().min(1).max(255),
    counters: z.number().int().min(0),
    rssContexts: z.number().int().min(0),
    rss: rssCapsSchema,
    queues: z.number().int().min(1),
    vports: z.number().int().min(1),
    encapTemplates: z.number().int().min(0),
  })
  .strict();

/** The zod schema of a complete device profile. */
export const deviceProfileSchema = z
  .object({
    name: z.string().min(1),
    description: z.string(),
    stages: z.record(z.string().min(1), stageSchema),
    ingressFifoFrames: positiveInt,
    queueDepthFrames: positiveInt,
    egressFrames: positiveInt,
    buffers: positiveInt,
    maxFrameBytes: positiveInt.refine((e) => e.value >= 60 && e.value <= 65535, { message: "must be 60..65535 bytes", path: ["value"] }),
    maxQueuePairs: positiveInt.refine((e) => e.value <= 0x8000, { message: "must be at most 32768", path: ["value"] }),
    vports: positiveInt.refine((e) => e.value < 0xffff, { message: "must be below 65535", path: ["value"] }),
    offloads: z.object({ rxChecksum: z.boolean(), txChecksum: z.boolean(), tso: z.boolean(), rss: z.boolean(), hashReport: z.boolean(), source: z.string().min(1) }).strict(),
    classifier: capsSchema,
    classifierSource: z.string().min(1),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const s of BUILTIN_STAGES) if (p.stages[s] === undefined) ctx.addIssue({ code: "custom", path: ["stages", s], message: "every profile prices this stage" });
    if (p.offloads.tso && !p.offloads.txChecksum) ctx.addIssue({ code: "custom", path: ["offloads", "tso"], message: "TSO needs txChecksum (VIRTIO_NET_F_HOST_TSO4 depends on VIRTIO_NET_F_CSUM)" });
    if (p.classifier.rss.maxQueuePairs < p.maxQueuePairs.value) {
      ctx.addIssue({ code: "custom", path: ["classifier", "rss", "maxQueuePairs"], message: "must be at least maxQueuePairs" });
    }
  });

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isEntry(v: unknown): v is CostEntry {
  return isRecord(v) && typeof v["value"] === "number" && typeof v["unit"] === "string" && typeof v["source"] === "string";
}

/** Merge `over` onto `base`: objects recursively, a number onto an entry replaces its value, anything else replaces. */
function merge(base: unknown, over: unknown, unit: string): unknown {
  if (typeof over === "number" && (isEntry(base) || base === undefined)) {
    return { value: over, unit: isEntry(base) ? base.unit : unit, source: "user override" };
  }
  if (isRecord(over) && isEntry(base)) {
    const m: Record<string, unknown> = { ...base, ...over };
    if (over["value"] !== undefined && over["source"] === undefined) m["source"] = "user override";
    return m;
  }
  if (isRecord(over) && (isRecord(base) || base === undefined)) {
    const out: Record<string, unknown> = { ...(isRecord(base) ? base : {}) };
    for (const [k, v] of Object.entries(over)) {
      if (k === "$schema") continue;
      out[k] = merge(out[k], v, k === "ratePps" ? "packets/s" : k === "latencyNs" ? "ns" : k === "gbps" ? "Gbit/s" : k === "overheadBytes" ? "bytes/packet" : "");
    }
    return out;
  }
  return over;
}

/**
 * Build a profile from overrides (an object, or JSON text) on top of `base`
 * (default {@link GENERIC_SMARTNIC_PROFILE}), validated. A bare number
 * replaces an entry's value (unit kept, source "user override"); arrays
 * replace. Throws {@link OffloadError} ("malformed") naming the field.
 */
export function loadDeviceProfile(overrides: unknown = {}, base: DeviceProfile = GENERIC_SMARTNIC_PROFILE): DeviceProfile {
  let input: unknown = overrides;
  if (typeof overrides === "string") {
    try {
      input = JSON.parse(overrides);
    } catch (e) {
      throw new OffloadError("malformed", `device profile: not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(input)) throw new OffloadError("malformed", "device profile: expected an object");
  const merged = merge(base, input, "");
  const parsed = deviceProfileSchema.safeParse(merged);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new OffloadError("malformed", `device profile: ${msg}`);
  }
  return parsed.data as DeviceProfile;
}

/** Check a profile object as-is (no merging). */
export function validateDeviceProfile(p: unknown): DeviceProfile {
  const parsed = deviceProfileSchema.safeParse(p);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new OffloadError("malformed", `device profile: ${msg}`);
  }
  return parsed.data as DeviceProfile;
}

// ---------------------------------------------------------------------------
// Flat rates for hot paths
// ---------------------------------------------------------------------------

/** A stage's cost as plain numbers. */
export interface StageRatesFlat {
  /** Packets per second (Infinity when the stage has no per-packet limit). */
  readonly ratePps: number;
  readonly nsPerPacket: number;
  readonly latencyNs: number;
  /** ns per byte (0 without a byte limit). */
  readonly nsPerByte: number;
  readonly overheadBytes: number;
}

/** Flatten a stage's cost. */
export function stageRates(s: StageCostSpec): StageRatesFlat {
  const pps = s.ratePps?.value ?? Infinity;
  return Object.freeze({
    ratePps: pps,
    nsPerPacket: pps === Infinity ? 0 : 1e9 / pps,
    latencyNs: s.latencyNs.value,
    nsPerByte: s.gbps === undefined ? 0 : 8 / s.gbps.value,
    overheadBytes: s.overheadBytes?.value ?? 0,
  });
}

/** Packets per second a stage sustains for frames of `bytes` (the smaller of its packet and byte limits). */
export function stageCapacityPps(s: StageCostSpec, bytes: number): number {
  const r = stageRates(s);
  const ns = r.nsPerPacket + (bytes + r.overheadBytes) * r.nsPerByte;
  return ns > 0 ? 1e9 / ns : Infinity;
}

// ---------------------------------------------------------------------------
// The shipped profiles
// ---------------------------------------------------------------------------

const e = (value: number, unit: string, source: string): CostEntry => ({ value, unit, source });

const T2080_PB = "NXP (Freescale) QorIQ T2080 Product Brief, Rev 0, 04/2014";
const T2080_PCD = `${T2080_PB}, §4.10.2.1 Frame Manager: "The FMan supports PCD at 37.2 Mpps, supporting line rate 2x10G + 2x2.5G at minimum frame size" (PCD: parse, classify, distribute)`;
const DPAA_ARCH =
  "the Freescale/NXP Data Path Acceleration Architecture (QorIQ DPAA Reference Manual): the Frame Manager parses, classifies and distributes frames into Queue Manager frame queues, buffers come from Buffer Manager pools";
const ETH_L1 = "IEEE 802.3: 4-byte FCS (not stored in buffers) + 7-byte preamble + 1-byte SFD + 12-byte minimum inter-packet gap per frame";
const ASSUME_DPAA_LAT = "assumption: the T2080 product brief gives no per-stage latency; a round share of a few hundred ns through the FMan, edit with measured figures";

/**
 * A DPAA-like device with the QorIQ T2080's figures: the frame manager
 * parses, classifies and distributes at 37.2 Mpps (line rate for 2x10G +
 * 2x2.5G = 25 Gbit/s at 64-byte frames), into queue-manager frame queues
 * with buffers from the buffer manager; DMA writes go to the SoC's own
 * memory (no PCIe). The four ports are modelled as one 25 Gbit/s uplink.
 */
export const DPAA_LIKE_PROFILE: DeviceProfile = validateDeviceProfile({
  name: "dpaa-like",
  description: `Freescale/NXP DPAA arrangement (${DPAA_ARCH}) with QorIQ T2080 figures; the 2x10G + 2x2.5G ports are modelled as one 25 Gbit/s uplink`,
  stages: {
    mac: {
      latencyNs: e(0, "ns", "not modelled: MAC and PHY latency is outside the device pipeline"),
      gbps: e(25, "Gbit/s", `${T2080_PB}: 2x10G + 2x2.5G Ethernet, aggregated into one uplink`),
      overheadBytes: e(24, "bytes/packet", ETH_L1),
    },
    parser: { ratePps: e(37.2e6, "packets/s", T2080_PCD), latencyNs: e(50, "ns", ASSUME_DPAA_LAT) },
    classifier: { ratePps: e(37.2e6, "packets/s", T2080_PCD), latencyNs: e(100, "ns", ASSUME_DPAA_LAT) },
    eswitch: {
      ratePps: e(37.2e6, "packets/s", `${T2080_PCD}; the DPAA has no embedded switch: VM-to-VM frames are assumed to take the same PCD path (re-classified, as through an offline port)`),
      latencyNs: e(50, "ns", ASSUME_DPAA_LAT),
    },
    distributor: { ratePps: e(37.2e6, "packets/s", T2080_PCD), latencyNs: e(50, "ns", ASSUME_DPAA_LAT) },
    rxChecksum: { ratePps: e(37.2e6, "packets/s", `${T2080_PCD}; assumption: checksums are validated inline by the parser`), latencyNs: e(0, "ns", "assumption: inline with the parser") },
    txOffload: { ratePps: e(37.2e6, "packets/s", "assumption: transmit checksum generation at the FMan's PCD rate"), latencyNs: e(50, "ns", ASSUME_DPAA_LAT) },
    queueManager: {
      ratePps: e(74.4e6, "packets/s", "assumption: the queue manager is not the bottleneck at the FMan's rate; set to twice the PCD rate (no per-operation rate is published in the product brief)"),
      latencyNs: e(50, "ns", ASSUME_DPAA_LAT),
    },
    bufferManager: {
      ratePps: e(74.4e6, "packets/s", "assumption: the buffer manager is not the bottleneck at the FMan's rate; set to twice the PCD rate"),
      latencyNs: e(20, "ns", ASSUME_DPAA_LAT),
    },
    dmaRead: {
      ratePps: e(74.4e6, "packets/s", "assumption: the FMan's DMA keeps up with its ports; twice the PCD rate"),
      latencyNs: e(150, "ns", "assumption: one access to on-SoC DDR through the CoreNet fabric, no PCIe"),
      gbps: e(64, "Gbit/s", "assumption: a share of one 64-bit DDR3 controller's bandwidth, well above the 25 Gbit/s of the ports"),
      overheadBytes: e(0, "bytes/packet", "assumption: no bus protocol overhead modelled for on-chip DMA"),
    },
    dmaWrite: {
      ratePps: e(74.4e6, "packets/s", "assumption: the FMan's DMA keeps up with its ports; twice the PCD rate"),
      latencyNs: e(150, "ns", "assumption: one access to on-SoC DDR through the CoreNet fabric, no PCIe"),
      gbps: e(64, "Gbit/s", "assumption: a share of one 64-bit DDR3 controller's bandwidth, well above the 25 Gbit/s of the ports"),
      overheadBytes: e(0, "bytes/packet", "assumption: no bus protocol overhead modelled for on-chip DMA"),
    },
  },
  ingressFifoFrames: e(256, "frames", "assumption: the FMan port's receive FIFO lives in its internal memory (MURAM) and holds a few hundred minimum-size frames"),
  queueDepthFrames: e(1024, "frames", `assumption: a frame queue's tail-drop threshold; the T2080's queue manager offers congestion management with tail discard (${T2080_PB}, §4.10.2.2)`),
  egressFrames: e(1024, "frames", "assumption: tail-drop threshold of the uplink's transmit frame queue"),
  buffers: e(8192, "buffers", `assumption: buffers seeded into the buffer manager's pools by software (the T2080's BMan supports 64 pools, ${T2080_PB}, §4.10.2.3)`),
  maxFrameBytes: e(9600, "bytes", "assumption: jumbo frames, as DPAA Ethernet drivers allow"),
  maxQueuePairs: e(16, "queue pairs", "assumption: frame queues per vport offered to one guest"),
  vports: e(64, "vports", "assumption: guest-facing functions one device serves, as many as the frame queues allow"),
  offloads: {
    rxChecksum: true,
    txChecksum: true,
    tso: false,
    rss: true,
    hashReport: true,
    source:
      "Linux's DPAA Ethernet drivers (drivers/net/ethernet/freescale/dpaa, dpaa2) advertise receive checksum validation and IPv4/IPv6 transmit checksum generation but no TSO; the KeyGen's hash distribution is modelled with virtio's Toeplitz RSS, and hash reports are an assumption",
  },
  classifier: {
    name: "dpaa-like",
    tables: [
      { kind: "wildcard", capacity: 256, fields: [...FLOW_FIELDS], actions: ["queue", "rss", "vport", "uplink", "drop", "jump", "mark", "count"], masks: "arbitrary", rangeExpansion: 8, priorities: 256 },
      {
        kind: "exact",
        capacity: 4096,
        fields: [...FLOW_FIELDS],
        actions: ["queue", "rss", "vport", "uplink", "drop", "mark", "count"],
        defaultKey: ["srcIpv4", "dstIpv4", "ipProto", "srcPort", "dstPort"],
      },
    ],
    maxLookups: 2,
    counters: 4096,
    rssContexts: 16,
    rss: { maxKeySize: 40, maxIndirectionTableLength: 128, supportedHashTypes: VIRTIO_NET_HASH_TYPE_ALL, maxQueuePairs: 16 },
    queues: 16,
    vports: 64,
    encapTemplates: 0,
  },
  classifierSource:
    "assumption: an FMan coarse-classification tree of a 256-entry masked table jumping to a 4K-entry exact-match (hash) table, both held in the FMan's internal memory; sizes depend on the MURAM a configuration gives them",
});

const CX6 = "NVIDIA ConnectX-6 EN product brief: up to 215 million messages per second";
const CX6_LAT = "assumption: a share of the sub-0.8 us end-to-end device latency of the ConnectX-6 EN product brief";
const PCIE4 = "PCI Express Base Specification 4.0: 16 GT/s per lane, 128b/130b encoding, x16 -> 252 Gbit/s per direction before TLP overhead";
const PCIE_LAT = "Neugebauer et al., Understanding PCIe performance for end host networking, SIGCOMM 2018 (pcie-bench): small DMA reads of host memory take several hundred ns; 500 ns as a round figure (core's dmaLatencyNs)";
const TLP = "assumption: about one TLP header plus framing per packet transfer; descriptor and used-ring traffic is not modelled separately";

/**
 * A generic 100 GbE SmartNIC: ConnectX-6-class message rate for every
 * pipeline stage, PCIe 4.0 x16 DMA with pcie-bench latency, the generic
 * classifier tables of {@link GENERIC_SMARTNIC_CAPS}. Stage latencies and
 * queue sizes are assumptions, and say so.
 */
export const GENERIC_SMARTNIC_PROFILE: DeviceProfile = validateDeviceProfile({
  name: "generic-smartnic",
  description: "A generic 100 GbE SmartNIC on PCIe 4.0 x16: ConnectX-6-class message rate per stage, pcie-bench DMA latency",
  stages: {
    mac: {
      latencyNs: e(0, "ns", "not modelled: MAC and PHY latency is outside the device pipeline"),
      gbps: e(100, "Gbit/s", "IEEE 802.3 100 Gb/s Ethernet (802.3ba/bj); core's wireGbps"),
      overheadBytes: e(24, "bytes/packet", ETH_L1),
    },
    parser: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(50, "ns", CX6_LAT) },
    classifier: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(100, "ns", CX6_LAT) },
    eswitch: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(100, "ns", CX6_LAT) },
    distributor: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(50, "ns", CX6_LAT) },
    rxChecksum: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(20, "ns", CX6_LAT) },
    txOffload: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(50, "ns", CX6_LAT) },
    queueManager: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(20, "ns", CX6_LAT) },
    bufferManager: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(20, "ns", CX6_LAT) },
    dmaRead: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(500, "ns", PCIE_LAT), gbps: e(252, "Gbit/s", PCIE4), overheadBytes: e(24, "bytes/packet", TLP) },
    dmaWrite: { ratePps: e(215e6, "packets/s", CX6), latencyNs: e(500, "ns", PCIE_LAT), gbps: e(252, "Gbit/s", PCIE4), overheadBytes: e(24, "bytes/packet", TLP) },
  },
  ingressFifoFrames: e(4096, "frames", "assumption: on-NIC receive buffering of a few hundred KB"),
  queueDepthFrames: e(1024, "frames", "assumption: frames held per receive queue while the guest has no posted buffer"),
  egressFrames: e(4096, "frames", "assumption: transmit buffering for the uplink, as the receive side"),
  buffers: e(16384, "buffers", "assumption: on-NIC packet buffer memory in 2 KB units"),
  maxFrameBytes: e(9600, "bytes", "assumption: jumbo frames"),
  maxQueuePairs: e(64, "queue pairs", "assumption; matches DEFAULT_RSS_CAPS.maxQueuePairs"),
  vports: e(256, "vports", "assumption; matches GENERIC_SMARTNIC_CAPS.vports"),
  offloads: {
    rxChecksum: true,
    txChecksum: true,
    tso: true,
    rss: true,
    hashReport: true,
    source: "assumption: what current SmartNICs offer a virtio-net (vDPA) function: checksum offloads, TSO, RSS with hash reports",
  },
  classifier: GENERIC_SMARTNIC_CAPS,
  classifierSource: "GENERIC_SMARTNIC_CAPS: round numbers of the order public SmartNIC datasheets quote, not any one product's (assumption)",
});

/** Profiles by name. */
export const DEVICE_PROFILES: Readonly<Record<string, DeviceProfile>> = Object.freeze({
  [DPAA_LIKE_PROFILE.name]: DPAA_LIKE_PROFILE,
  [GENERIC_SMARTNIC_PROFILE.name]: GENERIC_SMARTNIC_PROFILE,
});
