import { defineConfig } from "tsup";

export default defineConfig({
  // bench-worker is started by bench.js as a file beside it, so it is an entry of its own.
  entry: ["src/index.ts", "src/testing.ts", "src/bench.ts", "src/bench-worker.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
  // Shared chunks, so every entry point uses the same classes (instanceof works across them).
  splitting: true,
});
