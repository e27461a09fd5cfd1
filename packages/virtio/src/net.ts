/**
 * The virtio-net device's wire structures (virtio 1.2 §5.1): the per-packet
 * header (§5.1.6), the device configuration space (§5.1.4) and the
 * multiqueue / RSS control commands (§5.1.6.5.6, §5.1.6.5.7), with their
 * constants. All multi-byte fields are little-endian.
 *
 * Header encode/decode works on a caller-owned {@link NetHeader} record and
 * byte array and allocates nothing, so it can run per packet. Config and
 * control structures are control-path: they allocate and throw
 * VirtioError("malformed") on invalid input.
 */
import { VirtioError } from "./errors.js";
import { VIRTIO_F_VERSION_1, VIRTIO_NET_F_HASH_REPORT, VIRTIO_NET_F_MQ, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_MTU, VIRTIO_NET_F_RSS } from "./features.js";

// ---- Header (§5.1.6) ----

/** Header flag: checksum the bytes from csum_start, store the result at csum_start + csum_offset (§5.1.6.2). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** Header flag (receive): the device validated the packet's checksum (§5.1.6.4). */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** Header flag (receive, RSC_EXT): csum_start holds the coalesced segment count and csum_offset the duplicated ACK count (§5.1.6.4). */
export const VIRTIO_NET_HDR_F_RSC_INFO = 4;

/** gso_type: not a GSO frame (§5.1.6). */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
/** gso_type: TCP over IPv4 segmentation. */
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** gso_type: UDP fragmentation (UFO). */
export const VIRTIO_NET_HDR_GSO_UDP = 3;
/** gso_type: TCP over IPv6 segmentation. */
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** gso_type: UDP segmentation (USO). */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** gso_type bit: the TCP segments carry ECN (CWR set on the first). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** Header size for a legacy device without VIRTIO_NET_F_MRG_RXBUF: no num_buffers (§5.1.6.1). */
export const NET_HDR_SIZE_LEGACY = 10;
/** Header size with VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF (§5.1.6). */
export const NET_HDR_SIZE = 12;
/** Header size with VIRTIO_NET_F_HASH_REPORT: adds hash_value, hash_report, padding_reserved (§5.1.6). */
export const NET_HDR_SIZE_HASH = 20;

/** Size of `struct virtio_net_hdr` for the negotiated features (§5.1.6, §5.1.6.1). */
export function netHeaderSize(features: bigint): number {
  if ((features & VIRTIO_NET_F_HASH_REPORT) !== 0n) return NET_HDR_SIZE_HASH;
  if ((features & (VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF)) !== 0n) return NET_HDR_SIZE;
  return NET_HDR_SIZE_LEGACY;
}

/**
 * A decoded `struct virtio_net_hdr` (§5.1.6). Create one per burst slot and
 * reuse it: {@link decodeNetHeader} overwrites every field.
 */
export class NetHeader {
  /** VIRTIO_NET_HDR_F_* bits. */
  flags = 0;
  /** VIRTIO_NET_HDR_GSO_* value, possibly with VIRTIO_NET_HDR_GSO_ECN. */
  gsoType = 0;
  /** Length of the headers to copy into each segment. */
  hdrLen = 0;
  /** Maximum segment payload size. */
  gsoSize = 0;
  /** Where checksumming starts (or, with RSC_INFO, the coalesced segment count). */
  csumStart = 0;
  /** Offset from csumStart where the checksum goes (or, with RSC_INFO, the duplicated ACK count). */
  csumOffset = 0;
  /** Number of merged receive buffers (12- and 20-byte headers; 0 on transmit). */
  numBuffers = 0;
  /** Reported hash (20-byte header). */
  hashValue = 0;
  /** VIRTIO_NET_HASH_REPORT_* (20-byte header). */
  hashReport = 0;
  /** Reserved, zero (20-byte header). */
  paddingReserved = 0;

  reset(): void {
    this.flags = 0;
    this.gsoType = 0;
    this.hdrLen = 0;
    this.gsoSize = 0;
    this.csumStart = 0;
    this.csumOffset = 0;
    this.numBuffers = 0;
    this.hashValue = 0;
    this.hashReport = 0;
    this.paddingReserved = 0;
  }
}

function isHeaderSize(size: number): boolean {
  return size === NET_HDR_SIZE_LEGACY || size === NET_HDR_SIZE || size === NET_HDR_SIZE_HASH;
}

const rd16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const rd32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/**
 * Decode a header of `size` bytes (10, 12 or 20, see {@link netHeaderSize})
 * at `src[offset]` into `out`. Fields the size does not carry are zero.
 * Returns false (and leaves `out` alone) when the size is not a header size
 * or the bytes are not all there. Allocates nothing.
 */
export function decodeNetHeader(src: Uint8Array, offset: number, size: number, out: NetHeader): boolean {
  if (!isHeaderSize(size) || !(offset >= 0) || offset + size > src.length) return false;
  out.flags = src[offset]!;
  out.gsoType = src[offset + 1]!;
  out.hdrLen = rd16(src, offset + 2);
  out.gsoSize = rd16(src, offset + 4);
  out.csumStart = rd16(src, offset + 6);
  out.csumOffset = rd16(src, offset + 8);
  out.numBuffers = size >= NET_HDR_SIZE ? rd16(src, offset + 10) : 0;
  if (size === NET_HDR_SIZE_HASH) {
    out.hashValue = rd32(src, offset + 12);
    out.hashReport = rd16(src, offset + 16);
    out.paddingReserved = rd16(src, offset + 18);
  } else {
    out.hashValue = 0;
    out.hashReport = 0;
    out.paddingReserved = 0;
  }
  return true;
}

/**
 * Encode `h` as a header of `size` bytes at `dst[offset]`. Fields the size
 * does not carry are dropped. Returns false when the size is not a header
 * size or `dst` is too short. Allocates nothing.
 */
export function encodeNetHeader(h: NetHeader, dst: Uint8Array, offset: number, size: number): boolean {
  if (!isHeaderSize(size) || !(offset >= 0) || offset + size > dst.length) return false;
  dst[offset] = h.flags;
  dst[offset + 1] = h.gsoType;
  wr16(dst, offset + 2, h.hdrLen);
  wr16(dst, offset + 4, h.gsoSize);
  wr16(dst, offset + 6, h.csumStart);
  wr16(dst, offset + 8, h.csumOffset);
  if (size >= NET_HDR_SIZE) wr16(dst, offset + 10, h.numBuffers);
  if (size === NET_HDR_SIZE_HASH) {
    wr32(dst, offset + 12, h.hashValue);
    wr16(dst, offset + 16, h.hashReport);
    wr16(dst, offset + 18, h.paddingReserved);
  }
  return true;
}

// ---- Hash types and reports (§5.1.6.4.3) ----

/** Hash type: IPv4 source and destination addresses. */
export const VIRTIO_NET_HASH_TYPE_IPv4 = 1 << 0;
/** Hash type: IPv4 addresses and TCP ports. */
export const VIRTIO_NET_HASH_TYPE_TCPv4 = 1 << 1;
/** Hash type: IPv4 addresses and UDP ports. */
export const VIRTIO_NET_HASH_TYPE_UDPv4 = 1 << 2;
/** Hash type: IPv6 source and destination addresses. */
export const VIRTIO_NET_HASH_TYPE_IPv6 = 1 << 3;
/** Hash type: IPv6 addresses and TCP ports. */
export const VIRTIO_NET_HASH_TYPE_TCPv6 = 1 << 4;
/** Hash type: IPv6 addresses and UDP ports. */
export const VIRTIO_NET_HASH_TYPE_UDPv6 = 1 << 5;
/** Hash type: IPv6 addresses including extension-header addresses. */
export const VIRTIO_NET_HASH_TYPE_IP_EX = 1 << 6;
/** Hash type: as IP_EX, plus TCP ports. */
export const VIRTIO_NET_HASH_TYPE_TCP_EX = 1 << 7;
/** Hash type: as IP_EX, plus UDP ports. */
export const VIRTIO_NET_HASH_TYPE_UDP_EX = 1 << 8;
/** Every hash type this module knows. */
export const VIRTIO_NET_HASH_TYPE_ALL = 0x1ff;

/** hash_report: no hash was calculated (§5.1.6.4.4). */
export const VIRTIO_NET_HASH_REPORT_NONE = 0;
export const VIRTIO_NET_HASH_REPORT_IPv4 = 1;
export const VIRTIO_NET_HASH_REPORT_TCPv4 = 2;
export const VIRTIO_NET_HASH_REPORT_UDPv4 = 3;
export const VIRTIO_NET_HASH_REPORT_IPv6 = 4;
export const VIRTIO_NET_HASH_REPORT_TCPv6 = 5;
export const VIRTIO_NET_HASH_REPORT_UDPv6 = 6;
export const VIRTIO_NET_HASH_REPORT_IPv6_EX = 7;
export const VIRTIO_NET_HASH_REPORT_TCPv6_EX = 8;
export const VIRTIO_NET_HASH_REPORT_UDPv6_EX = 9;

/** The hash type bit a report value corresponds to: VIRTIO_NET_HASH_TYPE_X = 1 << (VIRTIO_NET_HASH_REPORT_X - 1); 0 for NONE or unknown. */
export function hashTypeOfReport(report: number): number {
  return report >= 1 && report <= 9 ? 1 << (report - 1) : 0;
}

// ---- Device configuration layout (§5.1.4) ----

/** status bit: the link is up (§5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;
/** status bit: the device asks the driver to send gratuitous packets (§5.1.4). */
export const VIRTIO_NET_S_ANNOUNCE = 2;
/** duplex: half (§5.1.4). */
export const VIRTIO_NET_DUPLEX_HALF = 0x00;
/** duplex: full (§5.1.4; the device-requirements paragraph of some spec revisions swaps 0 and 1, the field description and Linux use 1 = full). */
export const VIRTIO_NET_DUPLEX_FULL = 0x01;
/** duplex: unknown. */
export const VIRTIO_NET_DUPLEX_UNKNOWN = 0xff;
/** speed: unknown (Mbit/s field). */
export const VIRTIO_NET_SPEED_UNKNOWN = 0xffff_ffff;

/** Byte offsets of `struct virtio_net_config` fields (§5.1.4). */
export const NetConfigOffset = {
  mac: 0,
  status: 6,
  maxVirtqueuePairs: 8,
  mtu: 10,
  speed: 12,
  duplex: 16,
  rssMaxKeySize: 17,
  rssMaxIndirectionTableLength: 18,
  supportedHashTypes: 20,
} as const;
/** Bytes of `struct virtio_net_config` up to supported_hash_types (§5.1.4). */
export const NET_CONFIG_SIZE = 24;

/** `struct virtio_net_config` (§5.1.4). Which fields exist depends on features; absent ones read as 0. */
export interface NetConfig {
  mac: Uint8Array;
  status: number;
  maxVirtqueuePairs: number;
  mtu: number;
  speed: number;
  duplex: number;
  rssMaxKeySize: number;
  rssMaxIndirectionTableLength: number;
  supportedHashTypes: number;
}

/** Encode a config space image of {@link NET_CONFIG_SIZE} bytes; missing fields are 0. */
export function encodeNetConfig(cfg: Partial<NetConfig>, out: Uint8Array = new Uint8Array(NET_CONFIG_SIZE)): Uint8Array {
  if (out.length < NET_CONFIG_SIZE) throw new VirtioError("usage", `config buffer needs ${NET_CONFIG_SIZE} bytes`);
  const mac = cfg.mac ?? new Uint8Array(6);
  if (mac.length !== 6) throw new VirtioError("malformed", `mac must be 6 bytes, got ${mac.length}`);
  out.set(mac, NetConfigOffset.mac);
  wr16(out, NetConfigOffset.status, cfg.status ?? 0);
  wr16(out, NetConfigOffset.maxVirtqueuePairs, cfg.maxVirtqueuePairs ?? 0);
  wr16(out, NetConfigOffset.mtu, cfg.mtu ?? 0);
  wr32(out, NetConfigOffset.speed, cfg.speed ?? 0);
  out[NetConfigOffset.duplex] = cfg.duplex ?? 0;
  out[NetConfigOffset.rssMaxKeySize] = cfg.rssMaxKeySize ?? 0;
  wr16(out, NetConfigOffset.rssMaxIndirectionTableLength, cfg.rssMaxIndirectionTableLength ?? 0);
  wr32(out, NetConfigOffset.supportedHashTypes, cfg.supportedHashTypes ?? 0);
  return out;
}

/** Decode a config space image. Shorter images (fewer features) decode their present fields; the rest are 0. */
export function decodeNetConfig(bytes: Uint8Array): NetConfig {
  if (bytes.length < 6) throw new VirtioError("malformed", `net config needs at least the 6-byte mac, got ${bytes.length} bytes`);
  const full = new Uint8Array(NET_CONFIG_SIZE);
  full.set(bytes.subarray(0, NET_CONFIG_SIZE));
  return {
    mac: full.slice(0, 6),
    status: rd16(full, NetConfigOffset.status),
    maxVirtqueuePairs: rd16(full, NetConfigOffset.maxVirtqueuePairs),
    mtu: rd16(full, NetConfigOffset.mtu),
    speed: rd32(full, NetConfigOffset.speed),
    duplex: full[NetConfigOffset.duplex]!,
    rssMaxKeySize: full[NetConfigOffset.rssMaxKeySize]!,
    rssMaxIndirectionTableLength: rd16(full, NetConfigOffset.rssMaxIndirectionTableLength),
    supportedHashTypes: rd32(full, NetConfigOffset.supportedHashTypes),
  };
}

/** Device-requirement violations of a config for the offered features (§5.1.4.1); empty when fine. */
export function netConfigProblems(cfg: NetConfig, features: bigint): string[] {
  const out: string[] = [];
  if ((features & VIRTIO_NET_F_MQ) !== 0n && !(cfg.maxVirtqueuePairs >= 1 && cfg.maxVirtqueuePairs <= 0x8000)) {
    out.push(`max_virtqueue_pairs ${cfg.maxVirtqueuePairs} must be 1..0x8000 with VIRTIO_NET_F_MQ`);
  }
  if ((features & VIRTIO_NET_F_MTU) !== 0n && !(cfg.mtu >= 68 && cfg.mtu <= 65535)) out.push(`mtu ${cfg.mtu} must be 68..65535 with VIRTIO_NET_F_MTU`);
  if ((features & (VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT)) !== 0n && cfg.rssMaxKeySize < 40) {
    out.push(`rss_max_key_size ${cfg.rssMaxKeySize} must be at least 40 with VIRTIO_NET_F_RSS or VIRTIO_NET_F_HASH_REPORT`);
  }
  if ((features & VIRTIO_NET_F_RSS) !== 0n && cfg.rssMaxIndirectionTableLength < 128) {
    out.push(`rss_max_indirection_table_length ${cfg.rssMaxIndirectionTableLength} must be at least 128 with VIRTIO_NET_F_RSS`);
  }
  return out;
}

// ---- Control virtqueue (§5.1.6.5) ----

/** Control class: receive filtering (§5.1.6.5.1). */
export const VIRTIO_NET_CTRL_RX = 0;
/** Control class: MAC address filtering (§5.1.6.5.2). */
export const VIRTIO_NET_CTRL_MAC = 1;
/** Control class: VLAN filtering (§5.1.6.5.3). */
export const VIRTIO_NET_CTRL_VLAN = 2;
/** Control class: gratuitous packet acknowledgement (§5.1.6.5.4). */
export const VIRTIO_NET_CTRL_ANNOUNCE = 3;
/** Control class: multiqueue, RSS and hash configuration (§5.1.6.5.6, §5.1.6.5.7). */
export const VIRTIO_NET_CTRL_MQ = 4;
/** Control class: offload state (§5.1.6.5.8). */
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
/** VIRTIO_NET_CTRL_MQ command: set the number of queue pairs (automatic steering). */
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
/** VIRTIO_NET_CTRL_MQ command: RSS configuration (`virtio_net_rss_config`). */
export const VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
/** VIRTIO_NET_CTRL_MQ command: hash-report configuration (`virtio_net_hash_config`). */
export const VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
/** Smallest virtqueue_pairs value. */
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
/** Largest virtqueue_pairs value. */
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;
/** Control ack: success. */
export const VIRTIO_NET_OK = 0;
/** Control ack: failure. */
export const VIRTIO_NET_ERR = 1;

/** The device's RSS limits, from its config space (§5.1.4), used to validate a configuration. */
export interface RssLimits {
  /** rss_max_key_size. */
  maxKeySize: number;
  /** rss_max_indirection_table_length. */
  maxIndirectionTableLength: number;
  /** Enabled receive queues (max_virtqueue_pairs, or fewer if the driver enabled fewer). */
  queuePairs: number;
  /** supported_hash_types. */
  supportedHashTypes: number;
}

/**
 * `struct virtio_net_rss_config` (§5.1.6.5.7.1). Queue ids are receive queue
 * numbers counted from 0 (receiveq1 is 0): on the wire they are bits 1..16
 * of the virtqueue index, in a 16-bit field whose top bit is reserved.
 */
export interface RssConfig {
  hashTypes: number;
  indirectionTable: Uint16Array;
  unclassifiedQueue: number;
  maxTxVq: number;
  hashKey: Uint8Array;
}

/** Wire size of an RSS configuration: 4 + 2 + 2 + 2*table + 2 + 1 + key bytes. */
export function rssConfigSize(tableLength: number, keyLength: number): number {
  return 11 + 2 * tableLength + keyLength;
}

/** Every violation of §5.1.6.5.7 (and of `limits`, when given) in an RSS configuration; empty when valid. */
export function rssConfigProblems(cfg: RssConfig, limits?: RssLimits): string[] {
  const out: string[] = [];
  const n = cfg.indirectionTable.length;
  if (n === 0 || (n & (n - 1)) !== 0 || n > 0x10000) out.push(`indirection table length ${n} must be a power of two (§5.1.6.5.7)`);
  const q = [cfg.unclassifiedQueue, ...cfg.indirectionTable];
  if (q.some((v) => !Number.isInteger(v) || v < 0 || v > 0x7fff)) out.push("receive queue ids must be 15-bit values (the top bit is reserved)");
  if (cfg.hashKey.length > 255) out.push(`hash key of ${cfg.hashKey.length} bytes does not fit hash_key_length`);
  if (!Number.isInteger(cfg.hashTypes) || cfg.hashTypes < 0 || cfg.hashTypes > 0xffff_ffff) out.push(`hash_types ${cfg.hashTypes} is not a 32-bit value`);
  if (!Number.isInteger(cfg.maxTxVq) || cfg.maxTxVq < 1 || cfg.maxTxVq > 0xffff) out.push(`max_tx_vq ${cfg.maxTxVq} must be at least 1`);
  if (limits) {
    if (n - 1 >= limits.maxIndirectionTableLength) out.push(`indirection_table_mask ${n - 1} must be below rss_max_indirection_table_length ${limits.maxIndirectionTableLength}`);
    if (cfg.hashKey.length > limits.maxKeySize) out.push(`hash key of ${cfg.hashKey.length} bytes exceeds rss_max_key_size ${limits.maxKeySize}`);
    if ((cfg.hashTypes & ~limits.supportedHashTypes) !== 0) out.push(`hash_types 0x${cfg.hashTypes.toString(16)} includes types the device does not support (0x${limits.supportedHashTypes.toString(16)})`);
    if (q.some((v) => v >= limits.queuePairs)) out.push(`receive queue ids must be below the ${limits.queuePairs} enabled queue pairs`);
    if (cfg.maxTxVq > limits.queuePairs) out.push(`max_tx_vq ${cfg.maxTxVq} exceeds the ${limits.queuePairs} queue pairs`);
  }
  return out;
}

/** Encode an RSS configuration as the command-specific data of VIRTIO_NET_CTRL_MQ_RSS_CONFIG. Throws VirtioError("malformed") when invalid. */
export function encodeRssConfig(cfg: RssConfig, limits?: RssLimits): Uint8Array {
  const problems = rssConfigProblems(cfg, limits);
  if (problems.length > 0) throw new VirtioError("malformed", `invalid RSS configuration: ${problems.join("; ")}`);
  const n = cfg.indirectionTable.length;
  const out = new Uint8Array(rssConfigSize(n, cfg.hashKey.length));
  wr32(out, 0, cfg.hashTypes);
  wr16(out, 4, n - 1);
  wr16(out, 6, cfg.unclassifiedQueue);
  for (let i = 0; i < n; i++) wr16(out, 8 + 2 * i, cfg.indirectionTable[i]!);
  wr16(out, 8 + 2 * n, cfg.maxTxVq);
  out[10 + 2 * n] = cfg.hashKey.length;
  out.set(cfg.hashKey, 11 + 2 * n);
  return out;
}

/**
 * Decode and validate VIRTIO_NET_CTRL_MQ_RSS_CONFIG command data (as a
 * device receives it from a possibly hostile driver). Throws
 * VirtioError("malformed") for a short or over-long buffer, a reserved bit,
 * a table length that is not a power of two, and, with `limits`, anything
 * beyond the device's advertised limits.
 */
export function decodeRssConfig(bytes: Uint8Array, limits?: RssLimits): RssConfig {
  if (bytes.length < 8) throw new VirtioError("malformed", `RSS config of ${bytes.length} bytes is shorter than its fixed part`);
  const mask = rd16(bytes, 4);
  const n = mask + 1;
  if ((n & (n - 1)) !== 0) throw new VirtioError("malformed", `indirection_table_mask 0x${mask.toString(16)} + 1 is not a power of two`);
  if (bytes.length < 11 + 2 * n) throw new VirtioError("malformed", `RSS config of ${bytes.length} bytes is too short for ${n} table entries`);
  const keyLen = bytes[10 + 2 * n]!;
  const want = rssConfigSize(n, keyLen);
  if (bytes.length !== want) throw new VirtioError("malformed", `RSS config is ${bytes.length} bytes, its fields say ${want}`);
  const rawIds: number[] = [rd16(bytes, 6)];
  const table = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const v = rd16(bytes, 8 + 2 * i);
    rawIds.push(v);
    table[i] = v;
  }
  if (rawIds.some((v) => (v & 0x8000) !== 0)) throw new VirtioError("malformed", "reserved bit set in a receive queue id");
  const cfg: RssConfig = {
    hashTypes: rd32(bytes, 0),
    indirectionTable: table,
    unclassifiedQueue: rawIds[0]!,
    maxTxVq: rd16(bytes, 8 + 2 * n),
    hashKey: bytes.slice(11 + 2 * n, want),
  };
  const problems = rssConfigProblems(cfg, limits);
  if (problems.length > 0) throw new VirtioError("malformed", `invalid RSS configuration: ${problems.join("; ")}`);
  return cfg;
}

/** `struct virtio_net_hash_config` (§5.1.6.5.6.4): hash reporting without RSS steering. */
export interface HashConfig {
  hashTypes: number;
  hashKey: Uint8Array;
}

/** Encode VIRTIO_NET_CTRL_MQ_HASH_CONFIG data: le32 hash_types, le16 reserved[4] (zero), u8 key length, key. */
export function encodeHashConfig(cfg: HashConfig): Uint8Array {
  if (cfg.hashKey.length > 255) throw new VirtioError("malformed", "hash key longer than 255 bytes");
  const out = new Uint8Array(13 + cfg.hashKey.length);
  wr32(out, 0, cfg.hashTypes);
  out[12] = cfg.hashKey.length;
  out.set(cfg.hashKey, 13);
  return out;
}

/** Decode and validate VIRTIO_NET_CTRL_MQ_HASH_CONFIG data (reserved words must be zero). */
export function decodeHashConfig(bytes: Uint8Array, limits?: Pick<RssLimits, "maxKeySize" | "supportedHashTypes">): HashConfig {
  if (bytes.length < 13) throw new VirtioError("malformed", `hash config of ${bytes.length} bytes is shorter than its fixed part`);
  for (let i = 4; i < 12; i++) if (bytes[i] !== 0) throw new VirtioError("malformed", "hash config reserved field is not zero");
  const keyLen = bytes[12]!;
  if (bytes.length !== 13 + keyLen) throw new VirtioError("malformed", `hash config is ${bytes.length} bytes, its fields say ${13 + keyLen}`);
  const cfg = { hashTypes: rd32(bytes, 0), hashKey: bytes.slice(13) };
  if (limits && keyLen > limits.maxKeySize) throw new VirtioError("malformed", `hash key of ${keyLen} bytes exceeds rss_max_key_size ${limits.maxKeySize}`);
  if (limits && (cfg.hashTypes & ~limits.supportedHashTypes) !== 0) throw new VirtioError("malformed", "hash_types includes unsupported types");
  return cfg;
}
