/**
 * Fuzz target for {@link parse}: one input, every invariant of the parser's
 * contract checked, a thrown Error naming the broken one.
 *
 * 1. parse never throws, and returns true exactly when no malformation bit is set.
 * 2. Every offset it reports is -1 or inside [offset, offset + length], and
 *    the header it points at fits (so a consumer may read it without a check).
 * 3. It reads nothing outside its range: the same bytes embedded at another
 *    offset between random garbage give the same result, shifted.
 * 4. It fully resets the record: a record dirtied by another frame gives the
 *    same result as a fresh one.
 */
import { PacketMeta, PARSE_MALFORMED_MASK } from "./meta.js";
import { parse } from "./parse.js";

const OFFSET_FIELDS = [
  "l2Offset",
  "l3Offset",
  "srcAddrOffset",
  "dstAddrOffset",
  "l4Offset",
  "ndTargetOffset",
  "payloadOffset",
  "innerL2Offset",
  "innerL3Offset",
  "innerL4Offset",
] as const;

type MetaSnapshot = Record<string, number>;

/** Every numeric field of a record (and its inner record), offsets made relative to `base`. */
export function snapshotMeta(m: PacketMeta, base: number): MetaSnapshot {
  const out: MetaSnapshot = {};
  const add = (prefix: string, r: PacketMeta): void => {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== "number") continue;
      out[prefix + k] = (OFFSET_FIELDS as readonly string[]).includes(k) && v >= 0 ? v - base : v;
    }
  };
  add("", m);
  if (m.inner !== null && m.tunnel !== 0) add("inner.", m.inner);
  return out;
}

function checkBounds(m: PacketMeta, start: number, end: number, where: string): void {
  for (const f of OFFSET_FIELDS) {
    const v = m[f];
    if (v !== -1 && (v < start || v > end)) throw new Error(`${where}${f}=${v} outside [${start}, ${end}]`);
  }
  const fits = (off: number, len: number, what: string): void => {
    if (off >= 0 && off + len > end) throw new Error(`${where}${what} at ${off} (+${len}) runs past ${end}`);
  };
  if (m.etherType === 0x0800 && m.l4Proto >= 0) fits(m.l3Offset, 20, "IPv4 header");
  if (m.etherType === 0x86dd && m.l4Proto >= 0) fits(m.l3Offset, 40, "IPv6 header");
  fits(m.srcAddrOffset, m.etherType === 0x86dd ? 16 : 4, "source address");
  fits(m.dstAddrOffset, m.etherType === 0x86dd ? 16 : 4, "destination address");
  fits(m.ndTargetOffset, 16, "ND target");
  if (m.payloadOffset >= 0) fits(m.payloadOffset, m.payloadLength, "payload");
  if (m.payloadLength < 0) throw new Error(`${where}payloadLength ${m.payloadLength} < 0`);
  if (m.l3Length < 0) throw new Error(`${where}l3Length ${m.l3Length} < 0`);
  if (m.l3Offset >= 0) fits(m.l3Offset, m.l3Length, "L3 datagram");
}

const fresh = new PacketMeta();
const dirty = new PacketMeta();
const embedded = new PacketMeta();
let dirtySeed: Uint8Array | null = null;

/** Set the frame used to dirty the record before invariant 4 (any valid frame, e.g. a VXLAN one). */
export function setDirtyFrame(frame: Uint8Array): void {
  dirtySeed = frame;
}

/** Check every invariant on `input`; throws an Error describing the first violation. */
export function fuzzParseTarget(input: Uint8Array, garbage = 0xa5): void {
  let ok: boolean;
  try {
    ok = parse(input, 0, input.length, fresh);
  } catch (e) {
    throw new Error(`parse threw: ${(e as Error).message}`);
  }
  if (ok !== ((fresh.errors & PARSE_MALFORMED_MASK) === 0)) throw new Error(`return ${ok} disagrees with errors 0x${fresh.errors.toString(16)}`);
  checkBounds(fresh, 0, input.length, "");
  if (fresh.inner !== null && fresh.tunnel !== 0) checkBounds(fresh.inner, fresh.innerL2Offset, input.length, "inner.");
  const want = snapshotMeta(fresh, 0);

  // 3: same bytes between garbage, at an odd offset.
  const pre = 3 + (garbage & 7);
  const big = new Uint8Array(pre + input.length + 64).fill(garbage);
  big.set(input, pre);
  parse(big, pre, input.length, embedded);
  const got = snapshotMeta(embedded, pre);
  for (const k of Object.keys(want)) {
    if (k === "length") continue;
    if (got[k] !== want[k]) throw new Error(`embedded at ${pre} between 0x${garbage.toString(16)} bytes: ${k}=${got[k]}, alone: ${want[k]}`);
  }

  // 4: a dirty record.
  if (dirtySeed !== null) parse(dirtySeed, 0, dirtySeed.length, dirty);
  parse(input, 0, input.length, dirty);
  const again = snapshotMeta(dirty, 0);
  for (const k of Object.keys(want)) {
    if (again[k] !== want[k]) throw new Error(`after a previous parse: ${k}=${again[k]}, fresh: ${want[k]}`);
  }
}
