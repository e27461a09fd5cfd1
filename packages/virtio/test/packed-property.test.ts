/**
 * Property tests for the packed virtqueue (virtio 1.2 §2.8) with fast-check:
 * random driver/device interleavings over random queue sizes (including
 * sizes that are not powers of two) and many wrap-arounds, in-order and
 * out-of-order completion, lists and indirect tables, VIRTIO_F_IN_ORDER
 * batches, and notification decisions checked against a reference model
 * that walks ring positions one descriptor at a time. Plus fuzzing with
 * random ring contents: never a throw, never a segment outside guest memory.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DescChain, QUEUE_FAULTS } from "../src/queue.js";
import { F_EVENT_IDX, F_IN_ORDER, F_INDIRECT, F_PACKED, canariesIntact, makeRing, scratch, type Ring } from "./packed-fixture.js";

type Op =
  | { t: "add"; nOut: number; nIn: number; indirect: boolean; seed: number }
  | { t: "publish"; event: number | null }
  | { t: "pop"; max: number }
  | { t: "push"; count: number; order: "fifo" | "reverse" | "shuffle"; seed: number }
  | { t: "publishUsed"; event: number | null }
  | { t: "reclaim"; max: number }
  | { t: "driverArm" }
  | { t: "deviceArm" };

/** Event word (§2.8.14) with flags 0..3 and an offset near the ring so DESC hits are frequent. */
const eventWord = fc.record({ flags: fc.integer({ min: 0, max: 3 }), off: fc.integer({ min: 0, max: 40 }), wrap: fc.integer({ min: 0, max: 1 }) });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("add" as const), nOut: fc.integer({ min: 0, max: 3 }), nIn: fc.integer({ min: 0, max: 3 }), indirect: fc.boolean(), seed: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("publish" as const), event: fc.option(eventWord.map((e) => e.off | (e.wrap << 15) | (e.flags << 16)), { freq: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("pop" as const), max: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("push" as const), count: fc.integer({ min: 1, max: 8 }), order: fc.constantFrom("fifo" as const, "reverse" as const, "shuffle" as const), seed: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("publishUsed" as const), event: fc.option(eventWord.map((e) => e.off | (e.wrap << 15) | (e.flags << 16)), { freq: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("reclaim" as const), max: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "driverArm" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "deviceArm" as const }) },
);

interface Buf {
  token: number;
  addrs: number[];
  lens: number[];
  nOut: number;
  slots: number;
  writable: number;
}

interface Held {
  buf: Buf;
  chain: DescChain;
}

interface Pos {
  pos: number;
  wrap: number;
}

function step(p: Pos, size: number): void {
  if (++p.pos === size) {
    p.pos = 0;
    p.wrap ^= 1;
    seen.wraps++;
  }
}

/** Reference rule (§2.8.10): does `word` ask for a notification after the descriptors at `passed`? */
function refFires(word: number, passed: readonly Pos[], size: number, eventIdx: boolean): boolean {
  if (passed.length === 0) return false;
  const flags = (word >>> 16) & 3;
  if (flags === 1) return false;
  if (flags !== 2 || !eventIdx) return true;
  const off = word & 0x7fff;
  const wrap = (word >>> 15) & 1;
  if (off >= size) return true;
  const hit = passed.some((p) => p.pos === off && p.wrap === wrap);
  if (hit) seen.descHit++;
  else seen.descMiss++;
  return hit;
}

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** How often the interesting branches were reached, so a property cannot pass vacuously. */
const seen = { descHit: 0, descMiss: 0, armedChecks: 0, wraps: 0, outOfOrder: 0, indirect: 0, chains: 0 };

/** Cheap assertions for the model loop (vitest's expect is too slow for ~10^5 checks). */
function eq(got: unknown, want: unknown, what: string): void {
  if (!Object.is(got, want)) throw new Error(`${what}: got ${String(got)}, want ${String(want)}`);
}

function eqArr(got: readonly number[], want: readonly number[], what: string): void {
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) throw new Error(`${what}: got [${got.join()}], want [${want.join()}]`);
}

interface RunConfig {
  size: number;
  indirect: boolean;
  inOrder: boolean;
  eventIdx: boolean;
  ops: Op[];
}

/** Run `ops` against a real driver/device pair and a model; throws (via expect) on any divergence. */
function runModel(cfg: RunConfig): void {
  const { size } = cfg;
  const features = F_PACKED | (cfg.indirect ? F_INDIRECT : 0n) | (cfg.inOrder ? F_IN_ORDER : 0n) | (cfg.eventIdx ? F_EVENT_IDX : 0n);
  const entries = Math.min(4, size);
  const r: Ring = makeRing(size, { features, indirectEntries: entries, inOrderBatch: cfg.inOrder, dataBytes: 1 << 16 });
  const s = scratch();
  let nextToken = 1;
  const unpublished: Buf[] = [];
  const visible: Buf[] = []; // published, not yet popped
  const held: Held[] = []; // popped by the device, in pop order
  const pushed: { buf: Buf; written: number }[] = [];
  const done: { buf: Buf; len: number }[] = []; // visible used, not reclaimed
  const outstanding = new Map<number, Buf>();
  let freeSlots = size;
  const avail: Pos = { pos: 0, wrap: 1 };
  const used: Pos = { pos: 0, wrap: 1 };
  let availPassed: Pos[] = [];
  let usedPassed: Pos[] = [];
  // Liveness: an armed side that has caught up must be notified by the next publication.
  let driverArmed = false;
  let driverCaughtUp = false;
  let deviceArmed = false;
  let deviceCaughtUp = false;

  const drvEventAddr = r.layout.driverEventAddr;
  const devEventAddr = r.layout.deviceEventAddr;

  const reclaimInto = (max: number): void => {
    const n = r.driver.reclaim(s.tokens, s.outLens, max);
    eq(n, Math.min(max, done.length), "n");
    for (let i = 0; i < n; i++) {
      const d = done.shift()!;
      eq(s.tokens[i], d.buf.token, "s.tokens[i]");
      eq(s.outLens[i], d.len, "s.outLens[i]");
      outstanding.delete(d.buf.token);
      freeSlots += d.buf.slots;
    }
  };

  for (const op of cfg.ops) {
    switch (op.t) {
      case "add": {
        let nOut = op.nOut;
        let nIn = op.nIn;
        if (nOut + nIn === 0) nOut = 1;
        while (nOut + nIn > size) nOut > 0 ? nOut-- : nIn--;
        const n = nOut + nIn;
        const rand = rng(op.seed + 1);
        const addrs: number[] = [];
        const lens: number[] = [];
        for (let k = 0; k < n; k++) {
          lens.push(1 + Math.floor(rand() * 2000));
          addrs.push(r.dataBase + Math.floor(rand() * ((1 << 16) - 2048)));
          s.addrs[k] = addrs[k]!;
          s.lens[k] = lens[k]!;
        }
        const useIndirect = op.indirect && cfg.indirect && n <= entries;
        const slots = useIndirect ? 1 : n;
        const expectOk = outstanding.size < size && slots <= freeSlots;
        const token = nextToken++;
        eq(r.driver.add(s.addrs, s.lens, nOut, nIn, token, op.indirect), expectOk, "add result");
        if (expectOk) {
          let writable = 0;
          for (let k = nOut; k < n; k++) writable += lens[k]!;
          const buf: Buf = { token, addrs, lens, nOut, slots, writable };
          if (useIndirect) seen.indirect++;
          else if (n > 1) seen.chains++;
          unpublished.push(buf);
          outstanding.set(token, buf);
          freeSlots -= slots;
          for (let k = 0; k < slots; k++) {
            availPassed.push({ ...avail });
            step(avail, size);
          }
        }
        break;
      }
      case "publish": {
        if (op.event !== null) {
          r.mem.writeU32(devEventAddr, op.event);
          deviceArmed = false;
        }
        const word = r.mem.readU32(devEventAddr);
        const expected = refFires(word, availPassed, size, cfg.eventIdx);
        const got = r.driver.publish();
        eq(got, expected, "notification decision vs reference");
        if (availPassed.length > 0 && deviceArmed && deviceCaughtUp) {
          seen.armedChecks++;
          eq(got, true, "armed side notified");
        }
        if (availPassed.length > 0) deviceCaughtUp = false;
        availPassed = [];
        visible.push(...unpublished.splice(0));
        break;
      }
      case "pop": {
        const chains = [...Array(op.max)].map(() => new DescChain(size));
        const n = r.device.popBurst(chains, op.max);
        eq(n, Math.min(op.max, visible.length), "n");
        for (let i = 0; i < n; i++) {
          const buf = visible.shift()!;
          const c = chains[i]!;
          eq(c.count, buf.addrs.length, "c.count");
          eq(c.readable, buf.nOut, "c.readable");
          eq(c.ringDescs, buf.slots, "c.ringDescs");
          eqArr(Array.from(c.addr.subarray(0, c.count)), buf.addrs, "c.addr.subarray(0, c.count)");
          eqArr(Array.from(c.len.subarray(0, c.count)), buf.lens, "c.len.subarray(0, c.count)");
          eq(c.writeBytes, buf.writable, "c.writeBytes");
          held.push({ buf, chain: c });
        }
        if (deviceArmed && visible.length === 0) deviceCaughtUp = true;
        break;
      }
      case "push": {
        const k = Math.min(op.count, held.length);
        const order = [...Array(k).keys()];
        // IN_ORDER: the device must use buffers in the order they were made available (§2.8.8).
        if (!cfg.inOrder) {
          if (op.order === "reverse") order.reverse();
          if (op.order === "shuffle") {
            const rand = rng(op.seed + 7);
            for (let i = k - 1; i > 0; i--) {
              const j = Math.floor(rand() * (i + 1));
              [order[i], order[j]] = [order[j]!, order[i]!];
            }
          }
        }
        const picked = order.map((i) => held[i]!);
        if (order.some((v, i) => v !== i)) seen.outOfOrder++;
        for (const h of picked) held.splice(held.indexOf(h), 1);
        for (const h of picked) {
          const written = h.buf.writable === 0 ? 0 : (op.seed + h.buf.token) % (h.buf.writable + 1);
          r.device.pushUsed(h.chain, written);
          pushed.push({ buf: h.buf, written });
          for (let j = 0; j < h.buf.slots; j++) {
            usedPassed.push({ ...used });
            step(used, size);
          }
        }
        break;
      }
      case "publishUsed": {
        if (op.event !== null) {
          r.mem.writeU32(drvEventAddr, op.event);
          driverArmed = false;
        }
        const word = r.mem.readU32(drvEventAddr);
        const expected = refFires(word, usedPassed, size, cfg.eventIdx);
        const got = r.device.publishUsed();
        eq(got, expected, "notification decision vs reference");
        if (usedPassed.length > 0 && driverArmed && driverCaughtUp) {
          seen.armedChecks++;
          eq(got, true, "armed side notified");
        }
        if (usedPassed.length > 0) driverCaughtUp = false;
        usedPassed = [];
        const batch = pushed.splice(0);
        batch.forEach((p, i) => {
          // With IN_ORDER batching only the last buffer's length is written; the rest count as fully used (§2.8.8).
          const len = cfg.inOrder && i < batch.length - 1 ? p.buf.writable : p.written;
          done.push({ buf: p.buf, len });
        });
        break;
      }
      case "reclaim":
        reclaimInto(op.max);
        if (driverArmed && done.length === 0) driverCaughtUp = true;
        break;
      case "driverArm":
        r.driver.setNotify(true);
        driverArmed = true;
        reclaimInto(size);
        driverCaughtUp = done.length === 0;
        break;
      case "deviceArm":
        r.device.setNotify(true);
        deviceArmed = true;
        deviceCaughtUp = r.device.pending() === 0;
        eq(deviceCaughtUp, visible.length === 0, "deviceCaughtUp");
        break;
    }
    eq(r.driver.broken, false, "r.driver.broken");
    eq(r.device.broken, false, "r.device.broken");
    eq(r.driver.freeDescriptors, freeSlots, "r.driver.freeDescriptors");
    eq(r.device.inFlight, held.reduce((a, h) => a + h.buf.slots, 0), "r.device.inFlight");
    eq(r.device.pending(), visible.length, "r.device.pending()");
  }

  // Drain: everything added comes back exactly once.
  r.driver.publish();
  visible.push(...unpublished.splice(0));
  for (;;) {
    const chains = [...Array(8)].map(() => new DescChain(size));
    const n = r.device.popBurst(chains, 8);
    for (let i = 0; i < n; i++) held.push({ buf: visible.shift()!, chain: chains[i]! });
    if (n === 0) break;
  }
  eq(visible.length, 0, "visible after drain");
  for (const h of held.splice(0)) {
    r.device.pushUsed(h.chain, 0);
    pushed.push({ buf: h.buf, written: 0 });
  }
  r.device.publishUsed();
  const batch = pushed.splice(0);
  batch.forEach((p, i) => done.push({ buf: p.buf, len: cfg.inOrder && i < batch.length - 1 ? p.buf.writable : p.written }));
  reclaimInto(size);
  eq(outstanding.size, 0, "outstanding.size");
  eq(r.driver.freeDescriptors, size, "r.driver.freeDescriptors");
  eq(r.driver.outstanding, 0, "r.driver.outstanding");
  for (const st of [r.driver.stats, r.device.stats]) for (const f of QUEUE_FAULTS) eq(st.faults[f], 0, "st.faults[f]");
  eq(canariesIntact(r), true, "canariesIntact(r)");
}

const sizeArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 40 }));

describe("packed ring model", () => {
  let before = { ...seen };
  const mark = (): void => {
    before = { ...seen };
  };
  const grew = (k: keyof typeof seen): number => seen[k] - before[k];

  it("random interleavings, out-of-order completion, lists and indirect, random sizes", () => {
    mark();
    fc.assert(
      fc.property(sizeArb, fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), (size, indirect, ops) => {
        runModel({ size, indirect, inOrder: false, eventIdx: false, ops });
      }),
      { numRuns: 400 },
    );
    expect(grew("wraps")).toBeGreaterThan(200);
    expect(grew("outOfOrder")).toBeGreaterThan(100);
    expect(grew("indirect")).toBeGreaterThan(100);
    expect(grew("chains")).toBeGreaterThan(100);
  });

  it("VIRTIO_F_IN_ORDER with batched used descriptors", () => {
    mark();
    fc.assert(
      fc.property(sizeArb, fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), (size, indirect, ops) => {
        runModel({ size, indirect, inOrder: true, eventIdx: false, ops });
      }),
      { numRuns: 300 },
    );
  });

  it("notification decisions with VIRTIO_F_EVENT_IDX match the per-descriptor reference, and armed sides are never missed", () => {
    mark();
    fc.assert(
      fc.property(sizeArb, fc.boolean(), fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), (size, indirect, inOrder, ops) => {
        runModel({ size, indirect, inOrder, eventIdx: true, ops });
      }),
      { numRuns: 400 },
    );
    expect(grew("descHit")).toBeGreaterThan(50);
    expect(grew("descMiss")).toBeGreaterThan(50);
    expect(grew("armedChecks")).toBeGreaterThan(50);
  });

  it("many wrap-arounds: long runs on tiny rings", () => {
    mark();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.boolean(), fc.array(opArb, { minLength: 800, maxLength: 1500, size: "max" }), (size, inOrder, eventIdx, ops) => {
        runModel({ size, indirect: true, inOrder, eventIdx, ops });
      }),
      { numRuns: 60 },
    );
    expect(grew("wraps")).toBeGreaterThan(2000);
  });
});

describe("fuzzed ring contents", () => {
  it("device: random descriptors never throw, never yield a segment outside guest memory", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        fc.array(
          fc.record({
            slot: fc.nat(),
            addrKind: fc.constantFrom("data", "near-end", "random", "huge"),
            addr: fc.nat(),
            len: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.constant(0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff })),
            id: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffff })),
            flags: fc.oneof(fc.constantFrom(0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x8000, 0x8001, 0x8002, 0x8004, 0x8080, 0), fc.integer({ min: 0, max: 0xffff })),
          }),
          { maxLength: 40 },
        ),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 }),
        (size, indirect, descs, table) => {
          const r = makeRing(size, { features: F_PACKED | (indirect ? F_INDIRECT : 0n), maxSegments: 8, burst: 4 });
          // An indirect table of random content at dataBase.
          table.forEach((v, i) => r.mem.writeU16(r.dataBase + 2 * i, v));
          for (const d of descs) {
            const base = r.layout.descAddr + (d.slot % size) * 16;
            const addr =
              d.addrKind === "data" ? BigInt(r.dataBase + (d.addr % 4096)) : d.addrKind === "near-end" ? BigInt(r.end - (d.addr % 64)) : d.addrKind === "huge" ? (1n << 63n) + BigInt(d.addr) : BigInt(d.addr);
            r.mem.writeU64(base, addr);
            r.mem.writeU32(base + 8, d.len);
            r.mem.writeU16(base + 12, d.id);
            r.mem.writeU16(base + 14, d.flags);
          }
          for (let round = 0; round < 8; round++) {
            const n = r.device.popBurst(r.chains, 4);
            for (let i = 0; i < n; i++) {
              const c = r.chains[i]!;
              expect(c.id).toBeLessThan(size);
              for (let k = 0; k < c.count; k++) {
                const reg = r.mem.regions[c.region[k]!]!;
                expect(c.offset[k]).toBeGreaterThanOrEqual(0);
                expect(c.offset[k]! + c.len[k]!).toBeLessThanOrEqual(reg.size);
                expect(c.addr[k]).toBe(reg.gpa + c.offset[k]!);
              }
              r.device.pushUsed(c, c.writeBytes);
            }
            r.device.publishUsed();
            if (n === 0) break;
          }
          if (r.device.broken) expect(QUEUE_FAULTS).toContain(r.device.brokenBy);
          expect(canariesIntact(r)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("driver: random used descriptors never throw and only hand back tokens the driver added", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        fc.array(fc.record({ slot: fc.nat(), id: fc.integer({ min: 0, max: 20 }), len: fc.nat(), flags: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: 40 }),
        (size, inOrder, useds) => {
          const r = makeRing(size, { features: F_PACKED | (inOrder ? F_IN_ORDER : 0n) });
          const s = scratch();
          const added = new Set<number>();
          for (let i = 0; i < size; i++) {
            s.addrs[0] = r.dataBase;
            s.lens[0] = 100;
            if (r.driver.add(s.addrs, s.lens, 0, 1, 1000 + i)) added.add(1000 + i);
          }
          r.driver.publish();
          for (const u of useds) {
            const base = r.layout.descAddr + (u.slot % size) * 16;
            r.mem.writeU32(base + 8, u.len);
            r.mem.writeU16(base + 12, u.id);
            r.mem.writeU16(base + 14, u.flags);
          }
          const seen = new Set<number>();
          for (let round = 0; round < 4; round++) {
            const n = r.driver.reclaim(s.tokens, s.outLens, 64);
            for (let i = 0; i < n; i++) {
              expect(added.has(s.tokens[i]!)).toBe(true);
              expect(seen.has(s.tokens[i]!)).toBe(false);
              expect(s.outLens[i]).toBeLessThanOrEqual(100);
              seen.add(s.tokens[i]!);
            }
          }
          expect(r.driver.freeDescriptors).toBeLessThanOrEqual(size);
          if (r.driver.broken) expect(r.driver.brokenBy).toBe("bad_used_id");
        },
      ),
      { numRuns: 400 },
    );
  });
});
