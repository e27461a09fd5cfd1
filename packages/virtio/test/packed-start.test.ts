/**
 * Packed rings that start somewhere other than the reset state (slot 0,
 * both wrap counters 1, virtio 1.2 §2.8.1): a device resumed at a position
 * (vhost-user SET_VRING_BASE after GET_VRING_BASE) and a driver attached at
 * the same position, built through the ring factory. Several ring-fulls of
 * chains go across the wrap byte-exact, with lists that straddle the end of
 * the ring and indirect tables; a device replaced mid-stream continues
 * where the old one stopped; positions a ring cannot take are refused.
 */
import { describe, expect, it } from "vitest";
import { readFromChain, writeToChain } from "../src/chain.js";
import { VirtioError } from "../src/errors.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from "../src/features.js";
import { GuestMemory } from "../src/memory.js";
import { checkPackedPosition, PackedDevice, PackedDriver, PACKED_RING_START, type PackedRingPosition } from "../src/packed.js";
import { DescChain, type DeviceQueue, type DriverQueue } from "../src/queue.js";
import { ringFactory, type RingPlacement } from "../src/rings.js";

const FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED | VIRTIO_F_INDIRECT_DESC;
const BASE = 0x10_0000;
const SEG = 96; // bytes per segment buffer
const INDIRECT_ENTRIES = 4;

/** Deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

interface Setup {
  mem: GuestMemory;
  p: RingPlacement;
  size: number;
  /** Guest address of segment k of buffer id t. */
  seg(t: number, k: number): number;
}

function setup(size: number): Setup {
  const f = ringFactory("packed");
  const p = f.place(size, BASE, INDIRECT_ENTRIES);
  const data = Math.ceil(p.end / 64) * 64;
  const bytes = data - BASE + size * 8 * SEG;
  const mem = new GuestMemory([{ gpa: BASE, buffer: new ArrayBuffer(bytes) }]);
  return { mem, p, size, seg: (t, k) => data + (t * 8 + k) * SEG };
}

interface Sent {
  nOut: number;
  nIn: number;
  payload: Uint8Array;
  writable: number;
  /** The driver's buffer slot (token), for addresses. */
  token: number;
}

interface Tally {
  chains: number;
  /** Ring slots the chains took. */
  slots: number;
  straddled: number;
  indirect: number;
  deviceWraps: number;
  driverWraps: number;
}

/**
 * Run `rounds` ring-fulls: the driver fills the ring (up to 2 slots short) with chains of 1..3
 * readable and 0..3 writable segments (some indirect), the device pops them,
 * writes the readable bytes reversed into the writable part and returns the
 * chains in a shuffled order; the driver checks every token, length and byte.
 */
function exchange(s: Setup, drv: DriverQueue, dev: DeviceQueue, rounds: number, seed: number, startToken = 0, tally?: Tally): Tally {
  const t: Tally = tally ?? { chains: 0, slots: 0, straddled: 0, indirect: 0, deviceWraps: 0, driverWraps: 0 };
  const rand = rng(seed);
  const { mem, size } = s;
  const pd = drv as PackedDriver;
  const pv = dev as PackedDevice;
  const addrs = new Float64Array(8);
  const lens = new Uint32Array(8);
  const tokens = new Uint32Array(size);
  const got = new Uint32Array(size);
  const chains = PackedDevice.chains(size, size);
  const sent = new Map<number, Sent>();
  const free: number[] = [];
  for (let i = 0; i < size; i++) free.push(i);
  let serial = startToken;
  for (let r = 0; r < rounds; r++) {
    // Fill the ring, some rounds to the last slot, some leaving up to 2 free (so rounds start anywhere).
    const reserve = Math.floor(rand() * 3);
    for (;;) {
      const room = drv.freeDescriptors - reserve;
      if (free.length === 0 || room <= 0) break;
      let nOut = 1 + Math.floor(rand() * 3);
      let nIn = Math.floor(rand() * 4);
      let indirect = rand() < 0.3 && nOut + nIn <= INDIRECT_ENTRIES;
      if (size - pd.availState.pos < 3 && room >= 3 && rand() < 0.7) {
        // Near the end of the ring: a list that goes across it.
        nOut = 2;
        nIn = 1;
        indirect = false;
      }
      if (!indirect && nOut + nIn > room) {
        // Shrink the chain to the slots left, so every round fills the ring to the last slot.
        nOut = Math.min(nOut, room);
        nIn = room - nOut;
      }
      const slot = free[free.length - 1]!;
      const payload = new Uint8Array(nOut * SEG - Math.floor(rand() * 40));
      for (let i = 0; i < payload.length; i++) payload[i] = (serial * 31 + i * 7) & 0xff;
      let off = 0;
      for (let k = 0; k < nOut + nIn; k++) {
        addrs[k] = s.seg(slot, k);
        if (k < nOut) {
          const n = k === nOut - 1 ? payload.length - off : SEG;
          mem.regions[0]!.bytes.set(payload.subarray(off, off + n), s.seg(slot, k) - BASE);
          lens[k] = n;
          off += n;
        } else {
          lens[k] = SEG;
          mem.regions[0]!.bytes.fill(0xee, s.seg(slot, k) - BASE, s.seg(slot, k) - BASE + SEG);
        }
      }
      const before = pd.availState;
      const token = serial;
      expect(drv.add(addrs, lens, nOut, nIn, token, indirect)).toBe(true);
      free.pop();
      const after = pd.availState;
      const slots = indirect ? 1 : nOut + nIn;
      t.slots += slots;
      if (after.wrap !== before.wrap) t.driverWraps++;
      if (indirect) t.indirect++;
      else if (before.pos + slots > size) t.straddled++;
      sent.set(token, { nOut, nIn, payload, writable: nIn * SEG, token: slot });
      serial++;
    }
    drv.publish();
    // Device: pop everything, answer, return in a shuffled order.
    const wrapBefore = pv.availState.wrap;
    let popped = 0;
    for (;;) {
      const n = dev.popBurst(chains.slice(popped), size);
      if (n === 0) break;
      popped += n;
    }
    expect(dev.broken).toBe(false);
    if (pv.availState.wrap !== wrapBefore) t.deviceWraps++;
    const held: DescChain[] = chains.slice(0, popped);
    for (let i = held.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [held[i], held[j]] = [held[j]!, held[i]!];
    }
    for (const c of held) {
      const buf = new Uint8Array(c.readBytes);
      expect(readFromChain(mem, c, 0, buf, 0, buf.length)).toBe(c.readBytes);
      buf.reverse();
      const w = writeToChain(mem, c, 0, buf, 0, Math.min(buf.length, c.writeBytes));
      dev.pushUsed(c, w);
      // Publish in small batches so used descriptors straddle the end too.
      if (rand() < 0.3) dev.publishUsed();
    }
    dev.publishUsed();
    // Driver: take everything back and check it.
    let back = 0;
    for (;;) {
      const n = drv.reclaim(tokens, got, size);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const tok = tokens[i]!;
        const b = sent.get(tok);
        expect(b, `token ${tok} came back but was not outstanding`).toBeDefined();
        sent.delete(tok);
        const expected = b!.payload.slice().reverse().subarray(0, Math.min(b!.payload.length, b!.writable));
        expect(got[i]).toBe(expected.length);
        const out = new Uint8Array(b!.writable);
        for (let k = 0; k < b!.nIn; k++) out.set(mem.slice(s.seg(b!.token, b!.nOut + k), SEG), k * SEG);
        expect(Buffer.from(out.subarray(0, expected.length)).equals(Buffer.from(expected))).toBe(true);
        expect(out.subarray(expected.length).every((x) => x === 0xee)).toBe(true);
        free.push(b!.token);
        t.chains++;
      }
      back += n;
    }
    expect(back).toBe(popped);
    expect(drv.broken).toBe(false);
  }
  expect(sent.size).toBe(0);
  return t;
}

describe("packed ring started at a position (factory start option)", () => {
  for (const size of [8, 13, 64]) {
    for (const start of [
      { pos: 5, wrap: 0 },
      { pos: size - 1, wrap: 0 },
      { pos: 0, wrap: 0 },
      { pos: 3, wrap: 1 },
    ]) {
      it(`size ${size}, device and driver at slot ${start.pos} with wrap ${start.wrap}: ring-fulls across the wrap, byte-exact`, () => {
        const s = setup(size);
        const f = ringFactory("packed");
        const pos: PackedRingPosition = { availIdx: start.pos, availWrap: start.wrap, usedIdx: start.pos, usedWrap: start.wrap };
        const drv = f.driver(s.mem, s.p, FEATURES, true, pos);
        const dev = f.device(s.mem, s.p, FEATURES, pos);
        expect((dev as PackedDevice).availState).toEqual({ pos: start.pos, wrap: start.wrap });
        expect((dev as PackedDevice).usedState).toEqual({ pos: start.pos, wrap: start.wrap });
        expect((dev as PackedDevice).inFlight).toBe(0);
        // Nothing is available or used before the driver adds: the flags the driver laid down are all "used" ones.
        expect(dev.pending()).toBe(0);
        expect(drv.reclaim(new Uint32Array(4), new Uint32Array(4), 4)).toBe(0);
        // The first buffer goes into slot `pos` with the AVAIL/USED bits of that wrap (§2.8.1).
        const a = new Float64Array([s.seg(0, 0)]);
        const l = new Uint32Array([10]);
        expect(drv.add(a, l, 1, 0, 999)).toBe(true);
        drv.publish();
        const flags = s.mem.readU16(s.p.descArea + start.pos * 16 + 14);
        expect(flags & 0x8080).toBe(start.wrap ? 0x0080 : 0x8000);
        const c = PackedDevice.chains(1, size);
        expect(dev.popBurst(c, 1)).toBe(1);
        dev.pushUsed(c[0]!, 0);
        dev.publishUsed();
        expect(s.mem.readU16(s.p.descArea + start.pos * 16 + 14) & 0x8080).toBe(start.wrap ? 0x8080 : 0);
        expect(drv.reclaim(new Uint32Array(1), new Uint32Array(1), 1)).toBe(1);
        const t = exchange(s, drv, dev, 8, size * 1000 + start.pos * 10 + start.wrap);
        expect(t.slots).toBeGreaterThanOrEqual(8 * (size - 2)); // eight rounds of a (nearly) full ring
        expect(t.chains).toBeGreaterThan(5);
        expect(t.deviceWraps).toBeGreaterThanOrEqual(2);
        expect(t.driverWraps).toBeGreaterThanOrEqual(2);
        expect(t.indirect).toBeGreaterThan(0);
        expect(t.straddled).toBeGreaterThan(0);
      });
    }
  }

  it("a device replaced mid-stream resumes at the old one's positions; nothing lost or repeated", () => {
    const size = 13;
    const s = setup(size);
    const f = ringFactory("packed");
    const drv = f.driver(s.mem, s.p, FEATURES, true);
    let dev = f.device(s.mem, s.p, FEATURES);
    const tally = exchange(s, drv, dev, 3, 7);
    for (let k = 0; k < 4; k++) {
      const old = dev as PackedDevice;
      const a = old.availState;
      const u = old.usedState;
      expect(a).toEqual(u); // everything was returned
      // Stopped at a position other than the start, at least once with wrap 0.
      dev = f.device(s.mem, s.p, FEATURES, { availIdx: a.pos, availWrap: a.wrap, usedIdx: u.pos, usedWrap: u.wrap });
      exchange(s, drv, dev, 2 + k, 100 + k, 10_000 * (k + 1), tally);
    }
    expect(tally.deviceWraps).toBeGreaterThanOrEqual(4);
  });

  it("a device resumed with used behind available counts the gap as taken: the driver gets every new buffer back, the old ones never", () => {
    const size = 16;
    const s = setup(size);
    const f = ringFactory("packed");
    const drv = f.driver(s.mem, s.p, FEATURES, true) as PackedDriver;
    const old = f.device(s.mem, s.p, FEATURES) as PackedDevice;
    const addrs = new Float64Array(1);
    const lens = new Uint32Array([32]);
    for (let i = 0; i < 20; i++) {
      addrs[0] = s.seg(i % size, 0);
      expect(drv.add(addrs, lens, 1, 0, i)).toBe(true);
      drv.publish();
      const c = PackedDevice.chains(1, size);
      expect(old.popBurst(c, 1)).toBe(1);
      if (i < 17) {
        old.pushUsed(c[0]!, 0);
        old.publishUsed();
        expect(drv.reclaim(new Uint32Array(1), new Uint32Array(1), 1)).toBe(1);
      }
      // buffers 17, 18, 19: popped by the old device and never returned
    }
    const a = old.availState;
    const u = old.usedState;
    expect(a).toEqual({ pos: 4, wrap: 0 });
    expect(u).toEqual({ pos: 1, wrap: 0 });
    const dev = f.device(s.mem, s.p, FEATURES, { availIdx: a.pos, availWrap: a.wrap, usedIdx: u.pos, usedWrap: u.wrap }) as PackedDevice;
    expect(dev.inFlight).toBe(3);
    expect(drv.outstanding).toBe(3);
    // 40 more single-descriptor buffers, 13 at a time (the most the driver can have out besides the lost 3).
    const tokens = new Uint32Array(size);
    const got = new Uint32Array(size);
    const chains = PackedDevice.chains(size, size);
    let next = 100;
    const back: number[] = [];
    while (next < 140) {
      let added = 0;
      while (next < 140) {
        addrs[0] = s.seg(next % 13, 0);
        if (!drv.add(addrs, lens, 1, 0, next)) break;
        next++;
        added++;
      }
      expect(added).toBeGreaterThan(0);
      drv.publish();
      const n = dev.popBurst(chains, size);
      expect(n).toBe(added);
      for (let i = 0; i < n; i++) dev.pushUsed(chains[i]!, 0);
      dev.publishUsed();
      const m = drv.reclaim(tokens, got, size);
      for (let i = 0; i < m; i++) back.push(tokens[i]!);
    }
    expect(dev.broken).toBe(false);
    expect(drv.broken).toBe(false);
    expect(back).toEqual(Array.from({ length: 40 }, (_, i) => 100 + i));
    expect(dev.inFlight).toBe(3);
  });

  it("notifications follow the start position (EVENT_IDX, §2.8.10)", () => {
    const size = 8;
    const s = setup(size);
    const f = ringFactory("packed");
    const feats = FEATURES | VIRTIO_F_EVENT_IDX;
    const pos = { availIdx: 6, availWrap: 0, usedIdx: 6, usedWrap: 0 };
    const drv = f.driver(s.mem, s.p, feats, true, pos);
    const dev = f.device(s.mem, s.p, feats, pos);
    dev.setNotify(true);
    drv.setNotify(true);
    // Device asks for a kick at (6, wrap 0); the driver asks for an interrupt at the same place.
    expect(s.mem.readU16(s.p.deviceArea)).toBe(6);
    expect(s.mem.readU16(s.p.driverArea)).toBe(6);
    const a = new Float64Array([s.seg(0, 0)]);
    const l = new Uint32Array([8]);
    expect(drv.add(a, l, 1, 0, 1)).toBe(true);
    expect(drv.publish()).toBe(true);
    const c = PackedDevice.chains(1, size);
    expect(dev.popBurst(c, 1)).toBe(1);
    expect(s.mem.readU16(s.p.deviceArea)).toBe(7);
    dev.pushUsed(c[0]!, 0);
    expect(dev.publishUsed()).toBe(true);
  });
});

describe("start positions a ring cannot take are refused with a clear error", () => {
  const s = setup(8);
  const f = ringFactory("packed");
  const bad: [string, PackedRingPosition, RegExp][] = [
    ["available index = size", { availIdx: 8, availWrap: 1, usedIdx: 0, usedWrap: 1 }, /availIdx 8 must be a slot in \[0, 8\)/],
    ["used index = size", { availIdx: 0, availWrap: 1, usedIdx: 8, usedWrap: 1 }, /usedIdx 8 must be a slot in \[0, 8\)/],
    ["15-bit index", { availIdx: 0x7fff, availWrap: 1, usedIdx: 0x7fff, usedWrap: 1 }, /availIdx 32767 must be a slot/],
    ["negative index", { availIdx: -1, availWrap: 1, usedIdx: 0, usedWrap: 1 }, /availIdx -1/],
    ["fractional index", { availIdx: 1.5, availWrap: 1, usedIdx: 0, usedWrap: 1 }, /availIdx 1.5/],
    ["wrap 2", { availIdx: 0, availWrap: 2, usedIdx: 0, usedWrap: 1 }, /availWrap 2 must be a wrap counter/],
    ["used ahead of available", { availIdx: 0, availWrap: 1, usedIdx: 1, usedWrap: 1 }, /15 descriptors behind available 0\/1, more than the queue size 8/],
  ];
  for (const [what, pos, msg] of bad) {
    it(what, () => {
      expect(() => f.device(s.mem, s.p, FEATURES, pos)).toThrow(msg);
      expect(() => new PackedDevice(s.mem, 8, s.p.descArea, s.p.driverArea, s.p.deviceArea, FEATURES, { start: pos })).toThrow(VirtioError);
      expect(() => checkPackedPosition(pos, 8)).toThrow(msg);
    });
  }

  it("a whole ring taken (used exactly one lap behind) is the most a device can hold", () => {
    expect(checkPackedPosition({ availIdx: 3, availWrap: 0, usedIdx: 3, usedWrap: 1 }, 8)).toBe(8);
    expect(checkPackedPosition({ availIdx: 2, availWrap: 0, usedIdx: 6, usedWrap: 1 }, 8)).toBe(4);
    expect(checkPackedPosition(PACKED_RING_START, 8)).toBe(0);
  });

  it("a driver takes one position; split rings take one 16-bit base", () => {
    expect(() => f.driver(s.mem, s.p, FEATURES, true, { availIdx: 2, availWrap: 0, usedIdx: 1, usedWrap: 0 })).toThrow(/nothing outstanding/);
    expect(() => new PackedDriver(s.mem, 8, s.p.descArea, s.p.driverArea, s.p.deviceArea, FEATURES, { start: { pos: 9, wrap: 0 } })).toThrow(/availIdx 9/);
    const split = ringFactory("split");
    const sp = split.place(8, BASE);
    const feats = VIRTIO_F_VERSION_1;
    expect(() => split.device(s.mem, sp, feats, { availIdx: 3, availWrap: 1, usedIdx: 2, usedWrap: 1 })).toThrow(/one base for both rings/);
    expect(() => split.device(s.mem, sp, feats, { availIdx: 70_000, availWrap: 1, usedIdx: 70_000, usedWrap: 1 })).toThrow(/16-bit ring index/);
    const drv = split.driver(s.mem, sp, feats, true, { availIdx: 65_530, availWrap: 1, usedIdx: 65_530, usedWrap: 1 });
    const dev = split.device(s.mem, sp, feats, { availIdx: 65_530, availWrap: 1, usedIdx: 65_530, usedWrap: 1 });
    const a = new Float64Array([s.seg(0, 0)]);
    const l = new Uint32Array([4]);
    for (let i = 0; i < 12; i++) {
      expect(drv.add(a, l, 1, 0, i)).toBe(true);
      drv.publish();
      const c = [new DescChain(4)];
      expect(dev.popBurst(c, 1)).toBe(1);
      dev.pushUsed(c[0]!, 0);
      dev.publishUsed();
      const t = new Uint32Array(1);
      expect(drv.reclaim(t, new Uint32Array(1), 1)).toBe(1);
      expect(t[0]).toBe(i);
    }
  });
});
