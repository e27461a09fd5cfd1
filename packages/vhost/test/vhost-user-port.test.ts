// VirtioUserPort: one queue pair of the virtio-user front-end as a core Port,
// driven by trafgen's runPort on the real clock against nfvio's own
// vhost-user back-end in the same process (echo, then macswap): every frame
// comes back once, the pools end empty, and the rate achieved is reported.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PacketPool, RealClock } from "@nfvio/core";
import { Burst } from "@nfvio/packet";
import { runPort } from "@nfvio/trafgen";
import { afterEach, describe, expect, it } from "vitest";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { VhostUserNetDevice } from "../src/vhost-user/net.js";
import { VirtioUserPort } from "../src/vhost-user/port.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import { capturingLogger, linux, until } from "./vhost-user-helpers.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(mode: "echo" | "macswap", queueSize = 1024) {
  const dir = mkdtempSync(join(tmpdir(), "nfvio-vu-port-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "vhost.sock");
  const logs = capturingLogger();
  const device = new VhostUserNetDevice({ mode, log: logs.log });
  const server = new VhostUserServer({ path, device, log: logs.log });
  server.start();
  cleanups.push(() => server.close());
  const frontend = await VirtioUserFrontend.connect({ path, queueSize });
  cleanups.push(() => frontend.close());
  const pool = new PacketPool({ count: 4096 });
  const port = new VirtioUserPort({ frontend, pool });
  cleanups.push(() => port.close());
  return { device, frontend, pool, port, logs };
}

describe.runIf(linux)("VirtioUserPort", () => {
  for (const mode of ["echo", "macswap"] as const) {
    it(`trafgen's runPort on the real clock through a ${mode} back-end: no loss, no duplicates, rate reported`, async () => {
      const { port, pool, device, logs } = await setUp(mode);
      const r = await runPort({
        port,
        pool,
        clock: new RealClock(),
        streams: [{ rate: "50kpps", size: 64, count: 20_000 }],
        durationNs: 5e9, // a bound: the stream ends after its 20k frames (0.4 s)
        drainNs: 100e6,
        yieldMs: 1, // one event loop: the back-end runs while runPort yields
      });
      const s = r.streams[0]!;
      expect(r.clock).toBe("real");
      expect(s.tx).toBe(20_000);
      expect(s.received).toBe(20_000);
      expect(s.lost).toBe(0);
      expect(s.duplicates).toBe(0);
      expect(r.foreign).toBe(0);
      expect(r.txRefused).toBe(0);
      expect(s.askedPps).toBe(50_000);
      // Shared, noisy cores: only loose bounds on the rate achieved.
      expect(s.achievedPps).toBeGreaterThan(2_500);
      expect(s.achievedPps).toBeLessThan(50_000 * 1.1);
      expect(s.latency.count).toBe(20_000);
      expect(port.snapshot()).toEqual({ "rx.packets": 20_000, "rx.bytes": 20_000 * 60, "tx.packets": 20_000, "tx.bytes": 20_000 * 60 });
      expect(pool.stats().inUse).toBe(0);
      expect(device.counters().map((q) => q.frames)).toEqual([20_000, 20_000]);
      expect(logs.warnings()).toEqual([]);
    });
  }

  it("counts tx.drop.ring_full instead of blocking, and rx.drop.nobuf when the pool is empty", async () => {
    const { port, pool, device } = await setUp("echo", 64);
    const b = new Burst(128);
    // 128 frames into a 64-entry TX ring without letting the back-end run: 64 go, 64 are counted.
    expect(pool.allocBurst(b)).toBe(128);
    for (let k = 0; k < 128; k++) pool.len[b.idx[k]!] = 64;
    expect(port.tx(b)).toBe(128);
    expect(port.get("tx.packets")).toBe(64);
    expect(port.get("tx.drop.ring_full")).toBe(64);
    expect(pool.stats().inUse).toBe(0);
    // The back-end echoes them into the receive ring; then every pool buffer is held, so rx finds none.
    expect(await until(() => device.counters()[0]!.frames === 64)).toBe(true);
    const held = new Uint32Array(pool.count);
    const n = pool.allocInto(held, 0, pool.count);
    b.clear();
    expect(port.rx(b)).toBe(0);
    expect(port.get("rx.drop.nobuf")).toBe(1);
    pool.freeRange(held, 0, n);
    let got = 0;
    for (let tries = 0; tries < 100 && got < 64; tries++) {
      b.clear();
      got += port.rx(b);
      pool.freeBurst(b);
    }
    expect(got).toBe(64);
    expect(port.get("rx.packets")).toBe(64);
    expect(pool.stats().inUse).toBe(0);
  });
});
