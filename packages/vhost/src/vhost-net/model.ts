/**
 * Ready-made modelled runs of the vhost-net baseline: one VM (a
 * {@link VirtioNetGuest}) served by one {@link VhostNetDevice}, under the
 * model clock, in the two set-ups Linux's vhost-net is usually measured in:
 *
 * - `tx`: a traffic generator in the guest (testpmd txonly: a PMD that
 *   polls and never takes interrupts) sends frames; the device copies them
 *   out to a host port that drops them (XDP_DROP on the TAP).
 * - `rx`: a generator on the host (pktgen on the TAP) offers frames as fast
 *   as the socket queue takes them; the device copies them into the
 *   guest's posted buffers; the guest (NAPI, EVENT_IDX) drops them (XDP_DROP
 *   in the guest).
 *
 * The figure is the modelled rate at which the vhost worker moves frames,
 * and the host cycles it spends per frame. The run is deterministic.
 */
import {
  CounterSet,
  DEFAULT_COST_MODEL,
  Meter,
  ModelClock,
  Resource,
  costRates,
  loadCostModel,
  type CostModel,
  type CostOverrides,
  type CostRates,
  type CounterSnapshot,
  type EventHandler,
  type Port,
  type ResourceSnapshot,
} from "@nfvio/core";
import { Burst, PacketPool } from "@nfvio/packet";
import { VIRTIO_NET_F_MRG_RXBUF } from "@nfvio/virtio";
import { GUEST_DEFAULT_FEATURES, VirtioNetGuest, type GuestVnf } from "../guest/guest.js";
import { VhostNetDevice } from "./device.js";

/** A host port that frees everything it is given and counts it (XDP_DROP on the TAP). Charges `cyclesPerPacket` to `meter` if given. */
export class DiscardPort implements Port {
  readonly counters = new CounterSet(["packets", "bytes"]);
  /** Time stamp (`pool.ts`) of the last frame taken. */
  lastTs = 0;
  constructor(
    readonly pool: PacketPool,
    private readonly meter: Meter | null = null,
    private readonly cyclesPerPacket = 0,
  ) {}

  rx(): number {
    return 0;
  }

  tx(burst: Burst): number {
    const n = burst.count;
    const pool = this.pool;
    let bytes = 0;
    for (let k = 0; k < n; k++) bytes += pool.len[burst.idx[k]!]!;
    if (n > 0) this.lastTs = pool.ts[burst.idx[n - 1]!]!;
    const c = this.counters.values;
    c[0]! += n;
    c[1]! += bytes;
    if (this.meter !== null && this.cyclesPerPacket > 0) this.meter.cycles(n * this.cyclesPerPacket);
    pool.freeRange(burst.idx, 0, n);
    return n;
  }
}

/** Connect a guest's kicks to a device and the device's interrupts to the guest. */
export function connectVirtioNet(guest: VirtioNetGuest, device: VhostNetDevice): void {
  guest.connect(device);
  device.connectGuest(guest);
}

/** Fill `frame` with a deterministic Ethernet/IPv4/UDP-looking pattern of its length. */
export function testFrame(len: number, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 131 + seed * 17 + 7) & 0xff;
  if (len >= 14) {
    f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  }
  return f;
}

/** A guest VNF that sends `count` copies of `frame` per queue pair, as fast as the ring takes them (testpmd txonly). */
export class GeneratorVnf implements GuestVnf {
  private readonly left: number[];
  constructor(
    private readonly frame: Uint8Array,
    count: number,
    queuePairs = 1,
  ) {
    this.left = new Array<number>(queuePairs).fill(count);
  }

  receive(burst: Burst, _queue: number, guest: VirtioNetGuest): void {
    guest.pool.freeBurst(burst);
  }

  produce(burst: Burst, queue: number, max: number, guest: VirtioNetGuest): number {
    const left = this.left[queue] ?? 0;
    const want = Math.min(max, left, burst.capacity - burst.count);
    if (want <= 0) return 0;
    const pool = guest.pool;
    const start = burst.count;
    const got = pool.allocBurst(burst, want);
    const f = this.frame;
    for (let k = start; k < start + got; k++) {
      const i = burst.idx[k]!;
      pool.data.set(f, pool.start(i));
      pool.len[i] = f.length;
    }
    this.left[queue] = left - got;
    return got;
  }
}

/** A guest VNF that drops what it receives (XDP_DROP in the guest). */
export const DROP_VNF: GuestVnf = {
  receive(burst, _queue, guest) {
    guest.pool.freeBurst(burst);
  },
};

/**
 * A host traffic generator (pktgen on the TAP): offers `count` copies of a
 * frame to a port, at most as many as `room()` allows at a time, on its own
 * CPU, charging `cyclesPerPacket` per frame. Frames are time-stamped with the
 * generator's modelled time.
 */
export class HostGenerator implements EventHandler {
  readonly resource = new Resource("pktgen", "cpu");
  readonly meter: Meter;
  sent = 0;
  private readonly burst = new Burst();
  private eventAt = -1;

  constructor(
    private readonly clock: ModelClock,
    rates: CostRates,
    private readonly pool: PacketPool,
    private readonly port: Port,
    private readonly frame: Uint8Array,
    private readonly count: number,
    private readonly room: () => number,
    private readonly cyclesPerPacket = rates.cyclesPerPacketBase,
    /** Spread frames over `queuePairs` queues through the flow hash (tun's steering). */
    private readonly queuePairs = 1,
    /** How long to wait before looking again when the queue is full. */
    private readonly retryNs = 200,
  ) {
    this.meter = new Meter(clock, rates, this.resource);
  }

  start(): void {
    this.schedule(this.clock.now());
  }

  private schedule(t: number): void {
    if (this.eventAt >= 0 && this.eventAt <= t) return;
    this.eventAt = t;
    this.clock.schedule(t, this);
  }

  onEvent(time: number): void {
    if (this.eventAt !== time) return;
    this.eventAt = -1;
    const left = this.count - this.sent;
    if (left <= 0) return;
    const m = this.meter;
    m.begin(time);
    const want = Math.min(left, this.burst.capacity, this.room());
    let got = 0;
    if (want > 0) {
      const b = this.burst;
      b.clear();
      got = this.pool.allocBurst(b, want);
      m.cycles(got * this.cyclesPerPacket);
      const t = m.now();
      const pool = this.pool;
      for (let k = 0; k < got; k++) {
        const i = b.idx[k]!;
        pool.data.set(this.frame, pool.start(i));
        pool.len[i] = this.frame.length;
        pool.ts[i] = t;
        // Spread evenly over the queues: hash * n / 2^32 picks queue (sent + k) mod n.
        pool.hash[i] = this.queuePairs === 1 ? 0 : Math.floor((((this.sent + k) % this.queuePairs) + 0.5) * (0x1_0000_0000 / this.queuePairs));
      }
      this.port.tx(b);
      b.clear();
      this.sent += got;
    }
    m.end();
    if (this.sent < this.count) this.schedule(got > 0 ? this.resource.busyUntil : time + this.retryNs);
  }
}

export interface VhostNetModelOptions {
  /** "tx": guest -> host; "rx": host -> guest. */
  direction: "tx" | "rx";
  /** Frame size on the wire, without the virtio-net header (default 64). */
  frameSize?: number;
  /** Frames to move (default 100,000), spread over the queue pairs. */
  frames?: number;
  /** Queue pairs (default 1). */
  queuePairs?: number;
  /** Worker threads (default 1: one vhost worker for the device). */
  workers?: number | "per-queue-pair";
  /** Ring kind (default "split"). */
  ring?: "split" | "packed";
  /** Ring entries (default 256). */
  queueSize?: number;
  /** A complete cost model or overrides of the defaults. */
  cost?: CostModel | CostOverrides;
  /** Negotiate VIRTIO_NET_F_MRG_RXBUF (default true). */
  mergeable?: boolean;
}

export interface VhostNetModelResult {
  direction: "tx" | "rx";
  frameSize: number;
  /** Frames that reached their destination (host port for tx, guest for rx). */
  frames: number;
  /** Modelled ns from the start to the last frame's delivery. */
  timeNs: number;
  /** Million frames per modelled second. */
  mpps: number;
  /** Payload Gbit/s (frame bytes only). */
  gbps: number;
  /** Host CPU cycles the vhost worker(s) spent per frame. */
  workerCyclesPerPacket: number;
  /** Share of the modelled time the worker(s) were busy (1 = saturated). */
  workerBusy: number;
  device: CounterSnapshot;
  guest: CounterSnapshot;
  resources: Record<string, ResourceSnapshot>;
}

/** Run one modelled vhost-net scenario to completion. Deterministic: the same options give the same result. */
export function modelVhostNet(options: VhostNetModelOptions): VhostNetModelResult {
  const frameSize = options.frameSize ?? 64;
  const frames = options.frames ?? 100_000;
  const pairs = options.queuePairs ?? 1;
  const model = options.cost && "stages" in options.cost && typeof (options.cost as CostModel).cpuHz === "object" ? loadCostModel({}, options.cost as CostModel) : loadCostModel(options.cost ?? {});
  const rates = costRates(model ?? DEFAULT_COST_MODEL);
  const clock = new ModelClock();
  const hostPool = new PacketPool({ count: 4096 + 1024 * pairs, dataRoom: Math.max(2048, frameSize) });
  const frame = testFrame(frameSize);
  const perQueue = Math.ceil(frames / pairs);
  const tx = options.direction === "tx";
  const guest = new VirtioNetGuest({
    name: "vm",
    queuePairs: pairs,
    queueSize: options.queueSize ?? 256,
    ring: options.ring ?? "split",
    clock,
    cost: rates,
    mode: tx ? "poll" : "napi",
    pool: { count: pairs * 1024 + 1024, dataRoom: Math.max(2048, frameSize) },
    ...(options.mergeable === false ? { features: GUEST_DEFAULT_FEATURES & ~VIRTIO_NET_F_MRG_RXBUF } : {}),
    vnf: tx ? new GeneratorVnf(frame, perQueue, pairs) : DROP_VNF,
  });
  const sink = new DiscardPort(hostPool);
  const device = new VhostNetDevice(guest.setup, {
    name: "vm",
    clock,
    cost: rates,
    hostPool,
    uplink: sink,
    workers: options.workers ?? 1,
  });
  connectVirtioNet(guest, device);
  guest.start();
  let lastRx = 0;
  if (!tx) {
    const vnf: GuestVnf = {
      receive(burst, _q, g) {
        lastRx = g.meter.now();
        g.pool.freeBurst(burst);
      },
    };
    guest.vnf = vnf;
    const limit = 500;
    const gen = new HostGenerator(clock, rates, hostPool, device.host, frame, perQueue * pairs, () => {
      let room = Infinity;
      for (let p = 0; p < pairs; p++) room = Math.min(room, limit - device.rxQueued(p));
      return Math.max(0, room * pairs);
    }, rates.cyclesPerPacketBase, pairs);
    gen.start();
  }
  while (clock.step()) {
    // run to completion
  }
  const d = device.counters.snapshot();
  const delivered = tx ? sink.counters.get("packets") : guest.counters.get("rxFrames");
  const end = tx ? sink.lastTs : lastRx;
  const res = device.resourceSnapshot();
  let cycles = 0;
  let busy = 0;
  for (const r of Object.values(res)) {
    cycles += r.cycles;
    busy += r.busyNs;
  }
  const nWorkers = Object.keys(res).length;
  device.close();
  guest.close();
  return {
    direction: options.direction,
    frameSize,
    frames: delivered,
    timeNs: end,
    mpps: end > 0 ? (delivered / end) * 1e3 : 0,
    gbps: end > 0 ? (delivered * frameSize * 8) / end : 0,
    workerCyclesPerPacket: delivered > 0 ? cycles / delivered : 0,
    workerBusy: end > 0 ? busy / nWorkers / end : 0,
    device: d,
    guest: guest.counters.snapshot(),
    resources: { ...res, [guest.vcpu.name]: guest.vcpu.snapshot() },
  };
}
