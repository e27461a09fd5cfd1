import { describe, expect, it } from "vitest";
import { CoreError, CounterSet, counterIndex } from "../src/index.js";

describe("CounterSet", () => {
  it("registers names up front and snapshots as JSON", () => {
    const c = new CounterSet(["rx", "tx"]);
    c.values[c.id("rx")]! += 3;
    c.add("tx", 2);
    expect(c.snapshot()).toEqual({ rx: 3, tx: 2 });
    expect(JSON.parse(JSON.stringify(c))).toEqual({ rx: 3, tx: 2 });
    expect(() => c.add("nope")).toThrow(/no counter "nope" \(counters: rx, tx\)/);
    expect(() => new CounterSet(["a", "a"])).toThrow(CoreError);
  });

  it("reports the non-zero counters in name order", () => {
    const c = new CounterSet(["a", "b", "c", "d"]);
    expect(c.nonZero()).toEqual({});
    c.add("c", 2);
    c.set("a", -1);
    expect(c.nonZero()).toEqual({ a: -1, c: 2 });
    expect(Object.keys(c.nonZero())).toEqual(["a", "c"]);
    expect(c.snapshot()).toEqual({ a: -1, b: 0, c: 2, d: 0 });
  });

  it("gives each name its index for hot paths", () => {
    const names = ["rx.packets", "rx.bytes", "tx.packets"] as const;
    const { "rx.bytes": RX_BYTES, "tx.packets": TX_PACKETS } = counterIndex(names);
    expect([RX_BYTES, TX_PACKETS]).toEqual([1, 2]);
    const c = new CounterSet(names);
    expect(c.id("tx.packets")).toBe(TX_PACKETS);
    expect(() => counterIndex(["a", "a"])).toThrow(/registered twice/);
  });

  it("is readable from an attachment (another thread's view)", () => {
    const c = new CounterSet(["a", "b", "c"]);
    const d = CounterSet.attach(structuredClone(c.handle));
    c.set("b", 2 ** 52 + 1);
    expect(d.get("b")).toBe(2 ** 52 + 1);
    d.reset();
    expect(c.snapshot()).toEqual({ a: 0, b: 0, c: 0 });
  });
});
