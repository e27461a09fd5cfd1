import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import { describe, expect, it } from "vitest";
import { createBurst } from "../src/burst.js";
import { MacSwap } from "../src/l2fwd.js";
import { viewPoolBurst } from "../src/pool.js";
import { hex } from "./helpers/frames.js";

describe("pool-index bursts", () => {
  it("a VNF processes packets in place in @nfvio/packet's pool", () => {
    const pool = new PacketPool({ count: 64 });
    const burst = new Burst(32);
    expect(pool.allocBurst(burst, 4)).toBe(4);
    const frame = buildFrame({ src: "02:00:00:00:00:0a", dst: "02:00:00:00:00:0b", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: {} });
    for (let i = 0; i < 4; i++) {
      const idx = burst.idx[i]!;
      pool.data.set(frame, pool.start(idx));
      pool.len[idx] = frame.length;
      pool.port[idx] = 0;
    }
    const view = createBurst(32);
    const n = viewPoolBurst(pool, burst, view);
    const verdicts = new Int32Array(32);
    expect(new MacSwap().process(view, n, verdicts)).toBe(4);
    const idx = burst.idx[3]!;
    const out = pool.data.subarray(pool.start(idx), pool.start(idx) + pool.len[idx]!);
    expect(hex(out.subarray(0, 12))).toBe("02 00 00 00 00 0a 02 00 00 00 00 0b");
    expect(pool.freeBurst(burst)).toBe(4);
  });
});
