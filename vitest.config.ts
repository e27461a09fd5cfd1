import { defineConfig } from "vitest/config";

// One root config with a project per package. Package imports resolve to
// `src/` through the `source` export condition, so tests never need a build.
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    projects: ["packages/*", "apps/*"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
