import { describe, expect, it } from "vitest";
import { CoreError, CounterSet } from "../src/index.js";

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

  it("is readable from an attachment (another thread's view)", () => {
    const c = new CounterSet(["a", "b", "c"]);
    const d = CounterSet.attach(structuredClone(c.handle));
    c.set("b", 2 ** 52 + 1);
    expect(d.get("b")).toBe(2 ** 52 + 1);
    d.reset();
    expect(c.snapshot()).toEqual({ a: 0, b: 0, c: 0 });
  });
});
