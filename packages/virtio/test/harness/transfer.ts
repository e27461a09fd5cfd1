/**
 * A reusable two-thread transfer harness: a driver worker sends `frames`
 * frames of random sizes through a virtqueue in shared guest memory to a
 * device worker, which checks every frame (sequence number, length,
 * checksum) and returns it used. Both sides poll while busy and otherwise
 * sleep on futex words (Atomics.wait), woken only through the queue's own
 * notification decisions (publish / publishUsed return values), so a lost
 * notification shows up as a timed-out wait.
 *
 * Any ring kind registered in src/rings.ts works (split, packed).
 */
import type { Worker } from "node:worker_threads";
import { tsWorker } from "../../../../tooling/worker.ts";
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC } from "../../src/features.js";
import { ringFactory, type RingPlacement } from "../../src/rings.js";

export interface TransferOptions {
  kind?: "split" | "packed";
  frames: number;
  queueSize?: number;
  burst?: number;
  seed?: number;
  minLen?: number;
  maxLen?: number;
  eventIdx?: boolean;
  indirect?: boolean;
  /** Longest single wait for a notification before it counts as a timeout (default 5000 ms). */
  waitMs?: number;
  /** Give up after this long (default 120 s). */
  deadlineMs?: number;
}

/** What the workers receive. */
export interface TransferSetup {
  kind: string;
  memory: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  placement: RingPlacement;
  features: bigint;
  frames: number;
  burst: number;
  seed: number;
  minLen: number;
  maxLen: number;
  bufBase: number;
  bufStride: number;
  buffers: number;
  waitMs: number;
  deadlineMs: number;
}

export interface SideReport {
  role: "driver" | "device";
  /** Frames sent (driver) or received (device). */
  frames: number;
  /** Frames reclaimed (driver). */
  reclaimed: number;
  bytes: number;
  streamSum: number;
  /** Device: frames with a wrong sequence number, length or checksum. Driver: tokens reclaimed out of order. */
  errors: number;
  firstError: string | null;
  /** Times the side went to sleep, and sleeps that ended by timeout. */
  waits: number;
  timeouts: number;
  /** Notifications this side sent to the other. */
  notified: number;
  broken: string | null;
  faults: Record<string, number>;
}

export interface TransferResult {
  driver: SideReport;
  device: SideReport;
  ms: number;
}

export const CTL_KICK = 0;
export const CTL_IRQ = 1;
export const CTL_DRIVER_READY = 2;
export const CTL_ABORT = 3;

function report(w: Worker): Promise<SideReport> {
  return new Promise((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`transfer worker exited (${code}) before reporting`)));
  });
}

export async function runTransfer(o: TransferOptions): Promise<TransferResult> {
  const kind = o.kind ?? "split";
  const queueSize = o.queueSize ?? 256;
  const maxLen = o.maxLen ?? 1514;
  const f = ringFactory(kind);
  const placement = f.place(queueSize, 0x1000, o.indirect ? 4 : 0);
  const bufStride = Math.ceil(maxLen / 64) * 64;
  const bufBase = Math.ceil(placement.end / 64) * 64;
  const buffers = queueSize;
  const memory = new SharedArrayBuffer(bufBase + buffers * bufStride - 0x1000);
  const setup: TransferSetup = {
    kind,
    memory,
    ctl: new SharedArrayBuffer(64),
    placement,
    features: f.features | (o.eventIdx ? VIRTIO_F_EVENT_IDX : 0n) | (o.indirect ? VIRTIO_F_INDIRECT_DESC : 0n),
    frames: o.frames,
    burst: o.burst ?? 32,
    seed: o.seed ?? 1,
    minLen: o.minLen ?? 60,
    maxLen,
    bufBase,
    bufStride,
    buffers,
    waitMs: o.waitMs ?? 5000,
    deadlineMs: o.deadlineMs ?? 120_000,
  };
  const t0 = performance.now();
  const workers = [tsWorker(new URL("./transfer-driver.worker.ts", import.meta.url), { workerData: setup }), tsWorker(new URL("./transfer-device.worker.ts", import.meta.url), { workerData: setup })];
  try {
    const [driver, device] = await Promise.all(workers.map(report));
    return { driver: driver!, device: device!, ms: performance.now() - t0 };
  } finally {
    Atomics.store(new Int32Array(setup.ctl), CTL_ABORT, 1);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
