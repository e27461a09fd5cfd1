/**
 * Property tests of the split virtqueue (virtio 1.2 §2.7) against a small
 * reference model: random interleavings of driver and device operations,
 * random ring sizes, start indices near the 16-bit wrap (§2.7.13.3),
 * chained and indirect buffers (§2.7.5.3), and the notification decisions
 * of both sides (flags, §2.7.7 / §2.7.10, and event indices, checked
 * against a brute-force reading of "notify when entry `event` is written").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readFromChain, writeToChain } from "../src/chain.js";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from "../src/features.js";
import { alignUp, splitRingLayout, vringNeedEvent } from "../src/layout.js";
import { GuestMemory } from "../src/memory.js";
import type { DescChain } from "../src/queue.js";
import { newDescChains, SplitDevice, SplitDriver } from "../src/split.js";

/** Brute force: is `event` one of old, old+1, ..., new-1 (mod 2^16)? */
function refNeedEvent(event: number, newIdx: number, oldIdx: number): boolean {
  for (let i = oldIdx; i !== newIdx; i = (i + 1) & 0xffff) if (i === event) return true;
  return false;
}

describe("vring_need_event matches the brute-force definition", () => {
  it("for all 16-bit triples tried", () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(u16, u16, fc.integer({ min: 0, max: 600 }), (event, oldIdx, moved) => {
        const newIdx = (oldIdx + moved) & 0xffff;
        expect(vringNeedEvent(event, newIdx, oldIdx)).toBe(refNeedEvent(event, newIdx, oldIdx));
      }),
      { numRuns: 3000 },
    );
  });
  it("near the event and across the wrap", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: -4, max: 4 }), fc.integer({ min: 0, max: 8 }), (oldIdx, d, moved) => {
        const event = (oldIdx + d) & 0xffff;
        const newIdx = (oldIdx + moved) & 0xffff;
        expect(vringNeedEvent(event, newIdx, oldIdx)).toBe(refNeedEvent(event, newIdx, oldIdx));
      }),
      { numRuns: 2000 },
    );
  });
});

type Op =
  | { t: "add"; nOut: number; nIn: number; indirect: boolean; lenSeed: number }
  | { t: "publish" }
  | { t: "pop"; max: number }
  | { t: "push"; pick: number; frac: number }
  | { t: "publishUsed" }
  | { t: "reclaim"; max: number }
  | { t: "drvNotify"; on: boolean }
  | { t: "devNotify"; on: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("add" as const), nOut: fc.integer({ min: 0, max: 3 }), nIn: fc.integer({ min: 0, max: 3 }), indirect: fc.boolean(), lenSeed: fc.nat() }) },
  { weight: 3, arbitrary: fc.constant({ t: "publish" as const }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("pop" as const), max: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("push" as const), pick: fc.nat(), frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 3, arbitrary: fc.constant({ t: "publishUsed" as const }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("reclaim" as const), max: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("drvNotify" as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("devNotify" as const), on: fc.boolean() }) },
);

const SLOT = 512; // bytes of guest buffer per in-flight buffer
const SEG_MAX = 64;

interface Buf {
  token: number;
  slot: number;
  out: number[];
  inn: number[];
  descs: number;
}

function pattern(token: number, i: number): number {
  return (token * 131 + i * 17 + 5) & 0xff;
}

function runScenario(size: number, base: number, eventIdx: boolean, indirect: boolean, ops: Op[]): void {
  const features = VIRTIO_F_VERSION_1 | (eventIdx ? VIRTIO_F_EVENT_IDX : 0n) | (indirect ? VIRTIO_F_INDIRECT_DESC : 0n);
  const layout = splitRingLayout(size, 0x1000, { usedAlign: 64 });
  const indMax = Math.min(6, size);
  const indGpa = alignUp(layout.end, 16);
  const dataGpa = alignUp(indGpa + size * 6 * 16, 64);
  const total = dataGpa + size * SLOT;
  const mem = GuestMemory.fromBuffer(new ArrayBuffer(total - 0x1000), 0x1000);
  const drv = SplitDriver.fromLayout(mem, layout, features, { base, ...(indMax >= 2 ? { indirect: { gpa: indGpa, maxDescriptors: indMax } } : {}) });
  const dev = SplitDevice.fromLayout(mem, layout, features, { base });
  const chains = newDescChains(8, size);
  const addrs = new Float64Array(8);
  const lens = new Uint32Array(8);
  const tokens = new Uint32Array(8);
  const rlens = new Uint32Array(8);

  // Reference model.
  let nextToken = 1;
  const freeSlots: number[] = [];
  for (let i = 0; i < size; i++) freeSlots.push(i);
  let freeDescs = size;
  const added: Buf[] = []; // added, not published
  const avail: Buf[] = []; // published, not popped
  const popped: Array<{ buf: Buf; chain: DescChain }> = [];
  const pushed: Array<{ buf: Buf; written: number }> = []; // pushed, not published
  const used: Array<{ buf: Buf; written: number }> = []; // published used, not reclaimed
  let availIdx = base; // published avail idx
  let addedCount = 0;
  let lastAvail = base;
  let usedIdx = base; // published used idx
  let lastUsed = base;
  let drvNotify = true;
  let devNotify = true;
  let usedEvent = base; // what the driver last wrote to used_event
  let availEvent = base; // what the device last wrote to avail_event

  for (const op of ops) {
    switch (op.t) {
      case "add": {
        const n = op.nOut + op.nIn;
        if (n === 0 || n > size) break;
        const useInd = indirect && op.indirect && n > 1 && n <= indMax;
        const need = useInd ? 1 : n;
        const slot = freeSlots.length > 0 ? freeSlots[freeSlots.length - 1]! : -1;
        const segLens: number[] = [];
        for (let i = 0; i < n; i++) segLens.push(1 + ((op.lenSeed >>> (i * 3)) % SEG_MAX));
        let at = dataGpa + Math.max(slot, 0) * SLOT;
        for (let i = 0; i < n; i++) {
          addrs[i] = at;
          lens[i] = segLens[i]!;
          at += segLens[i]!;
        }
        const token = nextToken;
        if (slot >= 0) {
          const bytes = mem.slice(dataGpa + slot * SLOT, SLOT);
          bytes.fill(0);
          let k = 0;
          for (let i = 0; i < op.nOut; i++) for (let j = 0; j < segLens[i]!; j++, k++) bytes[k] = pattern(token, k);
        }
        const ok = slot >= 0 && drv.add(addrs, lens, op.nOut, op.nIn, token, op.indirect);
        expect(ok).toBe(slot >= 0 && freeDescs >= need);
        if (!ok) break;
        freeSlots.pop();
        freeDescs -= need;
        nextToken++;
        added.push({ token, slot, out: segLens.slice(0, op.nOut), inn: segLens.slice(op.nOut), descs: need });
        addedCount++;
        expect(drv.freeDescriptors).toBe(freeDescs);
        break;
      }
      case "publish": {
        const old = availIdx;
        const kick = drv.publish();
        if (addedCount === 0) {
          expect(kick).toBe(false);
          break;
        }
        availIdx = (availIdx + addedCount) & 0xffff;
        addedCount = 0;
        avail.push(...added.splice(0));
        expect(kick).toBe(eventIdx ? refNeedEvent(availEvent, availIdx, old) : devNotify);
        break;
      }
      case "pop": {
        const n = dev.popBurst(chains, op.max);
        expect(n).toBe(Math.min(op.max, avail.length));
        for (let i = 0; i < n; i++) {
          const buf = avail.shift()!;
          const c = chains[i]!;
          const outBytes = buf.out.reduce((a, b) => a + b, 0);
          const inBytes = buf.inn.reduce((a, b) => a + b, 0);
          expect(c.readBytes).toBe(outBytes);
          expect(c.writeBytes).toBe(inBytes);
          const got = new Uint8Array(outBytes);
          readFromChain(mem, c, 0, got, 0, outBytes);
          for (let k = 0; k < outBytes; k++) if (got[k] !== pattern(buf.token, k)) expect.fail(`byte ${k} of token ${buf.token}`);
          // Keep a private copy of the chain: the burst array is reused by the next pop.
          const keep = newDescChains(1, size)[0]!;
          keep.id = c.id;
          keep.count = c.count;
          keep.readable = c.readable;
          keep.readBytes = c.readBytes;
          keep.writeBytes = c.writeBytes;
          keep.region.set(c.region);
          keep.offset.set(c.offset);
          keep.addr.set(c.addr);
          keep.len.set(c.len);
          popped.push({ buf, chain: keep });
          lastAvail = (lastAvail + 1) & 0xffff;
        }
        if (eventIdx && devNotify) availEvent = lastAvail;
        expect(dev.lastAvailIdx).toBe(lastAvail);
        break;
      }
      case "push": {
        if (popped.length === 0) break;
        const { buf, chain } = popped.splice(op.pick % popped.length, 1)[0]!;
        const written = Math.floor(op.frac * chain.writeBytes);
        const data = new Uint8Array(written);
        for (let k = 0; k < written; k++) data[k] = pattern(buf.token ^ 0x55, k);
        expect(writeToChain(mem, chain, 0, data, 0, written)).toBe(written);
        dev.pushUsed(chain, written);
        pushed.push({ buf, written });
        break;
      }
      case "publishUsed": {
        const old = usedIdx;
        const irq = dev.publishUsed();
        if (pushed.length === 0) {
          expect(irq).toBe(false);
          break;
        }
        usedIdx = (usedIdx + pushed.length) & 0xffff;
        used.push(...pushed.splice(0));
        expect(irq).toBe(eventIdx ? refNeedEvent(usedEvent, usedIdx, old) : drvNotify);
        break;
      }
      case "reclaim": {
        const n = drv.reclaim(tokens, rlens, op.max);
        expect(n).toBe(Math.min(op.max, used.length));
        for (let k = 0; k < n; k++) {
          const u = used.shift()!;
          expect(tokens[k]).toBe(u.buf.token);
          expect(rlens[k]).toBe(u.written);
          const outBytes = u.buf.out.reduce((a, b) => a + b, 0);
          const back = mem.slice(dataGpa + u.buf.slot * SLOT + outBytes, u.written);
          for (let j = 0; j < u.written; j++) if (back[j] !== pattern(u.buf.token ^ 0x55, j)) expect.fail(`written byte ${j} of token ${u.buf.token}`);
          freeSlots.push(u.buf.slot);
          freeDescs += u.buf.descs;
          lastUsed = (lastUsed + 1) & 0xffff;
        }
        if (n > 0 && eventIdx && drvNotify) usedEvent = lastUsed;
        expect(drv.freeDescriptors).toBe(freeDescs);
        break;
      }
      case "drvNotify":
        drv.setNotify(op.on);
        drvNotify = op.on;
        if (eventIdx && op.on) usedEvent = lastUsed;
        break;
      case "devNotify":
        dev.setNotify(op.on);
        devNotify = op.on;
        if (eventIdx && op.on) availEvent = lastAvail;
        break;
    }
    expect(drv.broken).toBe(false);
    expect(dev.broken).toBe(false);
    expect(dev.pending()).toBe(avail.length);
  }
  expect(mem.readU16(layout.avail + 2)).toBe(availIdx);
  expect(mem.readU16(layout.used + 2)).toBe(usedIdx);
}

describe("random driver/device interleavings match the reference model", () => {
  const sizeArb = fc.constantFrom(1, 2, 4, 8, 16, 32);
  const baseArb = fc.oneof(fc.integer({ min: 0xffc0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.constant(0));
  it("data, tokens, lengths, free descriptors, indices and notification decisions", () => {
    fc.assert(
      fc.property(sizeArb, baseArb, fc.boolean(), fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 250 }), (size, base, eventIdx, indirect, ops) => {
        runScenario(size, base, eventIdx, indirect, ops);
      }),
      { numRuns: 250 },
    );
  });
  it("long runs through many 16-bit wraps on a tiny ring", () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4), fc.integer({ min: 0xfff0, max: 0xffff }), fc.boolean(), (size, base, eventIdx) => {
        const ops: Op[] = [];
        for (let i = 0; i < 40; i++) {
          for (let k = 0; k < size; k++) ops.push({ t: "add", nOut: 1, nIn: 0, indirect: false, lenSeed: i * 7 + k });
          ops.push({ t: "publish" }, { t: "pop", max: 8 });
          for (let k = 0; k < size; k++) ops.push({ t: "push", pick: 0, frac: 0 });
          ops.push({ t: "publishUsed" }, { t: "reclaim", max: 8 });
        }
        runScenario(size, base, eventIdx, false, ops);
      }),
      { numRuns: 30 },
    );
  });
});
