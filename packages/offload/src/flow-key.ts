/**
 * FlowKey: the fixed-layout record the offload device's classifier and RSS
 * distributor work on, and how one is filled from a parsed frame.
 *
 * A FlowKey is a view over {@link FLOW_KEY_WORDS} 32-bit words. Keys are
 * allocated once (see {@link FlowKey.burst}) and refilled per packet, so the
 * datapath never allocates. Multi-byte header fields are stored as host
 * numbers holding their network-order (big-endian) value, so that the bytes of
 * a word, most significant first, are the bytes on the wire; the Toeplitz hash
 * ({@link ./rss.ts}) consumes them in exactly that order.
 *
 * Tunnels follow the flow-key model of a virtual switch: for a VXLAN frame
 * the L2–L4 fields describe the inner (payload) frame, and the outer IP
 * addresses and UDP ports move into the tunnel block together with the VNI.
 * The VLAN fields always describe the first tag of the frame as received on
 * the wire.
 *
 * Frames are parsed by `@nfvio/packet`'s {@link parse} into a
 * {@link PacketMeta}; {@link flowKeyFromMeta} turns that record into a key
 * (the device's parser stage keeps one meta per burst slot and uses it for
 * checksum offloads as well), and {@link flowKeyFromFrame} does both.
 *
 * References: IEEE 802.1Q (VLAN tags, TPIDs 0x8100 and 0x88a8), RFC 791 (IPv4),
 * RFC 8200 (IPv6 and its extension headers), RFC 4302 (AH length in 4-octet
 * units), RFC 6275 §6.3 (Home Address option, type 201) and §6.4 (Type 2
 * Routing Header), RFC 9293 (TCP), RFC 768 (UDP), RFC 9260 (SCTP common
 * header), RFC 7348 §5 (VXLAN header, UDP port 4789).
 */

import { MAX_IPV6_EXT_HEADERS as PACKET_MAX_IPV6_EXT_HEADERS, PacketMeta, parse } from "@nfvio/packet";

// ---------------------------------------------------------------------------
// Word layout
// ---------------------------------------------------------------------------

/** Ingress port or vport id (u32). */
export const FK_PORT = 0;
/** Destination MAC bytes 0..3. */
export const FK_DMAC_HI = 1;
/** Destination MAC bytes 4..5 (high half) and source MAC bytes 0..1 (low half). */
export const FK_MAC_MID = 2;
/** Source MAC bytes 2..5. */
export const FK_SMAC_LO = 3;
/** First VLAN TCI on the wire (high half: PCP 3 | DEI 1 | VID 12) and the EtherType after the tags (low half). */
export const FK_VLAN_ETH = 4;
/** IP protocol (bits 31..24), TCP flags (23..16), IP version (15..12), IPv4 TOS / IPv6 traffic class (7..0). */
export const FK_L3L4 = 5;
/** Flags ({@link FKF_VLAN} ...) in the low half, parse-error bits ({@link FKE_L2_TRUNCATED} ...) in the high half. */
export const FK_FLAGS = 6;
/** Source IP: IPv4 in this word (the next three are zero), IPv6 in four words. */
export const FK_SRC_IP = 7;
/** Destination IP, laid out as {@link FK_SRC_IP}. */
export const FK_DST_IP = 11;
/** L4 source port (high half) and destination port (low half): TCP, UDP or SCTP. */
export const FK_L4_PORTS = 15;
/** VXLAN VNI (bits 31..8) and the outer IP version (bits 3..0); zero unless {@link FKF_TUNNEL}. */
export const FK_TUNNEL = 16;
/** Outer source IP of a tunnelled frame (4 words). */
export const FK_OUTER_SRC_IP = 17;
/** Outer destination IP of a tunnelled frame (4 words). */
export const FK_OUTER_DST_IP = 21;
/** Outer UDP source port (high half) and destination port (low half) of a tunnelled frame. */
export const FK_OUTER_PORTS = 25;
/** Words 0 .. FLOW_KEY_MATCH_WORDS-1 are what the classifier can match on. */
export const FLOW_KEY_MATCH_WORDS = 26;
/** IPv6 Home Address from a Destination Options header (RFC 6275 §6.3), for the virtio *_EX hash types. */
export const FK_HOME_ADDR = 26;
/** IPv6 address from a Type 2 Routing Header (RFC 6275 §6.4), for the virtio *_EX hash types. */
export const FK_RH2_ADDR = 30;
/** Length of the frame in bytes, as given to the parser (used for byte counters). */
export const FK_FRAME_LEN = 34;
/** Total words in a FlowKey. */
export const FLOW_KEY_WORDS = 35;

// ---------------------------------------------------------------------------
// Flags (low half of FK_FLAGS)
// ---------------------------------------------------------------------------

/** The frame carries at least one VLAN tag. */
export const FKF_VLAN = 1 << 0;
/** The frame carries two VLAN tags (QinQ). */
export const FKF_QINQ = 1 << 1;
/** A VXLAN tunnel was recognised; L2–L4 fields are the inner frame's. */
export const FKF_TUNNEL = 1 << 2;
/** The IP packet is a fragment (IPv4 MF or offset, or an IPv6 Fragment header with M or offset). */
export const FKF_IP_FRAG = 1 << 3;
/** The IP packet is a non-first fragment: it has no L4 header. */
export const FKF_IP_FRAG_LATER = 1 << 4;
/** The IPv6 packet has extension headers. */
export const FKF_IPV6_EXT = 1 << 5;
/** An L4 header (TCP, UDP, SCTP) was parsed and its ports are valid. */
export const FKF_L4 = 1 << 6;
/** {@link FK_HOME_ADDR} holds a Home Address option. */
export const FKF_HOME_ADDR = 1 << 7;
/** {@link FK_RH2_ADDR} holds a Type 2 Routing Header address. */
export const FKF_RH2 = 1 << 8;
/** The IPv4 header carries options (IHL > 5). */
export const FKF_IPV4_OPTIONS = 1 << 9;
/** The inner frame of a tunnel carries VLAN tags (skipped, not recorded). */
export const FKF_INNER_VLAN = 1 << 10;

// ---------------------------------------------------------------------------
// Parse-error bits (high half of FK_FLAGS)
// ---------------------------------------------------------------------------

/** Frame (or inner frame) shorter than an Ethernet header, or a VLAN tag cut short. */
export const FKE_L2_TRUNCATED = 1 << 16;
/** More VLAN tags than the parser walks ({@link MAX_VLAN_TAGS}). */
export const FKE_VLAN_DEPTH = 1 << 17;
/** IP header cut short. */
export const FKE_L3_TRUNCATED = 1 << 18;
/** IP version field disagrees with the EtherType. */
export const FKE_IP_VERSION = 1 << 19;
/** IPv4 IHL below 5. */
export const FKE_IPV4_IHL = 1 << 20;
/** IPv4 total length / IPv6 payload length inconsistent with the header or the frame. */
export const FKE_IP_LENGTH = 1 << 21;
/**
 * The IPv6 extension header walk gave up: more headers than the parser walks
 * ({@link MAX_IPV6_EXT_HEADERS}), or a repeated or misplaced header (RFC 8200
 * §4.1: each at most once, Destination Options at most twice, Hop-by-Hop
 * first), which is how a chain loops.
 */
export const FKE_IPV6_EXT_DEPTH = 1 << 22;
/** An IPv6 extension header cut short. */
export const FKE_IPV6_EXT_TRUNCATED = 1 << 23;
/** L4 header cut short. */
export const FKE_L4_TRUNCATED = 1 << 24;
/** TCP data offset below 5 or past the end of the packet. */
export const FKE_TCP_DATA_OFFSET = 1 << 25;
/** UDP length field below 8 or past the end of the packet. */
export const FKE_UDP_LENGTH = 1 << 26;
/** UDP to the VXLAN port, but the VXLAN header is cut short or lacks the I flag (RFC 7348 §5). */
export const FKE_VXLAN = 1 << 27;
/** An IPv4 option of length below 2 or running past the header (RFC 791 §3.1). */
export const FKE_IPV4_OPTION = 1 << 28;
/** A fragment whose offset plus length passes 65535 (RFC 791 §3.2, RFC 8200 §4.5). */
export const FKE_IP_FRAGMENT = 1 << 29;
/** ARP that is not Ethernet/IPv4 (RFC 826). */
export const FKE_ARP = 1 << 30;
/** A Neighbor Discovery message RFC 4861 says to discard (hop limit not 255, code not 0). */
export const FKE_ND = 2 ** 31;
/** All parse-error bits. */
export const FKE_ANY = 0xffff0000;

/** VLAN tags walked before giving up with {@link FKE_VLAN_DEPTH}. */
export const MAX_VLAN_TAGS = 2;
/** IPv6 extension headers walked before giving up with {@link FKE_IPV6_EXT_DEPTH} (`@nfvio/packet`'s bound). */
export const MAX_IPV6_EXT_HEADERS: number = PACKET_MAX_IPV6_EXT_HEADERS;
/** IANA-assigned VXLAN UDP destination port (RFC 7348 §5). */
export const VXLAN_UDP_PORT = 4789;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

// ---------------------------------------------------------------------------
// FlowKey
// ---------------------------------------------------------------------------

/**
 * A reusable, typed-array backed flow key. Accessors read and write the
 * words of {@link FlowKey.words}; the hot paths of the classifier and of RSS
 * read the words directly.
 */
export class FlowKey {
  /** The key's words; see the `FK_*` constants for the layout. */
  readonly words: Uint32Array;

  /** A key over `words` (at least {@link FLOW_KEY_WORDS} long), or over fresh storage. */
  constructor(words?: Uint32Array) {
    if (words !== undefined && words.length < FLOW_KEY_WORDS) {
      throw new RangeError(`FlowKey needs ${FLOW_KEY_WORDS} words, got ${words.length}`);
    }
    this.words = words ?? new Uint32Array(FLOW_KEY_WORDS);
  }

  /** `n` keys over one contiguous allocation, for a burst. */
  static burst(n: number): FlowKey[] {
    const backing = new Uint32Array(n * FLOW_KEY_WORDS);
    const keys: FlowKey[] = [];
    for (let i = 0; i < n; i++) keys.push(new FlowKey(backing.subarray(i * FLOW_KEY_WORDS, (i + 1) * FLOW_KEY_WORDS)));
    return keys;
  }

  clear(): void {
    this.words.fill(0);
  }

  copyFrom(other: FlowKey): void {
    this.words.set(other.words.subarray(0, FLOW_KEY_WORDS));
  }

  get port(): number {
    return this.words[FK_PORT]!;
  }
  set port(v: number) {
    this.words[FK_PORT] = v;
  }
  /** Destination MAC as a 48-bit number (first byte most significant). */
  get dmac(): number {
    return this.words[FK_DMAC_HI]! * 0x10000 + (this.words[FK_MAC_MID]! >>> 16);
  }
  set dmac(v: number) {
    this.words[FK_DMAC_HI] = Math.floor(v / 0x10000);
    this.words[FK_MAC_MID] = ((v & 0xffff) << 16) | (this.words[FK_MAC_MID]! & 0xffff);
  }
  /** Source MAC as a 48-bit number. */
  get smac(): number {
    return (this.words[FK_MAC_MID]! & 0xffff) * 0x100000000 + this.words[FK_SMAC_LO]!;
  }
  set smac(v: number) {
    this.words[FK_MAC_MID] = (this.words[FK_MAC_MID]! & 0xffff0000) | (Math.floor(v / 0x100000000) & 0xffff);
    this.words[FK_SMAC_LO] = v % 0x100000000;
  }
  /** First VLAN TCI (0 when untagged; check {@link FKF_VLAN}). */
  get vlanTci(): number {
    return this.words[FK_VLAN_ETH]! >>> 16;
  }
  set vlanTci(v: number) {
    this.words[FK_VLAN_ETH] = ((v & 0xffff) << 16) | (this.words[FK_VLAN_ETH]! & 0xffff);
  }
  get vlanId(): number {
    return (this.words[FK_VLAN_ETH]! >>> 16) & 0xfff;
  }
  get vlanPcp(): number {
    return this.words[FK_VLAN_ETH]! >>> 29;
  }
  get vlanDei(): number {
    return (this.words[FK_VLAN_ETH]! >>> 28) & 1;
  }
  /** EtherType after the VLAN tags (of the inner frame when tunnelled). */
  get etherType(): number {
    return this.words[FK_VLAN_ETH]! & 0xffff;
  }
  set etherType(v: number) {
    this.words[FK_VLAN_ETH] = (this.words[FK_VLAN_ETH]! & 0xffff0000) | (v & 0xffff);
  }
  /** 4 or 6 when a valid IP header was parsed, else 0. */
  get ipVersion(): number {
    return (this.words[FK_L3L4]! >>> 12) & 0xf;
  }
  set ipVersion(v: number) {
    this.words[FK_L3L4] = (this.words[FK_L3L4]! & ~0xf000) | ((v & 0xf) << 12);
  }
  get ipProto(): number {
    return this.words[FK_L3L4]! >>> 24;
  }
  set ipProto(v: number) {
    this.words[FK_L3L4] = (this.words[FK_L3L4]! & 0x00ffffff) | ((v & 0xff) << 24);
  }
  get tcpFlags(): number {
    return (this.words[FK_L3L4]! >>> 16) & 0xff;
  }
  set tcpFlags(v: number) {
    this.words[FK_L3L4] = (this.words[FK_L3L4]! & ~0x00ff0000) | ((v & 0xff) << 16);
  }
  /** IPv4 TOS byte or IPv6 traffic class (DSCP in bits 7..2). */
  get ipTos(): number {
    return this.words[FK_L3L4]! & 0xff;
  }
  set ipTos(v: number) {
    this.words[FK_L3L4] = (this.words[FK_L3L4]! & ~0xff) | (v & 0xff);
  }
  /** Flag bits (`FKF_*`). */
  get flags(): number {
    return this.words[FK_FLAGS]! & 0xffff;
  }
  /** Parse-error bits (`FKE_*` shifted down by 16). Zero for a well-formed frame. */
  get parseErrors(): number {
    return this.words[FK_FLAGS]! >>> 16;
  }
  get tunnel(): boolean {
    return (this.words[FK_FLAGS]! & FKF_TUNNEL) !== 0;
  }
  get srcIpv4(): number {
    return this.words[FK_SRC_IP]!;
  }
  set srcIpv4(v: number) {
    this.words[FK_SRC_IP] = v;
  }
  get dstIpv4(): number {
    return this.words[FK_DST_IP]!;
  }
  set dstIpv4(v: number) {
    this.words[FK_DST_IP] = v;
  }
  get srcPort(): number {
    return this.words[FK_L4_PORTS]! >>> 16;
  }
  set srcPort(v: number) {
    this.words[FK_L4_PORTS] = ((v & 0xffff) << 16) | (this.words[FK_L4_PORTS]! & 0xffff);
  }
  get dstPort(): number {
    return this.words[FK_L4_PORTS]! & 0xffff;
  }
  set dstPort(v: number) {
    this.words[FK_L4_PORTS] = (this.words[FK_L4_PORTS]! & 0xffff0000) | (v & 0xffff);
  }
  /** VXLAN network identifier (24 bits); 0 unless tunnelled. */
  get vni(): number {
    return this.words[FK_TUNNEL]! >>> 8;
  }
  get outerIpVersion(): number {
    return this.words[FK_TUNNEL]! & 0xf;
  }
  get frameLength(): number {
    return this.words[FK_FRAME_LEN]!;
  }
  set frameLength(v: number) {
    this.words[FK_FRAME_LEN] = v;
  }
}

// ---------------------------------------------------------------------------
// Building keys from fields (tests, generators, benchmarks)
// ---------------------------------------------------------------------------

/** Field values for {@link flowKeyFromFields}; IPs are dotted-quad / RFC 4291 text or (IPv4) a u32. */
export interface FlowKeyInit {
  readonly port?: number;
  readonly dmac?: number | string;
  readonly smac?: number | string;
  readonly vlanTci?: number;
  readonly etherType?: number;
  readonly ipProto?: number;
  readonly tcpFlags?: number;
  readonly ipTos?: number;
  readonly srcIp?: number | string;
  readonly dstIp?: number | string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** Extra flag bits (`FKF_*`) and error bits (`FKE_*`) to OR in. */
  readonly flags?: number;
  /** Present for a tunnelled key: VNI plus outer addresses and ports. */
  readonly tunnel?: {
    readonly vni: number;
    readonly outerSrcIp: number | string;
    readonly outerDstIp: number | string;
    readonly outerSrcPort?: number;
    readonly outerDstPort?: number;
  };
  readonly frameLength?: number;
}

/**
 * Fill `key` from field values, as the parser would for such a frame:
 * the IP version and EtherType follow from the address family, {@link FKF_L4}
 * is set when ports are given, {@link FKF_VLAN} when a TCI is given.
 */
export function flowKeyFromFields(init: FlowKeyInit, key: FlowKey = new FlowKey()): FlowKey {
  const w = key.words;
  w.fill(0);
  let flags = init.flags ?? 0;
  w[FK_PORT] = init.port ?? 0;
  if (init.dmac !== undefined) key.dmac = typeof init.dmac === "string" ? parseMac(init.dmac) : init.dmac;
  if (init.smac !== undefined) key.smac = typeof init.smac === "string" ? parseMac(init.smac) : init.smac;
  if (init.vlanTci !== undefined) {
    key.vlanTci = init.vlanTci;
    flags |= FKF_VLAN;
  }
  let version = 0;
  if (init.srcIp !== undefined || init.dstIp !== undefined) {
    const s = writeIpInit(init.srcIp ?? (ipFamilyOf(init.dstIp) === 6 ? "::" : 0), w, FK_SRC_IP);
    const d = writeIpInit(init.dstIp ?? (s === 6 ? "::" : 0), w, FK_DST_IP);
    if (s !== d) throw new RangeError("flowKeyFromFields: source and destination address families differ");
    version = s;
  }
  key.ipVersion = version;
  key.etherType = init.etherType ?? (version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : 0);
  if (init.ipProto !== undefined) key.ipProto = init.ipProto;
  if (init.tcpFlags !== undefined) key.tcpFlags = init.tcpFlags;
  if (init.ipTos !== undefined) key.ipTos = init.ipTos;
  if (init.srcPort !== undefined || init.dstPort !== undefined) {
    key.srcPort = init.srcPort ?? 0;
    key.dstPort = init.dstPort ?? 0;
    flags |= FKF_L4;
  }
  if (init.tunnel !== undefined) {
    const t = init.tunnel;
    const os = writeIpInit(t.outerSrcIp, w, FK_OUTER_SRC_IP);
    const od = writeIpInit(t.outerDstIp, w, FK_OUTER_DST_IP);
    if (os !== od) throw new RangeError("flowKeyFromFields: outer address families differ");
    w[FK_TUNNEL] = (((t.vni & 0xffffff) << 8) | os) >>> 0;
    w[FK_OUTER_PORTS] = (((t.outerSrcPort ?? 0) << 16) | (t.outerDstPort ?? VXLAN_UDP_PORT)) >>> 0;
    flags |= FKF_TUNNEL;
  }
  w[FK_FLAGS] = flags >>> 0;
  w[FK_FRAME_LEN] = init.frameLength ?? 64;
  return key;
}

function ipFamilyOf(v: number | string | undefined): 4 | 6 {
  return typeof v === "string" && v.includes(":") ? 6 : 4;
}

function writeIpInit(v: number | string, w: Uint32Array, at: number): 4 | 6 {
  if (typeof v === "number") {
    w[at] = v >>> 0;
    return 4;
  }
  if (v.includes(":")) {
    const a = parseIpv6(v);
    if (a === undefined) throw new RangeError(`bad IPv6 address: ${v}`);
    w.set(a, at);
    return 6;
  }
  const a = parseIpv4(v);
  if (a === undefined) throw new RangeError(`bad IPv4 address: ${v}`);
  w[at] = a;
  return 4;
}

// ---------------------------------------------------------------------------
// Address text helpers (control path)
// ---------------------------------------------------------------------------

/** Parse dotted-quad IPv4 text into a u32, or undefined. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** Parse IPv6 text (RFC 4291 §2.2, including `::` and a trailing dotted quad) into four u32 words, or undefined. */
export function parseIpv6(text: string): Uint32Array | undefined {
  let s = text;
  let tail: number[] = [];
  if (s.includes(".")) {
    const lastColon = s.lastIndexOf(":");
    if (lastColon < 0) return undefined;
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >>> 16, v4 & 0xffff];
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith("::")) s = s.slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  if (head === undefined) return undefined;
  const want = 8 - tail.length;
  let groups: number[];
  if (halves.length === 2) {
    const rest = parse(halves[1]!);
    // "::" stands for at least one group of zeros.
    if (rest === undefined || head.length + rest.length >= want) return undefined;
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    if (head.length !== want) return undefined;
    groups = head;
  }
  groups.push(...tail);
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return w;
}

/** Parse `aa:bb:cc:dd:ee:ff` (or `-` separated) into a 48-bit number, or throw RangeError. */
export function parseMac(text: string): number {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new RangeError(`bad MAC address: ${text}`);
  let v = 0;
  for (const p of parts) v = v * 256 + parseInt(p, 16);
  return v;
}

/** Format a u32 as dotted-quad text. */
export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

// ---------------------------------------------------------------------------
// Keys from @nfvio/packet's parser
// ---------------------------------------------------------------------------

// ParseError bits of @nfvio/packet, as literals for the hot path (checked
// against ParseError by test/flow-key-meta.test.ts).
const PE_TRUNC_L3 = 1 << 1;
const PE_TRUNC_L4 = 1 << 2;
const PE_VLANS = 1 << 4;
const PE_VERSION = 1 << 5;
const PE_IHL = 1 << 6;
const PE_IP_LEN = 1 << 7;
const PE_IP_OPT = 1 << 8;
const PE_EXT_MANY = 1 << 9;
const PE_EXT_ORDER = 1 << 10;
const PE_TCP_OFF = 1 << 11;
const PE_UDP_LEN = 1 << 12;
const PE_ARP = 1 << 13;
const PE_FRAG = 1 << 14;
const PE_VXLAN = 1 << 15;
const PE_ND = 1 << 17;
/** FragFlag.MORE and FragFlag.IS_FRAGMENT of @nfvio/packet. */
const FRAG_MORE = 1;
const FRAG_IS = 4;

/**
 * One {@link PacketMeta} (with its inner record) per caller, for
 * {@link flowKeyFromFrame}; the device pipeline keeps its own per burst slot.
 */
const scratchMeta = new PacketMeta();

/**
 * Fill `key` from the frame `bytes[offset .. offset+length)` received on
 * `port`, and return it: {@link parse} from `@nfvio/packet` into a
 * {@link PacketMeta}, then {@link flowKeyFromMeta}.
 *
 * Never throws and never reads outside the frame or `bytes`: an offset that
 * is not an integer inside `bytes`, or a length that is negative or NaN,
 * gives a key with only {@link FKE_L2_TRUNCATED}; a length past the end of
 * `bytes` is clamped to it. A malformed frame fills what it can and sets
 * `FKE_*` bits; fields of layers that were not reached stay zero. Checksums
 * are not verified.
 */
export function flowKeyFromFrame(bytes: Uint8Array, offset: number, length: number, port: number, key: FlowKey): FlowKey {
  const start = offset | 0;
  if (start !== offset || start < 0 || !(length >= 0) || start > bytes.length) {
    const w = key.words;
    w.fill(0, 0, FLOW_KEY_WORDS);
    w[FK_PORT] = port >>> 0;
    w[FK_FLAGS] = FKE_L2_TRUNCATED >>> 0;
    return key;
  }
  const end = Math.min(bytes.length, start + Math.floor(length));
  parse(bytes, start, end - start, scratchMeta);
  return flowKeyFromMeta(bytes, scratchMeta, port, key);
}

function be32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/**
 * Fill `key` from a frame that `@nfvio/packet`'s {@link parse} has parsed
 * into `meta` (`bytes` is the array given to `parse`: offsets in `meta` are
 * absolute). Allocates nothing and never throws.
 *
 * The meta gives the layers, offsets, ports, flags and error bits; the key's
 * addresses and MACs are read from `bytes` at the meta's offsets. Beyond the
 * meta, the key walks the IPv6 extension headers the parser already
 * validated once more for the Home Address option (RFC 6275 §6.3) and the
 * Type 2 Routing Header (§6.4), which the virtio `*_EX` hash types need.
 *
 * Mapping of the parser's errors: a packet whose IP length fields are wrong
 * keeps its addresses but no L4 fields ({@link FKE_IP_LENGTH}); a TCP data
 * offset below 5 or past the segment is {@link FKE_TCP_DATA_OFFSET}; an
 * IPv6 extension header chain that is too long or breaks RFC 8200 §4.1's
 * order is {@link FKE_IPV6_EXT_DEPTH}; a cut one {@link FKE_IPV6_EXT_TRUNCATED};
 * an inner (VXLAN) frame's errors map the same way into the key's bits.
 */
export function flowKeyFromMeta(bytes: Uint8Array, meta: PacketMeta, port: number, key: FlowKey): FlowKey {
  const w = key.words;
  w.fill(0, 0, FLOW_KEY_WORDS);
  w[FK_PORT] = port >>> 0;
  w[FK_FRAME_LEN] = meta.length;
  w[FK_FLAGS] = fillFromMeta(bytes, meta, w, false) >>> 0;
  return key;
}

/** Ethernet and tags from `m` into `w`; returns flag and error bits for the frame from L2 on. */
function fillFromMeta(b: Uint8Array, m: PacketMeta, w: Uint32Array, inner: boolean): number {
  const e = m.errors;
  if (m.length < 14 || m.l2Offset < 0) return FKE_L2_TRUNCATED;
  const p = m.l2Offset;
  w[FK_DMAC_HI] = be32(b, p);
  w[FK_MAC_MID] = be32(b, p + 4);
  w[FK_SMAC_LO] = be32(b, p + 8);
  let flags = 0;
  if (m.vlanCount > 0) {
    if (inner) flags |= FKF_INNER_VLAN;
    else {
      w[FK_VLAN_ETH] = (m.vlanTci0 << 16) >>> 0;
      flags |= FKF_VLAN;
      if (m.vlanCount > 1) flags |= FKF_QINQ;
    }
  }
  if (e & PE_VLANS) return flags | FKE_VLAN_DEPTH;
  if (m.l3Offset < 0) return flags | FKE_L2_TRUNCATED;
  const et = m.etherType;
  w[FK_VLAN_ETH] = ((w[FK_VLAN_ETH]! & 0xffff0000) | et) >>> 0;
  if (et === ETHERTYPE_IPV4) return flags | fillIpv4(b, m, w, inner);
  if (et === ETHERTYPE_IPV6) return flags | fillIpv6(b, m, w, inner);
  if (et === 0x0806) return flags | (e & PE_TRUNC_L3 ? FKE_L3_TRUNCATED : e & PE_ARP ? FKE_ARP : 0);
  return flags;
}

function fillIpv4(b: Uint8Array, m: PacketMeta, w: Uint32Array, inner: boolean): number {
  const e = m.errors;
  if (e & PE_VERSION) return FKE_IP_VERSION;
  if (e & PE_IHL) return FKE_IPV4_IHL;
  if (m.srcAddrOffset < 0) return FKE_L3_TRUNCATED;
  const p = m.l3Offset;
  let flags = (b[p]! & 15) > 5 ? FKF_IPV4_OPTIONS : 0;
  w[FK_L3L4] = ((m.l4Proto << 24) | (4 << 12) | m.ipTos) >>> 0;
  w[FK_SRC_IP] = m.src4;
  w[FK_DST_IP] = m.dst4;
  if (e & PE_IP_LEN) return flags | FKE_IP_LENGTH;
  if (e & PE_IP_OPT) flags |= FKE_IPV4_OPTION;
  if (e & PE_FRAG) flags |= FKE_IP_FRAGMENT;
  if (m.fragFlags & FRAG_IS) {
    flags |= FKF_IP_FRAG;
    if (m.fragOffset !== 0) return flags | FKF_IP_FRAG_LATER;
  }
  const l4 = fillL4(b, m, w, inner, p + m.l3Length);
  // The outer L3 flags do not describe the inner frame of a tunnel.
  return l4 & FKF_TUNNEL ? l4 : flags | l4;
}

/** Next-header values @nfvio/packet walks as IPv6 extension headers (RFC 8200 §4). */
function isIpv6ExtHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 51 || nh === 60 || nh === 135 || nh === 139 || nh === 140;
}

function fillIpv6(b: Uint8Array, m: PacketMeta, w: Uint32Array, inner: boolean): number {
  const e = m.errors;
  if (e & PE_VERSION) return FKE_IP_VERSION;
  if (m.srcAddrOffset < 0) return FKE_L3_TRUNCATED;
  const p = m.l3Offset;
  const s = m.srcAddrOffset;
  const d = m.dstAddrOffset;
  for (let i = 0; i < 4; i++) {
    w[FK_SRC_IP + i] = be32(b, s + 4 * i);
    w[FK_DST_IP + i] = be32(b, d + 4 * i);
  }
  const first = b[p + 6]!;
  if (e & PE_IP_LEN) {
    w[FK_L3L4] = ((first << 24) | (6 << 12) | m.ipTos) >>> 0;
    return FKE_IP_LENGTH;
  }
  w[FK_L3L4] = ((m.l4Proto << 24) | (6 << 12) | m.ipTos) >>> 0;
  let flags = 0;
  const l3End = p + m.l3Length;
  if (isIpv6ExtHeader(first)) {
    flags |= FKF_IPV6_EXT;
    if (!inner) flags |= scanMobilityAddresses(b, p + 40, l3End, first, w);
  }
  if (e & (PE_EXT_MANY | PE_EXT_ORDER)) return flags | FKE_IPV6_EXT_DEPTH;
  if (e & PE_TRUNC_L3) return flags | FKE_IPV6_EXT_TRUNCATED;
  if (e & PE_FRAG) flags |= FKE_IP_FRAGMENT;
  if (m.fragFlags & FRAG_IS) {
    // An atomic fragment (offset 0, M clear; RFC 6946) is not a fragment.
    if (m.fragOffset !== 0 || m.fragFlags & FRAG_MORE) flags |= FKF_IP_FRAG;
    if (m.fragOffset !== 0) return flags | FKF_IP_FRAG_LATER;
  }
  const l4 = fillL4(b, m, w, inner, l3End);
  return l4 & FKF_TUNNEL ? l4 : flags | l4;
}

/**
 * Walk the extension headers from `q` (next header `nh`) for a Home Address
 * option in a Destination Options header and a Type 2 Routing Header.
 * Bounded by {@link MAX_IPV6_EXT_HEADERS} and `end`; stops at the first
 * header that does not fit.
 */
function scanMobilityAddresses(b: Uint8Array, q: number, end: number, nh: number, w: Uint32Array): number {
  let flags = 0;
  for (let n = 0; n < MAX_IPV6_EXT_HEADERS && isIpv6ExtHeader(nh) && nh !== 44; n++) {
    if (end - q < 8) break;
    const len = nh === 51 ? (b[q + 1]! + 2) * 4 : (b[q + 1]! + 1) * 8;
    if (end - q < len) break;
    if (nh === 60) flags |= scanHomeAddress(b, q + 2, q + len, w);
    else if (nh === 43 && b[q + 2] === 2 && len >= 24) {
      for (let i = 0; i < 4; i++) w[FK_RH2_ADDR + i] = be32(b, q + 8 + 4 * i);
      flags |= FKF_RH2;
    }
    nh = b[q]!;
    q += len;
  }
  return flags;
}

/** Walk the options of a Destination Options header for a Home Address option (type 201, length 16). */
function scanHomeAddress(b: Uint8Array, p: number, end: number, w: Uint32Array): number {
  while (p < end) {
    const type = b[p]!;
    if (type === 0) {
      p += 1; // Pad1
      continue;
    }
    if (end - p < 2) return 0;
    const len = b[p + 1]!;
    if (end - p < 2 + len) return 0;
    if (type === 201 && len === 16) {
      for (let i = 0; i < 4; i++) w[FK_HOME_ADDR + i] = be32(b, p + 2 + 4 * i);
      return FKF_HOME_ADDR;
    }
    p += 2 + len;
  }
  return 0;
}

function fillL4(b: Uint8Array, m: PacketMeta, w: Uint32Array, inner: boolean, l3End: number): number {
  const q = m.l4Offset;
  if (q < 0) return 0;
  const e = m.errors;
  const proto = m.l4Proto;
  if (proto === IPPROTO_TCP) {
    if (l3End - q < 20) return FKE_L4_TRUNCATED;
    w[FK_L4_PORTS] = ((m.srcPort << 16) | m.dstPort) >>> 0;
    // A data offset below 5 words, or past the segment, is one error for the key.
    if (e & (PE_TCP_OFF | PE_TRUNC_L4)) return FKE_TCP_DATA_OFFSET;
    w[FK_L3L4] = ((w[FK_L3L4]! & 0xff00ffff) | ((m.tcpFlags & 0xff) << 16)) >>> 0;
    return FKF_L4;
  }
  if (proto === IPPROTO_UDP) {
    if (e & PE_TRUNC_L4) return FKE_L4_TRUNCATED;
    w[FK_L4_PORTS] = ((m.srcPort << 16) | m.dstPort) >>> 0;
    if (e & PE_UDP_LEN) return FKE_UDP_LENGTH;
    if (!inner) {
      if (m.tunnel !== 0 && m.inner !== null) return fillTunnel(b, m, m.inner, w);
      if (e & PE_VXLAN) return FKF_L4 | FKE_VXLAN;
    }
    return FKF_L4;
  }
  if (proto === IPPROTO_SCTP) {
    if (e & PE_TRUNC_L4) return FKE_L4_TRUNCATED;
    w[FK_L4_PORTS] = ((m.srcPort << 16) | m.dstPort) >>> 0;
    return FKF_L4;
  }
  if (proto === 1 || proto === 58) {
    if (e & PE_TRUNC_L4) return FKE_L4_TRUNCATED;
    if (e & PE_ND) return FKE_ND;
  }
  return 0;
}

/**
 * VXLAN (RFC 7348 §5): the outer addresses and UDP ports move into the
 * tunnel block with the VNI, and the inner frame fills the main fields.
 * Returns {@link FKF_TUNNEL} plus the inner frame's flags and errors.
 */
function fillTunnel(b: Uint8Array, m: PacketMeta, inner: PacketMeta, w: Uint32Array): number {
  const outerVersion = (w[FK_L3L4]! >>> 12) & 0xf;
  w[FK_TUNNEL] = ((m.vni << 8) | outerVersion) >>> 0;
  for (let i = 0; i < 4; i++) {
    w[FK_OUTER_SRC_IP + i] = w[FK_SRC_IP + i]!;
    w[FK_OUTER_DST_IP + i] = w[FK_DST_IP + i]!;
    w[FK_SRC_IP + i] = 0;
    w[FK_DST_IP + i] = 0;
    w[FK_HOME_ADDR + i] = 0;
    w[FK_RH2_ADDR + i] = 0;
  }
  w[FK_OUTER_PORTS] = w[FK_L4_PORTS]!;
  w[FK_L4_PORTS] = 0;
  w[FK_L3L4] = 0;
  w[FK_DMAC_HI] = 0;
  w[FK_MAC_MID] = 0;
  w[FK_SMAC_LO] = 0;
  w[FK_VLAN_ETH] = (w[FK_VLAN_ETH]! & 0xffff0000) >>> 0;
  return FKF_TUNNEL | fillFromMeta(b, inner, w, true);
}
