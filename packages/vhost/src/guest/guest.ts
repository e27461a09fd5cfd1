/**
 * A guest: guest memory + a virtio-net driver + a VNF on top of it (the
 * "VM" of nfvio's architecture), for the vhost-net model and anything else
 * that serves a virtio-net device's rings.
 *
 * ```
 *  ┌──────────────────────── VirtioNetGuest ("VM") ─────────────────────────┐
 *  │ VNF hook: receive(burst) / produce(burst)      port: Port (rx / tx)     │
 *  │        ▲ frames (pool buffers)  │                                       │
 *  │ virtio-net driver: receiveq k ◀─┼─ posted buffers (mergeable)           │
 *  │                    transmitq k ─┴▶ hdr + frame, one descriptor          │
 *  │ guest memory: rings @0x10000 | packet pool @POOL_GPA (zero copy)        │
 *  └──────── kick (VM exit) ─────────▶ device ─────── interrupt ─────────────┘
 * ```
 *
 * The guest's packet buffers are a `PacketPool` whose data area is mapped
 * into guest memory, so a frame the device writes into a posted buffer is
 * handed to the VNF without a copy, and a VNF transmits a pool buffer by
 * putting the virtio-net header into its headroom and adding one
 * descriptor, as Linux's virtio-net does when the header fits in front of
 * the data. Offload fields travel in the buffer's metadata (see meta.ts).
 *
 * Notifications follow Linux's virtio-net driver with EVENT_IDX:
 * - RX is NAPI: an interrupt disables further ones (virtqueue_disable_cb)
 *   and schedules a poll of up to `napiBudget` (64, NAPI_POLL_WEIGHT)
 *   frames; a poll that finishes early re-enables them and checks the ring
 *   once more (virtqueue_enable_cb_prepare + virtqueue_poll).
 * - TX completions are reclaimed before each transmit (free_old_xmit); TX
 *   interrupts are off except while the ring is full.
 * - Kicks only when the device's avail_event asks (virtqueue_kick_prepare).
 * In `mode: "poll"` the driver is a DPDK-style PMD: all interrupts off, the
 * rings polled (under the model clock the device's `usedVisible` hook
 * stands for the poll).
 *
 * The vCPU is a CPU {@link Resource}: the driver charges
 * `cyclesPerPacket` per frame, the VM exits of its kicks
 * (`cyclesPerVmExit`, through the device's kick) and the interrupts it
 * takes (`cyclesPerInterruptInjection`). Under the model clock the guest
 * schedules its own activations; under real time a thread calls
 * {@link VirtioNetGuest.poll} in a loop.
 */
import {
  CounterSet,
  DEFAULT_COST_MODEL,
  Link,
  Meter,
  ModelClock,
  RealClock,
  Resource,
  costRates,
  type Clock,
  type CostRates,
  type EventHandler,
  type Port,
} from "@nfvio/core";
import { Burst, PacketPool, type PoolHandle, type PoolOptions } from "@nfvio/packet";
import {
  GuestMemory,
  NetHeader,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VirtioError,
  alignUp,
  decodeNetHeader,
  encodeNetHeader,
  netHeaderSize,
  ringFactory,
  type DriverQueue,
  type RingPlacement,
} from "@nfvio/virtio";
import { byteViews, copyBytes, type ByteViews } from "@nfvio/virtio";
import { VHOST_NET_FEATURES, type VhostNetSetup } from "../vhost-net/device.js";
import { getPacketNetHeader, setPacketNetHeader, VNET_META_BYTES } from "../vhost-net/meta.js";
import type { Doorbell, InterruptTarget, KickTarget } from "../vhost-net/notify.js";

// Hot-path aliases of imported bindings (read once, not through module namespace accessors).
const decodeHdr = decodeNetHeader;
const encodeHdr = encodeNetHeader;
const copy = copyBytes;
const getMeta = getPacketNetHeader;
const setMeta = setPacketNetHeader;

/** Guest-physical address of the first ring (low memory is left unmapped, so address 0 faults). */
export const GUEST_RING_GPA = 0x10000;

/** What a guest driver asks for by default: VERSION_1, EVENT_IDX, MRG_RXBUF, checksum offload both ways (MQ added for several pairs). */
export const GUEST_DEFAULT_FEATURES: bigint = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM;

/** The VNF running in the guest, called on the guest's vCPU. */
export interface GuestVnf {
  /**
   * Frames received on queue pair `queue`: buffers of `guest.pool`, the
   * packet at `dataOff`, offload metadata in the buffer (meta.ts). The VNF
   * owns them: transmit them (`guest.transmit`) or free them. It may charge
   * its own work to `guest.meter`.
   */
  receive(burst: Burst, queue: number, guest: VirtioNetGuest): void;
  /**
   * A traffic source in the guest: append up to `max` frames (buffers of
   * `guest.pool`) to `burst` for queue pair `queue` and return how many; 0
   * means nothing more to send.
   */
  produce?(burst: Burst, queue: number, max: number, guest: VirtioNetGuest): number;
}

export interface VirtioNetGuestOptions {
  /** Name (default "vm"); the vCPU resource is `vcpu-<name>`. */
  name?: string;
  /** Queue pairs (default 1). */
  queuePairs?: number;
  /** Ring entries per virtqueue (default 256). */
  queueSize?: number;
  /** Ring kind (default "split"). */
  ring?: string;
  /** Features the driver wants (default {@link GUEST_DEFAULT_FEATURES}, plus MQ when queuePairs > 1 and the ring kind's bits). */
  features?: bigint;
  /** Features the device offers (default the vhost-net model's). Negotiated = wanted & offered. */
  offered?: bigint;
  /** The guest's packet buffers (mapped into guest memory), or options for a new pool. */
  pool?: PacketPool | PoolOptions;
  /** Bytes posted per receive buffer, header included (default: header + the pool's data room). */
  rxBufferSize?: number;
  /** "napi" (Linux virtio-net, default) or "poll" (a DPDK PMD). */
  mode?: "napi" | "poll";
  /** Frames per NAPI poll (default 64). */
  napiBudget?: number;
  /** Frames per transmit burst of a producing VNF (default 32). */
  burst?: number;
  /** Guest driver cycles per frame sent or received (default the cost model's cyclesPerPacketBase). */
  cyclesPerPacket?: number;
  clock?: Clock;
  cost?: CostRates;
  vnf?: GuestVnf;
}

/** Everything another thread needs to run this guest's driver (structured-cloneable). */
export interface VirtioNetGuestHandle {
  readonly kind: "nfvio.virtio-net-guest";
  readonly setup: VhostNetSetup;
  readonly pool: PoolHandle;
  readonly poolGpa: number;
  readonly options: {
    readonly name: string;
    readonly mode: "napi" | "poll";
    readonly napiBudget: number;
    readonly burst: number;
    readonly rxBufferSize: number;
    readonly cyclesPerPacket: number | undefined;
  };
}

/** Guest counter names. */
export const GUEST_COUNTERS = [
  "txFrames",
  "txBytes",
  "rxFrames",
  "rxBytes",
  "rxBuffersPosted",
  "kicks",
  "kicksSuppressed",
  "interrupts",
  "napiPolls",
  "txRingFull",
  "rxErrors",
  "rxDropTooBig",
  "rxNoPoolBuffer",
  "copies",
  "copyBytes",
] as const;
const G: Record<(typeof GUEST_COUNTERS)[number], number> = Object.fromEntries(GUEST_COUNTERS.map((n, i) => [n, i])) as Record<(typeof GUEST_COUNTERS)[number], number>;

interface QueuePair {
  readonly rx: DriverQueue;
  readonly tx: DriverQueue;
  /** NAPI poll scheduled (RX interrupts off). */
  napi: boolean;
  /** TX ring was full; waiting for a TX interrupt or a poll. */
  txWaiting: boolean;
  /** The VNF produces on this queue. */
  producing: boolean;
  /** Frames produced and not yet sent. */
  readonly pending: Burst;
}

/** The guest's own Port: what an nfvio VNF graph inside the VM sees (DPDK's rx_burst / tx_burst on the virtio PMD). */
class GuestPort implements Port {
  constructor(private readonly g: VirtioNetGuest) {}
  get counters(): CounterSet {
    return this.g.counters;
  }
  rx(burst: Burst): number {
    return this.g.takeBacklog(burst);
  }
  tx(burst: Burst): number {
    return this.g.transmit(burst, 0);
  }
}

function checkPositive(name: string, v: number, max = 0x10000): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new VirtioError("usage", `${name} ${v} must be an integer in [1, ${max}]`);
  return v;
}

export class VirtioNetGuest implements InterruptTarget, EventHandler {
  readonly name: string;
  readonly queuePairs: number;
  readonly features: bigint;
  readonly hdrLen: number;
  readonly mergeable: boolean;
  readonly mem: GuestMemory;
  readonly pool: PacketPool;
  /** What the VMM hands the vhost device. */
  readonly setup: VhostNetSetup;
  readonly clock: Clock;
  readonly rates: CostRates;
  /** The vCPU this guest's driver and VNF run on. */
  readonly vcpu: Resource;
  readonly meter: Meter;
  readonly counters: CounterSet;
  /** The VNF-facing port (queue pair 0 for transmit). */
  readonly port: Port;
  readonly mode: "napi" | "poll";
  readonly rxBufferSize: number;
  vnf: GuestVnf | null;

  private readonly model: ModelClock | null;
  private readonly poolGpa: number;
  private readonly poolBase0: number;
  private readonly pairs: QueuePair[] = [];
  private readonly napiBudget: number;
  private readonly burst: number;
  private readonly cyclesPerPacket: number;
  private target: KickTarget | null = null;
  private readonly c: Float64Array;
  private readonly views: ByteViews;
  // Scratch.
  private readonly addrs = new Float64Array(1);
  private readonly lens = new Uint32Array(1);
  private readonly tok = new Uint32Array(1);
  private readonly tlen = new Uint32Array(1);
  private readonly tokens: Uint32Array;
  private readonly tlens: Uint32Array;
  private readonly hdr = new NetHeader();
  private readonly rxBurst: Burst;
  private readonly frees: Burst;
  private readonly post: Burst;
  /** Frames received while no VNF hook is set, for `port.rx`. */
  private readonly backlog: Link;
  // Scheduling.
  private eventAt = -1;
  private running = false;
  private injections = 0;

  /**
   * A new guest with its own memory, rings and pool. (`attachTo` is for
   * {@link VirtioNetGuest.attach}: rebuild the driver of an existing guest
   * in another thread, without re-initialising its rings.)
   */
  constructor(options: VirtioNetGuestOptions = {}, attachTo?: VirtioNetGuestHandle) {
    let setup: VhostNetSetup;
    let pool: PacketPool;
    let poolGpa: number;
    if (attachTo !== undefined) {
      if (attachTo?.kind !== "nfvio.virtio-net-guest") throw new VirtioError("usage", "not a virtio-net guest handle");
      setup = attachTo.setup;
      pool = PacketPool.attach(attachTo.pool);
      poolGpa = attachTo.poolGpa;
    } else {
      const pairs = checkPositive("queuePairs", options.queuePairs ?? 1, 0x8000);
      const size = checkPositive("queueSize", options.queueSize ?? 256, 32768);
      const ring = options.ring ?? "split";
      const factory = ringFactory(ring);
      let want = (options.features ?? GUEST_DEFAULT_FEATURES) | factory.features;
      // Several pairs need MQ, and MQ needs the control queue (§5.1.3.1) that the VMM serves.
      if (pairs > 1) want |= VIRTIO_NET_F_MQ | VIRTIO_NET_F_CTRL_VQ;
      const features = want & (options.offered ?? VHOST_NET_FEATURES);
      if (pairs > 1 && (features & VIRTIO_NET_F_MQ) === 0n) throw new VirtioError("negotiation", `${pairs} queue pairs need VIRTIO_NET_F_MQ, which the device does not offer`);
      pool = options.pool instanceof PacketPool ? options.pool : new PacketPool({ count: pairs * (2 * size + 256) + 512, ...(options.pool ?? {}) });
      // Rings, each on its own pages, then the pool's data area.
      const placements: RingPlacement[] = [];
      let at = GUEST_RING_GPA;
      for (let q = 0; q < 2 * pairs; q++) {
        const p = factory.place(size, at);
        placements.push(p);
        at = alignUp(p.end, 4096);
      }
      const ringBuffer = new SharedArrayBuffer(at - GUEST_RING_GPA);
      poolGpa = alignUp(at, 1 << 20);
      setup = {
        kind: "nfvio.vhost-net-setup",
        ring,
        features,
        queuePairs: pairs,
        regions: [
          { gpa: GUEST_RING_GPA, buffer: ringBuffer },
          { gpa: poolGpa, buffer: pool.handle.buffer, offset: pool.base(0), size: pool.count * pool.stride },
        ],
        queues: placements,
      };
    }
    const o = attachTo?.options;
    const features = setup.features;
    const hdrLen = netHeaderSize(features);
    if (pool.headroom < hdrLen + VNET_META_BYTES) throw new VirtioError("usage", `guest pool headroom ${pool.headroom} must hold the ${VNET_META_BYTES}-byte metadata and the ${hdrLen}-byte header`);
    const size = Math.max(...setup.queues.map((p) => p.size));
    this.name = o?.name ?? options.name ?? "vm";
    this.queuePairs = setup.queuePairs;
    this.features = features;
    this.hdrLen = hdrLen;
    this.mergeable = (features & VIRTIO_NET_F_MRG_RXBUF) !== 0n;
    this.pool = pool;
    this.setup = setup;
    this.mode = o?.mode ?? options.mode ?? "napi";
    this.napiBudget = checkPositive("napiBudget", o?.napiBudget ?? options.napiBudget ?? 64);
    this.burst = checkPositive("burst", o?.burst ?? options.burst ?? 32);
    const rxBufferSize = o?.rxBufferSize ?? options.rxBufferSize ?? hdrLen + pool.dataRoom;
    if (!Number.isInteger(rxBufferSize) || rxBufferSize <= hdrLen || rxBufferSize > hdrLen + pool.dataRoom) {
      throw new VirtioError("usage", `rxBufferSize ${rxBufferSize} must be in (${hdrLen}, ${hdrLen + pool.dataRoom}]`);
    }
    this.rxBufferSize = rxBufferSize;
    this.clock = options.clock ?? new RealClock();
    this.model = this.clock instanceof ModelClock ? this.clock : null;
    this.rates = options.cost ?? costRates(DEFAULT_COST_MODEL);
    this.cyclesPerPacket = o?.cyclesPerPacket ?? options.cyclesPerPacket ?? this.rates.cyclesPerPacketBase;
    this.vnf = options.vnf ?? null;
    this.mem = new GuestMemory(setup.regions);
    this.poolGpa = poolGpa;
    this.poolBase0 = pool.base(0);
    this.vcpu = new Resource(`vcpu-${this.name}`, "cpu");
    this.meter = new Meter(this.clock, this.rates, this.vcpu);
    this.counters = new CounterSet(GUEST_COUNTERS);
    this.c = this.counters.values;
    this.views = byteViews(pool.data.buffer);
    const scratch = Math.max(size, this.napiBudget, this.burst);
    this.tokens = new Uint32Array(scratch);
    this.tlens = new Uint32Array(scratch);
    this.rxBurst = new Burst(this.napiBudget);
    this.frees = new Burst(Math.max(64, this.burst));
    this.post = new Burst(this.burst);
    this.backlog = new Link(pool, 1 << Math.ceil(Math.log2(Math.max(1024, 2 * size))));
    this.port = new GuestPort(this);
    this.initQueues(attachTo === undefined);
  }

  /**
   * Rebuild a guest's driver in another thread from its {@link handle}. The
   * rings are not re-initialised: create the guest in one thread, send the
   * handle, and drive it only from the thread that attached it.
   */
  static attach(handle: VirtioNetGuestHandle, options: Pick<VirtioNetGuestOptions, "clock" | "cost" | "vnf"> = {}): VirtioNetGuest {
    return new VirtioNetGuest(options, handle);
  }

  private initQueues(init: boolean): void {
    const factory = ringFactory(this.setup.ring);
    for (let p = 0; p < this.queuePairs; p++) {
      const rx = factory.driver(this.mem, this.setup.queues[2 * p]!, this.features, init);
      const tx = factory.driver(this.mem, this.setup.queues[2 * p + 1]!, this.features, init);
      tx.setNotify(false);
      if (this.mode === "poll") rx.setNotify(false);
      this.pairs.push({ rx, tx, napi: false, txWaiting: false, producing: false, pending: new Burst(this.burst) });
    }
  }

  /** What another thread needs to {@link attach} this guest's driver. Create the guest, take the handle, then use it only there. */
  get handle(): VirtioNetGuestHandle {
    return {
      kind: "nfvio.virtio-net-guest",
      setup: this.setup,
      pool: this.pool.handle,
      poolGpa: this.poolGpa,
      options: { name: this.name, mode: this.mode, napiBudget: this.napiBudget, burst: this.burst, rxBufferSize: this.rxBufferSize, cyclesPerPacket: this.cyclesPerPacket },
    };
  }

  /** Where this guest's kicks go (the device's ioeventfds). */
  connect(target: KickTarget | null): void {
    this.target = target;
  }

  /** The driver side of virtqueue `vq` (2k: receiveq k+1, 2k+1: transmitq k+1). */
  driver(vq: number): DriverQueue {
    const p = this.pairs[vq >> 1];
    if (!p) throw new VirtioError("usage", `no virtqueue ${vq}`);
    return (vq & 1) === 0 ? p.rx : p.tx;
  }

  /** Guest-physical address of byte `offset` of the pool's `data` array. */
  gpaOf(offset: number): number {
    return this.poolGpa + (offset - this.poolBase0);
  }

  /**
   * Start the driver: post receive buffers on every queue (kicking as the
   * device asks) and, if the VNF produces, start sending.
   */
  start(): void {
    const m = this.meter;
    if (this.model !== null) m.begin(this.model.now());
    for (let p = 0; p < this.queuePairs; p++) {
      this.refill(p);
      if (this.vnf?.produce) this.pairs[p]!.producing = true;
    }
    if (this.model !== null) {
      m.end();
      this.wake(this.vcpu.busyUntil);
    }
  }

  // ---- Notifications in ----

  interrupt(vq: number, at: number): void {
    const p = this.pairs[vq >> 1];
    if (!p) return;
    this.c[G.interrupts]! += 1;
    this.injections++;
    if ((vq & 1) === 0) {
      if (this.mode === "napi" && !p.napi) {
        p.rx.setNotify(false);
        p.napi = true;
      }
    } else if (p.txWaiting) {
      p.tx.setNotify(false);
    }
    this.wake(at);
  }

  /** A PMD sees used buffers at its next poll; a NAPI guest waits for interrupts. */
  usedVisible(_vq: number, at: number): void {
    if (this.mode === "poll") this.wake(at);
  }

  /** Real-time threads: read interrupts rung in `doorbell`. Returns how many. */
  pollDoorbell(doorbell: Doorbell): number {
    let n = 0;
    for (let vq = 0; vq < 2 * this.queuePairs; vq++) {
      const k = doorbell.take(vq);
      if (k > 0) {
        this.interrupt(vq, this.clock.now());
        n += k;
      }
    }
    return n;
  }

  // ---- Scheduling ----

  private wake(at: number): void {
    if (this.model === null || this.running) return;
    const now = this.model.now();
    let t = at > now ? at : now;
    if (this.vcpu.busyUntil > t) t = this.vcpu.busyUntil;
    if (this.eventAt >= 0 && this.eventAt <= t) return;
    this.eventAt = t;
    this.model.schedule(t, this);
  }

  onEvent(time: number): void {
    if (this.eventAt !== time) return;
    this.eventAt = -1;
    if (this.activate(time)) this.wake(this.vcpu.busyUntil);
  }

  /** Real clock: one pass of the driver (interrupt work, RX poll, TX). True when there is more to do at once. */
  poll(): boolean {
    return this.activate(this.clock.now());
  }

  private activate(now: number): boolean {
    const m = this.meter;
    m.begin(now);
    this.running = true;
    if (this.injections > 0) {
      m.cycles(this.injections * this.rates.cyclesPerInterruptInjection);
      this.injections = 0;
    }
    let more = false;
    for (let p = 0; p < this.queuePairs; p++) {
      const qp = this.pairs[p]!;
      if (this.mode === "poll") {
        if (this.rxPoll(p, qp) > 0) more = true;
      } else if (qp.napi) {
        if (this.napiPoll(p, qp)) more = true;
      }
      if (this.txWork(p, qp)) more = true;
    }
    this.running = false;
    m.end();
    return more;
  }

  // ---- RX ----

  /** NAPI: poll up to the budget; true while the poll must continue. */
  private napiPoll(p: number, qp: QueuePair): boolean {
    this.c[G.napiPolls]! += 1;
    const done = this.rxPoll(p, qp);
    if (done >= this.napiBudget) return true;
    // napi_complete: re-enable interrupts, then look once more for a race.
    qp.napi = false;
    qp.rx.setNotify(true);
    const again = this.receive(p, qp, this.napiBudget);
    if (again > 0) {
      qp.rx.setNotify(false);
      qp.napi = true;
      this.refill(p);
      return true;
    }
    return false;
  }

  private rxPoll(p: number, qp: QueuePair): number {
    const n = this.receive(p, qp, this.napiBudget);
    this.refill(p);
    return n;
  }

  /** Take up to `max` frames from receiveq `p` (assembling mergeable ones) and hand them on. */
  private receive(p: number, qp: QueuePair, max: number): number {
    const drv = qp.rx;
    const pool = this.pool;
    const hl = this.hdrLen;
    const h = this.hdr;
    const out = this.rxBurst;
    const c = this.c;
    out.clear();
    let copies = 0;
    let copied = 0;
    let bytes = 0;
    while (out.count < max && out.count < out.capacity) {
      if (drv.reclaim(this.tok, this.tlen, 1) === 0) break;
      const i = this.tok[0]!;
      const len = this.tlen[0]!;
      const hdrAt = pool.base(i) + pool.headroom - hl;
      if (len < hl || !decodeHdr(pool.data, hdrAt, hl, h)) {
        c[G.rxErrors]! += 1;
        this.free(i);
        continue;
      }
      const nb = this.mergeable ? h.numBuffers : 1;
      pool.dataOff[i] = pool.headroom;
      pool.len[i] = len - hl;
      let missing = nb < 1;
      let tooBig = false;
      for (let j = 1; j < nb; j++) {
        if (drv.reclaim(this.tok, this.tlen, 1) === 0) {
          // receive_mergeable: "rx error: %d buffers out of %d missing".
          missing = true;
          break;
        }
        const t = this.tok[0]!;
        const tl = this.tlen[0]!;
        if (!tooBig && pool.tailroomOf(i) >= tl) {
          copy(this.views, pool.base(t) + pool.headroom - hl, this.views, pool.start(i) + pool.len[i]!, tl);
          pool.len[i] = pool.len[i]! + tl;
          copies++;
          copied += tl;
        } else tooBig = true;
        this.free(t);
      }
      if (missing || tooBig) {
        c[missing ? G.rxErrors : G.rxDropTooBig]! += 1;
        this.free(i);
        continue;
      }
      h.numBuffers = 0;
      pool.flags[i] = 0;
      setMeta(pool, i, h);
      pool.port[i] = p;
      bytes += pool.len[i]!;
      out.push(i);
    }
    if (this.frees.count > 0) pool.freeBurst(this.frees);
    const n = out.count;
    if (n === 0) return 0;
    c[G.rxFrames]! += n;
    c[G.rxBytes]! += bytes;
    c[G.copies]! += copies;
    c[G.copyBytes]! += copied;
    const m = this.meter;
    m.cycles(n * this.cyclesPerPacket + copies * this.rates.cyclesPerCopyCall + copied * this.rates.cyclesPerCopyByte);
    const t = m.now();
    for (let k = 0; k < n; k++) pool.ts[out.idx[k]!] = t;
    if (this.vnf !== null) this.vnf.receive(out, p, this);
    else this.toBacklog(out);
    out.clear();
    return n;
  }

  private free(i: number): void {
    if (this.frees.count === this.frees.capacity) this.pool.freeBurst(this.frees);
    this.frees.push(i);
  }

  /** Post receive buffers into every free descriptor of receiveq `p`. */
  refill(p: number): number {
    const qp = this.pairs[p]!;
    const drv = qp.rx;
    const pool = this.pool;
    const b = this.post;
    const off = pool.headroom - this.hdrLen;
    let posted = 0;
    while (drv.freeDescriptors > 0) {
      b.clear();
      const want = Math.min(drv.freeDescriptors, b.capacity);
      const got = pool.allocBurst(b, want);
      if (got === 0) {
        this.c[G.rxNoPoolBuffer]! += 1;
        break;
      }
      let k = 0;
      this.lens[0] = this.rxBufferSize;
      for (; k < got; k++) {
        const i = b.idx[k]!;
        this.addrs[0] = this.gpaOf(pool.base(i) + off);
        if (!drv.add(this.addrs, this.lens, 0, 1, i)) break;
      }
      posted += k;
      if (k < got) {
        pool.freeRange(b.idx, k, got);
        break;
      }
    }
    if (posted === 0) return 0;
    this.c[G.rxBuffersPosted]! += posted;
    this.publish(drv, 2 * p);
    return posted;
  }

  private publish(drv: DriverQueue, vq: number): void {
    if (drv.publish()) {
      this.c[G.kicks]! += 1;
      if (this.target !== null) this.target.kick(vq, this.meter);
      else this.meter.cycles(this.rates.cyclesPerVmExit);
    } else this.c[G.kicksSuppressed]! += 1;
  }

  /** Queue `b` for `port.rx`; what does not fit is freed (by the link) and counted as rxErrors. */
  private toBacklog(b: Burst): void {
    const n = b.count;
    const k = this.backlog.transmitRange(b.idx, 0, n);
    if (k < n) this.c[G.rxErrors]! += n - k;
  }

  /** Frames received while no VNF hook was set (what `port.rx` returns). */
  takeBacklog(burst: Burst): number {
    return this.backlog.receiveBurst(burst);
  }

  // ---- TX ----

  /** Take back transmitted buffers (free_old_xmit). Returns how many. */
  reclaimTx(p: number): number {
    const qp = this.pairs[p]!;
    let total = 0;
    for (;;) {
      const n = qp.tx.reclaim(this.tokens, this.tlens, this.tokens.length);
      if (n === 0) break;
      this.pool.freeRange(this.tokens, 0, n);
      total += n;
    }
    return total;
  }

  /**
   * Send `burst.idx[0..k)` on transmitq `p` and return k (the caller keeps
   * the rest: the ring is full). Each buffer gets the virtio-net header in
   * its headroom (from its offload metadata) and one descriptor.
   */
  transmit(burst: Burst, p: number): number {
    const qp = this.pairs[p];
    if (!qp) throw new VirtioError("usage", `no queue pair ${p}`);
    this.reclaimTx(p);
    const drv = qp.tx;
    const pool = this.pool;
    const hl = this.hdrLen;
    const h = this.hdr;
    let sent = 0;
    let bytes = 0;
    for (; sent < burst.count; sent++) {
      const i = burst.idx[sent]!;
      const off = pool.dataOff[i]! - hl;
      if (off < 0) break;
      getMeta(pool, i, h);
      h.numBuffers = 0;
      const at = pool.base(i) + off;
      encodeHdr(h, pool.data, at, hl);
      this.addrs[0] = this.gpaOf(at);
      this.lens[0] = pool.len[i]! + hl;
      if (!drv.add(this.addrs, this.lens, 1, 0, i)) break;
      bytes += pool.len[i]!;
    }
    if (sent === 0) return 0;
    this.c[G.txFrames]! += sent;
    this.c[G.txBytes]! += bytes;
    this.meter.cycles(sent * this.cyclesPerPacket);
    this.publish(drv, 2 * p + 1);
    return sent;
  }

  /** Produce and send on queue pair `p`; true when there is more to send at once. */
  private txWork(p: number, qp: QueuePair): boolean {
    const pend = qp.pending;
    if (pend.count === 0 && qp.producing && this.vnf?.produce) {
      this.reclaimTx(p);
      const room = Math.min(pend.capacity, qp.tx.freeDescriptors);
      if (room > 0 && this.vnf.produce(pend, p, room, this) === 0) qp.producing = false;
    }
    if (pend.count === 0) {
      if (qp.txWaiting || qp.producing) {
        // Nothing produced for want of room: wait for completions.
        return this.waitTx(p, qp);
      }
      return false;
    }
    const k = this.transmit(pend, p);
    pend.shift(k);
    if (pend.count > 0) {
      this.c[G.txRingFull]! += 1;
      return this.waitTx(p, qp);
    }
    qp.txWaiting = false;
    return qp.producing;
  }

  /** The TX ring is full: NAPI enables TX interrupts (netif_stop_subqueue + virtqueue_enable_cb_delayed); a PMD polls. */
  private waitTx(p: number, qp: QueuePair): boolean {
    if (qp.tx.freeDescriptors > 0) {
      qp.txWaiting = false;
      return qp.producing || qp.pending.count > 0;
    }
    if (!qp.txWaiting) {
      qp.txWaiting = true;
      if (this.mode === "napi") {
        qp.tx.setNotify(true);
        // Completions may have raced in before the driver asked.
        if (this.reclaimTx(p) > 0) {
          qp.tx.setNotify(false);
          qp.txWaiting = false;
          return true;
        }
      }
    }
    return false;
  }

  /** Free every buffer the guest holds outside the rings (pending sends, backlog). */
  close(): void {
    for (const qp of this.pairs) this.pool.freeBurst(qp.pending);
    this.backlog.drain();
  }
}
