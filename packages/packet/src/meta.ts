/**
 * The parser's output record: one reusable object of numeric fields.
 *
 * A datapath allocates one {@link PacketMeta} per burst slot (or per worker)
 * and {@link parse} refills it for every packet. Every field is a number
 * (offsets are absolute indexes into the parsed byte array, -1 when the
 * layer is absent), so the object keeps one hidden class and the parser stays
 * monomorphic. Addresses are not copied: read them at
 * {@link PacketMeta.srcAddrOffset} / {@link PacketMeta.dstAddrOffset}, or as
 * u32 words ({@link PacketMeta.src4}, {@link PacketMeta.dst4}) for IPv4/ARP.
 */
import { VXLAN_PORT } from "./constants.js";

/**
 * Bits of {@link PacketMeta.errors}. Bits 0-19 are malformations (the packet
 * is wrong); bits 24-25 say the parser stopped at a protocol it does not
 * decode (the packet may be fine). {@link parse} returns false when any
 * malformation bit is set.
 */
export const ParseError = {
  /** Fewer than 14 bytes, or a VLAN tag cut short (IEEE 802.3 §3.1.1). */
  TRUNCATED_L2: 1 << 0,
  /** The L3 header (IPv4 20+ bytes, IPv6 40 bytes, ARP 28 bytes, an IPv6 extension header) is cut short. */
  TRUNCATED_L3: 1 << 1,
  /** The L4 header (TCP 20 bytes or its data offset, UDP 8, ICMP 8, SCTP 12) is cut short. */
  TRUNCATED_L4: 1 << 2,
  /** offset/length are not integers or reach outside the byte array; only the part inside was parsed. */
  BAD_RANGE: 1 << 3,
  /** More than two VLAN tags (nfvio decodes 802.1Q and one 802.1ad outer tag). */
  TOO_MANY_VLANS: 1 << 4,
  /** The IP version nibble disagrees with the EtherType (RFC 791 §3.1, RFC 8200 §3). */
  BAD_IP_VERSION: 1 << 5,
  /** IPv4 IHL below 5 words (RFC 791 §3.1). */
  BAD_IHL: 1 << 6,
  /** IPv4 total length below the header length or beyond the frame; IPv6 payload length beyond the frame (RFC 791 §3.1, RFC 8200 §3). */
  BAD_IP_LENGTH: 1 << 7,
  /** An IPv4 option with length < 2 or running past the header (RFC 791 §3.1, option format). */
  BAD_IP_OPTION: 1 << 8,
  /** More IPv6 extension headers than the parser walks ({@link MAX_IPV6_EXT_HEADERS}). */
  IPV6_EXT_TOO_MANY: 1 << 9,
  /** An IPv6 extension header repeated or out of place: Hop-by-Hop not first, any header twice, Destination Options three times (RFC 8200 §4.1). */
  IPV6_EXT_ORDER: 1 << 10,
  /** TCP data offset below 5 words (RFC 9293 §3.1). */
  BAD_TCP_OFFSET: 1 << 11,
  /** UDP length below 8 or beyond the IP payload (RFC 768). */
  BAD_UDP_LENGTH: 1 << 12,
  /** ARP with a hardware/protocol type or address length other than Ethernet/IPv4 (RFC 826). */
  BAD_ARP: 1 << 13,
  /** A fragment whose offset + length exceeds 65535 (RFC 791 §3.2; RFC 8200 §4.5). */
  BAD_FRAGMENT: 1 << 14,
  /** VXLAN header cut short or without the I flag (RFC 7348 §5). */
  BAD_VXLAN: 1 << 15,
  /** The frame inside a tunnel is malformed; see `meta.inner.errors`. */
  INNER: 1 << 16,
  /** A Neighbor Discovery message that RFC 4861 says to discard: hop limit not 255, code not 0, or too short (§6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1). */
  BAD_ND: 1 << 17,
  /** EtherType not decoded (or an 802.3 length field, below 0x0600). Not a malformation. */
  UNKNOWN_ETHERTYPE: 1 << 24,
  /** IP protocol / next header not decoded (ESP, GRE, ...); l4Offset says where it starts. Not a malformation. */
  UNKNOWN_L4: 1 << 25,
} as const;

export type ParseErrorName = keyof typeof ParseError;

/** Mask of the bits that mean the packet is malformed. */
export const PARSE_MALFORMED_MASK = 0x00ff_ffff;

/** Mask of every truncation bit. */
export const PARSE_TRUNCATED_MASK = ParseError.TRUNCATED_L2 | ParseError.TRUNCATED_L3 | ParseError.TRUNCATED_L4;

/** Upper bound on IPv6 extension headers walked before giving up (RFC 8200 §4.1 allows at most 9 kinds). */
export const MAX_IPV6_EXT_HEADERS = 8;

/** Names of the bits set in an errors word, for logs and test messages. */
export function parseErrorNames(errors: number): ParseErrorName[] {
  const names: ParseErrorName[] = [];
  for (const key of Object.keys(ParseError) as ParseErrorName[]) {
    if ((errors & ParseError[key]) !== 0) names.push(key);
  }
  return names;
}

/** {@link PacketMeta.fragFlags} bits. */
export const FragFlag = {
  /** More Fragments (IPv4 MF, IPv6 M). */
  MORE: 1,
  /** IPv4 Don't Fragment. */
  DONT: 2,
  /** The packet is a fragment (MF set, or a non-zero offset, or an IPv6 Fragment header is present). */
  IS_FRAGMENT: 4,
} as const;

/** {@link PacketMeta.tunnel} values. */
export const TunnelType = {
  NONE: 0,
  VXLAN: 1,
} as const;

export class PacketMeta {
  /** {@link ParseError} bits; 0 after a clean parse. */
  errors = 0;
  /** Index of the first byte of the frame (the `offset` passed to parse). */
  l2Offset = -1;
  /** Frame length in bytes (the `length` passed to parse, clipped to the array). */
  length = 0;
  /** EtherType after the VLAN tags: the L3 protocol (0x0800, 0x86dd, 0x0806, ...); 0 when L2 is truncated. */
  etherType = 0;
  /** VLAN tags found, 0-2. */
  vlanCount = 0;
  /** TPID of the outer tag (0x8100, 0x88a8, 0x9100), 0 when untagged. */
  vlanTpid0 = 0;
  /** TCI of the outer tag: PCP (3 bits), DEI (1), VID (12) (IEEE 802.1Q §9.6). */
  vlanTci0 = 0;
  /** TCI of the inner tag of a QinQ frame. */
  vlanTci1 = 0;

  /** Index of the L3 header (first byte after the tags); -1 when L2 is truncated. */
  l3Offset = -1;
  /** Bytes of the L3 datagram per its own length fields, clipped to the frame (ARP: 28). Ethernet padding excluded. */
  l3Length = 0;
  /** IPv4 TOS / IPv6 Traffic Class (DSCP << 2 | ECN). */
  ipTos = 0;
  /** IPv4 TTL / IPv6 Hop Limit. */
  ipTtl = 0;
  /** {@link FragFlag} bits. */
  fragFlags = 0;
  /** Fragment offset in bytes (IPv4 offset field × 8; IPv6 Fragment header offset × 8). */
  fragOffset = 0;
  /** IPv4 Identification, or IPv6 Fragment header Identification (u32). */
  fragId = 0;
  /** Index of the source address: IPv4 (4 bytes), IPv6 (16), ARP sender IPv4 address (SPA). -1 if absent. */
  srcAddrOffset = -1;
  /** Index of the destination address: IPv4, IPv6, ARP target IPv4 address (TPA). -1 if absent. */
  dstAddrOffset = -1;
  /** IPv4 / ARP source address as an unsigned 32-bit word (network order read as big-endian). */
  src4 = 0;
  /** IPv4 / ARP destination address as an unsigned 32-bit word. */
  dst4 = 0;
  /** ARP operation (1 request, 2 reply); 0 if not ARP. */
  arpOp = 0;

  /** Upper-layer protocol after IPv4 or the IPv6 extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...); -1 without IP. */
  l4Proto = -1;
  /** Index of the L4 header; -1 when absent or when the packet is a non-first fragment. */
  l4Offset = -1;
  /** Source port (TCP, UDP, SCTP). */
  srcPort = 0;
  /** Destination port (TCP, UDP, SCTP). */
  dstPort = 0;
  /** TCP flags, 9 bits ({@link TcpFlag}). */
  tcpFlags = 0;
  /** ICMP / ICMPv6 type. */
  icmpType = 0;
  /** ICMP / ICMPv6 code. */
  icmpCode = 0;
  /** Index of the Target Address of an ND Neighbor Solicitation/Advertisement or Redirect (RFC 4861 §4.3-§4.5); -1 otherwise. */
  ndTargetOffset = -1;
  /** Index of the first byte after the last parsed header (L4 payload, or the fragment data); -1 if none. */
  payloadOffset = -1;
  /** Bytes from {@link payloadOffset} to the end of the L3 datagram (or UDP length). */
  payloadLength = 0;

  /** {@link TunnelType} found (VXLAN) and decoded into {@link inner}. */
  tunnel = 0;
  /** VXLAN Network Identifier (24 bits). */
  vni = 0;
  /** Inner Ethernet header of a tunnelled frame; -1 without a tunnel. */
  innerL2Offset = -1;
  /** Inner L3 header; -1 if absent. */
  innerL3Offset = -1;
  /** Inner L4 header; -1 if absent. */
  innerL4Offset = -1;

  /**
   * UDP destination port decoded as VXLAN. Configuration, not reset by parse
   * (RFC 7348 §5: 4789; Linux's legacy default is 8472).
   */
  vxlanPort = VXLAN_PORT;
  /** The record the tunnelled frame is parsed into; null for an inner record (nfvio decodes one level of tunnel). */
  readonly inner: PacketMeta | null;

  /** @param decodeTunnels decode VXLAN into an inner record (default true). */
  constructor(decodeTunnels = true) {
    this.inner = decodeTunnels ? new PacketMeta(false) : null;
  }

  /** Back to the "nothing parsed" state. {@link parse} calls this first. */
  reset(): void {
    this.errors = 0;
    this.l2Offset = -1;
    this.length = 0;
    this.etherType = 0;
    this.vlanCount = 0;
    this.vlanTpid0 = 0;
    this.vlanTci0 = 0;
    this.vlanTci1 = 0;
    this.l3Offset = -1;
    this.l3Length = 0;
    this.ipTos = 0;
    this.ipTtl = 0;
    this.fragFlags = 0;
    this.fragOffset = 0;
    this.fragId = 0;
    this.srcAddrOffset = -1;
    this.dstAddrOffset = -1;
    this.src4 = 0;
    this.dst4 = 0;
    this.arpOp = 0;
    this.l4Proto = -1;
    this.l4Offset = -1;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.ndTargetOffset = -1;
    this.payloadOffset = -1;
    this.payloadLength = 0;
    this.tunnel = 0;
    this.vni = 0;
    this.innerL2Offset = -1;
    this.innerL3Offset = -1;
    this.innerL4Offset = -1;
  }

  /** True when no malformation bit is set (unknown protocols are fine). */
  get ok(): boolean {
    return (this.errors & PARSE_MALFORMED_MASK) === 0;
  }

  /** True for IPv4 and IPv6 packets whose L3 header was parsed. */
  get isIp(): boolean {
    return this.l4Proto >= 0;
  }

  /** VLAN ID (12 bits) of the outer tag, or -1 if untagged. */
  get vlanId(): number {
    return this.vlanCount > 0 ? this.vlanTci0 & 0xfff : -1;
  }
}
