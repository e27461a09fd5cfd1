/**
 * Configuration as data: every VNF declares a zod schema; `parseConfig`
 * checks a JSON/YAML-shaped object against it and throws one
 * {@link VnfError} naming every offending field and why; `loadConfig` reads a
 * `.json`, `.yaml` or `.yml` file and puts the file name in the error.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type IpAddress, type IpPrefix, parseIp, parseMac, parsePrefix } from "./addr.js";
import { type ConfigIssue, VnfError } from "./errors.js";

/** `02:00:00:00:00:01` → 6 bytes. */
export const zMac = z.string().transform((s, ctx): Uint8Array => {
  const m = parseMac(s);
  if (!m) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not a MAC address (aa:bb:cc:dd:ee:ff)` });
    return z.NEVER;
  }
  return m;
});

/** An IPv4 or IPv6 address. */
export const zIp = z.string().transform((s, ctx): IpAddress => {
  const a = parseIp(s);
  if (!a) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not an IPv4 or IPv6 address` });
    return z.NEVER;
  }
  return a;
});

/** An IPv4 address only. */
export const zIPv4 = z.string().transform((s, ctx): IpAddress => {
  const a = parseIp(s);
  if (!a || a.family !== 4) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not an IPv4 address` });
    return z.NEVER;
  }
  return a;
});

/** `10.0.0.0/8`, `2001:db8::/32`; a bare address is a host prefix. */
export const zPrefix = z.string().transform((s, ctx): IpPrefix => {
  const p = parsePrefix(s);
  if (typeof p === "string") {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: p });
    return z.NEVER;
  }
  return p;
});

/** An IPv4 prefix only. */
export const zPrefix4 = z.string().transform((s, ctx): IpPrefix => {
  const p = parsePrefix(s);
  if (typeof p === "string" || p.family !== 4) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: typeof p === "string" ? p : `"${s}" is not an IPv4 prefix` });
    return z.NEVER;
  }
  return p;
});

/** An interface address with its subnet, `10.0.0.1/24` (host bits allowed). */
export const zIfAddr = z.string().transform((s, ctx): IpPrefix => {
  const slash = s.indexOf("/");
  const a = parseIp(slash < 0 ? s : s.slice(0, slash));
  const max = a?.family === 4 ? 32 : 128;
  const t = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!a || !/^[0-9]{1,3}$/.test(t) || Number(t) > max) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${s}" is not an interface address like 10.0.0.1/24 or 2001:db8::1/64` });
    return z.NEVER;
  }
  return { family: a.family, words: a.words, len: Number(t) };
});

export interface PortRange {
  readonly lo: number;
  readonly hi: number;
}

/** A port number (`80`) or inclusive range (`"1024-65535"`). */
export const zPortRange = z.union([z.number(), z.string()]).transform((v, ctx): PortRange => {
  let lo: number;
  let hi: number;
  if (typeof v === "number") {
    lo = hi = v;
  } else {
    const m = /^\s*([0-9]{1,5})\s*(?:-\s*([0-9]{1,5})\s*)?$/.exec(v);
    if (!m) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${v}" is not a port or range like 1024-65535` });
      return z.NEVER;
    }
    lo = Number(m[1]);
    hi = m[2] === undefined ? lo : Number(m[2]);
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `port range ${lo}-${hi} is not within 0..65535 with low <= high` });
    return z.NEVER;
  }
  return { lo, hi };
});

/** IP protocol by name or number; `any` is -1. */
export const zProto = z
  .union([z.enum(["any", "tcp", "udp", "icmp", "icmpv6"]), z.number().int().min(0).max(255)])
  .transform((p): number => (typeof p === "number" ? p : { any: -1, tcp: 6, udp: 17, icmp: 1, icmpv6: 58 }[p]));

/** Port index of a VNF. */
export const zPortIndex = z.number().int().min(0).max(65535);

/** A positive integer count (table sizes and the like). */
export const zCount = (max: number) => z.number().int().min(1).max(max);

function pathText(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s;
}

/** Turn zod issues into ours, each naming its field. */
export function configIssues(err: z.ZodError): ConfigIssue[] {
  return err.issues.map((i) => ({ path: pathText(i.path), reason: i.message }));
}

/**
 * Check `input` against `schema`; return the typed configuration or throw a
 * `VnfError` of kind `config` whose message lists `field: reason` for every
 * problem (prefixed by `source`, e.g. the file name, when given).
 */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, input: unknown, source?: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data as z.output<S>;
  const issues = configIssues(r.error);
  const where = source ? `${source}: ` : "";
  const lines = issues.map((i) => `${where}${i.path || "(root)"}: ${i.reason}`);
  throw new VnfError("config", `invalid configuration\n  ${lines.join("\n  ")}`, issues);
}

/** Parse configuration text: YAML for `.yaml`/`.yml` names, JSON otherwise. */
export function parseConfigText(text: string, name: string): unknown {
  try {
    return /\.ya?ml$/i.test(name) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new VnfError("file", `${name}: cannot parse: ${(e as Error).message}`);
  }
}

/** Read and check a configuration file (`.json`, `.yaml`, `.yml`). Errors name the file and the field. */
export function loadConfig<S extends z.ZodTypeAny>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new VnfError("file", `${file}: cannot read: ${(e as Error).message}`);
  }
  return parseConfig(schema, parseConfigText(text, file), file);
}
