/**
 * Copying bytes between host arrays and the segments of a popped
 * {@link DescChain}, for either ring layout. A chain's readable part
 * (segments [0, readable)) is what the driver sent; its writable part
 * (segments [readable, count)) is where the device writes (§2.7.4 message
 * framing: a message may be split across descriptors at any byte).
 *
 * No allocation for copies of up to 64 bytes per segment; longer copies use
 * one `subarray` view per segment.
 */
import type { GuestMemory } from "./memory.js";
import type { DescChain } from "./queue.js";

function copy(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
  } else {
    dst.set(src.subarray(s, s + n), d);
  }
}

/**
 * Copy up to `len` bytes of the chain's readable part, starting `from` bytes
 * into it, to `dst[dstOffset..]`. Returns the number of bytes copied (less
 * than `len` when the readable part or `dst` ends first).
 */
export function readFromChain(mem: GuestMemory, chain: DescChain, from: number, dst: Uint8Array, dstOffset: number, len: number): number {
  let want = Math.min(len, dst.length - dstOffset);
  let skip = from;
  let done = 0;
  for (let i = 0; i < chain.readable && want > 0; i++) {
    const segLen = chain.len[i]!;
    if (skip >= segLen) {
      skip -= segLen;
      continue;
    }
    const n = Math.min(segLen - skip, want);
    copy(mem.regions[chain.region[i]!]!.bytes, chain.offset[i]! + skip, dst, dstOffset + done, n);
    skip = 0;
    done += n;
    want -= n;
  }
  return done;
}

/**
 * Copy `len` bytes from `src[srcOffset..]` into the chain's writable part,
 * starting `at` bytes into it. Returns the number of bytes written (less
 * than `len` when the writable part ends first).
 */
export function writeToChain(mem: GuestMemory, chain: DescChain, at: number, src: Uint8Array, srcOffset: number, len: number): number {
  let want = Math.min(len, src.length - srcOffset);
  let skip = at;
  let done = 0;
  for (let i = chain.readable; i < chain.count && want > 0; i++) {
    const segLen = chain.len[i]!;
    if (skip >= segLen) {
      skip -= segLen;
      continue;
    }
    const n = Math.min(segLen - skip, want);
    copy(src, srcOffset + done, mem.regions[chain.region[i]!]!.bytes, chain.offset[i]! + skip, n);
    skip = 0;
    done += n;
    want -= n;
  }
  return done;
}
