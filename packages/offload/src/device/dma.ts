/**
 * The DMA engine's data movement: bytes between the segments of a popped
 * virtqueue chain in guest memory and the device's packet buffers, without
 * the host CPU's involvement in the model's accounting and without
 * allocating per packet.
 *
 * Both sides are addressed as (whole-buffer byte and 32-bit views, absolute
 * byte offset) and moved with @nfvio/virtio's allocation-free `copyBytes`.
 */
import { byteViews, copyBytes, type ByteViews, type DescChain, type GuestMemory } from "@nfvio/virtio";

/** A guest's memory regions as byte spaces, for chain segments (`chain.region[k]`, `chain.offset[k]`). */
export class GuestSpace {
  readonly spaces: readonly ByteViews[];
  /** Byte offset of each region's first byte inside its buffer. */
  readonly base: Float64Array;

  constructor(readonly mem: GuestMemory) {
    const cache = new Map<ArrayBufferLike, ByteViews>();
    this.spaces = mem.regions.map((r) => {
      let s = cache.get(r.bytes.buffer);
      if (s === undefined) {
        s = byteViews(r.bytes.buffer);
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
export function readChain(g: GuestSpace, c: DescChain, from: number, dst: ByteViews, d: number, len: number): number {
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
    copyBytes(g.spaces[r]!, g.base[r]! + c.offset[k]! + skip, dst, d + done, n);
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
export function writeChain(g: GuestSpace, c: DescChain, at: number, src: ByteViews, s: number, len: number): number {
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
    copyBytes(src, s + done, g.spaces[r]!, g.base[r]! + c.offset[k]! + skip, n);
    skip = 0;
    done += n;
    want -= n;
  }
  return done;
}
