import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Nat, type NatConfig } from "../src/nat.js";
import { DropReason, drop } from "../src/verdict.js";
import { FLAGS, type PacketSpec, checksumProblems, hex, ipBytesOf, packet, tuple4 } from "./helpers/frames.js";
import { manualClock, run, run1 } from "./helpers/run.js";

const EXT = "203.0.113.1";
const config: NatConfig = {
  snat: [{ from: "10.0.0.0/8", to: EXT, ports: "1024-65535" }],
  dnat: [{ proto: "tcp", address: EXT, port: 8080, to: "10.0.0.5", toPort: 80 }],
};

function nat(c: NatConfig = config) {
  const clock = manualClock();
  return { vnf: new Nat(c, { clock: clock.now }), clock };
}

const bytes = (f: Uint8Array) => hex(f);

describe("NAT: source NAT", () => {
  it("rewrites an outbound TCP SYN to the external address, keeping a free port, byte for byte", () => {
    const { vnf } = nat();
    const spec: PacketSpec = { src: "10.1.2.3", dst: "198.51.100.7", proto: "tcp", sport: 40000, dport: 443, flags: FLAGS.SYN, seq: 0x01020304, payload: [1, 2, 3] };
    const { verdict, out } = run1(vnf, packet(spec), 0);
    expect(verdict).toBe(1);
    expect(bytes(out)).toBe(bytes(packet({ ...spec, src: EXT })));
    expect(checksumProblems(out)).toEqual([]);
    // The reply comes back to the inside host, byte for byte.
    const reply: PacketSpec = { src: "198.51.100.7", dst: EXT, proto: "tcp", sport: 443, dport: 40000, flags: FLAGS.SYN | FLAGS.ACK, seq: 9, ack: 0x01020305 };
    const back = run1(vnf, packet(reply), 1);
    expect(back.verdict).toBe(0);
    expect(bytes(back.out)).toBe(bytes(packet({ ...reply, dst: "10.1.2.3" })));
    expect(vnf.counters.get("snat.new")).toBe(1);
    expect(vnf.counters.get("translated")).toBe(2);
  });

  it("gives a second inside host with the same source port another external port", () => {
    const { vnf } = nat();
    const a = run1(vnf, packet({ src: "10.0.0.1", dst: "198.51.100.7", proto: "udp", sport: 5353, dport: 53, payload: [7] }), 0);
    const b = run1(vnf, packet({ src: "10.0.0.2", dst: "198.51.100.7", proto: "udp", sport: 5353, dport: 53, payload: [7] }), 0);
    expect(tuple4(a.out)).toEqual({ src: EXT, dst: "198.51.100.7", proto: 17, sport: 5353, dport: 53 });
    expect(tuple4(b.out).sport).toBe(1024);
    expect(bytes(b.out)).toBe(bytes(packet({ src: EXT, dst: "198.51.100.7", proto: "udp", sport: 1024, dport: 53, payload: [7] })));
    expect(checksumProblems(b.out)).toEqual([]);
    expect(vnf.portsInUse(0xcb007101, 17)).toBe(2);
  });

  it("leaves a zero UDP checksum zero", () => {
    const { vnf } = nat();
    const spec: PacketSpec = { src: "10.0.0.9", dst: "198.51.100.7", proto: "udp", sport: 4000, dport: 9, udpNoChecksum: true };
    const { out } = run1(vnf, packet(spec), 0);
    expect(bytes(out)).toBe(bytes(packet({ ...spec, src: EXT })));
  });

  it("translates the ICMP echo identifier and the ICMP checksum", () => {
    const { vnf } = nat({ snat: [{ from: "10.0.0.0/8", to: EXT, ports: "2000-2000" }] });
    const req = (src: string) => packet({ src, dst: "198.51.100.7", proto: "icmp", icmpType: 8, icmpId: 7, icmpSeq: 1, payload: [0xab, 0xcd] });
    const r = run1(vnf, req("10.0.0.1"), 0);
    expect(bytes(r.out)).toBe(bytes(packet({ src: EXT, dst: "198.51.100.7", proto: "icmp", icmpType: 8, icmpId: 2000, icmpSeq: 1, payload: [0xab, 0xcd] })));
    expect(checksumProblems(r.out)).toEqual([]);
    const rep = run1(vnf, packet({ src: "198.51.100.7", dst: EXT, proto: "icmp", icmpType: 0, icmpId: 2000, icmpSeq: 1, payload: [0xab, 0xcd] }), 1);
    expect(bytes(rep.out)).toBe(bytes(packet({ src: "198.51.100.7", dst: "10.0.0.1", proto: "icmp", icmpType: 0, icmpId: 7, icmpSeq: 1, payload: [0xab, 0xcd] })));
    // The only identifier is taken: a second host's echo is refused and counted.
    expect(run1(vnf, req("10.0.0.2"), 0).verdict).toBe(drop(DropReason.NatExhausted));
    expect(vnf.counters.get("drop.nat-exhausted")).toBe(1);
  });

  it("counts port exhaustion and reuses ports after their connections expire", () => {
    const { vnf, clock } = nat({ snat: [{ from: "10.0.0.0/8", to: EXT, ports: "5000-5001" }] });
    const q = (sport: number) => packet({ src: "10.0.0.1", dst: "198.51.100.7", proto: "udp", sport, dport: 53 });
    expect(run(vnf, [q(1), q(2), q(3)], 0).verdicts).toEqual([1, 1, drop(DropReason.NatExhausted)]);
    expect(vnf.counters.get("ports-in-use")).toBe(2);
    clock.advance(31_000);
    expect(run1(vnf, q(3), 0).verdict).toBe(1);
    expect(vnf.counters.get("ct.expired")).toBeGreaterThanOrEqual(1);
  });

  it("drops outside traffic without a mapping and inside traffic outside every rule when asked", () => {
    const { vnf } = nat({ ...config, untranslated: "drop" });
    expect(run1(vnf, packet({ src: "198.51.100.7", dst: EXT, proto: "udp", sport: 53, dport: 4000 }), 1).verdict).toBe(drop(DropReason.NoMapping));
    expect(run1(vnf, packet({ src: "192.168.0.1", dst: "198.51.100.7", proto: "udp" }), 0).verdict).toBe(drop(DropReason.NoMapping));
    expect(run1(vnf, packet({ src: "10.0.0.1", dst: "198.51.100.7", proto: "tcp", flags: FLAGS.ACK }), 0).verdict).toBe(drop(DropReason.Invalid));
    expect(run1(vnf, packet({ src: "2001:db8::1", dst: "2001:db8::2", proto: "udp" }), 0).verdict).toBe(drop(DropReason.Unsupported));
  });

  it("forwards untranslated inside traffic by default, and its replies", () => {
    const { vnf } = nat();
    const f = packet({ src: "192.168.0.1", dst: "198.51.100.7", proto: "udp", sport: 1, dport: 2 });
    const r = run1(vnf, f, 0);
    expect(r.verdict).toBe(1);
    expect(bytes(r.out)).toBe(bytes(f));
    expect(run1(vnf, packet({ src: "198.51.100.7", dst: "192.168.0.1", proto: "udp", sport: 2, dport: 1 }), 1).verdict).toBe(0);
  });
});

describe("NAT: ICMP errors (RFC 5508 §4.2)", () => {
  it("translates a time-exceeded from a router outside back to the inside host, quote included", () => {
    const { vnf } = nat();
    const spec: PacketSpec = { src: "10.1.2.3", dst: "198.51.100.7", proto: "udp", sport: 40000, dport: 33434, ttl: 1, payload: [1, 2, 3, 4] };
    const outFrame = run1(vnf, packet(spec), 0).out;
    // A router on the path quotes the translated packet's header and first 8 bytes.
    const quoted = Array.from(outFrame.subarray(14, 14 + 28));
    const err = run1(vnf, packet({ src: "192.0.2.99", dst: EXT, proto: "icmp", icmpType: 11, icmpCode: 0, payload: quoted, df: false }), 1);
    expect(err.verdict).toBe(0);
    const want = packet({ src: "192.0.2.99", dst: "10.1.2.3", proto: "icmp", icmpType: 11, icmpCode: 0, payload: ipBytesOf(spec).slice(0, 28), df: false });
    expect(hex(err.out)).toBe(hex(want));
    expect(checksumProblems(err.out)).toEqual([]);
  });

  it("translates a port-unreachable from the remote host, with a long quote (TCP checksum included)", () => {
    const { vnf } = nat({ snat: [{ from: "10.0.0.0/8", to: EXT, ports: "3000-3000" }] });
    const spec: PacketSpec = { src: "10.1.2.3", dst: "198.51.100.7", proto: "tcp", sport: 40000, dport: 7, flags: FLAGS.SYN, payload: [9, 9] };
    const outFrame = run1(vnf, packet(spec), 0).out;
    const quoted = Array.from(outFrame.subarray(14));
    const err = run1(vnf, packet({ src: "198.51.100.7", dst: EXT, proto: "icmp", icmpType: 3, icmpCode: 3, payload: quoted }), 1);
    expect(err.verdict).toBe(0);
    expect(hex(err.out)).toBe(hex(packet({ src: "198.51.100.7", dst: "10.1.2.3", proto: "icmp", icmpType: 3, icmpCode: 3, payload: ipBytesOf(spec) })));
  });

  it("translates an error from the inside server of a port forward to come from the external address", () => {
    const { vnf } = nat();
    const syn: PacketSpec = { src: "198.51.100.9", dst: EXT, proto: "tcp", sport: 55555, dport: 8080, flags: FLAGS.SYN };
    const inFrame = run1(vnf, packet(syn), 1).out;
    const err = run1(vnf, packet({ src: "10.0.0.5", dst: "198.51.100.9", proto: "icmp", icmpType: 3, icmpCode: 3, payload: Array.from(inFrame.subarray(14, 42)) }), 0);
    expect(err.verdict).toBe(1);
    expect(hex(err.out)).toBe(hex(packet({ src: EXT, dst: "198.51.100.9", proto: "icmp", icmpType: 3, icmpCode: 3, payload: ipBytesOf(syn).slice(0, 28) })));
  });

  it("drops errors quoting no tracked connection", () => {
    const { vnf } = nat();
    const stray = packet({ src: "192.0.2.99", dst: EXT, proto: "icmp", icmpType: 11, payload: ipBytesOf({ src: EXT, dst: "198.51.100.7", proto: "udp", sport: 1, dport: 2 }).slice(0, 28) });
    expect(run1(vnf, stray, 1).verdict).toBe(drop(DropReason.NoMapping));
  });
});

describe("NAT: destination NAT (port forward)", () => {
  it("sends outside connections to the inside server and translates its replies", () => {
    const { vnf } = nat();
    const syn: PacketSpec = { src: "198.51.100.9", dst: EXT, proto: "tcp", sport: 55555, dport: 8080, flags: FLAGS.SYN };
    const r = run1(vnf, packet(syn), 1);
    expect(r.verdict).toBe(0);
    expect(bytes(r.out)).toBe(bytes(packet({ ...syn, dst: "10.0.0.5", dport: 80 })));
    const synack: PacketSpec = { src: "10.0.0.5", dst: "198.51.100.9", proto: "tcp", sport: 80, dport: 55555, flags: FLAGS.SYN | FLAGS.ACK };
    const s = run1(vnf, packet(synack), 0);
    expect(s.verdict).toBe(1);
    expect(bytes(s.out)).toBe(bytes(packet({ ...synack, src: EXT, sport: 8080 })));
    expect(vnf.counters.get("dnat.new")).toBe(1);
  });

  it("keeps forwarded ports out of the dynamic pool", () => {
    const { vnf } = nat({ snat: [{ from: "10.0.0.0/8", to: EXT, ports: "8080-8081" }], dnat: [{ proto: "tcp", address: EXT, port: 8080, to: "10.0.0.5" }] });
    const r = run1(vnf, packet({ src: "10.0.0.1", dst: "198.51.100.7", proto: "tcp", sport: 8080, flags: FLAGS.SYN }), 0);
    expect(tuple4(r.out).sport).toBe(8081);
  });

  it("names the field and reason of a bad configuration", () => {
    expect(() => new Nat({ snat: [{ from: "2001:db8::/32", to: EXT }] })).toThrow(/snat\[0\]\.from: "2001:db8::\/32" is not an IPv4 prefix/);
    expect(() => new Nat({ snat: [{ from: "10.0.0.0/8", to: "300.1.1.1" }] })).toThrow(/snat\[0\]\.to: "300\.1\.1\.1" is not an IPv4 address/);
    expect(() => new Nat({ dnat: [{ proto: "tcp", address: EXT, port: 80, to: "10.0.0.1" }, { proto: "tcp", address: EXT, port: 80, to: "10.0.0.2" }] })).toThrow(
      /dnat\[1\]\.port: duplicate port forward/,
    );
  });
});

describe("NAT translations are reversible", () => {
  const arbFlow = fc.record({
    src: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b, c]) => `10.${a}.${b}.${c}`),
    dst: fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b, c]) => `${a === 10 ? 11 : a}.${b}.0.${c}`),
    proto: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const),
    sport: fc.integer({ min: 1, max: 65535 }),
    dport: fc.integer({ min: 1, max: 65535 }),
    payload: fc.uint8Array({ maxLength: 9 }),
    udpNoChecksum: fc.boolean(),
  });

  it("translate out, translate the reply back: the original tuple, valid checksums, one external port per flow", () => {
    fc.assert(
      fc.property(fc.array(arbFlow, { minLength: 1, maxLength: 40 }), (flows) => {
        const { vnf } = nat({ snat: [{ from: "10.0.0.0/8", to: EXT, ports: "1024-65535" }] });
        const seen = new Map<string, string>();
        const extOf = new Set<string>();
        for (const fl of flows) {
          const key = `${fl.proto}/${fl.src}/${fl.proto === "icmp" ? fl.sport : `${fl.sport}/${fl.dst}/${fl.dport}`}`;
          const spec: PacketSpec =
            fl.proto === "icmp"
              ? { src: fl.src, dst: fl.dst, proto: "icmp", icmpType: 8, icmpId: fl.sport, icmpSeq: 1, payload: fl.payload }
              : { src: fl.src, dst: fl.dst, proto: fl.proto, sport: fl.sport, dport: fl.dport, flags: FLAGS.SYN, payload: fl.payload, udpNoChecksum: fl.udpNoChecksum };
          const orig = packet(spec);
          const o = run1(vnf, orig, 0);
          expect(o.verdict).toBe(1);
          expect(checksumProblems(o.out)).toEqual([]);
          const t = tuple4(o.out);
          expect(t.src).toBe(EXT);
          expect(t.dst).toBe(fl.dst);
          if (fl.proto !== "icmp") expect(t.dport).toBe(fl.dport);
          // The same flow maps to the same external port; different flows never share one.
          const ext = `${fl.proto}/${t.sport}${fl.proto === "icmp" ? "" : `/${fl.dst}/${fl.dport}`}`;
          if (seen.has(key)) expect(seen.get(key)).toBe(ext);
          else {
            expect(extOf.has(ext)).toBe(false);
            seen.set(key, ext);
            extOf.add(ext);
          }
          // Only the address, port and checksums may differ from the original.
          const replySpec: PacketSpec =
            fl.proto === "icmp"
              ? { src: t.dst, dst: t.src, proto: "icmp", icmpType: 0, icmpId: t.sport, icmpSeq: 1, payload: fl.payload }
              : { src: t.dst, dst: t.src, proto: fl.proto, sport: t.dport, dport: t.sport, flags: FLAGS.SYN | FLAGS.ACK, payload: fl.payload, udpNoChecksum: fl.udpNoChecksum };
          const back = run1(vnf, packet(replySpec), 1);
          expect(back.verdict).toBe(0);
          expect(checksumProblems(back.out)).toEqual([]);
          const want = tuple4(orig);
          expect(tuple4(back.out)).toEqual({ src: want.dst, dst: want.src, proto: want.proto, sport: fl.proto === "icmp" ? want.sport : want.dport, dport: fl.proto === "icmp" ? 0 : want.sport });
        }
      }),
      { numRuns: 100 },
    );
  });
});
