/** Results as tables, charts and files: the CLI's tables, the JSON, the HTML report. */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { renderReport, type Chart, type ReportData, type Table, type TopologyView } from "@nfvio/dashboard";
import type { CompareResult, CompareRow, LatencyCurve, SizeName } from "./compare.js";
import type { RunResult, Topology } from "./runner.js";

export const SIZE_LABEL: Record<SizeName, string> = { "64": "64 B", imix: "IMIX", "1518": "1518 B" };
const BACKEND_LABEL: Record<string, string> = { "vhost-net": "baseline (vhost-net)", offload: "accelerated (offload)" };

/** "name=count, ..." of the non-zero drops, largest first. */
export function dropsText(d: Record<string, number>): string {
  const e = Object.entries(d).filter(([, v]) => v > 0);
  if (e.length === 0) return "none";
  return e
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`)
    .join("; ");
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
/** Fixed decimals, as text (tables line them up). */
const f2 = (x: number): string => x.toFixed(2);
const f1 = (x: number): string => x.toFixed(1);

/** The main comparison table (what `nfvio compare` prints). */
export function compareTable(rows: readonly CompareRow[]): Table {
  return {
    title: "Baseline (vhost-net) against accelerated (offload device), modelled time",
    headers: ["path", "size", "backend", "Mpps", "Gbit/s", "host cyc/pkt", "p50 µs", "p99 µs", "drops at line rate, by reason"],
    rows: rows.map((r) => [r.topology, SIZE_LABEL[r.size], r.backend, f2(r.mpps), f2(r.gbps), f1(r.hostCyclesPerPacket), f2(r.p50Us), f2(r.p99Us), dropsText(r.drops)]),
    note: "Mpps and Gbit/s (L2, frame bytes with FCS): delivered with 100% of the 100 GbE line rate offered. Host CPU cycles per packet and latency: at 90% of that rate (no overload). Host cycles are the backend's: vhost-net workers, host stack, KVM exits and interrupt injections.",
  };
}

function sizeChart(res: CompareResult, field: "mpps" | "gbps" | "hostCyclesPerPacket", title: string, yLabel: string, note: string): Chart {
  const sizes = [...new Set(res.rows.map((r) => r.size))];
  const series = [];
  for (const topo of ["north-south", "east-west"] as const) {
    for (const b of ["vhost-net", "offload"] as const) {
      series.push({
        label: `${topo} ${b === "offload" ? "accelerated" : "baseline"}`,
        values: sizes.map((s) => res.rows.find((r) => r.topology === topo && r.backend === b && r.size === s)?.[field] ?? null),
      });
    }
  }
  return { id: `size-${field}`, title, kind: "bars", xLabel: "frame size", yLabel, x: sizes.map((_, i) => i), xTicks: sizes.map((s) => SIZE_LABEL[s]), series, note };
}

/** Latency histograms on the common log grid (10 bins per decade), as % of frames. */
function latencyChart(curves: readonly LatencyCurve[], topo: "north-south" | "east-west"): Chart | null {
  const cs = curves.filter((c) => c.topology === topo && c.size === "64" && c.counts.length > 0);
  if (cs.length === 0) return null;
  const exp = (us: number): number => Math.round(Math.log10(us) * 10);
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of cs) {
    lo = Math.min(lo, exp(c.edgesUs[0]!));
    hi = Math.max(hi, exp(c.edgesUs[c.edgesUs.length - 1]!));
  }
  const x: number[] = [];
  for (let e = lo; e < hi; e++) x.push(Number((10 ** ((e + 0.5) / 10)).toPrecision(4)));
  const series = cs.map((c) => {
    const total = c.counts.reduce((a, b) => a + b, 0);
    const first = exp(c.edgesUs[0]!);
    const values: (number | null)[] = x.map((_, k) => {
      const j = lo + k - first;
      return j >= 0 && j < c.counts.length ? r2((100 * c.counts[j]!) / total) : null;
    });
    return { label: `${c.backend === "offload" ? "accelerated" : "baseline"} (p50 ${r2(c.p50Us)} µs, p99 ${r2(c.p99Us)} µs)`, values };
  });
  return {
    id: `latency-${topo}`,
    title: `Latency distribution, ${topo}, 64 B, at 90% of each path's maximum rate`,
    kind: "line",
    xLabel: "one-way latency (µs, log scale)",
    yLabel: "% of frames",
    x,
    logX: true,
    series,
    note: "Histogram of the latency of every frame delivered in the measured interval, 10 bins per decade. Modelled time: generator timestamp to arrival at the analyser.",
  };
}

export function topologyView(title: string, t: Topology): TopologyView {
  return { title, backend: t.backend, nodes: t.nodes, edges: t.edges };
}

/** The compare result as a report. */
export function compareReport(res: CompareResult): ReportData {
  const charts: Chart[] = [
    sizeChart(res, "mpps", "Throughput vs frame size (Mpps)", "Mpps delivered", "Delivered with 100% of the 100 GbE line rate offered."),
    sizeChart(res, "gbps", "Throughput vs frame size (Gbit/s)", "Gbit/s (L2)", "L2 bit rate delivered (frame bytes with FCS). The wire carries at most 100 Gbit/s of L1, less at small frames."),
    sizeChart(res, "hostCyclesPerPacket", "Host CPU cycles per packet", "host cycles / packet", "At 90% of each path's maximum rate. The accelerated path charges none: the device moves every frame."),
  ];
  const sweepTables: Table[] = [];
  if (res.sweep.length > 0) {
    const vmsAxis = [...new Set(res.sweep.filter((p) => p.queues === 1).map((p) => p.vms))].sort((a, b) => a - b);
    const qAxis = [...new Set(res.sweep.filter((p) => p.vms === 1).map((p) => p.queues))].sort((a, b) => a - b);
    const at = (b: string, vms: number, q: number) => res.sweep.find((p) => p.backend === b && p.vms === vms && p.queues === q);
    charts.push({
      id: "scale-vms",
      title: "Throughput vs VMs (1 queue pair each), 64 B",
      kind: "line",
      xLabel: "VMs",
      yLabel: "Mpps delivered",
      x: vmsAxis,
      series: ["vhost-net", "offload"].map((b) => ({ label: BACKEND_LABEL[b]!, values: vmsAxis.map((v) => at(b, v, 1)?.mpps ?? null) })),
      note: "North-south, flows spread over the VMs. The accelerated path levels off where the device's shared pipeline saturates (or at the wire's line rate); the baseline grows only by adding host cores.",
    });
    charts.push({
      id: "scale-queues",
      title: "Throughput vs queue pairs (1 VM), 64 B",
      kind: "line",
      xLabel: "queue pairs (one vCPU each)",
      yLabel: "Mpps delivered",
      x: qAxis,
      series: ["vhost-net", "offload"].map((b) => ({ label: BACKEND_LABEL[b]!, values: qAxis.map((q) => at(b, 1, q)?.mpps ?? null) })),
      note: "Baseline: one vhost-net worker per queue pair, as QEMU sets it up. Accelerated: RSS in the device spreads flows over the queues.",
    });
    charts.push({
      id: "scale-cores",
      title: "Host cores busy vs VMs, 64 B at line rate",
      kind: "line",
      xLabel: "VMs",
      yLabel: "host cores",
      x: vmsAxis,
      series: ["vhost-net", "offload"].map((b) => ({ label: BACKEND_LABEL[b]!, values: vmsAxis.map((v) => at(b, v, 1)?.hostCores ?? null) })),
      note: "Host CPU cycles charged by the backend per second of traffic, in cores at the cost model's cpuHz.",
    });
    sweepTables.push({
      title: "Scale sweep: north-south, 64 B, 100% of line rate offered",
      headers: ["backend", "VMs", "queue pairs", "Mpps", "Gbit/s", "host cores", "host cyc/pkt"],
      rows: res.sweep.map((p) => [p.backend, p.vms, p.queues, f2(p.mpps), f2(p.gbps), f2(p.hostCores), f1(p.hostCyclesPerPacket)]),
      note: "Host cycles per packet here include the work the host spends on frames it drops under overload.",
    });
  }
  for (const t of ["north-south", "east-west"] as const) {
    const c = latencyChart(res.latency, t);
    if (c) charts.push(c);
  }
  return {
    title: "nfvio compare: vhost-net baseline vs offload-accelerated virtio",
    subtitle: `Modelled time${res.quick ? " (quick runs)" : ""}; cost model: cpuHz ${res.cost.cpuHz / 1e9} GHz, wire ${res.cost.wireGbps} Gbit/s. Reproduce: pnpm nfvio compare${res.quick ? " --quick" : ""}`,
    notes: [
      "Every figure is modelled: a deterministic discrete-event run of nfvio's own components (virtio rings, the vhost-net model, the offload device, the VNFs) charging the costs of docs/cost-model.md. The same command gives the same numbers on any machine.",
      "Baseline: Linux vhost-net, one worker per queue pair, calibrated to the July 2025 vhost_net figures (TX 4.75-5.35 Mpps, RX 3.47-3.61 Mpps at 64 B, one queue). Accelerated: a virtio-net offload device that DMAs frames to and from the guests' rings and switches VM to VM itself.",
      "See docs/performance.md for how these figures compare with published kernel vhost-net, DPDK vhost-user and SR-IOV/vDPA results.",
    ],
    tables: [compareTable(res.rows), ...sweepTables],
    charts,
    topologies: Object.entries(res.topologies).map(([k, t]) => topologyView(k, t)),
  };
}

/** A report of one or more scenario runs (`nfvio run`). */
export function runReport(title: string, runs: readonly RunResult[]): ReportData {
  const charts: Chart[] = [];
  if (runs.length > 1) {
    const labels = runs.map((r) => `${r.vms} VM x ${r.queues} q`);
    charts.push({
      id: "runs-mpps",
      title: "Throughput per run",
      kind: "bars",
      xLabel: "run",
      yLabel: "Mpps delivered",
      x: runs.map((_, i) => i),
      xTicks: labels,
      series: [{ label: "Mpps", values: runs.map((r) => r2(r.mpps)) }],
    });
    charts.push({
      id: "runs-cores",
      title: "Host cores busy per run",
      kind: "bars",
      xLabel: "run",
      yLabel: "host cores",
      x: runs.map((_, i) => i),
      xTicks: labels,
      series: [{ label: "host cores", values: runs.map((r) => r2(r.hostCores)) }],
    });
  }
  runs.forEach((r, i) => {
    charts.push({
      id: `run${i}-time`,
      title: `${r.scenario}${runs.length > 1 ? ` (${r.vms} VM x ${r.queues} q)` : ""}: Mpps over time`,
      kind: "line",
      xLabel: "scenario time (µs)",
      yLabel: "Mpps",
      x: r.timeline.map((s) => r2(s.tNs / 1e3)),
      series: [
        { label: "offered", values: r.timeline.map((s) => r2(s.offeredMpps)) },
        { label: "delivered", values: r.timeline.map((s) => r2(s.rxMpps)) },
      ],
    });
  });
  return {
    title,
    subtitle: `${runs[0]?.clock === "real" ? "Real time (this software on this machine)" : "Modelled time"}; backend ${runs[0]?.backend ?? "?"}`,
    notes: [],
    tables: [runTable(runs)],
    charts,
    topologies: runs.length > 0 ? [topologyView(runs[0]!.scenario, runs[0]!.topology)] : [],
  };
}

export function runTable(runs: readonly RunResult[]): Table {
  return {
    title: "Runs",
    headers: ["scenario", "backend", "VMs", "queues", "sizes", "offered Mpps", "Mpps", "Gbit/s", "host cyc/pkt", "host cores", "p50 µs", "p99 µs", "lost", "drops, by reason"],
    rows: runs.map((r) => [
      r.scenario,
      r.profile ? `${r.backend} (${r.profile})` : r.backend,
      r.vms,
      r.queues,
      r.sizes,
      f2(r.offeredMpps),
      f2(r.mpps),
      f2(r.gbps),
      f1(r.hostCyclesPerPacket),
      f2(r.hostCores),
      f2(r.latency.p50Us),
      f2(r.latency.p99Us),
      r.lost,
      dropsText(r.drops),
    ]),
  };
}

/** Write `name.json` and `name.html` into `dir`; returns their paths. */
export async function writeReport(dir: string, name: string, json: unknown, report: ReportData): Promise<{ json: string; html: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const jsonPath = join(out, `${name}.json`);
  const htmlPath = join(out, `${name}.html`);
  await writeFile(jsonPath, JSON.stringify(json, null, 2) + "\n");
  await writeFile(htmlPath, renderReport(report));
  return { json: jsonPath, html: htmlPath };
}
