/**
 * The fields a classifier rule can match on, where each lives in a
 * {@link FlowKey}, and compilation of a rule's match into TCAM-style
 * value/mask words over the key (control path; allocation is fine here).
 *
 * A field's value is split over one or more word segments, most significant
 * first. Some fields imply others, the way an rte_flow `ipv4` item implies
 * an IPv4 packet: an IPv4 address implies `ipVersion` 4, L4 ports imply the
 * `l4` flag, VLAN fields imply the `vlan` flag, tunnel fields imply `tunnel`.
 * Implied constraints are part of every compiled entry, so an IPv4 prefix
 * never matches the first word of an IPv6 address.
 */
import {
  FK_DMAC_HI,
  FK_DST_IP,
  FK_FLAGS,
  FK_L3L4,
  FK_L4_PORTS,
  FK_MAC_MID,
  FK_OUTER_DST_IP,
  FK_OUTER_PORTS,
  FK_OUTER_SRC_IP,
  FK_PORT,
  FK_SMAC_LO,
  FK_SRC_IP,
  FK_TUNNEL,
  FK_VLAN_ETH,
  FLOW_KEY_MATCH_WORDS,
  parseIpv4,
  parseIpv6,
  parseMac,
} from "../flow-key.js";
import { refuse, type Refusal } from "../errors.js";

/** Every field a rule can name. */
export const FLOW_FIELDS = [
  "port",
  "dmac",
  "smac",
  "vlan",
  "vlanId",
  "vlanPcp",
  "vlanDei",
  "etherType",
  "ipVersion",
  "ipTos",
  "ipProto",
  "tcpFlags",
  "flags",
  "tunnel",
  "fragment",
  "l4",
  "parseErrors",
  "srcIpv4",
  "dstIpv4",
  "srcIpv6",
  "dstIpv6",
  "srcPort",
  "dstPort",
  "vni",
  "outerIpVersion",
  "outerSrcIpv4",
  "outerDstIpv4",
  "outerSrcIpv6",
  "outerDstIpv6",
  "outerSrcPort",
  "outerDstPort",
] as const;

export type FlowField = (typeof FLOW_FIELDS)[number];

/** How a field's values are written in rules. */
export type FieldKind = "uint" | "mac" | "ipv4" | "ipv6";

/** A run of bits of a field inside one key word. */
export interface FieldSegment {
  readonly word: number;
  readonly shift: number;
  readonly bits: number;
}

export interface FieldDef {
  readonly name: FlowField;
  readonly kind: FieldKind;
  readonly bits: number;
  /** Most significant segment first. */
  readonly segments: readonly FieldSegment[];
  /** Constraints this field implies (field = value, full mask). */
  readonly implies: readonly { readonly field: FlowField; readonly value: number }[];
}

const seg = (word: number, shift: number, bits: number): FieldSegment => ({ word, shift, bits });
const words4 = (w: number): FieldSegment[] => [seg(w, 0, 32), seg(w + 1, 0, 32), seg(w + 2, 0, 32), seg(w + 3, 0, 32)];

function def(name: FlowField, kind: FieldKind, segments: FieldSegment[], implies: FieldDef["implies"] = []): FieldDef {
  return { name, kind, bits: segments.reduce((a, s) => a + s.bits, 0), segments, implies };
}

const TUNNEL = [{ field: "tunnel", value: 1 }] as const;

/** Field definitions, by name. */
export const FIELD_DEFS: Readonly<Record<FlowField, FieldDef>> = {
  port: def("port", "uint", [seg(FK_PORT, 0, 32)]),
  dmac: def("dmac", "mac", [seg(FK_DMAC_HI, 0, 32), seg(FK_MAC_MID, 16, 16)]),
  smac: def("smac", "mac", [seg(FK_MAC_MID, 0, 16), seg(FK_SMAC_LO, 0, 32)]),
  vlan: def("vlan", "uint", [seg(FK_FLAGS, 0, 1)]),
  vlanId: def("vlanId", "uint", [seg(FK_VLAN_ETH, 16, 12)], [{ field: "vlan", value: 1 }]),
  vlanDei: def("vlanDei", "uint", [seg(FK_VLAN_ETH, 28, 1)], [{ field: "vlan", value: 1 }]),
  vlanPcp: def("vlanPcp", "uint", [seg(FK_VLAN_ETH, 29, 3)], [{ field: "vlan", value: 1 }]),
  etherType: def("etherType", "uint", [seg(FK_VLAN_ETH, 0, 16)]),
  ipVersion: def("ipVersion", "uint", [seg(FK_L3L4, 12, 4)]),
  ipTos: def("ipTos", "uint", [seg(FK_L3L4, 0, 8)]),
  ipProto: def("ipProto", "uint", [seg(FK_L3L4, 24, 8)]),
  tcpFlags: def("tcpFlags", "uint", [seg(FK_L3L4, 16, 8)], [{ field: "ipProto", value: 6 }]),
  flags: def("flags", "uint", [seg(FK_FLAGS, 0, 16)]),
  tunnel: def("tunnel", "uint", [seg(FK_FLAGS, 2, 1)]),
  fragment: def("fragment", "uint", [seg(FK_FLAGS, 3, 1)]),
  l4: def("l4", "uint", [seg(FK_FLAGS, 6, 1)]),
  parseErrors: def("parseErrors", "uint", [seg(FK_FLAGS, 16, 16)]),
  srcIpv4: def("srcIpv4", "ipv4", [seg(FK_SRC_IP, 0, 32)], [{ field: "ipVersion", value: 4 }]),
  dstIpv4: def("dstIpv4", "ipv4", [seg(FK_DST_IP, 0, 32)], [{ field: "ipVersion", value: 4 }]),
  srcIpv6: def("srcIpv6", "ipv6", words4(FK_SRC_IP), [{ field: "ipVersion", value: 6 }]),
  dstIpv6: def("dstIpv6", "ipv6", words4(FK_DST_IP), [{ field: "ipVersion", value: 6 }]),
  srcPort: def("srcPort", "uint", [seg(FK_L4_PORTS, 16, 16)], [{ field: "l4", value: 1 }]),
  dstPort: def("dstPort", "uint", [seg(FK_L4_PORTS, 0, 16)], [{ field: "l4", value: 1 }]),
  vni: def("vni", "uint", [seg(FK_TUNNEL, 8, 24)], TUNNEL),
  outerIpVersion: def("outerIpVersion", "uint", [seg(FK_TUNNEL, 0, 4)], TUNNEL),
  outerSrcIpv4: def("outerSrcIpv4", "ipv4", [seg(FK_OUTER_SRC_IP, 0, 32)], [{ field: "outerIpVersion", value: 4 }]),
  outerDstIpv4: def("outerDstIpv4", "ipv4", [seg(FK_OUTER_DST_IP, 0, 32)], [{ field: "outerIpVersion", value: 4 }]),
  outerSrcIpv6: def("outerSrcIpv6", "ipv6", words4(FK_OUTER_SRC_IP), [{ field: "outerIpVersion", value: 6 }]),
  outerDstIpv6: def("outerDstIpv6", "ipv6", words4(FK_OUTER_DST_IP), [{ field: "outerIpVersion", value: 6 }]),
  outerSrcPort: def("outerSrcPort", "uint", [seg(FK_OUTER_PORTS, 16, 16)], TUNNEL),
  outerDstPort: def("outerDstPort", "uint", [seg(FK_OUTER_PORTS, 0, 16)], TUNNEL),
};

/** A field's value with an explicit mask, prefix length or range. */
export interface FieldPattern {
  /** The value; for IP fields, text may carry a `/prefix`. Omitted only with `range`. */
  readonly value?: number | bigint | string;
  /** Bit mask (same forms as the value); default all ones. */
  readonly mask?: number | bigint | string;
  /** Prefix length: the top `prefix` bits are matched. */
  readonly prefix?: number;
  /** Inclusive range `[lo, hi]` for integer fields; not TCAM-native, see the table's `rangeExpansion`. */
  readonly range?: readonly [number, number];
}

/** A field's value: exact (number, bigint, MAC/IP text, `a.b.c.d/len`) or a {@link FieldPattern}. */
export type MatchValue = number | bigint | string | FieldPattern;

/** A rule's match: field name to value. Fields left out are wildcards. */
export type FlowMatch = { readonly [F in FlowField]?: MatchValue };

/** One TCAM entry over the match words of a FlowKey (plain arrays of u32 values: cheap to build on the control path). */
export interface CompiledEntry {
  readonly value: readonly number[];
  readonly mask: readonly number[];
}

/** How a field was constrained, after parsing: numbers for fields of up to 32 bits, bigints for MACs and IPv6. */
interface ParsedField {
  readonly def: FieldDef;
  readonly value: bigint | number;
  readonly mask: bigint | number;
  readonly range?: readonly [number, number];
}

export interface CompiledMatch {
  /** Fields named by the rule, plus the fields they imply. */
  readonly fields: ReadonlySet<FlowField>;
  /** Fields named by the rule. */
  readonly named: ReadonlySet<FlowField>;
  /** Entries (more than one when ranges were expanded), disjoint in match space. */
  readonly entries: readonly CompiledEntry[];
}

/** Limits a table puts on compilation. */
export interface CompileLimits {
  /** Fields the table can match on (implied fields are always allowed). */
  readonly fields: ReadonlySet<FlowField>;
  /** "prefix": every mask must be a prefix (contiguous from the top bit); "arbitrary": any bits. */
  readonly masks: "arbitrary" | "prefix";
  /** Most entries one rule may expand to through ranges; 0 refuses ranges. */
  readonly rangeExpansion: number;
  /** Table label for messages. */
  readonly label: string;
}

const full = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

function prefixMask(bits: number, prefix: number): bigint {
  return full(bits) ^ full(bits - prefix);
}

function isPrefixMask(mask: bigint | number, bits: number): boolean {
  const m = BigInt(mask);
  const inv = full(bits) ^ m; // must be of the form 0..01..1
  return (inv & (inv + 1n)) === 0n;
}

function parseScalar(d: FieldDef, v: number | bigint | string): bigint | { prefix: number; value: bigint } | string {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0) return `${d.name}: ${v} is not a non-negative integer`;
    return BigInt(v);
  }
  if (d.kind === "uint") return `${d.name}: text values are only for MAC and IP fields`;
  if (d.kind === "mac") {
    try {
      return BigInt(parseMac(v));
    } catch {
      return `${d.name}: bad MAC address "${v}"`;
    }
  }
  const slash = v.indexOf("/");
  const addrText = slash >= 0 ? v.slice(0, slash) : v;
  let addr: bigint;
  if (d.kind === "ipv4") {
    const a = parseIpv4(addrText);
    if (a === undefined) return `${d.name}: bad IPv4 address "${v}"`;
    addr = BigInt(a);
  } else {
    const a = parseIpv6(addrText);
    if (a === undefined) return `${d.name}: bad IPv6 address "${v}"`;
    addr = (BigInt(a[0]!) << 96n) | (BigInt(a[1]!) << 64n) | (BigInt(a[2]!) << 32n) | BigInt(a[3]!);
  }
  if (slash < 0) return addr;
  const p = Number(v.slice(slash + 1));
  if (!/^\d+$/.test(v.slice(slash + 1)) || p > d.bits) return `${d.name}: bad prefix length in "${v}"`;
  return { prefix: p, value: addr };
}

function parseField(d: FieldDef, mv: MatchValue): ParsedField | string {
  const pattern: FieldPattern = typeof mv === "object" ? mv : { value: mv };
  const all = full(d.bits);
  if (pattern.range !== undefined) {
    if (pattern.value !== undefined || pattern.mask !== undefined || pattern.prefix !== undefined) {
      return `${d.name}: a range cannot be combined with value, mask or prefix`;
    }
    if (d.kind !== "uint" || d.bits > 32) return `${d.name}: ranges are only for integer fields of up to 32 bits`;
    const [lo, hi] = pattern.range;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo || BigInt(hi) > all) {
      return `${d.name}: bad range [${lo}, ${hi}] for a ${d.bits}-bit field`;
    }
    return { def: d, value: 0n, mask: 0n, range: [lo, hi] };
  }
  if (pattern.value === undefined) return `${d.name}: a pattern needs a value or a range`;
  const pv = parseScalar(d, pattern.value);
  if (typeof pv === "string") return pv;
  let value: bigint;
  let mask = all;
  if (typeof pv === "object") {
    value = pv.value;
    mask = prefixMask(d.bits, pv.prefix);
  } else value = pv;
  if (pattern.prefix !== undefined) {
    if (typeof pv === "object") return `${d.name}: prefix given twice`;
    if (!Number.isInteger(pattern.prefix) || pattern.prefix < 0 || pattern.prefix > d.bits) return `${d.name}: bad prefix length ${pattern.prefix}`;
    mask = prefixMask(d.bits, pattern.prefix);
  }
  if (pattern.mask !== undefined) {
    if (typeof pv === "object" || pattern.prefix !== undefined) return `${d.name}: give either a mask or a prefix`;
    const pm = parseScalar(d, pattern.mask);
    if (typeof pm === "string") return pm;
    if (typeof pm === "object") return `${d.name}: a mask cannot carry a prefix length`;
    mask = pm;
  }
  if (value > all || mask > all || value < 0n || mask < 0n) return `${d.name}: value or mask wider than ${d.bits} bits`;
  if (d.bits <= 32) return { def: d, value: Number(value & mask), mask: Number(mask) };
  return { def: d, value: value & mask, mask };
}

/** Write `value`/`mask` (field-relative) into word arrays; returns false on a conflict with what is there. */
function place(d: FieldDef, value: bigint | number, mask: bigint | number, vw: number[], mw: number[]): boolean {
  if (typeof value === "number" && typeof mask === "number" && d.segments.length === 1) {
    // Fields of up to 32 bits live in one word: plain number arithmetic.
    const s = d.segments[0]!;
    return placeWord(s.word, (value * 2 ** s.shift) >>> 0, (mask * 2 ** s.shift) >>> 0, vw, mw);
  }
  const bv = BigInt(value);
  const bm = BigInt(mask);
  let off = d.bits;
  for (const s of d.segments) {
    off -= s.bits;
    const part = Number((bv >> BigInt(off)) & full(s.bits));
    const pmask = Number((bm >> BigInt(off)) & full(s.bits));
    if (!placeWord(s.word, (part * 2 ** s.shift) >>> 0, (pmask * 2 ** s.shift) >>> 0, vw, mw)) return false;
  }
  return true;
}

function placeWord(word: number, v: number, m: number, vw: number[], mw: number[]): boolean {
  const overlap = (mw[word]! & m) >>> 0;
  if (((vw[word]! ^ v) & overlap) >>> 0 !== 0) return false;
  vw[word] = (vw[word]! | v) >>> 0;
  mw[word] = (mw[word]! | m) >>> 0;
  return true;
}

/**
 * Split the inclusive range [lo, hi] of a `bits`-wide field into the
 * smallest set of disjoint prefixes (the classic TCAM range expansion; at
 * most 2·bits − 2 entries).
 */
export function rangeToPrefixes(lo: number, hi: number, bits: number): [value: number, mask: number][] {
  const out: [number, number][] = [];
  const top = 2 ** bits;
  while (lo <= hi) {
    let size = 1;
    while (size < top && lo % (size * 2) === 0 && lo + size * 2 - 1 <= hi) size *= 2;
    out.push([lo, top - size]);
    lo += size;
  }
  return out;
}

/**
 * Compile a match into TCAM entries under a table's limits. Returns a
 * reason string when the match cannot be expressed.
 */
export function compileMatch(match: FlowMatch, limits: CompileLimits): CompiledMatch | Refusal {
  const parsed: ParsedField[] = [];
  const named = new Set<FlowField>();
  const fields = new Set<FlowField>();
  for (const name of Object.keys(match)) {
    const d = (FIELD_DEFS as Record<string, FieldDef | undefined>)[name];
    if (d === undefined) return refuse("malformed", `unknown match field "${name}"`);
    const mv = (match as Record<string, MatchValue | undefined>)[name];
    if (mv === undefined) continue;
    if (!limits.fields.has(d.name)) return refuse("unsupported", `${limits.label} cannot match on field "${name}"`);
    if (typeof mv === "number" && d.bits <= 32 && Number.isInteger(mv) && mv >= 0 && mv < 2 ** d.bits) {
      // Fast path: an exact value of a narrow field (most exact-match rules).
      parsed.push({ def: d, value: mv, mask: 2 ** d.bits - 1 });
      named.add(d.name);
      fields.add(d.name);
      continue;
    }
    const p = parseField(d, mv);
    if (typeof p === "string") return refuse("malformed", p);
    if (p.range !== undefined && limits.rangeExpansion === 0) {
      return refuse("unsupported", `${limits.label} cannot match ranges (${name}); the device does not expand them`);
    }
    if (p.range === undefined && limits.masks === "prefix" && !isPrefixMask(p.mask, d.bits)) {
      return refuse("unsupported", `${limits.label} supports only prefix masks; ${name} has an arbitrary mask`);
    }
    parsed.push(p);
    named.add(d.name);
    fields.add(d.name);
  }
  const vw = new Array<number>(FLOW_KEY_MATCH_WORDS).fill(0);
  const mw = new Array<number>(FLOW_KEY_MATCH_WORDS).fill(0);
  // Explicit fields first, then what they imply (transitively: vni -> tunnel).
  const implied: { field: FlowField; value: number; by: FlowField }[] = [];
  for (const p of parsed) {
    if (p.range !== undefined) continue;
    if (!place(p.def, p.value, p.mask, vw, mw)) return refuse("malformed", `field ${p.def.name} conflicts with another field of the rule`);
  }
  for (const p of parsed) for (const i of p.def.implies) implied.push({ field: i.field, value: i.value, by: p.def.name });
  for (let i = 0; i < implied.length; i++) {
    const imp = implied[i]!;
    const d = FIELD_DEFS[imp.field];
    if (!place(d, imp.value, 2 ** d.bits - 1, vw, mw)) {
      return refuse("malformed", `field ${imp.by} implies ${imp.field} = ${imp.value}, which conflicts with the rule's other fields`);
    }
    fields.add(d.name);
    for (const j of d.implies) implied.push({ field: j.field, value: j.value, by: imp.by });
  }
  // Ranges: the cartesian product of each ranged field's prefix expansion.
  let entries: { value: number[]; mask: number[] }[] = [{ value: vw, mask: mw }];
  for (const p of parsed) {
    if (p.range === undefined) continue;
    const prefixes = rangeToPrefixes(p.range[0], p.range[1], p.def.bits);
    if (entries.length * prefixes.length > limits.rangeExpansion) {
      return refuse(
        "unsupported",
        `${limits.label}: ranges expand to ${entries.length * prefixes.length} or more entries, above the device's limit of ${limits.rangeExpansion} per rule`,
      );
    }
    const next: { value: number[]; mask: number[] }[] = [];
    for (const e of entries) {
      for (const [v, m] of prefixes) {
        const value = e.value.slice();
        const mask = e.mask.slice();
        if (!place(p.def, v, m, value, mask)) return refuse("malformed", `range on ${p.def.name} conflicts with another field of the rule`);
        next.push({ value, mask });
      }
    }
    entries = next;
  }
  return { fields, named, entries };
}

/** A field of an exact-match table's key, optionally with a template mask or prefix applied to every entry. */
export interface KeyFieldSpec {
  readonly field: FlowField;
  readonly mask?: number | bigint | string;
  readonly prefix?: number;
}

/** The mask words of an exact-match key template (its fields and what they imply). */
export function compileKeyTemplate(
  key: readonly (FlowField | KeyFieldSpec)[],
  limits: CompileLimits,
): { readonly mask: readonly number[]; readonly fields: ReadonlySet<FlowField>; readonly named: readonly FlowField[]; readonly specs: ReadonlyMap<FlowField, KeyFieldSpec> } | Refusal {
  if (key.length === 0) return refuse("malformed", `${limits.label}: an exact-match table needs at least one key field`);
  const match: Record<string, FieldPattern> = {};
  const specs = new Map<FlowField, KeyFieldSpec>();
  for (const k of key) {
    const spec: KeyFieldSpec = typeof k === "string" ? { field: k } : k;
    const d = (FIELD_DEFS as Record<string, FieldDef | undefined>)[spec.field];
    if (d === undefined) return refuse("malformed", `unknown key field "${spec.field}"`);
    if (specs.has(d.name)) return refuse("malformed", `${limits.label}: key field ${d.name} listed twice`);
    specs.set(d.name, spec);
    const zero = d.kind === "ipv6" ? "::" : d.kind === "ipv4" ? "0.0.0.0" : 0;
    match[d.name] = spec.prefix !== undefined ? { value: zero, prefix: spec.prefix } : spec.mask !== undefined ? { value: zero, mask: spec.mask } : { value: zero };
  }
  const c = compileMatch(match as FlowMatch, { ...limits, rangeExpansion: 0 });
  if ("ok" in c) return c;
  return { mask: c.entries[0]!.mask, fields: c.fields, named: [...specs.keys()], specs };
}
