// `nfvio run` with DPDK's testpmd (net_virtio_user) as a real peer on a scenario's vhost-user wire:
// trafgen -> VM (macswap) -> testpmd rxonly, and testpmd txonly -> VM (macswap) -> trafgen's analyser.
// nfvio runs pinned to core 0, testpmd forwards on core 1. Skipped, saying why, without dpdk-testpmd.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TESTPMD, accumulated, cleanPrefix, killChildren, nfvio, sleep, testpmd, waitSockets, type Proc } from "../../../packages/vhost/test/vhost-user-dpdk-helpers.ts";
import type { RunResult } from "../src/scenario/runner.js";

const skip = TESTPMD === null ? "dpdk-testpmd is not installed (Debian package dpdk)" : process.platform !== "linux" ? "Linux only" : "";
if (skip) console.warn(`scenario-dpdk.test.ts skipped: ${skip}`);

const cleanups: (() => void)[] = [];
afterEach(() => {
  killChildren();
  for (const c of cleanups.splice(0).reverse()) c();
});

interface Workspace {
  prefix: string;
  socket: string;
  file: string;
}

/** A directory, testpmd file prefix and socket for one test (removed after it), and its scenario written as a file. */
function workspace(tag: string, scenario: (socket: string) => object): Workspace {
  const dir = mkdtempSync(join(tmpdir(), "nfvio-scn-dpdk-"));
  const prefix = `nfvio-scn-${tag}-${process.pid}`;
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => cleanPrefix(prefix));
  const socket = join(dir, "pmd.sock");
  const file = join(dir, "s.json");
  writeFileSync(file, JSON.stringify(scenario(socket)));
  return { prefix, socket, file };
}

/** `nfvio run` pinned to core 0; it listens before it waits for its peer: resolves once the socket is there. */
async function startRun(ws: Workspace): Promise<Proc> {
  const run = nfvio(["run", ws.file, "--no-progress"], 0);
  await waitSockets(run, ws.socket, "nfvio run");
  return run;
}

/** testpmd on the run's socket, one queue pair, forwarding (`mode`) on core 1. */
function startTestpmd(ws: Workspace, mode: string, extra: string[] = []): Proc {
  return testpmd({ prefix: ws.prefix, vdev: `net_virtio_user0,path=${ws.socket},queues=1,queue_size=1024`, mainLcore: 0, args: [`--forward-mode=${mode}`, "--nb-cores=1", "--rxq=1", "--txq=1", ...extra] });
}

async function result(p: Proc): Promise<RunResult> {
  const code = await p.exited;
  if (code !== 0) throw new Error(`nfvio run exited with ${code}: ${p.stderr().slice(-2000)}`);
  return (JSON.parse(p.stdout()) as { results: RunResult[] }).results[0]!;
}

describe.skipIf(!!skip)(`nfvio run with testpmd on a vhost-user wire${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("trafgen -> macswap VM -> testpmd rxonly: testpmd receives exactly what the run delivered, the rest is counted", async () => {
    const ws = workspace("rx", (socket) => ({
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
    }));
    const run = await startRun(ws);
    const pmd = startTestpmd(ws, "rxonly");
    const r = await result(run);
    await sleep(300);
    pmd.signal("SIGINT");
    await pmd.exited;
    const st = accumulated(pmd.stdout());
    expect(st, pmd.stdout().slice(-2000)).not.toBeNull();
    // With the port's settle time testpmd is usually polling when the traffic starts; the real-clock run
    // drops a few hundred frames at its start (named: tun queue full while the code warms up). Every frame
    // is delivered or dropped under a name, and testpmd received exactly what the run says it delivered.
    const why = JSON.stringify({ drops: r.drops, counters: r.counters });
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    // Rates depend on what else the two cores run (under load testpmd starts polling later than the
    // settle time and the ring fills meanwhile), so only the counting is exact.
    expect(r.tx).toBeGreaterThan(1000);
    expect(r.received, why).toBeGreaterThan(0);
    expect(r.received + dropped, why).toBe(r.tx);
    expect(r.counters["port.pmd.tx.packets"]).toBe(r.received);
    expect(st!.rxPackets).toBe(r.received);
  }, 90_000);

  it("testpmd txonly -> macswap VM -> trafgen: every frame the run took is delivered or counted as dropped", async () => {
    const ws = workspace("tx", (socket) => ({
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
    }));
    const run = await startRun(ws);
    const pmd = startTestpmd(ws, "txonly", ["--txpkts=64"]);
    const r = await result(run);
    pmd.signal("SIGINT");
    await pmd.exited;
    const st = accumulated(pmd.stdout());
    expect(st, pmd.stdout().slice(-2000)).not.toBeNull();
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    expect(r.tx).toBeGreaterThan(1000);
    expect(r.tx).toBeLessThanOrEqual(st!.txPackets);
    expect(r.received + dropped).toBe(r.tx);
    expect(r.mpps).toBeGreaterThan(0);
    expect(r.sizes).toBe("from pmd");
  }, 90_000);
});
