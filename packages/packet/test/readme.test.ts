import { describe, expect, it } from "vitest";
import { checkQuickstart } from "../../../tooling/readme.ts";

describe("README", () => {
  it("shows examples/quickstart.ts verbatim, and its real output", async () => {
    const q = await checkQuickstart(new URL("..", import.meta.url));
    expect(q.shown).toBe(q.file);
    expect(q.stdout).toBe(q.printed);
  });
});
