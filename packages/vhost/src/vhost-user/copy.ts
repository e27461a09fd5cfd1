/**
 * Copies between guest memory (popped descriptor chains) and host byte
 * arrays, segment by segment, without a bounce buffer and without
 * allocating: every copy goes through `@nfvio/virtio`'s word copy
 * (`copyBytes` over whole-buffer `ByteViews`). The views of a buffer are
 * made once and kept (a WeakMap keyed by the buffer, so a memory table that
 * is unmapped takes its views with it); a chain walk looks them up once.
 *
 * The ranges of one copy must not overlap. A front-end that hands over a
 * transmit buffer overlapping one of its own receive buffers gets garbage
 * in that receive buffer, nothing worse.
 */
import { byteViews, copyBytes, type ByteViews, type DescChain, type GuestMemory } from "@nfvio/virtio";

const views = new WeakMap<ArrayBufferLike, ByteViews>();
let lastBuffer: ArrayBufferLike | null = null;
let lastViews: ByteViews | null = null;

/** The (cached) whole-buffer views of `buffer`. */
export function viewsOf(buffer: ArrayBufferLike): ByteViews {
  if (buffer === lastBuffer) return lastViews!;
  let v = views.get(buffer);
  if (v === undefined) {
    v = byteViews(buffer);
    views.set(buffer, v);
  }
  lastBuffer = buffer;
  lastViews = v;
  return v;
}

/** Views and buffer offsets of every region of a guest memory. */
interface RegionViews {
  readonly views: readonly ByteViews[];
  /** `regions[i].bytes.byteOffset`: where region i starts in its buffer. */
  readonly base: Float64Array;
}

const memViews = new WeakMap<GuestMemory, RegionViews>();
let lastMem: GuestMemory | null = null;
let lastMemViews: RegionViews | null = null;

function regionViews(mem: GuestMemory): RegionViews {
  if (mem === lastMem) return lastMemViews!;
  let rv = memViews.get(mem);
  if (rv === undefined) {
    rv = { views: mem.regions.map((r) => viewsOf(r.bytes.buffer)), base: Float64Array.from(mem.regions, (r) => r.bytes.byteOffset) };
    memViews.set(mem, rv);
  }
  lastMem = mem;
  lastMemViews = rv;
  return rv;
}

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
  const rv = regionViews(mem);
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
    copyBytes(rv.views[sr]!, rv.base[sr]! + src.offset[si]! + so, rv.views[dr]!, rv.base[dr]! + dst.offset[di]! + doff, n);
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

/**
 * Copy `len` bytes of `chain`'s readable part, starting `from` bytes into
 * it, to `dst[off..]`. Returns the bytes copied (fewer when the part ends).
 */
export function readChain(mem: GuestMemory, chain: DescChain, from: number, dst: Uint8Array, off: number, len: number): number {
  return copyHost(mem, chain, 0, chain.readable, from, viewsOf(dst.buffer), dst.byteOffset + off, len, false);
}

/**
 * Copy `len` bytes from `src[off..]` into `chain`'s writable part, starting
 * `at` bytes into it. Returns the bytes written (fewer when the part ends).
 */
export function writeChain(mem: GuestMemory, chain: DescChain, at: number, src: Uint8Array, off: number, len: number): number {
  return copyHost(mem, chain, chain.readable, chain.count, at, viewsOf(src.buffer), src.byteOffset + off, len, true);
}

/**
 * The walk of {@link readChain} and {@link writeChain}: copy up to `len`
 * bytes between segments `first .. end - 1` of `chain`, starting `skip`
 * bytes into them, and `host` at buffer offset `h`; `toGuest` says which
 * way (one branch a segment, nothing allocated).
 */
function copyHost(mem: GuestMemory, chain: DescChain, first: number, end: number, skip: number, host: ByteViews, h: number, len: number, toGuest: boolean): number {
  const rv = regionViews(mem);
  let done = 0;
  for (let i = first; i < end && done < len; i++) {
    const segLen = chain.len[i]!;
    if (skip >= segLen) {
      skip -= segLen;
      continue;
    }
    let n = segLen - skip;
    if (len - done < n) n = len - done;
    const r = chain.region[i]!;
    const g = rv.base[r]! + chain.offset[i]! + skip;
    if (toGuest) copyBytes(host, h, rv.views[r]!, g, n);
    else copyBytes(rv.views[r]!, g, host, h, n);
    skip = 0;
    done += n;
    h += n;
  }
  return done;
}
