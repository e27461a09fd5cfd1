/**
 * Receive-side scaling as the virtio-net device defines it: the Toeplitz
 * hash, the hash types and their input byte order, hash reports, and queue
 * selection through `virtio_net_rss_config`'s indirection table.
 *
 * Spec references (OASIS virtio 1.2, Network Device):
 * - §5.1.6.4.3 "Hash calculation for incoming packets": which fields are
 *   hashed for each enabled hash type, in the order source address,
 *   destination address, source port, destination port; the *_EX types
 *   substitute the IPv6 Home Address option and the Type 2 Routing Header
 *   address when present.
 * - §5.1.6.4.4 "Hash reporting for incoming packets": the
 *   VIRTIO_NET_HASH_REPORT_* values, with
 *   VIRTIO_NET_HASH_TYPE_XXX = 1 << (VIRTIO_NET_HASH_REPORT_XXX - 1).
 * - §5.1.6.5.7 "Receive-side scaling (RSS)": §5.1.6.5.7.1 "Setting RSS
 *   parameters" and §5.1.6.5.7.3 "RSS processing" (control virtqueue,
 *   VIRTIO_NET_CTRL_MQ_RSS_CONFIG):
 *   `virtio_net_rss_config` { hash_types, indirection_table_mask,
 *   unclassified_queue, indirection_table[], max_tx_vq, hash_key_length,
 *   hash_key_data[] }; the table length (mask + 1) is a power of two and not
 *   above `rss_max_indirection_table_length`; a packet with no hash goes to
 *   `unclassified_queue`, otherwise to `indirection_table[hash & mask]`.
 * - §5.1.4 "Device configuration layout": `rss_max_key_size` is at least 40 and
 *   `rss_max_indirection_table_length` at least 128.
 * - "Inner Header Hash" (VIRTIO_NET_F_HASH_TUNNEL, virtio 1.3 draft): with
 *   VXLAN enabled in `enabled_tunnel_types` the inner headers are hashed;
 *   otherwise the outer ones are.
 *
 * The Toeplitz function itself is the one Microsoft's RSS specification
 * defines ("RSS hashing functions"): for every set bit of the input, left to
 * right, XOR the leftmost 32 bits of the key into the result, then shift the
 * key left by one bit.
 *
 * The hash-type and report constants are `@nfvio/virtio`'s (`net.ts`),
 * re-exported; the RSS configuration travels in the control command's wire
 * layout through that module's codec ({@link decodeRssCommand},
 * {@link encodeRssCommand}).
 */
import {
  VIRTIO_NET_HASH_REPORT_IPv4,
  VIRTIO_NET_HASH_REPORT_IPv6,
  VIRTIO_NET_HASH_REPORT_IPv6_EX,
  VIRTIO_NET_HASH_REPORT_NONE,
  VIRTIO_NET_HASH_REPORT_TCPv4,
  VIRTIO_NET_HASH_REPORT_TCPv6,
  VIRTIO_NET_HASH_REPORT_TCPv6_EX,
  VIRTIO_NET_HASH_REPORT_UDPv4,
  VIRTIO_NET_HASH_REPORT_UDPv6,
  VIRTIO_NET_HASH_REPORT_UDPv6_EX,
  VIRTIO_NET_HASH_TYPE_ALL,
  VIRTIO_NET_HASH_TYPE_IP_EX,
  VIRTIO_NET_HASH_TYPE_IPv4,
  VIRTIO_NET_HASH_TYPE_IPv6,
  VIRTIO_NET_HASH_TYPE_TCP_EX,
  VIRTIO_NET_HASH_TYPE_TCPv4,
  VIRTIO_NET_HASH_TYPE_TCPv6,
  VIRTIO_NET_HASH_TYPE_UDP_EX,
  VIRTIO_NET_HASH_TYPE_UDPv4,
  VIRTIO_NET_HASH_TYPE_UDPv6,
  VirtioError,
  decodeRssConfig,
  encodeRssConfig,
  type RssConfig as VirtioRssConfig,
  type RssLimits,
} from "@nfvio/virtio";
import { OffloadError, refuse, type Refusal } from "./errors.js";
import {
  FK_DST_IP,
  FK_FLAGS,
  FK_HOME_ADDR,
  FK_L3L4,
  FK_L4_PORTS,
  FK_OUTER_DST_IP,
  FK_OUTER_PORTS,
  FK_OUTER_SRC_IP,
  FK_RH2_ADDR,
  FK_SRC_IP,
  FK_TUNNEL,
  FKF_HOME_ADDR,
  FKF_IP_FRAG,
  FKF_IPV6_EXT,
  FKF_L4,
  FKF_RH2,
  FKF_TUNNEL,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type FlowKey,
} from "./flow-key.js";

// ---------------------------------------------------------------------------
// Constants (virtio 1.2 §5.1.6.4.3.1 and §5.1.6.4.4): @nfvio/virtio's net.ts
// ---------------------------------------------------------------------------

export {
  VIRTIO_NET_HASH_TYPE_IPv4,
  VIRTIO_NET_HASH_TYPE_TCPv4,
  VIRTIO_NET_HASH_TYPE_UDPv4,
  VIRTIO_NET_HASH_TYPE_IPv6,
  VIRTIO_NET_HASH_TYPE_TCPv6,
  VIRTIO_NET_HASH_TYPE_UDPv6,
  VIRTIO_NET_HASH_TYPE_IP_EX,
  VIRTIO_NET_HASH_TYPE_TCP_EX,
  VIRTIO_NET_HASH_TYPE_UDP_EX,
  VIRTIO_NET_HASH_TYPE_ALL,
  VIRTIO_NET_HASH_REPORT_NONE,
  VIRTIO_NET_HASH_REPORT_IPv4,
  VIRTIO_NET_HASH_REPORT_TCPv4,
  VIRTIO_NET_HASH_REPORT_UDPv4,
  VIRTIO_NET_HASH_REPORT_IPv6,
  VIRTIO_NET_HASH_REPORT_TCPv6,
  VIRTIO_NET_HASH_REPORT_UDPv6,
  VIRTIO_NET_HASH_REPORT_IPv6_EX,
  VIRTIO_NET_HASH_REPORT_TCPv6_EX,
  VIRTIO_NET_HASH_REPORT_UDPv6_EX,
  hashTypeOfReport,
} from "@nfvio/virtio";

/** VIRTIO_NET_HASH_TUNNEL_TYPE_VXLAN (virtio 1.3 draft, "Encapsulation types supported/enabled for inner header hash"). */
export const VIRTIO_NET_HASH_TUNNEL_TYPE_VXLAN = 1 << 4;


/** Default RSS key length in bytes: the minimum `rss_max_key_size` a device offers. */
export const RSS_KEY_SIZE = 40;

/**
 * The 40-byte key from Microsoft's "Verifying the RSS Hash Calculation",
 * used as the default key (many NIC drivers ship it as theirs).
 */
export const DEFAULT_RSS_KEY: readonly number[] = Object.freeze([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
  0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** Longest hash input the spec defines: two IPv6 addresses and two ports. */
export const RSS_MAX_INPUT_BYTES = 36;

// ---------------------------------------------------------------------------
// Toeplitz
// ---------------------------------------------------------------------------

function checkKey(key: ArrayLike<number>): void {
  if (key.length < 1 || key.length > 255) {
    throw new OffloadError("malformed", `Toeplitz key must be 1..255 bytes (virtio hash_key_length is a u8), got ${key.length}`);
  }
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    if (!Number.isInteger(b) || b < 0 || b > 255) throw new OffloadError("malformed", `Toeplitz key byte ${i} is not a byte: ${b}`);
  }
}

/**
 * Reference Toeplitz hash, bit by bit exactly as the specification's
 * pseudocode reads. Slow; used by tests to check {@link Toeplitz}. Key bits
 * past the end of the key are taken as zero.
 */
export function toeplitzReference(key: ArrayLike<number>, input: ArrayLike<number>): number {
  const keyBits = key.length * 8;
  const keyBit = (i: number): number => (i < keyBits ? (key[i >> 3]! >> (7 - (i & 7))) & 1 : 0);
  let result = 0;
  for (let i = 0; i < input.length * 8; i++) {
    const bit = (input[i >> 3]! >> (7 - (i & 7))) & 1;
    if (bit === 1) {
      // The leftmost 32 bits of K after shifting it left i times.
      let window = 0;
      for (let j = 0; j < 32; j++) window = ((window << 1) | keyBit(i + j)) >>> 0;
      result = (result ^ window) >>> 0;
    }
  }
  return result;
}

/**
 * Toeplitz hash with a per-byte lookup table precomputed from the key:
 * `table[pos * 256 + v]` is the XOR of the key windows selected by the set
 * bits of byte value `v` at input byte `pos`. A hash is then one lookup and
 * one XOR per input byte, with no allocation.
 */
export class Toeplitz {
  /** The key, copied. */
  readonly key: Uint8Array;
  /** Input bytes covered by the table; bytes past it meet only zero key bits. */
  readonly positions: number;
  private readonly t: Int32Array;

  constructor(key: ArrayLike<number> = DEFAULT_RSS_KEY) {
    checkKey(key);
    this.key = Uint8Array.from(key);
    this.positions = Math.max(this.key.length, RSS_MAX_INPUT_BYTES);
    this.t = new Int32Array(this.positions * 256);
    const keyBits = this.key.length * 8;
    const keyBit = (i: number): number => (i < keyBits ? (this.key[i >> 3]! >> (7 - (i & 7))) & 1 : 0);
    const windows = new Int32Array(8);
    for (let pos = 0; pos < this.positions; pos++) {
      for (let k = 0; k < 8; k++) {
        let w = 0;
        for (let j = 0; j < 32; j++) w = (w << 1) | keyBit(pos * 8 + k + j);
        windows[k] = w;
      }
      const base = pos * 256;
      for (let v = 1; v < 256; v++) {
        const low = v & -v; // lowest set bit; bit 7 (MSB) is the first input bit
        const k = 7 - (31 - Math.clz32(low));
        this.t[base + v] = this.t[base + (v & (v - 1))]! ^ windows[k]!;
      }
    }
  }

  /** Hash `length` bytes of `input` from `offset`. */
  hash(input: Uint8Array, offset = 0, length = input.length - offset): number {
    const t = this.t;
    const n = Math.min(length, this.positions);
    let h = 0;
    for (let i = 0; i < n; i++) h ^= t[(i << 8) | input[offset + i]!]!;
    return h >>> 0;
  }

  /** Contribution of the big-endian u32 `x` placed at input byte `pos`. */
  private word(pos: number, x: number): number {
    const t = this.t;
    const b = pos << 8;
    return t[b | (x >>> 24)]! ^ t[(b + 256) | ((x >>> 16) & 255)]! ^ t[(b + 512) | ((x >>> 8) & 255)]! ^ t[(b + 768) | (x & 255)]!;
  }

  /** IPv4 2-tuple: source address, destination address (8 input bytes). */
  hashIpv4(src: number, dst: number): number {
    return (this.word(0, src) ^ this.word(4, dst)) >>> 0;
  }

  /** IPv4 4-tuple; `ports` is source port << 16 | destination port (12 input bytes). */
  hashIpv4L4(src: number, dst: number, ports: number): number {
    return (this.word(0, src) ^ this.word(4, dst) ^ this.word(8, ports)) >>> 0;
  }

  /** IPv6 2-tuple from four-word addresses at `w[src]` and `w[dst]` (32 input bytes). */
  hashIpv6(w: Uint32Array, src: number, dst: number): number {
    return (
      (this.word(0, w[src]!) ^
        this.word(4, w[src + 1]!) ^
        this.word(8, w[src + 2]!) ^
        this.word(12, w[src + 3]!) ^
        this.word(16, w[dst]!) ^
        this.word(20, w[dst + 1]!) ^
        this.word(24, w[dst + 2]!) ^
        this.word(28, w[dst + 3]!)) >>>
      0
    );
  }

  /** IPv6 4-tuple (36 input bytes). */
  hashIpv6L4(w: Uint32Array, src: number, dst: number, ports: number): number {
    return (this.hashIpv6(w, src, dst) ^ this.word(32, ports)) >>> 0;
  }
}

// ---------------------------------------------------------------------------
// Hashing a FlowKey per the enabled hash types
// ---------------------------------------------------------------------------

/**
 * Hash a flow key as a virtio-net device would (virtio 1.2 §5.1.6.4.3),
 * returning the VIRTIO_NET_HASH_REPORT_* value and writing the hash value to
 * `out[0]` (left untouched for NONE).
 *
 * - A key with {@link FKF_TUNNEL} is hashed over its outer addresses and
 *   UDP ports unless `innerHash` is set (VIRTIO_NET_F_HASH_TUNNEL with VXLAN
 *   enabled), in which case the inner headers are used.
 * - "Has a TCP/UDP header" means the parser found a valid L4 header and the
 *   packet is not an IP fragment (a fragment's ports are not hashed, so all
 *   fragments of a datagram land on one queue).
 * - An IPv6 packet with extension headers uses the *_EX rules, with the Home
 *   Address option as source and the Type 2 Routing Header address as
 *   destination when present; with no *_EX type enabled it falls back to the
 *   rules for IPv6 without extension headers, over the real addresses.
 * - A key with parse errors is hashed on the layers the parser recorded: the
 *   IP version is set only when the IP header's version and header-length
 *   fields are sound (a bad total or payload length keeps the addresses),
 *   and L4 ports only when the L4 header was valid.
 */
export function rssHashFlowKey(t: Toeplitz, hashTypes: number, key: FlowKey, innerHash: boolean, out: Uint32Array): number {
  const w = key.words;
  const flags = w[FK_FLAGS]!;
  if ((flags & FKF_TUNNEL) !== 0 && !innerHash) {
    // Outer headers of a VXLAN frame: IP plus UDP.
    const v = w[FK_TUNNEL]! & 0xf;
    if (v === 4) {
      if (hashTypes & VIRTIO_NET_HASH_TYPE_UDPv4) {
        out[0] = t.hashIpv4L4(w[FK_OUTER_SRC_IP]!, w[FK_OUTER_DST_IP]!, w[FK_OUTER_PORTS]!);
        return VIRTIO_NET_HASH_REPORT_UDPv4;
      }
      if (hashTypes & VIRTIO_NET_HASH_TYPE_IPv4) {
        out[0] = t.hashIpv4(w[FK_OUTER_SRC_IP]!, w[FK_OUTER_DST_IP]!);
        return VIRTIO_NET_HASH_REPORT_IPv4;
      }
      return VIRTIO_NET_HASH_REPORT_NONE;
    }
    if (v === 6) {
      if (hashTypes & VIRTIO_NET_HASH_TYPE_UDPv6) {
        out[0] = t.hashIpv6L4(w, FK_OUTER_SRC_IP, FK_OUTER_DST_IP, w[FK_OUTER_PORTS]!);
        return VIRTIO_NET_HASH_REPORT_UDPv6;
      }
      if (hashTypes & VIRTIO_NET_HASH_TYPE_IPv6) {
        out[0] = t.hashIpv6(w, FK_OUTER_SRC_IP, FK_OUTER_DST_IP);
        return VIRTIO_NET_HASH_REPORT_IPv6;
      }
    }
    return VIRTIO_NET_HASH_REPORT_NONE;
  }
  const l3 = w[FK_L3L4]!;
  const version = (l3 >>> 12) & 0xf;
  const l4 = (flags & (FKF_L4 | FKF_IP_FRAG)) === FKF_L4;
  const proto = l3 >>> 24;
  const tcp = l4 && proto === IPPROTO_TCP;
  const udp = l4 && proto === IPPROTO_UDP;
  if (version === 4) {
    if (tcp && hashTypes & VIRTIO_NET_HASH_TYPE_TCPv4) {
      out[0] = t.hashIpv4L4(w[FK_SRC_IP]!, w[FK_DST_IP]!, w[FK_L4_PORTS]!);
      return VIRTIO_NET_HASH_REPORT_TCPv4;
    }
    if (udp && hashTypes & VIRTIO_NET_HASH_TYPE_UDPv4) {
      out[0] = t.hashIpv4L4(w[FK_SRC_IP]!, w[FK_DST_IP]!, w[FK_L4_PORTS]!);
      return VIRTIO_NET_HASH_REPORT_UDPv4;
    }
    if (hashTypes & VIRTIO_NET_HASH_TYPE_IPv4) {
      out[0] = t.hashIpv4(w[FK_SRC_IP]!, w[FK_DST_IP]!);
      return VIRTIO_NET_HASH_REPORT_IPv4;
    }
    return VIRTIO_NET_HASH_REPORT_NONE;
  }
  if (version !== 6) return VIRTIO_NET_HASH_REPORT_NONE;
  if (flags & FKF_IPV6_EXT) {
    const src = flags & FKF_HOME_ADDR ? FK_HOME_ADDR : FK_SRC_IP;
    const dst = flags & FKF_RH2 ? FK_RH2_ADDR : FK_DST_IP;
    if (tcp && hashTypes & VIRTIO_NET_HASH_TYPE_TCP_EX) {
      out[0] = t.hashIpv6L4(w, src, dst, w[FK_L4_PORTS]!);
      return VIRTIO_NET_HASH_REPORT_TCPv6_EX;
    }
    if (udp && hashTypes & VIRTIO_NET_HASH_TYPE_UDP_EX) {
      out[0] = t.hashIpv6L4(w, src, dst, w[FK_L4_PORTS]!);
      return VIRTIO_NET_HASH_REPORT_UDPv6_EX;
    }
    if (hashTypes & VIRTIO_NET_HASH_TYPE_IP_EX) {
      out[0] = t.hashIpv6(w, src, dst);
      return VIRTIO_NET_HASH_REPORT_IPv6_EX;
    }
  }
  if (tcp && hashTypes & VIRTIO_NET_HASH_TYPE_TCPv6) {
    out[0] = t.hashIpv6L4(w, FK_SRC_IP, FK_DST_IP, w[FK_L4_PORTS]!);
    return VIRTIO_NET_HASH_REPORT_TCPv6;
  }
  if (udp && hashTypes & VIRTIO_NET_HASH_TYPE_UDPv6) {
    out[0] = t.hashIpv6L4(w, FK_SRC_IP, FK_DST_IP, w[FK_L4_PORTS]!);
    return VIRTIO_NET_HASH_REPORT_UDPv6;
  }
  if (hashTypes & VIRTIO_NET_HASH_TYPE_IPv6) {
    out[0] = t.hashIpv6(w, FK_SRC_IP, FK_DST_IP);
    return VIRTIO_NET_HASH_REPORT_IPv6;
  }
  return VIRTIO_NET_HASH_REPORT_NONE;
}

// ---------------------------------------------------------------------------
// RSS configuration and queue selection
// ---------------------------------------------------------------------------

/** What a device offers (virtio_net_config fields for RSS). */
export interface RssCaps {
  /** `rss_max_key_size`, at least 40. */
  readonly maxKeySize: number;
  /** `rss_max_indirection_table_length`, at least 128. */
  readonly maxIndirectionTableLength: number;
  /** `supported_hash_types` bitmask. */
  readonly supportedHashTypes: number;
  /** `max_virtqueue_pairs`: receive queue indices are below it. */
  readonly maxQueuePairs: number;
}

export const DEFAULT_RSS_CAPS: RssCaps = Object.freeze({
  maxKeySize: RSS_KEY_SIZE,
  maxIndirectionTableLength: 128,
  supportedHashTypes: VIRTIO_NET_HASH_TYPE_ALL,
  maxQueuePairs: 64,
});

/** The fields of `virtio_net_rss_config`, as values. */
export interface RssConfig {
  /** `hash_types`: VIRTIO_NET_HASH_TYPE_* bitmask. */
  readonly hashTypes: number;
  /** `indirection_table`: 0-based receive queue indices (0 is receiveq1); length is `indirection_table_mask + 1`. */
  readonly indirectionTable: ArrayLike<number>;
  /** `unclassified_queue`: receive queue for packets with no hash. */
  readonly unclassifiedQueue: number;
  /** `max_tx_vq`: transmit queues the driver may use; defaults to 1. */
  readonly maxTxVq?: number;
  /** `hash_key_data`; defaults to {@link DEFAULT_RSS_KEY}. */
  readonly key?: ArrayLike<number>;
  /** Hash VXLAN frames over their inner headers (VIRTIO_NET_F_HASH_TUNNEL with VXLAN enabled). */
  readonly innerHash?: boolean;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Check a configuration against the spec's driver requirements and the device's caps. */
export function validateRssConfig(cfg: RssConfig, caps: RssCaps = DEFAULT_RSS_CAPS): { ok: true } | Refusal {
  const len = cfg.indirectionTable.length;
  if (!isPowerOfTwo(len)) return refuse("malformed", `indirection table length ${len} is not a power of two`);
  if (len > caps.maxIndirectionTableLength) {
    return refuse("unsupported", `indirection table length ${len} exceeds rss_max_indirection_table_length ${caps.maxIndirectionTableLength}`);
  }
  if (!Number.isInteger(cfg.hashTypes) || cfg.hashTypes < 0 || cfg.hashTypes > 0xffffffff) return refuse("malformed", `hash_types ${cfg.hashTypes} is not a u32`);
  const unsupported = cfg.hashTypes & ~caps.supportedHashTypes;
  if (unsupported !== 0) return refuse("unsupported", `hash types 0x${(unsupported >>> 0).toString(16)} are not supported by the device`);
  const queueOk = (q: number): boolean => Number.isInteger(q) && q >= 0 && q < caps.maxQueuePairs;
  for (let i = 0; i < len; i++) {
    const q = cfg.indirectionTable[i]!;
    if (!queueOk(q)) return refuse("malformed", `indirection_table[${i}] = ${q} is not a receive queue below max_virtqueue_pairs ${caps.maxQueuePairs}`);
  }
  if (!queueOk(cfg.unclassifiedQueue)) return refuse("malformed", `unclassified_queue ${cfg.unclassifiedQueue} is not a receive queue below ${caps.maxQueuePairs}`);
  const tx = cfg.maxTxVq ?? 1;
  if (!Number.isInteger(tx) || tx < 1 || tx > caps.maxQueuePairs) return refuse("malformed", `max_tx_vq ${tx} is not in 1..${caps.maxQueuePairs}`);
  const key = cfg.key ?? DEFAULT_RSS_KEY;
  if (key.length > caps.maxKeySize) return refuse("unsupported", `hash_key_length ${key.length} exceeds rss_max_key_size ${caps.maxKeySize}`);
  try {
    checkKey(key);
  } catch (e) {
    return refuse("malformed", (e as Error).message);
  }
  return { ok: true };
}

/** A round-robin indirection table over `queues` receive queues (entry i is i mod queues). */
export function defaultIndirectionTable(queues: number, length = 128): Uint16Array {
  const t = new Uint16Array(length);
  for (let i = 0; i < length; i++) t[i] = i % queues;
  return t;
}

/**
 * The device side of one RSS configuration: hashes flow keys and picks the
 * receive queue ("RSS processing"). Build a new one when the driver sends a
 * new VIRTIO_NET_CTRL_MQ_RSS_CONFIG.
 */
export class RssDistributor {
  readonly hashTypes: number;
  readonly table: Uint16Array;
  readonly tableMask: number;
  readonly unclassifiedQueue: number;
  readonly maxTxVq: number;
  readonly innerHash: boolean;
  readonly toeplitz: Toeplitz;
  /** Report type of the last {@link RssDistributor.hash} / {@link RssDistributor.queueOf} call. */
  lastReport = VIRTIO_NET_HASH_REPORT_NONE;
  private readonly out = new Uint32Array(1);

  /** Throws {@link OffloadError} if `cfg` fails {@link validateRssConfig}. */
  constructor(cfg: RssConfig, caps: RssCaps = DEFAULT_RSS_CAPS, toeplitz?: Toeplitz) {
    const v = validateRssConfig(cfg, caps);
    if (!v.ok) throw new OffloadError(v.kind, v.reason);
    this.hashTypes = cfg.hashTypes;
    this.table = Uint16Array.from(cfg.indirectionTable);
    this.tableMask = this.table.length - 1;
    this.unclassifiedQueue = cfg.unclassifiedQueue;
    this.maxTxVq = cfg.maxTxVq ?? 1;
    this.innerHash = cfg.innerHash ?? false;
    this.toeplitz = toeplitz ?? new Toeplitz(cfg.key ?? DEFAULT_RSS_KEY);
  }

  /** Hash value of the last call that computed one. */
  get lastHash(): number {
    return this.out[0]!;
  }

  /** Hash `key`; returns the report type (NONE if no enabled type applies) and sets {@link lastHash}. */
  hash(key: FlowKey): number {
    const r = rssHashFlowKey(this.toeplitz, this.hashTypes, key, this.innerHash, this.out);
    this.lastReport = r;
    return r;
  }

  /** The receive queue for `key`, per "RSS processing". */
  queueOf(key: FlowKey): number {
    const r = rssHashFlowKey(this.toeplitz, this.hashTypes, key, this.innerHash, this.out);
    this.lastReport = r;
    if (r === VIRTIO_NET_HASH_REPORT_NONE) return this.unclassifiedQueue;
    return this.table[this.out[0]! & this.tableMask]!;
  }

  /**
   * Pick queues for a burst: `queues[i]` for `keys[i]`, and when given, the
   * hash value and report type for the virtio-net header's hash fields
   * (`hashes[i]` is 0 when the report is NONE).
   */
  distribute(keys: readonly FlowKey[], n: number, queues: Uint16Array, hashes?: Uint32Array, reports?: Uint8Array): void {
    const out = this.out;
    for (let i = 0; i < n; i++) {
      const r = rssHashFlowKey(this.toeplitz, this.hashTypes, keys[i]!, this.innerHash, out);
      if (r === VIRTIO_NET_HASH_REPORT_NONE) {
        queues[i] = this.unclassifiedQueue;
        if (hashes !== undefined) hashes[i] = 0;
      } else {
        queues[i] = this.table[out[0]! & this.tableMask]!;
        if (hashes !== undefined) hashes[i] = out[0]!;
      }
      if (reports !== undefined) reports[i] = r;
    }
  }
}

// ---------------------------------------------------------------------------
// The RSS control command (virtio 1.2 §5.1.6.5.7.1), through @nfvio/virtio
// ---------------------------------------------------------------------------

/** The device's RSS limits in `@nfvio/virtio`'s terms, for `queuePairs` enabled pairs. */
export function rssLimitsOf(caps: RssCaps, queuePairs: number = caps.maxQueuePairs): RssLimits {
  return {
    maxKeySize: caps.maxKeySize,
    maxIndirectionTableLength: caps.maxIndirectionTableLength,
    queuePairs: Math.min(queuePairs, caps.maxQueuePairs),
    supportedHashTypes: caps.supportedHashTypes,
  };
}

/** An `@nfvio/virtio` `virtio_net_rss_config` as this module's {@link RssConfig}. */
export function rssConfigFromVirtio(cfg: VirtioRssConfig): RssConfig {
  return {
    hashTypes: cfg.hashTypes,
    indirectionTable: cfg.indirectionTable,
    unclassifiedQueue: cfg.unclassifiedQueue,
    maxTxVq: cfg.maxTxVq,
    key: cfg.hashKey,
  };
}

/**
 * Decode the command-specific data of VIRTIO_NET_CTRL_MQ_RSS_CONFIG (as the
 * device receives it from the driver) with `@nfvio/virtio`'s codec, check it
 * against the device's caps for `queuePairs` enabled pairs, and return the
 * configuration, or a {@link Refusal} saying why the device answers
 * VIRTIO_NET_ERR. Never throws.
 */
export function decodeRssCommand(data: Uint8Array, caps: RssCaps = DEFAULT_RSS_CAPS, queuePairs: number = caps.maxQueuePairs): RssConfig | Refusal {
  let cfg: VirtioRssConfig;
  try {
    cfg = decodeRssConfig(data, rssLimitsOf(caps, queuePairs));
  } catch (e) {
    return refuse("malformed", e instanceof VirtioError ? e.message : String(e));
  }
  const out = rssConfigFromVirtio(cfg);
  const v = validateRssConfig(out, { ...caps, maxQueuePairs: Math.min(queuePairs, caps.maxQueuePairs) });
  return v.ok ? out : v;
}

/** Encode a configuration as VIRTIO_NET_CTRL_MQ_RSS_CONFIG command data (what a driver sends). Throws {@link OffloadError} when invalid. */
export function encodeRssCommand(cfg: RssConfig): Uint8Array {
  try {
    return encodeRssConfig({
      hashTypes: cfg.hashTypes,
      indirectionTable: Uint16Array.from(cfg.indirectionTable),
      unclassifiedQueue: cfg.unclassifiedQueue,
      maxTxVq: cfg.maxTxVq ?? 1,
      hashKey: Uint8Array.from(cfg.key ?? DEFAULT_RSS_KEY),
    });
  } catch (e) {
    throw new OffloadError("malformed", e instanceof Error ? e.message : String(e));
  }
}
