/** The scenarios that ship with the CLI (apps/cli/scenarios/*.yaml), by name or by file. */
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadScenarioFile, ScenarioError, type Scenario } from "./schema.js";

/** apps/cli/scenarios, from src/scenario (in the repo) or from dist (built). */
export function builtinDir(): string {
  for (const rel of ["../../scenarios", "../scenarios"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return fileURLToPath(new URL("../../scenarios", import.meta.url));
}

/** Names of the built-in scenarios. */
export function builtinNames(): string[] {
  return readdirSync(builtinDir())
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Path of built-in scenario `name`. */
export function builtinFile(name: string): string {
  return `${builtinDir()}/${name}.yaml`;
}

/** Load a scenario by file path or built-in name. */
export function loadScenario(ref: string): { scenario: Scenario; file: string } {
  if (existsSync(ref)) return { scenario: loadScenarioFile(ref), file: ref };
  if (/^[a-z][a-z0-9-]*$/.test(ref) && builtinNames().includes(ref)) {
    const file = builtinFile(ref);
    return { scenario: loadScenarioFile(file), file };
  }
  throw new ScenarioError(ref, [{ path: "", reason: `no such file, and not a built-in scenario (built-in: ${builtinNames().join(", ")})` }]);
}
