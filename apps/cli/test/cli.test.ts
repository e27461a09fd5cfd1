import { describe, expect, test, vi } from "vitest";
import { buildProgram, runCli } from "../src/program.js";

function capture(): { out: () => string; restore: () => void } {
  let buf = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    buf += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    buf += String(s);
    return true;
  });
  return { out: () => buf, restore: () => (o.mockRestore(), e.mockRestore()) };
}

describe("nfvio CLI", () => {
  const names: string[][] = [];
  const walk = (cmd: ReturnType<typeof buildProgram>, path: string[]) => {
    for (const sub of cmd.commands) {
      names.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(buildProgram(), []);

  test("has subcommands", () => {
    expect(names.map((n) => n.join(" "))).toEqual(expect.arrayContaining(["demo", "bench"]));
  });

  test.each(names.map((n) => [n.join(" "), n] as const))("%s --help prints usage and exits 0", async (_label, path) => {
    const c = capture();
    try {
      const code = await runCli(["node", "nfvio", ...path, "--help"]);
      expect(code).toBe(0);
      expect(c.out()).toContain(`Usage: nfvio ${path.join(" ")}`);
    } finally {
      c.restore();
    }
  });

  test("unknown option is an error with a message", async () => {
    const c = capture();
    try {
      const code = await runCli(["node", "nfvio", "bench", "ring", "--no-such-option"]);
      expect(code).not.toBe(0);
      expect(c.out()).toMatch(/unknown option/);
    } finally {
      c.restore();
    }
  });
});
