/**
 * Classifier lookup and Toeplitz RSS benchmark.
 *
 *   pnpm --filter @nfvio/offload bench
 *   node --import tsx --conditions=source bench/classifier.ts [--quick] [--json]
 *
 * --quick: smaller tables and fewer lookups; --json: print the results as JSON.
 * The same function is exported as `runClassifierBench` from `@nfvio/offload/bench`.
 */
import { cpus } from "node:os";
import { runClassifierBench } from "../src/bench.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const json = args.has("--json");
if (!json) console.log(`@nfvio/offload classifier bench: node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"}, burst 32${quick ? ", quick" : ""}`);
const results = runClassifierBench({
  ...(quick ? { exactSizes: [1_000, 100_000], wildcardSizes: [1_000], lookups: 500_000 } : {}),
  ...(json ? {} : { log: (line: string) => console.log(line) }),
});
if (json) console.log(JSON.stringify(results, null, 2));
