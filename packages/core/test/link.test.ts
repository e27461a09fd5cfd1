import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Burst, CoreError, Link, PacketPool, SharedLink } from "../src/index.js";

function fill(pool: PacketPool, b: Burst, n: number, len = 60): void {
  pool.allocBurst(b, n);
  for (let k = 0; k < b.count; k++) pool.len[b.idx[k]!] = len;
}

describe("Link", () => {
  it("refuses sizes that are not a power of two", () => {
    const pool = new PacketPool({ count: 4 });
    expect(() => new Link(pool, 100)).toThrow(CoreError);
    expect(() => new Link(pool, 1)).toThrow(/power of two/);
  });

  it("transmit into a full link frees the buffer and counts a drop, never throws", () => {
    const pool = new PacketPool({ count: 16 });
    const l = new Link(pool, 4);
    const b = new Burst(8);
    fill(pool, b, 8);
    expect(l.transmitBurst(b)).toBe(4);
    expect(b.count).toBe(0);
    expect(pool.inUse).toBe(4);
    const i = pool.alloc();
    l.transmit(i);
    expect(pool.isAllocated(i)).toBe(false);
    expect(l.counters.snapshot()).toEqual({ txPackets: 4, txBytes: 240, txDrops: 5, rxPackets: 0, rxBytes: 0 });
    expect(l.full()).toBe(true);
    expect(l.receive()).toBeGreaterThanOrEqual(0);
    expect(l.nreadable()).toBe(3);
    expect(l.nwritable()).toBe(1);
    expect(l.drain()).toBe(3);
    expect(l.receive()).toBe(-1);
  });

  it("keeps FIFO order across wrap-around of ring and cursors", () => {
    const pool = new PacketPool({ count: 64 });
    const l = new Link(pool, 8);
    const out = new Burst(8);
    let next = 0;
    const expected: number[] = [];
    for (let round = 0; round < 1000; round++) {
      const b = new Burst(5);
      fill(pool, b, 1 + (round % 5));
      const marks: number[] = [];
      for (let k = 0; k < b.count; k++) {
        pool.mark[b.idx[k]!] = next;
        marks.push(next++);
      }
      const accepted = l.transmitBurst(b);
      expected.push(...marks.slice(0, accepted));
      out.clear();
      l.receiveBurst(out, 1 + (round % 4));
      for (let k = 0; k < out.count; k++) expect(pool.mark[out.idx[k]!]).toBe(expected.shift());
      pool.freeBurst(out);
    }
    expect(l.counters.get("txDrops")).toBeGreaterThan(0); // the test overfills on purpose
    expect(l.counters.get("txPackets") - l.counters.get("rxPackets")).toBe(expected.length);
  });

  it("property: packets in = packets out + drops + still queued; bytes add up", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ tx: fc.integer({ min: 0, max: 32 }), rx: fc.integer({ min: 0, max: 32 }), len: fc.integer({ min: 0, max: 1500 }) }), { maxLength: 50 }),
        (ops) => {
          const pool = new PacketPool({ count: 2048, dataRoom: 1536 });
          const l = new Link(pool, 16);
          const b = new Burst(32);
          let sent = 0;
          for (const o of ops) {
            b.clear();
            fill(pool, b, o.tx, o.len);
            sent += b.count;
            l.transmitBurst(b);
            b.clear();
            l.receiveBurst(b, o.rx);
            pool.freeBurst(b);
          }
          const c = l.counters.snapshot();
          expect(c["txPackets"]! + c["txDrops"]!).toBe(sent);
          expect(c["txPackets"]! - c["rxPackets"]!).toBe(l.size());
          expect(pool.inUse).toBe(l.size());
          expect(c["txBytes"]! - c["rxBytes"]!).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("under the model clock, receives only packets visible by the consumer's time", async () => {
    const { Meter, Resource, ModelClock, costRates } = await import("../src/index.js");
    const pool = new PacketPool({ count: 8 });
    const clock = new ModelClock();
    const tx = new Meter(clock, costRates(), new Resource("tx"));
    const rx = new Meter(clock, costRates(), new Resource("rx"));
    const l = new Link(pool, 8);
    l.enableStamps();
    l.txMeter = tx;
    l.rxMeter = rx;
    tx.begin(0);
    tx.busy(100);
    l.transmit(pool.alloc());
    tx.latency(50);
    l.transmit(pool.alloc());
    rx.begin(0);
    expect(l.nreadable()).toBe(0);
    expect(l.headStamp()).toBe(100);
    rx.begin(120);
    expect(l.nreadable()).toBe(1);
    rx.begin(150);
    expect(l.nreadable()).toBe(2);
  });
});

describe("SharedLink", () => {
  it("attaches from its handle and shares cursors and counters", () => {
    const pool = new PacketPool({ count: 8 });
    const a = new SharedLink(pool, 4);
    const b = SharedLink.attach(structuredClone(a.handle), PacketPool.attach(pool.handle));
    const i = pool.alloc();
    pool.len[i] = 42;
    a.transmit(i);
    expect(b.receive()).toBe(i);
    expect(a.counters.snapshot()).toEqual({ txPackets: 1, txBytes: 42, txDrops: 0, rxPackets: 1, rxBytes: 42 });
    expect(() => SharedLink.attach({ kind: "nfvio.link", buffer: new SharedArrayBuffer(512) }, pool)).toThrow(/bad magic/);
  });
});
