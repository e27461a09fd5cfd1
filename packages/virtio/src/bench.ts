/**
 * Ring benchmark (`@nfvio/virtio/bench`): frames of a fixed size move from a
 * driver through a virtqueue to a device and back as used buffers, in
 * bursts, with the payload copied twice per frame as a virtio-net transmit
 * path does: from a driver-private buffer into the guest buffer, and by the
 * device from the guest buffer into a device-private buffer.
 *
 * - threads 1: driver and device steps alternate in the calling thread.
 * - threads 2: a driver worker and a device worker share the guest memory
 *   (a SharedArrayBuffer) and poll the ring; nothing is posted between them
 *   per burst. The calling thread only starts, times and stops them.
 *
 * Both sides run in polling mode (notifications disabled, as a DPDK poll
 * mode driver does). A frame counts when the driver has reclaimed it.
 */
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { extname } from "node:path";
import { readFileSync } from "node:fs";
import { VirtioError } from "./errors.js";
import { GuestMemory } from "./memory.js";
import { DescChain, type DeviceQueue, type DriverQueue } from "./queue.js";
import { ringFactory, type RingPlacement } from "./rings.js";

export type RingBenchKind = "split" | "packed";

export interface RingBenchOptions {
  kind: RingBenchKind;
  threads: 1 | 2;
  /** Measured duration (after warm-up). */
  seconds: number;
  /** Frames per burst (default 32). */
  burst?: number;
  /** Frame size in bytes (default 64). */
  frameSize?: number;
  /** Queue size (default 256). */
  queueSize?: number;
  /** Unmeasured warm-up before timing starts, in seconds (default 0.3). */
  warmupSeconds?: number;
}

export interface RingBenchResult {
  kind: RingBenchKind;
  threads: 1 | 2;
  /** Frames completed (reclaimed by the driver) in the measured interval. */
  frames: number;
  /** Measured interval in seconds. */
  seconds: number;
  /** Million frames per second. */
  mpps: number;
  /**
   * CPU seconds each thread used in the measured interval, where the OS
   * tells (Linux /proc/thread-self); on a shared machine, frames / CPU
   * seconds shows what the code does per core regardless of how often it
   * was scheduled.
   */
  cpuSeconds?: { driver: number; device: number };
}

/** Everything a side needs to attach to the shared ring; structured-cloneable for workers. */
export interface BenchSetup {
  kind: RingBenchKind;
  memory: SharedArrayBuffer | ArrayBuffer;
  placement: RingPlacement;
  features: bigint;
  burst: number;
  frameSize: number;
  /** Guest-physical address of buffer 0; buffer i is at bufBase + i * bufStride. */
  bufBase: number;
  bufStride: number;
  buffers: number;
}

const GPA_BASE = 0;

/** Lay out guest memory for a benchmark ring. */
export function benchSetup(kind: RingBenchKind, queueSize: number, burst: number, frameSize: number, shared: boolean): BenchSetup {
  if (!Number.isInteger(burst) || burst < 1 || burst > queueSize) throw new VirtioError("usage", `burst ${burst} must be 1..queue size`);
  if (!Number.isInteger(frameSize) || frameSize < 1 || frameSize > 65536) throw new VirtioError("usage", `frameSize ${frameSize} must be 1..65536`);
  const f = ringFactory(kind);
  const placement = f.place(queueSize, GPA_BASE);
  const bufStride = Math.ceil(frameSize / 64) * 64;
  const bufBase = Math.ceil(placement.end / 64) * 64;
  const total = bufBase + queueSize * bufStride - GPA_BASE;
  return {
    kind,
    memory: shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total),
    placement,
    features: f.features,
    burst,
    frameSize,
    bufBase,
    bufStride,
    buffers: queueSize,
  };
}

/**
 * Copy `len` bytes; 32-bit word copies, unrolled by four, when both sides
 * and the length are 4-aligned (a loop over typed arrays beats
 * `set(subarray())`, which allocates a view, for frames this small).
 */
function copyBytes(src8: Uint8Array, src32: Int32Array, s: number, dst8: Uint8Array, dst32: Int32Array, d: number, len: number): void {
  if (((s | d | len) & 3) === 0) {
    let i = s >> 2;
    let j = d >> 2;
    const end = i + (len >> 2);
    while (i + 4 <= end) {
      dst32[j] = src32[i]!;
      dst32[j + 1] = src32[i + 1]!;
      dst32[j + 2] = src32[i + 2]!;
      dst32[j + 3] = src32[i + 3]!;
      i += 4;
      j += 4;
    }
    while (i < end) dst32[j++] = src32[i++]!;
  } else {
    for (let k = 0; k < len; k++) dst8[d + k] = src8[s + k]!;
  }
}

/** Driver side of the benchmark: refill, copy in, add, publish; reclaim. */
export class BenchDriver {
  readonly q: DriverQueue;
  private readonly g8: Uint8Array;
  private readonly g32: Int32Array;
  private readonly src8: Uint8Array;
  private readonly src32: Int32Array;
  private readonly free: Uint32Array;
  private freeHead = 0;
  private freeCount: number;
  private readonly addrs = new Float64Array(1);
  private readonly lens = new Uint32Array(1);
  private readonly tokens: Uint32Array;
  private readonly rlens: Uint32Array;
  private readonly s: BenchSetup;
  /** The last publish asked for a kick (the device enabled notifications). */
  kicked = false;
  /** Frames added by the last step. */
  added = 0;

  constructor(s: BenchSetup, init: boolean) {
    this.s = s;
    const mem = GuestMemory.fromBuffer(s.memory, GPA_BASE);
    this.q = ringFactory(s.kind).driver(mem, s.placement, s.features, init);
    this.q.setNotify(false);
    this.g8 = new Uint8Array(s.memory);
    this.g32 = new Int32Array(s.memory, 0, s.memory.byteLength >> 2);
    this.src8 = new Uint8Array(Math.ceil(s.frameSize / 4) * 4);
    for (let i = 0; i < this.src8.length; i++) this.src8[i] = (i * 31 + 7) & 0xff;
    this.src32 = new Int32Array(this.src8.buffer);
    this.free = new Uint32Array(s.buffers);
    for (let i = 0; i < s.buffers; i++) this.free[i] = i;
    this.freeCount = s.buffers;
    this.tokens = new Uint32Array(s.burst);
    this.rlens = new Uint32Array(s.burst);
  }

  /** One driver step; returns frames reclaimed. */
  step(): number {
    const s = this.s;
    const q = this.q;
    const n = q.reclaim(this.tokens, this.rlens, s.burst);
    const size = s.buffers;
    for (let k = 0; k < n; k++) {
      this.free[(this.freeHead + this.freeCount) % size] = this.tokens[k]!;
      this.freeCount++;
    }
    let m = s.burst < this.freeCount ? s.burst : this.freeCount;
    this.added = m;
    const addrs = this.addrs;
    const lens = this.lens;
    lens[0] = s.frameSize;
    // Store the first byte of every frame of the burst before copying any:
    // the lines were last read by the device (another core), and independent
    // first stores let their ownership requests overlap instead of each
    // frame's copy waiting for its own.
    for (let j = 0, h = this.freeHead; j < m; j++, h = h + 1 === size ? 0 : h + 1) {
      this.g8[s.bufBase + this.free[h]! * s.bufStride - GPA_BASE] = this.src8[0]!;
    }
    for (; m > 0; m--) {
      const buf = this.free[this.freeHead]!;
      const gpa = s.bufBase + buf * s.bufStride;
      copyBytes(this.src8, this.src32, 0, this.g8, this.g32, gpa - GPA_BASE, s.frameSize);
      addrs[0] = gpa;
      if (!q.add(addrs, lens, 1, 0, buf)) {
        this.added -= m;
        break;
      }
      this.freeHead = this.freeHead + 1 === size ? 0 : this.freeHead + 1;
      this.freeCount--;
    }
    this.kicked = q.publish();
    return n;
  }
}

/** Device side of the benchmark: pop, copy out, push used, publish. */
export class BenchDevice {
  readonly q: DeviceQueue;
  private readonly chains: DescChain[];
  private readonly g8: Uint8Array;
  private readonly g32: Int32Array;
  private readonly dst8: Uint8Array;
  private readonly dst32: Int32Array;
  private readonly burst: number;
  private readonly hostBase: number;
  /** Bytes copied out, so the copy cannot be optimised away. */
  bytes = 0;
  /** Folded first bytes of each burst (keeps the touch loads alive). */
  touched = 0;
  /** The last publish asked for an interrupt (the driver enabled notifications). */
  interrupt = false;

  constructor(s: BenchSetup) {
    const mem = GuestMemory.fromBuffer(s.memory, GPA_BASE);
    this.q = ringFactory(s.kind).device(mem, s.placement, s.features);
    this.q.setNotify(false);
    this.chains = [];
    for (let i = 0; i < s.burst; i++) this.chains.push(new DescChain(s.placement.size));
    this.g8 = new Uint8Array(s.memory);
    this.g32 = new Int32Array(s.memory, 0, s.memory.byteLength >> 2);
    this.dst8 = new Uint8Array(Math.ceil(s.frameSize / 4) * 4 + 65536);
    this.dst32 = new Int32Array(this.dst8.buffer);
    this.burst = s.burst;
    this.hostBase = mem.regions[0]!.bytes.byteOffset;
  }

  /** One device step; returns chains served. */
  step(): number {
    const q = this.q;
    const chains = this.chains;
    const n = q.popBurst(chains, this.burst);
    if (n === 0) return 0;
    // Touch each frame's first word before copying any: the loads are
    // independent, so the cache misses on lines the driver just wrote
    // (on another core) overlap instead of being paid one after another.
    let touch = 0;
    for (let i = 0; i < n; i++) touch ^= this.g8[this.hostBase + chains[i]!.offset[0]!]!;
    this.touched ^= touch;
    for (let i = 0; i < n; i++) {
      const c = chains[i]!;
      let at = 0;
      for (let sgi = 0; sgi < c.readable; sgi++) {
        const len = c.len[sgi]!;
        const room = this.dst8.length - at;
        const take = len < room ? len : room;
        copyBytes(this.g8, this.g32, this.hostBase + c.offset[sgi]!, this.dst8, this.dst32, at, take);
        at += take;
      }
      this.bytes += at;
      q.pushUsed(c, 0);
    }
    this.interrupt = q.publishUsed();
    return n;
  }
}

// ---- Two-thread plumbing ----

/** Control words shared with the workers. */
const CTL_DRIVER_READY = 0;
const CTL_DEVICE_READY = 1;
const CTL_GO = 2;
const CTL_STOP = 3;
const CTL_MEASURE = 4;
/** Futex word the driver bumps to kick the device (available-buffer notification). */
const CTL_KICK = 5;
/** Futex word the device bumps to interrupt the driver (used-buffer notification). */
const CTL_IRQ = 6;
const CTL_WORDS = 16;

export interface BenchWorkerData {
  role: "driver" | "device";
  setup: BenchSetup;
  ctl: SharedArrayBuffer;
}

export interface BenchWorkerResult {
  role: "driver" | "device";
  frames: number;
  seconds: number;
  /** CPU seconds of this thread while measuring, or -1 when unknown. */
  cpu: number;
  error?: string;
}

/** CPU seconds (user + system) used so far by the calling thread, or NaN where /proc/thread-self is missing. */
function threadCpuSeconds(): number {
  try {
    const stat = readFileSync("/proc/thread-self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat(5) (utime, stime) in clock ticks of 1/100 s.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Empty polls before a side goes to sleep until its peer notifies it. */
const SPIN_LIMIT = 2048;
/** Longest sleep, so the stop flag is seen promptly even without a notification. */
const SLEEP_MS = 5;

/**
 * The body of a benchmark worker (exported for the worker module). The
 * driver initialises the ring before the device attaches, then both run
 * until told to stop; the driver counts frames between the measure flag and
 * the stop flag.
 *
 * Each side polls while there is work. After {@link SPIN_LIMIT} empty
 * polls it sleeps the way a virtio peer does: it enables notifications on
 * its queue, checks once more, and waits on a futex word (Atomics.wait)
 * that the other side bumps and wakes (Atomics.notify) when its publish
 * says a notification is due. With both threads on their own cores the
 * sleep path is never taken; on a shared, oversubscribed machine it hands
 * the core over instead of spinning through the peer's time slice.
 */
export function runBenchRole(data: BenchWorkerData): BenchWorkerResult {
  const ctl = new Int32Array(data.ctl);
  if (data.role === "driver") {
    const d = new BenchDriver(data.setup, true);
    Atomics.store(ctl, CTL_DRIVER_READY, 1);
    while (Atomics.load(ctl, CTL_GO) === 0) Atomics.wait(ctl, CTL_GO, 0, SLEEP_MS);
    let frames = 0;
    let t0 = 0;
    let cpu0 = 0;
    let measuring = false;
    let idle = 0;
    for (let iter = 0; ; iter++) {
      const n = d.step();
      if (d.kicked) kick(ctl, CTL_KICK);
      if (n !== 0 || d.added !== 0) {
        idle = 0;
        if (measuring) frames += n;
      } else if (++idle >= SPIN_LIMIT) {
        // Out of buffers and nothing used: sleep until the device interrupts.
        const seen = Atomics.load(ctl, CTL_IRQ);
        d.q.setNotify(true);
        const m = d.step();
        if (d.kicked) kick(ctl, CTL_KICK);
        if (m === 0 && d.added === 0) Atomics.wait(ctl, CTL_IRQ, seen, SLEEP_MS);
        else if (measuring) frames += m;
        d.q.setNotify(false);
        idle = 0;
      }
      if ((iter & 255) === 0 || idle === 0) {
        if (!measuring && Atomics.load(ctl, CTL_MEASURE) !== 0) {
          measuring = true;
          t0 = performance.now();
          cpu0 = threadCpuSeconds();
        }
        if (Atomics.load(ctl, CTL_STOP) !== 0) break;
      }
      if (d.q.broken) return { role: "driver", frames, seconds: 0, cpu: -1, error: `driver queue broken: ${d.q.brokenBy}` };
    }
    const seconds = measuring ? (performance.now() - t0) / 1000 : 0;
    return { role: "driver", frames, seconds, cpu: measuring ? threadCpuSeconds() - cpu0 : -1 };
  }
  while (Atomics.load(ctl, CTL_DRIVER_READY) === 0) Atomics.wait(ctl, CTL_DRIVER_READY, 0, SLEEP_MS);
  const dev = new BenchDevice(data.setup);
  Atomics.store(ctl, CTL_DEVICE_READY, 1);
  let frames = 0;
  let idle = 0;
  let cpu0 = Number.NaN;
  for (let iter = 0; ; iter++) {
    const n = dev.step();
    if (n !== 0) {
      frames += n;
      idle = 0;
      if (dev.interrupt) kick(ctl, CTL_IRQ);
    } else if (++idle >= SPIN_LIMIT) {
      const seen = Atomics.load(ctl, CTL_KICK);
      dev.q.setNotify(true);
      if (dev.q.pending() === 0) Atomics.wait(ctl, CTL_KICK, seen, SLEEP_MS);
      dev.q.setNotify(false);
      idle = 0;
    }
    if ((iter & 255) === 0 || idle === 0) {
      if (cpu0 !== cpu0 && Atomics.load(ctl, CTL_MEASURE) !== 0) cpu0 = threadCpuSeconds();
      if (Atomics.load(ctl, CTL_STOP) !== 0) break;
    }
    if (dev.q.broken) return { role: "device", frames, seconds: 0, cpu: -1, error: `device queue broken: ${dev.q.brokenBy}` };
  }
  return { role: "device", frames, seconds: 0, cpu: threadCpuSeconds() - cpu0 };
}

function kick(ctl: Int32Array, word: number): void {
  Atomics.add(ctl, word, 1);
  Atomics.notify(ctl, word);
}

/**
 * Start a worker from a module beside this one. Under a TypeScript loader
 * (this file is `.ts`), Node 20 does not pass loader hooks to workers, so a
 * small bootstrap registers tsx inside the worker first; built `.js` files
 * start directly.
 */
function startWorker(name: string, workerData: BenchWorkerData): Worker {
  const self = fileURLToPath(import.meta.url);
  const ext = extname(self);
  const url = new URL(`./${name}${ext}`, import.meta.url);
  if (ext !== ".ts") return new Worker(url, { workerData });
  const api = createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  const boot = `import(${JSON.stringify(pathToFileURL(api).href)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData, execArgv: ["--conditions=source"] });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function workerResult(w: Worker): Promise<BenchWorkerResult> {
  return new Promise((resolve, reject) => {
    w.once("message", (m: BenchWorkerResult) => resolve(m));
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`bench worker exited with code ${code} before reporting`)));
  });
}

interface Measured {
  frames: number;
  seconds: number;
  cpu?: { driver: number; device: number };
}

async function runTwoThreads(setup: BenchSetup, seconds: number, warmup: number): Promise<Measured> {
  const ctlBuf = new SharedArrayBuffer(CTL_WORDS * 4);
  const ctl = new Int32Array(ctlBuf);
  const workers = (["driver", "device"] as const).map((role) => startWorker("bench-worker", { role, setup, ctl: ctlBuf }));
  const results = workers.map(workerResult);
  try {
    const deadline = Date.now() + 60_000;
    while (Atomics.load(ctl, CTL_DRIVER_READY) === 0 || Atomics.load(ctl, CTL_DEVICE_READY) === 0) {
      if (Date.now() > deadline) throw new VirtioError("usage", "bench workers did not start within 60 s");
      await Promise.race([sleep(5), ...results.map((p) => p.then(() => undefined))]);
    }
    Atomics.store(ctl, CTL_GO, 1);
    await sleep(warmup * 1000);
    Atomics.store(ctl, CTL_MEASURE, 1);
    await sleep(seconds * 1000);
    Atomics.store(ctl, CTL_STOP, 1);
    const [drv, dev] = await Promise.all(results);
    const err = drv!.error ?? dev!.error;
    if (err) throw new VirtioError("usage", err);
    const cpu = drv!.cpu >= 0 && dev!.cpu >= 0 ? { driver: drv!.cpu, device: dev!.cpu } : undefined;
    return { frames: drv!.frames, seconds: drv!.seconds, ...(cpu ? { cpu } : {}) };
  } finally {
    Atomics.store(ctl, CTL_STOP, 1);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function runOneThread(setup: BenchSetup, seconds: number, warmup: number): Measured {
  const drv = new BenchDriver(setup, true);
  const dev = new BenchDevice(setup);
  const t = performance.now();
  let measureAt = t + warmup * 1000;
  let stopAt = measureAt + seconds * 1000;
  let frames = 0;
  let t0 = 0;
  let cpu0 = 0;
  let measuring = false;
  for (let iter = 0; ; iter++) {
    const n = drv.step();
    if (measuring) frames += n;
    dev.step();
    if ((iter & 63) === 0) {
      const now = performance.now();
      if (!measuring && now >= measureAt) {
        measuring = true;
        t0 = now;
        cpu0 = threadCpuSeconds();
        stopAt = now + seconds * 1000;
      } else if (measuring && now >= stopAt) {
        if (drv.q.broken || dev.q.broken) throw new VirtioError("usage", `queue broken: ${drv.q.brokenBy ?? dev.q.brokenBy}`);
        const cpu = threadCpuSeconds() - cpu0;
        return { frames, seconds: (now - t0) / 1000, ...(cpu >= 0 ? { cpu: { driver: cpu, device: cpu } } : {}) };
      }
    }
  }
}

/** Run the ring benchmark once. */
export async function runRingBench(options: RingBenchOptions): Promise<RingBenchResult> {
  const burst = options.burst ?? 32;
  const frameSize = options.frameSize ?? 64;
  const queueSize = options.queueSize ?? 256;
  const warmup = options.warmupSeconds ?? 0.3;
  if (!(options.seconds > 0)) throw new VirtioError("usage", `seconds must be positive, got ${options.seconds}`);
  if (options.threads !== 1 && options.threads !== 2) throw new VirtioError("usage", `threads must be 1 or 2, got ${String(options.threads)}`);
  const setup = benchSetup(options.kind, queueSize, burst, frameSize, options.threads === 2);
  const r = options.threads === 2 ? await runTwoThreads(setup, options.seconds, warmup) : runOneThread(setup, options.seconds, warmup);
  return {
    kind: options.kind,
    threads: options.threads,
    frames: r.frames,
    seconds: r.seconds,
    mpps: r.seconds > 0 ? r.frames / r.seconds / 1e6 : 0,
    ...(r.cpu ? { cpuSeconds: r.cpu } : {}),
  };
}
