// Packed rings stopped and started again mid-stream (QEMU's stop/continue):
// GET_VRING_BASE reports where the back-end stopped (the next available slot
// with the driver wrap counter, the next used slot with the device wrap
// counter: vhost-user.rst, "Vring descriptor indices for packed virtqueues"),
// SET_VRING_BASE with that value resumes it there, and every frame arrives
// once, in order, byte-exact. Bases that name no slot of the ring are
// refused with a log line and a count, and the connection goes on.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PackedDevice, VIRTIO_F_RING_PACKED, type PackedRingPosition } from "@nfvio/virtio";
import * as sys from "../src/sys/index.js";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { VhostUserNetDevice } from "../src/vhost-user/net.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import { decodePackedBase, encodePackedBase, PACKED_BASE_START } from "../src/vhost-user/session.js";
import { capturingLogger, handSetup, linux, negotiate, releaseHand, sessionPair, sleep, until, type HandRings, type ScriptedFrontend } from "./vhost-user-helpers.js";

let n = 0;
const sockPath = (): string => join(tmpdir(), `nfvio-restart-${process.pid}-${n++}.sock`);
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Frame `seq`: 60..313 bytes, the sequence number at 14..17, the rest a pattern of it. */
function frameOf(seq: number): Uint8Array {
  const f = new Uint8Array(60 + ((seq * 37) % 254));
  for (let i = 0; i < f.length; i++) f[i] = (seq * 13 + i * 3) & 0xff;
  new DataView(f.buffer).setUint32(14, seq, true);
  return f;
}

/** Position a packed ring of `size` is at after `descs` single-descriptor buffers from the start. */
function after(descs: number, size: number): PackedRingPosition {
  const pos = descs % size;
  const wrap = Math.floor(descs / size) % 2 === 0 ? 1 : 0;
  return { availIdx: pos, availWrap: wrap, usedIdx: pos, usedWrap: wrap };
}

describe("packed vring base encoding (vhost-user.rst, Vring descriptor indices for packed virtqueues)", () => {
  it("bits 0-14 available slot, bit 15 its wrap, bits 16-30 used slot, bit 31 its wrap; an upper half of 0 means used = available", () => {
    expect(decodePackedBase(PACKED_BASE_START)).toEqual({ availIdx: 0, availWrap: 1, usedIdx: 0, usedWrap: 1 });
    expect(decodePackedBase(0x0003_0005)).toEqual({ availIdx: 5, availWrap: 0, usedIdx: 3, usedWrap: 0 });
    expect(decodePackedBase(0x8003_8005)).toEqual({ availIdx: 5, availWrap: 1, usedIdx: 3, usedWrap: 1 });
    // DPDK sends (and its vhost library reads) only the available half.
    expect(decodePackedBase(0x8000)).toEqual({ availIdx: 0, availWrap: 1, usedIdx: 0, usedWrap: 1 });
    expect(decodePackedBase(0x0007)).toEqual({ availIdx: 7, availWrap: 0, usedIdx: 7, usedWrap: 0 });
    expect(encodePackedBase({ availIdx: 5, availWrap: 0, usedIdx: 3, usedWrap: 1 })).toBe(0x8003_0005);
    for (const num of [PACKED_BASE_START, 0x0003_0005, 0x8003_8005, 0xffff_ffff, 0x7fff_7fff]) expect(encodePackedBase(decodePackedBase(num))).toBe(num);
  });
});

describe.runIf(linux)("packed ring stop/continue with nfvio's front-end (echo back-end)", () => {
  async function run(opts: { packed: boolean; size: number; frames: number; stopEvery: number; pairs?: 1 | 2 }) {
    const path = sockPath();
    const logs = capturingLogger();
    const device = new VhostUserNetDevice({ mode: "echo", queuePairs: opts.pairs ?? 1, log: logs.log });
    const server = new VhostUserServer({ path, device, log: logs.log });
    server.start();
    cleanups.push(() => server.close());
    const fe = await VirtioUserFrontend.connect({ path, packed: opts.packed, queueSize: opts.size, queuePairs: opts.pairs ?? 1, regions: opts.pairs === 2 ? 2 : 1 });
    cleanups.push(() => fe.close());
    const pairs = fe.pairs;
    const sent = pairs.map(() => 0);
    const got: number[][] = pairs.map(() => []);
    let bad = 0;
    const stops: number[][] = [];
    const window = Math.min(32, opts.size / 2);
    const turn = (limit: number): void => {
      pairs.forEach((p, i) => {
        p.reclaimTx();
        while (sent[i]! < limit && sent[i]! - got[i]!.length < window && p.send(frameOf(sent[i]!))) sent[i]!++;
        p.flush();
        p.receive((f) => {
          const seq = new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14, true);
          const want = frameOf(seq);
          if (f.length !== want.length || f.some((b, k) => b !== want[k])) bad++;
          got[i]!.push(seq);
        }, 256);
      });
    };
    let next = opts.stopEvery;
    while (got.some((g) => g.length < opts.frames)) {
      const limit = Math.min(next, opts.frames);
      const t0 = Date.now();
      // Run to the next stop point: everything up to it sent, some of it still in flight when we stop.
      while (sent.some((s) => s < limit)) {
        turn(limit);
        if (Date.now() - t0 > 15_000) throw new Error(`stuck at ${sent.join(",")} sent, ${got.map((g) => g.length).join(",")} received`);
        await new Promise((r) => setImmediate(r));
      }
      if (limit >= opts.frames) {
        expect(await until(() => (turn(limit), got.every((g) => g.length === opts.frames)), 10_000)).toBe(true);
        break;
      }
      const bases = await fe.stop();
      stops.push(bases);
      // The back-end finished what was queued at the stop: every frame sent so far comes back.
      expect(await until(() => (turn(limit), got.every((g, i) => g.length === sent[i])), 5000)).toBe(true);
      if (opts.packed) {
        for (const [q, b] of bases.entries()) expect(decodePackedBase(b), `vring ${q} at ${sent[q >> 1]} frames`).toEqual(after(sent[q >> 1]!, opts.size));
      } else {
        for (const [q, b] of bases.entries()) expect(b, `vring ${q}`).toBe(sent[q >> 1]! & 0xffff);
      }
      // Frames sent while stopped wait in the ring.
      const before = got.map((g) => g.length);
      turn(limit + 3);
      await sleep(20);
      turn(limit + 3);
      expect(got.map((g) => g.length)).toEqual(before);
      await fe.resume();
      next += opts.stopEvery;
    }
    expect(bad).toBe(0);
    for (const g of got) expect(g).toEqual(Array.from({ length: opts.frames }, (_, k) => k));
    const c = device.counters();
    expect(c.map((q) => q.frames)).toEqual(c.map(() => opts.frames));
    expect(c.every((q) => Object.keys(q.errors).length === 0)).toBe(true);
    expect(fe.counters().every((q) => Object.keys(q.errors).length === 0)).toBe(true);
    expect(logs.warnings()).toEqual([]);
    return { stops, logs };
  }

  it("64-entry rings stopped every 45 frames: each GET_VRING_BASE is where the rings are, SET_VRING_BASE resumes there, 1500 frames once each in order", async () => {
    const { stops, logs } = await run({ packed: true, size: 64, frames: 1500, stopEvery: 45 });
    expect(stops.length).toBe(33);
    const pos = stops.map((b) => decodePackedBase(b[1]!));
    expect(pos.some((p) => p.availWrap === 0 && p.availIdx !== 0)).toBe(true);
    expect(pos.some((p) => p.availWrap === 1 && p.availIdx !== 0)).toBe(true);
    expect(logs.lines.filter((l) => /packed base 0x[0-9a-f]+ \(available \d+\/[01], used \d+\/[01]\)/.test(l)).length).toBe(2 * 33);
  });

  it("a 13-entry ring (not a power of two), two pairs in two regions, stopped every 20 frames", async () => {
    const { stops } = await run({ packed: true, size: 13, frames: 400, stopEvery: 20, pairs: 2 });
    expect(stops.length).toBe(19);
  });

  it("split rings stop and continue the same way (the base is the next available index)", async () => {
    const { stops } = await run({ packed: false, size: 64, frames: 600, stopEvery: 70 });
    expect(stops.length).toBe(8);
  });
});

describe.runIf(linux)("packed ring stop/continue driven by hand (QEMU's message order)", () => {
  function pair() {
    const s = sessionPair({ mode: "drop" });
    cleanups.push(() => s.fe.close(), () => s.session.close());
    return s;
  }

  /** SET_VRING_NUM, BASE, ADDR, KICK for vring `i` of the hand set-up; the base's reply (with REPLY_ACK) first. */
  async function restart(fe: ScriptedFrontend, h: HandRings, i: number, size: number, base: number): Promise<{ base: bigint; kick: bigint }> {
    const p = h.placements[i]!;
    const ua = (g: number): bigint => h.region.mapping.address + BigInt(g - h.region.gpa);
    fe.send("SET_VRING_NUM", { index: i, num: size }, [], true);
    expect(await fe.reply("SET_VRING_NUM")).toBe(0n);
    fe.send("SET_VRING_BASE", { index: i, num: base }, [], true);
    const b = await fe.reply("SET_VRING_BASE");
    fe.send("SET_VRING_ADDR", { index: i, flags: 0, desc: ua(p.descArea), avail: ua(p.driverArea), used: ua(p.deviceArea), log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(0n);
    fe.send("SET_VRING_KICK", { index: i, noFd: false }, [h.kicks[i]!], true);
    const k = await fe.reply("SET_VRING_KICK");
    return { base: b, kick: k };
  }

  /** Send `count` one-descriptor frames on the transmit ring and wait until all are used; returns their tokens in used order. */
  async function transmit(h: HandRings, from: number, count: number, size: number): Promise<number[]> {
    const tx = h.drivers[1]!;
    const addrs = new Float64Array(1);
    const lens = new Uint32Array(1);
    const tokens = new Uint32Array(size);
    const got = new Uint32Array(size);
    const back: number[] = [];
    let sent = 0;
    const ok = await until(() => {
      const m = tx.reclaim(tokens, got, size);
      for (let k = 0; k < m; k++) back.push(tokens[k]!);
      while (sent < count) {
        addrs[0] = h.bufBase + ((from + sent) % size) * 2048;
        lens[0] = 12 + 60;
        if (!tx.add(addrs, lens, 1, 0, from + sent)) break;
        sent++;
      }
      if (tx.publish()) sys.eventfdWrite(h.kicks[1]!, 1n);
      return back.length === count;
    });
    expect(ok).toBe(true);
    return back;
  }

  it("GET_VRING_BASE mid-stream, SET_VRING_BASE with its value: the ring continues at that slot and wrap", async () => {
    const { fe, session, device } = pair();
    const n = await negotiate(fe, { ack: true, packed: true });
    expect(n.features & VIRTIO_F_RING_PACKED).toBe(VIRTIO_F_RING_PACKED);
    const size = 8;
    const h = await handSetup(fe, n, { size });
    cleanups.push(() => releaseHand(h));
    const all: number[] = [];
    let total = 0;
    // Stops at 11, 19, 29, 30, 47 descriptors: positions 3/0, 3/1, 5/0, 6/0, 7/0.
    for (const count of [11, 8, 10, 1, 17]) {
      all.push(...(await transmit(h, total, count, size)));
      total += count;
      const r = await fe.request("GET_VRING_BASE", { index: 1, num: 0 });
      expect(session.vrings[1]!.started).toBe(false);
      expect(decodePackedBase(r.num)).toEqual(after(total, size));
      const q = await restart(fe, h, 1, size, r.num);
      expect(q).toEqual({ base: 0n, kick: 0n });
      expect(session.vrings[1]!.started).toBe(true);
      expect((session.vrings[1]!.queue as PackedDevice).availState).toEqual({ pos: total % size, wrap: after(total, size).availWrap });
    }
    all.push(...(await transmit(h, total, 20, size)));
    total += 20;
    expect(all).toEqual(Array.from({ length: total }, (_, k) => k));
    expect(device.counters()[1]!.frames).toBe(total);
    expect(session.refused).toBe(0);
    expect(h.drivers[1]!.broken).toBe(false);
  });

  it("a DPDK-style base (available half only) resumes with used = available", async () => {
    const { fe, session } = pair();
    const n = await negotiate(fe, { ack: true, packed: true });
    const size = 8;
    const h = await handSetup(fe, n, { size });
    cleanups.push(() => releaseHand(h));
    await transmit(h, 0, 13, size);
    const r = await fe.request("GET_VRING_BASE", { index: 1, num: 0 });
    expect(r.num).toBe(0x0005_0005); // 5/0 on both sides
    expect(await restart(fe, h, 1, size, r.num & 0xffff)).toEqual({ base: 0n, kick: 0n });
    expect((session.vrings[1]!.queue as PackedDevice).usedState).toEqual({ pos: 5, wrap: 0 });
    expect(await transmit(h, 13, 12, size)).toEqual(Array.from({ length: 12 }, (_, k) => 13 + k));
  });

  it("refuses bases that name no slot of the ring (NACK, a log line, session.refused), and the ring resumes where it stopped", async () => {
    const { fe, session, logs } = pair();
    const n = await negotiate(fe, { ack: true, packed: true });
    const size = 8;
    const h = await handSetup(fe, n, { size });
    cleanups.push(() => releaseHand(h));
    await transmit(h, 0, 10, size);
    const r = await fe.request("GET_VRING_BASE", { index: 1, num: 0 });
    expect(decodePackedBase(r.num)).toEqual(after(10, size));
    const hostile: [number, RegExp][] = [
      [0x8000_8008, /packed base 0x80008008 \(available 8\/1, used 0\/1\) does not fit the ring: packed ring availIdx 8 must be a slot in \[0, 8\) \(queue size 8\)/],
      [2 | (9 << 16), /packed base 0x90002 \(available 2\/0, used 9\/0\) does not fit the ring: packed ring usedIdx 9 must be a slot/],
      [0x7fff | 0x8000, /packed base 0xffff \(available 32767\/1, used 32767\/1\) does not fit the ring: packed ring availIdx 32767/],
      [0xffff_ffff, /packed base 0xffffffff .* does not fit the ring/],
      // Used ahead of available: more than a ring of descriptors would be in flight.
      [2 | (3 << 16), /packed base 0x30002 \(available 2\/0, used 3\/0\) does not fit the ring: packed ring used position 3\/0 is 15 descriptors behind available 2\/0, more than the queue size 8/],
    ];
    for (const [num] of hostile) {
      fe.send("SET_VRING_BASE", { index: 1, num }, [], true);
      expect(await fe.reply("SET_VRING_BASE")).toBe(1n);
    }
    const w = logs.warnings().join("\n");
    for (const [, re] of hostile) expect(w).toMatch(re);
    expect(session.refused).toBe(hostile.length);
    expect(session.closed).toBe(false);
    // The refused bases changed nothing: GET_VRING_BASE on the stopped ring still says where it stopped, and a restart without a new base continues there.
    expect((await fe.request("GET_VRING_BASE", { index: 1, num: 0 })).num).toBe(r.num);
    const p = h.placements[1]!;
    const ua = (g: number): bigint => h.region.mapping.address + BigInt(g - h.region.gpa);
    fe.send("SET_VRING_ADDR", { index: 1, flags: 0, desc: ua(p.descArea), avail: ua(p.driverArea), used: ua(p.deviceArea), log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(0n);
    fe.send("SET_VRING_KICK", { index: 1, noFd: false }, [h.kicks[1]!], true);
    expect(await fe.reply("SET_VRING_KICK")).toBe(0n);
    expect(await transmit(h, 10, 9, size)).toEqual(Array.from({ length: 9 }, (_, k) => 10 + k));
  });

  it("a base set before the ring size is checked when the ring starts: a kick into a smaller ring is refused, the connection goes on", async () => {
    const { fe, session, logs } = pair();
    const n = await negotiate(fe, { ack: true, packed: true });
    const size = 8;
    const h = await handSetup(fe, n, { size });
    cleanups.push(() => releaseHand(h));
    await transmit(h, 0, 4, size);
    await fe.request("GET_VRING_BASE", { index: 1, num: 0 });
    // Base 12/1 fits a 16-entry ring; after SET_VRING_NUM 8 it names no slot, so the kick that would start the ring is refused.
    fe.send("SET_VRING_NUM", { index: 1, num: 16 }, [], true);
    expect(await fe.reply("SET_VRING_NUM")).toBe(0n);
    fe.send("SET_VRING_BASE", { index: 1, num: 12 | 0x8000 }, [], true);
    expect(await fe.reply("SET_VRING_BASE")).toBe(0n); // fits 16
    const q = await restart(fe, h, 1, size, 12 | 0x8000); // ... but the ring is 8 again: refused at SET_VRING_BASE
    expect(q.base).toBe(1n);
    expect(q.kick).toBe(1n); // the base kept (12/1) does not fit 8 either: the kick is refused
    expect(logs.warnings().join("\n")).toMatch(/SET_VRING_KICK refused: vring 1: packed base 0x800c \(available 12\/1, used 12\/1\) does not fit the ring/);
    expect(session.vrings[1]!.started).toBe(false);
    expect(session.refused).toBe(2);
    // A good base and a kick start it.
    expect(await restart(fe, h, 1, size, encodePackedBase(after(4, size)))).toEqual({ base: 0n, kick: 0n });
    expect(await transmit(h, 4, 10, size)).toEqual(Array.from({ length: 10 }, (_, k) => 4 + k));
  });
});
