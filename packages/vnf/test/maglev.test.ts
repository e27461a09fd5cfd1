import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MaglevTable, isPrime } from "../src/maglev.js";
import { hashWords } from "../src/internal/table.js";

const names = (n: number, tag = "b") => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

/** Random 5-tuple flow hashes, as the load balancer computes them. */
function flowHashes(count: number, seed: number): Uint32Array {
  const key = new Uint32Array(10);
  const out = new Uint32Array(count);
  let x = seed >>> 0 || 1;
  const rnd = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < count; i++) {
    for (let w = 0; w < 10; w++) key[w] = rnd();
    out[i] = hashWords(key, 0, 10, 0x5eed1b);
  }
  return out;
}

describe("Maglev table (NSDI 2016 §3.4)", () => {
  it("refuses a table size that is not prime", () => {
    expect(isPrime(65537)).toBe(true);
    expect(isPrime(65536)).toBe(false);
    expect(() => new MaglevTable(1000)).toThrow(/not prime/);
  });

  it("gives every backend floor(M/N) or ceil(M/N) slots", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.constantFrom(251, 5003, 65537), fc.string({ maxLength: 6 }), (n, m, tag) => {
        const t = new MaglevTable(m);
        t.populate(names(n, tag));
        const counts = new Array<number>(n).fill(0);
        for (const b of t.table) counts[b]!++;
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(m);
      }),
      { numRuns: 40 },
    );
  });

  it("moves about 1/N of the flows when one of N backends is removed, and spreads flows evenly", () => {
    const flows = flowHashes(20000, 7);
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 30 }), fc.nat(), fc.string({ maxLength: 4 }), (n, pick, tag) => {
        const all = names(n, tag);
        const before = new MaglevTable(65537);
        before.populate(all);
        const gone = pick % n;
        const after = new MaglevTable(65537);
        after.populate(
          all.filter((_, i) => i !== gone),
          all.map((_, i) => i).filter((i) => i !== gone),
        );
        let moved = 0;
        const perBackend = new Array<number>(n).fill(0);
        for (const h of flows) {
          const a = before.lookup(h);
          const b = after.lookup(h);
          perBackend[a]!++;
          if (a === gone) expect(b).not.toBe(gone);
          if (a !== b) moved++;
        }
        // Minimal disruption is exactly 1/N; Maglev trades a little more for balance (paper §5.3).
        const frac = moved / flows.length;
        expect(frac).toBeGreaterThanOrEqual((1 / n) * 0.85);
        expect(frac).toBeLessThanOrEqual((1 / n) * 1.25 + 0.01);
        // Even spread: each backend within 20% of the mean (20000/N flows, N ≤ 30 → ≥ 666 each).
        const mean = flows.length / n;
        for (const c of perBackend) expect(Math.abs(c - mean) / mean).toBeLessThan(0.2);
      }),
      { numRuns: 20 },
    );
  });

  it("moves about 1/(N+1) of the flows when a backend is added", () => {
    const flows = flowHashes(20000, 11);
    const t1 = new MaglevTable(65537);
    t1.populate(names(10));
    const t2 = new MaglevTable(65537);
    t2.populate(names(11));
    let moved = 0;
    for (const h of flows) if (t1.lookup(h) !== t2.lookup(h)) moved++;
    expect(moved / flows.length).toBeGreaterThan(1 / 11 - 0.02);
    expect(moved / flows.length).toBeLessThan((1 / 11) * 1.25);
  });
});
