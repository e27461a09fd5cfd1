import { describe, expect, it } from "vitest";
import { L1_OVERHEAD, SIMPLE_IMIX, SizeSequence, TrafgenError, describeSizes, l1Bps, l2Bps, lineRatePps, parseDuration, parseRate, parseSizeList, parseSizeSpec, ratePps, wireTimeNs } from "../src/index.js";

describe("rates", () => {
  it("parses pps, L2 bps, L1 bps and % with SI prefixes", () => {
    expect(parseRate("1Mpps")).toEqual({ unit: "pps", value: 1e6 });
    expect(parseRate("250kpps")).toEqual({ unit: "pps", value: 250e3 });
    expect(parseRate("1500")).toEqual({ unit: "pps", value: 1500 });
    expect(parseRate("9.5Gbps")).toEqual({ unit: "bps", value: 9.5e9 });
    expect(parseRate("10Gbps-l1")).toEqual({ unit: "bps-l1", value: 10e9 });
    expect(parseRate("50%")).toEqual({ unit: "%", value: 50 });
    expect(() => parseRate("10 parsecs")).toThrow(TrafgenError);
    expect(() => parseRate("0pps")).toThrow(/positive/);
    expect(() => parseRate("120%")).toThrow(/above 100%/);
  });

  it("bps counts L2 bits (frame with FCS), bps-l1 adds the 20 bytes of preamble, SFD and gap", () => {
    expect(L1_OVERHEAD).toBe(20);
    const line = 10e9;
    // 100% of 10GbE at 64 B: the classic 14,880,952.38 pps.
    expect(lineRatePps(64, line)).toBeCloseTo(14_880_952.38, 2);
    expect(ratePps(parseRate("100%"), 64, line)).toBeCloseTo(14_880_952.38, 2);
    // The same 10 Gbit/s as L1 bits is exactly the line rate...
    expect(ratePps(parseRate("10Gbps-l1"), 64, line)).toBeCloseTo(14_880_952.38, 2);
    // ...but as L2 bits it is 10e9 / (64 × 8) = 19,531,250 pps (above the line: the generator refuses it).
    expect(ratePps(parseRate("10Gbps"), 64, line)).toBe(19_531_250);
    // 1 Gbit/s of 1518-byte frames, L2 vs L1.
    expect(ratePps(parseRate("1Gbps"), 1518, line)).toBeCloseTo(1e9 / (1518 * 8), 9);
    expect(ratePps(parseRate("1Gbps-l1"), 1518, line)).toBeCloseTo(1e9 / (1538 * 8), 9);
    expect(l2Bps(1000, 64)).toBe(512_000);
    expect(l1Bps(1000, 64)).toBe(672_000);
    expect(wireTimeNs(64, 10e9)).toBeCloseTo(67.2, 9);
  });

  it("parses durations", () => {
    expect(parseDuration("2s")).toBe(2e9);
    expect(parseDuration("500ms")).toBe(5e8);
    expect(parseDuration("100us")).toBe(1e5);
    expect(parseDuration("1.5m")).toBe(90e9);
    expect(parseDuration(3)).toBe(3e9);
    expect(() => parseDuration("soon")).toThrow(TrafgenError);
  });
});

describe("sizes", () => {
  it("simple IMIX is 64/570/1518 at 7:4:1, exact over every cycle and spread out", () => {
    expect(SIMPLE_IMIX).toEqual([
      [64, 7],
      [570, 4],
      [1518, 1],
    ]);
    const seq = new SizeSequence("imix");
    expect(seq.cycle.length).toBe(12);
    const counts = new Map<number, number>();
    for (let k = 0; k < 12 * 100; k++) {
      const s = seq.sizes[seq.next()]!;
      counts.set(s, (counts.get(s) ?? 0) + 1);
      if ((k + 1) % 12 === 0) {
        expect(counts.get(64)).toBe(7 * ((k + 1) / 12));
        expect(counts.get(570)).toBe(4 * ((k + 1) / 12));
        expect(counts.get(1518)).toBe(1 * ((k + 1) / 12));
      }
    }
    expect(seq.meanSize).toBeCloseTo((7 * 64 + 4 * 570 + 1518) / 12, 12);
    // No run of the same size longer than 2 in a cycle (smooth WRR).
    const cyc = [...seq.cycle].map((i) => seq.sizes[i]);
    let run = 1;
    for (let k = 1; k < cyc.length; k++) {
      run = cyc[k] === cyc[k - 1] ? run + 1 : 1;
      expect(run).toBeLessThanOrEqual(2);
    }
  });

  it("user mixes are exact per cycle; sweeps step through; parse forms", () => {
    const mix = new SizeSequence(parseSizeSpec("128:3,256:2,64:5"));
    expect(mix.sizes).toEqual([64, 128, 256]);
    const c = [0, 0, 0];
    for (let k = 0; k < 10; k++) c[mix.next()]!++;
    expect(c).toEqual([5, 3, 2]);
    const sw = new SizeSequence(parseSizeSpec("64..80/8"));
    expect([0, 1, 2, 3].map(() => sw.sizes[sw.next()])).toEqual([64, 72, 80, 64]);
    expect(parseSizeList("64,128,256")).toEqual([64, 128, 256]);
    expect(parseSizeList("imix")).toEqual(["imix"]);
    expect(describeSizes("imix")).toBe("imix(64:7,570:4,1518:1)");
    expect(() => parseSizeSpec("big")).toThrow(TrafgenError);
    expect(() => new SizeSequence({ mix: [[64, 0]] })).toThrow(/weight/);
  });
});
