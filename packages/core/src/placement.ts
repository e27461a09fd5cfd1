/**
 * The main-thread side of a placed graph: one {@link WorkerGroup} per
 * worker thread. The engine creates every link that touches a worker as a
 * {@link SharedLink} in main and sends the worker its components (module
 * URL + export + raw options), the pool handle and the link handles. The
 * worker (runtime.ts) re-creates its components, posts back the handles of
 * their counters, and breathes until the stop word in a shared control
 * array is set. Counters are then readable from main at any time.
 */
import type { PoolHandle } from "@nfvio/packet";
import type { Worker } from "node:worker_threads";
import type { ModuleRef } from "./component.js";
import type { CostModel } from "./cost.js";
import { CounterSet, type CounterHandle } from "./counters.js";
import { CoreError } from "./errors.js";
import type { LinkHandle } from "./link.js";
import { startWorker } from "./worker.js";

export interface WorkerComponent {
  readonly name: string;
  readonly ref: ModuleRef;
  readonly options: unknown;
  readonly resource: string | undefined;
}

/** Everything a worker needs, sent as `workerData`. */
export interface WorkerInit {
  readonly name: string;
  readonly pool: PoolHandle;
  /** Int32Array words: [0] stop request. */
  readonly control: SharedArrayBuffer;
  readonly cost: CostModel;
  readonly budget: number;
  readonly components: readonly WorkerComponent[];
  readonly links: readonly { readonly key: string; readonly handle: LinkHandle }[];
}

export type WorkerMessage =
  | { type: "ready"; counters: Record<string, CounterHandle>; stats: CounterHandle }
  | { type: "error"; message: string; component?: string | undefined; field?: string | undefined }
  | { type: "stopped" };

/** Counters every worker keeps about its own loop. */
export const WORKER_COUNTERS = ["breaths", "idleBreaths", "sleeps"] as const;
export const CONTROL_STOP = 0;

export interface WorkerSnapshot {
  components: string[];
  breaths: number;
  idleBreaths: number;
  sleeps: number;
}

const STOP_TIMEOUT_MS = 10_000;

function runtimeUrl(): URL {
  return new URL(import.meta.url.endsWith(".ts") ? "./worker-main.ts" : "./worker-main.js", import.meta.url);
}

export class WorkerGroup {
  private stopped = false;

  private constructor(
    readonly name: string,
    readonly signature: string,
    readonly components: string[],
    readonly counters: Map<string, CounterSet>,
    readonly stats: CounterSet,
    private readonly worker: Worker,
    private readonly control: Int32Array,
  ) {}

  static async start(spec: Omit<WorkerInit, "control"> & { signature: string }): Promise<WorkerGroup> {
    const control = new SharedArrayBuffer(16);
    const { signature, ...rest } = spec;
    const init: WorkerInit = { ...rest, control };
    const typescript = spec.components.some((c) => /\.(c|m)?ts$/.test(c.ref.module));
    let worker: Worker;
    try {
      worker = startWorker(runtimeUrl(), { workerData: init, typescript, name: `nfvio:${spec.name}` });
    } catch (e) {
      throw e instanceof CoreError ? e : new CoreError("worker", `worker "${spec.name}": cannot start: ${(e as Error).message}`);
    }
    const first = await new Promise<WorkerMessage>((resolve, reject) => {
      const onMsg = (m: WorkerMessage): void => {
        cleanup();
        resolve(m);
      };
      const onErr = (e: Error): void => {
        cleanup();
        reject(new CoreError("worker", `worker "${spec.name}": ${e.message}`));
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new CoreError("worker", `worker "${spec.name}" exited with code ${code} before it was ready`));
      };
      const cleanup = (): void => {
        worker.off("message", onMsg);
        worker.off("error", onErr);
        worker.off("exit", onExit);
      };
      worker.on("message", onMsg);
      worker.on("error", onErr);
      worker.on("exit", onExit);
    });
    if (first.type !== "ready") {
      await worker.terminate();
      if (first.type === "error") {
        const where: { component?: string; field?: string } = {};
        if (first.component !== undefined) where.component = first.component;
        if (first.field !== undefined) where.field = first.field;
        throw new CoreError("config", `worker "${spec.name}": ${first.message}`, where);
      }
      throw new CoreError("worker", `worker "${spec.name}": unexpected message ${first.type}`);
    }
    const counters = new Map<string, CounterSet>();
    for (const c of spec.components) {
      const h = first.counters[c.name];
      if (h) counters.set(c.name, CounterSet.attach(h));
    }
    return new WorkerGroup(
      spec.name,
      signature,
      spec.components.map((c) => c.name),
      counters,
      CounterSet.attach(first.stats),
      worker,
      new Int32Array(control),
    );
  }

  snapshot(): WorkerSnapshot {
    const s = this.stats.values;
    return { components: [...this.components], breaths: s[0]!, idleBreaths: s[1]!, sleeps: s[2]! };
  }

  /** Ask the worker to stop its loop and its components, wait for it, and end the thread. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.worker.on("message", (m: WorkerMessage) => {
        if (m.type === "stopped") finish();
      });
      this.worker.once("exit", finish);
      this.worker.once("error", finish);
    });
    Atomics.store(this.control, CONTROL_STOP, 1);
    Atomics.notify(this.control, CONTROL_STOP);
    await done;
    await this.worker.terminate();
  }
}
