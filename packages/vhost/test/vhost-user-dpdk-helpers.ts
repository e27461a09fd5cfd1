// Running dpdk-testpmd and the nfvio CLI as child processes for the interop
// tests (and the same helpers serve tooling/dpdk). Every process started here
// is tracked by pid and killed by pid if a test ends early.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const CLI_MAIN = join(REPO, "apps/cli/src/main.ts");

function which(cmd: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const TESTPMD = which("dpdk-testpmd");
export const TASKSET = which("taskset");
export const STDBUF = which("stdbuf");

const children = new Set<ChildProcess>();

/** Kill (by pid) every child this module started that is still running. */
export function killChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>;
  write(line: string): void;
  signal(sig: NodeJS.Signals): void;
}

function start(cmd: string, args: string[], opts: { stdin: "ignore" | "pipe"; cpu?: number }): Proc {
  const argv = opts.cpu !== undefined && TASKSET ? [TASKSET, "-c", String(opts.cpu), cmd, ...args] : [cmd, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, stdio: [opts.stdin, "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | string>((res) =>
    child.on("exit", (code, sig) => {
      children.delete(child);
      res(code ?? sig ?? -1);
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    write: (line) => child.stdin?.write(line + "\n"),
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every `everyMs` until it holds; throws after `timeoutMs`, naming `what`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const isSocket = (p: string): boolean => {
  try {
    return lstatSync(p).isSocket();
  } catch {
    return false;
  }
};

/** Wait until each of `sockets` is a socket (`p`, named `what` in messages, listens on them); throws with `p`'s stderr if it exits first. */
export async function waitSockets(p: Proc, sockets: string | readonly string[], what = "nfvio vhost-user", timeoutMs = 30_000): Promise<void> {
  const paths = typeof sockets === "string" ? [sockets] : sockets;
  await waitFor(() => paths.every(isSocket) || p.child.exitCode !== null, timeoutMs, `${what} socket ${paths.join(", ")}`);
  if (p.child.exitCode !== null) throw new Error(`${what} exited: ${p.stderr().slice(-2000)}`);
}

/** `nfvio <command> ... --json` on `cpu` (node with tsx, straight from the sources). */
export function nfvio(args: string[], cpu?: number): Proc {
  return start(process.execPath, ["--import", "tsx", "--conditions=source", CLI_MAIN, ...args, "--json"], { stdin: "ignore", ...(cpu === undefined ? {} : { cpu }) });
}

/** Start `nfvio vhost-user` and wait for its socket (server role). */
export async function startBackend(args: string[], socket: string, cpu = 0, waitSocket = true): Promise<Proc> {
  const p = nfvio(["vhost-user", "--socket", socket, ...args], cpu);
  if (waitSocket) await waitSockets(p, socket);
  else if (p.child.exitCode !== null) throw new Error(`nfvio vhost-user exited: ${p.stderr()}`);
  return p;
}

/** SIGINT a `nfvio vhost-user` and parse the JSON it prints. */
export async function stopBackend<T>(p: Proc): Promise<T> {
  p.signal("SIGINT");
  const code = await p.exited;
  if (code !== 0) throw new Error(`nfvio vhost-user exited with ${code}: ${p.stderr()}`);
  return JSON.parse(p.stdout().trim().split("\n").pop()!) as T;
}

export interface TestpmdOptions {
  /** EAL --file-prefix (unique per run). */
  prefix: string;
  vdev: string;
  /** Main lcore; the other of cores 0 and 1 forwards. */
  mainLcore: 0 | 1;
  /** testpmd application arguments (after --). */
  args: string[];
  /** Interactive (-i) with commands on stdin; else stdin is /dev/null and --stats-period 1 keeps it running. */
  interactive?: boolean;
  /** Line-buffered stdout (stdbuf -oL, when installed), so {@link waitOutput} sees each line as it is printed; always so when interactive. */
  lineBuffered?: boolean;
}

/** dpdk-testpmd on cores 0,1 with the flags our machines need: no hugepages, no PCI, 512 MB, 16384 mbufs. */
export function testpmd(o: TestpmdOptions): Proc {
  const eal = ["-l", "0,1", "--main-lcore", String(o.mainLcore), "--no-huge", "-m", "512", "--no-pci", `--file-prefix=${o.prefix}`, "--vdev", o.vdev];
  const app = ["--total-num-mbufs=16384", ...(o.interactive ? ["-i"] : ["--stats-period", "1"]), ...o.args];
  // Interactive: testpmd's command line writes its prompt and echo straight to fd 1 while stdio buffers
  // the rest of stdout in blocks, so an echo can land mid-line; line-buffered stdout keeps lines whole.
  if ((o.interactive || o.lineBuffered) && STDBUF) return start(STDBUF, ["-oL", TESTPMD ?? "dpdk-testpmd", ...eal, "--", ...app], { stdin: o.interactive ? "pipe" : "ignore" });
  return start(TESTPMD ?? "dpdk-testpmd", [...eal, "--", ...app], { stdin: o.interactive ? "pipe" : "ignore" });
}

/** Remove the runtime directory a testpmd run left (ours, by its unique prefix). */
export function cleanPrefix(prefix: string): void {
  for (const base of ["/var/run/dpdk", join(process.env.XDG_RUNTIME_DIR ?? "/tmp", "dpdk")]) {
    const d = join(base, prefix);
    if (existsSync(d)) rmSync(d, { recursive: true, force: true });
  }
}

export interface TestpmdStats {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** The "Accumulated forward statistics for all ports" block testpmd prints when forwarding stops. */
export function accumulated(out: string): TestpmdStats | null {
  const i = out.lastIndexOf("Accumulated forward statistics for all ports");
  if (i < 0) return null;
  const block = out.slice(i, i + 600);
  const num = (re: RegExp): number => Number(re.exec(block)?.[1] ?? NaN);
  return { rxPackets: num(/RX-packets:\s+(\d+)/), rxDropped: num(/RX-dropped:\s+(\d+)/), txPackets: num(/TX-packets:\s+(\d+)/), txDropped: num(/TX-dropped:\s+(\d+)/) };
}

/** Wait until testpmd has printed `text` (e.g. its prompt or "Port 0: link state change"). */
export function waitOutput(p: Proc, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  return waitFor(() => (typeof text === "string" ? p.stdout().includes(text) : text.test(p.stdout())) || p.child.exitCode !== null, timeoutMs, `testpmd output ${String(text)}`);
}
