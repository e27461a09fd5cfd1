import { describe, expect, it } from "vitest";
import { importReadmeExample } from "../../../tooling/readme.ts";
import type { EngineSnapshot } from "../src/index.js";

describe("README", () => {
  it("the example runs and gives the documented result", async () => {
    const mod = await importReadmeExample<{ result: { snapshot: EngineSnapshot; mpps: number } }>(new URL("../README.md", import.meta.url), /## Example[\s\S]*?```ts\n([\s\S]*?)```/, "@nfvio/core", import.meta.url);
    expect(mod).not.toBeNull();
    const s = mod!.result.snapshot;
    expect(s.apps["gen"]!["packets"]).toBe(10_000);
    expect(s.apps["drop"]!["packets"]).toBe(5_000);
    expect(s.apps["ipv4"]!["dropped"]).toBe(5_000);
    expect(mod!.result.mpps).toBeGreaterThan(1);
  });
});
