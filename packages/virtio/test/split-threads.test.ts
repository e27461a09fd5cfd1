/**
 * Two threads, one split virtqueue in a SharedArrayBuffer (virtio 1.2
 * §2.7.13 / §2.7.14 ordering with Atomics): 1,000,000 frames of random sizes
 * (60..1514 bytes) with sequence numbers and checksums, checked by the
 * device thread; nothing lost, reordered or corrupted, and no notification
 * lost (no sleep that had to time out). Also the benchmark entry point in
 * both modes, briefly.
 */
import { describe, expect, it } from "vitest";
import { runRingBench } from "../src/bench.js";
import { runTransfer, type TransferResult } from "./harness/transfer.js";

function expectClean(r: TransferResult, frames: number): void {
  expect(r.driver.broken).toBeNull();
  expect(r.device.broken).toBeNull();
  expect(r.device.firstError).toBeNull();
  expect(r.driver.firstError).toBeNull();
  expect(r.device.errors).toBe(0);
  expect(r.driver.errors).toBe(0);
  expect(r.driver.frames).toBe(frames);
  expect(r.driver.reclaimed).toBe(frames);
  expect(r.device.frames).toBe(frames);
  expect(r.device.bytes).toBe(r.driver.bytes);
  expect(r.device.streamSum).toBe(r.driver.streamSum);
  expect(r.driver.timeouts).toBe(0);
  expect(r.device.timeouts).toBe(0);
  expect(r.driver.faults).toEqual({});
  expect(r.device.faults).toEqual({});
}

describe("split ring across two worker threads", () => {
  it("moves 1,000,000 random-size frames with chains and indirect tables, flags-based notifications", async () => {
    const r = await runTransfer({ kind: "split", frames: 1_000_000, indirect: true, seed: 7 });
    expectClean(r, 1_000_000);
    expect(r.device.bytes / 1_000_000).toBeGreaterThan(700); // mean of 60..1514 is 787
  });

  it("moves 200,000 frames with VIRTIO_F_EVENT_IDX on a small ring (many 16-bit wraps)", async () => {
    const r = await runTransfer({ kind: "split", frames: 200_000, queueSize: 16, burst: 8, eventIdx: true, seed: 11 });
    expectClean(r, 200_000);
  });
});

describe("ring benchmark entry point", () => {
  it("runs one-thread and two-thread split benchmarks and reports Mpps", async () => {
    for (const threads of [1, 2] as const) {
      const r = await runRingBench({ kind: "split", threads, seconds: 0.3, warmupSeconds: 0.1 });
      expect(r.kind).toBe("split");
      expect(r.threads).toBe(threads);
      expect(r.frames).toBeGreaterThan(1000);
      expect(r.mpps).toBeCloseTo(r.frames / r.seconds / 1e6, 6);
    }
  });
});
