import { describe, expect, it } from "vitest";
import { Firewall, type FirewallConfig } from "../src/firewall.js";
import { DropReason, drop } from "../src/verdict.js";
import { FLAGS, type PacketSpec, arp, packet } from "./helpers/frames.js";
import { manualClock, run, run1 } from "./helpers/run.js";

const IN = "10.1.2.3";
const OUT = "198.51.100.7";

const rules: FirewallConfig["rules"] = [
  { action: "drop", proto: "tcp", dstPorts: 22, comment: "no ssh" },
  { action: "accept", proto: "tcp", src: "10.0.0.0/8", dstPorts: "20-100", inPort: 0 },
  { action: "accept", proto: "udp", src: "10.0.0.0/8", dstPorts: 53, inPort: 0 },
  { action: "accept", proto: "icmp", src: "10.0.0.0/8", inPort: 0 },
  { action: "accept", proto: "tcp", src: "2001:db8:1::/48", dst: "2001:db8:2::/48" },
];

const tcp = (flags: number, o: Partial<PacketSpec> = {}) => packet({ src: IN, dst: OUT, proto: "tcp", sport: 40000, dport: 80, flags, ...o });
const back = (flags: number, o: Partial<PacketSpec> = {}) => packet({ src: OUT, dst: IN, proto: "tcp", sport: 80, dport: 40000, flags, ...o });

function fw(extra: Partial<FirewallConfig> = {}) {
  const clock = manualClock();
  const vnf = new Firewall({ rules, ...extra }, { clock: clock.now });
  return { vnf, clock };
}

describe("Firewall ACL", () => {
  it("applies the first matching rule, then the default action, and never rewrites bytes", () => {
    const { vnf } = fw();
    const frames = [
      tcp(FLAGS.SYN, { dport: 22 }), // rule 0 drops although rule 1 would accept
      tcp(FLAGS.SYN, { dport: 80 }), // rule 1
      tcp(FLAGS.SYN, { dport: 101 }), // outside the range: default drop
      packet({ src: IN, dst: OUT, proto: "udp", sport: 5000, dport: 53 }), // rule 2
      packet({ src: "11.0.0.1", dst: OUT, proto: "udp", sport: 5000, dport: 53 }), // src outside 10/8
    ];
    const r = run(vnf, frames, 0);
    expect(r.verdicts).toEqual([drop(DropReason.AclDeny), 1, drop(DropReason.AclDeny), 1, drop(DropReason.AclDeny)]);
    r.out.forEach((o, i) => expect(Array.from(o)).toEqual(Array.from(frames[i]!)));
    expect(Array.from(vnf.acl.hits)).toEqual([1, 1, 1, 0, 0]);
    expect(vnf.counters.get("drop.acl-deny")).toBe(3);
    expect(vnf.counters.get("ct.active")).toBe(2);
  });

  it("matches inPort and IPv6 prefixes", () => {
    const { vnf } = fw();
    expect(run1(vnf, tcp(FLAGS.SYN), 1).verdict).toBe(drop(DropReason.AclDeny));
    const v6 = packet({ src: "2001:db8:1::5", dst: "2001:db8:2::9", proto: "tcp", sport: 1000, dport: 443 });
    expect(run1(vnf, v6, 1).verdict).toBe(0);
    const v6bad = packet({ src: "2001:db8:3::5", dst: "2001:db8:2::9", proto: "tcp", sport: 1000, dport: 443 });
    expect(run1(vnf, v6bad, 1).verdict).toBe(drop(DropReason.AclDeny));
  });

  it("forwards ARP by default and drops it when nonIp is drop", () => {
    const a = arp(1, { srcMac: "02:00:00:00:00:02", sha: "02:00:00:00:00:02", spa: "10.0.0.2", tpa: "10.0.0.1" });
    expect(run1(fw().vnf, a, 0).verdict).toBe(1);
    expect(run1(fw({ nonIp: "drop" }).vnf, a, 0).verdict).toBe(drop(DropReason.Unsupported));
  });

  it("stateless mode judges every packet by the rules", () => {
    const { vnf } = fw({ stateful: false });
    expect(run1(vnf, tcp(FLAGS.SYN), 0).verdict).toBe(1);
    expect(run1(vnf, back(FLAGS.SYN | FLAGS.ACK), 1).verdict).toBe(drop(DropReason.AclDeny));
    expect(vnf.conntrack).toBeNull();
  });

  it("names the field and reason of a bad rule", () => {
    expect(() => new Firewall({ rules: [{ action: "accept", src: "10.0.0.1/8" }] })).toThrow(/rules\[0\]\.src: "10\.0\.0\.1\/8" has host bits set beyond \/8/);
    expect(() => new Firewall({ rules: [{ action: "accept", proto: "icmp", dstPorts: 80 }] })).toThrow(/rules\[0\]\.proto: port ranges need proto tcp, udp or any/);
    expect(() => new Firewall({ rules: [{ action: "accept", dstPorts: "90-80" }] })).toThrow(/rules\[0\]\.dstPorts: port range 90-80/);
    expect(() => new Firewall({ rules: [{ action: "allow" as "accept" }] })).toThrow(/rules\[0\]\.action: Invalid enum value/);
  });
});

describe("Firewall connection tracking", () => {
  it("walks a TCP connection through its states, admitting return traffic the rules would drop", () => {
    const { vnf, clock } = fw();
    const ct = vnf.conntrack!;
    const state = () => ct.stateName(ct.ids()[0]!);
    expect(run1(vnf, tcp(FLAGS.SYN), 0).verdict).toBe(1);
    expect(state()).toBe("SYN_SENT");
    expect(run1(vnf, back(FLAGS.ACK), 1).verdict).toBe(drop(DropReason.Invalid)); // no SYN+ACK yet
    expect(run1(vnf, back(FLAGS.SYN | FLAGS.ACK), 1).verdict).toBe(0);
    expect(state()).toBe("SYN_RECV");
    expect(run1(vnf, tcp(FLAGS.ACK), 0).verdict).toBe(1);
    expect(state()).toBe("ESTABLISHED");
    expect(run1(vnf, back(FLAGS.ACK | FLAGS.PSH, { payload: [1, 2, 3] }), 1).verdict).toBe(0);
    expect(run1(vnf, tcp(FLAGS.SYN), 0).verdict).toBe(drop(DropReason.Invalid)); // SYN in ESTABLISHED
    expect(run1(vnf, tcp(FLAGS.FIN | FLAGS.ACK), 0).verdict).toBe(1);
    expect(state()).toBe("FIN_WAIT");
    expect(run1(vnf, back(FLAGS.ACK), 1).verdict).toBe(0);
    expect(state()).toBe("CLOSE_WAIT");
    expect(run1(vnf, back(FLAGS.FIN | FLAGS.ACK), 1).verdict).toBe(0);
    expect(state()).toBe("TIME_WAIT");
    expect(run1(vnf, tcp(FLAGS.ACK), 0).verdict).toBe(1);
    clock.advance(121_000); // TIME_WAIT is 120 s
    expect(run1(vnf, back(FLAGS.ACK), 1).verdict).toBe(drop(DropReason.AclDeny));
    expect(ct.size).toBe(0);
    expect(vnf.counters.get("ct.expired")).toBe(1);
  });

  it("closes on RST and lets a new SYN reopen the tuple", () => {
    const { vnf } = fw();
    const ct = vnf.conntrack!;
    run1(vnf, tcp(FLAGS.SYN), 0);
    run1(vnf, back(FLAGS.SYN | FLAGS.ACK), 1);
    expect(run1(vnf, back(FLAGS.RST), 1).verdict).toBe(0);
    expect(ct.stateName(ct.ids()[0]!)).toBe("CLOSED");
    expect(run1(vnf, back(FLAGS.ACK), 1).verdict).toBe(drop(DropReason.Invalid));
    expect(run1(vnf, tcp(FLAGS.SYN), 0).verdict).toBe(1);
    expect(ct.stateName(ct.ids()[0]!)).toBe("SYN_SENT");
  });

  it("refuses TCP connections that do not start with a SYN", () => {
    const { vnf } = fw();
    expect(run1(vnf, tcp(FLAGS.ACK), 0).verdict).toBe(drop(DropReason.Invalid));
    expect(run1(vnf, tcp(FLAGS.SYN | FLAGS.ACK), 0).verdict).toBe(drop(DropReason.Invalid));
    expect(vnf.conntrack!.size).toBe(0);
  });

  it("tracks UDP with an unreplied and a replied timeout", () => {
    const { vnf, clock } = fw();
    const q = packet({ src: IN, dst: OUT, proto: "udp", sport: 5000, dport: 53 });
    const a = packet({ src: OUT, dst: IN, proto: "udp", sport: 53, dport: 5000 });
    expect(run1(vnf, q, 0).verdict).toBe(1);
    clock.advance(29_000);
    expect(run1(vnf, a, 1).verdict).toBe(0); // within 30 s; now replied (120 s)
    clock.advance(100_000);
    expect(run1(vnf, a, 1).verdict).toBe(0);
    clock.advance(121_000);
    expect(run1(vnf, a, 1).verdict).toBe(drop(DropReason.AclDeny));
    // Unreplied flows expire after 30 s.
    run1(vnf, q, 0);
    clock.advance(31_000);
    expect(run1(vnf, a, 1).verdict).toBe(drop(DropReason.AclDeny));
  });

  it("tracks ICMP echo by identifier and admits errors quoting a tracked connection", () => {
    const { vnf } = fw();
    const req = packet({ src: IN, dst: OUT, proto: "icmp", icmpType: 8, icmpId: 77, icmpSeq: 1 });
    const rep = (id: number) => packet({ src: OUT, dst: IN, proto: "icmp", icmpType: 0, icmpId: id, icmpSeq: 1 });
    expect(run1(vnf, req, 0).verdict).toBe(1);
    expect(run1(vnf, rep(77), 1).verdict).toBe(0);
    expect(run1(vnf, rep(78), 1).verdict).toBe(drop(DropReason.AclDeny));
    // A router beyond port 1 says our UDP query's TTL expired: related, admitted.
    run1(vnf, packet({ src: IN, dst: OUT, proto: "udp", sport: 5000, dport: 53 }), 0);
    const quoted = packet({ src: IN, dst: OUT, proto: "udp", sport: 5000, dport: 53 }).subarray(14, 14 + 28);
    const err = packet({ src: "203.0.113.1", dst: IN, proto: "icmp", icmpType: 11, icmpCode: 0, payload: quoted });
    expect(run1(vnf, err, 1).verdict).toBe(0);
    expect(vnf.counters.get("related")).toBe(1);
    const stray = packet({ src: "203.0.113.1", dst: IN, proto: "icmp", icmpType: 11, payload: packet({ src: IN, dst: OUT, proto: "udp", sport: 5001, dport: 53 }).subarray(14, 42) });
    expect(run1(vnf, stray, 1).verdict).toBe(drop(DropReason.AclDeny));
  });

  it("evicts unassured connections when full and refuses when every connection is assured", () => {
    const { vnf } = fw({ conntrack: { capacity: 2 } });
    const syn = (sport: number) => tcp(FLAGS.SYN, { sport });
    expect(run(vnf, [syn(1), syn(2), syn(3)], 0).verdicts).toEqual([1, 1, 1]);
    expect(vnf.counters.get("ct.evicted")).toBe(1);
    // Establish both remaining connections (sports 2/3 or whichever survived).
    for (const id of vnf.conntrack!.ids()) {
      const sport = vnf.conntrack!.orig[id * 10 + 9]! >>> 16;
      run1(vnf, back(FLAGS.SYN | FLAGS.ACK, { dport: sport }), 1);
      run1(vnf, tcp(FLAGS.ACK, { sport }), 0);
    }
    expect(run1(vnf, syn(4), 0).verdict).toBe(drop(DropReason.TableFull));
    expect(vnf.counters.get("ct.refused")).toBe(1);
    expect(vnf.counters.get("drop.table-full")).toBe(1);
  });

  it("refuses instead of evicting when earlyDrop is off", () => {
    const { vnf } = fw({ conntrack: { capacity: 1, earlyDrop: false } });
    expect(run(vnf, [tcp(FLAGS.SYN, { sport: 1 }), tcp(FLAGS.SYN, { sport: 2 })], 0).verdicts).toEqual([1, drop(DropReason.TableFull)]);
  });

  it("drops fragments and malformed packets with their reasons", () => {
    const { vnf } = fw();
    const frag = tcp(FLAGS.SYN);
    frag[14 + 6] = 0x20; // MF
    const short = tcp(FLAGS.SYN).subarray(0, 30);
    expect(run(vnf, [frag, short], 0).verdicts).toEqual([drop(DropReason.Fragment), drop(DropReason.Malformed)]);
  });
});
