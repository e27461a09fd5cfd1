/**
 * The vhost-user wire protocol: constants, message tables, a validating
 * decoder, an encoder, and a stream framer. Pure TypeScript, no I/O.
 *
 * Source: QEMU docs/interop/vhost-user.rst (qemu/qemu commit f6b615b5,
 * "Message Specification", "Protocol features", "Front-end message types",
 * "Back-end message types"). Payload layouts are in messages.ts.
 *
 * A message is a 12-byte header (request u32, flags u32, size u32) and
 * `size` bytes of payload; descriptors travel beside it as SCM_RIGHTS.
 * {@link decodeMessage} checks a received message in a fixed order, and
 * reports the first failure as a {@link VhostUserError}:
 *
 *   1. header: at least 12 bytes; known request; size <= maxBodySize;
 *      version 1; no reserved flag bits (and REPLY set only on replies);
 *      the buffer holds exactly header + size bytes;
 *   2. descriptors: whether this request may carry any, and how many
 *      (SET_MEM_TABLE: one per region; SET_VRING_KICK/CALL/ERR: one unless
 *      the "no fd" bit 8 of the u64 is set; ...);
 *   3. exact body size for the request;
 *   4. per-message validity (regions, vring index, ring size, ...).
 *
 * The decoder never throws on bad input; it returns `{ ok: false, error }`.
 * A connection that sees an error should stay failed (close it).
 */
import {
  ackOr,
  configLayout,
  deviceStateReplyLayout,
  deviceStateTransferLayout,
  emptyOr,
  inflightLayout,
  iotlbLayout,
  LayoutRangeError,
  logAreaLayout,
  memoryTableLayout,
  noneLayout,
  rarpLayout,
  rawLayout,
  sharedObjectLayout,
  singleRegionLayout,
  u64Layout,
  u64NumberLayout,
  vringAddrLayout,
  vringAreaLayout,
  vringFdLayout,
  vringStateLayout,
  VRING_INDEX_MASK,
  VRING_NOFD_MASK,
  type DeviceConfig,
  type DeviceStateReply,
  type DeviceStateTransfer,
  type Inflight,
  type IotlbMsg,
  type Layout,
  type LogArea,
  type MemoryRegion,
  type MemoryTable,
  type Rarp,
  type SharedObject,
  type VringAddr,
  type VringArea,
  type VringFd,
  type VringState,
} from "./messages.js";

export {
  VRING_INDEX_MASK,
  VRING_NOFD_MASK,
  MEMORY_REGION_SIZE,
  CONFIG_HEADER_SIZE,
  type DeviceConfig,
  type DeviceStateReply,
  type DeviceStateTransfer,
  type Inflight,
  type IotlbMsg,
  type LogArea,
  type MemoryRegion,
  type MemoryTable,
  type Rarp,
  type SharedObject,
  type VringAddr,
  type VringArea,
  type VringFd,
  type VringState,
} from "./messages.js";

// ---------------------------------------------------------------------------
// Constants

/** Header: request u32, flags u32, size u32. */
export const VHOST_USER_HEADER_SIZE = 12;
/** "Lower 2 bits are the version (currently 0x01)". */
export const VHOST_USER_VERSION = 0x1;
export const VHOST_USER_VERSION_MASK = 0x3;
/** "Bit 2 is the reply flag". */
export const VHOST_USER_REPLY_MASK = 0x4;
/** "Bit 3 is the need_reply flag" (REPLY_ACK). */
export const VHOST_USER_NEED_REPLY_MASK = 0x8;
/** Bits 4-31 are reserved. */
export const VHOST_USER_RESERVED_FLAGS = 0xffff_fff0;
/** Most memory regions in SET_MEM_TABLE (the spec's region0..region7), hence most descriptors per message. */
export const VHOST_USER_MAX_REGIONS = 8;
export const VHOST_USER_MAX_FDS = 8;
/** Default bound on a payload; the largest defined payload is 268 bytes (12-byte config header + 256). */
export const VHOST_USER_DEFAULT_MAX_BODY = 4096;
/** Largest virtqueue size (virtio 1.2 §2.7 split rings: "Queue Size ... maximum 32768"). */
export const VHOST_USER_MAX_QUEUE_SIZE = 32768;
/** Default bound on a config-space access; QEMU's front-end uses 256 bytes (VHOST_USER_MAX_CONFIG_SIZE). */
export const VHOST_USER_DEFAULT_MAX_CONFIG = 256;
/** The u64 of SET_VRING_KICK/CALL/ERR addresses at most 256 vrings (bits 0-7). */
export const VHOST_USER_MAX_VRINGS = 256;
/** Feature bit 30 of GET/SET_FEATURES: the back-end speaks protocol features. */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;
/** SET_VRING_ADDR flags bit 0 (VHOST_VRING_F_LOG, <linux/vhost_types.h>). */
export const VHOST_VRING_F_LOG = 0;
/** SET_FEATURES bit 26: VHOST_F_LOG_ALL (<linux/vhost.h>). */
export const VHOST_F_LOG_ALL = 26;

/** Front-end message types (front-end -> back-end on the main socket), "Front-end message types". */
export const FrontendRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
  GET_SHARED_OBJECT: 41,
  SET_DEVICE_STATE_FD: 42,
  CHECK_DEVICE_STATE: 43,
} as const;
export type FrontendRequestName = keyof typeof FrontendRequest;

/** Back-end message types (back-end -> front-end on the SET_BACKEND_REQ_FD socket), "Back-end message types". */
export const BackendRequest = {
  IOTLB_MSG: 1,
  CONFIG_CHANGE_MSG: 2,
  VRING_HOST_NOTIFIER_MSG: 3,
  VRING_CALL: 4,
  VRING_ERR: 5,
  SHARED_OBJECT_ADD: 6,
  SHARED_OBJECT_REMOVE: 7,
  SHARED_OBJECT_LOOKUP: 8,
} as const;
export type BackendRequestName = keyof typeof BackendRequest;

/** Protocol feature bit numbers (GET/SET_PROTOCOL_FEATURES), "Protocol features". */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
  XEN_MMAP: 17,
  SHARED_OBJECT: 18,
  DEVICE_STATE: 19,
} as const;
export type ProtocolFeatureName = keyof typeof ProtocolFeature;

/** A feature mask from bit numbers, e.g. `featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK)`. */
export function featureMask(...bits: number[]): bigint {
  return bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);
}

// ---------------------------------------------------------------------------
// Errors

export type VhostUserErrorKind =
  /** Fewer bytes than a header, or than header + declared size. */
  | "truncated"
  /** A request code this side of the channel does not know. */
  | "unknown-request"
  /** Declared payload size above the configured maximum. */
  | "too-large"
  /** Version bits are not 1. */
  | "bad-version"
  /** Reserved flag bits set, or REPLY / NEED_REPLY used where they do not belong. */
  | "bad-flags"
  /** Descriptors where none are allowed, too few, or too many. */
  | "fd-count"
  /** Payload length wrong for the request. */
  | "body-size"
  /** Payload well-formed but its values are not acceptable (overlap, range, alignment, ...). */
  | "invalid"
  /** A reply to a different request than the one awaited. */
  | "reply-mismatch"
  /** A value given to an encoder does not fit its field. */
  | "unencodable"
  /** The framer has already failed; the stream cannot be resynchronised. */
  | "failed"
  /** A well-formed message the back-end refuses in its current state: out of order, an address outside every region, a feature not offered. */
  | "rejected";

export class VhostUserError extends Error {
  readonly kind: VhostUserErrorKind;
  /** The header's request code, when the header was readable. */
  readonly request: number | undefined;
  constructor(kind: VhostUserErrorKind, message: string, request?: number) {
    super(message);
    this.name = "VhostUserError";
    this.kind = kind;
    this.request = request;
  }
}

// ---------------------------------------------------------------------------
// Message types

/** Payload type of each front-end request. */
export interface FrontendRequestBodies {
  GET_FEATURES: null;
  SET_FEATURES: bigint;
  SET_OWNER: null;
  RESET_OWNER: null;
  SET_MEM_TABLE: MemoryTable;
  SET_LOG_BASE: LogArea;
  SET_LOG_FD: null;
  SET_VRING_NUM: VringState;
  SET_VRING_ADDR: VringAddr;
  SET_VRING_BASE: VringState;
  GET_VRING_BASE: VringState;
  SET_VRING_KICK: VringFd;
  SET_VRING_CALL: VringFd;
  SET_VRING_ERR: VringFd;
  GET_PROTOCOL_FEATURES: null;
  SET_PROTOCOL_FEATURES: bigint;
  GET_QUEUE_NUM: null;
  SET_VRING_ENABLE: VringState;
  SEND_RARP: Rarp;
  NET_SET_MTU: number;
  SET_BACKEND_REQ_FD: null;
  IOTLB_MSG: IotlbMsg;
  SET_VRING_ENDIAN: VringState;
  GET_CONFIG: DeviceConfig;
  SET_CONFIG: DeviceConfig;
  CREATE_CRYPTO_SESSION: Uint8Array;
  CLOSE_CRYPTO_SESSION: bigint;
  POSTCOPY_ADVISE: null;
  POSTCOPY_LISTEN: null;
  POSTCOPY_END: null;
  GET_INFLIGHT_FD: Inflight;
  SET_INFLIGHT_FD: Inflight;
  GPU_SET_SOCKET: null;
  RESET_DEVICE: null;
  VRING_KICK: VringState;
  GET_MAX_MEM_SLOTS: null;
  ADD_MEM_REG: MemoryRegion;
  REM_MEM_REG: MemoryRegion;
  SET_STATUS: number;
  GET_STATUS: null;
  GET_SHARED_OBJECT: SharedObject;
  SET_DEVICE_STATE_FD: DeviceStateTransfer;
  CHECK_DEVICE_STATE: null;
}

/** Replies with a payload of their own; every other request is answered (with REPLY_ACK) by a u64, 0 = success. */
export interface FrontendReplyBodies {
  GET_FEATURES: bigint;
  GET_PROTOCOL_FEATURES: bigint;
  GET_VRING_BASE: VringState;
  GET_QUEUE_NUM: bigint;
  /** `null`: an empty payload, the back-end's way of reporting an error. */
  GET_CONFIG: DeviceConfig | null;
  GET_INFLIGHT_FD: Inflight;
  GET_MAX_MEM_SLOTS: bigint;
  GET_STATUS: number;
  POSTCOPY_ADVISE: null;
  /** Postcopy: the regions as mapped by the back-end; otherwise a u64 ack. */
  SET_MEM_TABLE: MemoryTable | bigint;
  ADD_MEM_REG: MemoryRegion | bigint;
  REM_MEM_REG: MemoryRegion | bigint;
  SET_DEVICE_STATE_FD: DeviceStateReply;
}
export type FrontendReplyBody<K extends FrontendRequestName> = K extends keyof FrontendReplyBodies ? FrontendReplyBodies[K] : bigint;

/** Payload type of each back-end request. */
export interface BackendRequestBodies {
  IOTLB_MSG: IotlbMsg;
  CONFIG_CHANGE_MSG: null;
  VRING_HOST_NOTIFIER_MSG: VringArea;
  VRING_CALL: VringState;
  VRING_ERR: VringState;
  SHARED_OBJECT_ADD: SharedObject;
  SHARED_OBJECT_REMOVE: SharedObject;
  SHARED_OBJECT_LOOKUP: SharedObject;
}
/** Every back-end request is answered by a u64 (0 = success); SHARED_OBJECT_LOOKUP's may carry a dma-buf fd. */
export type BackendReplyBody = bigint;

/** A decoded message. `fdCount` descriptors (in order) belong to it; `unusedFds` more arrived and must be closed unused. */
export interface VhostUserMessage<N extends string, B> {
  readonly name: N;
  readonly request: number;
  readonly flags: number;
  readonly needReply: boolean;
  readonly body: B;
  readonly fdCount: number;
  readonly unusedFds: number;
}

export type FrontendMessage = { [K in FrontendRequestName]: VhostUserMessage<K, FrontendRequestBodies[K]> }[FrontendRequestName];
export type FrontendReply = { [K in FrontendRequestName]: VhostUserMessage<K, FrontendReplyBody<K>> }[FrontendRequestName];
export type BackendMessage = { [K in BackendRequestName]: VhostUserMessage<K, BackendRequestBodies[K]> }[BackendRequestName];
export type BackendReply = { [K in BackendRequestName]: VhostUserMessage<K, BackendReplyBody> }[BackendRequestName];

export type DecodeResult<T> = { ok: true; message: T } | { ok: false; error: VhostUserError };

export interface DecodeOptions {
  /** Largest accepted payload (default 4096). */
  maxBodySize?: number;
  /** Most regions accepted in SET_MEM_TABLE, 1 .. 8 (default 8). */
  maxRegions?: number;
  /** Number of vrings of the device; every vring index must be below it (default 256). */
  queueCount?: number;
  /** Largest ring size (default 32768). */
  maxQueueSize?: number;
  /** Packed virtqueues negotiated: ring sizes need not be powers of two, and vring bases use all 32 bits. */
  packed?: boolean;
  /** Largest config-space access (default 256). */
  maxConfigSize?: number;
}

interface Limits {
  maxBodySize: number;
  maxRegions: number;
  queueCount: number;
  maxQueueSize: number;
  packed: boolean;
  maxConfigSize: number;
}

function limits(o: DecodeOptions): Limits {
  return {
    maxBodySize: o.maxBodySize ?? VHOST_USER_DEFAULT_MAX_BODY,
    maxRegions: Math.min(o.maxRegions ?? VHOST_USER_MAX_REGIONS, VHOST_USER_MAX_REGIONS),
    queueCount: o.queueCount ?? VHOST_USER_MAX_VRINGS,
    maxQueueSize: Math.min(o.maxQueueSize ?? VHOST_USER_MAX_QUEUE_SIZE, VHOST_USER_MAX_QUEUE_SIZE),
    packed: o.packed ?? false,
    maxConfigSize: o.maxConfigSize ?? VHOST_USER_DEFAULT_MAX_CONFIG,
  };
}

// ---------------------------------------------------------------------------
// Request tables

/** How many descriptors a message carries: [used, unusedAllowed] or an error message; null if the body is too short to tell. */
type FdRule = (body: DataView, fdCount: number) => { used: number; unused: number } | string | null;

const noFds: FdRule = (_b, n) => (n === 0 ? { used: 0, unused: 0 } : `carries no descriptors, got ${n}`);
const oneFd: FdRule = (_b, n) => (n === 1 ? { used: 1, unused: 0 } : `carries exactly one descriptor, got ${n}`);
const zeroOrOneFd: FdRule = (_b, n) => (n <= 1 ? { used: n, unused: 0 } : `carries at most one descriptor, got ${n}`);
/** REM_MEM_REG: "No file descriptors SHOULD be passed ... the back-end MAY accept messages with one ... MUST close it". */
const strayFdTolerated: FdRule = (_b, n) => (n <= 1 ? { used: 0, unused: n } : `carries no descriptor (one is tolerated and closed), got ${n}`);
const fdPerRegion: FdRule = (b, n) => {
  if (b.byteLength < 4) return null;
  const regions = b.getUint32(0, true);
  return n === regions ? { used: n, unused: 0 } : `carries one descriptor per region: ${regions} regions, ${n} descriptors`;
};
/** One descriptor unless bit 8 ("no fd") of the leading u64 is set. */
const fdUnlessNoFdBit: FdRule = (b, n) => {
  if (b.byteLength < 8) return null;
  const noFd = (b.getUint32(0, true) & VRING_NOFD_MASK) !== 0;
  if (noFd) return n === 0 ? { used: 0, unused: 0 } : `has the no-fd flag (bit 8) set but carries ${n} descriptors`;
  return n === 1 ? { used: 1, unused: 0 } : `carries one descriptor unless the no-fd flag (bit 8) is set, got ${n}`;
};
/** SET_DEVICE_STATE_FD reply: a descriptor unless bit 8 is set; never together with an error. */
const deviceStateReplyFds: FdRule = fdUnlessNoFdBit;

type Check<T> = (v: T, l: Limits, body: DataView) => string | null;

interface Spec<T> {
  readonly name: string;
  readonly code: number;
  readonly layout: Layout<T>;
  readonly fds: FdRule;
  readonly check?: Check<T>;
}

/** A table entry; typed by its payload where written, stored type-erased (the decoder pairs layout and check). */
function spec<T>(name: string, code: number, layout: Layout<T>, fds: FdRule = noFds, check?: Check<T>): Spec<unknown> {
  const s: Spec<T> = check ? { name, code, layout, fds, check } : { name, code, layout, fds };
  return s as unknown as Spec<unknown>;
}

const U64_LIMIT = 1n << 64n;
const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

function checkIndex(index: number, l: Limits): string | null {
  return index < l.queueCount ? null : `vring index ${index} is out of range (${l.queueCount} vrings)`;
}

function checkRingSize(num: number, l: Limits, what = "ring size"): string | null {
  if (num === 0 || num > l.maxQueueSize) return `${what} ${num} is outside 1 .. ${l.maxQueueSize}`;
  if (!l.packed && !isPow2(num)) return `${what} ${num} is not a power of two`;
  return null;
}

function checkRegion(r: MemoryRegion, i: number): string | null {
  if (r.size === 0n) return `region ${i} has size 0`;
  if (r.guestAddr + r.size > U64_LIMIT) return `region ${i}: guest address + size overflows 64 bits`;
  if (r.userAddr + r.size > U64_LIMIT) return `region ${i}: user address + size overflows 64 bits`;
  if (r.mmapOffset + r.size > U64_LIMIT) return `region ${i}: mmap offset + size overflows 64 bits`;
  return null;
}

function overlap(regions: readonly MemoryRegion[], key: "guestAddr" | "userAddr"): string | null {
  const sorted = regions.map((r, i) => ({ start: r[key], end: r[key] + r.size, i })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1]!;
    const cur = sorted[k]!;
    if (cur.start < prev.end) return `regions ${prev.i} and ${cur.i} overlap in ${key === "guestAddr" ? "guest" : "user"} address space`;
  }
  return null;
}

/** The bits of the leading u64 above the index and no-fd flag must be zero. */
function reservedVringBits(body: DataView): string | null {
  const lo = body.getUint32(0, true);
  const hi = body.getUint32(4, true);
  return (lo & ~(VRING_INDEX_MASK | VRING_NOFD_MASK)) !== 0 || hi !== 0 ? "reserved bits 9-63 of the vring u64 are set" : null;
}

function checkConfig(c: DeviceConfig, l: Limits): string | null {
  if (c.data.length > l.maxConfigSize) return `config access of ${c.data.length} bytes exceeds ${l.maxConfigSize}`;
  if (c.offset + c.data.length > l.maxConfigSize) return `config access [${c.offset}, +${c.data.length}) is beyond ${l.maxConfigSize} bytes of config space`;
  if (c.flags > 1) return `config flags ${c.flags} are not 0 (writable fields) or 1 (live migration)`;
  return null;
}

function checkInflight(x: Inflight, l: Limits): string | null {
  if (x.numQueues === 0 || x.numQueues > l.queueCount) return `inflight num_queues ${x.numQueues} is outside 1 .. ${l.queueCount}`;
  return checkRingSize(x.queueSize, l, "inflight queue size");
}

function checkArea(size: bigint, offset: bigint, what: string): string | null {
  if (size === 0n) return `${what} size is 0`;
  if (offset + size > U64_LIMIT) return `${what} offset + size overflows 64 bits`;
  return null;
}

const vringState = (extra?: (v: VringState, l: Limits) => string | null): Check<VringState> => (v, l) => checkIndex(v.index, l) ?? extra?.(v, l) ?? null;
const zeroOrOne = (what: string) => (v: VringState) => (v.num <= 1 ? null : `${what} ${v.num} is not 0 or 1`);
const vringFd: Check<VringFd> = (v, l, body) => reservedVringBits(body) ?? checkIndex(v.index, l);

const frontendSpecs: readonly Spec<unknown>[] = [
  spec("GET_FEATURES", 1, noneLayout),
  spec("SET_FEATURES", 2, u64Layout),
  spec("SET_OWNER", 3, noneLayout),
  spec("RESET_OWNER", 4, noneLayout),
  spec("SET_MEM_TABLE", 5, memoryTableLayout, fdPerRegion, (t, l) => {
    const n = t.regions.length;
    if (n === 0 || n > l.maxRegions) return `${n} memory regions; accepted 1 .. ${l.maxRegions}`;
    for (let i = 0; i < n; i++) {
      const e = checkRegion(t.regions[i]!, i);
      if (e) return e;
    }
    return overlap(t.regions, "guestAddr") ?? overlap(t.regions, "userAddr");
  }),
  // With LOG_SHMFD the payload is a log description and the log memory arrives as a descriptor.
  spec("SET_LOG_BASE", 6, logAreaLayout, oneFd, (v) => checkArea(v.size, v.offset, "log")),
  spec("SET_LOG_FD", 7, noneLayout, oneFd),
  spec("SET_VRING_NUM", 8, vringStateLayout, noFds, vringState((v, l) => checkRingSize(v.num, l))),
  spec("SET_VRING_ADDR", 9, vringAddrLayout, noFds, (v, l) => {
    const e = checkIndex(v.index, l);
    if (e) return e;
    if ((v.flags & ~(1 << VHOST_VRING_F_LOG)) !== 0) return `vring flags 0x${v.flags.toString(16)} has bits other than VHOST_VRING_F_LOG`;
    // virtio 1.2 §2.7 (split: descriptor table 16, available ring 2, used ring 4) and §2.8 (packed: 16, 4, 4).
    if (v.desc % 16n !== 0n) return `descriptor table address 0x${v.desc.toString(16)} is not 16-byte aligned`;
    if (v.avail % 2n !== 0n) return `available ring address 0x${v.avail.toString(16)} is not 2-byte aligned`;
    if (v.used % 4n !== 0n) return `used ring address 0x${v.used.toString(16)} is not 4-byte aligned`;
    return null;
  }),
  spec("SET_VRING_BASE", 10, vringStateLayout, noFds, vringState((v, l) => (l.packed || v.num <= 0xffff ? null : `split-ring base ${v.num} uses reserved bits 16-31`))),
  // The request's num is reserved ("must be set to 0"); it is ignored, not enforced.
  spec("GET_VRING_BASE", 11, vringStateLayout, noFds, vringState()),
  spec("SET_VRING_KICK", 12, vringFdLayout, fdUnlessNoFdBit, vringFd),
  spec("SET_VRING_CALL", 13, vringFdLayout, fdUnlessNoFdBit, vringFd),
  spec("SET_VRING_ERR", 14, vringFdLayout, fdUnlessNoFdBit, vringFd),
  spec("GET_PROTOCOL_FEATURES", 15, noneLayout),
  spec("SET_PROTOCOL_FEATURES", 16, u64Layout),
  spec("GET_QUEUE_NUM", 17, noneLayout),
  spec("SET_VRING_ENABLE", 18, vringStateLayout, noFds, vringState(zeroOrOne("enable"))),
  spec("SEND_RARP", 19, rarpLayout),
  // virtio 1.2 §5.1.4.1: the MTU is between 68 and 65535.
  spec("NET_SET_MTU", 20, u64NumberLayout, noFds, (mtu) => (mtu >= 68 && mtu <= 65535 ? null : `MTU ${mtu} is outside 68 .. 65535`)),
  spec("SET_BACKEND_REQ_FD", 21, noneLayout, oneFd),
  spec("IOTLB_MSG", 22, iotlbLayout, noFds, (m) => {
    if (m.type < 1 || m.type > 4) return `IOTLB message type ${m.type} is not 1 .. 4`;
    if (m.perm > 3) return `IOTLB permissions ${m.perm} are not 0 .. 3`;
    return m.iova + m.size > U64_LIMIT ? "IOTLB iova + size overflows 64 bits" : null;
  }),
  spec("SET_VRING_ENDIAN", 23, vringStateLayout, noFds, vringState(zeroOrOne("endianness"))),
  spec("GET_CONFIG", 24, configLayout, noFds, checkConfig),
  spec("SET_CONFIG", 25, configLayout, noFds, checkConfig),
  // The spec does not define the crypto session description; it is carried as opaque bytes.
  spec("CREATE_CRYPTO_SESSION", 26, rawLayout),
  spec("CLOSE_CRYPTO_SESSION", 27, u64Layout),
  spec("POSTCOPY_ADVISE", 28, noneLayout),
  spec("POSTCOPY_LISTEN", 29, noneLayout),
  spec("POSTCOPY_END", 30, noneLayout),
  spec("GET_INFLIGHT_FD", 31, inflightLayout, noFds, checkInflight),
  spec("SET_INFLIGHT_FD", 32, inflightLayout, oneFd, (v, l) => checkInflight(v, l) ?? checkArea(v.mmapSize, v.mmapOffset, "inflight area")),
  spec("GPU_SET_SOCKET", 33, noneLayout, oneFd),
  spec("RESET_DEVICE", 34, noneLayout),
  spec("VRING_KICK", 35, vringStateLayout, noFds, vringState()),
  spec("GET_MAX_MEM_SLOTS", 36, noneLayout),
  spec("ADD_MEM_REG", 37, singleRegionLayout, oneFd, (r) => checkRegion(r, 0)),
  spec("REM_MEM_REG", 38, singleRegionLayout, strayFdTolerated, (r) => checkRegion(r, 0)),
  spec("SET_STATUS", 39, u64NumberLayout, noFds, (s) => (s <= 0xff ? null : `device status ${s} does not fit in 8 bits`)),
  spec("GET_STATUS", 40, noneLayout),
  spec("GET_SHARED_OBJECT", 41, sharedObjectLayout),
  spec("SET_DEVICE_STATE_FD", 42, deviceStateTransferLayout, oneFd, (v) =>
    v.direction > 1 ? `transfer direction ${v.direction} is not 0 (save) or 1 (load)` : v.phase !== 0 ? `migration phase ${v.phase} is not 0 (stopped)` : null,
  ),
  spec("CHECK_DEVICE_STATE", 43, noneLayout),
];

const ack = (name: string, code: number): Spec<unknown> => spec(name, code, u64Layout);

/** Reply payloads of front-end requests that have their own; others default to a u64 ack. */
const frontendReplySpecs: readonly Spec<unknown>[] = [
  ack("GET_FEATURES", 1),
  ack("GET_PROTOCOL_FEATURES", 15),
  spec("GET_VRING_BASE", 11, vringStateLayout, noFds, vringState()),
  ack("GET_QUEUE_NUM", 17),
  spec("GET_CONFIG", 24, emptyOr(configLayout), noFds, (c, l) => (c === null ? null : checkConfig(c, l))),
  // The spec's table says "N/A", but the message exists to hand the back-end's inflight buffer to the front-end.
  spec("GET_INFLIGHT_FD", 31, inflightLayout, oneFd, (v, l) => checkInflight(v, l) ?? checkArea(v.mmapSize, v.mmapOffset, "inflight area")),
  ack("GET_MAX_MEM_SLOTS", 36),
  spec("GET_STATUS", 40, u64NumberLayout, noFds, (s) => (s <= 0xff ? null : `device status ${s} does not fit in 8 bits`)),
  spec("POSTCOPY_ADVISE", 28, noneLayout, oneFd),
  spec("SET_MEM_TABLE", 5, ackOr(memoryTableLayout), noFds, (t, l) => {
    if (typeof t === "bigint") return null;
    return t.regions.length === 0 || t.regions.length > l.maxRegions ? `${t.regions.length} memory regions; accepted 1 .. ${l.maxRegions}` : null;
  }),
  spec("ADD_MEM_REG", 37, ackOr(singleRegionLayout)),
  spec("REM_MEM_REG", 38, ackOr(singleRegionLayout)),
  spec("GET_SHARED_OBJECT", 41, u64Layout, zeroOrOneFd),
  spec("SET_DEVICE_STATE_FD", 42, deviceStateReplyLayout, deviceStateReplyFds, (v, _l, body) => {
    if ((body.getUint32(0, true) & ~0x1ff) !== 0 || body.getUint32(4, true) !== 0) return "reserved bits 9-63 of the reply are set";
    return v.error !== 0 && !v.noFd ? "the back-end must not both report an error and return a descriptor" : null;
  }),
];

const backendSpecs: readonly Spec<unknown>[] = [
  spec("IOTLB_MSG", 1, iotlbLayout, noFds, (m) => (m.type !== 1 && m.type !== 4 ? `back-end IOTLB message type ${m.type} is not 1 (miss) or 4 (access fail)` : m.perm > 3 ? `IOTLB permissions ${m.perm} are not 0 .. 3` : null)),
  spec("CONFIG_CHANGE_MSG", 2, noneLayout),
  spec("VRING_HOST_NOTIFIER_MSG", 3, vringAreaLayout, fdUnlessNoFdBit, (v, l, body) => reservedVringBits(body) ?? checkIndex(v.index, l) ?? (v.noFd ? null : checkArea(v.size, v.offset, "host notifier"))),
  spec("VRING_CALL", 4, vringStateLayout, noFds, vringState()),
  spec("VRING_ERR", 5, vringStateLayout, noFds, vringState()),
  spec("SHARED_OBJECT_ADD", 6, sharedObjectLayout),
  spec("SHARED_OBJECT_REMOVE", 7, sharedObjectLayout),
  spec("SHARED_OBJECT_LOOKUP", 8, sharedObjectLayout),
];

const backendReplySpecs: readonly Spec<unknown>[] = [spec("SHARED_OBJECT_LOOKUP", 8, u64Layout, zeroOrOneFd)];

const byCode = (specs: readonly Spec<unknown>[]): Map<number, Spec<unknown>> => new Map(specs.map((s) => [s.code, s]));
const FRONTEND = byCode(frontendSpecs);
const FRONTEND_REPLY = byCode(frontendReplySpecs);
const BACKEND = byCode(backendSpecs);
const BACKEND_REPLY = byCode(backendReplySpecs);
const FRONTEND_NAMES = new Map<number, string>(Object.entries(FrontendRequest).map(([k, v]) => [v, k]));
const BACKEND_NAMES = new Map<number, string>(Object.entries(BackendRequest).map(([k, v]) => [v, k]));

function replySpec(replies: Map<number, Spec<unknown>>, names: Map<number, string>, code: number): Spec<unknown> {
  return replies.get(code) ?? ack(names.get(code)!, code);
}

// ---------------------------------------------------------------------------
// Decoding

export interface VhostUserHeader {
  request: number;
  flags: number;
  /** Payload length in bytes. */
  size: number;
}

/** Read the 12-byte header without judging it; null if fewer than 12 bytes. */
export function decodeHeader(bytes: Uint8Array): VhostUserHeader | null {
  if (bytes.length < VHOST_USER_HEADER_SIZE) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, VHOST_USER_HEADER_SIZE);
  return { request: v.getUint32(0, true), flags: v.getUint32(4, true), size: v.getUint32(8, true) };
}

type Mode = { kind: "request" } | { kind: "reply"; expect: number };

function decode(bytes: Uint8Array, fdCount: number, options: DecodeOptions, table: Map<number, Spec<unknown>>, names: Map<number, string>, replies: Map<number, Spec<unknown>> | undefined, mode: Mode): DecodeResult<VhostUserMessage<string, unknown>> {
  const fail = (kind: VhostUserErrorKind, message: string, request?: number): DecodeResult<never> => ({ ok: false, error: new VhostUserError(kind, message, request) });
  const l = limits(options);

  // 1. header
  const h = decodeHeader(bytes);
  if (!h) return fail("truncated", `${bytes.length} bytes is shorter than the ${VHOST_USER_HEADER_SIZE}-byte header`);
  const name = names.get(h.request);
  if (name === undefined || !table.has(h.request)) return fail("unknown-request", `unknown request code ${h.request}`, h.request);
  if (mode.kind === "reply" && h.request !== mode.expect) return fail("reply-mismatch", `awaited a reply to ${names.get(mode.expect) ?? mode.expect}, got one to ${name}`, h.request);
  if (h.size > l.maxBodySize) return fail("too-large", `${name}: payload of ${h.size} bytes exceeds the ${l.maxBodySize}-byte limit`, h.request);
  if ((h.flags & VHOST_USER_VERSION_MASK) !== VHOST_USER_VERSION) return fail("bad-version", `${name}: version ${h.flags & VHOST_USER_VERSION_MASK}, expected ${VHOST_USER_VERSION}`, h.request);
  if ((h.flags & VHOST_USER_RESERVED_FLAGS) !== 0) return fail("bad-flags", `${name}: reserved flag bits set (flags 0x${h.flags.toString(16)})`, h.request);
  const reply = (h.flags & VHOST_USER_REPLY_MASK) !== 0;
  const needReply = (h.flags & VHOST_USER_NEED_REPLY_MASK) !== 0;
  if (mode.kind === "request" && reply) return fail("bad-flags", `${name}: the REPLY flag is set on a request`, h.request);
  if (mode.kind === "reply" && (!reply || needReply)) return fail("bad-flags", `${name}: a reply must have REPLY set and NEED_REPLY clear (flags 0x${h.flags.toString(16)})`, h.request);
  if (bytes.length < VHOST_USER_HEADER_SIZE + h.size) return fail("truncated", `${name}: ${bytes.length - VHOST_USER_HEADER_SIZE} payload bytes present, header declares ${h.size}`, h.request);
  if (bytes.length > VHOST_USER_HEADER_SIZE + h.size) return fail("body-size", `${name}: ${bytes.length - VHOST_USER_HEADER_SIZE - h.size} bytes beyond the declared payload of ${h.size}`, h.request);

  const s = mode.kind === "reply" ? replySpec(replies!, names, h.request) : table.get(h.request)!;
  const body = new DataView(bytes.buffer, bytes.byteOffset + VHOST_USER_HEADER_SIZE, h.size);

  // 2. descriptors
  if (!Number.isInteger(fdCount) || fdCount < 0 || fdCount > VHOST_USER_MAX_FDS) return fail("fd-count", `${name}: ${fdCount} descriptors; a message carries 0 .. ${VHOST_USER_MAX_FDS}`, h.request);
  const fds = s.fds(body, fdCount);
  if (fds === null) return fail("body-size", `${name}: payload of ${h.size} bytes is too short to hold its fields`, h.request);
  if (typeof fds === "string") return fail("fd-count", `${name} ${fds}`, h.request);

  // 3. exact body size
  const expected = s.layout.size(body);
  if (expected !== h.size) return fail("body-size", expected < 0 ? `${name}: payload of ${h.size} bytes is too short to hold its fields` : `${name}: payload is ${h.size} bytes, expected ${expected}`, h.request);

  // 4. per-message validity
  const value = s.layout.decode(body);
  const problem = s.check?.(value, l, body);
  if (problem) return fail("invalid", `${name}: ${problem}`, h.request);

  return { ok: true, message: { name, request: h.request, flags: h.flags, needReply, body: value, fdCount: fds.used, unusedFds: fds.unused } };
}

/**
 * Decode and validate a front-end request (what a back-end receives on the
 * main socket). `fdCount` is the number of descriptors that arrived with it.
 */
export function decodeMessage(bytes: Uint8Array, fdCount: number, options: DecodeOptions = {}): DecodeResult<FrontendMessage> {
  return decode(bytes, fdCount, options, FRONTEND, FRONTEND_NAMES, undefined, { kind: "request" }) as DecodeResult<FrontendMessage>;
}

/** Decode the back-end's reply to the front-end request `awaited` (what a front-end receives). */
export function decodeReply<K extends FrontendRequestName>(bytes: Uint8Array, fdCount: number, awaited: K, options: DecodeOptions = {}): DecodeResult<VhostUserMessage<K, FrontendReplyBody<K>>> {
  return decode(bytes, fdCount, options, FRONTEND, FRONTEND_NAMES, FRONTEND_REPLY, { kind: "reply", expect: FrontendRequest[awaited] }) as DecodeResult<VhostUserMessage<K, FrontendReplyBody<K>>>;
}

/** Decode a back-end request (what a front-end receives on the back-end channel). */
export function decodeBackendMessage(bytes: Uint8Array, fdCount: number, options: DecodeOptions = {}): DecodeResult<BackendMessage> {
  return decode(bytes, fdCount, options, BACKEND, BACKEND_NAMES, undefined, { kind: "request" }) as DecodeResult<BackendMessage>;
}

/** Decode the front-end's reply to the back-end request `awaited`. */
export function decodeBackendReply<K extends BackendRequestName>(bytes: Uint8Array, fdCount: number, awaited: K, options: DecodeOptions = {}): DecodeResult<VhostUserMessage<K, BackendReplyBody>> {
  return decode(bytes, fdCount, options, BACKEND, BACKEND_NAMES, BACKEND_REPLY, { kind: "reply", expect: BackendRequest[awaited] }) as DecodeResult<VhostUserMessage<K, BackendReplyBody>>;
}

// ---------------------------------------------------------------------------
// Encoding

export interface EncodeOptions {
  /** Set NEED_REPLY (REPLY_ACK negotiated): the peer must answer with a u64. */
  needReply?: boolean;
}

function encode(code: number, flags: number, layout: Layout<unknown>, body: unknown, name: string): Uint8Array {
  let payload: Uint8Array;
  try {
    payload = layout.encode(body);
  } catch (e) {
    if (e instanceof LayoutRangeError) throw new VhostUserError("unencodable", `${name}: ${e.message}`, code);
    throw e;
  }
  const out = new Uint8Array(VHOST_USER_HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, code, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, VHOST_USER_HEADER_SIZE);
  return out;
}

const requestFlags = (o: EncodeOptions): number => VHOST_USER_VERSION | (o.needReply ? VHOST_USER_NEED_REPLY_MASK : 0);
const replyFlags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;

/** Encode a front-end request. Values are written as given (only their field widths are checked). */
export function encodeMessage<K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], options: EncodeOptions = {}): Uint8Array {
  const code = FrontendRequest[name];
  return encode(code, requestFlags(options), FRONTEND.get(code)!.layout, body, name);
}

/** Encode the back-end's reply to front-end request `name`. */
export function encodeReply<K extends FrontendRequestName>(name: K, body: FrontendReplyBody<K>): Uint8Array {
  const code = FrontendRequest[name];
  return encode(code, replyFlags, replySpec(FRONTEND_REPLY, FRONTEND_NAMES, code).layout, body, name);
}

/** Encode a back-end request. */
export function encodeBackendMessage<K extends BackendRequestName>(name: K, body: BackendRequestBodies[K], options: EncodeOptions = {}): Uint8Array {
  const code = BackendRequest[name];
  return encode(code, requestFlags(options), BACKEND.get(code)!.layout, body, name);
}

/** Encode the front-end's reply to back-end request `name`. */
export function encodeBackendReply(name: BackendRequestName, body: BackendReplyBody): Uint8Array {
  const code = BackendRequest[name];
  return encode(code, replyFlags, replySpec(BACKEND_REPLY, BACKEND_NAMES, code).layout, body, name);
}

// ---------------------------------------------------------------------------
// Framing

/** One message cut from a byte stream, with the descriptors that arrived while it was read. */
export interface Frame {
  /** Header and payload, exactly 12 + size bytes. */
  bytes: Uint8Array;
  fds: number[];
}

export interface FramerOptions {
  /** Largest payload accepted; larger headers fail the framer before anything is allocated (default 4096). */
  maxBodySize?: number;
  /** Most descriptors per message (default 8). */
  maxFds?: number;
}

/**
 * Cuts a stream into messages: first the 12-byte header, then exactly the
 * declared payload, allocating only `12 + size` bytes once the size has
 * passed the bound.
 *
 * Reading discipline: ask the socket for at most `wanted` bytes each time,
 * and pass the descriptors that arrived with those bytes to {@link push}.
 * A Unix stream socket delivers descriptors with the first byte of the send
 * that carried them, so a header read starting at a message boundary picks
 * up exactly that message's descriptors.
 *
 * The framer owns every descriptor pushed into it until the frame is taken;
 * on teardown or failure {@link releaseFds} hands back the ones it holds, to
 * be closed. After an error the framer stays failed.
 */
export class MessageFramer {
  private readonly maxBody: number;
  private readonly maxFds: number;
  private readonly header = new Uint8Array(VHOST_USER_HEADER_SIZE);
  private headerFill = 0;
  private frame: Uint8Array | undefined;
  private frameFill = 0;
  private fds: number[] = [];
  private orphans: number[] = [];
  private readonly ready: Frame[] = [];
  private failure: VhostUserError | null = null;

  constructor(options: FramerOptions = {}) {
    this.maxBody = options.maxBodySize ?? VHOST_USER_DEFAULT_MAX_BODY;
    this.maxFds = options.maxFds ?? VHOST_USER_MAX_FDS;
  }

  /** Bytes needed to finish the current header or payload (0 after a failure). */
  get wanted(): number {
    if (this.failure) return 0;
    return this.frame ? this.frame.length - this.frameFill : VHOST_USER_HEADER_SIZE - this.headerFill;
  }

  /** The sticky failure, if any. */
  get error(): VhostUserError | null {
    return this.failure;
  }

  /** True between messages (nothing partial buffered): where a clean end of stream may happen. */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.frame === undefined;
  }

  /**
   * Consume bytes of `chunk` up to the end of the current message, never
   * into the next one (push the rest again), taking custody of `fds`, which
   * belong to the message being assembled. Returns the bytes consumed.
   */
  push(chunk: Uint8Array, fds: readonly number[] = []): number {
    if (this.failure) {
      this.orphans.push(...fds);
      return 0;
    }
    this.fds.push(...fds);
    if (this.fds.length > this.maxFds) return this.fail(new VhostUserError("fd-count", `${this.fds.length} descriptors arrived for one message; at most ${this.maxFds}`));
    let used = 0;
    if (!this.frame) {
      const n = Math.min(chunk.length, VHOST_USER_HEADER_SIZE - this.headerFill);
      this.header.set(chunk.subarray(0, n), this.headerFill);
      this.headerFill += n;
      used = n;
      if (this.headerFill < VHOST_USER_HEADER_SIZE) return used;
      const size = new DataView(this.header.buffer).getUint32(8, true);
      if (size > this.maxBody) return this.fail(new VhostUserError("too-large", `header declares a payload of ${size} bytes; the limit is ${this.maxBody}`, new DataView(this.header.buffer).getUint32(0, true)), used);
      this.frame = new Uint8Array(VHOST_USER_HEADER_SIZE + size);
      this.frame.set(this.header, 0);
      this.frameFill = VHOST_USER_HEADER_SIZE;
      this.headerFill = 0;
    }
    const n = Math.min(chunk.length - used, this.frame.length - this.frameFill);
    this.frame.set(chunk.subarray(used, used + n), this.frameFill);
    this.frameFill += n;
    used += n;
    if (this.frameFill === this.frame.length) {
      this.ready.push({ bytes: this.frame, fds: this.fds });
      this.frame = undefined;
      this.frameFill = 0;
      this.fds = [];
    }
    return used;
  }

  /** The next complete frame, or null. */
  take(): Frame | null {
    return this.ready.shift() ?? null;
  }

  /** Every descriptor the framer still holds (partial and untaken frames, and any pushed after a failure); the caller closes them. */
  releaseFds(): number[] {
    const all = [...this.ready.flatMap((f) => f.fds), ...this.fds, ...this.orphans];
    this.ready.length = 0;
    this.fds = [];
    this.orphans = [];
    return all;
  }

  private fail(error: VhostUserError, used = 0): number {
    this.failure = error;
    this.frame = undefined;
    this.headerFill = 0;
    return used;
  }
}
