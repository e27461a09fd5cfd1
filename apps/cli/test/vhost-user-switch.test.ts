// `nfvio vhost-user --mode switch` as a child process: the offload device's
// eSwitch serving two vhost-user sockets, one vport each.
//
// - Two nfvio virtio-user peers (VirtioUserFrontend + VirtioUserPort, in this
//   process) exchange frames through the switch by MAC, split and packed:
//   every frame arrives at the right peer once, byte-exact and in order, and
//   the switch's counters conserve. One peer reconnects; learning and
//   flooding are checked from the report.
// - DPDK (when dpdk-testpmd is installed): testpmd A (virtio-user, txonly to
//   B's MAC) and testpmd B (virtio-user, rxonly) through the switch: B
//   receives what A sent minus what the switch counted as dropped.
// Usage errors in process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PacketPool } from "@nfvio/core";
import { Burst, buildFrame } from "@nfvio/packet";
import { VirtioUserFrontend, VirtioUserPort } from "@nfvio/vhost";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { TESTPMD, accumulated, cleanPrefix, killChildren, nfvio, sleep, stopBackend, testpmd as startTestpmd, waitFor, waitOutput, waitSockets, type Proc } from "../../../packages/vhost/test/vhost-user-dpdk-helpers.ts";
import type { SwitchReport } from "../src/commands/vhost-user-switch.js";
import { cli } from "./helpers.js";

const linux = process.platform === "linux" && process.arch === "x64";
if (linux && !TESTPMD) console.warn("vhost-user-switch.test.ts: DPDK case skipped: dpdk-testpmd is not installed (apt-get install dpdk)");

const dirs: string[] = [];
const prefixes: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  killChildren();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(() => {
  for (const p of prefixes) cleanPrefix(p);
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nfvio-cli-sw-"));
  dirs.push(d);
  return d;
}

/** `nfvio vhost-user --mode switch --socket ... --json`, waiting for every socket. */
async function startSwitch(sockets: string[], extra: string[] = []): Promise<Proc> {
  const p = nfvio(["vhost-user", "--mode", "switch", ...sockets.flatMap((s) => ["--socket", s]), ...extra]);
  await waitSockets(p, sockets);
  return p;
}

const stopSwitch = (p: Proc): Promise<SwitchReport> => stopBackend<SwitchReport>(p);

const MAC = ["02:00:00:00:00:01", "02:00:00:00:00:02"] as const;

/** A vhost-user peer: nfvio's virtio-user front-end and a Port over its queue pair. */
class Peer {
  readonly received: Uint8Array[] = [];
  private readonly burst = new Burst(32);
  private constructor(
    readonly frontend: VirtioUserFrontend,
    readonly port: VirtioUserPort,
    readonly pool: PacketPool,
  ) {}

  static async connect(path: string, packed: boolean): Promise<Peer> {
    const frontend = await VirtioUserFrontend.connect({ path, packed, queueSize: 256 });
    const pool = new PacketPool({ count: 1024 });
    const peer = new Peer(frontend, new VirtioUserPort({ frontend, pool }), pool);
    cleanups.push(() => peer.close());
    return peer;
  }

  send(frames: readonly Uint8Array[]): void {
    const b = this.burst;
    b.clear();
    expect(this.pool.allocBurst(b, frames.length)).toBe(frames.length);
    for (let k = 0; k < frames.length; k++) {
      const i = b.idx[k]!;
      this.pool.data.set(frames[k]!, this.pool.start(i));
      this.pool.len[i] = frames[k]!.length;
    }
    this.port.tx(b);
  }

  poll(): number {
    const b = this.burst;
    b.clear();
    const n = this.port.rx(b);
    for (let k = 0; k < n; k++) {
      const i = b.idx[k]!;
      this.received.push(this.pool.data.slice(this.pool.start(i), this.pool.start(i) + this.pool.len[i]!));
    }
    this.pool.freeBurst(b);
    return n;
  }

  async close(): Promise<void> {
    this.port.close();
    await this.frontend.close();
  }
}

/** Frame `k` from `src` to `dst`: 60 to 1514 bytes, the sequence number in the IPv4 id and payload. */
function frame(dst: string, src: string, k: number): Uint8Array {
  const size = [60, 128, 590, 1514, 301][k % 5]!;
  const f = buildFrame({ dst, src, ipv4: { src: "10.0.0.1", dst: "10.0.0.2", id: k & 0xffff }, udp: { srcPort: 1024 + (k % 1000), dstPort: 9 }, payload: size - 42 });
  f[42] = k & 0xff;
  f[43] = (k >> 8) & 0xff;
  return f;
}

/**
 * Send `n` frames each way between `a` and `b` (a to `toB`, b to `toA`), at
 * most `window` in flight per direction, until everything has arrived.
 */
async function exchange(a: Peer, b: Peer, n: number, toA: string, toB: string, first = 0): Promise<{ ab: Uint8Array[]; ba: Uint8Array[] }> {
  const ab: Uint8Array[] = [];
  const ba: Uint8Array[] = [];
  const gotA0 = a.received.length;
  const gotB0 = b.received.length;
  const window = 96;
  const end = Date.now() + 30_000;
  while (a.received.length - gotA0 < n || b.received.length - gotB0 < n) {
    if (Date.now() > end) throw new Error(`exchange stalled: a got ${a.received.length - gotA0}, b got ${b.received.length - gotB0} of ${n}`);
    if (ab.length < n && ab.length - (b.received.length - gotB0) < window) {
      const fs = Array.from({ length: Math.min(32, n - ab.length) }, (_, k) => frame(toB, toA, first + ab.length + k));
      a.send(fs);
      ab.push(...fs);
    }
    if (ba.length < n && ba.length - (a.received.length - gotA0) < window) {
      const fs = Array.from({ length: Math.min(32, n - ba.length) }, (_, k) => frame(toA, toB, first + 50_000 + ba.length + k));
      b.send(fs);
      ba.push(...fs);
    }
    const got = a.poll() + b.poll();
    if (got === 0) await sleep(1);
  }
  return { ab, ba };
}

const hex = (f: Uint8Array): string => Buffer.from(f).toString("hex");

describe.runIf(linux)("nfvio vhost-user --mode switch between two nfvio virtio-user peers", () => {
  for (const packed of [false, true]) {
    it(`switches by MAC: every frame at the right peer once, byte-exact, in order; counters conserve; a peer reconnects (${packed ? "packed" : "split"} rings)`, async () => {
      const dir = tempDir();
      const sockets = [join(dir, "a.sock"), join(dir, "b.sock")];
      const sw = await startSwitch(sockets);
      const a = await Peer.connect(sockets[0]!, packed);
      let b = await Peer.connect(sockets[1]!, packed);
      const n = 3000;
      const r1 = await exchange(a, b, n, MAC[0], MAC[1]);
      expect(b.received.map(hex)).toEqual(r1.ab.map(hex));
      expect(a.received.map(hex)).toEqual(r1.ba.map(hex));
      // B goes away and comes back on the same socket: the vport is attached again, counters go on.
      await b.close();
      b = await Peer.connect(sockets[1]!, packed);
      const m = 500;
      const r2 = await exchange(a, b, m, MAC[0], MAC[1], 10_000);
      expect(b.received.map(hex)).toEqual(r2.ab.map(hex));
      expect(a.received.slice(n).map(hex)).toEqual(r2.ba.map(hex));
      for (const p of [a, b]) {
        expect(p.port.get("tx.drop.ring_full")).toBe(0);
        expect(p.port.get("rx.drop.oversize")).toBe(0);
      }
      await a.close();
      await b.close();
      const r = await stopSwitch(sw);
      expect(r.mode).toBe("switch");
      expect(r.profile).toBe("smartnic");
      const bytes = (fs: Uint8Array[]): number => fs.reduce((s, f) => s + f.length, 0);
      expect(r.vports.map((v) => v.mac)).toEqual([...MAC]);
      expect(r.vports[0]!.tx).toEqual({ frames: n + m, bytes: bytes([...r1.ab, ...r2.ab]) });
      expect(r.vports[1]!.rx).toEqual({ frames: n + m, bytes: bytes([...r1.ab, ...r2.ab]) });
      expect(r.vports[1]!.tx).toEqual({ frames: n + m, bytes: bytes([...r1.ba, ...r2.ba]) });
      expect(r.vports[0]!.rx).toEqual({ frames: n + m, bytes: bytes([...r1.ba, ...r2.ba]) });
      expect(r.vports[0]!.connections).toBe(1);
      expect(r.vports[1]!.connections).toBe(2);
      expect(r.vports[1]!.lifecycle.attaches).toBe(2);
      expect(r.vports[1]!.lifecycle.detaches).toBe(2);
      expect(r.vports.map((v) => v.lifecycle.ringFailures)).toEqual([0, 0]);
      expect(r.eswitch.eastWest).toBe(2 * (n + m));
      expect(r.drops).toEqual({});
      expect(r.device.hostCopyBytes ?? 0).toBe(0);
      expect(r.conservation).toEqual({ offered: 2 * (n + m), delivered: 2 * (n + m), dropped: 0, inFlight: 0 });
      console.log(`switch (${packed ? "packed" : "split"}): ${2 * (n + m)} frames switched, ${r.rate.mpps.toFixed(3)} Mpps while busy (windowed ping-pong, not a throughput test)`);
    });
  }

  it("--learn --flood: broadcast and unknown unicast are flooded, source MACs learned, learned MACs switched", async () => {
    const dir = tempDir();
    const sockets = [join(dir, "a.sock"), join(dir, "b.sock"), join(dir, "c.sock")];
    const sw = await startSwitch(sockets, ["--learn", "--flood", "--profile", "dpaa"]);
    const a = await Peer.connect(sockets[0]!, false);
    const b = await Peer.connect(sockets[1]!, true);
    const c = await Peer.connect(sockets[2]!, false);
    const U = "02:00:00:00:aa:aa"; // a MAC behind B that the switch was not given
    const bc = frame("ff:ff:ff:ff:ff:ff", MAC[0], 1);
    const unknown = frame(U, MAC[0], 2);
    a.send([bc, unknown]);
    await waitFor(() => b.poll() + c.poll() >= 0 && b.received.length === 2 && c.received.length === 2, 30_000, "flooded frames");
    for (const p of [b, c]) expect(p.received.map(hex)).toEqual([hex(bc), hex(unknown)]);
    // B answers from U: learned behind B, so A's next frame to U goes to B only.
    const fromU = frame(MAC[0], U, 3);
    b.send([fromU]);
    await waitFor(() => a.poll() >= 0 && a.received.length === 1, 30_000, "B's answer");
    expect(a.received.map(hex)).toEqual([hex(fromU)]);
    const toU = frame(U, MAC[0], 4);
    a.send([toU]);
    await waitFor(() => b.poll() >= 0 && b.received.length === 3, 30_000, "the learned unicast");
    await sleep(50);
    c.poll();
    expect(c.received.length).toBe(2);
    for (const p of [a, b, c]) await p.close();
    const r = await stopSwitch(sw);
    expect(r).toMatchObject({ learn: true, flood: true, profile: "dpaa" });
    expect(r.eswitch.flooded).toBe(2);
    expect(r.eswitch.learned).toBe(1); // U (A's MAC is a static entry, never learned)
    expect(r.device.floodCopies).toBe(2);
    expect(r.drops).toEqual({});
    expect(r.conservation).toEqual({ offered: 6, delivered: 6, dropped: 0, inFlight: 0 });
  });
});

// ---------------------------------------------------------------------------
// DPDK testpmd through the switch

/** dpdk-testpmd on lcores 0,1 (the main lcore `main`, forwarding on the other), line-buffered, stdin from /dev/null. */
function testpmd(prefix: string, vdev: string, main: 0 | 1, args: string[]): Proc {
  prefixes.push(prefix);
  return startTestpmd({ prefix, vdev, mainLcore: main, args, lineBuffered: true });
}

const FORWARDING = /Start automatic forwarding|start packet forwarding|Press enter to exit|Port statistics/i;

describe.runIf(linux && TESTPMD !== null).sequential("nfvio vhost-user --mode switch between two DPDK testpmd peers", () => {
  for (const c of [
    { tag: "split", vdev: "" },
    { tag: "packed", vdev: ",packed_vq=1" },
  ]) {
    it(`testpmd A txonly to B's MAC, testpmd B rxonly: B receives A's frames minus the switch's counted drops (${c.tag})`, async () => {
      const dir = tempDir();
      const sockets = [join(dir, "a.sock"), join(dir, "b.sock")];
      const macA = "02:00:00:00:00:0a";
      const macB = "02:00:00:00:00:0b";
      // The switch is not pinned; testpmd A forwards on core 1, B on core 0 (each forwarding lcore on its own core).
      const sw = await startSwitch(sockets, ["--mac", macA, "--mac", macB]);
      const tag = `nfvio-sw${process.pid}-${c.tag}`;
      const b = testpmd(`${tag}-b`, `net_virtio_user0,path=${sockets[1]},mac=${macB}${c.vdev}`, 1, ["--forward-mode=rxonly"]);
      await waitOutput(b, FORWARDING);
      expect(b.child.exitCode, b.stderr()).toBeNull();
      const a = testpmd(`${tag}-a`, `net_virtio_user0,path=${sockets[0]},mac=${macA}${c.vdev}`, 0, ["--forward-mode=txonly", "--txpkts=64", `--eth-peer=0,${macB}`]);
      await waitOutput(a, FORWARDING);
      await sleep(2000);
      a.child.kill("SIGINT");
      await a.exited;
      await sleep(500); // B takes in what the switch delivered before A stopped
      b.child.kill("SIGINT");
      await b.exited;
      const sa = accumulated(a.stdout());
      const sb = accumulated(b.stdout());
      expect(sa, a.stdout().slice(-2000)).not.toBeNull();
      expect(sb, b.stdout().slice(-2000)).not.toBeNull();
      await sleep(200);
      const r = await stopSwitch(sw);
      const dropped = Object.values(r.drops).reduce((s, x) => s + x, 0);
      expect(sa!.txPackets).toBeGreaterThan(0);
      expect(sb!.rxPackets).toBeGreaterThan(0);
      expect(r.vports[0]!.tx.frames).toBe(sa!.txPackets);
      expect(sb!.rxPackets).toBe(sa!.txPackets - dropped);
      expect(r.vports[1]!.rx.frames).toBe(sb!.rxPackets);
      expect(r.conservation.offered).toBe(r.conservation.delivered + r.conservation.dropped);
      expect(r.conservation.inFlight).toBe(0);
      console.log(`switch + testpmd (${c.tag}): A sent ${sa!.txPackets}, B received ${sb!.rxPackets}, switch dropped ${dropped} ${JSON.stringify(r.drops)}; switch rate ${r.rate.mpps.toFixed(3)} Mpps (peak 1 s ${r.rate.peakMpps.toFixed(3)}) on 2 shared cores`);
    });
  }
});

describe("nfvio vhost-user --mode switch: usage errors", () => {
  it("refuses what the switch does not take, and switch options in other modes", async () => {
    const s = (k: number): string => join(tmpdir(), `nfvio-unused-${process.pid}-${k}.sock`);
    let r = await cli("vhost-user", "--socket", s(1), "--socket", s(2));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--socket may be repeated only with --mode switch/);
    r = await cli("vhost-user", "--socket", s(1), "--learn");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/need --mode switch/);
    r = await cli("vhost-user", "--mode", "switch", "--socket", s(1), "--socket", s(2), "--mac", "02:00:00:00:00:05");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/one per --socket \(2\), got 1/);
    r = await cli("vhost-user", "--mode", "switch", "--socket", s(1), "--mac", "01:00:5e:00:00:01");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/group \(multicast\) address/);
    r = await cli("vhost-user", "--mode", "switch", "--socket", s(1), "--socket", s(2), "--mac", "02:00:00:00:00:05", "--mac", "02:00:00:00:00:05");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/given twice/);
    r = await cli("vhost-user", "--mode", "switch", "--socket", s(1), "--queues", "2");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/one queue pair per socket/);
    r = await cli("vhost-user", "--mode", "switch", "--socket", s(1), "--profile", "bogus");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--profile must be one of smartnic, dpaa/);
    r = await cli("vhost-user", "--mode", "bogus", "--socket", s(1));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--mode must be one of drop, echo, macswap, vnf, switch/);
    r = await cli("vhost-user");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--socket/);
  });
});
