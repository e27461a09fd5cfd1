import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Router, type RouterConfig } from "../src/router.js";
import { DropReason, drop } from "../src/verdict.js";
import { type PacketSpec, arp, checksumProblems, hex, ipBytesOf, nd, packet } from "./helpers/frames.js";
import { manualClock, run, run1 } from "./helpers/run.js";

const R0 = "02:00:00:00:00:01";
const R1 = "02:00:00:00:00:02";
const H0 = "02:00:00:00:aa:01"; // a host on port 0
const GW = "02:00:00:00:fe:01"; // the IPv4 gateway beyond port 1
const GW6 = "02:00:00:00:fe:06"; // the IPv6 gateway beyond port 1
const H1 = "02:00:00:00:bb:07"; // a host on port 1's subnet

const base: RouterConfig = {
  ports: [
    { mac: R0, ipv4: ["10.0.0.1/24"], ipv6: ["2001:db8:0:1::1/64", "fe80::1/64"] },
    { mac: R1, ipv4: ["10.0.1.1/24"], ipv6: ["2001:db8:0:2::1/64", "fe80::2/64"] },
  ],
  routes: [
    { prefix: "192.168.0.0/16", via: "10.0.1.254" },
    { prefix: "2001:db8:100::/48", via: "fe80::fe", port: 1 },
  ],
  neighbours: [{ ip: "10.0.1.254", mac: GW, port: 1 }],
  lpm: { ipv4RootBits: 16 },
};

function router(extra: Partial<RouterConfig> = {}) {
  const clock = manualClock();
  const vnf = new Router({ ...base, ...extra }, { clock: clock.now });
  const outbox = () => {
    const f = vnf.outbox.frames();
    vnf.outbox.clear();
    return f;
  };
  return { vnf, clock, outbox };
}

const fromHost = (o: Partial<PacketSpec> = {}): PacketSpec => ({ dstMac: R0, srcMac: H0, src: "10.0.0.5", dst: "192.168.3.4", proto: "udp", sport: 1000, dport: 2000, payload: [1, 2, 3, 4], ...o });
const fromHost6 = (o: Partial<PacketSpec> = {}): PacketSpec => ({ dstMac: R0, srcMac: H0, src: "2001:db8:0:1::5", dst: "2001:db8:100::9", proto: "udp", sport: 1000, dport: 2000, payload: [5, 6], ...o });

describe("Router IPv4 forwarding", () => {
  it("forwards to the gateway: MACs rewritten, TTL decremented, header checksum updated (RFC 1624)", () => {
    const { vnf } = router();
    const { verdict, out } = run1(vnf, packet(fromHost({ ttl: 64 })), 0);
    expect(verdict).toBe(1);
    expect(hex(out)).toBe(hex(packet(fromHost({ dstMac: GW, srcMac: R1, ttl: 63 }))));
    expect(checksumProblems(out)).toEqual([]);
  });

  it("the incrementally updated checksum equals a full recompute for any header", () => {
    const { vnf } = router({ routes: [{ prefix: "0.0.0.0/0", via: "10.0.1.254" }] });
    fc.assert(
      fc.property(
        fc.record({
          ttl: fc.integer({ min: 2, max: 255 }),
          ipId: fc.integer({ min: 0, max: 65535 }),
          tos: fc.integer({ min: 0, max: 255 }),
          dst: fc.tuple(fc.integer({ min: 11, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join(".")),
          src: fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.0.${a}.${b}`),
          proto: fc.constantFrom("udp" as const, "tcp" as const, "icmp" as const),
          df: fc.boolean(),
        }),
        (h) => {
          const { verdict, out } = run1(vnf, packet(fromHost(h)), 0);
          expect(verdict).toBe(1);
          expect(hex(out)).toBe(hex(packet(fromHost({ ...h, ttl: h.ttl - 1, dstMac: GW, srcMac: R1 }))));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("sends ICMP time exceeded back to the previous hop when the TTL runs out", () => {
    const { vnf, outbox } = router();
    const spec = fromHost({ ttl: 1 });
    expect(run1(vnf, packet(spec), 0).verdict).toBe(drop(DropReason.TtlExceeded));
    const out = outbox();
    expect(out.length).toBe(1);
    expect(out[0]!.port).toBe(0);
    const want = packet({ dstMac: H0, srcMac: R0, src: "10.0.0.1", dst: "10.0.0.5", proto: "icmp", icmpType: 11, icmpCode: 0, ttl: 64, df: false, payload: ipBytesOf(spec) });
    expect(hex(out[0]!.frame)).toBe(hex(want));
    expect(checksumProblems(out[0]!.frame)).toEqual([]);
  });

  it("sends destination unreachable when no route matches, quoting at most 548 bytes (RFC 1812 §4.3.2.3)", () => {
    const { vnf, outbox } = router();
    const spec = fromHost({ dst: "172.16.0.1", payload: new Array(700).fill(7) });
    expect(run1(vnf, packet(spec), 0).verdict).toBe(drop(DropReason.NoRoute));
    const [e] = outbox();
    const want = packet({ dstMac: H0, srcMac: R0, src: "10.0.0.1", dst: "10.0.0.5", proto: "icmp", icmpType: 3, icmpCode: 0, ttl: 64, df: false, payload: ipBytesOf(spec).slice(0, 548) });
    expect(hex(e!.frame)).toBe(hex(want));
    expect(e!.frame.length).toBe(14 + 576);
  });

  it("never sends an ICMP error about an ICMP error, and rate-limits errors", () => {
    const { vnf, clock, outbox } = router({ icmp: { rate: 1, burst: 2 } });
    const err = fromHost({ ttl: 1, proto: "icmp", icmpType: 11, payload: new Array(28).fill(0) });
    run1(vnf, packet(err), 0);
    expect(outbox()).toEqual([]);
    const r = run(vnf, Array.from({ length: 5 }, () => packet(fromHost({ ttl: 1 }))), 0);
    expect(r.verdicts.every((v) => v === drop(DropReason.TtlExceeded))).toBe(true);
    expect(outbox().length).toBe(2);
    expect(vnf.counters.get("icmp.rate-limited")).toBe(3);
    clock.advance(1000);
    run1(vnf, packet(fromHost({ ttl: 1 })), 0);
    expect(outbox().length).toBe(1);
  });

  it("answers ARP requests for its address and learns the sender", () => {
    const { vnf, outbox } = router();
    const req = arp(1, { srcMac: H0, sha: H0, spa: "10.0.0.5", tpa: "10.0.0.1" });
    expect(run1(vnf, req, 0).verdict).toBe(drop(DropReason.Control));
    const [rep] = outbox();
    expect(rep!.port).toBe(0);
    expect(hex(rep!.frame)).toBe(hex(arp(2, { srcMac: R0, dstMac: H0, sha: R0, spa: "10.0.0.1", tha: H0, tpa: "10.0.0.5" })));
    expect(vnf.neighbours()).toContainEqual({ ip: "10.0.0.5", port: 0, state: "REACHABLE", mac: H0 });
    // Requests for other addresses are not answered, nor learnt from.
    run1(vnf, arp(1, { srcMac: H0, sha: H0, spa: "10.0.0.6", tpa: "10.0.0.9" }), 0);
    expect(outbox()).toEqual([]);
    expect(vnf.neighbours().some((n) => n.ip === "10.0.0.6")).toBe(false);
  });

  it("resolves a connected next hop by ARP, holding the packet, then forwards directly", () => {
    const { vnf, outbox } = router();
    const spec = fromHost({ dst: "10.0.1.7" });
    expect(run1(vnf, packet(spec), 0).verdict).toBe(drop(DropReason.Queued));
    const [req] = outbox();
    expect(req!.port).toBe(1);
    expect(hex(req!.frame)).toBe(hex(arp(1, { srcMac: R1, sha: R1, spa: "10.0.1.1", tpa: "10.0.1.7" })));
    // The reply releases the held packet, addressed and with its TTL decremented.
    run1(vnf, arp(2, { srcMac: H1, dstMac: R1, sha: H1, spa: "10.0.1.7", tha: R1, tpa: "10.0.1.1" }), 1);
    const [rel] = outbox();
    expect(rel!.port).toBe(1);
    expect(hex(rel!.frame)).toBe(hex(packet({ ...spec, dstMac: H1, srcMac: R1, ttl: 63 })));
    expect(run1(vnf, packet(spec), 0).verdict).toBe(1);
    expect(vnf.counters.get("neigh.released")).toBe(1);
  });

  it("holds at most queuePerNeighbour packets, retries, then gives up and drops what it held", () => {
    const { vnf, clock, outbox } = router();
    const f = packet(fromHost({ dst: "10.0.1.8" }));
    const r = run(vnf, [f, f, f, f], 0);
    expect(r.verdicts).toEqual([drop(DropReason.Queued), drop(DropReason.Queued), drop(DropReason.Queued), drop(DropReason.NeighbourUnresolved)]);
    expect(outbox().length).toBe(1); // one request per retry interval
    clock.advance(1000);
    run1(vnf, f, 0);
    clock.advance(1000);
    run1(vnf, f, 0);
    expect(outbox().length).toBe(2);
    expect(vnf.counters.get("arp.requests-out")).toBe(3);
    clock.advance(1000);
    expect(run1(vnf, f, 0).verdict).toBe(drop(DropReason.NeighbourUnresolved));
    expect(vnf.counters.get("neigh.hold-dropped")).toBe(3);
    expect(vnf.neighbours().find((n) => n.ip === "10.0.1.8")!.state).toBe("FAILED");
  });

  it("drops and counts instead of holding when queuePerNeighbour is 0", () => {
    const { vnf, outbox } = router({ neighbour: { queuePerNeighbour: 0 } });
    expect(run1(vnf, packet(fromHost({ dst: "10.0.1.9" })), 0).verdict).toBe(drop(DropReason.NeighbourUnresolved));
    expect(outbox().length).toBe(1);
    expect(vnf.counters.get("drop.neighbour-unresolved")).toBe(1);
  });

  it("answers echo requests to its own address", () => {
    const { vnf, outbox } = router();
    const req = { dstMac: R0, srcMac: H0, src: "10.0.0.5", dst: "10.0.0.1", proto: "icmp" as const, icmpType: 8, icmpId: 9, icmpSeq: 3, payload: [1, 2, 3] };
    expect(run1(vnf, packet(req), 0).verdict).toBe(drop(DropReason.Control));
    const [rep] = outbox();
    expect(hex(rep!.frame)).toBe(hex(packet({ ...req, dstMac: H0, srcMac: R0, src: "10.0.0.1", dst: "10.0.0.5", icmpType: 0 })));
    expect(run1(vnf, packet({ ...req, proto: "udp" }), 0).verdict).toBe(drop(DropReason.Local));
  });

  it("drops bad checksums, foreign MACs, martians and broadcast IP frames", () => {
    const { vnf } = router();
    const bad = packet(fromHost());
    bad[24]! ^= 0xff;
    expect(run1(vnf, bad, 0).verdict).toBe(drop(DropReason.BadChecksum));
    expect(run1(vnf, packet(fromHost({ dstMac: "02:00:00:00:99:99" })), 0).verdict).toBe(drop(DropReason.NotForUs));
    expect(run1(vnf, packet(fromHost({ src: "127.0.0.1" })), 0).verdict).toBe(drop(DropReason.Scope));
    expect(run1(vnf, packet(fromHost({ dstMac: "ff:ff:ff:ff:ff:ff" })), 0).verdict).toBe(drop(DropReason.NotForUs));
    expect(run1(vnf, packet(fromHost()).subarray(0, 30), 0).verdict).toBe(drop(DropReason.Malformed));
  });

  it("adds and deletes routes at run time", () => {
    const { vnf } = router();
    const f = packet(fromHost({ dst: "172.20.1.1" }));
    expect(run1(vnf, f, 0).verdict).toBe(drop(DropReason.NoRoute));
    vnf.addRoute({ prefix: "172.20.0.0/16", via: "10.0.1.254" });
    expect(run1(vnf, f, 0).verdict).toBe(1);
    expect(vnf.deleteRoute("172.20.0.0/16")).toBe(true);
    expect(run1(vnf, f, 0).verdict).toBe(drop(DropReason.NoRoute));
  });
});

describe("Router IPv6 forwarding", () => {
  it("resolves a link-local gateway by neighbour solicitation, then forwards with the hop limit decremented", () => {
    const { vnf, outbox } = router();
    const spec = fromHost6({ ttl: 64 });
    expect(run1(vnf, packet(spec), 0).verdict).toBe(drop(DropReason.Queued));
    const [ns] = outbox();
    expect(ns!.port).toBe(1);
    expect(hex(ns!.frame)).toBe(hex(nd(135, { srcMac: R1, dstMac: "33:33:ff:00:00:fe", src: "fe80::2", dst: "ff02::1:ff00:fe", target: "fe80::fe", lla: R1 })));
    expect(checksumProblems(ns!.frame)).toEqual([]);
    run1(vnf, nd(136, { srcMac: GW6, dstMac: R1, src: "fe80::fe", dst: "fe80::2", target: "fe80::fe", lla: GW6, flags: 0x60 }), 1);
    const [rel] = outbox();
    expect(hex(rel!.frame)).toBe(hex(packet({ ...spec, dstMac: GW6, srcMac: R1, ttl: 63 })));
    const { verdict, out } = run1(vnf, packet(spec), 0);
    expect(verdict).toBe(1);
    expect(hex(out)).toBe(hex(packet({ ...spec, dstMac: GW6, srcMac: R1, ttl: 63 })));
    expect(checksumProblems(out)).toEqual([]);
  });

  it("answers a neighbour solicitation for its address with a solicited advertisement", () => {
    const { vnf, outbox } = router();
    const ns = nd(135, { srcMac: H0, dstMac: "33:33:ff:00:00:01", src: "2001:db8:0:1::5", dst: "ff02::1:ff00:1", target: "2001:db8:0:1::1", lla: H0 });
    expect(run1(vnf, ns, 0).verdict).toBe(drop(DropReason.Control));
    const [na] = outbox();
    expect(hex(na!.frame)).toBe(hex(nd(136, { srcMac: R0, dstMac: H0, src: "2001:db8:0:1::1", dst: "2001:db8:0:1::5", target: "2001:db8:0:1::1", lla: R0, flags: 0xe0 })));
    expect(vnf.neighbours()).toContainEqual({ ip: "2001:db8:0:1::5", port: 0, state: "REACHABLE", mac: H0 });
    // Hop limit other than 255 is refused (RFC 4861 §7.1.1).
    const forged = nd(135, { srcMac: H0, dstMac: R0, src: "2001:db8:0:1::5", dst: "2001:db8:0:1::1", target: "2001:db8:0:1::1", lla: H0, hlim: 64 });
    expect(run1(vnf, forged, 0).verdict).toBe(drop(DropReason.Malformed));
  });

  it("sends ICMPv6 time exceeded and destination unreachable (RFC 4443), checksummed", () => {
    const { vnf, outbox } = router();
    const spec = fromHost6({ ttl: 1 });
    expect(run1(vnf, packet(spec), 0).verdict).toBe(drop(DropReason.TtlExceeded));
    const [te] = outbox();
    expect(hex(te!.frame)).toBe(hex(packet({ dstMac: H0, srcMac: R0, src: "2001:db8:0:1::1", dst: "2001:db8:0:1::5", proto: "icmpv6", icmpType: 3, icmpCode: 0, ttl: 64, payload: ipBytesOf(spec) })));
    expect(checksumProblems(te!.frame)).toEqual([]);
    const nr = fromHost6({ dst: "2001:db8:999::1" });
    expect(run1(vnf, packet(nr), 0).verdict).toBe(drop(DropReason.NoRoute));
    const [un] = outbox();
    expect(hex(un!.frame)).toBe(hex(packet({ dstMac: H0, srcMac: R0, src: "2001:db8:0:1::1", dst: "2001:db8:0:1::5", proto: "icmpv6", icmpType: 1, icmpCode: 0, ttl: 64, payload: ipBytesOf(nr) })));
  });

  it("answers echo requests and refuses to forward link-local traffic", () => {
    const { vnf, outbox } = router();
    const req = fromHost6({ dst: "2001:db8:0:1::1", proto: "icmpv6", icmpType: 128, icmpId: 1, icmpSeq: 2, payload: [9] });
    expect(run1(vnf, packet(req), 0).verdict).toBe(drop(DropReason.Control));
    const [rep] = outbox();
    expect(hex(rep!.frame)).toBe(hex(packet({ ...req, dstMac: H0, srcMac: R0, src: "2001:db8:0:1::1", dst: "2001:db8:0:1::5", icmpType: 129 })));
    expect(run1(vnf, packet(fromHost6({ src: "fe80::5" })), 0).verdict).toBe(drop(DropReason.Scope));
    expect(run1(vnf, packet(fromHost6({ dst: "fe80::77" })), 0).verdict).toBe(drop(DropReason.Scope));
  });
});

describe("Router configuration", () => {
  it("names the field and reason of a bad configuration", () => {
    expect(() => new Router({ ...base, routes: [{ prefix: "172.16.0.0/12", via: "10.9.9.9" }] })).toThrow(/routes\[0\]: via 10\.9\.9\.9 is on no port's subnet/);
    expect(() => new Router({ ...base, routes: [{ prefix: "172.16.0.0/12", port: 5 }] })).toThrow(/routes\[0\]\.port: is not below the port count \(2\)/);
    expect(() => new Router({ ...base, routes: [{ prefix: "172.16.0.0/12" }] })).toThrow(/routes\[0\]: needs via, port, or both/);
    expect(() => new Router({ ...base, ports: [{ mac: R0, ipv4: ["10.0.0.1/33"] }] })).toThrow(/ports\[0\]\.ipv4\[0\]: "10\.0\.0\.1\/33" is not an interface address/);
    expect(() => new Router({ ...base, ports: [{ mac: R0, ipv4: ["2001:db8::1/64"] }] })).toThrow(/ports\[0\]\.ipv4\[0\]: must be an IPv4 address/);
    expect(() => new Router({ ...base, routes: [{ prefix: "10.0.0.0/8", via: "fe80::1", port: 0 }] })).toThrow(/routes\[0\]\.via: is IPv6 for an IPv4 prefix/);
  });
});
