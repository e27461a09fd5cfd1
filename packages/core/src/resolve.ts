/**
 * Turning a {@link GraphConfig} into checked parts before anything changes:
 * component classes loaded (imported when given by module URL), options
 * validated against each class's schema, links parsed and checked against
 * declared ports, placement checked. A bad configuration throws a
 * {@link CoreError} naming the component, the field and the reason, and
 * leaves a running engine as it was.
 */
import type { ComponentClass, ModuleRef } from "./component.js";
import { isModuleRef, parseLink, checkName, type ComponentConfig, type GraphConfig, type LinkSpec } from "./config.js";
import { CoreError } from "./errors.js";

export interface ResolvedComponent {
  readonly name: string;
  readonly config: ComponentConfig;
  readonly cls: ComponentClass;
  /** Where workers import it from, if known. */
  readonly ref: ModuleRef | undefined;
  /** Options after the schema (defaults filled in). */
  readonly options: unknown;
  /** Identity for reconfiguration diffs: class + options + resource. */
  readonly key: string;
  /** Display name of the class, for messages. */
  readonly className: string;
  /** Index in the configuration, for stable ordering. */
  readonly order: number;
}

export interface ResolvedGraph {
  readonly components: ReadonlyMap<string, ResolvedComponent>;
  readonly links: readonly LinkSpec[];
  /** Component -> worker name, for placed components. */
  readonly placedOn: ReadonlyMap<string, string>;
  readonly workers: readonly string[];
}

/** JSON with object keys sorted, for comparing options. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === "object" && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o).sort()) out[k] = o[k];
      return out;
    }
    return val;
  });
}

const classIds = new WeakMap<object, number>();
let nextClassId = 1;
function classId(cls: ComponentClass, ref: ModuleRef | undefined): string {
  if (ref) return `${ref.module}#${ref.export}`;
  let id = classIds.get(cls);
  if (id === undefined) {
    id = nextClassId++;
    classIds.set(cls, id);
  }
  return `class:${id}:${cls.name}`;
}

function isComponentClass(v: unknown): v is ComponentClass {
  if (typeof v !== "function") return false;
  const schema = (v as { schema?: { safeParse?: unknown } }).schema;
  return typeof schema === "object" && schema !== null && typeof schema.safeParse === "function";
}

export async function loadClass(name: string, spec: ComponentConfig["class"]): Promise<{ cls: ComponentClass; ref: ModuleRef | undefined }> {
  if (isModuleRef(spec)) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec.module)) as Record<string, unknown>;
    } catch (e) {
      throw new CoreError("config", `component "${name}": cannot import ${spec.module}: ${(e as Error).message}`, { component: name, field: "class" });
    }
    const cls = mod[spec.export];
    if (!isComponentClass(cls)) {
      throw new CoreError("config", `component "${name}": ${spec.module} has no export "${spec.export}" that is a component class (a class with a static zod schema)`, { component: name, field: "class" });
    }
    return { cls, ref: { module: spec.module, export: spec.export } };
  }
  if (!isComponentClass(spec)) {
    throw new CoreError("config", `component "${name}": "class" must be a component class (with a static zod schema) or { module, export }`, { component: name, field: "class" });
  }
  return { cls: spec, ref: spec.ref };
}

/** Validate options with the class's schema; errors name the component, the option and the reason. */
export function validateOptions(name: string, className: string, cls: ComponentClass, options: unknown): unknown {
  const r = cls.schema.safeParse(options ?? {});
  if (r.success) return r.data;
  const parts = r.error.issues.map((i) => {
    const field = i.path.length ? i.path.join(".") : null;
    return field ? `option "${field}": ${i.message}` : i.message;
  });
  const first = r.error.issues[0];
  const field = first && first.path.length ? first.path.join(".") : undefined;
  throw new CoreError("config", `component "${name}" (${className}): ${parts.join("; ")}`, field === undefined ? { component: name } : { component: name, field });
}

function portList(cls: ComponentClass, dir: "in" | "out"): readonly string[] | undefined {
  return dir === "in" ? cls.inputs : cls.outputs;
}

/**
 * Resolve and check a whole configuration. `remote` lists link keys whose
 * far end lives in another thread (a worker's view of its boundary links):
 * their missing endpoint is not an error.
 */
export async function resolveGraph(cfg: GraphConfig, remote: ReadonlySet<string> = new Set()): Promise<ResolvedGraph> {
  if (typeof cfg !== "object" || cfg === null || typeof cfg.components !== "object" || !Array.isArray(cfg.links)) {
    throw new CoreError("config", "graph configuration needs { components: {...}, links: [...] }");
  }
  const components = new Map<string, ResolvedComponent>();
  let order = 0;
  for (const [name, c] of Object.entries(cfg.components)) {
    checkName("component", name);
    if (typeof c !== "object" || c === null) throw new CoreError("config", `component "${name}": expected { class, options }`, { component: name });
    if (c.resource !== undefined && (typeof c.resource !== "string" || c.resource.length === 0)) {
      throw new CoreError("config", `component "${name}": "resource" must be a non-empty string`, { component: name, field: "resource" });
    }
    const { cls, ref } = await loadClass(name, c.class);
    const className = ref?.export ?? (cls.name || "anonymous class");
    const options = validateOptions(name, className, cls, c.options);
    const key = `${classId(cls, ref)}|${stableJson(c.options ?? {})}|${c.resource ?? ""}`;
    components.set(name, { name, config: c, cls, ref, options, key, className, order: order++ });
  }

  const links: LinkSpec[] = [];
  const seen = new Set<string>();
  const usedOut = new Map<string, string>();
  const usedIn = new Map<string, string>();
  for (const text of cfg.links) {
    const l = parseLink(text);
    if (seen.has(l.key)) throw new CoreError("config", `link "${l.key}" appears twice`, { field: "links" });
    seen.add(l.key);
    for (const [end, dir] of [
      [l.from, "out"],
      [l.to, "in"],
    ] as const) {
      const c = components.get(end.app);
      if (!c) {
        if (remote.has(l.key)) continue;
        throw new CoreError("config", `link "${l.key}": no component named "${end.app}"`, { component: end.app, field: "links" });
      }
      const ports = portList(c.cls, dir);
      if (ports && !ports.includes("*") && !ports.includes(end.port)) {
        throw new CoreError(
          "config",
          `link "${l.key}": component "${end.app}" (${c.className}) has no ${dir === "in" ? "input" : "output"} port "${end.port}" (${dir === "in" ? "inputs" : "outputs"}: ${ports.join(", ") || "none"})`,
          { component: end.app, field: "links" },
        );
      }
      const used = dir === "in" ? usedIn : usedOut;
      const pk = `${end.app}.${end.port}`;
      const prev = used.get(pk);
      if (prev !== undefined) {
        throw new CoreError("config", `link "${l.key}": ${dir === "in" ? "input" : "output"} port ${pk} is already linked by "${prev}" (a link has one producer and one consumer)`, {
          component: end.app,
          field: "links",
        });
      }
      used.set(pk, l.key);
    }
    links.push(l);
  }

  const placedOn = new Map<string, string>();
  const workers: string[] = [];
  if (cfg.placement !== undefined) {
    if (typeof cfg.placement !== "object" || cfg.placement === null) throw new CoreError("config", "placement must map worker names to lists of component names", { field: "placement" });
    for (const [w, names] of Object.entries(cfg.placement)) {
      checkName("worker", w);
      if (w === "main") throw new CoreError("config", `placement: "main" is the engine's own thread; name workers otherwise`, { field: "placement" });
      if (!Array.isArray(names)) throw new CoreError("config", `placement: worker "${w}" needs a list of component names`, { field: "placement" });
      if (names.length === 0) continue;
      workers.push(w);
      for (const n of names) {
        const c = components.get(n);
        if (!c) throw new CoreError("config", `placement: worker "${w}" lists "${n}", which is not a component`, { component: n, field: "placement" });
        const prev = placedOn.get(n);
        if (prev !== undefined) throw new CoreError("config", `placement: component "${n}" is placed on both "${prev}" and "${w}"`, { component: n, field: "placement" });
        if (!c.ref) {
          throw new CoreError("config", `placement: component "${n}" (${c.className}) runs on worker "${w}" and so must be given as { module, export } or have a static ref, for the worker to import it`, {
            component: n,
            field: "placement",
          });
        }
        placedOn.set(n, w);
      }
    }
  }
  return { components, links, placedOn, workers };
}
