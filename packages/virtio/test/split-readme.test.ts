/** The README's example is examples/quickstart.ts, and it runs. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { quickstart } from "../examples/quickstart.js";

describe("README example", () => {
  it("runs", () => {
    expect(quickstart()).toBe('1 popped, kick=true, "hello, virtio", interrupt=true, reclaimed 1 (token 42)');
  });
  it("is the code in the README", () => {
    const file = readFileSync(new URL("../examples/quickstart.ts", import.meta.url), "utf8").replace('from "../src/index.js"', 'from "@nfvio/virtio"');
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain("```ts\n" + file + "```");
  });
});
