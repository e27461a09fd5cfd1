/**
 * Sample frames, one or more per protocol the parser decodes. The unit
 * tests assert on them and the fuzz harnesses start from them, so every
 * protocol path has a seed. Frames are unpadded (padTo: 0), so cutting one
 * short anywhere cuts a header or a length-covered byte.
 */
import { buildFrame, type FrameSpec } from "./build.js";
import { ArpOp, Icmpv6Type, IpProto, TcpFlag } from "./constants.js";

const V4A = "192.0.2.1";
const V4B = "198.51.100.7";
const V6A = "2001:db8::1";
const V6B = "2001:db8:0:1::2";

/** The specs behind {@link sampleFrames}, by name. */
export const SAMPLE_SPECS: Readonly<Record<string, FrameSpec>> = {
  tcp4: { ipv4: { src: V4A, dst: V4B, id: 1 }, tcp: { srcPort: 40000, dstPort: 80, flags: TcpFlag.SYN, seq: 1 }, payload: 6 },
  tcp4_options: {
    // IPv4 Router Alert (RFC 2113: type 148, length 4) and TCP MSS + NOPs + window scale.
    ipv4: { src: V4A, dst: V4B, options: Uint8Array.of(148, 4, 0, 0) },
    tcp: { srcPort: 40001, dstPort: 443, flags: TcpFlag.SYN, options: Uint8Array.of(2, 4, 0x05, 0xb4, 1, 3, 3, 7) },
    payload: 3,
  },
  udp4: { ipv4: { src: V4A, dst: V4B }, udp: { srcPort: 5353, dstPort: 53 }, payload: 12 },
  icmp4_echo: { ipv4: { src: V4A, dst: V4B }, icmp: { type: 8, id: 0x1234, seq: 1 }, payload: 16 },
  arp_request: { dst: "ff:ff:ff:ff:ff:ff", arp: { op: ArpOp.REQUEST, senderIp: V4A, targetIp: V4B } },
  vlan_tcp4: { vlans: [{ vid: 100, pcp: 5 }], ipv4: { src: V4A, dst: V4B }, tcp: { srcPort: 1, dstPort: 2, flags: TcpFlag.ACK }, payload: 4 },
  qinq_udp4: { vlans: [{ vid: 10 }, { vid: 20 }], ipv4: { src: V4A, dst: V4B }, udp: { srcPort: 7, dstPort: 7 }, payload: 5 },
  qinq9100_icmp4: { vlans: [{ vid: 30, tpid: 0x9100 }, { vid: 40 }], ipv4: { src: V4A, dst: V4B }, icmp: { type: 0, id: 2, seq: 3 } },
  tcp6: { ipv6: { src: V6A, dst: V6B }, tcp: { srcPort: 50000, dstPort: 22, flags: TcpFlag.PSH | TcpFlag.ACK }, payload: 9 },
  udp6: { ipv6: { src: V6A, dst: V6B, flowLabel: 0x12345 }, udp: { srcPort: 546, dstPort: 547 }, payload: 4 },
  ipv6_ext_chain: {
    ipv6: {
      src: V6A,
      dst: V6B,
      ext: [{ type: IpProto.HOPOPT }, { type: IpProto.IPV6_OPTS, length: 16 }, { type: IpProto.IPV6_ROUTE, length: 24 }, { type: IpProto.IPV6_OPTS }],
    },
    udp: { srcPort: 1000, dstPort: 2000 },
    payload: 8,
  },
  ipv6_ah_tcp: { ipv6: { src: V6A, dst: V6B, ext: [{ type: IpProto.AH }] }, tcp: { srcPort: 179, dstPort: 179, flags: TcpFlag.ACK }, payload: 2 },
  icmpv6_echo: { ipv6: { src: V6A, dst: V6B }, icmpv6: { type: Icmpv6Type.ECHO_REQUEST, id: 7, seq: 8 }, payload: 8 },
  icmpv6_ns: {
    dst: "33:33:ff:00:00:02",
    ipv6: { src: V6A, dst: "ff02::1:ff00:2", hopLimit: 255 },
    icmpv6: { type: Icmpv6Type.NEIGHBOR_SOLICITATION, target: V6B },
  },
  icmpv6_na: { ipv6: { src: V6B, dst: V6A, hopLimit: 255 }, icmpv6: { type: Icmpv6Type.NEIGHBOR_ADVERTISEMENT, rest: 0x6000_0000, target: V6B } },
  icmpv6_rs: { ipv6: { src: V6A, dst: "ff02::2", hopLimit: 255 }, icmpv6: { type: Icmpv6Type.ROUTER_SOLICITATION } },
  vxlan4_tcp4: {
    ipv4: { src: "10.0.0.1", dst: "10.0.0.2", dontFragment: true },
    udp: { srcPort: 49999 },
    vxlan: { vni: 0x123456, inner: { src: "02:00:00:00:aa:01", dst: "02:00:00:00:aa:02", ipv4: { src: V4A, dst: V4B }, tcp: { srcPort: 8080, dstPort: 80, flags: TcpFlag.SYN }, payload: 4 } },
  },
  vxlan6_udp6: {
    ipv6: { src: "2001:db8:ffff::1", dst: "2001:db8:ffff::2" },
    vxlan: { vni: 42, inner: { vlans: [{ vid: 7 }], ipv6: { src: V6A, dst: V6B }, udp: { srcPort: 1, dstPort: 2 }, payload: 3 } },
  },
  frag4_first: { ipv4: { src: V4A, dst: V4B, id: 99, moreFragments: true }, udp: { srcPort: 9, dstPort: 9 }, payload: 24 },
  frag4_later: { ipv4: { src: V4A, dst: V4B, id: 99, fragmentOffset: 32, protocol: IpProto.UDP }, payload: 24 },
  frag6_later: { ipv6: { src: V6A, dst: V6B, ext: [{ type: IpProto.IPV6_FRAG, fragmentOffset: 1232, id: 0xdeadbeef }], nextHeader: IpProto.UDP }, payload: 16 },
  sctp4: { ipv4: { src: V4A, dst: V4B, protocol: IpProto.SCTP }, payload: Uint8Array.of(0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0) },
};

/** Frames built from {@link SAMPLE_SPECS}, unpadded. */
export function sampleFrames(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, spec] of Object.entries(SAMPLE_SPECS)) out[name] = buildFrame({ padTo: 0, ...spec });
  return out;
}
