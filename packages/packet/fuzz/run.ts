/**
 * Mutation fuzzer driver for the parsers of @nfvio/packet.
 *
 *     pnpm --filter @nfvio/packet fuzz [parse|capture|addr|all] [seconds=10] [seed=random]
 *
 * Seeds come from the sample frames the unit tests use (src/samples.ts).
 * A failing input is written to fuzz/crashes/ and the process exits 1; turn
 * it into a unit test before fixing it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { addrSeeds, captureSeeds, fuzzAddrTarget, fuzzCaptureTarget, fuzzParseTarget, mutateText, parseSeeds, runFuzz } from "../src/testing.js";

const which = process.argv[2] ?? "all";
const seconds = Number(process.argv[3] ?? 10);
const seed = Number(process.argv[4] ?? (Math.random() * 2 ** 32) >>> 0);
const crashDir = fileURLToPath(new URL("./crashes/", import.meta.url));

function report(name: string, iterations: number, failure: { input: Uint8Array | string; error: Error } | null): boolean {
  if (failure === null) {
    console.log(`${name}: ${iterations} inputs, no failure (seed ${seed})`);
    return true;
  }
  mkdirSync(crashDir, { recursive: true });
  const file = `${crashDir}${name}-${seed}-${iterations}.${typeof failure.input === "string" ? "txt" : "bin"}`;
  writeFileSync(file, failure.input);
  console.error(`${name}: FAILED after ${iterations} inputs (seed ${seed}): ${failure.error.message}\n  input saved to ${file}`);
  return false;
}

let ok = true;
const ms = seconds * 1000;
if (which === "parse" || which === "all") {
  const r = await runFuzz({ seeds: parseSeeds(), target: fuzzParseTarget, timeMs: ms, seed });
  ok = report("parse", r.iterations, r.failure) && ok;
}
if (which === "capture" || which === "all") {
  const r = await runFuzz({ seeds: await captureSeeds(), target: fuzzCaptureTarget, timeMs: ms, seed });
  ok = report("capture", r.iterations, r.failure) && ok;
}
if (which === "addr" || which === "all") {
  const r = await runFuzz({ seeds: addrSeeds(), target: fuzzAddrTarget, mutator: mutateText, timeMs: ms, seed });
  ok = report("addr", r.iterations, r.failure) && ok;
}
process.exit(ok ? 0 : 1);
