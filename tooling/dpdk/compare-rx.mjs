#!/usr/bin/env node
// Receive throughput of nfvio's vhost-user back-end against DPDK's own vhost
// PMD, with the same sender: dpdk-testpmd's virtio-user PMD in txonly mode,
// 64-byte frames (or --size), one queue pair, split rings.
//
//   A: testpmd virtio-user txonly  ->  nfvio vhost-user --mode drop
//   B: testpmd virtio-user txonly  ->  testpmd net_vhost rxonly
//
// Cores (2 on our machines): the receiver's busy loop and the sender's
// forwarding lcore each get their own core.
//   A: nfvio (one JavaScript thread) pinned to core 0 with taskset;
//      sender `-l 0,1 --main-lcore 0`, forwarding on core 1.
//   B, --layout mirror (default): the same sender command, forwarding on
//      core 1; receiver `-l 0,1 --main-lcore 1`, forwarding on core 0, where
//      nfvio ran.
//   B, --layout swapped: receiver `--main-lcore 0`, forwarding on core 1;
//      sender `--main-lcore 1`, forwarding on core 0.
// The sender uses `in_order=0` in both runs: our back-end does not offer
// VIRTIO_F_IN_ORDER, and with it DPDK 22.11's vhost PMD stalls after one
// ring's worth of frames on this machine, so both receivers see the same
// virtio-user datapath.
//
// Rates: frames received per second while traffic flowed ("mean"), and the
// best one-second rate ("peak"; on a shared machine the peak is the better
// estimate of what a receiver can do when it gets its core). nfvio reports
// both (100 ms samples); for DPDK they come from testpmd's per-second Rx-pps
// samples, the first and last (partial) seconds left out of the mean.
//
// usage: node tooling/dpdk/compare-rx.mjs [--seconds 5] [--runs 3] [--size 64] [--layout mirror|swapped] [--json]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const SECONDS = opt("--seconds", 5);
const RUNS = opt("--runs", 3);
const SIZE = opt("--size", 64);
const JSON_OUT = args.includes("--json");
const LAYOUT = args.includes("--layout") ? args[args.indexOf("--layout") + 1] : "mirror";
if (LAYOUT !== "mirror" && LAYOUT !== "swapped") {
  console.error("compare-rx: --layout is mirror or swapped");
  process.exit(2);
}

const which = (c) => spawnSync("sh", ["-c", `command -v ${c}`], { encoding: "utf8" }).stdout.trim() || null;
if (!which("dpdk-testpmd")) {
  console.error("compare-rx: dpdk-testpmd is not installed (apt-get install dpdk)");
  process.exit(2);
}
const TASKSET = which("taskset");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => {
  if (!JSON_OUT) process.stderr.write(s + "\n");
};

function start(argv, cpu) {
  const full = cpu !== undefined && TASKSET ? [TASKSET, "-c", String(cpu), ...argv] : argv;
  const child = spawn(full[0], full.slice(1), { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
  const exited = new Promise((res) => child.on("exit", (code, sig) => res(code ?? sig)));
  return { child, exited, out: () => out, err: () => err, kill: (s) => child.exitCode === null && child.signalCode === null && child.kill(s) };
}

const testpmd = (prefix, mainLcore, vdev, app) =>
  start(["dpdk-testpmd", "-l", "0,1", "--main-lcore", String(mainLcore), "--no-huge", "-m", "512", "--no-pci", `--file-prefix=${prefix}`, "--vdev", vdev, "--", "--total-num-mbufs=16384", "--stats-period", "1", ...app]);

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const isSocket = (p) => {
  try {
    return lstatSync(p).isSocket();
  } catch {
    return false;
  }
};
const clean = (prefix) => {
  for (const d of [join("/var/run/dpdk", prefix)]) if (existsSync(d)) rmSync(d, { recursive: true, force: true });
};
const accumulated = (out) => {
  const i = out.lastIndexOf("Accumulated forward statistics");
  const b = i >= 0 ? out.slice(i, i + 600) : "";
  return { rx: Number(/RX-packets:\s+(\d+)/.exec(b)?.[1] ?? 0), tx: Number(/TX-packets:\s+(\d+)/.exec(b)?.[1] ?? 0) };
};
/** Mean and best of testpmd's per-second Rx-pps samples while traffic flowed (first and last nonzero samples left out of the mean). */
const rxPps = (out) => {
  const s = [...out.matchAll(/Rx-pps:\s+(\d+)/g)].map((m) => Number(m[1])).filter((x) => x > 0);
  const mid = s.length > 2 ? s.slice(1, -1) : s;
  return { mean: mid.length ? mid.reduce((a, b) => a + b, 0) / mid.length : 0, peak: s.length ? Math.max(...s) : 0 };
};

const sender = (prefix, socket, mainLcore) => testpmd(prefix, mainLcore, `net_virtio_user0,path=${socket},in_order=0`, ["--forward-mode=txonly", `--txpkts=${SIZE}`]);

async function runNfvio(i) {
  const prefix = `nfvio-cmp-${process.pid}-a${i}`;
  const socket = join(tmpdir(), `${prefix}.sock`);
  const be = start([process.execPath, "--import", "tsx", "--conditions=source", "apps/cli/src/main.ts", "vhost-user", "--socket", socket, "--mode", "drop", "--json"], 0);
  await waitFor(() => isSocket(socket), 30_000, "nfvio socket");
  const tx = sender(prefix, socket, 0);
  await waitFor(() => /Port statistics|Press enter/.test(tx.out()) || tx.child.exitCode !== null, 30_000, "sender start");
  await sleep(SECONDS * 1000);
  tx.kill("SIGINT");
  await tx.exited;
  await sleep(300);
  be.kill("SIGINT");
  await be.exited;
  clean(prefix);
  const r = JSON.parse(be.out().trim().split("\n").pop());
  return { mpps: r.rate.mpps, peak: r.rate.peakMpps, frames: r.totals.tx.frames, senderTx: accumulated(tx.out()).tx };
}

async function runDpdk(i) {
  const rxPrefix = `nfvio-cmp-${process.pid}-b${i}r`;
  const txPrefix = `nfvio-cmp-${process.pid}-b${i}t`;
  const socket = join(tmpdir(), `${rxPrefix}.sock`);
  const mirror = LAYOUT === "mirror";
  const rx = testpmd(rxPrefix, mirror ? 1 : 0, `net_vhost0,iface=${socket},queues=1`, ["--forward-mode=rxonly"]);
  await waitFor(() => isSocket(socket), 30_000, "net_vhost socket");
  const tx = sender(txPrefix, socket, mirror ? 0 : 1);
  await waitFor(() => /Port statistics|Press enter/.test(tx.out()) || tx.child.exitCode !== null, 30_000, "sender start");
  await sleep(SECONDS * 1000);
  tx.kill("SIGINT");
  await tx.exited;
  await sleep(1500);
  rx.kill("SIGINT");
  await rx.exited;
  clean(rxPrefix);
  clean(txPrefix);
  const pps = rxPps(rx.out());
  return { mpps: pps.mean / 1e6, peak: pps.peak / 1e6, frames: accumulated(rx.out()).rx, senderTx: accumulated(tx.out()).tx };
}

const results = [];
for (let i = 0; i < RUNS; i++) {
  log(`run ${i + 1}/${RUNS}: nfvio vhost-user ...`);
  const a = await runNfvio(i);
  log(`  nfvio     mean ${a.mpps.toFixed(3)} Mpps, peak ${a.peak.toFixed(3)} (${a.frames} frames; sender TX-packets ${a.senderTx})`);
  log(`run ${i + 1}/${RUNS}: DPDK net_vhost ...`);
  const b = await runDpdk(i);
  log(`  net_vhost mean ${b.mpps.toFixed(3)} Mpps, peak ${b.peak.toFixed(3)} (${b.frames} frames; sender TX-packets ${b.senderTx})`);
  results.push({
    run: i + 1,
    nfvioMpps: a.mpps,
    dpdkMpps: b.mpps,
    ratio: b.mpps > 0 ? a.mpps / b.mpps : 0,
    nfvioPeakMpps: a.peak,
    dpdkPeakMpps: b.peak,
    peakRatio: b.peak > 0 ? a.peak / b.peak : 0,
    nfvioFrames: a.frames,
    dpdkFrames: b.frames,
  });
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const summary = {
  frameSize: SIZE,
  seconds: SECONDS,
  runs: results,
  median: Object.fromEntries(["nfvioMpps", "dpdkMpps", "ratio", "nfvioPeakMpps", "dpdkPeakMpps", "peakRatio"].map((k) => [k, median(results.map((r) => r[k]))])),
  cores: {
    nfvio: "one JavaScript thread (the event loop) pinned to core 0; sender's forwarding lcore on core 1",
    dpdk: LAYOUT === "mirror" ? "net_vhost receiver's forwarding lcore on core 0 (main lcore 1); the same sender, forwarding on core 1" : "net_vhost receiver's forwarding lcore on core 1 (main lcore 0); sender's forwarding lcore on core 0 (main lcore 1)",
  },
};
if (JSON_OUT) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
else {
  const f = (x, w) => x.toFixed(3).padStart(w);
  console.log(`layout ${LAYOUT}; ${SIZE}-byte frames; ${SECONDS} s per run`);
  console.log("run  nfvio mean  net_vhost mean  ratio  nfvio peak  net_vhost peak  ratio   (Mpps)");
  for (const r of results) console.log(`${String(r.run).padStart(3)}  ${f(r.nfvioMpps, 10)}  ${f(r.dpdkMpps, 14)}  ${f(r.ratio, 5)}  ${f(r.nfvioPeakMpps, 10)}  ${f(r.dpdkPeakMpps, 14)}  ${f(r.peakRatio, 5)}`);
  const m = summary.median;
  console.log(`median: mean nfvio ${m.nfvioMpps.toFixed(3)} / net_vhost ${m.dpdkMpps.toFixed(3)} Mpps (ratio ${m.ratio.toFixed(3)}); peak nfvio ${m.nfvioPeakMpps.toFixed(3)} / net_vhost ${m.dpdkPeakMpps.toFixed(3)} Mpps (ratio ${m.peakRatio.toFixed(3)})`);
}
