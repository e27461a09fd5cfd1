import type { Command } from "commander";
import { runRingBench, type RingBenchResult } from "@nfvio/virtio/bench";
import { CliError, positive, table } from "../output.js";

interface RingOptions {
  kind: string;
  threads: string;
  seconds: number;
  burst: number;
  json?: boolean;
}

export function registerBench(program: Command): void {
  const bench = program.command("bench").description("Benchmarks of nfvio's own datapath, in packets per wall-clock second");
  bench
    .command("ring")
    .description("Virtqueue ring throughput: 64-byte frames, burst 32, payload copied in by the driver and out by the device")
    .option("--kind <kind>", "split, packed or all", "all")
    .option("--threads <n>", "1 (driver and device on one thread), 2 (one each) or all", "all")
    .option("-s, --seconds <s>", "seconds per measurement", positive("--seconds"), 3)
    .option("--burst <n>", "frames per burst", positive("--burst", true), 32)
    .option("--json", "print one JSON object")
    .action(async (opts: RingOptions) => {
      const kinds = opts.kind === "all" ? (["split", "packed"] as const) : ([opts.kind] as const);
      for (const k of kinds) if (k !== "split" && k !== "packed") throw new CliError(`--kind must be split, packed or all, got "${k}"`);
      const threads = opts.threads === "all" ? ([1, 2] as const) : ([Number(opts.threads)] as const);
      for (const t of threads) if (t !== 1 && t !== 2) throw new CliError(`--threads must be 1, 2 or all, got "${opts.threads}"`);
      const results: RingBenchResult[] = [];
      for (const kind of kinds) {
        for (const t of threads) {
          if (!opts.json) process.stderr.write(`bench ring: ${kind}, ${t} thread(s), ${opts.seconds} s...\n`);
          results.push(await runRingBench({ kind: kind as "split" | "packed", threads: t as 1 | 2, seconds: opts.seconds, burst: opts.burst, frameSize: 64 }));
        }
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ bench: "ring", frameSize: 64, burst: opts.burst, results }, null, 2) + "\n");
      } else {
        process.stdout.write(table(["ring", "threads", "frames", "seconds", "Mpps"], results.map((r) => [r.kind, r.threads, r.frames, r.seconds, r.mpps])) + "\n");
      }
    });
}
