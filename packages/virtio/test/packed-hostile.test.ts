/**
 * Hostile peers. Every malformed ring a driver (or device) can write is
 * detected, counted under its QueueFault name, breaks the queue
 * (DEVICE_NEEDS_RESET, virtio 1.2 §2.1.1) without throwing, and touches no
 * host memory outside the guest region (canary bytes around it stay intact).
 * Each test pins the exact fault name, so removing the check it covers makes
 * it fail (the walk would succeed or trip a different check).
 */
import { describe, expect, it } from "vitest";
import { GPA_LIMIT, GuestMemory } from "../src/memory.js";
import { PackedDevice, PackedDriver, packedRingLayout } from "../src/packed.js";
import type { QueueFault, QueueStats } from "../src/queue.js";
import {
  F_IN_ORDER,
  F_INDIRECT,
  F_PACKED,
  RawRing,
  availFlags,
  canariesIntact,
  makeRing,
  scratch,
  usedFlags,
  type Ring,
} from "./packed-fixture.js";

const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;

function faultsOf(stats: QueueStats): Partial<Record<QueueFault, number>> {
  const out: Partial<Record<QueueFault, number>> = {};
  for (const [k, v] of Object.entries(stats.faults)) if (v !== 0) out[k as QueueFault] = v;
  return out;
}

function raw(r: Ring): RawRing {
  return new RawRing(r.mem, r.layout.descAddr, r.layout.size);
}

/** Pop, expecting exactly `popped` good chains and then `fault`. */
function expectDeviceFault(r: Ring, fault: QueueFault, popped = 0): void {
  let n = -1;
  expect(() => {
    n = r.device.popBurst(r.chains, r.chains.length);
  }).not.toThrow();
  expect(n).toBe(popped);
  expect(r.device.broken).toBe(true);
  expect(r.device.brokenBy).toBe(fault);
  expect(faultsOf(r.device.stats)).toEqual({ [fault]: 1 });
  expect(canariesIntact(r)).toBe(true);
  // Sticky: a broken queue serves nothing more.
  expect(r.device.popBurst(r.chains, r.chains.length)).toBe(0);
  expect(r.device.pending()).toBe(0);
}

/** Drive `k` single-descriptor buffers through the ring so the positions move. */
function cycle(r: Ring, k: number): void {
  const s = scratch();
  for (let i = 0; i < k; i++) {
    s.addrs[0] = r.dataBase;
    s.lens[0] = 64;
    expect(r.driver.add(s.addrs, s.lens, 1, 0, i)).toBe(true);
  }
  r.driver.publish();
  expect(r.device.popBurst(r.chains, k)).toBe(k);
  for (let i = 0; i < k; i++) r.device.pushUsed(r.chains[i]!, 0);
  r.device.publishUsed();
  expect(r.driver.reclaim(s.tokens, s.outLens, k)).toBe(k);
}

const D = (r: Ring, off = 0): bigint => BigInt(r.dataBase + off);

describe("device side: hostile driver", () => {
  it("buffer id >= queue size -> desc_index_out_of_range (ids index driver state, §2.8.22); good chains before it are returned", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 7, availFlags(1));
    w.write(1, D(r), 64, 8, availFlags(1));
    expectDeviceFault(r, "desc_index_out_of_range", 1);
    expect(r.chains[0]!.id).toBe(7);
  });

  it("the id is taken from the last descriptor of a list (§2.8.6)", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT));
    w.write(1, D(r), 64, 9, availFlags(1));
    expectDeviceFault(r, "desc_index_out_of_range");
  });

  it("a list longer than the queue size -> chain_too_long (§2.8.17)", () => {
    const r = makeRing(4);
    const w = raw(r);
    for (let i = 0; i < 4; i++) w.write(i, D(r), 64, 0, availFlags(1, NEXT));
    expectDeviceFault(r, "chain_too_long");
  });

  it("a list with more elements than the DescChain holds -> chain_too_long", () => {
    const r = makeRing(8, { maxSegments: 2 });
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT));
    w.write(1, D(r), 64, 0, availFlags(1, NEXT));
    w.write(2, D(r), 64, 0, availFlags(1));
    expectDeviceFault(r, "chain_too_long");
  });

  it("an indirect table with more entries than the queue size -> chain_too_long", () => {
    const r = makeRing(4, { features: F_PACKED | F_INDIRECT, maxSegments: 16 });
    const t = new RawRing(r.mem, r.dataBase, 5);
    for (let i = 0; i < 5; i++) t.write(i, D(r, 1024), 64, 0, 0);
    raw(r).write(0, D(r), 5 * 16, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "chain_too_long");
  });

  it("an indirect table with more entries than the DescChain holds -> chain_too_long", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT, maxSegments: 2 });
    const t = new RawRing(r.mem, r.dataBase, 3);
    for (let i = 0; i < 3; i++) t.write(i, D(r, 1024), 64, 0, 0);
    raw(r).write(0, D(r), 3 * 16, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "chain_too_long");
  });

  it("a list running into a descriptor that is not available -> packed_bad_flags (§2.8.17: whole list before the head)", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT));
    w.write(1, D(r), 64, 0, 0); // never made available
    expectDeviceFault(r, "packed_bad_flags");
  });

  it("a list element whose AVAIL/USED bits say 'used' -> packed_bad_flags (§2.8.6 note: flags set in all descriptors)", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT));
    w.write(1, D(r), 64, 0, usedFlags(1));
    expectDeviceFault(r, "packed_bad_flags");
  });

  it("a list crossing the ring end without flipping AVAIL/USED -> packed_bad_flags (§2.8.1)", () => {
    const r = makeRing(4);
    cycle(r, 3);
    const w = raw(r);
    w.write(3, D(r), 64, 0, availFlags(1, NEXT));
    w.write(0, D(r), 64, 0, availFlags(1)); // should carry wrap counter 0 after the end
    expectDeviceFault(r, "packed_bad_flags");
  });

  it("more descriptors than the ring has free slots, at a head -> avail_idx_too_far", () => {
    const r = makeRing(4);
    const w = raw(r);
    for (let i = 0; i < 4; i++) w.write(i, D(r), 64, i, availFlags(1));
    expect(r.device.popBurst(r.chains, 4)).toBe(4);
    // All four slots are in flight; the driver cannot legally have refilled slot 0.
    w.write(0, D(r), 64, 0, availFlags(0));
    expectDeviceFault(r, "avail_idx_too_far");
  });

  it("more descriptors than the ring has free slots, inside a list -> avail_idx_too_far", () => {
    const r = makeRing(4);
    const w = raw(r);
    for (let i = 0; i < 3; i++) w.write(i, D(r), 64, i, availFlags(1));
    expect(r.device.popBurst(r.chains, 3)).toBe(3);
    w.write(3, D(r), 64, 0, availFlags(1, NEXT));
    w.write(0, D(r), 64, 0, availFlags(0)); // slot 0 still in flight
    expectDeviceFault(r, "avail_idx_too_far");
  });

  it("an indirect descriptor inside an indirect table -> nested_indirect (§2.8.19)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    const t = new RawRing(r.mem, r.dataBase, 2);
    t.write(0, D(r, 1024), 64, 0, 0);
    t.write(1, D(r, 2048), 32, 0, INDIRECT);
    raw(r).write(0, D(r), 32, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "nested_indirect");
  });

  it("an indirect table of length 0 -> indirect_len_invalid (§2.8.7)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    raw(r).write(0, D(r), 0, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "indirect_len_invalid");
  });

  it("an indirect table length not a multiple of 16 -> indirect_len_invalid (§2.8.7)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    new RawRing(r.mem, r.dataBase, 2).write(0, D(r, 1024), 64, 0, 0);
    raw(r).write(0, D(r), 24, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "indirect_len_invalid");
  });

  it("INDIRECT together with NEXT -> indirect_with_next (§2.8.19)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    new RawRing(r.mem, r.dataBase, 1).write(0, D(r, 1024), 64, 0, 0);
    const w = raw(r);
    w.write(0, D(r), 16, 0, availFlags(1, INDIRECT | NEXT));
    w.write(1, D(r, 512), 64, 0, availFlags(1));
    expectDeviceFault(r, "indirect_with_next");
  });

  it("an INDIRECT descriptor at the end of a NEXT list -> indirect_with_next (§2.8.19)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    new RawRing(r.mem, r.dataBase, 1).write(0, D(r, 1024), 64, 0, 0);
    const w = raw(r);
    w.write(0, D(r, 512), 64, 0, availFlags(1, NEXT));
    w.write(1, D(r), 16, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "indirect_with_next");
  });

  it("INDIRECT without VIRTIO_F_INDIRECT_DESC -> indirect_not_negotiated (§2.8.19)", () => {
    const r = makeRing(8);
    new RawRing(r.mem, r.dataBase, 1).write(0, D(r, 1024), 64, 0, 0);
    raw(r).write(0, D(r), 16, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "indirect_not_negotiated");
  });

  it("a buffer at an unmapped address -> addr_out_of_range", () => {
    const r = makeRing(8);
    raw(r).write(0, 0x1000n, 64, 0, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("an unmapped element inside a list (the list path, not the one-descriptor path) -> addr_out_of_range", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT));
    w.write(1, 0x1000n, 64, 0, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("a list whose head runs past the end of guest memory -> addr_out_of_range", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, BigInt(r.end - 10), 11, 0, availFlags(1, NEXT));
    w.write(1, D(r), 64, 0, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("one descriptor with an id out of range and a bad address reports the address first", () => {
    const r = makeRing(8);
    raw(r).write(0, 0x1000n, 64, 99, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("a buffer running past the end of guest memory -> addr_out_of_range", () => {
    const r = makeRing(8);
    raw(r).write(0, BigInt(r.end - 10), 11, 0, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("a buffer with the largest length at a valid address -> addr_out_of_range", () => {
    const r = makeRing(8);
    raw(r).write(0, D(r), 0xffff_ffff, 0, availFlags(1));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("a 64-bit address at or above 2^53 (would lose precision) -> addr_out_of_range", () => {
    const r = makeRing(8);
    raw(r).write(0, (1n << 64n) - 16n, 64, 0, availFlags(1)); // addr + len overflows 64 bits
    expectDeviceFault(r, "addr_out_of_range");
    const r2 = makeRing(8);
    raw(r2).write(0, (1n << 53n) + BigInt(r2.dataBase), 64, 0, availFlags(1));
    expectDeviceFault(r2, "addr_out_of_range");
  });

  it("a buffer spanning two guest regions -> addr_out_of_range", () => {
    const l = packedRingLayout(8, 0x1000);
    const mem = new GuestMemory([
      { gpa: 0, buffer: new ArrayBuffer(0x10000) },
      { gpa: 0x10000, buffer: new ArrayBuffer(0x10000) },
    ]);
    const dev = new PackedDevice(mem, 8, l.descAddr, l.driverEventAddr, l.deviceEventAddr, F_PACKED);
    const w = new RawRing(mem, l.descAddr, 8);
    w.write(0, 0xff00n, 0x100, 0, availFlags(1)); // ends exactly at the boundary: fine
    w.write(1, 0xff00n, 0x101, 1, availFlags(1)); // one byte into the next region
    const chains = PackedDevice.chains(4, 8);
    expect(dev.popBurst(chains, 4)).toBe(1);
    expect(dev.brokenBy).toBe("addr_out_of_range");
  });

  it("a buffer crossing the end of a region that ends at 2^53 -> addr_out_of_range (no rounding in the bound check)", () => {
    const l = packedRingLayout(8, 0x1000);
    const top = GPA_LIMIT - 4096;
    const mem = new GuestMemory([
      { gpa: 0, buffer: new ArrayBuffer(0x10000) },
      { gpa: top, buffer: new ArrayBuffer(4096) },
    ]);
    const dev = new PackedDevice(mem, 8, l.descAddr, l.driverEventAddr, l.deviceEventAddr, F_PACKED);
    const w = new RawRing(mem, l.descAddr, 8);
    w.write(0, BigInt(GPA_LIMIT - 2), 2, 0, availFlags(1)); // last two bytes: fine
    w.write(1, BigInt(GPA_LIMIT - 1), 2, 1, availFlags(1)); // 2^53 - 1 + 2 rounds to 2^53 in a double
    const chains = PackedDevice.chains(4, 8);
    expect(dev.popBurst(chains, 4)).toBe(1);
    expect(chains[0]!.offset[0]).toBe(4094);
    expect(dev.brokenBy).toBe("addr_out_of_range");
  });

  it("an indirect table outside guest memory -> addr_out_of_range", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    raw(r).write(0, BigInt(r.end - 16), 32, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("an indirect table entry outside guest memory -> addr_out_of_range", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    const t = new RawRing(r.mem, r.dataBase, 2);
    t.write(0, D(r, 1024), 64, 0, 0);
    t.write(1, 0x20n, 64, 0, WRITE);
    raw(r).write(0, D(r), 32, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "addr_out_of_range");
  });

  it("a readable element after a writable one -> write_before_read (§2.8.17)", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 0, availFlags(1, NEXT | WRITE));
    w.write(1, D(r, 64), 64, 0, availFlags(1));
    expectDeviceFault(r, "write_before_read");
  });

  it("a readable entry after a writable one in an indirect table -> write_before_read", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT });
    const t = new RawRing(r.mem, r.dataBase, 2);
    t.write(0, D(r, 1024), 64, 0, WRITE);
    t.write(1, D(r, 2048), 64, 0, 0);
    raw(r).write(0, D(r), 32, 0, availFlags(1, INDIRECT));
    expectDeviceFault(r, "write_before_read");
  });

  it("a broken device ignores pushUsed and publishUsed", () => {
    const r = makeRing(8);
    const w = raw(r);
    w.write(0, D(r), 64, 3, availFlags(1));
    w.write(1, 0n, 64, 0, availFlags(1));
    expect(r.device.popBurst(r.chains, 8)).toBe(1);
    expect(r.device.broken).toBe(true);
    r.device.pushUsed(r.chains[0]!, 0);
    expect(r.device.publishUsed()).toBe(false);
    expect(w.flags(0)).toBe(availFlags(1));
  });

  it("pushUsed ignores a chain this queue did not hand out", () => {
    const r = makeRing(8);
    const stray = PackedDevice.chains(1, 4)[0]!;
    r.device.pushUsed(stray, 10);
    stray.ringDescs = 3;
    r.device.pushUsed(stray, 10);
    expect(r.device.publishUsed()).toBe(false);
    expect(raw(r).flags(0)).toBe(0);
  });
});

describe("driver side: hostile device", () => {
  function usedAt(r: Ring, slot: number, id: number, len: number, wrap = 1, write = true): void {
    raw(r).write(slot, 0n, len, id, usedFlags(wrap, write ? WRITE : 0));
  }
  function addOne(r: Ring, token: number, writable = 100): void {
    const s = scratch();
    s.addrs[0] = r.dataBase;
    s.lens[0] = writable;
    expect(r.driver.add(s.addrs, s.lens, 0, 1, token)).toBe(true);
    r.driver.publish();
  }
  function reclaim(r: Ring): { n: number; tokens: number[]; lens: number[] } {
    const s = scratch();
    let n = -1;
    expect(() => {
      n = r.driver.reclaim(s.tokens, s.outLens, 64);
    }).not.toThrow();
    return { n, tokens: Array.from(s.tokens.subarray(0, n)), lens: Array.from(s.outLens.subarray(0, n)) };
  }

  for (const inOrder of [false, true]) {
    const features = inOrder ? F_PACKED | F_IN_ORDER : F_PACKED;
    const tag = inOrder ? " (IN_ORDER)" : "";

    it(`used id >= queue size -> bad_used_id${tag}`, () => {
      const r = makeRing(8, { features });
      addOne(r, 42);
      usedAt(r, 0, 8, 10);
      expect(reclaim(r).n).toBe(0);
      expect(r.driver.brokenBy).toBe("bad_used_id");
      expect(faultsOf(r.driver.stats)).toEqual({ bad_used_id: 1 });
      expect(reclaim(r).n).toBe(0);
    });

    it(`used id the driver never handed out -> bad_used_id${tag}`, () => {
      const r = makeRing(8, { features });
      addOne(r, 42); // id 0
      usedAt(r, 0, 1, 10);
      expect(reclaim(r).n).toBe(0);
      expect(r.driver.brokenBy).toBe("bad_used_id");
      expect(r.driver.add(new Float64Array([r.dataBase]), new Uint32Array([1]), 1, 0, 1)).toBe(false);
    });

    it(`the same id used twice -> bad_used_id on the second${tag}`, () => {
      const r = makeRing(8, { features });
      addOne(r, 42);
      addOne(r, 43);
      usedAt(r, 0, 0, 10);
      usedAt(r, 1, 0, 10);
      const got = reclaim(r);
      expect(got.tokens).toEqual([42]);
      expect(r.driver.brokenBy).toBe("bad_used_id");
      expect(faultsOf(r.driver.stats)).toEqual({ bad_used_id: 1 });
    });
  }

  it("a used length above the buffer's writable size is counted and clamped; the queue stays up", () => {
    const r = makeRing(8);
    addOne(r, 42, 100);
    usedAt(r, 0, 0, 5000);
    expect(reclaim(r)).toEqual({ n: 1, tokens: [42], lens: [100] });
    expect(r.driver.broken).toBe(false);
    expect(faultsOf(r.driver.stats)).toEqual({ used_len_too_big: 1 });
  });

  it("IN_ORDER: a used length above the buffer's writable size is counted and clamped too", () => {
    const r = makeRing(8, { features: F_PACKED | F_IN_ORDER });
    addOne(r, 42, 100);
    addOne(r, 43, 200);
    usedAt(r, 0, 1, 5000); // one used descriptor for both buffers (§2.8.8)
    expect(reclaim(r)).toEqual({ n: 2, tokens: [42, 43], lens: [100, 200] });
    expect(r.driver.broken).toBe(false);
    expect(faultsOf(r.driver.stats)).toEqual({ used_len_too_big: 1 });
  });

  it("a used descriptor without WRITE reports length 0 (§2.8.4: len reserved, ignored by drivers)", () => {
    const r = makeRing(8);
    addOne(r, 42, 100);
    usedAt(r, 0, 0, 5000, 1, false);
    expect(reclaim(r)).toEqual({ n: 1, tokens: [42], lens: [0] });
    expect(faultsOf(r.driver.stats)).toEqual({});
  });

  it("a used descriptor with the wrong wrap counter is not taken", () => {
    const r = makeRing(8);
    addOne(r, 42, 100);
    usedAt(r, 0, 0, 10, 0);
    expect(reclaim(r).n).toBe(0);
    expect(r.driver.broken).toBe(false);
  });
});

describe("driver set-up for hostile tests is what it claims", () => {
  it("a PackedDriver on the same ring writes the same bytes RawRing reads", () => {
    const r = makeRing(4);
    const d2 = new PackedDriver(r.mem, 4, r.layout.descAddr, r.layout.driverEventAddr, r.layout.deviceEventAddr, F_PACKED, { init: false });
    const s = scratch();
    s.addrs[0] = r.dataBase;
    s.lens[0] = 64;
    d2.add(s.addrs, s.lens, 1, 0, 0);
    d2.publish();
    expect(raw(r).flags(0)).toBe(availFlags(1));
  });
});
