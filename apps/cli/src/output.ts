/** Printing helpers shared by the subcommands: aligned tables for people, one JSON object for programs. */

/** An error the user can fix (bad option, missing peer); printed without a stack trace, exit code 2. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

export type Cell = string | number;

/** Format rows as an aligned text table; numbers are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[], numeric: readonly boolean[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const isNum = (c: Cell | undefined): boolean => typeof c === "number" || (typeof c === "string" && /^-?[0-9][0-9,]*(\.[0-9]+)?$/.test(c));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => isNum(r[i])));
  return [line(headers, numeric), widths.map((w) => "-".repeat(w)).join("  "), ...text.map((r) => line(r, numeric))].join("\n");
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  if (Math.abs(n) >= 100) return n.toFixed(1);
  return n.toFixed(3);
}

/** Parse a positive number option, with the option's name in the error. */
export function positive(name: string, integer = false): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new CliError(`${name} must be a positive ${integer ? "integer" : "number"}, got "${value}"`);
    }
    return n;
  };
}
