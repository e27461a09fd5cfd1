import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addSums,
  buildFrame,
  checksumUpdate16,
  checksumUpdate32,
  ChecksumStatus,
  fillChecksums,
  internetChecksum,
  ipv4HeaderChecksum,
  l4Checksum,
  onesComplementSum,
  PacketError,
  PacketMeta,
  parse,
  patchChecksum16,
  patchChecksum32,
  pseudoHeaderSum4,
  setIpv4HeaderChecksum,
  setL4Checksum,
  verifyChecksums,
  verifyInternetChecksum,
  verifyIpv4HeaderChecksum,
  verifyL4Checksum,
} from "../src/index.js";
import { sampleFrames } from "../src/samples.js";
import { get16, hex, put16 } from "./helpers.js";

describe("RFC 1071 worked example (§3)", () => {
  const bytes = hex("00 01 f2 03 f4 f5 f6 f7");
  it("sums to 0xddf2 (0x2ddf0 with the carry folded) and checks as 0x220d", () => {
    expect(onesComplementSum(bytes, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(bytes, 0, 8)).toBe(0x220d);
  });
  it("byte order independence (§2(B)): swapped input gives the swapped sum", () => {
    const swapped = hex("01 00 03 f2 f5 f4 f7 f6");
    expect(onesComplementSum(swapped, 0, 8)).toBe(0xf2dd);
  });
  it("an odd byte is padded with zero (§4.1)", () => {
    expect(onesComplementSum(hex("00 01 f2"), 0, 3)).toBe(0xf201);
  });
  it("the range with its checksum appended verifies", () => {
    const withSum = hex("00 01 f2 03 f4 f5 f6 f7 22 0d");
    expect(verifyInternetChecksum(withSum, 0, 10)).toBe(true);
    withSum[0] = 1;
    expect(verifyInternetChecksum(withSum, 0, 10)).toBe(false);
  });
  it("ranges are checked", () => {
    expect(() => onesComplementSum(bytes, 4, 5)).toThrow(PacketError);
    expect(() => onesComplementSum(bytes, -1, 2)).toThrow(PacketError);
  });
  it("large ranges fold correctly", () => {
    const big = new Uint8Array(200_001).fill(0xff);
    expect(onesComplementSum(big, 0, 200_000)).toBe(0xffff);
    // The odd last byte is padded to 0xff00; 0xffff words add nothing mod 0xffff.
    expect(onesComplementSum(big, 0, big.length)).toBe(0xff00);
    big.fill(0x01);
    // 100000 words of 0x0101 plus 0x0100: exact sum folded.
    let s = 100_000 * 0x0101 + 0x0100;
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
    expect(onesComplementSum(big, 0, big.length)).toBe(s);
  });
});

describe("IPv4 header checksum (RFC 791 §3.1)", () => {
  // A commonly quoted UDP/IPv4 header: 192.168.0.1 -> 192.168.0.199, checksum 0xb861.
  const header = hex("45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7");
  it("computes 0xb861 ignoring the stored field, and verifies", () => {
    expect(ipv4HeaderChecksum(header, 0)).toBe(0xb861);
    expect(verifyIpv4HeaderChecksum(header, 0)).toBe(true);
    const z = header.slice();
    z[10] = 0;
    z[11] = 0;
    expect(setIpv4HeaderChecksum(z, 0)).toBe(0xb861);
    expect(z).toEqual(header);
    z[8] = 63;
    expect(verifyIpv4HeaderChecksum(z, 0)).toBe(false);
  });
});

describe("L4 checksums over pseudo-headers", () => {
  it("UDP over IPv4 (RFC 768): known value 0xa4c7", () => {
    const f = buildFrame({ ipv4: { src: "192.0.2.1", dst: "198.51.100.7" }, udp: { srcPort: 1234, dstPort: 5678 }, payload: new TextEncoder().encode("nfvio"), padTo: 0 });
    expect(get16(f, 34 + 6)).toBe(0xa4c7);
    expect(l4Checksum(f, 14, 34, 13, 17)).toBe(0xa4c7);
    expect(verifyL4Checksum(f, 14, 34, 13, 17)).toBe(true);
  });
  it("TCP over IPv6 (RFC 8200 §8.1): known value 0xa7a7", () => {
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2" }, tcp: { srcPort: 80, dstPort: 1024, seq: 1, flags: 2, window: 1000 }, padTo: 0 });
    expect(get16(f, 54 + 16)).toBe(0xa7a7);
    expect(verifyL4Checksum(f, 14, 54, 20, 6)).toBe(true);
  });
  it("UDP: a computed 0 is sent as 0xffff; a received 0 is 'none' over IPv4 only", () => {
    const f = buildFrame({ ipv4: { src: 1, dst: 2 }, udp: { srcPort: 1, dstPort: 2 }, payload: 2, padTo: 0 });
    // Choose payload bytes so the sum is 0xffff, i.e. the checksum would be 0.
    put16(f, 40, 0);
    f[42] = 0;
    f[43] = 0;
    const c = l4Checksum(f, 14, 34, 10, 17);
    put16(f, 42, c);
    expect(l4Checksum(f, 14, 34, 10, 17)).toBe(0xffff);
    put16(f, 40, 0);
    expect(verifyL4Checksum(f, 14, 34, 10, 17)).toBe(true);
    const v6 = buildFrame({ ipv6: { src: "::1", dst: "::2" }, udp: {}, payload: 4, padTo: 0 });
    put16(v6, 60, 0);
    expect(verifyL4Checksum(v6, 14, 54, 12, 17)).toBe(false);
  });
  it("ICMPv4 has no pseudo-header; ICMPv6 has one (RFC 4443 §2.3)", () => {
    const f4 = sampleFrames().icmp4_echo!;
    expect(internetChecksum(f4, 34, f4.length - 34)).toBe(0);
    expect(verifyL4Checksum(f4, 14, 34, f4.length - 34, 1)).toBe(true);
    const f6 = sampleFrames().icmpv6_ns!;
    expect(verifyInternetChecksum(f6, 54, f6.length - 54)).toBe(false);
    expect(verifyL4Checksum(f6, 14, 54, f6.length - 54, 58)).toBe(true);
  });
  it("pseudo-header sums compose with segment sums", () => {
    const f = sampleFrames().tcp4!;
    const s = pseudoHeaderSum4(f, 14, 6, f.length - 34);
    expect(onesComplementSum(f, 34, f.length - 34, s)).toBe(0xffff);
  });
  it("every sample frame has correct checksums, and fillChecksums restores them", () => {
    const m = new PacketMeta();
    for (const [name, f] of Object.entries(sampleFrames())) {
      parse(f, 0, f.length, m);
      const status = verifyChecksums(f, m);
      expect({ name, bad: status & (ChecksumStatus.BAD_IP | ChecksumStatus.BAD_L4) }).toEqual({ name, bad: 0 });
      const broken = f.slice();
      if (m.l4Offset >= 0 && m.l4Proto !== 132) {
        const field = m.l4Proto === 6 ? 16 : m.l4Proto === 17 ? 6 : 2;
        if (m.l4Proto === 17 && get16(f, m.l4Offset + 6) === 0) continue;
        broken[m.l4Offset + field]! ^= 0x40;
        if (m.etherType === 0x0800) broken[m.l3Offset + 10]! ^= 0x01;
        parse(broken, 0, broken.length, m);
        expect(verifyChecksums(broken, m) & ChecksumStatus.BAD_L4).toBeTruthy();
        fillChecksums(broken, m);
        expect(broken).toEqual(f);
      }
    }
  });
});

describe("incremental update (RFC 1624)", () => {
  it("the §4 example: m 0x5555 -> 0x3285, HC 0xdd2f -> 0x0000 (not RFC 1141's 0xffff)", () => {
    expect(checksumUpdate16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
    // Full recomputation agrees: the other words sum to 0xcd7a.
    expect(~addSums(0xcd7a, 0x5555) & 0xffff).toBe(0xdd2f);
    expect(~addSums(0xcd7a, 0x3285) & 0xffff).toBe(0x0000);
  });

  const tcp4 = fc.record({
    src: fc.integer({ min: 1, max: 0xffff_ffff }),
    dst: fc.integer({ min: 1, max: 0xffff_ffff }),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    payload: fc.uint8Array({ maxLength: 40 }),
    udp: fc.boolean(),
  });

  it("full recompute == incremental update, for address (32-bit), port and TTL (16-bit) rewrites", () => {
    fc.assert(
      fc.property(tcp4, fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 255 }), (p, newSrc, newPort, newTtl) => {
        const l4 = p.udp ? { udp: { srcPort: p.sport, dstPort: p.dport === 4789 ? 4790 : p.dport } } : { tcp: { srcPort: p.sport, dstPort: p.dport, flags: 0x10 } };
        const f = buildFrame({ ipv4: { src: p.src, dst: p.dst, ttl: p.ttl }, ...l4, payload: p.payload, padTo: 0 });
        const csumAt = 34 + (p.udp ? 6 : 16);
        const inc = f.slice();
        // NAT-style source rewrite: IPv4 header and L4 pseudo-header both change.
        const oldSrc = p.src >>> 0;
        inc[26] = newSrc >>> 24;
        inc[27] = newSrc >>> 16;
        inc[28] = newSrc >>> 8;
        inc[29] = newSrc;
        patchChecksum32(inc, 24, oldSrc, newSrc);
        patchChecksum32(inc, csumAt, oldSrc, newSrc, p.udp);
        // Port rewrite.
        put16(inc, 34, newPort);
        patchChecksum16(inc, csumAt, p.sport, newPort, p.udp);
        // TTL: the 16-bit word TTL|protocol.
        const proto = p.udp ? 17 : 6;
        inc[22] = newTtl;
        patchChecksum16(inc, 24, (p.ttl << 8) | proto, (newTtl << 8) | proto);
        const full = inc.slice();
        setIpv4HeaderChecksum(full, 14);
        setL4Checksum(full, 14, 34, f.length - 34, proto);
        expect(get16(inc, 24)).toBe(get16(full, 24));
        expect(get16(inc, csumAt)).toBe(get16(full, csumAt));
        expect(verifyIpv4HeaderChecksum(inc, 14)).toBe(true);
        expect(verifyL4Checksum(inc, 14, 34, f.length - 34, proto)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("checksumUpdate32 == two checksumUpdate16 calls, and both == recompute over random words", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 2, maxLength: 30 }), fc.nat(), fc.integer({ min: 0, max: 0xffff_ffff }), (words, at, nv) => {
        if (!words.some((w) => w !== 0)) words[0] = 1;
        const i = at % (words.length - 1);
        const bytes = new Uint8Array(words.length * 2);
        words.forEach((w, k) => put16(bytes, 2 * k, w));
        const hc = internetChecksum(bytes, 0, bytes.length);
        const old = ((words[i]! << 16) | words[i + 1]!) >>> 0;
        put16(bytes, 2 * i, nv >>> 16);
        put16(bytes, 2 * i + 2, nv & 0xffff);
        if (bytes.every((b) => b === 0)) return;
        const want = internetChecksum(bytes, 0, bytes.length);
        expect(checksumUpdate32(hc, old, nv)).toBe(want);
        const step = checksumUpdate16(checksumUpdate16(hc, words[i]!, nv >>> 16), words[i + 1]!, nv & 0xffff);
        expect(step).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it("a UDP checksum of 0 ('none') is left alone; a result of 0 is stored as 0xffff", () => {
    const b = new Uint8Array(2);
    patchChecksum16(b, 0, 0x1234, 0x4321, true);
    expect(get16(b, 0)).toBe(0);
    // HC 0xdd2f with the RFC 1624 change yields 0x0000, stored as 0xffff for UDP.
    put16(b, 0, 0xdd2f);
    patchChecksum16(b, 0, 0x5555, 0x3285, true);
    expect(get16(b, 0)).toBe(0xffff);
  });
});

describe("onesComplementSum properties", () => {
  it("composes over an even split (RFC 1071 §2(B) 'associative')", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (b, k) => {
        const cut = (k % (b.length + 1)) & ~1;
        const whole = onesComplementSum(b, 0, b.length);
        const parts = addSums(onesComplementSum(b, 0, cut), onesComplementSum(b, cut, b.length - cut));
        // +0 and -0 (0x0000 / 0xffff) are the same number in one's complement.
        expect(whole % 0xffff).toBe(parts % 0xffff);
      }),
    );
  });
});
