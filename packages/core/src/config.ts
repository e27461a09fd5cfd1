/**
 * Graph configuration as data: components by name, class and options;
 * links as `"a.out -> b.in"`; optionally a placement of components on
 * worker threads. A {@link Config} builder produces the same plain object.
 */
import type { z } from "zod";
import type { ComponentClass, ModuleRef, OptionsSchema } from "./component.js";
import { CoreError } from "./errors.js";

/** A component class given directly (main thread), or by module URL + export (any thread). */
export type ComponentSpec = ComponentClass | ModuleRef;

export interface ComponentConfig {
  readonly class: ComponentSpec;
  /** Raw options, validated by the class's schema (defaults filled in). Keep them structured-cloneable to place the component on a worker. */
  readonly options?: unknown;
  /** Model clock: the resource (CPU core or hardware stage) this component charges; components naming the same resource share its time. Default: its own. */
  readonly resource?: string;
}

/** Worker name -> component names that run on it. Unlisted components run in the engine's own thread. */
export type Placement = Readonly<Record<string, readonly string[]>>;

export interface GraphConfig {
  readonly components: Readonly<Record<string, ComponentConfig>>;
  readonly links: readonly string[];
  readonly placement?: Placement;
}

export interface Endpoint {
  readonly app: string;
  readonly port: string;
}

export interface LinkSpec {
  readonly from: Endpoint;
  readonly to: Endpoint;
  /** Canonical text: `a.out -> b.in`. */
  readonly key: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const LINK = /^\s*([^\s.]+)\.([^\s.]+)\s*->\s*([^\s.]+)\.([^\s.]+)\s*$/;

export function checkName(what: string, name: string): void {
  if (!NAME.test(name)) throw new CoreError("config", `${what} name ${JSON.stringify(name)} must match ${NAME.source}`, { component: name });
}

/** Parse `"a.out -> b.in"`. */
export function parseLink(spec: string): LinkSpec {
  const m = LINK.exec(spec);
  if (!m) throw new CoreError("config", `link ${JSON.stringify(spec)}: expected "app.port -> app.port"`, { field: "links" });
  const [, a, ap, b, bp] = m as unknown as [string, string, string, string, string];
  for (const n of [a, ap, b, bp]) {
    if (!NAME.test(n)) throw new CoreError("config", `link ${JSON.stringify(spec)}: ${JSON.stringify(n)} must match ${NAME.source}`, { field: "links" });
  }
  return { from: { app: a, port: ap }, to: { app: b, port: bp }, key: `${a}.${ap} -> ${b}.${bp}` };
}

export function isModuleRef(spec: ComponentSpec): spec is ModuleRef {
  return typeof spec === "object" && spec !== null && typeof (spec as ModuleRef).module === "string" && typeof (spec as ModuleRef).export === "string";
}

/** Builder for a {@link GraphConfig}, in the style of Snabb's `config.app` / `config.link`. */
export class Config implements GraphConfig {
  readonly components: Record<string, ComponentConfig> = {};
  readonly links: string[] = [];
  placement?: Record<string, string[]>;

  /** Start from an existing configuration (copied). */
  static from(cfg: GraphConfig): Config {
    const c = new Config();
    for (const [k, v] of Object.entries(cfg.components)) c.components[k] = { ...v };
    c.links.push(...cfg.links);
    if (cfg.placement) {
      c.placement = {};
      for (const [w, names] of Object.entries(cfg.placement)) c.placement[w] = [...names];
    }
    return c;
  }

  /** Add (or replace) component `name`. */
  app<S extends OptionsSchema>(name: string, cls: ComponentClass<S>, options?: z.input<S>, extra: { resource?: string } = {}): this {
    checkName("component", name);
    this.components[name] = { class: cls as unknown as ComponentClass, options, ...extra };
    return this;
  }

  /** Add component `name` by module URL + export name (loadable on workers). */
  ref(name: string, ref: ModuleRef, options?: unknown, extra: { resource?: string } = {}): this {
    checkName("component", name);
    this.components[name] = { class: ref, options, ...extra };
    return this;
  }

  /** Add a link `"a.out -> b.in"`. */
  link(spec: string): this {
    const key = parseLink(spec).key;
    if (!this.links.includes(key)) this.links.push(key);
    return this;
  }

  /** Remove a component and every link that touches it. */
  remove(name: string): this {
    delete this.components[name];
    for (let i = this.links.length - 1; i >= 0; i--) {
      const l = parseLink(this.links[i]!);
      if (l.from.app === name || l.to.app === name) this.links.splice(i, 1);
    }
    if (this.placement) for (const w of Object.keys(this.placement)) this.placement[w] = this.placement[w]!.filter((n) => n !== name);
    return this;
  }

  /** Remove one link. */
  unlink(spec: string): this {
    const key = parseLink(spec).key;
    const i = this.links.indexOf(key);
    if (i >= 0) this.links.splice(i, 1);
    return this;
  }

  /** Run `names` on worker thread `worker`. */
  place(worker: string, names: readonly string[]): this {
    checkName("worker", worker);
    this.placement ??= {};
    this.placement[worker] = [...names];
    return this;
  }
}
