/**
 * The worker side of a placed graph: re-create this worker's components
 * from their module URLs, attach the shared pool and links, post the
 * counters' handles, and breathe until asked to stop.
 *
 * When a breath moves nothing the loop spins a little, then sleeps on the
 * control word in short `Atomics.wait` naps (so a stop request wakes it at
 * once, and an idle worker does not burn a core).
 */
import { PacketPool } from "@nfvio/packet";
import { RealClock } from "./clock.js";
import type { GraphConfig } from "./config.js";
import { CounterSet, type CounterHandle } from "./counters.js";
import { Engine } from "./engine.js";
import { CoreError } from "./errors.js";
import { SharedLink, type Link } from "./link.js";
import { CONTROL_STOP, WORKER_COUNTERS, type WorkerInit, type WorkerMessage } from "./placement.js";

/** Idle breaths in a row before the loop starts napping. */
const SPIN_BREATHS = 64;
/** Length of one nap, ms. */
const NAP_MS = 0.2;

export interface MessageSink {
  postMessage(message: WorkerMessage): void;
}

export async function runWorker(init: WorkerInit, port: MessageSink): Promise<void> {
  const pool = PacketPool.attach(init.pool);
  const engine = new Engine({ pool, cost: init.cost, budget: init.budget, clock: new RealClock() });
  const external = new Map<string, Link>();
  for (const l of init.links) external.set(l.key, SharedLink.attach(l.handle, pool));
  const components: Record<string, GraphConfig["components"][string]> = {};
  for (const c of init.components) components[c.name] = c.resource === undefined ? { class: c.ref, options: c.options } : { class: c.ref, options: c.options, resource: c.resource };
  try {
    await engine.configure({ components, links: init.links.map((l) => l.key) }, { external });
  } catch (e) {
    const err = e as Error;
    port.postMessage({
      type: "error",
      message: err.message,
      component: e instanceof CoreError ? e.component : undefined,
      field: e instanceof CoreError ? e.field : undefined,
    });
    return;
  }
  const stats = new CounterSet(WORKER_COUNTERS);
  const counters: Record<string, CounterHandle> = {};
  for (const c of init.components) counters[c.name] = engine.app(c.name).counters.handle;
  port.postMessage({ type: "ready", counters, stats: stats.handle });

  const control = new Int32Array(init.control);
  const s = stats.values;
  let quiet = 0;
  while (Atomics.load(control, CONTROL_STOP) === 0) {
    const moved = engine.breathe();
    s[0]! += 1;
    if (moved === 0) {
      s[1]! += 1;
      if (++quiet > SPIN_BREATHS) {
        s[2]! += 1;
        Atomics.wait(control, CONTROL_STOP, 0, NAP_MS);
      }
    } else quiet = 0;
  }
  // Stop the components; links belong to the main thread, which drains them.
  await engine.configure({ components: {}, links: [] }, { external: new Map() });
  port.postMessage({ type: "stopped" });
}
