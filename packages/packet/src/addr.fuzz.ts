/**
 * Fuzz target for the text address parsers: any string either throws a
 * PacketError or parses to a value whose formatted text parses back to the
 * same value (and formatting is a fixed point).
 */
import { formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac } from "./addr.js";
import { PacketError } from "./errors.js";

function attempt<T>(f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    if (e instanceof PacketError) return null;
    throw new Error(`threw a non-PacketError: ${String(e)}`);
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Check the parsers on `text`; throws an Error on a violation. */
export function fuzzAddrTarget(text: string): void {
  const mac = attempt(() => parseMac(text));
  if (mac !== null && !same(parseMac(formatMac(mac)), mac)) throw new Error(`MAC ${text} does not round-trip`);
  const v4 = attempt(() => parseIpv4(text));
  if (v4 !== null && (v4 < 0 || v4 > 0xffff_ffff || parseIpv4(formatIpv4(v4)) !== v4)) throw new Error(`IPv4 ${text} does not round-trip`);
  const v6 = attempt(() => parseIpv6(text));
  if (v6 !== null) {
    const s = formatIpv6(v6);
    if (!same(parseIpv6(s), v6)) throw new Error(`IPv6 ${text} -> ${s} does not round-trip`);
    if (formatIpv6(parseIpv6(s)) !== s) throw new Error(`IPv6 format of ${text} is not a fixed point`);
  }
}
