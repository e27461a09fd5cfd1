/**
 * Two threads, one packed ring over a SharedArrayBuffer (virtio 1.2 §2.8):
 * a million frames of random sizes (60..1514 bytes) from driver to device,
 * and frames the other way through device-writable buffers, each with a
 * sequence number and a checksum checked at the far end. Nothing may be
 * lost, duplicated, reordered or corrupted; notifications go through event
 * suppression (EVENT_IDX desc mode) and none may be lost.
 */
import { describe, expect, it } from "vitest";
import { tsWorker } from "../../../tooling/worker.ts";
import { packedRingLayout } from "../src/packed.js";
import type { ThreadsConfig, ThreadsResult } from "./packed-threads.worker.ts";
import { F_EVENT_IDX, F_IN_ORDER, F_INDIRECT, F_PACKED } from "./packed-fixture.js";

const BASE = 0x4000_0000;

function runPair(roles: [ThreadsConfig["role"], ThreadsConfig["role"]], frames: number, size: number, features: bigint, inOrderBatch: boolean): Promise<ThreadsResult[]> {
  const indirectEntries = 4;
  const layout = packedRingLayout(size, BASE, indirectEntries);
  const bufStride = 1536;
  const bufAddr = Math.ceil(layout.end / 64) * 64;
  const total = bufAddr + size * bufStride - BASE;
  const sab = new SharedArrayBuffer(total);
  const ctrl = new SharedArrayBuffer(64);
  const seed = (Math.random() * 0x7fff_ffff) | 0;
  const common = {
    sab,
    ctrl,
    base: BASE,
    size,
    descAddr: layout.descAddr,
    driverEventAddr: layout.driverEventAddr,
    deviceEventAddr: layout.deviceEventAddr,
    indirectAddr: layout.indirectAddr,
    indirectEntries,
    bufAddr,
    bufStride,
    frames,
    features,
    inOrderBatch,
    seed,
  };
  return Promise.all(
    roles.map(
      (role) =>
        new Promise<ThreadsResult>((resolve, reject) => {
          const w = tsWorker(new URL("./packed-threads.worker.ts", import.meta.url), { workerData: { ...common, role } satisfies ThreadsConfig });
          w.once("message", (m: ThreadsResult) => resolve(m));
          w.once("error", reject);
          w.once("exit", (code) => {
            if (code !== 0) reject(new Error(`${role} worker exited with ${code}`));
          });
        }),
    ),
  );
}

function check(results: ThreadsResult[], frames: number): void {
  const [a, b] = results as [ThreadsResult, ThreadsResult];
  for (const r of results) {
    expect({ role: r.role, errors: r.errors, firstError: r.firstError, broken: r.broken, lostWakeups: r.lostWakeups }).toEqual({
      role: r.role,
      errors: 0,
      firstError: "",
      broken: null,
      lostWakeups: 0,
    });
    expect(r.frames).toBe(frames);
  }
  expect(a.hash).toBe(b.hash);
  expect(a.bytes).toBe(b.bytes);
  const ms = Math.max(a.ms, b.ms);
  console.log(
    `${a.role}/${b.role}: ${frames} frames, ${(a.bytes / 1e6).toFixed(0)} MB in ${ms.toFixed(0)} ms (${((frames / ms) * 1e3 / 1e6).toFixed(2)} Mpps); ` +
      `kicks ${results.find((r) => r.role.endsWith("driver"))!.notifications}, irqs ${results.find((r) => r.role.endsWith("device"))!.notifications}, sleeps ${a.sleeps + b.sleeps}`,
  );
}

describe("packed ring across two threads", () => {
  it("1,000,000 frames driver -> device: lists, indirect, out-of-order completion, EVENT_IDX", async () => {
    const frames = 1_000_000;
    const res = await runPair(["tx-driver", "tx-device"], frames, 256, F_PACKED | F_INDIRECT | F_EVENT_IDX, false);
    check(res, frames);
  });

  it("200,000 frames device -> driver through device-writable buffers, IN_ORDER", async () => {
    const frames = 200_000;
    const res = await runPair(["rx-driver", "rx-device"], frames, 100, F_PACKED | F_INDIRECT | F_EVENT_IDX | F_IN_ORDER, false);
    check(res, frames);
  });

  it("200,000 frames driver -> device with IN_ORDER batched used descriptors, no EVENT_IDX", async () => {
    const frames = 200_000;
    const res = await runPair(["tx-driver", "tx-device"], frames, 64, F_PACKED | F_INDIRECT | F_IN_ORDER, true);
    check(res, frames);
  });
});
