/**
 * Named counters, Snabb-style: a fixed set of names chosen when the VNF is
 * built, values in a `Float64Array` (exact integers to 2^53) that the hot path
 * increments by index. Reading by name is for control paths and displays.
 */
import { DROP_REASON_NAMES } from "./verdict.js";

export class Counters {
  /** Counter names, index-aligned with {@link values}. */
  readonly names: readonly string[];
  /** Counter values; the datapath writes `values[index]` directly. */
  readonly values: Float64Array;
  private readonly index: Map<string, number>;

  constructor(names: readonly string[]) {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) throw new Error(`duplicate counter name "${n}"`);
      seen.add(n);
    }
    this.names = [...names];
    this.values = new Float64Array(names.length);
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  /** Index of counter `name` (throws for an unknown name: a programming error). */
  indexOf(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`unknown counter "${name}"`);
    return i;
  }

  /** Value of counter `name`. */
  get(name: string): number {
    return this.values[this.indexOf(name)]!;
  }

  /** All counters as a plain object (non-zero only when `nonZero`). */
  snapshot(nonZero = false): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) {
      const v = this.values[i]!;
      if (!nonZero || v !== 0) out[this.names[i]!] = v;
    }
    return out;
  }

  /** Set every counter to zero. */
  reset(): void {
    this.values.fill(0);
  }
}

/**
 * The counters every VNF has, at fixed indices 0..: `rx`, `tx` (forwarded),
 * `dropped` (all drop verdicts), then `drop.<reason>` for every
 * {@link DropReason} at `DROP_BASE + reason`.
 */
export const RX = 0;
export const TX = 1;
export const DROPPED = 2;
export const DROP_BASE = 3;

/** Names of the common counters followed by `extra`. */
export function vnfCounterNames(extra: readonly string[] = []): string[] {
  return ["rx", "tx", "dropped", ...DROP_REASON_NAMES.map((r) => `drop.${r}`), ...extra];
}

/** Index of the first VNF-specific counter (after the common ones). */
export const EXTRA_BASE = DROP_BASE + DROP_REASON_NAMES.length;
