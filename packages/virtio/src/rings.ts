/**
 * Ring kinds by name: how to place a virtqueue of each layout in guest
 * memory and build its driver and device sides. Generic tools (the ring
 * benchmark, test harnesses) look rings up here instead of importing each
 * implementation, so a new layout is registered in this one place.
 */
import { VirtioError } from "./errors.js";
import { VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from "./features.js";
import type { GuestMemory } from "./memory.js";
import { PackedDevice, PackedDriver, packedRingLayout } from "./packed.js";
import { splitRingLayout } from "./layout.js";
import type { DeviceQueue, DriverQueue } from "./queue.js";
import { SplitDevice, SplitDriver } from "./split.js";

/** Where one virtqueue sits: its three areas (§2.6: Descriptor Area, Driver Area, Device Area). */
export interface RingPlacement {
  readonly size: number;
  readonly descArea: number;
  readonly driverArea: number;
  readonly deviceArea: number;
  /** Driver's indirect tables: `indirectEntries` descriptors for each of `size` buffers (0 entries: none). */
  readonly indirectArea: number;
  readonly indirectEntries: number;
  /** First guest-physical byte after the ring and its indirect area. */
  readonly end: number;
}

export interface RingFactory {
  readonly kind: string;
  /** Feature bits that select this layout (added to whatever else is negotiated). */
  readonly features: bigint;
  /**
   * Place a ring of `size` from guest-physical `base` (keeping driver- and
   * device-written parts on separate cache lines where the layout allows),
   * plus room for indirect tables of `indirectEntries` descriptors.
   */
  place(size: number, base: number, indirectEntries?: number): RingPlacement;
  /** The driver side; `init` writes the ring's initial state (do it once, before the device starts). Indirect tables are used if the placement has room and the feature is negotiated. */
  driver(mem: GuestMemory, p: RingPlacement, features: bigint, init: boolean): DriverQueue;
  device(mem: GuestMemory, p: RingPlacement, features: bigint): DeviceQueue;
}

const factories = new Map<string, RingFactory>();

/** Register (or replace) a ring kind. */
export function registerRing(f: RingFactory): void {
  factories.set(f.kind, f);
}

/** The factory for `kind`; throws VirtioError("usage") for an unknown kind. */
export function ringFactory(kind: string): RingFactory {
  const f = factories.get(kind);
  if (!f) throw new VirtioError("usage", `unknown ring kind "${kind}" (known: ${[...factories.keys()].join(", ")})`);
  return f;
}

/** Names of the registered ring kinds. */
export function ringKinds(): string[] {
  return [...factories.keys()];
}

registerRing({
  kind: "split",
  features: VIRTIO_F_VERSION_1,
  place(size, base, indirectEntries = 0) {
    const l = splitRingLayout(size, base, { usedAlign: 64 });
    const indirectArea = Math.ceil(l.end / 64) * 64;
    const end = indirectEntries > 0 ? indirectArea + size * indirectEntries * 16 : l.end;
    return { size, descArea: l.desc, driverArea: l.avail, deviceArea: l.used, indirectArea, indirectEntries, end };
  },
  driver: (mem, p, features, init) =>
    new SplitDriver(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, {
      initRings: init,
      ...(p.indirectEntries >= 2 ? { indirect: { gpa: p.indirectArea, maxDescriptors: p.indirectEntries } } : {}),
    }),
  device: (mem, p, features) => new SplitDevice(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features),
});

registerRing({
  kind: "packed",
  features: VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED,
  place(size, base, indirectEntries = 0) {
    const l = packedRingLayout(size, base, indirectEntries);
    return { size, descArea: l.descAddr, driverArea: l.driverEventAddr, deviceArea: l.deviceEventAddr, indirectArea: l.indirectAddr, indirectEntries, end: l.end };
  },
  driver: (mem, p, features, init) =>
    new PackedDriver(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, {
      init,
      ...(p.indirectEntries > 0 ? { indirectAddr: p.indirectArea, indirectEntries: p.indirectEntries } : {}),
    }),
  device: (mem, p, features) => new PackedDevice(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features),
});
