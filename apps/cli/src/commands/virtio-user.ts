/**
 * `nfvio virtio-user`: be the virtio-net driver of a vhost-user back-end
 * (DPDK's `net_vhost`, `nfvio vhost-user`, ...), send UDP frames, count
 * what comes back, print per-queue counters.
 */
import type { Command } from "commander";
import { buildFrame } from "@nfvio/packet";
import { VirtioUserFrontend, type FrontendQueueCounters, type LogLevel } from "@nfvio/vhost";
import { CliError, positive } from "../output.js";
import { queueTable } from "./vhost-user.js";

interface VirtioUserOptions {
  socket: string;
  packed?: boolean;
  queues: number;
  size: number;
  count?: number;
  seconds?: number;
  queueSize: number;
  regions: number;
  wait: number;
  verbose?: boolean;
  json?: boolean;
}

/** What `--json` prints. */
export interface VirtioUserReport {
  socket: string;
  ring: "split" | "packed";
  queuePairs: number;
  frameSize: number;
  features: string;
  /** Frames handed to the back-end (and completed by it). */
  sent: number;
  /** Frames not completed by the back-end when the run ended. */
  unfinished: number;
  received: number;
  seconds: number;
  mpps: number;
  kicks: number;
  queues: FrontendQueueCounters[];
}

export function registerVirtioUser(program: Command): void {
  program
    .command("virtio-user")
    .description("Drive a vhost-user back-end as a virtio-net driver: send UDP frames, count what returns, print per-queue counters")
    .requiredOption("--socket <path>", "socket of a listening vhost-user back-end")
    .option("--packed", "packed virtqueues (default split)")
    .option("--queues <n>", "queue pairs", positive("--queues", true), 1)
    .option("--size <bytes>", "frame size in bytes, Ethernet header included, FCS excluded", positive("--size", true), 64)
    .option("--count <n>", "frames to send (default 100000 when --seconds is not given)", positive("--count", true))
    .option("--seconds <s>", "send for this long instead of a count", positive("--seconds"))
    .option("--queue-size <n>", "ring size", positive("--queue-size", true), 256)
    .option("--regions <n>", "guest memory in 1 memfd, or 2 (rings and buffers apart)", positive("--regions", true), 1)
    .option("--wait <s>", "wait this long for the back-end's socket to accept", positive("--wait"), 10)
    .option("-v, --verbose", "log negotiation to stderr")
    .option("--json", "print one JSON object")
    .action(async (opts: VirtioUserOptions) => {
      if (opts.count !== undefined && opts.seconds !== undefined) throw new CliError("give --count or --seconds, not both");
      if (opts.size < 42 || opts.size > 2048 - 12) throw new CliError(`--size must be 42 .. ${2048 - 12} (an Ethernet + IPv4 + UDP frame that fits a 2 KiB buffer), got ${opts.size}`);
      if (opts.regions !== 1 && opts.regions !== 2) throw new CliError(`--regions must be 1 or 2`);
      if (opts.queues > 128) throw new CliError(`--queues must be at most 128`);
      if (!opts.packed && (opts.queueSize & (opts.queueSize - 1)) !== 0) throw new CliError(`--queue-size must be a power of two for split rings`);
      const count = opts.seconds === undefined ? (opts.count ?? 100_000) : Infinity;
      const log = (level: LogLevel, message: string): void => {
        if (opts.verbose || level === "warn" || level === "error") process.stderr.write(`nfvio virtio-user ${level}: ${message}\n`);
      };
      let fe: VirtioUserFrontend;
      try {
        fe = await VirtioUserFrontend.connect({ path: opts.socket, packed: !!opts.packed, queuePairs: opts.queues, queueSize: opts.queueSize, regions: opts.regions as 1 | 2, connectTimeoutMs: opts.wait * 1000, log });
      } catch (e) {
        throw new CliError(`cannot drive ${opts.socket}: ${(e as Error).message}`);
      }
      const frame = buildFrame({ ipv4: { src: "198.18.0.1", dst: "198.18.0.2" }, udp: { srcPort: 1024, dstPort: 1024 }, payload: opts.size - 42, padTo: 0 });
      let sent = 0;
      const started = performance.now();
      const deadline = opts.seconds === undefined ? Infinity : started + opts.seconds * 1000;
      let stopping = false;
      const onSignal = (): void => {
        stopping = true;
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      let drainUntil = 0;
      let sendEnd = 0;
      await new Promise<void>((resolve) => {
        const turn = (): void => {
          const now = performance.now();
          const sending = !stopping && sent < count && now < deadline;
          if (!sending && sendEnd === 0) {
            sendEnd = now;
            drainUntil = now + 2000;
          }
          let inFlight = 0;
          for (const p of fe.pairs) {
            p.reclaimTx();
            if (sending) {
              for (let k = 0; k < 64 && sent < count && p.send(frame); k++) sent++;
              p.flush();
            }
            p.receive(undefined, 256);
            inFlight += p.txInFlight;
          }
          if (fe.disconnected || (!sending && (inFlight === 0 || now > drainUntil))) resolve();
          else setImmediate(turn);
        };
        turn();
      });
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      const seconds = ((sendEnd || performance.now()) - started) / 1000;
      const unfinished = fe.pairs.reduce((n, p) => n + p.txInFlight, 0);
      const queues = fe.counters();
      await fe.close();
      const report: VirtioUserReport = {
        socket: opts.socket,
        ring: opts.packed ? "packed" : "split",
        queuePairs: opts.queues,
        frameSize: opts.size,
        features: `0x${fe.features.toString(16)}`,
        sent,
        unfinished,
        received: queues.filter((q) => q.direction === "rx").reduce((n, q) => n + q.frames, 0),
        seconds,
        mpps: seconds > 0 ? sent / seconds / 1e6 : 0,
        kicks: fe.kicks,
        queues,
      };
      if (opts.json) process.stdout.write(JSON.stringify(report) + "\n");
      else {
        process.stdout.write(queueTable(queues) + "\n");
        process.stdout.write(`sent ${sent} frames of ${opts.size} bytes in ${seconds.toFixed(2)} s (${report.mpps.toFixed(3)} Mpps), ${unfinished} unfinished, ${report.received} received, ${report.kicks} kicks\n`);
      }
    });
}
