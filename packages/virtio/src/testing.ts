/**
 * Test tools for anything that serves or drives a split virtqueue
 * (`@nfvio/virtio/testing`).
 *
 * - {@link MockDriver}: a well-behaved guest. Lays out guest memory with a
 *   split ring, an indirect-table area and packet buffers, then sends frames
 *   (device-readable buffers), posts receive buffers (device-writable) and
 *   reclaims used buffers.
 * - {@link HostileDriver}: writes arbitrary descriptor tables, indirect
 *   tables and ring indices, to check that a device survives a malicious or
 *   buggy guest.
 *
 * These allocate freely; they are for tests and examples, not datapaths.
 */
import { VirtioError } from "./errors.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from "./features.js";
import { alignUp, availEventOffset, availRingOffset, AVAIL_FLAGS, AVAIL_IDX, splitRingLayout, usedEventOffset, usedRingOffset, USED_FLAGS, USED_IDX, type SplitRingAddrs, type SplitRingLayout } from "./layout.js";
import { GuestMemory } from "./memory.js";
import { SplitDevice, SplitDriver, type SplitDeviceOptions } from "./split.js";

/** Features a mock driver negotiates unless told otherwise. */
export const MOCK_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX;

export interface MockDriverOptions {
  /** Queue size (default 256). */
  size?: number;
  /** Negotiated features (default {@link MOCK_FEATURES}). */
  features?: bigint;
  /** Bytes per packet buffer (default 2048). */
  bufferSize?: number;
  /** Number of packet buffers (default: the queue size). */
  buffers?: number;
  /** Back guest memory with a SharedArrayBuffer (default false). */
  shared?: boolean;
  /** Guest-physical address of the memory (default 0x10000, so low addresses are unmapped). */
  gpa?: number;
  /**
   * Lay everything out inside this existing guest memory, from `gpa`, instead
   * of allocating (e.g. memory shared with another thread or process). It
   * must have room for {@link MockDriver.bytesNeeded}.
   */
  memory?: GuestMemory;
  /** Starting ring index for both sides (default 0); use values near 65535 to test wrap-around. */
  base?: number;
  /** Entries per indirect table (default 16). */
  indirectMax?: number;
  /** Bytes of spare guest memory at the end, for hand-made tables (default 64 KiB). */
  scratchSize?: number;
}

/** A used buffer the mock driver took back. */
export interface MockCompletion {
  /** The buffer index given when it was added. */
  token: number;
  /** Length the device reported in the used element. */
  len: number;
  /** A copy of the first `len` bytes of the buffer (for receive buffers; send buffers return what was sent). */
  data: Uint8Array;
}

export interface SendOptions {
  /** Split the frame over this many descriptors (default 1). */
  segments?: number;
  /** Use an indirect table (needs VIRTIO_F_INDIRECT_DESC). */
  indirect?: boolean;
  /** Add writable segments after the readable ones (total bytes), as a request/response buffer. */
  writable?: number;
}

/**
 * A well-behaved guest driver over its own guest memory: rings at the start
 * (used ring on its own cache line), then the indirect area, packet buffers
 * and a scratch area. Buffer `i` is at {@link bufferGpa}(i); its index is the
 * token passed to the ring.
 */
export class MockDriver {
  readonly mem: GuestMemory;
  readonly layout: SplitRingLayout;
  readonly driver: SplitDriver;
  readonly features: bigint;
  readonly bufferSize: number;
  readonly buffers: number;
  readonly base: number;
  /** Bytes of guest memory the layout uses, from the start address. */
  readonly bytesNeeded: number;
  /** Spare guest memory for tests: [scratch.gpa, scratch.gpa + scratch.size). */
  readonly scratch: { readonly gpa: number; readonly size: number };
  private readonly buffersGpa: number;
  private readonly free: number[] = [];
  private readonly sizes: Int32Array;
  private readonly addrs: Float64Array;
  private readonly lens: Uint32Array;

  constructor(options: MockDriverOptions = {}) {
    const size = options.size ?? 256;
    this.features = options.features ?? MOCK_FEATURES;
    this.bufferSize = options.bufferSize ?? 2048;
    this.buffers = options.buffers ?? size;
    this.base = options.base ?? 0;
    const gpa = options.gpa ?? 0x10000;
    const indirectMax = Math.min(options.indirectMax ?? 16, size);
    const scratchSize = options.scratchSize ?? 0x10000;
    this.layout = splitRingLayout(size, gpa, { usedAlign: 64 });
    const indirectGpa = alignUp(this.layout.end, 64);
    this.buffersGpa = alignUp(indirectGpa + size * Math.max(indirectMax, 2) * 16, 64);
    const scratchGpa = alignUp(this.buffersGpa + this.buffers * this.bufferSize, 64);
    this.scratch = { gpa: scratchGpa, size: scratchSize };
    const total = scratchGpa + scratchSize - gpa;
    this.bytesNeeded = total;
    if (options.memory) {
      if (options.memory.find(gpa, total) < 0) throw new VirtioError("transport", `guest memory has no ${total} mapped bytes at 0x${gpa.toString(16)}`);
      this.mem = options.memory;
    } else {
      this.mem = GuestMemory.fromBuffer(options.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total), gpa);
    }
    this.driver = SplitDriver.fromLayout(this.mem, this.layout, this.features, {
      base: this.base,
      ...(indirectMax >= 2 ? { indirect: { gpa: indirectGpa, maxDescriptors: indirectMax } } : {}),
    });
    for (let i = 0; i < this.buffers; i++) this.free.push(i);
    this.sizes = new Int32Array(this.buffers);
    this.addrs = new Float64Array(size);
    this.lens = new Uint32Array(size);
  }

  /** A device over the same memory and ring, at the same base index. */
  createDevice(options: SplitDeviceOptions = {}): SplitDevice {
    return SplitDevice.fromLayout(this.mem, this.layout, this.features, { base: this.base, ...options });
  }

  /** Guest-physical address of packet buffer `i`. */
  bufferGpa(i: number): number {
    return this.buffersGpa + i * this.bufferSize;
  }

  /** Buffers not currently in the ring. */
  get freeBuffers(): number {
    return this.free.length;
  }

  private addBuffer(i: number, readBytes: number, writeBytes: number, segments: number, indirect: boolean): boolean {
    const base = this.bufferGpa(i);
    const total = readBytes + writeBytes;
    if (total > this.bufferSize) throw new VirtioError("usage", `${total} bytes do not fit a ${this.bufferSize}-byte buffer`);
    const nOut = readBytes > 0 ? Math.max(1, Math.min(segments, readBytes)) : 0;
    const nIn = writeBytes > 0 ? Math.max(1, Math.min(readBytes > 0 ? 1 : segments, writeBytes)) : 0;
    let at = base;
    const cut = (bytes: number, parts: number, into: number): void => {
      for (let s = 0; s < parts; s++) {
        const n = s === parts - 1 ? bytes - Math.floor(bytes / parts) * (parts - 1) : Math.floor(bytes / parts);
        this.addrs[into + s] = at;
        this.lens[into + s] = n;
        at += n;
      }
    };
    cut(readBytes, nOut, 0);
    cut(writeBytes, nIn, nOut);
    return this.driver.add(this.addrs, this.lens, nOut, nIn, i, indirect);
  }

  /**
   * Queue `frame` for the device to read (a transmit buffer). Returns the
   * buffer index, or -1 when no buffer or descriptor is free. Call
   * {@link publish} to make it visible.
   */
  send(frame: Uint8Array, options: SendOptions = {}): number {
    const i = this.free.pop();
    if (i === undefined) return -1;
    this.mem.write(this.bufferGpa(i), frame);
    this.sizes[i] = frame.length;
    if (!this.addBuffer(i, frame.length, options.writable ?? 0, options.segments ?? 1, options.indirect ?? false)) {
      this.free.push(i);
      return -1;
    }
    return i;
  }

  /**
   * Post up to `count` empty buffers for the device to write (receive
   * buffers) of `len` bytes each (default the buffer size). Returns how many
   * were posted.
   */
  post(count = 1, options: { len?: number; segments?: number; indirect?: boolean } = {}): number {
    const len = options.len ?? this.bufferSize;
    let n = 0;
    while (n < count) {
      const i = this.free.pop();
      if (i === undefined) break;
      this.sizes[i] = -1;
      if (!this.addBuffer(i, 0, len, options.segments ?? 1, options.indirect ?? false)) {
        this.free.push(i);
        break;
      }
      n++;
    }
    return n;
  }

  /** Publish added buffers; true when the device asked to be kicked. */
  publish(): boolean {
    return this.driver.publish();
  }

  /** Take back up to `max` used buffers. */
  reclaim(max = this.layout.size): MockCompletion[] {
    const tokens = new Uint32Array(max);
    const lens = new Uint32Array(max);
    const n = this.driver.reclaim(tokens, lens, max);
    const out: MockCompletion[] = [];
    for (let k = 0; k < n; k++) {
      const i = tokens[k]!;
      const sent = this.sizes[i]!;
      const len = lens[k]!;
      const data = this.mem.slice(this.bufferGpa(i), sent >= 0 ? sent : len).slice();
      out.push({ token: i, len, data });
      this.free.push(i);
    }
    return out;
  }
}

/** One descriptor as a hostile driver writes it; `addr` may be any 64-bit value. */
export interface RawDesc {
  addr: number | bigint;
  len: number;
  flags?: number;
  next?: number;
}

/** What the device wrote to the used ring. */
export interface UsedSnapshot {
  flags: number;
  idx: number;
  availEvent: number;
  ring: Array<{ id: number; len: number }>;
}

/**
 * A driver that writes whatever it is told into a split ring's memory,
 * without any of SplitDriver's bookkeeping. Descriptor indices, table
 * addresses and ring indices are not checked (only that the write itself
 * lands in guest memory).
 */
export class HostileDriver {
  private availIdxShadow: number;

  constructor(
    readonly mem: GuestMemory,
    readonly addrs: SplitRingAddrs,
    base = 0,
  ) {
    this.availIdxShadow = base & 0xffff;
    mem.writeU16(addrs.avail + AVAIL_FLAGS, 0);
    mem.writeU16(addrs.avail + AVAIL_IDX, this.availIdxShadow);
    mem.writeU16(addrs.used + USED_FLAGS, 0);
    mem.writeU16(addrs.used + USED_IDX, this.availIdxShadow);
  }

  /** Write descriptor `i` of the main table (any index below the queue size). */
  writeDesc(i: number, d: RawDesc): void {
    this.writeRaw(this.addrs.desc + 16 * i, d);
  }

  /** Write consecutive descriptors starting at `start`. */
  writeDescs(start: number, ds: readonly RawDesc[]): void {
    ds.forEach((d, k) => this.writeDesc(start + k, d));
  }

  /** Write an indirect table of `ds` at guest-physical `gpa`. */
  writeTable(gpa: number, ds: readonly RawDesc[]): void {
    ds.forEach((d, k) => this.writeRaw(gpa + 16 * k, d));
  }

  private writeRaw(gpa: number, d: RawDesc): void {
    this.mem.writeU64(gpa, BigInt.asUintN(64, BigInt(d.addr)));
    this.mem.writeU32(gpa + 8, d.len >>> 0);
    this.mem.writeU16(gpa + 12, d.flags ?? 0);
    this.mem.writeU16(gpa + 14, d.next ?? 0);
  }

  /** Write `avail.ring[slot % size] = head` without publishing. */
  setAvailEntry(slot: number, head: number): void {
    this.mem.writeU16(this.addrs.avail + availRingOffset(slot % this.addrs.size), head);
  }

  /** Write `avail.idx` directly (any 16-bit value). */
  setAvailIdx(idx: number): void {
    this.availIdxShadow = idx & 0xffff;
    this.mem.writeU16(this.addrs.avail + AVAIL_IDX, this.availIdxShadow);
  }

  get availIdx(): number {
    return this.availIdxShadow;
  }

  /** Put `head` in the next available slot and publish it (avail.idx + 1). */
  offer(head: number): void {
    this.setAvailEntry(this.availIdxShadow, head);
    this.setAvailIdx(this.availIdxShadow + 1);
  }

  setAvailFlags(flags: number): void {
    this.mem.writeU16(this.addrs.avail + AVAIL_FLAGS, flags);
  }

  setUsedEvent(v: number): void {
    this.mem.writeU16(this.addrs.avail + usedEventOffset(this.addrs.size), v);
  }

  /** Read the used ring as the device left it. */
  readUsed(): UsedSnapshot {
    const { used, size } = this.addrs;
    const ring: Array<{ id: number; len: number }> = [];
    for (let i = 0; i < size; i++) ring.push({ id: this.mem.readU32(used + usedRingOffset(i)), len: this.mem.readU32(used + usedRingOffset(i) + 4) });
    return {
      flags: this.mem.readU16(used + USED_FLAGS),
      idx: this.mem.readU16(used + USED_IDX),
      availEvent: this.mem.readU16(used + availEventOffset(size)),
      ring,
    };
  }
}
