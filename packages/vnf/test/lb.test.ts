import { describe, expect, it } from "vitest";
import { LoadBalancer, type LoadBalancerConfig } from "../src/lb.js";
import { DropReason, drop } from "../src/verdict.js";
import { FLAGS, hex, packet } from "./helpers/frames.js";
import { manualClock, run, run1 } from "./helpers/run.js";

const LB_MAC = "02:00:00:00:0b:00";
const backends = Array.from({ length: 4 }, (_, i) => ({ name: `web-${i}`, mac: `02:00:00:00:0b:1${i}` }));
const config: LoadBalancerConfig = {
  mac: LB_MAC,
  services: [
    { vip: "192.0.2.10", proto: "tcp", port: 80, backends, tableSize: 5003 },
    { vip: "2001:db8::10", proto: "udp", port: 0, backends: [{ name: "dns-a", mac: "02:00:00:00:0c:01", port: 0 }], tableSize: 251 },
  ],
  affinity: { capacity: 4096, timeout: 60 },
};

const client = (i: number, flags: number = FLAGS.SYN) =>
  packet({ dstMac: LB_MAC, srcMac: "02:00:00:00:aa:aa", src: `198.51.${(i >> 8) & 255}.${i & 255}`, dst: "192.0.2.10", proto: "tcp", sport: 10000 + (i % 50000), dport: 80, flags });

function lb() {
  const clock = manualClock();
  return { vnf: new LoadBalancer(config, { clock: clock.now }), clock };
}

const macOf = (f: Uint8Array) => hex(f.subarray(0, 6));

describe("LoadBalancer", () => {
  it("rewrites only the MACs (direct server return) and sends to the backend's port", () => {
    const { vnf } = lb();
    const f = client(1);
    const { verdict, out } = run1(vnf, f, 0);
    expect(verdict).toBe(1);
    const dst = backends.find((b) => hex(b.mac.split(":").map((h) => parseInt(h, 16))) === macOf(out))!;
    expect(dst).toBeDefined();
    const want = packet({ dstMac: dst.mac, srcMac: LB_MAC, src: "198.51.0.1", dst: "192.0.2.10", proto: "tcp", sport: 10001, dport: 80, flags: FLAGS.SYN });
    expect(hex(out)).toBe(hex(want));
  });

  it("keeps every packet of a flow on one backend and spreads flows over all backends", () => {
    const { vnf } = lb();
    const first = run(vnf, Array.from({ length: 400 }, (_, i) => client(i)), 0).out.map(macOf);
    const again = run(vnf, Array.from({ length: 400 }, (_, i) => client(i, FLAGS.ACK)), 0).out.map(macOf);
    expect(again).toEqual(first);
    const flows = vnf.backends(0).map((b) => b.flows);
    expect(flows.reduce((a, b) => a + b, 0)).toBe(400);
    for (const n of flows) expect(n).toBeGreaterThan(60);
    expect(vnf.counters.get("flows.new")).toBe(400);
    expect(vnf.counters.get("flows.pinned")).toBe(400);
  });

  it("adding a backend moves no pinned flow; new flows reach it", () => {
    const { vnf } = lb();
    const frames = Array.from({ length: 300 }, (_, i) => client(i));
    const before = run(vnf, frames, 0).out.map(macOf);
    vnf.addBackend(0, { name: "web-new", mac: "02:00:00:00:0b:99" });
    expect(run(vnf, frames, 0).out.map(macOf)).toEqual(before);
    const fresh = run(vnf, Array.from({ length: 300 }, (_, i) => client(1000 + i)), 0).out.map(macOf);
    expect(fresh).toContain("02 00 00 00 0b 99");
  });

  it("removing a backend moves only its flows", () => {
    const { vnf } = lb();
    const frames = Array.from({ length: 400 }, (_, i) => client(i));
    const before = run(vnf, frames, 0).out.map(macOf);
    vnf.removeBackend(0, "web-2");
    const after = run(vnf, frames, 0).out.map(macOf);
    const gone = "02 00 00 00 0b 12";
    let moved = 0;
    before.forEach((m, i) => {
      if (m === gone) expect(after[i]).not.toBe(gone);
      else expect(after[i]).toBe(m);
      if (after[i] !== m) moved++;
    });
    expect(moved).toBe(before.filter((m) => m === gone).length);
    expect(vnf.counters.get("flows.repinned")).toBe(moved);
  });

  it("forgets idle pins after the timeout", () => {
    const { vnf, clock } = lb();
    run1(vnf, client(5), 0);
    expect(vnf.counters.get("affinity.active")).toBe(1);
    clock.advance(61_000);
    run1(vnf, client(5), 0);
    expect(vnf.counters.get("flows.repinned")).toBe(1);
  });

  it("serves an every-port IPv6 UDP service and drops traffic to no service", () => {
    const { vnf } = lb();
    const q = packet({ dstMac: LB_MAC, srcMac: "02:00:00:00:aa:aa", src: "2001:db8:1::5", dst: "2001:db8::10", proto: "udp", sport: 3333, dport: 53 });
    const r = run1(vnf, q, 1);
    expect(r.verdict).toBe(0);
    expect(macOf(r.out)).toBe("02 00 00 00 0c 01");
    const other = packet({ dstMac: LB_MAC, src: "198.51.0.1", dst: "192.0.2.11", proto: "tcp", dport: 80 });
    expect(run1(vnf, other, 0).verdict).toBe(drop(DropReason.NoBackend));
    expect(run1(vnf, packet({ dstMac: LB_MAC, src: "198.51.0.1", dst: "192.0.2.10", proto: "tcp", dport: 81 }), 0).verdict).toBe(drop(DropReason.NoBackend));
  });

  it("drops flows of a service with no backend left", () => {
    const { vnf } = lb();
    vnf.removeBackend(1, "dns-a");
    const q = packet({ src: "2001:db8:1::5", dst: "2001:db8::10", proto: "udp", sport: 3333, dport: 53 });
    expect(run1(vnf, q, 1).verdict).toBe(drop(DropReason.NoBackend));
  });

  it("names the field and reason of a bad configuration", () => {
    expect(() => new LoadBalancer({ ...config, services: [{ vip: "192.0.2.10", proto: "tcp", port: 80, tableSize: 1000 }] })).toThrow(/services\[0\]\.tableSize: must be a prime number/);
    expect(() => new LoadBalancer({ ...config, services: [{ vip: "192.0.2.10", proto: "tcp", port: 80, backends: [backends[0]!, backends[0]!] }] })).toThrow(
      /services\[0\]\.backends\[1\]\.name: duplicate backend name "web-0"/,
    );
    expect(() => new LoadBalancer({ ...config, services: [{ vip: "192.0.2.10", proto: "tcp", port: 80, backends: [{ ...backends[0]!, port: 7 }] }] })).toThrow(
      /services\[0\]\.backends\[0\]\.port: is not below ports \(2\)/,
    );
    const { vnf } = lb();
    expect(() => vnf.removeBackend(0, "nope")).toThrow(/no backend "nope"/);
    expect(() => vnf.addBackend(0, backends[0]!)).toThrow(/already has a backend "web-0"/);
  });
});
