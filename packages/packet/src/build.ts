/**
 * Header builders: each `write*` function writes one header at `offset` in
 * a caller's buffer and returns the offset just after it, so headers chain:
 *
 *     let o = writeEthernet(buf, 0, dst, src, EtherType.IPV4);
 *     o = writeIpv4(buf, o, { src, dst, protocol: IpProto.UDP, totalLength });
 *     o = writeUdp(buf, o, { srcPort, dstPort, length });
 *
 * They write every byte of their header (reserved fields as zero), and
 * throw {@link PacketError} ("usage") when the header does not fit or a
 * field is out of range. L4 checksums need the payload, so they are left
 * zero here; {@link buildFrame} (or {@link fillChecksums} after a parse)
 * fills them. {@link writeIpv4} computes its own header checksum.
 *
 * {@link buildFrame} is the convenience for tests and traffic templates: it
 * allocates and returns a complete frame from a declarative spec.
 */
import { toIpv4, toIpv6, toMac, writeIpv4Addr, type Ipv4Like, type Ipv6Like, type MacLike } from "./addr.js";
import { setIpv4HeaderChecksum, setL4Checksum } from "./checksum.js";
import { ETH_MIN_FRAME, EtherType, IcmpType, IpProto, VXLAN_PORT } from "./constants.js";
import { PacketError } from "./errors.js";

function need(buf: Uint8Array, offset: number, len: number, what: string): void {
  if (offset >>> 0 !== offset || offset + len > buf.length) {
    throw new PacketError("usage", `${what} (${len} bytes) does not fit at offset ${offset} of a ${buf.length}-byte buffer`);
  }
}

function field(value: number, bits: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new PacketError("usage", `${name} ${value} does not fit in ${bits} bits`);
  }
  return value;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Ethernet II header (IEEE 802.3 §3.1.1): destination, source, EtherType. 14 bytes. */
export function writeEthernet(buf: Uint8Array, offset: number, dst: MacLike, src: MacLike, etherType: number): number {
  need(buf, offset, 14, "Ethernet header");
  buf.set(toMac(dst), offset);
  buf.set(toMac(src), offset + 6);
  put16(buf, offset + 12, field(etherType, 16, "EtherType"));
  return offset + 14;
}

/**
 * The 4 bytes after a TPID (which the previous header wrote as its
 * EtherType): the TCI and the next EtherType (IEEE 802.1Q §9.6).
 */
export function writeVlanTag(buf: Uint8Array, offset: number, tci: number, etherType: number): number {
  need(buf, offset, 4, "VLAN tag");
  put16(buf, offset, field(tci, 16, "TCI"));
  put16(buf, offset + 2, field(etherType, 16, "EtherType"));
  return offset + 4;
}

/** TCI from its parts: PCP (3 bits), DEI (1), VID (12) (IEEE 802.1Q §9.6). */
export function vlanTci(vid: number, pcp = 0, dei = false): number {
  return (field(pcp, 3, "PCP") << 13) | (dei ? 0x1000 : 0) | field(vid, 12, "VID");
}

export interface ArpHeader {
  /** 1 request, 2 reply (RFC 826). */
  op: number;
  senderMac: MacLike;
  senderIp: Ipv4Like;
  targetMac: MacLike;
  targetIp: Ipv4Like;
}

/** ARP for Ethernet/IPv4 (RFC 826). 28 bytes. */
export function writeArp(buf: Uint8Array, offset: number, h: ArpHeader): number {
  need(buf, offset, 28, "ARP packet");
  put16(buf, offset, 1); // hardware type: Ethernet
  put16(buf, offset + 2, EtherType.IPV4);
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  put16(buf, offset + 6, field(h.op, 16, "ARP op"));
  buf.set(toMac(h.senderMac), offset + 8);
  writeIpv4Addr(buf, offset + 14, toIpv4(h.senderIp));
  buf.set(toMac(h.targetMac), offset + 18);
  writeIpv4Addr(buf, offset + 24, toIpv4(h.targetIp));
  return offset + 28;
}

export interface Ipv4Header {
  src: Ipv4Like;
  dst: Ipv4Like;
  protocol: number;
  /** Total Length: header + payload (RFC 791 §3.1). */
  totalLength: number;
  ttl?: number;
  tos?: number;
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Fragment offset in bytes, a multiple of 8. */
  fragmentOffset?: number;
  /** Option bytes, a multiple of 4, at most 40 (RFC 791 §3.1). */
  options?: Uint8Array;
}

/** IPv4 header (RFC 791 §3.1) with its header checksum. 20 bytes + options. */
export function writeIpv4(buf: Uint8Array, offset: number, h: Ipv4Header): number {
  const opt = h.options?.length ?? 0;
  if (opt % 4 !== 0 || opt > 40) throw new PacketError("usage", `IPv4 options must be a multiple of 4 bytes, at most 40; got ${opt}`);
  const hl = 20 + opt;
  need(buf, offset, hl, "IPv4 header");
  const fo = h.fragmentOffset ?? 0;
  if (fo % 8 !== 0) throw new PacketError("usage", `IPv4 fragment offset ${fo} is not a multiple of 8`);
  buf[offset] = 0x40 | (hl >> 2);
  buf[offset + 1] = field(h.tos ?? 0, 8, "TOS");
  put16(buf, offset + 2, field(h.totalLength, 16, "IPv4 total length"));
  put16(buf, offset + 4, field(h.id ?? 0, 16, "IPv4 id"));
  put16(buf, offset + 6, (h.dontFragment ? 0x4000 : 0) | (h.moreFragments ? 0x2000 : 0) | field(fo >> 3, 13, "fragment offset/8"));
  buf[offset + 8] = field(h.ttl ?? 64, 8, "TTL");
  buf[offset + 9] = field(h.protocol, 8, "protocol");
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  writeIpv4Addr(buf, offset + 12, toIpv4(h.src));
  writeIpv4Addr(buf, offset + 16, toIpv4(h.dst));
  if (h.options !== undefined) buf.set(h.options, offset + 20);
  setIpv4HeaderChecksum(buf, offset);
  return offset + hl;
}

export interface Ipv6Header {
  src: Ipv6Like;
  dst: Ipv6Like;
  nextHeader: number;
  /** Payload Length: everything after the 40-byte header (RFC 8200 §3). */
  payloadLength: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** IPv6 fixed header (RFC 8200 §3). 40 bytes. */
export function writeIpv6(buf: Uint8Array, offset: number, h: Ipv6Header): number {
  need(buf, offset, 40, "IPv6 header");
  const tc = field(h.trafficClass ?? 0, 8, "traffic class");
  const fl = field(h.flowLabel ?? 0, 20, "flow label");
  put32(buf, offset, ((6 << 28) | (tc << 20) | fl) >>> 0);
  put16(buf, offset + 4, field(h.payloadLength, 16, "IPv6 payload length"));
  buf[offset + 6] = field(h.nextHeader, 8, "next header");
  buf[offset + 7] = field(h.hopLimit ?? 64, 8, "hop limit");
  buf.set(toIpv6(h.src), offset + 8);
  buf.set(toIpv6(h.dst), offset + 24);
  return offset + 40;
}

/**
 * An IPv6 extension header in the generic format (RFC 8200 §4.2, RFC 6564):
 * Hop-by-Hop (0), Routing (43), Destination Options (60), Mobility (135)...
 * `length` is the whole header in bytes, a multiple of 8, at least 8. For
 * the options headers the body is one PadN option (RFC 8200 §4.2), so the
 * header is valid; other kinds get a zero body.
 */
export function writeIpv6ExtHeader(buf: Uint8Array, offset: number, nextHeader: number, length = 8, kind: number = IpProto.IPV6_OPTS): number {
  if (length < 8 || length % 8 !== 0 || length > 2048) throw new PacketError("usage", `extension header length ${length} must be a multiple of 8 in [8, 2048]`);
  need(buf, offset, length, "IPv6 extension header");
  buf[offset] = field(nextHeader, 8, "next header");
  buf[offset + 1] = length / 8 - 1;
  buf.fill(0, offset + 2, offset + length);
  if (kind === IpProto.HOPOPT || kind === IpProto.IPV6_OPTS) {
    // PadN: type 1, length = bytes of zeros that follow.
    buf[offset + 2] = 1;
    buf[offset + 3] = length - 4;
  }
  return offset + length;
}

export interface Ipv6FragmentHeader {
  nextHeader: number;
  /** Fragment offset in bytes, a multiple of 8. */
  offset?: number;
  more?: boolean;
  id?: number;
}

/** IPv6 Fragment header (RFC 8200 §4.5). 8 bytes. */
export function writeIpv6Fragment(buf: Uint8Array, offset: number, h: Ipv6FragmentHeader): number {
  need(buf, offset, 8, "IPv6 fragment header");
  const fo = h.offset ?? 0;
  if (fo % 8 !== 0) throw new PacketError("usage", `fragment offset ${fo} is not a multiple of 8`);
  buf[offset] = field(h.nextHeader, 8, "next header");
  buf[offset + 1] = 0;
  put16(buf, offset + 2, (field(fo >> 3, 13, "fragment offset/8") << 3) | (h.more ? 1 : 0));
  put32(buf, offset + 4, field(h.id ?? 0, 32, "fragment id"));
  return offset + 8;
}

/**
 * Authentication Header (RFC 4302 §2): next header, length, SPI, sequence
 * number and an ICV of `icvLength` bytes (a multiple of 4; 12 for
 * HMAC-SHA1-96), left zero.
 */
export function writeAuthHeader(buf: Uint8Array, offset: number, nextHeader: number, spi: number, seq: number, icvLength = 12): number {
  const len = 12 + icvLength;
  if (icvLength % 4 !== 0 || len % 8 !== 0) throw new PacketError("usage", `AH length ${len} must be a multiple of 8 over IPv6 (RFC 4302 §2.2)`);
  need(buf, offset, len, "authentication header");
  buf[offset] = field(nextHeader, 8, "next header");
  buf[offset + 1] = len / 4 - 2;
  put16(buf, offset + 2, 0);
  put32(buf, offset + 4, field(spi, 32, "SPI"));
  put32(buf, offset + 8, field(seq, 32, "sequence number"));
  buf.fill(0, offset + 12, offset + len);
  return offset + len;
}

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** {@link TcpFlag} bits. */
  flags?: number;
  window?: number;
  urgent?: number;
  /** Option bytes, a multiple of 4, at most 40. */
  options?: Uint8Array;
}

/** TCP header (RFC 9293 §3.1), checksum zero. 20 bytes + options. */
export function writeTcp(buf: Uint8Array, offset: number, h: TcpHeader): number {
  const opt = h.options?.length ?? 0;
  if (opt % 4 !== 0 || opt > 40) throw new PacketError("usage", `TCP options must be a multiple of 4 bytes, at most 40; got ${opt}`);
  const hl = 20 + opt;
  need(buf, offset, hl, "TCP header");
  const flags = field(h.flags ?? 0, 9, "TCP flags");
  put16(buf, offset, field(h.srcPort, 16, "source port"));
  put16(buf, offset + 2, field(h.dstPort, 16, "destination port"));
  put32(buf, offset + 4, field(h.seq ?? 0, 32, "sequence number"));
  put32(buf, offset + 8, field(h.ack ?? 0, 32, "acknowledgment number"));
  buf[offset + 12] = ((hl >> 2) << 4) | (flags >> 8);
  buf[offset + 13] = flags & 0xff;
  put16(buf, offset + 14, field(h.window ?? 65535, 16, "window"));
  put16(buf, offset + 16, 0);
  put16(buf, offset + 18, field(h.urgent ?? 0, 16, "urgent pointer"));
  if (h.options !== undefined) buf.set(h.options, offset + 20);
  return offset + hl;
}

export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  /** Header + data (RFC 768). */
  length: number;
}

/** UDP header (RFC 768), checksum zero. 8 bytes. */
export function writeUdp(buf: Uint8Array, offset: number, h: UdpHeader): number {
  need(buf, offset, 8, "UDP header");
  put16(buf, offset, field(h.srcPort, 16, "source port"));
  put16(buf, offset + 2, field(h.dstPort, 16, "destination port"));
  put16(buf, offset + 4, field(h.length, 16, "UDP length"));
  put16(buf, offset + 6, 0);
  return offset + 8;
}

export interface IcmpEchoHeader {
  /** {@link IcmpType.ECHO_REQUEST} (8) or ECHO_REPLY (0); for ICMPv6 128 / 129. */
  type: number;
  id: number;
  seq: number;
}

/** ICMP echo request/reply header (RFC 792; RFC 4443 §4.1 for ICMPv6), checksum zero. 8 bytes. */
export function writeIcmpEcho(buf: Uint8Array, offset: number, h: IcmpEchoHeader): number {
  return writeIcmp(buf, offset, { type: h.type, code: 0, rest: ((field(h.id, 16, "echo id") << 16) | field(h.seq, 16, "echo seq")) >>> 0 });
}

export interface IcmpHeader {
  type: number;
  code?: number;
  /** The 32-bit word after the checksum (identifier/sequence, MTU, pointer, ND flags, or reserved). */
  rest?: number;
}

/** ICMP or ICMPv6 header (RFC 792, RFC 4443 §2.1): type, code, checksum (zero), 4 more bytes. 8 bytes. */
export function writeIcmp(buf: Uint8Array, offset: number, h: IcmpHeader): number {
  need(buf, offset, 8, "ICMP header");
  buf[offset] = field(h.type, 8, "ICMP type");
  buf[offset + 1] = field(h.code ?? 0, 8, "ICMP code");
  put16(buf, offset + 2, 0);
  put32(buf, offset + 4, field(h.rest ?? 0, 32, "ICMP rest of header"));
  return offset + 8;
}

/** ICMPv6 header (RFC 4443 §2.1); the same layout as {@link writeIcmp}. */
export const writeIcmpv6: (buf: Uint8Array, offset: number, h: IcmpHeader) => number = writeIcmp;

/** VXLAN header (RFC 7348 §5): I flag, 24-bit VNI, reserved zero. 8 bytes. */
export function writeVxlan(buf: Uint8Array, offset: number, vni: number): number {
  need(buf, offset, 8, "VXLAN header");
  put32(buf, offset, 0x0800_0000);
  put32(buf, offset + 4, (field(vni, 24, "VNI") << 8) >>> 0);
  return offset + 8;
}

// ---------------------------------------------------------------------------
// buildFrame

export interface VlanSpec {
  vid: number;
  pcp?: number;
  dei?: boolean;
  /** Tag protocol identifier; default 0x8100 (0x88a8 for the outer of two tags). */
  tpid?: number;
}

export interface Ipv4Spec {
  src: Ipv4Like;
  dst: Ipv4Like;
  ttl?: number;
  tos?: number;
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  fragmentOffset?: number;
  options?: Uint8Array;
  /** Protocol number when no L4 spec is given (default 59-like "raw": 253, experimental, RFC 3692). */
  protocol?: number;
}

export interface Ipv6ExtSpec {
  /** 0 Hop-by-Hop, 43 Routing, 44 Fragment, 51 AH, 60 Destination Options, 135 Mobility... */
  type: number;
  /** Header length in bytes for generic headers (multiple of 8, default 8). */
  length?: number;
  /** Fragment header fields. */
  fragmentOffset?: number;
  more?: boolean;
  id?: number;
}

export interface Ipv6Spec {
  src: Ipv6Like;
  dst: Ipv6Like;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  ext?: readonly Ipv6ExtSpec[];
  /** Next header when no L4 spec is given (default 59, No Next Header). */
  nextHeader?: number;
}

export interface ArpSpec {
  op?: number;
  senderMac?: MacLike;
  senderIp: Ipv4Like;
  targetMac?: MacLike;
  targetIp: Ipv4Like;
}

export interface TcpSpec {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: Uint8Array;
}

export interface UdpSpec {
  srcPort?: number;
  /** Default 4789 when `vxlan` is given, else 9 (discard). */
  dstPort?: number;
  /** Write 0 in the checksum field (RFC 768 "no checksum"; the default for VXLAN over IPv4, RFC 7348 §5). */
  zeroChecksum?: boolean;
}

export interface IcmpSpec {
  /** Default 8, echo request. */
  type?: number;
  code?: number;
  id?: number;
  seq?: number;
}

export interface Icmpv6Spec {
  /** Default 128, echo request. */
  type?: number;
  code?: number;
  /** The word after the checksum; for echo, built from id/seq. */
  rest?: number;
  id?: number;
  seq?: number;
  /** Neighbor Discovery target (NS, NA, Redirect): written as the first 16 bytes after the header (RFC 4861 §4.3-§4.5). */
  target?: Ipv6Like;
}

export interface FrameSpec {
  /** Default 02:00:00:00:00:01. */
  src?: MacLike;
  /** Default 02:00:00:00:00:02. */
  dst?: MacLike;
  /** Tags, outer first. */
  vlans?: readonly VlanSpec[];
  /** EtherType when there is no L3 spec. */
  etherType?: number;
  ipv4?: Ipv4Spec;
  ipv6?: Ipv6Spec;
  arp?: ArpSpec;
  tcp?: TcpSpec;
  udp?: UdpSpec;
  icmp?: IcmpSpec;
  icmpv6?: Icmpv6Spec;
  /** VXLAN inside UDP (a UDP spec is implied), carrying `inner`. */
  vxlan?: { vni: number; inner: FrameSpec };
  /** Payload bytes, or a length of bytes counting up from 0. */
  payload?: Uint8Array | number;
  /** Pad the frame with zeros to this length (default 60, the Ethernet minimum without FCS; 0 for none). */
  padTo?: number;
  /** Compute checksums (default true). */
  checksums?: boolean;
}

const DEFAULT_SRC = "02:00:00:00:00:01";
const DEFAULT_DST = "02:00:00:00:00:02";

function count(...xs: unknown[]): number {
  return xs.filter((x) => x !== undefined).length;
}

function payloadBytes(p: Uint8Array | number | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  if (typeof p !== "number") return p;
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new PacketError("usage", `payload length ${p} is not in [0, 65535]`);
  const out = new Uint8Array(p);
  for (let i = 0; i < p; i++) out[i] = i & 0xff;
  return out;
}

/**
 * Build a whole frame from a spec: Ethernet, tags, one L3 (IPv4, IPv6, ARP
 * or a raw EtherType), at most one L4, VXLAN with an inner frame, payload,
 * padding; lengths and checksums filled in.
 */
export function buildFrame(spec: FrameSpec): Uint8Array {
  if (count(spec.ipv4, spec.ipv6, spec.arp) > 1) throw new PacketError("usage", "a frame spec has at most one of ipv4, ipv6, arp");
  if (count(spec.tcp, spec.udp, spec.icmp, spec.icmpv6) > 1) throw new PacketError("usage", "a frame spec has at most one of tcp, udp, icmp, icmpv6");
  if (spec.vxlan !== undefined && (spec.tcp ?? spec.icmp ?? spec.icmpv6) !== undefined) throw new PacketError("usage", "vxlan rides on udp");
  const ip = spec.ipv4 !== undefined || spec.ipv6 !== undefined;
  const hasL4 = spec.tcp !== undefined || spec.udp !== undefined || spec.icmp !== undefined || spec.icmpv6 !== undefined || spec.vxlan !== undefined;
  if (hasL4 && !ip) throw new PacketError("usage", "an L4 spec needs ipv4 or ipv6");
  if (spec.arp !== undefined && spec.payload !== undefined) throw new PacketError("usage", "ARP takes no payload");

  // L4 payload: VXLAN header + inner frame, or the payload.
  let data = payloadBytes(spec.payload);
  if (spec.vxlan !== undefined) {
    const inner = buildFrame({ padTo: 0, ...spec.vxlan.inner });
    const v = new Uint8Array(8 + inner.length + data.length);
    writeVxlan(v, 0, spec.vxlan.vni);
    v.set(inner, 8);
    v.set(data, 8 + inner.length);
    data = v;
  }
  const ndTarget = spec.icmpv6?.target !== undefined ? toIpv6(spec.icmpv6.target) : undefined;
  const l4HeaderLen =
    spec.tcp !== undefined ? 20 + (spec.tcp.options?.length ?? 0)
    : spec.udp !== undefined || spec.vxlan !== undefined ? 8
    : spec.icmp !== undefined ? 8
    : spec.icmpv6 !== undefined ? 8 + (ndTarget !== undefined ? 16 : 0)
    : 0;
  const l4Len = l4HeaderLen + data.length;
  const l4Proto =
    spec.tcp !== undefined ? IpProto.TCP
    : spec.udp !== undefined || spec.vxlan !== undefined ? IpProto.UDP
    : spec.icmp !== undefined ? IpProto.ICMP
    : spec.icmpv6 !== undefined ? IpProto.ICMPV6
    : -1;

  let l3HeaderLen = 0;
  if (spec.ipv4 !== undefined) l3HeaderLen = 20 + (spec.ipv4.options?.length ?? 0);
  const ext = spec.ipv6?.ext ?? [];
  const extLen = (e: Ipv6ExtSpec): number => (e.type === IpProto.IPV6_FRAG ? 8 : e.type === IpProto.AH ? (e.length ?? 24) : (e.length ?? 8));
  if (spec.ipv6 !== undefined) l3HeaderLen = 40 + ext.reduce((a, e) => a + extLen(e), 0);
  if (spec.arp !== undefined) l3HeaderLen = 28;

  const vlans = spec.vlans ?? [];
  if (vlans.length > 2) throw new PacketError("usage", "at most two VLAN tags");
  const l2Len = 14 + 4 * vlans.length;
  const contentLen = l2Len + l3HeaderLen + (ip ? l4Len : spec.arp !== undefined ? 0 : data.length);
  const frameLen = Math.max(contentLen, spec.padTo ?? ETH_MIN_FRAME);
  const buf = new Uint8Array(frameLen);

  // L2
  const l3Type =
    spec.ipv4 !== undefined ? EtherType.IPV4
    : spec.ipv6 !== undefined ? EtherType.IPV6
    : spec.arp !== undefined ? EtherType.ARP
    : (spec.etherType ?? 0x88b5); // IEEE 802 local experimental EtherType 1
  const tpid = (i: number): number => vlans[i]!.tpid ?? (vlans.length === 2 && i === 0 ? EtherType.QINQ : EtherType.VLAN);
  let o = writeEthernet(buf, 0, spec.dst ?? DEFAULT_DST, spec.src ?? DEFAULT_SRC, vlans.length > 0 ? tpid(0) : l3Type);
  for (let i = 0; i < vlans.length; i++) {
    const v = vlans[i]!;
    o = writeVlanTag(buf, o, vlanTci(v.vid, v.pcp ?? 0, v.dei ?? false), i + 1 < vlans.length ? tpid(i + 1) : l3Type);
  }

  // L3
  const l3Offset = o;
  if (spec.ipv4 !== undefined) {
    const h = spec.ipv4;
    const hdr: Ipv4Header = {
      src: h.src,
      dst: h.dst,
      protocol: l4Proto >= 0 ? l4Proto : (h.protocol ?? 253),
      totalLength: l3HeaderLen + l4Len,
    };
    if (h.ttl !== undefined) hdr.ttl = h.ttl;
    if (h.tos !== undefined) hdr.tos = h.tos;
    if (h.id !== undefined) hdr.id = h.id;
    if (h.dontFragment !== undefined) hdr.dontFragment = h.dontFragment;
    if (h.moreFragments !== undefined) hdr.moreFragments = h.moreFragments;
    if (h.fragmentOffset !== undefined) hdr.fragmentOffset = h.fragmentOffset;
    if (h.options !== undefined) hdr.options = h.options;
    o = writeIpv4(buf, o, hdr);
  } else if (spec.ipv6 !== undefined) {
    const h = spec.ipv6;
    const upper = l4Proto >= 0 ? l4Proto : (h.nextHeader ?? IpProto.IPV6_NONXT);
    const hdr: Ipv6Header = { src: h.src, dst: h.dst, nextHeader: ext.length > 0 ? ext[0]!.type : upper, payloadLength: l3HeaderLen - 40 + l4Len };
    if (h.hopLimit !== undefined) hdr.hopLimit = h.hopLimit;
    if (h.trafficClass !== undefined) hdr.trafficClass = h.trafficClass;
    if (h.flowLabel !== undefined) hdr.flowLabel = h.flowLabel;
    o = writeIpv6(buf, o, hdr);
    for (let i = 0; i < ext.length; i++) {
      const e = ext[i]!;
      const next = i + 1 < ext.length ? ext[i + 1]!.type : upper;
      if (e.type === IpProto.IPV6_FRAG) {
        const f: Ipv6FragmentHeader = { nextHeader: next };
        if (e.fragmentOffset !== undefined) f.offset = e.fragmentOffset;
        if (e.more !== undefined) f.more = e.more;
        if (e.id !== undefined) f.id = e.id;
        o = writeIpv6Fragment(buf, o, f);
      } else if (e.type === IpProto.AH) {
        o = writeAuthHeader(buf, o, next, 0x100, 1, extLen(e) - 12);
      } else {
        o = writeIpv6ExtHeader(buf, o, next, extLen(e), e.type);
      }
    }
  } else if (spec.arp !== undefined) {
    const a = spec.arp;
    const src = spec.src ?? DEFAULT_SRC;
    o = writeArp(buf, o, {
      op: a.op ?? 1,
      senderMac: a.senderMac ?? src,
      senderIp: a.senderIp,
      targetMac: a.targetMac ?? new Uint8Array(6),
      targetIp: a.targetIp,
    });
  }

  // L4
  const l4Offset = o;
  if (spec.tcp !== undefined) {
    o = writeTcp(buf, o, spec.tcp);
  } else if (spec.udp !== undefined || spec.vxlan !== undefined) {
    const u = spec.udp ?? {};
    o = writeUdp(buf, o, { srcPort: u.srcPort ?? 49152, dstPort: u.dstPort ?? (spec.vxlan !== undefined ? VXLAN_PORT : 9), length: l4Len });
  } else if (spec.icmp !== undefined) {
    const c = spec.icmp;
    o = writeIcmp(buf, o, { type: c.type ?? IcmpType.ECHO_REQUEST, code: c.code ?? 0, rest: (((c.id ?? 0) << 16) | (c.seq ?? 0)) >>> 0 });
  } else if (spec.icmpv6 !== undefined) {
    const c = spec.icmpv6;
    o = writeIcmpv6(buf, o, { type: c.type ?? 128, code: c.code ?? 0, rest: c.rest ?? (((c.id ?? 0) << 16) | (c.seq ?? 0)) >>> 0 });
    if (ndTarget !== undefined) {
      buf.set(ndTarget, o);
      o += 16;
    }
  }
  if (spec.arp === undefined) buf.set(data, o);

  if (spec.checksums !== false && l4Proto >= 0) {
    const fragmented =
      (spec.ipv4 !== undefined && (spec.ipv4.moreFragments === true || (spec.ipv4.fragmentOffset ?? 0) > 0)) ||
      ext.some((e) => e.type === IpProto.IPV6_FRAG);
    // RFC 7348 §5: the outer UDP checksum of VXLAN over IPv4 SHOULD be zero;
    // over IPv6 a zero checksum needs RFC 6935 support, so compute it.
    const zeroUdp = l4Proto === IpProto.UDP && (spec.udp?.zeroChecksum ?? (spec.vxlan !== undefined && spec.ipv4 !== undefined));
    if (!fragmented && !zeroUdp) setL4Checksum(buf, l3Offset, l4Offset, l4Len, l4Proto);
  }
  return buf;
}
