/**
 * Frame contents for transfer tests. A frame is a 16-byte header (seq,
 * length, and a two-part Fletcher-style checksum of the payload: S1 = sum of
 * bytes, S2 = sum of position * byte; all u32 little-endian) followed by a
 * payload that is a window of a fixed random pattern chosen by the sequence
 * number. The sender fills a frame with one native copy and gets its
 * checksum from prefix sums in O(1); the receiver recomputes it byte by
 * byte from guest memory, so corruption, truncation or reordering of bytes
 * within a frame shows up. Lengths come from a seeded PRNG, so both sides
 * know what frame `seq` must look like.
 */

/** xorshift32 step. */
export function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

export const HEADER = 16;
const PATTERN = 1 << 16;

/** The shared random payload pattern and its prefix sums. */
export class Pattern {
  readonly bytes = new Uint8Array(PATTERN + 2048);
  private readonly p1 = new Float64Array(PATTERN + 2049);
  private readonly p2 = new Float64Array(PATTERN + 2049);

  constructor(seed: number) {
    let x = seed >>> 0 || 1;
    for (let i = 0; i < this.bytes.length; i++) {
      x = xorshift(x);
      this.bytes[i] = x & 0xff;
    }
    for (let i = 0; i < this.bytes.length; i++) {
      this.p1[i + 1] = this.p1[i]! + this.bytes[i]!;
      this.p2[i + 1] = this.p2[i]! + i * this.bytes[i]!;
    }
  }

  /** Start of frame `seq`'s payload window. */
  static start(seq: number): number {
    return Math.imul(seq, 2654435761) >>> 16;
  }

  /** Write frame `seq` of `len` bytes at dst[off]; returns [S1, S2] of its payload. */
  write(dst: Uint8Array, off: number, seq: number, len: number): [number, number] {
    const a = Pattern.start(seq);
    const m = len - HEADER;
    dst.set(this.bytes.subarray(a, a + m), off + HEADER);
    const s1 = this.p1[a + m]! - this.p1[a]!;
    const s2 = this.p2[a + m]! - this.p2[a]! - a * s1;
    wr32(dst, off, seq);
    wr32(dst, off + 4, len);
    wr32(dst, off + 8, s1);
    wr32(dst, off + 12, s2);
    return [s1, s2];
  }
}

/** Length of frame `seq` in [min, max]. */
export function frameLength(seed: number, seq: number, min: number, max: number): number {
  const r = xorshift(xorshift((seed ^ Math.imul(seq + 1, 0x9e3779b1)) >>> 0 || 1));
  return min + (r % (max - min + 1));
}

export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

export function rd32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export const STREAM_START = 2166136261;

/** Fold one frame's identity into a running, order-sensitive stream checksum. */
export function streamStep(sum: number, seq: number, len: number, s1: number, s2: number): number {
  let h = sum;
  for (const v of [seq, len, s1, s2]) h = Math.imul(h ^ (v >>> 0), 16777619) >>> 0;
  return h;
}
