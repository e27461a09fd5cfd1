/**
 * The split virtqueue (virtio 1.2 §2.7): a driver side ({@link SplitDriver})
 * and a device side ({@link SplitDevice}) over the same guest memory.
 *
 * Memory ordering (§2.7.13, §2.7.14). The rings may be shared between
 * threads through a SharedArrayBuffer. `avail.idx` and `used.idx` are the
 * publication points: the writer fills descriptors / ring entries with plain
 * stores and then publishes the index with `Atomics.store` (release); the
 * reader reads the index with `Atomics.load` (acquire) before it reads the
 * entries. The notification fields (flags, used_event, avail_event) are also
 * accessed with Atomics: the spec asks for a full barrier between publishing
 * an index and reading the peer's suppression field (§2.7.13.4.1), which
 * sequentially consistent Atomics give. Everything else is a plain typed
 * array access. The same code works over a plain ArrayBuffer in one thread.
 *
 * Endianness. Ring fields are little-endian (§2.7). Typed arrays use host
 * byte order, so the ring classes check the host order when the module loads
 * and refuse to construct on a big-endian host (every platform Node.js
 * supports in practice is little-endian). Indirect tables, which need not be
 * aligned, are read through DataView with explicit little-endian access.
 *
 * Hostile input. The device side trusts nothing the driver wrote. Each
 * descriptor field is read once; every index, length and address is checked
 * before use; a chain walk stops after Queue Size steps. A violation is
 * counted under its {@link QueueFault} name and the queue becomes broken
 * (DEVICE_NEEDS_RESET, §2.1); nothing throws and no memory outside the guest
 * regions is touched. The driver side treats the used ring the same way.
 */
import { VirtioError } from "./errors.js";
import { GPA_LIMIT, gpaFromParts, type GuestMemory } from "./memory.js";
import {
  availRingSize,
  checkSplitRing,
  descTableSize,
  usedRingSize,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_USED_F_NO_NOTIFY,
  vringNeedEvent,
  type SplitRingAddrs,
} from "./layout.js";
import { DescChain, newQueueStats, type DeviceQueue, type DriverQueue, type QueueFault, type QueueStats } from "./queue.js";

/** Feature bit 28 (VIRTIO_F_INDIRECT_DESC), duplicated here to keep the ring free of the feature tables. */
const F_INDIRECT_DESC = 1n << 28n;
/** Feature bit 29 (VIRTIO_F_EVENT_IDX). */
const F_EVENT_IDX = 1n << 29n;
/** Feature bit 35 (VIRTIO_F_IN_ORDER). */
const F_IN_ORDER = 1n << 35n;

/** True when this host stores multi-byte integers little-endian (checked once at module load). */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x02;

function requireLittleEndianHost(): void {
  if (!HOST_LITTLE_ENDIAN) {
    throw new VirtioError("usage", "the split ring uses typed-array views and needs a little-endian host");
  }
}

/** A typed-array view of guest bytes [gpa, gpa + bytes); the parts were checked by checkSplitRing. */
function ringView<T extends Uint16Array | Uint32Array>(
  mem: GuestMemory,
  gpa: number,
  bytes: number,
  ctor: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number },
  what: string,
): T {
  const r = mem.find(gpa, bytes);
  if (r < 0) throw new VirtioError("transport", `${what} is not mapped`);
  const region = mem.regions[r]!;
  const hostOffset = region.bytes.byteOffset + mem.offsetIn(r, gpa);
  if (hostOffset % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new VirtioError("transport", `${what} at host offset ${hostOffset} is not ${ctor.BYTES_PER_ELEMENT}-byte aligned in its backing buffer`);
  }
  return new ctor(region.bytes.buffer, hostOffset, Math.floor(bytes / ctor.BYTES_PER_ELEMENT));
}

function checkIndex(name: string, v: number | undefined): number {
  const x = v ?? 0;
  if (!Number.isInteger(x) || x < 0 || x > 0xffff) throw new VirtioError("usage", `${name} ${x} must be a 16-bit ring index`);
  return x;
}

/** `count` reusable chains of `maxSegments` segments each (use the queue size so any legal chain fits). */
export function newDescChains(count: number, maxSegments: number): DescChain[] {
  const out: DescChain[] = [];
  for (let i = 0; i < count; i++) out.push(new DescChain(maxSegments));
  return out;
}

// ---------------------------------------------------------------------------
// Device side
// ---------------------------------------------------------------------------

export interface SplitDeviceOptions {
  /**
   * The device's starting ring position, used for both the next available
   * entry to read and the next used entry to write (what vhost calls the
   * vring base). Default 0, as after a reset.
   */
  base?: number;
}

/**
 * Device side of a split virtqueue: pops available descriptor chains,
 * returns used buffers (§2.7.6, §2.7.8, §2.7.14).
 *
 * {@link DescChain} capacity: a chain with more segments than the
 * DescChain's `maxSegments` is counted as `chain_too_long`. Give chains
 * `size` segments ({@link newDescChains}) to accept every legal chain.
 * Zero-length descriptors are accepted and contribute no segment.
 */
export class SplitDevice implements DeviceQueue {
  readonly size: number;
  readonly stats: QueueStats = newQueueStats();
  readonly addrs: SplitRingAddrs;
  readonly features: bigint;
  private readonly mem: GuestMemory;
  private readonly mask: number;
  private readonly descU32: Uint32Array;
  private readonly descU16: Uint16Array;
  private readonly availU16: Uint16Array;
  private readonly usedU16: Uint16Array;
  private readonly usedU32: Uint32Array;
  /** Index of used_event in availU16. */
  private readonly usedEventAt: number;
  /** Index of avail_event in usedU16. */
  private readonly availEventAt: number;
  private readonly eventIdx: boolean;
  private readonly indirectOk: boolean;
  private lastAvail: number;
  private availSeen: number;
  private usedNext: number;
  private usedPublished: number;
  private availEventShadow: number;
  private notify = true;
  private brokenFault: QueueFault | null = null;

  constructor(mem: GuestMemory, size: number, desc: number, avail: number, used: number, features: bigint, options: SplitDeviceOptions = {}) {
    requireLittleEndianHost();
    this.addrs = { size, desc, avail, used };
    checkSplitRing(mem, this.addrs);
    this.mem = mem;
    this.size = size;
    this.mask = size - 1;
    this.features = features;
    this.eventIdx = (features & F_EVENT_IDX) !== 0n;
    this.indirectOk = (features & F_INDIRECT_DESC) !== 0n;
    this.descU32 = ringView(mem, desc, descTableSize(size), Uint32Array, "descriptor table");
    this.descU16 = ringView(mem, desc, descTableSize(size), Uint16Array, "descriptor table");
    this.availU16 = ringView(mem, avail, availRingSize(size), Uint16Array, "available ring");
    this.usedU16 = ringView(mem, used, usedRingSize(size), Uint16Array, "used ring");
    this.usedU32 = ringView(mem, used, usedRingSize(size), Uint32Array, "used ring");
    this.usedEventAt = 2 + size;
    this.availEventAt = 2 + 4 * size;
    const base = checkIndex("base", options.base);
    this.lastAvail = base;
    this.availSeen = base;
    this.usedNext = base;
    this.usedPublished = base;
    this.availEventShadow = -1;
  }

  /** Construct from a {@link SplitRingAddrs} (e.g. from {@link splitRingLayout}). */
  static fromLayout(mem: GuestMemory, addrs: SplitRingAddrs, features: bigint, options?: SplitDeviceOptions): SplitDevice {
    return new SplitDevice(mem, addrs.size, addrs.desc, addrs.avail, addrs.used, features, options);
  }

  get broken(): boolean {
    return this.brokenFault !== null;
  }

  get brokenBy(): QueueFault | null {
    return this.brokenFault;
  }

  /** Next available ring index the device will read (vhost's "last avail idx"). */
  get lastAvailIdx(): number {
    return this.lastAvail;
  }

  /** Next used ring index the device will write (published or not). */
  get usedIdx(): number {
    return this.usedNext;
  }

  private fault(f: QueueFault): false {
    this.stats.faults[f]++;
    if (this.brokenFault === null) this.brokenFault = f;
    return false;
  }

  pending(): number {
    if (this.brokenFault !== null) return 0;
    const p = (Atomics.load(this.availU16, 1) - this.lastAvail) & 0xffff;
    return p < this.size ? p : this.size;
  }

  popBurst(chains: readonly DescChain[], max: number): number {
    if (this.brokenFault !== null) return 0;
    const start = this.lastAvail;
    let pending = (this.availSeen - start) & 0xffff;
    if (pending < max) {
      // Acquire: entries and descriptors below this index are visible after this load (§2.7.13.3).
      const avail = Atomics.load(this.availU16, 1);
      pending = (avail - start) & 0xffff;
      if (pending > this.size) {
        this.fault("avail_idx_too_far");
        return 0;
      }
      this.availSeen = avail;
    }
    let n = max < pending ? max : pending;
    if (n > chains.length) n = chains.length;
    const ring = this.availU16;
    const mask = this.mask;
    const size = this.size;
    const d32 = this.descU32;
    const d16 = this.descU16;
    const mem = this.mem;
    let last = start;
    let single = 0;
    let i = 0;
    for (; i < n; i++) {
      const head = ring[2 + (last & mask)]!;
      const c = chains[i]!;
      // Fast path for the common buffer: one direct descriptor, inside one region.
      // Anything else (or anything that fails a check) goes through walk(), which
      // reads the descriptor again and does every check with its fault name.
      if (head < size) {
        const flags = d16[(head << 3) + 6]!;
        const w = head << 2;
        const len = d32[w + 2]!;
        if ((flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT)) === 0 && len !== 0 && c.maxSegments !== 0) {
          const gpa = gpaFromParts(d32[w]!, d32[w + 1]!);
          const r = gpa < 0 ? -1 : mem.find(gpa, len);
          if (r >= 0) {
            c.region[0] = r;
            c.offset[0] = mem.offsetIn(r, gpa);
            c.addr[0] = gpa;
            c.len[0] = len;
            c.id = head;
            c.ringDescs = 1;
            c.count = 1;
            if ((flags & VIRTQ_DESC_F_WRITE) === 0) {
              c.readable = 1;
              c.readBytes = len;
              c.writeBytes = 0;
            } else {
              c.readable = 0;
              c.readBytes = 0;
              c.writeBytes = len;
            }
            single++;
            last = (last + 1) & 0xffff;
            continue;
          }
        }
      }
      if (!this.walk(head, c)) break;
      last = (last + 1) & 0xffff;
    }
    this.lastAvail = last;
    this.stats.chains += i;
    this.stats.descriptors += single;
    if (this.eventIdx && this.notify && last !== this.availEventShadow) {
      // Ask for a kick when the driver makes entry `last` available (§2.7.10).
      Atomics.store(this.usedU16, this.availEventAt, last);
      this.availEventShadow = last;
    }
    return i;
  }

  /** Walk one chain starting at `head` into `c`. False on a fault (already counted). */
  private walk(head: number, c: DescChain): boolean {
    const size = this.size;
    if (head >= size) return this.fault("desc_index_out_of_range");
    const d32 = this.descU32;
    const d16 = this.descU16;
    const mem = this.mem;
    const cap = c.maxSegments;
    const region = c.region;
    const offset = c.offset;
    const addr = c.addr;
    const lens = c.len;
    let count = 0;
    let readable = 0;
    let readBytes = 0;
    let writeBytes = 0;
    let writing = false;
    let idx = head;
    let steps = 0;
    for (;;) {
      // More steps than descriptors in the table means the chain revisits one (§2.7.5.2).
      if (++steps > size) return this.fault("chain_loop");
      const w = idx << 2;
      const flags = d16[(idx << 3) + 6]!;
      const len = d32[w + 2]!;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.indirectOk) return this.fault("indirect_not_negotiated");
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return this.fault("indirect_with_next");
        c.count = count;
        c.readable = readable;
        c.readBytes = readBytes;
        c.writeBytes = writeBytes;
        if (!this.walkIndirect(c, gpaFromParts(d32[w]!, d32[w + 1]!), len, steps - 1, writing)) return false;
        c.id = head;
        c.ringDescs = steps;
        this.stats.descriptors += steps;
        return true;
      }
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) writing = true;
      else if (writing) return this.fault("write_before_read");
      if (len !== 0) {
        const gpa = gpaFromParts(d32[w]!, d32[w + 1]!);
        if (gpa < 0 || len > GPA_LIMIT - gpa) return this.fault("addr_out_of_range");
        const r = mem.find(gpa, len);
        if (r < 0) return this.fault("addr_out_of_range");
        if (count >= cap) return this.fault("chain_too_long");
        region[count] = r;
        offset[count] = mem.offsetIn(r, gpa);
        addr[count] = gpa;
        lens[count] = len;
        count++;
        if (writing) writeBytes += len;
        else {
          readBytes += len;
          readable++;
        }
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      const next = d16[(idx << 3) + 7]!;
      if (next >= size) return this.fault("desc_index_out_of_range");
      idx = next;
    }
    c.id = head;
    c.ringDescs = steps;
    c.count = count;
    c.readable = readable;
    c.readBytes = readBytes;
    c.writeBytes = writeBytes;
    this.stats.descriptors += steps;
    return true;
  }

  /**
   * Continue chain `c` through an indirect table (§2.7.5.3). `before` direct
   * descriptors preceded it; together with the table entries walked they may
   * not exceed the queue size (§2.7.5.3.1).
   */
  private walkIndirect(c: DescChain, tableGpa: number, tableLen: number, before: number, writingIn: boolean): boolean {
    if (tableLen === 0 || tableLen % 16 !== 0) return this.fault("indirect_len_invalid");
    if (tableGpa < 0 || tableLen > GPA_LIMIT - tableGpa) return this.fault("addr_out_of_range");
    const mem = this.mem;
    const tr = mem.find(tableGpa, tableLen);
    if (tr < 0) return this.fault("addr_out_of_range");
    const view = mem.regions[tr]!.view;
    const base = mem.offsetIn(tr, tableGpa);
    const entries = tableLen / 16;
    const size = this.size;
    let count = c.count;
    let readable = c.readable;
    let readBytes = c.readBytes;
    let writeBytes = c.writeBytes;
    let writing = writingIn;
    let i = 0;
    let steps = 0;
    for (;;) {
      if (++steps > entries) return this.fault("chain_loop");
      if (before + steps > size) return this.fault("chain_too_long");
      const o = base + 16 * i;
      const flags = view.getUint16(o + 12, true);
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) return this.fault("nested_indirect");
      const len = view.getUint32(o + 8, true);
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) writing = true;
      else if (writing) return this.fault("write_before_read");
      if (len !== 0) {
        const gpa = gpaFromParts(view.getUint32(o, true), view.getUint32(o + 4, true));
        if (gpa < 0 || len > GPA_LIMIT - gpa) return this.fault("addr_out_of_range");
        const r = mem.find(gpa, len);
        if (r < 0) return this.fault("addr_out_of_range");
        if (count >= c.maxSegments) return this.fault("chain_too_long");
        c.region[count] = r;
        c.offset[count] = mem.offsetIn(r, gpa);
        c.addr[count] = gpa;
        c.len[count] = len;
        count++;
        if (writing) writeBytes += len;
        else {
          readBytes += len;
          readable++;
        }
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      const next = view.getUint16(o + 14, true);
      if (next >= entries) return this.fault("desc_index_out_of_range");
      i = next;
    }
    c.count = count;
    c.readable = readable;
    c.readBytes = readBytes;
    c.writeBytes = writeBytes;
    this.stats.descriptors += steps;
    return true;
  }

  pushUsed(chain: DescChain, written: number): void {
    this.pushUsedId(chain.id, written);
  }

  /**
   * Return the buffer whose head descriptor is `id` with `written` bytes
   * written (§2.7.8). For devices that keep ids rather than chains. Not
   * visible until {@link publishUsed}.
   */
  pushUsedId(id: number, written: number): void {
    if (this.brokenFault !== null) return;
    const at = 1 + ((this.usedNext & this.mask) << 1);
    const u = this.usedU32;
    // Skip stores that would not change memory: the line stays shared with the reader.
    if (u[at] !== id) u[at] = id;
    if (u[at + 1] !== written) u[at + 1] = written;
    this.usedNext = (this.usedNext + 1) & 0xffff;
    this.stats.used++;
  }

  publishUsed(): boolean {
    if (this.brokenFault !== null) return false;
    const next = this.usedNext;
    const old = this.usedPublished;
    if (next === old) return false;
    // Release: used elements written above become visible with the index (§2.7.8.2).
    Atomics.store(this.usedU16, 1, next);
    this.usedPublished = next;
    let notify: boolean;
    if (this.eventIdx) notify = vringNeedEvent(Atomics.load(this.availU16, this.usedEventAt), next, old);
    else notify = (Atomics.load(this.availU16, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (notify) this.stats.notifications++;
    else this.stats.notificationsSuppressed++;
    return notify;
  }

  /**
   * Ask the driver to kick (true) or not (false) on new buffers (§2.7.10).
   * Without VIRTIO_F_EVENT_IDX this sets or clears VIRTQ_USED_F_NO_NOTIFY;
   * with it, enabling writes avail_event = the next entry to read, and
   * disabling stops updating it. After enabling, check {@link pending}
   * again: buffers made available before the driver saw the change do not
   * cause a kick.
   */
  setNotify(enabled: boolean): void {
    this.notify = enabled;
    if (!this.eventIdx) {
      Atomics.store(this.usedU16, 0, enabled ? 0 : VIRTQ_USED_F_NO_NOTIFY);
    } else if (enabled) {
      Atomics.store(this.usedU16, this.availEventAt, this.lastAvail);
      this.availEventShadow = this.lastAvail;
    }
  }
}

// ---------------------------------------------------------------------------
// Driver side
// ---------------------------------------------------------------------------

export interface SplitIndirectArea {
  /** Guest-physical start of the area: `size` tables, one per head descriptor, of `maxDescriptors` entries each. */
  gpa: number;
  /** Entries per table (>= 2). The area is size * maxDescriptors * 16 bytes in one region. */
  maxDescriptors: number;
}

export interface SplitDriverOptions {
  /** Where to build indirect tables (used only if VIRTIO_F_INDIRECT_DESC was negotiated). */
  indirect?: SplitIndirectArea;
  /** Starting value of the available and used indices (default 0); the device must use the same base. */
  base?: number;
  /** Write the initial flags, indices and event fields of both rings (default true, as a driver setting up a queue does). */
  initRings?: boolean;
}

/**
 * Driver side of a split virtqueue: adds buffers to the available ring and
 * reclaims used ones (§2.7.13, §2.7.14).
 *
 * Descriptors are recycled first-in first-out, so with a device that
 * completes in order each descriptor keeps serving the same ring slot, and
 * stores that would not change a descriptor or ring entry are skipped; a
 * device thread polling the ring then keeps those cache lines shared
 * instead of having them invalidated on every reuse.
 */
export class SplitDriver implements DriverQueue {
  readonly size: number;
  readonly stats: QueueStats = newQueueStats();
  readonly addrs: SplitRingAddrs;
  readonly features: bigint;
  private readonly mask: number;
  private readonly descU32: Uint32Array;
  private readonly descU16: Uint16Array;
  private readonly availU16: Uint16Array;
  private readonly usedU16: Uint16Array;
  private readonly usedU32: Uint32Array;
  private readonly usedEventAt: number;
  private readonly availEventAt: number;
  private readonly eventIdx: boolean;
  /** Shadow free list / chain links (never read back from guest memory). */
  private readonly nextFree: Uint16Array;
  private readonly chainTail: Uint16Array;
  private readonly chainLen: Uint16Array;
  private readonly tokenOf: Uint32Array;
  private readonly writableOf: Float64Array;
  private readonly inFlight: Uint8Array;
  private freeHead = 0;
  private freeTail: number;
  private numFree: number;
  private availNext: number;
  private availPublished: number;
  private lastUsed: number;
  private usedSeen: number;
  private notify = true;
  private brokenFault: QueueFault | null = null;
  /** Indirect tables: region view and host offset of the area, or null. */
  private readonly indView: DataView | null = null;
  private readonly indBase: number = 0;
  private readonly indGpa: number = 0;
  private readonly indMax: number = 0;

  constructor(mem: GuestMemory, size: number, desc: number, avail: number, used: number, features: bigint, options: SplitDriverOptions = {}) {
    requireLittleEndianHost();
    if ((features & F_IN_ORDER) !== 0n) {
      // A device may then return a whole batch with one used element (§2.7.9); this driver reads every element.
      throw new VirtioError("negotiation", "SplitDriver does not implement VIRTIO_F_IN_ORDER; do not negotiate it");
    }
    this.addrs = { size, desc, avail, used };
    checkSplitRing(mem, this.addrs);
    this.size = size;
    this.mask = size - 1;
    this.features = features;
    this.eventIdx = (features & F_EVENT_IDX) !== 0n;
    this.descU32 = ringView(mem, desc, descTableSize(size), Uint32Array, "descriptor table");
    this.descU16 = ringView(mem, desc, descTableSize(size), Uint16Array, "descriptor table");
    this.availU16 = ringView(mem, avail, availRingSize(size), Uint16Array, "available ring");
    this.usedU16 = ringView(mem, used, usedRingSize(size), Uint16Array, "used ring");
    this.usedU32 = ringView(mem, used, usedRingSize(size), Uint32Array, "used ring");
    this.usedEventAt = 2 + size;
    this.availEventAt = 2 + 4 * size;
    this.nextFree = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.nextFree[i] = (i + 1) & this.mask;
    this.chainTail = new Uint16Array(size);
    this.chainLen = new Uint16Array(size);
    this.tokenOf = new Uint32Array(size);
    this.writableOf = new Float64Array(size);
    this.inFlight = new Uint8Array(size);
    this.freeTail = size - 1;
    this.numFree = size;
    const base = checkIndex("base", options.base);
    this.availNext = base;
    this.availPublished = base;
    this.lastUsed = base;
    this.usedSeen = base;
    const ind = options.indirect;
    if (ind && (features & F_INDIRECT_DESC) !== 0n) {
      if (!Number.isInteger(ind.maxDescriptors) || ind.maxDescriptors < 2 || ind.maxDescriptors > size) {
        throw new VirtioError("usage", `indirect maxDescriptors ${ind.maxDescriptors} must be an integer in [2, queue size ${size}] (§2.7.5.3.1)`);
      }
      const bytes = size * ind.maxDescriptors * 16;
      const r = mem.find(ind.gpa, bytes);
      if (r < 0) throw new VirtioError("transport", `indirect area [0x${ind.gpa.toString(16)}, +${bytes}) is not inside one guest memory region`);
      this.indView = mem.regions[r]!.view;
      this.indBase = mem.offsetIn(r, ind.gpa);
      this.indGpa = ind.gpa;
      this.indMax = ind.maxDescriptors;
    }
    if (options.initRings ?? true) {
      Atomics.store(this.availU16, 0, 0);
      Atomics.store(this.availU16, this.usedEventAt, base);
      Atomics.store(this.usedU16, 0, 0);
      Atomics.store(this.usedU16, this.availEventAt, base);
      Atomics.store(this.usedU16, 1, base);
      Atomics.store(this.availU16, 1, base);
    }
  }

  static fromLayout(mem: GuestMemory, addrs: SplitRingAddrs, features: bigint, options?: SplitDriverOptions): SplitDriver {
    return new SplitDriver(mem, addrs.size, addrs.desc, addrs.avail, addrs.used, features, options);
  }

  get broken(): boolean {
    return this.brokenFault !== null;
  }

  get brokenBy(): QueueFault | null {
    return this.brokenFault;
  }

  get freeDescriptors(): number {
    return this.numFree;
  }

  /** Buffers added and not yet reclaimed. */
  get inFlightCount(): number {
    return (this.availNext - this.lastUsed) & 0xffff;
  }

  /** True when indirect tables can be used (feature negotiated and an area given). */
  get indirectEnabled(): boolean {
    return this.indView !== null;
  }

  private fault(f: QueueFault): void {
    this.stats.faults[f]++;
    if (this.brokenFault === null) this.brokenFault = f;
  }

  add(addrs: Float64Array, lens: Uint32Array, nOut: number, nIn: number, token: number, indirect = false): boolean {
    if (this.brokenFault !== null) return false;
    const n = nOut + nIn;
    if (!(n >= 1 && n <= this.size)) throw new VirtioError("usage", `a buffer needs 1..${this.size} segments, got ${n}`);
    const useIndirect = indirect && n > 1 && n <= this.indMax;
    if (this.numFree < (useIndirect ? 1 : n)) return false;
    const d32 = this.descU32;
    const d16 = this.descU16;
    const head = this.freeHead;
    let writable = 0;
    if (useIndirect) {
      const view = this.indView!;
      const tbl = this.indBase + head * this.indMax * 16;
      for (let i = 0; i < n; i++) {
        const a = addrs[i]!;
        const len = lens[i]!;
        const o = tbl + 16 * i;
        view.setUint32(o, a >>> 0, true);
        view.setUint32(o + 4, Math.floor(a / 0x1_0000_0000), true);
        view.setUint32(o + 8, len, true);
        view.setUint16(o + 12, (i >= nOut ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0), true);
        view.setUint16(o + 14, i + 1 < n ? i + 1 : 0, true);
        if (i >= nOut) writable += len;
      }
      const tableGpa = this.indGpa + head * this.indMax * 16;
      const w = head << 2;
      d32[w] = tableGpa >>> 0;
      d32[w + 1] = Math.floor(tableGpa / 0x1_0000_0000);
      d32[w + 2] = n * 16;
      d16[(head << 3) + 6] = VIRTQ_DESC_F_INDIRECT;
      d16[(head << 3) + 7] = 0;
      this.freeHead = this.nextFree[head]!;
      this.numFree -= 1;
      this.chainTail[head] = head;
      this.chainLen[head] = 1;
    } else {
      const nextFree = this.nextFree;
      let idx = head;
      let prev = head;
      for (let i = 0; i < n; i++) {
        const a = addrs[i]!;
        const len = lens[i]!;
        const lo = a >>> 0;
        // Guest addresses are integers below 2^53; most are below 4 GiB, so skip the division then.
        const hi = a > 0xffff_ffff ? (a - lo) / 0x1_0000_0000 : 0;
        const next = nextFree[idx]!;
        const flags = (i >= nOut ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        const w = idx << 2;
        const h = (idx << 3) + 6;
        // Write only what changes (see the class comment).
        if (d32[w] !== lo) d32[w] = lo;
        if (d32[w + 1] !== hi) d32[w + 1] = hi;
        if (d32[w + 2] !== len) d32[w + 2] = len;
        if (d16[h] !== flags) d16[h] = flags;
        if (d16[h + 1] !== next) d16[h + 1] = next;
        if (i >= nOut) writable += len;
        prev = idx;
        idx = next;
      }
      this.freeHead = idx;
      this.numFree -= n;
      this.chainTail[head] = prev;
      this.chainLen[head] = n;
    }
    this.tokenOf[head] = token;
    this.writableOf[head] = writable;
    this.inFlight[head] = 1;
    const slot = 2 + (this.availNext & this.mask);
    if (this.availU16[slot] !== head) this.availU16[slot] = head;
    this.availNext = (this.availNext + 1) & 0xffff;
    this.stats.chains++;
    this.stats.descriptors += n;
    return true;
  }

  publish(): boolean {
    if (this.brokenFault !== null) return false;
    const next = this.availNext;
    const old = this.availPublished;
    if (next === old) return false;
    // Release: descriptors and ring entries written by add() become visible with idx (§2.7.13.3.1).
    Atomics.store(this.availU16, 1, next);
    this.availPublished = next;
    // The store above is sequentially consistent, so reading the device's suppression field after it cannot miss an update (§2.7.13.4.1).
    let kick: boolean;
    if (this.eventIdx) kick = vringNeedEvent(Atomics.load(this.usedU16, this.availEventAt), next, old);
    else kick = (Atomics.load(this.usedU16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
    if (kick) this.stats.notifications++;
    else this.stats.notificationsSuppressed++;
    return kick;
  }

  /** Used buffers waiting to be reclaimed right now (fault-free peek). */
  usedPending(): number {
    if (this.brokenFault !== null) return 0;
    const p = (Atomics.load(this.usedU16, 1) - this.lastUsed) & 0xffff;
    return p < this.size ? p : this.size;
  }

  reclaim(tokens: Uint32Array, lens: Uint32Array, max: number): number {
    if (this.brokenFault !== null) return 0;
    const start = this.lastUsed;
    let pending = (this.usedSeen - start) & 0xffff;
    if (pending < max) {
      // Acquire: used elements below this index are visible after this load (§2.7.14).
      const used = Atomics.load(this.usedU16, 1);
      pending = (used - start) & 0xffff;
      if (pending > ((this.availPublished - start) & 0xffff)) {
        // The device claims to have used more buffers than were ever made available.
        this.fault("bad_used_id");
        return 0;
      }
      this.usedSeen = used;
    }
    let n = max < pending ? max : pending;
    if (n > tokens.length) n = tokens.length;
    if (n > lens.length) n = lens.length;
    const u = this.usedU32;
    const mask = this.mask;
    const size = this.size;
    const inFlight = this.inFlight;
    let last = start;
    let k = 0;
    for (; k < n; k++) {
      const at = 1 + ((last & mask) << 1);
      const id = u[at]!;
      let len = u[at + 1]!;
      if (id >= size || inFlight[id] === 0) {
        this.fault("bad_used_id");
        break;
      }
      const cap = this.writableOf[id]!;
      if (len > cap) {
        // §2.7.8.3: the driver must not trust data beyond len; clamp to what was offered and count it.
        this.stats.faults.used_len_too_big++;
        len = cap;
      }
      tokens[k] = this.tokenOf[id]!;
      lens[k] = len;
      inFlight[id] = 0;
      if (this.numFree === 0) this.freeHead = id;
      else this.nextFree[this.freeTail] = id;
      this.freeTail = this.chainTail[id]!;
      this.numFree += this.chainLen[id]!;
      last = (last + 1) & 0xffff;
    }
    this.lastUsed = last;
    this.stats.used += k;
    if (k > 0 && this.eventIdx && this.notify) {
      // Ask for an interrupt when the device writes entry `last` (§2.7.7).
      Atomics.store(this.availU16, this.usedEventAt, last);
    }
    return k;
  }

  /**
   * Ask the device to interrupt (true) or not on used buffers (§2.7.7).
   * Without VIRTIO_F_EVENT_IDX this clears or sets VIRTQ_AVAIL_F_NO_INTERRUPT;
   * with it, enabling writes used_event = the next used entry to read, and
   * disabling stops updating it. After enabling, check {@link usedPending}
   * again before sleeping.
   */
  setNotify(enabled: boolean): void {
    this.notify = enabled;
    if (!this.eventIdx) Atomics.store(this.availU16, 0, enabled ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT);
    else if (enabled) Atomics.store(this.availU16, this.usedEventAt, this.lastUsed);
  }
}
