/**
 * Split virtqueue behaviour between a well-behaved driver and the device
 * (virtio 1.2 §2.7): bytes the driver writes (§2.7.5, §2.7.6, §2.7.13),
 * chains, indirect tables (§2.7.5.3), used elements (§2.7.8), 16-bit index
 * wrap (§2.7.13.3), and notification suppression with flags (§2.7.7,
 * §2.7.10) and with event indices.
 */
import { describe, expect, it } from "vitest";
import { readFromChain, writeToChain } from "../src/chain.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from "../src/features.js";
import { availEventOffset, availRingOffset, usedEventOffset, usedRingOffset, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from "../src/layout.js";
import { newDescChains } from "../src/split.js";
import { MockDriver } from "../src/testing.js";

const BASIC = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC;
const frame = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe("driver writes the spec's bytes", () => {
  it("one readable buffer: descriptor, avail.ring[0], avail.idx (§2.7.5, §2.7.13.2, §2.7.13.3)", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    const tok = m.send(frame(100));
    expect(tok).toBeGreaterThanOrEqual(0);
    const { desc, avail } = m.layout;
    // Not yet published: idx still 0, the ring entry is already written.
    expect(m.mem.readU16(avail + 2)).toBe(0);
    expect(m.publish()).toBe(true);
    expect(m.mem.readU16(avail + 2)).toBe(1);
    const head = m.mem.readU16(avail + availRingOffset(0));
    expect(head).toBe(0);
    expect(m.mem.readU64(desc + 16 * head)).toBe(BigInt(m.bufferGpa(tok)));
    expect(m.mem.readU32(desc + 16 * head + 8)).toBe(100);
    expect(m.mem.readU16(desc + 16 * head + 12)).toBe(0);
  });

  it("a two-part chain: readable then writable, NEXT links them (§2.7.13.1)", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    const tok = m.send(frame(40), { writable: 60 });
    m.publish();
    const { desc } = m.layout;
    expect(m.mem.readU16(desc + 12)).toBe(VIRTQ_DESC_F_NEXT);
    const next = m.mem.readU16(desc + 14);
    expect(next).toBe(1);
    expect(m.mem.readU16(desc + 16 * next + 12)).toBe(VIRTQ_DESC_F_WRITE);
    expect(m.mem.readU32(desc + 16 * next + 8)).toBe(60);
    expect(m.mem.readU64(desc + 16 * next)).toBe(BigInt(m.bufferGpa(tok) + 40));
  });

  it("an indirect buffer: one INDIRECT descriptor pointing at a table of 16-byte entries (§2.7.5.3)", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    m.send(frame(90), { segments: 3, indirect: true });
    m.publish();
    const { desc } = m.layout;
    expect(m.mem.readU16(desc + 12)).toBe(VIRTQ_DESC_F_INDIRECT);
    expect(m.mem.readU32(desc + 8)).toBe(48);
    const table = Number(m.mem.readU64(desc));
    expect([0, 1, 2].map((i) => m.mem.readU32(table + 16 * i + 8))).toEqual([30, 30, 30]);
    expect([0, 1, 2].map((i) => m.mem.readU16(table + 16 * i + 12))).toEqual([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_NEXT, 0]);
    expect([0, 1].map((i) => m.mem.readU16(table + 16 * i + 14))).toEqual([1, 2]);
    expect(m.driver.freeDescriptors).toBe(7);
  });

  it("falls back to direct descriptors when indirect was not negotiated", () => {
    const m = new MockDriver({ size: 8, features: VIRTIO_F_VERSION_1 });
    expect(m.driver.indirectEnabled).toBe(false);
    m.send(frame(90), { segments: 3, indirect: true });
    expect(m.driver.freeDescriptors).toBe(5);
    expect(m.mem.readU16(m.layout.desc + 12) & VIRTQ_DESC_F_INDIRECT).toBe(0);
  });
});

describe("device pops what the driver added", () => {
  it("transmit: readable segments, bytes and id; used element {id, len} (§2.7.8)", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    const dev = m.createDevice();
    const chains = newDescChains(8, 8);
    const sent = [frame(64, 1), frame(1514, 2), frame(60, 3)];
    m.send(sent[0]!);
    m.send(sent[1]!, { segments: 4 });
    m.send(sent[2]!, { segments: 2, indirect: true });
    m.publish();
    expect(dev.pending()).toBe(3);
    expect(dev.popBurst(chains, 32)).toBe(3);
    for (let i = 0; i < 3; i++) {
      const c = chains[i]!;
      expect(c.readable).toBe(c.count);
      expect(c.readBytes).toBe(sent[i]!.length);
      expect(c.writeBytes).toBe(0);
      const got = new Uint8Array(c.readBytes);
      expect(readFromChain(m.mem, c, 0, got, 0, got.length)).toBe(got.length);
      expect(got).toEqual(sent[i]);
    }
    expect(chains[1]!.count).toBe(4);
    expect(chains[2]!.ringDescs).toBe(1);
    for (let i = 0; i < 3; i++) dev.pushUsed(chains[i]!, 0);
    // Nothing visible before publishUsed.
    expect(m.mem.readU16(m.layout.used + 2)).toBe(0);
    dev.publishUsed();
    expect(m.mem.readU16(m.layout.used + 2)).toBe(3);
    expect(m.mem.readU32(m.layout.used + usedRingOffset(1))).toBe(chains[1]!.id);
    const done = m.reclaim();
    expect(done.map((d) => d.data)).toEqual(sent);
    expect(m.driver.freeDescriptors).toBe(8);
    expect(dev.stats.chains).toBe(3);
    expect(dev.stats.descriptors).toBe(1 + 4 + 2 + 1);
    expect(m.driver.stats.used).toBe(3);
  });

  it("receive: the device writes into writable segments and reports len (§2.7.8.2)", () => {
    const m = new MockDriver({ size: 16, features: BASIC });
    const dev = m.createDevice();
    const chains = newDescChains(16, 16);
    expect(m.post(3, { len: 1600, segments: 2 })).toBe(3);
    m.post(1, { len: 1600, segments: 4, indirect: true });
    m.publish();
    expect(dev.popBurst(chains, 16)).toBe(4);
    const payloads = [frame(70, 9), frame(1500, 8), frame(1600, 7), frame(333, 6)];
    for (let i = 0; i < 4; i++) {
      const c = chains[i]!;
      expect(c.readable).toBe(0);
      expect(c.writeBytes).toBe(1600);
      expect(writeToChain(m.mem, c, 0, payloads[i]!, 0, payloads[i]!.length)).toBe(payloads[i]!.length);
      dev.pushUsed(c, payloads[i]!.length);
    }
    dev.publishUsed();
    const got = m.reclaim();
    expect(got.map((g) => g.len)).toEqual([70, 1500, 1600, 333]);
    expect(got.map((g) => g.data)).toEqual(payloads);
  });

  it("completions may come back in any order; tokens follow their buffers", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    const dev = m.createDevice();
    const chains = newDescChains(8, 8);
    const toks = [m.send(frame(10, 1)), m.send(frame(20, 2)), m.send(frame(30, 3))];
    m.publish();
    dev.popBurst(chains, 8);
    dev.pushUsed(chains[2]!, 0);
    dev.pushUsed(chains[0]!, 0);
    dev.pushUsed(chains[1]!, 0);
    dev.publishUsed();
    const got = m.reclaim();
    expect(got.map((g) => g.token)).toEqual([toks[2], toks[0], toks[1]]);
    expect(got.map((g) => g.data.length)).toEqual([30, 10, 20]);
  });

  it("fills the ring, refuses more, and reuses descriptors after reclaim", () => {
    const m = new MockDriver({ size: 4, features: BASIC, buffers: 16 });
    const dev = m.createDevice();
    const chains = newDescChains(4, 4);
    expect(m.send(frame(10), { segments: 2 })).toBeGreaterThanOrEqual(0);
    expect(m.send(frame(10), { segments: 2 })).toBeGreaterThanOrEqual(0);
    expect(m.send(frame(10))).toBe(-1);
    expect(m.driver.freeDescriptors).toBe(0);
    m.publish();
    expect(dev.popBurst(chains, 4)).toBe(2);
    dev.pushUsed(chains[0]!, 0);
    dev.pushUsed(chains[1]!, 0);
    dev.publishUsed();
    expect(m.reclaim()).toHaveLength(2);
    expect(m.driver.freeDescriptors).toBe(4);
    for (let i = 0; i < 4; i++) expect(m.send(frame(5))).toBeGreaterThanOrEqual(0);
  });

  it("popBurst honours max and the chains array length", () => {
    const m = new MockDriver({ size: 16, features: BASIC });
    const dev = m.createDevice();
    for (let i = 0; i < 10; i++) m.send(frame(10));
    m.publish();
    expect(dev.popBurst(newDescChains(3, 16), 32)).toBe(3);
    expect(dev.popBurst(newDescChains(8, 16), 4)).toBe(4);
    expect(dev.pending()).toBe(3);
    expect(dev.popBurst(newDescChains(8, 16), 32)).toBe(3);
    expect(dev.popBurst(newDescChains(8, 16), 32)).toBe(0);
  });
});

describe("16-bit index wrap (§2.7.13.3: idx wraps naturally at 65536)", () => {
  for (const base of [65530, 65535, 0xfff0]) {
    it(`runs 3 laps of a size-4 ring from base ${base}`, () => {
      const m = new MockDriver({ size: 4, features: BASIC | VIRTIO_F_EVENT_IDX, base });
      const dev = m.createDevice();
      const chains = newDescChains(4, 4);
      let seq = 0;
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 2; i++) m.send(frame(20, seq++));
        m.publish();
        expect(dev.popBurst(chains, 4)).toBe(2);
        dev.pushUsed(chains[0]!, 0);
        dev.pushUsed(chains[1]!, 0);
        dev.publishUsed();
        expect(m.reclaim()).toHaveLength(2);
      }
      expect(m.mem.readU16(m.layout.avail + 2)).toBe((base + 12) & 0xffff);
      expect(m.mem.readU16(m.layout.used + 2)).toBe((base + 12) & 0xffff);
      expect(dev.lastAvailIdx).toBe((base + 12) & 0xffff);
      expect(dev.broken || m.driver.broken).toBe(false);
    });
  }
});

describe("notification suppression without EVENT_IDX (flags)", () => {
  it("driver kicks unless VIRTQ_USED_F_NO_NOTIFY; device interrupts unless VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7, §2.7.10)", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    const dev = m.createDevice();
    const chains = newDescChains(8, 8);
    m.send(frame(10));
    expect(m.publish()).toBe(true);
    dev.setNotify(false);
    expect(m.mem.readU16(m.layout.used)).toBe(1);
    m.send(frame(10));
    expect(m.publish()).toBe(false);
    expect(m.driver.stats.notificationsSuppressed).toBe(1);
    dev.setNotify(true);
    m.send(frame(10));
    expect(m.publish()).toBe(true);
    // Publishing nothing new never kicks.
    expect(m.publish()).toBe(false);

    expect(dev.popBurst(chains, 8)).toBe(3);
    dev.pushUsed(chains[0]!, 0);
    expect(dev.publishUsed()).toBe(true);
    m.driver.setNotify(false);
    expect(m.mem.readU16(m.layout.avail)).toBe(1);
    dev.pushUsed(chains[1]!, 0);
    expect(dev.publishUsed()).toBe(false);
    m.driver.setNotify(true);
    dev.pushUsed(chains[2]!, 0);
    expect(dev.publishUsed()).toBe(true);
    expect(dev.publishUsed()).toBe(false);
    expect(dev.stats.notifications).toBe(2);
    expect(dev.stats.notificationsSuppressed).toBe(1);
  });
});

describe("notification suppression with EVENT_IDX", () => {
  const F = BASIC | VIRTIO_F_EVENT_IDX;
  it("the device writes avail_event = next entry it will read; the driver kicks only when it crosses it (§2.7.10)", () => {
    const m = new MockDriver({ size: 8, features: F });
    const dev = m.createDevice();
    const chains = newDescChains(8, 8);
    const availEvent = () => m.mem.readU16(m.layout.used + availEventOffset(8));
    m.send(frame(10));
    expect(m.publish()).toBe(true); // avail_event 0 is in [0, 1)
    m.send(frame(10));
    expect(m.publish()).toBe(false); // 0 not in [1, 2)
    expect(dev.popBurst(chains, 8)).toBe(2);
    expect(availEvent()).toBe(2);
    m.send(frame(10));
    m.send(frame(10));
    expect(m.publish()).toBe(true); // 2 in [2, 4)
    dev.setNotify(false);
    expect(dev.popBurst(chains, 8)).toBe(2);
    expect(availEvent()).toBe(2); // not updated while disabled
    m.send(frame(10));
    expect(m.publish()).toBe(false);
    dev.setNotify(true);
    expect(availEvent()).toBe(4);
    expect(dev.pending()).toBe(1); // the caller re-checks after enabling
    // used flags stay 0 with EVENT_IDX (§2.7.10.2)
    expect(m.mem.readU16(m.layout.used)).toBe(0);
  });

  it("the driver writes used_event = next used entry it will read; the device interrupts when it crosses it (§2.7.7)", () => {
    const m = new MockDriver({ size: 8, features: F });
    const dev = m.createDevice();
    const chains = newDescChains(8, 8);
    const usedEvent = () => m.mem.readU16(m.layout.avail + usedEventOffset(8));
    for (let i = 0; i < 6; i++) m.send(frame(10));
    m.publish();
    dev.popBurst(chains, 8);
    dev.pushUsed(chains[0]!, 0);
    expect(dev.publishUsed()).toBe(true); // used_event 0 in [0, 1)
    dev.pushUsed(chains[1]!, 0);
    expect(dev.publishUsed()).toBe(false); // 0 not in [1, 2)
    expect(m.reclaim()).toHaveLength(2);
    expect(usedEvent()).toBe(2);
    dev.pushUsed(chains[2]!, 0);
    dev.pushUsed(chains[3]!, 0);
    expect(dev.publishUsed()).toBe(true); // 2 in [2, 4)
    m.driver.setNotify(false);
    expect(m.reclaim()).toHaveLength(2);
    expect(usedEvent()).toBe(2);
    dev.pushUsed(chains[4]!, 0);
    expect(dev.publishUsed()).toBe(false);
    m.driver.setNotify(true);
    expect(usedEvent()).toBe(4);
    expect(m.driver.usedPending()).toBe(1);
    dev.pushUsed(chains[5]!, 0);
    expect(dev.publishUsed()).toBe(false); // entry 4 was already published before used_event moved to 4
    expect(m.mem.readU16(m.layout.avail)).toBe(0); // avail flags stay 0 with EVENT_IDX (§2.7.7.1)
  });
});

describe("driver side: a hostile device's used ring", () => {
  it("an id that is out of range breaks the driver queue as bad_used_id, without throwing", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    m.send(frame(10));
    m.publish();
    m.mem.writeU32(m.layout.used + usedRingOffset(0), 99);
    m.mem.writeU16(m.layout.used + 2, 1);
    expect(m.reclaim()).toEqual([]);
    expect(m.driver.broken).toBe(true);
    expect(m.driver.brokenBy).toBe("bad_used_id");
    expect(m.driver.stats.faults.bad_used_id).toBe(1);
    expect(m.send(frame(10))).toBe(-1);
  });

  it("an id that is not in flight (completed twice) is bad_used_id", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    m.send(frame(10));
    m.publish();
    m.mem.writeU32(m.layout.used + usedRingOffset(0), 0);
    m.mem.writeU32(m.layout.used + usedRingOffset(1), 0);
    m.mem.writeU16(m.layout.used + 2, 1);
    expect(m.reclaim()).toHaveLength(1);
    m.send(frame(10)); // takes descriptor 1, so 0 is free
    m.publish();
    m.mem.writeU16(m.layout.used + 2, 2);
    expect(m.reclaim()).toEqual([]);
    expect(m.driver.brokenBy).toBe("bad_used_id");
  });

  it("used.idx beyond what was made available is bad_used_id", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    m.send(frame(10));
    m.publish();
    m.mem.writeU16(m.layout.used + 2, 2);
    expect(m.reclaim()).toEqual([]);
    expect(m.driver.brokenBy).toBe("bad_used_id");
  });

  it("len larger than the writable part is clamped and counted as used_len_too_big, queue stays usable", () => {
    const m = new MockDriver({ size: 8, features: BASIC });
    m.post(1, { len: 100 });
    m.publish();
    m.mem.writeU32(m.layout.used + usedRingOffset(0), 0);
    m.mem.writeU32(m.layout.used + usedRingOffset(0) + 4, 5000);
    m.mem.writeU16(m.layout.used + 2, 1);
    const got = m.reclaim();
    expect(got[0]!.len).toBe(100);
    expect(m.driver.stats.faults.used_len_too_big).toBe(1);
    expect(m.driver.broken).toBe(false);
  });
});

describe("MockDriver inside existing guest memory", () => {
  it("lays out rings and buffers from the given address and refuses memory that is too small", async () => {
    const { GuestMemory } = await import("../src/memory.js");
    const probe = new MockDriver({ size: 8 });
    const mem = GuestMemory.shared(probe.bytesNeeded + 0x1000, 0x20000);
    const m = new MockDriver({ size: 8, memory: mem, gpa: 0x20000 });
    expect(m.mem).toBe(mem);
    expect(m.layout.desc).toBe(0x20000);
    const dev = m.createDevice();
    m.send(frame(50));
    m.publish();
    expect(dev.popBurst(newDescChains(1, 8), 1)).toBe(1);
    expect(() => new MockDriver({ size: 8, memory: mem, gpa: 0x20000 + 0x2000 })).toThrow(/mapped bytes/);
  });
});
