/**
 * Real-time east-west switching through the device between two vports, as
 * `nfvio vhost-user --mode switch` runs it, without the sockets and the
 * peers' processes: one thread runs guest A's transmit driver, the device
 * (`poll()`, no uplink) and guest B's receive driver in turn, over split
 * rings of 256 entries in two guest memories, 64-byte frames from A to B's
 * MAC. Frames per wall-clock second of this software on this machine.
 *
 *   node --import tsx --conditions=source bench/switch.ts [--quick] [--json]
 */
import { PacketPool, buildFrame } from "@nfvio/packet";
import { GuestMemory, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, ringFactory } from "@nfvio/virtio";
import { OffloadDevice } from "../src/device/device.js";

const args = new Set(process.argv.slice(2));
const N = args.has("--quick") ? 200_000 : 2_000_000;
const SIZE = 256;
const BUF = 2048;
const HDR = 12;
const RX_BASE = 0x100000;
const TX_BASE = 0x200000;

function guest() {
  const mem = GuestMemory.shared(1 << 22, 0x10000);
  const features = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF;
  const f = ringFactory("split");
  const prx = f.place(SIZE, 0x10000);
  const ptx = f.place(SIZE, Math.ceil(prx.end / 4096) * 4096);
  const rx = f.driver(mem, prx, features, true);
  const tx = f.driver(mem, ptx, features, true);
  // Polling drivers: no interrupts wanted.
  rx.setNotify(false);
  tx.setNotify(false);
  return { mem, features, rx, tx, rxDev: f.device(mem, prx, features), txDev: f.device(mem, ptx, features) };
}

const pool = new PacketPool({ count: 16384, dataRoom: 2048 });
const dev = new OffloadDevice({ pool, vports: 2, hasUplink: false, defaultVport: null });
const a = guest();
const b = guest();
dev.attachQueues(0, { mem: a.mem, features: a.features, rx: [a.rxDev], tx: [a.txDev], mac: "02:00:00:00:00:01" });
dev.attachQueues(1, { mem: b.mem, features: b.features, rx: [b.rxDev], tx: [b.txDev], mac: "02:00:00:00:00:02" });
const frame = buildFrame({ dst: "02:00:00:00:00:02", src: "02:00:00:00:00:01", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1, dstPort: 2 }, payload: 18 });
const addr = new Float64Array(1);
const len = new Uint32Array(1);
const tokens = new Uint32Array(SIZE);
const lens = new Uint32Array(SIZE);
for (let t = 0; t < SIZE; t++) a.mem.write(TX_BASE + t * BUF + HDR, frame);
for (let t = 0; t < SIZE; t++) {
  addr[0] = RX_BASE + t * BUF;
  len[0] = BUF;
  b.rx.add(addr, len, 0, 1, t);
}
b.rx.publish();
const free: number[] = [];
for (let t = 0; t < SIZE; t++) free.push(t);

let received = 0;
const t0 = performance.now();
while (received < N) {
  let n = a.tx.reclaim(tokens, lens, SIZE);
  for (let k = 0; k < n; k++) free.push(tokens[k]!);
  for (let s = 0; s < 64 && free.length > 0; s++) {
    const t = free.pop()!;
    addr[0] = TX_BASE + t * BUF;
    len[0] = HDR + frame.length;
    a.tx.add(addr, len, 1, 0, t);
  }
  a.tx.publish();
  dev.poll();
  n = b.rx.reclaim(tokens, lens, SIZE);
  received += n;
  for (let k = 0; k < n; k++) {
    addr[0] = RX_BASE + tokens[k]! * BUF;
    len[0] = BUF;
    b.rx.add(addr, len, 0, 1, tokens[k]!);
  }
  b.rx.publish();
}
const seconds = (performance.now() - t0) / 1000;
const s = dev.snapshot();
const result = { frames: received, seconds, mpps: received / seconds / 1e6, dropped: dev.dropped, eastWest: s["eswitch.eastWest"] ?? 0 };
if (args.has("--json")) console.log(JSON.stringify(result));
else console.log(`switch A -> B, 64 B, one thread (device + both guests' ring drivers): ${result.mpps.toFixed(3)} Mpps (${received} frames in ${seconds.toFixed(2)} s, ${result.dropped} dropped)`);
