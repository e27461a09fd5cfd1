/**
 * docs/extending-a-device.md shows examples/meter-stage.ts and
 * examples/meter-usage.ts verbatim; this runs them, and checks the stage
 * registry's rules.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { RealClock } from "@nfvio/core";
import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import { meterExample } from "../examples/meter-usage.js";
import { TokenBucketStage } from "../examples/meter-stage.js";
import { OffloadDevice } from "../src/device/device.js";
import { stageFactory, stageKinds } from "../src/device/stage.js";
import { BUILTIN_PIPELINE } from "../src/device/stages.js";
import { CapturePort } from "../src/testing.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const pkg = fileURLToPath(new URL("..", import.meta.url));

function block(text: string, name: string): string {
  const start = `<!-- example:${name}:start -->`;
  const end = `<!-- example:${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`doc lacks ${start}`);
  return text
    .slice(a + start.length, b)
    .replace(/^\s*```\w*\n/, "")
    .replace(/```\s*$/, "");
}

describe("docs/extending-a-device.md", () => {
  it("shows the example files verbatim", async () => {
    const doc = await readFile(`${root}docs/extending-a-device.md`, "utf8");
    expect(block(doc, "meter-stage")).toBe(await readFile(`${pkg}examples/meter-stage.ts`, "utf8"));
    expect(block(doc, "meter-usage")).toBe(await readFile(`${pkg}examples/meter-usage.ts`, "utf8"));
  });

  it("the walk-through's meter limits 10 Mpps to 1 Mpps (plus its burst) in modelled time, and counts the drops", () => {
    const r = meterExample();
    expect(r.pipeline).toEqual(["parser", "classifier", "eswitch", "meter", "distributor", "rxChecksum"]);
    expect(r.offered).toBe(10_000);
    expect(r.seconds).toBeGreaterThan(0.999e-3);
    expect(r.passed).toBeGreaterThanOrEqual(1000);
    expect(r.passed).toBeLessThanOrEqual(1000 + 32 + 1);
    expect(r.passed + r.dropped).toBe(10_000);
  });

  it("runs the same stage under the real clock", () => {
    const pool = new PacketPool({ count: 512 });
    const wire = new CapturePort(pool, false);
    const device = new OffloadDevice({ clock: new RealClock(), pool, wire, stages: [{ kind: "tokenBucket", options: { ratePps: 1, burst: 8 } }] });
    device.classifier.create({ match: {}, actions: [{ type: "uplink" }] });
    const b = new Burst(32);
    const f = buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 } });
    for (let k = 0; k < 32; k++) {
      const i = pool.alloc();
      pool.write(i, f);
      b.push(i);
    }
    device.uplink.tx(b);
    while (device.poll()) {
      // until idle
    }
    const c = device.snapshot();
    expect(c["tokenBucket.passed"]).toBe(8);
    expect(c["drop.meter"]).toBe(24);
    expect(wire.counters.get("packets")).toBe(8);
    expect(device.conservation()).toEqual({ offered: 32, delivered: 8, dropped: 24, inFlight: 0 });
    expect(pool.stats().inUse).toBe(0);
  });
});

describe("the stage registry", () => {
  it("holds the built-in kinds and registered ones", () => {
    for (const k of BUILTIN_PIPELINE) expect(stageKinds()).toContain(k);
    expect(stageKinds()).toContain("tokenBucket");
    expect(stageFactory("tokenBucket").dropReasons).toEqual(["meter"]);
    expect(() => stageFactory("nope")).toThrow(/unknown stage kind "nope"/);
  });

  it("checks stage specs: options, names, positions, cost", () => {
    const pool = new PacketPool({ count: 64 });
    expect(() => new OffloadDevice({ pool, stages: [{ kind: "tokenBucket", options: { ratePps: -1 } }] })).toThrow(/stage "tokenBucket" \(tokenBucket\): ratePps/);
    expect(() => new OffloadDevice({ pool, stages: [{ kind: "tokenBucket", name: "parser", options: { ratePps: 1 } }] })).toThrow(/already used/);
    expect(() => new OffloadDevice({ pool, stages: [{ kind: "tokenBucket", after: "nowhere", options: { ratePps: 1 } }] })).toThrow(/no stage "nowhere"/);
    const d = new OffloadDevice({
      pool,
      stages: [
        { kind: "tokenBucket", name: "early", before: "classifier", options: { ratePps: 1 } },
        { kind: "tokenBucket", name: "late", after: "distributor", options: { ratePps: 1 }, cost: { ratePps: { value: 1e6, unit: "packets/s", source: "test" }, latencyNs: { value: 0, unit: "ns", source: "test" } } },
      ],
    });
    expect(d.pipeline).toEqual(["parser", "early", "classifier", "eswitch", "distributor", "late", "rxChecksum"]);
    expect(Object.keys(d.resourceSnapshot())).toContain("offload.late");
    expect(d.snapshot()).toHaveProperty("early.passed", 0);
    expect(new TokenBucketStage("x", { ratePps: 1, burst: 1 }, { counter: () => 0, dropCode: () => 1, counters: new Float64Array(1) } as never).kind).toBe("tokenBucket");
  });
});
