// The eSwitch as a switch between vports that come and go: detaching a
// vport (queued frames dropped and counted, its MAC gone, popped receive
// chains handed back as a vhost-user back-end can honour), attaching it
// again (counters cumulative), MAC learning and flooding. Raw rings (split
// and packed) on the real clock, driven by device.poll().
import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import { VIRTIO_NET_F_MRG_RXBUF } from "@nfvio/virtio";
import { describe, expect, it } from "vitest";
import { OffloadDevice, type OffloadDeviceOptions } from "../src/device/device.js";
import { parseMac } from "../src/flow-key.js";
import { CapturePort } from "../src/testing.js";
import { RingGuest, SIZE } from "./ring-guest.js";

function frame(dst: string, src: string, k = 0, payload = 60): Uint8Array {
  return buildFrame({ dst, src, ipv4: { src: "10.0.0.1", dst: "10.0.0.2", id: k }, udp: { srcPort: 1000 + k, dstPort: 7 }, payload });
}

function device(o: Partial<OffloadDeviceOptions> = {}) {
  const pool = new PacketPool({ count: 4096, dataRoom: 2048 });
  const wire = new CapturePort(pool);
  const dev = new OffloadDevice({ pool, vports: 3, wire, ...o });
  return { dev, pool, wire };
}

function attach(dev: OffloadDevice, id: number, g: RingGuest, mac?: string) {
  return dev.attachQueues(id, { mem: g.mem, features: g.features, rx: [g.rxDev], tx: [g.txDev], ...(mac ? { mac } : {}) });
}

function run(dev: OffloadDevice, guests: RingGuest[]): void {
  for (let k = 0; k < 100 && dev.poll(); k++) {
    // until nothing moves
  }
  for (const g of guests) {
    g.receive();
    g.reclaimTx();
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";
const C = "02:00:00:00:00:0c";

describe("detaching and attaching vports", () => {
  for (const ring of ["split", "packed"] as const) {
    it(`drops queued frames as drop.detached, forgets the MAC, hands back popped receive chains, and attaches again (${ring} rings)`, () => {
      const { dev, wire } = device();
      const a = new RingGuest(ring);
      // B merges receive buffers and posts one 64-byte buffer: a 100-byte frame needs two, so the device pops one and waits.
      const b = new RingGuest(ring, VIRTIO_NET_F_MRG_RXBUF);
      attach(dev, 0, a, A);
      const vb = attach(dev, 1, b, B);
      b.post(1, 64);
      const toB = Array.from({ length: 5 }, (_, k) => frame(B, A, k));
      a.send(toB);
      run(dev, [a, b]);
      expect(b.received.length).toBe(0);
      expect(dev.framesQueued).toBe(5);

      const r = vb.detach();
      expect(r.dropped).toBe(5);
      if (ring === "split") {
        // The chain stays with the caller: a vhost-user back-end rewinds GET_VRING_BASE by one.
        expect(r.rxHeld[0]!.length).toBe(1);
        expect(r.returned).toBe(0);
      } else {
        // A packed ring cannot be rewound: the chain came back used, empty.
        expect(r.rxHeld[0]!.length).toBe(0);
        expect(r.returned).toBe(1);
        b.receive();
        expect(b.empties).toBe(1);
      }
      expect(vb.attached).toBe(false);
      expect(dev.vportByMac(parseMac(B))).toBe(-1);
      let s = dev.snapshot();
      expect(s["drop.detached"]).toBe(5);
      expect(s["vport1.drops"]).toBe(5);
      expect(dev.conservation()).toEqual({ offered: 5, delivered: 0, dropped: 5, inFlight: 0 });
      expect(dev.buffersHeld).toBe(0);
      expect(() => vb.detach()).toThrow(/not attached/);
      // Kicks to a detached vport are ignored.
      vb.kick(0);

      // B's MAC is unknown now: frames to it leave by the uplink.
      a.send([frame(B, A, 10), frame(B, A, 11), frame(B, A, 12)]);
      run(dev, [a]);
      expect(wire.frames.length).toBe(3);

      // The front-end comes back (new memory, new rings): the same vport, counters go on.
      const b2 = new RingGuest(ring);
      expect(attach(dev, 1, b2, B)).toBe(vb);
      b2.post(SIZE);
      const again = Array.from({ length: 4 }, (_, k) => frame(B, A, 20 + k, 100 + k));
      a.send(again);
      run(dev, [a, b2]);
      expect(b2.received.map(hex)).toEqual(again.map(hex));
      s = dev.snapshot();
      expect(s["vport1.rxFrames"]).toBe(4);
      expect(s["vport1.drops"]).toBe(5);
      expect(s["vport0.txFrames"]).toBe(12);
      expect(dev.conservation()).toEqual({ offered: 12, delivered: 7, dropped: 5, inFlight: 0 });
      expect(dev.buffersHeld).toBe(0);
    });
  }

  it("returns split-ring chains used and empty with rewindSplit: false (for a ring that keeps running)", () => {
    const { dev } = device();
    const a = new RingGuest("split");
    const b = new RingGuest("split", VIRTIO_NET_F_MRG_RXBUF);
    attach(dev, 0, a, A);
    const vb = attach(dev, 1, b, B);
    b.post(1, 64);
    a.send([frame(B, A)]);
    run(dev, [a, b]);
    const r = vb.detach({ rewindSplit: false });
    expect(r).toMatchObject({ dropped: 1, returned: 1 });
    expect(r.rxHeld[0]!.length).toBe(0);
    b.receive();
    expect(b.empties).toBe(1);
    // The same rings can be attached again and go on where they were.
    attach(dev, 1, b, B);
    b.post(8);
    a.send([frame(B, A, 1)]);
    run(dev, [a, b]);
    expect(b.received.length).toBe(1);
  });
});

describe("MAC learning", () => {
  it("is off by default: frames to a MAC no vport was given leave by the uplink, nothing is learned", () => {
    const { dev, wire } = device();
    const a = new RingGuest("split");
    const b = new RingGuest("split");
    attach(dev, 0, a);
    attach(dev, 1, b);
    b.post(8);
    a.send([frame(B, A)]);
    run(dev, [a, b]);
    b.send([frame(A, B)]);
    run(dev, [a, b]);
    expect(wire.frames.length).toBe(2);
    expect(dev.snapshot()["eswitch.learned"]).toBe(0);
    expect(dev.macTable().learned.size).toBe(0);
  });

  it("learns source MACs of frames from vports: new, moved, table full; group sources are not learned; detach forgets", () => {
    const { dev, wire } = device({ learn: true, macTableSize: 2 });
    const [a, b, c] = [new RingGuest("split"), new RingGuest("split"), new RingGuest("split")];
    attach(dev, 0, a);
    attach(dev, 1, b);
    const vc = attach(dev, 2, c);
    for (const g of [a, b, c]) g.post(32);
    const counters = () => {
      const s = dev.snapshot();
      return { learned: s["eswitch.learned"], moved: s["eswitch.moved"], tableFull: s["eswitch.tableFull"] };
    };
    // A to B: B unknown, out by the uplink; A learned.
    a.send([frame(B, A, 1)]);
    run(dev, [a, b, c]);
    expect(wire.frames.length).toBe(1);
    expect(counters()).toEqual({ learned: 1, moved: 0, tableFull: 0 });
    // B to A: delivered to A; B learned. Then A to B is delivered to B.
    const ba = frame(A, B, 2);
    b.send([ba]);
    run(dev, [a, b, c]);
    expect(a.received.map(hex)).toEqual([hex(ba)]);
    const ab = frame(B, A, 3);
    a.send([ab]);
    run(dev, [a, b, c]);
    expect(b.received.map(hex)).toEqual([hex(ab)]);
    expect(counters()).toEqual({ learned: 2, moved: 0, tableFull: 0 });
    // A's MAC now shows up behind C: it moves, and B's frames to it go to C.
    c.send([frame(B, A, 4)]);
    run(dev, [a, b, c]);
    expect(counters()).toEqual({ learned: 2, moved: 1, tableFull: 0 });
    const ba2 = frame(A, B, 5);
    b.send([ba2]);
    run(dev, [a, b, c]);
    expect(c.received.map(hex)).toEqual([hex(ba2)]);
    // A third MAC does not fit a table of two.
    c.send([frame(B, C, 6)]);
    run(dev, [a, b, c]);
    expect(counters()).toEqual({ learned: 2, moved: 1, tableFull: 1 });
    // A group address as a source is never learned.
    c.send([frame(B, "03:00:00:00:00:01", 7)]);
    run(dev, [a, b, c]);
    expect(counters()).toEqual({ learned: 2, moved: 1, tableFull: 1 });
    expect(dev.macTable().learned).toEqual(
      new Map([
        [parseMac(A), 2],
        [parseMac(B), 1],
      ]),
    );
    // C goes away: what was learned behind it goes too, so B's frames to A leave by the uplink again.
    vc.detach();
    expect(dev.macTable().learned).toEqual(new Map([[parseMac(B), 1]]));
    const before = wire.frames.length;
    b.send([frame(A, B, 8)]);
    run(dev, [a, b]);
    expect(wire.frames.length).toBe(before + 1);
    expect(dev.conservation().inFlight).toBe(0);
    expect(dev.buffersHeld).toBe(0);
  });

  it("keeps static MACs where they were given, and a static MAC replaces a learned one", () => {
    const { dev } = device({ learn: true });
    const [a, b, c] = [new RingGuest("split"), new RingGuest("split"), new RingGuest("split")];
    attach(dev, 0, a, A);
    attach(dev, 1, b);
    for (const g of [a, b]) g.post(8);
    // B claims A's address and C's: A's stays with vport 0; C's is learned behind B.
    b.send([frame(B, A, 1), frame(B, C, 2)]);
    run(dev, [a, b]);
    expect(dev.vportByMac(parseMac(A))).toBe(0);
    expect(dev.vportByMac(parseMac(C))).toBe(1);
    expect(dev.snapshot()["eswitch.moved"]).toBe(0);
    attach(dev, 2, c, C);
    expect(dev.vportByMac(parseMac(C))).toBe(2);
    expect(dev.macTable().learned.has(parseMac(C))).toBe(false);
  });
});

describe("flooding", () => {
  it("copies broadcast and unknown unicast from a vport to every other attached vport and the uplink, byte-exact", () => {
    const { dev, wire, pool } = device({ learn: true, flood: true });
    const [a, b, c] = [new RingGuest("split"), new RingGuest("packed"), new RingGuest("split")];
    attach(dev, 0, a, A);
    attach(dev, 1, b, B);
    attach(dev, 2, c);
    for (const g of [a, b, c]) g.post(32);
    const bc = frame("ff:ff:ff:ff:ff:ff", A, 1, 200);
    const unknown = frame("02:00:00:00:00:99", A, 2, 300);
    a.send([bc, unknown]);
    run(dev, [a, b, c]);
    for (const g of [b, c]) expect(g.received.map(hex)).toEqual([hex(bc), hex(unknown)]);
    expect(a.received.length).toBe(0);
    expect(wire.frames.map((f) => hex(f.data))).toEqual([hex(bc), hex(unknown)]);
    let s = dev.snapshot();
    expect(s["eswitch.flooded"]).toBe(2);
    expect(s["floodCopies"]).toBe(4);
    expect(s["floodBytes"]).toBe(2 * (bc.length + unknown.length));
    expect(s["hostCopyBytes"]).toBe(0);
    // C has no static MAC: once it has sent something, unicast to it is not flooded.
    const cmac = "02:00:00:00:00:cc";
    c.send([frame(B, cmac, 3)]);
    run(dev, [a, b, c]);
    const toC = frame(cmac, A, 4);
    a.send([toC]);
    run(dev, [a, b, c]);
    expect(c.received.at(-1)).toEqual(toC);
    expect(b.received.length).toBe(3);
    // From the wire, broadcast reaches every vport.
    const wbc = frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:77:77", 5);
    const burst = new Burst(1);
    pool.allocBurst(burst, 1);
    const i = burst.idx[0]!;
    pool.data.set(wbc, pool.start(i));
    pool.len[i] = wbc.length;
    dev.uplink.tx(burst);
    run(dev, [a, b, c]);
    for (const g of [a, b, c]) expect(g.received.at(-1)).toEqual(wbc);
    s = dev.snapshot();
    expect(s["eswitch.flooded"]).toBe(3);
    expect(s["floodCopies"]).toBe(6);
    // Copies are offered frames: everything conserves.
    const cons = dev.conservation();
    expect(cons.offered).toBe(4 + 1 + 6);
    expect(cons).toEqual({ offered: cons.offered, delivered: cons.offered, dropped: 0, inFlight: 0 });
    expect(dev.buffersHeld).toBe(0);
  });

  it("without an uplink: floods reach vports only, and a lone vport's broadcast has no route", () => {
    const { dev, wire } = device({ flood: true, hasUplink: false });
    const [a, b] = [new RingGuest("split"), new RingGuest("split")];
    attach(dev, 0, a, A);
    b.post(8);
    a.send([frame("ff:ff:ff:ff:ff:ff", A, 1)]);
    run(dev, [a]);
    expect(dev.snapshot()["drop.noRoute"]).toBe(1);
    attach(dev, 1, b, B);
    b.post(8);
    a.send([frame("ff:ff:ff:ff:ff:ff", A, 2), frame("02:00:00:00:00:99", A, 3)]);
    run(dev, [a, b]);
    expect(b.received.length).toBe(2);
    expect(wire.frames.length).toBe(0);
    expect(dev.snapshot()["floodCopies"]).toBe(0);
    expect(dev.conservation()).toEqual({ offered: 3, delivered: 2, dropped: 1, inFlight: 0 });
  });

  it("without an uplink and without flooding, unknown unicast from a vport drops as noRoute", () => {
    const { dev, wire } = device({ hasUplink: false });
    const a = new RingGuest("split");
    attach(dev, 0, a, A);
    a.send([frame(B, A, 1)]);
    run(dev, [a]);
    expect(wire.frames.length).toBe(0);
    expect(dev.snapshot()["drop.noRoute"]).toBe(1);
    expect(dev.snapshot()["vport0.drops"]).toBe(1);
  });
});
