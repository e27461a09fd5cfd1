import { ModelClock, PacketPool } from "@nfvio/core";
import { LoopbackPort, portTrial, runPort, throughput } from "@nfvio/trafgen";

// The device under test: forwards 1 Mpps through a 64-frame queue, plus 2 µs.
const pool = new PacketPool({ count: 8192 });
const clock = new ModelClock();
const dut = new LoopbackPort(pool, clock, { capacityPps: 1e6, queue: 64, latencyNs: 2000 });

// 100 ms of modelled time, two streams: 64-byte UDP over 100 flows, and IMIX at 1 Gbit/s (L2).
const run = await runPort({
  port: dut,
  pool,
  clock,
  durationNs: 100e6,
  streams: [
    { rate: "700kpps", size: 64, fields: [{ field: "srcIp", mode: "inc", count: 100 }] },
    { id: 1, rate: "1Gbps", size: "imix", start: "500ns" },
  ],
});
for (const s of run.streams) {
  console.log(s.name, s.tx, s.received, s.lost, `${(s.askedPps / 1e3).toFixed(1)} kpps asked`, `p99 ${(s.latency.p99Ns / 1e3).toFixed(1)} µs`);
}

// RFC 2544 §26.1 throughput of such a device: binary search, 0.5% resolution, 100-ms trials.
const tp = await throughput({
  trial: portTrial({ makePort: (p, c) => new LoopbackPort(p, c, { capacityPps: 1e6, queue: 64 }) }),
  maxPps: 1.5e6,
  resolution: 0.005,
  trialNs: 100e6,
});
console.log(`throughput ${(tp.rate.pps / 1e6).toFixed(4)} Mpps after ${tp.trials.length} trials`);
