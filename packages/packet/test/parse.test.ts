import { describe, expect, it } from "vitest";
import {
  buildFrame,
  EtherType,
  FragFlag,
  IpProto,
  PacketMeta,
  parse,
  ParseError,
  parseErrorNames,
  TcpFlag,
  formatIpv6,
  formatMac,
  readIpv4,
  parseIpv4,
} from "../src/index.js";
import { PARSER_ERROR_BITS } from "../src/parse.js";
import { sampleFrames } from "../src/samples.js";
import { get16, hex, parsed, put16 } from "./helpers.js";

const S = sampleFrames();

describe("error bits", () => {
  it("the parser's literal bits equal the exported ParseError", () => {
    expect(PARSER_ERROR_BITS).toEqual(ParseError);
  });
  it("names bits", () => {
    expect(parseErrorNames(ParseError.BAD_IHL | ParseError.TRUNCATED_L4)).toEqual(["TRUNCATED_L4", "BAD_IHL"]);
  });
});

describe("a hand-written TCP/IPv4 frame", () => {
  // Ethernet + the IPv4 header often used as a checksum example (checksum
  // 0xb861, protocol changed here to TCP and recomputed below is not
  // needed: the parser does not verify checksums) + a TCP SYN.
  const frame = hex(`
    00 11 22 33 44 55  66 77 88 99 aa bb  08 00          # Ethernet
    45 00 00 2c 1c 46 40 00 40 06 00 00 c0 a8 00 01 c0 a8 00 c7   # IPv4, total 44
    d4 31 00 50 00 00 00 01 00 00 00 00 60 02 ff ff 00 00 00 00   # TCP, doff 6, SYN
    02 04 05 b4                                         # MSS option
  `);
  it("fills every field", () => {
    const m = new PacketMeta();
    expect(parse(frame, 0, frame.length, m)).toBe(true);
    expect(m.errors).toBe(0);
    expect(m.l2Offset).toBe(0);
    expect(m.length).toBe(58);
    expect(m.etherType).toBe(0x0800);
    expect(m.vlanCount).toBe(0);
    expect(m.l3Offset).toBe(14);
    expect(m.l3Length).toBe(44);
    expect(m.ipTtl).toBe(64);
    expect(m.fragFlags).toBe(FragFlag.DONT);
    expect(m.fragId).toBe(0x1c46);
    expect(m.src4).toBe(0xc0a80001);
    expect(m.dst4).toBe(0xc0a800c7);
    expect(readIpv4(frame, m.srcAddrOffset)).toBe(parseIpv4("192.168.0.1"));
    expect(m.l4Proto).toBe(IpProto.TCP);
    expect(m.l4Offset).toBe(34);
    expect(m.srcPort).toBe(0xd431);
    expect(m.dstPort).toBe(80);
    expect(m.tcpFlags).toBe(TcpFlag.SYN);
    expect(m.payloadOffset).toBe(58);
    expect(m.payloadLength).toBe(0);
    expect(m.tunnel).toBe(0);
  });
  it("parses the same frame at an offset inside a larger buffer", () => {
    const big = new Uint8Array(200).fill(0xee);
    big.set(frame, 77);
    const m = parsed(big, 77, frame.length);
    expect(m.errors).toBe(0);
    expect(m.l3Offset).toBe(77 + 14);
    expect(m.l4Offset).toBe(77 + 34);
    expect(m.payloadOffset).toBe(77 + 58);
  });
});

describe("sample frames", () => {
  it("all parse cleanly", () => {
    for (const [name, f] of Object.entries(S)) {
      const m = parsed(f);
      expect({ name, errors: parseErrorNames(m.errors & 0xffffff) }).toEqual({ name, errors: [] });
    }
  });

  it("VLAN 802.1Q: TCI with PCP and VID", () => {
    const m = parsed(S.vlan_tcp4!);
    expect(m.vlanCount).toBe(1);
    expect(m.vlanTpid0).toBe(EtherType.VLAN);
    expect(m.vlanTci0).toBe((5 << 13) | 100);
    expect(m.vlanId).toBe(100);
    expect(m.l3Offset).toBe(18);
    expect(m.etherType).toBe(EtherType.IPV4);
  });

  it("QinQ with 0x88a8 and with 0x9100", () => {
    const a = parsed(S.qinq_udp4!);
    expect([a.vlanCount, a.vlanTpid0, a.vlanTci0, a.vlanTci1, a.l3Offset]).toEqual([2, 0x88a8, 10, 20, 22]);
    expect([a.srcPort, a.dstPort]).toEqual([7, 7]);
    const b = parsed(S.qinq9100_icmp4!);
    expect([b.vlanCount, b.vlanTpid0, b.vlanTci0, b.vlanTci1]).toEqual([2, 0x9100, 30, 40]);
    expect([b.l4Proto, b.icmpType]).toEqual([1, 0]);
  });

  it("IPv4 options and TCP options are skipped by length", () => {
    const m = parsed(S.tcp4_options!);
    expect(m.l4Offset).toBe(14 + 24);
    expect(m.payloadOffset).toBe(14 + 24 + 28);
    expect(m.payloadLength).toBe(3);
  });

  it("IPv6 with an extension header chain", () => {
    const m = parsed(S.ipv6_ext_chain!);
    expect(m.etherType).toBe(EtherType.IPV6);
    expect(m.l4Proto).toBe(IpProto.UDP);
    expect(m.l4Offset).toBe(14 + 40 + 8 + 16 + 24 + 8);
    expect(formatIpv6(S.ipv6_ext_chain!, m.srcAddrOffset)).toBe("2001:db8::1");
    expect(formatIpv6(S.ipv6_ext_chain!, m.dstAddrOffset)).toBe("2001:db8:0:1::2");
    expect([m.srcPort, m.dstPort]).toEqual([1000, 2000]);
  });

  it("IPv6 with an Authentication Header (length in 4-octet units)", () => {
    const m = parsed(S.ipv6_ah_tcp!);
    expect(m.l4Offset).toBe(14 + 40 + 24);
    expect(m.l4Proto).toBe(IpProto.TCP);
  });

  it("IPv6 traffic class and hop limit", () => {
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2", trafficClass: 0xb8, hopLimit: 3 }, udp: {}, padTo: 0 });
    const m = parsed(f);
    expect([m.ipTos, m.ipTtl]).toEqual([0xb8, 3]);
  });

  it("ARP request", () => {
    const m = parsed(S.arp_request!);
    expect(m.etherType).toBe(EtherType.ARP);
    expect(m.arpOp).toBe(1);
    expect(m.src4).toBe(parseIpv4("192.0.2.1"));
    expect(m.dst4).toBe(parseIpv4("198.51.100.7"));
    expect(m.l4Proto).toBe(-1);
    expect(formatMac(S.arp_request!, m.srcAddrOffset - 6)).toBe("02:00:00:00:00:01");
  });

  it("ICMP and ICMPv6 echo", () => {
    expect(parsed(S.icmp4_echo!).icmpType).toBe(8);
    const m = parsed(S.icmpv6_echo!);
    expect([m.l4Proto, m.icmpType, m.icmpCode, m.ndTargetOffset]).toEqual([58, 128, 0, -1]);
  });

  it("ICMPv6 neighbour discovery: target offsets, router solicitation", () => {
    const ns = parsed(S.icmpv6_ns!);
    expect(ns.icmpType).toBe(135);
    expect(formatIpv6(S.icmpv6_ns!, ns.ndTargetOffset)).toBe("2001:db8:0:1::2");
    const na = parsed(S.icmpv6_na!);
    expect(na.icmpType).toBe(136);
    expect(na.ndTargetOffset).toBe(na.l4Offset + 8);
    const rs = parsed(S.icmpv6_rs!);
    expect([rs.icmpType, rs.ndTargetOffset, rs.errors]).toEqual([133, -1, 0]);
  });

  it("VXLAN over IPv4: VNI, inner offsets, inner record", () => {
    const f = S.vxlan4_tcp4!;
    const m = parsed(f);
    expect(m.dstPort).toBe(4789);
    expect(m.tunnel).toBe(1);
    expect(m.vni).toBe(0x123456);
    expect(m.innerL2Offset).toBe(14 + 20 + 8 + 8);
    expect(m.innerL3Offset).toBe(m.innerL2Offset + 14);
    expect(m.innerL4Offset).toBe(m.innerL3Offset + 20);
    const inner = m.inner!;
    expect(inner.etherType).toBe(EtherType.IPV4);
    expect([inner.srcPort, inner.dstPort, inner.tcpFlags]).toEqual([8080, 80, TcpFlag.SYN]);
    expect(formatMac(f, inner.l2Offset + 6)).toBe("02:00:00:00:aa:01");
    expect(inner.inner).toBeNull();
  });

  it("VXLAN over IPv6 with a tagged inner IPv6 frame", () => {
    const m = parsed(S.vxlan6_udp6!);
    expect([m.tunnel, m.vni]).toEqual([1, 42]);
    const inner = m.inner!;
    expect([inner.vlanCount, inner.vlanId, inner.etherType, inner.l4Proto, inner.srcPort]).toEqual([1, 7, 0x86dd, 17, 1]);
  });

  it("VXLAN on a configured port; no decode when the record has no inner", () => {
    const f = buildFrame({ ipv4: { src: 1, dst: 2 }, udp: { dstPort: 8472 }, vxlan: { vni: 5, inner: { ipv4: { src: 3, dst: 4 }, udp: {} } }, padTo: 0 });
    const m = new PacketMeta();
    parse(f, 0, f.length, m);
    expect(m.tunnel).toBe(0);
    m.vxlanPort = 8472;
    parse(f, 0, f.length, m);
    expect([m.tunnel, m.vni]).toEqual([1, 5]);
    const flat = new PacketMeta(false);
    parse(S.vxlan4_tcp4!, 0, S.vxlan4_tcp4!.length, flat);
    expect([flat.errors, flat.tunnel, flat.payloadOffset]).toEqual([0, 0, 42]);
  });

  it("IPv4 fragments: first carries L4, later ones do not", () => {
    const first = parsed(S.frag4_first!);
    expect(first.fragFlags).toBe(FragFlag.MORE | FragFlag.IS_FRAGMENT);
    expect([first.fragOffset, first.fragId, first.l4Offset, first.srcPort]).toEqual([0, 99, 34, 9]);
    const later = parsed(S.frag4_later!);
    expect(later.fragFlags).toBe(FragFlag.IS_FRAGMENT);
    expect([later.fragOffset, later.l4Proto, later.l4Offset, later.payloadOffset, later.payloadLength]).toEqual([32, 17, -1, 34, 24]);
  });

  it("IPv6 fragments: non-first ones stop at the fragment header", () => {
    const m = parsed(S.frag6_later!);
    expect(m.fragFlags & FragFlag.IS_FRAGMENT).toBeTruthy();
    expect([m.fragOffset, m.fragId, m.l4Proto, m.l4Offset, m.payloadOffset]).toEqual([1232, 0xdeadbeef, 17, -1, 14 + 48]);
  });

  it("SCTP ports", () => {
    const m = parsed(S.sctp4!);
    expect([m.l4Proto, m.srcPort, m.dstPort]).toEqual([132, 2905, 2905]);
  });

  it("Ethernet padding is excluded from the datagram", () => {
    const f = buildFrame({ ipv4: { src: 1, dst: 2 }, udp: {}, payload: 2 }); // padded to 60
    const m = parsed(f);
    expect(f.length).toBe(60);
    expect([m.errors, m.l3Length, m.payloadLength]).toEqual([0, 30, 2]);
  });

  it("a reused record carries nothing over", () => {
    const m = new PacketMeta();
    parse(S.vxlan6_udp6!, 0, S.vxlan6_udp6!.length, m);
    parse(S.arp_request!, 0, S.arp_request!.length, m);
    expect([m.tunnel, m.vni, m.vlanCount, m.innerL2Offset, m.l4Offset, m.srcPort]).toEqual([0, 0, 0, -1, -1, 0]);
  });
});

describe("errors, one per flag", () => {
  const mod = (name: string, f: (b: Uint8Array) => void): Uint8Array => {
    const b = S[name]!.slice();
    f(b);
    return b;
  };
  const expectFlag = (b: Uint8Array, flag: number, ok = false): PacketMeta => {
    const m = new PacketMeta();
    const r = parse(b, 0, b.length, m);
    expect(parseErrorNames(m.errors)).toContain(parseErrorNames(flag)[0]);
    expect(r).toBe(ok);
    return m;
  };

  it("TRUNCATED_L2: short frame, cut VLAN tag", () => {
    expectFlag(new Uint8Array(13), ParseError.TRUNCATED_L2);
    expectFlag(S.vlan_tcp4!.subarray(0, 17), ParseError.TRUNCATED_L2);
    expectFlag(S.qinq_udp4!.subarray(0, 21), ParseError.TRUNCATED_L2);
  });
  it("TOO_MANY_VLANS: a third tag", () => {
    const f = S.qinq_udp4!.slice();
    put16(f, 20, 0x8100);
    expectFlag(f, ParseError.TOO_MANY_VLANS);
  });
  it("BAD_IP_VERSION", () => {
    expectFlag(mod("tcp4", (b) => (b[14] = 0x65)), ParseError.BAD_IP_VERSION);
    expectFlag(mod("tcp6", (b) => (b[14] = 0x45)), ParseError.BAD_IP_VERSION);
  });
  it("BAD_IHL below 5; TRUNCATED_L3 when IHL runs past the frame", () => {
    expectFlag(mod("tcp4", (b) => (b[14] = 0x44)), ParseError.BAD_IHL);
    expectFlag(mod("tcp4", (b) => (b[14] = 0x4f)).subarray(0, 40), ParseError.TRUNCATED_L3);
  });
  it("BAD_IP_LENGTH: total length below IHL, above the frame; IPv6 payload length lies", () => {
    expectFlag(mod("tcp4", (b) => put16(b, 16, 19)), ParseError.BAD_IP_LENGTH);
    const m = expectFlag(mod("tcp4", (b) => put16(b, 16, 1500)), ParseError.BAD_IP_LENGTH);
    expect(m.srcPort).toBe(40000); // decoding continues over the bytes present
    expectFlag(mod("tcp6", (b) => put16(b, 18, get16(b, 18) + 1)), ParseError.BAD_IP_LENGTH);
  });
  it("a shorter IPv4 total length is fine (the rest is padding)", () => {
    const m = parsed(mod("udp4", (b) => put16(b, 16, 28)), 0);
    expect(parseErrorNames(m.errors)).toEqual(["BAD_UDP_LENGTH"]);
  });
  it("BAD_IP_OPTION: zero length (the classic loop), length 1, running past the header", () => {
    expectFlag(mod("tcp4_options", (b) => (b[35] = 0)), ParseError.BAD_IP_OPTION);
    expectFlag(mod("tcp4_options", (b) => (b[35] = 1)), ParseError.BAD_IP_OPTION);
    expectFlag(mod("tcp4_options", (b) => (b[35] = 5)), ParseError.BAD_IP_OPTION);
    // NOPs then a type without room for its length byte.
    expectFlag(mod("tcp4_options", (b) => b.set([1, 1, 1, 0x44], 34)), ParseError.BAD_IP_OPTION);
    // End of Option List ends the walk whatever follows.
    expect(parsed(mod("tcp4_options", (b) => b.set([0, 0xff, 0, 0], 34))).errors).toBe(0);
  });
  it("IPV6_EXT_ORDER: Hop-by-Hop not first, a repeated Routing header, three Destination Options", () => {
    const hbhSecond = buildFrame({ ipv6: { src: "::1", dst: "::2", ext: [{ type: 60 }, { type: 0 }] }, udp: {}, padTo: 0 });
    expectFlag(hbhSecond, ParseError.IPV6_EXT_ORDER);
    const rtLoop = buildFrame({ ipv6: { src: "::1", dst: "::2", ext: [{ type: 43 }, { type: 43 }] }, udp: {}, padTo: 0 });
    expectFlag(rtLoop, ParseError.IPV6_EXT_ORDER);
    const threeDo = buildFrame({ ipv6: { src: "::1", dst: "::2", ext: [{ type: 60 }, { type: 60 }, { type: 60 }] }, udp: {}, padTo: 0 });
    expectFlag(threeDo, ParseError.IPV6_EXT_ORDER);
    const twoDo = buildFrame({ ipv6: { src: "::1", dst: "::2", ext: [{ type: 60 }, { type: 43 }, { type: 60 }] }, udp: {}, padTo: 0 });
    expect(parsed(twoDo).errors).toBe(0);
  });
  it("IPV6_EXT_ORDER: a header that names itself as next, repeated to the end of the frame", () => {
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2", nextHeader: 43 }, payload: 64, padTo: 0 });
    for (let o = 54; o + 8 <= f.length; o += 8) f.set([43, 0, 0, 0, 0, 0, 0, 0], o);
    expectFlag(f, ParseError.IPV6_EXT_ORDER);
  });
  it("IPV6_EXT_TOO_MANY: nine distinct extension headers", () => {
    const ext = [0, 60, 43, 44, 51, 60, 135, 139, 140].map((type) => ({ type }));
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2", ext }, udp: {}, padTo: 0 });
    const m = expectFlag(f, ParseError.IPV6_EXT_TOO_MANY);
    expect(m.l4Offset).toBe(-1);
  });
  it("TRUNCATED_L3: an extension header longer than the datagram", () => {
    expectFlag(mod("ipv6_ext_chain", (b) => (b[55] = 200)), ParseError.TRUNCATED_L3);
  });
  it("BAD_TCP_OFFSET below 5; TRUNCATED_L4 when it runs past the segment", () => {
    expectFlag(mod("tcp4", (b) => (b[46] = 0x40)), ParseError.BAD_TCP_OFFSET);
    expectFlag(mod("tcp4", (b) => (b[46] = 0xf0)), ParseError.TRUNCATED_L4);
  });
  it("BAD_UDP_LENGTH: below 8, beyond the IP payload", () => {
    expectFlag(mod("udp4", (b) => put16(b, 38, 7)), ParseError.BAD_UDP_LENGTH);
    expectFlag(mod("udp4", (b) => put16(b, 38, 21)), ParseError.BAD_UDP_LENGTH);
    expectFlag(mod("udp6", (b) => put16(b, 58, 13)), ParseError.BAD_UDP_LENGTH);
  });
  it("BAD_ARP: not Ethernet/IPv4", () => {
    expectFlag(mod("arp_request", (b) => (b[18] = 8)), ParseError.BAD_ARP);
    expectFlag(mod("arp_request", (b) => put16(b, 14, 6)), ParseError.BAD_ARP);
  });
  it("BAD_FRAGMENT: offset + length beyond 65535", () => {
    expectFlag(mod("frag4_later", (b) => put16(b, 20, 0x1fff)), ParseError.BAD_FRAGMENT);
    expectFlag(mod("frag6_later", (b) => put16(b, 56, 0xfff8)), ParseError.BAD_FRAGMENT);
  });
  it("BAD_VXLAN: I flag clear, header cut", () => {
    expectFlag(mod("vxlan4_tcp4", (b) => (b[42] = 0)), ParseError.BAD_VXLAN);
    const short = buildFrame({ ipv4: { src: 1, dst: 2 }, udp: { dstPort: 4789 }, payload: 7, padTo: 0 });
    expectFlag(short, ParseError.BAD_VXLAN);
  });
  it("INNER: the tunnelled frame is malformed", () => {
    const m = expectFlag(mod("vxlan4_tcp4", (b) => (b[64] = 0x65)), ParseError.INNER);
    expect(parseErrorNames(m.inner!.errors)).toEqual(["BAD_IP_VERSION"]);
  });
  it("BAD_ND: hop limit not 255, non-zero code; TRUNCATED_L4 when too short", () => {
    expectFlag(mod("icmpv6_ns", (b) => (b[21] = 64)), ParseError.BAD_ND);
    expectFlag(mod("icmpv6_na", (b) => (b[55] = 1)), ParseError.BAD_ND);
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2", hopLimit: 255 }, icmpv6: { type: 135 }, payload: 8, padTo: 0 });
    expectFlag(f, ParseError.TRUNCATED_L4);
  });
  it("UNKNOWN_ETHERTYPE and UNKNOWN_L4 are not malformations", () => {
    const et = buildFrame({ etherType: 0x88b5, payload: 10, padTo: 0 });
    const m1 = expectFlag(et, ParseError.UNKNOWN_ETHERTYPE, true);
    expect([m1.l3Offset, m1.payloadOffset, m1.payloadLength]).toEqual([14, 14, 10]);
    expectFlag(buildFrame({ etherType: 46, payload: 46, padTo: 0 }), ParseError.UNKNOWN_ETHERTYPE, true); // 802.3 length
    const gre = buildFrame({ ipv4: { src: 1, dst: 2, protocol: 47 }, payload: 4, padTo: 0 });
    const m2 = expectFlag(gre, ParseError.UNKNOWN_L4, true);
    expect([m2.l4Proto, m2.l4Offset]).toEqual([47, 34]);
    const esp = buildFrame({ ipv6: { src: "::1", dst: "::2", nextHeader: 50 }, payload: 16, padTo: 0 });
    expect(expectFlag(esp, ParseError.UNKNOWN_L4, true).l4Proto).toBe(50);
    const none = buildFrame({ ipv6: { src: "::1", dst: "::2" }, padTo: 0 });
    expect(parsed(none).errors).toBe(0);
  });
  it("IPv6 jumbogram form: payload length 0 with Hop-by-Hop takes the frame length", () => {
    const f = buildFrame({ ipv6: { src: "::1", dst: "::2", ext: [{ type: 0 }] }, udp: {}, payload: 4, padTo: 0 });
    put16(f, 18, 0);
    const m = parsed(f);
    expect([m.errors, m.l3Length, m.srcPort]).toEqual([0, f.length - 14, 49152]);
  });
  it("BAD_RANGE: offset/length outside the array or not integers; only the inside is read", () => {
    const f = S.tcp4!;
    const m = new PacketMeta();
    expect(parse(f, 0, f.length + 10, m)).toBe(false);
    expect(m.errors & ParseError.BAD_RANGE).toBeTruthy();
    expect(m.srcPort).toBe(40000);
    expect(m.length).toBe(f.length);
    for (const [o, l] of [[-1, 10], [f.length + 1, 0], [0.5, 20], [0, -3], [Number.NaN, 4], [0, Number.POSITIVE_INFINITY], [2 ** 32, 1]] as const) {
      expect(parse(f, o, l, m)).toBe(false);
      expect(m.errors & ParseError.BAD_RANGE).toBeTruthy();
    }
  });
});
