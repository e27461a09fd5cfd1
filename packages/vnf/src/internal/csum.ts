/**
 * Internet checksum helpers (RFC 1071) and the incremental update of RFC 1624.
 *
 * Private to @nfvio/vnf until @nfvio/packet exports its own; to be deduplicated
 * then. All sums are kept as unfolded 32-bit-safe numbers and folded at the end.
 */

/** One's-complement sum of `len` bytes at `off` (big-endian 16-bit words, odd byte padded), added to `init`. */
export function sumBytes(b: Uint8Array, off: number, len: number, init: number): number {
  let s = init;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (len & 1) s += b[i]! << 8;
  // Fold occasionally is unnecessary: 2^16 words * 0xffff < 2^53.
  return s;
}

/** Fold a sum to 16 bits with end-around carry (RFC 1071 §4.1). */
export function fold(s: number): number {
  if (s <= 0xffffffff) {
    s = (s & 0xffff) + (s >>> 16);
    return (s & 0xffff) + (s >>> 16);
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for data whose one's-complement sum is `s`. */
export function finish(s: number): number {
  return ~fold(s) & 0xffff;
}

/** IPv4 header checksum of the `ihl*4`-byte header at `off`, computed with its checksum field taken as 0. */
export function ipv4HeaderChecksum(b: Uint8Array, off: number, hlen: number): number {
  const s = sumBytes(b, off, hlen, 0) - ((b[off + 10]! << 8) | b[off + 11]!);
  return finish(s);
}

/** True when the IPv4 header at `off` verifies (its one's-complement sum is 0xffff). */
export function ipv4HeaderValid(b: Uint8Array, off: number, hlen: number): boolean {
  if (hlen !== 20) return fold(sumBytes(b, off, hlen, 0)) === 0xffff;
  // The common option-less header, unrolled.
  let s =
    ((b[off]! << 8) | b[off + 1]!) +
    ((b[off + 2]! << 8) | b[off + 3]!) +
    ((b[off + 4]! << 8) | b[off + 5]!) +
    ((b[off + 6]! << 8) | b[off + 7]!) +
    ((b[off + 8]! << 8) | b[off + 9]!) +
    ((b[off + 10]! << 8) | b[off + 11]!) +
    ((b[off + 12]! << 8) | b[off + 13]!) +
    ((b[off + 14]! << 8) | b[off + 15]!) +
    ((b[off + 16]! << 8) | b[off + 17]!) +
    ((b[off + 18]! << 8) | b[off + 19]!);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data
 * changes from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function csumReplace16(hc: number, oldWord: number, newWord: number): number {
  let s = (~hc & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address): two 16-bit words at once. */
export function csumReplace32(hc: number, oldVal: number, newVal: number): number {
  let s = (~hc & 0xffff) + (~oldVal & 0xffff) + ((~oldVal >>> 16) & 0xffff) + (newVal & 0xffff) + (newVal >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Sum of the IPv4 pseudo-header (RFC 793 §3.1, RFC 768) for `proto` and L4 length `len`. */
export function pseudo4(b: Uint8Array, ipOff: number, proto: number, len: number): number {
  return sumBytes(b, ipOff + 12, 8, 0) + proto + len;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for next header `nh` and upper-layer length `len`. */
export function pseudo6(b: Uint8Array, ipOff: number, nh: number, len: number): number {
  return sumBytes(b, ipOff + 8, 32, 0) + (len >>> 16) + (len & 0xffff) + nh;
}

export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
