/**
 * The engine: holds a graph of components and links, reconfigures it by
 * diffing configurations, and "breathes" (Snabb's `engine.breathe`): every
 * source pulls up to a packet budget, then components whose input is
 * waiting push, in topological order.
 *
 * Under the real clock a breath runs everything now. Under the model clock
 * a breath runs at the current modelled time and only the components whose
 * resource is free and whose input is visible by then; after it the engine
 * schedules wake-ups on the {@link ModelClock} (when a busy resource frees
 * up, when a stamped packet becomes visible) and steps the clock to the
 * next one. The component code is the same in both.
 *
 * Components may also run on worker threads (see placement.ts): a
 * configuration's `placement` names them; links that cross threads become
 * {@link SharedLink}s and each worker runs its own engine over its share.
 */
import { PacketPool, type PoolOptions, type PoolStats } from "@nfvio/packet";
import { ModelClock, RealClock, type Clock, type EventHandler } from "./clock.js";
import type { AppContext, Component } from "./component.js";
import { Config, type GraphConfig, type LinkSpec, type Placement } from "./config.js";
import { costRates, loadCostModel, type CostModel, type CostOverrides, type CostRates } from "./cost.js";
import type { CounterSnapshot } from "./counters.js";
import { CoreError } from "./errors.js";
import { LINK_CAPACITY, Link, SharedLink } from "./link.js";
import { Meter, Resource, type ResourceSnapshot } from "./meter.js";
import { WorkerGroup, type WorkerSnapshot } from "./placement.js";
import { resolveGraph, stableJson, type ResolvedComponent, type ResolvedGraph } from "./resolve.js";

export interface EngineOptions {
  /** Default: a new {@link RealClock}. */
  clock?: Clock;
  /** The pool all buffers come from, or options for a new one (default 4096 buffers). */
  pool?: PacketPool | PoolOptions;
  /** A complete cost model, or overrides of the defaults. */
  cost?: CostModel | CostOverrides;
  /** Packets a source may produce per breath (default 128). */
  budget?: number;
  /** Slots per link (power of two, default 1024). */
  linkCapacity?: number;
}

export interface ConfigureOptions {
  /**
   * Links that already exist (by canonical key) and whose other end may be
   * in another thread. Used by the worker runtime for its boundary links.
   */
  external?: ReadonlyMap<string, Link>;
}

/** What a reconfiguration changed. */
export interface ConfigureReport {
  /** Components constructed (new, or replaced because class/options/resource changed). */
  started: string[];
  /** Components stopped (removed, or replaced). */
  stopped: string[];
  /** Kept components whose links changed. */
  relinked: string[];
  /** Kept components untouched. */
  unchanged: string[];
  linksAdded: string[];
  linksRemoved: string[];
  workersStarted: string[];
  workersStopped: string[];
}

export interface RunOptions {
  /** Stop after this many breaths. */
  breaths?: number;
  /** Stop after this much time on the engine's clock (modelled or real ns). */
  durationNs?: number;
  /** Stop when nothing moves (real: `idleBreaths` breaths in a row without traffic; model: no event left). Default: true when neither breaths nor durationNs is given. */
  untilIdle?: boolean;
  /** Real clock: idle breaths in a row that count as idle (default 3). */
  idleBreaths?: number;
}

export interface RunReport {
  breaths: number;
  startNs: number;
  endNs: number;
  /** True when the run ended because nothing was left to do. */
  idle: boolean;
}

export interface EngineSnapshot {
  clock: "real" | "model";
  /** The clock's time (model: end of the last modelled work). */
  timeNs: number;
  breaths: number;
  apps: Record<string, CounterSnapshot>;
  links: Record<string, CounterSnapshot>;
  /** Charged work per resource (local components only). */
  resources: Record<string, ResourceSnapshot>;
  pool: PoolStats;
  workers: Record<string, WorkerSnapshot>;
}

interface AppState {
  readonly name: string;
  readonly resolved: ResolvedComponent;
  readonly instance: Component;
  readonly meter: Meter;
  inputs: Link[];
  outputs: Link[];
  /** Model: last pull moved packets or time. */
  sourceActive: boolean;
  /** Model: time of the wake-up already scheduled, or -1. */
  wakeAt: number;
}

interface LinkState {
  readonly spec: LinkSpec;
  readonly link: Link;
  /** Created (and so drained on removal) by this engine. */
  readonly owned: boolean;
}

const NOOP: EventHandler = { onEvent() {} };

export class Engine {
  readonly clock: Clock;
  readonly pool: PacketPool;
  readonly cost: CostModel;
  readonly rates: CostRates;
  readonly budget: number;
  readonly linkCapacity: number;
  private readonly model: ModelClock | null;
  private readonly apps = new Map<string, AppState>();
  private readonly links = new Map<string, LinkState>();
  private readonly resources = new Map<string, Resource>();
  private readonly workers = new Map<string, WorkerGroup>();
  /** Links that touch a worker, by key. */
  private readonly shared = new Map<string, SharedLink>();
  private sources: AppState[] = [];
  private pushOrder: AppState[] = [];
  private current: GraphConfig = { components: {}, links: [] };
  private breaths = 0;
  private againAt = -1;
  private busy = false;

  constructor(options: EngineOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.model = this.clock instanceof ModelClock ? this.clock : null;
    this.pool = options.pool instanceof PacketPool ? options.pool : new PacketPool(options.pool ?? {});
    this.cost = isFullModel(options.cost) ? loadCostModel({}, options.cost) : loadCostModel(options.cost ?? {});
    this.rates = costRates(this.cost);
    this.budget = options.budget ?? 128;
    if (!Number.isInteger(this.budget) || this.budget < 1) throw new CoreError("config", `engine budget ${this.budget} must be a positive integer`, { field: "budget" });
    this.linkCapacity = options.linkCapacity ?? LINK_CAPACITY;
  }

  /** The configuration last applied. */
  get config(): GraphConfig {
    return this.current;
  }

  /**
   * Apply a configuration: validate all of it first (a bad one throws and
   * changes nothing), then stop, start and relink only what differs from the
   * running one.
   */
  async configure(config: GraphConfig | Config, options: ConfigureOptions = {}): Promise<ConfigureReport> {
    if (this.busy) throw new CoreError("usage", "configure() called while another configure() or stop() is running");
    this.busy = true;
    try {
      const external = options.external ?? new Map<string, Link>();
      const graph = await resolveGraph(config, new Set(external.keys()));
      if (graph.workers.length > 0 && this.model) {
        throw new CoreError("config", "placement needs the real clock: a model-clock run is one deterministic thread", { field: "placement" });
      }
      const report: ConfigureReport = { started: [], stopped: [], relinked: [], unchanged: [], linksAdded: [], linksRemoved: [], workersStarted: [], workersStopped: [] };
      if (graph.workers.length === 0 && this.workers.size === 0) {
        this.applyLocal(graph, [...graph.components.values()], graph.links, external, report);
      } else {
        await this.applyPlaced(graph, external, report);
      }
      this.current = snapshotConfig(config);
      return report;
    } finally {
      this.busy = false;
    }
  }

  /** Re-place the current graph: `{ worker0: [names], worker1: [names] }`. */
  place(placement: Placement): Promise<ConfigureReport> {
    return this.configure({ ...this.current, placement });
  }

  // ---- Local (this thread) part of a configuration ----

  private applyLocal(graph: ResolvedGraph, comps: ResolvedComponent[], specs: readonly LinkSpec[], external: ReadonlyMap<string, Link>, report: ConfigureReport): void {
    const want = new Map(comps.map((c) => [c.name, c]));
    // 1. Stop components that go away or change.
    for (const [name, st] of this.apps) {
      const nc = want.get(name);
      if (!nc || nc.key !== st.resolved.key) {
        st.instance.stop?.();
        this.apps.delete(name);
        report.stopped.push(name);
      }
    }
    // 2. Links: keep those with the same key and link object, drop the rest.
    const wantLinks = new Map<string, { spec: LinkSpec; link: Link | undefined }>();
    for (const s of specs) wantLinks.set(s.key, { spec: s, link: external.get(s.key) });
    for (const [key, ls] of this.links) {
      const w = wantLinks.get(key);
      if (!w || (w.link !== undefined && w.link !== ls.link) || (w.link === undefined && !ls.owned)) {
        if (ls.owned) ls.link.drain();
        this.links.delete(key);
        report.linksRemoved.push(key);
      }
    }
    for (const [key, w] of wantLinks) {
      if (this.links.has(key)) continue;
      const link = w.link ?? new Link(this.pool, this.linkCapacity);
      this.links.set(key, { spec: w.spec, link, owned: w.link === undefined });
      report.linksAdded.push(key);
    }
    // 3. Start new components.
    const fresh = new Set<string>();
    for (const c of comps) {
      if (this.apps.has(c.name)) continue;
      const resName = c.config.resource ?? c.name;
      let res = this.resources.get(resName);
      if (!res) {
        res = new Resource(resName);
        this.resources.set(resName, res);
      }
      const meter = new Meter(this.clock, this.rates, res);
      const ctx: AppContext = { name: c.name, pool: this.pool, clock: this.clock, meter, cost: this.rates, budget: this.budget };
      let instance: Component;
      try {
        instance = new c.cls(c.options, ctx);
      } catch (e) {
        if (e instanceof CoreError) throw e;
        throw new CoreError("config", `component "${c.name}" (${c.className}): constructor failed: ${(e as Error).message}`, { component: c.name });
      }
      this.apps.set(c.name, { name: c.name, resolved: c, instance, meter, inputs: [], outputs: [], sourceActive: true, wakeAt: -1 });
      fresh.add(c.name);
      report.started.push(c.name);
    }
    // 4. Wire ports; tell components whose links changed.
    for (const c of comps) {
      const st = this.apps.get(c.name)!;
      const ins: Record<string, Link> = {};
      const outs: Record<string, Link> = {};
      for (const ls of this.links.values()) {
        if (ls.spec.to.app === c.name) ins[ls.spec.to.port] = ls.link;
        if (ls.spec.from.app === c.name) outs[ls.spec.from.port] = ls.link;
      }
      const changedIn = rewire(st.instance.input, ins);
      const changed = rewire(st.instance.output, outs) || changedIn;
      st.inputs = Object.values(ins);
      st.outputs = Object.values(outs);
      if (fresh.has(c.name)) st.instance.linked?.();
      else if (changed) {
        st.instance.linked?.();
        report.relinked.push(c.name);
      } else report.unchanged.push(c.name);
    }
    // 5. Model clock: stamps and meters on every link.
    for (const ls of this.links.values()) {
      ls.link.txMeter = this.apps.get(ls.spec.from.app)?.meter ?? null;
      ls.link.rxMeter = this.apps.get(ls.spec.to.app)?.meter ?? null;
      if (this.model) ls.link.enableStamps();
    }
    for (const [name, r] of this.resources) {
      let used = false;
      for (const a of this.apps.values()) if (a.meter.resource === r) used = true;
      if (!used) this.resources.delete(name);
    }
    this.computeOrder(graph);
  }

  private computeOrder(graph: ResolvedGraph): void {
    const states = [...this.apps.values()].sort((a, b) => a.resolved.order - b.resolved.order);
    this.sources = states.filter((s) => typeof s.instance.pull === "function");
    // Kahn's algorithm over local links; ties and cycles fall back to configuration order.
    const indeg = new Map<string, number>(states.map((s) => [s.name, 0]));
    const edges = graph.links.filter((l) => this.apps.has(l.from.app) && this.apps.has(l.to.app) && l.from.app !== l.to.app);
    for (const e of edges) indeg.set(e.to.app, indeg.get(e.to.app)! + 1);
    const order: AppState[] = [];
    const done = new Set<string>();
    while (order.length < states.length) {
      let pick = states.find((s) => !done.has(s.name) && indeg.get(s.name) === 0);
      pick ??= states.find((s) => !done.has(s.name))!; // a cycle: break it in config order
      done.add(pick.name);
      order.push(pick);
      for (const e of edges) if (e.from.app === pick.name && !done.has(e.to.app)) indeg.set(e.to.app, indeg.get(e.to.app)! - 1);
    }
    this.pushOrder = order.filter((s) => typeof s.instance.push === "function");
  }

  // ---- Placement across workers ----

  private async applyPlaced(graph: ResolvedGraph, external: ReadonlyMap<string, Link>, report: ConfigureReport): Promise<void> {
    const where = (app: string): string => graph.placedOn.get(app) ?? "main";
    // Links touching a worker become shared links (kept if their key survives).
    const sharedWant = new Map<string, LinkSpec>();
    for (const l of graph.links) if (where(l.from.app) !== "main" || where(l.to.app) !== "main") sharedWant.set(l.key, l);
    // Worker signatures: what each runs and which links it touches.
    const plans = new Map<string, { sig: string; comps: ResolvedComponent[]; links: LinkSpec[] }>();
    for (const w of graph.workers) {
      const comps = [...graph.components.values()].filter((c) => where(c.name) === w);
      const links = graph.links.filter((l) => where(l.from.app) === w || where(l.to.app) === w);
      const sig = stableJson({ comps: comps.map((c) => [c.name, c.key]), links: links.map((l) => l.key).sort() });
      plans.set(w, { sig, comps, links });
    }
    // 1. Stop workers that go away or change.
    for (const [w, g] of this.workers) {
      const p = plans.get(w);
      if (!p || p.sig !== g.signature) {
        await g.stop();
        this.workers.delete(w);
        report.workersStopped.push(w);
        report.stopped.push(...g.components);
      }
    }
    // 2. This thread's share.
    const local = [...graph.components.values()].filter((c) => where(c.name) === "main");
    const sharedAdded: string[] = [];
    for (const key of sharedWant.keys()) {
      if (this.shared.has(key)) continue;
      this.shared.set(key, new SharedLink(this.pool, this.linkCapacity));
      sharedAdded.push(key);
    }
    const ext = new Map(external);
    for (const [key, l] of sharedWant) if (where(l.from.app) === "main" || where(l.to.app) === "main") ext.set(key, this.shared.get(key)!);
    const localSpecs = graph.links.filter((l) => where(l.from.app) === "main" || where(l.to.app) === "main");
    this.applyLocal(graph, local, localSpecs, ext, report);
    for (const key of sharedAdded) if (!report.linksAdded.includes(key)) report.linksAdded.push(key);
    // 3. Drop shared links no longer wanted (their ends are stopped by now).
    for (const [key, link] of this.shared) {
      if (!sharedWant.has(key)) {
        link.drain();
        this.shared.delete(key);
        if (!report.linksRemoved.includes(key)) report.linksRemoved.push(key);
      }
    }
    // 4. Start new or changed workers.
    const starting: Promise<WorkerGroup>[] = [];
    for (const [w, p] of plans) {
      if (this.workers.has(w)) continue;
      starting.push(
        WorkerGroup.start({
          name: w,
          signature: p.sig,
          pool: this.pool.handle,
          cost: this.cost,
          budget: this.budget,
          components: p.comps.map((c) => ({ name: c.name, ref: c.ref!, options: c.config.options, resource: c.config.resource })),
          links: p.links.map((l) => ({ key: l.key, handle: this.shared.get(l.key)!.handle })),
        }),
      );
    }
    const settled = await Promise.allSettled(starting);
    let failure: unknown = null;
    for (const s of settled) {
      if (s.status === "fulfilled") {
        this.workers.set(s.value.name, s.value);
        report.workersStarted.push(s.value.name);
        report.started.push(...s.value.components);
      } else failure ??= s.reason;
    }
    if (failure) throw failure;
  }

  // ---- Running ----

  /** One breath at the clock's current time. Returns how much traffic moved (packets in + out + dropped on links). */
  breathe(): number {
    const before = this.activity();
    if (this.model) this.breatheModel(this.model.now());
    else {
      for (const s of this.sources) s.instance.pull!(this.budget);
      for (const a of this.pushOrder) if (hasInput(a)) a.instance.push!();
    }
    this.breaths++;
    return this.activity() - before;
  }

  private breatheModel(now: number): void {
    for (const s of this.sources) {
      const m = s.meter;
      if (m.resource.busyUntil > now) continue;
      const before = outActivity(s);
      m.begin(now);
      s.instance.pull!(this.budget);
      s.sourceActive = outActivity(s) !== before || m.t > now;
      m.end();
    }
    for (const a of this.pushOrder) {
      const m = a.meter;
      if (m.resource.busyUntil > now) continue;
      m.begin(now);
      if (!hasInput(a)) continue;
      a.instance.push!();
      m.end();
    }
  }

  private activity(): number {
    let n = 0;
    for (const ls of this.links.values()) {
      const c = ls.link.counters.values;
      n += c[0]! + c[2]! + c[3]!;
    }
    return n;
  }

  /** Model clock: schedule the next wake-up of every component with work. */
  private scheduleWakeups(progress: number): void {
    const clock = this.model!;
    const now = clock.now();
    for (const a of this.apps.values()) {
      const busy = a.meter.resource.busyUntil;
      let w = Infinity;
      if (a.sourceActive && typeof a.instance.pull === "function") w = busy > now ? busy : now;
      if (typeof a.instance.push === "function") {
        for (const l of a.inputs) {
          const hs = l.headStamp();
          if (hs === Infinity) continue;
          const c = hs > busy ? hs : busy;
          if (c < w) w = c;
        }
      }
      if (w === Infinity) continue;
      if (w <= now) {
        // Work is due now: breathe again at this time, but only if the last breath moved something.
        if (progress > 0 && this.againAt !== now) {
          this.againAt = now;
          clock.schedule(now, NOOP);
        }
        continue;
      }
      if (a.wakeAt > now && a.wakeAt <= w) continue; // an earlier wake-up is pending
      a.wakeAt = w;
      clock.schedule(w, NOOP);
    }
  }

  /**
   * Breathe until a limit. Real clock: back to back. Model clock: breathe,
   * schedule wake-ups, step to the next event, until no event is left (the
   * clock then shows when the last charged work ended) or the limit.
   */
  run(options: RunOptions = {}): RunReport {
    const maxBreaths = options.breaths ?? Infinity;
    const untilIdle = options.untilIdle ?? (options.breaths === undefined && options.durationNs === undefined);
    const startNs = this.clock.now();
    const until = options.durationNs === undefined ? Infinity : startNs + options.durationNs;
    let n = 0;
    let idle = false;
    if (this.model) {
      const clock = this.model;
      while (n < maxBreaths) {
        const p = this.breathe();
        n++;
        this.scheduleWakeups(p);
        const next = clock.nextTime();
        if (next === Infinity) {
          if (untilIdle) {
            idle = true;
            let end = clock.now();
            for (const r of this.resources.values()) if (r.busyUntil > end) end = r.busyUntil;
            clock.advanceTo(Math.min(end, until));
            break;
          }
          if (until !== Infinity) clock.advanceTo(until);
          break;
        }
        if (next > until) {
          clock.runUntil(until);
          break;
        }
        clock.step();
      }
    } else {
      const idleBreaths = options.idleBreaths ?? 3;
      let quiet = 0;
      while (n < maxBreaths) {
        const p = this.breathe();
        n++;
        if (p === 0) {
          quiet++;
          if (untilIdle && quiet >= idleBreaths) {
            idle = true;
            break;
          }
        } else quiet = 0;
        if (until !== Infinity && (n & 15) === 0 && this.clock.now() >= until) break;
      }
    }
    return { breaths: n, startNs, endNs: this.clock.now(), idle };
  }

  // ---- Inspection ----

  /** A component running in this thread. */
  app<T extends Component = Component>(name: string): T {
    const st = this.apps.get(name);
    if (st) return st.instance as T;
    for (const [w, g] of this.workers) if (g.components.includes(name)) throw new CoreError("usage", `component "${name}" runs on worker "${w}"; read its counters with snapshot()`, { component: name });
    throw new CoreError("usage", `no component named "${name}"`, { component: name });
  }

  /** A link by its spec (`"a.out -> b.in"`, any spacing). */
  link(spec: string): Link {
    const key = spec.replace(/\s+/g, "").replace("->", " -> ");
    const l = this.links.get(key)?.link ?? this.shared.get(key);
    if (!l) throw new CoreError("usage", `no link "${key}"`);
    return l;
  }

  /** Every counter, JSON-ready. */
  snapshot(): EngineSnapshot {
    const apps: Record<string, CounterSnapshot> = {};
    for (const [name, st] of [...this.apps].sort((a, b) => a[1].resolved.order - b[1].resolved.order)) apps[name] = st.instance.counters.snapshot();
    const workers: Record<string, WorkerSnapshot> = {};
    for (const [w, g] of this.workers) {
      workers[w] = g.snapshot();
      for (const [name, cs] of g.counters) apps[name] = cs.snapshot();
    }
    const links: Record<string, CounterSnapshot> = {};
    for (const [key, ls] of this.links) links[key] = ls.link.counters.snapshot();
    for (const [key, l] of this.shared) links[key] = l.counters.snapshot();
    const resources: Record<string, ResourceSnapshot> = {};
    for (const [name, r] of this.resources) resources[name] = r.snapshot();
    return { clock: this.clock.kind, timeNs: this.clock.now(), breaths: this.breaths, apps, links, resources, pool: this.pool.stats(), workers };
  }

  /** Stop every component and worker and free every buffer left in links. The engine can be configured again afterwards. */
  async stop(): Promise<void> {
    await this.configure({ components: {}, links: [] });
    for (const l of this.shared.values()) l.drain();
    this.shared.clear();
  }
}

function isFullModel(c: CostModel | CostOverrides | undefined): c is CostModel {
  return typeof c === "object" && c !== null && typeof (c as CostModel).cpuHz === "object" && typeof (c as CostModel).stages === "object" && "cyclesPerVmExit" in c && "source" in ((c as CostModel).cpuHz ?? {});
}

function hasInput(a: AppState): boolean {
  for (const l of a.inputs) if (l.nreadable() > 0) return true;
  return false;
}

function outActivity(a: AppState): number {
  let n = 0;
  for (const l of a.outputs) {
    const c = l.counters.values;
    n += c[0]! + c[2]!;
  }
  return n;
}

/** Make `ports` equal to `want`; true if anything changed. */
function rewire(ports: Record<string, Link | undefined>, want: Record<string, Link>): boolean {
  let changed = false;
  for (const k of Object.keys(ports)) {
    if (!(k in want)) {
      delete ports[k];
      changed = true;
    }
  }
  for (const [k, l] of Object.entries(want)) {
    if (ports[k] !== l) {
      ports[k] = l;
      changed = true;
    }
  }
  return changed;
}

function snapshotConfig(cfg: GraphConfig): GraphConfig {
  const c = Config.from(cfg);
  const out: GraphConfig = c.placement ? { components: c.components, links: c.links, placement: c.placement } : { components: c.components, links: c.links };
  return out;
}
