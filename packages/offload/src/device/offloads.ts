/**
 * Transmit offloads the device performs on frames a guest posts
 * (virtio 1.2 §5.1.6.2):
 *
 * - checksum completion: with VIRTIO_NET_HDR_F_NEEDS_CSUM the driver leaves
 *   the pseudo-header sum in the checksum field and asks the device to
 *   store, at `csum_start + csum_offset`, the ones' complement of the
 *   ones' complement sum of the bytes from `csum_start` to the end;
 * - TCP segmentation (gso_type TCPV4 / TCPV6, gso_size = MSS): the frame is
 *   cut into segments of at most MSS payload bytes, each with a copy of the
 *   headers whose per-segment fields are rewritten: IPv4 total length,
 *   identification (incremented per segment) and header checksum, IPv6
 *   payload length, TCP sequence number (advanced by MSS per segment), TCP
 *   flags (FIN and PSH only on the last segment, CWR only on the first) and
 *   the TCP checksum over the new pseudo-header. This is the behaviour of
 *   common NIC TSO engines (e.g. the Intel 82599 datasheet's TCP
 *   segmentation section and its TCP-flags masks for first, middle and last
 *   segments) and of Linux's software segmentation.
 *
 * The checksum arithmetic is `@nfvio/packet`'s (RFC 1071).
 */
import { onesComplementSum, setIpv4HeaderChecksum, setL4Checksum } from "@nfvio/packet";

const sum = onesComplementSum;

/**
 * Complete a NEEDS_CSUM request in the frame `data[start .. start+len)`.
 * `udp`: the checksummed message is UDP, so a computed 0 is sent as 0xffff
 * (RFC 768: zero means "no checksum"). Returns false (frame unchanged) when
 * the offsets fall outside the frame.
 */
export function completeChecksum(data: Uint8Array, start: number, len: number, csumStart: number, csumOffset: number, udp: boolean): boolean {
  const field = csumStart + csumOffset;
  if (!(csumStart < len) || field + 2 > len) return false;
  let c = ~sum(data, start + csumStart, len - csumStart) & 0xffff;
  if (c === 0 && udp) c = 0xffff;
  data[start + field] = c >>> 8;
  data[start + field + 1] = c & 0xff;
  return true;
}

/** Where the headers of a TSO frame are, from the start of the frame. */
export interface TsoLayout {
  /** 4 or 6. */
  ipVersion: number;
  l3Offset: number;
  l4Offset: number;
  /** First payload byte: end of the TCP header. */
  hdrEnd: number;
  /** Sequence number of the first segment. */
  seq: number;
  /** IPv4 identification of the first segment. */
  ipId: number;
}

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Rewrite segment `k` of `n` in place. The segment at `data[start ..
 * start+segLen)` carries a copy of the headers (`layout.hdrEnd` bytes) then
 * its payload. `mss` is gso_size.
 */
export function fixTsoSegment(data: Uint8Array, start: number, segLen: number, layout: TsoLayout, k: number, n: number, mss: number): void {
  const l3 = start + layout.l3Offset;
  const l4 = start + layout.l4Offset;
  if (layout.ipVersion === 4) {
    const total = segLen - layout.l3Offset;
    data[l3 + 2] = total >>> 8;
    data[l3 + 3] = total & 0xff;
    const id = (layout.ipId + k) & 0xffff;
    data[l3 + 4] = id >>> 8;
    data[l3 + 5] = id & 0xff;
    setIpv4HeaderChecksum(data, l3);
  } else {
    const plen = segLen - layout.l3Offset - 40;
    data[l3 + 4] = plen >>> 8;
    data[l3 + 5] = plen & 0xff;
  }
  const seq = (layout.seq + k * mss) >>> 0;
  data[l4 + 4] = seq >>> 24;
  data[l4 + 5] = (seq >>> 16) & 0xff;
  data[l4 + 6] = (seq >>> 8) & 0xff;
  data[l4 + 7] = seq & 0xff;
  let flags = data[l4 + 13]!;
  if (k < n - 1) flags &= ~(TCP_FIN | TCP_PSH);
  if (k > 0) flags &= ~TCP_CWR;
  data[l4 + 13] = flags;
  setL4Checksum(data, l3, l4, segLen - layout.l4Offset, 6);
}
