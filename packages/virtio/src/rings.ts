/**
 * Ring kinds by name: how to place a virtqueue of each layout in guest
 * memory and build its driver and device sides. Generic tools (the ring
 * benchmark, test harnesses) look rings up here instead of importing each
 * implementation, so a new layout is registered in this one place.
 */
import { VirtioError } from "./errors.js";
import { VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from "./features.js";
import type { GuestMemory } from "./memory.js";
import { PackedDevice, PackedDriver, packedRingLayout, type PackedRingPosition } from "./packed.js";
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

/**
 * Where a ring's sides start instead of the reset state: a resumed device
 * (vhost-user SET_VRING_BASE) or a driver attached to one.
 * - packed: ring slots in [0, size) with their wrap counters (§2.8.1), see
 *   {@link PackedRingPosition}. A driver takes one position: `usedIdx` /
 *   `usedWrap` must equal `availIdx` / `availWrap`.
 * - split: `availIdx` is the free-running 16-bit index for both the
 *   available and the used ring (§2.7); `usedIdx` must equal it and the wrap
 *   counters are ignored (split rings have none).
 * A position the ring cannot take throws VirtioError("malformed" or "usage").
 */
export type RingStart = PackedRingPosition;

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
  driver(mem: GuestMemory, p: RingPlacement, features: bigint, init: boolean, start?: RingStart): DriverQueue;
  /** The device side, from the reset state or from `start`. */
  device(mem: GuestMemory, p: RingPlacement, features: bigint, start?: RingStart): DeviceQueue;
}

/** A split ring's one base from a {@link RingStart}. */
function splitBase(start: RingStart | undefined): number | undefined {
  if (start === undefined) return undefined;
  if (start.usedIdx !== start.availIdx) {
    throw new VirtioError("usage", `a split ring starts with one base for both rings (§2.7: the used index is in guest memory); got available ${start.availIdx}, used ${start.usedIdx}`);
  }
  return start.availIdx;
}

/** A packed driver's one position from a {@link RingStart}. */
function driverStart(start: RingStart | undefined): { pos: number; wrap: number } | undefined {
  if (start === undefined) return undefined;
  if (start.usedIdx !== start.availIdx || start.usedWrap !== start.availWrap) {
    throw new VirtioError("usage", `a packed driver starts with nothing outstanding: used ${start.usedIdx}/${start.usedWrap} must equal available ${start.availIdx}/${start.availWrap}`);
  }
  return { pos: start.availIdx, wrap: start.availWrap };
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
  driver: (mem, p, features, init, start) =>
    new SplitDriver(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, {
      initRings: init,
      ...(start !== undefined ? { base: splitBase(start)! } : {}),
      ...(p.indirectEntries >= 2 ? { indirect: { gpa: p.indirectArea, maxDescriptors: p.indirectEntries } } : {}),
    }),
  device: (mem, p, features, start) =>
    new SplitDevice(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, start !== undefined ? { base: splitBase(start)! } : {}),
});

registerRing({
  kind: "packed",
  features: VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED,
  place(size, base, indirectEntries = 0) {
    const l = packedRingLayout(size, base, indirectEntries);
    return { size, descArea: l.descAddr, driverArea: l.driverEventAddr, deviceArea: l.deviceEventAddr, indirectArea: l.indirectAddr, indirectEntries, end: l.end };
  },
  driver: (mem, p, features, init, start) =>
    new PackedDriver(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, {
      init,
      ...(start !== undefined ? { start: driverStart(start)! } : {}),
      ...(p.indirectEntries > 0 ? { indirectAddr: p.indirectArea, indirectEntries: p.indirectEntries } : {}),
    }),
  device: (mem, p, features, start) =>
    new PackedDevice(mem, p.size, p.descArea, p.driverArea, p.deviceArea, features, start !== undefined ? { start } : {}),
});
