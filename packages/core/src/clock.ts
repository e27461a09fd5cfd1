/**
 * Two clocks, one interface.
 *
 * Components ask their context for `now()` and charge costs to their
 * {@link Meter}; they never read wall time themselves. Under
 * {@link RealClock} time is this machine's monotonic clock and charges are
 * only tallied. Under {@link ModelClock} time is modelled: a deterministic
 * discrete-event scheduler, and charged costs decide when each component is
 * free again and when its output becomes visible downstream.
 *
 * Times are nanoseconds as JavaScript numbers. Real time is an integer
 * count of ns since the clock was made. Modelled time may carry fractions of
 * a ns (a cost of 100 cycles at 3 GHz is 33.3 ns): fractions are kept rather
 * than rounded so that costs do not drift, and because the model reads no
 * wall clock and no random source, and IEEE-754 arithmetic is deterministic,
 * a run is identical bit for bit every time. Below 2^53 ns (104 days) every
 * integer ns is exact.
 */
import { CoreError } from "./errors.js";

export type ClockKind = "real" | "model";

export interface Clock {
  readonly kind: ClockKind;
  /** Nanoseconds since the clock started. */
  now(): number;
}

/** Wall time: `process.hrtime.bigint()` since construction, as a number of ns. */
export class RealClock implements Clock {
  readonly kind = "real" as const;
  private readonly origin: bigint;

  constructor() {
    this.origin = process.hrtime.bigint();
  }

  now(): number {
    return Number(process.hrtime.bigint() - this.origin);
  }
}

/** Something the model clock calls back at a scheduled time. An object, so no closure is made per event. */
export interface EventHandler {
  onEvent(time: number, arg: number): void;
}

export type EventCallback = EventHandler | ((time: number, arg: number) => void);

/**
 * A deterministic discrete-event scheduler. Events are ordered by time,
 * then by the order they were scheduled in (a sequence number), kept in a
 * binary heap over parallel arrays.
 */
export class ModelClock implements Clock {
  readonly kind = "model" as const;
  private t = 0;
  private seq = 0;
  private n = 0;
  private times = new Float64Array(64);
  private seqs = new Float64Array(64);
  private args = new Float64Array(64);
  private handlers: (EventCallback | undefined)[] = new Array(64);
  /** Events run so far. */
  eventsRun = 0;

  now(): number {
    return this.t;
  }

  /** Events waiting. */
  get pending(): number {
    return this.n;
  }

  /** Time of the next event, or Infinity. */
  nextTime(): number {
    return this.n === 0 ? Infinity : this.times[0]!;
  }

  /** Run `handler` at modelled time `at` (never before now). Returns the event's sequence number. */
  schedule(at: number, handler: EventCallback, arg = 0): number {
    if (!(at >= this.t)) throw new CoreError("usage", `cannot schedule at ${at} ns: the model clock is already at ${this.t} ns`);
    if (this.n === this.times.length) this.grow();
    const s = this.seq++;
    let i = this.n++;
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(at, s, p)) {
        this.move(p, i);
        i = p;
      } else break;
    }
    this.times[i] = at;
    this.seqs[i] = s;
    this.args[i] = arg;
    this.handlers[i] = handler;
    return s;
  }

  /** Run `handler` `delay` ns from now. */
  after(delay: number, handler: EventCallback, arg = 0): number {
    return this.schedule(this.t + delay, handler, arg);
  }

  /** Move time forward to `to` without running anything (nothing may be due before it). */
  advanceTo(to: number): void {
    if (!(to >= this.t)) throw new CoreError("usage", `the model clock cannot go back from ${this.t} to ${to} ns`);
    if (this.n > 0 && this.times[0]! < to) throw new CoreError("usage", `cannot advance to ${to} ns past an event due at ${this.times[0]} ns`);
    this.t = to;
  }

  /**
   * Advance to the next event time and run every event due then (including
   * ones they schedule for that same time), in (time, sequence) order.
   * Returns false when nothing is scheduled.
   */
  step(): boolean {
    if (this.n === 0) return false;
    const at = this.times[0]!;
    this.t = at;
    while (this.n > 0 && this.times[0] === at) {
      const h = this.handlers[0]!;
      const arg = this.args[0]!;
      this.pop();
      this.eventsRun++;
      if (typeof h === "function") h(at, arg);
      else h.onEvent(at, arg);
    }
    return true;
  }

  /** Run events until the next one is later than `until` (then time is `until`), or none is left. */
  runUntil(until: number): void {
    while (this.n > 0 && this.times[0]! <= until) this.step();
    if (until > this.t && until !== Infinity) this.t = until;
  }

  private less(t: number, s: number, j: number): boolean {
    const tj = this.times[j]!;
    return t < tj || (t === tj && s < this.seqs[j]!);
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.seqs[to] = this.seqs[from]!;
    this.args[to] = this.args[from]!;
    this.handlers[to] = this.handlers[from];
  }

  private pop(): void {
    const last = --this.n;
    if (last === 0) {
      this.handlers[0] = undefined;
      return;
    }
    const t = this.times[last]!;
    const s = this.seqs[last]!;
    const a = this.args[last]!;
    const h = this.handlers[last];
    this.handlers[last] = undefined;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.less(this.times[r]!, this.seqs[r]!, l) ? r : l;
      // Keys are unique (sequence numbers), so "not (t, s) < c" means c < (t, s).
      if (this.less(t, s, c)) break;
      this.move(c, i);
      i = c;
    }
    this.times[i] = t;
    this.seqs[i] = s;
    this.args[i] = a;
    this.handlers[i] = h;
  }

  private grow(): void {
    const n = this.times.length * 2;
    const t = new Float64Array(n);
    t.set(this.times);
    this.times = t;
    const s = new Float64Array(n);
    s.set(this.seqs);
    this.seqs = s;
    const a = new Float64Array(n);
    a.set(this.args);
    this.args = a;
    this.handlers.length = n;
  }
}
