/**
 * Packed ring micro benchmark: the ring operations alone (no payload copy),
 * 64-byte single-descriptor frames in bursts of 32.
 *
 *   node --import tsx --conditions=source packages/virtio/test/packed-bench.ts [--threads 1|2] [--seconds 3] [--size 256] [--burst 32]
 *
 * threads 1: driver and device alternate in this thread; prints Mpps and the
 * time each side spends per frame. threads 2: a driver worker and a device
 * worker poll one ring in a SharedArrayBuffer; prints Mpps counted at the
 * driver (frames reclaimed). Not a test: vitest only collects *.test.ts.
 */
import { parseArgs } from "node:util";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { GuestMemory } from "../src/memory.js";
import { PackedDevice, PackedDriver, packedRingLayout } from "../src/packed.js";

const FEATURES = (1n << 34n) | (1n << 32n);

interface Setup {
  sab: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  size: number;
  burst: number;
  seconds: number;
  role?: "driver" | "device";
}

function build(sab: ArrayBufferLike, size: number): { mem: GuestMemory; l: ReturnType<typeof packedRingLayout>; bufBase: number } {
  const mem = GuestMemory.fromBuffer(sab, 0);
  const l = packedRingLayout(size, 0);
  return { mem, l, bufBase: Math.ceil(l.end / 64) * 64 };
}

function driverStep(drv: PackedDriver, addrs: Float64Array, lens: Uint32Array, tokens: Uint32Array, rl: Uint32Array, free: Uint32Array, st: { nFree: number }, bufBase: number, burst: number): number {
  const n = drv.reclaim(tokens, rl, burst);
  for (let i = 0; i < n; i++) free[st.nFree++] = tokens[i]!;
  let m = burst < st.nFree ? burst : st.nFree;
  let added = 0;
  for (; m > 0; m--) {
    const b = free[st.nFree - 1]!;
    addrs[0] = bufBase + b * 64;
    if (!drv.add(addrs, lens, 1, 0, b)) break;
    st.nFree--;
    added++;
  }
  if (added > 0) drv.publish();
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { threads: { type: "string", default: "2" }, seconds: { type: "string", default: "3" }, size: { type: "string", default: "256" }, burst: { type: "string", default: "32" } },
  });
  const size = Number(values.size);
  const burst = Number(values.burst);
  const seconds = Number(values.seconds);
  const bytes = packedRingLayout(size, 0).end + 64 + size * 64;
  if (values.threads === "1") {
    const sab = new ArrayBuffer(bytes);
    const { mem, l, bufBase } = build(sab, size);
    const drv = new PackedDriver(mem, size, l.descAddr, l.driverEventAddr, l.deviceEventAddr, FEATURES);
    const dev = new PackedDevice(mem, size, l.descAddr, l.driverEventAddr, l.deviceEventAddr, FEATURES);
    drv.setNotify(false);
    dev.setNotify(false);
    const chains = PackedDevice.chains(burst, 4);
    const addrs = new Float64Array(1);
    const lens = new Uint32Array([64]);
    const tokens = new Uint32Array(burst);
    const rl = new Uint32Array(burst);
    const free = new Uint32Array(size);
    const st = { nFree: size };
    for (let i = 0; i < size; i++) free[i] = i;
    let frames = 0;
    let tDrv = 0;
    let tDev = 0;
    const end = performance.now() + seconds * 1000;
    const warm = performance.now() + 300;
    let measuring = false;
    let t0 = 0;
    let cpu0 = process.cpuUsage();
    for (;;) {
      const a = performance.now();
      const n = driverStep(drv, addrs, lens, tokens, rl, free, st, bufBase, burst);
      const b = performance.now();
      const k = dev.popBurst(chains, burst);
      for (let i = 0; i < k; i++) dev.pushUsed(chains[i]!, 0);
      dev.publishUsed();
      const c = performance.now();
      if (measuring) {
        frames += n;
        tDrv += b - a;
        tDev += c - b;
      } else if (c >= warm) {
        measuring = true;
        t0 = c;
        cpu0 = process.cpuUsage();
      }
      if (c >= end) break;
    }
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuNs = ((cpu.user + cpu.system) * 1000) / frames;
    console.log(
      `packed threads=1: ${(frames / s / 1e6).toFixed(2)} Mpps wall; ${cpuNs.toFixed(1)} ns CPU/frame for both sides ` +
        `(${(1e3 / cpuNs).toFixed(2)} Mpps per CPU-second); wall split: driver ${((tDrv * 1e6) / frames).toFixed(1)} ns, device ${((tDev * 1e6) / frames).toFixed(1)} ns per frame`,
    );
    return;
  }
  const { tsWorker } = await import("../../../tooling/worker.ts");
  const sab = new SharedArrayBuffer(bytes);
  const ctl = new SharedArrayBuffer(16);
  const setup: Setup = { sab, ctl, size, burst, seconds };
  // The driver initialises the ring before the device starts.
  const { mem, l } = build(sab, size);
  new PackedDriver(mem, size, l.descAddr, l.driverEventAddr, l.deviceEventAddr, FEATURES).setNotify(false);
  const run = (role: "driver" | "device"): Promise<{ frames: number; seconds: number }> =>
    new Promise((resolve, reject) => {
      const w = tsWorker(new URL(import.meta.url), { workerData: { ...setup, role } });
      w.once("message", resolve);
      w.once("error", reject);
    });
  const results = [run("driver"), run("device")];
  const [d] = await Promise.all(results);
  console.log(`packed threads=2: ${(d!.frames / d!.seconds / 1e6).toFixed(2)} Mpps (${d!.frames} frames in ${d!.seconds.toFixed(2)} s)`);
}

function worker(s: Setup): void {
  const ctl = new Int32Array(s.ctl);
  const { mem, l, bufBase } = build(s.sab, s.size);
  Atomics.add(ctl, 0, 1);
  while (Atomics.load(ctl, 0) < 2) {
    /* both up */
  }
  if (s.role === "driver") {
    const drv = new PackedDriver(mem, s.size, l.descAddr, l.driverEventAddr, l.deviceEventAddr, FEATURES, { init: false });
    const addrs = new Float64Array(1);
    const lens = new Uint32Array([64]);
    const tokens = new Uint32Array(s.burst);
    const rl = new Uint32Array(s.burst);
    const free = new Uint32Array(s.size);
    const st = { nFree: s.size };
    for (let i = 0; i < s.size; i++) free[i] = i;
    const warm = performance.now() + 500;
    const end = warm + s.seconds * 1000;
    let frames = 0;
    let t0 = 0;
    let measuring = false;
    for (let it = 0; ; it++) {
      const n = driverStep(drv, addrs, lens, tokens, rl, free, st, bufBase, s.burst);
      if (measuring) frames += n;
      if ((it & 63) === 0) {
        const t = performance.now();
        if (!measuring && t >= warm) {
          measuring = true;
          t0 = t;
        }
        if (t >= end) {
          Atomics.store(ctl, 1, 1);
          parentPort!.postMessage({ frames, seconds: (t - t0) / 1000 });
          return;
        }
      }
    }
  }
  const dev = new PackedDevice(mem, s.size, l.descAddr, l.driverEventAddr, l.deviceEventAddr, FEATURES, { init: false });
  dev.setNotify(false);
  const chains = PackedDevice.chains(s.burst, 4);
  for (let it = 0; ; it++) {
    const k = dev.popBurst(chains, s.burst);
    for (let i = 0; i < k; i++) dev.pushUsed(chains[i]!, 0);
    if (k > 0) dev.publishUsed();
    if ((it & 1023) === 0 && Atomics.load(ctl, 1) !== 0) break;
  }
  parentPort!.postMessage({ frames: 0, seconds: 0 });
}

if (isMainThread) await main();
else worker(workerData as Setup);
