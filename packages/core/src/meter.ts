/**
 * Charging costs: every component gets one {@link Meter}; it charges the
 * work it does (CPU cycles, busy time of a hardware stage, output latency)
 * and the engine turns the charges into modelled time.
 *
 * A meter belongs to a {@link Resource}: a CPU core or a hardware stage.
 * Components that share a resource (two apps pinned to one core) share its
 * busy time. Under the model clock an activation starts at
 * max(now, resource.busyUntil); each charge moves the component's local
 * time `t` forward; packets it transmits are stamped `t + outDelay`; when
 * the activation ends the resource is busy until `t`. Under real time the
 * same calls only add to the totals, so the code of a component is the same
 * under both clocks and a real run still reports modelled cycles.
 */
import type { Clock } from "./clock.js";
import type { CostRates, StageRates } from "./cost.js";
import { CoreError } from "./errors.js";

export type ResourceKind = "cpu" | "hw";

/** A CPU core or a hardware stage that components charge their work to. */
export class Resource {
  /** Modelled time at which the resource is free again. */
  busyUntil = 0;
  /** Modelled ns spent busy. */
  busyNs = 0;
  /** CPU cycles charged (cpu resources). */
  cycles = 0;
  /** Activations that charged anything. */
  activations = 0;

  constructor(
    readonly name: string,
    readonly kind: ResourceKind = "cpu",
  ) {}

  snapshot(): ResourceSnapshot {
    return { kind: this.kind, busyNs: this.busyNs, cycles: this.cycles, activations: this.activations };
  }
}

export interface ResourceSnapshot {
  kind: ResourceKind;
  busyNs: number;
  cycles: number;
  activations: number;
}

export class Meter {
  /** Local modelled time during an activation (model clock). */
  t = 0;
  /** Extra delay added to the stamps of packets transmitted in this activation. */
  outDelay = 0;
  /** Total cycles this component charged. */
  totalCycles = 0;
  /** Total busy ns this component charged (cycles converted, plus busy()). */
  totalBusyNs = 0;
  private start = 0;
  private readonly nsPerCycle: number;
  readonly model: boolean;

  constructor(
    readonly clock: Clock,
    readonly rates: CostRates,
    readonly resource: Resource,
  ) {
    this.model = clock.kind === "model";
    this.nsPerCycle = 1e9 / rates.cpuHz;
  }

  /** The component's view of time: its local modelled time, or wall time. */
  now(): number {
    return this.model ? this.t : this.clock.now();
  }

  /** Charge host CPU cycles (converted at the cost model's cpuHz). */
  cycles(n: number): void {
    this.totalCycles += n;
    this.resource.cycles += n;
    const ns = n * this.nsPerCycle;
    this.totalBusyNs += ns;
    this.t += ns;
  }

  /** Occupy the resource for `ns` (e.g. `packets / ratePps` of a hardware stage). */
  busy(ns: number): void {
    this.totalBusyNs += ns;
    this.t += ns;
  }

  /** Delay the visibility of what this activation transmits from now on by `ns`, without occupying the resource (DMA, PCIe, pipeline latency). */
  latency(ns: number): void {
    this.outDelay += ns;
  }

  /** Charge `packets` through hardware stage `stage`: busy packets/rate, and the stage's latency on the output. */
  stage(stage: string | StageRates, packets: number): void {
    const s = typeof stage === "string" ? this.rates.stages[stage] : stage;
    if (s === undefined) throw new CoreError("usage", `cost model has no hardware stage "${String(stage)}" (stages: ${Object.keys(this.rates.stages).join(", ")})`);
    this.busy(packets * s.nsPerPacket);
    if (s.latencyNs > this.outDelay) this.outDelay = s.latencyNs;
  }

  /** Engine: an activation starts at `now`. */
  begin(now: number): void {
    const b = this.resource.busyUntil;
    this.start = b > now ? b : now;
    this.t = this.start;
    this.outDelay = 0;
  }

  /** Engine: the activation ended; the resource is busy until the local time. */
  end(): void {
    const d = this.t - this.start;
    if (d > 0) {
      this.resource.busyNs += d;
      this.resource.activations++;
      if (this.model) this.resource.busyUntil = this.t;
    }
  }
}
