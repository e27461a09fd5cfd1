/**
 * Header parser: Ethernet, 802.1Q/802.1ad tags, IPv4, IPv6 with extension
 * headers, ARP, TCP, UDP, SCTP ports, ICMP, ICMPv6 (with Neighbor
 * Discovery), VXLAN with one inner frame.
 *
 * Contract: {@link parse} never throws, never allocates, and never reads a
 * byte outside [offset, offset + length). Each layer checks that its header
 * fits before reading it; every walk (VLAN tags, IPv4 options, IPv6
 * extension headers) advances at least one byte per step and has a fixed
 * step limit. What is wrong is reported as {@link ParseError} bits in
 * `meta.errors`; what was understood up to that point stays in `meta`.
 *
 * Hot path notes: bytes are read from the Uint8Array directly (faster than
 * DataView in V8 for 1-4 byte big-endian reads) and every call sees the same
 * argument types, so the function stays monomorphic.
 */
import { MAX_IPV6_EXT_HEADERS, PacketMeta } from "./meta.js";

// Error bits, repeated here as literals so the hot path does not load them
// from an object. They must equal ParseError in meta.ts (checked by a test).
const E_TRUNC_L2 = 1 << 0;
const E_TRUNC_L3 = 1 << 1;
const E_TRUNC_L4 = 1 << 2;
const E_RANGE = 1 << 3;
const E_VLANS = 1 << 4;
const E_VERSION = 1 << 5;
const E_IHL = 1 << 6;
const E_IP_LEN = 1 << 7;
const E_IP_OPT = 1 << 8;
const E_EXT_MANY = 1 << 9;
const E_EXT_ORDER = 1 << 10;
const E_TCP_OFF = 1 << 11;
const E_UDP_LEN = 1 << 12;
const E_ARP = 1 << 13;
const E_FRAG = 1 << 14;
const E_VXLAN = 1 << 15;
const E_INNER = 1 << 16;
const E_ND = 1 << 17;
const E_UNKNOWN_ET = 1 << 24;
const E_UNKNOWN_L4 = 1 << 25;
const MALFORMED = 0x00ff_ffff;

/** Error-bit values as the parser uses them (exported for the consistency test). */
export const PARSER_ERROR_BITS = {
  TRUNCATED_L2: E_TRUNC_L2,
  TRUNCATED_L3: E_TRUNC_L3,
  TRUNCATED_L4: E_TRUNC_L4,
  BAD_RANGE: E_RANGE,
  TOO_MANY_VLANS: E_VLANS,
  BAD_IP_VERSION: E_VERSION,
  BAD_IHL: E_IHL,
  BAD_IP_LENGTH: E_IP_LEN,
  BAD_IP_OPTION: E_IP_OPT,
  IPV6_EXT_TOO_MANY: E_EXT_MANY,
  IPV6_EXT_ORDER: E_EXT_ORDER,
  BAD_TCP_OFFSET: E_TCP_OFF,
  BAD_UDP_LENGTH: E_UDP_LEN,
  BAD_ARP: E_ARP,
  BAD_FRAGMENT: E_FRAG,
  BAD_VXLAN: E_VXLAN,
  INNER: E_INNER,
  BAD_ND: E_ND,
  UNKNOWN_ETHERTYPE: E_UNKNOWN_ET,
  UNKNOWN_L4: E_UNKNOWN_L4,
} as const;

/**
 * Parse the frame in `bytes[offset, offset + length)` into `meta`.
 *
 * @returns true when no malformation was found (`meta.errors` may still
 *   carry UNKNOWN_ETHERTYPE / UNKNOWN_L4); false otherwise.
 */
export function parse(bytes: Uint8Array, offset: number, length: number, meta: PacketMeta): boolean {
  meta.reset();
  let start = offset;
  let end = offset + length;
  let err = 0;
  // Integers within the array: `x >>> 0 === x` is false for negatives,
  // fractions, NaN and values of 2^32 or more.
  if (start >>> 0 !== start || length >>> 0 !== length || end > bytes.length) {
    err = E_RANGE;
    if (start >>> 0 !== start || start > bytes.length) start = bytes.length;
    end = length >>> 0 === length && start + length <= bytes.length ? start + length : bytes.length;
  }
  err |= parseEthernet(bytes, start, end, meta);
  meta.errors = err;
  return (err & MALFORMED) === 0;
}

/** Ethernet and up, into `m`; returns error bits. `m` was reset by the caller. */
function parseEthernet(b: Uint8Array, start: number, end: number, m: PacketMeta): number {
  m.l2Offset = start;
  m.length = end - start;
  if (end - start < 14) return E_TRUNC_L2;
  let p = start + 12;
  let et = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  // 802.1Q (0x8100), 802.1ad (0x88a8) and the legacy QinQ TPID 0x9100.
  if (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
    if (p + 4 > end) return E_TRUNC_L2;
    m.vlanTpid0 = et;
    m.vlanTci0 = (b[p]! << 8) | b[p + 1]!;
    et = (b[p + 2]! << 8) | b[p + 3]!;
    m.vlanCount = 1;
    p += 4;
    if (et === 0x8100 || et === 0x88a8 || et === 0x9100) {
      if (p + 4 > end) return E_TRUNC_L2;
      m.vlanTci1 = (b[p]! << 8) | b[p + 1]!;
      et = (b[p + 2]! << 8) | b[p + 3]!;
      m.vlanCount = 2;
      p += 4;
      if (et === 0x8100 || et === 0x88a8 || et === 0x9100) return E_VLANS;
    }
  }
  m.etherType = et;
  m.l3Offset = p;
  if (et === 0x0800) return parseIpv4(b, p, end, m);
  if (et === 0x86dd) return parseIpv6(b, p, end, m);
  if (et === 0x0806) return parseArp(b, p, end, m);
  m.payloadOffset = p;
  m.payloadLength = end - p;
  return E_UNKNOWN_ET;
}

/** IPv4 header (RFC 791 §3.1). */
function parseIpv4(b: Uint8Array, p: number, end: number, m: PacketMeta): number {
  const avail = end - p;
  if (avail < 20) return E_TRUNC_L3;
  const v = b[p]!;
  if (v >> 4 !== 4) return E_VERSION;
  const ihl = (v & 15) << 2;
  if (ihl < 20) return E_IHL;
  if (ihl > avail) return E_TRUNC_L3;
  const total = (b[p + 2]! << 8) | b[p + 3]!;
  if (total < ihl) return E_IP_LEN;
  let err = 0;
  let l3End = p + total;
  if (total > avail) {
    // The datagram claims more bytes than the frame holds: say so, and keep
    // decoding what is there (a capture cut by its snaplen looks like this).
    err = E_IP_LEN;
    l3End = end;
  }
  m.l3Length = l3End - p;
  m.ipTos = b[p + 1]!;
  m.ipTtl = b[p + 8]!;
  const proto = b[p + 9]!;
  m.l4Proto = proto;
  m.srcAddrOffset = p + 12;
  m.dstAddrOffset = p + 16;
  m.src4 = ((b[p + 12]! << 24) | (b[p + 13]! << 16) | (b[p + 14]! << 8) | b[p + 15]!) >>> 0;
  m.dst4 = ((b[p + 16]! << 24) | (b[p + 17]! << 16) | (b[p + 18]! << 8) | b[p + 19]!) >>> 0;
  const fw = (b[p + 6]! << 8) | b[p + 7]!;
  const q = p + ihl;
  if (ihl > 20) err |= walkIpv4Options(b, p + 20, q);
  m.fragId = (b[p + 4]! << 8) | b[p + 5]!;
  if ((fw & 0x7fff) !== 0) {
    const isFrag = (fw & 0x3fff) !== 0;
    m.fragFlags = ((fw & 0x2000) !== 0 ? 1 : 0) | ((fw & 0x4000) !== 0 ? 2 : 0) | (isFrag ? 4 : 0);
    if (isFrag) {
      const fragOffset = (fw & 0x1fff) << 3;
      m.fragOffset = fragOffset;
      // RFC 791 §3.2: a datagram is at most 65535 bytes, so offset + data
      // beyond that cannot be reassembled (the "ping of death").
      if (fragOffset + total - ihl > 65535) err |= E_FRAG;
      if (fragOffset !== 0) {
        m.payloadOffset = q;
        m.payloadLength = l3End - q;
        return err;
      }
    }
  }
  return err | parseL4(b, q, l3End, proto, m);
}

/**
 * IPv4 options (RFC 791 §3.1): End of Option List (0) ends the walk, NOP (1)
 * is one byte, every other option carries a length byte counting itself and
 * the type byte, so it is at least 2. Each step advances at least one byte
 * and the area is at most 40 bytes.
 */
function walkIpv4Options(b: Uint8Array, q: number, oe: number): number {
  while (q < oe) {
    const t = b[q]!;
    if (t === 0) return 0;
    if (t === 1) {
      q++;
      continue;
    }
    if (q + 1 >= oe) return E_IP_OPT;
    const len = b[q + 1]!;
    if (len < 2 || q + len > oe) return E_IP_OPT;
    q += len;
  }
  return 0;
}

/** IPv6 fixed header (RFC 8200 §3) and extension headers (§4). */
function parseIpv6(b: Uint8Array, p: number, end: number, m: PacketMeta): number {
  const avail = end - p;
  if (avail < 40) return E_TRUNC_L3;
  const v = b[p]!;
  if (v >> 4 !== 6) return E_VERSION;
  let err = 0;
  const plen = (b[p + 4]! << 8) | b[p + 5]!;
  let nh = b[p + 6]!;
  let l3End = p + 40 + plen;
  if (plen === 0 && nh === 0) {
    // A jumbogram (RFC 2675 §2) carries its length in a Hop-by-Hop option
    // and sets Payload Length to 0: take the frame's length.
    l3End = end;
  } else if (40 + plen > avail) {
    err = E_IP_LEN;
    l3End = end;
  }
  m.l3Length = l3End - p;
  m.ipTos = ((v & 15) << 4) | (b[p + 1]! >> 4);
  m.ipTtl = b[p + 7]!;
  m.srcAddrOffset = p + 8;
  m.dstAddrOffset = p + 24;
  let q = p + 40;
  if (nh === 6 || nh === 17) return err | parseL4(b, q, l3End, nh, m);
  // Extension header walk, bounded by MAX_IPV6_EXT_HEADERS. `seen` has one
  // bit per header kind: RFC 8200 §4.1 allows each at most once, except
  // Destination Options (twice) and Hop-by-Hop (only right after the fixed
  // header). A repeat is how a chain "loops".
  let seen = 0;
  let destOpts = 0;
  for (let count = 0; ; count++) {
    let bit: number;
    if (nh === 0) bit = 1;
    else if (nh === 60) bit = 2;
    else if (nh === 43) bit = 4;
    else if (nh === 44) bit = 8;
    else if (nh === 51) bit = 16;
    else if (nh === 135) bit = 32;
    else if (nh === 139) bit = 64;
    else if (nh === 140) bit = 128;
    else break;
    if (count === MAX_IPV6_EXT_HEADERS) {
      m.l4Proto = nh;
      return err | E_EXT_MANY;
    }
    if (bit === 1 && q !== p + 40) {
      m.l4Proto = nh;
      return err | E_EXT_ORDER;
    }
    if (bit === 2) {
      if (++destOpts > 2) {
        m.l4Proto = nh;
        return err | E_EXT_ORDER;
      }
    } else if ((seen & bit) !== 0) {
      m.l4Proto = nh;
      return err | E_EXT_ORDER;
    }
    seen |= bit;
    // Every extension header is a multiple of 8 bytes, at least 8.
    if (q + 8 > l3End) {
      m.l4Proto = nh;
      return err | E_TRUNC_L3;
    }
    let len: number;
    if (bit === 8) {
      // Fragment header (RFC 8200 §4.5): fixed 8 bytes.
      len = 8;
      const fo = ((b[q + 2]! << 8) | b[q + 3]!) & 0xfff8;
      m.fragOffset = fo;
      m.fragFlags = 4 | (b[q + 3]! & 1);
      m.fragId = ((b[q + 4]! << 24) | (b[q + 5]! << 16) | (b[q + 6]! << 8) | b[q + 7]!) >>> 0;
      if (fo + (l3End - q - 8) > 65535) err |= E_FRAG;
    } else if (bit === 16) {
      // Authentication Header (RFC 4302 §2.2): Payload Len in 4-octet units, minus 2.
      len = (b[q + 1]! + 2) << 2;
    } else {
      // Generic format (RFC 8200 §4.2, RFC 6564): Hdr Ext Len in 8-octet units, not counting the first 8.
      len = (b[q + 1]! + 1) << 3;
    }
    if (q + len > l3End) {
      m.l4Proto = nh;
      return err | E_TRUNC_L3;
    }
    nh = b[q]!;
    q += len;
    if (bit === 8 && m.fragOffset !== 0) {
      // A non-first fragment: the upper-layer header is in fragment 0.
      m.l4Proto = nh;
      m.payloadOffset = q;
      m.payloadLength = l3End - q;
      return err;
    }
  }
  return err | parseL4(b, q, l3End, nh, m);
}

/** ARP for Ethernet/IPv4 (RFC 826). */
function parseArp(b: Uint8Array, p: number, end: number, m: PacketMeta): number {
  const avail = end - p;
  if (avail < 8) return E_TRUNC_L3;
  const htype = (b[p]! << 8) | b[p + 1]!;
  const ptype = (b[p + 2]! << 8) | b[p + 3]!;
  m.arpOp = (b[p + 6]! << 8) | b[p + 7]!;
  if (htype !== 1 || ptype !== 0x0800 || b[p + 4] !== 6 || b[p + 5] !== 4) return E_ARP;
  if (avail < 28) return E_TRUNC_L3;
  m.l3Length = 28;
  m.srcAddrOffset = p + 14;
  m.dstAddrOffset = p + 24;
  m.src4 = ((b[p + 14]! << 24) | (b[p + 15]! << 16) | (b[p + 16]! << 8) | b[p + 17]!) >>> 0;
  m.dst4 = ((b[p + 24]! << 24) | (b[p + 25]! << 16) | (b[p + 26]! << 8) | b[p + 27]!) >>> 0;
  return 0;
}

/** The upper-layer header at `q`, inside the datagram ending at `l3End`. */
function parseL4(b: Uint8Array, q: number, l3End: number, proto: number, m: PacketMeta): number {
  m.l4Proto = proto;
  m.l4Offset = q;
  const avail = l3End - q;
  if (proto === 6) {
    // TCP (RFC 9293 §3.1).
    if (avail < 20) return E_TRUNC_L4;
    m.srcPort = (b[q]! << 8) | b[q + 1]!;
    m.dstPort = (b[q + 2]! << 8) | b[q + 3]!;
    const doff = (b[q + 12]! >> 4) << 2;
    m.tcpFlags = ((b[q + 12]! & 1) << 8) | b[q + 13]!;
    if (doff < 20) return E_TCP_OFF;
    if (doff > avail) return E_TRUNC_L4;
    m.payloadOffset = q + doff;
    m.payloadLength = avail - doff;
    return 0;
  }
  if (proto === 17) {
    // UDP (RFC 768).
    if (avail < 8) return E_TRUNC_L4;
    const sport = (b[q]! << 8) | b[q + 1]!;
    const dport = (b[q + 2]! << 8) | b[q + 3]!;
    m.srcPort = sport;
    m.dstPort = dport;
    const ulen = (b[q + 4]! << 8) | b[q + 5]!;
    let udpEnd = l3End;
    let err = 0;
    if ((m.fragFlags & 4) === 0) {
      // A first fragment carries only part of the datagram, so its UDP
      // length is not comparable with what is here.
      if (ulen < 8 || ulen > avail) err = E_UDP_LEN;
      else udpEnd = q + ulen;
    }
    m.payloadOffset = q + 8;
    m.payloadLength = udpEnd - q - 8;
    if (dport === m.vxlanPort && err === 0 && m.inner !== null && (m.fragFlags & 4) === 0) {
      return parseVxlan(b, q + 8, udpEnd, m, m.inner);
    }
    return err;
  }
  if (proto === 1 || proto === 58) {
    // ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1): type, code, checksum and
    // a 4-byte field every message has.
    if (avail < 4) return E_TRUNC_L4;
    const type = b[q]!;
    const code = b[q + 1]!;
    m.icmpType = type;
    m.icmpCode = code;
    if (avail < 8) return E_TRUNC_L4;
    m.payloadOffset = q + 8;
    m.payloadLength = avail - 8;
    if (proto === 58 && type >= 133 && type <= 137) return checkNd(type, code, q, avail, m);
    return 0;
  }
  if (proto === 132) {
    // SCTP common header (RFC 9260 §3.1): ports, verification tag, checksum.
    if (avail < 12) return E_TRUNC_L4;
    m.srcPort = (b[q]! << 8) | b[q + 1]!;
    m.dstPort = (b[q + 2]! << 8) | b[q + 3]!;
    m.payloadOffset = q + 12;
    m.payloadLength = avail - 12;
    return 0;
  }
  m.payloadOffset = q;
  m.payloadLength = avail;
  if (proto === 59) return 0; // IPv6 No Next Header (RFC 8200 §4.7).
  return E_UNKNOWN_L4;
}

/**
 * Neighbor Discovery validity (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2,
 * §8.1): hop limit 255, code 0, and the fixed part present (RS 8, RA 16,
 * NS/NA 24, Redirect 40 bytes).
 */
function checkNd(type: number, code: number, q: number, avail: number, m: PacketMeta): number {
  const min = type === 133 ? 8 : type === 134 ? 16 : type === 137 ? 40 : 24;
  if (avail < min) return E_TRUNC_L4;
  if (type >= 135) m.ndTargetOffset = q + 8;
  if (m.ipTtl !== 255 || code !== 0) return E_ND;
  return 0;
}

/** VXLAN (RFC 7348 §5) at `q`, inner Ethernet frame up to `udpEnd`. */
function parseVxlan(b: Uint8Array, q: number, udpEnd: number, m: PacketMeta, inner: PacketMeta): number {
  if (udpEnd - q < 8) return E_VXLAN;
  // Flags: the I bit (0x08) must be set for a valid VNI; the reserved bits
  // are ignored on receipt.
  if ((b[q]! & 0x08) === 0) return E_VXLAN;
  m.tunnel = 1;
  m.vni = (b[q + 4]! << 16) | (b[q + 5]! << 8) | b[q + 6]!;
  m.payloadOffset = q + 8;
  m.payloadLength = udpEnd - q - 8;
  inner.reset();
  const ie = parseEthernet(b, q + 8, udpEnd, inner);
  inner.errors = ie;
  m.innerL2Offset = inner.l2Offset;
  m.innerL3Offset = inner.l3Offset;
  m.innerL4Offset = inner.l4Offset;
  return (ie & MALFORMED) !== 0 ? E_INNER : 0;
}
