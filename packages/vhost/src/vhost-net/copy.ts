/**
 * Copying frame bytes between guest memory and packet buffers without
 * allocating: both sides are addressed as (whole-buffer byte view,
 * whole-buffer Int32 view, absolute byte offset). When both offsets are
 * 4-byte aligned the bulk moves as 32-bit words (a typed-array `set` of a
 * `subarray` would allocate a view per call); the tail and short unaligned
 * copies go byte by byte. Only a long unaligned copy falls back to
 * `set(subarray())`, which allocates one view (rare: nfvio's guest and host
 * buffers keep frames 4-byte aligned).
 *
 * `@nfvio/virtio`'s readFromChain / writeToChain do the same walk for
 * control paths; they allocate a view per segment above 64 bytes, so the
 * per-packet paths here use this helper and keep those for headers.
 */

/** Byte and 32-bit views over one whole buffer, for {@link copyBytes}. */
export interface ByteViews {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
}

/** Views over the whole of `buffer`. */
export function byteViews(buffer: ArrayBufferLike): ByteViews {
  return { u8: new Uint8Array(buffer), i32: new Int32Array(buffer, 0, buffer.byteLength >>> 2) };
}

/** Copy `len` bytes from `src` at absolute offset `s` to `dst` at `d`. */
export function copyBytes(src: ByteViews, s: number, dst: ByteViews, d: number, len: number): void {
  if (len <= 0) return;
  const s8 = src.u8;
  const d8 = dst.u8;
  if (((s | d) & 3) === 0) {
    const s32 = src.i32;
    const d32 = dst.i32;
    let i = s >>> 2;
    let j = d >>> 2;
    const words = len >>> 2;
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
    const done = words << 2;
    for (let k = done; k < len; k++) d8[d + k] = s8[s + k]!;
    return;
  }
  if (len <= 64) {
    for (let k = 0; k < len; k++) d8[d + k] = s8[s + k]!;
    return;
  }
  d8.set(s8.subarray(s, s + len), d);
}
