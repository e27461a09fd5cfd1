import { PacketPool } from "@nfvio/core";
import { Burst } from "@nfvio/packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extendSeq, Generator, RxAnalyzer, seriesToCsv } from "../src/index.js";

/** n frames of stream 0 (1 kpps: frame k stamped k ms). */
function make(n: number, pool: PacketPool): number[] {
  const gen = new Generator(pool, [{ rate: 1000, size: 64, count: n }]);
  const b = new Burst(32);
  const out: number[] = [];
  while (out.length < n) {
    b.clear();
    gen.fillUntil(b, Infinity);
    for (let k = 0; k < b.count; k++) out.push(b.idx[k]!);
  }
  gen.close();
  return out;
}

/** The definitions of rx.ts, written again the plain way (a Set, no bitmap, no 32-bit wrap). */
function oracle(n: number, seqs: readonly number[]): { received: number; duplicates: number; reordered: number; lost: number; missing: number } {
  const seen = new Set<number>();
  let max = -1;
  let duplicates = 0;
  let reordered = 0;
  for (const s of seqs) {
    if (seen.has(s)) duplicates++;
    else {
      seen.add(s);
      if (s <= max) reordered++;
      else max = s;
    }
  }
  return { received: seen.size, duplicates, reordered, lost: n - seen.size, missing: max + 1 - seen.size };
}

interface Plan {
  n: number;
  drop: boolean[];
  dups: { at: number; extra: number }[];
  moves: { from: number; to: number }[];
}

const plan = fc
  .integer({ min: 1, max: 250 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      drop: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      dups: fc.array(fc.record({ at: fc.nat(n - 1), extra: fc.integer({ min: 1, max: 3 }) }), { maxLength: 20 }),
      moves: fc.array(fc.record({ from: fc.nat(400), to: fc.nat(400) }), { maxLength: 40 }),
    }),
  );

/** Apply a plan to 0..n-1: drop, duplicate (copies right after the original), then move frames around. */
function deliver(p: Plan): number[] {
  let seqs: number[] = [];
  for (let s = 0; s < p.n; s++) if (!p.drop[s]) seqs.push(s);
  for (const d of p.dups) {
    const k = seqs.indexOf(d.at);
    if (k >= 0) seqs.splice(k + 1, 0, ...Array<number>(d.extra).fill(d.at));
  }
  for (const m of p.moves) {
    if (seqs.length === 0) break;
    const [x] = seqs.splice(m.from % seqs.length, 1);
    seqs.splice(m.to % (seqs.length + 1), 0, x!);
  }
  return seqs;
}

describe("receive analysis", () => {
  it("loss, duplicates and reordering are exact for any drop/duplicate/reorder plan (property)", () => {
    const pool = new PacketPool({ count: 2048 });
    fc.assert(
      fc.property(plan, (p) => {
        const bufs = make(p.n, pool);
        const seqs = deliver(p);
        const a = new RxAnalyzer({ streams: [0], intervalNs: 50e6 });
        let t = 0;
        for (const s of seqs) {
          const j = pool.clone(bufs[s]!);
          a.record(pool, j, (t += 1e6) + 5e6);
          pool.free(j);
        }
        for (const i of bufs) pool.free(i);
        const r = a.report(new Map([[0, p.n]]))[0]!;
        const want = oracle(p.n, seqs);
        expect({ received: r.received, duplicates: r.duplicates, reordered: r.reordered, lost: r.lost, missing: r.missing }).toEqual(want);
        expect(r.rx).toBe(seqs.length);
        expect(r.beyondWindow).toBe(0);
        // The series' loss column adds up to the total loss.
        const rows = a.series(new Map([[0, p.n]]));
        expect(rows.reduce((x, row) => x + row.lost, 0)).toBe(want.lost);
        expect(rows.reduce((x, row) => x + row.duplicates, 0)).toBe(want.duplicates);
        expect(pool.stats().inUse).toBe(0);
      }),
      { numRuns: 150, seed: 20260 },
    );
  });

  it("a frame displaced by the window or more is counted in beyondWindow (and as received)", () => {
    const pool = new PacketPool({ count: 256 });
    const bufs = make(100, pool);
    const a = new RxAnalyzer({ streams: [0], window: 32 });
    for (let s = 1; s < 100; s++) a.record(pool, bufs[s]!, 0);
    a.record(pool, bufs[0]!, 0); // 99 behind the highest
    a.record(pool, bufs[90]!, 0); // a duplicate inside the window
    const r = a.report(new Map([[0, 100]]))[0]!;
    expect(r).toMatchObject({ received: 100, lost: 0, reordered: 1, beyondWindow: 1, duplicates: 1, maxReorderDistance: 99 });
  });

  it("latency comes from the signature timestamp; foreign frames are counted apart", () => {
    const pool = new PacketPool({ count: 256 });
    const bufs = make(10, pool);
    const a = new RxAnalyzer({ streams: [0], tag: { stream: 0, seq: 5 } });
    bufs.forEach((i, k) => a.record(pool, i, k * 1e6 + 1000 + k));
    const other = pool.alloc();
    pool.len[other] = 60;
    a.record(pool, other, 0);
    const r = a.report()[0]!;
    expect(r.latency).toMatchObject({ count: 10, minNs: 1000, maxNs: 1009, p50Ns: 1004 });
    expect(r.latency.meanNs).toBeCloseTo(1004.5, 9);
    expect(a.taggedLatencyNs).toBe(1005);
    expect(a.foreign).toBe(1);
  });

  it("32-bit sequence numbers extend across the wrap", () => {
    expect(extendSeq(5, -1)).toBe(5);
    expect(extendSeq(0, 4294967295)).toBe(4294967296);
    expect(extendSeq(4294967295, 4294967296)).toBe(4294967295);
    expect(extendSeq(3, 3 * 4294967296 + 10)).toBe(3 * 4294967296 + 3);
  });

  it("the time series has per-interval rates and CSV", () => {
    const pool = new PacketPool({ count: 256 });
    const bufs = make(20, pool);
    const a = new RxAnalyzer({ streams: [0], intervalNs: 10e6 });
    a.recordTx(0, 10, 640);
    a.recordTx(10e6, 10, 640);
    bufs.forEach((i, k) => {
      if (k !== 3) a.record(pool, i, k * 1e6 + 100);
    });
    const rows = a.series(new Map([[0, 20]]));
    expect(rows.map((r) => [r.tx, r.rx, r.lost])).toEqual([
      [10, 9, 1],
      [10, 10, 0],
    ]);
    expect(rows[0]!.txPps).toBe(1000);
    expect(rows[0]!.txBps).toBe(512_000);
    expect(rows[0]!.latP50Ns).toBe(100);
    const csv = seriesToCsv(rows).split("\n");
    expect(csv[0]).toBe("t,tx,rx,lost,duplicates,reordered,txPps,rxPps,txBps,rxBps,latP50Ns,latP90Ns,latP99Ns,latP999Ns,latMaxNs,txBytes,rxBytes");
    expect(csv[1]!.startsWith("0,10,9,1,0,0,1000,900,")).toBe(true);
  });
});
