/**
 * Byte layout of a packed virtqueue (virtio 1.2 §2.8, VIRTIO_F_RING_PACKED).
 *
 * A packed virtqueue has three parts in guest memory (§2.8.10.1
 * "Structure Size and Alignment"):
 *
 * | part                       | alignment | size             |
 * |----------------------------|-----------|------------------|
 * | Descriptor Ring            | 16        | 16 * queue size  |
 * | Driver Event Suppression   | 4         | 4                |
 * | Device Event Suppression   | 4         | 4                |
 *
 * Descriptor (`struct pvirtq_desc`, §2.8.13), 16 bytes, little-endian:
 *
 * | offset | field | type |
 * |--------|-------|------|
 * | 0      | addr  | le64 |
 * | 8      | len   | le32 |
 * | 12     | id    | le16 |
 * | 14     | flags | le16 |
 *
 * Event suppression structure (`struct pvirtq_event_suppress`, §2.8.14),
 * 4 bytes: le16 `desc` (bits 0..14 event offset, bit 15 event wrap counter),
 * then le16 `flags` (bits 0..1 ENABLE / DISABLE / DESC, the rest reserved).
 */

/** Size of one packed descriptor in bytes (§2.8.13). */
export const PACKED_DESC_SIZE = 16;
/** Byte offsets of the descriptor fields (§2.8.13). */
export const PACKED_DESC_OFF_ADDR = 0;
export const PACKED_DESC_OFF_LEN = 8;
export const PACKED_DESC_OFF_ID = 12;
export const PACKED_DESC_OFF_FLAGS = 14;

/** Descriptor ring alignment in bytes (§2.8.10.1). */
export const PACKED_RING_ALIGN = 16;
/** Event suppression structure size and alignment in bytes (§2.8.10.1). */
export const PACKED_EVENT_SIZE = 4;
export const PACKED_EVENT_ALIGN = 4;
/** Byte offsets inside the event suppression structure (§2.8.14). */
export const PACKED_EVENT_OFF_DESC = 0;
export const PACKED_EVENT_OFF_FLAGS = 2;

/** Largest packed queue size: "Packed virtqueues support up to 2^15 entries each" (§2.8). */
export const PACKED_MAX_QUEUE_SIZE = 0x8000;

/** Buffer continues in the next descriptor (§2.8.6). */
export const PACKED_DESC_F_NEXT = 1;
/** Device-writable element; in a used descriptor: the device wrote data (§2.8.3). */
export const PACKED_DESC_F_WRITE = 2;
/** The element is a table of descriptors (§2.8.7). */
export const PACKED_DESC_F_INDIRECT = 4;
/** Available flag, compared with the wrap counter (§2.8.1). */
export const PACKED_DESC_F_AVAIL = 1 << 7;
/** Used flag, compared with the wrap counter (§2.8.1). */
export const PACKED_DESC_F_USED = 1 << 15;

/** Event suppression flags (§2.8.10): send notifications. */
export const PACKED_EVENT_FLAGS_ENABLE = 0x0;
/** Event suppression flags (§2.8.10): do not send notifications. */
export const PACKED_EVENT_FLAGS_DISABLE = 0x1;
/** Event suppression flags (§2.8.10): notify when the ring passes `desc`; only with VIRTIO_F_EVENT_IDX. */
export const PACKED_EVENT_FLAGS_DESC = 0x2;
/** Bit of the event `desc` word that holds the wrap counter (§2.8.14). */
export const PACKED_EVENT_WRAP_BIT = 15;

/** Where the parts of one packed virtqueue sit in guest memory. */
export interface PackedRingLayout {
  readonly size: number;
  /** Descriptor ring, 16-aligned, 16 * size bytes. */
  readonly descAddr: number;
  /** Driver Event Suppression (written by the driver, read by the device), 4-aligned. */
  readonly driverEventAddr: number;
  /** Device Event Suppression (written by the device, read by the driver), 4-aligned. */
  readonly deviceEventAddr: number;
  /** Driver's indirect tables: `indirectEntries` descriptors per buffer id, 16-aligned (0 bytes when not requested). */
  readonly indirectAddr: number;
  readonly indirectEntries: number;
  /** First byte after the layout. */
  readonly end: number;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Cache line size nfvio assumes when it keeps driver- and device-written words apart. */
const CACHE_LINE = 64;

/**
 * A layout for one packed queue starting at guest-physical `base`: the
 * descriptor ring (16-aligned, §2.8.10.1), then the Driver and the Device
 * Event Suppression structures each on its own 64-byte line (the spec needs
 * only 4-byte alignment; separate lines keep the driver's and the device's
 * writes from sharing a cache line with each other or with the ring), then
 * (when `indirectEntries` > 0) one indirect table per buffer id. Pure
 * arithmetic; the constructors of {@link PackedDriver} / {@link PackedDevice}
 * validate.
 */
export function packedRingLayout(size: number, base = 0, indirectEntries = 0): PackedRingLayout {
  const descAddr = alignUp(base, PACKED_RING_ALIGN);
  const driverEventAddr = alignUp(descAddr + PACKED_DESC_SIZE * size, CACHE_LINE);
  const deviceEventAddr = driverEventAddr + CACHE_LINE;
  const indirectAddr = deviceEventAddr + CACHE_LINE;
  const end = indirectAddr + size * indirectEntries * PACKED_DESC_SIZE;
  return { size, descAddr, driverEventAddr, deviceEventAddr, indirectAddr, indirectEntries, end };
}
