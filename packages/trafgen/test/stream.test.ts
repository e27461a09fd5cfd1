import { ModelClock, PacketPool } from "@nfvio/core";
import { Burst, formatIpv4, formatIpv6, formatMac } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import { Generator, LoopbackPort, readSignature, runPort, SIGNATURE_MAGIC, Stream, TrafgenError, type FieldSpec, type StreamSpec } from "../src/index.js";
import { checkFrame } from "./helpers.js";

function frames(spec: StreamSpec, n: number): { pool: PacketPool; idx: number[] } {
  const pool = new PacketPool({ count: Math.max(256, n + 64) });
  const gen = new Generator(pool, [spec]);
  const b = new Burst(32);
  const idx: number[] = [];
  while (idx.length < n) {
    b.clear();
    if (gen.fillUntil(b, Infinity) === 0) break;
    for (let k = 0; k < b.count; k++) idx.push(b.idx[k]!);
  }
  gen.close();
  return { pool, idx: idx.slice(0, n) };
}

describe("frames and signatures", () => {
  it("writes the signature at the tail: magic, stream id, sequence, scheduled time", () => {
    const { pool, idx } = frames({ id: 9, rate: "1Mpps", size: 64, count: 3 }, 3);
    const sig = { stream: 0, seq32: 0, txNs: 0 };
    idx.forEach((i, k) => {
      expect(pool.len[i]).toBe(60); // 64-byte frame: 60 stored + 4 FCS
      expect(readSignature(pool.view, pool.start(i), pool.len[i]!, sig)).toBe(true);
      expect(sig).toEqual({ stream: 9, seq32: k, txNs: k * 1000 });
      expect(pool.view.getUint16(pool.start(i) + 44)).toBe(SIGNATURE_MAGIC);
      checkFrame(pool, i);
    });
  });

  it("refuses a size too small for headers + signature", () => {
    expect(() => new Stream({ size: 64, template: { ip: "ipv6" } })).toThrow(/too small.*at least 82/);
    expect(() => new Stream({ size: 64, template: { vlan: 5 } })).toThrow(TrafgenError);
    expect(() => new Stream({ rate: "20Mpps", lineRate: "10G" })).toThrow(/above the line rate/);
  });

  const cases: { name: string; template: StreamSpec["template"]; sizes: StreamSpec["size"] }[] = [
    { name: "UDP/IPv4", template: {}, sizes: "64..71" },
    { name: "TCP/IPv4 VLAN", template: { l4: "tcp", vlan: 100 }, sizes: "78..85" },
    { name: "UDP/IPv6", template: { ip: "ipv6" }, sizes: "82..89" },
    { name: "TCP/IPv6", template: { ip: "ipv6", l4: "tcp" }, sizes: "94..101" },
  ];
  for (const c of cases) {
    it(`${c.name}: every checksum stays right with every field varied, even and odd sizes`, () => {
      const fields: FieldSpec[] = [
        { field: "srcIp", mode: "inc", count: 300 },
        { field: "dstIp", mode: "random", seed: 5 },
        { field: "srcPort", mode: "dec", from: 1000, to: 1010 },
        { field: "dstPort", mode: "random", from: 0, to: 65535 },
        { field: "srcMac", mode: "inc", count: 7 },
      ];
      if (c.template?.vlan !== undefined) fields.push({ field: "vlan", mode: "inc", from: 1, to: 4094 });
      const { pool, idx } = frames({ template: c.template, size: c.sizes, rate: 1000, fields }, 600);
      expect(idx.length).toBe(600);
      for (const i of idx) checkFrame(pool, i);
    });
  }
});

describe("field variation", () => {
  const values = (spec: FieldSpec, template: StreamSpec["template"] = {}, n = 8): string[] => {
    const { pool, idx } = frames({ template, size: 128, rate: 1000, fields: [spec] }, n);
    return idx.map((i) => {
      const m = checkFrame(pool, i);
      const b = pool.bytes(i);
      switch (spec.field) {
        case "srcMac":
          return formatMac(b, 6);
        case "dstMac":
          return formatMac(b, 0);
        case "srcIp":
          return m.etherType === 0x86dd ? formatIpv6(b, m.srcAddrOffset) : formatIpv4(m.src4);
        case "dstIp":
          return m.etherType === 0x86dd ? formatIpv6(b, m.dstAddrOffset) : formatIpv4(m.dst4);
        case "srcPort":
          return String(m.srcPort);
        case "dstPort":
          return String(m.dstPort);
        case "vlan":
          return `${m.vlanId}/${m.vlanTci0 >> 13}`;
      }
    });
  };

  it("inc with count and step wraps after count values", () => {
    expect(values({ field: "srcIp", from: "10.0.0.254", count: 3, step: 1 }, {}, 7)).toEqual(["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.0.254"]);
    expect(values({ field: "dstPort", from: 100, count: 3, step: 10 }, {}, 4)).toEqual(["100", "110", "120", "100"]);
  });

  it("dec walks down from the top of the range", () => {
    expect(values({ field: "srcPort", mode: "dec", from: 5, to: 7 }, {}, 5)).toEqual(["7", "6", "5", "7", "6"]);
  });

  it("random stays in the range, is seeded and repeatable", () => {
    const a = values({ field: "dstPort", mode: "random", from: 1000, to: 1003, seed: 42 }, {}, 200);
    expect(new Set(a)).toEqual(new Set(["1000", "1001", "1002", "1003"]));
    expect(values({ field: "dstPort", mode: "random", from: 1000, to: 1003, seed: 42 }, {}, 200)).toEqual(a);
    expect(values({ field: "dstPort", mode: "random", from: 1000, to: 1003, seed: 43 }, {}, 200)).not.toEqual(a);
  });

  it("MACs over 48 bits, carrying into the high bytes", () => {
    expect(values({ field: "dstMac", from: "02:00:00:ff:ff:ff", count: 2 }, {}, 3)).toEqual(["02:00:00:ff:ff:ff", "02:00:01:00:00:00", "02:00:00:ff:ff:ff"]);
  });

  it("IPv6 addresses over their low 48 bits", () => {
    expect(values({ field: "dstIp", from: "2001:2::ffff:ffff", count: 2 }, { ip: "ipv6" }, 2)).toEqual(["2001:2::ffff:ffff", "2001:2::1:0:0"]);
    expect(() => new Stream({ template: { ip: "ipv6" }, size: 128, fields: [{ field: "dstIp", from: "2001:3::1", count: 2 }] })).toThrow(/high 80 bits/);
  });

  it("the VLAN id changes and the PCP stays", () => {
    expect(values({ field: "vlan", from: 4094, count: 2 }, { vlan: 7, pcp: 5 }, 3)).toEqual(["4094/5", "4095/5", "4094/5"]);
    expect(() => new Stream({ fields: [{ field: "vlan", count: 2 }] })).toThrow(/no VLAN tag/);
  });

  it("inc/dec need a range", () => {
    expect(() => new Stream({ fields: [{ field: "srcPort" }] })).toThrow(/"to" or "count"/);
  });
});

describe("rate in modelled time", () => {
  // Non-integer inter-frame gaps included: 3333.333 pps (300,000.03 ns), 14,880.952 pps (67,200 ns),
  // 54,321.7 pps (18,408.74 ns).
  for (const pps of [1000, 3333.333, 14880.952380952382, 54321.7]) {
    it(`${pps} pps over 10 s of modelled time is within 0.1% (and exact to the frame)`, async () => {
      const pool = new PacketPool({ count: 4096 });
      const clock = new ModelClock();
      const port = new LoopbackPort(pool, clock);
      const r = await runPort({ port, pool, clock, streams: [{ rate: pps, size: 64 }], durationNs: 10e9, drainNs: 0, intervalNs: 1e9 });
      const s = r.streams[0]!;
      // Frames k with k / pps < 10 s: ceil(10 × pps).
      expect(s.tx).toBe(Math.ceil(10 * pps - 1e-9));
      expect(Math.abs(s.achievedPps - pps) / pps).toBeLessThan(1e-3);
      expect(s.received).toBe(s.tx);
      // Every 1-s interval carries the rate to within one frame.
      expect(r.series.length).toBe(10);
      for (const row of r.series) expect(Math.abs(row.tx - pps)).toBeLessThanOrEqual(1);
      expect(pool.stats().inUse).toBe(0);
    });
  }

  it("bursts leave back to back at the line rate and keep the mean rate", () => {
    const pool = new PacketPool({ count: 256 });
    const gen = new Generator(pool, [{ rate: 1e6, size: 64, burst: 4, lineRate: "10G", count: 8 }]);
    const b = new Burst(8);
    const times = new Float64Array(8);
    gen.fillUntil(b, Infinity, times);
    const w = 67.2; // (64 + 20) × 8 / 10 Gbit/s
    const want = [0, w, 2 * w, 3 * w, 4000, 4000 + w, 4000 + 2 * w, 4000 + 3 * w];
    [...times].forEach((t, k) => expect(t).toBeCloseTo(want[k]!, 6));
    pool.freeBurst(b);
    gen.close();
  });
});
