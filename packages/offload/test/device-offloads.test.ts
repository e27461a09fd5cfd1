import { DEFAULT_COST_MODEL, ModelClock, costRates } from "@nfvio/core";
import { PacketMeta, PacketPool, TcpFlag, buildFrame, l4Checksum, parse, pseudoHeaderSum4, pseudoHeaderSum6, verifyChecksums, type FrameSpec } from "@nfvio/packet";
import {
  VIRTIO_NET_F_HOST_ECN,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_HOST_TSO6,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
} from "@nfvio/virtio";
import { describe, expect, it } from "vitest";
import { OffloadDevice } from "../src/device/device.js";
import { DPAA_LIKE_PROFILE } from "../src/device/profile.js";
import { CapturePort } from "../src/testing.js";
import { RecordingVnf, SenderVnf, VM_MAC, attach, makeGuest, runToIdle, type ToSend } from "./harness.js";

const rates = costRates(DEFAULT_COST_MODEL);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Put the pseudo-header sum in the L4 checksum field, as a driver does for NEEDS_CSUM (virtio 1.2 §5.1.6.2). */
function partial(frame: Uint8Array, withLength = true): { data: Uint8Array; csumStart: number; csumOffset: number } {
  const f = frame.slice();
  const m = new PacketMeta();
  parse(f, 0, f.length, m);
  const l4len = m.payloadOffset + m.payloadLength - m.l4Offset;
  const field = m.l4Proto === 6 ? 16 : 6;
  const len = withLength ? l4len : 0;
  const s = m.etherType === 0x0800 ? pseudoHeaderSum4(f, m.l3Offset, m.l4Proto, len) : pseudoHeaderSum6(f, m.l3Offset + 8, m.l3Offset + 24, m.l4Proto, len);
  f[m.l4Offset + field] = s >>> 8;
  f[m.l4Offset + field + 1] = s & 0xff;
  return { data: f, csumStart: m.l4Offset, csumOffset: field };
}

function run(sends: ToSend[], opts: { dstVm?: boolean; profile?: typeof DPAA_LIKE_PROFILE } = {}) {
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 4096, dataRoom: 2048 });
  const wire = new CapturePort(pool);
  const device = new OffloadDevice({ clock, cost: rates, pool, vports: 2, wire, ...(opts.profile ? { profile: opts.profile } : {}) });
  const sender = new SenderVnf(sends);
  const vm1 = makeGuest({ clock, cost: rates, offered: device.features, vnf: sender, name: "vm1", extra: VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN, queueSize: 64, poolCount: 160, dataRoom: 16384 });
  const receiver = new RecordingVnf();
  const vm2 = makeGuest({ clock, cost: rates, offered: device.features, vnf: receiver, name: "vm2" });
  attach(device, 0, vm1, VM_MAC[0]);
  attach(device, 1, vm2, VM_MAC[1]);
  vm2.start();
  vm1.start();
  runToIdle(clock);
  return { device, wire, receiver, sender, vm1 };
}

describe("transmit checksum offload (NEEDS_CSUM)", () => {
  it("completes TCP and UDP checksums from csum_start/csum_offset, byte-exact with a full recompute", () => {
    const specs: FrameSpec[] = [
      { dst: "02:00:00:00:0b:01", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, tcp: { srcPort: 1000, dstPort: 80, seq: 7, flags: TcpFlag.ACK }, payload: 300 },
      { dst: "02:00:00:00:0b:01", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 5000, dstPort: 53 }, payload: 41 },
      { dst: "02:00:00:00:0b:01", ipv6: { src: "2001:db8::1", dst: "2001:db8::2" }, tcp: { srcPort: 2000, dstPort: 443, flags: TcpFlag.SYN } },
      { dst: "02:00:00:00:0b:01", ipv6: { src: "2001:db8::1", dst: "2001:db8::2" }, udp: { srcPort: 7, dstPort: 9 }, payload: 1200 },
    ];
    const want = specs.map((s) => buildFrame(s));
    // A UDP datagram whose checksum computes to 0 must go out as 0xffff (RFC 768).
    const zero = buildFrame({ dst: "02:00:00:00:0b:01", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 }, payload: new Uint8Array(8), checksums: false });
    {
      const m = new PacketMeta();
      parse(zero, 0, zero.length, m);
      const c = l4Checksum(zero, m.l3Offset, m.l4Offset, m.payloadOffset + m.payloadLength - m.l4Offset, 17);
      // Set a payload word so that the sum becomes 0xffff, i.e. the checksum 0.
      const s = ~c & 0xffff;
      const w = (0xffff - s) & 0xffff;
      zero[m.payloadOffset] = w >>> 8;
      zero[m.payloadOffset + 1] = w & 0xff;
    }
    const zeroWant = buildFrame({ dst: "02:00:00:00:0b:01", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 }, payload: zero.slice(42, 50) });
    expect(zeroWant[40]! * 256 + zeroWant[41]!).toBe(0xffff);
    want.push(zeroWant);
    const sends: ToSend[] = want.map((f) => {
      const p = partial(f);
      return { data: p.data, hdr: { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: p.csumStart, csumOffset: p.csumOffset } };
    });
    const r = run(sends);
    expect(r.wire.frames.map((f) => hex(f.data))).toEqual(want.map(hex));
    const m = new PacketMeta();
    for (const f of r.wire.frames) {
      parse(f.data, 0, f.data.length, m);
      expect(verifyChecksums(f.data, m)).toBe(0);
    }
    expect(r.device.snapshot()["csumCompleted"]).toBe(want.length);
    expect(r.device.snapshot()["hostCopyBytes"]).toBe(0);
  });

  it("drops a request whose offsets fall outside the frame, and counts it", () => {
    const f = buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, tcp: { srcPort: 1, dstPort: 2 } });
    const r = run([
      { data: f, hdr: { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: f.length - 1, csumOffset: 16 } },
      { data: f, hdr: { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 } },
    ]);
    expect(r.wire.frames.length).toBe(1);
    expect(r.device.snapshot()["drop.txBadHeader"]).toBe(1);
    expect(r.device.conservation()).toEqual({ offered: 2, delivered: 1, dropped: 1, inFlight: 0 });
  });
});

/** What a TSO engine must produce for a TCP frame of `payload` bytes with MSS `mss`: the oracle, built with @nfvio/packet. */
function expectedSegments(spec: FrameSpec, payload: Uint8Array, mss: number, v6: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = Math.max(1, Math.ceil(payload.length / mss));
  const tcp = spec.tcp!;
  for (let k = 0; k < n; k++) {
    let flags = tcp.flags ?? 0;
    if (k < n - 1) flags &= ~(TcpFlag.FIN | TcpFlag.PSH);
    if (k > 0) flags &= ~TcpFlag.CWR;
    const seg: FrameSpec = {
      ...spec,
      ...(v6 ? {} : { ipv4: { ...spec.ipv4!, id: ((spec.ipv4!.id ?? 0) + k) & 0xffff } }),
      tcp: { ...tcp, seq: ((tcp.seq ?? 0) + k * mss) >>> 0, flags },
      payload: payload.subarray(k * mss, Math.min(payload.length, (k + 1) * mss)),
      padTo: 0,
    };
    out.push(buildFrame(seg));
  }
  return out;
}

describe("TCP segmentation offload", () => {
  const payload = new Uint8Array(10_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const v4: FrameSpec = {
    dst: "02:00:00:00:0b:01",
    vlans: [{ vid: 42 }],
    ipv4: { src: "198.51.100.1", dst: "203.0.113.9", id: 0xfffe, dontFragment: true, tos: 0x02 },
    tcp: { srcPort: 40000, dstPort: 5201, seq: 0xfffff000, ack: 99, flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR, window: 512, options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2) },
  };
  const v6: FrameSpec = {
    dst: "02:00:00:00:0b:01",
    ipv6: { src: "2001:db8::10", dst: "2001:db8::20", trafficClass: 0x20 },
    tcp: { srcPort: 40001, dstPort: 5201, seq: 1, ack: 2, flags: TcpFlag.ACK | TcpFlag.PSH },
  };

  function gso(spec: FrameSpec, mss: number, gsoType: number): ToSend {
    const big = buildFrame({ ...spec, payload, padTo: 0 });
    const p = partial(big, false);
    return { data: p.data, hdr: { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType, gsoSize: mss, hdrLen: p.csumStart + 32, csumStart: p.csumStart, csumOffset: 16 } };
  }

  it("splits TCPv4 (with ECN) and TCPv6 frames into MSS-sized segments: lengths, IP ids, sequence numbers, flags and checksums right", () => {
    const r = run([gso(v4, 1448, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN), gso(v6, 1000, VIRTIO_NET_HDR_GSO_TCPV6)]);
    const want = [...expectedSegments(v4, payload, 1448, false), ...expectedSegments(v6, payload, 1000, true)];
    expect(r.wire.frames.length).toBe(7 + 10);
    expect(r.wire.frames.map((f) => hex(f.data))).toEqual(want.map(hex));
    const m = new PacketMeta();
    for (const f of r.wire.frames) {
      parse(f.data, 0, f.data.length, m);
      expect(m.ok).toBe(true);
      expect(verifyChecksums(f.data, m)).toBe(0);
    }
    const s = r.device.snapshot();
    expect(s["tsoFrames"]).toBe(2);
    expect(s["tsoSegments"]).toBe(17);
    expect(s["hostCopyBytes"]).toBe(0);
    // The whole frame was read once by DMA, whatever the segment count.
    const big = buildFrame({ ...v4, payload, padTo: 0 }).length + buildFrame({ ...v6, payload, padTo: 0 }).length;
    expect(s["dmaReadBytes"]).toBe(big + 2 * 12);
    expect(r.device.conservation()).toEqual({ offered: 17, delivered: 17, dropped: 0, inFlight: 0 });
  });

  it("delivers segments east-west into the other VM with DATA_VALID", () => {
    const spec = { ...v4, dst: VM_MAC[1] };
    const r = run([gso(spec, 1448, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN)]);
    const want = expectedSegments(spec, payload, 1448, false);
    expect(r.receiver.received.map((x) => hex(x.data))).toEqual(want.map(hex));
    for (const x of r.receiver.received) expect(x.flags & VIRTIO_NET_HDR_F_DATA_VALID).toBe(VIRTIO_NET_HDR_F_DATA_VALID);
  });

  it("refuses GSO the device did not offer (DPAA-like profile: no TSO), a GSO type that does not match the frame, and MSS giving too many or too large segments", () => {
    const r = run([gso(v4, 1448, VIRTIO_NET_HDR_GSO_TCPV4)], { profile: DPAA_LIKE_PROFILE });
    expect(r.device.snapshot()["drop.txBadGso"]).toBe(1);
    expect(r.wire.frames.length).toBe(0);
    // MSS 8: 1250 segments (over MAX_TSO_SEGMENTS); TCPV4 on an IPv6 frame; one 10 KB segment (over the device's buffers).
    const r2 = run([gso(v4, 8, VIRTIO_NET_HDR_GSO_TCPV4), gso(v6, 1448, VIRTIO_NET_HDR_GSO_TCPV4), gso(v4, 20_000, VIRTIO_NET_HDR_GSO_TCPV4)]);
    expect(r2.device.snapshot()["drop.txBadGso"]).toBe(3);
    expect(r2.device.conservation()).toEqual({ offered: 3, delivered: 0, dropped: 3, inFlight: 0 });
  });
});
