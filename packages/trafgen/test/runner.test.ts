import { Config, Engine, Filter, ModelClock, PacketPool, RealClock } from "@nfvio/core";
import { describe, expect, it } from "vitest";
import { LoopbackPort, runPort, TrafficSink, TrafficSource, graphReport } from "../src/index.js";

describe("driving a port under the model clock", () => {
  it("a device at capacity queues: latency grows, loss only past the queue; runs repeat bit for bit", async () => {
    const run = async () => {
      const pool = new PacketPool({ count: 4096 });
      const clock = new ModelClock();
      const port = new LoopbackPort(pool, clock, { capacityPps: 100_000, queue: 64, latencyNs: 2000 });
      const r = await runPort({ port, pool, clock, streams: [{ rate: "120kpps", size: 64 }], durationNs: 0.1e9, intervalNs: 0.02e9 });
      return { r, port };
    };
    const { r, port } = await run();
    const s = r.streams[0]!;
    expect(s.tx).toBe(12_000);
    // 100 kpps served over 0.1 s plus what the queue held, the rest dropped.
    expect(s.lost).toBe(port.counters.get("queueDrops"));
    expect(s.received).toBeGreaterThanOrEqual(10_000);
    expect(s.received).toBeLessThanOrEqual(10_000 + 64 + 1);
    expect(s.latency.minNs).toBeCloseTo(2000 + 10_000, 6); // latency + one service time
    expect(s.latency.maxNs).toBeGreaterThan(2000 + 60 * 10_000);
    expect(r.series.length).toBe(6); // the queue drains into the 6th interval
    expect(r.series.reduce((a, x) => a + x.lost, 0)).toBe(s.lost);
    const again = await run();
    expect(again.r.streams).toEqual(r.streams);
    expect(again.r.series).toEqual(r.series);
  });

  it("counts what an impairing device did: losses and duplicates exactly, reordering at most the held frames", async () => {
    const pool = new PacketPool({ count: 4096 });
    const clock = new ModelClock();
    const port = new LoopbackPort(pool, clock, { loss: 0.01, duplicate: 0.02, reorder: 0.03, reorderDepth: 4, seed: 7 });
    const r = await runPort({ port, pool, clock, streams: [{ rate: "1Mpps", count: 20_000 }, { id: 3, rate: "0.5Mpps", size: "imix", count: 10_000 }] });
    const lost = r.streams.reduce((a, s) => a + s.lost, 0);
    const dups = r.streams.reduce((a, s) => a + s.duplicates, 0);
    const reo = r.streams.reduce((a, s) => a + s.reordered, 0);
    expect(lost).toBe(port.counters.get("lost"));
    expect(dups).toBe(port.counters.get("duplicated"));
    expect(reo).toBeGreaterThan(0);
    expect(reo).toBeLessThanOrEqual(port.counters.get("reordered"));
    expect(r.total.tx).toBe(30_000);
    expect(pool.stats().inUse).toBe(0);
  });
});

describe("driving a port under the real clock", () => {
  it("paces with token buckets and reports the achieved rate next to the asked one", async () => {
    const pool = new PacketPool({ count: 4096 });
    const clock = new RealClock();
    const port = new LoopbackPort(pool, clock);
    const r = await runPort({ port, pool, clock, streams: [{ rate: "50kpps", size: 64 }], durationNs: 0.3e9, drainNs: 20e6 });
    const s = r.streams[0]!;
    expect(r.clock).toBe("real");
    expect(s.askedPps).toBe(50_000);
    // Shared, noisy cores (other jobs run beside the tests): only a loose bound.
    expect(s.achievedPps).toBeGreaterThan(2_500);
    expect(s.achievedPps).toBeLessThan(50_000 * 1.1);
    expect(s.received).toBe(s.tx);
    expect(s.latency.count).toBe(s.tx);
  });
});

describe("in a graph as core components", () => {
  it("source and sink under the model clock: exact rate, latency from the graph's charged costs", async () => {
    const engine = new Engine({ clock: new ModelClock(), cost: { cpuHz: 2e9 } });
    await engine.configure(
      new Config()
        .app("gen", TrafficSource, { streams: [{ rate: "200kpps", size: 64, duration: "50ms" }, { id: 1, rate: "100kpps", size: 128, duration: "50ms" }] })
        .app("ipv4", Filter, { etherType: 0x0800, cyclesPerPacket: 100 })
        .app("sink", TrafficSink, { streams: 2 })
        .link("gen.out -> ipv4.in")
        .link("ipv4.out -> sink.in"),
    );
    engine.run();
    const rep = graphReport(engine.app<TrafficSource>("gen"), engine.app<TrafficSink>("sink"));
    expect(rep.map((s) => [s.tx, s.received, s.lost])).toEqual([
      [10_000, 10_000, 0],
      [5_000, 5_000, 0],
    ]);
    // One frame at a time through a filter charging 100 cycles at 2 GHz: 50 ns each.
    expect(rep[0]!.latency.minNs).toBeCloseTo(50, 6);
    expect(engine.snapshot().apps["sink"]!["received"]).toBe(15_000);
    await engine.stop();
  });
});
