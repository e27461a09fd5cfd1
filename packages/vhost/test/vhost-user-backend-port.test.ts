// VhostUserPort: a vhost-user back-end as a poll-driven core Port.
//
// (1) nfvio's VirtioUserFrontend + VirtioUserPort on the other side of a
//     socket in this process: frames both ways, byte-exact, counts equal,
//     pools empty at the end (split and packed; 1 and 2 queue pairs; small
//     receive buffers so long frames are merged, MRG_RXBUF).
// (2) every drop counter provoked: empty pool, short and oversize frames,
//     no receive buffer posted, receive buffers too small, no peer, closed.
// (3) DPDK testpmd's net_virtio_user: txonly into the port (the port counts
//     exactly testpmd's TX-packets) and the port's tx into rxonly
//     (testpmd's RX-packets equal what the port delivered). Skipped when
//     dpdk-testpmd is not installed. testpmd runs with `-l 0,1 --main-lcore 0`
//     (its forwarding lcore is core 1); the port is polled here, in
//     setImmediate turns, between which the vhost-user socket is served.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PacketPool } from "@nfvio/core";
import { Burst } from "@nfvio/packet";
import { decodeNetConfig, VIRTIO_F_EVENT_IDX, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MQ, VIRTIO_NET_S_LINK_UP } from "@nfvio/virtio";
import { importReadmeExample } from "../../../tooling/readme.ts";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { VhostUserPort, VHOST_USER_PORT_COUNTERS } from "../src/vhost-user/backend-port.js";
import { VirtioUserFrontend, type VirtioUserOptions } from "../src/vhost-user/frontend.js";
import { VirtioUserPort } from "../src/vhost-user/port.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import { accumulated, cleanPrefix, killChildren, sleep, TESTPMD, testpmd, waitOutput, type Proc } from "./vhost-user-dpdk-helpers.js";
import * as sys from "../src/sys/index.js";
import { VhostUserSession } from "../src/vhost-user/session.js";
import { capturingLogger, handSetup, linux, negotiate, releaseHand, ScriptedFrontend, until, type HandRings } from "./vhost-user-helpers.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "nfvio-vu-bport-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "vhost.sock");
}

interface SetUp {
  port: VhostUserPort;
  server: VhostUserServer;
  frontend: VirtioUserFrontend;
  peers: VirtioUserPort[];
  poolA: PacketPool;
  poolB: PacketPool;
  warnings: () => string[];
}

/** A VhostUserPort behind a server, and nfvio's own front-end connected to it with one VirtioUserPort per pair. */
async function setUp(o: { queuePairs?: number; packed?: boolean; poolA?: PacketPool; fe?: Partial<VirtioUserOptions>; mac?: string } = {}): Promise<SetUp> {
  const path = socketPath();
  const logs = capturingLogger();
  const poolA = o.poolA ?? new PacketPool({ count: 2048 });
  const port = new VhostUserPort({ pool: poolA, queuePairs: o.queuePairs ?? 1, log: logs.log, ...(o.mac ? { mac: o.mac } : {}) });
  const server = new VhostUserServer({ path, role: "server", device: port, log: logs.log });
  server.start();
  cleanups.push(() => server.close());
  cleanups.push(() => port.close());
  const frontend = await VirtioUserFrontend.connect({ path, queuePairs: o.queuePairs ?? 1, packed: o.packed ?? false, ...o.fe });
  cleanups.push(() => frontend.close());
  const poolB = new PacketPool({ count: 2048 });
  const peers = frontend.pairs.map((_, k) => new VirtioUserPort({ frontend, pool: poolB, queuePair: k, portId: 7 }));
  return { port, server, frontend, peers, poolA, poolB, warnings: logs.warnings };
}

// Frames: 6-byte destination, 6-byte source, EtherType 0x88b5 (local experimental), a 32-bit id and length, then a pattern of both.
const SIZES = [60, 64, 65, 128, 333, 700, 1000, 1514];

function writeFrame(pool: PacketPool, i: number, id: number, len: number): void {
  const d = pool.data;
  const o = pool.start(i);
  for (let j = 0; j < 6; j++) d[o + j] = 0x02;
  for (let j = 6; j < 12; j++) d[o + j] = 0x0a;
  d[o + 12] = 0x88;
  d[o + 13] = 0xb5;
  pool.view.setUint32(o + 14, id, true);
  pool.view.setUint32(o + 18, len, true);
  for (let j = 22; j < len; j++) d[o + j] = (id * 31 + j * 7) & 0xff;
  pool.len[i] = len;
  pool.hash[i] = id;
}

/** Check a received frame against what {@link writeFrame} made; returns its id (throws on any difference). */
function checkFrame(pool: PacketPool, i: number): number {
  const d = pool.data;
  const o = pool.start(i);
  const len = pool.len[i]!;
  const id = pool.view.getUint32(o + 14, true);
  if (pool.view.getUint32(o + 18, true) !== len) throw new Error(`frame ${id}: length ${len}, written as ${pool.view.getUint32(o + 18, true)}`);
  for (let j = 0; j < 12; j++) if (d[o + j] !== (j < 6 ? 0x02 : 0x0a)) throw new Error(`frame ${id}: MAC byte ${j}`);
  if (d[o + 12] !== 0x88 || d[o + 13] !== 0xb5) throw new Error(`frame ${id}: EtherType`);
  for (let j = 22; j < len; j++) if (d[o + j] !== ((id * 31 + j * 7) & 0xff)) throw new Error(`frame ${id}: byte ${j} is ${d[o + j]}`);
  return id;
}

/** Send `n` frames from `send` (bursts of 32, round robin over senders), draining with `recv` after each burst; returns the ids received (checked byte by byte). */
function transfer(pool: PacketPool, senders: readonly { tx(b: Burst): number }[], recvPool: PacketPool, receivers: readonly { rx(b: Burst): number }[], n: number): number[] {
  const b = new Burst(32);
  const r = new Burst(32);
  const seen: number[] = [];
  for (let id = 0; id < n; ) {
    b.clear();
    const m = Math.min(32, n - id);
    expect(pool.allocBurst(b, m)).toBe(m);
    for (let k = 0; k < m; k++) writeFrame(pool, b.idx[k]!, id + k, SIZES[(id + k) % SIZES.length]!);
    const s = senders[(id >> 5) % senders.length]!;
    expect(s.tx(b)).toBe(m);
    id += m;
    for (let tries = 0; tries < 50; tries++) {
      let got = 0;
      for (const rc of receivers) {
        r.clear();
        got += rc.rx(r);
        for (let k = 0; k < r.count; k++) seen.push(checkFrame(recvPool, r.idx[k]!));
        recvPool.freeBurst(r);
      }
      if (got === 0 && seen.length >= id) break;
    }
  }
  return seen;
}

const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);

describe.runIf(linux)("VhostUserPort with nfvio's virtio-user front-end", () => {
  for (const c of [
    { tag: "split", packed: false, queuePairs: 1 },
    { tag: "packed", packed: true, queuePairs: 1 },
    { tag: "split, 2 pairs", packed: false, queuePairs: 2 },
    { tag: "packed, 2 pairs", packed: true, queuePairs: 2 },
  ]) {
    it(`${c.tag}: frames both ways, byte-exact, counts equal, pools empty`, async () => {
      // 512-byte receive buffers on the front-end: frames above 500 bytes take several (MRG_RXBUF, num_buffers).
      const s = await setUp({ queuePairs: c.queuePairs, packed: c.packed, fe: { rxBufferSize: 512 } });
      const { port, peers, poolA, poolB, frontend } = s;
      expect(port.connected).toBe(true);
      const N = 2000;
      const bytes = sum(Array.from({ length: N }, (_, id) => SIZES[id % SIZES.length]!));
      // Front-end -> port: the peer's transmit queues, into port.rx.
      const up = transfer(poolB, peers, poolA, [port], N);
      expect(up.length).toBe(N);
      expect(new Set(up).size).toBe(N);
      // Port -> front-end: port.tx into the peer's receive queues (pair = hash % pairs).
      const down = transfer(poolA, [port], poolB, peers, N);
      expect(down.length).toBe(N);
      expect(new Set(down).size).toBe(N);
      expect(port.snapshot()).toEqual({ "rx.packets": N, "rx.bytes": bytes, "tx.packets": N, "tx.bytes": bytes });
      const peerTotals = { rx: sum(peers.map((p) => p.get("rx.packets"))), tx: sum(peers.map((p) => p.get("tx.packets"))), rxBytes: sum(peers.map((p) => p.get("rx.bytes"))) };
      expect(peerTotals).toEqual({ rx: N, tx: N, rxBytes: bytes });
      for (const p of peers) expect(Object.keys(p.snapshot()).every((k) => !k.includes("drop"))).toBe(true);
      if (c.queuePairs === 2) {
        // Both pairs carried traffic both ways.
        for (const q of frontend.counters()) expect(q.frames, `queue ${q.queue}`).toBeGreaterThan(0);
      }
      expect(frontend.counters().every((q) => Object.keys(q.errors).length === 0)).toBe(true);
      expect(poolA.stats().inUse).toBe(0);
      expect(poolB.stats().inUse).toBe(0);
      expect(s.warnings()).toEqual([]);
    });
  }

  it("offers the features it was asked for, MQ with several pairs, a config space with a MAC", async () => {
    const pool = new PacketPool({ count: 64 });
    const plain = new VhostUserPort({ pool });
    expect(plain.config).toBeUndefined();
    expect(plain.features & VIRTIO_NET_F_MQ).toBe(0n);
    expect(plain.vrings).toBe(2);
    const mq = new VhostUserPort({ pool, queuePairs: 4, mac: "02:aa:bb:cc:dd:ee", features: VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_NET_F_MQ });
    expect(mq.features).toBe(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_NET_F_MQ | VIRTIO_NET_F_MAC);
    expect(mq.vrings).toBe(8);
    expect(mq.queueNum).toBe(4);
    const cfg = decodeNetConfig(mq.config!());
    expect([...cfg.mac]).toEqual([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    expect(cfg.maxVirtqueuePairs).toBe(4);
    expect(cfg.status).toBe(VIRTIO_NET_S_LINK_UP);
    expect(() => new VhostUserPort({ pool, queuePairs: 0 })).toThrow(RangeError);
    expect(() => new VhostUserPort({ pool, burst: 0 })).toThrow(RangeError);
    // A front-end connects to a port with a MAC (the session offers VHOST_USER_PROTOCOL_F_CONFIG).
    const s = await setUp({ mac: "02:aa:bb:cc:dd:ee" });
    expect(s.port.connected).toBe(true);
    expect(s.frontend.features & VIRTIO_F_RING_PACKED).toBe(0n);
  });
});

describe.runIf(linux)("VhostUserPort drop counters", () => {
  it("not connected: tx counts tx.drop.not_ready and frees everything, rx finds nothing", () => {
    const pool = new PacketPool({ count: 64 });
    const port = new VhostUserPort({ pool });
    expect(port.connected).toBe(false);
    const b = new Burst(32);
    pool.allocBurst(b, 10);
    for (let k = 0; k < 10; k++) writeFrame(pool, b.idx[k]!, k, 64);
    expect(port.tx(b)).toBe(10);
    b.clear();
    expect(port.rx(b)).toBe(0);
    expect(port.snapshot()).toEqual({ "tx.drop.not_ready": 10 });
    expect(pool.stats().inUse).toBe(0);
    expect(Object.keys(port.snapshot(true))).toEqual([...VHOST_USER_PORT_COUNTERS]);
  });

  it("empty pool: rx.drop.nobuf once per call, the frames stay in the ring and come later", async () => {
    const { port, peers, poolA, poolB } = await setUp();
    const b = new Burst(32);
    poolB.allocBurst(b, 10);
    for (let k = 0; k < 10; k++) writeFrame(poolB, b.idx[k]!, k, 100);
    peers[0]!.tx(b);
    const held = new Uint32Array(poolA.count);
    const n = poolA.allocInto(held, 0, poolA.count);
    const r = new Burst(32);
    expect(port.rx(r)).toBe(0);
    expect(port.rx(r)).toBe(0);
    expect(port.get("rx.drop.nobuf")).toBe(2);
    poolA.freeRange(held, 0, n);
    expect(port.rx(r)).toBe(10);
    for (let k = 0; k < 10; k++) expect(checkFrame(poolA, r.idx[k]!)).toBe(k);
    expect(poolA.port[r.idx[0]!]).toBe(0);
    poolA.freeBurst(r);
    expect(port.snapshot()).toEqual({ "rx.packets": 10, "rx.bytes": 1000, "rx.drop.nobuf": 2 });
    expect(poolA.stats().inUse).toBe(0);
  });

  it("short and oversize frames from the peer: counted, dropped, their buffers given back", async () => {
    const poolA = new PacketPool({ count: 256, dataRoom: 256, headroom: 0 });
    const { port, peers, poolB, frontend } = await setUp({ poolA });
    const b = new Burst(32);
    poolB.allocBurst(b, 3);
    writeFrame(poolB, b.idx[0]!, 0, 200);
    writeFrame(poolB, b.idx[1]!, 1, 300); // longer than poolA's 256-byte buffers
    poolB.len[b.idx[2]!] = 10; // shorter than an Ethernet header
    peers[0]!.tx(b);
    const r = new Burst(32);
    expect(port.rx(r)).toBe(1);
    expect(checkFrame(poolA, r.idx[0]!)).toBe(0);
    poolA.freeBurst(r);
    expect(port.snapshot()).toEqual({ "rx.packets": 1, "rx.bytes": 200, "rx.drop.oversize": 1, "rx.drop.short": 1 });
    // The peer got all three transmit buffers back.
    expect(frontend.pairs[0]!.reclaimTx()).toBe(3);
    expect(frontend.pairs[0]!.txInFlight).toBe(0);
    expect(poolA.stats().inUse).toBe(0);
  });

  it("no receive buffer posted: tx.drop.no_buffer; they are delivered again once the peer receives", async () => {
    const { port, peers, poolA, poolB } = await setUp({ fe: { queueSize: 64 } });
    const b = new Burst(32);
    for (let id = 0; id < 100; ) {
      const m = Math.min(32, 100 - id);
      poolA.allocBurst(b, m);
      for (let k = 0; k < m; k++) writeFrame(poolA, b.idx[k]!, id + k, 64);
      expect(port.tx(b)).toBe(m);
      b.clear();
      id += m;
    }
    expect(port.snapshot()).toEqual({ "tx.packets": 64, "tx.bytes": 64 * 64, "tx.drop.no_buffer": 36 });
    expect(poolA.stats().inUse).toBe(0);
    let got = 0;
    for (let t = 0; t < 10; t++) {
      b.clear();
      got += peers[0]!.rx(b);
      for (let k = 0; k < b.count; k++) checkFrame(poolB, b.idx[k]!);
      poolB.freeBurst(b);
    }
    expect(got).toBe(64);
    poolA.allocBurst(b, 1);
    writeFrame(poolA, b.idx[0]!, 100, 64);
    port.tx(b);
    b.clear();
    expect(peers[0]!.rx(b)).toBe(1);
    expect(checkFrame(poolB, b.idx[0]!)).toBe(100);
    poolB.freeBurst(b);
  });

  it("receive buffers too small (no MRG_RXBUF): tx.drop.too_small, the buffer goes back empty", async () => {
    const { port, peers, poolA, poolB, frontend } = await setUp({ fe: { rxBufferSize: 256, features: VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX } });
    expect(frontend.features).toBe(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
    const b = new Burst(32);
    poolA.allocBurst(b, 2);
    writeFrame(poolA, b.idx[0]!, 0, 300); // 12 + 300 > 256
    writeFrame(poolA, b.idx[1]!, 1, 200);
    expect(port.tx(b)).toBe(2);
    expect(port.snapshot()).toEqual({ "tx.packets": 1, "tx.bytes": 200, "tx.drop.too_small": 1 });
    b.clear();
    expect(peers[0]!.rx(b)).toBe(1);
    expect(checkFrame(poolB, b.idx[0]!)).toBe(1);
    poolB.freeBurst(b);
    // The refused buffer came back with 0 bytes: the front-end counts it as short and posts it again.
    expect(frontend.counters()[0]!.errors).toEqual({ short_buffer: 1 });
    expect(poolA.stats().inUse).toBe(0);
  });

  it("frames queued when the front-end stops its rings are kept and handed out by rx afterwards", async () => {
    const { port, peers, poolA, poolB, frontend } = await setUp();
    const b = new Burst(32);
    for (let id = 0; id < 40; id += 20) {
      poolB.allocBurst(b, 20);
      for (let k = 0; k < 20; k++) writeFrame(poolB, b.idx[k]!, id + k, 100 + id + k);
      peers[0]!.tx(b);
      b.clear();
    }
    await frontend.close(); // GET_VRING_BASE on every ring, then the socket closes
    expect(await until(() => !port.connected)).toBe(true);
    const r = new Burst(32);
    const ids: number[] = [];
    for (let t = 0; t < 3; t++) {
      r.clear();
      port.rx(r);
      for (let k = 0; k < r.count; k++) ids.push(checkFrame(poolA, r.idx[k]!));
      poolA.freeBurst(r);
    }
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(port.get("rx.packets")).toBe(40);
    expect(poolA.stats().inUse).toBe(0);
  });

  it("after the front-end leaves, and after close: tx.drop.not_ready, nothing received", async () => {
    const { port, frontend, poolA } = await setUp();
    expect(port.connected).toBe(true);
    await frontend.close();
    expect(await until(() => !port.connected)).toBe(true);
    const b = new Burst(32);
    poolA.allocBurst(b, 5);
    for (let k = 0; k < 5; k++) writeFrame(poolA, b.idx[k]!, k, 64);
    expect(port.tx(b)).toBe(5);
    b.clear();
    expect(port.rx(b)).toBe(0);
    port.close();
    poolA.allocBurst(b, 2);
    expect(port.tx(b)).toBe(2);
    expect(port.snapshot()).toEqual({ "tx.drop.not_ready": 7 });
    expect(poolA.stats().inUse).toBe(0);
  });
});

/**
 * A VhostUserPort (a pool of `count` buffers) behind a session on one end of a socket pair, and a
 * ScriptedFrontend on the other that negotiated (REPLY_ACK) and set up one queue pair by hand; all
 * closed and released after the test.
 */
async function scriptedPort(count: number, packed = false): Promise<{ port: VhostUserPort; pool: PacketPool; logs: ReturnType<typeof capturingLogger>; fe: ScriptedFrontend; h: HandRings }> {
  const [a, b] = sys.socketPair();
  const logs = capturingLogger();
  const pool = new PacketPool({ count });
  const port = new VhostUserPort({ pool, log: logs.log });
  const session = new VhostUserSession(b, port, { log: logs.log, name: "test" });
  session.start();
  const fe = new ScriptedFrontend(a);
  cleanups.push(
    () => fe.close(),
    () => session.close(),
  );
  const h = await handSetup(fe, await negotiate(fe, { ack: true, packed }));
  cleanups.push(() => releaseHand(h));
  return { port, pool, logs, fe, h };
}

describe.runIf(linux)("VhostUserPort notifications and faults", () => {
  for (const packed of [false, true]) {
    it(`calls a driver that wants interrupts on both rings; a broken ring is reported once (${packed ? "packed" : "split"})`, async () => {
      const { port, pool, logs, h } = await scriptedPort(256, packed);
      expect(port.connected).toBe(true);
      const rxq = h.drivers[0]!;
      const txq = h.drivers[1]!;
      rxq.setNotify(true);
      txq.setNotify(true);
      const bytes = h.mem.regions[0]!.bytes;
      const at = (gpa: number): number => gpa - h.mem.regions[0]!.gpa;
      const addrs = new Float64Array(1);
      const lens = new Uint32Array(1);
      // One receive buffer, and one 60-byte frame after a zero 12-byte header to transmit.
      addrs[0] = h.bufBase;
      lens[0] = 2048;
      expect(rxq.add(addrs, lens, 0, 1, 1)).toBe(true);
      rxq.publish();
      const txAt = h.bufBase + 0x1000;
      bytes.fill(0, at(txAt), at(txAt) + 12);
      for (let j = 0; j < 60; j++) bytes[at(txAt) + 12 + j] = (j * 3 + 1) & 0xff;
      addrs[0] = txAt;
      lens[0] = 72;
      expect(txq.add(addrs, lens, 1, 0, 2)).toBe(true);
      txq.publish();
      const r = new Burst(32);
      expect(port.rx(r)).toBe(1);
      // The transmit buffer came back and the driver was called.
      expect(await sys.waitReadable(h.calls[1]!, 2000)).toBe(true);
      expect(sys.eventfdRead(h.calls[1]!)).toBeGreaterThan(0n);
      // Back the other way: into the posted receive buffer, with a call.
      expect(port.tx(r)).toBe(1);
      expect(await sys.waitReadable(h.calls[0]!, 2000)).toBe(true);
      expect(sys.eventfdRead(h.calls[0]!)).toBeGreaterThan(0n);
      const tokens = new Uint32Array(4);
      const used = new Uint32Array(4);
      expect(rxq.reclaim(tokens, used, 4)).toBe(1);
      expect([tokens[0], used[0]]).toEqual([1, 72]);
      const o = at(h.bufBase);
      expect([...bytes.subarray(o, o + 12)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]); // num_buffers 1
      expect([...bytes.subarray(o + 12, o + 72)]).toEqual([...bytes.subarray(at(txAt) + 12, at(txAt) + 72)]);
      // A descriptor outside guest memory breaks the transmit ring: reported once (err eventfd, ring.fault, log line).
      addrs[0] = 0x7000_0000;
      txq.add(addrs, lens, 1, 0, 3);
      txq.publish();
      r.clear();
      expect(port.rx(r)).toBe(0);
      expect(port.rx(r)).toBe(0);
      expect(await sys.waitReadable(h.errs[1]!, 2000)).toBe(true);
      expect(port.get("ring.fault")).toBe(1);
      expect(logs.warnings().filter((l) => /vring 1 broken: queue fault addr_out_of_range/.test(l)).length).toBe(1);
      expect(pool.stats().inUse).toBe(0);
    });
  }
});

describe.runIf(linux)("VhostUserPort and disabled rings", () => {
  it("discards frames from a disabled transmit ring (rx.drop.disabled) and sends nothing to a disabled receive ring", async () => {
    const { port, pool, fe, h } = await scriptedPort(64);
    for (const index of [0, 1]) {
      fe.send("SET_VRING_ENABLE", { index, num: 0 }, [], true);
      expect(await fe.reply("SET_VRING_ENABLE")).toBe(0n);
    }
    expect(port.connected).toBe(false); // started, but disabled: frames cannot flow
    const addrs = new Float64Array([h.bufBase + 0x1000]);
    const lens = new Uint32Array([72]);
    h.drivers[1]!.add(addrs, lens, 1, 0, 1);
    h.drivers[1]!.publish();
    addrs[0] = h.bufBase;
    lens[0] = 2048;
    h.drivers[0]!.add(addrs, lens, 0, 1, 2);
    h.drivers[0]!.publish();
    const r = new Burst(32);
    expect(port.rx(r)).toBe(0);
    const tokens = new Uint32Array(4);
    const used = new Uint32Array(4);
    expect(h.drivers[1]!.reclaim(tokens, used, 4)).toBe(1); // processed and discarded
    pool.allocBurst(r, 3);
    expect(port.tx(r)).toBe(3);
    r.clear();
    expect(h.drivers[0]!.reclaim(tokens, used, 4)).toBe(0);
    expect(port.snapshot()).toEqual({ "rx.drop.disabled": 1, "tx.drop.not_ready": 3 });
    // Enabled again: the receive buffer is used.
    fe.send("SET_VRING_ENABLE", { index: 0, num: 1 }, [], true);
    expect(await fe.reply("SET_VRING_ENABLE")).toBe(0n);
    pool.allocBurst(r, 1);
    pool.len[r.idx[0]!] = 60;
    expect(port.tx(r)).toBe(1);
    expect(h.drivers[0]!.reclaim(tokens, used, 4)).toBe(1);
    expect(used[0]).toBe(72);
    expect(pool.stats().inUse).toBe(0);
  });
});

describe.runIf(linux)("README: VhostUserPort", () => {
  it("the example runs and gives the documented result", async () => {
    const mod = await importReadmeExample<{ result: unknown }>(new URL("../README.md", import.meta.url), /### VhostUserPort\n[\s\S]*?```ts\n([\s\S]*?)```/, "@nfvio/vhost", import.meta.url);
    expect(mod).not.toBeNull();
    expect(mod!.result).toEqual({ connected: true, counters: { "rx.packets": 1, "rx.bytes": 64, "tx.packets": 1, "tx.bytes": 64 } });
  });
});

// ---------------------------------------------------------------------------
// DPDK testpmd

if (!TESTPMD) console.warn("vhost-user-backend-port.test.ts: DPDK tests skipped: dpdk-testpmd is not installed (apt-get install dpdk)");

let run = 0;
const prefixes: string[] = [];
afterAll(() => {
  for (const p of prefixes) cleanPrefix(p);
});

/** Poll `port.rx` in setImmediate turns (freeing what it gets) until stopped. */
function poller(port: VhostUserPort, pool: PacketPool): { stop: () => void } {
  const b = new Burst(64);
  let on = true;
  const turn = (): void => {
    if (!on) return;
    for (let r = 0; r < 16; r++) {
      b.clear();
      const n = port.rx(b);
      pool.freeBurst(b);
      if (n === 0) break;
    }
    setImmediate(turn);
  };
  setImmediate(turn);
  return { stop: () => (on = false) };
}

/**
 * A VhostUserPort (4096 buffers, `queues` queue pairs) served on a new socket, and interactive
 * testpmd (net_virtio_user with `vdev` options, `args` then --rxq/--txq) connected to it, at its prompt.
 */
async function portAndTestpmd(queues: number, vdev: string, args: string[]): Promise<{ port: VhostUserPort; pool: PacketPool; logs: ReturnType<typeof capturingLogger>; tp: Proc }> {
  const prefix = `nfvio-bp${process.pid}-${run++}`;
  prefixes.push(prefix);
  const path = socketPath();
  const logs = capturingLogger();
  const pool = new PacketPool({ count: 4096 });
  const port = new VhostUserPort({ pool, queuePairs: queues, log: logs.log });
  const server = new VhostUserServer({ path, device: port, log: logs.log });
  server.start();
  cleanups.push(() => server.close());
  const tp = testpmd({ prefix, mainLcore: 0, interactive: true, vdev: `net_virtio_user0,path=${path}${vdev}`, args: [...args, `--rxq=${queues}`, `--txq=${queues}`] });
  await waitOutput(tp, "testpmd> ");
  expect(await until(() => port.connected, 10_000), tp.stdout().slice(-2000)).toBe(true);
  return { port, pool, logs, tp };
}

async function quit(p: Proc): Promise<void> {
  p.write("quit");
  const done = await Promise.race([p.exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!done) p.signal("SIGINT");
  await p.exited;
}

describe.runIf(linux && TESTPMD !== null).sequential("VhostUserPort with DPDK testpmd's net_virtio_user", () => {
  afterEach(() => killChildren());

  for (const c of [
    { tag: "split", vdev: "", queues: 1, sigint: false },
    { tag: "packed", vdev: ",packed_vq=1", queues: 1, sigint: false },
    { tag: "2 queue pairs", vdev: ",queues=2", queues: 2, sigint: false },
    { tag: "split, SIGINT while sending", vdev: "", queues: 1, sigint: true },
  ]) {
    it(`txonly into port.rx (${c.tag}): the port counts exactly testpmd's TX-packets`, async () => {
      const { port, pool, logs, tp } = await portAndTestpmd(c.queues, c.vdev, ["--forward-mode=txonly", "--txpkts=64"]);
      // Interactive testpmd sends nothing before "start".
      const poll = poller(port, pool);
      cleanups.push(() => poll.stop());
      tp.write("start");
      await sleep(2000);
      if (c.sigint) {
        // testpmd stops forwarding and closes the port at once: what it queued is taken as the rings stop.
        tp.signal("SIGINT");
        await tp.exited;
        await until(() => !port.connected, 5000);
        await sleep(100);
      } else {
        tp.write("stop");
        await sleep(700); // the port takes what testpmd queued before it stopped
      }
      const taken = port.get("rx.packets");
      if (!c.sigint) await quit(tp);
      poll.stop();
      const stats = accumulated(tp.stdout());
      expect(stats, tp.stdout().slice(-3000)).not.toBeNull();
      expect(stats!.txPackets).toBeGreaterThan(1000);
      expect(taken).toBe(stats!.txPackets);
      expect(port.get("rx.packets")).toBe(stats!.txPackets);
      expect(port.get("rx.bytes")).toBe(64 * stats!.txPackets);
      expect(port.snapshot()).toEqual({ "rx.packets": stats!.txPackets, "rx.bytes": 64 * stats!.txPackets });
      expect(pool.stats().inUse).toBe(0);
      expect(logs.warnings()).toEqual([]);
      console.log(`txonly ${c.tag}: testpmd TX-packets ${stats!.txPackets} (TX-dropped ${stats!.txDropped}), port rx.packets ${port.get("rx.packets")}`);
    });
  }

  for (const c of [
    { tag: "split", vdev: "", queues: 1 },
    { tag: "packed, 2 queue pairs", vdev: ",packed_vq=1,queues=2", queues: 2 },
  ]) {
    it(`port.tx into rxonly (${c.tag}): testpmd's RX-packets equal the frames the port delivered`, async () => {
      const { port, pool, logs, tp } = await portAndTestpmd(c.queues, c.vdev, ["--forward-mode=rxonly"]);
      tp.write("start");
      await sleep(300);
      const N = 50_000;
      const b = new Burst(32);
      let id = 0;
      // A burst per turn, then yield: testpmd's forwarding lcore empties the ring meanwhile. The port
      // cannot tell a sender how many buffers the peer posted (it drops and counts), so this sender
      // backs off for a millisecond after a burst that found the ring dry (the cores are shared).
      await new Promise<void>((done) => {
        const turn = (): void => {
          const before = port.get("tx.drop.no_buffer");
          b.clear();
          const m = Math.min(32, N - id);
          pool.allocBurst(b, m);
          for (let k = 0; k < m; k++) writeFrame(pool, b.idx[k]!, id + k, 64);
          port.tx(b);
          id += m;
          if (id >= N) done();
          else if (port.get("tx.drop.no_buffer") > before) setTimeout(turn, 1);
          else setImmediate(turn);
        };
        turn();
      });
      await sleep(500);
      tp.write("stop");
      await sleep(300);
      await quit(tp);
      const stats = accumulated(tp.stdout());
      expect(stats, tp.stdout().slice(-3000)).not.toBeNull();
      const sent = port.get("tx.packets");
      const noBuffer = port.get("tx.drop.no_buffer");
      console.log(`rxonly ${c.tag}: port delivered ${sent} of ${N} (tx.drop.no_buffer ${noBuffer}), testpmd RX-packets ${stats!.rxPackets}`);
      expect(sent + noBuffer).toBe(N);
      expect(sent).toBeGreaterThan(N / 2);
      expect(stats!.rxPackets).toBe(sent);
      expect(stats!.rxDropped).toBe(0);
      expect(port.get("tx.bytes")).toBe(64 * sent);
      expect(pool.stats().inUse).toBe(0);
      expect(logs.warnings()).toEqual([]);
    });
  }
});
