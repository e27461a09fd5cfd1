/**
 * A virtio-user front-end: nfvio as the driver of a virtio-net device whose
 * back-end sits behind a vhost-user socket (DPDK's `net_vhost`, nfvio's own
 * back-end, any vhost-user-net implementation).
 *
 * Guest memory is a memfd (one, or two: rings and buffers apart) mapped
 * here and handed to the back-end in SET_MEM_TABLE. Its guest-physical
 * addresses are chosen freely (the back-end translates descriptor addresses
 * through the table's guest addresses); ring addresses in SET_VRING_ADDR
 * are this process's virtual addresses of the rings, translated by the
 * back-end through the user addresses (vhost-user.rst, "Memory access").
 *
 * Set-up follows the order QEMU and DPDK's virtio-user use: SET_OWNER,
 * GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_FEATURES,
 * SET_MEM_TABLE, then per ring NUM, BASE, ADDR, KICK, CALL, and
 * SET_VRING_ENABLE. With REPLY_ACK every request without a reply of its own
 * asks for an ack, so a refusal is reported at the request that caused it.
 *
 * The datapath polls: notifications from the back-end are turned off on
 * both rings of each pair (the call eventfds are still handed over, as back-
 * ends expect them), and a kick is written only when the ring's kick
 * decision (`publish()`: VIRTQ_USED_F_NO_NOTIFY / avail_event / packed
 * event suppression) asks for one.
 */
import {
  GuestMemory,
  netHeaderSize,
  ringFactory,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  featureNames,
  type DriverQueue,
  type RingPlacement,
} from "@nfvio/virtio";
import * as sys from "../sys/index.js";
import { FrontendChannel } from "./channel.js";
import { copyArray } from "./copy.js";
import { silentLogger, type Logger } from "./device.js";
import { featureMask, ProtocolFeature, VHOST_USER_F_PROTOCOL_FEATURES, VhostUserError, type FrontendRequestBodies, type FrontendRequestName, type MemoryRegion } from "./protocol.js";

const PROTOCOL_FEATURES_BIT = 1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES);
const PAGE = 4096;
const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

export interface VirtioUserOptions {
  /** Socket path of a listening back-end. */
  path: string;
  /** Queue pairs (default 1); more than one needs VIRTIO_NET_F_MQ and VHOST_USER_PROTOCOL_F_MQ. */
  queuePairs?: number;
  /** Packed rings (default split). */
  packed?: boolean;
  /** Ring size (default 256; a power of two for split rings). */
  queueSize?: number;
  /** Bytes per transmit buffer, header included (default 2048). */
  bufferSize?: number;
  /** Bytes per receive buffer (default `bufferSize`); smaller than a frame makes the back-end merge buffers (MRG_RXBUF). */
  rxBufferSize?: number;
  /** Guest memory in one memfd, or two (rings apart from buffers) to exercise multi-region tables (default 1). */
  regions?: 1 | 2;
  /** Features to ask for; the result is what the back-end offers of these (default VERSION_1 | MRG_RXBUF | EVENT_IDX, plus RING_PACKED / MQ as needed). */
  features?: bigint;
  /** Keep retrying the connection this long while nobody listens yet (default 0: fail at once). */
  connectTimeoutMs?: number;
  log?: Logger;
}

/** Counters of one ring of the front-end. */
export interface FrontendQueueCounters {
  queue: number;
  direction: "rx" | "tx";
  frames: number;
  bytes: number;
  errors: Record<string, number>;
}

class Counters {
  frames = 0;
  bytes = 0;
  errors: Record<string, number> = {};
  count(name: string): void {
    this.errors[name] = (this.errors[name] ?? 0) + 1;
  }
}

interface Area {
  mem: GuestMemory;
  /** Map a guest-physical address in the rings to this process's virtual address. */
  userOf(gpa: number): bigint;
}

/** One receive/transmit queue pair of the front-end. */
export class VirtioUserQueuePair {
  readonly rxCounters = new Counters();
  readonly txCounters = new Counters();
  /** Frames added but not yet completed by the back-end. */
  txInFlight = 0;
  private readonly txFree: Uint32Array;
  private txFreeTop: number;
  private readonly tokens: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly addrs = new Float64Array(1);
  private readonly lenOut = new Uint32Array(1);
  private readonly hdr: number;
  // A frame spread over several receive buffers (MRG_RXBUF), being gathered.
  private mergeLeft = 0;
  private mergeLen = 0;
  private readonly scratch: Uint8Array;

  constructor(
    readonly index: number,
    readonly rx: DriverQueue,
    readonly tx: DriverQueue,
    private readonly mem: GuestMemory,
    private readonly rxBufBase: number,
    private readonly txBufBase: number,
    private readonly rxBufferSize: number,
    private readonly bufferSize: number,
    private readonly kickRx: () => void,
    private readonly kickTx: () => void,
    features: bigint,
  ) {
    const size = tx.size;
    this.txFree = new Uint32Array(size);
    for (let i = 0; i < size; i++) this.txFree[i] = size - 1 - i;
    this.txFreeTop = size;
    this.tokens = new Uint32Array(Math.max(size, 32));
    this.lens = new Uint32Array(Math.max(size, 32));
    this.hdr = netHeaderSize(features);
    this.scratch = new Uint8Array(65536 + 64);
    // Polling driver: no used-buffer notifications wanted.
    rx.setNotify(false);
    tx.setNotify(false);
    for (let t = 0; t < rx.size; t++) this.postRx(t);
    if (rx.publish()) this.kickRx();
  }

  private postRx(token: number): boolean {
    this.addrs[0] = this.rxBufBase + token * this.rxBufferSize;
    this.lenOut[0] = this.rxBufferSize;
    return this.rx.add(this.addrs, this.lenOut, 0, 1, token);
  }

  /** Free transmit buffers. */
  get txFreeCount(): number {
    return this.txFreeTop;
  }

  /**
   * Copy `frame[0..length)` after a zeroed virtio-net header into a free
   * transmit buffer and add it (visible to the back-end after {@link flush}).
   * False when no buffer is free; frames longer than a buffer are refused.
   */
  send(frame: Uint8Array, length = frame.length): boolean {
    return this.sendFrom(frame, 0, length);
  }

  /**
   * {@link send} of `src[offset..offset + length)` (e.g. a packet in a pool's
   * shared data array) without making a view of it for short frames.
   */
  sendFrom(src: Uint8Array, offset: number, length: number): boolean {
    if (this.txFreeTop === 0) return false;
    if (length + this.hdr > this.bufferSize) {
      this.txCounters.count("frame_too_long");
      return false;
    }
    const token = this.txFree[this.txFreeTop - 1]!;
    const gpa = this.txBufBase + token * this.bufferSize;
    const ri = this.mem.find(gpa, this.bufferSize);
    const r = this.mem.regions[ri]!;
    // The header stays zero (written once at set-up): no offloads are requested.
    const at = this.mem.offsetIn(ri, gpa) + this.hdr;
    if (offset === 0 && length === src.length) r.bytes.set(src, at);
    else copyArray(src, offset, r.bytes, at, length);
    this.addrs[0] = gpa;
    this.lenOut[0] = this.hdr + length;
    if (!this.tx.add(this.addrs, this.lenOut, 1, 0, token)) return false;
    this.txFreeTop--;
    this.txInFlight++;
    this.txCounters.frames++;
    this.txCounters.bytes += length;
    return true;
  }

  /** Publish added transmit buffers; kick when the ring asks for it. */
  flush(): void {
    if (this.tx.publish()) this.kickTx();
  }

  /** Take back transmit buffers the back-end is done with; returns how many. */
  reclaimTx(): number {
    const n = this.tx.reclaim(this.tokens, this.lens, this.tokens.length);
    for (let i = 0; i < n; i++) this.txFree[this.txFreeTop++] = this.tokens[i]!;
    this.txInFlight -= n;
    if (this.tx.broken) this.txCounters.errors[`fault_${this.tx.brokenBy}`] = 1;
    return n;
  }

  /**
   * Receive up to `max` used buffers; each complete frame is counted and,
   * when `onFrame` is given, passed as a view valid only during the call.
   * Buffers are posted again at once. Returns the frames completed.
   */
  receive(onFrame?: (frame: Uint8Array) => void, max = 32): number {
    return this.receiveRaw(onFrame ? (bytes, off, len) => onFrame(bytes.subarray(off, off + len)) : undefined, max);
  }

  /**
   * {@link receive}, each frame passed as `bytes[offset..offset + length)`
   * (guest memory, or a scratch buffer for merged frames; valid only during
   * the call) without making a view of it.
   */
  receiveRaw(onFrame?: (bytes: Uint8Array, offset: number, length: number) => void, max = 32): number {
    const n = this.rx.reclaim(this.tokens, this.lens, Math.min(max, this.tokens.length));
    let frames = 0;
    const hdr = this.hdr;
    for (let i = 0; i < n; i++) {
      const token = this.tokens[i]!;
      const len = this.lens[i]!;
      const gpa = this.rxBufBase + token * this.rxBufferSize;
      const ri = this.mem.find(gpa, this.rxBufferSize);
      const bytes = this.mem.regions[ri]!.bytes;
      const off = this.mem.offsetIn(ri, gpa);
      if (this.mergeLeft === 0) {
        if (len < hdr) {
          this.rxCounters.count("short_buffer");
        } else {
          const numBuffers = hdr >= 12 ? bytes[off + 10]! | (bytes[off + 11]! << 8) : 1;
          const payload = len - hdr;
          if (numBuffers <= 1) {
            frames++;
            this.rxCounters.frames++;
            this.rxCounters.bytes += payload;
            onFrame?.(bytes, off + hdr, payload);
          } else if (payload <= this.scratch.length) {
            copyArray(bytes, off + hdr, this.scratch, 0, payload);
            this.mergeLen = payload;
            this.mergeLeft = numBuffers - 1;
          } else this.rxCounters.count("frame_too_long");
        }
      } else {
        if (this.mergeLen + len <= this.scratch.length) copyArray(bytes, off, this.scratch, this.mergeLen, len);
        this.mergeLen += len;
        if (--this.mergeLeft === 0) {
          frames++;
          this.rxCounters.frames++;
          this.rxCounters.bytes += this.mergeLen;
          onFrame?.(this.scratch, 0, Math.min(this.mergeLen, this.scratch.length));
        }
      }
      if (!this.postRx(token)) this.rxCounters.count("repost_failed");
    }
    if (n > 0 && this.rx.publish()) this.kickRx();
    if (this.rx.broken) this.rxCounters.errors[`fault_${this.rx.brokenBy}`] = 1;
    return frames;
  }

  counters(): FrontendQueueCounters[] {
    return [
      { queue: 2 * this.index, direction: "rx", frames: this.rxCounters.frames, bytes: this.rxCounters.bytes, errors: { ...this.rxCounters.errors } },
      { queue: 2 * this.index + 1, direction: "tx", frames: this.txCounters.frames, bytes: this.txCounters.bytes, errors: { ...this.txCounters.errors } },
    ];
  }
}

/** What a ring's (re)start sends: its size, addresses (our virtual addresses) and eventfds. */
interface RingSetup {
  size: number;
  desc: bigint;
  avail: bigint;
  used: bigint;
  kick: number;
  call: number;
}

/** Sends a request, waiting for its ack when REPLY_ACK was negotiated; throws when the back-end refuses it. */
type Acked = <K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds?: number[]) => Promise<void>;

function ackedSender(ch: FrontendChannel, ack: boolean): Acked {
  return async (name, body, fds = []) => {
    ch.send(name, body, fds, { needReply: ack });
    if (ack) {
      const r = await ch.reply(name);
      if (r !== 0n) throw new VhostUserError("rejected", `the back-end refused ${name} (reply ${String(r)})`);
    }
  };
}

/** SET_VRING_NUM, BASE, ADDR, KICK, CALL for ring `i` (the order QEMU's vhost_virtqueue_start and DPDK's virtio-user use). */
async function startRing(acked: Acked, i: number, r: RingSetup, base: number): Promise<void> {
  await acked("SET_VRING_NUM", { index: i, num: r.size });
  await acked("SET_VRING_BASE", { index: i, num: base });
  await acked("SET_VRING_ADDR", { index: i, flags: 0, desc: r.desc, avail: r.avail, used: r.used, log: 0n });
  await acked("SET_VRING_KICK", { index: i, noFd: false }, [r.kick]);
  await acked("SET_VRING_CALL", { index: i, noFd: false }, [r.call]);
}

/** nfvio as a virtio-net driver over vhost-user. */
export class VirtioUserFrontend {
  readonly features: bigint;
  readonly protocolFeatures: bigint;
  readonly pairs: readonly VirtioUserQueuePair[];
  private readonly channel: FrontendChannel;
  private readonly mappings: sys.Mapping[];
  private readonly eventfds: number[];
  private readonly kickCount: { n: number };
  private readonly rings: readonly RingSetup[];
  private readonly acked: Acked;
  private readonly ringEnable: boolean;
  /** Bases GET_VRING_BASE returned at the last {@link stop}, by vring; null while the rings run. */
  private stoppedAt: number[] | null = null;
  private closed = false;

  private constructor(
    channel: FrontendChannel,
    features: bigint,
    protocolFeatures: bigint,
    pairs: VirtioUserQueuePair[],
    mappings: sys.Mapping[],
    eventfds: number[],
    kickCount: { n: number },
    rings: RingSetup[],
    acked: Acked,
    ringEnable: boolean,
  ) {
    this.channel = channel;
    this.features = features;
    this.protocolFeatures = protocolFeatures;
    this.pairs = pairs;
    this.mappings = mappings;
    this.eventfds = eventfds;
    this.kickCount = kickCount;
    this.rings = rings;
    this.acked = acked;
    this.ringEnable = ringEnable;
  }

  /** Kicks written (eventfd writes), all rings. */
  get kicks(): number {
    return this.kickCount.n;
  }

  /** Connect, negotiate, share memory and set up every ring. */
  static async connect(options: VirtioUserOptions): Promise<VirtioUserFrontend> {
    const log = options.log ?? silentLogger;
    const pairs = options.queuePairs ?? 1;
    const packed = options.packed ?? false;
    const size = options.queueSize ?? 256;
    const bufferSize = options.bufferSize ?? 2048;
    const rxBufferSize = options.rxBufferSize ?? bufferSize;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > 128) throw new RangeError(`queuePairs must be 1 .. 128, got ${pairs}`);
    for (const [name, v] of [["bufferSize", bufferSize], ["rxBufferSize", rxBufferSize]] as const) {
      if (!Number.isInteger(v) || v < 16 || v > 65536) throw new RangeError(`${name} must be 16 .. 65536, got ${v}`);
    }
    const fd = await connectRetrying(options.path, options.connectTimeoutMs ?? 0);
    const ch = new FrontendChannel(fd);
    const owned: number[] = [];
    const mappings: sys.Mapping[] = [];
    try {
      ch.send("SET_OWNER", null);
      const offered = await ch.request("GET_FEATURES", null);
      let protocol = 0n;
      if ((offered & PROTOCOL_FEATURES_BIT) !== 0n) {
        const po = await ch.request("GET_PROTOCOL_FEATURES", null);
        protocol = po & featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK);
        ch.send("SET_PROTOCOL_FEATURES", protocol);
      }
      const ack = (protocol & featureMask(ProtocolFeature.REPLY_ACK)) !== 0n;
      const wanted = options.features ?? (VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_F_EVENT_IDX | (packed ? VIRTIO_F_RING_PACKED : 0n) | (pairs > 1 ? VIRTIO_NET_F_MQ : 0n));
      const features = offered & wanted;
      if ((features & VIRTIO_F_VERSION_1) === 0n) throw new VhostUserError("rejected", "the back-end does not offer VIRTIO_F_VERSION_1");
      if (packed && (features & VIRTIO_F_RING_PACKED) === 0n) throw new VhostUserError("rejected", "packed rings asked for, but the back-end does not offer VIRTIO_F_RING_PACKED");
      if (pairs > 1) {
        if ((features & VIRTIO_NET_F_MQ) === 0n || (protocol & featureMask(ProtocolFeature.MQ)) === 0n) throw new VhostUserError("rejected", `${pairs} queue pairs need VIRTIO_NET_F_MQ and VHOST_USER_PROTOCOL_F_MQ from the back-end`);
        const max = await ch.request("GET_QUEUE_NUM", null);
        if (BigInt(pairs) > max) throw new VhostUserError("rejected", `the back-end supports ${max} queue pairs, ${pairs} asked for`);
      }
      const acked = ackedSender(ch, ack);
      await acked("SET_FEATURES", features | (offered & PROTOCOL_FEATURES_BIT));
      log("info", `${options.path}: features ${featureNames(features).join(", ")}`);

      // Guest memory: rings, then buffers (rx and tx for each pair).
      const kind = ringFactory(packed ? "packed" : "split");
      const ringBase = 0x4000_0000;
      const placements: RingPlacement[] = [];
      let at = ringBase;
      for (let i = 0; i < 2 * pairs; i++) {
        const p = kind.place(size, at);
        placements.push(p);
        at = alignUp(p.end, 64);
      }
      const ringBytes = alignUp(at - ringBase, PAGE);
      const pairBytes = size * (rxBufferSize + bufferSize);
      const bufBytes = alignUp(pairs * pairBytes, PAGE);
      const twoRegions = (options.regions ?? 1) === 2;
      const specs = twoRegions
        ? [
            { gpa: ringBase, size: ringBytes },
            { gpa: alignUp(ringBase + ringBytes, 1 << 20) + (1 << 20), size: bufBytes },
          ]
        : [{ gpa: ringBase, size: ringBytes + bufBytes }];
      const bufBase = twoRegions ? specs[1]!.gpa : ringBase + ringBytes;
      const regions: MemoryRegion[] = [];
      const memfds: number[] = [];
      for (const [i, s] of specs.entries()) {
        const mfd = sys.memfdCreate(`nfvio-virtio-user-${i}`);
        memfds.push(mfd);
        sys.ftruncate(mfd, s.size);
        const m = sys.mmap(mfd, s.size);
        mappings.push(m);
        regions.push({ guestAddr: BigInt(s.gpa), size: BigInt(s.size), userAddr: m.address, mmapOffset: 0n });
      }
      const mem = new GuestMemory(specs.map((s, i) => ({ gpa: s.gpa, buffer: mappings[i]!.buffer })));
      const area: Area = {
        mem,
        userOf(gpa) {
          const i = specs.findIndex((s) => gpa >= s.gpa && gpa < s.gpa + s.size);
          return mappings[i]!.address + BigInt(gpa - specs[i]!.gpa);
        },
      };
      try {
        await acked("SET_MEM_TABLE", { regions }, memfds);
      } finally {
        sys.closeAll(memfds);
      }

      const eventfds: number[] = [];
      const kickFds: number[] = [];
      const queues: DriverQueue[] = [];
      const rings: RingSetup[] = [];
      for (let i = 0; i < 2 * pairs; i++) {
        const p = placements[i]!;
        const q = kind.driver(area.mem, p, features, true);
        queues.push(q);
        const kick = sys.eventfd(0);
        const call = sys.eventfd(0);
        eventfds.push(kick, call);
        owned.push(kick, call);
        kickFds.push(kick);
        const r: RingSetup = { size, desc: area.userOf(p.descArea), avail: area.userOf(p.driverArea), used: area.userOf(p.deviceArea), kick, call };
        rings.push(r);
        // Split: next available index 0. Packed: position 0 with the driver's wrap counter 1 (bit 15), as DPDK's virtio-user sends it.
        await startRing(acked, i, r, packed ? 0x8000 : 0);
      }
      if ((offered & PROTOCOL_FEATURES_BIT) !== 0n) {
        for (let i = 0; i < 2 * pairs; i++) await acked("SET_VRING_ENABLE", { index: i, num: 1 });
      }
      const kicks = { n: 0 };
      const kicker = (fdk: number) => (): void => {
        kicks.n++;
        sys.eventfdWrite(fdk, 1n);
      };
      const qps: VirtioUserQueuePair[] = [];
      for (let k = 0; k < pairs; k++) {
        const rxBase = bufBase + k * pairBytes;
        qps.push(new VirtioUserQueuePair(k, queues[2 * k]!, queues[2 * k + 1]!, mem, rxBase, rxBase + size * rxBufferSize, rxBufferSize, bufferSize, kicker(kickFds[2 * k]!), kicker(kickFds[2 * k + 1]!), features));
      }
      const frontend = new VirtioUserFrontend(ch, features, protocol, qps, mappings, eventfds, kicks, rings, acked, (offered & PROTOCOL_FEATURES_BIT) !== 0n);
      return frontend;
    } catch (e) {
      ch.close();
      sys.closeAll(owned);
      for (const m of mappings) m.unmap();
      throw e;
    }
  }

  /** True while the rings are stopped by {@link stop}. */
  get stopped(): boolean {
    return this.stoppedAt !== null;
  }

  /**
   * Stop every ring, as a VMM does when the VM stops: GET_VRING_BASE for
   * each, transmit rings first (the back-end finishes what was queued at
   * the stop, and a frame it echoes then still finds its receive ring
   * running). Returns what each GET_VRING_BASE said, by vring index: split,
   * the next available index; packed, both positions with their wrap
   * counters (vhost-user.rst, "Vring descriptor indices for packed
   * virtqueues"). The driver side stays as it is: frames sent while stopped
   * wait in the rings until {@link resume}.
   */
  async stop(): Promise<number[]> {
    if (this.closed) throw new VhostUserError("rejected", "the front-end is closed");
    if (this.stoppedAt !== null) return [...this.stoppedAt];
    const n = this.rings.length;
    const bases = new Array<number>(n).fill(0);
    const order = [...Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 1), ...Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 0)];
    for (const i of order) bases[i] = (await this.channel.request("GET_VRING_BASE", { index: i, num: 0 })).num;
    this.stoppedAt = bases;
    return [...bases];
  }

  /**
   * Start the rings again after {@link stop}, as a VMM does when the VM
   * continues: per ring SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
   * SET_VRING_KICK, SET_VRING_CALL, then SET_VRING_ENABLE. The base of ring
   * i is `bases[i]`, by default what GET_VRING_BASE returned, so the
   * back-end continues exactly where it stopped. Throws when the back-end
   * refuses (with REPLY_ACK: at the request it refused).
   */
  async resume(bases?: readonly number[]): Promise<void> {
    if (this.closed) throw new VhostUserError("rejected", "the front-end is closed");
    const at = bases ?? this.stoppedAt;
    if (at === null) throw new VhostUserError("rejected", "resume() without a stop(): the rings run");
    if (at.length !== this.rings.length) throw new RangeError(`resume() needs ${this.rings.length} bases, got ${at.length}`);
    for (let i = 0; i < this.rings.length; i++) await startRing(this.acked, i, this.rings[i]!, at[i]!);
    if (this.ringEnable) for (let i = 0; i < this.rings.length; i++) await this.acked("SET_VRING_ENABLE", { index: i, num: 1 });
    this.stoppedAt = null;
    // Frames published while the rings were stopped may have asked for no kick; the back-end polls a ring when it starts.
  }

  /** True once the back-end has closed the connection. */
  get disconnected(): boolean {
    return this.channel.closed;
  }

  /** Counters of every ring, queue order. */
  counters(): FrontendQueueCounters[] {
    return this.pairs.flatMap((p) => p.counters());
  }

  /**
   * Stop every ring (GET_VRING_BASE, so the back-end finishes with our
   * memory), then close the socket, unmap the memory and close the eventfds.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.channel.closed && this.stoppedAt === null) {
        for (let i = 0; i < 2 * this.pairs.length; i++) await this.channel.request("GET_VRING_BASE", { index: i, num: 0 });
      }
    } catch {
      // the back-end went away: nothing left to stop
    } finally {
      this.channel.close();
      sys.closeAll(this.eventfds);
      for (const m of this.mappings) m.unmap();
    }
  }
}

async function connectRetrying(path: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return sys.connectUnix(path);
    } catch (e) {
      const retriable = sys.isSysError(e) && (e.code === "ENOENT" || e.code === "ECONNREFUSED" || e.code === "EAGAIN");
      if (!retriable || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
