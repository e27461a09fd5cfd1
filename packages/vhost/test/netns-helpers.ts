// Helpers for the real-kernel TAP tests: unique names, `ip`, namespaces that are always deleted,
// and bounded child processes (every one has a timeout and is killed on failure).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export function has(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why the real-kernel tests cannot run here ("" when they can). */
export function kernelSkipReason(tools: readonly string[]): string {
  if (process.platform !== "linux" || process.arch !== "x64") return "TAP needs Linux x86_64";
  if (process.getuid?.() !== 0) return "needs root (CAP_NET_ADMIN)";
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun is missing";
  const missing = tools.filter((t) => !has(t));
  return missing.length > 0 ? `missing ${missing.join(", ")}` : "";
}

/** `nfvio-<pid>-<rand>` style names; `short` fits an interface name (15 bytes). */
export function uniqueName(prefix = "nfvio"): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
}
export function uniqueIf(prefix: string): string {
  return `${prefix}${(process.pid % 100000).toString(36)}${randomBytes(2).toString("hex")}`.slice(0, 15);
}

export function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** Run a command inside a namespace, bounded; returns stdout. */
export function nsExec(ns: string, args: string[], timeoutMs = 10_000): string {
  return execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
}

/** Namespaces created by a test file; `deleteAll()` in afterAll removes every one, ignoring errors. */
export class Namespaces {
  private readonly names: string[] = [];
  add(): string {
    const ns = uniqueName();
    ip("netns", "add", ns);
    this.names.push(ns);
    ip("-n", ns, "link", "set", "lo", "up");
    // No IPv6 on new links: keeps router/neighbour solicitations out of the frame counts.
    nsExec(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
    return ns;
  }
  deleteAll(): void {
    for (const ns of this.names.splice(0)) {
      try {
        ip("netns", "del", ns);
      } catch (e) {
        console.warn(String(e));
      }
    }
  }
}

export interface Child {
  readonly proc: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves when stderr contains `text` (rejects on exit or after `timeoutMs`). */
  waitFor(text: string | RegExp, timeoutMs: number): Promise<void>;
  /** Resolves with the exit code (kills with SIGKILL after `timeoutMs`). */
  exited(timeoutMs: number): Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawn a bounded child: SIGKILLed after `maxMs` whatever happens. */
export function spawnBounded(cmd: string, args: string[], maxMs: number): Child {
  const proc = spawn(cmd, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const hard = setTimeout(() => proc.kill("SIGKILL"), maxMs);
  const exit = new Promise<number | null>((resolve) => proc.on("exit", (code) => {
    clearTimeout(hard);
    resolve(code);
  }));
  const done = () => proc.exitCode !== null || proc.signalCode !== null;
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitFor(text, timeoutMs) {
      return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const tick = (): void => {
          if (typeof text === "string" ? err.includes(text) : text.test(err)) return resolve();
          if (done()) return reject(new Error(`${cmd} exited (${proc.exitCode ?? proc.signalCode}) before "${String(text)}": ${err.trim()}`));
          if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out waiting for "${String(text)}" from ${cmd}: ${err.trim()}`));
          setTimeout(tick, 20);
        };
        tick();
      });
    },
    async exited(timeoutMs) {
      const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
    kill(signal = "SIGKILL") {
      if (!done()) proc.kill(signal);
    },
  };
}

/** The nfvio CLI from source, as CI runs it. */
export function spawnCli(args: string[], maxMs: number): Child {
  return spawnBounded(process.execPath, ["--import", "tsx", "--conditions=source", "apps/cli/src/main.ts", ...args], maxMs);
}
