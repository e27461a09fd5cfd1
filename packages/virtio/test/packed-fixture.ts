/**
 * Shared set-up for the packed virtqueue tests: one guest region holding a
 * packed ring (descriptor ring, both event suppression areas, the driver's
 * indirect tables) and a data area, optionally surrounded by canary bytes
 * that belong to the host buffer but not to guest memory.
 */
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from "../src/features.js";
import { GuestMemory } from "../src/memory.js";
import { DescChain } from "../src/queue.js";
import { PackedDevice, PackedDriver, packedRingLayout, type PackedRingLayout } from "../src/packed.js";

/** Feature bits (virtio 1.2 §6), short names for the tests. */
export const F_INDIRECT = VIRTIO_F_INDIRECT_DESC;
export const F_EVENT_IDX = VIRTIO_F_EVENT_IDX;
export const F_PACKED = VIRTIO_F_RING_PACKED;
export const F_IN_ORDER = VIRTIO_F_IN_ORDER;

export const GUEST_BASE = 0x10_0000;
export const CANARY = 0xa5;

export interface Ring {
  mem: GuestMemory;
  /** The host buffer (guest region plus canaries). */
  host: Uint8Array;
  /** Where the guest region starts inside `host`. */
  hostOffset: number;
  guestSize: number;
  layout: PackedRingLayout;
  driver: PackedDriver;
  device: PackedDevice;
  chains: DescChain[];
  /** First guest-physical byte free for data buffers, 64-aligned. */
  dataBase: number;
  /** Guest-physical end of the region. */
  end: number;
}

export interface RingOptions {
  features?: bigint;
  indirectEntries?: number;
  shared?: boolean;
  dataBytes?: number;
  maxSegments?: number;
  burst?: number;
  inOrderBatch?: boolean;
}

export function makeRing(size: number, options: RingOptions = {}): Ring {
  const features = options.features ?? F_PACKED;
  const indirectEntries = options.indirectEntries ?? 0;
  const layout = packedRingLayout(size, GUEST_BASE, indirectEntries);
  const dataBase = Math.ceil(layout.end / 64) * 64;
  const guestSize = dataBase - GUEST_BASE + (options.dataBytes ?? 64 * 1024);
  const hostOffset = 64;
  const total = guestSize + 2 * hostOffset;
  const buffer = options.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total);
  const host = new Uint8Array(buffer);
  host.fill(CANARY);
  host.fill(0, hostOffset, hostOffset + guestSize);
  const mem = new GuestMemory([{ gpa: GUEST_BASE, buffer, offset: hostOffset, size: guestSize }]);
  const driver = new PackedDriver(mem, size, layout.descAddr, layout.driverEventAddr, layout.deviceEventAddr, features, {
    indirectAddr: layout.indirectAddr,
    indirectEntries,
  });
  const device = new PackedDevice(mem, size, layout.descAddr, layout.driverEventAddr, layout.deviceEventAddr, features, {
    inOrderBatch: options.inOrderBatch ?? false,
  });
  const chains = PackedDevice.chains(options.burst ?? 32, options.maxSegments ?? size);
  return { mem, host, hostOffset, guestSize, layout, driver, device, chains, dataBase, end: GUEST_BASE + guestSize };
}

/** True when every canary byte around the guest region is intact. */
export function canariesIntact(r: Ring): boolean {
  for (let i = 0; i < r.hostOffset; i++) if (r.host[i] !== CANARY) return false;
  for (let i = r.hostOffset + r.guestSize; i < r.host.length; i++) if (r.host[i] !== CANARY) return false;
  return true;
}

/** Raw little-endian descriptor writer/reader for golden and hostile tests (what a peer would write). */
export class RawRing {
  constructor(
    readonly mem: GuestMemory,
    readonly descAddr: number,
    readonly size: number,
  ) {}

  write(slot: number, addr: bigint, len: number, id: number, flags: number): void {
    const a = this.descAddr + slot * 16;
    this.mem.writeU64(a, addr);
    this.mem.writeU32(a + 8, len);
    this.mem.writeU16(a + 12, id);
    this.mem.writeU16(a + 14, flags);
  }

  flags(slot: number): number {
    return this.mem.readU16(this.descAddr + slot * 16 + 14);
  }

  id(slot: number): number {
    return this.mem.readU16(this.descAddr + slot * 16 + 12);
  }

  len(slot: number): number {
    return this.mem.readU32(this.descAddr + slot * 16 + 8);
  }

  bytes(slot: number): number[] {
    return Array.from(this.mem.slice(this.descAddr + slot * 16, 16));
  }
}

/** Flags of an available descriptor on a lap with driver wrap counter `wrap` (§2.8.1). */
export function availFlags(wrap: number, extra = 0): number {
  return (wrap ? 0x0080 : 0x8000) | extra;
}

/** Flags of a used descriptor on a lap with device wrap counter `wrap` (§2.8.1). */
export function usedFlags(wrap: number, extra = 0): number {
  return (wrap ? 0x8080 : 0) | extra;
}

/** Scratch arrays for add()/reclaim(). */
export function scratch(n = 64): { addrs: Float64Array; lens: Uint32Array; tokens: Uint32Array; outLens: Uint32Array } {
  return { addrs: new Float64Array(n), lens: new Uint32Array(n), tokens: new Uint32Array(n), outLens: new Uint32Array(n) };
}
