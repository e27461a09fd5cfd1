/**
 * Tiny frame builders for the offload tests: Ethernet (+VLAN), IPv4, IPv6
 * (+extension headers), TCP, UDP, VXLAN. Checksums are left zero; the parser
 * under test does not verify them.
 */
import { parseIpv4, parseIpv6, parseMac } from "../src/flow-key.js";

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const u16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];

function macBytes(text: string): number[] {
  const v = parseMac(text);
  const out: number[] = [];
  for (let i = 5; i >= 0; i--) out.push(Math.floor(v / 2 ** (8 * i)) & 255);
  return out;
}

export function v4(text: string): number[] {
  const v = parseIpv4(text)!;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

export function v6(text: string): number[] {
  const w = parseIpv6(text)!;
  const out: number[] = [];
  for (const x of w) out.push(x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
  return out;
}

export interface EthOpts {
  dst?: string;
  src?: string;
  /** TCIs of VLAN tags, outermost first; the first uses TPID 0x88a8 when `qinq`. */
  vlans?: number[];
  qinq?: boolean;
}

export function eth(etherType: number, payload: Uint8Array, o: EthOpts = {}): Uint8Array {
  const head = [...macBytes(o.dst ?? "02:00:00:00:00:01"), ...macBytes(o.src ?? "02:00:00:00:00:02")];
  (o.vlans ?? []).forEach((tci, i) => head.push(...u16(i === 0 && o.qinq ? 0x88a8 : 0x8100), ...u16(tci)));
  head.push(...u16(etherType));
  return concat(Uint8Array.from(head), payload);
}

export interface Ipv4Opts {
  src: string;
  dst: string;
  proto: number;
  payload: Uint8Array;
  tos?: number;
  /** Option bytes (padded to 4). */
  options?: number[];
  /** Flags and fragment offset field (MF = 0x2000). */
  frag?: number;
  totalLength?: number;
  version?: number;
  ihl?: number;
}

export function ipv4(o: Ipv4Opts): Uint8Array {
  const opts = [...(o.options ?? [])];
  while (opts.length % 4 !== 0) opts.push(0);
  const ihl = o.ihl ?? 5 + opts.length / 4;
  const total = o.totalLength ?? 20 + opts.length + o.payload.length;
  const h = [((o.version ?? 4) << 4) | ihl, o.tos ?? 0, ...u16(total), 0, 1, ...u16(o.frag ?? 0), 64, o.proto, 0, 0, ...v4(o.src), ...v4(o.dst), ...opts];
  return concat(Uint8Array.from(h), o.payload);
}

export interface Ipv6Opts {
  src: string;
  dst: string;
  /** Next header of the fixed header (first extension header's type, or the L4 protocol). */
  next: number;
  /** Extension headers and L4, already chained. */
  payload: Uint8Array;
  tclass?: number;
  payloadLength?: number;
}

export function ipv6(o: Ipv6Opts): Uint8Array {
  const tc = o.tclass ?? 0;
  const h = [0x60 | (tc >>> 4), (tc & 15) << 4, 0, 0, ...u16(o.payloadLength ?? o.payload.length), o.next, 64, ...v6(o.src), ...v6(o.dst)];
  return concat(Uint8Array.from(h), o.payload);
}

/** A generic 8n-byte extension header (hop-by-hop, destination options, routing) with `body` padded. */
export function ext8(next: number, body: number[]): Uint8Array {
  const b = [next, 0, ...body];
  while (b.length % 8 !== 0) b.push(0);
  b[1] = b.length / 8 - 1;
  return Uint8Array.from(b);
}

/** Destination Options header carrying a Home Address option (RFC 6275 §6.3; PadN to align). */
export function destOptsHomeAddress(next: number, home: string): Uint8Array {
  // 2 bytes header + PadN(4) + option(2 + 16) = 24 bytes.
  return ext8(next, [1, 2, 0, 0, 201, 16, ...v6(home)]);
}

/** Type 2 Routing Header (RFC 6275 §6.4): type 2, segments left 1, reserved, one address. */
export function routingType2(next: number, addr: string): Uint8Array {
  return ext8(next, [2, 1, 0, 0, 0, 0, ...v6(addr)]);
}

/** Fragment header: offset in 8-byte units, M flag. */
export function fragmentHeader(next: number, offset: number, more: boolean): Uint8Array {
  return Uint8Array.from([next, 0, ...u16((offset << 3) | (more ? 1 : 0)), 0, 0, 0, 1]);
}

export function tcp(sport: number, dport: number, flags = 0x02, payload: Uint8Array = new Uint8Array(0), doff = 5): Uint8Array {
  const h = [...u16(sport), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, doff << 4, flags, ...u16(65535), 0, 0, 0, 0];
  while (h.length < doff * 4) h.push(1);
  return concat(Uint8Array.from(h), payload);
}

export function udp(sport: number, dport: number, payload: Uint8Array = new Uint8Array(0), length?: number): Uint8Array {
  return concat(Uint8Array.from([...u16(sport), ...u16(dport), ...u16(length ?? 8 + payload.length), 0, 0]), payload);
}

export function vxlan(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  return concat(Uint8Array.from([flags, 0, 0, 0, (vni >>> 16) & 255, (vni >>> 8) & 255, vni & 255, 0]), inner);
}

/** Ethernet / IPv4 / TCP in one call. */
export function ipv4Tcp(src: string, dst: string, sport: number, dport: number, e: EthOpts = {}): Uint8Array {
  return eth(0x0800, ipv4({ src, dst, proto: 6, payload: tcp(sport, dport) }), e);
}
