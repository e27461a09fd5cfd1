/**
 * Ready-made runs of the offload device and of the vhost-net baseline on
 * the same traffic, for the tests and `bench/device.ts`:
 *
 * - north-south: frames from the wire (a {@link WireSource} at a line rate)
 *   into one VM's receive queues (RSS over `queuePairs` queues);
 * - east-west: VM1 transmits to VM2 through the device's eSwitch (or, for
 *   the baseline, vhost-net -> a software bridge -> vhost-net).
 *
 * The guests run `@nfvio/vhost`'s virtio-net driver model (poll mode, a
 * DPDK-style PMD) in both cases; only the backend changes.
 */
import { DEFAULT_COST_MODEL, ModelClock, RealClock, costRates, type CostRates, type CounterSnapshot, type Port, type ResourceSnapshot } from "@nfvio/core";
import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import { GUEST_DEFAULT_FEATURES, VHOST_NET_FEATURES, VhostNetDevice, VirtioNetGuest, setPacketNetHeader, type GuestVnf } from "@nfvio/vhost";
import { NetHeader, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_HASH_REPORT, VIRTIO_NET_F_RSS } from "@nfvio/virtio";
import { OffloadDevice, type Vport } from "../src/device/device.js";
import { GENERIC_SMARTNIC_PROFILE, type DeviceProfile } from "../src/device/profile.js";
import { DEFAULT_RSS_KEY, VIRTIO_NET_HASH_TYPE_ALL, defaultIndirectionTable, encodeRssCommand } from "../src/rss.js";
import { CapturePort, WireSource } from "../src/testing.js";

export const MAC_VM1 = "02:00:00:00:0a:01";
export const MAC_VM2 = "02:00:00:00:0a:02";

/** `n` distinct TCP frames of `size` stored bytes (FCS not included) to `dst`, spread over many flows. */
export function benchFrames(n: number, size: number, dst: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    out.push(
      buildFrame({
        dst,
        src: "02:00:00:00:ee:01",
        ipv4: { src: `10.${(k >>> 8) & 255}.${k & 255}.1`, dst: "192.0.2.10" },
        tcp: { srcPort: 1024 + ((k * 7919) & 0x7fff), dstPort: 80 },
        payload: Math.max(0, size - 54),
        padTo: size,
      }),
    );
  }
  return out;
}

/** A guest VNF that counts what it receives and when, and frees it. */
export class CountingVnf implements GuestVnf {
  count = 0;
  bytes = 0;
  firstT = -1;
  lastT = 0;
  receive(burst: Burst, _q: number, guest: VirtioNetGuest): void {
    const t = guest.meter.now();
    if (this.firstT < 0) this.firstT = t;
    this.lastT = t;
    this.count += burst.count;
    for (let k = 0; k < burst.count; k++) this.bytes += guest.pool.len[burst.idx[k]!]!;
    guest.pool.freeBurst(burst);
  }
}

/** A guest VNF that sends `count` frames from a list, round robin, on queue 0, as fast as the ring takes them. */
export class ListSenderVnf extends CountingVnf {
  sent = 0;
  private readonly h = new NetHeader();
  constructor(
    private readonly frames: readonly Uint8Array[],
    private readonly total: number,
  ) {
    super();
  }
  produce(burst: Burst, queue: number, max: number, guest: VirtioNetGuest): number {
    if (queue !== 0) return 0;
    const want = Math.min(max, this.total - this.sent, burst.capacity - burst.count);
    if (want <= 0) return 0;
    const pool = guest.pool;
    const start = burst.count;
    const got = pool.allocBurst(burst, want);
    for (let k = 0; k < got; k++) {
      const i = burst.idx[start + k]!;
      const f = this.frames[(this.sent + k) % this.frames.length]!;
      pool.data.set(f, pool.start(i));
      pool.len[i] = f.length;
      setPacketNetHeader(pool, i, this.h);
    }
    this.sent += got;
    return got;
  }
}

export interface ScenarioOptions {
  /** Device profile (default the generic SmartNIC). */
  readonly profile?: DeviceProfile;
  /** Stored frame size (no FCS; 60 is a 64-byte frame on the wire). Default 60. */
  readonly frameSize?: number;
  /** Frames to move (default 100,000). */
  readonly frames?: number;
  /** Receive queue pairs of the (receiving) VM (default 4). */
  readonly queuePairs?: number;
  /** North-south: offered load in Gbit/s on the wire (default: the profile's line rate). */
  readonly offerGbps?: number;
  readonly cost?: CostRates;
  /** Distinct flows (default 1024). */
  readonly flows?: number;
}

export interface ScenarioResult {
  readonly backend: "offload" | "vhost-net";
  readonly direction: "north-south" | "east-west";
  readonly frameSize: number;
  readonly offered: number;
  readonly delivered: number;
  /** Modelled ns from the first frame offered to the last one received. */
  readonly timeNs: number;
  /** Delivered frames per modelled microsecond (Mpps). */
  readonly mpps: number;
  readonly device: CounterSnapshot;
  readonly resources: Record<string, ResourceSnapshot>;
  /** Bytes copied by a host CPU on the data path (vhost worker, guest drivers). */
  readonly hostCopyBytes: number;
  /** Bytes moved by the device's DMA engine. */
  readonly dmaBytes: number;
  /** Host (non-guest) CPU cycles charged per delivered frame. */
  readonly hostCyclesPerFrame: number;
}

function run(clock: ModelClock): void {
  while (clock.step()) {
    // to completion
  }
}

function rssCommand(pairs: number): Uint8Array {
  const data = encodeRssCommand({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(pairs), unclassifiedQueue: 0, maxTxVq: pairs, key: DEFAULT_RSS_KEY });
  const msg = new Uint8Array(2 + data.length);
  msg[0] = VIRTIO_NET_CTRL_MQ;
  msg[1] = VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
  msg.set(data, 2);
  return msg;
}

function guestFor(clock: ModelClock | RealClock, rates: CostRates, offered: bigint, pairs: number, vnf: GuestVnf, name: string, extra = 0n): VirtioNetGuest {
  return new VirtioNetGuest({
    name,
    queuePairs: pairs,
    features: GUEST_DEFAULT_FEATURES | VIRTIO_NET_F_CTRL_VQ | extra,
    offered,
    mode: "poll",
    vnf,
    pool: { count: pairs * 1024 + 2048, dataRoom: 2048 },
    clock,
    cost: rates,
  });
}

function attach(dev: OffloadDevice, id: number, g: VirtioNetGuest, mac: string): Vport {
  const vp = dev.attachGuest(id, g.setup, { mac, guest: g });
  g.connect(vp);
  return vp;
}

/** North-south through the offload device under the model clock. */
export function offloadNorthSouth(o: ScenarioOptions = {}): ScenarioResult {
  const profile = o.profile ?? GENERIC_SMARTNIC_PROFILE;
  const rates = o.cost ?? costRates(DEFAULT_COST_MODEL);
  const size = o.frameSize ?? 60;
  const count = o.frames ?? 100_000;
  const pairs = o.queuePairs ?? 4;
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 16384, dataRoom: 2048 });
  const device = new OffloadDevice({ clock, cost: rates, pool, profile, vports: 2 });
  const vnf = new CountingVnf();
  const guest = guestFor(clock, rates, device.features, pairs, vnf, "vm", VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT);
  const vp = attach(device, 0, guest, MAC_VM1);
  if (pairs > 1 && vp.control(rssCommand(pairs)) !== 0) throw new Error("RSS configuration refused");
  guest.start();
  const gbps = o.offerGbps ?? profile.stages["mac"]!.gbps!.value;
  const src = new WireSource({ clock, pool, port: device.uplink, frames: benchFrames(o.flows ?? 1024, size, MAC_VM1), count, gbps });
  src.start();
  run(clock);
  const s = device.snapshot();
  guest.close();
  device.close();
  return {
    backend: "offload",
    direction: "north-south",
    frameSize: size,
    offered: count,
    delivered: vnf.count,
    timeNs: vnf.lastT,
    mpps: vnf.lastT > 0 ? (vnf.count / vnf.lastT) * 1e3 : 0,
    device: s,
    resources: { ...device.resourceSnapshot(), [guest.vcpu.name]: guest.vcpu.snapshot() },
    hostCopyBytes: s["hostCopyBytes"]! + guest.counters.get("copyBytes"),
    dmaBytes: s["dmaReadBytes"]! + s["dmaWriteBytes"]!,
    hostCyclesPerFrame: 0,
  };
}

/** East-west VM1 -> VM2 through the offload device's eSwitch under the model clock. */
export function offloadEastWest(o: ScenarioOptions = {}): ScenarioResult {
  const profile = o.profile ?? GENERIC_SMARTNIC_PROFILE;
  const rates = o.cost ?? costRates(DEFAULT_COST_MODEL);
  const size = o.frameSize ?? 60;
  const count = o.frames ?? 100_000;
  const pairs = o.queuePairs ?? 1;
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 16384, dataRoom: 2048 });
  const device = new OffloadDevice({ clock, cost: rates, pool, profile, vports: 2 });
  const sender = new ListSenderVnf(benchFrames(o.flows ?? 1024, size, MAC_VM2), count);
  const vm1 = guestFor(clock, rates, device.features, 1, sender, "vm1");
  const rx = new CountingVnf();
  const vm2 = guestFor(clock, rates, device.features, pairs, rx, "vm2", VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT);
  attach(device, 0, vm1, MAC_VM1);
  const vp2 = attach(device, 1, vm2, MAC_VM2);
  if (pairs > 1 && vp2.control(rssCommand(pairs)) !== 0) throw new Error("RSS configuration refused");
  vm2.start();
  vm1.start();
  run(clock);
  const s = device.snapshot();
  vm1.close();
  vm2.close();
  device.close();
  return {
    backend: "offload",
    direction: "east-west",
    frameSize: size,
    offered: count,
    delivered: rx.count,
    timeNs: rx.lastT,
    mpps: rx.lastT > 0 ? (rx.count / rx.lastT) * 1e3 : 0,
    device: s,
    resources: { ...device.resourceSnapshot(), [vm1.vcpu.name]: vm1.vcpu.snapshot(), [vm2.vcpu.name]: vm2.vcpu.snapshot() },
    hostCopyBytes: s["hostCopyBytes"]! + vm1.counters.get("copyBytes") + vm2.counters.get("copyBytes"),
    dmaBytes: s["dmaReadBytes"]! + s["dmaWriteBytes"]!,
    hostCyclesPerFrame: 0,
  };
}

function hostCycles(res: Record<string, ResourceSnapshot>): number {
  let c = 0;
  for (const [name, r] of Object.entries(res)) if (r.kind === "cpu" && !name.startsWith("vcpu-")) c += r.cycles;
  return c;
}

/** North-south through vhost-net (the baseline), same frames, same guest driver. */
export function vhostNorthSouth(o: ScenarioOptions = {}): ScenarioResult {
  const rates = o.cost ?? costRates(DEFAULT_COST_MODEL);
  const size = o.frameSize ?? 60;
  const count = o.frames ?? 100_000;
  const pairs = o.queuePairs ?? 4;
  const clock = new ModelClock();
  const hostPool = new PacketPool({ count: 16384, dataRoom: 2048 });
  const vnf = new CountingVnf();
  const guest = guestFor(clock, rates, VHOST_NET_FEATURES, pairs, vnf, "vm");
  const device = new VhostNetDevice(guest.setup, { name: "vm", clock, cost: rates, hostPool, guest });
  guest.connect(device);
  guest.start();
  // Offered well below the worker's capacity so the socket queues (tun's 500 frames) do not overflow.
  const src = new WireSource({ clock, pool: hostPool, port: device.host, frames: benchFrames(o.flows ?? 1024, size, MAC_VM1), count, pps: o.offerGbps !== undefined ? (o.offerGbps * 1e9) / ((size + 24) * 8) : 2e6 });
  src.start();
  run(clock);
  const s = device.counters.snapshot();
  const res = { ...device.resourceSnapshot(), [guest.vcpu.name]: guest.vcpu.snapshot() };
  guest.close();
  device.close();
  return {
    backend: "vhost-net",
    direction: "north-south",
    frameSize: size,
    offered: count,
    delivered: vnf.count,
    timeNs: vnf.lastT,
    mpps: vnf.lastT > 0 ? (vnf.count / vnf.lastT) * 1e3 : 0,
    device: s,
    resources: res,
    hostCopyBytes: s["copyBytes"]! + guest.counters.get("copyBytes"),
    dmaBytes: 0,
    hostCyclesPerFrame: vnf.count > 0 ? hostCycles(res) / vnf.count : 0,
  };
}

/** East-west through vhost-net: VM1's device -> a software bridge -> VM2's device. */
export function vhostEastWest(o: ScenarioOptions = {}): ScenarioResult {
  const rates = o.cost ?? costRates(DEFAULT_COST_MODEL);
  const size = o.frameSize ?? 60;
  const count = o.frames ?? 100_000;
  const clock = new ModelClock();
  const hostPool = new PacketPool({ count: 16384, dataRoom: 2048 });
  const sender = new ListSenderVnf(benchFrames(o.flows ?? 1024, size, MAC_VM2), count);
  const vm1 = guestFor(clock, rates, VHOST_NET_FEATURES, 1, sender, "vm1");
  const rx = new CountingVnf();
  const vm2 = guestFor(clock, rates, VHOST_NET_FEATURES, 1, rx, "vm2");
  const dev2 = new VhostNetDevice(vm2.setup, { name: "vm2", clock, cost: rates, hostPool, guest: vm2 });
  // The software bridge: every frame from VM1 to VM2 (one port each side; charged nothing here).
  const bridge: Port = { counters: dev2.counters, rx: () => 0, tx: (b: Burst) => dev2.host.tx(b) };
  const dev1 = new VhostNetDevice(vm1.setup, { name: "vm1", clock, cost: rates, hostPool, guest: vm1, uplink: bridge });
  vm1.connect(dev1);
  vm2.connect(dev2);
  vm2.start();
  vm1.start();
  run(clock);
  const s1 = dev1.counters.snapshot();
  const s2 = dev2.counters.snapshot();
  const res = { ...dev1.resourceSnapshot(), ...dev2.resourceSnapshot(), [vm1.vcpu.name]: vm1.vcpu.snapshot(), [vm2.vcpu.name]: vm2.vcpu.snapshot() };
  vm1.close();
  vm2.close();
  dev1.close();
  dev2.close();
  const merged: CounterSnapshot = {};
  for (const [k, v] of Object.entries(s1)) merged[`vm1.${k}`] = v;
  for (const [k, v] of Object.entries(s2)) merged[`vm2.${k}`] = v;
  return {
    backend: "vhost-net",
    direction: "east-west",
    frameSize: size,
    offered: count,
    delivered: rx.count,
    timeNs: rx.lastT,
    mpps: rx.lastT > 0 ? (rx.count / rx.lastT) * 1e3 : 0,
    device: merged,
    resources: res,
    hostCopyBytes: s1["copyBytes"]! + s2["copyBytes"]! + vm1.counters.get("copyBytes") + vm2.counters.get("copyBytes"),
    dmaBytes: 0,
    hostCyclesPerFrame: rx.count > 0 ? hostCycles(res) / rx.count : 0,
  };
}

/**
 * Real time, one thread: the offload device and a polling guest driver
 * alternate in a loop while bursts are handed to the uplink. The figure is
 * frames per wall-clock second of this software (device model + driver).
 */
export function offloadNorthSouthReal(o: ScenarioOptions & { seconds?: number } = {}): { frames: number; seconds: number; mpps: number } {
  const rates = o.cost ?? costRates(DEFAULT_COST_MODEL);
  const size = o.frameSize ?? 60;
  const pairs = o.queuePairs ?? 4;
  const clock = new RealClock();
  const pool = new PacketPool({ count: 16384, dataRoom: 2048 });
  const device = new OffloadDevice({ clock, cost: rates, pool, profile: o.profile ?? GENERIC_SMARTNIC_PROFILE, vports: 2 });
  const vnf = new CountingVnf();
  const guest = guestFor(clock, rates, device.features, pairs, vnf, "vm", VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT);
  const vp = attach(device, 0, guest, MAC_VM1);
  if (pairs > 1) vp.control(rssCommand(pairs));
  guest.start();
  const frames = benchFrames(o.flows ?? 1024, size, MAC_VM1);
  const b = new Burst(32);
  const seconds = o.seconds ?? 2;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let k = 0;
  let now = t0;
  for (let loop = 0; ; loop++) {
    b.clear();
    const got = pool.allocBurst(b, 32);
    for (let j = 0; j < got; j++) {
      const i = b.idx[j]!;
      const f = frames[k++ % frames.length]!;
      pool.data.set(f, pool.start(i));
      pool.len[i] = f.length;
    }
    if (got > 0) device.uplink.tx(b);
    device.poll();
    guest.poll();
    if ((loop & 63) === 0) {
      now = process.hrtime.bigint();
      if (now >= end) break;
    }
  }
  const secs = Number(now - t0) / 1e9;
  const n = vnf.count;
  guest.close();
  device.close();
  return { frames: n, seconds: secs, mpps: n / secs / 1e6 };
}

export { CapturePort };
