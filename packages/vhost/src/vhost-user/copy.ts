/**
 * Copies the vhost-user datapaths need beyond `@nfvio/virtio`'s chain walks
 * (`readFromChain`, `writeToChain`): between two popped chains of one guest
 * memory, segment by segment without a bounce buffer, and between two host
 * arrays. Every copy goes through virtio's allocation-free word copy
 * (`copyBytes`) over whole-buffer views made once per buffer (`viewsOf`,
 * `guestSpace`).
 *
 * The ranges of one copy must not overlap. A front-end that hands over a
 * transmit buffer overlapping one of its own receive buffers gets garbage
 * in that receive buffer, nothing worse.
 */
import { copyBytes, guestSpace, viewsOf, type DescChain, type GuestMemory } from "@nfvio/virtio";

/** Copy `n` bytes from `src[s..]` to `dst[d..]` (offsets relative to each array). */
export function copyArray(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  copyBytes(viewsOf(src.buffer), src.byteOffset + s, viewsOf(dst.buffer), dst.byteOffset + d, n);
}

/**
 * Copy `len` bytes from `src`'s readable part, starting `from` bytes into
 * it, to `dst`'s writable part, starting `at` bytes into it. Returns the
 * bytes copied (fewer when either part ends first).
 */
export function copyChainToChain(mem: GuestMemory, src: DescChain, from: number, dst: DescChain, at: number, len: number): number {
  const g = guestSpace(mem);
  let si = 0;
  let so = from;
  while (si < src.readable && so >= src.len[si]!) so -= src.len[si++]!;
  let di = dst.readable;
  let doff = at;
  while (di < dst.count && doff >= dst.len[di]!) doff -= dst.len[di++]!;
  let done = 0;
  while (done < len && si < src.readable && di < dst.count) {
    let n = src.len[si]! - so;
    const room = dst.len[di]! - doff;
    if (room < n) n = room;
    if (len - done < n) n = len - done;
    const sr = src.region[si]!;
    const dr = dst.region[di]!;
    copyBytes(g.spaces[sr]!, g.base[sr]! + src.offset[si]! + so, g.spaces[dr]!, g.base[dr]! + dst.offset[di]! + doff, n);
    done += n;
    so += n;
    doff += n;
    if (so === src.len[si]) {
      si++;
      so = 0;
    }
    if (doff === dst.len[di]) {
      di++;
      doff = 0;
    }
  }
  return done;
}
