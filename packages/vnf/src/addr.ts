/**
 * Address text forms used in configurations, parsed once at setup.
 *
 * Every IP address is held as four 32-bit words, most significant first. An
 * IPv4 address `a` is `[0, 0, 0xffff, a]`, the IPv4-mapped form of RFC 4291
 * §2.5.5.2, so prefix and tuple code serves both families; an IPv4 prefix of
 * length `l` covers the mapped form with length `96 + l`. Code that needs the
 * family keeps it beside the words.
 */

export type IpWords = readonly [number, number, number, number];

export interface IpAddress {
  readonly family: 4 | 6;
  readonly words: IpWords;
}

export interface IpPrefix extends IpAddress {
  /** Prefix length in the address's own family (0..32 or 0..128). */
  readonly len: number;
}

/** Parse dotted-quad IPv4 text to an unsigned 32-bit number, or undefined. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Parse IPv6 text (RFC 4291 §2.2, including `::` and a trailing dotted quad) to four words, or undefined. */
export function parseIPv6(s: string): [number, number, number, number] | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  const dbl = s.indexOf("::");
  if (dbl !== s.lastIndexOf("::")) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (i === items.length - 1 && it.includes(".")) {
        const v4 = parseIPv4(it);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = groupsOf(s.slice(0, dbl));
    const tail = groupsOf(s.slice(dbl + 2));
    if (!head || !tail) return undefined;
    if (head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const g = groupsOf(s);
    if (!g || g.length !== 8) return undefined;
    groups = g;
  }
  return [
    ((groups[0]! << 16) | groups[1]!) >>> 0,
    ((groups[2]! << 16) | groups[3]!) >>> 0,
    ((groups[4]! << 16) | groups[5]!) >>> 0,
    ((groups[6]! << 16) | groups[7]!) >>> 0,
  ];
}

/** Parse an IPv4 or IPv6 address. */
export function parseIp(s: string): IpAddress | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { family: 4, words: [0, 0, 0xffff, v4] };
  const v6 = parseIPv6(s);
  if (v6 !== undefined) return { family: 6, words: v6 };
  return undefined;
}

/** Mask of the top `bits` bits (0..32) of a 32-bit word. */
export function maskBits(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Mask of word `k` (0..3) for a 128-bit prefix length. */
export function wordMask(len128: number, k: number): number {
  return maskBits(len128 - 32 * k);
}

/**
 * Parse `addr/len` (a bare address is a host prefix). Returns the prefix or a
 * reason string; host bits beyond the length are refused rather than masked,
 * as they usually signal a typo.
 */
export function parsePrefix(s: string): IpPrefix | string {
  const slash = s.indexOf("/");
  const a = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!a) return `"${s}" is not an IPv4 or IPv6 address or prefix`;
  const max = a.family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(t) || Number(t) > max) return `prefix length "${t}" is not 0..${max}`;
    len = Number(t);
  }
  const l128 = a.family === 4 ? 96 + len : len;
  for (let k = 0; k < 4; k++) {
    if ((a.words[k]! & ~wordMask(l128, k)) !== 0) return `"${s}" has host bits set beyond /${len}`;
  }
  return { family: a.family, words: a.words, len };
}

/** Parse `aa:bb:cc:dd:ee:ff` (or with `-`) into 6 bytes, or undefined. */
export function parseMac(s: string): Uint8Array | undefined {
  const m = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(s);
  if (!m) return undefined;
  return Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array, off = 0): string {
  const h: string[] = [];
  for (let i = 0; i < 6; i++) h.push(b[off + i]!.toString(16).padStart(2, "0"));
  return h.join(":");
}

export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text form of an IPv6 address (longest zero run compressed). */
export function formatIPv6(w: IpWords): string {
  const g: number[] = [];
  for (const x of w) g.push(x >>> 16, x & 0xffff);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

export function formatIp(a: IpAddress): string {
  return a.family === 4 ? formatIPv4(a.words[3]) : formatIPv6(a.words);
}
