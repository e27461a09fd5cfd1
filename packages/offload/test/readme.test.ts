import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const pkg = fileURLToPath(new URL("..", import.meta.url));

function between(text: string, start: string, end: string): string {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README lacks ${start} ... ${end}`);
  return text
    .slice(a + start.length, b)
    .replace(/^\s*```\w*\n/, "")
    .replace(/```\s*$/, "");
}

describe("README", () => {
  it("shows examples/quickstart.ts verbatim, and its real output", async () => {
    const readme = await readFile(`${pkg}README.md`, "utf8");
    expect(between(readme, "<!-- example:start -->", "<!-- example:end -->")).toBe(await readFile(`${pkg}examples/quickstart.ts`, "utf8"));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--conditions=source", "examples/quickstart.ts"], { cwd: pkg });
    expect(stdout).toBe(between(readme, "<!-- output:start -->", "<!-- output:end -->"));
  });
});
