import { ModelClock } from "@nfvio/core";
import { DPAA_LIKE_PROFILE, OffloadDevice } from "@nfvio/offload";
import { WireSource } from "@nfvio/offload/testing";
import { PacketPool, buildFrame } from "@nfvio/packet";
import { GuestMemory } from "@nfvio/virtio";
import { MOCK_FEATURES, MockDriver } from "@nfvio/virtio/testing";

const clock = new ModelClock();
const pool = new PacketPool({ count: 4096 });
const device = new OffloadDevice({ clock, pool, profile: DPAA_LIKE_PROFILE });

// A guest with one receive and one transmit ring in its memory; the device serves them directly.
const mem = GuestMemory.shared(1 << 22, 0x10000);
const rx = new MockDriver({ memory: mem, gpa: 0x10000 });
const tx = new MockDriver({ memory: mem, gpa: 0x200000 });
device.attachQueues(0, { mem, features: MOCK_FEATURES, rx: [rx.createDevice()], tx: [tx.createDevice()], mac: "02:00:00:00:00:01" });
rx.post(256);
rx.publish();

// A rule: drop telnet, and count it.
const telnet = device.classifier.create({ match: { ipProto: 6, dstPort: 23 }, actions: [{ type: "drop" }, { type: "count" }] });

// 200 frames from the wire at 25 Gbit/s, every other one to port 23.
const frames = [80, 23].map((dstPort) => buildFrame({ dst: "02:00:00:00:00:01", ipv4: { src: "198.51.100.7", dst: "10.0.0.1" }, tcp: { srcPort: 4000, dstPort } }));
new WireSource({ clock, pool, port: device.uplink, frames, count: 200, gbps: 25 }).start();
while (clock.step()) {
  // run the model until nothing is left to do
}

const c = device.snapshot();
console.log(`${rx.reclaim().length} frames in the guest's receive ring, ${c["drop.classifier"]} dropped by the rule`);
console.log(`bytes written by DMA: ${c["dmaWriteBytes"]}, copied by the host CPU: ${c["hostCopyBytes"]}`);
console.log(`rule counter:`, telnet.ok ? device.classifier.query(telnet.handle) : telnet.reason);
console.log(`done at ${clock.now().toFixed(1)} ns of modelled time`);
