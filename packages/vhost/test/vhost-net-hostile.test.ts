/**
 * A hostile guest against the vhost-net model: a bad descriptor on one
 * queue breaks that queue (DEVICE_NEEDS_RESET, virtio 1.2 §2.1.1), is
 * counted, never throws, and the device keeps serving its other queues.
 */
import { CounterSet } from "@nfvio/core";
import { Burst, PacketPool } from "@nfvio/packet";
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from "@nfvio/virtio";
import { HostileDriver } from "@nfvio/virtio/testing";
import { describe, expect, it } from "vitest";
import { VhostNetDevice, VirtioNetGuest, connectVirtioNet, testFrame, type GuestVnf } from "../src/index.js";

describe("vhost-net: hostile guest", () => {
  it("breaks only the queue with the bad ring, counts it, and serves the others", () => {
    const received: Array<{ q: number; bytes: Uint8Array }> = [];
    const vnf: GuestVnf = {
      receive(burst, q, g) {
        for (let k = 0; k < burst.count; k++) received.push({ q, bytes: g.pool.bytes(burst.idx[k]!).slice() });
        g.pool.freeBurst(burst);
      },
    };
    const guest = new VirtioNetGuest({ queuePairs: 2, queueSize: 64, vnf });
    const host = new PacketPool({ count: 1024 });
    const out: Uint8Array[] = [];
    const device = new VhostNetDevice(guest.setup, {
      hostPool: host,
      uplink: {
        counters: new CounterSet([]),
        rx: () => 0,
        tx(b: Burst) {
          for (let k = 0; k < b.count; k++) out.push(host.bytes(b.idx[k]!).slice());
          host.freeRange(b.idx, 0, b.count);
          return b.count;
        },
      },
    });
    connectVirtioNet(guest, device);
    guest.start();
    device.runUntilIdle();

    // transmitq 2 (virtqueue 3): a hostile driver offers a descriptor pointing below guest memory.
    const p3 = guest.setup.queues[3]!;
    const hostile = new HostileDriver(guest.mem, { size: p3.size, desc: p3.descArea, avail: p3.driverArea, used: p3.deviceArea });
    hostile.writeDesc(0, { addr: 0x40, len: 64 });
    hostile.offer(0);
    expect(() => {
      device.kick(3, null);
      device.runUntilIdle();
    }).not.toThrow();
    expect(device.queue(3)).toMatchObject({ broken: true, brokenBy: "addr_out_of_range" });
    expect(device.counters.get("ringFaults")).toBe(1);

    // receiveq 2 (virtqueue 2): the guest rewrites a posted descriptor into a chain that loops on itself.
    const p2 = guest.setup.queues[2]!;
    guest.mem.writeU16(p2.descArea + 12, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
    guest.mem.writeU16(p2.descArea + 14, 0);
    const offer = (pair: number, n: number, seed: number): Uint8Array[] => {
      const b = new Burst(n);
      const frames: Uint8Array[] = [];
      for (let k = 0; k < n; k++) {
        const f = testFrame(64 + k, seed + k);
        frames.push(f);
        const i = host.alloc();
        host.write(i, f);
        b.push(i);
      }
      device.hostQueue(pair).tx(b);
      return frames;
    };
    offer(1, 5, 0);
    device.runUntilIdle();
    expect(device.queue(2)).toMatchObject({ broken: true, brokenBy: "chain_loop", queued: 0 });
    expect(device.counters.get("ringFaults")).toBe(2);
    expect(device.counters.get("rxDropRingFault")).toBe(5);
    offer(1, 3, 10); // refused at once: the queue is broken
    expect(device.counters.get("rxDropRingFault")).toBe(8);

    // Both of pair 1's queues are broken; pair 0 still works both ways.
    const rx0 = offer(0, 10, 100);
    const tx0: Uint8Array[] = [];
    const b = new Burst(10);
    for (let k = 0; k < 10; k++) {
      const f = testFrame(100 + k, 200 + k);
      tx0.push(f);
      const i = guest.pool.alloc();
      guest.pool.write(i, f);
      b.push(i);
    }
    expect(guest.transmit(b, 0)).toBe(10);
    for (let k = 0; k < 100 && (device.runOnce() || guest.poll() || !device.idle); k++) {
      // settle
    }
    expect(received.filter((r) => r.q === 0).map((r) => r.bytes)).toEqual(rx0);
    expect(out).toEqual(tx0);
    expect(device.queue(0).broken).toBe(false);
    expect(device.queue(1).broken).toBe(false);
    const d = device.counters.snapshot();
    expect(d["rxOffered"]).toBe(d["rxFrames"]! + d["rxDropRingFault"]!);
    expect(host.inUse).toBe(0);
  });
});
