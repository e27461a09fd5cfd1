import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { EngineSnapshot } from "../src/index.js";

describe("README", () => {
  it("the example runs and gives the documented result", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const m = /## Example[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
    expect(m).not.toBeNull();
    const code = m![1]!.replace('from "@nfvio/core"', 'from "../src/index.js"');
    const file = new URL("./.readme-example.ts", import.meta.url);
    writeFileSync(file, code);
    try {
      const mod = (await import(/* @vite-ignore */ file.href)) as { result: { snapshot: EngineSnapshot; mpps: number } };
      const s = mod.result.snapshot;
      expect(s.apps["gen"]!["packets"]).toBe(10_000);
      expect(s.apps["drop"]!["packets"]).toBe(5_000);
      expect(s.apps["ipv4"]!["dropped"]).toBe(5_000);
      expect(mod.result.mpps).toBeGreaterThan(1);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
