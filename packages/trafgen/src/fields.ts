/**
 * Field variation: per-frame values for MAC addresses, IP addresses, L4
 * ports and the VLAN id, patched into each frame in place.
 *
 * Every variation has a range [from, to] (inclusive; `from` defaults to the
 * template's value; `count` values by `step` means `to = from + count × step
 * − 1`; `random` without either covers from..the field's maximum) and a mode:
 *
 * - `inc`: from, from+step, ... with positions wrapping modulo the range size
 *   (`count` values by `step` repeat exactly every `count` frames);
 * - `dec`: the last grid value (from + k × step ≤ to), then down by step,
 *   wrapping the same way;
 * - `random`: uniform over the range from a seeded xorshift32 generator
 *   (G. Marsaglia, "Xorshift RNGs", J. Stat. Software 8(14), 2003), so a
 *   run is repeatable.
 *
 * Widths: MACs vary over all 48 bits, IPv4 addresses over 32, IPv6
 * addresses over their low 48 bits (from and to must share the high 80),
 * ports over 16, the VLAN id over the 12 VID bits of the TCI (PCP and DEI
 * kept).
 *
 * Checksums are patched, not recomputed: a field's change contributes
 * `~old + new` per 16-bit word (RFC 1624 eqn. 3) to the L4 checksum (ports
 * and addresses, through the pseudo-header of RFC 768 / RFC 9293 §3.1 /
 * RFC 8200 §8.1) and, for IPv4 addresses, to the IPv4 header checksum
 * (RFC 791 §3.1). The generator adds the deltas of all fields and of the
 * signature and folds once per checksum. (@nfvio/packet's
 * `checksumUpdate16/32` fold per field; this sums first, one fold per frame.)
 */
import { parseIpv4, parseIpv6, parseMac } from "@nfvio/packet";
import { z } from "zod";
import { TrafgenError } from "./errors.js";
import type { Template } from "./template.js";

export const FIELD_NAMES = ["srcMac", "dstMac", "srcIp", "dstIp", "srcPort", "dstPort", "vlan"] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

export const fieldSchema = z
  .object({
    field: z.enum(FIELD_NAMES),
    mode: z.enum(["inc", "dec", "random"]).default("inc"),
    /** First value of the range: a MAC, an address, or a number (default: the template's value). */
    from: z.union([z.string(), z.number()]).optional(),
    /** Last value of the range (inclusive). */
    to: z.union([z.string(), z.number()]).optional(),
    /** Number of values (instead of `to`). */
    count: z.number().int().positive().optional(),
    /** Step of inc/dec (default 1). */
    step: z.number().int().positive().default(1),
    /** Seed of `random` (default: from the stream id and the field's position). */
    seed: z.number().int().optional(),
  })
  .strict();

export type FieldSpec = z.input<typeof fieldSchema>;

const MODE_INC = 0;
const MODE_DEC = 1;
const MODE_RANDOM = 2;
const TWO32 = 4294967296;

/** One compiled variation: writes its next value into a frame and returns the checksum delta. */
export class Field {
  readonly name: FieldName;
  /** Offset of the varied bytes in the frame. */
  readonly offset: number;
  /** Bytes written: 6 (MAC, IPv6 low 48), 4 (IPv4), 2 (port, VLAN TCI). */
  readonly width: number;
  /** The delta goes to the IPv4 header checksum too. */
  readonly ipChecksum: boolean;
  /** The delta goes to the L4 checksum. */
  readonly l4Checksum: boolean;
  readonly lo: number;
  readonly span: number;
  private readonly mode: number;
  private readonly step: number;
  private pos = 0;
  private rng: number;
  /** Σ ~oldWord over the template's words (one's complement arithmetic, unfolded). */
  private readonly oldNot: number;
  /** VLAN: the PCP/DEI bits kept. */
  private readonly tciHigh: number;
  private readonly initialSeed: number;

  constructor(spec: FieldSpec, template: Template, defaultSeed: number) {
    const parsed = fieldSchema.safeParse(spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new TrafgenError("config", `field variation: ${i.path.join(".") || "(root)"}: ${i.message}`, { field: `fields.${i.path.join(".")}` });
    }
    const s = parsed.data;
    this.name = s.field;
    const tpl = template.frames[0]!;
    let offset = template.offsets[s.field];
    if (offset < 0) throw new TrafgenError("config", `field variation "${s.field}": the template has no ${s.field === "vlan" ? "VLAN tag" : s.field}`, { field: "fields.field" });
    const ip6 = template.ipv6 && (s.field === "srcIp" || s.field === "dstIp");
    let width: number;
    let parse: (v: string | number) => number;
    switch (s.field) {
      case "srcMac":
      case "dstMac":
        width = 6;
        parse = (v) => (typeof v === "number" ? v : bytesToNumber(parseMac(v), 0, 6));
        break;
      case "srcIp":
      case "dstIp":
        if (ip6) {
          width = 6;
          offset += 10;
          const high = Buffer.from(tpl.subarray(offset - 10, offset)).toString("hex");
          parse = (v) => {
            if (typeof v === "number") return v;
            const b = parseIpv6(v);
            if (Buffer.from(b.subarray(0, 10)).toString("hex") !== high) {
              throw new TrafgenError("config", `field variation "${s.field}": ${v} differs from the template's address in the high 80 bits; IPv6 variation covers the low 48 bits`, { field: "fields.from" });
            }
            return bytesToNumber(b, 10, 6);
          };
        } else {
          width = 4;
          parse = (v) => (typeof v === "number" ? v : parseIpv4(v));
        }
        break;
      case "srcPort":
      case "dstPort":
        width = 2;
        parse = (v) => (typeof v === "number" ? v : Number(v));
        break;
      case "vlan":
        width = 2;
        parse = (v) => (typeof v === "number" ? v : Number(v));
        break;
    }
    this.offset = offset;
    this.width = width;
    const max = s.field === "vlan" ? 4095 : width === 6 ? 2 ** 48 - 1 : width === 4 ? TWO32 - 1 : 65535;
    const current = s.field === "vlan" ? (((tpl[offset]! << 8) | tpl[offset + 1]!) & 0xfff) : bytesToNumber(tpl, offset, width);
    let from: number;
    let to: number;
    try {
      from = s.from === undefined ? current : parse(s.from);
      if (s.to !== undefined) to = parse(s.to);
      else if (s.count !== undefined) to = from + s.count * s.step - 1;
      else if (s.mode === "random") to = max;
      else throw new TrafgenError("config", `field variation "${s.field}": give "to" or "count" (how many values to vary over)`, { field: "fields.count" });
    } catch (e) {
      if (e instanceof TrafgenError) throw e;
      throw new TrafgenError("config", `field variation "${s.field}": ${(e as Error).message}`, { field: "fields.from", cause: e });
    }
    for (const [k, v] of [["from", from], ["to", to]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new TrafgenError("config", `field variation "${s.field}": ${k} ${v} is outside [0, ${max}]`, { field: `fields.${k}` });
    }
    if (to < from) throw new TrafgenError("config", `field variation "${s.field}": the range ${from}..${to} runs backwards`, { field: "fields.to" });
    this.lo = from;
    this.span = to - from + 1;
    this.mode = s.mode === "inc" ? MODE_INC : s.mode === "dec" ? MODE_DEC : MODE_RANDOM;
    this.step = s.step % this.span;
    this.initialSeed = (s.seed ?? defaultSeed) >>> 0 || 0x9e3779b9;
    this.rng = this.initialSeed;
    this.l4Checksum = template.l4ChecksumOffset >= 0 && s.field !== "srcMac" && s.field !== "dstMac" && s.field !== "vlan";
    this.ipChecksum = template.ipChecksumOffset >= 0 && (s.field === "srcIp" || s.field === "dstIp");
    this.tciHigh = s.field === "vlan" ? ((tpl[offset]! << 8) | tpl[offset + 1]!) & 0xf000 : 0;
    let oldNot = 0;
    for (let k = 0; k < width; k += 2) oldNot += ~((tpl[offset + k]! << 8) | tpl[offset + k + 1]!) & 0xffff;
    this.oldNot = oldNot;
    this.reset();
  }

  /** Back to the first value (and the first random draw). */
  reset(): void {
    this.pos = this.mode === MODE_DEC ? this.span - 1 - (this.step > 0 ? (this.span - 1) % this.step : 0) : 0;
    this.rng = this.initialSeed;
  }

  /** The next value (for tests and reports); advances like {@link apply}. */
  next(): number {
    let p: number;
    if (this.mode === MODE_RANDOM) {
      p = this.draw();
    } else if (this.mode === MODE_INC) {
      p = this.pos;
      this.pos += this.step;
      if (this.pos >= this.span) this.pos -= this.span;
    } else {
      p = this.pos;
      this.pos -= this.step;
      if (this.pos < 0) this.pos += this.span;
    }
    return this.lo + p;
  }

  /**
   * Write the next value at `base + offset` in `data` and return the
   * checksum delta: Σ(~old + new) over the changed 16-bit words, unfolded
   * (0 when the field is not under a checksum).
   */
  apply(data: Uint8Array, base: number): number {
    const v = this.next();
    const o = base + this.offset;
    let sum: number;
    if (this.width === 2) {
      const w = this.tciHigh | v;
      data[o] = w >>> 8;
      data[o + 1] = w & 0xff;
      sum = w;
    } else if (this.width === 4) {
      data[o] = v >>> 24;
      data[o + 1] = (v >>> 16) & 0xff;
      data[o + 2] = (v >>> 8) & 0xff;
      data[o + 3] = v & 0xff;
      sum = (v >>> 16) + (v & 0xffff);
    } else {
      const hi = Math.floor(v / TWO32);
      const lo = v >>> 0;
      data[o] = hi >>> 8;
      data[o + 1] = hi & 0xff;
      data[o + 2] = lo >>> 24;
      data[o + 3] = (lo >>> 16) & 0xff;
      data[o + 4] = (lo >>> 8) & 0xff;
      data[o + 5] = lo & 0xff;
      sum = hi + (lo >>> 16) + (lo & 0xffff);
    }
    return this.l4Checksum || this.ipChecksum ? this.oldNot + sum : 0;
  }

  private draw(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (this.span <= TWO32) {
      this.rng = x;
      return Math.floor((x / TWO32) * this.span);
    }
    let y = x;
    y ^= y << 13;
    y ^= y >>> 17;
    y ^= y << 5;
    y >>>= 0;
    this.rng = y;
    return Math.floor(((x * 65536 + (y >>> 16)) / 2 ** 48) * this.span);
  }
}

function bytesToNumber(b: Uint8Array, off: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) v = v * 256 + b[off + k]!;
  return v;
}

/** Fold an unfolded one's complement delta into checksum `hc` (RFC 1624 eqn. 3: HC' = ~(~HC + Σ(~m + m'))). */
export function foldChecksum(hc: number, delta: number): number {
  let s = (~hc & 0xffff) + delta;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}
