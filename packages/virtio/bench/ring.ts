/**
 * Ring benchmark CLI.
 *
 *   node --import tsx packages/virtio/bench/ring.ts [--kind split|packed] [--threads 1|2]
 *        [--seconds 3] [--burst 32] [--frame-size 64] [--queue-size 256] [--repeat 3]
 *
 * Prints one line per run and a JSON summary (median Mpps) at the end.
 */
import { parseArgs } from "node:util";
import { runRingBench, type RingBenchKind, type RingBenchResult } from "../src/bench.js";

const { values } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" through.
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    kind: { type: "string", default: "split" },
    threads: { type: "string", default: "2" },
    seconds: { type: "string", default: "3" },
    burst: { type: "string", default: "32" },
    "frame-size": { type: "string", default: "64" },
    "queue-size": { type: "string", default: "256" },
    repeat: { type: "string", default: "3" },
  },
});

const kinds = values.kind === "all" ? (["split", "packed"] as RingBenchKind[]) : [values.kind as RingBenchKind];
const threadsList = values.threads === "all" ? ([1, 2] as const) : [Number(values.threads) as 1 | 2];
const summary: Array<RingBenchResult & { runs: number[] }> = [];
for (const kind of kinds) {
  for (const threads of threadsList) {
    const runs: RingBenchResult[] = [];
    for (let i = 0; i < Number(values.repeat); i++) {
      const r = await runRingBench({
        kind,
        threads,
        seconds: Number(values.seconds),
        burst: Number(values.burst),
        frameSize: Number(values["frame-size"]),
        queueSize: Number(values["queue-size"]),
      });
      const cpu = r.cpuSeconds ? `; CPU s driver ${r.cpuSeconds.driver.toFixed(2)} device ${r.cpuSeconds.device.toFixed(2)}, ${(r.frames / Math.max(r.cpuSeconds.driver, r.cpuSeconds.device) / 1e6).toFixed(2)} M frames per busiest-thread CPU second` : "";
      console.log(`${kind} threads=${threads} run ${i + 1}: ${r.mpps.toFixed(2)} Mpps (${r.frames} frames in ${r.seconds.toFixed(2)} s${cpu})`);
      runs.push(r);
    }
    const sorted = [...runs].sort((a, b) => a.mpps - b.mpps);
    const med = sorted[Math.floor(sorted.length / 2)]!;
    summary.push({ ...med, runs: runs.map((r) => Number(r.mpps.toFixed(3))) });
  }
}
console.log(JSON.stringify(summary, null, 2));
