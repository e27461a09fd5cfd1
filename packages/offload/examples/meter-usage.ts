import { ModelClock } from "@nfvio/core";
import { OffloadDevice } from "@nfvio/offload";
import { CapturePort, WireSource } from "@nfvio/offload/testing";
import { PacketPool, buildFrame } from "@nfvio/packet";
import "./meter-stage.js"; // registers the "tokenBucket" kind

export function meterExample(): { offered: number; passed: number; dropped: number; pipeline: readonly string[]; seconds: number } {
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 4096 });
  const wire = new CapturePort(pool, false);
  // The generic SmartNIC with a 1 Mpps meter after the eSwitch.
  const device = new OffloadDevice({
    clock,
    pool,
    wire,
    stages: [{ kind: "tokenBucket", name: "meter", after: "eswitch", options: { ratePps: 1e6, burst: 32 } }],
  });
  // Send everything from the wire back out of it (a hairpin), through the meter.
  device.classifier.create({ match: {}, actions: [{ type: "uplink" }] });
  // 10 Mpps of 64-byte frames for 1 ms of modelled time.
  const frame = buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 } });
  const source = new WireSource({ clock, pool, port: device.uplink, frames: [frame], count: 10_000, pps: 10e6 });
  source.start();
  while (clock.step()) {
    // run the model to completion
  }
  const c = device.snapshot();
  return { offered: source.sent, passed: c["meter.passed"]!, dropped: c["drop.meter"]!, pipeline: device.pipeline, seconds: clock.now() / 1e9 };
}
