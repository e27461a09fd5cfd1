/**
 * vhost-user payload layouts: the types and their byte encodings.
 *
 * Source: QEMU docs/interop/vhost-user.rst ("Message Specification" /
 * "Payload"), read at qemu/qemu commit f6b615b5; struct sizes follow the
 * C structures both QEMU and DPDK put on the wire (`sizeof`, natural
 * alignment, no packing inside a payload), cross-checked with
 * <linux/vhost_types.h> where the kernel defines the struct.
 *
 * "All numbers are in the machine native byte order" (spec): nfvio runs on
 * little-endian hosts (x86_64, aarch64), so every field is little-endian.
 * 64-bit fields are `bigint`; 32-bit and smaller fields are `number`.
 *
 * A layout only converts bytes; it never judges values. Validity (ranges,
 * overlaps, alignment) is checked by the request tables in protocol.ts, so
 * the encoder can also build hostile messages for tests.
 */

/** `struct vhost_vring_state`: {index u32, num u32}, 8 bytes. */
export interface VringState {
  index: number;
  num: number;
}

/**
 * `struct vhost_vring_addr`, 40 bytes: index u32, flags u32, then the user
 * addresses of the descriptor table, used ring and available ring, and the
 * guest address for dirty logging (all u64). The spec's table also shows a
 * "size" column that the C struct (and every implementation) does not have.
 */
export interface VringAddr {
  index: number;
  /** Bit 0 (VHOST_VRING_F_LOG): log writes to the used ring. */
  flags: number;
  desc: bigint;
  used: bigint;
  avail: bigint;
  log: bigint;
}

/** "Memory region description", 32 bytes: guest address, size, user address, mmap offset (all u64). */
export interface MemoryRegion {
  guestAddr: bigint;
  size: bigint;
  userAddr: bigint;
  mmapOffset: bigint;
}

/** "Multiple Memory regions description": nregions u32, padding u32, then nregions regions (8 + 32 n bytes on the wire). */
export interface MemoryTable {
  regions: MemoryRegion[];
}

/** "Log description", 16 bytes: size of the log area and its offset in the passed fd. */
export interface LogArea {
  size: bigint;
  offset: bigint;
}

/**
 * `struct vhost_iotlb_msg` (<linux/vhost_types.h>), 32 bytes: iova, size,
 * uaddr (u64), perm (u8), type (u8), then 6 bytes of tail padding.
 */
export interface IotlbMsg {
  iova: bigint;
  size: bigint;
  userAddr: bigint;
  /** 0 none, 1 read, 2 write, 3 read/write. */
  perm: number;
  /** 1 miss, 2 update, 3 invalidate, 4 access fail. */
  type: number;
}

/** "Virtio device config space": offset u32, size u32, flags u32, then `size` bytes (12 + size on the wire). */
export interface DeviceConfig {
  offset: number;
  /** 0: writable fields, 1: live migration. */
  flags: number;
  data: Uint8Array;
}

/** The u64 of SET_VRING_KICK/CALL/ERR: bits 0-7 vring index, bit 8 "no fd" (polling instead of an eventfd). */
export interface VringFd {
  index: number;
  noFd: boolean;
}

/** "Vring area description", 24 bytes: u64 (vring index and flags, as {@link VringFd}), size, offset. */
export interface VringArea {
  index: number;
  noFd: boolean;
  size: bigint;
  offset: bigint;
}

/**
 * "Inflight description": mmap size, mmap offset (u64), num queues, queue
 * size (u16); 24 bytes on the wire, the C struct's size with 4 bytes of tail
 * padding.
 */
export interface Inflight {
  mmapSize: bigint;
  mmapOffset: bigint;
  numQueues: number;
  queueSize: number;
}

/** "VhostUserShared": a 16-byte UUID. */
export interface SharedObject {
  uuid: Uint8Array;
}

/** "Device state transfer parameters", 8 bytes: direction (0 save, 1 load), phase (0 stopped). */
export interface DeviceStateTransfer {
  direction: number;
  phase: number;
}

/** SEND_RARP's u64: "the first 6 bytes of the payload contain the mac address". */
export interface Rarp {
  mac: Uint8Array;
}

/** Reply to SET_DEVICE_STATE_FD: bits 0-7 error (0 = success), bit 8 "no fd returned". */
export interface DeviceStateReply {
  error: number;
  noFd: boolean;
}

/** A byte encoding of one payload type. */
export interface Layout<T> {
  /** Exact body length for this body, reading any count field it needs; -1 if the body is too short to tell. */
  size(body: DataView): number;
  decode(body: DataView): T;
  encode(value: T): Uint8Array;
}

/** Thrown by encoders for a value that cannot be represented on the wire. */
export class LayoutRangeError extends RangeError {}

const U64_MAX = (1n << 64n) - 1n;

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new LayoutRangeError(`${what} = ${v} does not fit in u32`);
  return v;
}
function u16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new LayoutRangeError(`${what} = ${v} does not fit in u16`);
  return v;
}
function u8(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new LayoutRangeError(`${what} = ${v} does not fit in u8`);
  return v;
}
function u64(v: bigint, what: string): bigint {
  if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new LayoutRangeError(`${what} = ${String(v)} does not fit in u64`);
  return v;
}

function fixed<T>(size: number, decode: (v: DataView) => T, write: (v: DataView, value: T) => void): Layout<T> {
  return {
    size: () => size,
    decode,
    encode(value) {
      const out = new Uint8Array(size);
      write(new DataView(out.buffer), value);
      return out;
    },
  };
}

export const noneLayout: Layout<null> = fixed(0, () => null, () => {});

export const u64Layout: Layout<bigint> = fixed(
  8,
  (v) => v.getBigUint64(0, true),
  (v, x) => v.setBigUint64(0, u64(x, "u64"), true),
);

export const vringStateLayout: Layout<VringState> = fixed(
  8,
  (v) => ({ index: v.getUint32(0, true), num: v.getUint32(4, true) }),
  (v, x) => {
    v.setUint32(0, u32(x.index, "index"), true);
    v.setUint32(4, u32(x.num, "num"), true);
  },
);

export const vringAddrLayout: Layout<VringAddr> = fixed(
  40,
  (v) => ({
    index: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    desc: v.getBigUint64(8, true),
    used: v.getBigUint64(16, true),
    avail: v.getBigUint64(24, true),
    log: v.getBigUint64(32, true),
  }),
  (v, x) => {
    v.setUint32(0, u32(x.index, "index"), true);
    v.setUint32(4, u32(x.flags, "flags"), true);
    v.setBigUint64(8, u64(x.desc, "desc"), true);
    v.setBigUint64(16, u64(x.used, "used"), true);
    v.setBigUint64(24, u64(x.avail, "avail"), true);
    v.setBigUint64(32, u64(x.log, "log"), true);
  },
);

export const MEMORY_REGION_SIZE = 32;

function readRegion(v: DataView, off: number): MemoryRegion {
  return {
    guestAddr: v.getBigUint64(off, true),
    size: v.getBigUint64(off + 8, true),
    userAddr: v.getBigUint64(off + 16, true),
    mmapOffset: v.getBigUint64(off + 24, true),
  };
}
function writeRegion(v: DataView, off: number, r: MemoryRegion): void {
  v.setBigUint64(off, u64(r.guestAddr, "guestAddr"), true);
  v.setBigUint64(off + 8, u64(r.size, "size"), true);
  v.setBigUint64(off + 16, u64(r.userAddr, "userAddr"), true);
  v.setBigUint64(off + 24, u64(r.mmapOffset, "mmapOffset"), true);
}

export const memoryTableLayout: Layout<MemoryTable> = {
  size: (v) => (v.byteLength < 4 ? -1 : 8 + MEMORY_REGION_SIZE * v.getUint32(0, true)),
  decode(v) {
    const n = v.getUint32(0, true);
    const regions: MemoryRegion[] = [];
    for (let i = 0; i < n; i++) regions.push(readRegion(v, 8 + MEMORY_REGION_SIZE * i));
    return { regions };
  },
  encode(x) {
    const out = new Uint8Array(8 + MEMORY_REGION_SIZE * x.regions.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, u32(x.regions.length, "nregions"), true);
    x.regions.forEach((r, i) => writeRegion(v, 8 + MEMORY_REGION_SIZE * i, r));
    return out;
  },
};

/** "Single memory region description": 8 bytes of padding, then one region (40 bytes). */
export const singleRegionLayout: Layout<MemoryRegion> = fixed(
  8 + MEMORY_REGION_SIZE,
  (v) => readRegion(v, 8),
  (v, x) => writeRegion(v, 8, x),
);

export const logAreaLayout: Layout<LogArea> = fixed(
  16,
  (v) => ({ size: v.getBigUint64(0, true), offset: v.getBigUint64(8, true) }),
  (v, x) => {
    v.setBigUint64(0, u64(x.size, "size"), true);
    v.setBigUint64(8, u64(x.offset, "offset"), true);
  },
);

export const iotlbLayout: Layout<IotlbMsg> = fixed(
  32,
  (v) => ({ iova: v.getBigUint64(0, true), size: v.getBigUint64(8, true), userAddr: v.getBigUint64(16, true), perm: v.getUint8(24), type: v.getUint8(25) }),
  (v, x) => {
    v.setBigUint64(0, u64(x.iova, "iova"), true);
    v.setBigUint64(8, u64(x.size, "size"), true);
    v.setBigUint64(16, u64(x.userAddr, "userAddr"), true);
    v.setUint8(24, u8(x.perm, "perm"));
    v.setUint8(25, u8(x.type, "type"));
  },
);

export const CONFIG_HEADER_SIZE = 12;

export const configLayout: Layout<DeviceConfig> = {
  size: (v) => (v.byteLength < CONFIG_HEADER_SIZE ? -1 : CONFIG_HEADER_SIZE + v.getUint32(4, true)),
  decode(v) {
    const size = v.getUint32(4, true);
    return { offset: v.getUint32(0, true), flags: v.getUint32(8, true), data: new Uint8Array(v.buffer, v.byteOffset + CONFIG_HEADER_SIZE, size).slice() };
  },
  encode(x) {
    const out = new Uint8Array(CONFIG_HEADER_SIZE + x.data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, u32(x.offset, "offset"), true);
    v.setUint32(4, x.data.length, true);
    v.setUint32(8, u32(x.flags, "flags"), true);
    out.set(x.data, CONFIG_HEADER_SIZE);
    return out;
  },
};

export const VRING_INDEX_MASK = 0xff;
export const VRING_NOFD_MASK = 0x100;

function writeVringU64(v: DataView, x: { index: number; noFd: boolean }): void {
  u8(x.index, "vring index");
  v.setBigUint64(0, BigInt(x.index | (x.noFd ? VRING_NOFD_MASK : 0)), true);
}

export const vringFdLayout: Layout<VringFd> = fixed(
  8,
  (v) => {
    const lo = v.getUint32(0, true);
    return { index: lo & VRING_INDEX_MASK, noFd: (lo & VRING_NOFD_MASK) !== 0 };
  },
  writeVringU64,
);

export const vringAreaLayout: Layout<VringArea> = fixed(
  24,
  (v) => {
    const lo = v.getUint32(0, true);
    return { index: lo & VRING_INDEX_MASK, noFd: (lo & VRING_NOFD_MASK) !== 0, size: v.getBigUint64(8, true), offset: v.getBigUint64(16, true) };
  },
  (v, x) => {
    writeVringU64(v, x);
    v.setBigUint64(8, u64(x.size, "size"), true);
    v.setBigUint64(16, u64(x.offset, "offset"), true);
  },
);

export const inflightLayout: Layout<Inflight> = fixed(
  24,
  (v) => ({ mmapSize: v.getBigUint64(0, true), mmapOffset: v.getBigUint64(8, true), numQueues: v.getUint16(16, true), queueSize: v.getUint16(18, true) }),
  (v, x) => {
    v.setBigUint64(0, u64(x.mmapSize, "mmapSize"), true);
    v.setBigUint64(8, u64(x.mmapOffset, "mmapOffset"), true);
    v.setUint16(16, u16(x.numQueues, "numQueues"), true);
    v.setUint16(18, u16(x.queueSize, "queueSize"), true);
  },
);

export const sharedObjectLayout: Layout<SharedObject> = {
  size: () => 16,
  decode: (v) => ({ uuid: new Uint8Array(v.buffer, v.byteOffset, 16).slice() }),
  encode(x) {
    if (x.uuid.length !== 16) throw new LayoutRangeError(`a UUID is 16 bytes, not ${x.uuid.length}`);
    return x.uuid.slice();
  },
};

export const deviceStateTransferLayout: Layout<DeviceStateTransfer> = fixed(
  8,
  (v) => ({ direction: v.getUint32(0, true), phase: v.getUint32(4, true) }),
  (v, x) => {
    v.setUint32(0, u32(x.direction, "direction"), true);
    v.setUint32(4, u32(x.phase, "phase"), true);
  },
);

export const rarpLayout: Layout<Rarp> = {
  size: () => 8,
  decode: (v) => ({ mac: new Uint8Array(v.buffer, v.byteOffset, 6).slice() }),
  encode(x) {
    if (x.mac.length !== 6) throw new LayoutRangeError(`a MAC address is 6 bytes, not ${x.mac.length}`);
    const out = new Uint8Array(8);
    out.set(x.mac, 0);
    return out;
  },
};

/** A u64 payload read as a number (MTU, device status); values above 2^32 - 1 are kept exact only below 2^53. */
export const u64NumberLayout: Layout<number> = fixed(
  8,
  (v) => Number(v.getBigUint64(0, true)),
  (v, x) => {
    if (!Number.isSafeInteger(x) || x < 0) throw new LayoutRangeError(`${x} is not a non-negative integer`);
    v.setBigUint64(0, BigInt(x), true);
  },
);

export const deviceStateReplyLayout: Layout<DeviceStateReply> = fixed(
  8,
  (v) => {
    const lo = v.getUint32(0, true);
    return { error: lo & 0xff, noFd: (lo & VRING_NOFD_MASK) !== 0 };
  },
  (v, x) => v.setBigUint64(0, BigInt(u8(x.error, "error") | (x.noFd ? VRING_NOFD_MASK : 0)), true),
);

/** Opaque bytes, for payloads the spec leaves undefined (CREATE_CRYPTO_SESSION). */
export const rawLayout: Layout<Uint8Array> = {
  size: (v) => v.byteLength,
  decode: (v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice(),
  encode: (x) => x.slice(),
};

/** Either a u64 ack (REPLY_ACK, 8 bytes) or the inner layout, told apart by length. */
export function ackOr<T>(inner: Layout<T>): Layout<T | bigint> {
  return {
    size: (v) => (v.byteLength === 8 ? 8 : inner.size(v)),
    decode: (v) => (v.byteLength === 8 ? u64Layout.decode(v) : inner.decode(v)),
    encode: (x) => (typeof x === "bigint" ? u64Layout.encode(x) : inner.encode(x)),
  };
}

/** Either an empty payload (`null`: the back-end's error signal for GET_CONFIG) or the inner layout. */
export function emptyOr<T>(inner: Layout<T>): Layout<T | null> {
  return {
    size: (v) => (v.byteLength === 0 ? 0 : inner.size(v)),
    decode: (v) => (v.byteLength === 0 ? null : inner.decode(v)),
    encode: (x) => (x === null ? new Uint8Array(0) : inner.encode(x)),
  };
}
