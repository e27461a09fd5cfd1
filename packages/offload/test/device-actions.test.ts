/**
 * The frame-rewriting classifier actions are applied by the device, byte
 * exact: VLAN push/pop (IEEE 802.1Q), VXLAN encap/decap (RFC 7348 §5), and
 * mirroring (a device-internal copy, never a host-CPU one).
 */
import { DEFAULT_COST_MODEL, ModelClock, costRates } from "@nfvio/core";
import { PacketMeta, PacketPool, buildFrame, parse, verifyIpv4HeaderChecksum, internetChecksum, pseudoHeaderSum6, type FrameSpec } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import type { FlowAction } from "../src/classifier/actions.js";
import type { FlowMatch } from "../src/classifier/index.js";
import { encapSourcePort } from "../src/device/actions.js";
import { OffloadDevice } from "../src/device/device.js";
import { UPLINK_PORT } from "../src/device/stage.js";
import { FlowKey, flowKeyFromFrame } from "../src/flow-key.js";
import { CapturePort, WireSource } from "../src/testing.js";
import { RecordingVnf, VM_MAC, attach, makeGuest, runToIdle } from "./harness.js";

const rates = costRates(DEFAULT_COST_MODEL);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

const INNER: FrameSpec = { src: "02:00:00:00:00:11", dst: "02:00:00:00:00:22", ipv4: { src: "10.1.0.1", dst: "10.1.0.2" }, udp: { srcPort: 5000, dstPort: 6000 }, payload: 40 };
const TEMPLATE4 = { srcMac: "02:aa:00:00:00:01", dstMac: "02:bb:00:00:00:02", srcIp: "192.0.2.1", dstIp: "192.0.2.2", vni: 0x123456, ttl: 33 };
const TEMPLATE6 = { srcMac: "02:aa:00:00:00:01", dstMac: "02:bb:00:00:00:02", srcIp: "2001:db8::1", dstIp: "2001:db8::2", vni: 77, ttl: 40 };

/** Frames from the wire through one rule, back out of the uplink (hairpin); what the wire got. */
function hairpin(frames: readonly Uint8Array[], match: FlowMatch, actions: FlowAction[], withGuest = false) {
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 1024 });
  const wire = new CapturePort(pool);
  const device = new OffloadDevice({ clock, cost: rates, pool, vports: 1, wire });
  const receiver = new RecordingVnf();
  if (withGuest) {
    const vm = makeGuest({ clock, cost: rates, offered: device.features, vnf: receiver, name: "vm" });
    attach(device, 0, vm, VM_MAC[0]);
    vm.start();
  }
  const r = device.classifier.create({ match, actions: [...actions, { type: "uplink" }] });
  expect(r.ok, r.ok ? "" : r.reason).toBe(true);
  new WireSource({ clock, pool, port: device.uplink, frames: [...frames], count: frames.length, gbps: 10 }).start();
  runToIdle(clock);
  return { device, wire, receiver, pool, out: wire.frames.map((f) => f.data), s: device.snapshot() };
}

function expectConserved(device: OffloadDevice): void {
  const c = device.conservation();
  expect(c.inFlight).toBe(0);
  expect(c.offered).toBe(c.delivered + c.dropped);
  expect(device.buffersHeld).toBe(0);
}

describe("VLAN push and pop", () => {
  it("push inserts the 802.1Q tag after the MACs; pop of that gives the original back", () => {
    const orig = buildFrame(INNER);
    const pushed = hairpin([orig], { ipProto: 17 }, [{ type: "vlanPush", vid: 100, pcp: 5, dei: 1 }]);
    expect(pushed.out).toHaveLength(1);
    expect(hex(pushed.out[0]!)).toBe(hex(buildFrame({ ...INNER, vlans: [{ vid: 100, pcp: 5, dei: true }], padTo: 0 })));
    expect(pushed.s["classifier.vlanPushed"]).toBe(1);
    expect(pushed.s["classifier.unappliedActions"]).toBe(0);
    expect(pushed.s["hostCopyBytes"]).toBe(0);
    expectConserved(pushed.device);

    const popped = hairpin(pushed.out, { vlanId: 100 }, [{ type: "vlanPop" }]);
    expect(popped.out.map(hex)).toEqual([hex(orig)]);
    expect(popped.s["classifier.vlanPopped"]).toBe(1);
    expectConserved(popped.device);
  });

  it("pop of an untagged frame leaves it as it is and counts vlanPopNoTag", () => {
    const orig = buildFrame(INNER);
    const r = hairpin([orig], { ipProto: 17 }, [{ type: "vlanPop" }]);
    expect(r.out.map(hex)).toEqual([hex(orig)]);
    expect(r.s["classifier.vlanPopNoTag"]).toBe(1);
    expect(r.s["classifier.vlanPopped"]).toBe(0);
    expectConserved(r.device);
  });
});

describe("VXLAN encap and decap", () => {
  it("IPv4 encap: outer Ethernet/IPv4/UDP/VXLAN from the template, byte exact; parse reads the VNI and inner frame; decap gives the original", () => {
    const orig = buildFrame(INNER);
    const enc = hairpin([orig], { ipProto: 17 }, [{ type: "vxlanEncap", template: TEMPLATE4 }]);
    expect(enc.out).toHaveLength(1);
    const f = enc.out[0]!;
    const sport = encapSourcePort(flowKeyFromFrame(orig, 0, orig.length, UPLINK_PORT, new FlowKey()));
    expect(sport).toBeGreaterThanOrEqual(49152);
    const expected = buildFrame({
      src: TEMPLATE4.srcMac,
      dst: TEMPLATE4.dstMac,
      ipv4: { src: TEMPLATE4.srcIp, dst: TEMPLATE4.dstIp, ttl: 33, id: 0, dontFragment: true },
      udp: { srcPort: sport, dstPort: 4789, zeroChecksum: true },
      vxlan: { vni: TEMPLATE4.vni, inner: INNER },
      padTo: 0,
    });
    expect(hex(f)).toBe(hex(expected));
    const m = new PacketMeta();
    expect(parse(f, 0, f.length, m)).toBe(true);
    expect(m.tunnel).not.toBe(0);
    expect(m.vni).toBe(0x123456);
    expect(hex(f.subarray(m.innerL2Offset))).toBe(hex(orig));
    // Full recompute: IPv4 header checksum; total length; UDP length; UDP checksum 0 (RFC 7348 §5).
    expect(verifyIpv4HeaderChecksum(f, 14)).toBe(true);
    expect((f[16]! << 8) | f[17]!).toBe(f.length - 14);
    expect((f[38]! << 8) | f[39]!).toBe(f.length - 34);
    expect((f[40]! << 8) | f[41]!).toBe(0);
    expect(f[42]).toBe(0x08);
    expect(enc.s["classifier.vxlanEncapped"]).toBe(1);
    expectConserved(enc.device);

    const dec = hairpin(enc.out, { tunnel: 1, vni: 0x123456 }, [{ type: "vxlanDecap" }]);
    expect(dec.out.map(hex)).toEqual([hex(orig)]);
    expect(dec.s["classifier.vxlanDecapped"]).toBe(1);
    expectConserved(dec.device);
  });

  it("IPv6 encap with a tagged underlay and a fixed source port: UDP checksum computed; decap gives the original", () => {
    const orig = buildFrame(INNER);
    const tpl = { ...TEMPLATE6, srcPort: 50000, vlanTci: 42 };
    const enc = hairpin([orig], { ipProto: 17 }, [{ type: "vxlanEncap", template: tpl }]);
    const f = enc.out[0]!;
    const expected = buildFrame({
      src: tpl.srcMac,
      dst: tpl.dstMac,
      vlans: [{ vid: 42 }],
      ipv6: { src: tpl.srcIp, dst: tpl.dstIp, hopLimit: 40 },
      udp: { srcPort: 50000, dstPort: 4789 },
      vxlan: { vni: 77, inner: INNER },
      padTo: 0,
    });
    expect(hex(f)).toBe(hex(expected));
    const l3 = 18;
    const l4 = l3 + 40;
    const udpLen = f.length - l4;
    expect((f[l3 + 4]! << 8) | f[l3 + 5]!).toBe(udpLen);
    expect((f[l4 + 4]! << 8) | f[l4 + 5]!).toBe(udpLen);
    // Recomputed over pseudo-header + UDP (checksum field included): sums to 0xffff, so the complement is 0.
    expect(internetChecksum(f, l4, udpLen, pseudoHeaderSum6(f, l3 + 8, l3 + 24, 17, udpLen))).toBe(0);
    const m = new PacketMeta();
    expect(parse(f, 0, f.length, m)).toBe(true);
    expect(m.vni).toBe(77);
    const dec = hairpin(enc.out, { tunnel: 1 }, [{ type: "vxlanDecap" }]);
    expect(dec.out.map(hex)).toEqual([hex(orig)]);
  });
});

describe("mirror", () => {
  it("delivers the frame and a device-made copy to the mirror vport; copies counted apart, never as host-CPU bytes; counters conserve", () => {
    const frames = [buildFrame(INNER), buildFrame({ ...INNER, payload: 300 })];
    const r = hairpin(frames, { ipProto: 17 }, [{ type: "mirror", to: { vport: 0 } }], true);
    expect(r.out.map(hex)).toEqual(frames.map(hex));
    expect(r.receiver.received.map((x) => hex(x.data))).toEqual(frames.map(hex));
    const bytes = frames[0]!.length + frames[1]!.length;
    expect(r.s["mirrorCopies"]).toBe(2);
    expect(r.s["mirrorBytes"]).toBe(bytes);
    expect(r.s["mirrorNoBuffer"]).toBe(0);
    expect(r.s["hostCopyBytes"]).toBe(0);
    expect(r.s["wireTxFrames"]).toBe(2);
    expect(r.s["deliveredFrames"]).toBe(2);
    const c = r.device.conservation();
    // offered = the wire's frames + the mirror copies = delivered + dropped.
    expect(c).toEqual({ offered: 4, delivered: 4, dropped: 0, inFlight: 0 });
    expect(r.s["wireRxFrames"]! + r.s["mirrorCopies"]!).toBe(c.delivered + c.dropped);
    expect(r.device.buffersHeld).toBe(0);
  });

  it("mirror with a rewrite copies the rewritten frame; to the uplink both copies leave by the wire", () => {
    const orig = buildFrame(INNER);
    const r = hairpin([orig], { ipProto: 17 }, [{ type: "vlanPush", vid: 7 }, { type: "mirror", to: "uplink" }]);
    const tagged = hex(buildFrame({ ...INNER, vlans: [{ vid: 7 }], padTo: 0 }));
    expect(r.out.map(hex)).toEqual([tagged, tagged]);
    expect(r.device.conservation()).toEqual({ offered: 2, delivered: 2, dropped: 0, inFlight: 0 });
  });

  it("with no device buffer free, the original goes on and mirrorNoBuffer counts the missing copy", () => {
    const clock = new ModelClock();
    const pool = new PacketPool({ count: 1 });
    const wire = new CapturePort(pool);
    const device = new OffloadDevice({ clock, cost: rates, pool, vports: 1, wire });
    const r = device.classifier.create({ match: { ipProto: 17 }, actions: [{ type: "mirror", to: "uplink" }, { type: "uplink" }] });
    expect(r.ok).toBe(true);
    const orig = buildFrame(INNER);
    new WireSource({ clock, pool, port: device.uplink, frames: [orig], count: 1, gbps: 10 }).start();
    runToIdle(clock);
    expect(wire.frames.map((f) => hex(f.data))).toEqual([hex(orig)]);
    const s = device.snapshot();
    expect(s["mirrorNoBuffer"]).toBe(1);
    expect(s["mirrorCopies"]).toBe(0);
    expect(device.conservation()).toEqual({ offered: 1, delivered: 1, dropped: 0, inFlight: 0 });
  });
});
