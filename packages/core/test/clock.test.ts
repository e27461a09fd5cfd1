import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CoreError, ModelClock, RealClock } from "../src/index.js";

describe("RealClock", () => {
  it("is monotonic ns", async () => {
    const c = new RealClock();
    const a = c.now();
    await new Promise((r) => setTimeout(r, 5));
    const b = c.now();
    expect(b - a).toBeGreaterThan(3e6);
    expect(Number.isInteger(b)).toBe(true);
  });
});

describe("ModelClock", () => {
  it("runs events by time, then by scheduling order", () => {
    const c = new ModelClock();
    const log: string[] = [];
    const h = (name: string) => (t: number, arg: number) => log.push(`${name}@${t}:${arg}`);
    c.schedule(20, h("b"), 1);
    c.schedule(10, h("a"), 2);
    c.schedule(20, h("c"), 3);
    c.schedule(10, { onEvent: (t, arg) => log.push(`obj@${t}:${arg}`) }, 4);
    c.schedule(15, (t) => {
      log.push(`d@${t}`);
      c.schedule(15, h("same-time"));
      c.after(5, h("later"));
    });
    while (c.step());
    expect(log).toEqual(["a@10:2", "obj@10:4", "d@15", "same-time@15:0", "b@20:1", "c@20:3", "later@20:0"]);
    expect(c.now()).toBe(20);
    expect(c.eventsRun).toBe(7);
  });

  it("refuses to go back in time", () => {
    const c = new ModelClock();
    c.runUntil(100);
    expect(c.now()).toBe(100);
    expect(() => c.schedule(50, () => {})).toThrow(CoreError);
    expect(() => c.advanceTo(10)).toThrow(/cannot go back/);
  });

  it("property: any schedule runs in (time, sequence) order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
        const c = new ModelClock();
        const ran: [number, number][] = [];
        times.forEach((t, i) => c.schedule(t, (at, arg) => ran.push([at, arg]), i));
        c.runUntil(Infinity);
        const expected = times.map((t, i) => [t, i] as [number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
        expect(ran).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
