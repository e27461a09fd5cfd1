/**
 * End-to-end harness: guests running `@nfvio/vhost`'s virtio-net driver
 * model (the same driver the vhost-net baseline serves), attached to the
 * offload device's vports, and the baseline set-ups for the same traffic.
 * `@nfvio/vhost` is a devDependency of this package: only tests and the
 * bench script use it.
 */
import { ModelClock, type CostRates } from "@nfvio/core";
import { buildFrame, type Burst, type PacketPool } from "@nfvio/packet";
import { GUEST_DEFAULT_FEATURES, VirtioNetGuest, getPacketNetHeader, setPacketNetHeader, type GuestVnf } from "@nfvio/vhost";
import { NetHeader, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_HASH_REPORT, VIRTIO_NET_F_RSS } from "@nfvio/virtio";
import { encodeRssCommand, type RssConfig } from "../src/rss.js";
import type { OffloadDevice, Vport } from "../src/device/device.js";

/** A frame as the guest's VNF saw it. */
export interface Received {
  readonly queue: number;
  readonly data: Uint8Array;
  /** virtio-net header fields the device delivered. */
  readonly flags: number;
  readonly hashValue: number;
  readonly hashReport: number;
  /** Guest (vCPU) time of the receive. */
  readonly t: number;
}

/** A guest VNF that keeps (a copy of) everything it receives, then frees it. */
export class RecordingVnf implements GuestVnf {
  readonly received: Received[] = [];
  count = 0;
  lastT = 0;
  private readonly hdr = new NetHeader();
  constructor(readonly keep = true) {}

  receive(burst: Burst, queue: number, guest: VirtioNetGuest): void {
    const pool = guest.pool;
    const t = guest.meter.now();
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      if (this.keep) {
        getPacketNetHeader(pool, i, this.hdr);
        const s = pool.start(i);
        this.received.push({ queue, data: pool.data.slice(s, s + pool.len[i]!), flags: this.hdr.flags, hashValue: this.hdr.hashValue, hashReport: this.hdr.hashReport, t });
      }
    }
    this.count += burst.count;
    this.lastT = t;
    pool.freeBurst(burst);
  }
}

/** A frame to send, with optional offload metadata (virtio-net header fields). */
export interface ToSend {
  readonly data: Uint8Array;
  readonly hdr?: Partial<Pick<NetHeader, "flags" | "gsoType" | "gsoSize" | "hdrLen" | "csumStart" | "csumOffset">>;
}

/** A guest VNF that sends a list of frames on queue 0 (and records what it receives). */
export class SenderVnf extends RecordingVnf {
  sent = 0;
  private readonly h = new NetHeader();
  constructor(
    private readonly frames: readonly ToSend[],
    keep = true,
  ) {
    super(keep);
  }

  produce(burst: Burst, queue: number, max: number, guest: VirtioNetGuest): number {
    if (queue !== 0) return 0;
    const want = Math.min(max, this.frames.length - this.sent, burst.capacity - burst.count);
    if (want <= 0) return 0;
    const pool = guest.pool;
    const start = burst.count;
    const got = pool.allocBurst(burst, want);
    for (let k = 0; k < got; k++) {
      const i = burst.idx[start + k]!;
      const f = this.frames[this.sent + k]!;
      pool.data.set(f.data, pool.start(i));
      pool.len[i] = f.data.length;
      this.h.reset();
      if (f.hdr) Object.assign(this.h, f.hdr);
      setPacketNetHeader(pool, i, this.h);
    }
    this.sent += got;
    return got;
  }
}

export interface GuestOptions {
  readonly clock: ModelClock | undefined;
  readonly cost?: CostRates;
  readonly queuePairs?: number;
  readonly offered: bigint;
  readonly extra?: bigint;
  readonly vnf: GuestVnf;
  readonly mode?: "napi" | "poll";
  readonly name?: string;
  readonly ring?: string;
  readonly dataRoom?: number;
  readonly poolCount?: number;
  readonly queueSize?: number;
}

/** A guest with the driver's defaults plus `extra` features (RSS, HASH_REPORT, ...). */
export function makeGuest(o: GuestOptions): VirtioNetGuest {
  return new VirtioNetGuest({
    name: o.name ?? "vm",
    queuePairs: o.queuePairs ?? 1,
    queueSize: o.queueSize ?? 256,
    features: GUEST_DEFAULT_FEATURES | VIRTIO_NET_F_CTRL_VQ | (o.extra ?? 0n),
    offered: o.offered,
    mode: o.mode ?? "poll",
    vnf: o.vnf,
    ring: o.ring ?? "split",
    pool: { count: o.poolCount ?? 4096, dataRoom: o.dataRoom ?? 2048 },
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.cost ? { cost: o.cost } : {}),
  });
}

/** Attach `guest` to vport `id` of `dev` and connect kicks and interrupts. */
export function attach(dev: OffloadDevice, id: number, guest: VirtioNetGuest, mac: string): Vport {
  const vp = dev.attachGuest(id, guest.setup, { mac, guest });
  guest.connect(vp);
  return vp;
}

/** Send an RSS configuration through the control command, as the driver would. Returns the ack. */
export function setRss(vp: Vport, cfg: RssConfig): number {
  const data = encodeRssCommand(cfg);
  const msg = new Uint8Array(2 + data.length);
  msg[0] = VIRTIO_NET_CTRL_MQ;
  msg[1] = VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
  msg.set(data, 2);
  return vp.control(msg);
}

/** Run the model clock until nothing is scheduled. */
export function runToIdle(clock: ModelClock, maxEvents = 50_000_000): void {
  let n = 0;
  while (clock.step()) if (++n > maxEvents) throw new Error("model did not settle");
}

export const RSS_FEATURES = VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT;

/** MAC addresses of the test VMs. */
export const VM_MAC = ["02:00:00:00:0a:01", "02:00:00:00:0a:02", "02:00:00:00:0a:03"] as const;

/** `n` distinct TCP and UDP frames (64 to 1514 bytes) to `dst`, checksums filled in. */
export function flowFrames(n: number, dst: string, seed = 1, sizes: readonly number[] = [60, 128, 590, 1514]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const size = sizes[k % sizes.length]!;
    const a = (seed * 7919 + k * 104729) >>> 0;
    const src = `10.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${(k & 254) + 1}`;
    const l4 = k % 3 === 2 ? { udp: { srcPort: 1024 + (a & 0x7fff), dstPort: 53 } } : { tcp: { srcPort: 1024 + (a & 0x7fff), dstPort: 80 + (k % 7), seq: a, flags: 0x18 } };
    const hdr = 14 + 20 + ("udp" in l4 ? 8 : 20);
    out.push(buildFrame({ dst, src: "02:00:00:00:ee:01", ipv4: { src, dst: "192.0.2.10", id: k & 0xffff }, ...l4, payload: Math.max(0, size - hdr), padTo: 60 }));
  }
  return out;
}

/** Free-standing pool helper: every buffer of `pool` is back. */
export function poolIsFull(pool: PacketPool): boolean {
  const s = pool.stats();
  return s.available === s.count;
}
