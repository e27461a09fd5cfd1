/**
 * Ring benchmark CLI.
 *
 *   pnpm --filter @nfvio/virtio bench -- [--kind split|packed|all] [--threads 1|2|all]
 *        [--seconds 3] [--burst 32] [--frame-size 64] [--queue-size 256] [--repeat 3]
 *        [--wait-idle 0.85]
 *
 * Prints one line per run and a JSON summary (median Mpps) at the end.
 * `--wait-idle F` starts each run only once the machine's CPUs have been at
 * least F idle over 300 ms (Linux /proc/stat; gives up waiting after ten
 * minutes), for figures on a machine shared with other work.
 */
import { readFileSync } from "node:fs";
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
    "wait-idle": { type: "string" },
  },
});

const cpuTimes = (): number[] => readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the CPUs were at least `fraction` idle over 300 ms; returns the idle fraction seen (NaN without /proc). */
async function waitIdle(fraction: number): Promise<number> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    let a: number[];
    try {
      a = cpuTimes();
    } catch {
      return Number.NaN;
    }
    await sleep(300);
    const b = cpuTimes();
    const total = b.reduce((x, y) => x + y, 0) - a.reduce((x, y) => x + y, 0);
    const idle = (b[3]! + b[4]! - a[3]! - a[4]!) / total;
    if (idle >= fraction || Date.now() > deadline) return idle;
  }
}

const kinds = values.kind === "all" ? (["split", "packed"] as RingBenchKind[]) : [values.kind as RingBenchKind];
const threadsList = values.threads === "all" ? ([1, 2] as const) : [Number(values.threads) as 1 | 2];
const idleWanted = values["wait-idle"] === undefined ? undefined : Number(values["wait-idle"]);
const summary: Array<RingBenchResult & { runs: number[] }> = [];
for (const kind of kinds) {
  for (const threads of threadsList) {
    const runs: RingBenchResult[] = [];
    for (let i = 0; i < Number(values.repeat); i++) {
      const idle = idleWanted === undefined ? undefined : await waitIdle(idleWanted);
      const r = await runRingBench({
        kind,
        threads,
        seconds: Number(values.seconds),
        burst: Number(values.burst),
        frameSize: Number(values["frame-size"]),
        queueSize: Number(values["queue-size"]),
      });
      const cpu = r.cpuSeconds
        ? `; CPU s driver ${r.cpuSeconds.driver.toFixed(2)} device ${r.cpuSeconds.device.toFixed(2)}, ${(r.frames / Math.max(r.cpuSeconds.driver, r.cpuSeconds.device) / 1e6).toFixed(2)} M frames per busiest-thread CPU second`
        : "";
      const idleNote = idle === undefined ? "" : `; idle before ${(idle * 100).toFixed(0)}%`;
      console.log(`${kind} threads=${threads} run ${i + 1}: ${r.mpps.toFixed(2)} Mpps (${r.frames} frames in ${r.seconds.toFixed(2)} s${cpu}${idleNote})`);
      runs.push(r);
    }
    const sorted = [...runs].sort((a, b) => a.mpps - b.mpps);
    const med = sorted[Math.floor(sorted.length / 2)]!;
    summary.push({ ...med, runs: runs.map((r) => Number(r.mpps.toFixed(3))) });
  }
}
console.log(JSON.stringify(summary, null, 2));
