/**
 * Parser throughput: 64-byte TCP/IPv4 frames, one thread.
 *
 *     pnpm --filter @nfvio/packet bench            # 3 runs of 2 s
 *     node --import tsx --conditions=source bench/parse.ts 5
 */
import { loadavg } from "node:os";
import { benchParse } from "../src/bench.js";

const seconds = Number(process.argv[2] ?? 2);
const runs = Number(process.argv[3] ?? 3);
const wall: number[] = [];
const cpu: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = benchParse(seconds);
  if (r.failures !== 0) throw new Error(`${r.failures} frames failed to parse`);
  wall.push(r.mpps);
  cpu.push(r.cpuMpps);
  console.log(
    `run ${i + 1}: ${r.mpps.toFixed(1)} Mpps wall, ${r.cpuMpps.toFixed(1)} Mpps per CPU-second ` +
      `(${r.packets} x ${r.frameLength}-byte TCP/IPv4 frames, ${r.seconds.toFixed(2)} s wall, ${r.cpuSeconds.toFixed(2)} s CPU)`,
  );
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = loadavg()[0]!;
console.log(`parse: median ${median(wall).toFixed(1)} Mpps wall, ${median(cpu).toFixed(1)} Mpps per CPU-second; one thread, node ${process.version}, load average ${load.toFixed(1)}`);
if (median(cpu) > 1.3 * median(wall)) console.log("note: the machine is busy (wall rate well below CPU rate); the CPU-time rate is the parser's own speed");
