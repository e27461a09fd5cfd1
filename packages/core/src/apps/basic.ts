/**
 * Basic components, enough to build, test and measure graphs:
 *
 * ```
 *  Source ──out──▶      ──in──▶ Sink          ──in──▶ Filter ──out──▶ (matching EtherType)
 *  ──*──▶ Join ──out──▶        ──in──▶ Tee ──*──▶ (a copy on every output)
 * ```
 *
 * Every one charges its cost per burst through its meter, so the same
 * graph runs under real time and under the model clock.
 */
import { Burst } from "@nfvio/packet";
import { z } from "zod";
import { App, type AppContext, type ModuleRef } from "../component.js";
import type { Link } from "../link.js";

/**
 * Where workers import these classes from: the package entry, which
 * re-exports them. Relative to this file in `src/apps/`, or to the bundle
 * chunk in `dist/` after a build.
 */
const ENTRY = new URL(import.meta.url.endsWith(".ts") ? "../index.ts" : "./index.js", import.meta.url).href;

const hexPacket = z
  .string()
  .regex(/^([0-9a-fA-F]{2})+$/, "must be an even number of hex digits")
  .refine((s) => s.length >= 28, { message: "must be at least 14 bytes (an Ethernet header)" });

const cycles = z.number().finite().nonnegative();

/**
 * Emits copies of template packets, in order, round-robin over the
 * templates, `count` packets in all (default: each template once), at most
 * `budget` per breath. Charges `cyclesPerPacket` (default: the cost model's
 * cyclesPerPacketBase) and, when `ratePps` is set, occupies its resource
 * 1/ratePps per packet (a rate-limited generator under the model clock).
 */
export class Source extends App {
  static readonly schema = z
    .object({
      packets: z.array(hexPacket).min(1),
      count: z.number().int().nonnegative().optional(),
      cyclesPerPacket: cycles.optional(),
      ratePps: z.number().positive().optional(),
    })
    .strict();
  static readonly outputs = ["out"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "Source" };

  private readonly templates: Uint8Array[];
  private readonly total: number;
  private sent = 0;
  private next = 0;
  private readonly burst = new Burst();
  private readonly cyclesPerPacket: number;
  private readonly nsPerPacket: number;
  private readonly P: number;
  private readonly B: number;
  private readonly F: number;

  constructor(options: z.output<typeof Source.schema>, ctx: AppContext) {
    super(ctx, ["packets", "bytes", "allocFailures"]);
    this.templates = options.packets.map((h) => Uint8Array.from(Buffer.from(h, "hex")));
    this.total = options.count ?? options.packets.length;
    this.cyclesPerPacket = options.cyclesPerPacket ?? ctx.cost.cyclesPerPacketBase;
    this.nsPerPacket = options.ratePps === undefined ? 0 : 1e9 / options.ratePps;
    this.P = this.counters.id("packets");
    this.B = this.counters.id("bytes");
    this.F = this.counters.id("allocFailures");
  }

  /** Packets still to send. */
  get remaining(): number {
    return this.total - this.sent;
  }

  pull(budget: number): void {
    const out = this.output["out"];
    const pool = this.ctx.pool;
    const meter = this.ctx.meter;
    const c = this.counters.values;
    let todo = Math.min(budget, this.total - this.sent);
    const b = this.burst;
    while (todo > 0) {
      b.clear();
      const want = Math.min(todo, b.capacity);
      const got = pool.allocBurst(b, want);
      if (got < want) c[this.F]! += want - got;
      if (got === 0) break;
      let bytes = 0;
      for (let k = 0; k < got; k++) {
        const i = b.idx[k]!;
        const t = this.templates[this.next]!;
        this.next = this.next + 1 === this.templates.length ? 0 : this.next + 1;
        pool.data.set(t, pool.start(i));
        pool.len[i] = t.length;
        bytes += t.length;
      }
      meter.cycles(got * this.cyclesPerPacket);
      if (this.nsPerPacket > 0) meter.busy(got * this.nsPerPacket);
      c[this.P]! += got;
      c[this.B]! += bytes;
      this.sent += got;
      todo -= got;
      if (out) out.transmitBurst(b);
      else pool.freeBurst(b);
    }
  }
}

/** Receives and frees everything on any input port. */
export class Sink extends App {
  static readonly schema = z.object({ cyclesPerPacket: cycles.default(0) }).strict();
  static readonly inputs = ["*"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "Sink" };
  private readonly burst = new Burst();
  private readonly links: Link[] = [];
  private readonly cyclesPerPacket: number;

  constructor(options: z.output<typeof Sink.schema>, ctx: AppContext) {
    super(ctx, ["packets", "bytes"]);
    this.cyclesPerPacket = options.cyclesPerPacket;
  }

  linked(): void {
    this.links.length = 0;
    for (const l of Object.values(this.input)) if (l) this.links.push(l);
  }

  push(): void {
    const pool = this.ctx.pool;
    const c = this.counters.values;
    const b = this.burst;
    for (const l of this.links) {
      while (l.receiveBurst(b) > 0) {
        let bytes = 0;
        for (let k = 0; k < b.count; k++) bytes += pool.len[b.idx[k]!]!;
        c[0]! += b.count;
        c[1]! += bytes;
        this.ctx.meter.cycles(b.count * this.cyclesPerPacket);
        pool.freeBurst(b);
      }
    }
  }
}

/** Passes packets whose EtherType (bytes 12-13, untagged) equals `etherType`; frees and counts the rest. */
export class Filter extends App {
  static readonly schema = z
    .object({
      etherType: z.number().int().min(0).max(0xffff),
      cyclesPerPacket: cycles.optional(),
    })
    .strict();
  static readonly inputs = ["in"] as const;
  static readonly outputs = ["out"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "Filter" };
  private readonly burst = new Burst();
  private readonly pass = new Burst();
  private readonly etherType: number;
  private readonly cyclesPerPacket: number;

  constructor(options: z.output<typeof Filter.schema>, ctx: AppContext) {
    super(ctx, ["passed", "dropped"]);
    this.etherType = options.etherType;
    this.cyclesPerPacket = options.cyclesPerPacket ?? ctx.cost.cyclesPerPacketBase;
  }

  push(): void {
    const input = this.input["in"];
    const out = this.output["out"];
    if (!input) return;
    const pool = this.ctx.pool;
    const data = pool.data;
    const c = this.counters.values;
    const b = this.burst;
    const pass = this.pass;
    while (input.receiveBurst(b) > 0) {
      pass.clear();
      for (let k = 0; k < b.count; k++) {
        const i = b.idx[k]!;
        const s = pool.start(i);
        if (pool.len[i]! >= 14 && ((data[s + 12]! << 8) | data[s + 13]!) === this.etherType) pass.idx[pass.count++] = i;
        else {
          pool.free(i);
          c[1]! += 1;
        }
      }
      this.ctx.meter.cycles(b.count * this.cyclesPerPacket);
      b.clear();
      c[0]! += pass.count;
      if (out) out.transmitBurst(pass);
      else pool.freeBurst(pass);
    }
  }
}

/** Forwards every input port onto `out`, in port order. */
export class Join extends App {
  static readonly schema = z.object({}).strict();
  static readonly inputs = ["*"] as const;
  static readonly outputs = ["out"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "Join" };
  private readonly burst = new Burst();
  private readonly links: Link[] = [];

  constructor(_options: z.output<typeof Join.schema>, ctx: AppContext) {
    super(ctx, ["packets"]);
  }

  linked(): void {
    this.links.length = 0;
    for (const l of Object.values(this.input)) if (l) this.links.push(l);
  }

  push(): void {
    const out = this.output["out"];
    const b = this.burst;
    for (const l of this.links) {
      while (l.receiveBurst(b) > 0) {
        this.counters.values[0]! += b.count;
        if (out) out.transmitBurst(b);
        else this.ctx.pool.freeBurst(b);
      }
    }
  }
}

/** Sends each input packet to every output port: the original to the first, copies to the rest. */
export class Tee extends App {
  static readonly schema = z.object({}).strict();
  static readonly inputs = ["in"] as const;
  static readonly outputs = ["*"] as const;
  static readonly ref: ModuleRef = { module: ENTRY, export: "Tee" };
  private readonly burst = new Burst();
  private readonly outs: Link[] = [];

  constructor(_options: z.output<typeof Tee.schema>, ctx: AppContext) {
    super(ctx, ["packets", "copyFailures"]);
  }

  linked(): void {
    this.outs.length = 0;
    for (const l of Object.values(this.output)) if (l) this.outs.push(l);
  }

  push(): void {
    const input = this.input["in"];
    if (!input) return;
    const pool = this.ctx.pool;
    const b = this.burst;
    const c = this.counters.values;
    while (input.receiveBurst(b) > 0) {
      c[0]! += b.count;
      for (let k = 0; k < b.count; k++) {
        const i = b.idx[k]!;
        for (let o = 1; o < this.outs.length; o++) {
          const j = pool.clone(i);
          if (j < 0) c[1]! += 1;
          else this.outs[o]!.transmit(j);
        }
        if (this.outs.length > 0) this.outs[0]!.transmit(i);
        else pool.free(i);
      }
      b.clear();
    }
  }
}
