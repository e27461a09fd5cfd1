import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FK_OUTER_DST_IP,
  FK_OUTER_SRC_IP,
  FKE_IP_LENGTH,
  FKE_IP_VERSION,
  FKE_IPV4_IHL,
  FKE_IPV6_EXT_DEPTH,
  FKE_IPV6_EXT_TRUNCATED,
  FKE_L2_TRUNCATED,
  FKE_L3_TRUNCATED,
  FKE_L4_TRUNCATED,
  FKE_TCP_DATA_OFFSET,
  FKE_UDP_LENGTH,
  FKE_VLAN_DEPTH,
  FKE_VXLAN,
  FKF_HOME_ADDR,
  FKF_INNER_VLAN,
  FKF_IP_FRAG,
  FKF_IP_FRAG_LATER,
  FKF_IPV4_OPTIONS,
  FKF_IPV6_EXT,
  FKF_L4,
  FKF_QINQ,
  FKF_RH2,
  FKF_TUNNEL,
  FKF_VLAN,
  FK_HOME_ADDR,
  FK_RH2_ADDR,
  FK_SRC_IP,
  FK_DST_IP,
  FLOW_KEY_WORDS,
  FlowKey,
  flowKeyFromFields,
  flowKeyFromFrame,
  formatIpv4,
  parseIpv4,
  parseIpv6,
  parseMac,
} from "../src/flow-key.js";
import {
  concat,
  destOptsHomeAddress,
  eth,
  ext8,
  fragmentHeader,
  ipv4,
  ipv4Tcp,
  ipv6,
  routingType2,
  tcp,
  udp,
  v6,
  vxlan,
} from "./flow-frames.js";

const parse = (frame: Uint8Array, port = 3): FlowKey => flowKeyFromFrame(frame, 0, frame.length, port, new FlowKey());
const words = (text: string): number[] => [...parseIpv6(text)!];
const errorBits = (k: FlowKey): number => k.parseErrors << 16;

describe("address text", () => {
  it("parses IPv4, IPv6 and MAC text", () => {
    expect(parseIpv4("192.168.1.254")).toBe(0xc0a801fe);
    expect(parseIpv4("256.1.1.1")).toBeUndefined();
    expect(parseIpv4("1.2.3")).toBeUndefined();
    expect(formatIpv4(0x0a000001)).toBe("10.0.0.1");
    expect(words("2001:db8::1")).toEqual([0x20010db8, 0, 0, 1]);
    expect(words("::")).toEqual([0, 0, 0, 0]);
    expect(words("ff02::1:2")).toEqual([0xff020000, 0, 0, 0x10002]);
    expect(words("::ffff:1.2.3.4")).toEqual([0, 0, 0xffff, 0x01020304]);
    expect(words("1:2:3:4:5:6:7:8")).toEqual([0x10002, 0x30004, 0x50006, 0x70008]);
    expect(parseIpv6("1:2:3:4:5:6:7:8:9")).toBeUndefined();
    expect(parseIpv6("1::2::3")).toBeUndefined();
    expect(parseIpv6("1:2:3:4::5:6:7:8")).toBeUndefined();
    expect(parseMac("aa:bb:cc:dd:ee:ff")).toBe(0xaabbccddeeff);
    expect(() => parseMac("aa:bb")).toThrow(RangeError);
  });
});

describe("flowKeyFromFrame", () => {
  it("parses Ethernet / IPv4 / TCP", () => {
    const k = parse(eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 6, tos: 0xb8, payload: tcp(1234, 80, 0x12) }), { dst: "aa:bb:cc:dd:ee:ff", src: "11:22:33:44:55:66" }), 7);
    expect(k.port).toBe(7);
    expect(k.dmac).toBe(0xaabbccddeeff);
    expect(k.smac).toBe(0x112233445566);
    expect(k.etherType).toBe(0x0800);
    expect(k.ipVersion).toBe(4);
    expect(k.ipTos).toBe(0xb8);
    expect(k.ipProto).toBe(6);
    expect(k.srcIpv4).toBe(0x0a000001);
    expect(k.dstIpv4).toBe(0x0a000002);
    expect(k.srcPort).toBe(1234);
    expect(k.dstPort).toBe(80);
    expect(k.tcpFlags).toBe(0x12);
    expect(k.flags).toBe(FKF_L4);
    expect(k.parseErrors).toBe(0);
    expect(k.frameLength).toBe(14 + 20 + 20);
  });

  it("records the first VLAN tag and flags QinQ", () => {
    const one = parse(ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2, { vlans: [(5 << 13) | (1 << 12) | 100] }));
    expect(one.flags & FKF_VLAN).toBe(FKF_VLAN);
    expect(one.vlanId).toBe(100);
    expect(one.vlanPcp).toBe(5);
    expect(one.vlanDei).toBe(1);
    expect(one.etherType).toBe(0x0800);
    expect(one.dstPort).toBe(2);
    const two = parse(ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2, { vlans: [200, 300], qinq: true }));
    expect(two.flags & (FKF_VLAN | FKF_QINQ)).toBe(FKF_VLAN | FKF_QINQ);
    expect(two.vlanId).toBe(200);
    expect(two.srcIpv4).toBe(0x01010101);
  });

  it("stops after two VLAN tags", () => {
    const k = parse(ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2, { vlans: [1, 2, 3] }));
    expect(errorBits(k)).toBe(FKE_VLAN_DEPTH);
    expect(k.ipVersion).toBe(0);
  });

  it("handles IPv4 options and fragments", () => {
    const opt = parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, options: [1, 1, 1, 1], payload: udp(53, 5353) })));
    expect(opt.flags).toBe(FKF_IPV4_OPTIONS | FKF_L4);
    expect(opt.dstPort).toBe(5353);
    const first = parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, frag: 0x2000, payload: tcp(1, 2) })));
    expect(first.flags).toBe(FKF_IP_FRAG | FKF_L4);
    const later = parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, frag: 0x0010, payload: tcp(1, 2) })));
    expect(later.flags).toBe(FKF_IP_FRAG | FKF_IP_FRAG_LATER);
    expect(later.srcPort).toBe(0);
    expect(later.ipProto).toBe(6);
  });

  it("flags malformed IPv4 headers", () => {
    expect(errorBits(parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, version: 6, payload: tcp(1, 2) }))))).toBe(FKE_IP_VERSION);
    expect(errorBits(parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, ihl: 4, payload: tcp(1, 2) }))))).toBe(FKE_IPV4_IHL);
    const long = parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, totalLength: 1500, payload: tcp(1, 2) })));
    expect(errorBits(long)).toBe(FKE_IP_LENGTH);
    expect(long.srcIpv4).toBe(0x01010101);
    expect(long.flags & FKF_L4).toBe(0);
    expect(errorBits(parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, payload: tcp(1, 2, 2, new Uint8Array(0), 4) }))))).toBe(FKE_TCP_DATA_OFFSET);
    expect(errorBits(parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, payload: udp(1, 2, new Uint8Array(4), 40) }))))).toBe(FKE_UDP_LENGTH);
    expect(errorBits(parse(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, payload: new Uint8Array(10) }))))).toBe(FKE_L4_TRUNCATED);
  });

  it("bounds L4 parsing by the IP total length, not Ethernet padding", () => {
    const frame = concat(eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, payload: new Uint8Array(8) })), new Uint8Array(30));
    expect(errorBits(parse(frame))).toBe(FKE_L4_TRUNCATED);
  });

  it("parses IPv6 / UDP with a traffic class", () => {
    const k = parse(eth(0x86dd, ipv6({ src: "2001:db8::1", dst: "2001:db8::2", next: 17, tclass: 0xa4, payload: udp(4000, 53) })));
    expect(k.ipVersion).toBe(6);
    expect(k.ipTos).toBe(0xa4);
    expect(k.ipProto).toBe(17);
    expect([...k.words.subarray(FK_SRC_IP, FK_SRC_IP + 4)]).toEqual(words("2001:db8::1"));
    expect([...k.words.subarray(FK_DST_IP, FK_DST_IP + 4)]).toEqual(words("2001:db8::2"));
    expect(k.srcPort).toBe(4000);
    expect(k.flags).toBe(FKF_L4);
  });

  it("walks IPv6 extension headers and records the Home Address and Type 2 Routing Header", () => {
    const chain = concat(ext8(60, [1, 4, 0, 0, 0, 0]), destOptsHomeAddress(43, "2001:db8:aaaa::1"), routingType2(6, "2001:db8:bbbb::2"), tcp(1111, 2222));
    const k = parse(eth(0x86dd, ipv6({ src: "2001:db8::1", dst: "2001:db8::2", next: 0, payload: chain })));
    expect(k.parseErrors).toBe(0);
    expect(k.flags).toBe(FKF_IPV6_EXT | FKF_HOME_ADDR | FKF_RH2 | FKF_L4);
    expect(k.ipProto).toBe(6);
    expect([...k.words.subarray(FK_HOME_ADDR, FK_HOME_ADDR + 4)]).toEqual(words("2001:db8:aaaa::1"));
    expect([...k.words.subarray(FK_RH2_ADDR, FK_RH2_ADDR + 4)]).toEqual(words("2001:db8:bbbb::2"));
    expect(k.dstPort).toBe(2222);
  });

  it("handles IPv6 fragments", () => {
    const first = parse(eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 44, payload: concat(fragmentHeader(17, 0, true), udp(1, 2)) })));
    expect(first.flags).toBe(FKF_IPV6_EXT | FKF_IP_FRAG | FKF_L4);
    const later = parse(eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 44, payload: concat(fragmentHeader(17, 100, false), udp(1, 2)) })));
    expect(later.flags).toBe(FKF_IPV6_EXT | FKF_IP_FRAG | FKF_IP_FRAG_LATER);
    expect(later.ipProto).toBe(17);
    expect(later.dstPort).toBe(0);
  });

  it("limits the extension header walk and flags truncation", () => {
    const many = concat(...Array.from({ length: 9 }, () => ext8(60, [1, 4, 0, 0, 0, 0])), tcp(1, 2));
    const deep = parse(eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 60, payload: many })));
    expect(errorBits(deep)).toBe(FKE_IPV6_EXT_DEPTH);
    const cut = parse(eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 60, payload: Uint8Array.from([6, 3, 0, 0, 0, 0, 0, 0]) })));
    expect(errorBits(cut)).toBe(FKE_IPV6_EXT_TRUNCATED);
    const badLen = parse(eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 6, payloadLength: 400, payload: tcp(1, 2) })));
    expect(errorBits(badLen)).toBe(FKE_IP_LENGTH);
  });

  it("parses VXLAN: inner frame in the main fields, outer in the tunnel block", () => {
    const inner = ipv4Tcp("192.168.0.1", "192.168.0.2", 5555, 443, { dst: "02:aa:00:00:00:01", vlans: [7] });
    const frame = eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 17, options: [1, 1, 1, 1], payload: udp(49152, 4789, vxlan(0x123456, inner)) }), { vlans: [42] });
    const k = parse(frame);
    expect(k.parseErrors).toBe(0);
    expect(k.flags).toBe(FKF_VLAN | FKF_TUNNEL | FKF_INNER_VLAN | FKF_L4);
    expect(k.vni).toBe(0x123456);
    expect(k.outerIpVersion).toBe(4);
    expect(k.words[FK_OUTER_SRC_IP]).toBe(0x0a000001);
    expect(k.words[FK_OUTER_DST_IP]).toBe(0x0a000002);
    expect(k.words[25]).toBe(((49152 << 16) | 4789) >>> 0);
    expect(k.vlanId).toBe(42);
    expect(k.dmac).toBe(0x02aa00000001);
    expect(k.srcIpv4).toBe(0xc0a80001);
    expect(k.dstPort).toBe(443);
    expect(k.ipProto).toBe(6);
  });

  it("leaves a bad VXLAN header as plain UDP", () => {
    const frame = eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 17, payload: udp(1, 4789, vxlan(5, new Uint8Array(20), 0)) }));
    const k = parse(frame);
    expect(errorBits(k)).toBe(FKE_VXLAN);
    expect(k.tunnel).toBe(false);
    expect(k.dstPort).toBe(4789);
    const runt = parse(eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 17, payload: udp(1, 4789, vxlan(5, new Uint8Array(4))) })));
    expect(runt.tunnel).toBe(true);
    expect(errorBits(runt)).toBe(FKE_L2_TRUNCATED);
  });

  it("never reads outside the frame: bytes past the length do not change any truncation's key", () => {
    const frames = [
      ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2, { vlans: [3] }),
      eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 0, payload: concat(ext8(60, []), destOptsHomeAddress(6, "::9"), tcp(1, 2)) })),
      eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 17, payload: udp(1, 4789, vxlan(9, ipv4Tcp("3.3.3.3", "4.4.4.4", 5, 6))) })),
    ];
    const a = new FlowKey();
    const b = new FlowKey();
    for (const f of frames) {
      for (let len = 0; len <= f.length; len++) {
        const exact = f.slice(0, len);
        const padded = concat(exact, new Uint8Array(64).fill(0xff));
        flowKeyFromFrame(exact, 0, len, 0, a);
        flowKeyFromFrame(padded, 0, len, 0, b);
        expect([...b.words]).toEqual([...a.words]);
        expect(a.frameLength).toBe(len);
        if (len < f.length) expect(a.parseErrors !== 0 || (a.flags & FKF_L4) === 0 || a.tunnel).toBe(true);
      }
    }
  });

  it("clamps offsets and lengths outside the buffer", () => {
    const f = ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2);
    const k = new FlowKey();
    expect(errorBits(flowKeyFromFrame(f, -1, 10, 0, k))).toBe(FKE_L2_TRUNCATED);
    expect(errorBits(flowKeyFromFrame(f, 1.5, 10, 0, k))).toBe(FKE_L2_TRUNCATED);
    expect(errorBits(flowKeyFromFrame(f, f.length + 5, 10, 0, k))).toBe(FKE_L2_TRUNCATED);
    expect(errorBits(flowKeyFromFrame(f, 0, Number.NaN, 0, k))).toBe(FKE_L2_TRUNCATED);
    expect(flowKeyFromFrame(f, 0, 100_000, 0, k).dstPort).toBe(2);
    expect(k.frameLength).toBe(f.length);
    const inside = concat(new Uint8Array(5), f, new Uint8Array(5));
    expect(flowKeyFromFrame(inside, 5, f.length, 0, k).srcPort).toBe(1);
    expect(errorBits(flowKeyFromFrame(inside, 5, 30, 0, k))).toBe(FKE_L3_TRUNCATED);
  });

  it("never throws on arbitrary bytes and always fills a whole key (fuzz)", () => {
    const key = new FlowKey();
    const seeds = [ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2), eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 43, payload: concat(routingType2(17, "::3"), udp(1, 4789, vxlan(1, ipv4Tcp("5.5.5.5", "6.6.6.6", 7, 8)))) }))];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })).map(([s, muts]) => {
            const b = s.slice();
            for (const [at, v] of muts) b[at % b.length] = v;
            return b;
          }),
        ),
        fc.integer({ min: -4, max: 300 }),
        (bytes, len) => {
          flowKeyFromFrame(bytes, 0, len, 1, key);
          expect(key.words.length).toBe(FLOW_KEY_WORDS);
          expect(key.frameLength).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("flowKeyFromFields", () => {
  it("builds the key the parser would build", () => {
    const parsed = parse(ipv4Tcp("10.0.0.1", "10.0.0.2", 1000, 80, { dst: "02:00:00:00:00:09", src: "02:00:00:00:00:08", vlans: [77] }), 2);
    const built = flowKeyFromFields({
      port: 2,
      dmac: "02:00:00:00:00:09",
      smac: "02:00:00:00:00:08",
      vlanTci: 77,
      srcIp: "10.0.0.1",
      dstIp: "10.0.0.2",
      ipProto: 6,
      tcpFlags: 0x02,
      srcPort: 1000,
      dstPort: 80,
      frameLength: parsed.frameLength,
    });
    expect([...built.words]).toEqual([...parsed.words]);
    const v6key = flowKeyFromFields({ srcIp: "2001:db8::1", dstIp: "2001:db8::2", ipProto: 17 });
    expect(v6key.ipVersion).toBe(6);
    expect(v6key.etherType).toBe(0x86dd);
    expect(() => flowKeyFromFields({ srcIp: "1.1.1.1", dstIp: "::1" })).toThrow(RangeError);
    const burst = FlowKey.burst(4);
    burst[1]!.dstPort = 9;
    expect(burst[1]!.words.byteOffset).toBe(FLOW_KEY_WORDS * 4);
    expect(burst[0]!.dstPort).toBe(0);
    expect(v6("::1").length).toBe(16);
  });
});
