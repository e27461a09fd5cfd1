/**
 * The offload device: a hardware virtio-net backend (vDPA style) modelled
 * as a pipeline of typed stages, serving guests' virtqueues directly and
 * switching between them and an uplink.
 *
 * ```
 *  wire ──▶ uplink.tx ─▶ [ingress FIFO] ─▶ mac ─▶ parser ─▶ classifier ─▶ eswitch ─▶ (added stages) ─▶ distributor ─▶ rxChecksum
 *                                                   ▲                                                                     │
 *  guest TX rings ─▶ DMA read ─▶ txOffload (csum, TSO) ┘                                                       queue manager
 *                                                                                                      ┌──────────────┴────────────┐
 *                                                                    guest RX rings ◀─ DMA write ◀── vport frame queues   uplink egress ─▶ wire
 * ```
 *
 * - The guest runs an ordinary virtio-net driver; the device pops its
 *   chains with the `@nfvio/virtio` ring factories over the guest's memory
 *   (`DeviceQueue`), exactly the rings a vhost backend would serve, and
 *   reads and writes the buffers with its DMA engine. Nothing is copied by
 *   the host CPU: bytes moved by DMA are counted (`dmaReadBytes`,
 *   `dmaWriteBytes`) apart from host-CPU copies (`hostCopyBytes`), which no
 *   path of this device makes.
 * - The uplink is a core {@link Port}: `uplink.tx(burst)` hands the device
 *   frames from the wire (it always takes them; a full ingress FIFO or an
 *   empty buffer pool drops and counts), `uplink.rx(burst)` returns frames
 *   the device transmits (or, with `wire`, they are pushed to that port).
 * - Every stage charges its declared cost (profile) on its own hardware
 *   resource through a core {@link Meter}. Under the {@link ModelClock} the
 *   device schedules its engines itself and frames become visible to the
 *   next engine when the previous one's charge says; under real time,
 *   {@link OffloadDevice.poll} runs everything now.
 * - Drops are counted by reason (`drop.<reason>`), so counters conserve:
 *   frames offered = delivered + dropped (+ in flight).
 *
 * Notifications: a guest's kick is a doorbell write to the device (mapped
 * into the guest, as vDPA's host notifiers are), so it costs no VM exit; a
 * used-buffer notification is an interrupt the guest model takes.
 */
import {
  CounterSet,
  DEFAULT_COST_MODEL,
  Meter,
  ModelClock,
  RealClock,
  Resource,
  costRates,
  type Clock,
  type CostRates,
  type CounterSnapshot,
  type EventHandler,
  type Port,
  type ResourceSnapshot,
  type StageRates,
} from "@nfvio/core";
import { Burst, PacketMeta, parse, type PacketPool } from "@nfvio/packet";
import {
  DescChain,
  GuestMemory,
  NetHeader,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_HASH_CONFIG,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_OK,
  decodeHashConfig,
  decodeNetHeader,
  encodeNetHeader,
  featureProblems,
  netHeaderSize,
  byteViews,
  readFromChain,
  ringFactory,
  writeToChain,
  type ByteViews,
  type DeviceQueue,
  type RegionSpec,
  type RingPlacement,
} from "@nfvio/virtio";
import { FlowClassifier, type TableConfig } from "../classifier/classifier.js";
import { MIRROR_UPLINK, VA_MIRROR } from "../classifier/verdict.js";
import { OffloadError } from "../errors.js";
import { parseMac } from "../flow-key.js";
import { RssDistributor, decodeRssCommand } from "../rss.js";
import { GuestSpace, readChain, writeChain } from "./dma.js";
import { completeChecksum, fixTsoSegment, type TsoLayout } from "./offloads.js";
import { BUILTIN_STAGES, GENERIC_SMARTNIC_PROFILE, stageRates, type DeviceProfile, type StageCostSpec, type StageRatesFlat } from "./profile.js";
import { FrameQueue } from "./queues.js";
import {
  DEST_FLOOD,
  DEST_UPLINK,
  LEARN_FULL,
  LEARN_MOVED,
  LEARN_NEW,
  LEARN_NONE,
  PipelineBatch,
  UPLINK_PORT,
  stageFactory,
  stageOptions,
  type DeviceStage,
  type StageDeviceView,
  type StageEnv,
  type StageSpec,
  type VportView,
} from "./stage.js";
import { BUILTIN_PIPELINE } from "./stages.js";

// Hot-path aliases.
const decodeHdr = decodeNetHeader;
const encodeHdr = encodeNetHeader;
const parseFrame = parse;
const NEEDS_CSUM = VIRTIO_NET_HDR_F_NEEDS_CSUM;
const GSO_ECN = VIRTIO_NET_HDR_GSO_ECN;
const GSO_NONE = VIRTIO_NET_HDR_GSO_NONE;
const GSO_TCPV4 = VIRTIO_NET_HDR_GSO_TCPV4;
const GSO_TCPV6 = VIRTIO_NET_HDR_GSO_TCPV6;

/** Segments a popped chain may have (any chain of a ring of up to 256 entries). */
const MAX_SEGMENTS = 256;
/** Receive chains a queue keeps popped ahead (mergeable frames take several). */
const RX_RESERVE = 32;
/** Most segments one TSO frame may produce; more is refused (`txBadGso`). */
export const MAX_TSO_SEGMENTS = 128;
/** Bytes of headers (L2 to the end of TCP) a TSO frame may have. */
const MAX_TSO_HEADERS = 256;

/** Drop reasons of the device itself (stages add theirs). */
export const DEVICE_DROP_REASONS = [
  "ingressOverrun",
  "noBuffer",
  "queueFull",
  "egressFull",
  "tooBig",
  "ringFault",
  "txBadHeader",
  "txBadGso",
  "txTooBig",
  "wireRefused",
  "detached",
] as const;

/** Device-wide counters, in order; then `drop.<reason>`, `<stage>.<counter>` and `vport<k>.*`. */
export const DEVICE_COUNTERS = [
  "wireRxFrames",
  "wireRxBytes",
  "wireTxFrames",
  "wireTxBytes",
  "txChains",
  "txChainBytes",
  "txFrames",
  "tsoFrames",
  "tsoSegments",
  "csumCompleted",
  "deliveredFrames",
  "deliveredBytes",
  "rxBuffersUsed",
  "pipelineFrames",
  "pipelineBatches",
  "dmaReads",
  "dmaReadBytes",
  "dmaWrites",
  "dmaWriteBytes",
  "hostCopies",
  "hostCopyBytes",
  "kicks",
  "vmExits",
  "interrupts",
  "interruptsSuppressed",
  "controlCommands",
  "controlErrors",
  "mirrorCopies",
  "mirrorBytes",
  "mirrorNoBuffer",
  "mirrorNoRoute",
  "floodCopies",
  "floodBytes",
  "floodNoBuffer",
] as const;

/** Per-vport counter suffixes: `vport0.rxFrames`, ... */
export const VPORT_COUNTERS = ["rxFrames", "rxBytes", "txFrames", "txBytes", "kicks", "interrupts", "drops"] as const;

type CounterName = (typeof DEVICE_COUNTERS)[number];
const C = Object.fromEntries(DEVICE_COUNTERS.map((n, i) => [n, i])) as Record<CounterName, number>;

/** What a VMM tells the device about a guest's virtio-net device: memory, negotiated features, rings (virtqueue 2k: receiveq k+1, 2k+1: transmitq k+1). */
export interface VirtioNetSetup {
  /** A ring kind registered with `@nfvio/virtio` ("split" or "packed"). */
  readonly ring: string;
  readonly features: bigint;
  readonly queuePairs: number;
  readonly regions: readonly RegionSpec[];
  readonly queues: readonly RingPlacement[];
}

/** The guest side of used-buffer notifications (a guest model's interrupt entry). */
export interface InterruptSink {
  /** Virtqueue `vq` was signalled; the interrupt arrives at `at` (ns, the device's clock). */
  interrupt(vq: number, at: number): void;
  /** Model clock: used buffers became visible on `vq` at `at` without an interrupt (for polling drivers). */
  usedVisible?(vq: number, at: number): void;
}

/** Options of a vport's attachment. */
export interface AttachOptions {
  /** MAC address of the guest's interface (for east-west and uplink switching). */
  readonly mac?: number | string;
  /** Where interrupts go. */
  readonly guest?: InterruptSink;
}

/** A vport attached from raw queues (tests, custom guests). */
export interface AttachQueues extends AttachOptions {
  readonly mem: GuestMemory;
  readonly features: bigint;
  /** Receive queues, one per pair. */
  readonly rx: readonly DeviceQueue[];
  /** Transmit queues, one per pair (as many as rx). */
  readonly tx: readonly DeviceQueue[];
}

export interface OffloadDeviceOptions {
  /** Name (default "offload"); resources are `<name>.<stage>`. */
  readonly name?: string;
  /** Default {@link GENERIC_SMARTNIC_PROFILE}. */
  readonly profile?: DeviceProfile;
  /** Default a new RealClock. */
  readonly clock?: Clock;
  /** The host cost model as numbers (only its cpuHz is used: the device charges hardware time). */
  readonly cost?: CostRates;
  /** Device buffers; also the pool of the frames the uplink exchanges. */
  readonly pool: PacketPool;
  /** Vport slots (default 4; at most the profile's vports). */
  readonly vports?: number;
  /** Frames per pipeline batch (default 32). */
  readonly burst?: number;
  /** Stages added to the pipeline. */
  readonly stages?: readonly StageSpec[];
  /** Drop frames the parser flags as malformed (default false: forward them, flagged). */
  readonly dropMalformed?: boolean;
  /** Classifier table configurations (keys, miss behaviour). */
  readonly tables?: readonly (TableConfig | undefined)[];
  /** Vport for uplink frames whose MAC matches no vport (default 0; null drops them). */
  readonly defaultVport?: number | null;
  /** Switch vport-to-vport frames by MAC inside the device (default true). */
  readonly eastWest?: boolean;
  /** Where uplink transmissions go; without one they wait for `uplink.rx`. */
  readonly wire?: Port;
  /**
   * The device has an uplink (default true). Without one (a switch between
   * vports only, as `nfvio vhost-user --mode switch` serves), frames the
   * eSwitch would send to it drop as `noRoute` and floods leave it out.
   */
  readonly hasUplink?: boolean;
  /** Learn the source MAC of every frame from a vport as behind that vport (default false: only the MACs given at attach). */
  readonly learn?: boolean;
  /** Learned MAC entries at most (default 4096); past it nothing new is learned (`eswitch.tableFull`). */
  readonly macTableSize?: number;
  /**
   * Flood broadcast, multicast and unknown-unicast frames (default false):
   * from a vport to every other attached vport and the uplink, from the
   * uplink to every attached vport, instead of the uplink / default vport.
   */
  readonly flood?: boolean;
}

/** What {@link OffloadDevice.detachVport} leaves to the caller. */
export interface VportDetach {
  /** Frames queued for the vport that were dropped (`drop.detached`). */
  readonly dropped: number;
  /**
   * Per receive queue: chains popped from the driver's ring and not
   * written, left with the caller (split rings with `rewindSplit`): a
   * vhost-user back-end reports the ring's available index that many
   * entries earlier in GET_VRING_BASE, so the driver's buffers are not
   * lost. They are the last chains popped, in pop order. Empty for packed
   * rings and without `rewindSplit` (those chains are returned used with
   * length 0 and published).
   */
  readonly rxHeld: readonly (readonly DescChain[])[];
  /** Receive chains returned used with length 0 (packed rings, or split ones without `rewindSplit`). */
  readonly returned: number;
}

export interface DetachOptions {
  /** Leave unused receive chains of split rings to the caller (default true); false returns them used with length 0. */
  readonly rewindSplit?: boolean;
}

/** Features an offload device with `profile` offers a guest. */
export function offloadDeviceFeatures(profile: DeviceProfile = GENERIC_SMARTNIC_PROFILE): bigint {
  const o = profile.offloads;
  let f =
    VIRTIO_F_VERSION_1 |
    VIRTIO_F_EVENT_IDX |
    VIRTIO_F_INDIRECT_DESC |
    VIRTIO_F_RING_PACKED |
    VIRTIO_NET_F_MRG_RXBUF |
    VIRTIO_NET_F_MQ |
    VIRTIO_NET_F_CTRL_VQ |
    VIRTIO_NET_F_MAC |
    VIRTIO_NET_F_STATUS |
    VIRTIO_NET_F_MTU;
  if (o.rxChecksum) f |= VIRTIO_NET_F_GUEST_CSUM;
  if (o.txChecksum) f |= VIRTIO_NET_F_CSUM;
  if (o.tso) f |= VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN;
  if (o.rss) f |= VIRTIO_NET_F_RSS;
  if (o.hashReport) f |= VIRTIO_NET_F_HASH_REPORT;
  return f;
}

/** One hardware stage: its flat rates, resource and meter. */
class HwStage {
  readonly resource: Resource;
  readonly meter: Meter;
  readonly flat: StageRatesFlat;
  readonly core: StageRates;

  constructor(
    readonly name: string,
    cost: StageCostSpec,
    device: string,
    clock: Clock,
    rates: CostRates,
  ) {
    this.flat = stageRates(cost);
    this.core = { ratePps: this.flat.ratePps, latencyNs: this.flat.latencyNs, nsPerPacket: this.flat.nsPerPacket };
    this.resource = new Resource(`${device}.${name}`, "hw");
    this.meter = new Meter(clock, rates, this.resource);
  }

  /** Charge `packets` of `bytes` to the running activation. */
  charge(packets: number, bytes: number): void {
    if (packets <= 0) return;
    const m = this.meter;
    m.stage(this.core, packets);
    const f = this.flat;
    if (f.nsPerByte > 0) m.busy((bytes + packets * f.overheadBytes) * f.nsPerByte);
  }

  /** Busy time `packets` of `bytes` take, without charging. */
  service(packets: number, bytes: number): number {
    if (packets <= 0) return 0;
    const f = this.flat;
    return packets * f.nsPerPacket + (bytes + packets * f.overheadBytes) * f.nsPerByte;
  }

  /** begin at `t`, charge, end; returns when the output is visible. */
  run(t: number, packets: number, bytes: number): number {
    const m = this.meter;
    m.begin(t);
    this.charge(packets, bytes);
    const out = m.t + m.outDelay;
    m.end();
    return out;
  }
}

class PipeStage {
  constructor(
    readonly stage: DeviceStage,
    readonly hw: HwStage,
  ) {}
}

class RxQueue {
  readonly fifo: FrameQueue;
  /** Popped chains not yet used: res[resStart .. resEnd). */
  readonly res: DescChain[] = [];
  resStart = 0;
  resEnd = 0;
  readonly one: DescChain[];
  starving = false;
  constructor(
    readonly vq: number,
    readonly dq: DeviceQueue,
    depth: number,
  ) {
    this.fifo = new FrameQueue(depth);
    const segs = Math.min(dq.size, MAX_SEGMENTS);
    for (let k = 0; k < RX_RESERVE; k++) this.res.push(new DescChain(segs));
    this.one = [this.res[0]!];
  }
}

class TxQueue {
  constructor(
    readonly vq: number,
    readonly dq: DeviceQueue,
  ) {}
}

/** A vport's state (the pipeline sees it as a {@link VportView}). */
class VportState implements VportView {
  attached = false;
  rxQueues = 0;
  guestCsum = false;
  hashReport = false;
  rss: RssDistributor | null = null;
  hasher: RssDistributor | null = null;
  features = 0n;
  hdrLen = 12;
  mergeable = false;
  csum = false;
  tso4 = false;
  tso6 = false;
  ecn = false;
  rssFeature = false;
  mac = -1;
  space: GuestSpace | null = null;
  rx: RxQueue[] = [];
  tx: TxQueue[] = [];
  guest: InterruptSink | null = null;
  readonly cRxFrames: number;
  readonly cRxBytes: number;
  readonly cTxFrames: number;
  readonly cTxBytes: number;
  readonly cKicks: number;
  readonly cInterrupts: number;
  readonly cDrops: number;

  constructor(
    readonly id: number,
    counters: CounterSet,
  ) {
    const p = `vport${id}.`;
    this.cRxFrames = counters.id(`${p}rxFrames`);
    this.cRxBytes = counters.id(`${p}rxBytes`);
    this.cTxFrames = counters.id(`${p}txFrames`);
    this.cTxBytes = counters.id(`${p}txBytes`);
    this.cKicks = counters.id(`${p}kicks`);
    this.cInterrupts = counters.id(`${p}interrupts`);
    this.cDrops = counters.id(`${p}drops`);
  }
}

/** A scheduled engine of the device (model clock). */
class Engine implements EventHandler {
  eventAt = -1;
  constructor(
    private readonly dev: OffloadDevice,
    readonly kind: number,
    private readonly clock: ModelClock,
  ) {}

  schedule(t: number): void {
    const now = this.clock.now();
    const at = t > now ? t : now;
    if (this.eventAt >= 0 && this.eventAt <= at) return;
    this.eventAt = at;
    this.clock.schedule(at, this);
  }

  onEvent(time: number): void {
    if (this.eventAt !== time) return; // superseded by an earlier activation
    this.eventAt = -1;
    this.dev.runEngine(this.kind, time);
  }
}

const E_PIPE = 0;
const E_TX = 1;
const E_RX = 2;
const E_EGRESS = 3;

/** The uplink side of the device: frames from the wire in, frames to the wire out. */
class UplinkPort implements Port {
  constructor(private readonly dev: OffloadDevice) {}
  get counters(): CounterSet {
    return this.dev.counters;
  }
  rx(burst: Burst): number {
    return this.dev.takeEgress(burst);
  }
  tx(burst: Burst): number {
    this.dev.acceptWire(burst);
    return burst.count;
  }
}

/**
 * A vport: the device's virtio-net function for one guest. Connect the
 * guest's kicks to it (it is the guest's kick target) and its interrupts to
 * the guest.
 */
export class Vport {
  constructor(
    private readonly dev: OffloadDevice,
    private readonly st: VportState,
  ) {}

  get id(): number {
    return this.st.id;
  }
  get attached(): boolean {
    return this.st.attached;
  }
  get features(): bigint {
    return this.st.features;
  }
  /** Receive queues enabled. */
  get rxQueues(): number {
    return this.st.rxQueues;
  }
  /** The RSS configuration set through VIRTIO_NET_CTRL_MQ_RSS_CONFIG, or null. */
  get rss(): RssDistributor | null {
    return this.st.rss;
  }

  /** Doorbell for virtqueue `vq` (the guest's kick). `from` is the kicking vCPU's meter. */
  kick(vq: number, from: { now(): number } | null = null, count = 1): void {
    this.dev.kickVport(this.st, vq, from, count);
  }

  /** Where interrupts go. */
  connectGuest(target: InterruptSink | null): void {
    this.st.guest = target;
  }

  /** Detach the guest's rings ({@link OffloadDevice.detachVport}); the vport may be attached again. */
  detach(options: DetachOptions = {}): VportDetach {
    return this.dev.detachVport(this.st.id, options);
  }

  /**
   * Execute a control-virtqueue command as the driver writes it
   * (`u8 class, u8 command, command-specific data`, virtio 1.2 §5.1.6.5) and
   * return the ack (VIRTIO_NET_OK or VIRTIO_NET_ERR). Supported: the
   * multiqueue class's VQ_PAIRS_SET, RSS_CONFIG (decoded with
   * `@nfvio/virtio`'s codec, checked against the device's RSS limits) and
   * HASH_CONFIG.
   */
  control(command: Uint8Array): number {
    return this.dev.controlVport(this.st, command);
  }

  /**
   * Serve a control virtqueue (in `mem`, default the guest memory the vport
   * was attached with): execute every available command and write its ack.
   * Returns commands served. Control path: allocates.
   */
  serveControl(dq: DeviceQueue, mem: GuestMemory = this.dev.vportMemory(this.st)): number {
    const chains = [new DescChain(Math.min(dq.size, MAX_SEGMENTS))];
    let n = 0;
    while (dq.popBurst(chains, 1) === 1) {
      const c = chains[0]!;
      const msg = new Uint8Array(c.readBytes);
      readFromChain(mem, c, 0, msg, 0, msg.length);
      const ack = Uint8Array.of(this.control(msg));
      const w = writeToChain(mem, c, 0, ack, 0, 1);
      dq.pushUsed(c, w);
      n++;
    }
    if (n > 0 && dq.publishUsed()) this.st.guest?.interrupt(2 * this.st.rx.length, this.dev.clock.now());
    return n;
  }
}

export class OffloadDevice implements StageDeviceView {
  readonly name: string;
  readonly profile: DeviceProfile;
  readonly clock: Clock;
  readonly pool: PacketPool;
  /** Features offered to guests. */
  readonly features: bigint;
  readonly counters: CounterSet;
  readonly classifier: FlowClassifier;
  /** The wire side (a core Port). */
  readonly uplink: Port;
  readonly vportCount: number;
  readonly defaultVport: number;
  readonly eastWest: boolean;
  readonly hasUplink: boolean;
  readonly learning: boolean;
  readonly flooding: boolean;
  /** Learned MAC entries at most. */
  readonly macTableSize: number;
  /** Stage names of the ingress pipeline, in order. */
  readonly pipeline: readonly string[];

  private readonly model: ModelClock | null;
  private readonly rates: CostRates;
  private readonly c: Float64Array;
  private readonly burst: number;
  private readonly vports: VportState[] = [];
  private readonly handles: Vport[] = [];
  /** Static MACs (given at attach) to vport. */
  private readonly macs = new Map<number, number>();
  /** Learned MACs to vport. */
  private readonly learned = new Map<number, number>();
  private readonly stages: PipeStage[] = [];
  private readonly hw = new Map<string, HwStage>();
  private readonly macRx: HwStage;
  private readonly macTx: HwStage;
  private readonly qm: HwStage;
  private readonly bm: HwStage;
  private readonly dmaRd: HwStage;
  private readonly dmaWr: HwStage;
  private readonly txOff: HwStage;
  private readonly drops = new Map<string, number>();
  private readonly dropCounter: Int32Array;
  private readonly dropNames: string[] = [""];
  private readonly batch: PipelineBatch;
  private readonly wireIn: FrameQueue;
  private readonly vportIn: FrameQueue;
  private readonly egress: FrameQueue;
  private wire: Port | null;
  private readonly engines: Engine[] = [];
  private readonly bufferLimit: number;
  private readonly maxFrame: number;
  private held = 0;
  private pickVportFirst = false;
  /** The TX engine stopped for want of room (pipeline FIFO or buffers); wake it when room comes back. */
  private txBlocked = false;
  // Scratch.
  private readonly frees: Burst;
  private readonly out: Burst;
  private readonly txChains: DescChain[];
  private readonly hdr = new NetHeader();
  private readonly hdrBytes = new Uint8Array(64);
  private readonly hdrSpace: ByteViews;
  private readonly poolSpace: ByteViews;
  private readonly tsoHead = new Uint8Array(MAX_TSO_HEADERS);
  private readonly tsoSpace: ByteViews;
  private readonly tsoMeta = new PacketMeta(false);
  private readonly txMeta = new PacketMeta(false);
  private readonly tsoBufs = new Uint32Array(MAX_TSO_SEGMENTS);
  private readonly tso: TsoLayout = { ipVersion: 4, l3Offset: 0, l4Offset: 0, hdrEnd: 0, seq: 0, ipId: 0 };
  private txNext = 0;
  private readonly floodTargets: Int32Array;

  constructor(options: OffloadDeviceOptions) {
    const profile = options.profile ?? GENERIC_SMARTNIC_PROFILE;
    this.profile = profile;
    this.name = options.name ?? "offload";
    this.clock = options.clock ?? new RealClock();
    this.model = this.clock instanceof ModelClock ? this.clock : null;
    this.rates = options.cost ?? costRates(DEFAULT_COST_MODEL);
    this.pool = options.pool;
    this.features = offloadDeviceFeatures(profile);
    this.burst = options.burst ?? 32;
    if (!Number.isInteger(this.burst) || this.burst < 1 || this.burst > 1024) throw new OffloadError("usage", `burst ${this.burst} must be 1..1024`);
    const nv = options.vports ?? 4;
    if (!Number.isInteger(nv) || nv < 1 || nv > profile.vports.value) throw new OffloadError("usage", `vports ${nv} must be 1..${profile.vports.value} (the profile's)`);
    this.vportCount = nv;
    this.floodTargets = new Int32Array(nv + 1);
    const dv = options.defaultVport === undefined ? 0 : options.defaultVport;
    if (dv !== null && (!Number.isInteger(dv) || dv < 0 || dv >= nv)) throw new OffloadError("usage", `defaultVport ${dv} is not a vport below ${nv}`);
    this.defaultVport = dv ?? -1;
    this.eastWest = options.eastWest ?? true;
    this.hasUplink = options.hasUplink ?? true;
    this.learning = options.learn ?? false;
    this.flooding = options.flood ?? false;
    this.macTableSize = options.macTableSize ?? 4096;
    if (!Number.isInteger(this.macTableSize) || this.macTableSize < 0) throw new OffloadError("usage", `macTableSize ${this.macTableSize} must be a non-negative integer`);
    this.wire = options.wire ?? null;
    this.bufferLimit = profile.buffers.value;
    this.maxFrame = Math.min(profile.maxFrameBytes.value, this.pool.dataRoom);
    this.classifier = new FlowClassifier(profile.classifier, options.tables ?? []);

    // Pipeline layout: built-in kinds, then added stages where they ask to go.
    const specs: { kind: string; name: string; options: unknown; cost: StageCostSpec | undefined }[] = BUILTIN_PIPELINE.map((k) => ({
      kind: k,
      name: k,
      options: k === "parser" ? { dropMalformed: options.dropMalformed ?? false } : {},
      cost: undefined,
    }));
    for (const s of options.stages ?? []) {
      const name = s.name ?? s.kind;
      if (specs.some((x) => x.name === name) || (BUILTIN_STAGES as readonly string[]).includes(name)) {
        throw new OffloadError("usage", `stage name "${name}" is already used in device "${this.name}"`);
      }
      stageFactory(s.kind); // unknown kinds fail here
      let at: number;
      if (s.before !== undefined) {
        at = specs.findIndex((x) => x.name === s.before);
        if (at < 0) throw new OffloadError("usage", `stage "${name}": no stage "${s.before}" to insert before`);
      } else {
        const after = s.after ?? "eswitch";
        const j = specs.findIndex((x) => x.name === after);
        if (j < 0) throw new OffloadError("usage", `stage "${name}": no stage "${after}" to insert after`);
        at = j + 1;
      }
      specs.splice(at, 0, { kind: s.kind, name, options: s.options, cost: s.cost });
    }
    this.pipeline = specs.map((s) => s.name);

    // Counters: device, drop reasons (device + every stage's), stage counters, vports.
    const names: string[] = [...DEVICE_COUNTERS];
    const reasons: string[] = [...DEVICE_DROP_REASONS];
    for (const s of specs) for (const r of stageFactory(s.kind).dropReasons ?? []) if (!reasons.includes(r)) reasons.push(r);
    for (const r of reasons) {
      this.drops.set(r, this.dropNames.length);
      this.dropNames.push(r);
      names.push(`drop.${r}`);
    }
    for (const s of specs) for (const cn of stageFactory(s.kind).counters ?? []) names.push(`${s.name}.${cn}`);
    for (let v = 0; v < nv; v++) for (const s of VPORT_COUNTERS) names.push(`vport${v}.${s}`);
    this.counters = new CounterSet(names);
    this.c = this.counters.values;
    this.dropCounter = new Int32Array(this.dropNames.length);
    for (let k = 1; k < this.dropNames.length; k++) this.dropCounter[k] = this.counters.id(`drop.${this.dropNames[k]}`);

    // Hardware stages.
    const hwStage = (name: string, costName: string, override?: StageCostSpec): HwStage => {
      const cost = override ?? profile.stages[costName];
      if (cost === undefined) throw new OffloadError("usage", `profile "${profile.name}" has no cost for stage "${costName}"`);
      const h = new HwStage(name, cost, this.name, this.clock, this.rates);
      this.hw.set(name, h);
      return h;
    };
    this.macRx = hwStage("macRx", "mac");
    this.macTx = hwStage("macTx", "mac");
    this.qm = hwStage("queueManager", "queueManager");
    this.bm = hwStage("bufferManager", "bufferManager");
    this.dmaRd = hwStage("dmaRead", "dmaRead");
    this.dmaWr = hwStage("dmaWrite", "dmaWrite");
    this.txOff = hwStage("txOffload", "txOffload");

    this.batch = new PipelineBatch(this.burst, this.pool);
    for (let v = 0; v < nv; v++) {
      const st = new VportState(v, this.counters);
      this.vports.push(st);
      this.handles.push(new Vport(this, st));
    }
    for (const s of specs) {
      const f = stageFactory(s.kind);
      const opts = stageOptions(f, s.name, s.options);
      const declared = new Set(f.counters ?? []);
      const env: StageEnv = {
        name: s.name,
        counter: (cn) => {
          if (!declared.has(cn)) throw new OffloadError("usage", `stage "${s.name}" did not declare counter "${cn}"`);
          return this.counters.id(`${s.name}.${cn}`);
        },
        counters: this.c,
        dropCode: (r) => {
          const code = this.drops.get(r);
          if (code === undefined) throw new OffloadError("usage", `stage "${s.name}": drop reason "${r}" is not declared`);
          return code;
        },
        pool: this.pool,
        clock: this.clock,
        device: this,
      };
      const cost = s.cost ?? profile.stages[s.name] ?? f.defaultCost;
      if (cost === undefined) throw new OffloadError("usage", `stage "${s.name}" (${s.kind}) has no cost: add it to the profile's stages, the spec, or the factory's defaultCost`);
      const stage = f.create(opts, env);
      this.stages.push(new PipeStage(stage, hwStage(s.name, s.name, cost)));
    }

    const fifo = profile.ingressFifoFrames.value;
    this.wireIn = new FrameQueue(fifo);
    // Room for a burst of TSO frames beyond the soft limit the TX engine respects.
    this.vportIn = new FrameQueue(fifo + this.burst * MAX_TSO_SEGMENTS);
    this.egress = new FrameQueue(profile.egressFrames.value);
    this.frees = new Burst(Math.max(64, this.burst));
    this.out = new Burst(this.burst);
    this.txChains = [];
    for (let k = 0; k < this.burst; k++) this.txChains.push(new DescChain(MAX_SEGMENTS));
    this.hdrSpace = byteViews(this.hdrBytes.buffer);
    this.poolSpace = byteViews(this.pool.data.buffer);
    this.tsoSpace = byteViews(this.tsoHead.buffer);
    this.uplink = new UplinkPort(this);
    if (this.model !== null) for (const k of [E_PIPE, E_TX, E_RX, E_EGRESS]) this.engines.push(new Engine(this, k, this.model));
  }

  // ---------------------------------------------------------------------------
  // Vports
  // ---------------------------------------------------------------------------

  /** Vport `id`'s handle. */
  vportHandle(id: number): Vport {
    const h = this.handles[id];
    if (!h) throw new OffloadError("usage", `no vport ${id} (device has ${this.vportCount})`);
    return h;
  }

  /** Pipeline view of vport `id`. */
  vport(id: number): VportView | undefined {
    return this.vports[id];
  }

  vportByMac(mac: number): number {
    const v = this.macs.get(mac);
    if (v !== undefined) return v;
    return this.learned.size === 0 ? -1 : (this.learned.get(mac) ?? -1);
  }

  learnMac(mac: number, vport: number): number {
    if (this.macs.has(mac)) return LEARN_NONE; // a static MAC stays where it was given
    const cur = this.learned.get(mac);
    if (cur === vport) return LEARN_NONE;
    if (cur !== undefined) {
      this.learned.set(mac, vport);
      return LEARN_MOVED;
    }
    if (this.learned.size >= this.macTableSize) return LEARN_FULL;
    this.learned.set(mac, vport);
    return LEARN_NEW;
  }

  /** The MAC table: static entries (given at attach) and learned ones, as 48-bit numbers to vport ids. */
  macTable(): { static: Map<number, number>; learned: Map<number, number> } {
    return { static: new Map(this.macs), learned: new Map(this.learned) };
  }

  /**
   * Serve a guest's virtio-net rings on vport `id`, vDPA style: the device
   * queues come from the ring factory over the guest's memory regions.
   */
  attachGuest(id: number, setup: VirtioNetSetup, options: AttachOptions = {}): Vport {
    if (setup.queues.length !== 2 * setup.queuePairs) throw new OffloadError("usage", `setup has ${setup.queues.length} virtqueues for ${setup.queuePairs} queue pairs`);
    const mem = new GuestMemory(setup.regions);
    const factory = ringFactory(setup.ring);
    const rx: DeviceQueue[] = [];
    const tx: DeviceQueue[] = [];
    for (let p = 0; p < setup.queuePairs; p++) {
      rx.push(factory.device(mem, setup.queues[2 * p]!, setup.features));
      tx.push(factory.device(mem, setup.queues[2 * p + 1]!, setup.features));
    }
    return this.attachQueues(id, { ...options, mem, features: setup.features, rx, tx });
  }

  /** Serve already-built device queues on vport `id`. */
  attachQueues(id: number, a: AttachQueues): Vport {
    const st = this.vports[id];
    if (!st) throw new OffloadError("usage", `no vport ${id} (device has ${this.vportCount})`);
    if (st.attached) throw new OffloadError("usage", `vport ${id} is already attached`);
    const f = a.features;
    const extra = f & ~this.features;
    if (extra !== 0n) throw new OffloadError("unsupported", `features 0x${extra.toString(16)} are not offered by device "${this.name}" (profile ${this.profile.name})`);
    if ((f & VIRTIO_F_VERSION_1) === 0n) throw new OffloadError("unsupported", "the offload device is a VIRTIO_F_VERSION_1 (modern) device only");
    const problems = featureProblems(f);
    if (problems.length > 0) throw new OffloadError("malformed", `feature set is invalid: ${problems.join("; ")}`);
    const pairs = a.rx.length;
    if (pairs < 1 || a.tx.length !== pairs) throw new OffloadError("usage", `a vport needs as many transmit as receive queues, at least one (got ${pairs} and ${a.tx.length})`);
    if (pairs > this.profile.maxQueuePairs.value) throw new OffloadError("unsupported", `${pairs} queue pairs exceed the profile's ${this.profile.maxQueuePairs.value}`);
    if (pairs > 1 && (f & VIRTIO_NET_F_MQ) === 0n) throw new OffloadError("malformed", `${pairs} queue pairs need VIRTIO_NET_F_MQ`);
    let mac = -1;
    if (a.mac !== undefined) {
      mac = typeof a.mac === "string" ? parseMac(a.mac) : a.mac;
      const other = this.macs.get(mac);
      if (other !== undefined) throw new OffloadError("usage", `MAC ${a.mac} is already vport ${other}'s`);
    }
    st.features = f;
    st.hdrLen = netHeaderSize(f);
    st.mergeable = (f & VIRTIO_NET_F_MRG_RXBUF) !== 0n;
    st.guestCsum = (f & VIRTIO_NET_F_GUEST_CSUM) !== 0n;
    st.hashReport = (f & VIRTIO_NET_F_HASH_REPORT) !== 0n;
    st.csum = (f & VIRTIO_NET_F_CSUM) !== 0n;
    st.tso4 = (f & VIRTIO_NET_F_HOST_TSO4) !== 0n;
    st.tso6 = (f & VIRTIO_NET_F_HOST_TSO6) !== 0n;
    st.ecn = (f & VIRTIO_NET_F_HOST_ECN) !== 0n;
    st.rssFeature = (f & VIRTIO_NET_F_RSS) !== 0n;
    st.space = new GuestSpace(a.mem);
    st.rx = a.rx.map((dq, p) => new RxQueue(2 * p, dq, this.profile.queueDepthFrames.value));
    st.tx = a.tx.map((dq, p) => new TxQueue(2 * p + 1, dq));
    // Until the driver sends VQ_PAIRS_SET or RSS_CONFIG only the first pair is in use (virtio 1.2 §5.1.6.5.6).
    st.rxQueues = 1;
    st.rss = null;
    st.hasher = null;
    st.guest = a.guest ?? null;
    st.mac = mac;
    if (mac >= 0) {
      this.macs.set(mac, id);
      this.learned.delete(mac);
    }
    st.attached = true;
    for (const q of st.rx) q.dq.setNotify(false);
    for (const q of st.tx) q.dq.setNotify(true);
    return this.handles[id]!;
  }

  /**
   * Detach vport `id`'s guest rings (the driver went away, or stopped its
   * rings): frames queued for it are dropped (`drop.detached`, and the
   * vport's `drops`), its MAC leaves the table with every MAC learned
   * behind it, and the receive chains popped ahead but not written are
   * handed back: a packed ring's are returned used with length 0 and
   * published (a packed ring cannot be rewound), a split ring's are left
   * to the caller in `rxHeld` (`rewindSplit`, default) or returned like
   * the packed ones. Transmit chains are never held (each is returned used
   * when it is read). Frames the vport transmitted that are still in the
   * pipeline go on. The vport can be attached again; its counters go on
   * counting. A broken ring is not touched.
   */
  detachVport(id: number, options: DetachOptions = {}): VportDetach {
    const st = this.vports[id];
    if (!st) throw new OffloadError("usage", `no vport ${id} (device has ${this.vportCount})`);
    if (!st.attached) throw new OffloadError("usage", `vport ${id} is not attached`);
    const rewind = options.rewindSplit ?? true;
    const packed = (st.features & VIRTIO_F_RING_PACKED) !== 0n;
    const code = this.drops.get("detached")!;
    const c = this.c;
    const now = this.clock.now();
    let dropped = 0;
    let returned = 0;
    const rxHeld: DescChain[][] = [];
    for (const q of st.rx) {
      const fifo = q.fifo;
      while (fifo.size > 0) {
        this.dropFrame(fifo.idx[fifo.head]!, code);
        c[st.cDrops]! += 1;
        fifo.shift();
        dropped++;
      }
      const held = q.res.slice(q.resStart, q.resEnd);
      q.resStart = 0;
      q.resEnd = 0;
      if (held.length === 0 || q.dq.broken || (rewind && !packed)) {
        rxHeld.push(held);
        continue;
      }
      for (const ch of held) q.dq.pushUsed(ch, 0);
      returned += held.length;
      this.signal(st, q.dq, q.vq, now);
      rxHeld.push([]);
    }
    for (const [mac, v] of this.learned) if (v === id) this.learned.delete(mac);
    if (st.mac >= 0 && this.macs.get(st.mac) === id) this.macs.delete(st.mac);
    st.mac = -1;
    st.attached = false;
    st.rx = [];
    st.tx = [];
    st.space = null;
    st.guest = null;
    st.rss = null;
    st.hasher = null;
    st.rxQueues = 0;
    this.flushFrees();
    this.unblockTx(now);
    return { dropped, rxHeld, returned };
  }

  /**
   * Real clock: whether {@link poll} has something to do now. When it
   * returns false every attached transmit ring has been left with
   * notifications on (the device asked for a kick when it found the ring
   * empty) and every receive queue with frames waits for buffers with
   * notifications on, so a poller may sleep until a kick. (Out of device
   * buffers, transmit rings are not looked at: the buffers come back as
   * frames are delivered, which receive kicks start.)
   */
  hasWork(): boolean {
    if (this.wireIn.size + this.vportIn.size > 0) return true;
    if (this.wire !== null && this.egress.size > 0) return true;
    const room = this.held < this.bufferLimit && this.vportIn.size < this.profile.ingressFifoFrames.value;
    for (const st of this.vports) {
      if (!st.attached) continue;
      for (const q of st.rx) if (q.fifo.size > 0 && !q.starving && !q.dq.broken) return true;
      if (!room) continue;
      for (const q of st.tx) if (!q.dq.broken && q.dq.pending() > 0) return true;
    }
    return false;
  }

  /** The guest memory vport `st` was attached with (control path). */
  vportMemory(st: VportState): GuestMemory {
    if (st.space === null) throw new OffloadError("usage", `vport ${st.id} is not attached`);
    return st.space.mem;
  }

  kickVport(st: VportState, vq: number, from: { now(): number } | null, count: number): void {
    if (!st.attached || count <= 0) return;
    const p = vq >> 1;
    if (p >= st.rx.length || vq < 0) throw new OffloadError("usage", `kick on virtqueue ${vq}: vport ${st.id} has ${2 * st.rx.length}`);
    this.c[C.kicks]! += count;
    this.c[st.cKicks]! += count;
    const at = from !== null ? from.now() : this.clock.now();
    if ((vq & 1) === 0) {
      const q = st.rx[p]!;
      q.starving = false;
      q.dq.setNotify(false);
      if (q.fifo.size > 0) this.wake(E_RX, at);
    } else this.wake(E_TX, at);
  }

  controlVport(st: VportState, msg: Uint8Array): number {
    this.c[C.controlCommands]! += 1;
    const ack = this.control(st, msg);
    if (ack !== VIRTIO_NET_OK) this.c[C.controlErrors]! += 1;
    return ack;
  }

  private control(st: VportState, msg: Uint8Array): number {
    if (!st.attached || msg.length < 2 || (st.features & VIRTIO_NET_F_CTRL_VQ) === 0n) return VIRTIO_NET_ERR;
    const cls = msg[0]!;
    const cmd = msg[1]!;
    const data = msg.subarray(2);
    if (cls !== VIRTIO_NET_CTRL_MQ) return VIRTIO_NET_ERR;
    const caps = this.profile.classifier.rss;
    const pairs = st.rx.length;
    if (cmd === VIRTIO_NET_CTRL_MQ_RSS_CONFIG) {
      if (!st.rssFeature) return VIRTIO_NET_ERR;
      const cfg = decodeRssCommand(data, caps, pairs);
      if ("ok" in cfg) return VIRTIO_NET_ERR;
      st.rss = new RssDistributor(cfg, { ...caps, maxQueuePairs: pairs });
      st.hasher = st.rss;
      st.rxQueues = pairs;
      return VIRTIO_NET_OK;
    }
    if (cmd === VIRTIO_NET_CTRL_MQ_HASH_CONFIG) {
      if (!st.hashReport) return VIRTIO_NET_ERR;
      try {
        const h = decodeHashConfig(data, { maxKeySize: caps.maxKeySize, supportedHashTypes: caps.supportedHashTypes });
        const base = { hashTypes: h.hashTypes, indirectionTable: [0], unclassifiedQueue: 0 };
        st.hasher = new RssDistributor(h.hashKey.length > 0 ? { ...base, key: h.hashKey } : base, caps);
      } catch {
        return VIRTIO_NET_ERR;
      }
      return VIRTIO_NET_OK;
    }
    if (cmd === VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
      if (data.length !== 2) return VIRTIO_NET_ERR;
      const n = data[0]! | (data[1]! << 8);
      if (n < 1 || n > pairs) return VIRTIO_NET_ERR;
      // Automatic steering replaces RSS (§5.1.6.5.6); this model keeps queue 0 unless a rule steers.
      st.rss = null;
      st.rxQueues = n;
      return VIRTIO_NET_OK;
    }
    return VIRTIO_NET_ERR;
  }

  // ---------------------------------------------------------------------------
  // Wiring, inspection
  // ---------------------------------------------------------------------------

  /** Where uplink transmissions go (null: they wait for `uplink.rx`). */
  connectWire(port: Port | null): void {
    this.wire = port;
    if (port !== null && this.egress.size > 0) this.wake(E_EGRESS, this.clock.now());
  }

  /** Every hardware resource of the device (all of kind "hw"). */
  get resources(): readonly Resource[] {
    return [...this.hw.values()].map((h) => h.resource);
  }

  resourceSnapshot(): Record<string, ResourceSnapshot> {
    const out: Record<string, ResourceSnapshot> = {};
    for (const h of this.hw.values()) out[h.resource.name] = h.resource.snapshot();
    return out;
  }

  /** Buffers the device holds (FIFOs, queues, pipeline). */
  get buffersHeld(): number {
    return this.held;
  }

  /** Frames waiting anywhere in the device. */
  get framesQueued(): number {
    let n = this.wireIn.size + this.vportIn.size + this.egress.size;
    for (const v of this.vports) for (const q of v.rx) n += q.fifo.size;
    return n;
  }

  /** Counter snapshot. */
  snapshot(): CounterSnapshot {
    return this.counters.snapshot();
  }

  /** Sum of the `drop.*` counters. */
  get dropped(): number {
    let n = 0;
    for (let k = 1; k < this.dropNames.length; k++) n += this.c[this.dropCounter[k]!]!;
    return n;
  }

  /**
   * Frames in and out: offered (from the wire, from guests' TX chains,
   * extra segments TSO made, and mirror and flood copies the device made,
   * which `mirrorCopies` and `floodCopies` count apart), delivered (into guests and to the wire),
   * dropped (all reasons) and still in flight. offered = delivered +
   * dropped + inFlight.
   */
  conservation(): { offered: number; delivered: number; dropped: number; inFlight: number } {
    const c = this.c;
    return {
      offered: c[C.wireRxFrames]! + c[C.txChains]! + c[C.tsoSegments]! - c[C.tsoFrames]! + c[C.mirrorCopies]! + c[C.floodCopies]!,
      delivered: c[C.deliveredFrames]! + c[C.wireTxFrames]!,
      dropped: this.dropped,
      inFlight: this.framesQueued,
    };
  }

  // ---------------------------------------------------------------------------
  // Scheduling
  // ---------------------------------------------------------------------------

  private wake(kind: number, at: number): void {
    if (this.model !== null) this.engines[kind]!.schedule(at);
  }

  /** Model clock: an engine's activation. */
  runEngine(kind: number, time: number): void {
    if (kind === E_PIPE) this.pipeWork(time);
    else if (kind === E_TX) this.txWork(time);
    else if (kind === E_RX) this.rxWork(time);
    else this.egressWork();
  }

  /**
   * Real clock: run every engine now (TX rings, the pipeline until its
   * FIFOs are empty, RX delivery, egress). Returns true when work was done.
   */
  poll(): boolean {
    const now = this.clock.now();
    const before = this.c[C.pipelineFrames]! + this.c[C.txChains]! + this.c[C.deliveredFrames]! + this.c[C.wireTxFrames]! + this.dropped;
    this.txWork(now);
    for (let k = 0; k < 64 && this.wireIn.size + this.vportIn.size > 0; k++) this.pipeWork(now);
    this.rxWork(now);
    if (this.wire !== null) this.egressWork();
    return this.c[C.pipelineFrames]! + this.c[C.txChains]! + this.c[C.deliveredFrames]! + this.c[C.wireTxFrames]! + this.dropped !== before;
  }

  // ---------------------------------------------------------------------------
  // Frames from the wire
  // ---------------------------------------------------------------------------

  private dropFrame(i: number, code: number): void {
    this.c[this.dropCounter[code]!]! += 1;
    this.free(i);
  }

  private free(i: number): void {
    this.held--;
    if (this.frees.count === this.frees.capacity) this.pool.freeBurst(this.frees);
    this.frees.push(i);
  }

  private flushFrees(): void {
    if (this.frees.count > 0) this.pool.freeBurst(this.frees);
  }

  /** Uplink: take a burst from the wire (ownership passes to the device). */
  acceptWire(burst: Burst): void {
    const pool = this.pool;
    const now = this.clock.now();
    const c = this.c;
    const overrun = this.drops.get("ingressOverrun")!;
    const noBuf = this.drops.get("noBuffer")!;
    let first = Infinity;
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const len = pool.len[i]!;
      c[C.wireRxFrames]! += 1;
      c[C.wireRxBytes]! += len;
      this.held++;
      if (this.held > this.bufferLimit) {
        this.dropFrame(i, noBuf);
        continue;
      }
      const ts = pool.ts[i]!;
      const at = this.model === null ? 0 : ts > now ? ts : now;
      if (!this.wireIn.push(i, at, UPLINK_PORT, 0, 0, 0)) {
        this.dropFrame(i, overrun);
        continue;
      }
      if (at < first) first = at;
    }
    this.flushFrees();
    if (first !== Infinity) this.wake(E_PIPE, this.wireIn.headAt());
  }

  // ---------------------------------------------------------------------------
  // The ingress pipeline
  // ---------------------------------------------------------------------------

  private pipeWork(now: number): void {
    const b = this.batch;
    const pool = this.pool;
    const model = this.model !== null;
    b.count = 0;
    const readyBy = model ? now : Infinity;
    if (model) {
      // Admit a batch only when every stage will be free as it reaches it, so that
      // overload backs up into the FIFOs (and drops there) instead of into the future.
      const gate = this.pipeGate(readyBy);
      if (gate > now) {
        this.wake(E_PIPE, gate);
        return;
      }
    }
    // Alternate which source fills the batch first, so neither starves.
    this.pickVportFirst = !this.pickVportFirst;
    if (this.pickVportFirst) {
      this.take(this.vportIn, b, readyBy);
      this.take(this.wireIn, b, readyBy);
    } else {
      this.take(this.wireIn, b, readyBy);
      this.take(this.vportIn, b, readyBy);
    }
    let nWire = 0;
    let wireBytes = 0;
    for (let k = 0; k < b.count; k++) {
      if (b.inPort[k] === UPLINK_PORT) {
        nWire++;
        wireBytes += pool.len[b.idx[k]!]!;
      }
    }
    if (b.count > 0) {
      let t = now;
      if (nWire > 0) {
        // The MAC and the buffer manager see only the wire's frames.
        t = this.macRx.run(now, nWire, wireBytes);
        this.bm.run(now, nWire, 0);
      }
      this.c[C.pipelineBatches]! += 1;
      this.c[C.pipelineFrames]! += b.count;
      for (const ps of this.stages) {
        const n = b.count;
        if (n === 0) break;
        const bytes = b.aliveBytes();
        const m = ps.hw.meter;
        m.begin(t);
        ps.stage.process(b, m);
        ps.hw.charge(n, bytes);
        t = m.t + m.outDelay;
        m.end();
        this.compact(b);
      }
      if (b.count > 0) this.enqueue(b, this.qm.run(t, b.count, 0));
      this.flushFrees();
    }
    this.unblockTx(now);
    if (model) {
      const next = Math.min(this.wireIn.headAt(), this.vportIn.headAt());
      if (next !== Infinity) {
        // When the next batch's first stage is free; the gate decides the rest then.
        const first = this.wireIn.size > 0 ? this.macRx.resource.busyUntil : this.stages[0]!.hw.resource.busyUntil;
        this.wake(E_PIPE, next > first ? next : first);
      }
    }
  }

  /**
   * Earliest time the batch ready now may enter the pipeline so that it
   * waits at no stage for more than one burst's worth of work: for each
   * stage, when it is free, minus how long the batch takes to reach it,
   * minus the time a full burst takes there (the buffer between stages).
   * Overload therefore backs up into the FIFOs within about a burst per
   * stage, never into an unbounded queue in the resources' future.
   */
  private pipeGate(readyBy: number): number {
    const pool = this.pool;
    let nW = 0;
    let bW = 0;
    let n = 0;
    let bytes = 0;
    const room = this.batch.size;
    for (let k = 0; k < this.wireIn.size && n < room; k++) {
      const s = this.wireIn.slot(k);
      if (this.wireIn.at[s]! > readyBy) break;
      const l = pool.len[this.wireIn.idx[s]!]!;
      nW++;
      bW += l;
      n++;
      bytes += l;
    }
    for (let k = 0; k < this.vportIn.size && n < room; k++) {
      const s = this.vportIn.slot(k);
      if (this.vportIn.at[s]! > readyBy) break;
      n++;
      bytes += pool.len[this.vportIn.idx[s]!]!;
    }
    if (n === 0) return -Infinity;
    // A full burst of frames of this batch's mean size.
    const full = room;
    const fullBytes = (bytes / n) * room;
    let gate = -Infinity;
    let off = 0;
    if (nW > 0) {
      gate = this.macRx.resource.busyUntil - this.macRx.service(full, fullBytes);
      off = this.macRx.service(nW, bW) + this.macRx.flat.latencyNs;
    }
    for (const ps of this.stages) {
      const g = ps.hw.resource.busyUntil - off - ps.hw.service(full, fullBytes);
      if (g > gate) gate = g;
      off += ps.hw.service(n, bytes) + ps.hw.flat.latencyNs;
    }
    const g = this.qm.resource.busyUntil - off - this.qm.service(full, fullBytes);
    return g > gate ? g : gate;
  }

  /** Move ready frames from `q` into the batch while it has room. */
  private take(q: FrameQueue, b: PipelineBatch, readyBy: number): void {
    while (b.count < b.size && q.size > 0 && q.at[q.head]! <= readyBy) {
      b.push(q.idx[q.head]!, q.port[q.head]!, q.at[q.head]!);
      q.shift();
    }
  }

  /** Free the batch's dropped frames (counted by reason) and close the gaps. */
  private compact(b: PipelineBatch): void {
    let w = 0;
    for (let k = 0; k < b.count; k++) {
      const d = b.drop[k]!;
      if (d !== 0) {
        this.dropFrame(b.idx[k]!, d);
        const ip = b.inPort[k]!;
        if (ip !== UPLINK_PORT && ip < this.vports.length) this.c[this.vports[ip]!.cDrops]! += 1;
        continue;
      }
      if (w !== k) {
        b.idx[w] = b.idx[k]!;
        b.inPort[w] = b.inPort[k]!;
        const m = b.metas[w]!;
        b.metas[w] = b.metas[k]!;
        b.metas[k] = m;
        const key = b.keys[w]!;
        b.keys[w] = b.keys[k]!;
        b.keys[k] = key;
        copyVerdict(b, k, w);
        b.dest[w] = b.dest[k]!;
        b.queue[w] = b.queue[k]!;
        b.hash[w] = b.hash[k]!;
        b.hashReport[w] = b.hashReport[k]!;
        b.hdrFlags[w] = b.hdrFlags[k]!;
        b.drop[w] = 0;
        b.arrival[w] = b.arrival[k]!;
      }
      w++;
    }
    b.count = w;
  }

  /** Queue manager: each frame into its vport queue or the uplink's egress queue, at time `t`. */
  private enqueue(b: PipelineBatch, t: number): void {
    const at = this.model !== null ? t : 0;
    const full = this.drops.get("queueFull")!;
    const eFull = this.drops.get("egressFull")!;
    const fault = this.drops.get("ringFault")!;
    let rxWake = false;
    let egWake = false;
    const acts = b.verdicts.actions;
    for (let k = 0; k < b.count; k++) {
      const i = b.idx[k]!;
      const d = b.dest[k]!;
      if (acts[k]! & VA_MIRROR) {
        const r = this.mirrorCopy(i, b.verdicts.mirror[k]!, at);
        if (r === 1) rxWake = true;
        else if (r === 2) egWake = true;
      }
      if (d === DEST_UPLINK) {
        if (this.egress.push(i, at, 0, 0, 0, 0)) egWake = true;
        else this.dropFrame(i, eFull);
        continue;
      }
      if (d === DEST_FLOOD) {
        const r = this.floodFrame(i, b.inPort[k]!, at);
        if ((r & 1) !== 0) rxWake = true;
        if ((r & 2) !== 0) egWake = true;
        continue;
      }
      const q = this.vports[d]!.rx[b.queue[k]!]!;
      if (q.dq.broken) this.dropFrame(i, fault);
      else if (q.fifo.push(i, at, b.inPort[k]!, b.hash[k]!, b.hashReport[k]!, b.hdrFlags[k]!)) rxWake = true;
      else {
        this.dropFrame(i, full);
        this.c[this.vports[d]!.cDrops]! += 1;
      }
    }
    if (rxWake) this.wake(E_RX, t);
    // Without a wire port the event only marks when frames become ready for `uplink.rx` (a model engine breathes then).
    if (egWake) this.wake(E_EGRESS, t);
  }

  /**
   * Mirror action: a copy of frame `i` (as it leaves the pipeline, after any
   * rewrite) into a fresh device buffer, moved inside the device (counted in
   * `mirrorBytes`, never in `hostCopyBytes`), queued to the uplink or to
   * receive queue 0 of the target vport. No buffer: `mirrorNoBuffer`; a
   * target vport not attached: `mirrorNoRoute`; the original goes on either
   * way. Returns 1 when queued to a vport, 2 to the uplink, 0 otherwise.
   */
  private mirrorCopy(i: number, target: number, at: number): number {
    const c = this.c;
    let st: VportState | undefined;
    if (target !== MIRROR_UPLINK) {
      st = this.vports[target];
      if (st === undefined || !st.attached || st.rx.length === 0) {
        c[C.mirrorNoRoute]! += 1;
        return 0;
      }
    }
    const j = this.dupFrame(i);
    if (j < 0) {
      c[C.mirrorNoBuffer]! += 1;
      return 0;
    }
    const len = this.pool.len[i]!;
    c[C.mirrorCopies]! += 1;
    c[C.mirrorBytes]! += len;
    if (st === undefined) {
      if (this.egress.push(j, at, 0, 0, 0, 0)) return 2;
      this.dropFrame(j, this.drops.get("egressFull")!);
      return 0;
    }
    const q = st.rx[0]!;
    if (q.dq.broken) this.dropFrame(j, this.drops.get("ringFault")!);
    else if (q.fifo.push(j, at, UPLINK_PORT, 0, 0, 0)) return 1;
    else {
      this.dropFrame(j, this.drops.get("queueFull")!);
      c[st.cDrops]! += 1;
    }
    return 0;
  }

  /** A copy of frame `i` in a fresh device buffer (moved inside the device), or -1 when no buffer is free. */
  private dupFrame(i: number): number {
    if (this.held >= this.bufferLimit) return -1;
    const pool = this.pool;
    const j = pool.alloc();
    if (j < 0) return -1;
    const len = pool.len[i]!;
    const o = pool.append(j, len);
    if (o < 0) {
      pool.free(j);
      return -1;
    }
    const src = pool.start(i);
    pool.data.copyWithin(o, src, src + len);
    pool.mark[j] = pool.mark[i]!;
    this.held++;
    return j;
  }

  /**
   * Flood frame `i` (from vport `from`, or the uplink): to receive queue 0
   * of every other attached vport whose ring is not broken, and to the
   * uplink when it came from a vport and the device has one. The last
   * target gets the frame, the others device-made copies (`floodCopies`,
   * `floodBytes`; none made when no buffer is free: `floodNoBuffer`). No
   * target at all: dropped as `noRoute`. Returns bit 0 when something was
   * queued to a vport, bit 1 to the uplink.
   */
  private floodFrame(i: number, from: number, at: number): number {
    const c = this.c;
    const targets = this.floodTargets;
    let n = 0;
    for (const st of this.vports) {
      if (!st.attached || st.id === from || st.rx.length === 0 || st.rx[0]!.dq.broken) continue;
      targets[n++] = st.id;
    }
    if (from !== UPLINK_PORT && this.hasUplink) targets[n++] = DEST_UPLINK;
    if (n === 0) {
      this.dropFrame(i, this.drops.get("noRoute")!);
      if (from !== UPLINK_PORT && from < this.vports.length) c[this.vports[from]!.cDrops]! += 1;
      return 0;
    }
    const len = this.pool.len[i]!;
    let r = 0;
    for (let t = 0; t < n; t++) {
      let j = i;
      if (t < n - 1) {
        j = this.dupFrame(i);
        if (j < 0) {
          c[C.floodNoBuffer]! += 1;
          continue;
        }
        c[C.floodCopies]! += 1;
        c[C.floodBytes]! += len;
      }
      const d = targets[t]!;
      if (d === DEST_UPLINK) {
        if (this.egress.push(j, at, 0, 0, 0, 0)) r |= 2;
        else this.dropFrame(j, this.drops.get("egressFull")!);
        continue;
      }
      const st = this.vports[d]!;
      if (st.rx[0]!.fifo.push(j, at, from, 0, 0, 0)) r |= 1;
      else {
        this.dropFrame(j, this.drops.get("queueFull")!);
        c[st.cDrops]! += 1;
      }
    }
    return r;
  }

  // ---------------------------------------------------------------------------
  // DMA into guests' receive rings
  // ---------------------------------------------------------------------------

  private rxWork(now: number): void {
    const model = this.model !== null;
    if (model && this.dmaWr.resource.busyUntil > now) {
      this.wake(E_RX, this.dmaWr.resource.busyUntil);
      return;
    }
    const m = this.dmaWr.meter;
    m.begin(now);
    let next = Infinity;
    let more = false;
    for (const st of this.vports) {
      if (!st.attached) continue;
      for (const q of st.rx) {
        const fifo = q.fifo;
        if (fifo.size === 0) continue;
        if (q.dq.broken) {
          // A broken ring (DEVICE_NEEDS_RESET) takes nothing more: its frames are dropped.
          const fault = this.drops.get("ringFault")!;
          while (fifo.size > 0) {
            this.dropFrame(fifo.idx[fifo.head]!, fault);
            this.c[st.cDrops]! += 1;
            fifo.shift();
          }
          continue;
        }
        if (q.starving) continue;
        const n = this.deliver(st, q, model ? now : Infinity);
        if (n > 0) this.signal(st, q.dq, q.vq, model ? m.t + this.dmaWr.flat.latencyNs : this.clock.now());
        if (fifo.size > 0 && !q.starving) {
          const h = fifo.headAt();
          if (!model || h <= now) more = true;
          else if (h < next) next = h;
        }
      }
    }
    const busyEnd = m.t;
    m.end();
    this.flushFrees();
    this.unblockTx(now);
    if (model) {
      if (more) this.wake(E_RX, busyEnd);
      else if (next !== Infinity) this.wake(E_RX, next > busyEnd ? next : busyEnd);
    }
  }

  /** Deliver up to a burst of ready frames of `q`; returns how many. Charges the DMA write engine. */
  private deliver(st: VportState, q: RxQueue, readyBy: number): number {
    const fifo = q.fifo;
    const pool = this.pool;
    const space = st.space!;
    const hl = st.hdrLen;
    const h = this.hdr;
    const c = this.c;
    const tooBig = this.drops.get("tooBig")!;
    let n = 0;
    let bytes = 0;
    let used = 0;
    while (n < this.burst && fifo.size > 0 && fifo.at[fifo.head]! <= readyBy) {
      const slot = fifo.head;
      const i = fifo.idx[slot]!;
      const len = pool.len[i]!;
      const need = hl + len;
      // Chains for this frame: one, or (mergeable) as many as it takes.
      let have = 0;
      let nb = 0;
      let ok = true;
      for (;;) {
        if (q.resStart + nb === q.resEnd) {
          if (!this.popRx(q)) {
            ok = false;
            break;
          }
        }
        have += q.res[q.resStart + nb]!.writeBytes;
        nb++;
        if (have >= need) break;
        if (!st.mergeable || nb === RX_RESERVE) {
          // The frame can never fit: drop it and keep the buffers.
          nb = -1;
          break;
        }
      }
      if (!ok) {
        q.starving = true;
        q.dq.setNotify(true);
        // A buffer may have been posted before notifications came back on.
        if (!q.dq.broken && q.dq.pending() > 0) {
          q.starving = false;
          q.dq.setNotify(false);
          continue;
        }
        break;
      }
      fifo.shift();
      if (nb < 0) {
        this.dropFrame(i, tooBig);
        c[st.cDrops]! += 1;
        continue;
      }
      // Header: flags, num_buffers, hash fields.
      h.reset();
      h.flags = fifo.flags[slot]!;
      h.numBuffers = nb;
      if (st.hashReport) {
        h.hashReport = fifo.report[slot]!;
        h.hashValue = fifo.hash[slot]!;
      }
      encodeHdr(h, this.hdrBytes, 0, hl);
      let src = pool.start(i);
      let left = len;
      for (let j = 0; j < nb; j++) {
        const ch = q.res[q.resStart + j]!;
        let w = 0;
        if (j === 0) w = writeChain(space, ch, 0, this.hdrSpace, 0, hl);
        const chunk = ch.writeBytes - w < left ? ch.writeBytes - w : left;
        w += writeChain(space, ch, w, this.poolSpace, src, chunk);
        src += chunk;
        left -= chunk;
        q.dq.pushUsed(ch, w);
      }
      q.resStart += nb;
      used += nb;
      this.free(i);
      n++;
      bytes += need;
      c[C.deliveredFrames]! += 1;
      c[C.deliveredBytes]! += len;
      c[st.cRxFrames]! += 1;
      c[st.cRxBytes]! += len;
    }
    if (n > 0) {
      this.dmaWr.charge(n, bytes);
      c[C.dmaWrites]! += n;
      c[C.dmaWriteBytes]! += bytes;
      c[C.rxBuffersUsed]! += used;
    }
    return n;
  }

  /** Pop one more receive chain into `q`'s reserve. */
  private popRx(q: RxQueue): boolean {
    if (q.resStart === q.resEnd) {
      q.resStart = 0;
      q.resEnd = 0;
    } else if (q.resEnd === q.res.length) {
      if (q.resStart === 0) return false;
      // Move the unused chains to the front (swap objects, nothing copied).
      let w = 0;
      for (let k = q.resStart; k < q.resEnd; k++, w++) {
        const x = q.res[w]!;
        q.res[w] = q.res[k]!;
        q.res[k] = x;
      }
      q.resStart = 0;
      q.resEnd = w;
    }
    q.one[0] = q.res[q.resEnd]!;
    if (q.dq.popBurst(q.one, 1) !== 1) return false;
    q.resEnd++;
    return true;
  }

  /** Publish used entries and notify the guest as the ring's suppression says. */
  private signal(st: VportState, dq: DeviceQueue, vq: number, at: number): void {
    const g = st.guest;
    if (dq.publishUsed()) {
      this.c[C.interrupts]! += 1;
      this.c[st.cInterrupts]! += 1;
      if (g !== null) g.interrupt(vq, at);
    } else {
      this.c[C.interruptsSuppressed]! += 1;
      if (g !== null && this.model !== null && g.usedVisible !== undefined) g.usedVisible(vq, at);
    }
  }

  // ---------------------------------------------------------------------------
  // DMA from guests' transmit rings, transmit offloads
  // ---------------------------------------------------------------------------

  private txWork(now: number): void {
    const model = this.model !== null;
    if (model && this.dmaRd.resource.busyUntil > now) {
      this.wake(E_TX, this.dmaRd.resource.busyUntil);
      return;
    }
    const soft = this.profile.ingressFifoFrames.value;
    let more = false;
    const nv = this.vports.length;
    const start = this.txNext;
    this.txNext = (this.txNext + 1) % nv;
    const rd = this.dmaRd.meter;
    rd.begin(now);
    for (let o = 0; o < nv; o++) {
      const st = this.vports[(start + o) % nv]!;
      if (!st.attached) continue;
      for (const q of st.tx) {
        const dq = q.dq;
        if (dq.broken) continue;
        const room = Math.min(this.burst, soft - this.vportIn.size, this.bufferLimit - this.held);
        if (room <= 0) {
          // Back-pressure: the chains stay in the ring until the pipeline or a delivery frees room.
          if (dq.pending() > 0) this.txBlocked = true;
          continue;
        }
        const before = this.vportIn.size;
        const n = dq.popBurst(this.txChains, room);
        if (n === 0) {
          dq.setNotify(true);
          if (!dq.broken && dq.pending() > 0) {
            dq.setNotify(false);
            more = true;
          }
          continue;
        }
        dq.setNotify(false);
        let chainBytes = 0;
        let frames = 0;
        let frameBytes = 0;
        for (let k = 0; k < n; k++) {
          const ch = this.txChains[k]!;
          chainBytes += ch.readBytes;
          const made = this.txChain(st, ch);
          frames += made;
          dq.pushUsed(ch, 0);
        }
        for (let k = before; k < this.vportIn.size; k++) frameBytes += this.pool.len[this.vportIn.idx[this.vportIn.slot(k)]!]!;
        this.dmaRd.charge(n, chainBytes);
        this.c[C.dmaReads]! += n;
        this.c[C.dmaReadBytes]! += chainBytes;
        const tRead = rd.t + this.dmaRd.flat.latencyNs;
        // TX offloads (checksum, TSO) on the frames this burst made.
        const tOut = frames > 0 ? this.txOff.run(tRead, frames, frameBytes) : tRead;
        if (model) this.vportIn.stampFrom(before, tOut);
        this.signal(st, dq, q.vq, model ? tRead : this.clock.now());
        if (n === room || dq.pending() > 0) more = true;
        else {
          // The burst emptied the ring: ask for a kick before going idle, then look once more, since the
          // driver may have added buffers before it saw the flag (virtio 1.2 §2.7.10, §2.8.10).
          dq.setNotify(true);
          if (!dq.broken && dq.pending() > 0) {
            dq.setNotify(false);
            more = true;
          }
        }
      }
    }
    const end = rd.t;
    rd.end();
    this.flushFrees();
    if (model) {
      if (this.vportIn.size > 0) this.wake(E_PIPE, this.vportIn.headAt());
      if (more) this.wake(E_TX, end);
    }
  }

  /** Wake the TX engine if it waits for room that is now there. */
  private unblockTx(now: number): void {
    if (this.txBlocked && this.held < this.bufferLimit && this.vportIn.size < this.profile.ingressFifoFrames.value) {
      this.txBlocked = false;
      this.wake(E_TX, now);
    }
  }

  private allocTx(): number {
    if (this.held >= this.bufferLimit) return -1;
    const i = this.pool.alloc();
    if (i >= 0) this.held++;
    return i;
  }

  /** Read one transmit chain into device buffers (segmenting TSO frames) and queue them for the pipeline. Returns frames made. */
  private txChain(st: VportState, ch: DescChain): number {
    const c = this.c;
    const hl = st.hdrLen;
    const space = st.space!;
    const total = ch.readBytes;
    c[C.txChains]! += 1;
    c[C.txChainBytes]! += total;
    c[st.cTxFrames]! += 1;
    c[st.cTxBytes]! += total - hl;
    const h = this.hdr;
    if (total < hl + 14 || readChain(space, ch, 0, this.hdrSpace, 0, hl) !== hl || !decodeHdr(this.hdrBytes, 0, hl, h)) {
      this.txDrop(st, "txBadHeader");
      return 0;
    }
    const len = total - hl;
    if (h.gsoType !== GSO_NONE) return this.txTso(st, ch, len);
    if (len > this.maxFrame) {
      this.txDrop(st, "txTooBig");
      return 0;
    }
    if ((h.flags & NEEDS_CSUM) !== 0 && !st.csum) {
      this.txDrop(st, "txBadHeader");
      return 0;
    }
    const i = this.allocTx();
    if (i < 0) {
      this.txDrop(st, "noBuffer");
      return 0;
    }
    const pool = this.pool;
    const s = pool.start(i);
    readChain(space, ch, hl, this.poolSpace, s, len);
    pool.len[i] = len;
    if ((h.flags & NEEDS_CSUM) !== 0) {
      parseFrame(pool.data, s, len, this.txMeta);
      const udp = this.txMeta.l4Proto === 17 && this.txMeta.l4Offset - s === h.csumStart;
      if (!completeChecksum(pool.data, s, len, h.csumStart, h.csumOffset, udp)) {
        this.dropFrame(i, this.drops.get("txBadHeader")!);
        c[st.cDrops]! += 1;
        return 0;
      }
      c[C.csumCompleted]! += 1;
    }
    this.vportIn.push(i, 0, st.id, 0, 0, 0, true);
    c[C.txFrames]! += 1;
    return 1;
  }

  private txDrop(st: VportState, reason: string): void {
    this.c[this.dropCounter[this.drops.get(reason)!]!]! += 1;
    this.c[st.cDrops]! += 1;
  }

  /** TCP segmentation of one chain's frame of `len` bytes (header already decoded into `this.hdr`). */
  private txTso(st: VportState, ch: DescChain, len: number): number {
    const h = this.hdr;
    const gso = h.gsoType & ~GSO_ECN;
    const ecn = (h.gsoType & GSO_ECN) !== 0;
    const mss = h.gsoSize;
    if ((gso !== GSO_TCPV4 && gso !== GSO_TCPV6) || (gso === GSO_TCPV4 && !st.tso4) || (gso === GSO_TCPV6 && !st.tso6) || (ecn && !st.ecn) || mss === 0) {
      this.txDrop(st, "txBadGso");
      return 0;
    }
    const space = st.space!;
    const hl = st.hdrLen;
    const head = Math.min(len, MAX_TSO_HEADERS);
    readChain(space, ch, hl, this.tsoSpace, 0, head);
    const m = this.tsoMeta;
    parseFrame(this.tsoHead, 0, head, m);
    const want = gso === GSO_TCPV4 ? 0x0800 : 0x86dd;
    if (m.etherType !== want || m.l4Proto !== 6 || m.l4Offset < 0 || m.payloadOffset < 0) {
      this.txDrop(st, "txBadGso");
      return 0;
    }
    const hdrEnd = m.payloadOffset;
    const payload = len - hdrEnd;
    const nseg = payload <= 0 ? 1 : Math.ceil(payload / mss);
    if (nseg > MAX_TSO_SEGMENTS || hdrEnd + Math.min(mss, Math.max(payload, 0)) > this.maxFrame) {
      this.txDrop(st, "txBadGso");
      return 0;
    }
    const segs = this.tsoBufs;
    const got = this.held + nseg > this.bufferLimit ? 0 : this.pool.allocInto(segs, 0, nseg);
    if (got < nseg) {
      this.pool.freeRange(segs, 0, got);
      this.txDrop(st, "noBuffer");
      return 0;
    }
    this.held += nseg;
    const L = this.tso;
    const b = this.tsoHead;
    L.ipVersion = gso === GSO_TCPV4 ? 4 : 6;
    L.l3Offset = m.l3Offset;
    L.l4Offset = m.l4Offset;
    L.hdrEnd = hdrEnd;
    L.seq = ((b[m.l4Offset + 4]! << 24) | (b[m.l4Offset + 5]! << 16) | (b[m.l4Offset + 6]! << 8) | b[m.l4Offset + 7]!) >>> 0;
    L.ipId = L.ipVersion === 4 ? (b[m.l3Offset + 4]! << 8) | b[m.l3Offset + 5]! : 0;
    const pool = this.pool;
    for (let k = 0; k < nseg; k++) {
      const i = segs[k]!;
      const s = pool.start(i);
      const chunk = payload <= 0 ? 0 : Math.min(mss, payload - k * mss);
      // Header template (from the device's header buffer), then this segment's payload by DMA.
      for (let j = 0; j < hdrEnd; j++) pool.data[s + j] = b[j]!;
      readChain(space, ch, hl + hdrEnd + k * mss, this.poolSpace, s + hdrEnd, chunk);
      const segLen = hdrEnd + chunk;
      pool.len[i] = segLen;
      fixTsoSegment(pool.data, s, segLen, L, k, nseg, mss);
      this.vportIn.push(i, 0, st.id, 0, 0, 0, true);
    }
    const c = this.c;
    c[C.tsoFrames]! += 1;
    c[C.tsoSegments]! += nseg;
    c[C.txFrames]! += nseg;
    return nseg;
  }

  // ---------------------------------------------------------------------------
  // Egress to the wire
  // ---------------------------------------------------------------------------

  /** Uplink `rx`: frames the device transmits (ready by now). */
  takeEgress(burst: Burst): number {
    const q = this.egress;
    const pool = this.pool;
    const now = this.clock.now();
    const model = this.model !== null;
    // The transmit MAC sends one burst at a time; a puller is told when it is free again.
    if (model && this.macTx.resource.busyUntil > now) {
      if (q.size > 0) this.wake(E_EGRESS, this.macTx.resource.busyUntil);
      return 0;
    }
    let n = 0;
    let bytes = 0;
    const start = burst.count;
    while (burst.count < burst.capacity && q.size > 0 && (!model || q.at[q.head]! <= now)) {
      const i = q.idx[q.head]!;
      q.shift();
      burst.idx[burst.count++] = i;
      bytes += pool.len[i]!;
      n++;
    }
    if (n === 0) return 0;
    const t = this.macTx.run(now, n, bytes);
    for (let k = start; k < burst.count; k++) pool.ts[burst.idx[k]!] = model ? t : now;
    this.held -= n;
    this.unblockTx(now);
    this.c[C.wireTxFrames]! += n;
    this.c[C.wireTxBytes]! += bytes;
    return n;
  }

  private egressWork(): void {
    const wire = this.wire;
    if (wire === null) return; // frames wait for uplink.rx
    const out = this.out;
    const q = this.egress;
    for (;;) {
      out.clear();
      const n = this.takeEgress(out);
      if (n === 0) break;
      const k = wire.tx(out);
      if (k < n) {
        const code = this.drops.get("wireRefused")!;
        // takeEgress counted them as transmitted; move them to the drop.
        this.c[C.wireTxFrames]! -= n - k;
        for (let j = k; j < n; j++) {
          this.c[C.wireTxBytes]! -= this.pool.len[out.idx[j]!]!;
          this.held++;
          this.dropFrame(out.idx[j]!, code);
        }
        this.flushFrees();
      }
    }
    if (this.model !== null && q.size > 0) {
      const h = q.headAt();
      const b = this.macTx.resource.busyUntil;
      this.wake(E_EGRESS, h > b ? h : b);
    }
  }

  /** Free every buffer the device holds in its queues. Call when done. */
  close(): void {
    const drain = (q: FrameQueue): void => {
      while (q.size > 0) {
        this.free(q.idx[q.head]!);
        q.shift();
      }
    };
    drain(this.wireIn);
    drain(this.vportIn);
    drain(this.egress);
    for (const v of this.vports) for (const q of v.rx) drain(q.fifo);
    this.flushFrees();
  }
}

function copyVerdict(b: PipelineBatch, from: number, to: number): void {
  const v = b.verdicts;
  v.fate[to] = v.fate[from]!;
  v.queue[to] = v.queue[from]!;
  v.vport[to] = v.vport[from]!;
  v.hash[to] = v.hash[from]!;
  v.hashReport[to] = v.hashReport[from]!;
  v.actions[to] = v.actions[from]!;
  v.mark[to] = v.mark[from]!;
  v.vlanTci[to] = v.vlanTci[from]!;
  v.encap[to] = v.encap[from]!;
  v.mirror[to] = v.mirror[from]!;
  v.rule[to] = v.rule[from]!;
  v.actionSet[to] = v.actionSet[from]!;
  v.lookups[to] = v.lookups[from]!;
}
