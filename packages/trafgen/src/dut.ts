/**
 * A built-in device under test: a {@link Port} that forwards every frame it
 * is given back out of its receive side, through a single-server queue with
 * a set capacity, and optionally loses, duplicates or reorders frames. It
 * serves the CLI (`nfvio gen` runs against it) and the tests (a device of
 * known capacity for the RFC 2544 searches).
 *
 * ```
 *            ┌──────────────── LoopbackPort ────────────────┐
 *  tx(burst) │ impair (loss, dup, reorder) ─▶ queue (≤ queue │ rx(burst)
 *  ─────────▶│ frames) ─▶ server at capacity pps ─▶ +latency ├──────────▶
 *            └──────────────────────────────────────────────┘
 * ```
 *
 * Timing follows the `Clock` it is given: frame arriving at `t` departs at
 * `max(t, previous departure) + 1/capacity + latency`; a frame that would
 * wait behind `queue` frames or more is dropped (`queueDrops`). Under a
 * {@link ModelClock} this is an exact M/D/1-style model; `nextRxAt()` tells
 * a driver when the next frame leaves, so polls happen exactly then. Loss,
 * duplication and reordering draw from a seeded xorshift32 generator, so a
 * run is repeatable.
 */
import { CounterSet, type Clock, type Port } from "@nfvio/core";
import type { Burst, PacketPool } from "@nfvio/packet";
import { z } from "zod";
import { TrafgenError } from "./errors.js";

export const dutSchema = z
  .object({
    /** Frames per second the device forwards (default: unlimited). */
    capacityPps: z.number().positive().default(Infinity),
    /** Frames that may wait in the queue (default 256). */
    queue: z.number().int().positive().default(256),
    /** Fixed latency added to every frame, ns (default 0). */
    latencyNs: z.number().nonnegative().default(0),
    /** Probability that a frame is lost (default 0). */
    loss: z.number().min(0).max(1).default(0),
    /** Probability that a frame is duplicated (default 0). */
    duplicate: z.number().min(0).max(1).default(0),
    /** Probability that a frame is held back (default 0)... */
    reorder: z.number().min(0).max(1).default(0),
    /** ...and released after this many later frames (default 3). */
    reorderDepth: z.number().int().positive().default(3),
    /** Seed of the impairment draws. */
    seed: z.number().int().default(1),
  })
  .strict();

export type DutSpec = z.input<typeof dutSchema>;

/** A port that can say when its next received frame is due (model clock drivers poll then). */
export interface TimedPort extends Port {
  /** Time of the next frame `rx` would return, or Infinity. */
  nextRxAt(): number;
}

export const DUT_COUNTERS = ["txPackets", "rxPackets", "lost", "duplicated", "reordered", "queueDrops", "cloneFailures"] as const;

export class LoopbackPort implements TimedPort {
  readonly counters = new CounterSet(DUT_COUNTERS);
  readonly options: z.output<typeof dutSchema>;
  private readonly c = this.counters.values;
  private readonly nsPerFrame: number;
  private ring: Uint32Array;
  private times: Float64Array;
  private head = 0;
  private size = 0;
  private lastDeparture = -Infinity;
  private rng: number;
  /** Frames held back for reordering, with the number of frames still to pass them. */
  private readonly held: number[] = [];
  private readonly heldLeft: number[] = [];

  constructor(
    readonly pool: PacketPool,
    readonly clock: Clock,
    options: DutSpec = {},
  ) {
    const p = dutSchema.safeParse(options);
    if (!p.success) {
      const i = p.error.issues[0]!;
      throw new TrafgenError("config", `device under test: ${i.path.join(".")}: ${i.message}`, { field: i.path.join(".") });
    }
    this.options = p.data;
    this.nsPerFrame = Number.isFinite(p.data.capacityPps) ? 1e9 / p.data.capacityPps : 0;
    const cap = 1 << Math.ceil(Math.log2(Math.max(64, p.data.queue * 2 + 64)));
    this.ring = new Uint32Array(cap);
    this.times = new Float64Array(cap);
    this.rng = p.data.seed >>> 0 || 0x2545f491;
  }

  private rand(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng / 4294967296;
  }

  tx(burst: Burst): number {
    const now = this.clock.now();
    const o = this.options;
    const c = this.c;
    const impair = o.loss > 0 || o.duplicate > 0 || o.reorder > 0;
    for (let k = 0; k < burst.count; k++) {
      const i = burst.idx[k]!;
      c[0]! += 1;
      if (!impair) {
        this.enqueue(i, now);
        continue;
      }
      if (o.loss > 0 && this.rand() < o.loss) {
        c[2]! += 1;
        this.pool.free(i);
        this.release(now);
        continue;
      }
      if (o.reorder > 0 && this.rand() < o.reorder) {
        c[4]! += 1;
        this.held.push(i);
        this.heldLeft.push(o.reorderDepth);
        continue;
      }
      this.enqueue(i, now);
      if (o.duplicate > 0 && this.rand() < o.duplicate) {
        const j = this.pool.clone(i);
        if (j < 0) c[6]! += 1;
        else {
          c[3]! += 1;
          this.enqueue(j, now);
        }
      }
      this.release(now);
    }
    return burst.count;
  }

  /** One more frame went by: held frames whose count reaches 0 go into the queue. */
  private release(now: number): void {
    for (let h = 0; h < this.held.length; ) {
      this.heldLeft[h]! -= 1;
      if (this.heldLeft[h]! <= 0) {
        const i = this.held[h]!;
        this.held.splice(h, 1);
        this.heldLeft.splice(h, 1);
        this.enqueue(i, now);
      } else h++;
    }
  }

  private enqueue(i: number, now: number): void {
    const start = this.lastDeparture > now ? this.lastDeparture : now;
    // Frames ahead of this one: the wait divided by the service time.
    if (this.nsPerFrame > 0 && (start - now) / this.nsPerFrame > this.options.queue - 1 + 1e-9) {
      this.c[5]! += 1;
      this.pool.free(i);
      return;
    }
    if (this.size === this.ring.length) this.grow();
    const dep = start + this.nsPerFrame;
    this.lastDeparture = dep;
    const at = (this.head + this.size) & (this.ring.length - 1);
    this.ring[at] = i;
    this.times[at] = dep + this.options.latencyNs;
    this.size++;
  }

  private grow(): void {
    const n = this.ring.length * 2;
    const r = new Uint32Array(n);
    const t = new Float64Array(n);
    for (let k = 0; k < this.size; k++) {
      const from = (this.head + k) & (this.ring.length - 1);
      r[k] = this.ring[from]!;
      t[k] = this.times[from]!;
    }
    this.ring = r;
    this.times = t;
    this.head = 0;
  }

  rx(burst: Burst): number {
    const now = this.clock.now();
    let n = 0;
    const mask = this.ring.length - 1;
    while (this.size > 0 && burst.count < burst.capacity && this.times[this.head]! <= now) {
      burst.idx[burst.count++] = this.ring[this.head]!;
      this.head = (this.head + 1) & mask;
      this.size--;
      n++;
    }
    this.c[1]! += n;
    return n;
  }

  nextRxAt(): number {
    return this.size > 0 ? this.times[this.head]! : Infinity;
  }

  /** Frames inside (queued or held). */
  get backlog(): number {
    return this.size + this.held.length;
  }

  /** Let held-back frames go (end of a run): they join the queue now. */
  flush(): void {
    const now = this.clock.now();
    while (this.held.length > 0) {
      this.heldLeft.shift();
      this.enqueue(this.held.shift()!, now);
    }
  }

  close(): void {
    const mask = this.ring.length - 1;
    while (this.size > 0) {
      this.pool.free(this.ring[this.head]!);
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    for (const i of this.held) this.pool.free(i);
    this.held.length = 0;
    this.heldLeft.length = 0;
  }
}
