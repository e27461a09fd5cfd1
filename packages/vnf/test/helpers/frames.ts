/**
 * A tiny frame builder and checker for the VNF tests, independent of the
 * code under test: its own address parsing and its own full-recompute
 * Internet checksum (RFC 1071).
 */

export function mac(s: string): number[] {
  return s.split(":").map((h) => parseInt(h, 16));
}

export function ip4(s: string): number[] {
  return s.split(".").map(Number);
}

export function ip6(s: string): number[] {
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":").filter((x) => x !== "") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    out.push(v >> 8, v & 255);
  }
  if (out.length !== 16) throw new Error(`bad IPv6 literal ${s}`);
  return out;
}

export function ipBytes(s: string): number[] {
  return s.includes(":") ? ip6(s) : ip4(s);
}

/** RFC 1071 checksum of the concatenated byte arrays. */
export function inetChecksum(...parts: ArrayLike<number>[]): number {
  const all: number[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) all.push(p[i]!);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;
export const FLAGS = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 } as const;

export interface PacketSpec {
  dstMac?: string;
  srcMac?: string;
  src: string;
  dst: string;
  proto: keyof typeof PROTO | number;
  ttl?: number;
  ipId?: number;
  tos?: number;
  sport?: number;
  dport?: number;
  /** TCP flags (default SYN). */
  flags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /** Bytes after the L4 header (for ICMP: after the 8-byte header). */
  payload?: ArrayLike<number>;
  /** UDP: send checksum 0 (IPv4 only, RFC 768). */
  udpNoChecksum?: boolean;
  /** Pad the frame to at least this many bytes with zeros after the IP datagram. */
  padTo?: number;
  vlan?: number;
  /** IPv4 Don't Fragment flag (default true). */
  df?: boolean;
}

function pseudo(spec: PacketSpec, proto: number, len: number): number[] {
  const v6 = spec.src.includes(":");
  if (v6) return [...ip6(spec.src), ...ip6(spec.dst), ...be32(len), 0, 0, 0, proto];
  return [...ip4(spec.src), ...ip4(spec.dst), 0, proto, ...be16(len)];
}

/** The L4 segment with a correct checksum. */
export function l4Bytes(spec: PacketSpec): { proto: number; bytes: number[] } {
  const payload = Array.from(spec.payload ?? []);
  const proto = typeof spec.proto === "number" ? spec.proto : PROTO[spec.proto];
  const v6 = spec.src.includes(":");
  if (proto === 6) {
    const h = [...be16(spec.sport ?? 1234), ...be16(spec.dport ?? 80), ...be32(spec.seq ?? 1000), ...be32(spec.ack ?? 0), 0x50, spec.flags ?? FLAGS.SYN, ...be16(65535), 0, 0, 0, 0];
    const seg = [...h, ...payload];
    const cs = inetChecksum(pseudo(spec, 6, seg.length), seg);
    seg[16] = cs >> 8;
    seg[17] = cs & 255;
    return { proto, bytes: seg };
  }
  if (proto === 17) {
    const seg = [...be16(spec.sport ?? 1234), ...be16(spec.dport ?? 53), ...be16(8 + payload.length), 0, 0, ...payload];
    if (!spec.udpNoChecksum) {
      let cs = inetChecksum(pseudo(spec, 17, seg.length), seg);
      if (cs === 0) cs = 0xffff;
      seg[6] = cs >> 8;
      seg[7] = cs & 255;
    }
    return { proto, bytes: seg };
  }
  if (proto === 1 || proto === 58) {
    const type = spec.icmpType ?? (proto === 1 ? 8 : 128);
    const rest = spec.icmpId !== undefined || spec.icmpSeq !== undefined || type === 8 || type === 0 || type === 128 || type === 129 ? [...be16(spec.icmpId ?? 0), ...be16(spec.icmpSeq ?? 0)] : [0, 0, 0, 0];
    const seg = [type, spec.icmpCode ?? 0, 0, 0, ...rest, ...payload];
    const cs = proto === 1 || !v6 ? inetChecksum(seg) : inetChecksum(pseudo(spec, 58, seg.length), seg);
    seg[2] = cs >> 8;
    seg[3] = cs & 255;
    return { proto, bytes: seg };
  }
  return { proto, bytes: payload };
}

/** The IP datagram (header + segment) with correct checksums. */
export function ipBytesOf(spec: PacketSpec): number[] {
  const { proto, bytes } = l4Bytes(spec);
  if (spec.src.includes(":")) {
    return [0x60 | ((spec.tos ?? 0) >> 4), ((spec.tos ?? 0) & 15) << 4, 0, 0, ...be16(bytes.length), proto, spec.ttl ?? 64, ...ip6(spec.src), ...ip6(spec.dst), ...bytes];
  }
  const h = [0x45, spec.tos ?? 0, ...be16(20 + bytes.length), ...be16(spec.ipId ?? 0), spec.df === false ? 0 : 0x40, 0, spec.ttl ?? 64, proto, 0, 0, ...ip4(spec.src), ...ip4(spec.dst)];
  const cs = inetChecksum(h);
  h[10] = cs >> 8;
  h[11] = cs & 255;
  return [...h, ...bytes];
}

export function ethBytes(dstMac: string, srcMac: string, etherType: number, payload: ArrayLike<number>, vlan?: number): number[] {
  const tag = vlan === undefined ? [] : [0x81, 0x00, ...be16(vlan)];
  return [...mac(dstMac), ...mac(srcMac), ...tag, ...be16(etherType), ...Array.from(payload)];
}

/** A whole Ethernet frame. */
export function packet(spec: PacketSpec): Uint8Array {
  const v6 = spec.src.includes(":");
  const f = ethBytes(spec.dstMac ?? "02:00:00:00:00:01", spec.srcMac ?? "02:00:00:00:00:02", v6 ? 0x86dd : 0x0800, ipBytesOf(spec), spec.vlan);
  while (spec.padTo !== undefined && f.length < spec.padTo) f.push(0);
  return Uint8Array.from(f);
}

/** ARP request or reply (RFC 826) for Ethernet/IPv4. */
export function arp(op: 1 | 2, o: { srcMac: string; dstMac?: string; sha: string; spa: string; tha?: string; tpa: string }): Uint8Array {
  const body = [0, 1, 8, 0, 6, 4, 0, op, ...mac(o.sha), ...ip4(o.spa), ...mac(o.tha ?? "00:00:00:00:00:00"), ...ip4(o.tpa)];
  return Uint8Array.from(ethBytes(o.dstMac ?? "ff:ff:ff:ff:ff:ff", o.srcMac, 0x0806, body));
}

/** Neighbor Solicitation (135) or Advertisement (136), RFC 4861 §4.3-4.4, with a link-layer address option. */
export function nd(
  type: 135 | 136,
  o: { srcMac: string; dstMac: string; src: string; dst: string; target: string; lla?: string; flags?: number; hlim?: number },
): Uint8Array {
  const opt = o.lla ? [type === 135 ? 1 : 2, 1, ...mac(o.lla)] : [];
  const body = [type, 0, 0, 0, (o.flags ?? 0) & 255, 0, 0, 0, ...ip6(o.target), ...opt];
  const cs = inetChecksum([...ip6(o.src), ...ip6(o.dst), ...be32(body.length), 0, 0, 0, 58], body);
  body[2] = cs >> 8;
  body[3] = cs & 255;
  const ip = [0x60, 0, 0, 0, ...be16(body.length), 58, o.hlim ?? 255, ...ip6(o.src), ...ip6(o.dst), ...body];
  return Uint8Array.from(ethBytes(o.dstMac, o.srcMac, 0x86dd, ip));
}

/**
 * Verify every checksum of a frame by full recompute: the IPv4 header
 * checksum and the TCP/UDP/ICMP/ICMPv6 checksum. Returns the problems found.
 */
export function checksumProblems(frame: Uint8Array): string[] {
  const out: string[] = [];
  let p = 12;
  let et = (frame[p]! << 8) | frame[p + 1]!;
  while (et === 0x8100) {
    p += 4;
    et = (frame[p]! << 8) | frame[p + 1]!;
  }
  p += 2;
  const sum = (bytes: ArrayLike<number>[]) => inetChecksum(...bytes);
  let proto: number;
  let l4: number;
  let end: number;
  let ps: (len: number) => number[];
  if (et === 0x0800) {
    const ihl = (frame[p]! & 15) * 4;
    if (sum([frame.subarray(p, p + ihl)]) !== 0) out.push("IPv4 header checksum");
    proto = frame[p + 9]!;
    l4 = p + ihl;
    end = p + ((frame[p + 2]! << 8) | frame[p + 3]!);
    const src = frame.subarray(p + 12, p + 20);
    ps = (len) => [...src, 0, proto, len >> 8, len & 255];
  } else if (et === 0x86dd) {
    proto = frame[p + 6]!;
    l4 = p + 40;
    end = l4 + ((frame[p + 4]! << 8) | frame[p + 5]!);
    const addrs = frame.subarray(p + 8, p + 40);
    ps = (len) => [...addrs, 0, 0, len >> 8, len & 255, 0, 0, 0, proto];
  } else return out;
  const seg = frame.subarray(l4, end);
  if (proto === 6 && sum([ps(seg.length), seg]) !== 0) out.push("TCP checksum");
  if (proto === 17 && !(et === 0x0800 && seg[6] === 0 && seg[7] === 0) && sum([ps(seg.length), seg]) !== 0) out.push("UDP checksum");
  if (proto === 1 && sum([seg]) !== 0) out.push("ICMP checksum");
  if (proto === 58 && sum([ps(seg.length), seg]) !== 0) out.push("ICMPv6 checksum");
  return out;
}

/** Hex dump for readable byte-by-byte failure messages. */
export function hex(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

export interface Tuple {
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
}

/** The 5-tuple of an untagged IPv4 frame (ICMP: the echo identifier in `sport`, `dport` 0). */
export function tuple4(frame: Uint8Array): Tuple {
  const ip = 14;
  const ihl = (frame[ip]! & 15) * 4;
  const l4 = ip + ihl;
  const proto = frame[ip + 9]!;
  const a = (o: number) => Array.from(frame.subarray(o, o + 4)).join(".");
  const r16 = (o: number) => (frame[o]! << 8) | frame[o + 1]!;
  return proto === 1
    ? { src: a(ip + 12), dst: a(ip + 16), proto, sport: r16(l4 + 4), dport: 0 }
    : { src: a(ip + 12), dst: a(ip + 16), proto, sport: r16(l4), dport: r16(l4 + 2) };
}
