/**
 * Golden layout tests for the split virtqueue, against virtio 1.2 §2.7:
 * the part sizes and alignments of the §2.7 table, the field offsets of
 * struct virtq_desc (§2.7.5), virtq_avail (§2.7.6) and virtq_used (§2.7.8),
 * the legacy layout of §2.7.2, and the setup checks (§2.7, §2.7.1).
 */
import { describe, expect, it } from "vitest";
import { GuestMemory } from "../src/memory.js";
import {
  AVAIL_FLAGS,
  AVAIL_IDX,
  SPLIT_AVAIL_ALIGN,
  SPLIT_DESC_ALIGN,
  SPLIT_QUEUE_MAX,
  SPLIT_USED_ALIGN,
  USED_FLAGS,
  USED_IDX,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_ADDR,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_DESC_FLAGS,
  VIRTQ_DESC_LEN,
  VIRTQ_DESC_NEXT,
  VIRTQ_DESC_SIZE,
  VIRTQ_USED_ELEM_SIZE,
  VIRTQ_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingOffset,
  availRingSize,
  checkSplitQueueSize,
  checkSplitRing,
  descOffset,
  descTableSize,
  isValidSplitQueueSize,
  legacySplitRingLayout,
  legacySplitRingSize,
  splitRingLayout,
  usedEventOffset,
  usedRingOffset,
  usedRingSize,
  vringNeedEvent,
} from "../src/layout.js";
import { SplitDevice, SplitDriver } from "../src/split.js";
import { VirtioError } from "../src/errors.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_VERSION_1 } from "../src/features.js";

describe("split ring constants", () => {
  it("descriptor flags NEXT=1 WRITE=2 INDIRECT=4 (§2.7.5)", () => {
    expect([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT]).toEqual([1, 2, 4]);
  });
  it("VIRTQ_AVAIL_F_NO_INTERRUPT=1 (§2.7.6), VIRTQ_USED_F_NO_NOTIFY=1 (§2.7.8)", () => {
    expect(VIRTQ_AVAIL_F_NO_INTERRUPT).toBe(1);
    expect(VIRTQ_USED_F_NO_NOTIFY).toBe(1);
  });
  it("struct virtq_desc: 16 bytes, addr@0 len@8 flags@12 next@14 (§2.7.5)", () => {
    expect(VIRTQ_DESC_SIZE).toBe(16);
    expect([VIRTQ_DESC_ADDR, VIRTQ_DESC_LEN, VIRTQ_DESC_FLAGS, VIRTQ_DESC_NEXT]).toEqual([0, 8, 12, 14]);
    expect(descOffset(3)).toBe(48);
  });
  it("alignments 16 / 2 / 4 and maximum queue size 32768 (§2.7)", () => {
    expect([SPLIT_DESC_ALIGN, SPLIT_AVAIL_ALIGN, SPLIT_USED_ALIGN]).toEqual([16, 2, 4]);
    expect(SPLIT_QUEUE_MAX).toBe(32768);
  });
});

describe("part sizes and offsets for Queue Size 256 (§2.7 table)", () => {
  const q = 256;
  it("descriptor table 16*q = 4096 bytes", () => expect(descTableSize(q)).toBe(4096));
  it("available ring 6+2*q = 518 bytes: flags@0 idx@2 ring[i]@4+2i used_event@516 (§2.7.6)", () => {
    expect(availRingSize(q)).toBe(518);
    expect([AVAIL_FLAGS, AVAIL_IDX]).toEqual([0, 2]);
    expect(availRingOffset(0)).toBe(4);
    expect(availRingOffset(255)).toBe(514);
    expect(usedEventOffset(q)).toBe(516);
    expect(usedEventOffset(q) + 2).toBe(availRingSize(q));
  });
  it("used ring 6+8*q = 2054 bytes: flags@0 idx@2 ring[i]@4+8i avail_event@2052 (§2.7.8)", () => {
    expect(usedRingSize(q)).toBe(2054);
    expect([USED_FLAGS, USED_IDX]).toEqual([0, 2]);
    expect(VIRTQ_USED_ELEM_SIZE).toBe(8);
    expect(usedRingOffset(0)).toBe(4);
    expect(usedRingOffset(255)).toBe(2044);
    expect(availEventOffset(q)).toBe(2052);
    expect(availEventOffset(q) + 2).toBe(usedRingSize(q));
  });
  it("compact modern layout from 0: desc@0, avail@4096, used@4616 (4-aligned), end 6670", () => {
    const l = splitRingLayout(q);
    expect(l).toEqual({ size: 256, desc: 0, avail: 4096, used: 4616, end: 4616 + 2054 });
  });
  it("layout from an unaligned base rounds the table up to 16 and the used ring to usedAlign", () => {
    const l = splitRingLayout(4, 0x1001, { usedAlign: 64 });
    expect(l.desc).toBe(0x1010);
    expect(l.avail).toBe(0x1010 + 64);
    expect(l.used % 64).toBe(0);
    expect(l.used).toBeGreaterThanOrEqual(l.avail + availRingSize(4));
  });
  it("legacy layout (§2.7.2): used ring on the next 4096 boundary; total = ALIGN(16q+6+2q) + ALIGN(6+8q) = 12288", () => {
    expect(legacySplitRingSize(q)).toBe(8192 + 4096);
    const l = legacySplitRingLayout(q, 0x10000);
    expect(l.desc).toBe(0x10000);
    expect(l.avail).toBe(0x10000 + 4096);
    expect(l.used).toBe(0x10000 + 8192);
    expect(l.end).toBe(0x10000 + 12288);
    expect(legacySplitRingSize(128)).toBe(4096 + 4096); // 2048 + 262 fits one page
  });
});

describe("queue size and address checks (§2.7, §2.7.1)", () => {
  it("accepts powers of two from 1 to 32768 only", () => {
    for (const ok of [1, 2, 4, 256, 1024, 32768]) expect(isValidSplitQueueSize(ok)).toBe(true);
    for (const bad of [0, -1, 3, 6, 100, 255, 32769, 65536, 1.5, Number.NaN]) {
      expect(isValidSplitQueueSize(bad)).toBe(false);
      expect(() => checkSplitQueueSize(bad)).toThrow(VirtioError);
    }
  });
  const mem = GuestMemory.fromBuffer(new ArrayBuffer(0x4000), 0x1000);
  const ok = { size: 8, desc: 0x1000, avail: 0x1080, used: 0x1100 };
  const make = (a: typeof ok, side: "driver" | "device") =>
    side === "driver" ? new SplitDriver(mem, a.size, a.desc, a.avail, a.used, VIRTIO_F_VERSION_1) : new SplitDevice(mem, a.size, a.desc, a.avail, a.used, VIRTIO_F_VERSION_1);
  it("accepts a well-placed ring", () => {
    expect(() => checkSplitRing(mem, ok)).not.toThrow();
    expect(() => make(ok, "device")).not.toThrow();
  });
  for (const side of ["driver", "device"] as const) {
    it(`${side}: refuses size 0, 3, 65536 with kind "malformed"`, () => {
      for (const size of [0, 3, 65536]) {
        const e = (() => {
          try {
            make({ ...ok, size }, side);
          } catch (err) {
            return err;
          }
          return null;
        })();
        expect(e).toBeInstanceOf(VirtioError);
        expect((e as VirtioError).kind).toBe("malformed");
      }
    });
    it(`${side}: refuses misaligned parts (desc 16, avail 2, used 4)`, () => {
      expect(() => make({ ...ok, desc: 0x1008 }, side)).toThrow(/16-byte aligned/);
      expect(() => make({ ...ok, avail: 0x1081 }, side)).toThrow(/2-byte aligned/);
      expect(() => make({ ...ok, used: 0x1102 }, side)).toThrow(/4-byte aligned/);
    });
    it(`${side}: refuses unmapped or overlapping parts`, () => {
      expect(() => make({ ...ok, desc: 0 }, side)).toThrow(VirtioError);
      expect(() => make({ ...ok, used: 0x4ff0 }, side)).toThrow(/not inside/);
      expect(() => make({ ...ok, avail: 0x1040 }, side)).toThrow(/overlap/);
    });
  }
  it("refuses a ring whose host backing is not aligned for typed-array views", () => {
    const buf = new ArrayBuffer(0x1000);
    const odd = new GuestMemory([{ gpa: 0, buffer: buf, offset: 2, size: 0x800 }]);
    expect(() => new SplitDevice(odd, 8, 0, 0x100, 0x200, 0n)).toThrow(/host offset/);
  });
  it("the driver refuses VIRTIO_F_IN_ORDER (it reads every used element; §2.7.9 batching is not implemented)", () => {
    let e: unknown = null;
    try {
      new SplitDriver(mem, 8, ok.desc, ok.avail, ok.used, VIRTIO_F_VERSION_1 | (1n << 35n));
    } catch (err) {
      e = err;
    }
    expect((e as VirtioError).kind).toBe("negotiation");
    expect(() => new SplitDevice(mem, 8, ok.desc, ok.avail, ok.used, VIRTIO_F_VERSION_1 | (1n << 35n))).not.toThrow();
  });
  it("event-idx features change nothing in the layout", () => {
    expect(() => new SplitDevice(mem, 8, ok.desc, ok.avail, ok.used, VIRTIO_F_EVENT_IDX)).not.toThrow();
  });
});

describe("vring_need_event arithmetic (§2.7.7.2, §2.7.10)", () => {
  it("notifies exactly when event is in [old, new) modulo 2^16", () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true);
    expect(vringNeedEvent(5, 5, 4)).toBe(false);
    expect(vringNeedEvent(4, 10, 5)).toBe(false);
    expect(vringNeedEvent(9, 10, 5)).toBe(true);
    expect(vringNeedEvent(10, 10, 5)).toBe(false);
    // Across the 16-bit wrap.
    expect(vringNeedEvent(0xffff, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(1, 2, 0xfffe)).toBe(true);
    expect(vringNeedEvent(2, 2, 0xfffe)).toBe(false);
    expect(vringNeedEvent(0xfffd, 2, 0xfffe)).toBe(false);
    // §2.7.7.2 note: used_event 0 fires on the first buffer.
    expect(vringNeedEvent(0, 1, 0)).toBe(true);
  });
});
