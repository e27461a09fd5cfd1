/**
 * Notification suppression (VIRTIO_F_EVENT_IDX, virtio 1.2 §2.7.7.2 and
 * §2.7.10) between the guest driver model and the vhost-net model, checked
 * against a reference: before and after every guest publish and every
 * device step the test reads the ring indices and the event fields from
 * guest memory and applies the spec's vring_need_event formula itself.
 * Plus hand-computed scenarios (device idle between bursts, busy device,
 * NAPI).
 */
import { PacketPool, Burst } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import { VhostNetDevice, VirtioNetGuest, connectVirtioNet, testFrame, type GuestVnf } from "../src/index.js";

/** The spec's test (§2.7.7.2): notify when new_idx has passed event since old. */
function needEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DROP: GuestVnf = {
  receive(burst, _q, g) {
    g.pool.freeBurst(burst);
  },
};

function setup(queueSize = 64) {
  const guest = new VirtioNetGuest({ queueSize, vnf: DROP });
  const host = new PacketPool({ count: 4096 });
  const device = new VhostNetDevice(guest.setup, { hostPool: host, uplink: { counters: guest.counters, rx: () => 0, tx: (b: Burst) => (host.freeRange(b.idx, 0, b.count), b.count) } });
  connectVirtioNet(guest, device);
  guest.start();
  device.runUntilIdle(); // the initial RX kick
  const size = queueSize;
  const ring = (vq: number) => {
    const p = guest.setup.queues[vq]!;
    return {
      availIdx: () => guest.mem.readU16(p.driverArea + 2),
      usedEvent: () => guest.mem.readU16(p.driverArea + 4 + 2 * size),
      usedIdx: () => guest.mem.readU16(p.deviceArea + 2),
      availEvent: () => guest.mem.readU16(p.deviceArea + 4 + 8 * size),
    };
  };
  const send = (n: number): number => {
    const b = new Burst(n);
    for (let k = 0; k < n; k++) {
      const i = guest.pool.alloc();
      guest.pool.write(i, testFrame(64, k));
      b.push(i);
    }
    const sent = guest.transmit(b, 0);
    guest.pool.freeRange(b.idx, sent, b.count);
    return sent;
  };
  const offer = (n: number): void => {
    const b = new Burst(n);
    for (let k = 0; k < n; k++) {
      const i = host.alloc();
      host.write(i, testFrame(64, k));
      b.push(i);
    }
    device.host.tx(b);
  };
  return { guest, device, host, ring, send, offer };
}

describe("EVENT_IDX: kicks", () => {
  it("a device that drains between bursts is kicked for every burst; a busy one only once", () => {
    const s = setup();
    const k0 = s.device.counters.get("tx0.kicks");
    for (let r = 0; r < 10; r++) {
      s.send(20);
      s.device.runUntilIdle();
    }
    expect(s.device.counters.get("tx0.kicks") - k0).toBe(10);
    const w0 = s.device.counters.get("wakeups");
    for (let r = 0; r < 3; r++) s.send(20); // the device does not run in between: its avail_event stays behind
    expect(s.device.counters.get("tx0.kicks") - k0).toBe(11);
    s.device.runUntilIdle();
    expect(s.device.counters.get("wakeups") - w0).toBe(1);
    expect(s.device.counters.get("txFrames")).toBe(260);
  });

  it("matches vring_need_event over random interleavings of guest publishes and device steps", () => {
    for (const seed of [1, 2, 3]) {
      const s = setup(32);
      const r = rng(seed);
      const tx = s.ring(1);
      const k0 = s.device.counters.get("tx0.kicks");
      let expected = 0;
      let publishes = 0;
      let sent = 0;
      for (let step = 0; step < 600; step++) {
        const x = r();
        if (x < 0.5) {
          const event = tx.availEvent();
          const old = tx.availIdx();
          sent += s.send(1 + Math.floor(r() * 24));
          const now = tx.availIdx();
          if (now !== old) {
            publishes++;
            if (needEvent(event, now, old)) expected++;
          }
        } else if (x < 0.85) {
          for (let k = Math.floor(r() * 3); k >= 0; k--) s.device.runOnce();
        } else s.device.runUntilIdle();
      }
      s.device.runUntilIdle();
      const kicks = s.device.counters.get("tx0.kicks") - k0;
      expect(kicks, `seed ${seed}`).toBe(expected);
      expect(kicks).toBeGreaterThan(0);
      expect(kicks).toBeLessThan(publishes); // some were suppressed
      expect(s.device.counters.get("txFrames")).toBe(sent);
    }
  });
});

describe("EVENT_IDX: interrupts", () => {
  it("a NAPI guest that keeps up gets one interrupt per device publish; one that does not, only the first", () => {
    const s = setup(256);
    for (let r = 0; r < 10; r++) {
      s.offer(20);
      s.device.runUntilIdle();
      s.guest.poll(); // NAPI: takes the 20, re-enables interrupts at the next used index
    }
    expect(s.device.counters.get("rx0.interrupts")).toBe(10);
    expect(s.device.counters.get("rx0.suppressed")).toBe(0);
    // 200 frames while the guest is busy elsewhere: publishes at 64, 128, 192 (VHOST_NET_BATCH) and 200.
    s.offer(200);
    s.device.runUntilIdle();
    expect(s.device.counters.get("rx0.interrupts")).toBe(11);
    expect(s.device.counters.get("rx0.suppressed")).toBe(3);
    expect(s.guest.counters.get("interrupts")).toBe(11);
    while (s.guest.poll()) {
      // NAPI polls until the ring is empty
    }
    expect(s.guest.counters.get("rxFrames")).toBe(400);
  });

  it("matches vring_need_event over random interleavings of host traffic, device steps and guest polls", () => {
    for (const seed of [11, 12, 13]) {
      const s = setup(64);
      const r = rng(seed);
      const rx = s.ring(0);
      let expected = 0;
      let publishes = 0;
      let offered = 0;
      const stepDevice = (): boolean => {
        const ue = rx.usedEvent();
        const old = rx.usedIdx();
        const more = s.device.runOnce();
        const now = rx.usedIdx();
        if (now !== old) {
          publishes++;
          if (needEvent(ue, now, old)) expected++;
        }
        return more;
      };
      for (let step = 0; step < 800; step++) {
        const x = r();
        if (x < 0.35) {
          const n = 1 + Math.floor(r() * 50);
          s.offer(n);
          offered += n;
        } else if (x < 0.75) {
          for (let k = Math.floor(r() * 3); k >= 0; k--) stepDevice();
        } else s.guest.poll();
      }
      for (let k = 0; k < 10_000; k++) {
        const more = stepDevice();
        if (!s.guest.poll() && !more && s.device.idle) break;
      }
      const d = s.device.counters.snapshot();
      expect(d["rx0.interrupts"], `seed ${seed}`).toBe(expected);
      expect(d["rx0.suppressed"]).toBe(publishes - expected);
      expect(expected).toBeGreaterThan(0);
      expect(publishes - expected).toBeGreaterThan(0);
      expect(d["rxOffered"]).toBe(offered);
      expect(d["rxFrames"]! + d["rxDropQueueFull"]! + d["rxDropNoBuffer"]!).toBe(offered);
      expect(s.guest.counters.get("rxFrames")).toBe(d["rxFrames"]);
    }
  });
});
