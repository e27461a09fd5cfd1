/**
 * Ports: the device-side interface (vhost-net worker, offload device, TAP,
 * a NIC), in the shape of DPDK's rx_burst / tx_burst:
 *
 * - `rx(burst)` appends received buffers to the burst and returns how many;
 * - `tx(burst)` takes `burst.idx[0..k)` and returns k; the caller still owns
 *   `idx[k..count)` (and here the adapter frees them). A port counts its own
 *   refusals (queue full) in its counters, as a driver does.
 *
 * {@link portApp} wraps a port into a component so it can sit in a graph:
 *
 * ```
 *          ┌──────────── portApp(Port) ────────────┐
 *  ──in──▶ │ push: receive bursts ─▶ port.tx(burst) │
 *          │ pull: port.rx(burst) ─▶ transmit ──────┼──out──▶
 *          └────────────────────────────────────────┘
 * ```
 */
import { Burst } from "@nfvio/packet";
import type { z } from "zod";
import type { AppContext, Component, ComponentClass, ModuleRef, OptionsSchema } from "./component.js";
import type { CounterSet } from "./counters.js";
import type { Link } from "./link.js";

export interface Port {
  /** Append received buffers to `burst` (up to its room). Returns how many. */
  rx(burst: Burst): number;
  /** Transmit `burst.idx[0..k)`, returning k; `idx[k..count)` stay with the caller. */
  tx(burst: Burst): number;
  readonly counters: CounterSet;
  /** Release the device (called when its component stops). */
  close?(): void;
}

export interface PortAppDefinition<S extends OptionsSchema> {
  /** Options schema of the component (passed to `create`). */
  readonly schema: S;
  /** Build the port from validated options and the component's context. */
  create(options: z.output<S>, ctx: AppContext): Port;
  /** Where workers import the resulting class from (module URL + the export name you give it). */
  readonly ref?: ModuleRef;
}

/** A component class whose instances wrap one {@link Port}: inputs ["in"], outputs ["out"]. */
export function portApp<S extends OptionsSchema>(def: PortAppDefinition<S>): ComponentClass<S> {
  class PortComponent implements Component {
    static readonly schema = def.schema;
    static readonly inputs = ["in"] as const;
    static readonly outputs = ["out"] as const;
    static readonly ref = def.ref;
    readonly input: Record<string, Link | undefined> = {};
    readonly output: Record<string, Link | undefined> = {};
    readonly counters: CounterSet;
    readonly port: Port;
    private readonly rxBurst = new Burst();
    private readonly txBurst = new Burst();

    constructor(
      options: z.output<S>,
      private readonly ctx: AppContext,
    ) {
      this.port = def.create(options, ctx);
      this.counters = this.port.counters;
    }

    pull(budget: number): void {
      const out = this.output["out"];
      const b = this.rxBurst;
      let left = budget;
      while (left > 0) {
        b.clear();
        const n = this.port.rx(b);
        if (n === 0) break;
        left -= n;
        if (out) out.transmitBurst(b);
        else this.ctx.pool.freeBurst(b);
      }
    }

    push(): void {
      const input = this.input["in"];
      if (!input) return;
      const b = this.txBurst;
      while (input.receiveBurst(b) > 0) {
        const k = this.port.tx(b);
        if (k < b.count) this.ctx.pool.freeRange(b.idx, k, b.count);
        b.clear();
      }
    }

    stop(): void {
      this.port.close?.();
    }
  }
  return PortComponent as unknown as ComponentClass<S>;
}
