// `nfvio vhost-user --mode vnf` as a child process, driven by `nfvio
// virtio-user` as another: frames go through the VNF and come back; the
// back-end's JSON report carries the VNF's counters. Usage errors in process.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { killChildren, nfvio, stopBackend, waitSockets } from "../../../packages/vhost/test/vhost-user-dpdk-helpers.ts";
import { cli } from "./helpers.js";

const linux = process.platform === "linux" && process.arch === "x64";

const dirs: string[] = [];
afterEach(() => {
  killChildren();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nfvio-cli-vnf-"));
  dirs.push(d);
  return d;
}

interface BackendReport {
  mode: string;
  totals: { rx: { frames: number; bytes: number }; tx: { frames: number }; errors: number };
  vnf: { kind: string; ports: number; counters: Record<string, number> };
}

async function run(backendArgs: string[], frontendArgs: string[], socket: string): Promise<{ fe: { sent: number; received: number; unfinished: number }; be: BackendReport }> {
  const be = nfvio(["vhost-user", "--socket", socket, "--mode", "vnf", ...backendArgs]);
  await waitSockets(be, socket);
  const fe = nfvio(["virtio-user", "--socket", socket, ...frontendArgs]);
  expect(await fe.exited, fe.stderr()).toBe(0);
  return { fe: JSON.parse(fe.stdout().trim()), be: await stopBackend<BackendReport>(be) };
}

describe.runIf(linux)("nfvio vhost-user --mode vnf against nfvio virtio-user (two processes)", () => {
  it("--vnf-kind macswap, 2 queue pairs: every frame goes through the VNF and its counters are reported", async () => {
    const socket = join(tempDir(), "vu.sock");
    const { fe, be } = await run(["--vnf-kind", "macswap", "--queues", "2"], ["--queues", "2", "--count", "5000", "--size", "96", "--packed"], socket);
    expect(fe.sent).toBe(5000);
    expect(fe.unfinished).toBe(0);
    expect(be.mode).toBe("vnf");
    expect(be.vnf.kind).toBe("macswap");
    expect(be.vnf.ports).toBe(2);
    expect(be.totals.tx.frames).toBe(5000);
    expect(be.vnf.counters.rx).toBe(5000);
    expect(be.vnf.counters.tx).toBe(5000);
    expect(be.vnf.counters.dropped ?? 0).toBe(0);
    // Every forwarded frame was delivered, except any dropped and counted while the front-end's receive ring was full.
    expect(be.totals.rx.frames + be.totals.errors).toBe(5000);
    expect(be.totals.rx.bytes).toBe(be.totals.rx.frames * 96);
    expect(fe.received).toBeLessThanOrEqual(be.totals.rx.frames);
  });

  it("--vnf FILE (YAML l2fwd, 2 ports on 1 queue pair): port 1 maps back to pair 0", async () => {
    const dir = tempDir();
    const file = join(dir, "l2fwd.yaml");
    writeFileSync(file, "kind: l2fwd\nconfig:\n  ports:\n    - mac: 02:00:00:00:00:01\n    - mac: 02:00:00:00:00:02\n      peerMac: 02:00:00:00:aa:02\n");
    const { fe, be } = await run(["--vnf", file], ["--count", "2000"], join(dir, "vu.sock"));
    expect(fe.sent).toBe(2000);
    expect(be.vnf).toMatchObject({ kind: "l2fwd", ports: 2 });
    expect(be.vnf.counters.rx).toBe(2000);
    expect(be.vnf.counters.tx).toBe(2000);
    expect(be.totals.rx.frames + be.totals.errors).toBe(2000);
  });
});

describe("nfvio vhost-user --mode vnf: usage errors", () => {
  it("needs exactly one of --vnf and --vnf-kind, and only with --mode vnf", async () => {
    const s = join(tmpdir(), `nfvio-unused-${process.pid}.sock`);
    let r = await cli("vhost-user", "--socket", s, "--mode", "vnf");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--mode vnf needs --vnf FILE or --vnf-kind KIND/);
    r = await cli("vhost-user", "--socket", s, "--mode", "echo", "--vnf-kind", "macswap");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/need --mode vnf/);
    r = await cli("vhost-user", "--socket", s, "--mode", "vnf", "--vnf-kind", "bogus");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--vnf-kind must be one of macswap, l2fwd/);
    r = await cli("vhost-user", "--socket", s, "--mode", "vnf", "--vnf-kind", "router");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/router has no default configuration; give --vnf FILE/);
  });

  it("names the file and field of a bad --vnf configuration", async () => {
    const dir = tempDir();
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ kind: "macswap", config: { output: "sideways" } }));
    const r = await cli("vhost-user", "--socket", join(dir, "vu.sock"), "--mode", "vnf", "--vnf", file);
    expect(r.code).toBe(2);
    expect(r.err).toContain("bad.json: ");
    expect(r.err).toMatch(/config\.output/);
  });
});
