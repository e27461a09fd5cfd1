import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Lpm4, Lpm6 } from "../src/lpm.js";

/** Naive reference: scan every route, keep the longest that covers the address. */
function naive4(routes: Map<string, { addr: number; len: number; nh: number }>, a: number): number {
  let best = -1;
  let bestLen = -1;
  for (const r of routes.values()) {
    const mask = r.len === 0 ? 0 : (0xffffffff << (32 - r.len)) >>> 0;
    if (((a & mask) >>> 0) === ((r.addr & mask) >>> 0) && r.len > bestLen) {
      best = r.nh;
      bestLen = r.len;
    }
  }
  return best;
}

function covers6(p: Uint8Array, len: number, a: Uint8Array): boolean {
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((p[bit >> 3]! & m) !== (a[bit >> 3]! & m)) return false;
  }
  return true;
}

function naive6(routes: Map<string, { addr: Uint8Array; len: number; nh: number }>, a: Uint8Array): number {
  let best = -1;
  let bestLen = -1;
  for (const r of routes.values()) if (r.len > bestLen && covers6(r.addr, r.len, a)) {
    best = r.nh;
    bestLen = r.len;
  }
  return best;
}

const mask4 = (a: number, len: number) => (len === 0 ? 0 : (a & ((0xffffffff << (32 - len)) >>> 0)) >>> 0);

function mask6(a: Uint8Array, len: number): Uint8Array {
  const r = a.slice();
  for (let bit = len; bit < 128; bit++) r[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return r;
}

// Prefixes cluster in a few /8s so that they overlap and nest.
const arbRoute4 = fc.record({
  addr: fc.tuple(fc.constantFrom(10, 172, 192, 0, 255), fc.integer({ min: 0, max: 0xffffff })).map(([hi, lo]) => ((hi << 24) | lo) >>> 0),
  len: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(8, 16, 24, 25, 28, 32)),
  nh: fc.integer({ min: 0, max: 1000 }),
});

const arbAddr6 = fc
  .tuple(fc.constantFrom(0x20, 0xfd, 0x00), fc.uint8Array({ minLength: 15, maxLength: 15 }))
  .map(([hi, rest]) => {
    const a = new Uint8Array(16);
    a[0] = hi;
    a[1] = rest[0]! & 0x0f; // a narrow second byte makes nesting likely
    a.set(rest.subarray(1), 2);
    return a;
  });
const arbRoute6 = fc.record({
  addr: arbAddr6,
  len: fc.oneof(fc.integer({ min: 0, max: 128 }), fc.constantFrom(16, 24, 32, 48, 56, 64, 96, 127, 128)),
  nh: fc.integer({ min: 0, max: 1000 }),
});

function probes4(routes: { addr: number; len: number }[], extra: number[]): number[] {
  const out = [...extra];
  for (const r of routes) {
    const base = mask4(r.addr, r.len);
    const size = r.len === 0 ? 2 ** 32 : 2 ** (32 - r.len);
    out.push(base, (base + size - 1) >>> 0, (base + Math.floor(size / 2)) >>> 0, (base + size) >>> 0, (base - 1) >>> 0);
  }
  return out;
}

describe("Lpm4 (DIR-24-8) against a naive scan", () => {
  for (const rootBits of [24, 16] as const) {
    const lpm = new Lpm4({ rootBits, groups: 512 });
    it(`agrees on random tables, addresses and deletions (rootBits ${rootBits})`, () => {
      fc.assert(
        fc.property(
          fc.array(arbRoute4, { maxLength: 40 }),
          fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }),
          fc.array(fc.boolean(), { maxLength: 40 }),
          (routes, addrs, dels) => {
            // Each run deletes every route it added; clear (a 64 MiB fill) only after a failed run.
            if (lpm.size !== 0 || lpm.freeGroups !== 512) lpm.clear();
            const ref = new Map<string, { addr: number; len: number; nh: number }>();
            for (const r of routes) {
              lpm.add(r.addr, r.len, r.nh);
              ref.set(`${mask4(r.addr, r.len)}/${r.len}`, { addr: mask4(r.addr, r.len), len: r.len, nh: r.nh });
            }
            expect(lpm.size).toBe(ref.size);
            const probe = probes4(routes, addrs);
            for (const a of probe) expect(lpm.lookup(a)).toBe(naive4(ref, a));
            // Delete some prefixes (by position), re-check.
            const entries = [...ref.values()];
            entries.forEach((r, i) => {
              if (dels[i]) {
                expect(lpm.delete(r.addr, r.len)).toBe(true);
                ref.delete(`${r.addr}/${r.len}`);
              }
            });
            for (const a of probe) expect(lpm.lookup(a)).toBe(naive4(ref, a));
            // Deleting everything leaves an empty table with every group free again.
            for (const r of ref.values()) expect(lpm.delete(r.addr, r.len)).toBe(true);
            for (const a of probe) expect(lpm.lookup(a)).toBe(-1);
            expect(lpm.freeGroups).toBe(512);
            expect(lpm.size).toBe(0);
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it("handles the default route, host routes and replacement", () => {
    const lpm = new Lpm4({ rootBits: 16, groups: 16 });
    lpm.add(0, 0, 1);
    lpm.add(0x0a000000, 8, 2);
    lpm.add(0x0a010203, 32, 3);
    expect(lpm.lookup(0x0b000000)).toBe(1);
    expect(lpm.lookup(0x0a000001)).toBe(2);
    expect(lpm.lookup(0x0a010203)).toBe(3);
    expect(lpm.lookup(0x0a010204)).toBe(2);
    lpm.add(0x0a000000, 8, 7);
    expect(lpm.lookup(0x0a010204)).toBe(7);
    expect(lpm.lookup(0x0a010203)).toBe(3);
    expect(lpm.delete(0x0a010203, 32)).toBe(true);
    expect(lpm.lookup(0x0a010203)).toBe(7);
    expect(lpm.delete(0x0a010203, 32)).toBe(false);
  });

  it("refuses a long prefix when no group is free, leaving the table intact", () => {
    const lpm = new Lpm4({ rootBits: 24, groups: 1 });
    lpm.add(0x0a000000, 25, 1);
    expect(() => lpm.add(0x0b000000, 25, 2)).toThrow(/no free groups/);
    expect(lpm.lookup(0x0a000001)).toBe(1);
    expect(lpm.lookup(0x0b000001)).toBe(-1);
  });
});

describe("Lpm6 (16-8-8... multibit trie) against a naive scan", () => {
  const lpm = new Lpm6({ groups: 4096 });
  it("agrees on random tables, addresses and deletions", () => {
    fc.assert(
      fc.property(fc.array(arbRoute6, { maxLength: 30 }), fc.array(arbAddr6, { maxLength: 20 }), fc.array(fc.boolean(), { maxLength: 30 }), (routes, addrs, dels) => {
        lpm.clear();
        const ref = new Map<string, { addr: Uint8Array; len: number; nh: number }>();
        const probe: Uint8Array[] = [...addrs];
        for (const r of routes) {
          const m = mask6(r.addr, r.len);
          lpm.add(m, r.len, r.nh);
          ref.set(`${Buffer.from(m).toString("hex")}/${r.len}`, { addr: m, len: r.len, nh: r.nh });
          probe.push(m, r.addr);
          const last = m.slice();
          for (let bit = r.len; bit < 128; bit++) last[bit >> 3]! |= 0x80 >> (bit & 7);
          probe.push(last);
        }
        for (const a of probe) expect(lpm.lookup(a)).toBe(naive6(ref, a));
        const entries = [...ref.entries()];
        entries.forEach(([k, r], i) => {
          if (dels[i]) {
            expect(lpm.delete(r.addr, r.len)).toBe(true);
            ref.delete(k);
          }
        });
        for (const a of probe) expect(lpm.lookup(a)).toBe(naive6(ref, a));
        for (const r of ref.values()) lpm.delete(r.addr, r.len);
        for (const a of probe) expect(lpm.lookup(a)).toBe(-1);
        expect(lpm.freeGroups).toBe(4096);
      }),
      { numRuns: 60 },
    );
  });

  it("looks up at an offset inside a frame", () => {
    const l = new Lpm6({ groups: 64 });
    l.add([0x20010db8, 0, 0, 0], 32, 5);
    const frame = new Uint8Array(64);
    frame.set([0x20, 0x01, 0x0d, 0xb8], 38);
    expect(l.lookup(frame, 38)).toBe(5);
  });
});
