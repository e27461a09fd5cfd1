/**
 * `nfvio tap`: nfvio behind Linux TAP interfaces, until SIGINT/SIGTERM.
 *
 * - `tap respond`: ARP + ICMP echo responder for one IPv4 address.
 * - `tap l2fwd`: forward frames between two TAP interfaces.
 *
 * Addresses must lie in 198.18.0.0/15 (RFC 2544 benchmarking range) unless
 * --allow-any-address. Prints "ready" lines on stderr once the interfaces
 * exist (and are moved into their namespaces), then counters at the end.
 */
import type { Command } from "commander";
import { PacketPool, parseIpv4 } from "@nfvio/packet";
import { TapL2Forwarder, TapPort, TapResponder } from "@nfvio/vhost";
import { CliError, positive } from "../output.js";
import { untilSignal } from "../signals.js";

const BENCH_NET = 0xc6120000; // 198.18.0.0
const BENCH_MASK = 0xfffe0000; // /15

function checkAddress(flag: string, cidr: string | undefined, allowAny: boolean, needPrefix: boolean): void {
  if (cidr === undefined) return;
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(cidr);
  if (!m || (needPrefix && m[2] === undefined)) throw new CliError(`${flag} must be an IPv4 address${needPrefix ? " with a prefix length (a.b.c.d/n)" : " (a.b.c.d[/n])"}, got "${cidr}"`);
  let addr: number;
  try {
    addr = parseIpv4(m[1]!);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`);
  }
  if (m[2] !== undefined && Number(m[2]) > 32) throw new CliError(`${flag}: prefix length ${m[2]} is above 32`);
  if (!allowAny && ((addr & BENCH_MASK) >>> 0) !== BENCH_NET) throw new CliError(`${flag} ${cidr} is outside 198.18.0.0/15 (the benchmarking range); pass --allow-any-address to use it anyway`);
}

function openPort(pool: PacketPool, name: string, netns: string | undefined, kernelIp: string | undefined, portId: number): TapPort {
  try {
    return new TapPort({ pool, name, portId, ...(netns ? { netns } : {}), ...(kernelIp ? { kernelAddress: kernelIp } : {}), up: true });
  } catch (e) {
    throw new CliError(`cannot open TAP ${name}${netns ? ` in netns ${netns}` : ""}: ${(e as Error).message}`);
  }
}

interface RespondOptions {
  name: string;
  netns?: string;
  ip: string;
  kernelIp?: string;
  mac?: string;
  pool: number;
  allowAnyAddress?: boolean;
  json?: boolean;
}

interface L2fwdOptions {
  a: string;
  b: string;
  netnsA?: string;
  netnsB?: string;
  kernelIpA?: string;
  kernelIpB?: string;
  pool: number;
  allowAnyAddress?: boolean;
  json?: boolean;
}

export function registerTap(program: Command): void {
  const tap = program.command("tap").description("nfvio behind Linux TAP interfaces (needs CAP_NET_ADMIN)");
  tap
    .command("respond")
    .description("Answer ARP and ICMP echo for --ip behind a TAP interface until SIGINT/SIGTERM, then print counters")
    .requiredOption("--name <tap>", "TAP interface name (created; removed on exit)")
    .requiredOption("--ip <addr[/len]>", "IPv4 address nfvio answers for, e.g. 198.18.0.1/15")
    .option("--netns <ns>", "move the interface into this network namespace")
    .option("--kernel-ip <addr/len>", "also put this address on the kernel side of the interface, e.g. 198.18.0.2/15")
    .option("--mac <mac>", "MAC address nfvio answers with", "02:6e:66:76:69:6f")
    .option("--pool <n>", "packet buffers", positive("--pool", true), 1024)
    .option("--allow-any-address", "allow addresses outside 198.18.0.0/15")
    .option("--json", "print one JSON object")
    .action(async (opts: RespondOptions) => {
      checkAddress("--ip", opts.ip, !!opts.allowAnyAddress, false);
      checkAddress("--kernel-ip", opts.kernelIp, !!opts.allowAnyAddress, true);
      const pool = new PacketPool({ count: opts.pool });
      const port = openPort(pool, opts.name, opts.netns, opts.kernelIp, 0);
      let responder: TapResponder;
      try {
        responder = new TapResponder(port, { ip: opts.ip.split("/")[0]!, mac: opts.mac ?? "02:6e:66:76:69:6f" }).start();
      } catch (e) {
        port.close();
        throw new CliError((e as Error).message);
      }
      const started = performance.now();
      process.stderr.write(`nfvio tap respond: ready on ${port.name}${opts.netns ? ` (netns ${opts.netns})` : ""}, answering for ${opts.ip}; Ctrl-C to stop\n`);
      const signal = await untilSignal();
      responder.stop();
      port.close();
      const report = { command: "tap respond", name: port.name, netns: opts.netns ?? null, ip: opts.ip, signal, seconds: (performance.now() - started) / 1000, port: port.snapshot(), responder: responder.snapshot(), pool: pool.stats() };
      if (opts.json) process.stdout.write(JSON.stringify(report) + "\n");
      else process.stdout.write(`port ${JSON.stringify(report.port)}\nresponder ${JSON.stringify(report.responder)}\n`);
    });

  tap
    .command("l2fwd")
    .description("Forward frames between two TAP interfaces (bursts of 32, sleeping when idle) until SIGINT/SIGTERM, then print counters")
    .requiredOption("--a <tap>", "first TAP interface name")
    .requiredOption("--b <tap>", "second TAP interface name")
    .option("--netns-a <ns>", "move interface A into this network namespace")
    .option("--netns-b <ns>", "move interface B into this network namespace")
    .option("--kernel-ip-a <addr/len>", "address for the kernel side of A")
    .option("--kernel-ip-b <addr/len>", "address for the kernel side of B")
    .option("--pool <n>", "packet buffers", positive("--pool", true), 4096)
    .option("--allow-any-address", "allow addresses outside 198.18.0.0/15")
    .option("--json", "print one JSON object")
    .action(async (opts: L2fwdOptions) => {
      checkAddress("--kernel-ip-a", opts.kernelIpA, !!opts.allowAnyAddress, true);
      checkAddress("--kernel-ip-b", opts.kernelIpB, !!opts.allowAnyAddress, true);
      const pool = new PacketPool({ count: opts.pool });
      const a = openPort(pool, opts.a, opts.netnsA, opts.kernelIpA, 0);
      let b: TapPort;
      try {
        b = openPort(pool, opts.b, opts.netnsB, opts.kernelIpB, 1);
      } catch (e) {
        a.close();
        throw e;
      }
      const fwd = new TapL2Forwarder(a, b, { burstSize: 32 }).start();
      const started = performance.now();
      process.stderr.write(`nfvio tap l2fwd: ready, ${a.name} <-> ${b.name}; Ctrl-C to stop\n`);
      const signal = await untilSignal();
      fwd.stop();
      a.close();
      b.close();
      const report = { command: "tap l2fwd", a: a.name, b: b.name, signal, seconds: (performance.now() - started) / 1000, forwarder: fwd.snapshot(), ports: { a: a.snapshot(), b: b.snapshot() }, pool: pool.stats() };
      if (opts.json) process.stdout.write(JSON.stringify(report) + "\n");
      else process.stdout.write(`forwarder ${JSON.stringify(report.forwarder)}\na ${JSON.stringify(report.ports.a)}\nb ${JSON.stringify(report.ports.b)}\n`);
    });
}
