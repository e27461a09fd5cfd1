import type { Command } from "commander";
import { runClassifierBench, type ClassifierBenchResult } from "@nfvio/offload/bench";
import { benchParse, type BenchResult } from "@nfvio/packet";
import { benchGen, type GenBenchResult } from "@nfvio/trafgen/bench";
import { measureVhostNetThreads, modelVhostNet } from "@nfvio/vhost";
import { runRingBench, type RingBenchResult } from "@nfvio/virtio/bench";
import { runVnfBench, type VnfBenchResult } from "@nfvio/vnf/bench";
import { CliError, positive, table } from "../output.js";
import { Progress } from "../progress.js";

interface RingOptions {
  kind: string;
  threads: string;
  seconds: number;
  burst: number;
  json?: boolean;
}

interface AllOptions {
  seconds: number;
  only?: string;
  json?: boolean;
  progress?: boolean;
}

/** The benchmarks `nfvio bench` runs, each from its package's exported bench function. */
export const BENCHES = ["ring", "parse", "classifier", "vnf", "gen", "vhost-net"] as const;
export type BenchName = (typeof BENCHES)[number];

export interface VhostNetBenchRow {
  mode: "modelled" | "threads";
  direction: "tx" | "rx";
  frameSize: number;
  mpps: number;
  workerCyclesPerPacket: number | null;
}

export interface BenchAllResult {
  bench: "all";
  seconds: number;
  ring?: RingBenchResult[];
  parse?: BenchResult;
  classifier?: ClassifierBenchResult[];
  vnf?: VnfBenchResult[];
  gen?: GenBenchResult;
  "vhost-net"?: VhostNetBenchRow[];
}

/** One line per result, for people. */
export function renderBenchAll(r: BenchAllResult): string {
  const parts: string[] = [];
  if (r.ring) parts.push(`ring (@nfvio/virtio): 64 B frames, burst 32, wall clock\n${table(["ring", "threads", "frames", "seconds", "Mpps"], r.ring.map((x) => [x.kind, x.threads, x.frames, x.seconds, x.mpps]))}`);
  if (r.parse) parts.push(`parse (@nfvio/packet): 64 B TCP/IPv4, burst 32\n${table(["packets", "seconds", "Mpps", "Mpps/CPU-s"], [[r.parse.packets, r.parse.seconds, r.parse.mpps, r.parse.cpuMpps]])}`);
  if (r.classifier) parts.push(`classifier (@nfvio/offload): lookups at burst 32 on this software (not the modelled hardware)\n${table(["case", "rules", "ns/op", "Mops/s"], r.classifier.map((x) => [x.name, x.rules, x.nsPerOp, x.mopsPerSec]))}`);
  if (r.vnf) parts.push(`vnf (@nfvio/vnf): 64 B frames, one thread\n${table(["vnf", "Mpps", "ns/packet", "forwarded"], r.vnf.map((x) => [x.vnf, x.mpps, x.nsPerPacket, x.forwarded]))}`);
  if (r.gen) parts.push(`gen (@nfvio/trafgen): ${r.gen.frameSize} B, ${r.gen.fields} varied fields, burst ${r.gen.burst}\n${table(["frames", "seconds", "Mpps", "Mpps/CPU-s"], [[r.gen.frames, r.gen.seconds, r.gen.mpps, r.gen.cpuMpps]])}`);
  if (r["vhost-net"]) {
    parts.push(
      `vhost-net (@nfvio/vhost): modelled (default cost model) and on two threads (wall clock)\n${table(
        ["mode", "direction", "bytes", "Mpps", "worker cyc/pkt"],
        r["vhost-net"].map((x) => [x.mode, x.direction, x.frameSize, x.mpps, x.workerCyclesPerPacket ?? "-"]),
      )}`,
    );
  }
  return parts.join("\n\n");
}

/** Run every package's bench (or `only` some), about `seconds` each. */
export async function benchAll(seconds: number, only: readonly BenchName[] = BENCHES, onStep?: (fraction: number, label: string) => void): Promise<BenchAllResult> {
  const out: BenchAllResult = { bench: "all", seconds };
  const steps = only.length;
  let i = 0;
  const step = (label: string): void => onStep?.(i++ / steps, label);
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  for (const b of only) {
    step(b);
    await tick();
    switch (b) {
      case "ring":
        out.ring = [];
        for (const kind of ["split", "packed"] as const) out.ring.push(await runRingBench({ kind, threads: 2, seconds, burst: 32, frameSize: 64 }));
        break;
      case "parse":
        out.parse = benchParse(seconds);
        break;
      case "classifier":
        out.classifier = runClassifierBench({ exactSizes: [1000, 100_000], wildcardSizes: [1000], lookups: Math.max(100_000, Math.round(seconds * 1_000_000)) });
        break;
      case "vnf":
        out.vnf = runVnfBench({ durationMs: Math.max(50, (seconds * 1000) / 4), warmupMs: 50 });
        break;
      case "gen":
        out.gen = benchGen(seconds);
        break;
      case "vhost-net": {
        const rows: VhostNetBenchRow[] = [];
        for (const direction of ["tx", "rx"] as const) {
          const m = modelVhostNet({ direction, frameSize: 64, frames: 50_000 });
          rows.push({ mode: "modelled", direction, frameSize: 64, mpps: m.mpps, workerCyclesPerPacket: m.workerCyclesPerPacket });
        }
        for (const direction of ["tx", "rx"] as const) {
          const t = await measureVhostNetThreads({ direction, frameSize: 64, seconds: Math.max(0.2, seconds / 2), warmupSeconds: 0.1 });
          rows.push({ mode: "threads", direction, frameSize: 64, mpps: t.mpps, workerCyclesPerPacket: null });
        }
        out["vhost-net"] = rows;
        break;
      }
    }
  }
  onStep?.(1, "done");
  return out;
}

async function runAll(opts: AllOptions): Promise<void> {
  let only: BenchName[] = [...BENCHES];
  if (opts.only !== undefined) {
    only = opts.only.split(",").map((s) => s.trim()) as BenchName[];
    for (const b of only) if (!BENCHES.includes(b)) throw new CliError(`--only: unknown bench "${b}" (have: ${BENCHES.join(", ")})`);
  }
  const progress = new Progress("bench", Progress.wanted(opts));
  let r: BenchAllResult;
  try {
    r = await benchAll(opts.seconds, only, (f, l) => progress.update(f, l));
  } finally {
    progress.stop();
  }
  if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
  else process.stdout.write(renderBenchAll(r) + "\n");
}

export function registerBench(program: Command): void {
  const bench = program
    .command("bench")
    .description(`Benchmarks of nfvio's own datapath, in packets per wall-clock second. Without a subcommand: every package's bench (${BENCHES.join(", ")})`)
    .option("-s, --seconds <s>", "seconds per measurement", positive("--seconds"), 1)
    .option("--only <list>", `comma-separated subset of ${BENCHES.join(",")}`)
    .option("--json", "print one JSON object")
    .option("--no-progress", "no progress bar")
    // `bench ring -s 2`: the subcommand's options are its own, not bench's.
    .enablePositionalOptions()
    .action(async (opts: AllOptions) => runAll(opts));
  bench
    .command("all")
    .description(`Every package's exported bench function: ${BENCHES.join(", ")}`)
    .option("-s, --seconds <s>", "seconds per measurement", positive("--seconds"), 1)
    .option("--only <list>", `comma-separated subset of ${BENCHES.join(",")}`)
    .option("--json", "print one JSON object")
    .option("--no-progress", "no progress bar")
    .action(async (opts: AllOptions) => runAll(opts));
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
