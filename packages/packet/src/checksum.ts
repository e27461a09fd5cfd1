/**
 * The Internet checksum (RFC 1071) and its uses: the IPv4 header checksum
 * (RFC 791 §3.1), TCP/UDP/ICMPv6 over the IPv4 and IPv6 pseudo-headers
 * (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1, RFC 4443 §2.3), ICMP (RFC 792),
 * and incremental update (RFC 1624 §3, equation 3).
 *
 * Terms: the *sum* is the 16-bit one's complement sum of big-endian 16-bit
 * words (RFC 1071 §1), with an odd trailing byte padded by a zero byte
 * (RFC 1071 §4.1); the *checksum* stored in a header is the one's
 * complement of the sum. A block that contains its own correct checksum sums
 * to 0xffff. Sums compose: the sum of A followed by B is the folded sum of
 * their sums when A has even length (RFC 1071 §2(B)), which is how
 * pseudo-headers are added.
 *
 * These functions check their ranges and throw {@link PacketError}
 * ("usage") when a range leaves the array: they are called with offsets the
 * parser or the builder produced, so a bad range is a program bug.
 */
import { PacketError } from "./errors.js";
import type { PacketMeta } from "./meta.js";

function checkRange(bytes: Uint8Array, offset: number, length: number): void {
  if (offset >>> 0 !== offset || length >>> 0 !== length || offset + length > bytes.length) {
    throw new PacketError("usage", `checksum range [${offset}, +${length}) is outside the ${bytes.length}-byte array`);
  }
}

/**
 * One's complement sum of `bytes[offset, offset + length)` added to
 * `initial` (a previous sum, 0-0xffff), folded to 16 bits, not complemented.
 */
export function onesComplementSum(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  checkRange(bytes, offset, length);
  let sum = initial & 0xffff;
  const end = offset + length;
  const evenEnd = end - (length & 1);
  let i = offset;
  while (i < evenEnd) {
    // Fold every 16384 words so the accumulator stays a small integer.
    const stop = Math.min(evenEnd, i + 32768);
    for (; i < stop; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if ((length & 1) !== 0) sum += bytes[end - 1]! << 8;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Add two sums (end-around carry). */
export function addSums(a: number, b: number): number {
  let s = (a & 0xffff) + (b & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The Internet checksum of a byte range: `~sum` (RFC 1071 §1), 16 bits. */
export function internetChecksum(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  return ~onesComplementSum(bytes, offset, length, initial) & 0xffff;
}

/** True when the range, checksum field included, sums to 0xffff (RFC 1071 §1 "to check a checksum"). */
export function verifyInternetChecksum(bytes: Uint8Array, offset: number, length: number, initial = 0): boolean {
  return onesComplementSum(bytes, offset, length, initial) === 0xffff;
}

function ihlOf(bytes: Uint8Array, l3Offset: number): number {
  checkRange(bytes, l3Offset, 20);
  const ihl = (bytes[l3Offset]! & 15) << 2;
  if (ihl < 20) throw new PacketError("usage", `IPv4 IHL ${ihl >> 2} is below 5`);
  checkRange(bytes, l3Offset, ihl);
  return ihl;
}

/** IPv4 header checksum (RFC 791 §3.1) over IHL × 4 bytes, the checksum field counted as zero. */
export function ipv4HeaderChecksum(bytes: Uint8Array, l3Offset: number): number {
  const ihl = ihlOf(bytes, l3Offset);
  const s = onesComplementSum(bytes, l3Offset, 10);
  return ~onesComplementSum(bytes, l3Offset + 12, ihl - 12, s) & 0xffff;
}

/** Compute and store the IPv4 header checksum; returns it. */
export function setIpv4HeaderChecksum(bytes: Uint8Array, l3Offset: number): number {
  const c = ipv4HeaderChecksum(bytes, l3Offset);
  bytes[l3Offset + 10] = c >> 8;
  bytes[l3Offset + 11] = c & 0xff;
  return c;
}

/** True when the IPv4 header's checksum is right. */
export function verifyIpv4HeaderChecksum(bytes: Uint8Array, l3Offset: number): boolean {
  return onesComplementSum(bytes, l3Offset, ihlOf(bytes, l3Offset)) === 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): source, destination
 * (read from the IPv4 header at `l3Offset`), zero, protocol, L4 length.
 */
export function pseudoHeaderSum4(bytes: Uint8Array, l3Offset: number, proto: number, l4Length: number): number {
  const s = onesComplementSum(bytes, l3Offset + 12, 8);
  return addSums(addSums(s, proto & 0xff), l4Length & 0xffff);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination,
 * 32-bit upper-layer length, 24 zero bits, next header. With a Routing
 * header the destination is the final one (the last address of the routing
 * header), so the addresses are given by offset.
 */
export function pseudoHeaderSum6(bytes: Uint8Array, srcOffset: number, dstOffset: number, proto: number, l4Length: number): number {
  let s = onesComplementSum(bytes, srcOffset, 16);
  s = onesComplementSum(bytes, dstOffset, 16, s);
  s = addSums(s, (l4Length / 65536) & 0xffff);
  s = addSums(s, l4Length & 0xffff);
  return addSums(s, proto & 0xff);
}

/** Offset of the checksum field inside an L4 header, or -1 for protocols without one nfvio computes. */
export function l4ChecksumFieldOffset(proto: number): number {
  if (proto === 6) return 16; // TCP (RFC 9293 §3.1)
  if (proto === 17) return 6; // UDP (RFC 768)
  if (proto === 1 || proto === 58) return 2; // ICMP (RFC 792), ICMPv6 (RFC 4443 §2.1)
  return -1;
}

function pseudoSum(bytes: Uint8Array, l3Offset: number, proto: number, l4Length: number): number {
  checkRange(bytes, l3Offset, 1);
  const version = bytes[l3Offset]! >> 4;
  if (version === 4) return proto === 1 ? 0 : pseudoHeaderSum4(bytes, l3Offset, proto, l4Length);
  if (version === 6) return pseudoHeaderSum6(bytes, l3Offset + 8, l3Offset + 24, proto, l4Length);
  throw new PacketError("usage", `no IP header at ${l3Offset} (version ${version})`);
}

/**
 * Checksum of a TCP, UDP, ICMP or ICMPv6 message of `l4Length` bytes at
 * `l4Offset` under the IP header at `l3Offset` (version read from it): the
 * pseudo-header is included for TCP/UDP/ICMPv6 and left out for ICMPv4
 * (RFC 792); the checksum field counts as zero. UDP's 0 becomes 0xffff
 * (RFC 768: zero means "no checksum").
 */
export function l4Checksum(bytes: Uint8Array, l3Offset: number, l4Offset: number, l4Length: number, proto: number): number {
  const field = l4ChecksumFieldOffset(proto);
  if (field < 0) throw new PacketError("usage", `IP protocol ${proto} has no checksum nfvio computes`);
  checkRange(bytes, l4Offset, l4Length);
  if (l4Length < field + 2) throw new PacketError("usage", `a ${l4Length}-byte L4 message has no checksum field at ${field}`);
  let s = pseudoSum(bytes, l3Offset, proto, l4Length);
  s = onesComplementSum(bytes, l4Offset, field, s);
  s = onesComplementSum(bytes, l4Offset + field + 2, l4Length - field - 2, s);
  const c = ~s & 0xffff;
  return proto === 17 && c === 0 ? 0xffff : c;
}

/** Compute and store the L4 checksum; returns it. */
export function setL4Checksum(bytes: Uint8Array, l3Offset: number, l4Offset: number, l4Length: number, proto: number): number {
  const c = l4Checksum(bytes, l3Offset, l4Offset, l4Length, proto);
  const f = l4Offset + l4ChecksumFieldOffset(proto);
  bytes[f] = c >> 8;
  bytes[f + 1] = c & 0xff;
  return c;
}

/**
 * True when the L4 checksum is right. A UDP checksum of 0 over IPv4 means
 * "not computed" and passes (RFC 768); over IPv6 it fails (RFC 8200 §8.1;
 * the RFC 6935 tunnel exception is the caller's policy).
 */
export function verifyL4Checksum(bytes: Uint8Array, l3Offset: number, l4Offset: number, l4Length: number, proto: number): boolean {
  const field = l4ChecksumFieldOffset(proto);
  if (field < 0) throw new PacketError("usage", `IP protocol ${proto} has no checksum nfvio verifies`);
  checkRange(bytes, l4Offset, l4Length);
  if (l4Length < field + 2) return false;
  if (proto === 17 && bytes[l4Offset + 6] === 0 && bytes[l4Offset + 7] === 0) return bytes[l3Offset]! >> 4 === 4;
  const s = pseudoSum(bytes, l3Offset, proto, l4Length);
  return onesComplementSum(bytes, l4Offset, l4Length, s) === 0xffff;
}

/** {@link verifyChecksums} result bits. */
export const ChecksumStatus = {
  /** The IPv4 header checksum is wrong. */
  BAD_IP: 1,
  /** The TCP/UDP/ICMP/ICMPv6 checksum is wrong. */
  BAD_L4: 2,
  /** The L4 checksum could not be checked (fragment, truncated, unknown protocol). */
  L4_UNCHECKED: 4,
} as const;

/** Bytes of the L4 message the parser found: from l4Offset to the end of the datagram (UDP: its length). */
function l4LengthOf(meta: PacketMeta): number {
  if (meta.l4Offset < 0 || meta.payloadOffset < 0) return -1;
  return meta.payloadOffset + meta.payloadLength - meta.l4Offset;
}

/**
 * Check the checksums of a parsed packet (outer headers only). Returns
 * {@link ChecksumStatus} bits: 0 when everything checkable is right.
 * Fragments and truncated packets report L4_UNCHECKED.
 */
export function verifyChecksums(bytes: Uint8Array, meta: PacketMeta): number {
  let r = 0;
  if (meta.l4Proto < 0) return ChecksumStatus.L4_UNCHECKED;
  if (meta.etherType === 0x0800 && !verifyIpv4HeaderChecksum(bytes, meta.l3Offset)) r |= ChecksumStatus.BAD_IP;
  const len = l4LengthOf(meta);
  if (len < 0 || (meta.fragFlags & 4) !== 0 || l4ChecksumFieldOffset(meta.l4Proto) < 0 || (meta.errors & 0x00ff_ffff & ~(1 << 16)) !== 0) {
    return r | ChecksumStatus.L4_UNCHECKED;
  }
  if (!verifyL4Checksum(bytes, meta.l3Offset, meta.l4Offset, len, meta.l4Proto)) r |= ChecksumStatus.BAD_L4;
  return r;
}

/**
 * Fill in the checksums of a parsed packet: the inner frame of a tunnel
 * first, then the IPv4 header, then the L4 checksum (skipped for fragments
 * and protocols without one). For a VXLAN outer UDP header the checksum is
 * left as it is: RFC 7348 §5 says it SHOULD be sent as zero.
 */
export function fillChecksums(bytes: Uint8Array, meta: PacketMeta): void {
  if (meta.tunnel !== 0 && meta.inner !== null) fillChecksums(bytes, meta.inner);
  if (meta.l4Proto < 0) return;
  if (meta.etherType === 0x0800) setIpv4HeaderChecksum(bytes, meta.l3Offset);
  const len = l4LengthOf(meta);
  if (len < 0 || (meta.fragFlags & 4) !== 0 || l4ChecksumFieldOffset(meta.l4Proto) < 0) return;
  if (meta.l4Proto === 17 && meta.tunnel !== 0 && bytes[meta.l4Offset + 6] === 0 && bytes[meta.l4Offset + 7] === 0) return;
  setL4Checksum(bytes, meta.l3Offset, meta.l4Offset, len, meta.l4Proto);
}

/**
 * Incremental update for one 16-bit field change, RFC 1624 §3 equation 3:
 * HC' = ~(~HC + ~m + m'). Returns the new checksum.
 */
export function checksumUpdate16(hc: number, oldWord: number, newWord: number): number {
  let s = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Incremental update for a 32-bit field (an IPv4 address): equation 3 applied to both halves. */
export function checksumUpdate32(hc: number, oldValue: number, newValue: number): number {
  let s = (~hc & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function readU16(bytes: Uint8Array, o: number): number {
  return (bytes[o]! << 8) | bytes[o + 1]!;
}

/**
 * Apply a 16-bit field change to the checksum stored at `csumOffset`. With
 * `udp`, a stored 0 ("no checksum", RFC 768) is left alone and a result of 0
 * is stored as 0xffff.
 */
export function patchChecksum16(bytes: Uint8Array, csumOffset: number, oldWord: number, newWord: number, udp = false): void {
  checkRange(bytes, csumOffset, 2);
  const hc = readU16(bytes, csumOffset);
  if (udp && hc === 0) return;
  let c = checksumUpdate16(hc, oldWord, newWord);
  if (udp && c === 0) c = 0xffff;
  bytes[csumOffset] = c >> 8;
  bytes[csumOffset + 1] = c & 0xff;
}

/** Apply a 32-bit field change (e.g. a NAT address rewrite) to the checksum at `csumOffset`; `udp` as in {@link patchChecksum16}. */
export function patchChecksum32(bytes: Uint8Array, csumOffset: number, oldValue: number, newValue: number, udp = false): void {
  checkRange(bytes, csumOffset, 2);
  const hc = readU16(bytes, csumOffset);
  if (udp && hc === 0) return;
  let c = checksumUpdate32(hc, oldValue, newValue);
  if (udp && c === 0) c = 0xffff;
  bytes[csumOffset] = c >> 8;
  bytes[csumOffset + 1] = c & 0xff;
}
