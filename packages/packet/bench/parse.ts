/**
 * Parser throughput: 64-byte TCP/IPv4 frames, one thread.
 *
 *     pnpm --filter @nfvio/packet bench            # 3 runs of 2 s
 *     node --import tsx --conditions=source bench/parse.ts 5
 */
import { benchParse } from "../src/bench.js";

const seconds = Number(process.argv[2] ?? 2);
const runs = Number(process.argv[3] ?? 3);
const rates: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = benchParse(seconds);
  if (r.failures !== 0) throw new Error(`${r.failures} frames failed to parse`);
  rates.push(r.mpps);
  console.log(`run ${i + 1}: ${r.mpps.toFixed(1)} Mpps (${r.packets} x ${r.frameLength}-byte TCP/IPv4 frames in ${r.seconds.toFixed(2)} s)`);
}
rates.sort((a, b) => a - b);
console.log(`parse: median ${rates[Math.floor(rates.length / 2)]!.toFixed(1)} Mpps, one thread, node ${process.version}`);
