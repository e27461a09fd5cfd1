/** Test helpers shared by the packet tests. */
import { PacketMeta, parse } from "../src/index.js";

/** Bytes from hex text; whitespace and comments after `#` on a line are ignored. */
export function hex(text: string): Uint8Array {
  const clean = text
    .split("\n")
    .map((l) => l.replace(/#.*$/, ""))
    .join("")
    .replace(/\s+/g, "");
  if (clean.length % 2 !== 0) throw new Error("odd hex length");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Parse a whole array into a fresh record. */
export function parsed(bytes: Uint8Array, offset = 0, length = bytes.length - offset): PacketMeta {
  const m = new PacketMeta();
  parse(bytes, offset, length, m);
  return m;
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
}

export function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
