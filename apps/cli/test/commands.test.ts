/** Smoke tests of the commands that print results: --json gives one JSON object; files land where asked. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cli } from "./helpers.js";

describe("nfvio commands", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nfvio-cmd-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("demo --json (ring step only): the virtqueue pair moves every frame intact", async () => {
    const r = await cli("demo", "--json", "--no-compare", "--seconds", "0.3", "--ring", "split");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { demo: string; results: { ring: string; lost: number; guest: { received: number; corrupt: number } }[]; compare: unknown };
    expect(j.demo).toBe("virtqueue-pair");
    expect(j.results[0]!.ring).toBe("split");
    expect(j.results[0]!.guest.received).toBeGreaterThan(0);
    expect(j.results[0]!.lost).toBe(0);
    expect(j.results[0]!.guest.corrupt).toBe(0);
    expect(j.compare).toBeNull();
  });

  test("compare --json writes compare.json and a self-contained compare.html", async () => {
    const out = join(dir, "report");
    const r = await cli("compare", "--json", "--quick", "--no-sweep", "--sizes", "64", "--out", out);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { kind: string; rows: { backend: string; mpps: number }[] };
    expect(j.kind).toBe("nfvio.compare");
    expect(j.rows.map((x) => x.backend)).toEqual(["vhost-net", "offload", "vhost-net", "offload"]);
    expect(JSON.parse(await readFile(join(out, "compare.json"), "utf8"))).toEqual(j);
    const html = await readFile(join(out, "compare.html"), "utf8");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).toContain("uPlot");
  });

  test("run SCENARIO --json: a built-in by name with overrides; bad input is a one-line error, exit 2", async () => {
    const r = await cli("run", "north-south-accelerated", "--duration", "30us", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { kind: string; results: { backend: string; received: number; hostCycles: number }[] };
    expect(j.kind).toBe("nfvio.run");
    expect(j.results[0]!.backend).toBe("offload");
    expect(j.results[0]!.received).toBeGreaterThan(0);
    expect(j.results[0]!.hostCycles).toBe(0);
    const bad = await cli("run", "nowhere.yaml");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/nfvio: scenario does not load:\nnowhere\.yaml: no such file/);
    const badBackend = await cli("run", "north-south-baseline", "--backend", "fpga");
    expect(badBackend.code).toBe(2);
    expect(badBackend.err).toMatch(/--backend must be vhost-net or offload/);
  });

  test("run a sweep point and write its report", async () => {
    const r = await cli("run", "scale-sweep", "--vms", "2", "--queues", "2", "--duration", "20us", "--out", dir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/scale-sweep/);
    expect(r.out).toMatch(/Report: .*scale-sweep\.html/);
    const j = JSON.parse(await readFile(join(dir, "scale-sweep.json"), "utf8")) as { results: { vms: number; queues: number }[] };
    expect(j.results.map((x) => [x.vms, x.queues])).toEqual([[2, 2]]);
  });

  test("bench --json runs the packages' bench functions (a quick subset)", async () => {
    const r = await cli("bench", "--only", "parse,gen", "--seconds", "0.1", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { bench: string; parse: { mpps: number }; gen: { mpps: number } };
    expect(j.bench).toBe("all");
    expect(j.parse.mpps).toBeGreaterThan(0);
    expect(j.gen.mpps).toBeGreaterThan(0);
    const bad = await cli("bench", "--only", "warp");
    expect(bad.code).toBe(2);
  });
});
