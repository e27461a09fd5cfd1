/**
 * Constants of the two capture formats.
 *
 * pcap: draft-ietf-opsawg-pcap (§4 file header, §5 packet record).
 * pcapng: draft-ietf-opsawg-pcapng (§3.1 general block structure, §3.5
 * options, §4.1 Section Header Block, §4.2 Interface Description Block,
 * §4.3 Enhanced Packet Block, §4.4 Simple Packet Block, Appendix A for the
 * obsolete Packet Block).
 */

/** pcap magic, microsecond timestamps (draft-ietf-opsawg-pcap §4). */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** pcap magic, nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** pcap file header length. */
export const PCAP_HEADER_LEN = 24;
/** pcap packet record header length. */
export const PCAP_RECORD_HEADER_LEN = 16;

/** LINKTYPE_ETHERNET (IANA "Link-Layer Header Types" registry). */
export const LINKTYPE_ETHERNET = 1;

/** pcapng block types (draft-ietf-opsawg-pcapng §10.1 registry). */
export const BlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  /** Obsolete Packet Block (Appendix A). */
  PACKET: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
} as const;

/** The Section Header Block byte-order magic (§4.1). */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Option codes used by nfvio (§3.5, §4.1, §4.2). */
export const OptionCode = {
  END_OF_OPT: 0,
  COMMENT: 1,
  SHB_HARDWARE: 2,
  SHB_OS: 3,
  SHB_USERAPPL: 4,
  IF_NAME: 2,
  IF_DESCRIPTION: 3,
  IF_TSRESOL: 9,
  IF_TSOFFSET: 14,
} as const;

/** libpcap's MAXIMUM_SNAPLEN: the largest captured length nfvio accepts by default. */
export const DEFAULT_MAX_CAPLEN = 262144;
/** Largest pcapng block read by default (16 MiB). */
export const DEFAULT_MAX_BLOCK = 16 * 1024 * 1024;

/** Round up to a multiple of 4 (pcapng pads data and options to 32 bits, §3.1). */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}
