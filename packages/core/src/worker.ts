/**
 * Starting a worker thread from a module URL.
 *
 * A built `.js` module starts directly. A `.ts` module (inside the repo,
 * run through tsx) needs tsx's loader, and Node 20 does not carry the
 * parent's loader hooks into a worker: a tiny bootstrap registers tsx in the
 * worker (`tsx/esm/api` `register()`) and then imports the module, with the
 * `source` export condition so workspace packages resolve to their `src/`.
 * Pass `typescript: true` to bootstrap tsx for a `.js` entry that will
 * import `.ts` modules (components given by `.ts` module URL).
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { CoreError } from "./errors.js";

export interface StartWorkerOptions extends WorkerOptions {
  /** Register tsx in the worker even when the entry is `.js`. */
  typescript?: boolean;
}

export function startWorker(url: URL, options: StartWorkerOptions = {}): Worker {
  const { typescript, ...rest } = options;
  const ts = url.pathname.endsWith(".ts") || typescript === true;
  if (!ts) return new Worker(url, rest);
  let api: string;
  try {
    api = createRequire(url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs");
  } catch (e) {
    throw new CoreError("worker", `cannot start TypeScript worker ${url.href}: tsx is not installed where it can be resolved (${(e as Error).message})`);
  }
  const boot =
    `import(${JSON.stringify(pathToFileURL(api).href)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, {
    ...rest,
    eval: true,
    execArgv: ["--conditions=source", ...(rest.execArgv ?? [])],
  });
}
