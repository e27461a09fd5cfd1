import type { Command } from "commander";
import { builtinNames, loadScenario } from "../scenario/builtin.js";
import { runScenario, sweptVm, type RunOptions, type RunResult } from "../scenario/runner.js";
import { runReport, runTable, writeReport } from "../scenario/report.js";
import { ScenarioError, type Scenario } from "../scenario/schema.js";
import { CliError, positive, table } from "../output.js";
import { Progress } from "../progress.js";

interface RunCommandOptions {
  backend?: string;
  profile?: string;
  clock?: string;
  duration?: string;
  vms?: number;
  queues?: number;
  sweep: boolean;
  out?: string;
  json?: boolean;
  progress?: boolean;
}

/** The scenario with the command line's overrides applied. */
export function applyOverrides(s: Scenario, o: { backend?: string; profile?: string; clock?: string; duration?: string }): Scenario {
  let out: Scenario = { ...s };
  if (o.backend !== undefined) {
    if (o.backend === "vhost-net") out = { ...out, backend: { kind: "vhost-net" } };
    else if (o.backend === "offload") out = { ...out, backend: { kind: "offload", profile: (o.profile ?? "smartnic") as "smartnic" | "dpaa" } };
    else throw new CliError(`--backend must be vhost-net or offload, got "${o.backend}"`);
  } else if (o.profile !== undefined) {
    if (out.backend.kind !== "offload") throw new CliError("--profile applies to the offload backend (add --backend offload)");
    out = { ...out, backend: { kind: "offload", profile: o.profile as "smartnic" | "dpaa" } };
  }
  if (o.profile !== undefined && o.profile !== "smartnic" && o.profile !== "dpaa") throw new CliError(`--profile must be smartnic or dpaa, got "${o.profile}"`);
  if (o.clock !== undefined) {
    if (o.clock !== "model" && o.clock !== "real") throw new CliError(`--clock must be model or real, got "${o.clock}"`);
    out = { ...out, clock: o.clock };
  }
  if (o.duration !== undefined) out = { ...out, duration: o.duration, warmup: undefined };
  return out;
}

/** The sweep points of a scenario: its `sweep`, or one run. */
export function sweepPoints(s: Scenario, o: { vms?: number; queues?: number; sweep: boolean }): RunOptions[] {
  if (o.vms !== undefined || o.queues !== undefined) {
    if (sweptVm(s) === null) throw new CliError("--vms / --queues need a VM inside the path");
    return [{ ...(o.vms !== undefined ? { vms: o.vms } : {}), ...(o.queues !== undefined ? { queues: o.queues } : {}) }];
  }
  if (!s.sweep || !o.sweep) return [{}];
  const pts: RunOptions[] = [];
  for (const vms of s.sweep.vms) for (const queues of s.sweep.queues) pts.push({ vms, queues });
  return pts;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .argument("<scenario>", `a scenario file (YAML or JSON) or a built-in name: ${builtinNames().join(", ")}`)
    .description("Run a scenario: VMs with their VNFs, a backend (vhost-net or the offload device), ports, traffic; prints rates, host CPU cost, latency and drops")
    .option("--backend <kind>", "override the backend: vhost-net or offload")
    .option("--profile <name>", "offload device profile: smartnic or dpaa")
    .option("--clock <clock>", "override the clock: model or real")
    .option("--duration <d>", "override the traffic time (e.g. 2ms, 1s)")
    .option("--vms <n>", "one point of the sweep: copies of the swept VM", positive("--vms", true))
    .option("--queues <n>", "one point of the sweep: queue pairs of the swept VM", positive("--queues", true))
    .option("--no-sweep", "run the scenario once, without its sweep")
    .option("-o, --out <dir>", "also write <name>.json and <name>.html here")
    .option("--json", "print the results as one JSON object")
    .option("--no-progress", "no progress bar")
    .action(async (ref: string, opts: RunCommandOptions) => {
      let scenario: Scenario;
      try {
        scenario = applyOverrides(loadScenario(ref).scenario, opts);
      } catch (e) {
        if (e instanceof ScenarioError) throw new CliError(`scenario does not load:\n${e.message}`);
        throw e;
      }
      const points = sweepPoints(scenario, opts);
      const bar = Progress.wanted(opts);
      const progress = new Progress("run", bar);
      const results: RunResult[] = [];
      try {
        for (const [k, p] of points.entries()) {
          const label = p.vms !== undefined || p.queues !== undefined ? `${scenario.name}: ${p.vms ?? "-"} VM x ${p.queues ?? "-"} q` : scenario.name;
          try {
            results.push(
              await runScenario(scenario, {
                ...p,
                onProgress: (f) => progress.update((k + f) / points.length, label),
                // Waiting for a real peer: on the bar, or one line on stderr without one.
                onWait: (m) => (bar ? progress.update(k / points.length, `${label}: ${m}`) : process.stderr.write(`nfvio run: ${label}: ${m}\n`)),
              }),
            );
          } catch (e) {
            if (e instanceof Error && /^port "|need clock: real|has one uplink/.test(e.message)) throw new CliError(e.message);
            throw e;
          }
        }
      } finally {
        progress.stop();
      }
      const files = opts.out !== undefined ? await writeReport(opts.out, scenario.name, { kind: "nfvio.run", scenario, results }, runReport(`nfvio run ${scenario.name}`, results)) : null;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ kind: "nfvio.run", scenario, results }, null, 2) + "\n");
        return;
      }
      const t = runTable(results);
      process.stdout.write(`${scenario.name}${scenario.description ? `: ${scenario.description}` : ""}\n${table(t.headers, t.rows)}\n`);
      const wall = results.reduce((a, r) => a + r.wallSeconds, 0);
      process.stderr.write(`run: ${results.length} run(s), ${wall.toFixed(1)} s of wall time${scenario.clock === "model" ? " (figures are modelled time)" : ""}\n`);
      if (files) process.stdout.write(`Report: ${files.html}\nJSON:   ${files.json}\n`);
    });
}
