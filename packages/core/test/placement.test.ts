import { describe, expect, it } from "vitest";
import { Config, CoreError, Engine, Sink, Source, type EngineSnapshot } from "../src/index.js";
import { MacSwap, MainOnly, frame } from "./fixtures.js";

const PKT = frame(1, 2, 0x0800, 50, 0x5a);

async function waitFor(engine: Engine, pred: (s: EngineSnapshot) => boolean, timeoutMs = 15_000): Promise<EngineSnapshot> {
  const t0 = Date.now();
  for (;;) {
    const s = engine.snapshot();
    if (pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out; last snapshot ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("placement on worker threads", () => {
  it("runs a source on one worker and a sink on another, counts conserved", async () => {
    const n = 100_000;
    const engine = new Engine({ pool: { count: 4096 } });
    const cfg = new Config()
      .app("src", Source, { packets: [PKT], count: n })
      .app("swap", MacSwap, {})
      .app("sink", Sink, {})
      .link("src.out -> swap.in")
      .link("swap.out -> sink.in")
      .place("w0", ["src"])
      .place("w1", ["swap", "sink"]);
    const r = await engine.configure(cfg);
    expect(r.workersStarted.sort()).toEqual(["w0", "w1"]);
    try {
      const s = await waitFor(engine, (s) => s.apps["src"]!["packets"] === n && s.apps["sink"]!["packets"]! + s.links["src.out -> swap.in"]!["txDrops"]! + s.links["swap.out -> sink.in"]!["txDrops"]! === n);
      const a = s.links["src.out -> swap.in"]!;
      const b = s.links["swap.out -> sink.in"]!;
      // Conservation: everything the source sent was either received downstream or dropped on a full link.
      expect(a["txPackets"]! + a["txDrops"]!).toBe(n);
      expect(a["rxPackets"]).toBe(a["txPackets"]);
      expect(s.apps["swap"]!["packets"]).toBe(a["rxPackets"]);
      expect(b["txPackets"]! + b["txDrops"]!).toBe(s.apps["swap"]!["packets"]);
      expect(s.apps["sink"]!["packets"]).toBe(b["txPackets"]);
      expect(s.apps["sink"]!["bytes"]).toBe(s.apps["sink"]!["packets"]! * 64);
      expect(s.workers["w0"]!.components).toEqual(["src"]);
      expect(s.workers["w1"]!.breaths).toBeGreaterThan(0);
      // Buffers allocated on w0 are freed on w1; none leak.
      await waitFor(engine, (s) => s.pool.inUse === 0);
      expect(engine.pool.doubleFrees).toBe(0);

      // Reconfigure: change only w1's sink options; w0 keeps running.
      const cfg2 = Config.from(cfg).app("sink", Sink, { cyclesPerPacket: 5 });
      const r2 = await engine.configure(cfg2);
      expect(r2.workersStopped).toEqual(["w1"]);
      expect(r2.workersStarted).toEqual(["w1"]);
      expect(r2.linksAdded).toEqual([]);
      expect(r2.linksRemoved).toEqual([]);
      // The new sink starts from zero; the counters of w0's source were kept.
      const s2 = engine.snapshot();
      expect(s2.apps["src"]!["packets"]).toBe(n);
      expect(s2.apps["sink"]!["packets"]).toBe(0);
    } finally {
      await engine.stop();
    }
    expect(engine.pool.inUse).toBe(0);
    expect(engine.snapshot().workers).toEqual({});
  });

  it("mixes main-thread and worker components, and moves a component back to main", async () => {
    const engine = new Engine({ pool: { count: 1024 } });
    try {
      await engine.configure(
        new Config()
          .app("src", Source, { packets: [PKT], count: 5000 })
          .app("sink", Sink, {})
          .link("src.out -> sink.in")
          .place("w0", ["sink"]),
      );
      // The source runs here (this thread breathes it), the sink on w0.
      const src = engine.app<Source>("src");
      for (let k = 0; src.remaining > 0 && k < 10_000; k++) {
        engine.run({ breaths: 20 });
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(src.remaining).toBe(0);
      const s = await waitFor(engine, (s) => s.apps["sink"]!["packets"]! + s.links["src.out -> sink.in"]!["txDrops"]! === 5000);
      expect(s.apps["src"]!["packets"]).toBe(5000);
      // Moving the sink back to main relinks through a local link.
      const r = await engine.place({});
      expect(r.workersStopped).toEqual(["w0"]);
      expect(r.started).toEqual(["sink"]);
      expect(engine.app("sink")).toBeDefined();
    } finally {
      await engine.stop();
    }
    expect(engine.pool.inUse).toBe(0);
  });

  it("reports a component that fails on its worker, naming worker and component", async () => {
    const engine = new Engine({ pool: { count: 64 } });
    const err = await engine.configure(new Config().app("x", MainOnly, {}).place("w0", ["x"])).catch((e: unknown) => e as CoreError);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).message).toBe('worker "w0": component "x" (MainOnly): constructor failed: no workers for me');
    expect((err as CoreError).component).toBe("x");
    await engine.stop();
  });
});
