import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PacketMeta, parse, PARSE_MALFORMED_MASK, ParseError, parseErrorNames } from "../src/index.js";
import { fuzzParseTarget, setDirtyFrame } from "../src/parse.fuzz.js";
import { sampleFrames } from "../src/samples.js";
import { parseSeeds, runFuzz } from "../src/testing.js";

const S = sampleFrames();
setDirtyFrame(S.vxlan4_tcp4!);

/** Bits that say "this frame is shorter than its headers or lengths claim". */
const SHORT =
  ParseError.TRUNCATED_L2 |
  ParseError.TRUNCATED_L3 |
  ParseError.TRUNCATED_L4 |
  ParseError.BAD_IP_LENGTH |
  ParseError.BAD_UDP_LENGTH |
  ParseError.BAD_VXLAN |
  ParseError.INNER;

describe("truncation at every byte offset", () => {
  for (const [name, frame] of Object.entries(S)) {
    it(`${name} (${frame.length} bytes) cut at 0..${frame.length - 1}`, () => {
      const m = new PacketMeta();
      for (let len = 0; len < frame.length; len++) {
        // A fresh copy of exactly `len` bytes: any read past it would be undefined.
        const cut = frame.slice(0, len);
        let ok = true;
        expect(() => (ok = parse(cut, 0, len, m))).not.toThrow();
        if (ok || (m.errors & SHORT) === 0) {
          throw new Error(`${name} cut to ${len}: ok=${ok} errors=${parseErrorNames(m.errors).join(",") || "none"}`);
        }
        expect(ok).toBe(false);
        // Also as a range inside the whole frame: same verdict, nothing read past len.
        const m2 = new PacketMeta();
        parse(frame, 0, len, m2);
        expect(m2.errors).toBe(m.errors);
        fuzzParseTarget(cut);
      }
      expect(parse(frame, 0, frame.length, m)).toBe(true);
    });
  }
});

describe("lengths that lie", () => {
  const lie16 = (name: string, at: number, values: number[]): void => {
    const f = S[name]!;
    for (const v of values) {
      const b = f.slice();
      b[at] = v >> 8;
      b[at + 1] = v & 0xff;
      fuzzParseTarget(b);
    }
  };
  // Every value up to well past the frame sizes, then a sparse sweep and the top of the range.
  const lengths = [
    ...Array.from({ length: 600 }, (_, i) => i),
    ...Array.from({ length: 650 }, (_, i) => 600 + i * 100),
    ...Array.from({ length: 64 }, (_, i) => 65535 - i),
  ];
  it("IPv4 total lengths", () => lie16("tcp4", 16, lengths));
  it("IPv6 payload lengths", () => lie16("ipv6_ext_chain", 18, lengths));
  it("UDP lengths", () => lie16("udp4", 38, lengths));
  it("VXLAN outer UDP lengths, and the inner IPv4 total length", () => {
    lie16("vxlan4_tcp4", 38, lengths);
    lie16("vxlan4_tcp4", 66, lengths);
  });
  it("every IHL and TCP data offset", () => {
    for (let v = 0; v < 256; v++) {
      const a = S.tcp4_options!.slice();
      a[14] = v;
      fuzzParseTarget(a);
      const b = S.tcp4_options!.slice();
      b[50] = v;
      fuzzParseTarget(b);
    }
  });
  it("every IPv6 extension header length and next header", () => {
    for (let v = 0; v < 256; v++) {
      for (const at of [54, 55, 62, 63, 78, 79]) {
        const b = S.ipv6_ext_chain!.slice();
        b[at] = v;
        fuzzParseTarget(b);
      }
    }
  });
  it("every IPv4 option length at every option position", () => {
    const base = S.tcp4_options!;
    for (let at = 34; at < 38; at++) {
      for (let v = 0; v < 256; v++) {
        const b = base.slice();
        b[at] = v;
        fuzzParseTarget(b);
      }
    }
  });
  it("IPv4 option area of all NOPs, and one long option filling 40 bytes", () => {
    const f = S.tcp4_options!;
    const mk = (opts: number[]): Uint8Array => {
      const b = new Uint8Array(f.length + 36);
      b.set(f.subarray(0, 14));
      b[14] = 0x4f;
      b.set(f.subarray(15, 34), 15);
      b.set(opts, 34);
      b.set(f.subarray(38), 74);
      b[16] = 0;
      b[17] = b.length - 14;
      return b;
    };
    const nops = mk(new Array<number>(40).fill(1));
    const m = new PacketMeta();
    expect(parse(nops, 0, nops.length, m)).toBe(true);
    expect(m.l4Offset).toBe(74);
    const long = mk([130, 40, ...new Array<number>(38).fill(0)]);
    expect(parse(long, 0, long.length, m)).toBe(true);
    const tooLong = mk([130, 41, ...new Array<number>(38).fill(0)]);
    expect(parse(tooLong, 0, tooLong.length, m)).toBe(false);
    expect(m.errors & ParseError.BAD_IP_OPTION).toBeTruthy();
  });
});

describe("random input (fast-check)", () => {
  it("random bytes: never throws, offsets in bounds, no reads outside the range", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 255 }), (bytes, g) => {
        fuzzParseTarget(bytes, g);
      }),
      { numRuns: 3000 },
    );
  });

  it("random bytes behind a valid Ethernet/IPv4/IPv6 header", () => {
    const prefixes = [S.tcp4!.subarray(0, 14), S.tcp6!.subarray(0, 14), S.vlan_tcp4!.subarray(0, 18), S.tcp4!.subarray(0, 24), S.tcp6!.subarray(0, 54)];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: prefixes.length - 1 }), fc.uint8Array({ maxLength: 120 }), (i, tail) => {
        const p = prefixes[i]!;
        const b = new Uint8Array(p.length + tail.length);
        b.set(p);
        b.set(tail, p.length);
        fuzzParseTarget(b);
      }),
      { numRuns: 3000 },
    );
  });

  it("sample frames with random byte overwrites", () => {
    const frames = Object.values(S);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: frames.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (fi, edits, cut) => {
          const f = frames[fi]!.slice();
          for (const [pos, v] of edits) f[pos % f.length] = v;
          const b = f.subarray(0, cut % (f.length + 1)).slice();
          fuzzParseTarget(b);
          const m = new PacketMeta();
          expect(parse(b, 0, b.length, m)).toBe((m.errors & PARSE_MALFORMED_MASK) === 0);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("random offsets and lengths, in range or not", () => {
    const f = S.vxlan4_tcp4!;
    fc.assert(
      fc.property(fc.integer({ min: -5, max: f.length + 5 }), fc.integer({ min: -5, max: f.length + 5 }), (o, l) => {
        const m = new PacketMeta();
        expect(() => parse(f, o, l, m)).not.toThrow();
        const inRange = o >= 0 && l >= 0 && o + l <= f.length;
        expect((m.errors & ParseError.BAD_RANGE) !== 0).toBe(!inRange);
      }),
    );
  });
});

describe("fuzz harness (mutations of the sample frames)", () => {
  it("20 000 mutated inputs, fixed seed", async () => {
    const r = await runFuzz({ seeds: parseSeeds(), target: fuzzParseTarget, iterations: 20_000, seed: 0x5eed });
    expect(r.failure?.error.message ?? null).toBeNull();
    expect(r.iterations).toBe(20_000);
  });
});
