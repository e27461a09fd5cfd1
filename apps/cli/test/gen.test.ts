import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test, vi } from "vitest";
import { runCli } from "../src/program.js";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await runCli(["node", "nfvio", "gen", ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("nfvio gen", () => {
  test("--json: one JSON object with per-stream counts, rates and latency; --csv writes the series", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nfvio-gen-"));
    try {
      const csv = join(dir, "s.csv");
      const r = await cli("--rate", "200kpps", "--size", "imix", "--seconds", "0.1", "--streams", "2", "--dut-capacity", "150kpps", "--interval", "20ms", "--csv", csv, "--json");
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out) as { command: string; clock: string; runs: { size: string; result: { streams: { tx: number; received: number; lost: number; askedPps: number; achievedPps: number }[]; series: unknown[] } }[] };
      expect(j.command).toBe("gen");
      expect(j.clock).toBe("model");
      expect(j.runs[0]!.size).toBe("imix(64:7,570:4,1518:1)");
      const s = j.runs[0]!.result.streams;
      expect(s.length).toBe(2);
      expect(s.map((x) => x.tx)).toEqual([10_000, 10_000]);
      for (const x of s) {
        expect(x.askedPps).toBe(100_000);
        expect(x.achievedPps).toBe(100_000);
        expect(x.received + x.lost).toBe(x.tx);
      }
      expect(s[0]!.lost + s[1]!.lost).toBeGreaterThan(0);
      const lines = (await readFile(csv, "utf8")).trim().split("\n");
      expect(lines[0]!.startsWith("t,tx,rx,lost,")).toBe(true);
      expect(lines.length).toBeGreaterThanOrEqual(6);
      expect(r.err).toBe(""); // no progress bar when not on a terminal
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("--rfc2544 throughput --json finds the device's capacity", async () => {
    const r = await cli("--rfc2544", "throughput", "--dut-capacity", "100kpps", "--dut-queue", "8", "--max-rate", "200kpps", "--resolution", "1%", "--trial", "0.1s", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { results: { benchmark: string; rate: { pps: number } }[] };
    expect(j.results[0]!.benchmark).toBe("throughput");
    expect(Math.abs(j.results[0]!.rate.pps - 100_000)).toBeLessThanOrEqual(2_000);
  });

  test("a list of sizes runs once per size; bad options are errors with a message", async () => {
    const r = await cli("--rate", "50kpps", "--size", "64,128", "--seconds", "0.02", "--json");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { runs: { size: string }[] }).runs.map((x) => x.size)).toEqual(["64", "128"]);
    const bad = await cli("--rate", "fast", "--json");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/rate "fast" does not parse/);
    const bad2 = await cli("--rfc2544", "nope", "--trial", "1ms");
    expect(bad2.code).toBe(2);
    expect(bad2.err).toMatch(/--rfc2544 must be/);
  });

  test("--help documents the device under test, rates and the RFC 2544 tests", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: nfvio gen");
    for (const s of ["--dut-capacity", "10Gbps-l1", "RFC 2544 §26.1", "ndrpdr", "--pcap", "--replay", "--clock"]) expect(r.out).toContain(s);
  });
});
