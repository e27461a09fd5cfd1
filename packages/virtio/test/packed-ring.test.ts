/**
 * Packed virtqueue behaviour between a well-behaved driver and device
 * (virtio 1.2 §2.8): completion in and out of order, lists, indirect tables
 * in both directions, VIRTIO_F_IN_ORDER batches, event suppression.
 */
import { describe, expect, it } from "vitest";
import { F_EVENT_IDX, F_IN_ORDER, F_INDIRECT, F_PACKED, RawRing, makeRing, scratch, usedFlags, type Ring } from "./packed-fixture.js";

function addSingle(r: Ring, token: number, len: number, writable = false): boolean {
  const s = scratch(1);
  s.addrs[0] = r.dataBase + (token % 40) * 1536;
  s.lens[0] = len;
  return r.driver.add(s.addrs, s.lens, writable ? 0 : 1, writable ? 1 : 0, token);
}

describe("completion order", () => {
  it("in-order completion returns tokens and lengths in order", () => {
    const r = makeRing(16);
    for (let i = 0; i < 10; i++) expect(addSingle(r, 100 + i, 1500, true)).toBe(true);
    expect(r.driver.freeDescriptors).toBe(6);
    r.driver.publish();
    expect(r.device.pending()).toBe(10);
    expect(r.device.popBurst(r.chains, 32)).toBe(10);
    for (let i = 0; i < 10; i++) r.device.pushUsed(r.chains[i]!, 60 + i);
    r.device.publishUsed();
    const s = scratch();
    expect(r.driver.reclaim(s.tokens, s.outLens, 32)).toBe(10);
    expect(Array.from(s.tokens.subarray(0, 10))).toEqual([...Array(10).keys()].map((i) => 100 + i));
    expect(Array.from(s.outLens.subarray(0, 10))).toEqual([...Array(10).keys()].map((i) => 60 + i));
    expect(r.driver.freeDescriptors).toBe(16);
  });

  it("a burst completed in reverse order: the driver reclaims the right tokens and lengths", () => {
    const r = makeRing(8);
    const s = scratch();
    for (let round = 0; round < 5; round++) {
      // Mixed lists: 1, 2 and 3 descriptors, so slots skipped differ per buffer.
      const added: number[] = [];
      for (let i = 0; i < 3; i++) {
        const n = i + 1;
        for (let k = 0; k < n; k++) {
          s.addrs[k] = r.dataBase + 4096 * i + 512 * k;
          s.lens[k] = 100 * (k + 1);
        }
        const token = round * 10 + i;
        expect(r.driver.add(s.addrs, s.lens, 0, n, token)).toBe(true);
        added.push(token);
      }
      r.driver.publish();
      expect(r.device.popBurst(r.chains, 32)).toBe(3);
      expect(r.chains.slice(0, 3).map((c) => c.ringDescs)).toEqual([1, 2, 3]);
      for (let i = 2; i >= 0; i--) r.device.pushUsed(r.chains[i]!, r.chains[i]!.writeBytes - 1);
      r.device.publishUsed();
      const n = r.driver.reclaim(s.tokens, s.outLens, 32);
      expect(n).toBe(3);
      expect(Array.from(s.tokens.subarray(0, 3))).toEqual(added.slice().reverse());
      expect(Array.from(s.outLens.subarray(0, 3))).toEqual([599, 299, 99]);
      expect(r.driver.freeDescriptors).toBe(8);
    }
  });

  it("partial completion: a buffer held by the device keeps its slots until it is used", () => {
    const r = makeRing(4);
    const s = scratch();
    for (let i = 0; i < 4; i++) addSingle(r, i, 64);
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 4)).toBe(4);
    const held = r.chains[0]!;
    for (let i = 1; i < 4; i++) r.device.pushUsed(r.chains[i]!, 0);
    r.device.publishUsed();
    expect(r.driver.reclaim(s.tokens, s.outLens, 8)).toBe(3);
    expect(r.driver.freeDescriptors).toBe(3);
    // Refill three slots, then complete the held one.
    for (let i = 4; i < 7; i++) expect(addSingle(r, i, 64)).toBe(true);
    expect(addSingle(r, 7, 64)).toBe(false);
    r.driver.publish();
    const more = r.chains.slice(1);
    expect(r.device.popBurst(more, 8)).toBe(3);
    r.device.pushUsed(held, 0);
    for (let i = 0; i < 3; i++) r.device.pushUsed(more[i]!, 0);
    r.device.publishUsed();
    expect(r.driver.reclaim(s.tokens, s.outLens, 8)).toBe(4);
    expect(Array.from(s.tokens.subarray(0, 4))).toEqual([0, 4, 5, 6]);
  });

  it("reclaim honours max and continues where it stopped", () => {
    const r = makeRing(8);
    const s = scratch();
    for (let i = 0; i < 6; i++) addSingle(r, i, 64);
    r.driver.publish();
    r.device.popBurst(r.chains, 8);
    for (let i = 0; i < 6; i++) r.device.pushUsed(r.chains[i]!, 0);
    r.device.publishUsed();
    expect(r.driver.reclaim(s.tokens, s.outLens, 4)).toBe(4);
    expect(r.driver.reclaim(s.tokens, s.outLens, 4)).toBe(2);
    expect(Array.from(s.tokens.subarray(0, 2))).toEqual([4, 5]);
  });

  it("popBurst honours max and the number of chains; pending() counts complete lists only", () => {
    const r = makeRing(8);
    const s = scratch();
    s.addrs.fill(r.dataBase);
    s.lens.fill(10);
    r.driver.add(s.addrs, s.lens, 2, 0, 1);
    r.driver.add(s.addrs, s.lens, 1, 0, 2);
    r.driver.add(s.addrs, s.lens, 3, 1, 3);
    expect(r.device.pending()).toBe(0); // nothing published yet
    r.driver.publish();
    expect(r.device.pending()).toBe(3);
    expect(r.device.popBurst(r.chains, 1)).toBe(1);
    expect(r.device.pending()).toBe(2);
    expect(r.device.popBurst(r.chains.slice(0, 1), 8)).toBe(1);
    expect(r.device.popBurst(r.chains, 8)).toBe(1);
    expect(r.chains[0]!.count).toBe(4);
    expect(r.chains[0]!.readable).toBe(3);
    expect(r.device.inFlight).toBe(7);
  });
});

describe("device chains carry the driver's segments", () => {
  it("segments: region, offset, addr, len; readable then writable byte counts", () => {
    const r = makeRing(8);
    const s = scratch();
    s.addrs.set([r.dataBase + 16, r.dataBase + 1000, r.dataBase + 3000]);
    s.lens.set([12, 100, 1500]);
    r.driver.add(s.addrs, s.lens, 2, 1, 5);
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 1)).toBe(1);
    const c = r.chains[0]!;
    expect([c.count, c.readable, c.readBytes, c.writeBytes, c.ringDescs]).toEqual([3, 2, 112, 1500, 3]);
    expect(Array.from(c.addr.subarray(0, 3))).toEqual([r.dataBase + 16, r.dataBase + 1000, r.dataBase + 3000]);
    expect(Array.from(c.len.subarray(0, 3))).toEqual([12, 100, 1500]);
    expect(c.region[0]).toBe(0);
    expect(c.offset[0]).toBe(r.dataBase + 16 - r.mem.regions[0]!.gpa);
  });
});

describe("indirect descriptors (§2.8.7)", () => {
  it("device-readable (transmit) and device-writable (receive) tables, one ring slot each", () => {
    const r = makeRing(4, { features: F_PACKED | F_INDIRECT, indirectEntries: 4 });
    const s = scratch();
    const payload = r.mem.slice(r.dataBase, 64);
    payload.set([1, 2, 3, 4]);
    // TX: two readable elements.
    s.addrs.set([r.dataBase, r.dataBase + 32]);
    s.lens.set([32, 32]);
    expect(r.driver.add(s.addrs, s.lens, 2, 0, 11, true)).toBe(true);
    // RX: a header element and a data element, both writable.
    s.addrs.set([r.dataBase + 4096, r.dataBase + 4096 + 12]);
    s.lens.set([12, 1514]);
    expect(r.driver.add(s.addrs, s.lens, 0, 2, 12, true)).toBe(true);
    expect(r.driver.freeDescriptors).toBe(2);
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 4)).toBe(2);
    const [tx, rx] = r.chains as [(typeof r.chains)[0], (typeof r.chains)[0]];
    expect([tx.count, tx.readable, tx.readBytes, tx.writeBytes, tx.ringDescs]).toEqual([2, 2, 64, 0, 1]);
    expect([rx.count, rx.readable, rx.readBytes, rx.writeBytes, rx.ringDescs]).toEqual([2, 0, 0, 1526, 1]);
    expect(Array.from(r.mem.regions[tx.region[0]!]!.bytes.subarray(tx.offset[0]!, tx.offset[0]! + 4))).toEqual([1, 2, 3, 4]);
    r.mem.regions[rx.region[1]!]!.bytes.set([9, 9, 9], rx.offset[1]!);
    r.device.pushUsed(rx, 12 + 3);
    r.device.pushUsed(tx, 0);
    r.device.publishUsed();
    expect(r.device.stats.descriptors).toBe(6); // 2 ring descriptors + 4 table entries
    const n = r.driver.reclaim(s.tokens, s.outLens, 8);
    expect(n).toBe(2);
    expect([s.tokens[0], s.outLens[0], s.tokens[1], s.outLens[1]]).toEqual([12, 15, 11, 0]);
    expect(Array.from(r.mem.slice(r.dataBase + 4096 + 12, 3))).toEqual([9, 9, 9]);
    expect(r.driver.freeDescriptors).toBe(4);
  });

  it("falls back to direct descriptors when the table is too small or the feature is off", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT, indirectEntries: 2 });
    const s = scratch();
    s.addrs.fill(r.dataBase);
    s.lens.fill(8);
    r.driver.add(s.addrs, s.lens, 3, 0, 1, true);
    expect(r.driver.freeDescriptors).toBe(5);
    const plain = makeRing(8, { indirectEntries: 4 }); // INDIRECT_DESC not negotiated
    plain.driver.add(s.addrs, s.lens, 2, 0, 1, true);
    expect(plain.driver.freeDescriptors).toBe(6);
    plain.driver.publish();
    expect(new RawRing(plain.mem, plain.layout.descAddr, 8).flags(0) & 4).toBe(0);
  });

  it("indirect and direct buffers mix in one ring (§2.8.5)", () => {
    const r = makeRing(8, { features: F_PACKED | F_INDIRECT, indirectEntries: 4 });
    const s = scratch();
    s.addrs.fill(r.dataBase);
    s.lens.fill(8);
    for (let i = 0; i < 12; i++) {
      expect(r.driver.add(s.addrs, s.lens, 1, 1, i, i % 2 === 0)).toBe(true);
      r.driver.publish();
      expect(r.device.popBurst(r.chains, 1)).toBe(1);
      expect(r.chains[0]!.count).toBe(2);
      expect(r.chains[0]!.ringDescs).toBe(i % 2 === 0 ? 1 : 2);
      r.device.pushUsed(r.chains[0]!, 8);
      r.device.publishUsed();
      expect(r.driver.reclaim(s.tokens, s.outLens, 4)).toBe(1);
      expect(s.tokens[0]).toBe(i);
    }
  });
});

describe("VIRTIO_F_IN_ORDER (§2.8.8)", () => {
  it("the driver accepts one used descriptor for a batch; skipped buffers report their full writable length", () => {
    const r = makeRing(8, { features: F_PACKED | F_IN_ORDER, inOrderBatch: true });
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    const s = scratch();
    for (let i = 0; i < 4; i++) {
      s.addrs[0] = r.dataBase;
      s.addrs[1] = r.dataBase + 100;
      s.lens[0] = 10;
      s.lens[1] = 1000 + i;
      r.driver.add(s.addrs, s.lens, 1, 1, 50 + i); // two slots each
    }
    r.driver.publish();
    expect(r.device.popBurst(r.chains, 8)).toBe(4);
    for (let i = 0; i < 4; i++) r.device.pushUsed(r.chains[i]!, 7);
    r.device.publishUsed();
    // One used descriptor, in slot 0, with the id of the last buffer; slots 2, 4, 6 untouched.
    expect(raw.flags(0)).toBe(usedFlags(1, 2));
    expect(raw.id(0)).toBe(r.chains[3]!.id);
    expect(raw.flags(2) & 0x8080).toBe(0x0080);
    expect(r.device.usedState).toEqual({ pos: 0, wrap: 0 });
    expect(r.driver.reclaim(s.tokens, s.outLens, 2)).toBe(2); // part of the batch
    expect(r.driver.reclaim(s.tokens.subarray(2), s.outLens.subarray(2), 8)).toBe(2);
    expect(Array.from(s.tokens.subarray(0, 4))).toEqual([50, 51, 52, 53]);
    expect(Array.from(s.outLens.subarray(0, 4))).toEqual([1000, 1001, 1002, 7]);
    expect(r.driver.freeDescriptors).toBe(8);
    expect(r.driver.usedState).toEqual({ pos: 0, wrap: 0 });
  });

  it("the driver also takes per-buffer used descriptors under IN_ORDER", () => {
    const r = makeRing(8, { features: F_PACKED | F_IN_ORDER });
    const s = scratch();
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 3; i++) addSingle(r, round * 3 + i, 100, true);
      r.driver.publish();
      expect(r.device.popBurst(r.chains, 8)).toBe(3);
      for (let i = 0; i < 3; i++) r.device.pushUsed(r.chains[i]!, i + 1);
      r.device.publishUsed();
      expect(r.driver.reclaim(s.tokens, s.outLens, 8)).toBe(3);
      expect(Array.from(s.tokens.subarray(0, 3))).toEqual([0, 1, 2].map((i) => round * 3 + i));
      expect(Array.from(s.outLens.subarray(0, 3))).toEqual([1, 2, 3]);
    }
  });

  it("inOrderBatch is inert without VIRTIO_F_IN_ORDER", () => {
    const r = makeRing(8, { inOrderBatch: true });
    const raw = new RawRing(r.mem, r.layout.descAddr, 8);
    for (let i = 0; i < 2; i++) addSingle(r, i, 64);
    r.driver.publish();
    r.device.popBurst(r.chains, 8);
    r.device.pushUsed(r.chains[0]!, 0);
    r.device.pushUsed(r.chains[1]!, 0);
    r.device.publishUsed();
    expect([raw.flags(0), raw.flags(1)]).toEqual([usedFlags(1), usedFlags(1)]);
  });
});

describe("event suppression (§2.8.10)", () => {
  it("available buffer notifications: ENABLE kicks, DISABLE does not", () => {
    const r = makeRing(8);
    addSingle(r, 1, 64);
    expect(r.driver.publish()).toBe(true);
    expect(r.driver.publish()).toBe(false); // nothing new
    r.device.setNotify(false);
    addSingle(r, 2, 64);
    expect(r.driver.publish()).toBe(false);
    r.device.setNotify(true);
    addSingle(r, 3, 64);
    expect(r.driver.publish()).toBe(true);
    expect([r.driver.stats.notifications, r.driver.stats.notificationsSuppressed]).toEqual([2, 1]);
  });

  it("used buffer notifications: ENABLE interrupts, DISABLE does not", () => {
    const r = makeRing(8);
    for (let i = 0; i < 3; i++) addSingle(r, i, 64);
    r.driver.publish();
    r.device.popBurst(r.chains, 8);
    r.device.pushUsed(r.chains[0]!, 0);
    expect(r.device.publishUsed()).toBe(true);
    r.driver.setNotify(false);
    r.device.pushUsed(r.chains[1]!, 0);
    expect(r.device.publishUsed()).toBe(false);
    r.driver.setNotify(true);
    r.device.pushUsed(r.chains[2]!, 0);
    expect(r.device.publishUsed()).toBe(true);
    expect(r.device.publishUsed()).toBe(false);
  });

  it("EVENT_IDX desc mode: the device asks for a kick at its next slot; popping moves it", () => {
    const r = makeRing(4, { features: F_PACKED | F_EVENT_IDX });
    r.device.setNotify(true); // DESC at (0, wrap 1)
    addSingle(r, 1, 64);
    addSingle(r, 2, 64);
    expect(r.driver.publish()).toBe(true); // passed slot 0
    addSingle(r, 3, 64);
    expect(r.driver.publish()).toBe(false); // slot 2: the device has not caught up, no new kick needed
    expect(r.device.popBurst(r.chains, 8)).toBe(3); // event moves to (3, 1)
    addSingle(r, 4, 64);
    expect(r.driver.publish()).toBe(true);
  });

  it("EVENT_IDX desc mode: the driver's used event follows reclaim across wraps", () => {
    const size = 3;
    const r = makeRing(size, { features: F_PACKED | F_EVENT_IDX });
    const s = scratch();
    r.driver.setNotify(true);
    for (let i = 0; i < 10; i++) {
      addSingle(r, i, 64);
      r.driver.publish();
      r.device.popBurst(r.chains, 1);
      r.device.pushUsed(r.chains[0]!, 0);
      expect(r.device.publishUsed()).toBe(true);
      expect(r.driver.reclaim(s.tokens, s.outLens, 4)).toBe(1);
      const u = r.driver.usedState;
      const word = r.mem.readU16(r.layout.driverEventAddr);
      expect(word).toBe(u.pos | (u.wrap << 15));
    }
    // Event parked at a slot two ahead: only the batch that passes it interrupts.
    const u = r.driver.usedState;
    r.driver.setNotifyAt((u.pos + 1) % size, u.pos + 1 >= size ? 1 - u.wrap : u.wrap);
    addSingle(r, 100, 64);
    addSingle(r, 101, 64);
    r.driver.publish();
    r.device.popBurst(r.chains, 2);
    r.device.pushUsed(r.chains[0]!, 0);
    expect(r.device.publishUsed()).toBe(false);
    r.device.pushUsed(r.chains[1]!, 0);
    expect(r.device.publishUsed()).toBe(true);
  });
});
