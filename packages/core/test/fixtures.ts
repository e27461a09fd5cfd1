/**
 * Test components. Exported with static refs so workers can import them.
 */
import { isMainThread } from "node:worker_threads";
import { z } from "zod";
import { App, Burst, CounterSet, portApp, type AppContext, type ModuleRef, type Port } from "../src/index.js";

/** Swaps destination and source MAC addresses in place (testpmd's macswap), charging cyclesPerPacketBase per packet. */
export class MacSwap extends App {
  static readonly schema = z.object({ cyclesPerPacket: z.number().nonnegative().optional() }).strict();
  static readonly inputs = ["in"] as const;
  static readonly outputs = ["out"] as const;
  static readonly ref: ModuleRef = { module: import.meta.url, export: "MacSwap" };
  private readonly burst = new Burst();
  private readonly cycles: number;

  constructor(options: z.output<typeof MacSwap.schema>, ctx: AppContext) {
    super(ctx, ["packets"]);
    this.cycles = options.cyclesPerPacket ?? ctx.cost.cyclesPerPacketBase;
  }

  push(): void {
    const input = this.input["in"];
    const out = this.output["out"];
    if (!input || !out) return;
    const pool = this.ctx.pool;
    const d = pool.data;
    const b = this.burst;
    while (input.receiveBurst(b) > 0) {
      for (let k = 0; k < b.count; k++) {
        const s = pool.start(b.idx[k]!);
        for (let j = 0; j < 6; j++) {
          const t = d[s + j]!;
          d[s + j] = d[s + 6 + j]!;
          d[s + 6 + j] = t;
        }
      }
      this.counters.values[0]! += b.count;
      this.ctx.meter.cycles(b.count * this.cycles);
      out.transmitBurst(b);
    }
  }
}

/** Records every packet as hex (tests only: allocates per packet), with the time it arrived, then frees it. */
export class Recorder extends App {
  static readonly schema = z.object({ cyclesPerPacket: z.number().nonnegative().default(0) }).strict();
  static readonly inputs = ["in"] as const;
  static readonly ref: ModuleRef = { module: import.meta.url, export: "Recorder" };
  readonly seen: string[] = [];
  readonly times: number[] = [];
  private readonly burst = new Burst();
  private readonly cycles: number;

  constructor(options: z.output<typeof Recorder.schema>, ctx: AppContext) {
    super(ctx, ["packets", "bytes"]);
    this.cycles = options.cyclesPerPacket;
  }

  push(): void {
    const input = this.input["in"];
    if (!input) return;
    const pool = this.ctx.pool;
    const b = this.burst;
    while (input.receiveBurst(b) > 0) {
      for (let k = 0; k < b.count; k++) {
        const i = b.idx[k]!;
        this.seen.push(Buffer.from(pool.bytes(i)).toString("hex"));
        this.times.push(this.ctx.meter.now());
        this.counters.values[1]! += pool.len[i]!;
      }
      this.counters.values[0]! += b.count;
      this.ctx.meter.cycles(b.count * this.cycles);
      pool.freeBurst(b);
    }
  }
}

/** Holds the first buffer it receives forever, frees it on stop (to test stop()). */
export class Holder extends App {
  static readonly schema = z.object({}).strict();
  static readonly inputs = ["in"] as const;
  static readonly ref: ModuleRef = { module: import.meta.url, export: "Holder" };
  held = -1;
  stopped = false;
  constructor(_o: unknown, ctx: AppContext) {
    super(ctx, ["held"]);
  }
  push(): void {
    const input = this.input["in"];
    if (!input) return;
    for (let i = input.receive(); i >= 0; i = input.receive()) {
      if (this.held < 0) {
        this.held = i;
        this.counters.values[0] = 1;
      } else this.ctx.pool.free(i);
    }
  }
  stop(): void {
    if (this.held >= 0) this.ctx.pool.free(this.held);
    this.stopped = true;
  }
}

/** A loopback device: what it is sent it receives back, up to `depth` packets queued. */
export class LoopbackPort implements Port {
  readonly counters = new CounterSet(["rxPackets", "txPackets", "txFull"]);
  private readonly q: number[] = [];
  constructor(private readonly depth: number) {}
  rx(burst: Burst): number {
    let n = 0;
    while (this.q.length > 0 && burst.count < burst.capacity) {
      burst.idx[burst.count++] = this.q.shift()!;
      n++;
    }
    this.counters.values[0]! += n;
    return n;
  }
  tx(burst: Burst): number {
    const k = Math.min(burst.count, this.depth - this.q.length);
    for (let j = 0; j < k; j++) this.q.push(burst.idx[j]!);
    this.counters.values[1]! += k;
    this.counters.values[2]! += burst.count - k;
    return k;
  }
}

export const Loopback = portApp({
  schema: z.object({ depth: z.number().int().positive().default(64) }).strict(),
  create: (o) => new LoopbackPort(o.depth),
  ref: { module: import.meta.url, export: "Loopback" },
});

/** Ethernet frames of known content: dst, src, EtherType, payload. */
export function frame(dst: number, src: number, etherType: number, payloadLen: number, fill: number): string {
  const b = Buffer.alloc(14 + payloadLen, fill);
  b.fill(0, 0, 12);
  b[5] = dst;
  b[11] = src;
  b.writeUInt16BE(etherType, 12);
  return b.toString("hex");
}

/** Refuses to be constructed on a worker thread (to test how worker errors reach the main thread). */
export class MainOnly extends App {
  static readonly schema = z.object({}).strict();
  static readonly ref: ModuleRef = { module: import.meta.url, export: "MainOnly" };
  constructor(_o: unknown, ctx: AppContext) {
    super(ctx);
    if (!isMainThread) throw new Error("no workers for me");
  }
}
