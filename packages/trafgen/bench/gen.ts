// pnpm --filter @nfvio/trafgen bench: generator speed on one thread (see src/bench.ts).
import { benchGen } from "../src/bench.js";

const runs = Number(process.env["RUNS"] ?? 3);
const seconds = Number(process.env["SECONDS"] ?? 2);
for (let k = 0; k < runs; k++) {
  const r = benchGen(seconds);
  console.log(`gen 64B, ${r.fields} varied fields, burst ${r.burst}: ${r.mpps.toFixed(2)} Mpps wall, ${r.cpuMpps.toFixed(2)} Mpps per CPU-second (${r.frames} frames in ${r.seconds.toFixed(2)} s)`);
}
