/**
 * Golden byte-layout tests for the packed virtqueue (virtio 1.2 §2.8):
 * descriptor field offsets (§2.8.13), flag bit values (§2.8.1, §2.8.3,
 * §2.8.6, §2.8.7), the event suppression structure (§2.8.10, §2.8.14),
 * wrap counter behaviour across full rings (§2.8.1), and set-up checks
 * (§2.8, §2.8.10.1).
 */
import { describe, expect, it } from "vitest";
import { VirtioError } from "../src/errors.js";
import { GuestMemory } from "../src/memory.js";
import {
  PACKED_DESC_F_AVAIL,
  PACKED_DESC_F_INDIRECT,
  PACKED_DESC_F_NEXT,
  PACKED_DESC_F_USED,
  PACKED_DESC_F_WRITE,
  PACKED_DESC_OFF_ADDR,
  PACKED_DESC_OFF_FLAGS,
  PACKED_DESC_OFF_ID,
  PACKED_DESC_OFF_LEN,
  PACKED_DESC_SIZE,
  PACKED_EVENT_FLAGS_DESC,
  PACKED_EVENT_FLAGS_DISABLE,
  PACKED_EVENT_FLAGS_ENABLE,
  PACKED_EVENT_OFF_DESC,
  PACKED_EVENT_OFF_FLAGS,
  PACKED_EVENT_SIZE,
  PACKED_MAX_QUEUE_SIZE,
  PackedDevice,
  PackedDriver,
  packedEventFires,
  packedRingLayout,
} from "../src/packed.js";
import * as index from "../src/index.js";
import { F_EVENT_IDX, F_INDIRECT, F_PACKED, GUEST_BASE, RawRing, availFlags, makeRing, scratch, usedFlags } from "./packed-fixture.js";

describe("packed constants (§2.8)", () => {
  it("flag bits: NEXT=1 WRITE=2 INDIRECT=4 (§2.8.3, §2.8.6, §2.8.7), AVAIL=bit 7, USED=bit 15 (§2.8.1)", () => {
    expect(PACKED_DESC_F_NEXT).toBe(0x1);
    expect(PACKED_DESC_F_WRITE).toBe(0x2);
    expect(PACKED_DESC_F_INDIRECT).toBe(0x4);
    expect(PACKED_DESC_F_AVAIL).toBe(0x80);
    expect(PACKED_DESC_F_USED).toBe(0x8000);
  });

  it("struct pvirtq_desc is 16 bytes: addr@0 le64, len@8 le32, id@12 le16, flags@14 le16 (§2.8.13)", () => {
    expect(PACKED_DESC_SIZE).toBe(16);
    expect([PACKED_DESC_OFF_ADDR, PACKED_DESC_OFF_LEN, PACKED_DESC_OFF_ID, PACKED_DESC_OFF_FLAGS]).toEqual([0, 8, 12, 14]);
  });

  it("struct pvirtq_event_suppress is 4 bytes: desc@0, flags@2; ENABLE=0 DISABLE=1 DESC=2 (§2.8.10, §2.8.14)", () => {
    expect(PACKED_EVENT_SIZE).toBe(4);
    expect([PACKED_EVENT_OFF_DESC, PACKED_EVENT_OFF_FLAGS]).toEqual([0, 2]);
    expect([PACKED_EVENT_FLAGS_ENABLE, PACKED_EVENT_FLAGS_DISABLE, PACKED_EVENT_FLAGS_DESC]).toEqual([0, 1, 2]);
  });

  it("queue size limit is 2^15 (§2.8)", () => {
    expect(PACKED_MAX_QUEUE_SIZE).toBe(32768);
  });

  it("the package index exports the packed API", () => {
    expect(index.PackedDriver).toBe(PackedDriver);
    expect(index.PackedDevice).toBe(PackedDevice);
    expect(index.packedRingLayout).toBe(packedRingLayout);
  });

  it("packedRingLayout places the parts with their alignments (§2.8.10.1), event areas on their own cache lines", () => {
    const l = packedRingLayout(100, 0x1001, 4);
    expect(l.descAddr).toBe(0x1010);
    expect(l.driverEventAddr).toBe(Math.ceil((0x1010 + 100 * 16) / 64) * 64);
    expect(l.deviceEventAddr).toBe(l.driverEventAddr + 64);
    expect(l.indirectAddr).toBe(l.deviceEventAddr + 64);
    expect(l.end).toBe(l.indirectAddr + 100 * 4 * 16);
    expect(packedRingLayout(256, 0).driverEventAddr).toBe(4096);
  });
});

describe("golden descriptor bytes", () => {
  it("driver writes addr, len, id, flags little-endian at their offsets (§2.8.13, §2.8.21.1)", () => {
    const r = makeRing(8);
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    const s = scratch();
    s.addrs[0] = 0x0011_2233_4455_6677;
    s.lens[0] = 0x8899_aabb;
    expect(r.driver.add(s.addrs, s.lens, 1, 0, 7)).toBe(true);
    // Held back until publish: the head flags are the publication point.
    expect(raw.flags(0)).toBe(0);
    r.driver.publish();
    expect(raw.bytes(0)).toEqual([
      0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, // addr
      0xbb, 0xaa, 0x99, 0x88, // len
      0x00, 0x00, // id 0
      0x80, 0x00, // flags: AVAIL=1 (wrap counter 1), USED=0
    ]);
  });

  it("a device-writable chain: NEXT on all but the last, WRITE on writable elements, id in the last (§2.8.6)", () => {
    const r = makeRing(8);
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    const s = scratch();
    s.addrs.set([0x1000, 0x2000, 0x3000]);
    s.lens.set([10, 20, 30]);
    r.driver.add(s.addrs, s.lens, 1, 2, 1);
    // Non-head descriptors are written before the head; the head waits for publish().
    expect(raw.flags(0)).toBe(0);
    expect(raw.flags(1)).toBe(0x80 | 0x2 | 0x1);
    expect(raw.flags(2)).toBe(0x80 | 0x2);
    r.driver.publish();
    expect(raw.flags(0)).toBe(0x80 | 0x1);
    expect(raw.id(2)).toBe(0);
  });

  it("device writes the used descriptor over the chain's first slot: id, len, AVAIL=USED=wrap, WRITE (§2.8.1, §2.8.3, §2.8.4)", () => {
    const r = makeRing(8);
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    const s = scratch();
    s.addrs.set([r.dataBase, r.dataBase + 100]);
    s.lens.set([12, 1500]);
    r.driver.add(s.addrs, s.lens, 1, 1, 99);
    s.addrs[0] = r.dataBase + 2000;
    s.lens[0] = 64;
    r.driver.add(s.addrs, s.lens, 1, 0, 98);
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 32)).toBe(2);
    r.device.pushUsed(r.chains[0]!, 1234);
    r.device.pushUsed(r.chains[1]!, 0);
    // Nothing visible before publishUsed: the first entry's flags are held.
    expect(raw.flags(0)).toBe(0x80 | 0x1);
    r.device.publishUsed();
    expect(raw.bytes(0).slice(8)).toEqual([0xd2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x80 | 0x02, 0x80]); // len 1234, id 0, flags 0x8082 LE
    // Second used descriptor at slot 2 (the chain took slots 0-1): no WRITE, len reserved.
    expect(raw.id(2)).toBe(1);
    expect(raw.flags(2)).toBe(0x8080);
    const n = r.driver.reclaim(s.tokens, s.outLens, 8);
    expect(n).toBe(2);
    expect([s.tokens[0], s.outLens[0], s.tokens[1], s.outLens[1]]).toEqual([99, 1234, 98, 0]);
  });

  it("an indirect descriptor: INDIRECT set, addr/len name the table, table entries carry only WRITE (§2.8.7)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT, indirectEntries: 4 });
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    const s = scratch();
    s.addrs.set([0x5000, 0x6000]);
    s.lens.set([14, 1514]);
    r.driver.add(s.addrs, s.lens, 1, 1, 3, true);
    r.driver.publish();
    expect(raw.flags(0)).toBe(0x80 | 0x4);
    expect(raw.len(0)).toBe(32);
    expect(r.mem.readU64(r.layout.descAddr)).toBe(BigInt(r.layout.indirectAddr));
    const t = new RawRing(r.mem, r.layout.indirectAddr, 2);
    expect(t.bytes(0)).toEqual([0x00, 0x50, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0x00, 0x00]);
    expect(t.bytes(1)).toEqual([0x00, 0x60, 0, 0, 0, 0, 0, 0, 0xea, 0x05, 0, 0, 0, 0, 0x02, 0x00]);
  });
});

describe("wrap counters across full rings (§2.8.1)", () => {
  it("AVAIL/USED patterns flip each lap; used descriptors carry the device wrap counter", () => {
    const size = 4;
    const r = makeRing(size);
    const raw = new RawRing(r.mem, r.layout.descAddr, size);
    const s = scratch();
    for (let lap = 0; lap < 6; lap++) {
      const wrap = lap % 2 === 0 ? 1 : 0;
      for (let i = 0; i < size; i++) {
        s.addrs[0] = r.dataBase + i * 64;
        s.lens[0] = 64;
        expect(r.driver.add(s.addrs, s.lens, 1, 0, lap * 100 + i)).toBe(true);
      }
      expect(r.driver.freeDescriptors).toBe(0);
      r.driver.publish();
      for (let i = 0; i < size; i++) expect(raw.flags(i)).toBe(availFlags(wrap));
      expect(r.driver.availState).toEqual({ pos: 0, wrap: 1 - wrap });
      expect(r.device.popBurst(r.chains, 32)).toBe(size);
      expect(r.device.availState).toEqual({ pos: 0, wrap: 1 - wrap });
      for (let i = 0; i < size; i++) r.device.pushUsed(r.chains[i]!, 0);
      r.device.publishUsed();
      for (let i = 0; i < size; i++) expect(raw.flags(i)).toBe(usedFlags(wrap));
      expect(r.device.usedState).toEqual({ pos: 0, wrap: 1 - wrap });
      expect(r.driver.reclaim(s.tokens, s.outLens, 32)).toBe(size);
      expect(Array.from(s.tokens.subarray(0, size))).toEqual([0, 1, 2, 3].map((i) => lap * 100 + i));
      expect(r.driver.usedState).toEqual({ pos: 0, wrap: 1 - wrap });
    }
  });

  it("a chain that crosses the end of the ring switches AVAIL/USED bits at slot 0 (§2.8.1, §2.8.6)", () => {
    const size = 5;
    const r = makeRing(size);
    const raw = new RawRing(r.mem, r.layout.descAddr, size);
    const s = scratch();
    s.addrs.fill(r.dataBase);
    s.lens.fill(64);
    for (let i = 0; i < 3; i++) r.driver.add(s.addrs, s.lens, 1, 0, i);
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 3)).toBe(3);
    for (let i = 0; i < 3; i++) r.device.pushUsed(r.chains[i]!, 0);
    r.device.publishUsed();
    expect(r.driver.reclaim(s.tokens, s.outLens, 8)).toBe(3);
    // Chain of 4 at slots 3, 4, 0, 1.
    r.driver.add(s.addrs, s.lens, 2, 2, 77);
    r.driver.publish();
    expect([raw.flags(3), raw.flags(4), raw.flags(0), raw.flags(1)]).toEqual([
      availFlags(1, 0x1),
      availFlags(1, 0x1),
      availFlags(0, 0x1 | 0x2),
      availFlags(0, 0x2),
    ]);
    expect(r.device.popBurst(r.chains, 1)).toBe(1);
    expect(r.chains[0]!.ringDescs).toBe(4);
    expect(r.chains[0]!.count).toBe(4);
    expect(r.chains[0]!.readable).toBe(2);
    r.device.pushUsed(r.chains[0]!, 100);
    r.device.publishUsed();
    // The used descriptor sits in slot 3 with the wrap counter of that lap.
    expect(raw.flags(3)).toBe(usedFlags(1, 0x2));
    expect(r.device.usedState).toEqual({ pos: 2, wrap: 0 });
    expect(r.driver.reclaim(s.tokens, s.outLens, 8)).toBe(1);
    expect([s.tokens[0], s.outLens[0]]).toEqual([77, 100]);
    expect(r.driver.usedState).toEqual({ pos: 2, wrap: 0 });
  });
});

describe("event suppression layout (§2.8.10, §2.8.14)", () => {
  it("driver writes ENABLE / DISABLE / DESC with offset and wrap bit 15 into the Driver Area", () => {
    const r = makeRing(8, { features: F_PACKED | F_EVENT_IDX });
    const at = r.layout.driverEventAddr;
    const bytes = (): number[] => Array.from(r.mem.slice(at, 4));
    expect(bytes()).toEqual([0, 0, 0, 0]); // ENABLE after init
    r.driver.setNotify(false);
    expect(bytes()).toEqual([0, 0, 1, 0]);
    r.driver.setNotifyAt(5, 0);
    expect(bytes()).toEqual([5, 0, 2, 0]);
    r.driver.setNotifyAt(3, 1);
    expect(bytes()).toEqual([3, 0x80, 2, 0]);
    r.driver.setNotify(true); // DESC at the next used slot (0, wrap 1)
    expect(bytes()).toEqual([0, 0x80, 2, 0]);
  });

  it("device writes its suppression state into the Device Area; without EVENT_IDX enable means ENABLE", () => {
    const r = makeRing(8);
    const at = r.layout.deviceEventAddr;
    const bytes = (): number[] => Array.from(r.mem.slice(at, 4));
    r.device.setNotify(false);
    expect(bytes()).toEqual([0, 0, 1, 0]);
    r.device.setNotify(true);
    expect(bytes()).toEqual([0, 0, 0, 0]);
    expect(() => r.driver.setNotifyAt(1, 1)).toThrow(VirtioError);
  });

  it("packedEventFires: DISABLE never, ENABLE always, DESC only when the descriptor is passed", () => {
    const ev = (flags: number, off: number, wrap: number): number => off | (wrap << 15) | (flags << 16);
    expect(packedEventFires(ev(1, 0, 1), 0, 4, 8, true)).toBe(false);
    expect(packedEventFires(ev(0, 0, 1), 0, 4, 8, true)).toBe(true);
    expect(packedEventFires(ev(3, 0, 1), 0, 4, 8, true)).toBe(true); // reserved: notify
    expect(packedEventFires(ev(2, 3, 1), 0, 4, 8, true)).toBe(true); // slot 3 lap 1 in [0, 4)
    expect(packedEventFires(ev(2, 4, 1), 0, 4, 8, true)).toBe(false);
    expect(packedEventFires(ev(2, 3, 0), 0, 4, 8, true)).toBe(false); // same slot, other lap
    // From lap index 14 by 4: slots 6, 7 with wrap 0, then slots 0, 1 with wrap 1.
    expect(packedEventFires(ev(2, 7, 0), 14, 4, 8, true)).toBe(true);
    expect(packedEventFires(ev(2, 1, 0), 14, 4, 8, true)).toBe(false);
    expect(packedEventFires(ev(2, 1, 1), 14, 4, 8, true)).toBe(true);
    expect(packedEventFires(ev(2, 2, 1), 14, 4, 8, true)).toBe(false);
    expect(packedEventFires(ev(2, 4, 1), 0, 4, 8, false)).toBe(true); // DESC without EVENT_IDX: treated as ENABLE
  });
});

describe("set-up validation (§2.8, §2.8.10.1)", () => {
  const mem = new GuestMemory([{ gpa: GUEST_BASE, buffer: new ArrayBuffer(1 << 20) }]);
  const l = packedRingLayout(256, GUEST_BASE);
  const make = (size: number, desc = l.descAddr, drv = l.driverEventAddr, dev = l.deviceEventAddr, f = F_PACKED): PackedDriver =>
    new PackedDriver(mem, size, desc, drv, dev, f);
  const sized = (size: number): PackedDriver => {
    const ls = packedRingLayout(size, GUEST_BASE);
    return make(size, ls.descAddr, ls.driverEventAddr, ls.deviceEventAddr);
  };
  const kind = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      return e instanceof VirtioError ? e.kind : "other";
    }
    return "none";
  };

  it("refuses queue sizes 0, > 32768 and non-integers", () => {
    expect(kind(() => make(0))).toBe("malformed");
    expect(kind(() => make(32769))).toBe("malformed");
    expect(kind(() => make(2.5))).toBe("malformed");
    expect(kind(() => new PackedDevice(mem, 0, l.descAddr, l.driverEventAddr, l.deviceEventAddr, F_PACKED))).toBe("malformed");
  });

  it("accepts sizes that are not a power of two (§2.8.10.1: only a transport may require one) and the maximum", () => {
    expect(kind(() => sized(1))).toBe("none");
    expect(kind(() => sized(3))).toBe("none");
    expect(kind(() => sized(1000))).toBe("none");
    const lb = packedRingLayout(32768, 0);
    const big = new GuestMemory([{ gpa: 0, buffer: new ArrayBuffer(lb.end) }]);
    expect(() => new PackedDevice(big, 32768, lb.descAddr, lb.driverEventAddr, lb.deviceEventAddr, F_PACKED)).not.toThrow();
  });

  it("refuses misaligned parts: ring not 16-aligned, event areas not 4-aligned", () => {
    expect(kind(() => make(8, l.descAddr + 8))).toBe("malformed");
    expect(kind(() => make(8, l.descAddr, l.driverEventAddr + 2))).toBe("malformed");
    expect(kind(() => make(8, l.descAddr, l.driverEventAddr, l.deviceEventAddr + 1))).toBe("malformed");
  });

  it("refuses unmapped and overlapping parts", () => {
    expect(kind(() => make(8, 0))).toBe("transport");
    expect(kind(() => make(256, GUEST_BASE + (1 << 20) - 16 * 100))).toBe("transport"); // runs off the region
    expect(kind(() => make(8, l.descAddr, l.descAddr + 16))).toBe("malformed");
  });

  it("refuses features without VIRTIO_F_RING_PACKED", () => {
    expect(kind(() => make(8, l.descAddr, l.driverEventAddr, l.deviceEventAddr, 0n))).toBe("negotiation");
  });

  it("refuses a ring whose host bytes are not 4-aligned", () => {
    const odd = new GuestMemory([{ gpa: 0, buffer: new ArrayBuffer(8192), offset: 1, size: 8000 }]);
    const lo = packedRingLayout(8, 0);
    expect(kind(() => new PackedDriver(odd, 8, lo.descAddr, lo.driverEventAddr, lo.deviceEventAddr, F_PACKED))).toBe("transport");
  });

  it("refuses an indirect table area that is misaligned, unmapped, too large per table or overlaps the ring", () => {
    const f = F_PACKED | F_INDIRECT;
    const drv = (addr: number, entries: number): PackedDriver =>
      new PackedDriver(mem, 8, l.descAddr, l.driverEventAddr, l.deviceEventAddr, f, { indirectAddr: addr, indirectEntries: entries });
    const ok = GUEST_BASE + 0x8000;
    expect(kind(() => drv(ok, 4))).toBe("none");
    expect(kind(() => drv(ok + 8, 4))).toBe("usage");
    expect(kind(() => drv(ok, 9))).toBe("usage");
    expect(kind(() => drv(l.descAddr + 64, 4))).toBe("usage");
    expect(kind(() => drv(GUEST_BASE + (1 << 20) - 64, 4))).toBe("transport");
  });

  it("add() refuses impossible buffers with a usage error", () => {
    const r = makeRing(4);
    const s = scratch();
    expect(kind(() => r.driver.add(s.addrs, s.lens, 0, 0, 1))).toBe("usage");
    expect(kind(() => r.driver.add(s.addrs, s.lens, 5, 0, 1))).toBe("usage");
    expect(kind(() => r.driver.add(s.addrs, s.lens, 1, 0, -1))).toBe("usage");
    s.addrs[0] = 2 ** 53;
    expect(kind(() => r.driver.add(s.addrs, s.lens, 1, 0, 1))).toBe("usage");
  });
});
