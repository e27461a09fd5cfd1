import type { Meter } from "@nfvio/core";
import { registerStage, type DeviceStage, type PipelineBatch, type StageEnv } from "@nfvio/offload";
import { z } from "zod";

// 1. Options, checked (with defaults) when a device adds the stage.
export const tokenBucketSchema = z
  .object({
    /** Tokens added per second: the rate frames may pass at. */
    ratePps: z.number().positive(),
    /** Bucket depth: how many frames may pass back to back. */
    burst: z.number().int().positive().default(32),
    /** Meter only frames going to this vport (default: all). */
    vport: z.number().int().min(0).optional(),
  })
  .strict();

export type TokenBucketOptions = z.output<typeof tokenBucketSchema>;

// 2. The stage: a token bucket. Time is the stage's meter's: modelled
//    time under the model clock, wall time under the real clock.
export class TokenBucketStage implements DeviceStage {
  readonly kind = "tokenBucket";
  private tokens: number;
  private last = -1;
  private readonly cPassed: number;
  private readonly cDropped: number;
  private readonly dropCode: number;

  constructor(
    readonly name: string,
    private readonly o: TokenBucketOptions,
    private readonly env: StageEnv,
  ) {
    this.tokens = o.burst;
    this.cPassed = env.counter("passed");
    this.cDropped = env.counter("dropped");
    this.dropCode = env.dropCode("meter");
  }

  process(b: PipelineBatch, meter: Meter): void {
    const now = meter.now();
    if (this.last >= 0) this.tokens = Math.min(this.o.burst, this.tokens + ((now - this.last) * this.o.ratePps) / 1e9);
    this.last = now;
    const c = this.env.counters;
    for (let k = 0; k < b.count; k++) {
      if (this.o.vport !== undefined && b.dest[k] !== this.o.vport) continue;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        c[this.cPassed]! += 1;
      } else {
        b.drop[k] = this.dropCode; // the device frees the frame and counts drop.meter
        c[this.cDropped]! += 1;
      }
    }
  }
}

// 3. Register the kind, with its counters, drop reason and a default cost.
registerStage({
  kind: "tokenBucket",
  description: "token-bucket meter: frames beyond ratePps (with a burst allowance) are dropped",
  schema: tokenBucketSchema,
  counters: ["passed", "dropped"],
  dropReasons: ["meter"],
  defaultCost: {
    ratePps: { value: 200e6, unit: "packets/s", source: "assumption: a hardware policer keeps up with the pipeline" },
    latencyNs: { value: 10, unit: "ns", source: "assumption" },
  },
  create: (options, env) => new TokenBucketStage(env.name, options, env),
});
