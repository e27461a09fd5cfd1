/**
 * The pages' static parts: uPlot (pinned in package.json, inlined so a page
 * works offline and from a file), and the browser scripts and styles in
 * assets/ (plain JavaScript: they run as they are, no build step).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const cache = new Map<string, string>();

function read(path: string): string {
  let s = cache.get(path);
  if (s === undefined) {
    s = readFileSync(path, "utf8");
    cache.set(path, s);
  }
  return s;
}

/** A file of this package's assets/ folder (from src/ or dist/, both one level down). */
export function asset(name: string): string {
  return read(fileURLToPath(new URL(`../assets/${name}`, import.meta.url)));
}

/** uPlot's minified IIFE build (defines `uPlot`). */
export function uplotJs(): string {
  return read(require.resolve("uplot/dist/uPlot.iife.min.js"));
}

export function uplotCss(): string {
  return read(require.resolve("uplot/dist/uPlot.min.css"));
}

/** uPlot's version, from its package.json. */
export function uplotVersion(): string {
  return (JSON.parse(read(require.resolve("uplot/package.json"))) as { version: string }).version;
}

/** Text safe inside a `<script>` element: no `</script`, no `<!--`. */
export function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/** JSON safe inside `<script type="application/json">`. */
export function jsonScript(data: unknown): string {
  return JSON.stringify(data).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
