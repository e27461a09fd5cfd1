/**
 * Moving frame bytes between guest memory and packet buffers without
 * allocating, for per-packet paths (the vhost-net worker, the guest driver
 * model, the offload device's DMA engine).
 *
 * Both sides are addressed as (whole-buffer byte view, whole-buffer Int32
 * view, absolute byte offset). When both offsets are 4-byte aligned the bulk
 * moves as 32-bit words, unrolled by four, and the tail byte by byte;
 * otherwise the copy goes byte by byte. A typed-array `set(subarray())`
 * would allocate a view per call, so it is never used here.
 * The chain walks that use it (`readChainViews`, `writeChainViews`,
 * `readFromChain`, `writeToChain`) are in `chain.ts`.
 */

/** Byte and 32-bit views over one whole buffer, for {@link copyBytes}. */
export interface ByteViews {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
}

/** Views over the whole of `buffer` (the Int32 view covers its whole 4-byte words). */
export function byteViews(buffer: ArrayBufferLike): ByteViews {
  return { u8: new Uint8Array(buffer), i32: new Int32Array(buffer, 0, buffer.byteLength >>> 2) };
}

/** Copy `len` bytes from `src` at absolute offset `s` to `dst` at `d` (the ranges must not overlap). */
export function copyBytes(src: ByteViews, s: number, dst: ByteViews, d: number, len: number): void {
  if (len <= 0) return;
  const s8 = src.u8;
  const d8 = dst.u8;
  if (((s | d) & 3) === 0) {
    const s32 = src.i32;
    const d32 = dst.i32;
    let i = s >>> 2;
    let j = d >>> 2;
    const end = i + (len >>> 2);
    while (i + 4 <= end) {
      d32[j] = s32[i]!;
      d32[j + 1] = s32[i + 1]!;
      d32[j + 2] = s32[i + 2]!;
      d32[j + 3] = s32[i + 3]!;
      i += 4;
      j += 4;
    }
    while (i < end) d32[j++] = s32[i++]!;
    for (let k = (len >>> 2) << 2; k < len; k++) d8[d + k] = s8[s + k]!;
    return;
  }
  for (let k = 0; k < len; k++) d8[d + k] = s8[s + k]!;
}
