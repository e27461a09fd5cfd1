// The vhost-user back-end as a front-end sees it: negotiation replies, the
// memory table and ring translation, ring start/stop and GET_VRING_BASE,
// REPLY_ACK, the three datapaths with their counters (MRG_RXBUF merging,
// no_rx_buffer), notifications and the poll/kick scheduling, and the socket
// life cycle (0600 listener, one front-end at a time, client role with
// reconnect, ready again after a disconnect).
import { lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MQ, VIRTIO_NET_F_MRG_RXBUF } from "@nfvio/virtio";
import * as sys from "../src/sys/index.js";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { VhostUserNetDevice } from "../src/vhost-user/net.js";
import { featureMask, ProtocolFeature } from "../src/vhost-user/protocol.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import { capturingLogger, handSetup, linux, negotiate, openFds, PROTOCOL_BIT, releaseHand, ScriptedFrontend, sessionPair, sleep, until } from "./vhost-user-helpers.js";

let n = 0;
const sockPath = (): string => join(tmpdir(), `nfvio-vu-${process.pid}-${n++}.sock`);
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** 64-byte test frame: bytes i = i, so MAC fields read 00..05 (dst) and 06..0b (src). */
function frame(len = 64, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i + seed) & 0xff;
  return f;
}

/** Run the front-end until `done()` (sending up to `count` frames per pair), collecting received frames. */
async function pump(fe: VirtioUserFrontend, count: number, opts: { receive?: boolean; onFrame?: (f: Uint8Array, pair: number) => void; frame?: Uint8Array; until?: () => boolean; window?: number } = {}): Promise<void> {
  const f = opts.frame ?? frame();
  const sent = fe.pairs.map(() => 0);
  const seen = fe.pairs.map(() => 0);
  const window = opts.window ?? Infinity;
  await new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const turn = (): void => {
      fe.pairs.forEach((p, i) => {
        p.reclaimTx();
        while (sent[i]! < count && sent[i]! - seen[i]! < window && p.send(f)) sent[i]!++;
        p.flush();
        if (opts.receive !== false) seen[i]! += p.receive(opts.onFrame ? (fr) => opts.onFrame!(fr, i) : undefined, 256);
      });
      const allSent = sent.every((s) => s >= count) && fe.pairs.every((p) => p.txInFlight === 0);
      if (opts.until ? opts.until() && allSent : allSent) resolve();
      else if (Date.now() - t0 > 15000) reject(new Error(`pump timed out: sent ${sent.join(",")}`));
      else setImmediate(turn);
    };
    turn();
  });
}

describe.runIf(linux)("vhost-user back-end: protocol", () => {
  it("answers GET_FEATURES, GET_PROTOCOL_FEATURES and GET_QUEUE_NUM with what the device offers", async () => {
    const { fe, session } = sessionPair({ queuePairs: 2 });
    cleanups.push(() => fe.close(), () => session.close());
    const f = await fe.request("GET_FEATURES", null);
    for (const bit of [VIRTIO_F_VERSION_1, VIRTIO_F_RING_PACKED, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_MQ, PROTOCOL_BIT]) expect(f & bit).toBe(bit);
    expect(await fe.request("GET_PROTOCOL_FEATURES", null)).toBe(featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.STATUS));
    expect(await fe.request("GET_QUEUE_NUM", null)).toBe(2n);
    // REPLY_ACK changes nothing for requests with their own reply; with it, SET_* are acked with 0.
    fe.send("SET_PROTOCOL_FEATURES", featureMask(ProtocolFeature.REPLY_ACK, ProtocolFeature.STATUS));
    fe.send("SET_OWNER", null, [], true);
    expect(await fe.reply("SET_OWNER")).toBe(0n);
    expect(await fe.request("GET_FEATURES", null, [], true)).toBe(f);
    fe.send("SET_STATUS", 0xb, [], true);
    expect(await fe.reply("SET_STATUS")).toBe(0n);
    expect(await fe.request("GET_STATUS", null)).toBe(0xb);
  });

  it("maps the memory table, translates ring addresses through user addresses and starts rings on SET_VRING_KICK", async () => {
    const { fe, session, device } = sessionPair();
    cleanups.push(() => fe.close(), () => session.close());
    const n = await negotiate(fe, { ack: true });
    const h = await handSetup(fe, n);
    cleanups.push(() => releaseHand(h));
    expect(session.memory?.regions.length).toBe(1);
    // The back-end's view of the ring is ours: the guest address differs from the user address.
    expect(session.memory!.userToGuest(Number(h.region.region.userAddr) + 0x100, 16)).toBe(h.region.gpa + 0x100);
    expect(session.vrings.map((v) => v.started)).toEqual([true, true]);
    expect(session.vrings.map((v) => v.enabled)).toEqual([true, true]);
    // Drop mode: 10 frames on the TX ring come back used, counted.
    const tx = h.drivers[1]!;
    const addrs = new Float64Array(1);
    const lens = new Uint32Array(1);
    for (let i = 0; i < 10; i++) {
      addrs[0] = h.bufBase + i * 2048;
      lens[0] = 12 + 64;
      expect(tx.add(addrs, lens, 1, 0, i)).toBe(true);
    }
    if (tx.publish()) sys.eventfdWrite(h.kicks[1]!, 1n);
    const tokens = new Uint32Array(16);
    const got = new Uint32Array(16);
    let back = 0;
    expect(await until(() => (back += tx.reclaim(tokens, got, 16)) === 10)).toBe(true);
    expect(device.counters()[1]).toMatchObject({ queue: 1, direction: "tx", frames: 10, bytes: 640, errors: {} });
    // GET_VRING_BASE stops the ring and returns the next available index.
    expect(await fe.request("GET_VRING_BASE", { index: 1, num: 0 })).toEqual({ index: 1, num: 10 });
    expect(session.vrings[1]!.started).toBe(false);
    expect(await fe.request("GET_VRING_BASE", { index: 0, num: 0 })).toEqual({ index: 0, num: 0 });
  });

  it("reports packed ring positions with their wrap counters from GET_VRING_BASE", async () => {
    const { fe, session } = sessionPair();
    cleanups.push(() => fe.close(), () => session.close());
    const n = await negotiate(fe, { ack: true, packed: true });
    expect(n.features & VIRTIO_F_RING_PACKED).toBe(VIRTIO_F_RING_PACKED);
    const h = await handSetup(fe, n, { size: 8 });
    cleanups.push(() => releaseHand(h));
    const tx = h.drivers[1]!;
    const addrs = new Float64Array(1);
    const lens = new Uint32Array(1);
    const tokens = new Uint32Array(8);
    const got = new Uint32Array(8);
    // 11 buffers through an 8-entry ring: the device wraps once (wrap counters flip to 0).
    let sent = 0;
    let back = 0;
    expect(
      await until(() => {
        back += tx.reclaim(tokens, got, 8);
        while (sent < 11) {
          addrs[0] = h.bufBase + (sent % 8) * 2048;
          lens[0] = 12 + 60;
          if (!tx.add(addrs, lens, 1, 0, sent)) break;
          sent++;
        }
        if (tx.publish()) sys.eventfdWrite(h.kicks[1]!, 1n);
        return back === 11;
      }),
    ).toBe(true);
    const r = await fe.request("GET_VRING_BASE", { index: 1, num: 0 });
    // position 3, available wrap 0 (bit 15 clear), used position 3, used wrap 0 (bit 31 clear)
    expect(r.num & 0x7fff).toBe(3);
    expect((r.num >>> 15) & 1).toBe(0);
    expect((r.num >>> 16) & 0x7fff).toBe(3);
    expect(r.num >>> 31).toBe(0);
  });

  it("signals the call eventfd when the driver wants interrupts, and writes the err eventfd when a queue breaks", async () => {
    const { fe, session, device, logs } = sessionPair();
    cleanups.push(() => fe.close(), () => session.close());
    const n = await negotiate(fe, { ack: true });
    fe.send("SET_PROTOCOL_FEATURES", n.protocol | featureMask(ProtocolFeature.STATUS));
    const h = await handSetup(fe, n);
    cleanups.push(() => releaseHand(h));
    const tx = h.drivers[1]!;
    tx.setNotify(true); // interrupts on
    const addrs = new Float64Array(1);
    const lens = new Uint32Array(1);
    addrs[0] = h.bufBase;
    lens[0] = 76;
    tx.add(addrs, lens, 1, 0, 1);
    if (tx.publish()) sys.eventfdWrite(h.kicks[1]!, 1n);
    expect(await sys.waitReadable(h.calls[1]!, 2000)).toBe(true);
    expect(sys.eventfdRead(h.calls[1]!)).toBeGreaterThan(0n);
    // A descriptor pointing outside guest memory breaks the queue.
    addrs[0] = 0x7000_0000;
    tx.add(addrs, lens, 1, 0, 2);
    if (tx.publish()) sys.eventfdWrite(h.kicks[1]!, 1n);
    expect(await sys.waitReadable(h.errs[1]!, 2000)).toBe(true);
    expect(device.counters()[1]!.errors).toEqual({ addr_out_of_range: 1 });
    expect(logs.warnings().join("\n")).toMatch(/vring 1 broken: queue fault addr_out_of_range/);
    expect((await fe.request("GET_STATUS", null)) & 64).toBe(64); // DEVICE_NEEDS_RESET
  });

  it("disables every ring on RESET_OWNER and enables every ring when features come without VHOST_USER_F_PROTOCOL_FEATURES", async () => {
    const { fe, session } = sessionPair();
    cleanups.push(() => fe.close(), () => session.close());
    fe.send("SET_FEATURES", VIRTIO_F_VERSION_1);
    await fe.request("GET_FEATURES", null); // a round trip: SET_FEATURES was handled
    expect(session.vrings.every((v) => v.enabled)).toBe(true);
    fe.send("RESET_OWNER", null);
    await fe.request("GET_FEATURES", null);
    expect(session.vrings.some((v) => v.enabled)).toBe(false);
  });
});

describe.runIf(linux)("vhost-user back-end: datapath", () => {
  async function serve(mode: "drop" | "echo" | "macswap", pairs = 1, extra: Partial<ConstructorParameters<typeof VhostUserNetDevice>[0]> = {}) {
    const path = sockPath();
    const logs = capturingLogger();
    const device = new VhostUserNetDevice({ mode, queuePairs: pairs, log: logs.log, ...extra });
    const server = new VhostUserServer({ path, device, log: logs.log });
    server.start();
    cleanups.push(() => server.close());
    return { path, device, server, logs };
  }

  for (const packed of [false, true]) {
    const ring = packed ? "packed" : "split";

    it(`echo returns every frame unchanged on the same pair (${ring}, 2 pairs, 2 regions)`, async () => {
      const { path, device } = await serve("echo", 2);
      const fe = await VirtioUserFrontend.connect({ path, packed, queuePairs: 2, regions: 2 });
      cleanups.push(() => fe.close());
      const seen = [0, 0];
      let bad = 0;
      const f = frame(100, 7);
      await pump(fe, 1000, { frame: f, onFrame: (g, i) => {
        seen[i]!++;
        if (g.length !== 100 || g.some((b, k) => b !== f[k])) bad++;
      }, until: () => seen.every((s) => s === 1000) });
      expect(bad).toBe(0);
      const c = device.counters();
      expect(c.map((q) => q.frames)).toEqual([1000, 1000, 1000, 1000]);
      expect(c.map((q) => q.bytes)).toEqual([100_000, 100_000, 100_000, 100_000]);
      expect(c.every((q) => Object.keys(q.errors).length === 0)).toBe(true);
    });

    it(`macswap swaps destination and source MAC and keeps the rest (${ring})`, async () => {
      const { path } = await serve("macswap");
      const fe = await VirtioUserFrontend.connect({ path, packed });
      cleanups.push(() => fe.close());
      const f = frame(64);
      let ok = 0;
      await pump(fe, 50, { frame: f, onFrame: (g) => {
        const want = [...f.subarray(6, 12), ...f.subarray(0, 6), ...f.subarray(12)];
        if (g.length === 64 && g.every((b, k) => b === want[k])) ok++;
      }, until: () => ok === 50 });
      expect(ok).toBe(50);
    });

    it(`merges receive buffers with MRG_RXBUF and sets num_buffers (${ring})`, async () => {
      const { path, device } = await serve("echo");
      // 1400-byte frames into 512-byte receive buffers: 12 + 1400 bytes take 3 buffers.
      const fe = await VirtioUserFrontend.connect({ path, packed, rxBufferSize: 512 });
      cleanups.push(() => fe.close());
      expect(fe.features & VIRTIO_NET_F_MRG_RXBUF).toBe(VIRTIO_NET_F_MRG_RXBUF);
      const f = frame(1400, 3);
      let ok = 0;
      // The receive ring holds 256 / 3 = 85 such frames: keep at most 64 in flight.
      await pump(fe, 200, { frame: f, window: 64, onFrame: (g) => {
        if (g.length === 1400 && g.every((b, k) => b === f[k])) ok++;
      }, until: () => ok === 200 });
      expect(ok).toBe(200);
      expect(device.counters()[0]).toMatchObject({ frames: 200, bytes: 280_000, errors: {} });
    });
  }

  it("without MRG_RXBUF a frame needs one receive buffer; too small ones are returned empty and counted", async () => {
    const { path, device } = await serve("echo");
    const fe = await VirtioUserFrontend.connect({ path, features: VIRTIO_F_VERSION_1, rxBufferSize: 512 });
    cleanups.push(() => fe.close());
    expect(fe.features & VIRTIO_NET_F_MRG_RXBUF).toBe(0n);
    await pump(fe, 20, { frame: frame(1000) });
    expect(await until(() => (device.counters()[0]!.errors.rx_buffer_too_small ?? 0) === 20)).toBe(true);
    expect(device.counters()[0]!.frames).toBe(0);
    // Frames that fit still go through.
    let got = 0;
    await pump(fe, 20, { frame: frame(400), onFrame: () => got++, until: () => got === 20 });
    expect(device.counters()[0]!.frames).toBe(20);
  });

  it("drops and counts no_rx_buffer when the driver posts no receive buffers in time", async () => {
    const { path, device } = await serve("echo");
    const fe = await VirtioUserFrontend.connect({ path, queueSize: 64 });
    cleanups.push(() => fe.close());
    // Never receive: 64 receive buffers exist, 300 frames are sent.
    await pump(fe, 300, { receive: false });
    const c = device.counters();
    expect(c[1]!.frames).toBe(300);
    expect(c[0]!.frames).toBe(64);
    expect(c[0]!.errors).toEqual({ no_rx_buffer: 236 });
  });

  it("drop counts frames and bytes per queue; polls while busy, sleeps when idle, wakes on a kick", async () => {
    const { path, device } = await serve("drop", 2, { idleMs: 1 });
    const fe = await VirtioUserFrontend.connect({ path, queuePairs: 2 });
    cleanups.push(() => fe.close());
    await pump(fe, 5000);
    const c = device.counters();
    expect(c.filter((q) => q.direction === "tx").map((q) => q.frames)).toEqual([5000, 5000]);
    expect(c.filter((q) => q.direction === "tx").map((q) => q.bytes)).toEqual([320_000, 320_000]);
    expect(c.filter((q) => q.direction === "rx").map((q) => q.frames)).toEqual([0, 0]);
    expect(await until(() => !device.polling)).toBe(true);
    const { wakeups, kicks } = device.sched;
    // Idle, kicks are enabled again: one frame kicks and wakes the device.
    await pump(fe, 1);
    expect(device.sched.kicks).toBeGreaterThan(kicks);
    expect(device.sched.wakeups).toBeGreaterThan(wakeups);
    expect(fe.kicks).toBeGreaterThan(0);
    expect(device.counters()[1]!.frames).toBe(5001);
  });
});

describe.runIf(linux)("vhost-user back-end: sockets and connections", () => {
  it("listens with mode 0600, serves one front-end at a time, and is ready again after a disconnect", async () => {
    const path = sockPath();
    const logs = capturingLogger();
    const device = new VhostUserNetDevice({ mode: "echo", log: logs.log });
    const server = new VhostUserServer({ path, device, log: logs.log });
    server.start();
    cleanups.push(() => server.close());
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    const before = openFds();
    for (let round = 0; round < 3; round++) {
      const fe = await VirtioUserFrontend.connect({ path, packed: round === 1 });
      // A second front-end while one is served is refused.
      const intruder = new ScriptedFrontend(sys.connectUnix(path));
      expect(await intruder.closedByPeer()).toBe(true);
      intruder.close();
      let got = 0;
      await pump(fe, 100, { onFrame: () => got++, until: () => got === 100 });
      expect(server.session?.memory).not.toBeNull();
      await fe.close();
      expect(await until(() => server.session === null)).toBe(true);
    }
    expect(server.connections).toBe(3);
    expect(server.refused).toBe(3);
    expect(device.counters()[0]!.frames).toBe(300);
    expect(openFds()).toBe(before);
    expect(logs.warnings().filter((l) => /second front-end/.test(l))).toHaveLength(3);
  });

  it("a front-end that vanishes mid-traffic leaves no mapping and no descriptor behind", async () => {
    const path = sockPath();
    const device = new VhostUserNetDevice({ mode: "drop" });
    const server = new VhostUserServer({ path, device, log: capturingLogger().log });
    server.start();
    cleanups.push(() => server.close());
    const before = openFds();
    const fe = await VirtioUserFrontend.connect({ path });
    await pump(fe, 1000);
    const session = server.session!;
    const mem = session.memory!;
    // Close the socket without stopping the rings.
    (fe as unknown as { channel: { close(): void } }).channel.close();
    expect(await until(() => server.session === null)).toBe(true);
    expect(mem.mapped).toBe(false);
    expect(session.vrings.every((v) => !v.started && v.queue === null)).toBe(true);
    await fe.close();
    expect(openFds()).toBe(before);
  });

  it("client role: connects to a listening front-end, retries until it appears, reconnects after it goes away", async () => {
    const path = sockPath();
    const logs = capturingLogger();
    const device = new VhostUserNetDevice({ mode: "drop", log: logs.log });
    const server = new VhostUserServer({ path, role: "client", device, log: logs.log, reconnectMs: 20 });
    server.start();
    cleanups.push(() => server.close());
    await sleep(60); // nobody listens yet: the back-end retries
    const lfd = sys.listenUnix(path, { replace: true });
    cleanups.push(() => sys.closeAll([lfd]));
    for (let round = 0; round < 2; round++) {
      expect(await sys.waitReadable(lfd, 3000)).toBe(true);
      const fd = sys.accept(lfd)!;
      const fe = new ScriptedFrontend(fd);
      expect(await fe.request("GET_QUEUE_NUM", null)).toBe(1n);
      fe.close();
      expect(await until(() => server.connections === round + 1 && server.session === null)).toBe(true);
    }
    expect(logs.warnings()).toEqual([]);
  });
});
