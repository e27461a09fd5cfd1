import { describe, expect, it } from "vitest";
import { tsWorker } from "../../../tooling/worker.ts";
import { Burst } from "../src/burst.js";
import { PacketPool } from "../src/pool.js";

interface Result {
  clobbered: number;
  handedOff: number;
  received: number;
  allocated: number;
}

describe("PacketPool across two worker threads", () => {
  it("allocs and frees concurrently without losing, duplicating or sharing a buffer", async () => {
    const pool = new PacketPool({ count: 256, dataRoom: 64, headroom: 0 });
    const ring = new SharedArrayBuffer(4 * (2 + 512));
    const sync = new SharedArrayBuffer(4 * 4);
    const iterations = 20_000;
    const workers = [0, 1].map((id) =>
      tsWorker(new URL("./pool.worker.ts", import.meta.url), { workerData: { pool: pool.handle, id, iterations, ring, sync } }),
    );
    const results = workers.map(
      (w) =>
        new Promise<Result>((resolve, reject) => {
          w.once("message", (m: Result) => resolve(m));
          w.once("error", reject);
        }),
    );
    // Let both boot (tsx registration takes a moment), then start them together.
    await new Promise((r) => setTimeout(r, 300));
    Atomics.store(new Int32Array(sync), 0, 1);
    Atomics.notify(new Int32Array(sync), 0);
    const [r0, r1] = await Promise.all(results);
    await Promise.all(workers.map((w) => w.terminate()));

    expect(r0!.clobbered + r1!.clobbered).toBe(0);
    expect(r0!.handedOff).toBeGreaterThan(0);
    expect(r1!.received).toBe(r0!.handedOff);
    const st = pool.stats();
    expect(st.doubleFrees).toBe(0);
    expect(st.badFrees).toBe(0);
    expect(st.inUse).toBe(0);
    expect(st.allocs).toBe(r0!.allocated + r1!.allocated);
    expect(st.frees).toBe(st.allocs);
    // Every buffer is in the free list exactly once.
    const all = new Burst(256);
    expect(pool.allocBurst(all)).toBe(256);
    expect(new Set(all.idx).size).toBe(256);
  });
});
