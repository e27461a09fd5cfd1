// `nfvio run` with DPDK's testpmd (net_virtio_user) as a real peer on a scenario's vhost-user wire:
// trafgen -> VM (macswap) -> testpmd rxonly, and testpmd txonly -> VM (macswap) -> trafgen's analyser.
// nfvio runs pinned to core 0, testpmd forwards on core 1. Skipped, saying why, without dpdk-testpmd.
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TESTPMD, accumulated, cleanPrefix, killChildren, nfvio, sleep, testpmd, type Proc } from "../../../packages/vhost/test/vhost-user-dpdk-helpers.ts";
import type { RunResult } from "../src/scenario/runner.js";

const skip = TESTPMD === null ? "dpdk-testpmd is not installed (Debian package dpdk)" : process.platform !== "linux" ? "Linux only" : "";
if (skip) console.warn(`scenario-dpdk.test.ts skipped: ${skip}`);

const cleanups: (() => void)[] = [];
afterEach(() => {
  killChildren();
  for (const c of cleanups.splice(0).reverse()) c();
});

function scenarioFile(dir: string, body: object): string {
  const f = join(dir, "s.json");
  writeFileSync(f, JSON.stringify(body));
  return f;
}

/** The run listens before it waits for its peer: wait for the socket. */
async function waitSocket(run: Proc, socket: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if (lstatSync(socket).isSocket()) return;
    } catch {
      // not yet
    }
    if (run.child.exitCode !== null) throw new Error(`nfvio run exited: ${run.stderr().slice(-2000)}`);
    if (Date.now() > end) throw new Error(`no socket ${socket} after 30 s`);
    await sleep(50);
  }
}

async function result(p: Proc): Promise<RunResult> {
  const code = await p.exited;
  if (code !== 0) throw new Error(`nfvio run exited with ${code}: ${p.stderr().slice(-2000)}`);
  return (JSON.parse(p.stdout()) as { results: RunResult[] }).results[0]!;
}

describe.skipIf(!!skip)(`nfvio run with testpmd on a vhost-user wire${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("trafgen -> macswap VM -> testpmd rxonly: testpmd receives exactly what the run delivered, the rest is counted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nfvio-scn-dpdk-"));
    const prefix = `nfvio-scn-rx-${process.pid}`;
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => cleanPrefix(prefix));
    const socket = join(dir, "pmd.sock");
    const file = scenarioFile(dir, {
      name: "to-testpmd",
      clock: "real",
      duration: "2s",
      warmup: "0s",
      drain: "500ms",
      backend: { kind: "vhost-net" },
      vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
      ports: [
        { name: "gen", kind: "trafgen" },
        // testpmd starts its rings some hundred ms before it polls them.
        { name: "pmd", kind: "vhost-user", socket, wait: "60s", settle: "2s" },
      ],
      path: ["gen", "vm1", "pmd"],
      traffic: { streams: [{ size: 64, rate: "20kpps" }] },
    });
    const run = nfvio(["run", file, "--no-progress"], 0);
    await waitSocket(run, socket);
    const pmd = testpmd({ prefix, vdev: `net_virtio_user0,path=${socket},queues=1,queue_size=1024`, mainLcore: 0, args: ["--forward-mode=rxonly", "--nb-cores=1", "--rxq=1", "--txq=1"] });
    const r = await result(run);
    await sleep(300);
    pmd.signal("SIGINT");
    await pmd.exited;
    const st = accumulated(pmd.stdout());
    expect(st, pmd.stdout().slice(-2000)).not.toBeNull();
    // With the port's settle time testpmd is polling when the traffic starts. The real-clock run drops a
    // few hundred frames at its start (named: tun queue full while the code warms up); every frame is
    // delivered or dropped under a name, and testpmd received exactly what the run says it delivered.
    const why = JSON.stringify({ drops: r.drops, counters: r.counters });
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    expect(r.tx).toBeGreaterThan(10_000);
    expect(r.received, why).toBeGreaterThan(r.tx * 0.9);
    expect(r.received + dropped, why).toBe(r.tx);
    expect(r.counters["port.pmd.tx.packets"]).toBe(r.received);
    expect(st!.rxPackets).toBe(r.received);
  }, 90_000);

  it("testpmd txonly -> macswap VM -> trafgen: every frame the run took is delivered or counted as dropped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nfvio-scn-dpdk-"));
    const prefix = `nfvio-scn-tx-${process.pid}`;
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => cleanPrefix(prefix));
    const socket = join(dir, "pmd.sock");
    const file = scenarioFile(dir, {
      name: "from-testpmd",
      clock: "real",
      duration: "2s",
      warmup: "500ms",
      drain: "200ms",
      backend: { kind: "vhost-net" },
      vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
      ports: [
        { name: "pmd", kind: "vhost-user", socket, wait: "60s" },
        { name: "sink", kind: "trafgen" },
      ],
      path: ["pmd", "vm1", "sink"],
    });
    const run = nfvio(["run", file, "--no-progress"], 0);
    await waitSocket(run, socket);
    const pmd = testpmd({ prefix, vdev: `net_virtio_user0,path=${socket},queues=1,queue_size=1024`, mainLcore: 0, args: ["--forward-mode=txonly", "--nb-cores=1", "--rxq=1", "--txq=1", "--txpkts=64"] });
    const r = await result(run);
    pmd.signal("SIGINT");
    await pmd.exited;
    const st = accumulated(pmd.stdout());
    expect(st, pmd.stdout().slice(-2000)).not.toBeNull();
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    expect(r.tx).toBeGreaterThan(10_000);
    expect(r.tx).toBeLessThanOrEqual(st!.txPackets);
    expect(r.received + dropped).toBe(r.tx);
    expect(r.mpps).toBeGreaterThan(0);
    expect(r.sizes).toBe("from pmd");
  }, 90_000);
});
