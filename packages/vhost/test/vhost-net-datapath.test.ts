/**
 * The vhost-net model's data path, run step by step in one thread (real
 * clock, explicit steps): frames round-trip byte-exact with their
 * virtio-net headers, mergeable receive buffers, offloads, several queue
 * pairs, every copy / kick / interrupt counted and charged, drops by reason
 * with conservation.
 */
import { CounterSet, type Port } from "@nfvio/core";
import { Burst, PacketPool, verifyInternetChecksum } from "@nfvio/packet";
import {
  NetHeader,
  VIRTIO_NET_F_GUEST_CSUM,
  VIRTIO_NET_F_GUEST_TSO4,
  VIRTIO_NET_F_HOST_TSO4,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  decodeNetHeader,
} from "@nfvio/virtio";
import { describe, expect, it } from "vitest";
import {
  GUEST_DEFAULT_FEATURES,
  RX_DROPS,
  TX_DROPS,
  VhostNetDevice,
  VirtioNetGuest,
  connectVirtioNet,
  getPacketNetHeader,
  setPacketNetHeader,
  testFrame,
  type GuestVnf,
  type VirtioNetGuestOptions,
} from "../src/index.js";

// ---- Helpers ----

interface Captured {
  bytes: Uint8Array;
  hdr: NetHeader | null;
  port: number;
}

/** A host port that keeps a copy of every frame (and its offload metadata), then frees it. Refuses beyond `accept` if set. */
class CapturePort implements Port {
  readonly counters = new CounterSet(["packets"]);
  readonly frames: Captured[] = [];
  accept = Infinity;
  constructor(readonly pool: PacketPool) {}
  rx(): number {
    return 0;
  }
  tx(burst: Burst): number {
    const k = Math.max(0, Math.min(burst.count, this.accept));
    this.accept -= k;
    for (let j = 0; j < k; j++) {
      const i = burst.idx[j]!;
      const h = new NetHeader();
      const has = getPacketNetHeader(this.pool, i, h);
      this.frames.push({ bytes: this.pool.bytes(i).slice(), hdr: has ? h : null, port: this.pool.port[i]! });
    }
    this.pool.freeRange(burst.idx, 0, k);
    this.counters.values[0]! += k;
    return k;
  }
}

/** A VNF that records what the guest received (copies) and frees the buffers. */
class RecordVnf implements GuestVnf {
  readonly frames: Captured[] = [];
  receive(burst: Burst, queue: number, guest: VirtioNetGuest): void {
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      const h = new NetHeader();
      const has = getPacketNetHeader(guest.pool, i, h);
      this.frames.push({ bytes: guest.pool.bytes(i).slice(), hdr: has ? h : null, port: queue });
    }
    guest.pool.freeBurst(burst);
  }
}

interface Bed {
  guest: VirtioNetGuest;
  device: VhostNetDevice;
  host: PacketPool;
  cap: CapturePort;
  vnf: RecordVnf;
  /** Run device and guest until both are idle. */
  settle(): void;
  /** Queue frames for sending on pair `p` (guest side), each with an optional header. */
  send(frames: readonly Uint8Array[], p?: number, hdrs?: readonly (NetHeader | null)[]): number;
  /** Offer frames from the host side (to `port`, default the steering port). */
  offer(frames: readonly Uint8Array[], port?: Port, hdrs?: readonly (NetHeader | null)[]): void;
}

function bed(g: VirtioNetGuestOptions = {}, hostPoolOptions: { count?: number; dataRoom?: number } = {}, start = true): Bed {
  const vnf = new RecordVnf();
  const guest = new VirtioNetGuest({ vnf, ...g });
  const host = new PacketPool({ count: hostPoolOptions.count ?? 2048, dataRoom: hostPoolOptions.dataRoom ?? 2048 });
  const cap = new CapturePort(host);
  const device = new VhostNetDevice(guest.setup, { hostPool: host, uplink: cap });
  connectVirtioNet(guest, device);
  if (start) guest.start();
  const settle = (): void => {
    for (let i = 0; i < 10_000; i++) {
      const d = device.runOnce();
      const gm = guest.poll();
      if (!d && !gm && device.idle) return;
    }
    throw new Error("did not settle");
  };
  return {
    guest,
    device,
    host,
    cap,
    vnf,
    settle,
    send(frames, p = 0, hdrs = []) {
      const b = new Burst(Math.max(1, frames.length));
      for (const [k, f] of frames.entries()) {
        const i = guest.pool.alloc();
        guest.pool.write(i, f);
        const h = hdrs[k];
        if (h) setPacketNetHeader(guest.pool, i, h);
        b.push(i);
      }
      const n = guest.transmit(b, p);
      guest.pool.freeRange(b.idx, n, b.count);
      return n;
    },
    offer(frames, port = device.host, hdrs = []) {
      const b = new Burst(Math.max(1, frames.length));
      for (const [k, f] of frames.entries()) {
        const i = host.alloc();
        host.write(i, f);
        const h = hdrs[k];
        if (h) setPacketNetHeader(host, i, h);
        b.push(i);
      }
      port.tx(b);
    },
  };
}

function hdr(fields: Partial<NetHeader>): NetHeader {
  return Object.assign(new NetHeader(), fields);
}

function sum(o: Record<string, number>, names: readonly string[]): number {
  return names.reduce((s, n) => s + o[n]!, 0);
}

/** Split used ring entries of virtqueue `vq` as the device wrote them, and the header at the start of each head buffer. */
function usedEntries(guest: VirtioNetGuest, vq: number, from: number, to: number): Array<{ id: number; len: number; addr: number }> {
  const p = guest.setup.queues[vq]!;
  const out: Array<{ id: number; len: number; addr: number }> = [];
  for (let k = from; k < to; k++) {
    const e = p.deviceArea + 4 + 8 * (k % p.size);
    const id = guest.mem.readU32(e);
    out.push({ id, len: guest.mem.readU32(e + 4), addr: Number(guest.mem.readU64(p.descArea + 16 * id)) });
  }
  return out;
}

const SIZES = [60, 64, 100, 513, 1000, 1514];

// ---- Tests ----

describe("vhost-net: TX (guest -> host)", () => {
  it("delivers frames byte-exact, in order, with checksum/GSO fields passed to the host metadata", () => {
    const b = bed({ features: GUEST_DEFAULT_FEATURES | VIRTIO_NET_F_HOST_TSO4 });
    const frames = SIZES.map((n, k) => testFrame(n, k));
    const csum = hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
    const tso = hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(b.send(frames, 0, [null, csum, null, null, tso, null])).toBe(frames.length);
    b.settle();
    expect(b.cap.frames.map((f) => f.bytes)).toEqual(frames);
    expect(b.cap.frames[0]!.hdr).toBeNull();
    expect(b.cap.frames[1]!.hdr).toMatchObject({ flags: 1, csumStart: 34, csumOffset: 16, gsoType: 0 });
    expect(b.cap.frames[4]!.hdr).toMatchObject({ flags: 1, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    const d = b.device.counters.snapshot();
    expect(d["txFrames"]).toBe(6);
    expect(d["txBytes"]).toBe(SIZES.reduce((s, n) => s + n, 0));
    // One copy for the 12-byte header and one for the frame (one descriptor each): handle_tx_copy's two copy_from_iter calls.
    expect(d["copies"]).toBe(12);
    expect(d["copyBytes"]).toBe(SIZES.reduce((s, n) => s + n + 12, 0));
    // The guest gets its buffers back (used length 0) on its next transmit.
    b.send([testFrame(64)]);
    b.settle();
    b.guest.reclaimTx(0);
    expect(b.guest.pool.inUse).toBe(b.guest.setup.queues[0]!.size); // only the posted RX buffers
    expect(b.host.inUse).toBe(0);
  });

  it("refuses what the TAP would refuse, by reason, and keeps offered = delivered + drops", () => {
    // Host buffers of 1024 bytes: a 1500-byte frame does not fit. HOST_TSO4 not negotiated: GSO headers are bad.
    const b = bed({}, { count: 64, dataRoom: 1024 });
    const ok = testFrame(200);
    b.send([ok, testFrame(10), testFrame(1500), ok, testFrame(100)], 0, [
      null,
      null,
      null,
      hdr({ gsoType: VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: 1000 }),
      hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 90, csumOffset: 16 }),
    ]);
    b.settle();
    let d = b.device.counters.snapshot();
    expect(d).toMatchObject({ txOffered: 5, txFrames: 1, txDropMalformed: 1, txDropTooBig: 1, txDropBadHeader: 2 });
    // The host port takes 2 of the next 4; then the host pool runs dry (the port keeps what it took: here it frees them, so make it hold).
    b.cap.accept = 2;
    b.send([ok, ok, ok, ok]);
    b.settle();
    d = b.device.counters.snapshot();
    expect(d["txDropHost"]).toBe(2);
    // Exhaust the host pool, then send: no host buffer (no skb).
    const held: number[] = [];
    for (let i = b.host.alloc(); i >= 0; i = b.host.alloc()) held.push(i);
    b.send([ok, ok, ok]);
    b.settle();
    d = b.device.counters.snapshot();
    expect(d["txDropNoHostBuffer"]).toBe(3);
    expect(d["txOffered"]).toBe(12);
    expect(d["txOffered"]).toBe(d["txFrames"]! + sum(d, TX_DROPS));
    expect(d["tx0.drops"]).toBe(sum(d, TX_DROPS));
    expect(b.guest.counters.get("txFrames")).toBe(d["txOffered"]);
    for (const i of held) b.host.free(i);
    expect(b.host.inUse).toBe(0);
  });

  it("without an uplink holds TX frames in a host backlog (a core Link) for host.rx; a full backlog drops and counts txDropHost", () => {
    const guest = new VirtioNetGuest({ vnf: new RecordVnf() });
    const host = new PacketPool({ count: 256, dataRoom: 2048 });
    const device = new VhostNetDevice(guest.setup, { hostPool: host, hostBacklog: 2 });
    connectVirtioNet(guest, device);
    guest.start();
    const frames = [testFrame(60, 1), testFrame(70, 2), testFrame(80, 3), testFrame(90, 4)];
    const b = new Burst(frames.length);
    for (const f of frames) {
      const i = guest.pool.alloc();
      guest.pool.write(i, f);
      b.push(i);
    }
    expect(guest.transmit(b, 0)).toBe(4);
    for (let k = 0; k < 100 && (device.runOnce() || guest.poll() || !device.idle); k++);
    const d = device.counters.snapshot();
    expect(d).toMatchObject({ txOffered: 4, txFrames: 2, txDropHost: 2, "tx0.drops": 2 });
    expect(d["txBytes"]).toBe(130);
    const out = new Burst(8);
    expect(device.host.rx(out)).toBe(2);
    expect([...out.idx.subarray(0, 2)].map((i) => host.len[i])).toEqual([60, 70]);
    expect(device.host.rx(out)).toBe(0);
    host.freeBurst(out);
    expect(() => new VhostNetDevice(guest.setup, { hostPool: host, hostBacklog: 0 })).toThrow(/hostBacklog/);
    device.close();
    expect(host.inUse).toBe(0);
  });

  it("a guest without a VNF hook holds received frames in its backlog (a core Link) for port.rx, in order", () => {
    const guest = new VirtioNetGuest({});
    const host = new PacketPool({ count: 256, dataRoom: 2048 });
    const device = new VhostNetDevice(guest.setup, { hostPool: host });
    connectVirtioNet(guest, device);
    guest.start();
    const frames = [testFrame(60, 1), testFrame(61, 2), testFrame(62, 3)];
    const b = new Burst(frames.length);
    for (const f of frames) {
      const i = host.alloc();
      host.write(i, f);
      b.push(i);
    }
    device.host.tx(b);
    for (let k = 0; k < 100 && (device.runOnce() || guest.poll() || !device.idle); k++);
    const out = new Burst(8);
    expect(guest.port.rx(out)).toBe(3);
    expect([...out.idx.subarray(0, 3)].map((i) => guest.pool.bytes(i).slice())).toEqual(frames);
    expect(guest.port.rx(out)).toBe(0);
    expect(guest.counters.snapshot()["rxErrors"] ?? 0).toBe(0);
    guest.pool.freeBurst(out);
    device.close();
    expect(host.inUse).toBe(0);
  });
});

describe("vhost-net: RX (host -> guest)", () => {
  it("delivers frames byte-exact into posted buffers, with the host's header fields in the guest's metadata", () => {
    const b = bed({ features: GUEST_DEFAULT_FEATURES | VIRTIO_NET_F_GUEST_TSO4 });
    const frames = SIZES.map((n, k) => testFrame(n, 100 + k));
    const valid = hdr({ flags: VIRTIO_NET_HDR_F_DATA_VALID });
    const gso = hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 66, gsoSize: 1400, csumStart: 34, csumOffset: 16 });
    b.offer(frames, undefined, [valid, null, null, gso, null, null]);
    b.device.runUntilIdle(); // the device only: the guest has not reclaimed (or reposted) anything yet
    // Each frame took one 2060-byte buffer: num_buffers 1 in every header.
    const used = usedEntries(b.guest, 0, 0, 6);
    used.forEach((u, k) => {
      expect(u.len).toBe(12 + SIZES[k]!);
      const h = new NetHeader();
      decodeNetHeader(b.guest.mem.slice(u.addr, 12), 0, 12, h);
      expect(h.numBuffers).toBe(1);
      expect(b.guest.mem.slice(u.addr + 12, SIZES[k]!)).toEqual(frames[k]);
    });
    b.settle();
    expect(b.vnf.frames.map((f) => f.bytes)).toEqual(frames);
    expect(b.vnf.frames[0]!.hdr).toMatchObject({ flags: VIRTIO_NET_HDR_F_DATA_VALID, gsoType: 0 });
    expect(b.vnf.frames[1]!.hdr).toBeNull();
    expect(b.vnf.frames[3]!.hdr).toMatchObject({ flags: 1, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 66, gsoSize: 1400, csumStart: 34, csumOffset: 16 });
    const d = b.device.counters.snapshot();
    expect(d).toMatchObject({ rxOffered: 6, rxFrames: 6, rxBuffers: 6, rxBytes: SIZES.reduce((s, n) => s + n, 0) });
    // Header write + num_buffers fixup + frame: three copies per single-buffer frame.
    expect(d["copies"]).toBe(18);
    expect(d["copyBytes"]).toBe(SIZES.reduce((s, n) => s + 12 + 2 + n, 0));
    expect(b.host.inUse).toBe(0);
  });

  it("spreads a large frame over 3 mergeable buffers, num_buffers = 3, and the guest reassembles it", () => {
    const b = bed({ rxBufferSize: 512 });
    const big = testFrame(1400, 7);
    const small = testFrame(80, 8);
    b.offer([big, small]);
    b.device.runUntilIdle();
    // 12 + 1400 = 1412 bytes: 512 + 512 + 388, every buffer but the last used completely (§5.1.6.4).
    const used = usedEntries(b.guest, 0, 0, 4);
    expect(used.map((u) => u.len)).toEqual([512, 512, 388, 92]);
    const h = new NetHeader();
    decodeNetHeader(b.guest.mem.slice(used[0]!.addr, 12), 0, 12, h);
    expect(h.numBuffers).toBe(3);
    decodeNetHeader(b.guest.mem.slice(used[3]!.addr, 12), 0, 12, h);
    expect(h.numBuffers).toBe(1);
    // The continuation buffers hold raw frame bytes, no header.
    expect(b.guest.mem.slice(used[1]!.addr, 512)).toEqual(big.subarray(500, 1012));
    b.settle();
    expect(b.vnf.frames.map((f) => f.bytes)).toEqual([big, small]);
    const d = b.device.counters.snapshot();
    expect(d).toMatchObject({ rxFrames: 2, rxBuffers: 4 });
    // big: header + fixup + 3 frame segments; small: header + fixup + 1.
    expect(d["copies"]).toBe(5 + 3);
    expect(b.guest.counters.get("copies")).toBe(2); // the guest appends the 2 continuation buffers
  });

  it("without MRG_RXBUF: one buffer per frame, num_buffers 1; a frame that cannot fit is dropped and the buffer kept", () => {
    const b = bed({ features: GUEST_DEFAULT_FEATURES & ~VIRTIO_NET_F_MRG_RXBUF, rxBufferSize: 1024 });
    expect(b.device.mergeable).toBe(false);
    const f1 = testFrame(1000);
    const f2 = testFrame(1200);
    const f3 = testFrame(64);
    b.offer([f1, f2, f3]);
    b.device.runUntilIdle();
    const used = usedEntries(b.guest, 0, 0, 2);
    expect(used.map((u) => u.len)).toEqual([1012, 76]);
    const h = new NetHeader();
    for (const u of used) {
      decodeNetHeader(b.guest.mem.slice(u.addr, 12), 0, 12, h);
      expect(h.numBuffers).toBe(1);
    }
    b.settle();
    expect(b.vnf.frames.map((f) => f.bytes)).toEqual([f1, f3]);
    const d = b.device.counters.snapshot();
    expect(d).toMatchObject({ rxFrames: 2, rxDropTooBig: 1, rxBuffers: 2, copies: 4 });
  });

  it("resolves NEEDS_CSUM for a guest without GUEST_CSUM (skb_checksum_help) and drops GSO it cannot take", () => {
    const b = bed({ features: GUEST_DEFAULT_FEATURES & ~VIRTIO_NET_F_GUEST_CSUM });
    expect(b.device.features & VIRTIO_NET_F_GUEST_CSUM).toBe(0n);
    // IPv4/UDP-shaped frame: checksum from byte 34 to the end, stored at 34 + 6.
    const f = testFrame(100, 3);
    f[40] = 0;
    f[41] = 0;
    b.offer([f, testFrame(200)], undefined, [hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 }), hdr({ gsoType: VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: 100 })]);
    b.settle();
    expect(b.vnf.frames).toHaveLength(1);
    const got = b.vnf.frames[0]!;
    expect(got.hdr).toBeNull(); // nothing left to ask of the guest
    expect(verifyInternetChecksum(got.bytes, 34, 66)).toBe(true);
    expect(got.bytes.subarray(0, 40)).toEqual(f.subarray(0, 40));
    expect(b.device.counters.snapshot()).toMatchObject({ csumResolved: 1, rxDropOffload: 1, rxFrames: 1 });
  });

  it("drops by reason (queue full, no buffer, too big) and keeps offered = delivered + drops + queued", () => {
    // Guest not started: no RX buffers posted yet. Ring of 8 x 64-byte buffers: 12 + 600 never fits.
    const b = bed({ queueSize: 8, rxBufferSize: 64 }, {}, false);
    const f = testFrame(60);
    // 600 frames before the worker runs: the socket queue (500) overflows while the worker is merely behind.
    b.offer(Array.from({ length: 600 }, () => f));
    expect(b.device.counters.get("rxDropQueueFull")).toBe(100);
    b.settle(); // the worker finds no buffers and waits for a kick
    expect(b.device.queue(0).waitingBuffers).toBe(true);
    b.offer(Array.from({ length: 50 }, () => f)); // the queue is full because the guest posts nothing
    expect(b.device.counters.get("rxDropNoBuffer")).toBe(50);
    b.guest.start(); // posts 8 buffers and kicks
    b.settle();
    b.offer([testFrame(600)], undefined);
    b.settle();
    const d = b.device.counters.snapshot();
    expect(d["rxDropTooBig"]).toBe(1);
    expect(d["rxFrames"]).toBe(500);
    expect(b.vnf.frames).toHaveLength(500);
    const queued = b.device.queue(0).queued;
    expect(queued).toBe(0);
    expect(d["rxOffered"]).toBe(651);
    expect(d["rxOffered"]).toBe(d["rxFrames"]! + sum(d, RX_DROPS) + queued);
    expect(d["rx0.drops"]).toBe(sum(d, RX_DROPS));
    expect(b.host.inUse).toBe(0);
  });
});

describe("vhost-net: several queue pairs", () => {
  it("serves every pair from one worker, frames stay on their queue, per-queue counters add up", () => {
    const pairs = 4;
    const b = bed({ queuePairs: pairs });
    expect(b.device.features & (1n << 22n)).not.toBe(0n); // MQ
    const sent: Uint8Array[][] = [];
    for (let p = 0; p < pairs; p++) {
      sent.push(Array.from({ length: 10 + p }, (_, k) => testFrame(64 + k, p * 100 + k)));
      b.send(sent[p]!, p);
    }
    for (let p = 0; p < pairs; p++) b.offer(Array.from({ length: 5 + p }, (_, k) => testFrame(70 + k, 50 + p)), b.device.hostQueue(p));
    b.settle();
    const d = b.device.counters.snapshot();
    for (let p = 0; p < pairs; p++) {
      expect(b.cap.frames.filter((f) => f.port === p).map((f) => f.bytes)).toEqual(sent[p]);
      expect(d[`tx${p}.frames`]).toBe(10 + p);
      expect(d[`rx${p}.frames`]).toBe(5 + p);
      expect(b.vnf.frames.filter((f) => f.port === p)).toHaveLength(5 + p);
    }
    expect(d["txFrames"]).toBe(46);
    expect(d["rxFrames"]).toBe(26);
    expect(Object.keys(b.device.resourceSnapshot())).toEqual(["vhost-vhost-net"]);
    // Steering by flow hash (tun's reciprocal_scale): hash h goes to pair floor(h * n / 2^32).
    const before = b.vnf.frames.length;
    const bb = new Burst(4);
    for (let p = 0; p < pairs; p++) {
      const i = b.host.alloc();
      b.host.write(i, testFrame(64, p));
      b.host.hash[i] = (p * 2 ** 32) / pairs + 1;
      bb.push(i);
    }
    b.device.host.tx(bb);
    b.settle();
    expect(b.vnf.frames.slice(before).map((f) => f.port).sort()).toEqual([0, 1, 2, 3]);
  });

  it("gives each pair its own worker with workers: 'per-queue-pair' (QEMU's one vhost-net per pair)", () => {
    const guest = new VirtioNetGuest({ queuePairs: 3 });
    const host = new PacketPool({ count: 256 });
    const dev = new VhostNetDevice(guest.setup, { hostPool: host, workers: "per-queue-pair", name: "vm1" });
    expect(dev.resources.map((r) => r.name)).toEqual(["vhost-vm1.0", "vhost-vm1.1", "vhost-vm1.2"]);
  });
});

describe("vhost-net: set-up", () => {
  it("refuses features it does not offer and invalid sets, naming them", () => {
    const guest = new VirtioNetGuest();
    const hostPool = new PacketPool({ count: 64 });
    const inOrder = 1n << 35n;
    expect(() => new VhostNetDevice({ ...guest.setup, features: guest.setup.features | inOrder }, { hostPool })).toThrow(/0x800000000 are not offered/);
    expect(() => new VhostNetDevice({ ...guest.setup, features: guest.setup.features & ~(1n << 32n) }, { hostPool })).toThrow(/VERSION_1/);
    expect(() => new VhostNetDevice({ ...guest.setup, features: (guest.setup.features & ~VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_NET_F_GUEST_TSO4 }, { hostPool })).toThrow(/GUEST_TSO4 requires VIRTIO_NET_F_GUEST_CSUM/);
    expect(() => new VhostNetDevice({ ...guest.setup, queues: guest.setup.queues.slice(1) }, { hostPool })).toThrow(/need 2/);
  });
});

describe("vhost-net: accounting", () => {
  it("counts every copy, kick, exit and interrupt, and charges exactly what the cost model says", () => {
    const b = bed({ mode: "napi" });
    const r = b.device.rates;
    // Traffic both ways, in several rounds so that notifications happen.
    for (let round = 0; round < 5; round++) {
      b.send(Array.from({ length: 40 }, (_, k) => testFrame(64 + 8 * k, round)));
      b.offer(Array.from({ length: 70 }, (_, k) => testFrame(60 + 16 * k, round)));
      b.settle();
    }
    const d = b.device.counters.snapshot();
    const g = b.guest.counters.snapshot();
    expect(d["txFrames"]).toBe(200);
    expect(d["rxFrames"]).toBe(350);
    expect(d["kicks"]).toBe(g["kicks"]);
    expect(d["interrupts"]).toBe(g["interrupts"]);
    expect(d["vmExits"]).toBe(d["kicks"]! + d["interrupts"]!);
    expect(d["kicks"]).toBeGreaterThan(0);
    expect(d["interrupts"]).toBeGreaterThan(0);
    expect(d["tx0.kicks"]! + d["rx0.kicks"]!).toBe(d["kicks"]);
    expect(d["tx0.interrupts"]! + d["rx0.interrupts"]!).toBe(d["interrupts"]);
    expect(d["interrupts"]! + d["interruptsSuppressed"]!).toBe(d["tx0.interrupts"]! + d["tx0.suppressed"]! + d["rx0.interrupts"]! + d["rx0.suppressed"]!);
    // Worker: per packet + per copy call + per byte + per signal (interrupt) + per wake-up.
    const worker = b.device.resources[0]!;
    const expected =
      d["txOffered"]! * (r.cyclesPerPacketBase + r.cyclesPerVhostTxPacket) +
      d["rxFrames"]! * (r.cyclesPerPacketBase + r.cyclesPerVhostRxPacket) +
      d["copies"]! * r.cyclesPerCopyCall +
      d["copyBytes"]! * r.cyclesPerCopyByte +
      (d["interrupts"]! + d["wakeups"]!) * r.cyclesPerNotification;
    expect(worker.cycles).toBeCloseTo(expected, 6);
    // vCPU: per frame + the exits of its kicks + the interrupts it took.
    const vcpu = b.guest.vcpu;
    const vExpected = (g["txFrames"]! + g["rxFrames"]!) * r.cyclesPerPacketBase + g["kicks"]! * r.cyclesPerVmExit + g["interrupts"]! * r.cyclesPerInterruptInjection + g["copies"]! * r.cyclesPerCopyCall + g["copyBytes"]! * r.cyclesPerCopyByte;
    expect(vcpu.cycles).toBeCloseTo(vExpected, 6);
  });
});

describe("vhost-net: packed ring", () => {
  it("round-trips both ways over packed virtqueues too (an nfvio extension: Linux vhost has no packed ring)", () => {
    const b = bed({ ring: "packed", rxBufferSize: 700 });
    const tx = SIZES.map((n, k) => testFrame(n, 30 + k));
    const rx = SIZES.map((n, k) => testFrame(n, 60 + k));
    b.send(tx);
    b.offer(rx);
    b.settle();
    expect(b.cap.frames.map((f) => f.bytes)).toEqual(tx);
    expect(b.vnf.frames.map((f) => f.bytes)).toEqual(rx);
    expect(b.device.counters.get("rxBuffers")).toBe(1 + 1 + 1 + 1 + 2 + 3); // 700-byte buffers: 1514 + 12 takes 3
  });
});
