/**
 * Guest memory: the only way ring code touches guest-physical addresses.
 *
 * A guest's memory is a set of non-overlapping regions, each a guest-physical
 * range [gpa, gpa + size) backed by host bytes (a SharedArrayBuffer, an
 * ArrayBuffer, or later an mmap'd memfd exposed as an ArrayBuffer).
 * Addresses are JavaScript numbers: every guest-physical address nfvio
 * accepts is below 2^53, and 64-bit values read from descriptors are checked
 * with {@link gpaFromParts} before use, so no sum can lose precision.
 *
 * Translation is bounds-checked: `find(gpa, len)` returns the index of the
 * single region that holds the whole range, or -1. A range that spans two
 * regions is refused (virtio buffers must be contiguous in host memory for a
 * device that reads them with one copy; the spec lets a driver split a buffer
 * into several descriptors instead).
 */
import { VirtioError } from "./errors.js";

/** Largest guest-physical address + 1 nfvio handles (2^53, exact in a double). */
export const GPA_LIMIT = 2 ** 53;

export interface MemoryRegion {
  /** Guest-physical start address. */
  readonly gpa: number;
  /** Length in bytes. */
  readonly size: number;
  /** Bytes of exactly this region; index 0 is guest-physical `gpa`. */
  readonly bytes: Uint8Array;
  /** Little-endian accessors over the same bytes. */
  readonly view: DataView;
}

export interface RegionSpec {
  gpa: number;
  buffer: ArrayBufferLike;
  /** Byte offset of the region inside `buffer` (default 0). */
  offset?: number;
  /** Region length (default: the rest of `buffer`). */
  size?: number;
}

/**
 * Combine the two 32-bit halves of a little-endian u64 (as stored in a
 * descriptor) into a number. Returns -1 when the value is 2^53 or above,
 * which can never be inside guest memory.
 */
export function gpaFromParts(lo: number, hi: number): number {
  if (hi >= 0x20_0000) return -1;
  return hi * 0x1_0000_0000 + (lo >>> 0);
}

export class GuestMemory {
  readonly regions: readonly MemoryRegion[];
  /** Region starts, sorted, for the lookup. */
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private last = 0;

  constructor(specs: readonly RegionSpec[]) {
    if (specs.length === 0) throw new VirtioError("transport", "guest memory needs at least one region");
    const regions: MemoryRegion[] = specs.map((s, i) => {
      const offset = s.offset ?? 0;
      const size = s.size ?? s.buffer.byteLength - offset;
      if (!Number.isSafeInteger(s.gpa) || s.gpa < 0) throw new VirtioError("transport", `region ${i}: gpa ${s.gpa} is not a non-negative integer`);
      if (!Number.isSafeInteger(size) || size <= 0) throw new VirtioError("transport", `region ${i}: size ${size} must be a positive integer`);
      if (offset < 0 || offset + size > s.buffer.byteLength) throw new VirtioError("transport", `region ${i}: [${offset}, ${offset + size}) is outside its buffer of ${s.buffer.byteLength} bytes`);
      if (s.gpa + size > GPA_LIMIT) throw new VirtioError("transport", `region ${i}: ends above 2^53`);
      return { gpa: s.gpa, size, bytes: new Uint8Array(s.buffer, offset, size), view: new DataView(s.buffer, offset, size) };
    });
    regions.sort((a, b) => a.gpa - b.gpa);
    for (let i = 1; i < regions.length; i++) {
      const prev = regions[i - 1]!;
      const cur = regions[i]!;
      if (prev.gpa + prev.size > cur.gpa) {
        throw new VirtioError("transport", `regions overlap: [0x${prev.gpa.toString(16)}, +0x${prev.size.toString(16)}) and [0x${cur.gpa.toString(16)}, +0x${cur.size.toString(16)})`);
      }
    }
    this.regions = regions;
    this.starts = Float64Array.from(regions, (r) => r.gpa);
    this.ends = Float64Array.from(regions, (r) => r.gpa + r.size);
  }

  /** One region at guest-physical 0 over a whole buffer. */
  static fromBuffer(buffer: ArrayBufferLike, gpa = 0): GuestMemory {
    return new GuestMemory([{ gpa, buffer }]);
  }

  /** A new SharedArrayBuffer-backed guest of `size` bytes at guest-physical `gpa`. */
  static shared(size: number, gpa = 0): GuestMemory {
    return GuestMemory.fromBuffer(new SharedArrayBuffer(size), gpa);
  }

  /**
   * Index of the region holding all of [gpa, gpa + len), or -1.
   * `len` may be 0 (then gpa must still lie inside a region).
   * Never throws; the last hit is cached, so walks within one region are O(1).
   */
  find(gpa: number, len: number): number {
    if (!(gpa >= 0) || !(len >= 0)) return -1; // also rejects NaN
    // Compare len with the room left (exact: both ends are integers below 2^53)
    // rather than gpa + len with the end, which can round near 2^53.
    let i = this.last;
    if (i < this.starts.length && gpa >= this.starts[i]! && gpa < this.ends[i]! && len <= this.ends[i]! - gpa) return i;
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= gpa) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (i < 0 || gpa >= this.ends[i]! || len > this.ends[i]! - gpa) return -1;
    this.last = i;
    return i;
  }

  /** Host byte offset of `gpa` inside region `index` (caller got `index` from {@link find}). */
  offsetIn(index: number, gpa: number): number {
    return gpa - this.starts[index]!;
  }

  /** Total bytes mapped. */
  get size(): number {
    let n = 0;
    for (const r of this.regions) n += r.size;
    return n;
  }

  // ---- Checked convenience accessors (control paths and tests; not for per-packet use) ----

  private region(gpa: number, len: number): { r: MemoryRegion; off: number } {
    const i = this.find(gpa, len);
    if (i < 0) throw new VirtioError("transport", `guest range [0x${gpa.toString(16)}, +${len}) is not inside one mapped region`);
    const r = this.regions[i]!;
    return { r, off: gpa - r.gpa };
  }

  /** A view of guest bytes [gpa, gpa + len). Throws when not mapped. */
  slice(gpa: number, len: number): Uint8Array {
    const { r, off } = this.region(gpa, len);
    return r.bytes.subarray(off, off + len);
  }

  read(gpa: number, dst: Uint8Array): void {
    dst.set(this.slice(gpa, dst.length));
  }

  write(gpa: number, src: Uint8Array): void {
    this.slice(gpa, src.length).set(src);
  }

  readU16(gpa: number): number {
    const { r, off } = this.region(gpa, 2);
    return r.view.getUint16(off, true);
  }

  readU32(gpa: number): number {
    const { r, off } = this.region(gpa, 4);
    return r.view.getUint32(off, true);
  }

  readU64(gpa: number): bigint {
    const { r, off } = this.region(gpa, 8);
    return r.view.getBigUint64(off, true);
  }

  writeU16(gpa: number, v: number): void {
    const { r, off } = this.region(gpa, 2);
    r.view.setUint16(off, v, true);
  }

  writeU32(gpa: number, v: number): void {
    const { r, off } = this.region(gpa, 4);
    r.view.setUint32(off, v, true);
  }

  writeU64(gpa: number, v: bigint): void {
    const { r, off } = this.region(gpa, 8);
    r.view.setBigUint64(off, v, true);
  }
}
