/**
 * Copying bytes between host memory and the segments of a popped
 * {@link DescChain}, for either ring layout. A chain's readable part
 * (segments [0, readable)) is what the driver sent; its writable part
 * (segments [readable, count)) is where the device writes (§2.7.4 message
 * framing: a message may be split across descriptors at any byte).
 *
 * One segment walk serves every datapath (the vhost-user and vhost-net
 * back-ends, the guest driver model, the offload device's DMA engine):
 * {@link readChainViews} / {@link writeChainViews} move the bytes with the
 * allocation-free word copy {@link copyBytes} between a {@link GuestSpace}
 * (the guest memory's regions as whole-buffer views, made once per memory)
 * and a host buffer's {@link ByteViews}. {@link readFromChain} /
 * {@link writeToChain} do the same for a plain `Uint8Array`, through views
 * cached per buffer. Nothing is allocated per copy.
 */
import { byteViews, copyBytes, type ByteViews } from "./bytes.js";
import type { GuestMemory } from "./memory.js";
import type { DescChain } from "./queue.js";

const bufferViews = new WeakMap<ArrayBufferLike, ByteViews>();
let lastBuffer: ArrayBufferLike | null = null;
let lastViews: ByteViews | null = null;

/** The whole-buffer views of `buffer`, made once and kept while the buffer lives. */
export function viewsOf(buffer: ArrayBufferLike): ByteViews {
  if (buffer === lastBuffer) return lastViews!;
  let v = bufferViews.get(buffer);
  if (v === undefined) {
    v = byteViews(buffer);
    bufferViews.set(buffer, v);
  }
  lastBuffer = buffer;
  lastViews = v;
  return v;
}

/** A guest memory's regions as byte views, for chain segments (`chain.region[k]`, `chain.offset[k]`). */
export class GuestSpace {
  /** Views of each region's buffer. */
  readonly spaces: readonly ByteViews[];
  /** Byte offset of each region's first byte inside its buffer. */
  readonly base: Float64Array;
  /** Segments the last {@link readChainViews} / {@link writeChainViews} through this space copied (one copy call each; cost models charge per call). */
  segments = 0;

  constructor(readonly mem: GuestMemory) {
    this.spaces = mem.regions.map((r) => viewsOf(r.bytes.buffer));
    this.base = Float64Array.from(mem.regions, (r) => r.bytes.byteOffset);
  }
}

const spaces = new WeakMap<GuestMemory, GuestSpace>();
let lastMem: GuestMemory | null = null;
let lastSpace: GuestSpace | null = null;

/** The {@link GuestSpace} of `mem`, made once and kept while the memory lives. */
export function guestSpace(mem: GuestMemory): GuestSpace {
  if (mem === lastMem) return lastSpace!;
  let g = spaces.get(mem);
  if (g === undefined) {
    g = new GuestSpace(mem);
    spaces.set(mem, g);
  }
  lastMem = mem;
  lastSpace = g;
  return g;
}

/**
 * Copy up to `len` bytes of the chain's readable part, from byte `from`,
 * into `dst` at absolute offset `d`. Returns the bytes copied (fewer when
 * the readable part ends).
 */
export function readChainViews(g: GuestSpace, c: DescChain, from: number, dst: ByteViews, d: number, len: number): number {
  let skip = from;
  let want = len;
  let done = 0;
  let segs = 0;
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
    segs++;
  }
  g.segments = segs;
  return done;
}

/**
 * Copy up to `len` bytes from `src` at absolute offset `s` into the chain's
 * writable part, from byte `at`. Returns the bytes written (fewer when the
 * writable part ends).
 */
export function writeChainViews(g: GuestSpace, c: DescChain, at: number, src: ByteViews, s: number, len: number): number {
  let skip = at;
  let want = len;
  let done = 0;
  let segs = 0;
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
    segs++;
  }
  g.segments = segs;
  return done;
}

/**
 * Copy up to `len` bytes of the chain's readable part, starting `from` bytes
 * into it, to `dst[dstOffset..]`. Returns the number of bytes copied (less
 * than `len` when the readable part or `dst` ends first).
 */
export function readFromChain(mem: GuestMemory, chain: DescChain, from: number, dst: Uint8Array, dstOffset: number, len: number): number {
  const room = dst.length - dstOffset;
  const want = len < room ? len : room;
  if (want <= 0) return 0;
  return readChainViews(guestSpace(mem), chain, from, viewsOf(dst.buffer), dst.byteOffset + dstOffset, want);
}

/**
 * Copy `len` bytes from `src[srcOffset..]` into the chain's writable part,
 * starting `at` bytes into it. Returns the number of bytes written (less
 * than `len` when the writable part ends first).
 */
export function writeToChain(mem: GuestMemory, chain: DescChain, at: number, src: Uint8Array, srcOffset: number, len: number): number {
  const room = src.length - srcOffset;
  const want = len < room ? len : room;
  if (want <= 0) return 0;
  return writeChainViews(guestSpace(mem), chain, at, viewsOf(src.buffer), src.byteOffset + srcOffset, want);
}
