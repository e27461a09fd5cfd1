/**
 * A VM of a scenario: guest memory, a virtio-net NIC with `queues` queue
 * pairs, and a VNF (from @nfvio/vnf) or a traffic application on top.
 *
 * A VM with q queue pairs is modelled as q single-pair `VirtioNetGuest`s
 * that share one packet pool (one guest memory for the buffers), one per
 * vCPU: a multiqueue VNF runs one poll loop per queue on its own vCPU
 * (DPDK lcores, or Linux's per-queue NAPI on separate CPUs), and QEMU opens
 * one vhost-net instance per queue pair, each with its own worker. Each
 * queue has its own VNF instance (per-lcore state; RSS keeps a flow on one
 * queue).
 *
 * One vNIC per VM: a VNF's ports collapse onto it. Every frame arrives on
 * VNF port 0; a forward verdict (any port) transmits it on the same queue
 * pair; the fabric steers it on by the VM it came from (the scenario's
 * path), as an OVS or eSwitch rule on the ingress vport does.
 *
 * A VM without a VNF runs the traffic application (trafgen's generator and
 * analyser); its driver charges nothing per frame, so it never limits the
 * path it measures.
 */
import { Burst, PacketPool, type CostRates, type Meter, type ModelClock, type RealClock } from "@nfvio/core";
import { VirtioNetGuest, type GuestVnf } from "@nfvio/vhost";
import { createBurst, createVnf, syncPoolLengths, viewPoolBurst, type PacketBurst, type Vnf, type VnfSpec } from "@nfvio/vnf";

export interface VmSpec {
  name: string;
  queues: number;
  queueSize: number;
  ring: "split" | "packed";
  driver: "poll" | "napi";
  /** The VNF, or null for a VM that runs the traffic application (source and sink). */
  vnf: VnfSpec | null;
  /** Guest cycles the VNF charges per packet (besides the driver's). */
  vnfCyclesPerPacket: number;
}

/** Called with frames the traffic application in a VM received (pool buffers, `pool.ts` = receive time). The callee frees them. */
export type AppReceive = (pool: PacketPool, burst: Burst) => void;

/** Counters the VM keeps itself (the guests and VNFs keep theirs). */
export interface VmStats {
  /** Frames the VNF forwarded but the TX ring had no room for. */
  txRingFull: number;
  /** Frames the application offered that the TX ring refused. */
  appTxRefused: number;
}

/** Called after a queue's driver put frames on its TX ring (see {@link Vm.onTransmit}). */
export type TransmitHook = (queue: number, meter: Meter) => void;

/** Runs a VNF on the frames a queue's driver received and sends the forwarded ones back out on the same queue. */
class VnfHook implements GuestVnf {
  private readonly view: PacketBurst;
  private readonly verdicts: Int32Array;
  private readonly out: Burst;
  private readonly drop: Burst;

  constructor(
    readonly vnf: Vnf,
    private readonly cycles: number,
    private readonly stats: VmStats,
    capacity: number,
    private readonly vm: { onTransmit: TransmitHook | null; queueOf(g: VirtioNetGuest): number },
  ) {
    this.view = createBurst(capacity);
    this.verdicts = new Int32Array(capacity);
    this.out = new Burst(capacity);
    this.drop = new Burst(capacity);
  }

  receive(burst: Burst, queue: number, guest: VirtioNetGuest): void {
    const pool = guest.pool;
    const n = viewPoolBurst(pool, burst, this.view);
    const ports = this.view.ports;
    for (let i = 0; i < n; i++) ports[i] = 0;
    this.vnf.process(this.view, n, this.verdicts);
    syncPoolLengths(pool, burst, this.view, n);
    if (this.cycles > 0) guest.meter.cycles(n * this.cycles);
    const out = this.out;
    const drop = this.drop;
    out.clear();
    drop.clear();
    for (let i = 0; i < n; i++) {
      if (this.verdicts[i]! >= 0) out.push(burst.idx[i]!);
      else drop.push(burst.idx[i]!);
    }
    for (let i = n; i < burst.count; i++) drop.push(burst.idx[i]!);
    if (drop.count > 0) pool.freeBurst(drop);
    // Frames the VNF originates (ARP, ICMP errors) are not part of the measured traffic.
    this.vnf.outbox?.clear();
    if (out.count > 0) {
      const k = guest.transmit(out, queue);
      if (k > 0 && this.vm.onTransmit !== null) this.vm.onTransmit(this.vm.queueOf(guest), guest.meter);
      if (k < out.count) {
        this.stats.txRingFull += out.count - k;
        pool.freeRange(out.idx, k, out.count);
      }
    }
  }
}

/** The traffic application: what it receives goes to the runner's analyser. */
class AppHook implements GuestVnf {
  constructor(private readonly sink: { receive: AppReceive | null }) {}
  receive(burst: Burst, _queue: number, guest: VirtioNetGuest): void {
    if (this.sink.receive !== null) this.sink.receive(guest.pool, burst);
    else guest.pool.freeBurst(burst);
  }
}

export class Vm {
  readonly name: string;
  readonly spec: VmSpec;
  readonly pool: PacketPool;
  readonly guests: VirtioNetGuest[] = [];
  readonly vnfs: Vnf[] = [];
  readonly stats: VmStats = { txRingFull: 0, appTxRefused: 0 };
  /** Where an application VM's received frames go. */
  readonly app: { receive: AppReceive | null } = { receive: null };
  /** Set by a backend that wants to hear of every TX burst (a doorbell per burst). */
  onTransmit: TransmitHook | null = null;
  private readonly sub: Burst[] = [];

  constructor(
    spec: VmSpec,
    name: string,
    clock: ModelClock | RealClock,
    rates: CostRates,
    /** Features the backend's device offers. */
    offered: bigint,
    vnfClock: () => number,
  ) {
    this.name = name;
    this.spec = spec;
    const perQueue = 2 * spec.queueSize + 256;
    this.pool = new PacketPool({ count: spec.queues * perQueue + 512 + (spec.vnf === null ? 4096 : 0), dataRoom: 2048 });
    for (let q = 0; q < spec.queues; q++) {
      let hook: GuestVnf;
      if (spec.vnf === null) hook = new AppHook(this.app);
      else {
        const vnf = createVnf(spec.vnf, { clock: vnfClock });
        this.vnfs.push(vnf);
        hook = new VnfHook(vnf, spec.vnfCyclesPerPacket, this.stats, 64, this);
      }
      const g = new VirtioNetGuest({
        name: spec.queues === 1 ? name : `${name}.q${q}`,
        queuePairs: 1,
        queueSize: spec.queueSize,
        ring: spec.ring,
        pool: this.pool,
        mode: spec.driver,
        clock,
        cost: rates,
        offered,
        vnf: hook,
        // The traffic application is test equipment: an ideal generator and analyser whose vCPUs cost nothing,
        // so that what is measured is the path, not the VM that feeds it.
        ...(spec.vnf === null ? { cyclesPerPacket: 0 } : {}),
      });
      this.guests.push(g);
      this.sub.push(new Burst(64));
    }
  }

  /** Index of `g` among this VM's queue guests. */
  queueOf(g: VirtioNetGuest): number {
    return this.guests.indexOf(g);
  }

  start(): void {
    for (const g of this.guests) g.start();
  }

  /**
   * The application sends `burst` (buffers of this VM's pool) at `t`: each
   * frame on the queue its flow hashes to (`pool.hash`), on that queue's
   * vCPU. Frames the ring cannot take are freed and counted.
   */
  send(burst: Burst, t: number): void {
    const q = this.guests.length;
    const pool = this.pool;
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const s = this.sub[q === 1 ? 0 : Math.floor((pool.hash[i]! * q) / 0x1_0000_0000)]!;
      if (s.full) this.flush(s, this.sub.indexOf(s), t);
      s.push(i);
    }
    for (let g = 0; g < q; g++) if (this.sub[g]!.count > 0) this.flush(this.sub[g]!, g, t);
    burst.clear();
  }

  private flush(s: Burst, g: number, t: number): void {
    const guest = this.guests[g]!;
    const m = guest.meter;
    const model = m.model;
    if (model) m.begin(t);
    const k = guest.transmit(s, 0);
    if (k > 0 && this.onTransmit !== null) this.onTransmit(g, m);
    if (model) m.end();
    if (k < s.count) {
      this.stats.appTxRefused += s.count - k;
      this.pool.freeRange(s.idx, k, s.count);
    }
    s.clear();
  }

  /** Guest vCPU cycles so far (driver, VNF, and the VM exits and interrupt injections charged to the vCPUs). */
  vcpuCycles(): number {
    let c = 0;
    for (const g of this.guests) c += g.vcpu.cycles;
    return c;
  }

  close(): void {
    for (const g of this.guests) g.close();
  }
}
