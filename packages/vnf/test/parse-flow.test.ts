/**
 * parseFlow: the stateful VNFs' classification. What it maps to drop
 * reasons, and the VNF-specific parts (echo id as a port, 8-bit TCP flags,
 * no ports for SCTP).
 */
import { describe, expect, it } from "vitest";
import { FlowInfo, parseFlow } from "../src/internal/parse.js";
import { DropReason } from "../src/verdict.js";
import { FLAGS, nd, packet } from "./helpers/frames.js";

function classify(frame: Uint8Array): { r: number; f: FlowInfo } {
  const f = new FlowInfo();
  // At an offset, as in a pool buffer.
  const b = new Uint8Array(frame.length + 7);
  b.set(frame, 7);
  return { r: parseFlow(b, 7, frame.length, f), f };
}

describe("parseFlow", () => {
  it("gives ports, 8-bit TCP flags and absolute offsets for IPv4 TCP behind a VLAN tag", () => {
    const { r, f } = classify(packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", sport: 1000, dport: 80, flags: FLAGS.SYN | FLAGS.ACK, vlan: 5 }));
    expect(r).toBe(-1);
    expect(f).toMatchObject({ family: 4, l3: 7 + 18, ipEnd: 7 + 18 + 40, proto: 6, l4: 7 + 18 + 20, sport: 1000, dport: 80, tcpFlags: 0x12, icmpType: -1 });
  });

  it("takes the ICMP echo identifier as the source port, and no ports for other ICMP or for SCTP", () => {
    expect(classify(packet({ src: "2001:db8::1", dst: "2001:db8::2", proto: "icmpv6", icmpType: 128, icmpId: 77 })).f).toMatchObject({ family: 6, proto: 58, sport: 77, dport: 0, icmpType: 128 });
    expect(classify(packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "icmp", icmpType: 3, icmpCode: 1, payload: new Array(28).fill(0) })).f).toMatchObject({ sport: 0, icmpType: 3, icmpCode: 1 });
    const sctp = classify(packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: 132, payload: [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0] }));
    expect(sctp.r).toBe(-1);
    expect(sctp.f).toMatchObject({ proto: 132, sport: 0, dport: 0 });
  });

  it("maps non-IP (ARP, three VLAN tags) to Unsupported with family 0, and a short frame to Malformed", () => {
    const arpish = Uint8Array.from([...new Array(12).fill(2), 0x08, 0x06, ...new Array(28).fill(0)]);
    expect(classify(arpish)).toMatchObject({ r: DropReason.Unsupported, f: { family: 0 } });
    const three = Uint8Array.from([...new Array(12).fill(2), 0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0x00, ...new Array(40).fill(0)]);
    expect(classify(three)).toMatchObject({ r: DropReason.Unsupported, f: { family: 0 } });
    expect(classify(new Uint8Array(13)).r).toBe(DropReason.Malformed);
  });

  it("maps any fragment (IPv4 MF or offset, an IPv6 Fragment header) to Fragment", () => {
    const v4 = packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "udp", df: false });
    v4[14 + 6] = 0x20; // MF
    expect(classify(v4).r).toBe(DropReason.Fragment);
    const v6 = packet({ src: "2001:db8::1", dst: "2001:db8::2", proto: "udp" });
    // Insert an atomic Fragment header (offset 0, M 0) before the UDP header.
    const ip = 14;
    const withFrag = Uint8Array.from([...v6.subarray(0, ip + 40), 17, 0, 0, 0, 0, 0, 0, 1, ...v6.subarray(ip + 40)]);
    withFrag[ip + 6] = 44;
    withFrag[ip + 5] = v6[ip + 5]! + 8;
    expect(classify(withFrag).r).toBe(DropReason.Fragment);
  });

  it("maps a datagram longer than its frame or a short TCP header to Malformed, and lets ND through whatever its hop limit", () => {
    const long = packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "udp" });
    long[14 + 3] = long[14 + 3]! + 1; // total length one past the frame
    expect(classify(long).r).toBe(DropReason.Malformed);
    const tcp = packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp" });
    tcp[14 + 20 + 12] = 0x40; // data offset 16 bytes
    expect(classify(tcp).r).toBe(DropReason.Malformed);
    const ns = nd(135, { srcMac: "02:00:00:00:00:01", dstMac: "33:33:00:00:00:01", src: "fe80::1", dst: "ff02::1:ff00:2", target: "fe80::2", hlim: 64 });
    expect(classify(ns)).toMatchObject({ r: -1, f: { family: 6, proto: 58, icmpType: 135 } });
  });
});
