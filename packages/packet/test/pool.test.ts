import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Burst, BURST_SIZE } from "../src/burst.js";
import { PacketPool } from "../src/pool.js";

describe("Burst", () => {
  it("defaults to 32 slots and refuses bad capacities", () => {
    const b = new Burst();
    expect(b.capacity).toBe(BURST_SIZE);
    expect(b.idx.length).toBe(32);
    expect(() => new Burst(0)).toThrow(RangeError);
    expect(() => new Burst(1.5)).toThrow(RangeError);
  });

  it("push, shift and clear keep order", () => {
    const b = new Burst(4);
    for (const i of [7, 8, 9, 10]) expect(b.push(i)).toBe(true);
    expect(b.push(11)).toBe(false);
    expect(b.full).toBe(true);
    b.shift(1);
    expect(Array.from(b.idx.subarray(0, b.count))).toEqual([8, 9, 10]);
    b.shift(5);
    expect(b.empty).toBe(true);
  });
});

describe("PacketPool", () => {
  it("lays out buffers with headroom and hands out 0, 1, 2, ... first", () => {
    const pool = new PacketPool({ count: 8 });
    expect(pool.headroom).toBe(128);
    expect(pool.dataRoom).toBe(2048);
    expect(pool.stride).toBe(2176);
    const b = new Burst(4);
    expect(pool.allocBurst(b)).toBe(4);
    expect(Array.from(b.idx)).toEqual([0, 1, 2, 3]);
    expect(pool.dataOff[2]).toBe(128);
    expect(pool.len[2]).toBe(0);
    expect(pool.start(1) - pool.start(0)).toBe(pool.stride);
    expect(pool.available).toBe(4);
    expect(pool.inUse).toBe(4);
  });

  it("refuses bad options with a message naming the field", () => {
    expect(() => new PacketPool({ count: 0 })).toThrow(/count 0/);
    expect(() => new PacketPool({ dataRoom: 10 })).toThrow(/dataRoom 10/);
    expect(() => new PacketPool({ headroom: -1 })).toThrow(/headroom -1/);
  });

  it("counts exhaustion and delivers what it has", () => {
    const pool = new PacketPool({ count: 5 });
    const b = new Burst(8);
    expect(pool.allocBurst(b)).toBe(5);
    expect(pool.allocFailures).toBe(3);
    expect(pool.alloc()).toBe(-1);
    expect(pool.allocFailures).toBe(4);
    expect(pool.freeBurst(b)).toBe(5);
    expect(b.count).toBe(0);
    expect(pool.available).toBe(5);
  });

  it("detects double frees and bad indices without corrupting the free list", () => {
    const pool = new PacketPool({ count: 4 });
    const i = pool.alloc();
    expect(pool.free(i)).toBe(true);
    expect(pool.free(i)).toBe(false);
    expect(pool.free(99)).toBe(false);
    expect(pool.free(-1)).toBe(false);
    const b = new Burst(4);
    b.push(i);
    b.push(i);
    expect(pool.freeBurst(b)).toBe(0);
    expect(pool.doubleFrees).toBe(3);
    expect(pool.badFrees).toBe(2);
    // The stack still holds each buffer once.
    expect(pool.allocBurst(b)).toBe(4);
    expect(new Set(b.idx).size).toBe(4);
    expect(pool.alloc()).toBe(-1);
  });

  it("prepends into headroom, appends into tailroom, and refuses past either", () => {
    const pool = new PacketPool({ count: 2, headroom: 16, dataRoom: 64 });
    const i = pool.alloc();
    expect(pool.write(i, Uint8Array.of(1, 2, 3))).toBe(true);
    const at = pool.prepend(i, 2);
    expect(at).toBe(pool.base(i) + 14);
    pool.data[at] = 9;
    pool.data[at + 1] = 8;
    expect(Array.from(pool.bytes(i))).toEqual([9, 8, 1, 2, 3]);
    expect(pool.prepend(i, 15)).toBe(-1);
    expect(pool.adj(i, 2)).toBe(true);
    expect(Array.from(pool.bytes(i))).toEqual([1, 2, 3]);
    expect(pool.append(i, pool.tailroomOf(i) + 1)).toBe(-1);
    const tail = pool.append(i, 1);
    pool.data[tail] = 4;
    expect(Array.from(pool.bytes(i))).toEqual([1, 2, 3, 4]);
    expect(pool.trim(i, 3)).toBe(true);
    expect(Array.from(pool.bytes(i))).toEqual([1]);
    expect(pool.trim(i, 2)).toBe(false);
    expect(pool.write(i, new Uint8Array(pool.stride))).toBe(false);
  });

  it("clones bytes and metadata; a fresh alloc resets metadata", () => {
    const pool = new PacketPool({ count: 3 });
    const i = pool.alloc();
    pool.write(i, Uint8Array.of(5, 6, 7));
    pool.mark[i] = 42;
    pool.port[i] = 3;
    const j = pool.clone(i);
    expect(j).toBeGreaterThanOrEqual(0);
    expect(Array.from(pool.bytes(j))).toEqual([5, 6, 7]);
    expect(pool.mark[j]).toBe(42);
    pool.free(i);
    const k = pool.alloc();
    expect(k).toBe(i); // LIFO: the warm buffer comes back first
    expect(pool.mark[k]).toBe(0);
    expect(pool.len[k]).toBe(0);
    expect(pool.port[k]).toBe(0);
  });

  it("attaches from its handle and shares buffers, metadata and counters", () => {
    const a = new PacketPool({ count: 4 });
    const b = PacketPool.attach(structuredClone(a.handle));
    const i = a.alloc();
    a.write(i, Uint8Array.of(1, 2));
    expect(Array.from(b.bytes(i))).toEqual([1, 2]);
    expect(b.free(i)).toBe(true);
    expect(a.free(i)).toBe(false);
    expect(a.doubleFrees).toBe(1);
    expect(a.stats()).toEqual(b.stats());
    expect(() => PacketPool.attach({ kind: "nfvio.packet-pool", buffer: new SharedArrayBuffer(4096) })).toThrow(/bad magic/);
  });

  type Op = { kind: "alloc"; n: number } | { kind: "free"; pick: number; n: number } | { kind: "double"; pick: number } | { kind: "bad"; index: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("alloc" as const), n: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant("free" as const), pick: fc.nat(), n: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant("double" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("bad" as const), index: fc.integer({ min: 64, max: 2 ** 32 - 1 }) }),
  );

  it("property: any op sequence keeps buffers unique, conserved and the counters exact", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(op, { maxLength: 60 }), (count, ops) => {
        const pool = new PacketPool({ count, dataRoom: 64, headroom: 0 });
        const held: number[] = [];
        const freed = new Set<number>();
        let failures = 0;
        let doubles = 0;
        let bads = 0;
        const burst = new Burst(40);
        for (const o of ops) {
          if (o.kind === "alloc") {
            burst.clear();
            const got = pool.allocBurst(burst, o.n);
            const avail = count - held.length;
            expect(got).toBe(Math.min(o.n, avail));
            failures += o.n - got;
            for (let k = 0; k < got; k++) {
              const i = burst.idx[k]!;
              expect(held.includes(i)).toBe(false);
              held.push(i);
              freed.delete(i);
            }
          } else if (o.kind === "free") {
            burst.clear();
            const n = Math.min(o.n, held.length);
            for (let k = 0; k < n; k++) {
              const i = held.splice(o.pick % held.length, 1)[0]!;
              burst.push(i);
              freed.add(i);
            }
            expect(pool.freeBurst(burst)).toBe(n);
          } else if (o.kind === "double") {
            if (freed.size === 0) continue;
            const i = [...freed][o.pick % freed.size]!;
            expect(pool.free(i)).toBe(false);
            doubles++;
          } else {
            if (o.index < count) continue;
            expect(pool.free(o.index)).toBe(false);
            bads++;
          }
          expect(pool.inUse).toBe(held.length);
        }
        const st = pool.stats();
        expect(st.allocFailures).toBe(failures);
        expect(st.doubleFrees).toBe(doubles);
        expect(st.badFrees).toBe(bads);
        expect(st.allocs - st.frees).toBe(held.length);
        // Drain: every buffer comes out exactly once.
        const all = new Burst(64);
        pool.allocBurst(all, count);
        const seen = new Set<number>([...held, ...all.idx.subarray(0, all.count)]);
        expect(seen.size).toBe(count);
        expect(all.count + held.length).toBe(count);
      }),
      { numRuns: 300 },
    );
  });

  it("property: prepend/adj and append/trim are inverse and stay inside the buffer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), (payload, front, back) => {
        const pool = new PacketPool({ count: 1, headroom: 128, dataRoom: 256 });
        const i = pool.alloc();
        pool.write(i, payload);
        const p = pool.prepend(i, front);
        if (front > 128) expect(p).toBe(-1);
        else {
          expect(p).toBe(pool.base(i) + 128 - front);
          expect(pool.adj(i, front)).toBe(true);
        }
        const a = pool.append(i, back);
        if (128 + payload.length + back > pool.stride) expect(a).toBe(-1);
        else expect(pool.trim(i, back)).toBe(true);
        expect(Array.from(pool.bytes(i))).toEqual(Array.from(payload));
        expect(pool.start(i) + pool.len[i]!).toBeLessThanOrEqual(pool.base(i) + pool.stride);
      }),
      { numRuns: 300 },
    );
  });
});
