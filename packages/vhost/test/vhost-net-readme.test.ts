import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { VhostNetModelResult } from "../src/index.js";

describe("README: vhost-net model", () => {
  it("the example runs and gives the documented shape of result", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const m = /## vhost-net model[\s\S]*?### Example[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
    expect(m).not.toBeNull();
    const code = m![1]!.replace('from "@nfvio/vhost"', 'from "../src/index.js"');
    const file = new URL("./.vhost-net-readme-example.ts", import.meta.url);
    writeFileSync(file, code);
    try {
      const mod = (await import(/* @vite-ignore */ file.href)) as { result: { tx: VhostNetModelResult; two: VhostNetModelResult } };
      expect(mod.result.tx.frames).toBe(50_000);
      expect(mod.result.tx.mpps).toBeCloseTo(5.0, 1);
      expect(mod.result.two.mpps / mod.result.tx.mpps).toBeCloseTo(2, 1);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
