/**
 * Test helpers for package READMEs: their examples are real code that runs.
 *
 * - {@link checkQuickstart}: the README shows `examples/quickstart.ts`
 *   verbatim between `<!-- example:start -->` and `<!-- example:end -->`,
 *   and the output it prints between `<!-- output:start -->` and
 *   `<!-- output:end -->` is what running it prints.
 * - {@link importReadmeExample}: the first ```ts block after a heading,
 *   with the package's import pointed at its sources, written next to the
 *   test and imported; the caller checks what it exports.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The text between two markers, without the code fence around it. */
export function between(text: string, start: string, end: string): string {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README lacks ${start} ... ${end}`);
  return text
    .slice(a + start.length, b)
    .replace(/^\s*```\w*\n/, "")
    .replace(/```\s*$/, "");
}

/** README code and output of the package at `pkgUrl` (its folder), and the file's text and real output, to compare. */
export async function checkQuickstart(pkgUrl: URL): Promise<{ shown: string; file: string; printed: string; stdout: string }> {
  const pkg = fileURLToPath(pkgUrl);
  const readme = await readFile(`${pkg}README.md`, "utf8");
  const file = await readFile(`${pkg}examples/quickstart.ts`, "utf8");
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--conditions=source", "examples/quickstart.ts"], { cwd: pkg });
  return {
    shown: between(readme, "<!-- example:start -->", "<!-- example:end -->"),
    file,
    printed: between(readme, "<!-- output:start -->", "<!-- output:end -->"),
    stdout,
  };
}

/**
 * Import the first ```ts block that `block` (a regex with the code as its
 * first group) finds in `readmeUrl`, with `from "<pkgName>"` replaced by
 * `from "../src/index.js"`. The module is written beside `testUrl` for the
 * import and removed afterwards; null when the README has no such block.
 */
export async function importReadmeExample<T>(readmeUrl: URL, block: RegExp, pkgName: string, testUrl: string | URL): Promise<T | null> {
  const m = block.exec(readFileSync(readmeUrl, "utf8"));
  if (m === null || m[1] === undefined) return null;
  const file = new URL(`./.readme-example-${process.pid}-${Date.now()}.ts`, testUrl);
  writeFileSync(file, m[1].replace(`from "${pkgName}"`, 'from "../src/index.js"'));
  try {
    return (await import(/* @vite-ignore */ file.href)) as T;
  } finally {
    rmSync(file, { force: true });
  }
}
