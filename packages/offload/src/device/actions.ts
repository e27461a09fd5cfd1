/**
 * Frame-rewriting classifier actions, applied in place in a device pool
 * buffer (headers are prepended into the buffer's headroom, removed by
 * moving the packet start): no allocation per frame.
 *
 * - VLAN push / pop: IEEE 802.1Q-2018 §9.6, the 4-byte tag (TPID, then TCI:
 *   PCP 3 bits, DEI 1 bit, VID 12 bits) goes right after the source MAC.
 * - VXLAN encap / decap: RFC 7348 §5, outer Ethernet / IPv4 or IPv6 /
 *   UDP / VXLAN (8 bytes: flags with the I bit 0x08, 24 reserved bits,
 *   24-bit VNI, 8 reserved bits).
 */
import { internetChecksum, pseudoHeaderSum6, setIpv4HeaderChecksum, type PacketMeta, type PacketPool } from "@nfvio/packet";
import type { EncapTemplate } from "../classifier/actions.js";
import type { FlowKey } from "../flow-key.js";

/** TPID of a C-tag (IEEE 802.1Q). */
export const TPID_CTAG = 0x8100;
/** TPID of an S-tag (IEEE 802.1ad). */
export const TPID_STAG = 0x88a8;

/** Insert an 802.1Q tag after the MACs of buffer `i`. False without 4 bytes of headroom or with a frame shorter than 12 bytes. */
export function vlanPush(pool: PacketPool, i: number, tci: number, tpid = TPID_CTAG): boolean {
  if (pool.len[i]! < 12) return false;
  const s = pool.prepend(i, 4);
  if (s < 0) return false;
  const d = pool.data;
  d.copyWithin(s, s + 4, s + 16);
  d[s + 12] = tpid >>> 8;
  d[s + 13] = tpid & 0xff;
  d[s + 14] = (tci >>> 8) & 0xff;
  d[s + 15] = tci & 0xff;
  return true;
}

/** Remove the outer VLAN tag (TPID 0x8100 or 0x88a8) of buffer `i`. False, and the frame unchanged, when it has none. */
export function vlanPop(pool: PacketPool, i: number): boolean {
  const len = pool.len[i]!;
  if (len < 18) return false;
  const s = pool.start(i);
  const d = pool.data;
  const tpid = (d[s + 12]! << 8) | d[s + 13]!;
  if (tpid !== TPID_CTAG && tpid !== TPID_STAG) return false;
  d.copyWithin(s + 4, s, s + 12);
  return pool.adj(i, 4);
}

/** Strip the outer headers of a VXLAN frame parsed into `m` (the frame starts at its inner Ethernet header). False, unchanged, when `m` is not VXLAN. */
export function vxlanDecap(pool: PacketPool, i: number, m: PacketMeta): boolean {
  if (m.tunnel === 0 || m.innerL2Offset < 0) return false;
  const cut = m.innerL2Offset - pool.start(i);
  if (cut <= 0) return false;
  return pool.adj(i, cut);
}

/** Bytes {@link vxlanEncap} prepends for template `t`. */
export function encapLength(t: EncapTemplate): number {
  return 14 + (t.vlanTci !== undefined ? 4 : 0) + (t.ipVersion === 4 ? 20 : 40) + 8 + 8;
}

/**
 * UDP source port from a hash of the inner flow key, in the dynamic/private
 * range 49152-65535 (RFC 7348 §5 recommends a hash of the inner packet's
 * fields and that range). FNV-1a over the key's words.
 */
export function encapSourcePort(key: FlowKey): number {
  const w = key.words;
  let h = 0x811c9dc5;
  for (let j = 0; j < w.length; j++) h = Math.imul(h ^ w[j]!, 0x01000193);
  h ^= h >>> 16;
  return 0xc000 | (h & 0x3fff);
}

function put32(d: Uint8Array, o: number, v: number): void {
  d[o] = v >>> 24;
  d[o + 1] = (v >>> 16) & 0xff;
  d[o + 2] = (v >>> 8) & 0xff;
  d[o + 3] = v & 0xff;
}

function putMac(d: Uint8Array, o: number, mac: number): void {
  const hi = Math.floor(mac / 0x10000);
  put32(d, o, hi);
  d[o + 4] = (mac >>> 8) & 0xff;
  d[o + 5] = mac & 0xff;
}

/**
 * Prepend outer Ethernet (+ VLAN) / IP / UDP / VXLAN from `t` to buffer `i`.
 * IPv4: total length and header checksum set, DF set (RFC 7348 §4.3: VTEPs
 * must not fragment), UDP checksum 0 (RFC 7348 §5). IPv6: payload length
 * set, UDP checksum computed (RFC 8200 §8.1: mandatory over IPv6).
 * `srcPort` is used when the template's is 0. False without headroom.
 */
export function vxlanEncap(pool: PacketPool, i: number, t: EncapTemplate, srcPort: number): boolean {
  const inner = pool.len[i]!;
  const n = encapLength(t);
  const s = pool.prepend(i, n);
  if (s < 0) return false;
  const d = pool.data;
  putMac(d, s, t.dstMac);
  putMac(d, s + 6, t.srcMac);
  let o = s + 12;
  if (t.vlanTci !== undefined) {
    d[o] = TPID_CTAG >>> 8;
    d[o + 1] = TPID_CTAG & 0xff;
    d[o + 2] = t.vlanTci >>> 8;
    d[o + 3] = t.vlanTci & 0xff;
    o += 4;
  }
  const udpLen = 8 + 8 + inner;
  const l3 = o + 2;
  const l4 = l3 + (t.ipVersion === 4 ? 20 : 40);
  if (t.ipVersion === 4) {
    d[o] = 0x08;
    d[o + 1] = 0x00;
    d[l3] = 0x45;
    d[l3 + 1] = 0;
    const total = 20 + udpLen;
    d[l3 + 2] = total >>> 8;
    d[l3 + 3] = total & 0xff;
    d[l3 + 4] = 0;
    d[l3 + 5] = 0;
    d[l3 + 6] = 0x40; // DF
    d[l3 + 7] = 0;
    d[l3 + 8] = t.ttl;
    d[l3 + 9] = 17;
    d[l3 + 10] = 0;
    d[l3 + 11] = 0;
    put32(d, l3 + 12, t.srcIp[0]!);
    put32(d, l3 + 16, t.dstIp[0]!);
    setIpv4HeaderChecksum(d, l3);
  } else {
    d[o] = 0x86;
    d[o + 1] = 0xdd;
    put32(d, l3, 0x60000000);
    d[l3 + 4] = udpLen >>> 8;
    d[l3 + 5] = udpLen & 0xff;
    d[l3 + 6] = 17;
    d[l3 + 7] = t.ttl;
    for (let w = 0; w < 4; w++) {
      put32(d, l3 + 8 + 4 * w, t.srcIp[w]!);
      put32(d, l3 + 24 + 4 * w, t.dstIp[w]!);
    }
  }
  const sp = t.srcPort !== 0 ? t.srcPort : srcPort;
  d[l4] = sp >>> 8;
  d[l4 + 1] = sp & 0xff;
  d[l4 + 2] = t.dstPort >>> 8;
  d[l4 + 3] = t.dstPort & 0xff;
  d[l4 + 4] = udpLen >>> 8;
  d[l4 + 5] = udpLen & 0xff;
  d[l4 + 6] = 0;
  d[l4 + 7] = 0;
  const vx = l4 + 8;
  d[vx] = 0x08; // I flag
  d[vx + 1] = 0;
  d[vx + 2] = 0;
  d[vx + 3] = 0;
  d[vx + 4] = (t.vni >>> 16) & 0xff;
  d[vx + 5] = (t.vni >>> 8) & 0xff;
  d[vx + 6] = t.vni & 0xff;
  d[vx + 7] = 0;
  if (t.ipVersion === 6) {
    let cs = internetChecksum(d, l4, udpLen, pseudoHeaderSum6(d, l3 + 8, l3 + 24, 17, udpLen));
    if (cs === 0) cs = 0xffff;
    d[l4 + 6] = cs >>> 8;
    d[l4 + 7] = cs & 0xff;
  }
  return true;
}
