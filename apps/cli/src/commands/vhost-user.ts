/**
 * `nfvio vhost-user`: serve a virtio-net device behind a vhost-user socket
 * until SIGINT/SIGTERM, then print per-queue counters. With `--mode vnf`
 * the frames the front-end transmits go through a VNF of `@nfvio/vnf`
 * (`--vnf FILE` or `--vnf-kind KIND`); VNF port k is queue pair k mod N.
 * With `--mode switch` the offload device's embedded switch serves several
 * sockets (`--socket` repeated), one vport each, switching frames between
 * the peers by MAC (`vhost-user-switch.ts`).
 */
import type { Command } from "commander";
import { NET_MODES, VhostUserNetDevice, VhostUserServer, type LogLevel, type NetMode, type QueueCounters, type SchedulerStats } from "@nfvio/vhost";
import { createVnf, loadVnf, VNF_KINDS, VnfError, type Vnf, type VnfKind, type VnfSpec } from "@nfvio/vnf";
import { CliError, positive, table } from "../output.js";
import { untilSignal } from "../signals.js";
import { RateSampler, SWITCH_PROFILES, runSwitch, switchMacs, type SwitchProfile } from "./vhost-user-switch.js";

interface VhostUserOptions {
  socket?: string[];
  mac?: string[];
  profile?: string;
  learn?: boolean;
  flood?: boolean;
  client?: boolean;
  queues: number;
  mode: string;
  vnf?: string;
  vnfKind?: string;
  idleMs: number;
  verbose?: boolean;
  json?: boolean;
}

/** What `--json` prints. */
export interface VhostUserReport {
  socket: string;
  role: "server" | "client";
  mode: NetMode;
  queuePairs: number;
  connections: number;
  refused: number;
  seconds: number;
  queues: QueueCounters[];
  totals: { rx: { frames: number; bytes: number }; tx: { frames: number; bytes: number }; errors: number };
  /**
   * Transmit frames taken per second between the first and the last 100 ms
   * sample that saw traffic, and the best rate over any 1 s window of samples.
   */
  rate: { frames: number; seconds: number; mpps: number; peakMpps: number };
  scheduler: SchedulerStats;
  /** With `--mode vnf`: the VNF's kind, port count and non-zero counters (`rx`, `tx`, `dropped`, `drop.<reason>`, ...). */
  vnf?: { kind: string; ports: number; counters: Record<string, number> };
}

/**
 * The configuration `--vnf-kind` uses: macswap with one port per queue pair
 * (each pair reflects onto itself); l2fwd with one port per pair when the
 * pair count is even, else two ports (pair 0 forwards to itself); other kinds
 * as their schema defaults, if they have a complete default.
 */
export function defaultVnfSpec(kind: VnfKind, queuePairs: number): VnfSpec {
  switch (kind) {
    case "macswap":
      return { kind, config: { ports: queuePairs } };
    case "l2fwd": {
      const ports = queuePairs % 2 === 0 ? queuePairs : 2;
      return { kind, config: { ports: Array.from({ length: ports }, () => ({})) } };
    }
    default:
      return { kind };
  }
}

/** Build the VNF of `--vnf FILE` or `--vnf-kind KIND`; configuration errors become usage errors. */
export function vnfFromOptions(opts: { vnf?: string; vnfKind?: string }, queuePairs: number): Vnf {
  if ((opts.vnf === undefined) === (opts.vnfKind === undefined)) throw new CliError("--mode vnf needs --vnf FILE or --vnf-kind KIND (one of them)");
  try {
    if (opts.vnf !== undefined) return loadVnf(opts.vnf);
    const kind = opts.vnfKind as VnfKind;
    if (!VNF_KINDS.includes(kind)) throw new CliError(`--vnf-kind must be one of ${VNF_KINDS.join(", ")}, got "${opts.vnfKind}"`);
    try {
      return createVnf(defaultVnfSpec(kind, queuePairs));
    } catch (e) {
      if (e instanceof VnfError && e.kind === "config") throw new CliError(`--vnf-kind ${kind} has no default configuration; give --vnf FILE\n${e.message}`);
      throw e;
    }
  } catch (e) {
    if (e instanceof VnfError) throw new CliError(e.message);
    throw e;
  }
}

export function formatErrors(errors: Record<string, number>): string {
  const parts = Object.entries(errors).map(([k, n]) => `${k}=${n}`);
  return parts.length > 0 ? parts.join(" ") : "-";
}

export function queueTable(queues: readonly { queue: number; direction: string; frames: number; bytes: number; errors: Record<string, number> }[]): string {
  return table(
    ["queue", "dir", "frames", "bytes", "errors"],
    queues.map((q) => [q.queue, q.direction, q.frames, q.bytes, formatErrors(q.errors)]),
  );
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const MODES = [...NET_MODES, "switch"] as const;

export function registerVhostUser(program: Command): void {
  program
    .command("vhost-user")
    .description(
      "Serve a virtio-net device (vhost-user back-end) for DPDK virtio-user or QEMU until SIGINT/SIGTERM, then print per-queue counters; --mode switch serves the offload device's embedded switch on several sockets (one vport each) and prints per-vport, eSwitch and drop counters",
    )
    .option("--socket <path>", "vhost-user socket path (created with mode 0600 unless --client); repeat it with --mode switch, one vport per socket", collect)
    .option("--client", "connect to a front-end that listens at --socket (reconnects after it goes away)")
    .option("--queues <n>", "queue pairs (--mode switch: 1)", positive("--queues", true), 1)
    .option("--mode <mode>", `datapath: ${MODES.join(", ")} (vnf: frames go through the VNF of --vnf or --vnf-kind; VNF port k is queue pair k mod N; switch: the offload device's eSwitch between the sockets' peers)`, "drop")
    .option("--mac <mac>", "with --mode switch: the MAC of each socket's port, in --socket order (default 02:00:00:00:00:01, :02, ...)", collect)
    .option("--profile <name>", `with --mode switch: device profile (${SWITCH_PROFILES.join(", ")})`, "smartnic")
    .option("--learn", "with --mode switch: learn the source MACs of the peers' frames (bounded table)")
    .option("--flood", "with --mode switch: copy broadcast, multicast and unknown-unicast frames to every other port")
    .option("--vnf <file>", "with --mode vnf: the VNF as { kind, config } in a .json, .yaml or .yml file")
    .option("--vnf-kind <kind>", `with --mode vnf: a VNF with its default configuration (${VNF_KINDS.join(", ")}; macswap, l2fwd and firewall have one)`)
    .option("--idle-ms <ms>", "keep polling this long after the last frame before sleeping on kick eventfds", Number, 1)
    .option("-v, --verbose", "log connections and ring set-up to stderr")
    .option("--json", "print one JSON object")
    .action(async (opts: VhostUserOptions) => {
      if (!(MODES as readonly string[]).includes(opts.mode)) throw new CliError(`--mode must be one of ${MODES.join(", ")}, got "${opts.mode}"`);
      const sockets = opts.socket ?? [];
      if (sockets.length === 0) throw new CliError("required option '--socket <path>' not specified");
      const levels: LogLevel[] = opts.verbose ? ["info", "warn", "error"] : ["warn", "error"];
      const log = (level: LogLevel, message: string): void => {
        if (levels.includes(level)) process.stderr.write(`nfvio vhost-user ${level}: ${message}\n`);
      };
      if (opts.mode === "switch") {
        if (opts.queues !== 1) throw new CliError("--mode switch serves one queue pair per socket; drop --queues");
        if (opts.vnf !== undefined || opts.vnfKind !== undefined) throw new CliError("--vnf and --vnf-kind need --mode vnf");
        if (!Number.isFinite(opts.idleMs) || opts.idleMs < 0) throw new CliError(`--idle-ms must be a non-negative number`);
        const profile = opts.profile ?? "smartnic";
        if (!(SWITCH_PROFILES as string[]).includes(profile)) throw new CliError(`--profile must be one of ${SWITCH_PROFILES.join(", ")}, got "${profile}"`);
        if (new Set(sockets).size !== sockets.length) throw new CliError("--socket: the same path is given twice");
        const macs = switchMacs(sockets, opts.mac);
        await runSwitch({ sockets, macs, profile: profile as SwitchProfile, learn: opts.learn ?? false, flood: opts.flood ?? false, client: opts.client ?? false, idleMs: opts.idleMs, json: opts.json ?? false, log }, untilSignal());
        return;
      }
      if (sockets.length > 1) throw new CliError("--socket may be repeated only with --mode switch");
      if (opts.mac !== undefined || opts.learn || opts.flood || opts.profile !== "smartnic") throw new CliError("--mac, --profile, --learn and --flood need --mode switch");
      const socket = sockets[0]!;
      if (opts.queues > 128) throw new CliError(`--queues must be at most 128, got ${opts.queues}`);
      if (opts.mode !== "vnf" && (opts.vnf !== undefined || opts.vnfKind !== undefined)) throw new CliError("--vnf and --vnf-kind need --mode vnf");
      const vnf = opts.mode === "vnf" ? vnfFromOptions(opts, opts.queues) : null;
      if (!Number.isFinite(opts.idleMs) || opts.idleMs < 0) throw new CliError(`--idle-ms must be a non-negative number`);
      const mode = opts.mode as NetMode;
      const device = new VhostUserNetDevice({ queuePairs: opts.queues, mode, idleMs: opts.idleMs, log, ...(vnf ? { processor: vnf } : {}) });
      const role = opts.client ? "client" : "server";
      const server = new VhostUserServer({ path: socket, role, device, log });
      try {
        server.start();
      } catch (e) {
        throw new CliError(`cannot serve ${socket}: ${(e as Error).message}`);
      }
      if (!opts.json) process.stderr.write(`nfvio vhost-user: ${role === "server" ? "listening on" : "connecting to"} ${socket} (${opts.queues} queue pair(s), ${mode}${vnf ? ` ${vnf.kind}, ${vnf.portCount} port(s)` : ""}); Ctrl-C to stop\n`);
      const started = performance.now();
      // Rate: sample the transmit frame count every 100 ms; traffic spans the first to the last sample that moved.
      const txFrames = (): number => device.counters().reduce((n, q) => (q.direction === "tx" ? n + q.frames : n), 0);
      const sampler = new RateSampler(txFrames);
      await untilSignal();
      sampler.stop();
      server.close();
      const queues = device.counters();
      const sum = (dir: "rx" | "tx") => queues.filter((q) => q.direction === dir).reduce((a, q) => ({ frames: a.frames + q.frames, bytes: a.bytes + q.bytes }), { frames: 0, bytes: 0 });
      const rate = sampler.result();
      const report: VhostUserReport = {
        socket,
        role,
        mode,
        queuePairs: opts.queues,
        connections: server.connections,
        refused: server.refused,
        seconds: (performance.now() - started) / 1000,
        queues,
        totals: { rx: sum("rx"), tx: sum("tx"), errors: queues.reduce((n, q) => n + Object.values(q.errors).reduce((a, b) => a + b, 0), 0) },
        rate,
        scheduler: { ...device.sched },
        ...(vnf ? { vnf: { kind: vnf.kind, ports: vnf.portCount, counters: vnf.counters.snapshot(true) } } : {}),
      };
      if (opts.json) process.stdout.write(JSON.stringify(report) + "\n");
      else {
        process.stdout.write(queueTable(queues) + "\n");
        if (report.vnf) process.stdout.write(`vnf ${report.vnf.kind} (${report.vnf.ports} port(s)): ${formatErrors(report.vnf.counters)}\n`);
        process.stdout.write(`connections ${report.connections}, refused ${report.refused}; transmit rate ${report.rate.mpps.toFixed(3)} Mpps over ${rate.seconds.toFixed(2)} s; wakeups ${report.scheduler.wakeups}, kicks ${report.scheduler.kicks}, calls ${report.scheduler.calls}\n`);
      }
    });
}
