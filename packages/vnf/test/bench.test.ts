import { describe, expect, it } from "vitest";
import { formatVnfBench, runVnfBench } from "../src/bench.js";

describe("VNF bench", () => {
  it("runs every case briefly with every packet forwarded", () => {
    const r = runVnfBench({ durationMs: 15, warmupMs: 5, flows: 64 });
    expect(r.map((x) => x.vnf)).toEqual(["macswap", "l2fwd", "router-ipv4", "router-ipv6", "firewall", "nat", "lb", "chain-fw-nat"]);
    for (const x of r) {
      expect(x.forwarded, x.vnf).toBe(1);
      expect(x.mpps, x.vnf).toBeGreaterThan(0);
    }
    expect(r.find((x) => x.vnf === "router-ipv6")!.frameBytes).toBe(64);
    expect(formatVnfBench(r)).toMatch(/^VNF +frame +burst +Mpps/);
  });
});
