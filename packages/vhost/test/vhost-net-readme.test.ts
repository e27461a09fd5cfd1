import { describe, expect, it } from "vitest";
import { importReadmeExample } from "../../../tooling/readme.ts";
import type { VhostNetModelResult } from "../src/index.js";

describe("README: vhost-net model", () => {
  it("the example runs and gives the documented shape of result", async () => {
    const mod = await importReadmeExample<{ result: { tx: VhostNetModelResult; two: VhostNetModelResult } }>(
      new URL("../README.md", import.meta.url),
      /## vhost-net model[\s\S]*?### Example[\s\S]*?```ts\n([\s\S]*?)```/,
      "@nfvio/vhost",
      import.meta.url,
    );
    expect(mod).not.toBeNull();
    expect(mod!.result.tx.frames).toBe(50_000);
    expect(mod!.result.tx.mpps).toBeCloseTo(5.0, 1);
    expect(mod!.result.two.mpps / mod!.result.tx.mpps).toBeCloseTo(2, 1);
  });
});
