import type { Command } from "commander";
import { compare, SIZES, type CompareResult, type SizeName } from "../scenario/compare.js";
import { compareReport, compareTable, writeReport } from "../scenario/report.js";
import { CliError, table } from "../output.js";
import { Progress } from "../progress.js";

export interface CompareCommandOptions {
  quick?: boolean;
  sweep: boolean;
  sizes?: string;
  out: string;
  report: boolean;
  json?: boolean;
  progress?: boolean;
}

/** Run the comparison, write the report files, and return the result and where the files went. */
export async function runCompare(opts: CompareCommandOptions, label = "compare"): Promise<{ result: CompareResult; files: { json: string; html: string } | null }> {
  let sizes: SizeName[] | undefined;
  if (opts.sizes !== undefined) {
    sizes = opts.sizes.split(",").map((s) => s.trim().toLowerCase()) as SizeName[];
    for (const s of sizes) if (!SIZES.includes(s)) throw new CliError(`--sizes: "${s}" is not one of ${SIZES.join(", ")}`);
  }
  const progress = new Progress(label, Progress.wanted(opts));
  let result: CompareResult;
  try {
    result = await compare({ quick: opts.quick === true, sweep: opts.sweep, ...(sizes ? { sizes } : {}), onProgress: (f, l) => progress.update(f, l) });
  } finally {
    progress.stop();
  }
  const files = opts.report ? await writeReport(opts.out, "compare", result, compareReport(result)) : null;
  return { result, files };
}

/** The comparison for people: the main table, the sweep, where the report is. */
export function renderCompare(r: CompareResult, files: { json: string; html: string } | null): string {
  const t = compareTable(r.rows);
  const parts = [`${t.title}${r.quick ? " (quick)" : ""}`, table(t.headers, t.rows), t.note ?? ""];
  if (r.sweep.length > 0) {
    parts.push(
      "",
      "Scale (north-south, 64 B, line rate offered)",
      table(
        ["backend", "VMs", "queue pairs", "Mpps", "host cores"],
        r.sweep.map((p) => [p.backend, p.vms, p.queues, p.mpps.toFixed(2), p.hostCores.toFixed(2)]),
      ),
    );
  }
  if (files) parts.push("", `Report: ${files.html}`, `JSON:   ${files.json}`);
  return parts.join("\n");
}

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description(
      "Baseline (vhost-net) against accelerated (offload device), north-south and east-west, at 64 B, IMIX and 1518 B, plus a scale sweep over VMs and queue pairs, in modelled time; prints a table and writes JSON and an HTML report",
    )
    .option("--quick", "shorter runs and a smaller sweep (what `nfvio demo` runs)")
    .option("--no-sweep", "leave out the scale sweep")
    .option("--sizes <list>", `frame sizes, comma-separated: ${SIZES.join(",")}`)
    .option("-o, --out <dir>", "where to write compare.json and compare.html", "nfvio-report")
    .option("--no-report", "write no files")
    .option("--json", "print the result as one JSON object")
    .option("--no-progress", "no progress bar")
    .action(async (opts: CompareCommandOptions) => {
      const t0 = performance.now();
      const { result, files } = await runCompare(opts);
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
      else {
        process.stdout.write(renderCompare(result, files) + "\n");
        process.stderr.write(`compare: ${((performance.now() - t0) / 1000).toFixed(1)} s of wall time\n`);
      }
    });
}
