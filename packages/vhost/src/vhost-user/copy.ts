/**
 * Copies between popped descriptor chains, segment by segment, without a
 * bounce buffer: from the readable part of one chain (a TX buffer) to the
 * writable part of another (an RX buffer). Within one guest memory region
 * `copyWithin` moves the bytes without allocating; across regions short
 * runs are copied byte by byte and longer ones with one `subarray` view.
 */
import type { DescChain, GuestMemory } from "@nfvio/virtio";

/** Copy `n` bytes from `src[s..]` to `dst[d..]`: in place, byte by byte (up to 64), or through one view. */
export function copyBytes(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  if (src === dst) dst.copyWithin(d, s, s + n);
  else if (n <= 64) for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
  else dst.set(src.subarray(s, s + n), d);
}

/**
 * Copy `len` bytes from `src`'s readable part, starting `from` bytes into
 * it, to `dst`'s writable part, starting `at` bytes into it. Returns the
 * bytes copied (fewer when either part ends first).
 */
export function copyChainToChain(mem: GuestMemory, src: DescChain, from: number, dst: DescChain, at: number, len: number): number {
  const regions = mem.regions;
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
    copyBytes(regions[src.region[si]!]!.bytes, src.offset[si]! + so, regions[dst.region[di]!]!.bytes, dst.offset[di]! + doff, n);
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
