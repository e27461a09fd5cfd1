import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildFrame,
  formatIpv4,
  formatIpv6,
  formatMac,
  PacketError,
  PacketMeta,
  parse,
  parseIpv4,
  parseIpv6,
  parseMac,
  vlanTci,
  writeArp,
  writeAuthHeader,
  writeEthernet,
  writeIcmpEcho,
  writeIpv4,
  writeIpv6,
  writeIpv6ExtHeader,
  writeIpv6Fragment,
  writeTcp,
  writeUdp,
  writeVlanTag,
  writeVxlan,
} from "../src/index.js";
import { fuzzAddrTarget } from "../src/addr.fuzz.js";
import { addrSeeds, mutateText, runFuzz } from "../src/testing.js";
import { hex } from "./helpers.js";

describe("header builders write exact bytes", () => {
  it("Ethernet + 802.1Q tag", () => {
    const b = new Uint8Array(18);
    let o = writeEthernet(b, 0, "00:11:22:33:44:55", parseMac("66-77-88-99-aa-bb"), 0x8100);
    o = writeVlanTag(b, o, vlanTci(100, 5, true), 0x0800);
    expect(o).toBe(18);
    expect(b).toEqual(hex("001122334455 66778899aabb 8100 b064 0800"));
  });
  it("IPv4 header with its checksum (the 0xb861 example)", () => {
    const b = new Uint8Array(20);
    expect(writeIpv4(b, 0, { src: "192.168.0.1", dst: "192.168.0.199", protocol: 17, totalLength: 0x73, dontFragment: true, ttl: 64 })).toBe(20);
    expect(b).toEqual(hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7"));
  });
  it("IPv4 with options: IHL counts them", () => {
    const b = new Uint8Array(24);
    expect(writeIpv4(b, 0, { src: 1, dst: 2, protocol: 6, totalLength: 24, options: Uint8Array.of(1, 1, 1, 0) })).toBe(24);
    expect(b[0]).toBe(0x46);
  });
  it("IPv6 header, extension headers with PadN, fragment, AH", () => {
    const b = new Uint8Array(40 + 16 + 8 + 24);
    let o = writeIpv6(b, 0, { src: "2001:db8::1", dst: "2001:db8::2", nextHeader: 60, payloadLength: 48, trafficClass: 0xa5, flowLabel: 0xabcde, hopLimit: 9 });
    expect(b.subarray(0, 8)).toEqual(hex("6a5abcde 0030 3c 09"));
    o = writeIpv6ExtHeader(b, o, 44, 16);
    expect(b.subarray(40, 56)).toEqual(hex("2c01 010c 000000000000000000000000"));
    o = writeIpv6Fragment(b, o, { nextHeader: 51, offset: 1448, more: true, id: 0x01020304 });
    expect(b.subarray(56, 64)).toEqual(hex("3300 05a9 01020304"));
    o = writeAuthHeader(b, o, 6, 0x1000, 7);
    expect(b.subarray(64, 76)).toEqual(hex("0604 0000 00001000 00000007"));
    expect(o).toBe(88);
  });
  it("ARP (RFC 826 layout)", () => {
    const b = new Uint8Array(28);
    writeArp(b, 0, { op: 2, senderMac: "02:00:00:00:00:01", senderIp: "10.0.0.1", targetMac: "02:00:00:00:00:02", targetIp: "10.0.0.2" });
    expect(b).toEqual(hex("0001 0800 06 04 0002 020000000001 0a000001 020000000002 0a000002"));
  });
  it("TCP, UDP, ICMP echo, VXLAN", () => {
    const t = new Uint8Array(24);
    writeTcp(t, 0, { srcPort: 0x1234, dstPort: 80, seq: 0x01020304, ack: 0x05060708, flags: 0x112, window: 512, options: Uint8Array.of(1, 1, 1, 0) });
    expect(t).toEqual(hex("1234 0050 01020304 05060708 61 12 0200 0000 0000 01010100"));
    const u = new Uint8Array(8);
    writeUdp(u, 0, { srcPort: 53, dstPort: 1024, length: 20 });
    expect(u).toEqual(hex("0035 0400 0014 0000"));
    const i = new Uint8Array(8);
    writeIcmpEcho(i, 0, { type: 8, id: 0xbeef, seq: 3 });
    expect(i).toEqual(hex("08 00 0000 beef 0003"));
    const v = new Uint8Array(8);
    writeVxlan(v, 0, 0x123456);
    expect(v).toEqual(hex("08000000 12345600"));
  });
  it("refuses headers that do not fit and fields out of range", () => {
    expect(() => writeEthernet(new Uint8Array(13), 0, "00:00:00:00:00:00", "00:00:00:00:00:00", 0x800)).toThrow(PacketError);
    expect(() => writeUdp(new Uint8Array(8), 0, { srcPort: 65536, dstPort: 1, length: 8 })).toThrow(/does not fit in 16 bits/);
    expect(() => writeVxlan(new Uint8Array(8), 0, 1 << 24)).toThrow(PacketError);
    expect(() => writeIpv4(new Uint8Array(40), 0, { src: 1, dst: 2, protocol: 6, totalLength: 20, options: new Uint8Array(3) })).toThrow(/multiple of 4/);
    expect(() => writeIpv6ExtHeader(new Uint8Array(40), 0, 6, 12)).toThrow(/multiple of 8/);
    expect(() => vlanTci(4096)).toThrow(PacketError);
  });
});

describe("buildFrame", () => {
  it("pads to 60 bytes by default and can skip checksums", () => {
    const f = buildFrame({ ipv4: { src: 1, dst: 2 }, udp: {}, checksums: false });
    expect(f.length).toBe(60);
    expect(f[40]! | f[41]!).toBe(0);
  });
  it("refuses contradictory specs", () => {
    expect(() => buildFrame({ ipv4: { src: 1, dst: 2 }, ipv6: { src: "::1", dst: "::2" } })).toThrow(PacketError);
    expect(() => buildFrame({ tcp: { srcPort: 1, dstPort: 2 } })).toThrow(/needs ipv4 or ipv6/);
    expect(() => buildFrame({ ipv4: { src: 1, dst: 2 }, tcp: { srcPort: 1, dstPort: 2 }, udp: {} })).toThrow(PacketError);
    expect(() => buildFrame({ vlans: [{ vid: 1 }, { vid: 2 }, { vid: 3 }] })).toThrow(/two VLAN/);
    expect(() => buildFrame({ src: "nope" })).toThrow(/invalid MAC/);
  });
  it("random specs build frames that parse back to the same fields", () => {
    fc.assert(
      fc.property(
        fc.record({
          v6: fc.boolean(),
          l4: fc.constantFrom("tcp", "udp", "icmp"),
          vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
          sport: fc.integer({ min: 0, max: 65535 }),
          dport: fc.integer({ min: 0, max: 65535 }).filter((p) => p !== 4789),
          payload: fc.integer({ min: 0, max: 100 }),
          src4: fc.integer({ min: 0, max: 0xffff_ffff }),
        }),
        (p) => {
          const l3 = p.v6 ? { ipv6: { src: "2001:db8::a", dst: "2001:db8::b" } } : { ipv4: { src: p.src4, dst: 0x0a000001 } };
          const l4 =
            p.l4 === "tcp" ? { tcp: { srcPort: p.sport, dstPort: p.dport } }
            : p.l4 === "udp" ? { udp: { srcPort: p.sport, dstPort: p.dport } }
            : p.v6 ? { icmpv6: { id: p.sport, seq: p.dport } }
            : { icmp: { id: p.sport, seq: p.dport } };
          const f = buildFrame({ vlans: p.vlans.map((vid) => ({ vid })), ...l3, ...l4, payload: p.payload });
          const m = new PacketMeta();
          expect(parse(f, 0, f.length, m)).toBe(true);
          expect(m.vlanCount).toBe(p.vlans.length);
          if (p.vlans.length > 0) expect(m.vlanTci0 & 0xfff).toBe(p.vlans[0]);
          expect(m.etherType).toBe(p.v6 ? 0x86dd : 0x0800);
          if (!p.v6) expect(m.src4).toBe(p.src4);
          if (p.l4 !== "icmp") expect([m.srcPort, m.dstPort]).toEqual([p.sport, p.dport]);
          expect(m.payloadLength).toBe(p.payload);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("address text", () => {
  it("MAC", () => {
    expect(formatMac(parseMac("AA:bb:0C:dd:ee:FF"))).toBe("aa:bb:0c:dd:ee:ff");
    for (const bad of ["", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aaa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff:00"]) expect(() => parseMac(bad)).toThrow(PacketError);
  });
  it("IPv4: dotted decimal, no leading zeros (RFC 6943 §3.1.1)", () => {
    expect(parseIpv4("192.0.2.255")).toBe(0xc00002ff);
    expect(formatIpv4(0xffffffff)).toBe("255.255.255.255");
    for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1.2.3.4 ", "0x1.2.3.4", ""]) expect(() => parseIpv4(bad)).toThrow(PacketError);
  });
  it("IPv6 formatting follows RFC 5952 §4 and §5", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"], // §4.1 leading zeros, §4.2.1 longest run
      ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2: one zero group is not shortened
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // §4.2.3: the longest run
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // §4.2.3: the first of equal runs
      ["2001:DB8::ABCD", "2001:db8::abcd"], // §4.3 lowercase
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"], // §5 IPv4-mapped
      ["64:ff9b::198.51.100.7", "64:ff9b::c633:6407"],
    ];
    for (const [input, want] of cases) expect(formatIpv6(parseIpv6(input))).toBe(want);
  });
  it("IPv6 refuses malformed text", () => {
    for (const bad of ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8", "12345::", "g::", "1.2.3.4::", "::1.2.3", "fe80::1%eth0"]) {
      expect(() => parseIpv6(bad), bad).toThrow(PacketError);
    }
  });
  it("round trips (fast-check) and the address fuzz harness", async () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(parseIpv6(formatIpv6(b))).toEqual(b);
      }),
    );
    fc.assert(fc.property(fc.ipV6(), (t) => fuzzAddrTarget(t)));
    fc.assert(
      fc.property(fc.ipV4(), (t) => {
        expect(formatIpv4(parseIpv4(t))).toBe(t);
      }),
    );
    fc.assert(fc.property(fc.string({ maxLength: 45 }), (t) => fuzzAddrTarget(t)));
    const r = await runFuzz({ seeds: addrSeeds(), target: fuzzAddrTarget, mutator: mutateText, iterations: 20_000, seed: 7 });
    expect(r.failure?.error.message ?? null).toBeNull();
  });
});
