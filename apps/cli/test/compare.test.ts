/**
 * `nfvio compare` in modelled time: the same result twice, and the claim it
 * exists to show: the accelerated path delivers more than the vhost-net
 * baseline with (near) zero host CPU cycles per packet, north-south and
 * east-west.
 */
import { describe, expect, test } from "vitest";
import { compare, type CompareResult } from "../src/scenario/compare.js";

describe("nfvio compare (modelled time)", () => {
  let first: CompareResult;

  test("is deterministic: two runs are deep-equal", async () => {
    first = await compare({ quick: true, sweep: false, sizes: ["64"] });
    const second = await compare({ quick: true, sweep: false, sizes: ["64"] });
    expect(second).toEqual(first);
    expect(first.rows.length).toBe(4);
  });

  test("baseline < accelerated, and the accelerated path costs (near) zero host cycles per packet", () => {
    for (const topo of ["north-south", "east-west"] as const) {
      const base = first.rows.find((r) => r.topology === topo && r.backend === "vhost-net")!;
      const acc = first.rows.find((r) => r.topology === topo && r.backend === "offload")!;
      // The vhost-net worker saturates near the calibrated kernel figures (a few Mpps at 64 B).
      expect(base.mpps, topo).toBeGreaterThan(1);
      expect(base.mpps, topo).toBeLessThan(5.35);
      expect(acc.mpps, topo).toBeGreaterThan(5 * base.mpps);
      // Host work per packet: hundreds of cycles on the baseline, none on the accelerated path.
      expect(base.hostCyclesPerPacket, topo).toBeGreaterThan(500);
      expect(acc.hostCyclesPerPacket, topo).toBeLessThan(1);
      expect(acc.p99Us, topo).toBeLessThan(base.p99Us);
      // The latency run (90% of the maximum) is loss-free, or nearly.
      expect(base.probeLoss, topo).toBeLessThan(0.01);
      expect(acc.probeLoss, topo).toBeLessThan(0.01);
      // At line rate the baseline drops, and says why.
      expect(Object.keys(base.drops).length, topo).toBeGreaterThan(0);
    }
    expect(first.latency.every((c) => c.counts.reduce((a, b) => a + b, 0) > 0)).toBe(true);
  });

  test("the scale sweep: the baseline scales with host cores, the accelerated path with none", async () => {
    const r = await compare({ quick: true, sizes: [] });
    const at = (b: string, vms: number, q: number) => r.sweep.find((p) => p.backend === b && p.vms === vms && p.queues === q)!;
    expect(at("vhost-net", 2, 1).mpps).toBeGreaterThan(1.5 * at("vhost-net", 1, 1).mpps);
    expect(at("vhost-net", 8, 1).hostCores).toBeGreaterThan(4 * at("vhost-net", 1, 1).hostCores);
    expect(at("offload", 2, 1).mpps).toBeGreaterThan(1.5 * at("offload", 1, 1).mpps);
    expect(at("offload", 1, 4).mpps).toBeGreaterThan(2 * at("offload", 1, 1).mpps);
    for (const p of r.sweep.filter((x) => x.backend === "offload")) expect(p.hostCores).toBe(0);
  });
});
