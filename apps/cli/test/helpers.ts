/** Test helpers: run the CLI in-process with stdout and stderr captured; a scenario's problems as lines. */
import { expect, vi } from "vitest";
import { runCli } from "../src/program.js";
import { ScenarioError, parseScenario } from "../src/scenario/schema.js";

/** The problems of a scenario object as `path: reason` lines ([] when it loads). */
export function scenarioIssues(x: unknown): string[] {
  try {
    parseScenario(x, "s.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as ScenarioError).issues.map((i) => `${i.path}: ${i.reason}`);
  }
  return [];
}

export async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await runCli(["node", "nfvio", ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
