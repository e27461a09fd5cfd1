/**
 * Test helper: start a worker thread from a TypeScript source file.
 *
 * Inside the repo, packages resolve to their `src/` through the `source`
 * export condition and run through tsx. A `worker_threads` Worker is a fresh
 * isolate: Node 20 does not carry the parent's loader hooks into it, so a
 * tiny bootstrap registers tsx in the worker and then imports the module.
 * Built `.js` workers start directly.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export function tsWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, options);
  const api = createRequire(url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  const boot =
    `import(${JSON.stringify(pathToFileURL(api).href)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, {
    ...options,
    eval: true,
    execArgv: ["--conditions=source", ...(options.execArgv ?? [])],
  });
}
