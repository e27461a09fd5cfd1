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
 * One vNIC (`nics: 1`, the default): a VNF's ports collapse onto it. Every
 * frame arrives on VNF port 0; a forward verdict (any port) transmits it on
 * the same queue pair; frames the VNF originates (its outbox) are not sent;
 * the fabric steers a frame on by the VM it came from (the scenario's
 * path), as an OVS or eSwitch rule on the ingress vport does.
 *
 * Two vNICs (`nics: 2`, a two-port VNF): VNF port k is NIC k. Each NIC has
 * the VM's q queue pairs, again one single-pair guest (and vCPU) each; the
 * guests of queue q on both NICs share queue q's VNF instance, so a
 * firewall's connection table or a router's neighbour cache sees both
 * directions. A frame received on NIC k arrives on VNF port k; a forward
 * verdict to port p is transmitted on NIC p's queue q; the VNF's outbox
 * (ARP requests and replies, ICMP errors, packets released after their
 * next hop resolved) is copied into pool buffers and sent on its port's
 * NIC, queue 0. The fabric steers by (VM, NIC).
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
  /** virtio-net NICs: 1 (a VNF's ports collapse onto it) or 2 (VNF port k is NIC k). Default 1. */
  nics?: 1 | 2;
}

/** Called with frames the traffic application in a VM received (pool buffers, `pool.ts` = receive time). The callee frees them. */
export type AppReceive = (pool: PacketPool, burst: Burst) => void;

/** Counters the VM keeps itself (the guests and VNFs keep theirs). */
export interface VmStats {
  /** Frames the VNF forwarded but the TX ring had no room for. */
  txRingFull: number;
  /** Frames the application offered that the TX ring refused. */
  appTxRefused: number;
  /** Two NICs: frames the VNF originated that were sent, and those that found no pool buffer or no room in the TX ring. */
  outboxSent: number;
  outboxDropped: number;
}

/** Called after a queue's driver put frames on its TX ring (see {@link Vm.onTransmit}). */
export type TransmitHook = (queue: number, meter: Meter) => void;

/** What a VNF hook needs of its VM. */
interface HookVm {
  readonly onTransmit: TransmitHook | null;
  readonly nicCount: number;
  queueOf(g: VirtioNetGuest): number;
  /** The guest of NIC `nic`, queue `q`. */
  guest(nic: number, q: number): VirtioNetGuest;
}

/**
 * Runs a VNF on the frames a queue's driver received. One NIC: every frame
 * arrives on port 0 and the forwarded ones go back out on the same queue.
 * Two NICs: frames arrive on the port of their NIC (`nic`) and leave on the
 * NIC of their verdict, same queue; the outbox leaves on queue 0.
 */
class VnfHook implements GuestVnf {
  private readonly view: PacketBurst;
  private readonly verdicts: Int32Array;
  private readonly out: Burst[];
  private readonly drop: Burst;

  constructor(
    readonly vnf: Vnf,
    private readonly cycles: number,
    private readonly stats: VmStats,
    capacity: number,
    private readonly vm: HookVm,
    /** The NIC this hook's guest is (its frames arrive on this VNF port). */
    private readonly nic: number,
    /** The queue index of this hook's guest on its NIC. */
    private readonly queue: number,
  ) {
    this.view = createBurst(capacity);
    this.verdicts = new Int32Array(capacity);
    this.out = Array.from({ length: vm.nicCount }, () => new Burst(capacity));
    this.drop = new Burst(capacity);
  }

  receive(burst: Burst, queue: number, guest: VirtioNetGuest): void {
    const pool = guest.pool;
    const n = viewPoolBurst(pool, burst, this.view);
    const ports = this.view.ports;
    const nic = this.nic;
    for (let i = 0; i < n; i++) ports[i] = nic;
    this.vnf.process(this.view, n, this.verdicts);
    syncPoolLengths(pool, burst, this.view, n);
    if (this.cycles > 0) guest.meter.cycles(n * this.cycles);
    const nics = this.vm.nicCount;
    const drop = this.drop;
    drop.clear();
    for (const o of this.out) o.clear();
    if (nics === 1) {
      const out = this.out[0]!;
      for (let i = 0; i < n; i++) {
        if (this.verdicts[i]! >= 0) out.push(burst.idx[i]!);
        else drop.push(burst.idx[i]!);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = this.verdicts[i]!;
        if (v >= 0 && v < nics) this.out[v]!.push(burst.idx[i]!);
        else drop.push(burst.idx[i]!);
      }
    }
    for (let i = n; i < burst.count; i++) drop.push(burst.idx[i]!);
    if (drop.count > 0) pool.freeBurst(drop);
    if (nics === 1) {
      // One NIC: frames the VNF originates (ARP, ICMP errors) are not part of the measured traffic.
      this.vnf.outbox?.clear();
      const out = this.out[0]!;
      if (out.count > 0) {
        const k = guest.transmit(out, queue);
        if (k > 0 && this.vm.onTransmit !== null) this.vm.onTransmit(this.vm.queueOf(guest), guest.meter);
        if (k < out.count) {
          this.stats.txRingFull += out.count - k;
          pool.freeRange(out.idx, k, out.count);
        }
      }
      return;
    }
    for (let p = 0; p < nics; p++) {
      const out = this.out[p]!;
      if (out.count === 0) continue;
      const k = this.send(guest, this.vm.guest(p, this.queue), out);
      if (k < out.count) {
        this.stats.txRingFull += out.count - k;
        pool.freeRange(out.idx, k, out.count);
      }
      out.clear();
    }
    const ob = this.vnf.outbox;
    if (ob !== null && ob.count > 0) this.sendOutbox(guest, ob);
  }

  /** Transmit `out` on `to`'s queue 0 (a guest of the same VM; another one runs this activation on its own vCPU from `from`'s time). */
  private send(from: VirtioNetGuest, to: VirtioNetGuest, out: Burst): number {
    if (to === from) {
      const k = to.transmit(out, 0);
      if (k > 0 && this.vm.onTransmit !== null) this.vm.onTransmit(this.vm.queueOf(to), to.meter);
      return k;
    }
    const m = to.meter;
    m.begin(from.meter.now());
    const k = to.transmit(out, 0);
    if (k > 0 && this.vm.onTransmit !== null) this.vm.onTransmit(this.vm.queueOf(to), m);
    m.end();
    return k;
  }

  /** Copy the outbox's frames into pool buffers and send each on its port's NIC, queue 0. */
  private sendOutbox(guest: VirtioNetGuest, ob: NonNullable<Vnf["outbox"]>): void {
    const pool = guest.pool;
    const nics = this.vm.nicCount;
    const ports = ob.burst.ports;
    const lengths = ob.burst.lengths;
    const offsets = ob.burst.offsets;
    for (let i = 0; i < ob.count; i++) {
      const port = ports[i]!;
      const len = lengths[i]!;
      if (port >= nics || len > pool.dataRoom) {
        this.stats.outboxDropped++;
        continue;
      }
      const b = pool.alloc();
      if (b < 0) {
        this.stats.outboxDropped++;
        continue;
      }
      const at = offsets[i]!;
      pool.data.set(ob.bytes.subarray(at, at + len), pool.start(b));
      pool.len[b] = len;
      pool.ts[b] = guest.meter.now();
      const out = this.out[port]!;
      if (out.full) this.flushOutbox(guest, port);
      out.push(b);
    }
    ob.clear();
    for (let p = 0; p < nics; p++) if (this.out[p]!.count > 0) this.flushOutbox(guest, p);
  }

  private flushOutbox(guest: VirtioNetGuest, port: number): void {
    const out = this.out[port]!;
    const k = this.send(guest, this.vm.guest(port, 0), out);
    this.stats.outboxSent += k;
    if (k < out.count) {
      this.stats.outboxDropped += out.count - k;
      guest.pool.freeRange(out.idx, k, out.count);
    }
    out.clear();
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
  /** Every queue guest: NIC 0's queues, then NIC 1's. */
  readonly guests: VirtioNetGuest[] = [];
  /** The queue guests of each NIC. */
  readonly nics: VirtioNetGuest[][] = [];
  readonly vnfs: Vnf[] = [];
  readonly stats: VmStats = { txRingFull: 0, appTxRefused: 0, outboxSent: 0, outboxDropped: 0 };
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
    const nics = spec.nics ?? 1;
    const perQueue = 2 * spec.queueSize + 256;
    this.pool = new PacketPool({ count: nics * spec.queues * perQueue + 512 + (spec.vnf === null ? 4096 : 0), dataRoom: 2048 });
    for (let nic = 0; nic < nics; nic++) this.nics.push([]);
    for (let q = 0; q < spec.queues; q++) {
      // Queue q of every NIC shares one VNF instance (per-lcore state that sees both directions).
      const vnf = spec.vnf === null ? null : createVnf(spec.vnf, { clock: vnfClock });
      if (vnf !== null) this.vnfs.push(vnf);
      for (let nic = 0; nic < nics; nic++) {
        let hook: GuestVnf;
        if (vnf === null) hook = new AppHook(this.app);
        else hook = new VnfHook(vnf, spec.vnfCyclesPerPacket, this.stats, 64, this, nic, q);
        const base = nics === 1 ? name : `${name}.nic${nic}`;
        const g = new VirtioNetGuest({
          name: spec.queues === 1 ? base : `${base}.q${q}`,
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
        this.nics[nic]!.push(g);
      }
      this.sub.push(new Burst(64));
    }
    for (const list of this.nics) this.guests.push(...list);
  }

  /** Number of virtio-net NICs. */
  get nicCount(): number {
    return this.nics.length;
  }

  /** The guest of NIC `nic`, queue `q`. */
  guest(nic: number, q: number): VirtioNetGuest {
    return this.nics[nic]![q]!;
  }

  /** Index of `g` among this VM's queue guests. */
  queueOf(g: VirtioNetGuest): number {
    return this.guests.indexOf(g);
  }

  /** The NIC `g` belongs to. */
  nicOf(g: VirtioNetGuest): number {
    return this.nics.findIndex((l) => l.includes(g));
  }

  /**
   * The fabric's name for where frames of NIC `nic` come from and go to:
   * the VM's name with one NIC (the path's routes, as always), `name#k` with two.
   */
  key(nic: number): string {
    return this.nics.length === 1 ? this.name : `${this.name}#${nic}`;
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
    const q = this.nics[0]!.length;
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
    const guest = this.nics[0]![g]!;
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
