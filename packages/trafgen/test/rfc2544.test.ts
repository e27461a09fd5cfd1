import { describe, expect, it } from "vitest";
import { backToBack, frameLossRate, latency, lineRatePps, LoopbackPort, ndrPdr, portTrial, throughput, type DutSpec } from "../src/index.js";

const device = (spec: DutSpec) => portTrial({ makePort: (pool, clock) => new LoopbackPort(pool, clock, spec), drainNs: 1e6 });

describe("RFC 2544 in modelled time", () => {
  it("§26.1 throughput finds a device's known capacity within the resolution", async () => {
    const capacity = 100_000;
    const r = await throughput({ trial: device({ capacityPps: capacity, queue: 16 }), maxPps: 200_000, resolution: 0.001, trialNs: 0.3e9 });
    const res = 0.001 * 200_000;
    expect(r.resolutionPps).toBe(res);
    expect(Math.abs(r.rate.pps - capacity)).toBeLessThanOrEqual(res);
    expect(r.failedAbove! - r.rate.pps).toBeLessThanOrEqual(res);
    expect(r.trials[0]!.pps).toBe(200_000);
    expect(r.trials[0]!.pass).toBe(false);
    expect(r.trials.length).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(1 / 0.001)));
    expect(r.reference).toMatch(/RFC 2544 §26\.1/);
    // The figures agree with each other: 64-byte frames, 100 Gbit/s line.
    expect(r.rate.bps).toBeCloseTo(r.rate.pps * 64 * 8, 6);
    expect(r.rate.bpsL1).toBeCloseTo(r.rate.pps * 84 * 8, 6);
    expect(r.rate.linePct).toBeCloseTo((r.rate.pps / lineRatePps(64, 100e9)) * 100, 9);
  });

  it("a device that keeps up with the maximum passes at once", async () => {
    const r = await throughput({ trial: device({}), maxPps: 50_000, trialNs: 0.1e9 });
    expect(r.rate.pps).toBe(50_000);
    expect(r.failedAbove).toBeNull();
    expect(r.trials.length).toBe(1);
  });

  it("NFV-TST009 NDR and PDR: zero loss at capacity, PDR where loss reaches the tolerance", async () => {
    const capacity = 100_000;
    const r = await ndrPdr({ trial: device({ capacityPps: capacity, queue: 16 }), maxPps: 200_000, resolution: { pps: 100 }, trialNs: 0.3e9, pdrLoss: 0.05 });
    expect(Math.abs(r.ndr.pps - capacity)).toBeLessThanOrEqual(100);
    // Loss ratio at rate p above capacity: (p − capacity) / p, so the PDR is capacity / (1 − 0.05).
    expect(Math.abs(r.pdr.pps - capacity / 0.95)).toBeLessThanOrEqual(100 + 16 / 0.3);
    expect(r.pdr.pps).toBeGreaterThan(r.ndr.pps);
  });

  it("§26.3 frame loss rate: 100%, 90%, ... until two successive trials without loss", async () => {
    const r = await frameLossRate({ trial: device({ capacityPps: 60_000, queue: 8 }), maxPps: 100_000, trialNs: 0.2e9 });
    expect(r.steps.map((s) => s.loadPct)).toEqual([100, 90, 80, 70, 60, 50]);
    expect(r.steps.slice(-2).map((s) => s.lossPct)).toEqual([0, 0]);
    for (const s of r.steps.slice(0, 4)) {
      const want = (1 - 60 / s.loadPct) * 100;
      expect(Math.abs(s.lossPct - want)).toBeLessThan(0.1);
    }
  });

  it("§26.4 back-to-back: the longest lossless burst at the line rate", async () => {
    // Line rate 1 Gbit/s, 64-byte frames: 1,488,095 pps; the device serves half that with a 50-frame queue:
    // the queue grows by one frame every two arrivals, so about 100 frames pass without loss.
    const line = lineRatePps(64, 1e9);
    const r = await backToBack({ trial: device({ capacityPps: line / 2, queue: 50 }), lineRate: "1G", maxBurst: 1000, repeat: 2 });
    expect(r.bursts[0]).toBeGreaterThanOrEqual(98);
    expect(r.bursts[0]).toBeLessThanOrEqual(102);
    expect(r.bursts[1]).toBe(r.bursts[0]);
    expect(r.meanFrames).toBe(r.bursts[0]);
    expect(r.burstPps).toBeCloseTo(line, 6);
  });

  it("§26.2 latency at the throughput rate, with the tagged frame", async () => {
    const r = await latency({ trial: device({ capacityPps: 100_000, queue: 16, latencyNs: 5_000 }), search: { maxPps: 200_000, resolution: 0.01, trialNs: 0.2e9 }, trialNs: 0.2e9, repeat: 2 });
    expect(r.throughput).toBeDefined();
    expect(r.trials.length).toBe(2);
    // Below capacity each frame waits 5 µs plus one 10-µs service time.
    expect(r.taggedMeanNs).toBeCloseTo(15_000, 3);
    expect(r.trials[0]!.latency.p50Ns).toBeGreaterThanOrEqual(14_990);
    expect(r.trials[0]!.lossRatio).toBe(0);
  });
});
