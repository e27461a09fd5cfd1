/**
 * Device pipeline throughput.
 *
 *   pnpm --filter @nfvio/offload bench      (runs bench/classifier.ts, then this)
 *   node --import tsx --conditions=source bench/device.ts [--quick] [--json]
 *
 * Two kinds of figure, never to be mixed up:
 * - real: frames per wall-clock second of this software on this machine,
 *   one thread running the device model and the guest's driver model in
 *   turn (north-south, 64-byte frames, RSS over 4 queues); and the device's
 *   pipeline alone (uplink -> pipeline -> uplink, no guest).
 * - modelled: Mpps of the modelled hardware under the model clock, for each
 *   profile, north-south and east-west, 64 and 1518-byte frames, next to the
 *   vhost-net baseline (same traffic, same guest driver) and the host-CPU
 *   copies and cycles each spends.
 */
import { cpus } from "node:os";
import { RealClock } from "@nfvio/core";
import { Burst, PacketPool } from "@nfvio/packet";
import { OffloadDevice } from "../src/device/device.js";
import { DPAA_LIKE_PROFILE, GENERIC_SMARTNIC_PROFILE } from "../src/device/profile.js";
import { benchFrames, offloadEastWest, offloadNorthSouth, offloadNorthSouthReal, vhostEastWest, vhostNorthSouth, type ScenarioResult } from "./scenario.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const json = args.has("--json");
const log = (s: string): void => {
  if (!json) console.log(s);
};

/** The pipeline alone, real time: uplink -> parser ... distributor -> uplink egress, no guest. */
function pipelineOnlyReal(seconds: number): { frames: number; seconds: number; mpps: number } {
  const pool = new PacketPool({ count: 8192 });
  const device = new OffloadDevice({ clock: new RealClock(), pool, profile: GENERIC_SMARTNIC_PROFILE, vports: 1 });
  device.classifier.create({ match: {}, actions: [{ type: "uplink" }] });
  const frames = benchFrames(1024, 60, "02:00:00:00:0a:09");
  const b = new Burst(32);
  const out = new Burst(32);
  let k = 0;
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let now = t0;
  for (let loop = 0; ; loop++) {
    b.clear();
    const got = pool.allocBurst(b, 32);
    for (let j = 0; j < got; j++) {
      const i = b.idx[j]!;
      const f = frames[k++ & 1023]!;
      pool.data.set(f, pool.start(i));
      pool.len[i] = f.length;
    }
    device.uplink.tx(b);
    device.poll();
    for (;;) {
      out.clear();
      const m = device.uplink.rx(out);
      if (m === 0) break;
      n += m;
      pool.freeBurst(out);
    }
    if ((loop & 63) === 0) {
      now = process.hrtime.bigint();
      if (now >= end) break;
    }
  }
  const secs = Number(now - t0) / 1e9;
  return { frames: n, seconds: secs, mpps: n / secs / 1e6 };
}

const seconds = quick ? 0.5 : 2;
const modelFrames = quick ? 20_000 : 100_000;
log(`@nfvio/offload device bench: node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"}, burst 32${quick ? ", quick" : ""}`);

const real = {
  pipeline: pipelineOnlyReal(seconds),
  northSouth: offloadNorthSouthReal({ seconds }),
};
log("real (this software, one thread, wall clock, 64-byte frames):");
log(`  pipeline only (uplink -> pipeline -> uplink)        ${real.pipeline.mpps.toFixed(2)} Mpps (${real.pipeline.frames} frames in ${real.pipeline.seconds.toFixed(2)} s)`);
log(`  north-south into a guest (device + guest driver)    ${real.northSouth.mpps.toFixed(2)} Mpps (${real.northSouth.frames} frames in ${real.northSouth.seconds.toFixed(2)} s)`);

interface Row {
  readonly case: string;
  readonly profile: string;
  readonly frameBytes: number;
  readonly offload: ScenarioResult;
  readonly baseline: ScenarioResult;
}

const rows: Row[] = [];
for (const profile of [DPAA_LIKE_PROFILE, GENERIC_SMARTNIC_PROFILE]) {
  for (const size of [60, 1514]) {
    const n = size === 60 ? modelFrames : Math.round(modelFrames / 4);
    // Both are offered the profile's line rate; vhost-net's socket queues (tun's 500 frames) drop what its worker cannot take.
    const gbps = profile.stages["mac"]!.gbps!.value;
    rows.push({ case: "north-south", profile: profile.name, frameBytes: size + 4, offload: offloadNorthSouth({ profile, frameSize: size, frames: n }), baseline: vhostNorthSouth({ frameSize: size, frames: Math.min(n, 20_000), offerGbps: gbps }) });
    rows.push({ case: "east-west", profile: profile.name, frameBytes: size + 4, offload: offloadEastWest({ profile, frameSize: size, frames: n }), baseline: vhostEastWest({ frameSize: size, frames: Math.min(n, 20_000) }) });
  }
}
log("modelled (model clock; frames on the wire incl. FCS; offload vs the vhost-net baseline on the same traffic):");
log("  case         profile            bytes   offload Mpps  host copies B/frame  | vhost-net Mpps  host copies B/frame  host cycles/frame");
for (const r of rows) {
  const o = r.offload;
  const b = r.baseline;
  log(
    `  ${r.case.padEnd(12)} ${r.profile.padEnd(18)} ${String(r.frameBytes).padStart(5)}   ${o.mpps.toFixed(2).padStart(12)}  ${(o.hostCopyBytes / Math.max(1, o.delivered)).toFixed(0).padStart(19)}  | ${b.mpps.toFixed(2).padStart(14)}  ${(b.hostCopyBytes / Math.max(1, b.delivered)).toFixed(0).padStart(19)}  ${b.hostCyclesPerFrame.toFixed(0).padStart(17)}`,
  );
}
log("  (north-south: both offered the profile's line rate; east-west: each guest sends as fast as its ring takes frames. vhost-net drops what its worker cannot take, by name.)");
if (json) {
  console.log(
    JSON.stringify(
      {
        real,
        modelled: rows.map((r) => ({
          case: r.case,
          profile: r.profile,
          frameBytes: r.frameBytes,
          offloadMpps: r.offload.mpps,
          offloadHostCopyBytes: r.offload.hostCopyBytes,
          offloadDmaBytes: r.offload.dmaBytes,
          vhostNetMpps: r.baseline.mpps,
          vhostNetHostCopyBytes: r.baseline.hostCopyBytes,
          vhostNetHostCyclesPerFrame: r.baseline.hostCyclesPerFrame,
        })),
      },
      null,
      2,
    ),
  );
}
