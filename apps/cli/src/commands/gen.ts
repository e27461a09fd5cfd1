import { writeFile } from "node:fs/promises";
import { ModelClock, PacketPool, RealClock, type Clock } from "@nfvio/core";
import {
  backToBack,
  describeSizes,
  frameLossRate,
  latency,
  LoopbackPort,
  ndrPdr,
  parseDuration,
  parseLineRate,
  parseRate,
  parseShare,
  parseSizeList,
  PcapReplay,
  portTrial,
  ratePps,
  runPort,
  seriesToCsv,
  SizeSequence,
  throughput,
  TrafgenError,
  type DutSpec,
  type FrameSource,
  type ReplayMode,
  type RunResult,
  type SizeSpec,
  type StreamSpec,
  type TemplateSpec,
  type TrialSpec,
} from "@nfvio/trafgen";
import { benchGen } from "@nfvio/trafgen/bench";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { CliError, positive, table } from "../output.js";

interface GenOptions {
  rate: string;
  size: string;
  seconds: string;
  count?: number;
  streams: number;
  flows: number;
  ip: string;
  l4: string;
  vlan?: number;
  lineRate: string;
  clock: string;
  pcap?: string;
  replay: string;
  loop: string;
  rfc2544?: string;
  resolution: string;
  trial: string;
  pdrLoss: string;
  maxRate?: string;
  repeat: number;
  dutCapacity?: string;
  dutQueue: number;
  dutLatency: string;
  dutLoss: string;
  dutDup: string;
  dutReorder: string;
  interval: string;
  csv?: string;
  json?: boolean;
  progress: boolean;
  bench?: boolean;
}

const HELP_AFTER = `
Rates: 1Mpps, 250kpps, 9.5Gbps (L2: frame bytes with FCS), 10Gbps-l1 (L1: plus
20 B of preamble, SFD and gap per frame), 50% (of --line-rate, in L1 terms).
Sizes (FCS included): 64; imix (64:7,570:4,1518:1); a mix 128:3,256:1; a per-frame
sweep 64..1518/64; a list 64,128,256 runs once per size.

The device under test is built in: a loopback port that forwards every frame
through a queue (--dut-queue frames) served at --dut-capacity (default: no limit),
adds --dut-latency, and can lose, duplicate or reorder frames (--dut-loss,
--dut-dup, --dut-reorder: probabilities, seeded). With --clock model (default)
everything runs in modelled time: rates are exact and runs repeat bit for bit.
With --clock real the generator paces with token buckets on this thread and the
achieved rate is printed next to the asked one.

--rfc2544 runs a benchmark instead of one run: throughput (RFC 2544 §26.1,
binary search), latency (§26.2, at the throughput rate), loss (§26.3, 100%,
90%, ... of --max-rate), b2b (§26.4, back-to-back bursts at the line rate) or
ndrpdr (ETSI GS NFV-TST 009 NDR and PDR with --pdr-loss). Trials last --trial
(RFC 2544 §24 asks for 60 s; 2 s here by default).

Examples:
  nfvio gen --rate 1Mpps --size imix --seconds 5 --streams 2
  nfvio gen --rate 2Mpps --dut-capacity 1.5Mpps --csv series.csv
  nfvio gen --rfc2544 throughput --dut-capacity 3Mpps --resolution 0.1% --trial 1s --json
  nfvio gen --pcap trace.pcapng --replay original --loop 3
`;

export function registerGen(program: Command): void {
  program
    .command("gen")
    .description("Generate traffic through a built-in device under test and analyse it: rates, loss, reordering, duplicates, latency; pcap replay; RFC 2544 and NDR/PDR searches")
    .option("--rate <rate>", "offered rate, shared evenly by the streams", "1Mpps")
    .option("--size <sizes>", "frame size(s), FCS included: 64 | imix | 64,128,256 | 64:7,570:4,1518:1 | 64..1518/64", "64")
    .option("-s, --seconds <s>", "seconds of traffic (modelled seconds under --clock model)", "1")
    .option("--count <n>", "frames per stream instead of --seconds", positive("--count", true))
    .option("--streams <n>", "number of streams", positive("--streams", true), 1)
    .option("--flows <n>", "vary the source address over this many values per stream", positive("--flows", true), 1)
    .option("--ip <v>", "ipv4 or ipv6", "ipv4")
    .option("--l4 <p>", "udp or tcp", "udp")
    .option("--vlan <id>", "add an 802.1Q tag with this VLAN id", (v: string) => intIn("--vlan", v, 0, 4095))
    .option("--line-rate <rate>", "line rate for %, L1 wire times and the maximum of searches", "100G")
    .option("--clock <clock>", "model (deterministic modelled time) or real (this thread, wall clock)", "model")
    .option("--pcap <file>", "replay a pcap or pcapng file instead of generating streams")
    .option("--replay <mode>", "with --pcap: original (file timing), rate (at --rate) or fast", "original")
    .option("--loop <n>", "with --pcap: times through the file (or inf)", "1")
    .option("--rfc2544 <test>", "throughput | latency | loss | b2b | ndrpdr")
    .option("--resolution <r>", "search resolution, a share of the maximum rate (0.1%) or a rate (1kpps)", "0.1%")
    .option("--trial <d>", "trial duration", "2s")
    .option("--pdr-loss <share>", "loss tolerance of the PDR (ndrpdr)", "0.5%")
    .option("--max-rate <rate>", "highest rate a search tries (default: 100% of the line)")
    .option("--repeat <n>", "latency: trials; b2b: searches to average", positive("--repeat", true), 1)
    .option("--dut-capacity <rate>", "device: forwarding capacity (default: unlimited)")
    .option("--dut-queue <n>", "device: frames the queue holds", positive("--dut-queue", true), 256)
    .option("--dut-latency <d>", "device: fixed latency added to every frame", "0ns")
    .option("--dut-loss <p>", "device: probability of losing a frame", "0")
    .option("--dut-dup <p>", "device: probability of duplicating a frame", "0")
    .option("--dut-reorder <p>", "device: probability of holding a frame back 3 frames", "0")
    .option("--interval <d>", "time series interval", "1s")
    .option("--csv <file>", "write the time series (per interval: tx, rx, loss, rates, latency percentiles) as CSV")
    .option("--json", "print one JSON object")
    .option("--no-progress", "no progress bar (it is shown only when stdout and stderr are terminals, and never with --json)")
    .option("--bench", "measure the generator's own speed on one thread (64-byte frames, 4 varied fields) and exit")
    .addHelpText("after", HELP_AFTER)
    .action(async (opts: GenOptions) => {
      try {
        await runGen(opts);
      } catch (e) {
        if (e instanceof TrafgenError) throw new CliError(e.message);
        throw e;
      }
    });
}

function intIn(name: string, v: string, lo: number, hi: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new CliError(`${name} must be an integer in [${lo}, ${hi}], got "${v}"`);
  return n;
}

function probability(name: string, v: string): number {
  const p = parseShare(v, name);
  if (!(p >= 0 && p <= 1)) throw new CliError(`${name} must be a probability in [0, 1] (or a percentage), got "${v}"`);
  return p;
}

/** Progress on stderr, only for people: not with --json, not when stdout or stderr is not a terminal. */
class Progress {
  private bar: cliProgress.SingleBar | null = null;
  constructor(enabled: boolean) {
    if (enabled) {
      this.bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: "gen [{bar}] {percentage}% | {label}", hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(1000, 0, { label: "" });
    }
  }
  update(fraction: number, label: string): void {
    this.bar?.update(Math.round(Math.min(1, Math.max(0, fraction)) * 1000), { label });
  }
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

async function runGen(opts: GenOptions): Promise<void> {
  const showProgress = opts.progress && !opts.json && process.stdout.isTTY === true && process.stderr.isTTY === true;
  if (opts.bench) {
    const seconds = Number(opts.seconds);
    if (!(seconds > 0)) throw new CliError(`--seconds must be positive, got "${opts.seconds}"`);
    const r = benchGen(seconds);
    if (opts.json) process.stdout.write(JSON.stringify({ bench: "gen", ...r }, null, 2) + "\n");
    else process.stdout.write(table(["frame", "fields", "burst", "frames", "seconds", "Mpps", "Mpps/CPU-s"], [[r.frameSize, r.fields, r.burst, r.frames, r.seconds, r.mpps, r.cpuMpps]]) + "\n");
    return;
  }
  if (opts.clock !== "model" && opts.clock !== "real") throw new CliError(`--clock must be model or real, got "${opts.clock}"`);
  if (opts.ip !== "ipv4" && opts.ip !== "ipv6") throw new CliError(`--ip must be ipv4 or ipv6, got "${opts.ip}"`);
  if (opts.l4 !== "udp" && opts.l4 !== "tcp") throw new CliError(`--l4 must be udp or tcp, got "${opts.l4}"`);
  const durationNs = parseDuration(opts.seconds.endsWith("s") || /[a-z]$/.test(opts.seconds) ? opts.seconds : `${opts.seconds}s`);
  if (!(durationNs > 0)) throw new CliError(`--seconds must be positive, got "${opts.seconds}"`);
  const lineRate = parseLineRate(opts.lineRate);
  const sizes = parseSizeList(opts.size);
  const template: TemplateSpec = { ip: opts.ip, l4: opts.l4 };
  if (opts.vlan !== undefined) template.vlan = opts.vlan;
  const rate = parseRate(opts.rate);
  const dut = (meanSize: number): DutSpec => {
    const d: DutSpec = {
      queue: opts.dutQueue,
      latencyNs: parseDuration(opts.dutLatency),
      loss: probability("--dut-loss", opts.dutLoss),
      duplicate: probability("--dut-dup", opts.dutDup),
      reorder: probability("--dut-reorder", opts.dutReorder),
    };
    if (opts.dutCapacity !== undefined) d.capacityPps = ratePps(parseRate(opts.dutCapacity), meanSize, lineRate);
    return d;
  };
  const progress = new Progress(showProgress);
  try {
    if (opts.rfc2544 !== undefined) {
      const results: unknown[] = [];
      for (const size of sizes) results.push(await runSearch(opts, size, template, lineRate, dut(new SizeSequence(size).meanSize), progress));
      progress.stop();
      if (opts.json) process.stdout.write(JSON.stringify({ command: "gen", clock: opts.clock, benchmark: opts.rfc2544, lineRateBps: lineRate, results }, null, 2) + "\n");
      else for (const r of results) process.stdout.write(renderSearch(r) + "\n");
      return;
    }
    const intervalNs = parseDuration(opts.interval);
    const runs: { size: string; result: RunResult }[] = [];
    const list: (SizeSpec | null)[] = opts.pcap !== undefined ? [null] : sizes;
    for (const size of list) {
      const clock: Clock = opts.clock === "real" ? new RealClock() : new ModelClock();
      const pool = new PacketPool({ count: 16384 });
      let sources: (FrameSource | StreamSpec)[];
      let meanSize: number;
      if (opts.pcap !== undefined) {
        const mode = opts.replay as ReplayMode;
        if (mode !== "original" && mode !== "rate" && mode !== "fast") throw new CliError(`--replay must be original, rate or fast, got "${opts.replay}"`);
        const loops = opts.loop === "inf" ? Infinity : intIn("--loop", opts.loop, 1, Number.MAX_SAFE_INTEGER);
        const rp = await PcapReplay.open(opts.pcap, { mode, rate, loops, lineRate });
        sources = [rp];
        meanSize = rp.meanSize;
      } else {
        const spec = size!;
        meanSize = new SizeSequence(spec).meanSize;
        const perStream = ratePps(rate, meanSize, lineRate) / opts.streams;
        sources = Array.from({ length: opts.streams }, (_, k): StreamSpec => {
          // Streams interleave: stream k starts k/N of a gap after stream 0, so no two frames arrive together.
          const s: StreamSpec = { id: k, size: spec, rate: perStream, lineRate, template: { ...template, srcPort: 1024 + k }, start: (k * 1e9) / perStream / opts.streams };
          if (opts.count !== undefined) s.count = opts.count;
          if (opts.flows > 1) s.fields = [{ field: "srcIp", mode: "inc", count: opts.flows }];
          return s;
        });
      }
      const port = new LoopbackPort(pool, clock, dut(meanSize));
      const label = opts.pcap !== undefined ? "replay" : describeSizes(size!);
      const run: Parameters<typeof runPort>[0] = {
        port,
        pool,
        clock,
        streams: sources,
        intervalNs,
        drainNs: opts.clock === "real" ? 100e6 : 10e6,
        onProgress: (f) => progress.update((runs.length + f) / list.length, `${label} ${opts.clock} clock`),
      };
      if (opts.count === undefined && (opts.pcap === undefined || opts.loop === "inf")) run.durationNs = durationNs;
      const result = await runPort(run);
      port.close();
      runs.push({ size: label, result });
    }
    progress.stop();
    if (opts.csv !== undefined) {
      const text = runs.length === 1 ? seriesToCsv(runs[0]!.result.series) : runs.map((r) => `# size ${r.size}\n${seriesToCsv(r.result.series)}`).join("");
      await writeFile(opts.csv, text);
    }
    if (opts.json) {
      process.stdout.write(JSON.stringify({ command: "gen", clock: opts.clock, lineRateBps: lineRate, runs }, null, 2) + "\n");
    } else {
      for (const r of runs) process.stdout.write(renderRun(r.size, r.result) + "\n");
    }
  } finally {
    progress.stop();
  }
}

async function runSearch(opts: GenOptions, size: SizeSpec, template: TemplateSpec, lineRate: number, dut: DutSpec, progress: Progress): Promise<unknown> {
  const trialNs = parseDuration(opts.trial);
  const meanSize = new SizeSequence(size).meanSize;
  const maxPps = opts.maxRate === undefined ? undefined : ratePps(parseRate(opts.maxRate), meanSize, lineRate);
  const res = opts.resolution.trim();
  const resolution = res.endsWith("%") || /^[0-9.]+$/.test(res) ? parseShare(res, "--resolution") : { pps: ratePps(parseRate(res), meanSize, lineRate) };
  let trials = 0;
  const trial = portTrial({
    makePort: (pool, clock) => new LoopbackPort(pool, clock, dut),
    stream: { size, template, lineRate },
    clock: opts.clock as "model" | "real",
    drainNs: opts.clock === "real" ? 100e6 : 10e6,
    onTrial: (spec: TrialSpec) => {
      trials++;
      progress.update((trials % 20) / 20, `trial ${trials} at ${(spec.pps / 1e6).toFixed(3)} Mpps`);
    },
  });
  const basis = { size, lineRate };
  const search = { ...basis, trial, trialNs, resolution, ...(maxPps !== undefined ? { maxPps } : {}) };
  switch (opts.rfc2544) {
    case "throughput":
      return throughput(search);
    case "ndrpdr":
      return ndrPdr({ ...search, pdrLoss: parseShare(opts.pdrLoss, "--pdr-loss") });
    case "latency":
      return latency({ ...basis, trial, trialNs, repeat: opts.repeat, search: { trialNs, resolution, ...(maxPps !== undefined ? { maxPps } : {}) } });
    case "loss":
      return frameLossRate({ ...basis, trial, trialNs, ...(maxPps !== undefined ? { maxPps } : {}) });
    case "b2b":
      return backToBack({ ...basis, trial, repeat: opts.repeat });
    default:
      throw new CliError(`--rfc2544 must be throughput, latency, loss, b2b or ndrpdr, got "${opts.rfc2544}"`);
  }
}

const mpps = (pps: number): number => pps / 1e6;
const us = (ns: number): number => ns / 1e3;

function renderRun(size: string, r: RunResult): string {
  const rows = r.streams.map((s) => [s.name, s.tx, s.received, s.lost, s.duplicates, s.reordered, mpps(s.askedPps), mpps(s.achievedPps), us(s.latency.p50Ns), us(s.latency.p99Ns), us(s.latency.maxNs)]);
  const t = table(["stream", "tx", "received", "lost", "dup", "reordered", "asked Mpps", "achieved Mpps", "p50 µs", "p99 µs", "max µs"], rows);
  const l = r.latency;
  return `size ${size}, ${r.clock} clock, ${(r.txNs / 1e9).toFixed(3)} s of traffic (${r.wallSeconds.toFixed(2)} s wall)\n${t}\nlatency all streams: p50 ${us(l.p50Ns).toFixed(3)} µs, p90 ${us(l.p90Ns).toFixed(3)}, p99 ${us(l.p99Ns).toFixed(3)}, p99.9 ${us(l.p999Ns).toFixed(3)}, max ${us(l.maxNs).toFixed(3)}; loss ${(r.total.lossRatio * 100).toFixed(4)}%${r.foreign > 0 ? `; ${r.foreign} foreign frames` : ""}\n`;
}

function renderSearch(r: unknown): string {
  const o = r as { benchmark: string; reference: string; frameSize: string };
  const head = `${o.benchmark} (${o.reference}), frame size ${o.frameSize}`;
  const rate = (x: { pps: number; bps: number; linePct: number }) => `${mpps(x.pps).toFixed(4)} Mpps, ${(x.bps / 1e9).toFixed(3)} Gbit/s L2, ${x.linePct.toFixed(2)}% of line`;
  switch (o.benchmark) {
    case "throughput": {
      const t = r as Awaited<ReturnType<typeof throughput>>;
      return `${head}\nthroughput: ${rate(t.rate)} (${t.trials.length} trials of ${t.trialNs / 1e9} s, resolution ${t.resolutionPps.toFixed(1)} pps)\n`;
    }
    case "ndr-pdr": {
      const t = r as Awaited<ReturnType<typeof ndrPdr>>;
      return `${head}\nNDR: ${rate(t.ndr)}\nPDR (loss ≤ ${(t.pdrLossTolerance * 100).toFixed(3)}%): ${rate(t.pdr)}\n(${t.trials.length} trials of ${t.trialNs / 1e9} s)\n`;
    }
    case "latency": {
      const t = r as Awaited<ReturnType<typeof latency>>;
      const rows = t.trials.map((x, k) => [k + 1, us(x.taggedNs), us(x.latency.minNs), us(x.latency.p50Ns), us(x.latency.p99Ns), us(x.latency.maxNs)]);
      return `${head}\nat ${rate(t.rate)}; tagged-frame mean ${us(t.taggedMeanNs).toFixed(3)} µs\n${table(["trial", "tagged µs", "min µs", "p50 µs", "p99 µs", "max µs"], rows)}\n`;
    }
    case "frame-loss-rate": {
      const t = r as Awaited<ReturnType<typeof frameLossRate>>;
      return `${head}\n${table(["load %", "Mpps", "tx", "received", "loss %"], t.steps.map((s) => [s.loadPct, mpps(s.rate.pps), s.tx, s.received, s.lossPct]))}\n`;
    }
    case "back-to-back": {
      const t = r as Awaited<ReturnType<typeof backToBack>>;
      return `${head}\nlongest lossless burst at ${mpps(t.burstPps).toFixed(4)} Mpps: ${t.bursts.join(", ")} frames (mean ${t.meanFrames})\n`;
    }
    default:
      return JSON.stringify(r, null, 2);
  }
}
