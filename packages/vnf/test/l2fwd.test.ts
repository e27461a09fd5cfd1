import { describe, expect, it } from "vitest";
import { L2Fwd, MacSwap } from "../src/l2fwd.js";
import { DropReason, drop } from "../src/verdict.js";
import { packet } from "./helpers/frames.js";
import { run } from "./helpers/run.js";

const udp = (dstMac: string, srcMac: string) => packet({ dstMac, srcMac, src: "10.0.0.1", dst: "10.0.0.2", proto: "udp", padTo: 60 });

describe("MacSwap", () => {
  it("swaps destination and source MAC and leaves every other byte alone", () => {
    const vnf = new MacSwap();
    const inp = udp("02:00:00:00:00:aa", "02:00:00:00:00:bb");
    const { verdicts, out } = run(vnf, [inp]);
    expect(verdicts).toEqual([0]);
    const want = udp("02:00:00:00:00:bb", "02:00:00:00:00:aa");
    expect(Array.from(out[0]!)).toEqual(Array.from(want));
    expect(vnf.counters.snapshot(true)).toEqual({ rx: 1, tx: 1 });
  });

  it("sends to the paired port, drops short frames and unknown ports", () => {
    const vnf = new MacSwap({ ports: 2, output: "paired" });
    expect(run(vnf, [udp("02:00:00:00:00:01", "02:00:00:00:00:02")], 1).verdicts).toEqual([0]);
    expect(run(vnf, [new Uint8Array(13)], 0).verdicts).toEqual([drop(DropReason.Malformed)]);
    expect(run(vnf, [udp("02:00:00:00:00:01", "02:00:00:00:00:02")], 5).verdicts).toEqual([drop(DropReason.BadPort)]);
    expect(vnf.counters.get("drop.malformed")).toBe(1);
    expect(vnf.counters.get("drop.bad-port")).toBe(1);
    expect(vnf.counters.get("dropped")).toBe(2);
  });

  it("names the field and reason of a bad configuration", () => {
    expect(() => new MacSwap({ ports: 3, output: "paired" })).toThrow(/ports: must be even/);
    expect(() => new MacSwap({ ports: 0 })).toThrow(/ports: Number must be greater than or equal to 1/);
  });
});

describe("L2Fwd", () => {
  it("forwards port i to i^1 and rewrites the MACs of the output port", () => {
    const vnf = new L2Fwd({
      ports: [{ mac: "02:00:00:00:00:10", peerMac: "02:00:00:00:00:a0" }, { mac: "02:00:00:00:00:11", peerMac: "02:00:00:00:00:a1" }],
    });
    const r0 = run(vnf, [udp("02:00:00:00:00:10", "02:00:00:00:00:a0")], 0);
    expect(r0.verdicts).toEqual([1]);
    expect(Array.from(r0.out[0]!)).toEqual(Array.from(udp("02:00:00:00:00:a1", "02:00:00:00:00:11")));
    const r1 = run(vnf, [udp("02:00:00:00:00:11", "02:00:00:00:00:a1")], 1);
    expect(r1.verdicts).toEqual([0]);
    expect(Array.from(r1.out[0]!)).toEqual(Array.from(udp("02:00:00:00:00:a0", "02:00:00:00:00:10")));
  });

  it("without MACs forwards the frame untouched; one port loops to itself", () => {
    const pair = new L2Fwd({ ports: [{}, {}] });
    const f = udp("02:00:00:00:00:01", "02:00:00:00:00:02");
    const r = run(pair, [f, f], 1);
    expect(r.verdicts).toEqual([0, 0]);
    expect(Array.from(r.out[1]!)).toEqual(Array.from(f));
    expect(run(new L2Fwd({ ports: [{}] }), [f]).verdicts).toEqual([0]);
  });

  it("refuses an odd port count and a bad MAC, naming the field", () => {
    expect(() => new L2Fwd({ ports: [{}, {}, {}] })).toThrow(/ports: needs 1 or an even number/);
    expect(() => new L2Fwd({ ports: [{ mac: "02:00:00:00:00" }, {}] })).toThrow(/ports\[0\]\.mac: "02:00:00:00:00" is not a MAC address/);
  });
});
