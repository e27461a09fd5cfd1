import { DEFAULT_COST_MODEL, ModelClock, costRates } from "@nfvio/core";
import { PacketPool } from "@nfvio/packet";
import { VIRTIO_NET_OK } from "@nfvio/virtio";
import { describe, expect, it } from "vitest";
import { OffloadDevice } from "../src/device/device.js";
import { FlowKey, flowKeyFromFrame } from "../src/flow-key.js";
import { RssDistributor, VIRTIO_NET_HASH_TYPE_ALL, defaultIndirectionTable, type RssConfig } from "../src/rss.js";
import { CapturePort } from "../src/testing.js";
import { RSS_FEATURES, RecordingVnf, SenderVnf, VM_MAC, attach, flowFrames, makeGuest, runToIdle, setRss } from "./harness.js";

const rates = costRates(DEFAULT_COST_MODEL);

function eastWest(count: number, ring = "split") {
  const clock = new ModelClock();
  const pool = new PacketPool({ count: 8192, dataRoom: 2048 });
  const wire = new CapturePort(pool);
  const device = new OffloadDevice({ clock, cost: rates, pool, vports: 2, wire });
  // VM1 sends to VM2's MAC; every 10th frame to a MAC no vport has (it leaves by the uplink).
  const toVm2 = flowFrames(count, VM_MAC[1], 3);
  const frames = toVm2.map((f, k) => {
    if (k % 10 !== 9) return f;
    const g = f.slice();
    g.set([0x02, 0, 0, 0, 0x0b, 0x99], 0);
    return g;
  });
  const sender = new SenderVnf(frames.map((data) => ({ data })));
  const vm1 = makeGuest({ clock, cost: rates, offered: device.features, vnf: sender, name: "vm1", ring });
  const receiver = new RecordingVnf();
  const vm2 = makeGuest({ clock, cost: rates, queuePairs: 2, offered: device.features, extra: RSS_FEATURES, vnf: receiver, name: "vm2", ring });
  attach(device, 0, vm1, VM_MAC[0]);
  const vp2 = attach(device, 1, vm2, VM_MAC[1]);
  const rss: RssConfig = { hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(2), unclassifiedQueue: 0, maxTxVq: 2 };
  expect(setRss(vp2, rss)).toBe(VIRTIO_NET_OK);
  vm2.start();
  vm1.start();
  runToIdle(clock);
  return { clock, device, frames, sender, receiver, wire, rss, vm1, vm2 };
}

describe("east-west: VM1 TX -> eSwitch -> VM2 RX", () => {
  for (const ring of ["split", "packed"]) {
    it(`DMAs every frame from VM1's memory into VM2's buffers byte-exact, in order per queue, with no host-CPU copy (${ring} rings)`, () => {
      const r = eastWest(1000, ring);
      const toVm2 = r.frames.filter((_, k) => k % 10 !== 9);
      const toWire = r.frames.filter((_, k) => k % 10 === 9);
      expect(r.sender.sent).toBe(r.frames.length);
      expect(r.receiver.count).toBe(toVm2.length);
      // Per queue, frames arrive in the order VM1 sent them, on the queue VM2's RSS picks.
      const dist = new RssDistributor(r.rss);
      const key = new FlowKey();
      const expected: Uint8Array[][] = [[], []];
      for (const f of toVm2) expected[dist.queueOf(flowKeyFromFrame(f, 0, f.length, 0, key))]!.push(f);
      const got: Uint8Array[][] = [[], []];
      for (const rx of r.receiver.received) got[rx.queue]!.push(rx.data);
      expect(got[0]!.length).toBe(expected[0]!.length);
      expect(got[1]!.length).toBe(expected[1]!.length);
      for (const q of [0, 1]) for (let k = 0; k < got[q]!.length; k++) expect(Buffer.compare(got[q]![k]!, expected[q]![k]!)).toBe(0);
      expect(r.wire.frames.map((f) => Buffer.from(f.data).toString("hex"))).toEqual(toWire.map((f) => Buffer.from(f).toString("hex")));
      const s = r.device.snapshot();
      expect(s["hostCopyBytes"]).toBe(0);
      expect(r.vm1.counters.get("copies") + r.vm2.counters.get("copies")).toBe(0);
      const bytes = r.frames.reduce((a, f) => a + f.length, 0);
      const bytesVm2 = toVm2.reduce((a, f) => a + f.length, 0);
      // Read from VM1 (12-byte header + frame), written into VM2 (20-byte header with hash fields + frame).
      expect(s["dmaReadBytes"]).toBe(bytes + 12 * r.frames.length);
      expect(s["dmaWriteBytes"]).toBe(bytesVm2 + 20 * toVm2.length);
      expect(s["eswitch.eastWest"]).toBe(toVm2.length);
      expect(s["eswitch.toUplink"]).toBe(toWire.length);
      expect(s["vport0.txFrames"]).toBe(r.frames.length);
      expect(s["vport1.rxFrames"]).toBe(toVm2.length);
      expect(r.device.conservation()).toEqual({ offered: r.frames.length, delivered: r.frames.length, dropped: 0, inFlight: 0 });
      expect(r.device.buffersHeld).toBe(0);
    });
  }

  for (const ring of ["split", "packed"]) {
    it(`asks VM1 for a kick again once its TX ring is drained, so a later frame is not stranded (${ring} rings)`, () => {
      const r = eastWest(100, ring);
      const tx = r.vm1.driver(1); // queue pair 0: RX is vq 0, TX is vq 1 (virtio 1.2 §5.1.2)
      // One more buffer after the device went idle: the driver must see that the device wants a kick.
      const addrs = new Float64Array([r.vm1.gpaOf(0)]);
      const lens = new Uint32Array([64]);
      expect(tx.add(addrs, lens, 1, 0, 0xffff)).toBe(true);
      expect(tx.publish()).toBe(true);
    });
  }

  it("is deterministic under the model clock", () => {
    const a = eastWest(300);
    const b = eastWest(300);
    expect(b.device.snapshot()).toEqual(a.device.snapshot());
    expect(b.clock.now()).toBe(a.clock.now());
    expect(b.receiver.received.map((x) => x.t)).toEqual(a.receiver.received.map((x) => x.t));
  });
});
