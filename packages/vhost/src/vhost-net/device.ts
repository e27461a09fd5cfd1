/**
 * The vhost-net baseline: a model of Linux's in-kernel virtio-net backend
 * (drivers/vhost/net.c, drivers/vhost/vhost.c) that moves real bytes and
 * charges what the kernel's work costs to a modelled host CPU.
 *
 * ```
 *   guest memory (rings + buffers)                 host
 *  ┌──────────────────────────────┐   kick    ┌──────────── vhost worker ("vhost-<pid>") ─────────────┐
 *  │ transmitq k: avail ─▶ chains ├──────────▶│ handle_tx: pop, copy hdr + frame into a pool buffer,   │──▶ uplink Port
 *  │                              │◀──────────┤   used (len 0), signal (EVENT_IDX)                     │    (bridge, TAP, wire)
 *  │ receiveq k:  posted buffers  │   irq     │ handle_rx: take a frame from the socket queue, gather  │◀── host Port.tx
 *  │   ◀─ hdr (num_buffers) + frame ◀─────────┤   buffers (mergeable), copy, used, signal              │    (tun's ptr_ring)
 *  └──────────────────────────────┘           └────────────────────────────────────────────────────────┘
 * ```
 *
 * What it follows from Linux (cited by function name; no code is copied):
 *
 * - One worker per vhost device serves every virtqueue of the device from a
 *   FIFO list of queued work (vhost_worker / vhost_work_queue). A
 *   virtqueue's handler is queued at most once. Linux's vhost-net device
 *   (one /dev/vhost-net open) owns one RX/TX pair; QEMU opens one per queue
 *   pair, so a multiqueue NIC has one worker per pair. Here one device has
 *   all the pairs and, by default, one worker ({@link VhostNetDeviceOptions.workers}
 *   `"per-queue-pair"` gives QEMU's arrangement; kernels since 6.4 can also
 *   attach several workers to one device, VHOST_NEW_WORKER).
 * - handle_tx / handle_rx run with guest notifications disabled
 *   (vhost_disable_notify) and re-enable them only when the ring runs dry,
 *   then look again (vhost_enable_notify returns true if buffers raced in).
 * - A handler runs until its ring or socket is empty or it has moved
 *   VHOST_NET_PKT_WEIGHT (256) packets or VHOST_NET_WEIGHT (0x80000) bytes;
 *   then it requeues itself behind the other work (vhost_exceeds_weight).
 * - TX copies (handle_tx_copy; zero-copy TX is off by default,
 *   experimental_zcopytx=0): the header and the frame are copied out of
 *   guest memory into a host buffer, the used element has length 0.
 * - RX (handle_rx, get_rx_bufs): the frame at the head of the socket queue
 *   needs header + frame bytes of posted buffers; without
 *   VIRTIO_NET_F_MRG_RXBUF one buffer, with it as many as needed, the first
 *   header's num_buffers saying how many (virtio 1.2 §5.1.6.4). If the ring
 *   has too few buffers the frame stays queued and the handler waits for a
 *   kick; a frame that could never fit is discarded.
 * - Used entries are published and the guest signalled in batches of
 *   VHOST_NET_BATCH (64) and at the end of a handler run
 *   (vhost_net_signal_used); EVENT_IDX decides whether the signal is an
 *   interrupt (vring_need_event, §2.7.7.2).
 * - The socket queue in front of RX is tun's ptr_ring, 500 frames by
 *   default (TUN_READQ_SIZE); a full one drops (tun_net_xmit).
 *
 * Costs (per {@link CostRates}; see docs/cost-model.md): every packet
 * charges `cyclesPerPacketBase` plus `cyclesPerVhostTxPacket` or
 * `cyclesPerVhostRxPacket`, and every copy `cyclesPerCopyCall` +
 * `cyclesPerCopyByte` per byte, to the worker's CPU resource. An interrupt
 * charges `cyclesPerNotification` to the worker (eventfd signal into the
 * irqfd); a kick charges `cyclesPerVmExit` to the kicking vCPU's meter and,
 * when it wakes an idle worker, `cyclesPerNotification` to the worker.
 *
 * The same code runs under both clocks: under the {@link ModelClock} each
 * worker schedules itself (one burst per activation) and modelled time
 * follows from the charges; under real time a thread calls {@link
 * VhostNetDevice.runOnce} in a loop.
 */
import {
  CounterSet,
  DEFAULT_COST_MODEL,
  LINK_MAX_CAPACITY,
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
  type ResourceSnapshot,
} from "@nfvio/core";
import { Burst, internetChecksum, type PacketPool } from "@nfvio/packet";
import {
  DescChain,
  GuestMemory,
  NetHeader,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_NOTIFY_ON_EMPTY,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_ECN,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_GUEST_TSO6,
  VIRTIO_NET_F_GUEST_UFO,
  VIRTIO_NET_F_GUEST_USO4,
  VIRTIO_NET_F_GUEST_USO6,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_HOST_UFO,
  VIRTIO_NET_F_HOST_USO,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VirtioError,
  decodeNetHeader,
  encodeNetHeader,
  featureProblems,
  netHeaderSize,
  readFromChain,
  ringFactory,
  type DeviceQueue,
  type QueueFault,
  type RegionSpec,
  type RingPlacement,
} from "@nfvio/virtio";
import { byteViews, guestSpace, readChainViews, writeChainViews, type ByteViews, type GuestSpace } from "@nfvio/virtio";
import { getPacketNetHeader, setPacketNetHeader } from "./meta.js";
import type { Doorbell, InterruptTarget, KickTarget } from "./notify.js";

// Hot-path aliases of imported bindings (read once, not through module namespace accessors).
const decodeHdr = decodeNetHeader;
const encodeHdr = encodeNetHeader;
const readChain = readFromChain;
const getMeta = getPacketNetHeader;
const setMeta = setPacketNetHeader;
const F_NEEDS_CSUM = VIRTIO_NET_HDR_F_NEEDS_CSUM;
const F_DATA_VALID = VIRTIO_NET_HDR_F_DATA_VALID;
const GSO_ECN = VIRTIO_NET_HDR_GSO_ECN;
const GSO_NONE = VIRTIO_NET_HDR_GSO_NONE;
const GSO_TCPV4 = VIRTIO_NET_HDR_GSO_TCPV4;
const GSO_TCPV6 = VIRTIO_NET_HDR_GSO_TCPV6;
const GSO_UDP = VIRTIO_NET_HDR_GSO_UDP;
const GSO_UDP_L4 = VIRTIO_NET_HDR_GSO_UDP_L4;

/**
 * Features the model offers: what Linux's vhost-net implements
 * (VHOST_NET_FEATURES: NOTIFY_ON_EMPTY, ANY_LAYOUT, INDIRECT_DESC,
 * EVENT_IDX, VERSION_1, MRG_RXBUF), the offloads a TAP passes through in
 * the virtio-net header (QEMU negotiates them with the guest and sets them
 * on the TAP with TUNSETOFFLOAD), MQ, the config-space bits a VMM serves
 * (MAC, STATUS, MTU), and RING_PACKED, which Linux's vhost does not
 * implement but nfvio's rings do. Not offered: IN_ORDER (the calibration
 * baseline is the kernel without it), ACCESS_PLATFORM (no IOTLB model),
 * and HASH_REPORT.
 */
export const VHOST_NET_FEATURES: bigint =
  VIRTIO_F_NOTIFY_ON_EMPTY |
  VIRTIO_F_ANY_LAYOUT |
  VIRTIO_F_INDIRECT_DESC |
  VIRTIO_F_EVENT_IDX |
  VIRTIO_F_VERSION_1 |
  VIRTIO_F_RING_PACKED |
  VIRTIO_NET_F_MRG_RXBUF |
  VIRTIO_NET_F_MQ |
  VIRTIO_NET_F_CTRL_VQ |
  VIRTIO_NET_F_MAC |
  VIRTIO_NET_F_STATUS |
  VIRTIO_NET_F_MTU |
  VIRTIO_NET_F_CSUM |
  VIRTIO_NET_F_GUEST_CSUM |
  VIRTIO_NET_F_HOST_TSO4 |
  VIRTIO_NET_F_HOST_TSO6 |
  VIRTIO_NET_F_HOST_ECN |
  VIRTIO_NET_F_HOST_UFO |
  VIRTIO_NET_F_HOST_USO |
  VIRTIO_NET_F_GUEST_TSO4 |
  VIRTIO_NET_F_GUEST_TSO6 |
  VIRTIO_NET_F_GUEST_ECN |
  VIRTIO_NET_F_GUEST_UFO |
  VIRTIO_NET_F_GUEST_USO4 |
  VIRTIO_NET_F_GUEST_USO6;

/** Packets one handler run may move before it requeues itself (VHOST_NET_PKT_WEIGHT). */
export const VHOST_NET_PKT_WEIGHT = 256;
/** Bytes one handler run may move before it requeues itself (VHOST_NET_WEIGHT). */
export const VHOST_NET_WEIGHT = 0x80000;
/** Used entries batched before the guest is signalled (VHOST_NET_BATCH). */
export const VHOST_NET_BATCH = 64;
/** Frames the socket queue in front of each RX queue holds (tun's TUN_READQ_SIZE). */
export const TUN_READQ_SIZE = 500;
/** Most buffers one received frame may take with MRG_RXBUF (UIO_MAXIOV, get_rx_bufs' quota). */
export const UIO_MAXIOV = 1024;
/** Shortest frame a TAP accepts (ETH_HLEN; tun_get_user refuses shorter ones). */
const ETH_HLEN = 14;

/**
 * What the VMM tells a vhost device about a guest (VHOST_SET_MEM_TABLE,
 * VHOST_SET_FEATURES, VHOST_SET_VRING_*): its memory regions, the
 * negotiated features and where each virtqueue's rings are. Virtqueue 2k is
 * receiveq k+1 and 2k+1 is transmitq k+1 (§5.1.2). Structured-cloneable
 * when every region's buffer is a SharedArrayBuffer.
 */
export interface VhostNetSetup {
  readonly kind: "nfvio.vhost-net-setup";
  /** A ring kind registered with `@nfvio/virtio` (`"split"` or `"packed"`). */
  readonly ring: string;
  readonly features: bigint;
  readonly queuePairs: number;
  readonly regions: readonly RegionSpec[];
  /** Ring placement of every virtqueue, 2 * queuePairs entries. */
  readonly queues: readonly RingPlacement[];
}

export interface VhostNetDeviceOptions {
  /** Name (default "vhost-net"); the worker resource is `vhost-<name>` (`vhost-<name>.<k>` with several workers). */
  name?: string;
  /** Default: a new RealClock. */
  clock?: Clock;
  /** The cost model as numbers (default: the documented defaults). */
  cost?: CostRates;
  /** Host buffers: what TX frames are copied into (the skbs) and what host frames for RX come in. */
  hostPool: PacketPool;
  /** Where TX frames go (software bridge, TAP, wire). Without one they wait for {@link VhostNetDevice.host}`.rx()`. */
  uplink?: Port;
  /** Who receives interrupts (the guest's irqfds). */
  guest?: InterruptTarget;
  /** Chains popped per step (default 32). */
  burst?: number;
  /** VHOST_NET_PKT_WEIGHT (default 256). */
  weightPackets?: number;
  /** VHOST_NET_WEIGHT (default 0x80000). */
  weightBytes?: number;
  /** VHOST_NET_BATCH (default 64). */
  usedBatch?: number;
  /** Socket queue length per RX queue (default 500, TUN_READQ_SIZE). */
  rxQueueLen?: number;
  /** Worker threads: a number (queue pair p is served by worker p mod n), or one per queue pair. Default 1. */
  workers?: number | "per-queue-pair";
  /** Frames held for `host.rx()` when there is no uplink (default 1024; rounded up to a power of two, at least 2: it is a core {@link Link}). */
  hostBacklog?: number;
}

/** Device-wide counter names, in order. Per-queue ones follow: `rx<k>.*` and `tx<k>.*`. */
export const VHOST_NET_COUNTERS = [
  // Traffic.
  "txOffered",
  "txFrames",
  "txBytes",
  "rxOffered",
  "rxFrames",
  "rxBytes",
  "rxBuffers",
  // Work.
  "copies",
  "copyBytes",
  "kicks",
  "vmExits",
  "interrupts",
  "interruptsSuppressed",
  "wakeups",
  "works",
  "weightRequeues",
  "csumResolved",
  // Drops by reason.
  "txDropMalformed",
  "txDropBadHeader",
  "txDropTooBig",
  "txDropNoHostBuffer",
  "txDropHost",
  "rxDropNoBuffer",
  "rxDropQueueFull",
  "rxDropTooBig",
  "rxDropOffload",
  "rxDropRingFault",
  // Ring trouble.
  "ringFaults",
  "rxBadBuffers",
] as const;

/** Per-queue counter suffixes: `rx0.frames`, `tx1.kicks`, ... */
export const VHOST_NET_QUEUE_COUNTERS = ["frames", "bytes", "kicks", "interrupts", "suppressed", "drops"] as const;

/** Names of every TX drop counter. */
export const TX_DROPS = ["txDropMalformed", "txDropBadHeader", "txDropTooBig", "txDropNoHostBuffer", "txDropHost"] as const;
/** Names of every RX drop counter. */
export const RX_DROPS = ["rxDropNoBuffer", "rxDropQueueFull", "rxDropTooBig", "rxDropOffload", "rxDropRingFault"] as const;

const C: Record<(typeof VHOST_NET_COUNTERS)[number], number> = Object.fromEntries(VHOST_NET_COUNTERS.map((n, i) => [n, i])) as Record<(typeof VHOST_NET_COUNTERS)[number], number>;

// Handler results.
const DONE = 0;
const MORE = 1;
const REQUEUE = 2;
// gatherRx results (besides a head count).
const NOT_NOW = -1;
const NEVER = -2;

/** Segments per popped chain: any chain of a ring up to 256 entries, and DPDK vhost's BUF_VECTOR_MAX beyond. */
const MAX_SEGMENTS = 256;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** tun's ptr_ring in front of one RX queue: host buffer indices and (model) the time each became visible. */
class SocketQueue {
  readonly idx: Uint32Array;
  readonly at: Float64Array;
  private readonly mask: number;
  head = 0;
  size = 0;

  constructor(readonly limit: number) {
    const cap = nextPow2(limit);
    this.idx = new Uint32Array(cap);
    this.at = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get full(): boolean {
    return this.size >= this.limit;
  }

  push(i: number, t: number): void {
    const s = (this.head + this.size) & this.mask;
    this.idx[s] = i;
    this.at[s] = t;
    this.size++;
  }

  peek(): number {
    return this.idx[this.head]!;
  }

  peekAt(): number {
    return this.at[this.head]!;
  }

  shift(): void {
    this.head = (this.head + 1) & this.mask;
    this.size--;
  }
}

/** One virtqueue as the device sees it. */
class VhostVq implements EventHandler {
  readonly isTx: boolean;
  readonly pair: number;
  /** On its worker's list. */
  queued = false;
  /** A handler run is under way (notifications disabled). */
  running = false;
  workPackets = 0;
  workBytes = 0;
  /** Used entries pushed and not yet published. */
  pendingUsed = 0;
  faultCounted = false;
  /** Model: a timed requeue is pending at this time, or -1. */
  requeueAt = -1;
  // RX only.
  readonly socket: SocketQueue | null;
  /** RX: the handler stopped for want of guest buffers and waits for a kick. */
  waitingBuffers = false;
  /** RX: chains popped and not yet used (vhost discards and re-pops them; here they are kept). */
  readonly reserve: DescChain[];
  readonly resMask: number;
  resHead = 0;
  resCount = 0;
  /** RX: bytes written into each reserve slot by the frame being written. */
  readonly written: Uint32Array;
  readonly one: DescChain[];
  // Counter ids.
  readonly cFrames: number;
  readonly cBytes: number;
  readonly cKicks: number;
  readonly cInterrupts: number;
  readonly cSuppressed: number;
  readonly cDrops: number;

  constructor(
    readonly index: number,
    readonly dq: DeviceQueue,
    readonly worker: VhostWorker,
    counters: CounterSet,
    rxQueueLen: number,
  ) {
    this.isTx = (index & 1) === 1;
    this.pair = index >> 1;
    const p = `${this.isTx ? "tx" : "rx"}${this.pair}.`;
    this.cFrames = counters.id(`${p}frames`);
    this.cBytes = counters.id(`${p}bytes`);
    this.cKicks = counters.id(`${p}kicks`);
    this.cInterrupts = counters.id(`${p}interrupts`);
    this.cSuppressed = counters.id(`${p}suppressed`);
    this.cDrops = counters.id(`${p}drops`);
    if (this.isTx) {
      this.socket = null;
      this.reserve = [];
      this.resMask = 0;
      this.written = new Uint32Array(0);
    } else {
      this.socket = new SocketQueue(rxQueueLen);
      const cap = nextPow2(dq.size);
      const segs = Math.min(dq.size, MAX_SEGMENTS);
      this.reserve = [];
      for (let k = 0; k < cap; k++) this.reserve.push(new DescChain(segs));
      this.resMask = cap - 1;
      this.written = new Uint32Array(cap);
    }
    this.one = [this.reserve[0] ?? new DescChain(1)];
  }

  /** Model: host frames at the socket's head become visible at `time`: queue the handler then. */
  onEvent(time: number): void {
    this.requeueAt = -1;
    if (!this.waitingBuffers) this.worker.enqueue(this, time, false);
  }
}

/** One vhost worker thread: a CPU resource and a FIFO of queued virtqueue handlers. */
class VhostWorker implements EventHandler {
  readonly resource: Resource;
  readonly meter: Meter;
  private readonly list: Int32Array;
  private head = 0;
  count = 0;
  /** Model: time of the pending activation, or -1. */
  private eventAt = -1;
  private running = false;
  /** The next activation starts with a wake-up (the worker was asleep). */
  private wakeCharge = false;

  constructor(
    private readonly dev: VhostNetDevice,
    name: string,
    capacity: number,
    private readonly clock: Clock,
    private readonly model: ModelClock | null,
    rates: CostRates,
  ) {
    this.resource = new Resource(name, "cpu");
    this.meter = new Meter(clock, rates, this.resource);
    this.list = new Int32Array(capacity);
  }

  get idle(): boolean {
    return this.count === 0;
  }

  headVq(): number {
    return this.list[this.head]!;
  }

  /** Queue `vq`'s handler (vhost_work_queue: a no-op when already queued). `wake`: a notification woke us. */
  enqueue(vq: VhostVq, at: number, wake: boolean): void {
    if (vq.queued) return;
    vq.queued = true;
    const cap = this.list.length;
    this.list[(this.head + this.count) % cap] = vq.index;
    this.count++;
    if (this.count === 1 && !this.running && this.eventAt < 0) {
      if (wake) this.wakeCharge = true;
      if (this.model !== null) this.schedule(at > this.resource.busyUntil ? at : this.resource.busyUntil);
    }
  }

  /** The handler at the head finished: take it off the list. */
  dropHead(vq: VhostVq): void {
    vq.queued = false;
    this.head = (this.head + 1) % this.list.length;
    this.count--;
  }

  /** The handler at the head exceeded its weight: move it behind the others (vhost_poll_queue). */
  requeueHead(): void {
    const v = this.list[this.head]!;
    this.head = (this.head + 1) % this.list.length;
    this.list[(this.head + this.count - 1) % this.list.length] = v;
  }

  private schedule(at: number): void {
    const now = this.model!.now();
    const t = at > now ? at : now;
    if (this.eventAt >= 0 && this.eventAt <= t) return;
    this.eventAt = t;
    this.model!.schedule(t, this);
  }

  /** One activation: one burst of the handler at the head of the list. */
  activate(now: number): void {
    if (this.count === 0) return;
    const m = this.meter;
    m.begin(now);
    this.running = true;
    if (this.wakeCharge) {
      this.wakeCharge = false;
      m.cycles(m.rates.cyclesPerNotification);
      this.dev.counters.values[C.wakeups]! += 1;
    }
    this.dev.step(this);
    this.running = false;
    m.end();
  }

  onEvent(time: number): void {
    if (this.eventAt !== time) return; // superseded by an earlier activation
    this.eventAt = -1;
    this.activate(time);
    if (this.count > 0) this.schedule(this.resource.busyUntil);
  }

  /** Real clock: one activation now. True when work is left. */
  runOnce(): boolean {
    if (this.count === 0) return false;
    this.activate(this.clock.now());
    return this.count > 0;
  }
}

/** The host side of the device: `tx` puts host frames into the RX socket queues, `rx` takes TX frames when there is no uplink. */
class VhostNetHostPort implements Port {
  constructor(
    private readonly dev: VhostNetDevice,
    /** Fixed RX queue pair, or -1 to steer by `pool.hash` (tun's reciprocal_scale of the flow hash). */
    private readonly pair: number,
  ) {}

  get counters(): CounterSet {
    return this.dev.counters;
  }

  rx(burst: Burst): number {
    return this.dev.takeBacklog(burst);
  }

  tx(burst: Burst): number {
    const n = burst.count;
    const idx = burst.idx;
    for (let k = 0; k < n; k++) this.dev.enqueueRx(this.pair, idx[k]!);
    this.dev.flushFrees();
    return n;
  }
}

/** State of one virtqueue, for inspection. */
export interface VhostNetQueueInfo {
  readonly index: number;
  readonly kind: "rx" | "tx";
  readonly broken: boolean;
  readonly brokenBy: QueueFault | null;
  /** RX: frames waiting in the socket queue. */
  readonly queued: number;
  /** RX: waiting for the guest to post buffers. */
  readonly waitingBuffers: boolean;
}

/**
 * A vhost-net device serving one guest's virtio-net queue pairs. Build it
 * from the guest's {@link VhostNetSetup}; kicks come in through
 * {@link kick}, interrupts go out to {@link VhostNetDeviceOptions.guest},
 * host frames come in through {@link host} and TX frames go out to the
 * uplink port.
 */
export class VhostNetDevice implements KickTarget {
  readonly name: string;
  readonly features: bigint;
  readonly queuePairs: number;
  /** Size of the virtio-net header for the negotiated features (§5.1.6). */
  readonly hdrLen: number;
  readonly mergeable: boolean;
  readonly mem: GuestMemory;
  readonly clock: Clock;
  readonly rates: CostRates;
  readonly counters: CounterSet;
  /** The host-facing port: `tx` delivers host frames to the guest (steered by flow hash), `rx` yields guest frames when no uplink is set. */
  readonly host: Port;
  readonly pool: PacketPool;

  private readonly model: ModelClock | null;
  private readonly vqs: VhostVq[] = [];
  private readonly workers: VhostWorker[] = [];
  private readonly hostPorts: VhostNetHostPort[] = [];
  private uplink: Port | null;
  private guest: InterruptTarget | null;
  private readonly burst: number;
  private readonly weightPackets: number;
  private readonly weightBytes: number;
  private readonly usedBatch: number;
  private readonly c: Float64Array;
  // Per-packet scratch, allocated once.
  private readonly txChains: DescChain[];
  private readonly out: Burst;
  private readonly frees: Burst;
  private readonly hdr = new NetHeader();
  private readonly hdrBytes = new Uint8Array(32);
  private readonly hdrViews: ByteViews;
  private readonly poolViews: ByteViews;
  /** The guest memory's regions as views, for the chain copies. */
  private readonly space: GuestSpace;
  /** TX frames held for `host.rx()` when there is no uplink. */
  private readonly backlog: Link;
  // Precomputed charges.
  private readonly cycTx: number;
  private readonly cycRx: number;
  private readonly cycCall: number;
  private readonly cycByte: number;
  // Negotiated features as booleans (hot paths avoid bigint tests).
  private readonly fCsum: boolean;
  private readonly fGuestCsum: boolean;
  private readonly fHostTso4: boolean;
  private readonly fHostTso6: boolean;
  private readonly fHostEcn: boolean;
  private readonly fHostUfo: boolean;
  private readonly fHostUso: boolean;
  private readonly fGuestTso4: boolean;
  private readonly fGuestTso6: boolean;
  private readonly fGuestEcn: boolean;
  private readonly fGuestUfo: boolean;
  private readonly fGuestUso: boolean;

  constructor(setup: VhostNetSetup, options: VhostNetDeviceOptions) {
    if (setup?.kind !== "nfvio.vhost-net-setup") throw new VirtioError("usage", "not a vhost-net setup");
    const pairs = setup.queuePairs;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > 0x8000) throw new VirtioError("usage", `queuePairs ${pairs} must be 1..32768`);
    if (setup.queues.length !== 2 * pairs) throw new VirtioError("usage", `setup has ${setup.queues.length} virtqueues, ${pairs} queue pairs need ${2 * pairs}`);
    const extra = setup.features & ~VHOST_NET_FEATURES;
    if (extra !== 0n) throw new VirtioError("negotiation", `features 0x${extra.toString(16)} are not offered by the vhost-net model`);
    if ((setup.features & VIRTIO_F_VERSION_1) === 0n) throw new VirtioError("negotiation", "the vhost-net model implements the VIRTIO_F_VERSION_1 (modern) device only");
    const problems = featureProblems(setup.features);
    if (problems.length > 0) throw new VirtioError("negotiation", `feature set is invalid: ${problems.join("; ")}`);
    if (pairs > 1 && (setup.features & VIRTIO_NET_F_MQ) === 0n) throw new VirtioError("negotiation", `${pairs} queue pairs need VIRTIO_NET_F_MQ`);
    this.name = options.name ?? "vhost-net";
    this.features = setup.features;
    this.queuePairs = pairs;
    this.hdrLen = netHeaderSize(setup.features);
    this.mergeable = (setup.features & VIRTIO_NET_F_MRG_RXBUF) !== 0n;
    this.clock = options.clock ?? new RealClock();
    this.model = this.clock instanceof ModelClock ? this.clock : null;
    this.rates = options.cost ?? costRates(DEFAULT_COST_MODEL);
    this.pool = options.hostPool;
    this.uplink = options.uplink ?? null;
    this.guest = options.guest ?? null;
    this.burst = options.burst ?? 32;
    this.weightPackets = options.weightPackets ?? VHOST_NET_PKT_WEIGHT;
    this.weightBytes = options.weightBytes ?? VHOST_NET_WEIGHT;
    this.usedBatch = options.usedBatch ?? VHOST_NET_BATCH;
    const rxQueueLen = options.rxQueueLen ?? TUN_READQ_SIZE;
    const hostBacklog = options.hostBacklog ?? 1024;
    for (const [k, v] of [
      ["burst", this.burst],
      ["weightPackets", this.weightPackets],
      ["weightBytes", this.weightBytes],
      ["usedBatch", this.usedBatch],
      ["rxQueueLen", rxQueueLen],
      ["hostBacklog", hostBacklog],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new VirtioError("usage", `${k} ${v} must be a positive integer`);
    }
    if (hostBacklog > LINK_MAX_CAPACITY) throw new VirtioError("usage", `hostBacklog ${hostBacklog} must be at most ${LINK_MAX_CAPACITY}`);
    this.mem = new GuestMemory(setup.regions);
    this.space = guestSpace(this.mem);
    this.poolViews = byteViews(this.pool.data.buffer);
    this.hdrViews = byteViews(this.hdrBytes.buffer);

    const names: string[] = [...VHOST_NET_COUNTERS];
    for (let p = 0; p < pairs; p++) for (const d of ["rx", "tx"]) for (const s of VHOST_NET_QUEUE_COUNTERS) names.push(`${d}${p}.${s}`);
    this.counters = new CounterSet(names);
    this.c = this.counters.values;

    const nw = options.workers === "per-queue-pair" ? pairs : (options.workers ?? 1);
    if (!Number.isInteger(nw) || nw < 1 || nw > pairs) throw new VirtioError("usage", `workers ${String(options.workers)} must be 1..queuePairs (${pairs}) or "per-queue-pair"`);
    for (let w = 0; w < nw; w++) {
      const wn = nw === 1 ? `vhost-${this.name}` : `vhost-${this.name}.${w}`;
      this.workers.push(new VhostWorker(this, wn, 2 * Math.ceil(pairs / nw) + 1, this.clock, this.model, this.rates));
    }
    const factory = ringFactory(setup.ring);
    for (let q = 0; q < 2 * pairs; q++) {
      const dq = factory.device(this.mem, setup.queues[q]!, setup.features);
      this.vqs.push(new VhostVq(q, dq, this.workers[(q >> 1) % nw]!, this.counters, rxQueueLen));
    }
    const maxTx = Math.min(MAX_SEGMENTS, Math.max(...setup.queues.map((p) => p.size)));
    this.txChains = [];
    for (let k = 0; k < this.burst; k++) this.txChains.push(new DescChain(maxTx));
    this.out = new Burst(this.burst);
    this.frees = new Burst(Math.max(this.burst, 64));
    this.backlog = new Link(this.pool, Math.max(2, nextPow2(hostBacklog)));
    this.host = new VhostNetHostPort(this, -1);
    for (let p = 0; p < pairs; p++) this.hostPorts.push(new VhostNetHostPort(this, p));

    const f = setup.features;
    const has = (bit: bigint): boolean => (f & bit) !== 0n;
    this.fCsum = has(VIRTIO_NET_F_CSUM);
    this.fGuestCsum = has(VIRTIO_NET_F_GUEST_CSUM);
    this.fHostTso4 = has(VIRTIO_NET_F_HOST_TSO4);
    this.fHostTso6 = has(VIRTIO_NET_F_HOST_TSO6);
    this.fHostEcn = has(VIRTIO_NET_F_HOST_ECN);
    this.fHostUfo = has(VIRTIO_NET_F_HOST_UFO);
    this.fHostUso = has(VIRTIO_NET_F_HOST_USO);
    this.fGuestTso4 = has(VIRTIO_NET_F_GUEST_TSO4);
    this.fGuestTso6 = has(VIRTIO_NET_F_GUEST_TSO6);
    this.fGuestEcn = has(VIRTIO_NET_F_GUEST_ECN);
    this.fGuestUfo = has(VIRTIO_NET_F_GUEST_UFO);
    this.fGuestUso = has(VIRTIO_NET_F_GUEST_USO4 | VIRTIO_NET_F_GUEST_USO6);
    const r = this.rates;
    this.cycTx = r.cyclesPerPacketBase + r.cyclesPerVhostTxPacket;
    this.cycRx = r.cyclesPerPacketBase + r.cyclesPerVhostRxPacket;
    this.cycCall = r.cyclesPerCopyCall;
    this.cycByte = r.cyclesPerCopyByte;
  }

  // ---- Wiring ----

  /** Where interrupts go (the guest's irqfds). */
  connectGuest(target: InterruptTarget | null): void {
    this.guest = target;
  }

  /** Where TX frames go. */
  connectUplink(port: Port | null): void {
    this.uplink = port;
  }

  /** A host port that delivers into RX queue pair `pair` only (a multiqueue TAP's queue `pair`). */
  hostQueue(pair: number): Port {
    const p = this.hostPorts[pair];
    if (!p) throw new VirtioError("usage", `no queue pair ${pair} (device has ${this.queuePairs})`);
    return p;
  }

  /** The CPU resources of the workers, for snapshots. */
  get resources(): readonly Resource[] {
    return this.workers.map((w) => w.resource);
  }

  resourceSnapshot(): Record<string, ResourceSnapshot> {
    const out: Record<string, ResourceSnapshot> = {};
    for (const w of this.workers) out[w.resource.name] = w.resource.snapshot();
    return out;
  }

  /** Every worker's list is empty: nothing to do until a kick or host frames arrive. */
  get idle(): boolean {
    for (const w of this.workers) if (!w.idle) return false;
    return true;
  }

  /** State of virtqueue `vq`. */
  queue(vq: number): VhostNetQueueInfo {
    const q = this.vqs[vq];
    if (!q) throw new VirtioError("usage", `no virtqueue ${vq}`);
    return { index: vq, kind: q.isTx ? "tx" : "rx", broken: q.dq.broken, brokenBy: q.dq.brokenBy, queued: q.socket?.size ?? 0, waitingBuffers: q.waitingBuffers };
  }

  /** RX queue pair `pair` stopped for want of guest buffers (it waits for a kick). */
  rxWaiting(pair: number): boolean {
    return this.vqs[2 * pair]?.waitingBuffers ?? false;
  }

  /** Frames waiting in RX queue pair `pair`'s socket queue. */
  rxQueued(pair: number): number {
    return this.vqs[2 * pair]?.socket?.size ?? 0;
  }

  // ---- Notifications in ----

  kick(vq: number, from: Meter | null, count = 1): void {
    const q = this.vqs[vq];
    if (!q) throw new VirtioError("usage", `kick on virtqueue ${vq}: the device has ${this.vqs.length}`);
    if (count <= 0) return;
    const c = this.c;
    c[C.kicks]! += count;
    c[C.vmExits]! += count; // each kick is an MMIO/PIO write that traps
    c[q.cKicks]! += count;
    if (from !== null) from.cycles(from.rates.cyclesPerVmExit * count);
    const at = from !== null ? from.now() : this.clock.now();
    if (!q.isTx) q.waitingBuffers = false;
    q.worker.enqueue(q, at, true);
  }

  /** Real-time threads: read the kick eventfds rung in `doorbell` and queue their handlers. Returns kicks taken. */
  pollDoorbell(doorbell: Doorbell): number {
    let n = 0;
    for (let q = 0; q < this.vqs.length; q++) {
      const k = doorbell.take(q);
      if (k > 0) {
        this.kick(q, null, k);
        n += k;
      }
    }
    return n;
  }

  /** Real clock: one activation of every worker with work. True when work is left. */
  runOnce(): boolean {
    let more = false;
    for (const w of this.workers) if (w.runOnce()) more = true;
    return more;
  }

  /** Real clock: run until every worker is idle (or `maxSteps`). Returns steps run. */
  runUntilIdle(maxSteps = 1_000_000): number {
    let n = 0;
    while (n < maxSteps && this.runOnce()) n++;
    return n;
  }

  // ---- Host side ----

  /** Host frame `i` for RX queue pair `pair` (-1: steer by flow hash). Takes ownership. */
  enqueueRx(pair: number, i: number): void {
    const c = this.c;
    c[C.rxOffered]! += 1;
    const pool = this.pool;
    let p = pair;
    if (p < 0) p = this.queuePairs === 1 ? 0 : Math.floor((pool.hash[i]! * this.queuePairs) / 0x1_0000_0000);
    const vq = this.vqs[2 * p]!;
    const sq = vq.socket!;
    if (vq.dq.broken) {
      this.drop(vq, C.rxDropRingFault, i);
      return;
    }
    if (sq.full) {
      this.drop(vq, vq.waitingBuffers ? C.rxDropNoBuffer : C.rxDropQueueFull, i);
      return;
    }
    let t = 0;
    if (this.model !== null) {
      t = this.model.now();
      const ts = pool.ts[i]!;
      if (ts > t) t = ts;
    }
    sq.push(i, t);
    if (!vq.waitingBuffers) vq.worker.enqueue(vq, t, true);
  }

  /** Free the buffers dropped by the last host-port call. */
  flushFrees(): void {
    if (this.frees.count > 0) this.pool.freeBurst(this.frees);
  }

  private drop(vq: VhostVq, reason: number, i: number): void {
    this.c[reason]! += 1;
    this.c[vq.cDrops]! += 1;
    if (this.frees.count === this.frees.capacity) this.pool.freeBurst(this.frees);
    this.frees.push(i);
  }

  /** Host side without an uplink: take TX frames. */
  takeBacklog(burst: Burst): number {
    return this.backlog.receiveBurst(burst);
  }

  // ---- The worker's step ----

  /** Run one burst of the handler at the head of `w`'s list. */
  step(w: VhostWorker): void {
    const vq = this.vqs[w.headVq()]!;
    const m = w.meter;
    if (!vq.running) this.c[C.works]! += 1;
    const r = vq.isTx ? this.handleTx(vq, m) : this.handleRx(vq, m);
    if (r === DONE) w.dropHead(vq);
    else if (r === REQUEUE) w.requeueHead();
  }

  private noteFault(vq: VhostVq): void {
    if (vq.faultCounted) return;
    vq.faultCounted = true;
    this.c[C.ringFaults]! += 1;
  }

  /** Publish pushed used entries and signal the guest if EVENT_IDX / flags say so (vhost_net_signal_used). */
  private flushUsed(vq: VhostVq, m: Meter): void {
    if (vq.pendingUsed === 0) return;
    vq.pendingUsed = 0;
    if (vq.dq.broken) return;
    const c = this.c;
    if (vq.dq.publishUsed()) {
      c[C.interrupts]! += 1;
      c[C.vmExits]! += 1; // injecting into a running vCPU without posted interrupts forces an exit
      c[vq.cInterrupts]! += 1;
      m.cycles(this.rates.cyclesPerNotification);
      this.guest?.interrupt(vq.index, m.now());
    } else {
      c[C.interruptsSuppressed]! += 1;
      c[vq.cSuppressed]! += 1;
      this.guest?.usedVisible?.(vq.index, m.now());
    }
  }

  private finish(vq: VhostVq, m: Meter): number {
    this.flushUsed(vq, m);
    vq.running = false;
    return DONE;
  }

  /** End of a burst: batch signalling and the weight limit. */
  private endBurst(vq: VhostVq, m: Meter): number {
    if (vq.pendingUsed >= this.usedBatch) this.flushUsed(vq, m);
    if (vq.workPackets >= this.weightPackets || vq.workBytes >= this.weightBytes) {
      this.flushUsed(vq, m);
      vq.running = false;
      this.c[C.weightRequeues]! += 1;
      return REQUEUE;
    }
    return MORE;
  }

  // ---- TX: guest -> host ----

  /** Copy `len` bytes of chain `ch`'s readable part, from byte `from`, to the host pool at `dst`. Returns copy calls (segments touched). */
  private copyFromChain(ch: DescChain, from: number, dst: number, len: number): number {
    readChainViews(this.space, ch, from, this.poolViews, dst, len);
    return this.space.segments;
  }

  /** True when the TX header asks only for what was negotiated and points inside the frame (virtio_net_hdr_to_skb's checks). */
  private txHeaderOk(h: NetHeader, len: number): boolean {
    if ((h.flags & F_NEEDS_CSUM) !== 0) {
      if (!this.fCsum) return false;
      if (h.csumStart + h.csumOffset + 2 > len) return false;
    }
    const ecn = (h.gsoType & GSO_ECN) !== 0;
    const gso = h.gsoType & ~GSO_ECN;
    if (gso === GSO_NONE) return !ecn;
    if (h.gsoSize === 0) return false;
    if (ecn && !this.fHostEcn) return false;
    if (gso === GSO_TCPV4) return this.fHostTso4;
    if (gso === GSO_TCPV6) return this.fHostTso6;
    if (gso === GSO_UDP) return this.fHostUfo;
    if (gso === GSO_UDP_L4) return this.fHostUso;
    return false;
  }

  private handleTx(vq: VhostVq, m: Meter): number {
    const dq = vq.dq;
    const c = this.c;
    if (!vq.running) {
      vq.running = true;
      vq.workPackets = 0;
      vq.workBytes = 0;
      dq.setNotify(false);
    }
    const chains = this.txChains;
    const n = dq.popBurst(chains, this.burst);
    if (dq.broken) this.noteFault(vq);
    if (n === 0) {
      if (dq.broken) return this.finish(vq, m);
      dq.setNotify(true);
      if (dq.pending() > 0) {
        dq.setNotify(false);
        return MORE;
      }
      return this.finish(vq, m);
    }
    c[C.txOffered]! += n;
    const pool = this.pool;
    const out = this.out;
    out.clear();
    const got = pool.allocInto(out.idx, 0, n);
    const h = this.hdr;
    const hl = this.hdrLen;
    const dataRoom = pool.dataRoom;
    const cycByte = this.cycByte;
    const cycCall = this.cycCall;
    let cycles = 0;
    let kept = 0;
    let bytes = 0;
    let copies = 0;
    let copied = 0;
    let drops = 0;
    for (let k = 0; k < n; k++) {
      const ch = chains[k]!;
      dq.pushUsed(ch, 0);
      cycles += this.cycTx;
      if (k >= got) {
        c[C.txDropNoHostBuffer]! += 1;
        drops++;
        continue;
      }
      const i = out.idx[k]!;
      if (ch.count !== ch.readable || ch.readBytes < hl + ETH_HLEN) {
        // Writable descriptors in a TX chain, or no room for header + Ethernet header (get_tx_bufs, tun_get_user).
        c[C.txDropMalformed]! += 1;
        drops++;
        this.frees.push(i);
        continue;
      }
      readChain(this.mem, ch, 0, this.hdrBytes, 0, hl);
      decodeHdr(this.hdrBytes, 0, hl, h);
      copies++;
      copied += hl;
      cycles += cycCall + hl * cycByte;
      const len = ch.readBytes - hl;
      if (!this.txHeaderOk(h, len)) {
        c[C.txDropBadHeader]! += 1;
        drops++;
        this.frees.push(i);
        continue;
      }
      if (len > dataRoom) {
        c[C.txDropTooBig]! += 1;
        drops++;
        this.frees.push(i);
        continue;
      }
      const calls = this.copyFromChain(ch, hl, pool.start(i), len);
      copies += calls;
      copied += len;
      cycles += calls * cycCall + len * cycByte;
      pool.len[i] = len;
      pool.port[i] = vq.pair;
      if (h.flags !== 0 || h.gsoType !== 0) setMeta(pool, i, h);
      out.idx[kept++] = i;
      bytes += len;
    }
    vq.pendingUsed += n;
    c[C.copies]! += copies;
    c[C.copyBytes]! += copied;
    m.cycles(cycles);
    if (this.frees.count > 0) pool.freeBurst(this.frees);
    if (drops > 0) c[vq.cDrops]! += drops;
    out.count = kept;
    if (kept > 0) {
      const t = m.now();
      for (let k = 0; k < kept; k++) pool.ts[out.idx[k]!] = t;
      c[C.txFrames]! += kept;
      c[C.txBytes]! += bytes;
      c[vq.cFrames]! += kept;
      c[vq.cBytes]! += bytes;
      this.deliver(out, vq);
    }
    vq.workPackets += n;
    vq.workBytes += bytes;
    return this.endBurst(vq, m);
  }

  /** Hand TX frames to the uplink (or the backlog); refused ones are dropped and counted. */
  private deliver(out: Burst, vq: VhostVq): void {
    const pool = this.pool;
    const uplink = this.uplink;
    let k: number;
    if (uplink !== null) {
      k = uplink.tx(out);
    } else {
      const room = this.backlog.nwritable();
      k = out.count < room ? out.count : room;
    }
    if (k < out.count) {
      const refused = out.count - k;
      this.c[C.txDropHost]! += refused;
      this.c[vq.cDrops]! += refused;
      // Those frames were counted delivered; they did not make it past the host port.
      this.c[C.txFrames]! -= refused;
      this.c[vq.cFrames]! -= refused;
      let b = 0;
      for (let j = k; j < out.count; j++) b += pool.len[out.idx[j]!]!;
      this.c[C.txBytes]! -= b;
      this.c[vq.cBytes]! -= b;
      pool.freeRange(out.idx, k, out.count);
    }
    // Only what fits (k) goes into the backlog; the refused rest was freed above.
    if (uplink === null) this.backlog.transmitRange(out.idx, 0, k);
    out.clear();
  }

  // ---- RX: host -> guest ----

  /**
   * Make sure the reserve holds enough posted buffers for `need` bytes
   * (get_rx_bufs). Returns the number of heads, NOT_NOW when the ring ran
   * out first, NEVER when the frame cannot fit even a full ring (or one
   * buffer without MRG_RXBUF).
   */
  private gatherRx(vq: VhostVq, need: number): number {
    const dq = vq.dq;
    const maxHeads = this.mergeable ? Math.min(dq.size, UIO_MAXIOV) : 1;
    let sum = 0;
    let k = 0;
    while (sum < need) {
      if (k === maxHeads) return NEVER;
      if (k === vq.resCount) {
        const slot = (vq.resHead + vq.resCount) & vq.resMask;
        const ch = vq.reserve[slot]!;
        vq.one[0] = ch;
        if (dq.popBurst(vq.one, 1) === 0) return NOT_NOW;
        this.c[C.rxBuffers]! += 1;
        if (ch.readable !== 0 || ch.writeBytes === 0) {
          // A receive buffer must be device-writable only (get_rx_bufs: "unexpected descriptor format for RX").
          this.c[C.rxBadBuffers]! += 1;
          dq.pushUsed(ch, 0);
          vq.pendingUsed++;
          continue;
        }
        vq.resCount++;
      }
      sum += vq.reserve[(vq.resHead + k) & vq.resMask]!.writeBytes;
      k++;
    }
    return k;
  }

  /**
   * Write `len` bytes from `src` at `s` into the reserve's first `heads`
   * chains, continuing at stream position `at`. Returns copy calls.
   */
  private writeHeads(vq: VhostVq, heads: number, at: number, src: ByteViews, s: number, len: number): number {
    let skip = at;
    let done = 0;
    let calls = 0;
    const written = vq.written;
    for (let h = 0; h < heads && done < len; h++) {
      const slot = (vq.resHead + h) & vq.resMask;
      const ch = vq.reserve[slot]!;
      if (skip >= ch.writeBytes) {
        skip -= ch.writeBytes;
        continue;
      }
      const n = writeChainViews(this.space, ch, skip, src, s + done, len - done);
      written[slot] = written[slot]! + n;
      skip = 0;
      done += n;
      calls += this.space.segments;
    }
    return calls;
  }

  /** Guest can take this header (GSO types negotiated); resolves NEEDS_CSUM in software when GUEST_CSUM is not (skb_checksum_help). */
  private rxOffloadOk(h: NetHeader, i: number, len: number, m: Meter): boolean {
    if (h.flags === 0 && h.gsoType === 0) return true;
    const ecn = (h.gsoType & GSO_ECN) !== 0;
    const gso = h.gsoType & ~GSO_ECN;
    if (gso !== GSO_NONE) {
      if (ecn && !this.fGuestEcn) return false;
      if (gso === GSO_TCPV4) return this.fGuestTso4;
      if (gso === GSO_TCPV6) return this.fGuestTso6;
      if (gso === GSO_UDP) return this.fGuestUfo;
      if (gso === GSO_UDP_L4) return this.fGuestUso;
      return false;
    }
    if (!this.fGuestCsum) {
      if ((h.flags & F_NEEDS_CSUM) !== 0) {
        const at = h.csumStart + h.csumOffset;
        if (at + 2 > len || h.csumStart >= len) return false;
        const pool = this.pool;
        const s = pool.start(i);
        let sum = internetChecksum(pool.data, s + h.csumStart, len - h.csumStart);
        if (sum === 0) sum = 0xffff;
        pool.data[s + at] = sum >>> 8;
        pool.data[s + at + 1] = sum & 0xff;
        this.c[C.csumResolved]! += 1;
        // Summing the bytes costs about what copying them does.
        m.cycles((len - h.csumStart) * this.cycByte);
      }
      h.flags &= ~(F_NEEDS_CSUM | F_DATA_VALID);
    }
    return true;
  }

  private purgeRx(vq: VhostVq): void {
    const sq = vq.socket!;
    while (sq.size > 0) {
      this.drop(vq, C.rxDropRingFault, sq.peek());
      sq.shift();
    }
    this.flushFrees();
  }

  private handleRx(vq: VhostVq, m: Meter): number {
    const dq = vq.dq;
    const c = this.c;
    if (!vq.running) {
      vq.running = true;
      vq.workPackets = 0;
      vq.workBytes = 0;
      dq.setNotify(false);
    }
    if (dq.broken) {
      this.noteFault(vq);
      this.purgeRx(vq);
      return this.finish(vq, m);
    }
    const sq = vq.socket!;
    const pool = this.pool;
    const h = this.hdr;
    const hl = this.hdrLen;
    const extraCall = this.mergeable ? 1 : 0;
    let done = 0;
    let bytes = 0;
    let result = MORE;
    while (done < this.burst) {
      if (sq.size === 0) {
        result = DONE;
        break;
      }
      if (this.model !== null && sq.peekAt() > m.t) {
        // The next frame is not in the socket yet (modelled time): come back then.
        if (vq.requeueAt < 0 || vq.requeueAt > sq.peekAt()) {
          vq.requeueAt = sq.peekAt();
          this.model.schedule(vq.requeueAt, vq);
        }
        result = DONE;
        break;
      }
      const i = sq.peek();
      const len = pool.len[i]!;
      getMeta(pool, i, h);
      if (!this.rxOffloadOk(h, i, len, m)) {
        sq.shift();
        this.drop(vq, C.rxDropOffload, i);
        m.cycles(this.cycRx);
        continue;
      }
      const need = hl + len;
      const heads = this.gatherRx(vq, need);
      if (heads === NOT_NOW) {
        if (dq.broken) {
          this.noteFault(vq);
          this.purgeRx(vq);
          result = DONE;
          break;
        }
        // Out of buffers: ask for a kick, then look once more (vhost_enable_notify).
        dq.setNotify(true);
        if (dq.pending() > 0) {
          dq.setNotify(false);
          continue;
        }
        vq.waitingBuffers = true;
        result = DONE;
        break;
      }
      if (heads === NEVER) {
        sq.shift();
        this.drop(vq, C.rxDropTooBig, i);
        m.cycles(this.cycRx);
        continue;
      }
      h.numBuffers = this.mergeable ? heads : 1;
      encodeHdr(h, this.hdrBytes, 0, hl);
      let calls = this.writeHeads(vq, heads, 0, this.hdrViews, 0, hl);
      calls += this.writeHeads(vq, heads, hl, this.poolViews, pool.start(i), len);
      calls += extraCall; // Linux writes num_buffers in a second copy (handle_rx's fixup)
      const copiedBytes = hl + len + 2 * extraCall;
      for (let k = 0; k < heads; k++) {
        const slot = (vq.resHead + k) & vq.resMask;
        dq.pushUsed(vq.reserve[slot]!, vq.written[slot]!);
        vq.written[slot] = 0;
      }
      vq.resHead = (vq.resHead + heads) & vq.resMask;
      vq.resCount -= heads;
      vq.pendingUsed += heads;
      sq.shift();
      if (this.frees.count === this.frees.capacity) pool.freeBurst(this.frees);
      this.frees.push(i);
      c[C.copies]! += calls;
      c[C.copyBytes]! += copiedBytes;
      m.cycles(this.cycRx + calls * this.cycCall + copiedBytes * this.cycByte);
      bytes += len;
      done++;
    }
    this.flushFrees();
    if (done > 0) {
      c[C.rxFrames]! += done;
      c[C.rxBytes]! += bytes;
      c[vq.cFrames]! += done;
      c[vq.cBytes]! += bytes;
    }
    vq.workPackets += done;
    vq.workBytes += bytes;
    if (result === DONE) return this.finish(vq, m);
    if (sq.size === 0) return this.finish(vq, m);
    return this.endBurst(vq, m);
  }

  /** Free every host buffer the device holds (socket queues, backlog). Call when it stops. */
  close(): void {
    for (const vq of this.vqs) {
      const sq = vq.socket;
      if (!sq) continue;
      while (sq.size > 0) {
        this.frees.push(sq.peek());
        sq.shift();
        if (this.frees.count === this.frees.capacity) this.pool.freeBurst(this.frees);
      }
    }
    this.flushFrees();
    this.backlog.drain();
  }
}
