/**
 * Packed virtqueues (virtio 1.2 §2.8, VIRTIO_F_RING_PACKED): the driver side
 * ({@link PackedDriver}) and the device side ({@link PackedDevice}).
 *
 * ## Ring state
 * Both sides keep a position in the descriptor ring plus a one-bit wrap
 * counter that starts at 1 and flips each time the position passes the end
 * of the ring (§2.8.1). A descriptor is available when its AVAIL bit equals
 * the driver's wrap counter and its USED bit is the inverse; it is used when
 * both bits equal the device's wrap counter.
 *
 * For arithmetic the pair (position, wrap) is folded into one "lap index" in
 * [0, 2 * size): `pos` on laps where the wrap counter is 1, `pos + size` on
 * laps where it is 0. Event suppression offsets fold the same way.
 *
 * ## Memory ordering
 * The descriptor `flags` word is the publication point (§2.8.21.1.1,
 * "Updating flags"). It is written with `Atomics.store` and polled with
 * `Atomics.load` on a Uint16Array view; every other field is plain typed-array
 * access, ordered by those sequentially consistent atomics. A batch publishes
 * with one atomic store: the head flags of the first descriptor of the batch
 * are held back and written last, so the peer, which only ever polls the next
 * descriptor in ring order (§2.8.2), sees the whole batch at once. Event
 * suppression structures are read and written as one atomic 32-bit word, which
 * also gives the full barrier §2.8.21.3.1 asks for between exposing flags and
 * reading the peer's suppression state.
 *
 * Views are host typed arrays over the guest bytes, so the host must be
 * little-endian (checked at construction; every platform Node ships for
 * today is). Indirect tables are read through the region's DataView with
 * explicit little-endian accessors.
 *
 * ## Queue size
 * Any size 1..32768 is accepted: §2.8.10.1 says the packed queue size "does
 * not have to be a power of 2 unless enforced by the transport", and nothing
 * here needs one (wrap-around is a compare, not a mask).
 *
 * ## Hostile peers
 * The datapath never throws. A device that finds a malformed chain counts the
 * {@link QueueFault}, marks the queue broken (DEVICE_NEEDS_RESET, §2.1.1) and
 * stops; a driver that reads a used descriptor for a buffer id it does not
 * own counts `bad_used_id` and stops likewise.
 */
import { VirtioError } from "./errors.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from "./features.js";
import { GPA_LIMIT, gpaFromParts, type GuestMemory } from "./memory.js";
import { DescChain, newQueueStats, type DeviceQueue, type DriverQueue, type QueueFault, type QueueStats } from "./queue.js";
import {
  PACKED_DESC_F_INDIRECT,
  PACKED_DESC_F_NEXT,
  PACKED_DESC_F_WRITE,
  PACKED_DESC_SIZE,
  PACKED_EVENT_ALIGN,
  PACKED_EVENT_FLAGS_DESC,
  PACKED_EVENT_FLAGS_DISABLE,
  PACKED_EVENT_FLAGS_ENABLE,
  PACKED_EVENT_SIZE,
  PACKED_MAX_QUEUE_SIZE,
  PACKED_RING_ALIGN,
} from "./packed-layout.js";

export * from "./packed-layout.js";

const NEXT = PACKED_DESC_F_NEXT;
const WRITE = PACKED_DESC_F_WRITE;
const INDIRECT = PACKED_DESC_F_INDIRECT;
/** AVAIL | USED: the two wrap-state bits of a descriptor's flags. */
const AU = 0x8080;
/** Flags bits of a freshly available descriptor on a lap with wrap counter 1 (0x8000 on laps with 0). */
const AVAIL_WRAP1 = 0x0080;

/** 2^-32: high word of an address by an exact multiplication instead of a division. */
const TWO_POW_M32 = 1 / 0x1_0000_0000;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function hasFeature(features: bigint, mask: bigint): boolean {
  return (features & mask) !== 0n;
}

/** Host view of `len` guest bytes at `gpa`, for typed-array access. Control path only. */
function hostView(mem: GuestMemory, gpa: number, len: number, what: string): { buffer: ArrayBufferLike; byteOffset: number } {
  const ri = mem.find(gpa, len);
  if (ri < 0) throw new VirtioError("transport", `${what} [0x${gpa.toString(16)}, +${len}) is not inside one mapped guest region`);
  const r = mem.regions[ri]!;
  const byteOffset = r.bytes.byteOffset + mem.offsetIn(ri, gpa);
  if (byteOffset % 4 !== 0) throw new VirtioError("transport", `${what} at 0x${gpa.toString(16)} is not 4-byte aligned in host memory`);
  return { buffer: r.bytes.buffer, byteOffset };
}

interface RingViews {
  /** Descriptor ring as u32 words: addr lo = 4i, addr hi = 4i+1, len = 4i+2. */
  w32: Uint32Array;
  /** Descriptor ring as u16 words: id = 8i+6, flags = 8i+7. */
  f16: Uint16Array;
  /** Driver Event Suppression as one 32-bit word (desc | flags << 16). */
  drvEvent: Int32Array;
  /** Device Event Suppression as one 32-bit word. */
  devEvent: Int32Array;
}

function checkedSetup(
  mem: GuestMemory,
  size: number,
  descAddr: number,
  driverEventAddr: number,
  deviceEventAddr: number,
  features: bigint,
): RingViews {
  if (!HOST_LE) throw new VirtioError("transport", "packed virtqueues need a little-endian host");
  if (!Number.isInteger(size) || size < 1 || size > PACKED_MAX_QUEUE_SIZE) {
    throw new VirtioError("malformed", `packed queue size ${size} must be an integer in 1..${PACKED_MAX_QUEUE_SIZE} (§2.8)`);
  }
  if (!hasFeature(features, VIRTIO_F_RING_PACKED)) throw new VirtioError("negotiation", "VIRTIO_F_RING_PACKED (34) was not negotiated");
  for (const [name, addr, align] of [
    ["descriptor ring", descAddr, PACKED_RING_ALIGN],
    ["driver event suppression area", driverEventAddr, PACKED_EVENT_ALIGN],
    ["device event suppression area", deviceEventAddr, PACKED_EVENT_ALIGN],
  ] as const) {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr % align !== 0) {
      throw new VirtioError("malformed", `${name} address ${addr} must be a non-negative multiple of ${align} (§2.8.10.1)`);
    }
  }
  const ringBytes = size * PACKED_DESC_SIZE;
  const parts: [number, number][] = [
    [descAddr, ringBytes],
    [driverEventAddr, PACKED_EVENT_SIZE],
    [deviceEventAddr, PACKED_EVENT_SIZE],
  ];
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const [a, al] = parts[i]!;
      const [b, bl] = parts[j]!;
      if (a < b + bl && b < a + al) throw new VirtioError("malformed", "packed virtqueue parts overlap");
    }
  }
  const ring = hostView(mem, descAddr, ringBytes, "descriptor ring");
  const drv = hostView(mem, driverEventAddr, PACKED_EVENT_SIZE, "driver event suppression area");
  const dev = hostView(mem, deviceEventAddr, PACKED_EVENT_SIZE, "device event suppression area");
  return {
    w32: new Uint32Array(ring.buffer, ring.byteOffset, size * 4),
    f16: new Uint16Array(ring.buffer, ring.byteOffset, size * 8),
    drvEvent: new Int32Array(drv.buffer, drv.byteOffset, 1),
    devEvent: new Int32Array(dev.buffer, dev.byteOffset, 1),
  };
}

/**
 * Whether an event suppression word asks for a notification after the ring
 * moved from lap index `oldL` forward by `moved` descriptors (§2.8.10,
 * §2.8.14). DISABLE: never. ENABLE, the reserved value 3, or DESC without
 * VIRTIO_F_EVENT_IDX: always. DESC: when the descriptor at (offset, wrap) is
 * among the ones passed, i.e. its lap index lies in [oldL, oldL + moved)
 * modulo 2 * size. An offset >= size names no descriptor; nfvio notifies
 * then (the safe side for a peer that may be waiting).
 */
export function packedEventFires(event: number, oldL: number, moved: number, size: number, eventIdx: boolean): boolean {
  const flags = (event >>> 16) & 3;
  if (flags === PACKED_EVENT_FLAGS_DISABLE) return false;
  if (flags !== PACKED_EVENT_FLAGS_DESC || !eventIdx) return true;
  const off = event & 0x7fff;
  if (off >= size) return true;
  const laps = 2 * size;
  const e = (event & 0x8000) !== 0 ? off : off + size;
  let dist = e - oldL;
  if (dist < 0) dist += laps;
  return dist < moved;
}

/** Lap index of (pos, wrap) in [0, 2 * size). */
function lapIndex(pos: number, wrap: number, size: number): number {
  return wrap === 1 ? pos : pos + size;
}

/** Event word asking for a notification at (pos, wrap), DESC mode. */
function descEvent(pos: number, wrap: number): number {
  return pos | (wrap << 15) | (PACKED_EVENT_FLAGS_DESC << 16);
}

/**
 * A position in a packed ring: the next slot a side reads or writes and the
 * wrap counter it expects there (§2.8.1). Positions are ring slots in
 * [0, queue size), wrap counters 0 or 1.
 */
export interface PackedRingPosition {
  /** Next slot the device reads an available descriptor from. */
  availIdx: number;
  /** Driver Ring Wrap Counter the device expects at `availIdx` (§2.8.1). */
  availWrap: number;
  /** Next slot the device writes a used descriptor to. */
  usedIdx: number;
  /** Device Ring Wrap Counter (§2.8.1): the AVAIL/USED value of the next used descriptor. */
  usedWrap: number;
}

/** The initial position: both sides at slot 0, both wrap counters 1 (§2.8.1). */
export const PACKED_RING_START: Readonly<PackedRingPosition> = Object.freeze({ availIdx: 0, availWrap: 1, usedIdx: 0, usedWrap: 1 });

/**
 * Check a start position against a queue of `size`: indices in [0, size),
 * wrap counters 0 or 1, and the used position no more than a ring behind the
 * available one. Returns the descriptors between them (taken by the device
 * and not yet used); throws VirtioError("malformed") naming the bad field.
 */
export function checkPackedPosition(p: PackedRingPosition, size: number): number {
  for (const k of ["availIdx", "usedIdx"] as const) {
    const v = p[k];
    if (!Number.isInteger(v) || v < 0 || v >= size) throw new VirtioError("malformed", `packed ring ${k} ${String(v)} must be a slot in [0, ${size}) (queue size ${size})`);
  }
  for (const k of ["availWrap", "usedWrap"] as const) {
    const v = p[k];
    if (v !== 0 && v !== 1) throw new VirtioError("malformed", `packed ring ${k} ${String(v)} must be a wrap counter, 0 or 1 (§2.8.1)`);
  }
  let d = lapIndex(p.availIdx, p.availWrap, size) - lapIndex(p.usedIdx, p.usedWrap, size);
  if (d < 0) d += 2 * size;
  if (d > size) {
    throw new VirtioError(
      "malformed",
      `packed ring used position ${p.usedIdx}/${p.usedWrap} is ${d} descriptors behind available ${p.availIdx}/${p.availWrap}, more than the queue size ${size}`,
    );
  }
  return d;
}

/** Options of {@link PackedDriver}. */
export interface PackedDriverOptions {
  /**
   * Guest-physical address of the driver's indirect tables (§2.8.7): one
   * table of `indirectEntries` descriptors per buffer id, so
   * size * indirectEntries * 16 bytes, 16-aligned, in one region.
   */
  indirectAddr?: number;
  /** Descriptors per indirect table (0: never use indirect). */
  indirectEntries?: number;
  /**
   * Zero the descriptor ring ("The descriptor ring is zero-initialized",
   * §2.8.13) and set the driver event area to ENABLE. Default true; pass
   * false to attach to a ring already set up.
   */
  init?: boolean;
  /**
   * Start at slot `pos` with Driver Ring Wrap Counter `wrap` on both the
   * available and the used side, with nothing outstanding, as a ring that
   * has already been used up to there (tests, and a driver attaching to a
   * device that resumes at that position). Default slot 0, wrap 1 (§2.8.1).
   * With `init` the descriptor flags are written as such a ring leaves them:
   * slots before `pos` used on this lap, the rest used on the lap before
   * (all zero for the default start).
   */
  start?: { pos: number; wrap: number };
}

/**
 * Driver side of a packed virtqueue: the guest's virtio-net driver or
 * virtio-user. Writes available descriptors, reclaims used ones (§2.8.21,
 * §2.8.22).
 *
 * Buffer ids are 0..size-1, handed out from a free stack; each id remembers
 * its caller token, the ring slots its descriptors took and its writable
 * length. With VIRTIO_F_IN_ORDER the driver also keeps ids in the order they
 * were made available, so a used descriptor for id X completes every older
 * buffer too (§2.8.8, skipped buffers "are assumed to have been used ...
 * completely": they are reported with their full writable length).
 */
export class PackedDriver implements DriverQueue {
  readonly size: number;
  readonly stats: QueueStats = newQueueStats();
  private readonly w32: Uint32Array;
  private readonly f16: Uint16Array;
  private readonly drvEvent: Int32Array;
  private readonly devEvent: Int32Array;
  private readonly eventIdx: boolean;
  private readonly inOrder: boolean;

  // Indirect tables (host views), or null.
  private readonly indW32: Uint32Array | null = null;
  private readonly indF16: Uint16Array | null = null;
  private readonly indAddr: number = 0;
  private readonly indEntries: number = 0;

  // Avail side: next slot to write, its wrap counter, and the matching AVAIL/USED bits.
  private availPos = 0;
  private availWrap = 1;
  private availBits = AVAIL_WRAP1;
  /** Slot whose head flags are held back until publish(), or -1. */
  private heldPos = -1;
  private heldFlags = 0;
  /** Descriptors added since the last publish(), and the lap index at that publish. */
  private added = 0;
  private publishedL = 0;

  // Used side: next slot the device writes a used descriptor to, and its wrap counter.
  private usedPos = 0;
  private usedWrap = 1;
  private usedBits = AU;
  /** Used notifications wanted in DESC mode: keep the event offset at usedPos. */
  private notifyDesc = false;

  // Buffer ids.
  private freeSlots: number;
  private readonly freeIds: Uint16Array;
  private freeTop: number;
  private readonly tokens: Uint32Array;
  /** Ring slots each id's buffer took; 0 while the id is free (no buffer out under it). */
  private readonly slots: Uint16Array;
  private readonly writable: Float64Array;
  // IN_ORDER: ids in the order they were made available.
  private readonly order: Uint16Array;
  private orderHead = 0;
  private orderCount = 0;
  /** IN_ORDER: a used batch only partly handed out by reclaim(): the id that ends it, or -1. */
  private batchEnd = -1;
  private batchLen = 0;

  private fault: QueueFault | null = null;

  constructor(
    readonly mem: GuestMemory,
    size: number,
    descAddr: number,
    driverEventAddr: number,
    deviceEventAddr: number,
    features: bigint,
    options: PackedDriverOptions = {},
  ) {
    const v = checkedSetup(mem, size, descAddr, driverEventAddr, deviceEventAddr, features);
    this.size = size;
    this.w32 = v.w32;
    this.f16 = v.f16;
    this.drvEvent = v.drvEvent;
    this.devEvent = v.devEvent;
    this.eventIdx = hasFeature(features, VIRTIO_F_EVENT_IDX);
    this.inOrder = hasFeature(features, VIRTIO_F_IN_ORDER);
    const entries = options.indirectEntries ?? 0;
    if (entries !== 0 && hasFeature(features, VIRTIO_F_INDIRECT_DESC)) {
      const addr = options.indirectAddr;
      if (!Number.isInteger(entries) || entries < 1 || entries > size) {
        throw new VirtioError("usage", `indirectEntries ${entries} must be in 1..queue size (§2.8.17)`);
      }
      if (addr === undefined || !Number.isSafeInteger(addr) || addr < 0 || addr % PACKED_RING_ALIGN !== 0) {
        throw new VirtioError("usage", `indirectAddr ${addr} must be a 16-aligned guest-physical address`);
      }
      const bytes = size * entries * PACKED_DESC_SIZE;
      for (const [a, l] of [
        [descAddr, size * PACKED_DESC_SIZE],
        [driverEventAddr, PACKED_EVENT_SIZE],
        [deviceEventAddr, PACKED_EVENT_SIZE],
      ] as const) {
        if (addr < a + l && a < addr + bytes) throw new VirtioError("usage", "the indirect table area overlaps the ring");
      }
      const hv = hostView(mem, addr, bytes, "indirect table area");
      this.indW32 = new Uint32Array(hv.buffer, hv.byteOffset, bytes / 4);
      this.indF16 = new Uint16Array(hv.buffer, hv.byteOffset, bytes / 2);
      this.indAddr = addr;
      this.indEntries = entries;
    }
    this.freeSlots = size;
    this.freeIds = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.freeIds[i] = size - 1 - i; // pop order 0, 1, 2, ...
    this.freeTop = size;
    this.tokens = new Uint32Array(size);
    this.slots = new Uint16Array(size);
    this.writable = new Float64Array(size);
    this.order = new Uint16Array(size);
    const st = options.start;
    if (st !== undefined) {
      checkPackedPosition({ availIdx: st.pos, availWrap: st.wrap, usedIdx: st.pos, usedWrap: st.wrap }, size);
      this.availPos = this.usedPos = st.pos;
      this.availWrap = this.usedWrap = st.wrap;
      this.availBits = st.wrap === 1 ? AVAIL_WRAP1 : AVAIL_WRAP1 ^ AU;
      this.usedBits = st.wrap === 1 ? AU : 0;
      this.publishedL = lapIndex(st.pos, st.wrap, size);
    }
    if (options.init ?? true) {
      this.w32.fill(0);
      if (st !== undefined) {
        // Used descriptors carry AVAIL = USED = the wrap counter of their lap (§2.8.1, §2.8.22).
        const thisLap = st.wrap === 1 ? AU : 0;
        for (let i = 0; i < size; i++) this.f16[i * 8 + 7] = i < st.pos ? thisLap : thisLap ^ AU;
      }
      Atomics.store(this.drvEvent, 0, PACKED_EVENT_FLAGS_ENABLE << 16);
    }
  }

  get broken(): boolean {
    return this.fault !== null;
  }

  get brokenBy(): QueueFault | null {
    return this.fault;
  }

  /** Free ring slots. */
  get freeDescriptors(): number {
    return this.freeSlots;
  }

  /** Buffers made available and not yet reclaimed. */
  get outstanding(): number {
    return this.size - this.freeTop;
  }

  /**
   * Write one buffer into the ring (§2.8.21.1): `nOut` device-readable then
   * `nIn` device-writable elements, either as a chain of ring descriptors
   * (NEXT on all but the last, the buffer id in every one, §2.8.6) or, when
   * `indirect` is set and possible, as one INDIRECT descriptor pointing at this
   * id's table (§2.8.7). The head's flags are written last; the first head of
   * a batch waits for {@link publish}. Returns false, writing nothing, when
   * there is no free id or not enough free slots.
   *
   * Throws VirtioError("usage") for arguments no ring could take: no
   * elements, more elements than the queue size, an address outside
   * [0, 2^53), or a token that is not a u32.
   */
  add(addrs: Float64Array, lens: Uint32Array, nOut: number, nIn: number, token: number, indirect = false): boolean {
    const n = nOut + nIn;
    if (!(nOut >= 0 && nIn >= 0 && n >= 1 && n <= this.size && n <= addrs.length && n <= lens.length) || token >>> 0 !== token) {
      throw new VirtioError("usage", `add: bad arguments (nOut ${nOut}, nIn ${nIn}, token ${token})`);
    }
    for (let k = 0; k < n; k++) {
      const a = addrs[k]!;
      if (!(a >= 0 && a < GPA_LIMIT)) throw new VirtioError("usage", `add: address ${a} is outside [0, 2^53)`);
    }
    if (this.fault !== null || this.freeTop === 0) return false;
    const useIndirect = indirect && n <= this.indEntries;
    const need = useIndirect ? 1 : n;
    if (need > this.freeSlots) return false;

    const id = this.freeIds[--this.freeTop]!;
    const size = this.size;
    const w32 = this.w32;
    const f16 = this.f16;
    const head = this.availPos;
    let pos = head;
    let bits = this.availBits;
    let headFlags: number;
    let wlen = 0;
    if (useIndirect) {
      const tw = this.indW32!;
      const tf = this.indF16!;
      const t = id * this.indEntries;
      for (let k = 0; k < n; k++) {
        const a = addrs[k]!;
        const lo = a >>> 0;
        const i = (t + k) * 4;
        tw[i] = lo;
        tw[i + 1] = (a - lo) * TWO_POW_M32;
        tw[i + 2] = lens[k]!;
        tf[i * 2 + 6] = 0; // Buffer ID is reserved in indirect descriptors (§2.8.7)
        if (k < nOut) tf[i * 2 + 7] = 0;
        else {
          tf[i * 2 + 7] = WRITE;
          wlen += lens[k]!;
        }
      }
      const ta = this.indAddr + t * PACKED_DESC_SIZE;
      const lo = ta >>> 0;
      w32[pos * 4] = lo;
      w32[pos * 4 + 1] = (ta - lo) * TWO_POW_M32;
      w32[pos * 4 + 2] = n * PACKED_DESC_SIZE;
      f16[pos * 8 + 6] = id;
      headFlags = INDIRECT | bits;
      if (++pos === size) {
        pos = 0;
        bits ^= AU;
      }
    } else {
      headFlags = 0;
      for (let k = 0; k < n; k++) {
        const a = addrs[k]!;
        const lo = a >>> 0;
        const l = lens[k]!;
        w32[pos * 4] = lo;
        w32[pos * 4 + 1] = (a - lo) * TWO_POW_M32;
        w32[pos * 4 + 2] = l;
        f16[pos * 8 + 6] = id;
        let f = bits;
        if (k >= nOut) {
          f |= WRITE;
          wlen += l;
        }
        if (k + 1 < n) f |= NEXT;
        if (k === 0) headFlags = f;
        else f16[pos * 8 + 7] = f; // behind the head: invisible until the head is
        if (++pos === size) {
          pos = 0;
          bits ^= AU;
        }
      }
    }
    this.availPos = pos;
    this.availBits = bits;
    this.availWrap = bits === AVAIL_WRAP1 ? 1 : 0;
    if (this.heldPos < 0) {
      this.heldPos = head;
      this.heldFlags = headFlags;
    } else {
      f16[head * 8 + 7] = headFlags; // behind the held head of this batch
    }
    this.added += need;
    this.freeSlots -= need;
    this.tokens[id] = token;
    this.slots[id] = need;
    this.writable[id] = wlen;
    if (this.inOrder) {
      let tail = this.orderHead + this.orderCount;
      if (tail >= size) tail -= size;
      this.order[tail] = id;
      this.orderCount++;
    }
    this.stats.chains++;
    this.stats.descriptors += useIndirect ? n + 1 : n;
    return true;
  }

  /**
   * Expose everything added since the last call with one release store of the
   * batch's first head flags (§2.8.21.1.1), then read the Device Event
   * Suppression structure (after that store, §2.8.21.3.1) and say whether the
   * device wants an available buffer notification.
   */
  publish(): boolean {
    if (this.heldPos >= 0) {
      Atomics.store(this.f16, this.heldPos * 8 + 7, this.heldFlags);
      this.heldPos = -1;
    }
    const moved = this.added;
    if (moved === 0) return false;
    const oldL = this.publishedL;
    this.added = 0;
    this.publishedL = lapIndex(this.availPos, this.availWrap, this.size);
    if (packedEventFires(Atomics.load(this.devEvent, 0), oldL, moved, this.size, this.eventIdx)) {
      this.stats.notifications++;
      return true;
    }
    this.stats.notificationsSuppressed++;
    return false;
  }

  /**
   * Take up to `max` used buffers (§2.8.22): poll the flags of the next used
   * slot with acquire ordering, look the id up, skip the slots its buffer took.
   * `lens` gets the written length (0 when the used descriptor lacks WRITE,
   * §2.8.4). Never throws: a used id the driver does not own counts
   * `bad_used_id` and breaks the queue; a length above the buffer's writable
   * size counts `used_len_too_big` and is clamped (the queue stays up).
   */
  reclaim(tokens: Uint32Array, lens: Uint32Array, max: number): number {
    if (this.fault !== null) return 0;
    const limit = Math.min(max, tokens.length, lens.length);
    let n = 0;
    if (this.inOrder) n = this.reclaimInOrder(tokens, lens, limit);
    else {
      // The per-buffer path, with the ring position in locals (release() inlined).
      const f16 = this.f16;
      const w32 = this.w32;
      const size = this.size;
      const slots = this.slots;
      const writable = this.writable;
      let pos = this.usedPos;
      let bits = this.usedBits;
      let freed = 0;
      while (n < limit) {
        const flags = Atomics.load(f16, pos * 8 + 7);
        if ((flags & AU) !== bits) break;
        const id = f16[pos * 8 + 6]!;
        if (id >= size || slots[id] === 0) {
          this.fail("bad_used_id");
          break;
        }
        tokens[n] = this.tokens[id]!;
        let len = 0;
        if ((flags & WRITE) !== 0) {
          len = w32[pos * 4 + 2]!;
          if (len > writable[id]!) {
            this.stats.faults.used_len_too_big++;
            len = writable[id]!;
          }
        }
        lens[n++] = len;
        const s = slots[id]!;
        pos += s;
        if (pos >= size) {
          pos -= size;
          bits ^= AU;
        }
        freed += s;
        slots[id] = 0;
        this.freeIds[this.freeTop++] = id;
      }
      this.usedPos = pos;
      if (bits !== this.usedBits) {
        this.usedBits = bits;
        this.usedWrap = bits === AU ? 1 : 0;
      }
      this.freeSlots += freed;
    }
    if (n > 0) {
      this.stats.used += n;
      if (this.notifyDesc) Atomics.store(this.drvEvent, 0, descEvent(this.usedPos, this.usedWrap));
    }
    return n;
  }

  private reclaimInOrder(tokens: Uint32Array, lens: Uint32Array, limit: number): number {
    const f16 = this.f16;
    const size = this.size;
    let n = 0;
    while (n < limit) {
      if (this.batchEnd < 0) {
        const pos = this.usedPos;
        const flags = Atomics.load(f16, pos * 8 + 7);
        if ((flags & AU) !== this.usedBits) break;
        const id = f16[pos * 8 + 6]!;
        if (id >= size || this.slots[id] === 0) {
          this.fail("bad_used_id");
          break;
        }
        this.batchEnd = id;
        this.batchLen = this.usedLen(id, flags, this.w32[pos * 4 + 2]!);
      }
      // Hand out the oldest outstanding buffers up to and including batchEnd (§2.8.8).
      while (n < limit) {
        const id = this.order[this.orderHead]!;
        if (++this.orderHead === size) this.orderHead = 0;
        this.orderCount--;
        tokens[n] = this.tokens[id]!;
        const last = id === this.batchEnd;
        lens[n] = last ? this.batchLen : Math.min(this.writable[id]!, 0xffff_ffff);
        n++;
        this.release(id);
        if (last) {
          this.batchEnd = -1;
          break;
        }
      }
    }
    return n;
  }

  private usedLen(id: number, flags: number, len: number): number {
    if ((flags & WRITE) === 0) return 0;
    const w = this.writable[id]!;
    if (len > w) {
      this.stats.faults.used_len_too_big++;
      return w;
    }
    return len;
  }

  /** Free an id and the ring slots its buffer took; the next used slot moves past them. */
  private release(id: number): void {
    const s = this.slots[id]!;
    let p = this.usedPos + s;
    if (p >= this.size) {
      p -= this.size;
      this.usedWrap ^= 1;
      this.usedBits ^= AU;
    }
    this.usedPos = p;
    this.freeSlots += s;
    this.slots[id] = 0;
    this.freeIds[this.freeTop++] = id;
  }

  /**
   * Ask for used buffer notifications (§2.8.10): DISABLE, or ENABLE, or with
   * VIRTIO_F_EVENT_IDX a DESC event at the next used slot, which
   * {@link reclaim} keeps moving forward. Re-check with reclaim() after
   * enabling to close the race with the device (§2.8.22, note).
   */
  setNotify(enabled: boolean): void {
    this.notifyDesc = enabled && this.eventIdx;
    let word: number;
    if (!enabled) word = (Atomics.load(this.drvEvent, 0) & 0xffff) | (PACKED_EVENT_FLAGS_DISABLE << 16);
    else if (this.eventIdx) word = descEvent(this.usedPos, this.usedWrap);
    else word = PACKED_EVENT_FLAGS_ENABLE << 16;
    Atomics.store(this.drvEvent, 0, word);
  }

  /** Ask for a used buffer notification only when the device reaches (pos, wrap) (DESC mode, needs VIRTIO_F_EVENT_IDX). */
  setNotifyAt(pos: number, wrap: number): void {
    if (!this.eventIdx) throw new VirtioError("negotiation", "descriptor-specific events need VIRTIO_F_EVENT_IDX (§2.8.10)");
    if (!(pos >= 0 && pos < this.size) || (wrap !== 0 && wrap !== 1)) throw new VirtioError("usage", `event position (${pos}, ${wrap}) is outside the ring`);
    this.notifyDesc = false;
    Atomics.store(this.drvEvent, 0, descEvent(pos, wrap));
  }

  /** Next slot the driver writes and its wrap counter (§2.8.1). */
  get availState(): { pos: number; wrap: number } {
    return { pos: this.availPos, wrap: this.availWrap };
  }

  /** Next slot the driver expects a used descriptor in and its wrap counter (§2.8.1). */
  get usedState(): { pos: number; wrap: number } {
    return { pos: this.usedPos, wrap: this.usedWrap };
  }

  private fail(f: QueueFault): void {
    this.stats.faults[f]++;
    if (this.fault === null) this.fault = f;
  }
}

/** Options of {@link PackedDevice}. */
export interface PackedDeviceOptions {
  /**
   * With VIRTIO_F_IN_ORDER negotiated: write one used descriptor per
   * {@link PackedDevice.publishUsed} for the whole batch, carrying the last
   * buffer's id and length (§2.8.8). The caller must then push chains in the
   * order they were popped. Default false.
   */
  inOrderBatch?: boolean;
  /** Write ENABLE into the Device Event Suppression area (default true). */
  init?: boolean;
  /**
   * Where to resume (vhost-user SET_VRING_BASE after a stop, a back-end
   * reconnecting): the next available slot with the driver wrap counter
   * expected there, and the next used slot with the device wrap counter
   * (§2.8.1). Default {@link PACKED_RING_START}. Descriptors between the used
   * and the available position count as taken by the device and never
   * returned (an earlier device instance popped them). Checked by
   * {@link checkPackedPosition}.
   */
  start?: PackedRingPosition;
}

/**
 * Device side of a packed virtqueue: the vhost backend or the offload
 * device. Pops available buffers, writes used descriptors (§2.8.21, §2.8.22)
 * and validates everything the driver wrote before it is used.
 */
export class PackedDevice implements DeviceQueue {
  readonly size: number;
  readonly stats: QueueStats = newQueueStats();
  private readonly w32: Uint32Array;
  private readonly f16: Uint16Array;
  private readonly drvEvent: Int32Array;
  private readonly devEvent: Int32Array;
  private readonly eventIdx: boolean;
  private readonly indirectOk: boolean;
  private readonly batch: boolean;

  // Avail side: next slot to read, the bits an available descriptor there has, its wrap counter.
  private availPos = 0;
  private availWrap = 1;
  private availBits = AVAIL_WRAP1;
  /** Descriptors popped and not yet returned used. */
  private inflight = 0;
  private notifyDesc = false;

  // Used side.
  private usedPos = 0;
  private usedWrap = 1;
  private usedBits = AU;
  private heldPos = -1;
  private heldFlags = 0;
  private pushed = 0;
  private publishedL = 0;
  // IN_ORDER batching.
  private batchSlots = 0;
  private batchId = 0;
  private batchLen = 0;

  private fault: QueueFault | null = null;

  constructor(
    readonly mem: GuestMemory,
    size: number,
    descAddr: number,
    driverEventAddr: number,
    deviceEventAddr: number,
    features: bigint,
    options: PackedDeviceOptions = {},
  ) {
    const v = checkedSetup(mem, size, descAddr, driverEventAddr, deviceEventAddr, features);
    this.size = size;
    this.w32 = v.w32;
    this.f16 = v.f16;
    this.drvEvent = v.drvEvent;
    this.devEvent = v.devEvent;
    this.eventIdx = hasFeature(features, VIRTIO_F_EVENT_IDX);
    this.indirectOk = hasFeature(features, VIRTIO_F_INDIRECT_DESC);
    this.batch = (options.inOrderBatch ?? false) && hasFeature(features, VIRTIO_F_IN_ORDER);
    const st = options.start;
    if (st !== undefined) {
      this.inflight = checkPackedPosition(st, size);
      this.availPos = st.availIdx;
      this.availWrap = st.availWrap;
      this.availBits = st.availWrap === 1 ? AVAIL_WRAP1 : AVAIL_WRAP1 ^ AU;
      this.usedPos = st.usedIdx;
      this.usedWrap = st.usedWrap;
      this.usedBits = st.usedWrap === 1 ? AU : 0;
      this.publishedL = lapIndex(st.usedIdx, st.usedWrap, size);
    }
    if (options.init ?? true) Atomics.store(this.devEvent, 0, PACKED_EVENT_FLAGS_ENABLE << 16);
  }

  get broken(): boolean {
    return this.fault !== null;
  }

  get brokenBy(): QueueFault | null {
    return this.fault;
  }

  /** Descriptors popped and not yet returned with {@link pushUsed}. */
  get inFlight(): number {
    return this.inflight;
  }

  /**
   * Pop up to `max` available buffers into `chains` (§2.8.21, §2.8.18).
   * Each head's flags are read with acquire ordering; the rest of the chain
   * is ordered behind it. Every descriptor is checked before the chain is
   * handed out; on the first fault the queue breaks and the chains popped
   * before it are returned. A chain needs as many segments as it has
   * elements: one longer than `chain.maxSegments` counts `chain_too_long`
   * (allocate chains with `maxSegments` = queue size to accept every list
   * §2.8.5 allows).
   */
  popBurst(chains: readonly DescChain[], max: number): number {
    if (this.fault !== null) return 0;
    const limit = Math.min(max, chains.length);
    const f16 = this.f16;
    const w32 = this.w32;
    const mem = this.mem;
    const size = this.size;
    let n = 0;
    while (n < limit) {
      const pos = this.availPos;
      const flags = Atomics.load(f16, pos * 8 + 7);
      if ((flags & AU) !== this.availBits) break;
      const c = chains[n]!;
      if ((flags & (NEXT | INDIRECT)) !== 0 || c.maxSegments === 0 || this.inflight === size) {
        // Lists, indirect tables and every fault path.
        const f = this.walk(c, flags);
        if (f !== null) {
          this.fail(f);
          break;
        }
        n++;
        continue;
      }
      // One descriptor: the same checks as walk(), inline.
      const w = pos * 4;
      const addr = gpaFromParts(w32[w]!, w32[w + 1]!);
      const len = w32[w + 2]!;
      const ri = mem.find(addr, len);
      const id = f16[pos * 8 + 6]!;
      if (ri < 0 || id >= size) {
        this.fail(ri < 0 ? "addr_out_of_range" : "desc_index_out_of_range");
        break;
      }
      c.region[0] = ri;
      c.offset[0] = mem.offsetIn(ri, addr);
      c.addr[0] = addr;
      c.len[0] = len;
      c.count = 1;
      c.id = id;
      c.ringDescs = 1;
      if ((flags & WRITE) !== 0) {
        c.readable = 0;
        c.readBytes = 0;
        c.writeBytes = len;
      } else {
        c.readable = 1;
        c.readBytes = len;
        c.writeBytes = 0;
      }
      this.inflight++;
      if (pos + 1 === size) {
        this.availPos = 0;
        this.availBits ^= AU;
        this.availWrap ^= 1;
      } else this.availPos = pos + 1;
      this.stats.descriptors++;
      n++;
    }
    if (n > 0) {
      this.stats.chains += n;
      if (this.notifyDesc) Atomics.store(this.devEvent, 0, descEvent(this.availPos, this.availWrap));
    }
    return n;
  }

  /** Validate and record one chain starting at availPos; advance past it on success. */
  private walk(c: DescChain, headFlags: number): QueueFault | null {
    const size = this.size;
    const w32 = this.w32;
    const f16 = this.f16;
    const mem = this.mem;
    const cap = c.maxSegments;
    const room = size - this.inflight; // slots the driver may legally have filled ahead of us
    if (room < 1) return "avail_idx_too_far";
    let pos = this.availPos;
    let bits = this.availBits;
    let flags = headFlags;
    let steps = 1;
    let count = 0;
    let readable = 0;
    let readBytes = 0;
    let writeBytes = 0;
    for (;;) {
      const w = pos * 4;
      const addr = gpaFromParts(w32[w]!, w32[w + 1]!);
      const len = w32[w + 2]!;
      if ((flags & INDIRECT) !== 0) {
        if (!this.indirectOk) return "indirect_not_negotiated";
        // §2.8.19: no INDIRECT descriptor in a list linked by NEXT, neither with NEXT nor after it.
        if ((flags & NEXT) !== 0 || steps > 1) return "indirect_with_next";
        const f = this.walkIndirect(c, addr, len);
        if (f !== null) return f;
        count = -1; // segments already recorded in c
        break;
      }
      if (count === cap) return "chain_too_long";
      const ri = mem.find(addr, len); // -1 for addresses >= 2^53 (gpaFromParts gives -1) and unmapped ranges
      if (ri < 0) return "addr_out_of_range";
      if ((flags & WRITE) !== 0) writeBytes += len;
      else {
        if (readable !== count) return "write_before_read"; // §2.8.17
        readable++;
        readBytes += len;
      }
      c.region[count] = ri;
      c.offset[count] = mem.offsetIn(ri, addr);
      c.addr[count] = addr;
      c.len[count] = len;
      count++;
      if ((flags & NEXT) === 0) break;
      if (steps === size) return "chain_too_long"; // §2.8.17: no list longer than the queue size
      if (steps === room) return "avail_idx_too_far";
      if (++pos === size) {
        pos = 0;
        bits ^= AU;
      }
      flags = f16[pos * 8 + 7]!;
      // §2.8.6: every descriptor of a list carries the same available state as its head.
      if ((flags & AU) !== bits) return "packed_bad_flags";
      steps++;
    }
    const id = f16[pos * 8 + 6]!; // Buffer ID is in the last descriptor (§2.8.6)
    if (id >= size) return "desc_index_out_of_range";
    if (count >= 0) {
      c.count = count;
      c.readable = readable;
      c.readBytes = readBytes;
      c.writeBytes = writeBytes;
      this.stats.descriptors += steps;
    } else this.stats.descriptors += 1 + c.count;
    c.id = id;
    c.ringDescs = steps;
    if (++pos === size) {
      pos = 0;
      bits ^= AU;
    }
    this.availPos = pos;
    this.availBits = bits;
    this.availWrap = bits === AVAIL_WRAP1 ? 1 : 0;
    this.inflight += steps;
    return null;
  }

  /** Record the elements of an indirect table (§2.8.7) into `c`. */
  private walkIndirect(c: DescChain, addr: number, len: number): QueueFault | null {
    if (len === 0 || len % PACKED_DESC_SIZE !== 0) return "indirect_len_invalid";
    const n = len / PACKED_DESC_SIZE;
    if (n > this.size || n > c.maxSegments) return "chain_too_long";
    const mem = this.mem;
    const ti = mem.find(addr, len);
    if (ti < 0) return "addr_out_of_range";
    const view = mem.regions[ti]!.view;
    let off = mem.offsetIn(ti, addr);
    let readable = 0;
    let readBytes = 0;
    let writeBytes = 0;
    for (let k = 0; k < n; k++, off += PACKED_DESC_SIZE) {
      const flags = view.getUint16(off + 14, true);
      // §2.8.19: only WRITE may be set in an indirect descriptor; a nested table is refused.
      if ((flags & INDIRECT) !== 0) return "nested_indirect";
      const a = gpaFromParts(view.getUint32(off, true), view.getUint32(off + 4, true));
      const l = view.getUint32(off + 8, true);
      const ri = mem.find(a, l);
      if (ri < 0) return "addr_out_of_range";
      if ((flags & WRITE) !== 0) writeBytes += l;
      else {
        if (readable !== k) return "write_before_read";
        readable++;
        readBytes += l;
      }
      c.region[k] = ri;
      c.offset[k] = mem.offsetIn(ri, a);
      c.addr[k] = a;
      c.len[k] = l;
    }
    c.count = n;
    c.readable = readable;
    c.readBytes = readBytes;
    c.writeBytes = writeBytes;
    return null;
  }

  /**
   * Return a popped chain with `written` bytes written into its writable
   * part (clamped to it). Writes the used descriptor (§2.8.22: id, len,
   * AVAIL = USED = device wrap counter, WRITE when bytes were written) at the
   * next used slot and skips the slots the chain took; chains may come back
   * in any order. Not visible to the driver until {@link publishUsed}.
   * Ignored on a broken queue and for a chain this queue did not hand out.
   */
  pushUsed(chain: DescChain, written: number): void {
    const s = chain.ringDescs;
    if (this.fault !== null || s < 1 || s > this.inflight) return;
    let len = written > chain.writeBytes ? chain.writeBytes : written > 0 ? written : 0;
    if (len > 0xffff_ffff) len = 0xffff_ffff;
    this.inflight -= s;
    this.stats.used++;
    if (this.batch) {
      this.batchSlots += s;
      this.batchId = chain.id;
      this.batchLen = len;
      return;
    }
    this.writeUsed(chain.id, len, s);
  }

  private writeUsed(id: number, len: number, slots: number): void {
    const pos = this.usedPos;
    this.f16[pos * 8 + 6] = id;
    this.w32[pos * 4 + 2] = len;
    const flags = len > 0 ? this.usedBits | WRITE : this.usedBits;
    if (this.heldPos < 0) {
      this.heldPos = pos;
      this.heldFlags = flags;
    } else this.f16[pos * 8 + 7] = flags; // behind the held first entry of this batch
    let p = pos + slots;
    if (p >= this.size) {
      p -= this.size;
      this.usedWrap ^= 1;
      this.usedBits ^= AU;
    }
    this.usedPos = p;
    this.pushed += slots;
  }

  /**
   * Expose the used descriptors pushed since the last call with one release
   * store (the first entry's flags, written last as §2.8.9 "Multi-buffer requests" describes),
   * then read the Driver Event Suppression structure and say whether the
   * driver wants a used buffer notification (§2.8.10).
   */
  publishUsed(): boolean {
    if (this.fault !== null) return false;
    if (this.batchSlots > 0) {
      this.writeUsed(this.batchId, this.batchLen, this.batchSlots);
      this.batchSlots = 0;
    }
    if (this.heldPos >= 0) {
      Atomics.store(this.f16, this.heldPos * 8 + 7, this.heldFlags);
      this.heldPos = -1;
    }
    const moved = this.pushed;
    if (moved === 0) return false;
    const oldL = this.publishedL;
    this.pushed = 0;
    this.publishedL = lapIndex(this.usedPos, this.usedWrap, this.size);
    if (packedEventFires(Atomics.load(this.drvEvent, 0), oldL, moved, this.size, this.eventIdx)) {
      this.stats.notifications++;
      return true;
    }
    this.stats.notificationsSuppressed++;
    return false;
  }

  /**
   * Ask for available buffer notifications (§2.8.10): DISABLE, or ENABLE, or
   * with VIRTIO_F_EVENT_IDX a DESC event at the next slot to read, which
   * {@link popBurst} keeps moving forward. Re-check with {@link pending}
   * after enabling.
   */
  setNotify(enabled: boolean): void {
    this.notifyDesc = enabled && this.eventIdx;
    let word: number;
    if (!enabled) word = (Atomics.load(this.devEvent, 0) & 0xffff) | (PACKED_EVENT_FLAGS_DISABLE << 16);
    else if (this.eventIdx) word = descEvent(this.availPos, this.availWrap);
    else word = PACKED_EVENT_FLAGS_ENABLE << 16;
    Atomics.store(this.devEvent, 0, word);
  }

  /**
   * Buffers available right now: heads in ring order whose lists are
   * complete, without validating them (that is {@link popBurst}'s job) and
   * without faulting. Bounded by the free room in the ring.
   */
  pending(): number {
    if (this.fault !== null) return 0;
    const size = this.size;
    const f16 = this.f16;
    const room = size - this.inflight;
    let pos = this.availPos;
    let bits = this.availBits;
    let steps = 0;
    let n = 0;
    while (steps < room) {
      let flags = Atomics.load(f16, pos * 8 + 7);
      if ((flags & AU) !== bits) break;
      while ((flags & NEXT) !== 0 && (flags & INDIRECT) === 0) {
        if (++steps >= room) return n;
        if (++pos === size) {
          pos = 0;
          bits ^= AU;
        }
        flags = f16[pos * 8 + 7]!;
        if ((flags & AU) !== bits) return n;
      }
      steps++;
      if (++pos === size) {
        pos = 0;
        bits ^= AU;
      }
      n++;
    }
    return n;
  }

  /** Next slot the device reads and the driver wrap counter it expects there (§2.8.1). */
  get availState(): { pos: number; wrap: number } {
    return { pos: this.availPos, wrap: this.availWrap };
  }

  /** Next slot the device writes a used descriptor to and its wrap counter (§2.8.1). */
  get usedState(): { pos: number; wrap: number } {
    return { pos: this.usedPos, wrap: this.usedWrap };
  }

  /** Chains with room for `maxSegments` elements each, for {@link popBurst}. */
  static chains(count: number, maxSegments: number): DescChain[] {
    const out: DescChain[] = [];
    for (let i = 0; i < count; i++) out.push(new DescChain(maxSegments));
    return out;
  }

  private fail(f: QueueFault): void {
    this.stats.faults[f]++;
    if (this.fault === null) this.fault = f;
  }
}
