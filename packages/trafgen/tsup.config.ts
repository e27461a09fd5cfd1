import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/bench.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
  // Shared chunks, so both entries use the same classes.
  splitting: true,
});
