/**
 * Per-VNF single-thread throughput at minimum frame size, burst 32.
 * Usage: pnpm --filter @nfvio/vnf bench [-- --duration 1000 --only router-ipv4,nat]
 */
import { formatVnfBench, runVnfBench } from "../src/bench.js";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const durationMs = Number(arg("duration") ?? 1000);
const only = arg("only")?.split(",");
const results = runVnfBench({ durationMs, burst: 32, ...(only ? { only } : {}) });
console.log(`nfvio VNF cores, one thread, Node ${process.version}, frames refilled per burst (see src/bench.ts)`);
console.log(formatVnfBench(results, 32));
