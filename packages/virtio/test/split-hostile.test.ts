/**
 * A hostile driver against the split ring device (virtio 1.2 §2.7.5,
 * §2.7.5.3, §2.7.6). Every case checks, for the fault it provokes:
 *  - popBurst does not throw and hands out no chain for the bad buffer,
 *  - the fault is counted under its QueueFault name and breaks the queue
 *    (brokenBy, DEVICE_NEEDS_RESET) so later valid buffers are not served,
 *  - the memory the bad descriptors point at is untouched: a "device" that
 *    writes 0xEE into every writable segment it is handed runs after each
 *    pop, and the bad chain's targets are writable guest memory that it
 *    would have scribbled on had the check been missing.
 * Chains have room for 4x the queue size in segments, so the queue-size
 * limit is what is tested, not the DescChain capacity.
 * Each case also runs a control with the defect repaired, which must serve
 * the chain (so the test is sensitive to exactly that check).
 */
import { describe, expect, it } from "vitest";
import { VirtioError } from "../src/errors.js";
import { VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from "../src/features.js";
import { splitRingLayout, VIRTQ_DESC_F_INDIRECT as IND, VIRTQ_DESC_F_NEXT as NEXT, VIRTQ_DESC_F_WRITE as W } from "../src/layout.js";
import { GuestMemory } from "../src/memory.js";
import type { QueueFault } from "../src/queue.js";
import { newDescChains, SplitDevice } from "../src/split.js";
import { HostileDriver, MockDriver, type RawDesc } from "../src/testing.js";

const SIZE = 8;
const FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC;

interface Bed {
  mem: GuestMemory;
  hostile: HostileDriver;
  device: SplitDevice;
  /** Writable guest memory the bad chains point into (the "victim"), pre-filled with 0x5a. */
  victim: number;
  /** Scratch guest memory for indirect tables. */
  tables: number;
  /** Serve: pop, scribble 0xEE over every writable segment handed out, return used. Returns chains served. */
  serve(): number;
  victimIntact(): boolean;
}

function bed(features = FEATURES, chainSegments = 4 * SIZE): Bed {
  const mock = new MockDriver({ size: SIZE, features, buffers: 4 });
  const mem = mock.mem;
  const hostile = new HostileDriver(mem, mock.layout);
  const device = SplitDevice.fromLayout(mem, mock.layout, features);
  const victim = mock.scratch.gpa;
  const tables = mock.scratch.gpa + 0x4000;
  mem.slice(victim, 0x4000).fill(0x5a);
  const chains = newDescChains(4, chainSegments);
  return {
    mem,
    hostile,
    device,
    victim,
    tables,
    serve() {
      const n = device.popBurst(chains, 4);
      for (let i = 0; i < n; i++) {
        const c = chains[i]!;
        for (let s = c.readable; s < c.count; s++) mem.regions[c.region[s]!]!.bytes.fill(0xee, c.offset[s]!, c.offset[s]! + c.len[s]!);
        device.pushUsed(c, c.writeBytes);
      }
      device.publishUsed();
      return n;
    },
    victimIntact() {
      return mem.slice(victim, 0x4000).every((b) => b === 0x5a);
    },
  };
}

/** Run a hostile setup; assert the fault, the broken state, the untouched victim, and that later valid work is refused. */
function expectFault(b: Bed, fault: QueueFault): void {
  let served = -1;
  expect(() => {
    served = b.serve();
  }).not.toThrow();
  expect(served).toBe(0);
  expect(b.device.stats.faults[fault]).toBe(1);
  expect(b.device.broken).toBe(true);
  expect(b.device.brokenBy).toBe(fault);
  expect(b.victimIntact()).toBe(true);
  // Broken is sticky: a perfectly valid buffer afterwards is not served.
  b.hostile.writeDesc(7, { addr: b.victim, len: 16, flags: W });
  b.hostile.offer(7);
  expect(b.serve()).toBe(0);
  expect(b.device.pending()).toBe(0);
  expect(b.victimIntact()).toBe(true);
  const total = Object.values(b.device.stats.faults).reduce((x, y) => x + y, 0);
  expect(total).toBe(1);
}

/** The repaired control case must be served and scribble on the victim. */
function expectServed(b: Bed): void {
  expect(b.serve()).toBe(1);
  expect(b.device.broken).toBe(false);
  expect(b.victimIntact()).toBe(false);
}

interface Case {
  name: string;
  fault: QueueFault;
  features?: bigint;
  /** Write the hostile ring; `bad` selects the defect, false writes the repaired version. */
  setup(b: Bed, bad: boolean): void;
}

const cases: Case[] = [
  {
    name: "head index from the available ring >= queue size",
    fault: "desc_index_out_of_range",
    setup(b, bad) {
      b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W });
      b.hostile.offer(bad ? SIZE : 0);
    },
  },
  {
    name: "head index 0xffff",
    fault: "desc_index_out_of_range",
    setup(b, bad) {
      b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W });
      b.hostile.offer(bad ? 0xffff : 0);
    },
  },
  {
    name: "next index >= queue size",
    fault: "desc_index_out_of_range",
    setup(b, bad) {
      b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W | NEXT, next: bad ? SIZE + 3 : 1 });
      b.hostile.writeDesc(1, { addr: b.victim + 64, len: 64, flags: W });
      b.hostile.offer(0);
    },
  },
  {
    name: "next index inside an indirect table >= its entry count",
    fault: "desc_index_out_of_range",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: bad ? 2 : 1 },
        { addr: b.victim + 64, len: 64, flags: W },
      ]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 32, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "a chain that loops back to its head",
    fault: "chain_loop",
    setup(b, bad) {
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: W | NEXT, next: 2 },
        { addr: b.victim + 128, len: 64, flags: bad ? W | NEXT : W, next: 0 },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "a descriptor whose next is itself",
    fault: "chain_loop",
    setup(b, bad) {
      b.hostile.writeDesc(3, { addr: b.victim, len: 64, flags: bad ? W | NEXT : W, next: 3 });
      b.hostile.offer(3);
    },
  },
  {
    name: "a loop inside an indirect table",
    fault: "chain_loop",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: bad ? W | NEXT : W, next: 0 },
      ]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 32, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "an indirect chain longer than the queue size (no loop, §2.7.5.3.1)",
    fault: "chain_too_long",
    setup(b, bad) {
      const n = bad ? SIZE + 1 : SIZE;
      const t: RawDesc[] = [];
      for (let i = 0; i < n; i++) t.push({ addr: b.victim + 64 * i, len: 64, flags: W | (i + 1 < n ? NEXT : 0), next: i + 1 });
      b.hostile.writeTable(b.tables, t);
      b.hostile.writeDesc(0, { addr: b.tables, len: 16 * n, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "direct descriptors plus an indirect table adding up to more than the queue size",
    fault: "chain_too_long",
    setup(b, bad) {
      const n = bad ? SIZE - 1 : SIZE - 2;
      const t: RawDesc[] = [];
      for (let i = 0; i < n; i++) t.push({ addr: b.victim + 64 * (i + 2), len: 64, flags: W | (i + 1 < n ? NEXT : 0), next: i + 1 });
      b.hostile.writeTable(b.tables, t);
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: W | NEXT, next: 2 },
        { addr: b.tables, len: 16 * n, flags: IND },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "an indirect descriptor inside an indirect table",
    fault: "nested_indirect",
    setup(b, bad) {
      b.hostile.writeTable(b.tables + 0x100, [{ addr: b.victim, len: 64, flags: W }]);
      b.hostile.writeTable(b.tables, [bad ? { addr: b.tables + 0x100, len: 16, flags: IND } : { addr: b.victim, len: 64, flags: W }]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 16, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "INDIRECT together with NEXT",
    fault: "indirect_with_next",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [{ addr: b.victim, len: 64, flags: W }]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 16, flags: bad ? IND | NEXT : IND, next: 1 });
      b.hostile.writeDesc(1, { addr: b.victim + 64, len: 64, flags: W });
      b.hostile.offer(0);
    },
  },
  {
    name: "indirect table length 0",
    fault: "indirect_len_invalid",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [{ addr: b.victim, len: 64, flags: W }]);
      b.hostile.writeDesc(0, { addr: b.tables, len: bad ? 0 : 16, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "indirect table length not a multiple of 16",
    fault: "indirect_len_invalid",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: W },
      ]);
      b.hostile.writeDesc(0, { addr: b.tables, len: bad ? 24 : 32, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "INDIRECT without VIRTIO_F_INDIRECT_DESC",
    fault: "indirect_not_negotiated",
    features: VIRTIO_F_VERSION_1,
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [{ addr: b.victim, len: 64, flags: W }]);
      if (bad) b.hostile.writeDesc(0, { addr: b.tables, len: 16, flags: IND });
      else b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W });
      b.hostile.offer(0);
    },
  },
  {
    name: "a buffer at an unmapped address",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: bad ? 0x100 : b.victim + 64, len: 64, flags: W },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "a buffer running past the end of guest memory",
    fault: "addr_out_of_range",
    setup(b, bad) {
      const end = b.mem.regions[0]!.gpa + b.mem.regions[0]!.size;
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: end - 64, len: bad ? 65 : 64, flags: W },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "a 64-bit address at or above 2^53",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: bad ? (1n << 53n) + BigInt(b.victim) : b.victim + 64, len: 64, flags: W },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "address + length overflowing 64 bits",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: bad ? 0xffff_ffff_ffff_ff00n : b.victim + 64, len: 0x1000, flags: W },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "a huge length from a mapped address",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeDesc(0, { addr: b.victim, len: bad ? 0xffff_ffff : 64, flags: W });
      b.hostile.offer(0);
    },
  },
  {
    name: "an indirect table at an unmapped address",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [{ addr: b.victim, len: 64, flags: W }]);
      b.hostile.writeDesc(0, { addr: bad ? 0x200 : b.tables, len: 16, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "a buffer inside an indirect table outside guest memory",
    fault: "addr_out_of_range",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: bad ? 0xdead_0000_0000n : b.victim + 64, len: 64, flags: W },
      ]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 32, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "a readable descriptor after a writable one",
    fault: "write_before_read",
    setup(b, bad) {
      b.hostile.writeDescs(0, [
        { addr: b.victim + 1024, len: 64, flags: NEXT, next: 1 },
        { addr: b.victim, len: 64, flags: W | NEXT, next: 2 },
        { addr: b.victim + 64, len: 64, flags: bad ? NEXT : W | NEXT, next: 3 },
        { addr: b.victim + 128, len: 64, flags: W },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "a readable entry after a writable one inside an indirect table",
    fault: "write_before_read",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: bad ? 0 : W },
      ]);
      b.hostile.writeDesc(0, { addr: b.tables, len: 32, flags: IND });
      b.hostile.offer(0);
    },
  },
  {
    name: "a writable direct descriptor followed by an indirect table starting readable",
    fault: "write_before_read",
    setup(b, bad) {
      b.hostile.writeTable(b.tables, [{ addr: b.victim + 64, len: 64, flags: bad ? 0 : W }]);
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.tables, len: 16, flags: IND },
      ]);
      b.hostile.offer(0);
    },
  },
  {
    name: "avail.idx more than queue size ahead of the device",
    fault: "avail_idx_too_far",
    setup(b, bad) {
      for (let i = 0; i < SIZE; i++) b.hostile.writeDesc(i, { addr: b.victim + 64 * i, len: 64, flags: W });
      for (let i = 0; i < SIZE; i++) b.hostile.setAvailEntry(i, i);
      b.hostile.setAvailIdx(bad ? SIZE + 1 : 1);
    },
  },
  {
    name: "avail.idx moved backwards (reads as 65535 ahead)",
    fault: "avail_idx_too_far",
    setup(b, bad) {
      b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W });
      b.hostile.setAvailEntry(0, 0);
      b.hostile.setAvailIdx(bad ? 0xffff : 1);
    },
  },
];

describe("hostile driver: each fault is detected, counted, breaks the queue, touches nothing", () => {
  for (const c of cases) {
    it(`${c.fault}: ${c.name}`, () => {
      const control = bed(c.features ?? FEATURES);
      c.setup(control, false);
      expectServed(control);

      const b = bed(c.features ?? FEATURES);
      c.setup(b, true);
      expectFault(b, c.fault);
    });
  }

  it("every QueueFault a split device can raise is exercised above", () => {
    const raised = new Set(cases.map((c) => c.fault));
    for (const f of ["desc_index_out_of_range", "chain_loop", "chain_too_long", "nested_indirect", "indirect_with_next", "indirect_len_invalid", "indirect_not_negotiated", "addr_out_of_range", "write_before_read", "avail_idx_too_far"] as const) {
      expect(raised.has(f)).toBe(true);
    }
  });

  it("chain_too_long when a legal chain exceeds the DescChain's segments", () => {
    const control = bed(FEATURES, 3);
    const write = (b: Bed) => {
      b.hostile.writeDescs(0, [
        { addr: b.victim, len: 64, flags: W | NEXT, next: 1 },
        { addr: b.victim + 64, len: 64, flags: W | NEXT, next: 2 },
        { addr: b.victim + 128, len: 64, flags: W | NEXT, next: 3 },
        { addr: b.victim + 192, len: 64, flags: W },
      ]);
      b.hostile.offer(0);
    };
    write(control);
    expect(control.serve()).toBe(0);
    expect(control.device.brokenBy).toBe("chain_too_long");
    expect(control.victimIntact()).toBe(true);
    const roomy = bed(FEATURES, 4);
    write(roomy);
    expectServed(roomy);
  });

  it("a buffer spanning two guest regions is refused as addr_out_of_range", () => {
    // Two regions adjacent in guest-physical space but backed by different buffers.
    const a = new ArrayBuffer(0x4000);
    const bb = new ArrayBuffer(0x4000);
    const mem = new GuestMemory([
      { gpa: 0x10000, buffer: a },
      { gpa: 0x14000, buffer: bb },
    ]);
    const layout = splitRingLayout(SIZE, 0x10000);
    const hostile = new HostileDriver(mem, layout);
    const device = SplitDevice.fromLayout(mem, layout, FEATURES);
    new Uint8Array(bb).fill(0x5a);
    new Uint8Array(a, 0x3000).fill(0x5a);
    hostile.writeDesc(0, { addr: 0x13fc0, len: 128, flags: W });
    hostile.offer(0);
    const chains = newDescChains(1, SIZE);
    expect(device.popBurst(chains, 1)).toBe(0);
    expect(device.brokenBy).toBe("addr_out_of_range");
    expect(new Uint8Array(bb).every((x) => x === 0x5a)).toBe(true);
    expect(new Uint8Array(a, 0x3000).every((x) => x === 0x5a)).toBe(true);
  });

  it("chains popped before the fault in the same burst are handed out; the bad one and later ones are not", () => {
    const b = bed();
    b.hostile.writeDesc(0, { addr: b.victim, len: 64, flags: W });
    b.hostile.writeDesc(1, { addr: b.victim + 64, len: 64, flags: W | NEXT, next: 1 });
    b.hostile.writeDesc(2, { addr: b.victim + 128, len: 64, flags: W });
    b.hostile.offer(0);
    b.hostile.offer(1);
    b.hostile.offer(2);
    const chains = newDescChains(4, SIZE);
    expect(b.device.popBurst(chains, 4)).toBe(1);
    expect(chains[0]!.id).toBe(0);
    expect(b.device.brokenBy).toBe("chain_loop");
    expect(b.device.lastAvailIdx).toBe(1);
  });

  it("zero-length descriptors are accepted and contribute no segment", () => {
    const b = bed();
    b.hostile.writeDescs(0, [
      { addr: 0, len: 0, flags: NEXT, next: 1 },
      { addr: b.victim, len: 64, flags: W },
    ]);
    b.hostile.offer(0);
    const chains = newDescChains(1, SIZE);
    expect(b.device.popBurst(chains, 1)).toBe(1);
    expect(chains[0]!.count).toBe(1);
    expect(chains[0]!.ringDescs).toBe(2);
  });

  it("the device ignores the WRITE flag on the descriptor that points at an indirect table (§2.7.5.3.2)", () => {
    const b = bed();
    b.hostile.writeTable(b.tables, [{ addr: b.victim, len: 64, flags: 0 }]);
    b.hostile.writeDesc(0, { addr: b.tables, len: 16, flags: IND | W });
    b.hostile.offer(0);
    const chains = newDescChains(1, SIZE);
    expect(b.device.popBurst(chains, 1)).toBe(1);
    expect(chains[0]!.readable).toBe(1);
  });

  it("construction errors are VirtioErrors; datapath calls never throw", () => {
    const m = new MockDriver({ size: SIZE });
    expect(() => SplitDevice.fromLayout(m.mem, { ...m.layout, size: 6 }, FEATURES)).toThrow(VirtioError);
    expect(() => m.createDevice({ base: 70000 })).toThrow(VirtioError);
  });
});

describe("fuzzed ring contents (fast-check)", () => {
  it("random descriptor tables, indirect tables and ring indices never throw and never yield memory outside guest regions", async () => {
    const fc = (await import("fast-check")).default;
    const descArb = fc.record({
      addr: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 0x10000, max: 0x40000 }).map(BigInt)),
      len: fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 4096 })),
      flags: fc.integer({ min: 0, max: 7 }),
      next: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: SIZE })),
    });
    fc.assert(
      fc.property(
        fc.array(descArb, { minLength: SIZE, maxLength: SIZE }),
        fc.array(descArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: SIZE, maxLength: SIZE }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        (descs, table, ring, availIdx, indirectTable) => {
          const b = bed();
          // Point some descriptors at a fuzzed indirect table in scratch memory.
          b.hostile.writeTable(b.tables, table);
          descs.forEach((d, i) => b.hostile.writeDesc(i, indirectTable && (d.flags & IND) !== 0 ? { ...d, addr: b.tables } : d));
          ring.forEach((h, i) => b.hostile.setAvailEntry(i, h));
          b.hostile.setAvailIdx(availIdx);
          const chains = newDescChains(4, 4 * SIZE);
          const regionEnd = b.mem.regions[0]!.size;
          for (let round = 0; round < 4; round++) {
            let n = 0;
            expect(() => {
              n = b.device.popBurst(chains, 4);
            }).not.toThrow();
            for (let i = 0; i < n; i++) {
              const c = chains[i]!;
              expect(c.count).toBeLessThanOrEqual(SIZE);
              for (let s = 0; s < c.count; s++) {
                expect(c.region[s]).toBe(0);
                expect(c.offset[s]! + c.len[s]!).toBeLessThanOrEqual(regionEnd);
                expect(c.addr[s]! - b.mem.regions[0]!.gpa).toBe(c.offset[s]);
              }
              b.device.pushUsed(c, 0);
            }
            b.device.publishUsed();
          }
          const faults = Object.values(b.device.stats.faults).reduce((x, y) => x + y, 0);
          expect(faults).toBe(b.device.broken ? 1 : 0);
        },
      ),
      { numRuns: 400 },
    );
  });
});
