import { defineProject } from "vitest/config";

/** Per-package vitest project: name it after the package, resolve workspace imports to src/. */
export function nfvioProject(name: string) {
  return defineProject({
    resolve: { conditions: ["source"] },
    ssr: { resolve: { conditions: ["source"] } },
    test: {
      name,
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      environment: "node",
      testTimeout: 120_000,
      hookTimeout: 60_000,
    },
  });
}
