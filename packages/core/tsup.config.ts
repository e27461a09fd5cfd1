import { defineConfig } from "tsup";

// worker-main is a second entry: placement starts it (as ./worker-main.js
// next to the bundle) in each worker thread. Splitting keeps one copy of the
// shared code in a chunk both entries import.
export default defineConfig({
  entry: ["src/index.ts", "src/worker-main.ts"],
  format: ["esm"],
  target: "node20",
  dts: { entry: ["src/index.ts"] },
  sourcemap: true,
  clean: true,
  splitting: true,
});
