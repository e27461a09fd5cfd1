/**
 * Hostile input: random bytes and mutated valid frames (truncated, bytes
 * flipped, lengths lying) through every VNF. The datapath must never throw,
 * must give every packet a verdict that is a port of the VNF or a known drop
 * reason, and must not touch bytes outside the packet.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DROP_REASON_NAMES } from "../src/verdict.js";
import { createBurst } from "../src/burst.js";
import { createVnf, type VnfSpec } from "../src/registry.js";
import type { Vnf } from "../src/vnf.js";
import { FLAGS, arp, nd, packet } from "./helpers/frames.js";

const specs: VnfSpec[] = [
  { kind: "macswap", config: { ports: 2 } },
  { kind: "l2fwd", config: { ports: [{ mac: "02:00:00:00:00:01", peerMac: "02:00:00:00:00:09" }, {}] } },
  {
    kind: "router",
    config: {
      ports: [
        { mac: "02:00:00:00:00:01", ipv4: ["10.0.0.1/24"], ipv6: ["2001:db8:0:1::1/64", "fe80::1/64"] },
        { mac: "02:00:00:00:00:02", ipv4: ["10.0.1.1/24"], ipv6: ["2001:db8:0:2::1/64"] },
      ],
      routes: [{ prefix: "0.0.0.0/0", via: "10.0.1.254" }, { prefix: "::/0", via: "2001:db8:0:2::fe" }],
      lpm: { ipv4RootBits: 16 },
      icmp: { rate: 1e9, burst: 1e6 },
    },
  },
  { kind: "firewall", config: { rules: [{ action: "accept", proto: "tcp" }, { action: "accept", proto: "udp" }, { action: "accept", proto: "icmp" }], conntrack: { capacity: 64 } } },
  { kind: "nat", config: { snat: [{ from: "10.0.0.0/8", to: "203.0.113.1", ports: "1000-1010" }], dnat: [{ proto: "tcp", address: "203.0.113.1", port: 80, to: "10.0.0.2" }], conntrack: { capacity: 64 } } },
  { kind: "lb", config: { mac: "02:00:00:00:0b:00", services: [{ vip: "10.0.0.2", proto: "tcp", port: 0, tableSize: 251, backends: [{ name: "a", mac: "02:00:00:00:0b:01" }] }], affinity: { capacity: 64 } } },
];

const seeds: Uint8Array[] = [
  packet({ dstMac: "02:00:00:00:00:01", src: "10.0.0.5", dst: "10.0.0.2", proto: "tcp", flags: FLAGS.SYN, payload: [1, 2, 3] }),
  packet({ dstMac: "02:00:00:00:00:01", src: "10.0.0.5", dst: "8.8.8.8", proto: "udp", ttl: 1 }),
  packet({ dstMac: "02:00:00:00:00:01", src: "203.0.113.9", dst: "203.0.113.1", proto: "tcp", dport: 80, flags: FLAGS.SYN }),
  packet({ dstMac: "02:00:00:00:00:01", src: "10.0.0.5", dst: "10.0.0.1", proto: "icmp", icmpType: 8, icmpId: 1 }),
  packet({ dstMac: "02:00:00:00:00:01", src: "10.0.0.5", dst: "9.9.9.9", proto: "icmp", icmpType: 3, payload: new Array(28).fill(0x45) }),
  packet({ dstMac: "02:00:00:00:00:01", src: "2001:db8:0:1::5", dst: "2001:db8:9::1", proto: "udp", ttl: 1 }),
  packet({ dstMac: "02:00:00:00:00:01", src: "2001:db8:0:1::5", dst: "2001:db8:0:1::1", proto: "icmpv6", icmpType: 128 }),
  arp(1, { srcMac: "02:00:00:00:aa:01", sha: "02:00:00:00:aa:01", spa: "10.0.0.5", tpa: "10.0.0.1" }),
  nd(135, { srcMac: "02:00:00:00:aa:01", dstMac: "33:33:ff:00:00:01", src: "2001:db8:0:1::5", dst: "ff02::1:ff00:1", target: "2001:db8:0:1::1", lla: "02:00:00:00:aa:01" }),
];

const arbFrame = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 120 }),
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), fc.boolean())
    .map(([seed, flips, cut, doCut]) => {
      const f = seed.slice();
      for (const [at, v] of flips) f[at % f.length] = v;
      return doCut ? f.subarray(0, cut % (f.length + 1)).slice() : f;
    }),
);

function check(vnf: Vnf, frames: Uint8Array[], port: number, lie: number): void {
  const n = frames.length;
  const b = createBurst(n);
  const guard = 16;
  const copies: Uint8Array[] = [];
  frames.forEach((f, i) => {
    // Each frame sits in a larger buffer with guard bytes around it.
    const buf = new Uint8Array(guard + f.length + guard).fill(0xa5);
    buf.set(f, guard);
    copies.push(buf.slice());
    b.bufs[i] = buf;
    b.offsets[i] = guard;
    // Sometimes claim a length shorter than the bytes present.
    b.lengths[i] = lie > 0 && i % 2 === 0 ? Math.max(0, f.length - (lie % (f.length + 1))) : f.length;
    b.ports[i] = port;
  });
  const lengths = b.lengths.slice();
  const v = new Int32Array(n);
  vnf.process(b, n, v);
  vnf.outbox?.clear();
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    if (x >= 0) expect(x).toBeLessThan(vnf.portCount);
    else expect(-x - 1).toBeLessThan(DROP_REASON_NAMES.length);
    expect(b.lengths[i]).toBe(lengths[i]);
    const buf = b.bufs[i]!;
    // Bytes before the frame and after its claimed length are untouched.
    let outside = 0;
    for (let k = 0; k < guard; k++) if (buf[k] !== 0xa5) outside++;
    for (let k = guard + lengths[i]!; k < buf.length; k++) if (buf[k] !== copies[i]![k]) outside++;
    expect(outside).toBe(0);
  }
}

describe("hostile input never throws and never writes outside a packet", () => {
  for (const spec of specs) {
    it(spec.kind, () => {
      const vnf = createVnf(spec, { clock: () => 1000 });
      fc.assert(
        fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 2 }), fc.nat(40), (frames, port, lie) => {
          check(vnf, frames, port, lie);
        }),
        { numRuns: 200 },
      );
    });
  }
});
