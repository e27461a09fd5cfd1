/**
 * Byte accessors and the hot-path IPv4 header check, private to @nfvio/vnf.
 *
 * The checksum arithmetic itself (RFC 1071 sums, the RFC 1624 incremental
 * update, pseudo-headers) comes from @nfvio/packet; this file keeps only a
 * range-check-free, unrolled verification of the option-less IPv4 header for
 * the router's per-packet path (RFC 1812 §5.2.2), over bounds the caller has
 * already checked.
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
