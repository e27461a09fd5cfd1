/**
 * The device against raw rings (`@nfvio/virtio/testing`'s MockDriver and
 * HostileDriver) under the real clock: the control virtqueue, guests that
 * post no or small buffers, mergeable receive buffers, malformed frames,
 * buffer exhaustion, a broken ring. Every drop is named, counters conserve.
 */
import { RealClock } from "@nfvio/core";
import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import {
  GuestMemory,
  NET_HDR_SIZE,
  NetHeader,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_HASH_CONFIG,
  VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_OK,
  decodeNetHeader,
  encodeHashConfig,
} from "@nfvio/virtio";
import { HostileDriver, MOCK_FEATURES, MockDriver } from "@nfvio/virtio/testing";
import { describe, expect, it } from "vitest";
import { OffloadDevice } from "../src/device/device.js";
import { GENERIC_SMARTNIC_PROFILE, loadDeviceProfile, type DeviceProfile } from "../src/device/profile.js";
import { DEFAULT_RSS_KEY, VIRTIO_NET_HASH_TYPE_ALL, defaultIndirectionTable, encodeRssCommand } from "../src/rss.js";

const MAC = "02:00:00:00:0c:01";

interface Rig {
  device: OffloadDevice;
  pool: PacketPool;
  rx: MockDriver[];
  tx: MockDriver[];
  ctrl: MockDriver;
  mem: GuestMemory;
}

/** A vport served from MockDriver rings laid out in one guest memory. */
function rig(o: { pairs?: number; features?: bigint; profile?: DeviceProfile; bufferSize?: number; dropMalformed?: boolean } = {}): Rig {
  const pairs = o.pairs ?? 1;
  const mem = GuestMemory.shared(0x400_0000, 0x10000);
  const layout = { size: 64, buffers: 64, bufferSize: o.bufferSize ?? 2048, scratchSize: 0x1000 };
  let gpa = 0x10000;
  const make = (): MockDriver => {
    const d = new MockDriver({ ...layout, memory: mem, gpa });
    gpa += Math.ceil(d.bytesNeeded / 0x1000) * 0x1000;
    return d;
  };
  const rx = Array.from({ length: pairs }, make);
  const tx = Array.from({ length: pairs }, make);
  const ctrl = make();
  const pool = new PacketPool({ count: 2048 });
  const device = new OffloadDevice({ clock: new RealClock(), pool, profile: o.profile ?? GENERIC_SMARTNIC_PROFILE, vports: 2, dropMalformed: o.dropMalformed ?? false });
  const features = MOCK_FEATURES | VIRTIO_NET_F_CTRL_VQ | (pairs > 1 ? VIRTIO_NET_F_MQ : 0n) | (o.features ?? 0n);
  device.attachQueues(0, { mem, features, rx: rx.map((d) => d.createDevice()), tx: tx.map((d) => d.createDevice()), mac: MAC });
  return { device, pool, rx, tx, ctrl, mem };
}

function offer(r: Rig, frames: readonly Uint8Array[]): void {
  const b = new Burst(32);
  for (let k = 0; k < frames.length; k += 32) {
    b.clear();
    for (const f of frames.slice(k, k + 32)) {
      const i = r.pool.alloc();
      r.pool.write(i, f);
      b.push(i);
    }
    r.device.uplink.tx(b);
    r.device.poll();
  }
  while (r.device.poll()) {
    // until idle
  }
}

const frame = (k: number, size = 60): Uint8Array =>
  buildFrame({ dst: MAC, ipv4: { src: `10.0.${k >> 8}.${k & 255}`, dst: "10.9.9.9" }, udp: { srcPort: 1000 + k, dstPort: 53 }, payload: Math.max(0, size - 42), padTo: size });

describe("control virtqueue (virtio 1.2 §5.1.6.5)", () => {
  it("serves RSS_CONFIG, VQ_PAIRS_SET and HASH_CONFIG from a real control queue, acking each", () => {
    const r = rig({ pairs: 4, features: VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT });
    const vp = r.device.vportHandle(0);
    const cmd = (cls: number, c: number, data: Uint8Array): Uint8Array => Uint8Array.of(cls, c, ...data);
    const rss = encodeRssCommand({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(4), unclassifiedQueue: 1, maxTxVq: 4, key: DEFAULT_RSS_KEY });
    const msgs = [
      cmd(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss),
      cmd(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss.subarray(0, 30)),
      cmd(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, Uint8Array.of(0, 0)),
      cmd(9, 0, new Uint8Array(0)),
    ];
    for (const m of msgs) expect(r.ctrl.send(m, { writable: 1 })).toBeGreaterThanOrEqual(0);
    r.ctrl.publish();
    expect(vp.serveControl(r.ctrl.createDevice(), r.mem)).toBe(4);
    const acks = r.ctrl.reclaim().map((c) => r.mem.slice(r.ctrl.bufferGpa(c.token) + c.data.length, 1)[0]);
    expect(acks).toEqual([VIRTIO_NET_OK, VIRTIO_NET_ERR, VIRTIO_NET_ERR, VIRTIO_NET_ERR]);
    expect(vp.rss).not.toBeNull();
    expect(vp.rss!.unclassifiedQueue).toBe(1);
    expect(vp.rxQueues).toBe(4);
    expect(vp.control(cmd(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, Uint8Array.of(2, 0)))).toBe(VIRTIO_NET_OK);
    expect(vp.rxQueues).toBe(2);
    expect(vp.rss).toBeNull();
    expect(vp.control(cmd(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, encodeHashConfig({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, hashKey: Uint8Array.from(DEFAULT_RSS_KEY) })))).toBe(VIRTIO_NET_OK);
    const s = r.device.snapshot();
    expect(s["controlCommands"]).toBe(6);
    expect(s["controlErrors"]).toBe(3);
  });

  it("refuses RSS_CONFIG when VIRTIO_NET_F_RSS was not negotiated", () => {
    const r = rig({ pairs: 2 });
    const rss = encodeRssCommand({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(2), unclassifiedQueue: 0 });
    expect(r.device.vportHandle(0).control(Uint8Array.of(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, ...rss))).toBe(VIRTIO_NET_ERR);
  });
});

describe("receive side against what the guest posts", () => {
  it("holds frames while the guest posts no buffers, tail-drops past the queue depth, and delivers once buffers come", () => {
    const r = rig({ profile: loadDeviceProfile({ queueDepthFrames: 64 }) });
    const frames = Array.from({ length: 200 }, (_, k) => frame(k));
    offer(r, frames);
    expect(r.device.conservation()).toEqual({ offered: 200, delivered: 0, dropped: 136, inFlight: 64 });
    expect(r.device.snapshot()["drop.queueFull"]).toBe(136);
    r.rx[0]!.post(64);
    r.rx[0]!.publish();
    r.device.vportHandle(0).kick(0);
    while (r.device.poll()) {
      // deliver
    }
    const got = r.rx[0]!.reclaim();
    expect(got.length).toBe(64);
    const h = new NetHeader();
    got.forEach((c, k) => {
      expect(decodeNetHeader(c.data, 0, NET_HDR_SIZE, h)).toBe(true);
      expect(h.numBuffers).toBe(1);
      expect(Buffer.compare(c.data.subarray(NET_HDR_SIZE), frames[k]!)).toBe(0);
    });
    expect(r.device.conservation()).toEqual({ offered: 200, delivered: 64, dropped: 136, inFlight: 0 });
    expect(r.pool.stats().inUse).toBe(0);
  });

  it("spreads a frame over several buffers with VIRTIO_NET_F_MRG_RXBUF (num_buffers), and drops what cannot fit without it", () => {
    const big = frame(1, 1514);
    const m = rig({ features: VIRTIO_NET_F_MRG_RXBUF });
    m.rx[0]!.post(16, { len: 512 });
    m.rx[0]!.publish();
    offer(m, [big, frame(2)]);
    const got = m.rx[0]!.reclaim();
    // 12-byte header + 1514 bytes = 1526 bytes: three 512-byte buffers, then one for the small frame.
    expect(got.length).toBe(4);
    const h = new NetHeader();
    decodeNetHeader(got[0]!.data, 0, NET_HDR_SIZE, h);
    expect(h.numBuffers).toBe(3);
    expect(got.map((c) => c.len)).toEqual([512, 512, 502, NET_HDR_SIZE + 60]);
    const joined = Buffer.concat(got.slice(0, 3).map((c) => c.data)).subarray(NET_HDR_SIZE);
    expect(Buffer.compare(joined, big)).toBe(0);
    expect(m.device.snapshot()["rxBuffersUsed"]).toBe(4);

    const n = rig();
    n.rx[0]!.post(16, { len: 512 });
    n.rx[0]!.publish();
    offer(n, [big, frame(2)]);
    expect(n.rx[0]!.reclaim().length).toBe(1);
    expect(n.device.snapshot()["drop.tooBig"]).toBe(1);
    expect(n.device.conservation()).toEqual({ offered: 2, delivered: 1, dropped: 1, inFlight: 0 });
  });
});

describe("hostile and broken input never throws", () => {
  it("flags and counts malformed frames; forwards them, or drops them with dropMalformed", () => {
    const bad = [new Uint8Array(10), frame(1).subarray(0, 30), Uint8Array.from([...frame(2).subarray(0, 14), 0x46, ...new Uint8Array(40)])];
    for (const dropMalformed of [false, true]) {
      const r = rig({ dropMalformed });
      r.rx[0]!.post(8);
      r.rx[0]!.publish();
      offer(r, [...bad, frame(3)]);
      const s = r.device.snapshot();
      expect(s["parser.malformed"]).toBe(3);
      if (dropMalformed) {
        expect(s["drop.malformed"]).toBe(3);
        expect(r.rx[0]!.reclaim().length).toBe(1);
      } else {
        // The runt has no destination MAC worth switching on but still goes to the default vport.
        expect(r.rx[0]!.reclaim().length).toBe(4);
      }
      expect(r.device.conservation().offered).toBe(r.device.conservation().delivered + r.device.conservation().dropped);
    }
  });

  it("drops frames beyond the buffer manager's buffers as noBuffer", () => {
    const r = rig({ profile: loadDeviceProfile({ buffers: 16 }) });
    const b = new Burst(32);
    for (let k = 0; k < 32; k++) {
      const i = r.pool.alloc();
      r.pool.write(i, frame(k));
      b.push(i);
    }
    r.device.uplink.tx(b);
    expect(r.device.snapshot()["drop.noBuffer"]).toBe(16);
    expect(r.device.buffersHeld).toBe(16);
    r.device.close();
    expect(r.pool.stats().inUse).toBe(0);
  });

  it("a guest that breaks its receive ring loses its frames (ringFault); other vports go on", () => {
    const r = rig();
    // A second vport on healthy rings.
    const mem2 = GuestMemory.shared(0x100_0000, 0x10000);
    const rx2 = new MockDriver({ size: 64, buffers: 64, memory: mem2 });
    const tx2 = new MockDriver({ size: 64, buffers: 64, memory: mem2, gpa: 0x10000 + Math.ceil(rx2.bytesNeeded / 0x1000) * 0x1000 });
    r.device.attachQueues(1, { mem: mem2, features: MOCK_FEATURES, rx: [rx2.createDevice()], tx: [tx2.createDevice()], mac: "02:00:00:00:0c:02" });
    rx2.post(8);
    rx2.publish();
    // Vport 0's driver offers a descriptor index past the ring.
    const hostile = new HostileDriver(r.mem, r.rx[0]!.layout);
    hostile.offer(200);
    const to2 = buildFrame({ dst: "02:00:00:00:0c:02", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 } });
    offer(r, [frame(1), frame(2), to2]);
    const s = r.device.snapshot();
    expect(s["drop.ringFault"]).toBe(2);
    expect(rx2.reclaim().length).toBe(1);
    expect(r.device.conservation()).toEqual({ offered: 3, delivered: 1, dropped: 2, inFlight: 0 });
  });

  it("drops transmit chains with a bad header and keeps serving the ring", () => {
    const r = rig();
    const ok = frame(7).slice();
    ok.set([0x02, 0, 0, 0, 0x0c, 0x77], 0); // to a MAC no vport has: out of the uplink
    const hdr = new Uint8Array(NET_HDR_SIZE);
    r.tx[0]!.send(Uint8Array.of(1, 2, 3)); // shorter than a header
    r.tx[0]!.send(Uint8Array.from([...hdr, ...ok]));
    r.tx[0]!.publish();
    r.device.vportHandle(0).kick(1);
    while (r.device.poll()) {
      // drain
    }
    const out = new Burst(32);
    expect(r.device.uplink.rx(out)).toBe(1);
    expect(Buffer.compare(r.pool.data.subarray(r.pool.start(out.idx[0]!), r.pool.start(out.idx[0]!) + r.pool.len[out.idx[0]!]!), ok)).toBe(0);
    r.pool.freeBurst(out);
    expect(r.device.snapshot()["drop.txBadHeader"]).toBe(1);
    expect(r.tx[0]!.reclaim().length).toBe(2);
    expect(r.device.conservation()).toEqual({ offered: 2, delivered: 1, dropped: 1, inFlight: 0 });
  });
});
