import { describe, expect, it } from "vitest";
import { Config, CoreError, Engine, Filter, Join, ModelClock, RealClock, Sink, Source, Tee, type GraphConfig } from "../src/index.js";
import { Holder, Loopback, MacSwap, Recorder, frame } from "./fixtures.js";

const IPV4 = 0x0800;
const ARP = 0x0806;
// Six packets of known content; the ARP ones are filtered out.
const PACKETS = [
  frame(1, 2, IPV4, 50, 0xa1),
  frame(3, 4, ARP, 28, 0xb2),
  frame(5, 6, IPV4, 100, 0xc3),
  frame(7, 8, IPV4, 1000, 0xd4),
  frame(9, 10, ARP, 28, 0xe5),
  frame(11, 12, IPV4, 60, 0xf6),
];

function swapped(hex: string): string {
  return hex.slice(12, 24) + hex.slice(0, 12) + hex.slice(24);
}

function graph(count: number): GraphConfig {
  return new Config()
    .app("src", Source, { packets: PACKETS, count })
    .app("filter", Filter, { etherType: IPV4 })
    .app("swap", MacSwap, {})
    .app("sink", Recorder, { cyclesPerPacket: 10 })
    .link("src.out -> filter.in")
    .link("filter.out -> swap.in")
    .link("swap.out -> sink.in");
}

async function runModel(count: number) {
  const engine = new Engine({ clock: new ModelClock(), pool: { count: 512 } });
  await engine.configure(graph(count));
  const report = engine.run();
  const snap = engine.snapshot();
  const sink = engine.app<Recorder>("sink");
  return { engine, report, snap, seen: [...sink.seen], times: [...sink.times] };
}

describe("the same graph under both clocks", () => {
  it("gives the same packets, in the same order", async () => {
    const real = new Engine({ clock: new RealClock(), pool: { count: 512 } });
    await real.configure(graph(600));
    const r = real.run();
    expect(r.idle).toBe(true);
    const realSeen = real.app<Recorder>("sink").seen;

    const model = await runModel(600);
    expect(model.report.idle).toBe(true);
    const expected: string[] = [];
    for (let i = 0; i < 600; i++) {
      const p = PACKETS[i % PACKETS.length]!;
      if (p.slice(24, 28) === "0800") expected.push(swapped(p));
    }
    expect(realSeen).toEqual(expected);
    expect(model.seen).toEqual(expected);
    // Counters that count packets agree too.
    const rs = real.snapshot();
    for (const name of ["src", "filter", "swap", "sink"]) expect(model.snap.apps[name]).toEqual(rs.apps[name]);
    expect(model.snap.links).toEqual(rs.links);
    expect(rs.pool.inUse).toBe(0);
    expect(model.snap.pool.inUse).toBe(0);
  });

  it("modelled figures are identical on every run", async () => {
    const a = await runModel(2000);
    const b = await runModel(2000);
    expect(a.snap.timeNs).toBeGreaterThan(0);
    expect(b.snap).toEqual(a.snap);
    expect(b.times).toEqual(a.times);
    const throughputA = (a.snap.apps["sink"]!["packets"]! / a.snap.timeNs) * 1e9;
    const throughputB = (b.snap.apps["sink"]!["packets"]! / b.snap.timeNs) * 1e9;
    expect(throughputB).toBe(throughputA);
  });

  it("charged costs decide modelled time: the slowest stage sets the rate", async () => {
    // Source 120 cycles/pkt, filter 120, macswap 1200 (the bottleneck), at 2.1 GHz.
    const engine = new Engine({ clock: new ModelClock(), pool: { count: 1024 }, cost: { cpuHz: 2e9, cyclesPerPacketBase: 100 } });
    const n = 6000;
    await engine.configure(
      new Config()
        .app("src", Source, { packets: [PACKETS[0]!], count: n })
        .app("swap", MacSwap, { cyclesPerPacket: 1000 })
        .app("sink", Sink, {})
        .link("src.out -> swap.in")
        .link("swap.out -> sink.in"),
    );
    engine.run();
    const s = engine.snapshot();
    expect(s.apps["sink"]!["packets"]).toBe(n);
    // 1000 cycles at 2 GHz = 500 ns per packet -> 2 Mpps; fill/drain adds a little.
    const pps = (n / s.timeNs) * 1e9;
    expect(pps).toBeGreaterThan(1.9e6);
    expect(pps).toBeLessThanOrEqual(2e6);
    expect(s.resources["swap"]!.cycles).toBe(n * 1000);
    expect(s.resources["swap"]!.busyNs).toBeCloseTo(n * 500, 3);
    expect(s.links["src.out -> swap.in"]!["txDrops"]).toBe(0);
  });

  it("components that share a resource share its time", async () => {
    const engine = new Engine({ clock: new ModelClock(), pool: { count: 1024 }, cost: { cpuHz: 1e9 } });
    await engine.configure(
      new Config()
        .app("src", Source, { packets: [PACKETS[0]!], count: 1000, cyclesPerPacket: 100 }, { resource: "core0" })
        .app("swap", MacSwap, { cyclesPerPacket: 100 }, { resource: "core0" })
        .app("sink", Sink, {})
        .link("src.out -> swap.in")
        .link("swap.out -> sink.in"),
    );
    engine.run();
    const s = engine.snapshot();
    // Both stages on one 1 GHz core at 100 cycles each: 200 ns per packet.
    expect(s.resources["core0"]!.busyNs).toBeCloseTo(200_000, 3);
    expect(s.timeNs).toBeGreaterThanOrEqual(200_000);
    expect(s.timeNs).toBeLessThan(201_000);
  });

  it("hardware stages charge rate and latency", async () => {
    const engine = new Engine({ clock: new ModelClock(), pool: { count: 64 } });
    const { Meter, Resource } = await import("../src/index.js");
    const m = new Meter(engine.clock, engine.rates, new Resource("classifier", "hw"));
    m.begin(0);
    m.stage("classifier", 215);
    expect(m.t).toBeCloseTo(1000, 6); // 215 packets at 215 Mpps = 1 us
    expect(m.outDelay).toBe(100);
    expect(() => m.stage("nope", 1)).toThrow(/no hardware stage "nope"/);
  });
});

describe("links in a graph", () => {
  it("a full link drops, counts and frees", async () => {
    const engine = new Engine({ pool: { count: 4096 }, linkCapacity: 64, budget: 1000 });
    await engine.configure(
      new Config().app("src", Source, { packets: [PACKETS[0]!], count: 1000 }).app("hold", Holder, {}).link("src.out -> hold.in"),
    );
    // One pull of 1000 into a 64-slot link before anyone consumes.
    engine.app<Source>("src").pull(1000);
    const l = engine.link("src.out->hold.in").counters.snapshot();
    expect(l["txPackets"]).toBe(64);
    expect(l["txDrops"]).toBe(936);
    expect(engine.pool.inUse).toBe(64);
    await engine.stop();
    expect(engine.pool.inUse).toBe(0);
  });
});

describe("configuration errors", () => {
  it("name the component, the field and the reason", async () => {
    const engine = new Engine({ pool: { count: 64 } });
    const bad = async (cfg: GraphConfig) => {
      try {
        await engine.configure(cfg);
      } catch (e) {
        expect(e).toBeInstanceOf(CoreError);
        return e as CoreError;
      }
      throw new Error("expected an error");
    };
    let e = await bad(new Config().app("f", Filter, { etherType: "ip" as unknown as number }));
    expect(e.message).toBe('component "f" (Filter): option "etherType": Expected number, received string');
    expect(e.component).toBe("f");
    expect(e.field).toBe("etherType");
    e = await bad(new Config().app("f", Filter, { etherType: 70000 }));
    expect(e.message).toMatch(/component "f" \(Filter\): option "etherType": Number must be less than or equal to 65535/);
    e = await bad(new Config().app("s", Source, { packets: ["00"] }));
    expect(e.message).toMatch(/component "s" \(Source\): option "packets.0": must be at least 14 bytes/);
    e = await bad(new Config().app("s", Source, { packets: [PACKETS[0]!], bogus: 1 } as never));
    expect(e.message).toMatch(/component "s" \(Source\): Unrecognized key\(s\) in object: 'bogus'/);
    e = await bad({ components: { s: { class: Sink } }, links: ["s.out -> t.in"] });
    expect(e.message).toBe('link "s.out -> t.in": no component named "t"');
    e = await bad({ components: { s: { class: Source, options: { packets: [PACKETS[0]!] } }, t: { class: Sink } }, links: ["s.output -> t.in"] });
    expect(e.message).toBe('link "s.output -> t.in": component "s" (Source) has no output port "output" (outputs: out)');
    e = await bad({ components: {}, links: ["a.out => b.in"] });
    expect(e.message).toMatch(/expected "app.port -> app.port"/);
    e = await bad({
      components: { s: { class: Source, options: { packets: [PACKETS[0]!] } }, t: { class: Sink }, u: { class: Sink } },
      links: ["s.out -> t.in", "s.out -> u.in"],
    });
    expect(e.message).toMatch(/output port s.out is already linked by "s.out -> t.in"/);
    e = await bad({ components: { s: { class: { module: "./nowhere.js", export: "X" } } }, links: [] });
    expect(e.message).toMatch(/component "s": cannot import .\/nowhere.js/);
    e = await bad({ components: { s: { class: { module: new URL("./fixtures.ts", import.meta.url).href, export: "frame" } } }, links: [] });
    expect(e.message).toMatch(/has no export "frame" that is a component class/);
    e = await bad(new Config().app("s", Sink, {}).place("w0", ["s"]).place("w1", ["s"]));
    expect(e.message).toMatch(/placement: component "s" is placed on both "w0" and "w1"/);
    e = await bad(new Config().app("s", MacSwap, {}).place("w0", ["nobody"]));
    expect(e.message).toMatch(/placement: worker "w0" lists "nobody"/);
    const model = new Engine({ clock: new ModelClock(), pool: { count: 8 } });
    await expect(model.configure(new Config().app("s", Sink, {}).place("w0", ["s"]))).rejects.toThrow(/placement needs the real clock/);
    expect(() => new Engine({ budget: 0 })).toThrow(/budget 0/);
  });

  it("a bad configuration leaves the running graph untouched", async () => {
    const engine = new Engine({ pool: { count: 256 } });
    await engine.configure(graph(10));
    await expect(engine.configure({ ...graph(10), links: [...graph(10).links, "nope.out -> sink.in"] })).rejects.toThrow(CoreError);
    engine.run();
    expect(engine.app<Recorder>("sink").seen.length).toBe(7);
  });
});

describe("reconfiguration", () => {
  it("starts, stops and relinks only what changed", async () => {
    const engine = new Engine({ pool: { count: 256 } });
    let r = await engine.configure(graph(12));
    expect(r.started).toEqual(["src", "filter", "swap", "sink"]);
    expect(r.linksAdded.length).toBe(3);
    const swap = engine.app("swap");
    const src = engine.app("src");

    // Same config: nothing happens.
    r = await engine.configure(graph(12));
    expect(r).toMatchObject({ started: [], stopped: [], relinked: [], linksAdded: [], linksRemoved: [] });
    expect(r.unchanged).toEqual(["src", "filter", "swap", "sink"]);

    // Change one option: only that component is replaced; its links stay.
    const c2 = Config.from(graph(12)).app("filter", Filter, { etherType: 0x0806 });
    r = await engine.configure(c2);
    expect(r.started).toEqual(["filter"]);
    expect(r.stopped).toEqual(["filter"]);
    expect(r.linksAdded).toEqual([]);
    expect(engine.app("swap")).toBe(swap);
    expect(engine.app("src")).toBe(src);

    // Bypass the filter: remove it, link src straight to swap. swap is relinked, src too.
    const c3 = Config.from(c2).remove("filter").link("src.out -> swap.in");
    r = await engine.configure(c3);
    expect(r.stopped).toEqual(["filter"]);
    expect(r.started).toEqual([]);
    expect(r.linksRemoved.sort()).toEqual(["filter.out -> swap.in", "src.out -> filter.in"]);
    expect(r.linksAdded).toEqual(["src.out -> swap.in"]);
    expect(r.relinked.sort()).toEqual(["src", "swap"]);
    expect(r.unchanged).toEqual(["sink"]);
    engine.run();
    // All 12 packets now reach the sink (nothing filters ARP any more).
    expect(engine.app<Recorder>("sink").seen.length).toBe(12);
    expect(engine.pool.inUse).toBe(0);
  });

  it("stop() is called on removed components and their packets are freed", async () => {
    const engine = new Engine({ pool: { count: 64 } });
    await engine.configure(new Config().app("src", Source, { packets: [PACKETS[0]!], count: 3 }).app("h", Holder, {}).link("src.out -> h.in"));
    engine.run();
    const h = engine.app<Holder>("h");
    expect(engine.pool.inUse).toBe(1);
    await engine.configure(new Config().app("src", Source, { packets: [PACKETS[0]!], count: 3 }));
    expect(h.stopped).toBe(true);
    expect(engine.pool.inUse).toBe(0);
  });
});

describe("built-in components", () => {
  it("Tee copies to every output, Join merges inputs in port order", async () => {
    for (const clock of [new RealClock(), new ModelClock()]) {
      const engine = new Engine({ clock, pool: { count: 512 } });
      await engine.configure(
        new Config()
          .app("src", Source, { packets: PACKETS.slice(0, 3), count: 90 })
          .app("tee", Tee, {})
          .app("join", Join, {})
          .app("a", Sink, {})
          .app("rec", Recorder, {})
          .link("src.out -> tee.in")
          .link("tee.x -> join.in1")
          .link("tee.y -> a.in")
          .link("tee.z -> join.in2")
          .link("join.out -> rec.in"),
      );
      engine.run();
      const s = engine.snapshot();
      expect(s.apps["a"]!["packets"]).toBe(90);
      expect(s.apps["rec"]!["packets"]).toBe(180);
      expect(engine.app<Recorder>("rec").seen.slice(0, 3)).toEqual(PACKETS.slice(0, 3));
      expect(s.pool.inUse).toBe(0);
    }
  });
});

describe("ports in a graph", () => {
  it("a Port adapter transmits into the device and receives from it", async () => {
    const engine = new Engine({ pool: { count: 256 } });
    await engine.configure(
      new Config()
        .app("src", Source, { packets: PACKETS, count: 100 })
        .app("dev", Loopback, { depth: 16 })
        .app("sink", Recorder, {})
        .link("src.out -> dev.in")
        .link("dev.out -> sink.in"),
    );
    engine.run();
    const s = engine.snapshot();
    // The device takes at most 16 per push; the rest of each burst is refused and freed.
    expect(s.apps["dev"]!["txPackets"]! + s.apps["dev"]!["txFull"]!).toBe(100);
    expect(s.apps["dev"]!["rxPackets"]).toBe(s.apps["dev"]!["txPackets"]);
    expect(s.apps["sink"]!["packets"]).toBe(s.apps["dev"]!["txPackets"]);
    expect(s.pool.inUse).toBe(0);
  });
});
