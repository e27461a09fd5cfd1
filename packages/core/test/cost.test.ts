import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CoreError, DEFAULT_COST_MODEL, costModelSchema, costRates, loadCostModel, type CostEntry } from "../src/index.js";

function entries(): [string, CostEntry][] {
  const out: [string, CostEntry][] = [];
  for (const [k, v] of Object.entries(DEFAULT_COST_MODEL)) {
    if (k === "stages") continue;
    out.push([k, v as CostEntry]);
  }
  for (const [s, st] of Object.entries(DEFAULT_COST_MODEL.stages)) {
    out.push([`stages.${s}.ratePps`, st.ratePps], [`stages.${s}.latencyNs`, st.latencyNs]);
  }
  return out;
}

describe("cost model", () => {
  it("defaults validate and every entry carries a unit and a source", () => {
    expect(costModelSchema.safeParse(DEFAULT_COST_MODEL).success).toBe(true);
    for (const [name, e] of entries()) {
      expect(e.unit.length, name).toBeGreaterThan(0);
      expect(e.source.length, name).toBeGreaterThan(10);
    }
  });

  it("docs/cost-model.md explains every entry", () => {
    const doc = readFileSync(new URL("../../../docs/cost-model.md", import.meta.url), "utf8");
    for (const [k] of Object.entries(DEFAULT_COST_MODEL)) expect(doc, k).toContain(`\`${k}\``);
    for (const s of Object.keys(DEFAULT_COST_MODEL.stages)) expect(doc, s).toContain(`\`${s}\``);
  });

  it("takes overrides as numbers, entries or JSON, keeping units", () => {
    const m = loadCostModel({ cpuHz: 3e9, cyclesPerVmExit: { value: 900, source: "measured on my box" }, stages: { classifier: { ratePps: 100e6 } } });
    expect(m.cpuHz).toEqual({ value: 3e9, unit: "Hz", source: "user override" });
    expect(m.cyclesPerVmExit.source).toBe("measured on my box");
    expect(m.cyclesPerVmExit.unit).toBe("cycles");
    expect(m.stages["classifier"]!.ratePps.value).toBe(100e6);
    expect(m.stages["classifier"]!.latencyNs.value).toBe(DEFAULT_COST_MODEL.stages["classifier"]!.latencyNs.value);
    const j = loadCostModel(JSON.stringify({ stages: { vxlanDecap: { ratePps: { value: 50e6, unit: "packets/s", source: "vendor X" }, latencyNs: 80 } } }));
    expect(j.stages["vxlanDecap"]!.latencyNs).toEqual({ value: 80, unit: "ns", source: "user override" });
    const r = costRates(j);
    expect(r.stages["vxlanDecap"]!.nsPerPacket).toBe(20);
    expect(r.cpuHz).toBe(DEFAULT_COST_MODEL.cpuHz.value);
  });

  it("refuses bad entries, naming the field", () => {
    const err = (o: unknown): CoreError => {
      try {
        loadCostModel(o);
      } catch (e) {
        return e as CoreError;
      }
      throw new Error("expected an error");
    };
    expect(err({ cpuHz: 0 }).message).toBe("cost model: cpuHz.value: must be greater than 0");
    expect(err({ cpuHz: 0 }).field).toBe("cpuHz.value");
    expect(err({ cyclesPerVmExit: -1 }).message).toMatch(/cyclesPerVmExit.value: Number must be greater than or equal to 0/);
    expect(err({ cyclesPerVmexit: 5 }).message).toMatch(/Unrecognized key\(s\) in object: 'cyclesPerVmexit'/);
    expect(err({ stages: { parser: { ratePps: 0 } } }).message).toMatch(/stages.parser.ratePps.value: must be greater than 0/);
    expect(err({ stages: { newStage: { ratePps: 5 } } }).message).toMatch(/stages.newStage.latencyNs: Required/);
    expect(err("{not json").message).toMatch(/not valid JSON/);
  });
});
