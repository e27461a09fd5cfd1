// Interop with DPDK 22.11's testpmd, both ways, over real vhost-user sockets.
//
// (a) testpmd's virtio-user PMD in txonly mode sends 64-byte frames to
//     `nfvio vhost-user --mode drop`: nfvio counts exactly what testpmd
//     reports as TX-packets (split, packed, 2 queue pairs).
// (b) `nfvio vhost-user --mode macswap`: testpmd sends N bursts first
//     (`start tx_first`) and receives in rxonly mode; it gets back exactly
//     what it sent, MACs swapped, nothing dropped (split, packed, 2 pairs;
//     and nfvio in the client role against virtio-user `server=1`).
// (c) `nfvio virtio-user` sends to testpmd's `net_vhost` in rxonly mode:
//     testpmd's RX-packets equal nfvio's sent frames (split; packed, 2 pairs).
//
// Cores: nfvio runs pinned to core 0 (taskset); testpmd runs with
// `-l 0,1 --main-lcore 0`, so its forwarding lcore is core 1 and the two
// busy-polling loops never share a core (testpmd's main lcore only prints
// and sleeps). Each run uses its own --file-prefix and socket path. The
// whole file stays bounded: at most a few seconds of traffic per case.
//
// Skipped (with a printed reason) only when dpdk-testpmd is not installed.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { accumulated, cleanPrefix, killChildren, nfvio, sleep, startBackend, stopBackend, TESTPMD, testpmd, waitOutput, type Proc } from "./vhost-user-dpdk-helpers.js";

interface BackendReport {
  connections: number;
  queues: { queue: number; direction: "rx" | "tx"; frames: number; bytes: number; errors: Record<string, number> }[];
  totals: { rx: { frames: number }; tx: { frames: number }; errors: number };
  rate: { mpps: number };
}
interface FrontendReport {
  sent: number;
  unfinished: number;
  queues: { errors: Record<string, number> }[];
}

const linux = process.platform === "linux" && process.arch === "x64";
if (!TESTPMD) console.warn("vhost-user-dpdk.test.ts: skipped: dpdk-testpmd is not installed (apt-get install dpdk)");

let run = 0;
const prefixes: string[] = [];
function names(tag: string): { prefix: string; socket: string } {
  const prefix = `nfvio-t${process.pid}-${run++}-${tag}`;
  prefixes.push(prefix);
  return { prefix, socket: join(tmpdir(), `${prefix}.sock`) };
}

afterEach(() => killChildren());
afterAll(() => {
  for (const p of prefixes) cleanPrefix(p);
});

/** Non-interactive testpmd: let it forward for `seconds`, then SIGINT; it prints the accumulated statistics on the way out. */
async function runFor(p: Proc, seconds: number): Promise<void> {
  await waitOutput(p, /Start automatic forwarding|start packet forwarding|Press enter to exit|Port statistics/i);
  await sleep(seconds * 1000);
  p.signal("SIGINT");
  await p.exited;
}

/**
 * Interactive testpmd: `start tx_first bursts`, give the echo time, `stop`, `quit`.
 * Its stdout is a pipe, so stdio buffers it: the statistics are read after it exits.
 */
async function txFirst(p: Proc, bursts: number, verbose = false): Promise<void> {
  await waitOutput(p, "testpmd> ");
  if (verbose) p.write("set verbose 1");
  p.write(`start tx_first ${bursts}`);
  await sleep(2500);
  p.write("stop");
  await sleep(500);
  p.write("quit");
  const done = await Promise.race([p.exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!done) p.signal("SIGINT");
  await p.exited;
}

describe.runIf(linux && TESTPMD !== null).sequential("DPDK testpmd interop", () => {
  describe("(a) testpmd virtio-user txonly -> nfvio vhost-user drop: nfvio counts every frame testpmd sent", () => {
    for (const c of [
      { tag: "split", vdev: "", queues: 1, seconds: 2 },
      { tag: "packed", vdev: ",packed_vq=1", queues: 1, seconds: 2 },
      { tag: "mq2", vdev: ",queues=2", queues: 2, seconds: 2 },
    ]) {
      it(`${c.tag}`, async () => {
        const { prefix, socket } = names(`a-${c.tag}`);
        const be = await startBackend(["--mode", "drop", "--queues", String(c.queues)], socket);
        const tp = testpmd({ prefix, mainLcore: 0, vdev: `net_virtio_user0,path=${socket}${c.vdev}`, args: ["--forward-mode=txonly", "--txpkts=64", `--rxq=${c.queues}`, `--txq=${c.queues}`] });
        await runFor(tp, c.seconds);
        const stats = accumulated(tp.stdout());
        expect(stats, tp.stdout().slice(-3000)).not.toBeNull();
        await sleep(300); // the connection closes; nfvio drains what was queued before it stopped the rings
        const r = await stopBackend<BackendReport>(be);
        expect(stats!.txPackets).toBeGreaterThan(1000);
        expect(r.totals.tx.frames).toBe(stats!.txPackets);
        expect(r.totals.errors).toBe(0);
        if (c.queues === 2) expect(r.queues.filter((q) => q.direction === "tx").every((q) => q.frames > 0)).toBe(true);
        expect(r.queues.filter((q) => q.direction === "tx").reduce((n, q) => n + q.bytes, 0)).toBe(64 * stats!.txPackets);
        console.log(`(a) ${c.tag}: testpmd TX-packets ${stats!.txPackets}, nfvio counted ${r.totals.tx.frames}, ${r.rate.mpps.toFixed(3)} Mpps`);
      });
    }
  });

  describe("(b) testpmd tx_first + rxonly <-> nfvio vhost-user macswap: everything comes back, MACs swapped", () => {
    for (const c of [
      { tag: "split", vdev: "", queues: 1, client: false },
      { tag: "packed", vdev: ",packed_vq=1", queues: 1, client: false },
      { tag: "mq2", vdev: ",queues=2", queues: 2, client: false },
      { tag: "client", vdev: ",server=1", queues: 1, client: true },
    ]) {
      it(`${c.tag}${c.client ? " (nfvio connects to virtio-user server=1)" : ""}`, async () => {
        const { prefix, socket } = names(`b-${c.tag}`);
        const bursts = 4;
        const args = ["--mode", "macswap", "--queues", String(c.queues), ...(c.client ? ["--client"] : [])];
        let be: Proc | null = c.client ? null : await startBackend(args, socket);
        const tp = testpmd({
          prefix,
          mainLcore: 0,
          interactive: true,
          vdev: `net_virtio_user0,path=${socket},mac=02:11:22:33:44:55${c.vdev}`,
          args: ["--forward-mode=rxonly", `--rxq=${c.queues}`, `--txq=${c.queues}`],
        });
        if (c.client) be = await startBackend(args, socket, 0, false);
        await txFirst(tp, bursts, true);
        const stats = accumulated(tp.stdout());
        expect(stats, tp.stdout().slice(-3000)).not.toBeNull();
        const r = await stopBackend<BackendReport>(be!);
        const expected = bursts * 32 * c.queues;
        // testpmd's txonly frames go from the port's MAC to its peer (02:00:00:00:00:00); back here they are swapped.
        const seen = [...tp.stdout().matchAll(/src=([0-9A-Fa-f:]{17}) - dst=([0-9A-Fa-f:]{17})/g)];
        const swapped = seen.filter((m) => m[1]!.toUpperCase() === "02:00:00:00:00:00" && m[2]!.toUpperCase() === "02:11:22:33:44:55").length;
        expect({ testpmd: stats, nfvioTx: r.totals.tx.frames, nfvioRx: r.totals.rx.frames, nfvioErrors: r.totals.errors, dumped: seen.length, swapped }).toEqual({
          testpmd: { rxPackets: expected, rxDropped: 0, txPackets: expected, txDropped: 0 },
          nfvioTx: expected,
          nfvioRx: expected,
          nfvioErrors: 0,
          dumped: expected,
          swapped: expected,
        });
      });
    }
  });

  describe("(c) nfvio virtio-user -> testpmd net_vhost rxonly: testpmd receives every frame nfvio sent", () => {
    for (const c of [
      { tag: "split", args: [] as string[], queues: 1, count: 200_000 },
      { tag: "packed-mq2", args: ["--packed"], queues: 2, count: 100_000 },
    ]) {
      it(`${c.tag}`, async () => {
        const { prefix, socket } = names(`c-${c.tag}`);
        const tp = testpmd({ prefix, mainLcore: 0, vdev: `net_vhost0,iface=${socket},queues=${c.queues}`, args: ["--forward-mode=rxonly", `--rxq=${c.queues}`, `--txq=${c.queues}`] });
        const fe = nfvio(["virtio-user", "--socket", socket, "--queues", String(c.queues), "--count", String(c.count), "--wait", "30", ...c.args], 0);
        const code = await fe.exited;
        expect(code, fe.stderr()).toBe(0);
        const r = JSON.parse(fe.stdout().trim()) as FrontendReport;
        await sleep(500);
        tp.signal("SIGINT");
        await tp.exited;
        const stats = accumulated(tp.stdout());
        expect(stats, tp.stdout().slice(-3000)).not.toBeNull();
        expect(r.sent).toBe(c.count);
        expect(r.unfinished).toBe(0);
        expect(r.queues.every((q) => Object.keys(q.errors).length === 0)).toBe(true);
        expect(stats!.rxPackets).toBe(r.sent);
        expect(stats!.rxDropped).toBe(0);
      });
    }
  });
});
