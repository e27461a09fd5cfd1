/**
 * Split virtqueue layout arithmetic (virtio 1.2 §2.7).
 *
 * A split virtqueue is three separately placed parts (§2.7, table "Virtqueue
 * Part / Alignment / Size"):
 *
 * | part             | alignment | size             |
 * |------------------|-----------|------------------|
 * | Descriptor Table | 16        | 16 * Queue Size  |
 * | Available Ring   | 2         | 6 + 2 * Queue Size |
 * | Used Ring        | 4         | 6 + 8 * Queue Size |
 *
 * Byte offsets inside each part follow `struct virtq_desc`, `struct
 * virtq_avail` and `struct virtq_used` (§2.7.5, §2.7.6, §2.7.8). All fields
 * are little-endian.
 *
 * Everything here is pure arithmetic on numbers; nothing touches memory
 * except {@link checkSplitRing}, which only asks {@link GuestMemory.find}.
 */
import { VirtioError } from "./errors.js";
import type { GuestMemory } from "./memory.js";

/** Largest split queue size (§2.7: "The maximum Queue Size value is 32768"). */
export const SPLIT_QUEUE_MAX = 32768;

/** Size of one `struct virtq_desc` in bytes (§2.7.5): le64 addr, le32 len, le16 flags, le16 next. */
export const VIRTQ_DESC_SIZE = 16;
/** Byte offset of `addr` inside a descriptor (§2.7.5). */
export const VIRTQ_DESC_ADDR = 0;
/** Byte offset of `len` inside a descriptor (§2.7.5). */
export const VIRTQ_DESC_LEN = 8;
/** Byte offset of `flags` inside a descriptor (§2.7.5). */
export const VIRTQ_DESC_FLAGS = 12;
/** Byte offset of `next` inside a descriptor (§2.7.5). */
export const VIRTQ_DESC_NEXT = 14;

/** Descriptor flag: the buffer continues via `next` (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
/** Descriptor flag: the buffer is device-writable, otherwise device-readable (§2.7.5). */
export const VIRTQ_DESC_F_WRITE = 2;
/** Descriptor flag: the buffer holds a table of indirect descriptors (§2.7.5.3). */
export const VIRTQ_DESC_F_INDIRECT = 4;

/** Available ring flag: the driver does not want used-buffer notifications (§2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Used ring flag: the device does not want available-buffer notifications (§2.7.10). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Minimum alignment of the descriptor table (§2.7 table). */
export const SPLIT_DESC_ALIGN = 16;
/** Minimum alignment of the available ring (§2.7 table). */
export const SPLIT_AVAIL_ALIGN = 2;
/** Minimum alignment of the used ring (§2.7 table). */
export const SPLIT_USED_ALIGN = 4;

/** Byte offset of `avail.flags` (§2.7.6). */
export const AVAIL_FLAGS = 0;
/** Byte offset of `avail.idx` (§2.7.6). */
export const AVAIL_IDX = 2;
/** Byte offset of `used.flags` (§2.7.8). */
export const USED_FLAGS = 0;
/** Byte offset of `used.idx` (§2.7.8). */
export const USED_IDX = 2;
/** Size of one `struct virtq_used_elem` (§2.7.8): le32 id, le32 len. */
export const VIRTQ_USED_ELEM_SIZE = 8;

/** True when `size` is a valid split queue size: a power of two in [1, 32768] (§2.7). */
export function isValidSplitQueueSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= SPLIT_QUEUE_MAX && (size & (size - 1)) === 0;
}

/** Throws VirtioError("malformed") unless {@link isValidSplitQueueSize}. */
export function checkSplitQueueSize(size: number): void {
  if (!isValidSplitQueueSize(size)) {
    throw new VirtioError("malformed", `split queue size ${size} must be a power of two between 1 and ${SPLIT_QUEUE_MAX} (virtio 1.2 §2.7)`);
  }
}

/** Bytes of the descriptor table: 16 * Queue Size (§2.7). */
export function descTableSize(size: number): number {
  return VIRTQ_DESC_SIZE * size;
}

/** Bytes of the available ring: 6 + 2 * Queue Size (§2.7; flags, idx, ring[], used_event). */
export function availRingSize(size: number): number {
  return 6 + 2 * size;
}

/** Bytes of the used ring: 6 + 8 * Queue Size (§2.7; flags, idx, ring[], avail_event). */
export function usedRingSize(size: number): number {
  return 6 + 8 * size;
}

/** Byte offset of descriptor `i` in the table (§2.7.5). */
export function descOffset(i: number): number {
  return VIRTQ_DESC_SIZE * i;
}

/** Byte offset of `avail.ring[i]` (§2.7.6). */
export function availRingOffset(i: number): number {
  return 4 + 2 * i;
}

/** Byte offset of `used_event` at the end of the available ring (§2.7.6; only meaningful with VIRTIO_F_EVENT_IDX). */
export function usedEventOffset(size: number): number {
  return 4 + 2 * size;
}

/** Byte offset of `used.ring[i]` (§2.7.8). */
export function usedRingOffset(i: number): number {
  return 4 + VIRTQ_USED_ELEM_SIZE * i;
}

/** Byte offset of `avail_event` at the end of the used ring (§2.7.8; only meaningful with VIRTIO_F_EVENT_IDX). */
export function availEventOffset(size: number): number {
  return 4 + VIRTQ_USED_ELEM_SIZE * size;
}

/** Round `x` up to a multiple of `align` (a power of two). */
export function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

/** Guest-physical placement of one split virtqueue. */
export interface SplitRingAddrs {
  /** Queue size (number of descriptors). */
  readonly size: number;
  /** Guest-physical address of the descriptor table (Descriptor Area). */
  readonly desc: number;
  /** Guest-physical address of the available ring (Driver Area). */
  readonly avail: number;
  /** Guest-physical address of the used ring (Device Area). */
  readonly used: number;
}

export interface SplitRingLayout extends SplitRingAddrs {
  /** First guest-physical byte after the used ring. */
  readonly end: number;
}

export interface SplitLayoutOptions {
  /**
   * Alignment for the used ring (default 4, the spec minimum). A cache-line
   * value (64) keeps the driver-written tail of the available ring and the
   * device-written used ring off the same line when both threads run.
   */
  usedAlign?: number;
}

/**
 * Place a split ring contiguously from `base` using the modern (§2.7)
 * minimum alignments: descriptor table at `base` rounded up to 16, available
 * ring right after it, used ring after that, rounded up to 4 (or
 * `options.usedAlign`).
 */
export function splitRingLayout(size: number, base = 0, options: SplitLayoutOptions = {}): SplitRingLayout {
  checkSplitQueueSize(size);
  const usedAlign = options.usedAlign ?? SPLIT_USED_ALIGN;
  if (!Number.isInteger(usedAlign) || usedAlign < SPLIT_USED_ALIGN || (usedAlign & (usedAlign - 1)) !== 0) {
    throw new VirtioError("usage", `usedAlign ${usedAlign} must be a power of two >= ${SPLIT_USED_ALIGN}`);
  }
  const desc = alignUp(base, SPLIT_DESC_ALIGN);
  const avail = desc + descTableSize(size);
  const used = alignUp(avail + availRingSize(size), usedAlign);
  return { size, desc, avail, used, end: used + usedRingSize(size) };
}

/**
 * Total bytes of a legacy virtqueue (§2.7.2 "Legacy Interfaces: A Note on
 * Virtqueue Layout"): the descriptor table and available ring, padded to
 * Queue Align, then the used ring, padded to Queue Align.
 */
export function legacySplitRingSize(size: number, queueAlign = 4096): number {
  checkSplitQueueSize(size);
  return alignUp(descTableSize(size) + availRingSize(size), queueAlign) + alignUp(usedRingSize(size), queueAlign);
}

/** Legacy placement (§2.7.2): descriptor table at `base`, available ring right after, used ring on the next Queue Align boundary. */
export function legacySplitRingLayout(size: number, base = 0, queueAlign = 4096): SplitRingLayout {
  checkSplitQueueSize(size);
  if (base % queueAlign !== 0) throw new VirtioError("malformed", `legacy virtqueue base 0x${base.toString(16)} must be aligned to ${queueAlign}`);
  const desc = base;
  const avail = desc + descTableSize(size);
  const used = base + alignUp(descTableSize(size) + availRingSize(size), queueAlign);
  return { size, desc, avail, used, end: base + legacySplitRingSize(size, queueAlign) };
}

/**
 * The event-index test (§2.7.7.2, §2.7.10): after moving an index from
 * `oldIdx` to `newIdx`, must the other side be notified given it asked for a
 * notification when entry `eventIdx` is written? True exactly when
 * `eventIdx` is one of oldIdx, oldIdx + 1, ..., newIdx - 1, all modulo 2^16.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/**
 * Check that the three parts of a split ring are aligned (§2.7.1) and that
 * each lies inside a single guest memory region. Throws VirtioError:
 * "malformed" for a bad size or alignment, "transport" for unmapped parts.
 */
export function checkSplitRing(mem: GuestMemory, addrs: SplitRingAddrs): void {
  const { size, desc, avail, used } = addrs;
  checkSplitQueueSize(size);
  const parts: Array<[string, number, number, number]> = [
    ["descriptor table", desc, descTableSize(size), SPLIT_DESC_ALIGN],
    ["available ring", avail, availRingSize(size), SPLIT_AVAIL_ALIGN],
    ["used ring", used, usedRingSize(size), SPLIT_USED_ALIGN],
  ];
  for (const [name, gpa, len, align] of parts) {
    if (!Number.isSafeInteger(gpa) || gpa < 0) throw new VirtioError("malformed", `${name} address ${gpa} is not a guest-physical address`);
    if (gpa % align !== 0) throw new VirtioError("malformed", `${name} at 0x${gpa.toString(16)} is not ${align}-byte aligned (virtio 1.2 §2.7.1)`);
    if (mem.find(gpa, len) < 0) throw new VirtioError("transport", `${name} [0x${gpa.toString(16)}, +${len}) is not inside one guest memory region`);
  }
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const [an, a, al] = parts[i]!;
      const [bn, b, bl] = parts[j]!;
      if (a < b + bl && b < a + al) throw new VirtioError("malformed", `${an} and ${bn} overlap`);
    }
  }
}
