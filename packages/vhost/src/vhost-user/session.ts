/**
 * One vhost-user connection, back-end side: the raw protocol, one method
 * per front-end message, over a connected AF_UNIX stream socket.
 *
 * Spec: QEMU docs/interop/vhost-user.rst (qemu/qemu commit f6b615b5).
 *
 * ## Reading
 * The socket is watched with `sys.watchFd` (readiness without reading) and
 * read with recvmsg in header-then-body steps through a
 * {@link MessageFramer}, so every descriptor is attributed to the message
 * it came with. Each frame is decoded by {@link decodeMessage}, which checks
 * it in a fixed order (header, descriptors, exact size, values).
 *
 * ## Errors
 * Every refused message produces one log line naming the request and why.
 * - A message the decoder refuses (malformed) fails the connection: a NACK
 *   (u64 1) first when REPLY_ACK was negotiated and NEED_REPLY is set, then
 *   the socket is closed and stays closed. A framing error (oversized
 *   header, truncated descriptors) closes at once: the stream cannot be
 *   resynchronised.
 * - A well-formed message refused in the current state (out of order, a
 *   ring address outside every region, a feature that was not offered, a
 *   region that cannot be mapped) is answered with a NACK when REPLY_ACK
 *   was negotiated and NEED_REPLY set, and the connection goes on: the
 *   front-end knows. Without a way to tell the front-end (no NEED_REPLY, or
 *   a request that expects its own reply payload) the connection is closed,
 *   as the spec allows ("If back-end detects some error such as
 *   incompatible features, it may also close the connection").
 * Descriptors that arrive with a refused message are closed. A closed
 * connection unmaps the memory, closes every descriptor it holds, and tells
 * the device (`disconnected`); the server then waits for the next one.
 *
 * ## Ring life cycle ("Ring states")
 * A ring needs SET_VRING_NUM, then SET_VRING_ADDR (after SET_MEM_TABLE),
 * then SET_VRING_KICK; the session starts it on SET_VRING_KICK, as DPDK's
 * vhost library does, instead of waiting for the first kick (a front-end
 * that polls never kicks). GET_VRING_BASE stops it and returns the next
 * available index (split) or both positions with their wrap counters
 * (packed, "Vring descriptor indices for packed virtqueues"); a
 * SET_VRING_BASE with that value before the next SET_VRING_KICK resumes it
 * there (QEMU's stop/continue), for packed rings at any slot and wrap. Without
 * VHOST_USER_F_PROTOCOL_FEATURES every ring is enabled at SET_FEATURES;
 * with it, rings start disabled until SET_VRING_ENABLE.
 */
import {
  checkPackedPosition,
  PackedDevice,
  SplitDevice,
  VIRTIO_F_RING_PACKED,
  VirtioError,
  type DeviceQueue,
  type GuestMemory,
  type PackedRingPosition,
} from "@nfvio/virtio";
import * as sys from "../sys/index.js";
import type { Logger, VhostUserDevice, VhostUserVring } from "./device.js";
import { mapMemoryTable, MemoryMapError, type VhostUserMemory } from "./memory.js";
import {
  decodeHeader,
  decodeMessage,
  encodeReply,
  featureMask,
  FrontendRequest,
  MessageFramer,
  ProtocolFeature,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_MAX_FDS,
  VHOST_USER_NEED_REPLY_MASK,
  VhostUserError,
  type DeviceConfig,
  type FrontendMessage,
  type FrontendReplyBody,
  type FrontendRequestName,
  type MemoryTable,
  type VringAddr,
  type VringFd,
  type VringState,
} from "./protocol.js";

const PROTOCOL_FEATURES_BIT = 1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES);
/** Device status bit DEVICE_NEEDS_RESET (virtio 1.2 §2.1). */
const STATUS_NEEDS_RESET = 64;

/** Requests whose reply carries its own payload (REPLY_ACK changes nothing for them). */
const EXPLICIT_REPLY = new Set<FrontendRequestName>([
  "GET_FEATURES",
  "GET_PROTOCOL_FEATURES",
  "GET_VRING_BASE",
  "GET_QUEUE_NUM",
  "GET_CONFIG",
  "GET_STATUS",
  "GET_INFLIGHT_FD",
  "GET_MAX_MEM_SLOTS",
  "GET_SHARED_OBJECT",
  "POSTCOPY_ADVISE",
  "IOTLB_MSG",
  "SET_DEVICE_STATE_FD",
  "CHECK_DEVICE_STATE",
  "CREATE_CRYPTO_SESSION",
]);

/** A refusal of a well-formed message (thrown by the per-message methods). */
function reject(message: string): never {
  throw new VhostUserError("rejected", message);
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** The base of a packed ring in its reset state: slot 0 with wrap counter 1 on both sides (virtio 1.2 §2.8.1). */
export const PACKED_BASE_START = 0x8000_8000;

/**
 * Decode the 32-bit `num` of SET_VRING_BASE / GET_VRING_BASE for a packed
 * ring (vhost-user.rst, "Vring descriptor indices for packed virtqueues"):
 * bits 0-14 the next available descriptor the back-end processes, bit 15
 * the driver (available) ring wrap counter, bits 16-30 the used entry the
 * back-end writes next, bit 31 the device (used) ring wrap counter. The
 * spec calls the indices free-running; QEMU (`virtio_queue_get_last_avail_idx`)
 * and DPDK's vhost library send and expect ring slots in [0, queue size),
 * and so does nfvio ({@link checkPackedPosition} refuses anything else).
 * An upper half of 0 is what DPDK's virtio-user front-end and vhost library
 * send (only the available half; DPDK's `vhost_user_set_vring_base` sets the
 * used position equal to it, as a stopped ring has nothing in flight): it
 * means used = available.
 */
export function decodePackedBase(num: number): PackedRingPosition {
  const availIdx = num & 0x7fff;
  const availWrap = (num >>> 15) & 1;
  const hi = num >>> 16;
  if (hi === 0) return { availIdx, availWrap, usedIdx: availIdx, usedWrap: availWrap };
  return { availIdx, availWrap, usedIdx: hi & 0x7fff, usedWrap: (hi >>> 15) & 1 };
}

/** Encode a packed ring position as the 32-bit `num` of GET_VRING_BASE (see {@link decodePackedBase}). */
export function encodePackedBase(p: PackedRingPosition): number {
  return ((p.availIdx & 0x7fff) | (p.availWrap << 15) | ((p.usedIdx & 0x7fff) << 16) | (p.usedWrap << 31)) >>> 0;
}

const showPosition = (p: PackedRingPosition): string => `available ${p.availIdx}/${p.availWrap}, used ${p.usedIdx}/${p.usedWrap}`;

/** Per-ring state kept by the session; the device sees it as a {@link VhostUserVring}. */
class Vring implements VhostUserVring {
  size = 0;
  addr: VringAddr | null = null;
  /** Guest-physical addresses of the three areas, from SET_VRING_ADDR. */
  desc = -1;
  driverArea = -1;
  deviceArea = -1;
  /** SET_VRING_BASE's `num`, or where the ring stopped (GET_VRING_BASE reports it while the ring is stopped). */
  base = 0;
  /** `base` was set (SET_VRING_BASE or a stop); otherwise a ring starts from the reset state. */
  baseSet = false;
  kickFd = -1;
  callFd = -1;
  errFd = -1;
  kickPolled = false;
  enabled = false;
  started = false;
  queue: DeviceQueue | null = null;
  kickWatch: sys.FdWatcher | null = null;
  failedReason: string | null = null;

  constructor(
    readonly index: number,
    private readonly session: VhostUserSession,
  ) {}

  get memory(): GuestMemory | null {
    return this.session.memory?.guest ?? null;
  }

  get features(): bigint {
    return this.session.features;
  }

  get packed(): boolean {
    return (this.session.features & VIRTIO_F_RING_PACKED) !== 0n;
  }

  call(): void {
    if (this.callFd >= 0) {
      try {
        sys.eventfdWrite(this.callFd, 1n);
      } catch {
        // a front-end that closed its end of an eventfd cannot be told anything
      }
    }
  }

  fail(reason: string): void {
    if (this.failedReason !== null) return;
    this.failedReason = reason;
    this.session.ringFailed(this, reason);
    if (this.errFd >= 0) {
      try {
        sys.eventfdWrite(this.errFd, 1n);
      } catch {
        // as above
      }
    }
  }
}

export interface SessionOptions {
  log: Logger;
  /** Name for log lines (the socket path). */
  name?: string;
  /** Called once when the connection has closed and everything is released. */
  onClose?: (reason: string) => void;
  /** Largest total size of a memory table (default 64 GiB). */
  maxMemoryBytes?: number;
}

/**
 * The back-end's state for one connected front-end. Created by
 * {@link VhostUserServer} for each connection; usable directly over any
 * connected socket (tests drive it over a socketpair).
 */
export class VhostUserSession {
  readonly fd: number;
  /** Negotiated virtio features (0 until SET_FEATURES). */
  features = 0n;
  /** Negotiated protocol features (0 until SET_PROTOCOL_FEATURES). */
  protocolFeatures = 0n;
  memory: VhostUserMemory | null = null;
  /** Device status byte (VHOST_USER_PROTOCOL_F_STATUS). */
  status = 0;
  owner = false;
  readonly vrings: readonly Vring[];
  /** Well-formed messages refused (each also logged with its reason): out of order, bad values such as a ring position outside the ring. */
  refused = 0;
  private readonly device: VhostUserDevice;
  private readonly log: Logger;
  private readonly name: string;
  private readonly onClose: ((reason: string) => void) | undefined;
  private readonly maxMemoryBytes: number;
  private readonly framer = new MessageFramer();
  private readonly buf = new Uint8Array(4096 + 12);
  private watch: sys.FdWatcher | null = null;
  private closedReason: string | null = null;
  private featuresSet = false;

  constructor(fd: number, device: VhostUserDevice, options: SessionOptions) {
    this.fd = fd;
    this.device = device;
    this.log = options.log;
    this.name = options.name ?? `fd ${fd}`;
    this.onClose = options.onClose;
    this.maxMemoryBytes = options.maxMemoryBytes ?? 64 * 2 ** 30;
    if (!Number.isInteger(device.vrings) || device.vrings < 1 || device.vrings > 256) throw new RangeError(`a device has 1 .. 256 vrings, not ${device.vrings}`);
    this.vrings = Array.from({ length: device.vrings }, (_, i) => new Vring(i, this));
  }

  /** Start reading the socket. */
  start(): void {
    if (this.watch || this.closedReason !== null) return;
    this.watch = sys.watchFd(this.fd, { readable: true }, (r) => {
      if (r.readable || r.hangup || r.error) this.onReadable();
    });
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Virtio features offered in GET_FEATURES. */
  get offeredFeatures(): bigint {
    return this.device.features | PROTOCOL_FEATURES_BIT;
  }

  /** Protocol features offered in GET_PROTOCOL_FEATURES. */
  get offeredProtocolFeatures(): bigint {
    const base = featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.STATUS);
    return this.device.config ? base | featureMask(ProtocolFeature.CONFIG) : base;
  }

  private has(p: number): boolean {
    return (this.protocolFeatures & (1n << BigInt(p))) !== 0n;
  }

  private get replyAck(): boolean {
    return this.has(ProtocolFeature.REPLY_ACK);
  }

  // -------------------------------------------------------------------------
  // Reading and dispatch

  private onReadable(): void {
    while (this.closedReason === null) {
      const want = this.framer.wanted;
      if (want === 0) return this.close(`framing failed: ${this.framer.error?.message ?? "unknown"}`);
      let got: sys.ReceivedMessage | null;
      try {
        got = sys.recvMessage(this.fd, this.buf.subarray(0, want), { maxFds: VHOST_USER_MAX_FDS });
      } catch (e) {
        return this.close(`recvmsg failed: ${(e as Error).message}`);
      }
      if (got === null) return;
      if (got.bytes === 0) return this.close(this.framer.atBoundary ? "front-end closed the connection" : "front-end closed the connection in the middle of a message");
      if (got.controlTruncated) {
        sys.closeAll(got.fds);
        this.log("warn", `${this.name}: more than ${VHOST_USER_MAX_FDS} descriptors arrived with one message; closing`);
        return this.close("descriptors truncated");
      }
      this.framer.push(this.buf.subarray(0, got.bytes), got.fds);
      if (this.framer.error) {
        this.log("warn", `${this.name}: ${this.framer.error.message}; closing`);
        return this.close(this.framer.error.message);
      }
      for (let f = this.framer.take(); f !== null && this.closedReason === null; f = this.framer.take()) this.handle(f.bytes, f.fds);
    }
  }

  private handle(bytes: Uint8Array, fds: number[]): void {
    const r = decodeMessage(bytes, fds.length, { queueCount: this.vrings.length, packed: (this.features & VIRTIO_F_RING_PACKED) !== 0n });
    if (!r.ok) {
      sys.closeAll(fds);
      const h = decodeHeader(bytes);
      this.log("warn", `${this.name}: malformed message refused (${r.error.kind}): ${r.error.message}; closing the connection`);
      if (h && (h.flags & VHOST_USER_NEED_REPLY_MASK) !== 0 && this.replyAck) {
        const name = requestName(h.request);
        if (name && !EXPLICIT_REPLY.has(name)) this.sendReply(name, 1n);
      }
      return this.close(`malformed ${requestName(r.error.request ?? -1) ?? "message"}: ${r.error.message}`);
    }
    const m = r.message;
    const used = fds.slice(0, m.fdCount);
    sys.closeAll(fds.slice(m.fdCount)); // REM_MEM_REG's tolerated stray descriptor
    let reply: unknown;
    try {
      reply = this.dispatch(m, used);
    } catch (e) {
      sys.closeAll(used);
      if (!(e instanceof VhostUserError)) {
        this.log("error", `${this.name}: ${m.name} failed: ${(e as Error).stack ?? String(e)}; closing`);
        return this.close(`internal error in ${m.name}`);
      }
      this.refused++;
      const canNack = m.needReply && this.replyAck && !EXPLICIT_REPLY.has(m.name);
      this.log("warn", `${this.name}: ${m.name} refused: ${e.message}${canNack ? " (NACK sent)" : "; closing the connection (the front-end cannot be told)"}`);
      if (canNack) this.sendReply(m.name, 1n);
      else this.close(`${m.name} refused: ${e.message}`);
      return;
    }
    if (this.closedReason !== null) return;
    if (EXPLICIT_REPLY.has(m.name)) this.sendReply(m.name, reply as FrontendReplyBody<typeof m.name>);
    else if (m.needReply && this.replyAck) this.sendReply(m.name, 0n);
  }

  private sendReply<K extends FrontendRequestName>(name: K, body: FrontendReplyBody<K>): void {
    const bytes = encodeReply(name, body);
    let sent: number | null;
    try {
      sent = sys.sendMessage(this.fd, bytes);
    } catch (e) {
      return this.close(`sending the ${name} reply failed: ${(e as Error).message}`);
    }
    if (sent !== bytes.length) {
      this.log("warn", `${this.name}: the ${name} reply did not fit in the socket buffer (the front-end is not reading replies); closing`);
      this.close("reply not sent");
    }
  }

  /** One method per message; returns the explicit reply payload where there is one. */
  private dispatch(m: FrontendMessage, fds: number[]): unknown {
    switch (m.name) {
      case "GET_FEATURES":
        return this.getFeatures();
      case "SET_FEATURES":
        return this.setFeatures(m.body);
      case "SET_OWNER":
        return this.setOwner();
      case "RESET_OWNER":
        return this.resetOwner();
      case "SET_MEM_TABLE":
        return this.setMemTable(m.body, fds);
      case "SET_VRING_NUM":
        return this.setVringNum(m.body);
      case "SET_VRING_ADDR":
        return this.setVringAddr(m.body);
      case "SET_VRING_BASE":
        return this.setVringBase(m.body);
      case "GET_VRING_BASE":
        return this.getVringBase(m.body);
      case "SET_VRING_KICK":
        return this.setVringKick(m.body, fds[0] ?? -1);
      case "SET_VRING_CALL":
        return this.setVringCall(m.body, fds[0] ?? -1);
      case "SET_VRING_ERR":
        return this.setVringErr(m.body, fds[0] ?? -1);
      case "GET_PROTOCOL_FEATURES":
        return this.getProtocolFeatures();
      case "SET_PROTOCOL_FEATURES":
        return this.setProtocolFeatures(m.body);
      case "GET_QUEUE_NUM":
        return this.getQueueNum();
      case "SET_VRING_ENABLE":
        return this.setVringEnable(m.body);
      case "GET_CONFIG":
        return this.getConfig(m.body);
      case "SET_STATUS":
        return this.setStatus(m.body);
      case "GET_STATUS":
        return this.getStatus();
      default:
        return reject(`not supported by this back-end (nothing offered needs it)`);
    }
  }

  // -------------------------------------------------------------------------
  // The messages

  getFeatures(): bigint {
    return this.offeredFeatures;
  }

  setFeatures(features: bigint): void {
    const extra = features & ~this.offeredFeatures;
    if (extra !== 0n) reject(`features ${hex(extra)} were not offered (offered ${hex(this.offeredFeatures)})`);
    if (this.vrings.some((v) => v.started) && features !== this.features) reject(`features cannot change while rings run (have ${hex(this.features)}, asked ${hex(features)})`);
    this.features = features;
    this.featuresSet = true;
    this.device.featuresSet?.(features);
    // "upon receiving a VHOST_USER_SET_FEATURES message from the front-end without
    // VHOST_USER_F_PROTOCOL_FEATURES set, the back-end must enable all rings immediately" (Ring states).
    if ((features & PROTOCOL_FEATURES_BIT) === 0n) for (const v of this.vrings) this.enable(v, true);
  }

  setOwner(): void {
    this.owner = true;
  }

  /** Deprecated; "recommended that back-ends either ignore this message, or use it to disable all rings". Disables them. */
  resetOwner(): void {
    for (const v of this.vrings) this.enable(v, false);
  }

  setMemTable(table: MemoryTable, fds: number[]): void {
    const running = this.vrings.filter((v) => v.started).map((v) => v.index);
    if (running.length > 0) reject(`a new memory table while rings ${running.join(", ")} run is not supported; stop them first (GET_VRING_BASE)`);
    let mem: VhostUserMemory;
    try {
      mem = mapMemoryTable(table, fds, { maxBytes: this.maxMemoryBytes });
    } catch (e) {
      if (e instanceof MemoryMapError) reject(e.message);
      throw e;
    } finally {
      sys.closeAll(fds); // a mapping keeps its file alive
    }
    this.memory?.unmap();
    this.memory = mem;
    // Ring addresses were translated through the old table.
    for (const v of this.vrings) {
      if (v.addr) this.translate(v, v.addr, false);
    }
    this.log("info", `${this.name}: memory table: ${table.regions.map((r) => `[guest ${hex(r.guestAddr)} user ${hex(r.userAddr)} size ${hex(r.size)} offset ${hex(r.mmapOffset)}]`).join(" ")}`);
  }

  setVringNum(s: VringState): void {
    const v = this.vrings[s.index]!;
    if (v.started) reject(`vring ${s.index} runs; its size cannot change`);
    v.size = s.num;
    if (v.addr && this.memory) this.translate(v, v.addr, false);
  }

  setVringAddr(a: VringAddr): void {
    const v = this.vrings[a.index]!;
    if (!this.memory) reject(`vring ${a.index}: ring addresses before SET_MEM_TABLE (they are front-end user addresses, translated through the memory table)`);
    if (v.size === 0) reject(`vring ${a.index}: ring addresses before SET_VRING_NUM (the ring's extent depends on its size)`);
    if (v.started && (v.addr?.desc !== a.desc || v.addr?.avail !== a.avail || v.addr?.used !== a.used)) reject(`vring ${a.index} runs; its addresses cannot move`);
    if ((a.flags & 1) !== 0) reject(`vring ${a.index}: used-ring logging (VHOST_VRING_F_LOG) needs VHOST_F_LOG_ALL, which is not offered`);
    this.translate(v, a, true);
  }

  /** Translate and check the three ring areas; on `strict` refuse, otherwise forget stale addresses. */
  private translate(v: Vring, a: VringAddr, strict: boolean): void {
    const mem = this.memory!;
    const packed = (this.features & VIRTIO_F_RING_PACKED) !== 0n;
    const n = v.size;
    // virtio 1.2 §2.7 (split: descriptor table 16 n, available ring 6 + 2 n, used ring 6 + 8 n) and §2.8 (packed: 16 n, 4, 4).
    const parts: [string, bigint, number][] = packed
      ? [["descriptor ring", a.desc, 16 * n], ["driver event suppression area", a.avail, 4], ["device event suppression area", a.used, 4]]
      : [["descriptor table", a.desc, 16 * n], ["available ring", a.avail, 6 + 2 * n], ["used ring", a.used, 6 + 8 * n]];
    const gpas: number[] = [];
    for (const [what, ua, len] of parts) {
      const gpa = ua < 2n ** 53n ? mem.userToGuest(Number(ua), len) : -1;
      if (gpa < 0) {
        v.addr = null;
        v.desc = v.driverArea = v.deviceArea = -1;
        if (strict) reject(`vring ${v.index}: ${what} at user address ${hex(ua)} (+${len}) is outside every memory region`);
        this.log("warn", `${this.name}: vring ${v.index}: ${what} at ${hex(ua)} is not mapped by the new memory table; addresses dropped`);
        return;
      }
      gpas.push(gpa);
    }
    if (packed && (a.avail % 4n !== 0n || a.used % 4n !== 0n)) {
      if (strict) reject(`vring ${v.index}: packed event suppression areas must be 4-byte aligned (§2.8.10.1)`);
    }
    v.addr = a;
    v.desc = gpas[0]!;
    v.driverArea = gpas[1]!;
    v.deviceArea = gpas[2]!;
  }

  /**
   * Where the ring starts: split, the next available index (the used index
   * is read from guest memory at start); packed, both positions with their
   * wrap counters ({@link decodePackedBase}), checked against the ring size
   * when it is known (again at start, in case SET_VRING_NUM comes after).
   */
  setVringBase(s: VringState): void {
    const v = this.vrings[s.index]!;
    if (v.started) reject(`vring ${s.index} runs; stop it (GET_VRING_BASE) before setting its base`);
    if ((this.features & VIRTIO_F_RING_PACKED) !== 0n) {
      const p = decodePackedBase(s.num);
      if (v.size > 0) this.checkPosition(v, p, s.num);
      if (encodePackedBase(p) !== PACKED_BASE_START) this.log("info", `${this.name}: vring ${s.index}: packed base ${hex(s.num)} (${showPosition(p)})`);
    }
    v.base = s.num;
    v.baseSet = true;
  }

  private checkPosition(v: Vring, p: PackedRingPosition, num: number): number {
    try {
      return checkPackedPosition(p, v.size);
    } catch (e) {
      if (e instanceof VirtioError) reject(`vring ${v.index}: packed base ${hex(num)} (${showPosition(p)}) does not fit the ring: ${e.message}`);
      throw e;
    }
  }

  /**
   * Stop the ring (finishing what the driver queued, see
   * {@link VhostUserDevice.vringStopping}) and return where it stopped:
   * split, the next available index; packed, both positions with their wrap
   * counters (vhost-user.rst: "both indices (as maintained by the device)
   * are returned"). SET_VRING_BASE with that value resumes exactly there. A
   * ring that is not running reports its base (the reset state when none
   * was set).
   */
  getVringBase(s: VringState): VringState {
    const v = this.vrings[s.index]!;
    if (v.started) this.stopRing(v, "GET_VRING_BASE");
    if (!v.baseSet) return { index: s.index, num: (this.features & VIRTIO_F_RING_PACKED) !== 0n ? PACKED_BASE_START : 0 };
    return { index: s.index, num: v.base };
  }

  setVringKick(f: VringFd, fd: number): void {
    const v = this.vrings[f.index]!;
    if (!this.featuresSet) reject(`vring ${f.index}: kick before SET_FEATURES (the ring layout is not known)`);
    if (!this.memory) reject(`vring ${f.index}: kick before SET_MEM_TABLE`);
    if (v.size === 0) reject(`vring ${f.index}: kick before SET_VRING_NUM`);
    if (!v.addr) reject(`vring ${f.index}: kick before SET_VRING_ADDR`);
    if (!v.started) {
      const q = this.makeQueue(v); // throws a rejection for a ring the rings module refuses
      this.adoptKick(v, f, fd);
      v.queue = q;
      v.started = true;
      v.failedReason = null;
      this.log("info", `${this.name}: vring ${v.index} started (${v.packed ? "packed" : "split"}, size ${v.size}, ${v.kickPolled ? "polled" : "kick fd"}, ${v.enabled ? "enabled" : "disabled"})`);
      this.device.vringStarted?.(v);
    } else {
      this.adoptKick(v, f, fd);
    }
  }

  private adoptKick(v: Vring, f: VringFd, fd: number): void {
    this.dropKick(v);
    v.kickPolled = f.noFd;
    if (f.noFd) return;
    v.kickFd = fd;
    try {
      v.kickWatch = sys.watchFd(fd, { readable: true }, () => this.onKick(v));
    } catch (e) {
      v.kickFd = -1;
      reject(`vring ${v.index}: the kick descriptor cannot be watched: ${(e as Error).message}`);
    }
  }

  private dropKick(v: Vring): void {
    v.kickWatch?.stop();
    v.kickWatch = null;
    if (v.kickFd >= 0) sys.closeAll([v.kickFd]);
    v.kickFd = -1;
  }

  private onKick(v: Vring): void {
    let kicked = false;
    try {
      while (sys.eventfdRead(v.kickFd) !== null) kicked = true;
    } catch (e) {
      this.log("warn", `${this.name}: vring ${v.index}: reading the kick descriptor failed (${(e as Error).message}); it is no longer watched`);
      v.kickWatch?.stop();
      v.kickWatch = null;
      return;
    }
    if (kicked && v.started) this.device.vringKicked?.(v);
  }

  private makeQueue(v: Vring): DeviceQueue {
    const mem = this.memory!;
    try {
      if ((this.features & VIRTIO_F_RING_PACKED) !== 0n) {
        if (!v.baseSet) return new PackedDevice(mem.guest, v.size, v.desc, v.driverArea, v.deviceArea, this.features);
        const start = decodePackedBase(v.base);
        const taken = this.checkPosition(v, start, v.base);
        // Descriptors between used and available were taken by the device before the stop and never returned.
        if (taken > 0) this.log("warn", `${this.name}: vring ${v.index}: packed base ${hex(v.base)} leaves ${taken} descriptors in flight that this back-end never saw; they will not be returned`);
        return new PackedDevice(mem.guest, v.size, v.desc, v.driverArea, v.deviceArea, this.features, { start });
      }
      const q = new SplitDevice(mem.guest, v.size, v.desc, v.driverArea, v.deviceArea, this.features, { base: v.base & 0xffff });
      // "The device is supposed to read the next index in the Used Ring from the respective vring structure in guest memory" (SET_VRING_BASE).
      const usedIdx = mem.guest.readU16(v.deviceArea + 2);
      if (usedIdx !== (v.base & 0xffff)) this.log("warn", `${this.name}: vring ${v.index}: used index in memory is ${usedIdx} but the base is ${v.base & 0xffff}; continuing from the base for both`);
      return q;
    } catch (e) {
      if (e instanceof VhostUserError) throw e;
      return reject(`vring ${v.index}: ${(e as Error).message}`);
    }
  }

  setVringCall(f: VringFd, fd: number): void {
    const v = this.vrings[f.index]!;
    if (v.callFd >= 0) sys.closeAll([v.callFd]);
    v.callFd = f.noFd ? -1 : fd;
  }

  setVringErr(f: VringFd, fd: number): void {
    const v = this.vrings[f.index]!;
    if (v.errFd >= 0) sys.closeAll([v.errFd]);
    v.errFd = f.noFd ? -1 : fd;
  }

  getProtocolFeatures(): bigint {
    return this.offeredProtocolFeatures;
  }

  setProtocolFeatures(features: bigint): void {
    const extra = features & ~this.offeredProtocolFeatures;
    if (extra !== 0n) reject(`protocol features ${hex(extra)} were not offered (offered ${hex(this.offeredProtocolFeatures)})`);
    this.protocolFeatures = features;
  }

  getQueueNum(): bigint {
    return BigInt(this.device.queueNum ?? this.vrings.length);
  }

  setVringEnable(s: VringState): void {
    if ((this.features & PROTOCOL_FEATURES_BIT) === 0n && this.featuresSet) reject("SET_VRING_ENABLE needs VHOST_USER_F_PROTOCOL_FEATURES, which was not negotiated");
    this.enable(this.vrings[s.index]!, s.num === 1);
  }

  private enable(v: Vring, on: boolean): void {
    if (v.enabled === on) return;
    v.enabled = on;
    this.device.vringEnabled?.(v, on);
  }

  getConfig(c: DeviceConfig): DeviceConfig | null {
    const space = this.device.config?.();
    if (!space || !this.has(ProtocolFeature.CONFIG)) {
      this.log("warn", `${this.name}: GET_CONFIG without VHOST_USER_PROTOCOL_F_CONFIG; replying with an empty payload (error)`);
      return null;
    }
    if (c.offset + c.data.length > space.length) {
      this.log("warn", `${this.name}: GET_CONFIG [${c.offset}, +${c.data.length}) is beyond the ${space.length}-byte config space; replying with an empty payload (error)`);
      return null;
    }
    return { offset: c.offset, flags: c.flags, data: space.slice(c.offset, c.offset + c.data.length) };
  }

  setStatus(status: number): void {
    if (!this.has(ProtocolFeature.STATUS)) reject("SET_STATUS needs VHOST_USER_PROTOCOL_F_STATUS, which was not negotiated");
    this.status = status;
    if (status === 0) this.log("info", `${this.name}: device reset by status 0`);
  }

  getStatus(): number {
    return this.status;
  }

  // -------------------------------------------------------------------------
  // Stopping and closing

  /** @internal a ring's device reported a fault. */
  ringFailed(v: Vring, reason: string): void {
    this.status |= STATUS_NEEDS_RESET;
    this.log("warn", `${this.name}: vring ${v.index} broken: ${reason}`);
  }

  private stopRing(v: Vring, why: string): void {
    let held = 0;
    try {
      held = this.device.vringStopping?.(v) ?? 0;
    } catch (e) {
      this.log("error", `${this.name}: vring ${v.index}: device failed while stopping: ${(e as Error).message}`);
    }
    const q = v.queue;
    if (q instanceof SplitDevice) v.base = (q.lastAvailIdx - held) & 0xffff;
    else if (q instanceof PackedDevice) {
      // A packed ring cannot be rewound (the driver owns the slots again only once they are used): a device must return held chains used.
      if (held > 0) this.log("warn", `${this.name}: vring ${v.index}: the device still holds ${held} packed chains at the stop; the driver will not get them back`);
      const a = q.availState;
      const u = q.usedState;
      v.base = encodePackedBase({ availIdx: a.pos, availWrap: a.wrap, usedIdx: u.pos, usedWrap: u.wrap });
    }
    v.baseSet = true;
    v.queue = null;
    v.started = false;
    this.dropKick(v);
    // DPDK's vhost library closes both descriptors here too; a front-end sends them again before restarting the ring.
    if (v.callFd >= 0) sys.closeAll([v.callFd]);
    v.callFd = -1;
    this.log("info", `${this.name}: vring ${v.index} stopped (${why}), base ${v.base}`);
  }

  /** Close the connection: stop every ring, unmap the memory, close every descriptor. Idempotent. */
  close(reason = "closed by the back-end"): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.watch?.stop();
    this.watch = null;
    // Odd vrings first: a virtio-net transmit ring drains into its receive ring, so that stops last.
    for (const v of [...this.vrings.filter((x) => x.index % 2 === 1), ...this.vrings.filter((x) => x.index % 2 === 0)]) if (v.started) this.stopRing(v, "connection closed");
    for (const v of this.vrings) {
      this.dropKick(v);
      sys.closeAll([v.callFd, v.errFd].filter((x) => x >= 0));
      v.callFd = v.errFd = -1;
      v.addr = null;
    }
    this.memory?.unmap();
    this.memory = null;
    sys.closeAll(this.framer.releaseFds());
    sys.closeAll([this.fd]);
    this.log("info", `${this.name}: connection closed: ${reason}`);
    try {
      this.device.disconnected?.(reason);
    } finally {
      this.onClose?.(reason);
    }
  }
}

const NAMES = new Map<number, FrontendRequestName>(Object.entries(FrontendRequest).map(([k, v]) => [v, k as FrontendRequestName]));
function requestName(code: number): FrontendRequestName | undefined {
  return NAMES.get(code);
}
