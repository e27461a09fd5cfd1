/**
 * Components, Snabb-style: plain objects constructed from validated options,
 * with named input and output ports (links), an optional `pull()` (sources),
 * an optional `push()` (everything that consumes input), `stop()`, and named
 * counters.
 *
 * A component class carries its option schema (zod, with defaults) and may
 * declare its port names; the engine validates options before construction
 * and refuses links to undeclared ports. To run on a worker thread a
 * component must be importable there: refer to it by {@link ModuleRef}
 * (module URL + export name), or give the class a static `ref`.
 */
import type { PacketPool } from "@nfvio/packet";
import type { z } from "zod";
import type { Clock } from "./clock.js";
import type { CostRates } from "./cost.js";
import { CounterSet } from "./counters.js";
import type { Link } from "./link.js";
import type { Meter } from "./meter.js";

/** Where a worker can import a component class from. */
export interface ModuleRef {
  /** Module URL (e.g. `import.meta.url` of the module that exports the class), or a package specifier. */
  readonly module: string;
  /** Name of the export. */
  readonly export: string;
}

/** What a component gets from the engine when it is constructed. */
export interface AppContext {
  /** The component's name in the graph. */
  readonly name: string;
  /** The pool every buffer in this graph comes from. */
  readonly pool: PacketPool;
  readonly clock: Clock;
  /** Where the component charges its costs. */
  readonly meter: Meter;
  /** The cost model as plain numbers. */
  readonly cost: CostRates;
  /** Packets a source should produce at most per breath. */
  readonly budget: number;
}

export interface Component {
  /** Input links by port name (filled in by the engine). */
  readonly input: Record<string, Link | undefined>;
  /** Output links by port name (filled in by the engine). */
  readonly output: Record<string, Link | undefined>;
  readonly counters: CounterSet;
  /** Sources: produce up to `budget` packets into output links. Called once per breath. */
  pull?(budget: number): void;
  /** Consume input links (called in topological order when some input is readable). */
  push?(): void;
  /** Called after the engine changed this component's links. */
  linked?(): void;
  /** Release resources (free held buffers); called when removed or replaced. */
  stop?(): void;
}

/** A zod schema for a component's options (input type may differ: defaults). */
export type OptionsSchema = z.ZodTypeAny;

export interface ComponentClass<S extends OptionsSchema = OptionsSchema> {
  new (options: z.output<S>, ctx: AppContext): Component;
  /** Options schema, with defaults. */
  readonly schema: S;
  /** Declared input port names; absent or containing "*" means any. */
  readonly inputs?: readonly string[];
  /** Declared output port names; absent or containing "*" means any. */
  readonly outputs?: readonly string[];
  /** Where workers import this class from. */
  readonly ref?: ModuleRef;
}

/**
 * Convenience base class: keeps the context, makes the port records and the
 * counters. Subclasses pass their counter names.
 */
export abstract class App implements Component {
  readonly input: Record<string, Link | undefined> = {};
  readonly output: Record<string, Link | undefined> = {};
  readonly counters: CounterSet;

  constructor(
    readonly ctx: AppContext,
    counterNames: readonly string[] = [],
  ) {
    this.counters = new CounterSet(counterNames);
  }
}
