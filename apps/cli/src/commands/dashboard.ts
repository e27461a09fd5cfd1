import type { Command } from "commander";
import { startDashboard, type Dashboard } from "@nfvio/dashboard";
import { loadScenario } from "../scenario/builtin.js";
import { compare } from "../scenario/compare.js";
import { compareReport, topologyView, writeReport } from "../scenario/report.js";
import { runScenario, type RunResult } from "../scenario/runner.js";
import { ScenarioError, type Scenario } from "../scenario/schema.js";
import { CliError } from "../output.js";
import { untilSignal } from "../signals.js";
import { applyOverrides } from "./run.js";

interface DashboardCommandOptions {
  port: string;
  backend: string;
  sampleDelay: string;
  report: boolean;
  out: string;
  exit?: boolean;
  json?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run `scenario` once on each backend, showing it live. */
export async function showScenario(d: Dashboard, scenario: Scenario, backends: readonly ("vhost-net" | "offload")[], sampleDelayMs: number): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const b of backends) {
    const s = applyOverrides(scenario, { backend: b });
    const id = `${s.name}-${b}`;
    d.status(`running ${s.name} on ${b}`);
    const r = await runScenario(s, {
      yieldMs: 0,
      onStart: (topology) => d.addRun(id, `${s.name} — ${b === "offload" ? "accelerated (offload device)" : "baseline (vhost-net)"}`, topologyView(s.name, topology)),
      onSample: async (x) => {
        d.sample(id, { tNs: x.tNs, offeredMpps: x.offeredMpps, rxMpps: x.rxMpps, hostCores: x.hostCores, nodes: x.nodes });
        if (sampleDelayMs > 0) await sleep(sampleDelayMs);
        else await new Promise<void>((res) => setImmediate(res));
      },
    });
    d.summary(id, {
      "Mpps delivered": Math.round(r.mpps * 100) / 100,
      "Gbit/s": Math.round(r.gbps * 100) / 100,
      "host cycles / packet": Math.round(r.hostCyclesPerPacket * 10) / 10,
      "host cores": Math.round(r.hostCores * 100) / 100,
      "latency p50 µs": Math.round(r.latency.p50Us * 100) / 100,
      "latency p99 µs": Math.round(r.latency.p99Us * 100) / 100,
      "frames lost": r.lost,
    });
    results.push(r);
  }
  return results;
}

export function registerDashboard(program: Command): void {
  program
    .command("dashboard")
    .argument("[scenario]", "a scenario file or built-in name (default: north-south-baseline, shown on both backends)", "north-south-baseline")
    .description("Serve a web page on 127.0.0.1 that shows the topology, live counters and charts while a scenario runs, then the quick comparison's report")
    .option("-p, --port <n>", "TCP port (0: any free port)", "0")
    .option("--backend <kind>", "vhost-net, offload or both (one after the other)", "both")
    .option("--sample-delay <ms>", "wall-clock pause per time-series point, so a modelled run can be watched", "150")
    .option("--no-report", "do not run the quick comparison afterwards")
    .option("-o, --out <dir>", "where the comparison's report goes", "nfvio-report")
    .option("--exit", "exit when the runs are done (default: keep serving until Ctrl-C)")
    .option("--json", "print the URL and the results as JSON lines")
    .action(async (ref: string, opts: DashboardCommandOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be an integer in 0..65535, got "${opts.port}"`);
      const delay = Number(opts.sampleDelay);
      if (!(delay >= 0)) throw new CliError(`--sample-delay must be a non-negative number of ms, got "${opts.sampleDelay}"`);
      const backends = opts.backend === "both" ? (["vhost-net", "offload"] as const) : opts.backend === "vhost-net" || opts.backend === "offload" ? ([opts.backend] as const) : null;
      if (backends === null) throw new CliError(`--backend must be vhost-net, offload or both, got "${opts.backend}"`);
      let scenario: Scenario;
      try {
        scenario = loadScenario(ref).scenario;
      } catch (e) {
        if (e instanceof ScenarioError) throw new CliError(`scenario does not load:\n${e.message}`);
        throw e;
      }
      const d = await startDashboard({ port, title: `nfvio dashboard: ${scenario.name}` });
      if (opts.json) process.stdout.write(JSON.stringify({ url: d.url }) + "\n");
      else process.stdout.write(`nfvio dashboard: ${d.url}\n`);
      const results = await showScenario(d, scenario, backends, delay);
      if (opts.report) {
        d.status("running the quick comparison for the report");
        const c = await compare({ quick: true });
        const files = await writeReport(opts.out, "compare", c, compareReport(c));
        d.setReport(files.html);
        if (!opts.json) process.stdout.write(`Report: ${files.html} (also at ${d.url}report)\n`);
      }
      d.status("done");
      if (opts.json) process.stdout.write(JSON.stringify({ done: true, results: results.map((r) => ({ backend: r.backend, mpps: r.mpps, hostCyclesPerPacket: r.hostCyclesPerPacket })) }) + "\n");
      if (opts.exit) {
        await d.close();
        return;
      }
      if (!opts.json) process.stdout.write("Serving until Ctrl-C.\n");
      await untilSignal();
      await d.close();
    });
}
