/**
 * What split and packed virtqueues have in common: the shape of a popped
 * descriptor chain, the faults a hostile driver can cause, and the two
 * interfaces (driver side, device side) that both ring layouts implement.
 *
 * Nothing here allocates per packet: a {@link DescChain} is created once per
 * burst slot and refilled by every pop; buffers are identified by numeric
 * tokens the driver chooses, not by objects.
 */

/**
 * Faults a device detects in driver-written ring state. Each is counted under
 * its own name and puts the queue into the broken state
 * (DEVICE_NEEDS_RESET, virtio 1.2 §2.1.1 and §2.7.5.1 / §2.8 requirements).
 */
export const QUEUE_FAULTS = [
  /** A descriptor index (head, next, or buffer id) is >= queue size (split §2.7.5, packed §2.8.6). */
  "desc_index_out_of_range",
  /** A chain revisits a descriptor: more steps than descriptors exist (§2.7.5.2). */
  "chain_loop",
  /** A chain (including indirect) is longer than the spec allows (§2.7.5.3.1). */
  "chain_too_long",
  /** An indirect descriptor inside an indirect table (§2.7.5.3.1: MUST NOT set VIRTQ_DESC_F_INDIRECT in indirect descriptors). */
  "nested_indirect",
  /** An indirect descriptor combined with NEXT in a split ring (§2.7.5.3.1). */
  "indirect_with_next",
  /** Indirect table length zero or not a multiple of 16 (§2.7.5.3 / §2.8.19). */
  "indirect_len_invalid",
  /** Indirect descriptor used without VIRTIO_F_INDIRECT_DESC negotiated (§2.7.5.3.1). */
  "indirect_not_negotiated",
  /** Buffer address/length outside every guest region, spanning regions, or overflowing 64 bits. */
  "addr_out_of_range",
  /** A device-readable descriptor after a device-writable one in one chain (§2.7.4.2). */
  "write_before_read",
  /** The avail index ran more than queue size ahead of the device's position (§2.7.6). */
  "avail_idx_too_far",
  /** Packed ring descriptor flags that the spec forbids, e.g. AVAIL/USED inconsistent with the wrap counter in a chain (§2.8.1, §2.8.7). */
  "packed_bad_flags",
  /** The driver published a used-side value or completion for a buffer it does not own (driver side, from a hostile device). */
  "bad_used_id",
  /** A used element reports more bytes written than the buffer offered (driver side, §2.7.8.1 tolerates; counted). */
  "used_len_too_big",
] as const;

export type QueueFault = (typeof QUEUE_FAULTS)[number];

/** Per-queue counters. Plain numeric fields: cheap to bump, easy to snapshot. */
export interface QueueStats {
  /** Chains popped (device) or buffers added (driver). */
  chains: number;
  /** Descriptors walked (device) or written (driver), indirect entries included. */
  descriptors: number;
  /** Used elements pushed (device) or reclaimed (driver). */
  used: number;
  /** Notifications: interrupts the device asked for, or kicks the driver asked for. */
  notifications: number;
  /** Notifications suppressed by flags or event index. */
  notificationsSuppressed: number;
  /** Per-fault counts. */
  faults: Record<QueueFault, number>;
}

export function newQueueStats(): QueueStats {
  const faults = {} as Record<QueueFault, number>;
  for (const f of QUEUE_FAULTS) faults[f] = 0;
  return { chains: 0, descriptors: 0, used: 0, notifications: 0, notificationsSuppressed: 0, faults };
}

/**
 * A popped descriptor chain as a list of segments, each a contiguous byte
 * range inside one guest memory region. Segments [0, readable) are
 * device-readable (driver -> device), [readable, count) are device-writable.
 *
 * Reused: a device keeps one DescChain per burst slot and `pop` refills it.
 */
export class DescChain {
  /** Buffer identity to hand back in `pushUsed`: head descriptor index (split) or buffer id (packed). */
  id = 0;
  /** Descriptors this chain occupied in the ring (packed: how far the device advanced). */
  ringDescs = 0;
  /** Number of segments. */
  count = 0;
  /** Segments [0, readable) are readable; the rest writable. */
  readable = 0;
  /** Total readable bytes. */
  readBytes = 0;
  /** Total writable bytes. */
  writeBytes = 0;
  /** Region index (into GuestMemory.regions) of each segment. */
  readonly region: Int32Array;
  /** Byte offset of each segment inside its region's `bytes`. */
  readonly offset: Float64Array;
  /** Guest-physical address of each segment. */
  readonly addr: Float64Array;
  /** Length of each segment. */
  readonly len: Uint32Array;

  constructor(readonly maxSegments: number) {
    this.region = new Int32Array(maxSegments);
    this.offset = new Float64Array(maxSegments);
    this.addr = new Float64Array(maxSegments);
    this.len = new Uint32Array(maxSegments);
  }

  reset(): void {
    this.id = 0;
    this.ringDescs = 0;
    this.count = 0;
    this.readable = 0;
    this.readBytes = 0;
    this.writeBytes = 0;
  }
}

/** Device side of a virtqueue (the vhost backend, the offload device). */
export interface DeviceQueue {
  readonly size: number;
  /** True after a fault: the queue stops serving until reset (DEVICE_NEEDS_RESET). */
  readonly broken: boolean;
  /** The first fault that broke the queue, or null. */
  readonly brokenBy: QueueFault | null;
  readonly stats: QueueStats;
  /**
   * Pop up to `max` available chains into `chains[0..]`. Returns how many were
   * popped. Never throws: on a fault it counts it, marks the queue broken and
   * returns the chains popped before the fault.
   */
  popBurst(chains: readonly DescChain[], max: number): number;
  /** Return a chain to the driver with `written` bytes written into its writable part. Not visible until {@link publishUsed}. */
  pushUsed(chain: DescChain, written: number): void;
  /** Make pushed used entries visible (release ordering). Returns true when the driver should be interrupted (flags / used_event, §2.7.7, §2.8.21). */
  publishUsed(): boolean;
  /** Ask the driver to kick (true) or not (false) on new buffers (VIRTQ_USED_F_NO_NOTIFY / avail_event, packed device event suppression). */
  setNotify(enabled: boolean): void;
  /** Number of chains available to pop right now (bounded; a fault-free peek). */
  pending(): number;
}

/** Driver side of a virtqueue (the guest's virtio-net driver, virtio-user). */
export interface DriverQueue {
  readonly size: number;
  readonly broken: boolean;
  readonly brokenBy: QueueFault | null;
  readonly stats: QueueStats;
  /** Free descriptors (split) or ring slots (packed). */
  readonly freeDescriptors: number;
  /**
   * Add one buffer made of `nOut` device-readable segments then `nIn`
   * device-writable segments, given as guest-physical addresses and lengths
   * in `addrs[0..nOut+nIn)` / `lens[0..]`. `token` (u32) comes back from
   * {@link reclaim}. Uses an indirect table when `indirect` is true and the
   * feature was negotiated. Returns false (adds nothing) if there is no room.
   */
  add(addrs: Float64Array, lens: Uint32Array, nOut: number, nIn: number, token: number, indirect?: boolean): boolean;
  /** Make added buffers visible to the device (release). Returns true when the device wants a kick (§2.7.10, §2.8.10). */
  publish(): boolean;
  /** Take up to `max` used buffers: their tokens and written lengths. Returns the count. */
  reclaim(tokens: Uint32Array, lens: Uint32Array, max: number): number;
  /** Ask the device to interrupt (true) or not on used buffers. */
  setNotify(enabled: boolean): void;
}
