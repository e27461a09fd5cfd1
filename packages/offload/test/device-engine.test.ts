/**
 * The uplink is a core Port: the device sits in an engine graph through
 * `portApp`, fed by a Source and drained into a Sink, under both clocks.
 */
import { Config, Engine, ModelClock, RealClock, Sink, Source, portApp, type Clock } from "@nfvio/core";
import { PacketPool, buildFrame } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { OffloadDevice } from "../src/device/device.js";
import { DPAA_LIKE_PROFILE } from "../src/device/profile.js";

async function run(clock: Clock): Promise<{ sink: number; device: OffloadDevice; timeNs: number; sourceBusyNs: number }> {
  const pool = new PacketPool({ count: 4096 });
  let device: OffloadDevice | undefined;
  const Nic = portApp({
    schema: z.object({}).strict(),
    create: (_o, ctx) => {
      device = new OffloadDevice({ clock: ctx.clock, pool: ctx.pool, profile: DPAA_LIKE_PROFILE, vports: 1 });
      // A hairpin: everything from the wire goes back out, through the whole pipeline.
      device.classifier.create({ match: {}, actions: [{ type: "uplink" }] });
      return device.uplink;
    },
  });
  const frame = Buffer.from(buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 } })).toString("hex");
  const engine = new Engine({ clock, pool });
  await engine.configure(
    new Config()
      .app("gen", Source, { packets: [frame], count: 5000, ...(clock instanceof ModelClock ? { ratePps: 30e6 } : {}) })
      .app("nic", Nic, {})
      .app("sink", Sink, {})
      .link("gen.out -> nic.in")
      .link("nic.out -> sink.in"),
  );
  engine.run(clock instanceof RealClock ? { breaths: 20_000 } : {});
  if (clock instanceof RealClock) {
    for (let k = 0; k < 100 && engine.snapshot().apps["sink"]!["packets"]! < 5000; k++) {
      device!.poll();
      engine.run({ breaths: 100 });
    }
  }
  const s = engine.snapshot();
  await engine.stop();
  return { sink: s.apps["sink"]!["packets"]!, device: device!, timeNs: s.timeNs, sourceBusyNs: s.resources["gen"]?.busyNs ?? 0 };
}

describe("the device's uplink in an engine graph (portApp)", () => {
  it("under the model clock: every frame through the pipeline and back, in modelled time", async () => {
    const r = await run(new ModelClock());
    // The Source (30 Mpps pacing plus its per-packet cycles) is slower than the DPAA-like profile's 37.2 Mpps:
    // nothing is dropped, and the run ends the pipeline's latency after the source does.
    expect(r.device.conservation()).toEqual({ offered: 5000, delivered: 5000, dropped: 0, inFlight: 0 });
    expect(r.sink).toBe(5000);
    expect(r.sourceBusyNs).toBeGreaterThan((5000 / 30e6) * 1e9);
    expect(r.timeNs).toBeGreaterThan(r.sourceBusyNs);
    expect(r.timeNs).toBeLessThan(r.sourceBusyNs + 10_000);
  });

  it("under the real clock", async () => {
    const r = await run(new RealClock());
    expect(r.sink + r.device.conservation().dropped).toBe(5000);
    expect(r.sink).toBeGreaterThan(0);
  });
});
