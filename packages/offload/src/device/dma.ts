/**
 * The DMA engine's data movement: bytes between the segments of a popped
 * virtqueue chain in guest memory and the device's packet buffers, without
 * the host CPU's involvement in the model's accounting and without
 * allocating per packet.
 *
 * Both sides are addressed as (whole-buffer byte and 32-bit views, absolute
 * byte offset). When source and destination are both 4-byte aligned the
 * bulk moves as 32-bit words; otherwise byte by byte. (A typed-array
 * `set(subarray())` would allocate a view per call.)
 */
import type { DescChain, GuestMemory } from "@nfvio/virtio";

/** Byte and 32-bit views over one whole buffer. */
export interface ByteSpace {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
}

/** Views over the whole of `buffer`. */
export function byteSpace(buffer: ArrayBufferLike): ByteSpace {
  return { u8: new Uint8Array(buffer), i32: new Int32Array(buffer, 0, buffer.byteLength >>> 2) };
}

/** Move `n` bytes from `src` at absolute offset `s` to `dst` at `d`. */
export function moveBytes(src: ByteSpace, s: number, dst: ByteSpace, d: number, n: number): void {
  if (n <= 0) return;
  const s8 = src.u8;
  const d8 = dst.u8;
  if (((s | d) & 3) === 0 && n >= 16) {
    const s32 = src.i32;
    const d32 = dst.i32;
    let i = s >>> 2;
    let j = d >>> 2;
    const words = n >>> 2;
    const end = i + words;
    while (i + 4 <= end) {
      d32[j] = s32[i]!;
      d32[j + 1] = s32[i + 1]!;
      d32[j + 2] = s32[i + 2]!;
      d32[j + 3] = s32[i + 3]!;
      i += 4;
      j += 4;
    }
    while (i < end) d32[j++] = s32[i++]!;
    for (let k = words << 2; k < n; k++) d8[d + k] = s8[s + k]!;
    return;
  }
  for (let k = 0; k < n; k++) d8[d + k] = s8[s + k]!;
}

/** A guest's memory regions as byte spaces, for chain segments (`chain.region[k]`, `chain.offset[k]`). */
export class GuestSpace {
  readonly spaces: readonly ByteSpace[];
  /** Byte offset of each region's first byte inside its buffer. */
  readonly base: Float64Array;

  constructor(readonly mem: GuestMemory) {
    const cache = new Map<ArrayBufferLike, ByteSpace>();
    this.spaces = mem.regions.map((r) => {
      let s = cache.get(r.bytes.buffer);
      if (s === undefined) {
        s = byteSpace(r.bytes.buffer);
        cache.set(r.bytes.buffer, s);
      }
      return s;
    });
    this.base = Float64Array.from(mem.regions, (r) => r.bytes.byteOffset);
  }
}

/**
 * Read up to `len` bytes of the chain's device-readable part, from byte
 * `from`, into `dst` at `d`. Returns the bytes read.
 */
export function readChain(g: GuestSpace, c: DescChain, from: number, dst: ByteSpace, d: number, len: number): number {
  let skip = from;
  let want = len;
  let done = 0;
  for (let k = 0; k < c.readable && want > 0; k++) {
    const sl = c.len[k]!;
    if (skip >= sl) {
      skip -= sl;
      continue;
    }
    const n = sl - skip < want ? sl - skip : want;
    const r = c.region[k]!;
    moveBytes(g.spaces[r]!, g.base[r]! + c.offset[k]! + skip, dst, d + done, n);
    skip = 0;
    done += n;
    want -= n;
  }
  return done;
}

/**
 * Write `len` bytes from `src` at `s` into the chain's device-writable part,
 * from byte `at`. Returns the bytes written (fewer when the part ends).
 */
export function writeChain(g: GuestSpace, c: DescChain, at: number, src: ByteSpace, s: number, len: number): number {
  let skip = at;
  let want = len;
  let done = 0;
  for (let k = c.readable; k < c.count && want > 0; k++) {
    const sl = c.len[k]!;
    if (skip >= sl) {
      skip -= sl;
      continue;
    }
    const n = sl - skip < want ? sl - skip : want;
    const r = c.region[k]!;
    moveBytes(src, s + done, g.spaces[r]!, g.base[r]! + c.offset[k]! + skip, n);
    skip = 0;
    done += n;
    want -= n;
  }
  return done;
}
