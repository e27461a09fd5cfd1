/**
 * The baseline backend: Linux's software datapath for virtio-net guests.
 *
 * ```
 *  wire ──▶ host stack (NIC driver + bridge, a softirq core per VM queue) ──▶ tun queue ──▶ vhost-net worker ──copy──▶ guest RX
 *  wire ◀── host stack ◀── vhost-net worker ◀──copy── guest TX             (VM to VM: host stack ──▶ the other VM's tun queue)
 * ```
 *
 * Each VM queue pair has its own `VhostNetDevice` (@nfvio/vhost) with one
 * worker, as QEMU opens one vhost-net instance per queue pair. The host
 * stack in front of each tun queue charges `stackCyclesPerPacket` (default
 * the cost model's `cyclesPerPacketBase`) per frame on its own CPU resource
 * and holds at most `backlog` frames of work (netdev_max_backlog, 1000 by
 * default in Linux); beyond that it drops. That charge is a lower bound for
 * a NIC driver plus a bridge or OVS datapath: it flatters the baseline.
 */
import { Burst, Meter, Resource, type CostRates, type ModelClock, type PacketPool, type Port, type RealClock, CounterSet } from "@nfvio/core";
import { VhostNetDevice, connectVirtioNet, VHOST_NET_FEATURES } from "@nfvio/vhost";
import { addDrop, flowHash, pickQueue, type Fabric, type FabricSnapshot, type Target, type WireSink } from "./fabric.js";
import type { Vm } from "./vm.js";

export interface VhostNetFabricOptions {
  clock: ModelClock | RealClock;
  rates: CostRates;
  hostPool: PacketPool;
  /** Host stack cycles per frame (default `cyclesPerPacketBase`). */
  stackCyclesPerPacket?: number;
  /** Frames of work a host stack core may have queued (default 1000, netdev_max_backlog). */
  backlog?: number;
}

/** Names of the vhost-net model's drop counters, for people. */
const DROP_NAMES: Record<string, string> = {
  txDropMalformed: "vhost-net: malformed TX chain",
  txDropBadHeader: "vhost-net: bad TX header",
  txDropTooBig: "vhost-net: TX frame too big",
  txDropNoHostBuffer: "vhost-net: no host buffer",
  txDropHost: "vhost-net: host port refused",
  rxDropNoBuffer: "vhost-net: no guest RX buffer",
  rxDropQueueFull: "vhost-net: tun queue full",
  rxDropTooBig: "vhost-net: RX frame too big",
  rxDropOffload: "vhost-net: RX offload",
  rxDropRingFault: "vhost-net: ring fault",
};

/** One softirq core of the host stack. */
class HostStack {
  readonly resource: Resource;
  readonly meter: Meter;
  dropped = 0;
  frames = 0;
  constructor(
    name: string,
    clock: ModelClock | RealClock,
    rates: CostRates,
    private readonly cycles: number,
    private readonly backlogNs: number,
  ) {
    this.resource = new Resource(name, "cpu");
    this.meter = new Meter(clock, rates, this.resource);
  }

  /** Charge the burst's frames; stamp them with the time they leave. False (nothing charged) when the backlog is full. */
  pass(pool: PacketPool, b: Burst): boolean {
    const m = this.meter;
    let t = 0;
    for (let k = 0; k < b.count; k++) {
      const ts = pool.ts[b.idx[k]!]!;
      if (ts > t) t = ts;
    }
    if (m.model) {
      const now = m.clock.now();
      if (now > t) t = now;
      if (this.resource.busyUntil - t > this.backlogNs) {
        this.dropped += b.count;
        return false;
      }
    }
    m.begin(t);
    m.cycles(b.count * this.cycles);
    const out = m.now();
    m.end();
    if (m.model) for (let k = 0; k < b.count; k++) pool.ts[b.idx[k]!] = out;
    this.frames += b.count;
    return true;
  }
}

interface VmQueue {
  vm: Vm;
  queue: number;
  device: VhostNetDevice;
  stack: HostStack;
}

export class VhostNetFabric implements Fabric {
  readonly kind = "vhost-net" as const;
  readonly hostPool: PacketPool;
  private readonly clock: ModelClock | RealClock;
  private readonly rates: CostRates;
  private readonly stackCycles: number;
  private readonly backlogNs: number;
  private readonly queues = new Map<Vm, VmQueue[]>();
  private readonly routes = new Map<string, Target>();
  private readonly wires = new Map<string, WireSink>();
  private readonly wireStacks = new Map<string, HostStack>();
  private readonly scratch: Burst[] = [];
  private noRoute = 0;

  constructor(o: VhostNetFabricOptions) {
    this.clock = o.clock;
    this.rates = o.rates;
    this.hostPool = o.hostPool;
    this.stackCycles = o.stackCyclesPerPacket ?? o.rates.cyclesPerPacketBase;
    this.backlogNs = ((o.backlog ?? 1000) * this.stackCycles * 1e9) / o.rates.cpuHz;
  }

  /** What the devices offer the guests. */
  static readonly offered: bigint = VHOST_NET_FEATURES;

  attachVm(vm: Vm): void {
    // NIC 0's queues, then NIC 1's: queue q of NIC k is list[k * queues + q].
    const list: VmQueue[] = [];
    vm.guests.forEach((g, q) => {
      const key = vm.key(vm.nicOf(g));
      const name = g.name;
      const stack = new HostStack(`hoststack-${name}`, this.clock, this.rates, this.stackCycles, this.backlogNs);
      const fabric = this;
      const uplink: Port = {
        counters: new CounterSet([]),
        rx: () => 0,
        tx(burst: Burst): number {
          const n = burst.count;
          fabric.forward(key, stack, burst);
          return n;
        },
      };
      const device = new VhostNetDevice(g.setup, { name, clock: this.clock, cost: this.rates, hostPool: this.hostPool, uplink, workers: 1 });
      connectVirtioNet(g, device);
      list.push({ vm, queue: q, device, stack });
    });
    this.queues.set(vm, list);
  }

  route(from: string, to: Target): void {
    this.routes.set(from, to);
  }

  connectWire(name: string, sink: WireSink): void {
    this.wires.set(name, sink);
  }

  ingress(name: string, burst: Burst): void {
    this.forward(name, null, burst);
  }

  private sub(k: number): Burst {
    while (this.scratch.length <= k) this.scratch.push(new Burst(64));
    return this.scratch[k]!;
  }

  /** Frames from `from` (charged on `src`'s stack when a VM sent them, else on the destination queue's). */
  private forward(from: string, src: HostStack | null, burst: Burst): void {
    const pool = this.hostPool;
    const target = this.routes.get(from);
    if (target === undefined) {
      this.noRoute += burst.count;
      pool.freeBurst(burst);
      return;
    }
    if (target.kind === "wire") {
      const sink = this.wires.get(target.name);
      let stack = src;
      if (stack === null) {
        // wire to wire: a stack core of its own
        stack = this.wireStacks.get(from) ?? new HostStack(`hoststack-${from}`, this.clock, this.rates, this.stackCycles, this.backlogNs);
        this.wireStacks.set(from, stack);
      }
      if (sink === undefined || !stack.pass(pool, burst)) {
        if (sink === undefined) this.noRoute += burst.count;
        pool.freeBurst(burst);
        return;
      }
      sink(pool, burst);
      return;
    }
    // To a group of VMs: split by destination queue, keeping order.
    const vms = target.vms;
    const dests: VmQueue[] = [];
    const subs: Burst[] = [];
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const { vm, queue } = pickQueue(vms, flowHash(pool, i));
      const v = vms[vm]!;
      const dq = this.queues.get(v)![(v.nicCount === 1 ? 0 : target.nic) * v.spec.queues + queue]!;
      let j = dests.indexOf(dq);
      if (j < 0) {
        j = dests.length;
        dests.push(dq);
        const s = this.sub(j);
        s.clear();
        subs.push(s);
      }
      subs[j]!.push(i);
    }
    for (let j = 0; j < dests.length; j++) {
      const dq = dests[j]!;
      const s = subs[j]!;
      if (!(src ?? dq.stack).pass(pool, s)) {
        pool.freeBurst(s);
        continue;
      }
      dq.device.host.tx(s);
      s.clear();
    }
    burst.clear();
  }

  poll(): boolean {
    let more = false;
    for (const list of this.queues.values()) for (const q of list) if (q.device.runOnce()) more = true;
    return more;
  }

  snapshot(): FabricSnapshot {
    const resources: FabricSnapshot["resources"] = {};
    const counters: Record<string, number> = {};
    const drops: Record<string, number> = {};
    let host = 0;
    let stackDrops = 0;
    for (const list of this.queues.values()) {
      for (const q of list) {
        for (const [k, r] of Object.entries(q.device.resourceSnapshot())) {
          resources[k] = r;
          host += r.cycles;
        }
        const s = q.stack.resource.snapshot();
        resources[q.stack.resource.name] = s;
        host += s.cycles;
        stackDrops += q.stack.dropped;
        const c = q.device.counters.snapshot();
        const name = q.device.name;
        for (const k of ["txFrames", "rxFrames", "copies", "kicks", "interrupts", "wakeups"]) counters[`${name}.${k}`] = c[k] ?? 0;
        for (const [k, label] of Object.entries(DROP_NAMES)) addDrop(drops, label, c[k] ?? 0);
        // KVM's work for this queue: each kick traps (a VM exit); each interrupt is injected with an exit (no posted interrupts).
        host += (c["kicks"] ?? 0) * this.rates.cyclesPerVmExit + (c["interrupts"] ?? 0) * this.rates.cyclesPerInterruptInjection;
      }
    }
    for (const s of this.wireStacks.values()) {
      resources[s.resource.name] = s.resource.snapshot();
      host += s.resource.cycles;
      stackDrops += s.dropped;
    }
    addDrop(drops, "host stack: backlog full", stackDrops);
    addDrop(drops, "no route", this.noRoute);
    return { hostCycles: host, resources, counters, drops };
  }

  close(): void {
    for (const list of this.queues.values()) for (const q of list) q.device.close();
  }
}
