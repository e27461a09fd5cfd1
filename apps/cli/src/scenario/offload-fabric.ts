/**
 * The accelerated backend: a virtio-net offload device that serves the
 * guests' rings itself (vDPA / virtio-net hardware acceleration).
 *
 * ```
 *  wire ──▶ ingress pipeline: parser ─▶ classifier ─▶ distributor (Toeplitz RSS) ─▶ DMA write into the guest's posted RX buffer ─▶ used ring
 *  wire ◀── egress pipeline: doorbell ─▶ DMA read of the guest's TX descriptor and frame ─▶ eSwitch lookup ─┬─▶ wire
 *                                                                                                          └─▶ (VM to VM) ingress pipeline of the other vport
 * ```
 *
 * No host CPU touches a frame: doorbells are guest writes into the
 * device's notification area mapped into the guest (no VM exit), and
 * interrupts are posted (no exit to inject them); each is counted, none
 * is charged to a host core. The pipelines are hardware resources: a frame
 * occupies one for the slowest of its stages (1 / ratePps) or its PCIe
 * transfer, whichever is longer, and reaches the other side after the sum
 * of the stages' latencies (docs/cost-model.md, "Hardware stages").
 *
 * STAND-IN: @nfvio/offload's device (parser, classifier, RSS, queue and
 * buffer managers, DMA, eSwitch, device profiles) is being written; until
 * its public device API lands, this file models the datapath with the
 * pieces @nfvio/offload already exports (the bounded frame parser into a
 * `FlowKey` and the virtio RSS distributor) and steers by ingress vport
 * with a table. Replace `OffloadFabric`'s insides with that device when it
 * exists; the `Fabric` interface is all the runner needs.
 */
import { Burst, CounterSet, Meter, ModelClock, Resource, type CostRates, type EventHandler, type PacketPool, type RealClock } from "@nfvio/core";
import { FlowKey, RssDistributor, defaultIndirectionTable, flowKeyFromFrame } from "@nfvio/offload";
import type { VirtioNetGuest } from "@nfvio/vhost";
import {
  DescChain,
  GuestMemory,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_HASH_TYPE_IPv4,
  VIRTIO_NET_HASH_TYPE_IPv6,
  VIRTIO_NET_HASH_TYPE_TCPv4,
  VIRTIO_NET_HASH_TYPE_TCPv6,
  VIRTIO_NET_HASH_TYPE_UDPv4,
  VIRTIO_NET_HASH_TYPE_UDPv6,
  readFromChain,
  ringFactory,
  writeToChain,
  type DeviceQueue,
} from "@nfvio/virtio";
import { addDrop, type Fabric, type FabricSnapshot, type Target, type WireSink } from "./fabric.js";
import type { Vm } from "./vm.js";

/** A device profile: how fast its pipeline is and what wire it has. */
export interface OffloadProfile {
  readonly name: string;
  readonly description: string;
  /** Packets per second of the whole pipeline (the slowest stage); null: the cost model's stage rates. */
  readonly ratePps: number | null;
  /** Line rate of its ports, Gbit/s; null: the cost model's wireGbps. */
  readonly wireGbps: number | null;
  readonly source: string;
}

export const OFFLOAD_PROFILES: Readonly<Record<"smartnic" | "dpaa", OffloadProfile>> = {
  smartnic: {
    name: "smartnic",
    description: "a 100 GbE SmartNIC: every stage at the cost model's rates (215 Mpps), wire at wireGbps",
    ratePps: null,
    wireGbps: null,
    source: "cost model stages: NVIDIA ConnectX-6 EN product brief, up to 215 million messages per second (docs/cost-model.md)",
  },
  dpaa: {
    name: "dpaa",
    description: "a DPAA-like SoC: the frame manager's parse/classify/distribute at 37.2 Mpps, 10 GbE ports",
    ratePps: 37.2e6,
    wireGbps: 10,
    source: "NXP QorIQ T2080 product brief: frame manager (FMan) 37.2 Mpps parse/classify/distribute; 2 x 10 GbE + 2 x 2.5 GbE at 64 B",
  },
};

/** Features a virtio-net offload device offers (a vDPA-class device: no host-side offloads modelled). */
export const OFFLOAD_FEATURES: bigint = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_RING_PACKED | VIRTIO_NET_F_MRG_RXBUF;

const HASH_TYPES =
  VIRTIO_NET_HASH_TYPE_IPv4 | VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_UDPv4 | VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_TCPv6 | VIRTIO_NET_HASH_TYPE_UDPv6;

const COUNTERS = [
  "rxFrames",
  "rxBytes",
  "txFrames",
  "txBytes",
  "toWire",
  "hairpin",
  "doorbells",
  "interrupts",
  "dropNoRxBuffer",
  "dropIngressFull",
  "dropTooBig",
  "dropNoDeviceBuffer",
  "dropNoRoute",
  "dropRingFault",
] as const;
type CounterName = (typeof COUNTERS)[number];
const C = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as Record<CounterName, number>;

const DROP_LABELS: Partial<Record<CounterName, string>> = {
  dropNoRxBuffer: "offload: no guest RX buffer",
  dropIngressFull: "offload: ingress FIFO full",
  dropTooBig: "offload: frame larger than the RX buffer",
  dropNoDeviceBuffer: "offload: no device buffer",
  dropNoRoute: "no route",
  dropRingFault: "offload: ring fault",
};

interface VPort {
  readonly id: number;
  readonly vm: Vm;
  readonly guest: VirtioNetGuest;
  readonly mem: GuestMemory;
  readonly rxq: DeviceQueue;
  readonly txq: DeviceQueue;
  readonly hdrLen: number;
  /** Model: time of the scheduled egress activation, or -1. */
  eventAt: number;
  /** Frames waiting for this vport's ingress DMA in the current burst. */
  readonly pending: Burst;
}

export interface OffloadFabricOptions {
  clock: ModelClock | RealClock;
  rates: CostRates;
  hostPool: PacketPool;
  profile: OffloadProfile;
  /** Frames the ingress pipeline may have in flight before it drops (default 1024). */
  fifo?: number;
  /** Chains the egress engine takes per activation (default 32). */
  burst?: number;
}

export class OffloadFabric implements Fabric, EventHandler {
  readonly kind = "offload" as const;
  readonly hostPool: PacketPool;
  readonly profile: OffloadProfile;
  readonly counters = new CounterSet(COUNTERS);
  private readonly c = this.counters.values;
  private readonly clock: ModelClock | RealClock;
  private readonly model: ModelClock | null;
  private readonly rates: CostRates;
  private readonly ingressRes = new Resource("offload.ingress", "hw");
  private readonly egressRes = new Resource("offload.egress", "hw");
  private readonly inMeter: Meter;
  private readonly outMeter: Meter;
  /** ns a frame occupies each pipeline, before PCIe. */
  private readonly nsIn: number;
  private readonly nsOut: number;
  private readonly latIn: number;
  private readonly latOut: number;
  private readonly fifoNs: number;
  private readonly burst: number;
  private readonly vports: VPort[] = [];
  private readonly byVm = new Map<Vm, VPort[]>();
  private readonly rss = new Map<Vm, RssDistributor>();
  private readonly routes = new Map<string, Target>();
  private readonly wires = new Map<string, WireSink>();
  private readonly portIds = new Map<string, number>();
  private readonly key = FlowKey.burst(1)[0]!;
  private readonly chains: DescChain[];
  private readonly hdr = new Uint8Array(20);
  private readonly out: Burst;

  constructor(o: OffloadFabricOptions) {
    this.clock = o.clock;
    this.model = o.clock instanceof ModelClock ? o.clock : null;
    this.rates = o.rates;
    this.hostPool = o.hostPool;
    this.profile = o.profile;
    this.burst = o.burst ?? 32;
    this.inMeter = new Meter(o.clock, o.rates, this.ingressRes);
    this.outMeter = new Meter(o.clock, o.rates, this.egressRes);
    const st = o.rates.stages;
    const rate = (name: string): number => (o.profile.ratePps !== null ? 1e9 / o.profile.ratePps : (st[name]?.nsPerPacket ?? 0));
    const lat = (name: string): number => st[name]?.latencyNs ?? 0;
    this.nsIn = Math.max(rate("parser"), rate("classifier"), rate("distributor"), rate("dma"));
    this.nsOut = Math.max(rate("dma"), rate("classifier"), rate("eswitch"));
    this.latIn = lat("parser") + lat("classifier") + lat("distributor") + lat("dma");
    this.latOut = lat("dma") + lat("classifier") + lat("eswitch");
    this.fifoNs = (o.fifo ?? 1024) * this.nsIn;
    this.chains = Array.from({ length: Math.max(this.burst, 64) }, () => new DescChain(64));
    this.out = new Burst(Math.max(this.burst, 64));
  }

  /** Line rate of the device's ports, bit/s. */
  get wireBps(): number {
    return (this.profile.wireGbps ?? this.rates.wireGbps) * 1e9;
  }

  private portId(name: string): number {
    let id = this.portIds.get(name);
    if (id === undefined) {
      id = this.portIds.size;
      this.portIds.set(name, id);
    }
    return id;
  }

  attachVm(vm: Vm): void {
    const list: VPort[] = [];
    for (const guest of vm.guests) {
      const setup = guest.setup;
      const f = ringFactory(setup.ring);
      const mem = new GuestMemory(setup.regions);
      const rxq = f.device(mem, setup.queues[0]!, setup.features);
      const txq = f.device(mem, setup.queues[1]!, setup.features);
      rxq.setNotify(false); // buffers are taken when frames arrive: no kicks wanted for RX
      txq.setNotify(true);
      const vp: VPort = { id: this.vports.length, vm, guest, mem, rxq, txq, hdrLen: guest.hdrLen, eventAt: -1, pending: new Burst(64) };
      this.vports.push(vp);
      list.push(vp);
      // Doorbell: the guest writes the notification area mapped into it; no exit, no host CPU.
      guest.connect({ kick: (vq, from, count = 1) => this.doorbell(vp, vq, from !== null ? from.now() : this.clock.now(), count) });
    }
    this.byVm.set(vm, list);
    this.rss.set(vm, new RssDistributor({ hashTypes: HASH_TYPES, indirectionTable: defaultIndirectionTable(vm.guests.length), unclassifiedQueue: 0 }));
    this.portId(vm.name);
  }

  route(from: string, to: Target): void {
    this.routes.set(from, to);
    this.portId(from);
  }

  connectWire(name: string, sink: WireSink): void {
    this.wires.set(name, sink);
    this.portId(name);
  }

  ingress(name: string, burst: Burst): void {
    this.switchFrames(name, burst, false);
  }

  // ---- Ingress: parse, classify, distribute, DMA into the guest ----

  /** Frames entering the device from `from` (a wire, or a vport on hairpin). */
  private switchFrames(from: string, burst: Burst, hairpin: boolean): void {
    const pool = this.hostPool;
    const c = this.c;
    const target = this.routes.get(from);
    if (target === undefined || (target.kind === "wire" && !this.wires.has(target.name))) {
      c[C.dropNoRoute]! += burst.count;
      pool.freeBurst(burst);
      return;
    }
    if (target.kind === "wire") {
      // wire to wire, or vport to wire (already through the egress pipeline)
      this.wires.get(target.name)!(pool, burst);
      return;
    }
    if (hairpin) c[C.hairpin]! += burst.count;
    const m = this.inMeter;
    let t = 0;
    for (let k = 0; k < burst.count; k++) {
      const ts = pool.ts[burst.idx[k]!]!;
      if (ts > t) t = ts;
    }
    if (this.model !== null) {
      const now = this.model.now();
      if (now > t) t = now;
      if (this.ingressRes.busyUntil - t > this.fifoNs) {
        c[C.dropIngressFull]! += burst.count;
        pool.freeBurst(burst);
        return;
      }
    }
    m.begin(t);
    const pcie = 8 / this.rates.pcieGbps;
    const vms = target.vms;
    const port = this.portId(from);
    const touched: VPort[] = [];
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const len = pool.len[i]!;
      m.busy(Math.max(this.nsIn, (len + 12) * pcie));
      // Parser -> flow key; distributor: the Toeplitz hash picks the VM of the group (high bits) and its queue (RSS).
      flowKeyFromFrame(pool.data, pool.start(i), len, port, this.key);
      const first = this.rss.get(vms[0]!)!;
      first.queueOf(this.key);
      const h = first.lastHash >>> 0;
      const vm = vms.length === 1 ? vms[0]! : vms[Math.min(vms.length - 1, Math.floor((h / 0x1_0000_0000) * vms.length))]!;
      const q = vm.guests.length === 1 ? 0 : this.rss.get(vm)!.queueOf(this.key);
      const vp = this.byVm.get(vm)![q]!;
      if (vp.pending.count === 0) touched.push(vp);
      if (vp.pending.full) this.dmaRx(vp, t);
      vp.pending.push(i);
    }
    const out = m.now() + this.latIn;
    m.end();
    burst.clear();
    for (const vp of touched) this.dmaRx(vp, out);
  }

  /** DMA the vport's pending frames into posted RX buffers; tell the guest at `at`. */
  private dmaRx(vp: VPort, at: number): void {
    const b = vp.pending;
    const pool = this.hostPool;
    const c = this.c;
    const n = b.count;
    if (n === 0) return;
    const got = vp.rxq.broken ? 0 : vp.rxq.popBurst(this.chains, n);
    const hl = vp.hdrLen;
    const hdr = this.hdr;
    hdr.fill(0);
    hdr[10] = 1; // num_buffers = 1 (virtio 1.2 §5.1.6.4)
    let bytes = 0;
    let delivered = 0;
    for (let k = 0; k < got; k++) {
      const i = b.idx[k]!;
      const ch = this.chains[k]!;
      const len = pool.len[i]!;
      if (ch.writeBytes < hl + len) {
        c[C.dropTooBig]! += 1;
        vp.rxq.pushUsed(ch, 0);
        continue;
      }
      writeToChain(vp.mem, ch, 0, hdr, 0, hl);
      writeToChain(vp.mem, ch, hl, pool.data, pool.start(i), len);
      vp.rxq.pushUsed(ch, hl + len);
      bytes += len;
      delivered++;
    }
    if (n > got) c[vp.rxq.broken ? C.dropRingFault : C.dropNoRxBuffer]! += n - got;
    pool.freeBurst(b);
    c[C.rxFrames]! += delivered;
    c[C.rxBytes]! += bytes;
    if (got === 0) return;
    if (vp.rxq.publishUsed()) {
      c[C.interrupts]! += 1; // posted: no exit, no host CPU
      vp.guest.interrupt(0, at);
    } else vp.guest.usedVisible(0, at);
  }

  // ---- Egress: doorbell, DMA read, eSwitch ----

  private doorbell(vp: VPort, vq: number, at: number, count: number): void {
    this.c[C.doorbells]! += count;
    if (vq !== 1) return; // RX doorbells: buffers are taken when frames come
    if (this.model === null) return; // real clock: poll() serves TX
    this.schedule(vp, at);
  }

  private schedule(vp: VPort, at: number): void {
    // Not before the engine is free: queued vports are then served in turn (round robin), not in order of their doorbells.
    const t = Math.max(at, this.model!.now(), this.egressRes.busyUntil);
    if (vp.eventAt >= 0 && vp.eventAt <= t) return;
    vp.eventAt = t;
    this.model!.schedule(t, this, vp.id);
  }

  onEvent(time: number, arg: number): void {
    const vp = this.vports[arg]!;
    if (vp.eventAt !== time) return;
    vp.eventAt = -1;
    if (this.egress(vp, time)) this.schedule(vp, this.egressRes.busyUntil);
  }

  /** One egress activation for a vport: up to a burst of TX chains. True when more are waiting. */
  private egress(vp: VPort, now: number): boolean {
    const txq = vp.txq;
    if (txq.broken) return false;
    txq.setNotify(false);
    const n = txq.popBurst(this.chains, this.burst);
    if (n === 0) {
      txq.setNotify(true);
      if (txq.pending() === 0) return false;
      txq.setNotify(false);
      return true;
    }
    const pool = this.hostPool;
    const c = this.c;
    const m = this.outMeter;
    m.begin(now);
    const out = this.out;
    out.clear();
    const hl = vp.hdrLen;
    const pcie = 8 / this.rates.pcieGbps;
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const ch = this.chains[k]!;
      const len = ch.readBytes - hl;
      m.busy(Math.max(this.nsOut, (ch.readBytes > 0 ? ch.readBytes : 0) * pcie));
      const i = len > 0 && len <= pool.dataRoom ? pool.alloc() : -1;
      if (i < 0) {
        c[len > pool.dataRoom ? C.dropTooBig : C.dropNoDeviceBuffer]! += 1;
      } else {
        readFromChain(vp.mem, ch, hl, pool.data, pool.start(i), len);
        pool.len[i] = len;
        out.push(i);
        bytes += len;
      }
      txq.pushUsed(ch, 0);
    }
    const at = m.now() + this.latOut;
    m.end();
    if (txq.publishUsed()) {
      c[C.interrupts]! += 1;
      vp.guest.interrupt(1, at);
    }
    c[C.txFrames]! += out.count;
    c[C.txBytes]! += bytes;
    if (out.count > 0) {
      if (this.model !== null) for (let k = 0; k < out.count; k++) pool.ts[out.idx[k]!] = at;
      const target = this.routes.get(vp.vm.name);
      if (target?.kind === "wire") c[C.toWire]! += out.count;
      this.switchFrames(vp.vm.name, out, target?.kind === "vms");
    }
    if (txq.pending() > 0) return true;
    // Ring drained: ask for a doorbell on the next buffers, then look once more for a race.
    txq.setNotify(true);
    if (txq.pending() === 0) return false;
    txq.setNotify(false);
    return true;
  }

  poll(): boolean {
    let more = false;
    const now = this.clock.now();
    for (const vp of this.vports) if (this.egress(vp, now)) more = true;
    return more;
  }

  snapshot(): FabricSnapshot {
    const counters: Record<string, number> = {};
    const snap = this.counters.snapshot();
    for (const k of COUNTERS) counters[`offload.${k}`] = snap[k] ?? 0;
    const drops: Record<string, number> = {};
    for (const [k, label] of Object.entries(DROP_LABELS)) addDrop(drops, label, snap[k] ?? 0);
    return {
      hostCycles: 0,
      resources: { [this.ingressRes.name]: this.ingressRes.snapshot(), [this.egressRes.name]: this.egressRes.snapshot() },
      counters,
      drops,
    };
  }

  close(): void {
    // Nothing to release: the rings belong to the guests.
  }
}
