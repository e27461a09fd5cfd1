/**
 * Run a scenario: build the VMs and the backend, wire the path, send the
 * traffic, analyse what arrives.
 *
 * Under the model clock everything runs in one thread on one
 * `ModelClock`: the generator's frames enter at their scheduled times
 * (batched over at most `quantumNs` of modelled time), the guests, vhost-net
 * workers, host stack cores and the offload device schedule their own
 * activations, and frames are timestamped where they leave (`pool.ts`), so
 * latencies are exact to within the batch. The run is deterministic: the
 * same scenario gives the same result, bit for bit.
 *
 * Under the real clock the same components are polled in a loop on this
 * thread; figures are this software's, per wall-clock second. Only there
 * may a wire be a real peer (`real-ports.ts`): a TAP interface or a
 * vhost-user front-end. The run opens them, waits for vhost-user peers to
 * start their rings, and polls them with everything else: what a peer
 * sends enters at its wire, what reaches its wire is handed to it. A path
 * that starts at a real port carries the peer's traffic (no generator);
 * one that ends at a real port counts the frames the peer accepted as
 * received; those it had no buffer for are drops (`port NAME: tx.drop.*`).
 * With `reverse` the last endpoint's frames travel the path back to the
 * first (into two-NIC VMs on NIC 1, out of NIC 0): both peers send, and both
 * count what they accepted as received.
 *
 * Figures: the rate is what reaches the last endpoint between `warmup` and
 * `duration`; host CPU cycles are everything the backend charged to host
 * cores (vhost-net workers, the host stack, KVM's exits and interrupt
 * injections) over the whole run, per frame delivered.
 */
import {
  Burst,
  ModelClock,
  PacketPool,
  RealClock,
  costRates,
  loadCostModel,
  type CostOverrides,
  type CostRates,
  type ResourceSnapshot,
} from "@nfvio/core";
import { Generator, RxAnalyzer, describeSizes, parseDuration, parseLineRate, readSignature, type SignatureFields, type StreamSpec } from "@nfvio/trafgen";
import type { LogLevel } from "@nfvio/vhost";
import { flowHash, type Fabric, type Target, type WireSink } from "./fabric.js";
import { OffloadFabric, offloadFeatures, offloadWireBps } from "./offload-fabric.js";
import { openRealPort, waitReady, type RealPort } from "./real-ports.js";
import type { Scenario } from "./schema.js";
import { VhostNetFabric } from "./vhost-fabric.js";
import { Vm, type AppReceive } from "./vm.js";

/** One point of the live time series. */
export interface Sample {
  /** Scenario time, ns (modelled or since the start). */
  tNs: number;
  /** Frames per µs (= Mpps) offered and delivered in the interval. */
  offeredMpps: number;
  rxMpps: number;
  /** Host cores kept busy by the backend in the interval (host cycles / (interval × cpuHz)). */
  hostCores: number;
  /** Per node of the topology: frames received and sent by its guests (VMs) or at the wire (ports), cumulative. */
  nodes: Record<string, { rx: number; tx: number }>;
}

export interface LatencyResult {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  /** Histogram: bin `k` holds latencies in [edgesUs[k], edgesUs[k+1]). */
  edgesUs: number[];
  counts: number[];
}

export interface RunResult {
  scenario: string;
  backend: "vhost-net" | "offload";
  profile: string | null;
  clock: "model" | "real";
  /** Frame sizes, e.g. "64", "imix(64:7,570:4,1518:1)". */
  sizes: string;
  /** Mean frame size of the streams, bytes with FCS. */
  meanFrameBytes: number;
  vms: number;
  queues: number;
  durationNs: number;
  warmupNs: number;
  offeredMpps: number;
  /** Delivered in the measured interval. */
  mpps: number;
  /** L2 (frame bytes with FCS) Gbit/s delivered in the measured interval. */
  gbps: number;
  tx: number;
  received: number;
  lost: number;
  hostCycles: number;
  hostCyclesPerPacket: number;
  /** Host cores busy on average during the traffic. */
  hostCores: number;
  guestCyclesPerPacket: number;
  latency: LatencyResult;
  /** Dropped frames by reason (backend, VNFs, guests, generator). */
  drops: Record<string, number>;
  resources: Record<string, ResourceSnapshot>;
  counters: Record<string, number>;
  topology: Topology;
  timeline: Sample[];
  wallSeconds: number;
}

export interface Topology {
  nodes: { id: string; kind: "wire" | "vm" | "app"; label: string; group: string }[];
  edges: { from: string; to: string }[];
  backend: string;
}

export interface RunOptions {
  /** Sweep point: copies of the swept VM and its queue pairs. */
  vms?: number;
  queues?: number;
  /** Modelled time per generator batch (default 100 ns). */
  quantumNs?: number;
  /** Time-series points over the run (default 40). */
  samples?: number;
  onProgress?: (fraction: number) => void;
  /** Called with the topology once the scenario is built, before any traffic. */
  onStart?: (topology: Topology) => void;
  /** Called once real ports are open and their peers connected, right before the traffic; awaited. */
  onReady?: () => void | Promise<void>;
  /** Called when the run waits for a real port's peer. */
  onWait?: (message: string) => void;
  /** Called with each time-series point; a returned promise is awaited (a live view may pace the run). */
  onSample?: (s: Sample) => void | Promise<void>;
  /** Wall ms between yields to the event loop (default 50, 1 with real ports); yields only with onProgress, onSample or real ports. */
  yieldMs?: number;
}

function exactPercentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k]!;
}

/** Latency figures and a log-spaced histogram (10 bins per decade) of `ns`. */
export function latencyResult(ns: Float64Array): LatencyResult {
  const s = Float64Array.from(ns).sort();
  const n = s.length;
  let sum = 0;
  for (let k = 0; k < n; k++) sum += s[k]!;
  const edgesUs: number[] = [];
  const counts: number[] = [];
  if (n > 0) {
    const lo = Math.floor(Math.log10(Math.max(s[0]!, 1) / 1e3) * 10);
    const hi = Math.ceil(Math.log10(Math.max(s[n - 1]!, 1) / 1e3) * 10 + 1e-9);
    for (let e = lo; e <= Math.max(hi, lo + 1); e++) edgesUs.push(Number((10 ** (e / 10)).toPrecision(4)));
    for (let k = 0; k < edgesUs.length - 1; k++) counts.push(0);
    let b = 0;
    for (let k = 0; k < n; k++) {
      const us = s[k]! / 1e3;
      while (b < counts.length - 1 && us >= edgesUs[b + 1]!) b++;
      counts[b]!++;
    }
  }
  const us = (x: number): number => x / 1e3;
  return {
    count: n,
    minUs: us(n ? s[0]! : 0),
    meanUs: us(n ? sum / n : 0),
    p50Us: us(exactPercentile(s, 50)),
    p90Us: us(exactPercentile(s, 90)),
    p99Us: us(exactPercentile(s, 99)),
    maxUs: us(n ? s[n - 1]! : 0),
    edgesUs,
    counts,
  };
}

/** A growable list of numbers. */
class Samples {
  buf = new Float64Array(4096);
  n = 0;
  push(x: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = x;
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

/** The cost model a scenario asks for. */
export function scenarioRates(s: Scenario): CostRates {
  return costRates(loadCostModel((s.cost ?? {}) as CostOverrides));
}

/** The VM a sweep replicates: `sweep.vm`, or the first VM inside the path. */
export function sweptVm(s: Scenario): string | null {
  const names = new Set(s.vms.map((v) => v.name));
  return s.sweep?.vm ?? s.path.slice(1, -1).find((p) => names.has(p)) ?? null;
}

/** Run one scenario (one sweep point). */
export async function runScenario(s: Scenario, opts: RunOptions = {}): Promise<RunResult> {
  const wall0 = performance.now();
  const model = s.clock === "model";
  const clock = model ? new ModelClock() : new RealClock();
  const rates = scenarioRates(s);
  const durationNs = parseDuration(s.duration);
  const warmupNs = s.warmup !== undefined ? parseDuration(s.warmup) : durationNs / 4;
  const drainNs = parseDuration(s.drain);
  const windowNs = Math.max(1, durationNs - warmupNs);
  const quantum = opts.quantumNs ?? 100;
  const swept = opts.vms !== undefined || opts.queues !== undefined ? sweptVm(s) : null;
  if (model && s.ports.some((p) => p.kind !== "trafgen")) throw new Error("tap and vhost-user ports need clock: real");

  // VMs, with copies and the sweep point applied.
  const groups = new Map<string, Vm[]>();
  const all: Vm[] = [];
  const backend = s.backend;
  const offered = backend.kind === "offload" ? offloadFeatures(backend.profile) : VhostNetFabric.offered;
  const vnfClock = (): number => clock.now() / 1e6;
  let totalQueues = 0;
  const specs = s.vms.map((v) => {
    const count = v.name === swept && opts.vms !== undefined ? opts.vms : v.count;
    const queues = v.name === swept && opts.queues !== undefined ? opts.queues : v.queues;
    totalQueues += count * queues * v.nics;
    return { v, count, queues };
  });
  const hostPool = new PacketPool({ count: 8192 + 1024 * totalQueues, dataRoom: 2048 });
  let fabric: Fabric;
  if (backend.kind === "offload") fabric = new OffloadFabric({ clock, rates, hostPool, profile: backend.profile, vports: totalQueues });
  else {
    const o: ConstructorParameters<typeof VhostNetFabric>[0] = { clock, rates, hostPool };
    if (backend.stackCyclesPerPacket !== undefined) o.stackCyclesPerPacket = backend.stackCyclesPerPacket;
    if (backend.backlog !== undefined) o.backlog = backend.backlog;
    fabric = new VhostNetFabric(o);
  }
  for (const { v, count, queues } of specs) {
    const list: Vm[] = [];
    for (let k = 0; k < count; k++) {
      const vm = new Vm(
        { name: v.name, queues, queueSize: v.queueSize, ring: v.ring, driver: v.driver, vnf: v.vnf ?? null, vnfCyclesPerPacket: v.vnfCyclesPerPacket ?? rates.cyclesPerPacketBase, nics: v.nics },
        count === 1 ? v.name : `${v.name}-${k + 1}`,
        clock,
        rates,
        offered,
        vnfClock,
      );
      fabric.attachVm(vm);
      list.push(vm);
      all.push(vm);
    }
    groups.set(v.name, list);
  }

  // The path: each endpoint's frames go to the next, into a two-NIC VM on NIC 0 and on from NIC 1;
  // with `reverse`, the last endpoint's frames go back the other way: in on NIC 1, on from NIC 0.
  const ports = new Map(s.ports.map((p) => [p.name, p]));
  const targetOf = (name: string, nic: number): Target => (groups.has(name) ? { kind: "vms", vms: groups.get(name)!, nic } : { kind: "wire", name });
  const hop = (from: string, to: string, outNic: number, inNic: number): void => {
    const t = targetOf(to, inNic);
    if (groups.has(from)) for (const vm of groups.get(from)!) fabric.route(vm.key(Math.min(outNic, vm.nicCount - 1)), t);
    else fabric.route(from, t);
  };
  for (let i = 0; i + 1 < s.path.length; i++) hop(s.path[i]!, s.path[i + 1]!, 1, 0);
  if (s.reverse) for (let i = s.path.length - 1; i > 0; i--) hop(s.path[i]!, s.path[i - 1]!, 0, 1);
  const topology: Topology = {
    backend: backend.kind === "offload" ? `offload (${backend.profile})` : "vhost-net",
    nodes: [],
    edges: [],
  };
  const seen = new Set<string>();
  for (const p of s.path) {
    if (seen.has(p)) continue;
    seen.add(p);
    if (groups.has(p)) {
      const vnf = s.vms.find((v) => v.name === p)!.vnf;
      for (const vm of groups.get(p)!) topology.nodes.push({ id: vm.name, kind: vnf ? "vm" : "app", label: vnf ? `${vm.name}: ${vnf.kind}${vm.spec.queues > 1 ? ` ×${vm.spec.queues}q` : ""}${vm.nicCount > 1 ? ` (${vm.nicCount} NICs)` : ""}` : `${vm.name}: trafgen app`, group: p });
    } else {
      const pc = s.ports.find((x) => x.name === p);
      const label = pc?.kind === "tap" ? `${p}: tap ${pc.ifname}` : pc?.kind === "vhost-user" ? `${p}: vhost-user peer` : `${p}: trafgen`;
      topology.nodes.push({ id: p, kind: "wire", label, group: p });
    }
  }
  const edge = (from: string, to: string): void => {
    const a = groups.get(from)?.map((v) => v.name) ?? [from];
    const b = groups.get(to)?.map((v) => v.name) ?? [to];
    for (const x of a) for (const y of b) topology.edges.push({ from: x, to: y });
  };
  for (let i = 0; i + 1 < s.path.length; i++) edge(s.path[i]!, s.path[i + 1]!);
  if (s.reverse) for (let i = s.path.length - 1; i > 0; i--) edge(s.path[i]!, s.path[i - 1]!);

  // Traffic: generated at the first endpoint, analysed at the last.
  const src = s.path[0]!;
  const dst = s.path[s.path.length - 1]!;
  const srcVm = groups.get(src)?.[0] ?? null;
  const dstVm = groups.get(dst)?.[0] ?? null;
  const srcPool = srcVm?.pool ?? hostPool;
  const srcPort = ports.get(src);
  // A stream without its own lineRate runs at the wire's: the port's, else the backend's (the offload profile's MAC, or the cost model's wireGbps).
  const lineRate =
    srcPort?.kind === "trafgen" && srcPort.lineRate !== undefined
      ? parseLineRate(srcPort.lineRate)
      : ((backend.kind === "offload" ? offloadWireBps(backend.profile) : null) ?? rates.wireGbps * 1e9);
  // No traffic section: the path starts at a real peer, which sends.
  const streams = (s.traffic?.streams ?? []).map((st) => (st.lineRate === undefined ? { ...st, lineRate } : st)) as StreamSpec[];
  const gen = streams.length > 0 ? new Generator(srcPool, streams, { batch: 32 }) : null;
  const analyzer = new RxAnalyzer({ streams: gen?.sources.map((x) => ({ id: x.id, name: x.name })) ?? [] });
  const sig: SignatureFields = { stream: 0, seq32: 0, txNs: 0 };
  const lat = new Samples();
  let t0 = 0;
  let winFrames = 0;
  let winBytes = 0;
  let delivered = 0;
  const wireRx = new Map<string, number>();
  const record: AppReceive = (pool, burst) => {
    const now = model ? 0 : clock.now() - t0;
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const rxNs = model ? pool.ts[i]! : now;
      analyzer.record(pool, i, rxNs);
      delivered++;
      if (rxNs >= warmupNs && rxNs < durationNs) {
        if (readSignature(pool.view, pool.start(i), pool.len[i]!, sig)) {
          winFrames++;
          winBytes += pool.len[i]! + 4;
          lat.push(rxNs - sig.txNs);
        } else if (gen === null) {
          // A real peer's frames carry no signature: counted, no latency.
          winFrames++;
          winBytes += pool.len[i]! + 4;
        }
      }
    }
    pool.freeBurst(burst);
  };

  // Real peers: open them on the host pool (their frames enter the fabric there).
  const real = new Map<string, RealPort>();
  const log = (level: LogLevel, message: string): void => {
    if (level === "warn" || level === "error") process.stderr.write(`nfvio run ${level}: ${message}\n`);
  };
  const closeReal = (): void => {
    for (const r of real.values()) r.close();
    real.clear();
  };
  try {
    s.ports.forEach((p, k) => {
      if (p.kind !== "trafgen") real.set(p.name, openRealPort(p, hostPool, k, log));
    });
  } catch (e) {
    closeReal();
    throw e;
  }
  for (const p of s.ports) {
    const r = real.get(p.name) ?? null;
    const sink: WireSink = (pool, burst) => {
      wireRx.set(p.name, (wireRx.get(p.name) ?? 0) + burst.count);
      if (r === null) {
        if (p.name === dst) record(pool, burst);
        else pool.freeBurst(burst);
        return;
      }
      // A real peer: it takes the burst (what it has no room for it counts as dropped).
      const v = r.port.counters.values;
      const f0 = v[r.txPackets]!;
      const b0 = v[r.txBytes]!;
      r.port.tx(burst);
      burst.clear();
      if (p.name === dst || (s.reverse && p.name === src)) {
        // At the end of the path (either end of a reverse one): what the peer accepted is what the path delivered.
        const n = v[r.txPackets]! - f0;
        delivered += n;
        const now = clock.now() - t0;
        if (now >= warmupNs && now < durationNs) {
          winFrames += n;
          winBytes += v[r.txBytes]! - b0 + 4 * n;
        }
      }
    };
    fabric.connectWire(p.name, sink);
  }
  if (dstVm !== null) dstVm.app.receive = record;
  let injected = 0;
  const inject = (b: Burst, t: number): void => {
    injected += b.count;
    if (srcVm !== null) {
      for (let k = 0; k < b.count; k++) flowHash(srcPool, b.idx[k]!);
      srcVm.send(b, t);
    } else fabric.ingress(src, b);
    b.clear();
  };

  // Time series.
  const samples: Sample[] = [];
  const endNs = durationNs + drainNs;
  const sampleNs = durationNs / (opts.samples ?? 40);
  let nextSample = sampleNs;
  let lastInjected = 0;
  let lastDelivered = 0;
  let lastHost = 0;
  let lastT = 0;
  // Real ports need the event loop often (vhost-user messages, kicks).
  const live = opts.onSample !== undefined || opts.onProgress !== undefined || real.size > 0;
  const yieldMs = opts.yieldMs ?? (real.size > 0 ? 1 : 50);
  let lastYield = performance.now();
  const sample = async (t: number): Promise<void> => {
    const dt = t - lastT;
    if (dt <= 0) return;
    const snap = fabric.snapshot();
    const nodes: Sample["nodes"] = {};
    for (const vm of all) {
      let rx = 0;
      let tx = 0;
      for (const g of vm.guests) {
        rx += g.counters.get("rxFrames");
        tx += g.counters.get("txFrames");
      }
      nodes[vm.name] = { rx, tx };
    }
    for (const p of s.ports) nodes[p.name] = { rx: wireRx.get(p.name) ?? 0, tx: p.name === src ? injected : (realRx.get(p.name) ?? 0) };
    const x: Sample = {
      tNs: t,
      offeredMpps: ((injected - lastInjected) / dt) * 1e3,
      rxMpps: ((delivered - lastDelivered) / dt) * 1e3,
      hostCores: (snap.hostCycles - lastHost) / ((dt / 1e9) * rates.cpuHz),
      nodes,
    };
    samples.push(x);
    lastInjected = injected;
    lastDelivered = delivered;
    lastHost = snap.hostCycles;
    lastT = t;
    if (opts.onSample !== undefined) await opts.onSample(x);
  };
  const maybeYield = async (t: number): Promise<void> => {
    if (!live) return;
    const w = performance.now();
    if (w - lastYield < yieldMs) return;
    lastYield = w;
    opts.onProgress?.(Math.min(1, t / endNs));
    await new Promise<void>((r) => setImmediate(r));
  };

  // Frames real peers sent, per port; the source port's count is `injected`.
  const realRx = new Map<string, number>();
  const realList = [...real.values()];
  const realBurst = new Burst(32);
  let realCounters: Record<string, Record<string, number>> = {};
  const pollReal = (): void => {
    for (let k = 0; k < realList.length; k++) {
      const r = realList[k]!;
      const n = r.port.rx(realBurst);
      if (n === 0) continue;
      const now = clock.now();
      for (let j = 0; j < n; j++) hostPool.ts[realBurst.idx[j]!] = now;
      if (r.name === src) injected += n;
      else realRx.set(r.name, (realRx.get(r.name) ?? 0) + n);
      fabric.ingress(r.name, realBurst);
      realBurst.clear();
    }
  };

  opts.onStart?.(topology);
  for (const vm of all) vm.start();
  const burst = new Burst(32);
  const times = new Float64Array(32);
  try {
    if (real.size > 0) {
      await waitReady(realList, (p) => opts.onWait?.(`waiting for the peer of ${p.label}`));
    }
    await opts.onReady?.();
    if (clock instanceof ModelClock) {
      if (gen === null) throw new Error("a modelled run needs traffic");
      gen.reset(0);
      for (;;) {
        const next = gen.nextTime();
        if (!(next < durationNs)) break;
        while (nextSample <= next) {
          clock.runUntil(nextSample);
          await sample(nextSample);
          nextSample += sampleNs;
          await maybeYield(clock.now());
        }
        clock.runUntil(next);
        gen.fillUntil(burst, Math.min(next + quantum, durationNs - 1e-9), times);
        const n = burst.count;
        if (n === 0) break;
        const last = times[n - 1]!;
        if (last > clock.now()) clock.runUntil(last);
        for (let k = 0; k < n; k++) srcPool.ts[burst.idx[k]!] = times[k]!;
        inject(burst, last);
      }
      while (nextSample <= endNs + 1e-6) {
        clock.runUntil(nextSample);
        if (nextSample <= durationNs + 1e-6) await sample(nextSample);
        nextSample += sampleNs;
        await maybeYield(clock.now());
      }
      clock.runUntil(endNs);
    } else {
      t0 = clock.now();
      gen?.reset(0);
      let drainFrom = NaN;
      for (;;) {
        const rel = clock.now() - t0;
        if (Number.isNaN(drainFrom)) {
          if (rel >= durationNs || (gen !== null && gen.done(rel))) drainFrom = rel;
          else if (gen !== null) {
            gen.fillPaced(burst, rel);
            if (burst.count > 0) inject(burst, rel);
          }
        } else if (rel - drainFrom >= drainNs) break;
        // A real source stops feeding at the end of the traffic time; its peer's later frames stay in its ring.
        if (realList.length > 0) {
          if (Number.isNaN(drainFrom) || real.get(src) === undefined) pollReal();
        }
        fabric.poll();
        for (const vm of all) for (const g of vm.guests) g.poll();
        if (rel >= nextSample && rel <= durationNs) {
          await sample(rel);
          nextSample += sampleNs;
        }
        await maybeYield(rel);
      }
    }
  } finally {
    gen?.close();
    if (real.size > 0) realCounters = Object.fromEntries([...real.values()].map((r) => [r.name, r.counters()]));
    closeReal();
  }
  opts.onProgress?.(1);

  // Results.
  const snap = fabric.snapshot();
  const reports = gen !== null ? analyzer.report(gen.txCounts()) : [];
  // A real source: what its peer sent in the traffic time (a reverse path: both peers); received: everything that
  // reached the last endpoint (a reverse path: both ends).
  const tx = gen !== null ? reports.reduce((a, r) => a + r.tx, 0) : injected + (s.reverse ? (realRx.get(dst) ?? 0) : 0);
  const dstReal = s.ports.some((p) => p.name === dst && p.kind !== "trafgen");
  const received = gen !== null && !dstReal ? reports.reduce((a, r) => a + r.received, 0) : delivered;
  const drops: Record<string, number> = { ...snap.drops };
  const add = (k: string, v: number): void => {
    if (v > 0) drops[k] = (drops[k] ?? 0) + v;
  };
  let guestCycles = 0;
  const resources: Record<string, ResourceSnapshot> = { ...snap.resources };
  for (const vm of all) {
    guestCycles += vm.vcpuCycles();
    for (const g of vm.guests) resources[g.vcpu.name] = g.vcpu.snapshot();
    add("guest: TX ring full (VNF)", vm.stats.txRingFull);
    add("guest: TX ring full (app)", vm.stats.appTxRefused);
    add("guest: VNF outbox not sent", vm.stats.outboxDropped);
    for (const g of vm.guests) {
      add("guest: RX errors", g.counters.get("rxErrors"));
      add("guest: RX frame too big", g.counters.get("rxDropTooBig"));
    }
    for (const vnf of vm.vnfs) {
      for (const [k, v] of Object.entries(vnf.counters.snapshot(true))) {
        if (k.startsWith("drop.")) add(`vnf ${vnf.kind}: ${k.slice(5)}`, v);
      }
    }
  }
  if (gen !== null) add("trafgen: no buffer", gen.allocFailures);
  for (const [name, c] of Object.entries(realCounters)) {
    for (const [k, v] of Object.entries(c)) if (k.includes(".drop.") || k.startsWith("err.")) add(`port ${name}: ${k}`, v);
  }
  const streamSizes = gen !== null ? streams.map((st) => describeSizes(st.size as Parameters<typeof describeSizes>[0])).join(" + ") : `from ${src}`;
  const meanFrameBytes = gen !== null ? (tx > 0 ? gen.sources.reduce((a, x) => a + x.bytes, 0) / Math.max(1, gen.sent) : 0) : winFrames > 0 ? winBytes / winFrames : 0;
  // Two-NIC VMs: what each NIC received and sent, the outbox, and the VNF's own counters (one-NIC VMs add none: results stay as they were).
  const nicCounters: Record<string, number> = {};
  for (const vm of all) {
    if (vm.nicCount === 1) continue;
    vm.nics.forEach((list, k) => {
      let rx = 0;
      let tx = 0;
      for (const g of list) {
        rx += g.counters.get("rxFrames");
        tx += g.counters.get("txFrames");
      }
      nicCounters[`vm.${vm.name}.nic${k}.rxFrames`] = rx;
      nicCounters[`vm.${vm.name}.nic${k}.txFrames`] = tx;
    });
    nicCounters[`vm.${vm.name}.outbox.sent`] = vm.stats.outboxSent;
    for (const vnf of vm.vnfs) {
      for (const [k, v] of Object.entries(vnf.counters.snapshot(true))) nicCounters[`vnf.${vm.name}.${k}`] = (nicCounters[`vnf.${vm.name}.${k}`] ?? 0) + v;
    }
  }
  const swept1 = specs.find((x) => x.v.name === (swept ?? sweptVm(s)));
  for (const vm of all) vm.close();
  fabric.close();
  return {
    scenario: s.name,
    backend: backend.kind,
    profile: backend.kind === "offload" ? backend.profile : null,
    clock: s.clock,
    sizes: streamSizes,
    meanFrameBytes,
    vms: swept1?.count ?? 1,
    queues: swept1?.queues ?? 1,
    durationNs,
    warmupNs,
    offeredMpps: gen !== null ? gen.sources.reduce((a, x) => a + (Number.isFinite(x.pps) ? x.pps : 0), 0) / 1e6 : (tx / durationNs) * 1e3,
    mpps: (winFrames / windowNs) * 1e3,
    gbps: (winBytes * 8) / windowNs,
    tx,
    received,
    lost: tx - received,
    hostCycles: snap.hostCycles,
    hostCyclesPerPacket: received > 0 ? snap.hostCycles / received : 0,
    hostCores: snap.hostCycles / ((durationNs / 1e9) * rates.cpuHz),
    guestCyclesPerPacket: received > 0 ? guestCycles / received : 0,
    latency: latencyResult(lat.view()),
    drops,
    resources,
    counters: { ...snap.counters, ...nicCounters, ...Object.fromEntries(Object.entries(realCounters).flatMap(([n, c]) => Object.entries(c).map(([k, v]) => [`port.${n}.${k}`, v]))) },
    topology,
    timeline: samples,
    wallSeconds: (performance.now() - wall0) / 1e3,
  };
}
