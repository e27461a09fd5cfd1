import type { Command } from "commander";
import { runPair, type PairResult, type RingKind } from "../demo/ring-pair.js";
import { CliError, positive, table } from "../output.js";
import { renderCompare, runCompare } from "./compare.js";

interface DemoOptions {
  seconds: number;
  ring: "split" | "packed" | "both";
  compare: boolean;
  out: string;
  json?: boolean;
  progress?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "Two steps: (1) move frames through a virtqueue pair (guest TX -> vhost-net style host copy -> guest RX) between two worker threads, for split and packed rings; (2) a quick `nfvio compare` of the vhost-net baseline against the offload device in modelled time, with its HTML report",
    )
    .option("-s, --seconds <s>", "seconds of traffic per ring kind", positive("--seconds"), 1)
    .option("--ring <kind>", "split, packed or both", "both")
    .option("--no-compare", "only the virtqueue-pair step")
    .option("-o, --out <dir>", "where the comparison writes compare.json and compare.html", "nfvio-report")
    .option("--json", "print one JSON object instead of tables")
    .option("--no-progress", "no progress bar")
    .action(async (opts: DemoOptions) => {
      if (!["split", "packed", "both"].includes(opts.ring)) throw new CliError(`--ring must be split, packed or both, got "${opts.ring}"`);
      const kinds: RingKind[] = opts.ring === "both" ? ["split", "packed"] : [opts.ring];
      const t0 = performance.now();
      const results: PairResult[] = [];
      if (!opts.json) process.stderr.write("demo step 1 of 2: a virtqueue pair on two worker threads (real time, this software)\n");
      for (const k of kinds) {
        if (!opts.json) process.stderr.write(`demo: ${k} ring, ${opts.seconds} s of traffic on 2 worker threads...\n`);
        results.push(await runPair(k, opts.seconds));
      }
      if (!opts.json) process.stdout.write(renderDemo(results) + "\n");
      const bad = results.some((r) => r.lost !== 0 || r.guest.corrupt !== 0 || r.guest.outOfOrder !== 0 || r.host.broken !== null);
      let compare: Awaited<ReturnType<typeof runCompare>> | null = null;
      if (opts.compare) {
        if (!opts.json) process.stderr.write("\ndemo step 2 of 2: vhost-net baseline vs offload device, quick comparison in modelled time\n");
        compare = await runCompare({ quick: true, sweep: true, out: opts.out, report: true, json: opts.json === true, progress: opts.progress !== false }, "demo");
        if (!opts.json) process.stdout.write("\n" + renderCompare(compare.result, compare.files) + "\n");
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ demo: "virtqueue-pair", threads: 2, results, compare: compare?.result ?? null, report: compare?.files ?? null }, null, 2) + "\n");
      } else {
        process.stderr.write(`demo: done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      }
      if (bad) process.exitCode = 1;
    });
}

export function renderDemo(results: readonly PairResult[]): string {
  const traffic = table(
    ["ring", "sent", "received", "lost", "out-of-order", "corrupt", "Mpps", "Gbit/s"],
    results.map((r) => [r.ring, r.guest.sent, r.guest.received, r.lost, r.guest.outOfOrder, r.guest.corrupt, r.mpps, r.gbps]),
  );
  const host = table(
    ["ring", "host copies", "bytes copied", "kicks", "kicks suppressed", "interrupts", "irqs suppressed", "ring faults"],
    results.map((r) => [
      r.ring,
      r.host.copies,
      r.host.bytesCopied,
      r.guest.kicks,
      r.guest.kicksSuppressed,
      r.host.interrupts,
      r.host.interruptsSuppressed,
      Object.entries(r.host.faults).map(([k, v]) => `${k}=${v}`).join(",") || "0",
    ]),
  );
  return `Guest traffic (frames 60-1514 B, sequence-numbered, FNV-1a checked)\n${traffic}\n\nHost backend (polling, EVENT_IDX on)\n${host}`;
}
