/**
 * Protocol numbers and header sizes used by the parser and the builders.
 *
 * Values come from the IANA registries the RFCs point at: EtherTypes (IEEE
 * 802 numbers), IP protocol numbers (which IPv6 reuses for Next Header,
 * RFC 8200 §4), and the well-known ports.
 */

/** EtherType values (IEEE 802.3 §3.2.6; IANA "IEEE 802 Numbers"). */
export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  /** Customer VLAN tag, IEEE 802.1Q. */
  VLAN: 0x8100,
  IPV6: 0x86dd,
  /** Service VLAN tag (QinQ outer tag), IEEE 802.1ad. */
  QINQ: 0x88a8,
  /** Pre-standard QinQ outer tag still used by some switches. */
  QINQ_LEGACY: 0x9100,
} as const;

/** IP protocol / IPv6 Next Header numbers (IANA "Assigned Internet Protocol Numbers"). */
export const IpProto = {
  /** IPv6 Hop-by-Hop Options (RFC 8200 §4.3). */
  HOPOPT: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  /** IPv6 Routing header (RFC 8200 §4.4). */
  IPV6_ROUTE: 43,
  /** IPv6 Fragment header (RFC 8200 §4.5). */
  IPV6_FRAG: 44,
  /** Encapsulating Security Payload (RFC 4303); opaque to the parser. */
  ESP: 50,
  /** Authentication Header (RFC 4302 §2.2: length in 4-octet units minus 2). */
  AH: 51,
  ICMPV6: 58,
  /** No Next Header (RFC 8200 §4.7). */
  IPV6_NONXT: 59,
  /** IPv6 Destination Options (RFC 8200 §4.6). */
  IPV6_OPTS: 60,
  /** Mobility header (RFC 6275 §6.1). */
  MOBILITY: 135,
  /** Host Identity Protocol (RFC 7401 §5.1). */
  HIP: 139,
  /** Shim6 (RFC 5533 §5). */
  SHIM6: 140,
  SCTP: 132,
} as const;

/** TCP header flag bits as stored in {@link PacketMeta.tcpFlags} (RFC 9293 §3.1; NS from RFC 3540). */
export const TcpFlag = {
  FIN: 0x001,
  SYN: 0x002,
  RST: 0x004,
  PSH: 0x008,
  ACK: 0x010,
  URG: 0x020,
  ECE: 0x040,
  CWR: 0x080,
  NS: 0x100,
} as const;

/** ICMPv4 types used by nfvio (RFC 792). */
export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
} as const;

/**
 * ICMPv6 types (RFC 4443 §2.1 and §4) and Neighbor Discovery types
 * (RFC 4861 §4.1-§4.5).
 */
export const Icmpv6Type = {
  DEST_UNREACHABLE: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  /** Router Solicitation (RFC 4861 §4.1). */
  ROUTER_SOLICITATION: 133,
  /** Router Advertisement (RFC 4861 §4.2). */
  ROUTER_ADVERTISEMENT: 134,
  /** Neighbor Solicitation (RFC 4861 §4.3). */
  NEIGHBOR_SOLICITATION: 135,
  /** Neighbor Advertisement (RFC 4861 §4.4). */
  NEIGHBOR_ADVERTISEMENT: 136,
  /** Redirect (RFC 4861 §4.5). */
  REDIRECT: 137,
} as const;

/** ARP operation codes (RFC 826). */
export const ArpOp = {
  REQUEST: 1,
  REPLY: 2,
} as const;

/** IANA-assigned VXLAN UDP destination port (RFC 7348 §5). */
export const VXLAN_PORT = 4789;

/** Ethernet header without tags: destination, source, EtherType (IEEE 802.3 §3.1.1). */
export const ETH_HEADER_LEN = 14;
/** One 802.1Q / 802.1ad tag: TPID + TCI. */
export const VLAN_TAG_LEN = 4;
/** Smallest Ethernet frame without the 4-byte FCS (IEEE 802.3 §4.4.2: minFrameSize 64 octets). */
export const ETH_MIN_FRAME = 60;
/** IPv4 header without options (RFC 791 §3.1). */
export const IPV4_HEADER_LEN = 20;
/** IPv6 fixed header (RFC 8200 §3). */
export const IPV6_HEADER_LEN = 40;
/** TCP header without options (RFC 9293 §3.1). */
export const TCP_HEADER_LEN = 20;
/** UDP header (RFC 768). */
export const UDP_HEADER_LEN = 8;
/** VXLAN header (RFC 7348 §5). */
export const VXLAN_HEADER_LEN = 8;
/** ARP packet for Ethernet/IPv4 (RFC 826): 8 fixed bytes + 2 × (6 + 4). */
export const ARP_IPV4_LEN = 28;
