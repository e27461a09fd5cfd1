/**
 * Measures the figures that docs/cost-model.md says were "measured here":
 * per-packet base cost of an nfvio software stage, and memcpy cost per call
 * and per byte. Prints JSON in cost-model override form, in cycles at the
 * CPU frequency of /proc/cpuinfo (or --hz=N).
 *
 *   pnpm --filter @nfvio/core bench:costs
 */
import { readFileSync } from "node:fs";
import { Burst, PacketPool } from "@nfvio/packet";
import { Link } from "../src/index.js";

function cpuHz(): number {
  const arg = process.argv.find((a) => a.startsWith("--hz="));
  if (arg) return Number(arg.slice(5));
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return Number(m[1]) * 1e6;
  } catch {
    // fall through
  }
  return 2.1e9;
}

function best(fn: () => number, runs = 15): number {
  let b = Infinity;
  for (let r = 0; r < runs; r++) b = Math.min(b, fn());
  return b;
}

/** ns per packet: receive a burst from a link, swap MACs, transmit to the next link. */
function perPacket(): number {
  const pool = new PacketPool({ count: 2048, dataRoom: 128, headroom: 0 });
  const a = new Link(pool, 1024);
  const b = new Link(pool, 1024);
  const burst = new Burst();
  for (let k = 0; k < 16; k++) {
    burst.clear();
    pool.allocBurst(burst);
    for (let j = 0; j < burst.count; j++) pool.len[burst.idx[j]!] = 64;
    a.transmitBurst(burst);
  }
  const d = pool.data;
  const n = 200_000;
  return best(() => {
    const t0 = process.hrtime.bigint();
    let moved = 0;
    while (moved < n) {
      burst.clear();
      a.receiveBurst(burst);
      for (let k = 0; k < burst.count; k++) {
        const s = pool.start(burst.idx[k]!);
        for (let j = 0; j < 6; j++) {
          const t = d[s + j]!;
          d[s + j] = d[s + 6 + j]!;
          d[s + 6 + j] = t;
        }
      }
      moved += burst.count;
      b.transmitBurst(burst);
      // Recycle: move everything back to a (not timed separately; symmetric cost).
      burst.clear();
      b.receiveBurst(burst);
      a.transmitBurst(burst);
    }
    return Number(process.hrtime.bigint() - t0) / n / 2;
  });
}

/** ns per copy of `len` bytes inside one buffer. */
function copy(len: number): number {
  const buf = new Uint8Array(1 << 20);
  const n = 200_000;
  return best(() => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const src = (i * 16384) & 0x6ffff;
      buf.copyWithin(0x80000 + src, src, src + len);
    }
    return Number(process.hrtime.bigint() - t0) / n;
  });
}

const hz = cpuHz();
const pkt = perPacket();
const sizes = [64, 512, 1500, 4096, 9000];
const times = sizes.map(copy);
// Least-squares line t = a + b * len.
const mx = sizes.reduce((s, x) => s + x, 0) / sizes.length;
const my = times.reduce((s, y) => s + y, 0) / times.length;
let num = 0;
let den = 0;
sizes.forEach((x, i) => {
  num += (x - mx) * (times[i]! - my);
  den += (x - mx) ** 2;
});
const slope = num / den;
const intercept = my - slope * mx;
const cyc = (ns: number): number => (ns * hz) / 1e9;
console.log(
  JSON.stringify(
    {
      cpuHz: hz,
      cyclesPerPacketBase: Math.round(cyc(pkt)),
      cyclesPerCopyCall: Math.round(cyc(intercept)),
      cyclesPerCopyByte: Number(cyc(slope).toFixed(3)),
      raw: { nsPerPacket: pkt, copyNs: Object.fromEntries(sizes.map((s, i) => [s, times[i]])) },
    },
    null,
    2,
  ),
);
