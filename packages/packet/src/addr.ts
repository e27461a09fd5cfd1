/**
 * Text forms of MAC, IPv4 and IPv6 addresses, for configuration files and
 * logs (not for the datapath, which keeps addresses as bytes or u32 words).
 *
 * - MAC: six hex octets separated by `:` or `-` (IEEE 802 "canonical" text form).
 * - IPv4: dotted decimal, four decimal octets without leading zeros
 *   (RFC 6943 §3.1.1 explains why "010.1.1.1" is refused rather than guessed).
 * - IPv6: RFC 4291 §2.2 text forms (eight groups, `::` once, trailing dotted
 *   IPv4); formatting follows RFC 5952 §4 (lowercase, no leading zeros,
 *   longest run of two or more zero groups shortened, the first on a tie).
 *
 * Parsers throw {@link PacketError} ("malformed") with the offending text.
 */
import { PacketError } from "./errors.js";

const HEX = "0123456789abcdef";

function bad(what: string, text: string, why: string): PacketError {
  return new PacketError("malformed", `invalid ${what} ${JSON.stringify(text)}: ${why}`);
}

/** Parse "aa:bb:cc:dd:ee:ff" (or with `-`) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) throw bad("MAC address", text, "expected 6 octets");
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i]!;
    if (!/^[0-9a-fA-F]{2}$/.test(p)) throw bad("MAC address", text, `octet ${i + 1} is not two hex digits`);
    out[i] = parseInt(p, 16);
  }
  return out;
}

/** Format 6 bytes at `offset` as "aa:bb:cc:dd:ee:ff". */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  let s = "";
  for (let i = 0; i < 6; i++) {
    const v = bytes[offset + i] ?? 0;
    if (i > 0) s += ":";
    s += HEX[v >> 4]! + HEX[v & 15]!;
  }
  return s;
}

/** Parse dotted decimal "192.0.2.1" into an unsigned 32-bit number. */
export function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) throw bad("IPv4 address", text, "expected 4 decimal octets");
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) throw bad("IPv4 address", text, `octet ${i + 1} is not a decimal number without leading zeros`);
    const n = Number(p);
    if (n > 255) throw bad("IPv4 address", text, `octet ${i + 1} is above 255`);
    v = v * 256 + n;
  }
  return v;
}

/** Format an unsigned 32-bit address as dotted decimal. */
export function formatIpv4(addr: number): string {
  const a = addr >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Read 4 bytes at `offset` as an unsigned 32-bit address. */
export function readIpv4(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** Write an unsigned 32-bit address as 4 bytes at `offset`. */
export function writeIpv4Addr(bytes: Uint8Array, offset: number, addr: number): void {
  bytes[offset] = addr >>> 24;
  bytes[offset + 1] = addr >>> 16;
  bytes[offset + 2] = addr >>> 8;
  bytes[offset + 3] = addr;
}

/** Parse an IPv6 address (RFC 4291 §2.2) into 16 bytes. Zone suffixes ("%eth0") are refused. */
export function parseIpv6(text: string): Uint8Array {
  if (text.length === 0 || text.length > 45) throw bad("IPv6 address", text, "wrong length");
  const halves = text.split("::");
  if (halves.length > 2) throw bad("IPv6 address", text, '"::" appears more than once');
  const groups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const words: number[] = [];
  let v4: number | null = null;
  // A dotted IPv4 may end the address (RFC 4291 §2.2 form 3).
  const lastList = halves.length === 2 ? tail : head;
  const last = lastList[lastList.length - 1];
  if (last !== undefined && last.includes(".")) {
    v4 = parseIpv4(last);
    lastList.pop();
  }
  for (const g of [...head, ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad("IPv6 address", text, `group ${JSON.stringify(g)} is not 1-4 hex digits`);
  }
  const have = head.length + tail.length + (v4 === null ? 0 : 2);
  if (halves.length === 1 && have !== 8) throw bad("IPv6 address", text, "expected 8 groups");
  if (halves.length === 2 && have > 7) throw bad("IPv6 address", text, '"::" must stand for at least one group');
  for (const g of head) words.push(parseInt(g, 16));
  for (let i = have; i < 8; i++) words.push(0);
  for (const g of tail) words.push(parseInt(g, 16));
  if (v4 !== null) words.push(v4 >>> 16, v4 & 0xffff);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Format 16 bytes at `offset` in the RFC 5952 §4 canonical form. */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  // Longest run of zero groups, length >= 2, first one on a tie (RFC 5952 §4.2).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => w.slice(from, to).map((x) => x.toString(16)).join(":");
  // IPv4-mapped addresses keep the dotted quad (RFC 5952 §5).
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIpv4(((w[6]! << 16) | w[7]!) >>> 0)}`;
  }
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Anything the builders accept as a MAC address: bytes or text. */
export type MacLike = Uint8Array | string;
/** Anything the builders accept as an IPv4 address: u32 or dotted text. */
export type Ipv4Like = number | string;
/** Anything the builders accept as an IPv6 address: 16 bytes or text. */
export type Ipv6Like = Uint8Array | string;

/** @internal */
export function toMac(v: MacLike): Uint8Array {
  if (typeof v === "string") return parseMac(v);
  if (v.length !== 6) throw new PacketError("usage", `a MAC address is 6 bytes, got ${v.length}`);
  return v;
}

/** @internal */
export function toIpv4(v: Ipv4Like): number {
  if (typeof v === "string") return parseIpv4(v);
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new PacketError("usage", `an IPv4 address is a u32, got ${v}`);
  return v;
}

/** @internal */
export function toIpv6(v: Ipv6Like): Uint8Array {
  if (typeof v === "string") return parseIpv6(v);
  if (v.length !== 16) throw new PacketError("usage", `an IPv6 address is 16 bytes, got ${v.length}`);
  return v;
}
