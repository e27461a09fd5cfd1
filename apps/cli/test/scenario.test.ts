/**
 * Scenario files: every problem is reported as `file: field.path: reason`,
 * and every built-in scenario loads and runs.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { builtinNames, loadScenario } from "../src/scenario/builtin.js";
import { runScenario } from "../src/scenario/runner.js";
import { ScenarioError, loadScenarioFile, parseScenarioText, type Scenario } from "../src/scenario/schema.js";

const GOOD = `
name: ok
backend: { kind: vhost-net }
vms:
  - name: vm1
    vnf: { kind: macswap, config: { ports: 1 } }
ports:
  - { name: wire0, kind: trafgen }
path: [wire0, vm1, wire0]
traffic:
  streams:
    - { size: 64, rate: 1Mpps }
`;

/** The first problem of a text that must not load. */
function problems(text: string, file = "bad.yaml"): ScenarioError {
  try {
    parseScenarioText(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error("the scenario loaded");
}

describe("scenario schema", () => {
  test("a good scenario loads, with defaults filled in", () => {
    const s = parseScenarioText(GOOD, "ok.yaml");
    expect(s.clock).toBe("model");
    expect(s.vms[0]!.queues).toBe(1);
    expect(s.vms[0]!.queueSize).toBe(256);
    expect(s.vms[0]!.driver).toBe("poll");
  });

  test.each([
    ["unknown backend kind", GOOD.replace("kind: vhost-net", "kind: dpdk"), "backend.kind", /Invalid discriminator value/],
    ["unknown top-level field", GOOD + "colour: blue\n", "", /Unrecognized key.*colour/],
    ["VNF configuration, checked by @nfvio/vnf's schema", GOOD.replace("config: { ports: 1 }", "config: { ports: 1, output: sideways }"), "vms[0].vnf.config.output", /Invalid enum value/],
    ["unknown VNF kind", GOOD.replace("kind: macswap", "kind: teleport"), "vms[0].vnf.kind", /Invalid enum value/],
    ["queue size not a power of two", GOOD.replace("    vnf: { kind: macswap", "    queueSize: 300\n    vnf: { kind: macswap"), "vms[0].queueSize", /power of two/],
    ["path to an unknown endpoint", GOOD.replace("path: [wire0, vm1, wire0]", "path: [wire0, vm9, wire0]"), "path[1]", /"vm9" is neither a VM nor a port/],
    ["a VM inside the path without a VNF", GOOD.replace("    vnf: { kind: macswap, config: { ports: 1 } }\n", ""), "vms[0].vnf", /inside the path, so it needs a VNF/],
    ["a TAP port under the model clock", GOOD.replace("  - { name: wire0, kind: trafgen }", "  - { name: wire0, kind: trafgen }\n  - { name: tap0, kind: tap, ifname: nfv0 }"), "ports[1].kind", /needs clock: real/],
    ["a rate trafgen cannot read", GOOD.replace("rate: 1Mpps", "rate: 3 parsecs"), "traffic.streams[0].rate", /does not parse/],
    ["a frame too small for the signature", GOOD.replace("size: 64", "size: 40"), "traffic.streams[0].size", /too small/],
    ["a duration that is not one", GOOD.replace("backend:", "duration: soon\nbackend:"), "duration", /does not parse/],
    ["a bad cost model override", GOOD.replace("backend:", "cost: { cpuHz: -1 }\nbackend:"), "cost", /cpuHz/],
    ["a name with capitals", GOOD.replace("name: ok", "name: NotOk"), "name", /lowercase/],
  ])("%s: the error names the file, the field and the reason", (_what, text, path, reason) => {
    const e = problems(text);
    const hit = e.issues.find((i) => i.path === path);
    expect(hit, `issues: ${JSON.stringify(e.issues)}`).toBeDefined();
    expect(hit!.reason).toMatch(reason);
    expect(e.message).toContain(`bad.yaml: ${path ? `${path}: ` : ""}`);
    expect(e.file).toBe("bad.yaml");
  });

  test("YAML that does not parse, and files that do not exist, name the file", () => {
    expect(problems("name: [unclosed", "broken.yaml").message).toMatch(/^broken\.yaml: not valid YAML/);
    expect(problems("{", "broken.json").message).toMatch(/^broken\.json: not valid JSON/);
    expect(() => loadScenarioFile("/nonexistent/x.yaml")).toThrow(/\/nonexistent\/x\.yaml: cannot read: ENOENT/);
    expect(() => loadScenario("no-such-scenario")).toThrow(/no-such-scenario: no such file, and not a built-in scenario \(built-in: .*north-south-baseline/);
  });

  test("errors inside a chain name the stage", () => {
    const text = GOOD.replace(
      "vnf: { kind: macswap, config: { ports: 1 } }",
      "vnf: { kind: chain, config: { stages: [{ kind: macswap, config: { ports: 1 } }, { kind: firewall, config: { rules: [{ action: accept, src: 10.0.0.1/8 }] } }] } }",
    );
    const e = problems(text);
    expect(e.issues.some((i) => i.path.startsWith("vms[0].vnf.config.stages[1].config.rules[0]"))).toBe(true);
  });

  describe("from a file", () => {
    let dir = "";
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "nfvio-scn-"));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    test("JSON and YAML files; the file's path is in the message", async () => {
      const f = join(dir, "s.json");
      await writeFile(f, JSON.stringify({ name: "j", backend: { kind: "offload", profile: "tpu" }, vms: [], path: ["a"], traffic: { streams: [] } }));
      try {
        loadScenarioFile(f);
        expect.unreachable();
      } catch (e) {
        const m = (e as Error).message;
        expect(m).toContain(`${f}: backend.profile: Invalid enum value`);
        expect(m).toContain(`${f}: vms: Array must contain at least 1 element(s)`);
        expect(m).toContain(`${f}: path: Array must contain at least 2 element(s)`);
      }
    });
  });
});

describe("built-in scenarios", () => {
  const names = builtinNames();
  test("are the six of the brief", () => {
    expect(names).toEqual(["east-west-accelerated", "east-west-baseline", "north-south-accelerated", "north-south-baseline", "scale-sweep", "service-chain"]);
  });

  test.each(names)("%s loads and runs (a short modelled run delivers frames)", async (name) => {
    const { scenario } = loadScenario(name);
    // The baseline's latency under overload is a few hundred µs: give it time to deliver inside the window.
    const short: Scenario = scenario.backend.kind === "offload" ? { ...scenario, duration: "40us", warmup: "10us", drain: "100us" } : { ...scenario, duration: "400us", warmup: "100us", drain: "200us" };
    const r = await runScenario(short, scenario.sweep ? { vms: 2, queues: 2 } : {});
    expect(r.received).toBeGreaterThan(0);
    expect(r.mpps).toBeGreaterThan(0);
    expect(r.latency.count).toBeGreaterThan(0);
    if (scenario.backend.kind === "offload") expect(r.hostCycles).toBe(0);
    else expect(r.hostCyclesPerPacket).toBeGreaterThan(100);
  });

  test("the service chain runs on both backends and its VNFs do their work (NAT rewrites the source)", async () => {
    const { scenario } = loadScenario("service-chain");
    for (const backend of [{ kind: "vhost-net" as const }, { kind: "offload" as const, profile: "smartnic" as const }]) {
      const r = await runScenario({ ...scenario, backend, duration: "40us", warmup: "10us", drain: "200us" });
      expect(r.received, backend.kind).toBeGreaterThan(0);
      expect(Object.keys(r.drops).filter((k) => k.startsWith("vnf"))).toEqual([]);
    }
  });
});
