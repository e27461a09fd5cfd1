/**
 * Generator speed on one thread, for `pnpm bench` and `nfvio bench gen`:
 * 64-byte UDP/IPv4 frames from a template with four varied fields (source
 * address incrementing over 1000 values, destination address random,
 * source port decrementing, destination port random), each with its
 * signature and both checksums patched, written into pool buffers in
 * bursts of 32 and freed again, as fast as the loop goes (no pacing).
 */
import { Burst, PacketPool } from "@nfvio/packet";
import { Generator } from "./generator.js";

export interface GenBenchResult {
  /** Million frames generated per wall-clock second. */
  mpps: number;
  /** Million frames per second of CPU time used by the process (user + system). */
  cpuMpps: number;
  frames: number;
  seconds: number;
  cpuSeconds: number;
  frameSize: number;
  fields: number;
  burst: number;
}

/** Generate for about `seconds` seconds; returns the rate. */
export function benchGen(seconds = 1, burst = 32): GenBenchResult {
  const pool = new PacketPool({ count: 1024 });
  const gen = new Generator(
    pool,
    [
      {
        size: 64,
        rate: "100%",
        fields: [
          { field: "srcIp", mode: "inc", count: 1000 },
          { field: "dstIp", mode: "random" },
          { field: "srcPort", mode: "dec", from: 1024, to: 65535 },
          { field: "dstPort", mode: "random", from: 1, to: 65535 },
        ],
      },
    ],
    { batch: burst },
  );
  const b = new Burst(burst);
  const loop = (bursts: number): number => {
    let n = 0;
    for (let k = 0; k < bursts; k++) {
      b.clear();
      n += gen.fillUntil(b, Infinity);
      pool.freeBurst(b);
    }
    return n;
  };
  loop(20_000); // warm up: optimised code before timing
  let frames = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  do {
    frames += loop(2_000);
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < budget);
  const cpu = process.cpuUsage(c0);
  gen.close();
  const secs = Number(elapsed) / 1e9;
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  return { mpps: frames / secs / 1e6, cpuMpps: frames / cpuSecs / 1e6, frames, seconds: secs, cpuSeconds: cpuSecs, frameSize: 64, fields: 4, burst };
}
