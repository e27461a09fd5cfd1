/**
 * The vhost-net model under real time, on threads: the guest's driver runs
 * in one worker thread, the vhost worker in another, sharing the guest's
 * memory (SharedArrayBuffers). Kicks and interrupts cross as
 * {@link Doorbell}s (eventfds in shared memory). The figure is frames per
 * wall-clock second that this software moves, copies included.
 *
 * ```
 *  main ── starts, samples counters, stops
 *  worker "guest": VirtioNetGuest (NAPI) ───── rings in shared memory ── worker "vhost": VhostNetDevice
 *                  TX: generator VNF                                          TX: uplink = DiscardPort
 *                  RX: drop VNF                                               RX: also the host generator
 * ```
 *
 * This module is also the workers' entry: loaded in a worker thread with
 * this module's `workerData`, it runs that role (from `src/` through tsx,
 * or as part of the built bundle).
 */
import { isMainThread, parentPort, workerData, type Worker } from "node:worker_threads";
import { CounterSet, RealClock, startWorker, type CounterHandle } from "@nfvio/core";
import { Burst, PacketPool } from "@nfvio/packet";
import { VirtioError } from "@nfvio/virtio";
import { VirtioNetGuest, type VirtioNetGuestHandle } from "../guest/guest.js";
import { VhostNetDevice } from "./device.js";
import { DiscardPort, DROP_VNF, GeneratorVnf, testFrame } from "./model.js";
import { Doorbell, DoorbellInterrupts, DoorbellKicks, type DoorbellHandle } from "./notify.js";

const KIND = "nfvio.vhost-net-thread";

interface RoleData {
  readonly kind: typeof KIND;
  readonly role: "guest" | "device";
  readonly direction: "tx" | "rx";
  readonly frameSize: number;
  readonly guest: VirtioNetGuestHandle;
  readonly kicks: DoorbellHandle;
  readonly irqs: DoorbellHandle;
  readonly control: SharedArrayBuffer;
}

export interface VhostNetThreadsOptions {
  /** "tx": guest -> host; "rx": host -> guest. */
  direction: "tx" | "rx";
  /** Frame size without the virtio-net header (default 64). */
  frameSize?: number;
  /** Measured seconds (default 1). */
  seconds?: number;
  /** Unmeasured warm-up seconds (default 0.3). */
  warmupSeconds?: number;
  /** Ring kind (default "split"). */
  ring?: "split" | "packed";
  /** Ring entries (default 256). */
  queueSize?: number;
}

export interface VhostNetThreadsResult {
  direction: "tx" | "rx";
  frameSize: number;
  /** Worker threads that ran (guest driver + vhost worker). */
  threads: number;
  /** Frames moved in the measured interval. */
  frames: number;
  seconds: number;
  /** Million frames per wall-clock second. */
  mpps: number;
  /** Device counters at the end. */
  device: Record<string, number>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run the guest and the vhost worker on two threads and measure wall-clock Mpps. */
export async function measureVhostNetThreads(options: VhostNetThreadsOptions): Promise<VhostNetThreadsResult> {
  const frameSize = options.frameSize ?? 64;
  const seconds = options.seconds ?? 1;
  const warmup = options.warmupSeconds ?? 0.3;
  if (!(seconds > 0)) throw new VirtioError("usage", `seconds ${seconds} must be positive`);
  const guest = new VirtioNetGuest({
    name: "vm",
    mode: "napi",
    ring: options.ring ?? "split",
    queueSize: options.queueSize ?? 256,
    pool: { count: 4096, dataRoom: Math.max(2048, frameSize) },
  });
  const kicks = new Doorbell(2);
  const irqs = new Doorbell(2);
  const control = new SharedArrayBuffer(8);
  const base = { kind: KIND as typeof KIND, direction: options.direction, frameSize, guest: guest.handle, kicks: kicks.handle, irqs: irqs.handle, control };
  const url = new URL(import.meta.url);
  const workers: Worker[] = [];
  const exits: Promise<number>[] = [];
  let counters: CounterSet | null = null;
  const ready = new Promise<CounterHandle>((resolve, reject) => {
    const dev = startWorker(url, { workerData: { ...base, role: "device" } satisfies RoleData });
    dev.once("message", (m: CounterHandle) => resolve(m));
    dev.once("error", reject);
    workers.push(dev);
  });
  const g = startWorker(url, { workerData: { ...base, role: "guest" } satisfies RoleData });
  workers.push(g);
  for (const w of workers) exits.push(new Promise((r) => w.once("exit", r)));
  const errors: Error[] = [];
  for (const w of workers) w.on("error", (e: Error) => errors.push(e));
  let frames = 0;
  let elapsed = 0;
  try {
    counters = CounterSet.attach(await ready);
    await sleep(warmup * 1000);
    const name = options.direction === "tx" ? "txFrames" : "rxFrames";
    const f0 = counters.get(name);
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const f1 = counters.get(name);
    const t1 = process.hrtime.bigint();
    frames = f1 - f0;
    elapsed = Number(t1 - t0) / 1e9;
  } finally {
    Atomics.store(new Int32Array(control), 0, 1);
    kicks.stop();
    irqs.stop();
    await Promise.all(exits);
  }
  if (errors.length > 0) throw errors[0]!;
  // Read after both threads stopped: an exact, consistent snapshot.
  return { direction: options.direction, frameSize, threads: 2, frames, seconds: elapsed, mpps: frames / elapsed / 1e6, device: counters.snapshot() };
}

function runDevice(d: RoleData): void {
  const stop = new Int32Array(d.control);
  const kicks = Doorbell.attach(d.kicks);
  const irqs = Doorbell.attach(d.irqs);
  const hostPool = new PacketPool({ count: 4096, dataRoom: Math.max(2048, d.frameSize) });
  const sink = new DiscardPort(hostPool);
  const device = new VhostNetDevice(d.guest.setup, { name: "vm", clock: new RealClock(), hostPool, uplink: sink, guest: new DoorbellInterrupts(irqs) });
  parentPort?.postMessage(device.counters.handle);
  const frame = testFrame(d.frameSize);
  const b = new Burst();
  const rx = d.direction === "rx";
  while (Atomics.load(stop, 0) === 0) {
    const epoch = kicks.epoch;
    device.pollDoorbell(kicks);
    if (rx) {
      // The host side: offer frames while the socket queue has room (pktgen on the TAP).
      const room = 500 - device.rxQueued(0);
      if (room >= b.capacity) {
        b.clear();
        const got = hostPool.allocBurst(b, b.capacity);
        for (let k = 0; k < got; k++) {
          const i = b.idx[k]!;
          hostPool.data.set(frame, hostPool.start(i));
          hostPool.len[i] = frame.length;
        }
        device.host.tx(b);
      }
    }
    // Idle: sleep until a kick (TX), or until the guest posts buffers (RX waiting for them).
    if (!device.runOnce() && (!rx || device.rxWaiting(0))) kicks.wait(epoch, 5);
  }
  device.close();
}

function runGuest(d: RoleData): void {
  const stop = new Int32Array(d.control);
  const kicks = Doorbell.attach(d.kicks);
  const irqs = Doorbell.attach(d.irqs);
  const frame = testFrame(d.frameSize);
  const guest = VirtioNetGuest.attach(d.guest, { vnf: d.direction === "tx" ? new GeneratorVnf(frame, Number.MAX_SAFE_INTEGER) : DROP_VNF });
  guest.connect(new DoorbellKicks(kicks));
  guest.start();
  while (Atomics.load(stop, 0) === 0) {
    const epoch = irqs.epoch;
    guest.pollDoorbell(irqs);
    // Nothing to do at once: halt until an interrupt (a vCPU's HLT).
    if (!guest.poll()) irqs.wait(epoch, 5);
  }
  guest.close();
}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === KIND) {
  const d = workerData as RoleData;
  if (d.role === "device") runDevice(d);
  else runGuest(d);
}
