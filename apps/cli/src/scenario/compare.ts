/**
 * `nfvio compare`: the baseline (vhost-net) against the accelerated path
 * (offload device), north-south and east-west, at 64 B, IMIX and 1518 B,
 * in modelled time, plus a scale sweep over VMs and queue pairs.
 *
 * Each cell runs twice, in the spirit of RFC 2544 (§26.1 throughput, then
 * §26.2 latency at that rate):
 * 1. at 100% of the wire's line rate: the delivered rate is the path's
 *    maximum forwarding rate; what did not make it is counted by reason;
 * 2. at 90% of that rate: latency and host CPU cycles per packet, with no
 *    overload inflating them (at line rate the baseline's host stack also
 *    spends cycles on frames it later drops).
 *
 * Everything is modelled time on the built-in scenarios
 * (north-south-*, east-west-*, scale-sweep), so the result is the same on
 * every run and every machine.
 */
import { DEFAULT_COST_MODEL } from "@nfvio/core";
import { loadScenario } from "./builtin.js";
import { runScenario, scenarioRates, type RunResult, type Sample, type Topology } from "./runner.js";
import type { BackendConfig, Scenario } from "./schema.js";

export type TopologyName = "north-south" | "east-west";
export type SizeName = "64" | "imix" | "1518";
export type BackendName = "vhost-net" | "offload";

export const SIZES: readonly SizeName[] = ["64", "imix", "1518"];
export const TOPOLOGIES: readonly TopologyName[] = ["north-south", "east-west"];
export const BACKENDS: readonly BackendName[] = ["vhost-net", "offload"];

export interface CompareRow {
  topology: TopologyName;
  size: SizeName;
  backend: BackendName;
  /** Offered at 100% of line rate, Mpps. */
  offeredMpps: number;
  /** Delivered at line rate (maximum forwarding rate), Mpps. */
  mpps: number;
  /** Delivered at line rate, L2 Gbit/s (frame bytes with FCS). */
  gbps: number;
  /** At 90% of `mpps`: host CPU cycles per delivered packet (backend workers, host stack, KVM exits and injections). */
  hostCyclesPerPacket: number;
  /** At 90% of `mpps`: guest vCPU cycles per packet (drivers and VNFs of the VMs on the path). */
  guestCyclesPerPacket: number;
  /** At line rate: host cores the backend kept busy. */
  hostCores: number;
  /** At 90% of `mpps`: one-way latency of the path, µs. */
  p50Us: number;
  p99Us: number;
  /** The latency run's rate and loss. */
  probeMpps: number;
  probeLoss: number;
  /** At line rate: frames dropped, by reason. */
  drops: Record<string, number>;
}

export interface SweepPoint {
  backend: BackendName;
  vms: number;
  queues: number;
  mpps: number;
  gbps: number;
  hostCores: number;
  hostCyclesPerPacket: number;
}

export interface LatencyCurve {
  topology: TopologyName;
  backend: BackendName;
  size: SizeName;
  probeMpps: number;
  p50Us: number;
  p99Us: number;
  edgesUs: number[];
  counts: number[];
}

export interface CompareResult {
  kind: "nfvio.compare";
  version: 1;
  quick: boolean;
  clock: "model";
  cost: { cpuHz: number; wireGbps: number; source: string };
  rows: CompareRow[];
  sweep: SweepPoint[];
  latency: LatencyCurve[];
  topologies: Record<string, Topology>;
  /** Line-rate time series of the 64 B runs (for the report's charts). */
  timelines: { topology: TopologyName; backend: BackendName; samples: Sample[] }[];
}

export interface CompareOptions {
  /** Shorter runs and a smaller sweep (what `nfvio demo` runs). */
  quick?: boolean;
  /** Leave out the scale sweep. */
  sweep?: boolean;
  sizes?: readonly SizeName[];
  onProgress?: (fraction: number, label: string) => void;
}

const BUILTIN: Record<TopologyName, string> = { "north-south": "north-south-baseline", "east-west": "east-west-baseline" };

function backendConfig(b: BackendName): BackendConfig {
  return b === "offload" ? { kind: "offload", profile: "smartnic" } : { kind: "vhost-net" };
}

/** A copy of `s` on backend `b` with the first stream at `size` and `rate`, run for `timing`. */
export function variant(s: Scenario, b: BackendName, size: SizeName, rate: string | number, timing: { duration: string; warmup: string; drain: string }): Scenario {
  if (s.traffic === undefined) throw new Error(`scenario "${s.name}" has no traffic of its own (its path starts at a real peer): compare needs generated traffic`);
  const [first, ...rest] = s.traffic.streams;
  return {
    ...s,
    ...timing,
    name: `${s.name.replace(/-(baseline|accelerated)$/, "")}-${b === "offload" ? "accelerated" : "baseline"}`,
    backend: backendConfig(b),
    traffic: { streams: [{ ...first!, size: size === "imix" ? "imix" : Number(size), rate }, ...rest] },
  };
}

const pick = (r: RunResult): Pick<RunResult, "mpps" | "gbps" | "hostCores"> => ({ mpps: r.mpps, gbps: r.gbps, hostCores: r.hostCores });

/** Run the comparison. Deterministic: the same options give a deep-equal result. */
export async function compare(opts: CompareOptions = {}): Promise<CompareResult> {
  const quick = opts.quick ?? false;
  const sizes = opts.sizes ?? SIZES;
  // The table's runs are the same in quick and full mode (so `demo` and `compare` print the same figures); quick shrinks the sweep.
  const timing = { duration: "1ms", warmup: "250us", drain: "1ms" };
  const sweepVms = [1, 2, 4, 8];
  const sweepQueues = quick ? [1, 2, 4] : [1, 2, 3, 4];
  const points: { vms: number; queues: number }[] = [];
  if (opts.sweep !== false) {
    if (quick) {
      for (const v of sweepVms) points.push({ vms: v, queues: 1 });
      for (const q of sweepQueues) if (q > 1) points.push({ vms: 1, queues: q });
    } else for (const v of sweepVms) for (const q of sweepQueues) points.push({ vms: v, queues: q });
  }
  const total = TOPOLOGIES.length * sizes.length * BACKENDS.length * 2 + points.length * BACKENDS.length;
  let done = 0;
  const step = async <T>(label: string, f: (p: (x: number) => void) => Promise<T>): Promise<T> => {
    const at = done;
    const r = await f((x) => opts.onProgress?.((at + x) / total, label));
    done++;
    opts.onProgress?.(done / total, label);
    return r;
  };

  const rows: CompareRow[] = [];
  const latency: LatencyCurve[] = [];
  const topologies: Record<string, Topology> = {};
  const timelines: CompareResult["timelines"] = [];
  for (const topo of TOPOLOGIES) {
    const base = loadScenario(BUILTIN[topo]).scenario;
    for (const size of sizes) {
      for (const b of BACKENDS) {
        const label = `${topo} ${size === "imix" ? "IMIX" : `${size} B`} ${b}`;
        const max = await step(`${label}: line rate`, (p) => runScenario(variant(base, b, size, "100%", timing), { onProgress: p }));
        const probeRate = Math.max(1000, Math.floor(max.mpps * 0.9 * 1e6));
        const probe = await step(`${label}: latency at 90%`, (p) => runScenario(variant(base, b, size, probeRate, timing), { onProgress: p }));
        topologies[`${topo} ${b}`] = max.topology;
        if (size === "64") timelines.push({ topology: topo, backend: b, samples: max.timeline });
        rows.push({
          topology: topo,
          size,
          backend: b,
          offeredMpps: max.offeredMpps,
          ...pick(max),
          hostCyclesPerPacket: probe.hostCyclesPerPacket,
          guestCyclesPerPacket: probe.guestCyclesPerPacket,
          p50Us: probe.latency.p50Us,
          p99Us: probe.latency.p99Us,
          probeMpps: probe.mpps,
          probeLoss: probe.tx > 0 ? probe.lost / probe.tx : 0,
          drops: max.drops,
        });
        latency.push({
          topology: topo,
          backend: b,
          size,
          probeMpps: probe.mpps,
          p50Us: probe.latency.p50Us,
          p99Us: probe.latency.p99Us,
          edgesUs: probe.latency.edgesUs,
          counts: probe.latency.counts,
        });
      }
    }
  }
  const sweep: SweepPoint[] = [];
  if (points.length > 0) {
    const s = loadScenario("scale-sweep").scenario;
    const swTiming = { duration: "400us", warmup: "100us", drain: "500us" };
    for (const b of BACKENDS) {
      for (const pt of points) {
        const r = await step(`scale ${b}: ${pt.vms} VM x ${pt.queues} queue pairs`, (p) =>
          runScenario(variant(s, b, "64", "100%", swTiming), { vms: pt.vms, queues: pt.queues, onProgress: p, samples: 4 }),
        );
        sweep.push({ backend: b, vms: pt.vms, queues: pt.queues, mpps: r.mpps, gbps: r.gbps, hostCores: r.hostCores, hostCyclesPerPacket: r.hostCyclesPerPacket });
      }
    }
  }
  const rates = scenarioRates(loadScenario(BUILTIN["north-south"]).scenario);
  return {
    kind: "nfvio.compare",
    version: 1,
    quick,
    clock: "model",
    cost: { cpuHz: rates.cpuHz, wireGbps: rates.wireGbps, source: `default cost model (docs/cost-model.md); cpuHz: ${DEFAULT_COST_MODEL.cpuHz.source}` },
    rows,
    sweep,
    latency,
    topologies,
    timelines,
  };
}
