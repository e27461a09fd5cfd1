// VhostUserVport: the offload device's vport as a vhost-user device, driven
// here by hand-made vrings (the shape @nfvio/vhost's session hands a
// device) over raw split and packed rings: attach when both rings run,
// detach on stop / disable / disconnect, popped receive chains handed back
// (rewind count for split, used-empty for packed), broken rings and refused
// features failed once, and the poller moving frames on the event loop.
import { PacketPool, buildFrame } from "@nfvio/packet";
import {
  GuestMemory,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  type DeviceQueue,
} from "@nfvio/virtio";
import { afterEach, describe, expect, it } from "vitest";
import { OffloadDevice } from "../src/device/device.js";
import { DPAA_LIKE_PROFILE, GENERIC_SMARTNIC_PROFILE } from "../src/device/profile.js";
import { DevicePoller } from "../src/vhost-user/poller.js";
import type { VhostUserVringShape } from "../src/vhost-user/shapes.js";
import { VhostUserVport } from "../src/vhost-user/vport.js";
import { RingGuest } from "./ring-guest.js";

const PROTOCOL_FEATURES = 1n << 30n;

class FakeVring implements VhostUserVringShape {
  started = false;
  enabled = false;
  queue: DeviceQueue | null = null;
  memory: GuestMemory | null = null;
  kickPolled = false;
  calls = 0;
  readonly failures: string[] = [];
  constructor(
    readonly index: number,
    readonly features: bigint,
    readonly packed: boolean,
  ) {}
  call(): void {
    this.calls++;
  }
  fail(reason: string): void {
    this.failures.push(reason);
  }
}

const pollers: DevicePoller[] = [];
afterEach(() => {
  for (const p of pollers.splice(0)) p.close();
});

function setUp(profile = GENERIC_SMARTNIC_PROFILE) {
  const pool = new PacketPool({ count: 2048, dataRoom: 2048 });
  const device = new OffloadDevice({ pool, profile, vports: 2, hasUplink: false, defaultVport: null });
  const poller = new DevicePoller(device, { idleMs: 0 });
  pollers.push(poller);
  return { device, poller };
}

/** What a session does when a front-end sets up both rings and enables them. */
function connect(vp: VhostUserVport, g: RingGuest, features = g.features): [FakeVring, FakeVring] {
  const f = features | PROTOCOL_FEATURES;
  const rings: [FakeVring, FakeVring] = [new FakeVring(0, f, g.ring === "packed"), new FakeVring(1, f, g.ring === "packed")];
  for (const [k, v] of rings.entries()) {
    v.queue = k === 0 ? g.rxDev : g.txDev;
    v.memory = g.mem;
    v.started = true;
    vp.vringStarted(v);
  }
  expect(vp.attached).toBe(false); // started, not yet enabled
  for (const v of rings) {
    v.enabled = true;
    vp.vringEnabled(v, true);
  }
  return rings;
}

function stop(vp: VhostUserVport, v: FakeVring): number {
  const held = vp.vringStopping(v);
  v.started = false;
  v.queue = null;
  return held;
}

const MAC_A = "02:00:00:00:00:01";
const MAC_B = "02:00:00:00:00:02";
const frame = (dst: string, src: string, k: number, payload = 60): Uint8Array => buildFrame({ dst, src, ipv4: { src: "10.0.0.1", dst: "10.0.0.2", id: k }, udp: { srcPort: 1000 + k, dstPort: 7 }, payload });
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

describe("VhostUserVport", () => {
  it("offers the profile's features without the control queue and what needs it, and a config space with its MAC", () => {
    const { device, poller } = setUp(DPAA_LIKE_PROFILE);
    const vp = new VhostUserVport(device, poller, { vport: 0, mac: "02:aa:bb:cc:dd:ee" });
    for (const f of [VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MQ, VIRTIO_NET_F_RSS, VIRTIO_NET_F_HASH_REPORT]) expect(vp.features & f).toBe(0n);
    expect(vp.features & VIRTIO_NET_F_MAC).toBe(VIRTIO_NET_F_MAC);
    expect(vp.features & ~device.features).toBe(0n);
    // mac, status (LINK_UP), max_virtqueue_pairs 1, mtu (2048-byte device buffers less the Ethernet header)
    expect([...vp.config()]).toEqual([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1, 0, 1, 0, 2034 & 0xff, 2034 >> 8]);
    expect(new VhostUserVport(device, poller, { vport: 1 }).features & VIRTIO_NET_F_MAC).toBe(0n);
    expect(() => new VhostUserVport(device, poller, { vport: 2 })).toThrow(/not a vport/);
  });

  it("attaches when both rings run, switches between two sockets' peers on the event loop (kicks in, calls out), detaches on disconnect and attaches again", async () => {
    const { device, poller } = setUp();
    const va = new VhostUserVport(device, poller, { vport: 0, mac: MAC_A });
    const vb = new VhostUserVport(device, poller, { vport: 1, mac: MAC_B });
    const a = new RingGuest("split");
    const b = new RingGuest("packed");
    const [, txA] = connect(va, a);
    const [rxB] = connect(vb, b);
    expect(va.attached && vb.attached).toBe(true);
    b.post(32);
    const frames = Array.from({ length: 20 }, (_, k) => frame(MAC_B, MAC_A, k, 60 + 50 * k));
    a.send(frames);
    va.vringKicked(txA);
    expect(await until(() => (b.receive(), b.received.length === 20))).toBe(true);
    expect(b.received.map(hex)).toEqual(frames.map(hex));
    expect(rxB.calls).toBeGreaterThan(0); // the driver left used-buffer notifications on
    expect(va.stats.kicks).toBe(1);
    expect(poller.stats.wakeups).toBeGreaterThan(0);
    expect(await until(() => !poller.polling)).toBe(true); // idle again: asleep on kicks
    // The front-end of B disconnects; a new one (new memory and rings) takes its place.
    vb.disconnected("peer went away");
    expect(vb.attached).toBe(false);
    const b2 = new RingGuest("split");
    connect(vb, b2);
    b2.post(8);
    a.send([frame(MAC_B, MAC_A, 99)]);
    va.vringKicked(txA);
    expect(await until(() => (b2.receive(), b2.received.length === 1))).toBe(true);
    expect(vb.stats).toMatchObject({ attaches: 2, detaches: 1, ringFailures: 0 });
    expect(device.snapshot()["vport1.rxFrames"]).toBe(21);
  });

  /** B (mergeable) posts one 64-byte buffer; a 100-byte frame needs two: the device holds one chain and queues the frame. */
  function holding(ring: "split" | "packed") {
    const { device, poller } = setUp();
    const va = new VhostUserVport(device, poller, { vport: 0, mac: MAC_A });
    const vb = new VhostUserVport(device, poller, { vport: 1, mac: MAC_B });
    const a = new RingGuest("split");
    const b = new RingGuest(ring, VIRTIO_NET_F_MRG_RXBUF);
    connect(va, a);
    const [rxB, txB] = connect(vb, b);
    b.post(1, 64);
    a.send([frame(MAC_B, MAC_A, 1, 58)]);
    while (device.poll()) {
      // until idle
    }
    expect(device.framesQueued).toBe(1);
    return { device, vb, b, rxB, txB };
  }

  it("split, receive ring stopped first: GET_VRING_BASE rewinds by the chain the device held", () => {
    const { vb, rxB, txB } = holding("split");
    expect(stop(vb, rxB)).toBe(1);
    expect(stop(vb, txB)).toBe(0);
    expect(vb.stats).toMatchObject({ detaches: 1, droppedOnDetach: 1, rewound: 1, returnedEmpty: 0 });
  });

  it("split, transmit ring stopped first: the held chain is reported when the receive ring stops", () => {
    const { vb, rxB, txB, device } = holding("split");
    expect(stop(vb, txB)).toBe(0);
    expect(vb.attached).toBe(false);
    expect(stop(vb, rxB)).toBe(1);
    expect(vb.stats.rewound).toBe(1);
    expect(device.snapshot()["drop.detached"]).toBe(1);
  });

  it("packed: the held chain comes back used with length 0 when the vport is detached", () => {
    const { vb, b, rxB, txB } = holding("packed");
    expect(stop(vb, rxB)).toBe(0);
    expect(stop(vb, txB)).toBe(0);
    b.receive();
    expect(b.empties).toBe(1);
    expect(vb.stats.returnedEmpty).toBe(1);
  });

  it("split, transmit ring disabled and enabled again while the receive ring runs on: the held chain is returned empty, then the vport attaches again", () => {
    const { vb, b, txB } = holding("split");
    txB.enabled = false;
    vb.vringEnabled(txB, false);
    expect(vb.attached).toBe(false);
    txB.enabled = true;
    vb.vringEnabled(txB, true);
    expect(vb.attached).toBe(true);
    b.receive();
    expect(b.empties).toBe(1);
    expect(vb.stats).toMatchObject({ attaches: 2, detaches: 1, returnedEmpty: 1, rewound: 0 });
  });

  it("fails a ring that faults once, and the rings of a front-end whose features the device refuses", () => {
    const { device, poller } = setUp();
    const va = new VhostUserVport(device, poller, { vport: 0, mac: MAC_A });
    const a = new RingGuest("split");
    const [, txA] = connect(va, a);
    // A descriptor pointing outside the guest's memory.
    expect(a.tx.add(Float64Array.of(0x7000_0000_0000), Uint32Array.of(100), 1, 0, 0)).toBe(true);
    a.tx.publish();
    for (let k = 0; k < 3; k++) {
      device.poll();
      va.afterTurn();
    }
    expect(txA.failures.length).toBe(1);
    expect(txA.failures[0]).toMatch(/vport 0: queue fault/);
    expect(va.stats.ringFailures).toBe(1);
    // TSO without checksum offload is not a valid feature set (virtio 1.2 §5.1.3.1): the device refuses to attach.
    const vb = new VhostUserVport(device, poller, { vport: 1, mac: MAC_B });
    const b = new RingGuest("split");
    const [rxB] = connect(vb, b, b.features | VIRTIO_NET_F_HOST_TSO4);
    expect(vb.attached).toBe(false);
    expect(rxB.failures.length).toBe(1);
    expect(rxB.failures[0]).toMatch(/refused the rings/);
    expect(vb.stats.refused).toBe(1);
    expect(VIRTIO_NET_F_CSUM & vb.features).toBe(VIRTIO_NET_F_CSUM);
  });
});
