/**
 * Offload metadata that travels with a packet buffer between the guest and
 * the host: the fields of `struct virtio_net_hdr` (virtio 1.2 §5.1.6), i.e.
 * the checksum request (NEEDS_CSUM, csum_start, csum_offset), DATA_VALID and
 * the GSO type and size.
 *
 * A `PacketPool` buffer has no fields for these, so nfvio keeps them where
 * a TAP device with IFF_VNET_HDR keeps them, as a virtio-net header, and
 * puts it at the very start of the buffer's headroom (`pool.base(i)`),
 * marked valid by the {@link PKT_F_VNET_HDR} bit of `pool.flags[i]`. A
 * stage that prepends headers grows the packet from the end of the
 * headroom towards its start, so the header survives prepends of up to
 * `headroom - VNET_META_BYTES` bytes (108 with the default 128-byte
 * headroom). A buffer without the bit carries no offload request: a plain
 * frame with a correct checksum.
 */
import type { PacketPool } from "@nfvio/packet";
import { decodeNetHeader, encodeNetHeader, NET_HDR_SIZE_HASH, type NetHeader } from "@nfvio/virtio";

/** `pool.flags` bit: the buffer's headroom starts with a virtio-net header (offload metadata). */
export const PKT_F_VNET_HDR = 0x4000_0000;

/** Bytes the metadata takes at the start of the headroom: the 20-byte header form (§5.1.6, with hash fields). */
export const VNET_META_BYTES = NET_HDR_SIZE_HASH;

/** True when `h` asks for nothing: no flags, no GSO. */
export function isPlainHeader(h: NetHeader): boolean {
  return h.flags === 0 && h.gsoType === 0;
}

/**
 * Store `h` as buffer `i`'s offload metadata, or clear it when `h` is plain.
 * Returns false (and stores nothing) when the headroom is smaller than
 * {@link VNET_META_BYTES}. Allocates nothing.
 */
export function setPacketNetHeader(pool: PacketPool, i: number, h: NetHeader): boolean {
  if (isPlainHeader(h)) {
    pool.flags[i] = pool.flags[i]! & ~PKT_F_VNET_HDR;
    return true;
  }
  if (pool.dataOff[i]! < VNET_META_BYTES) return false;
  encodeNetHeader(h, pool.data, pool.base(i), VNET_META_BYTES);
  pool.flags[i] = pool.flags[i]! | PKT_F_VNET_HDR;
  return true;
}

/**
 * Read buffer `i`'s offload metadata into `out`. Returns false (and resets
 * `out`) when the buffer carries none. Allocates nothing.
 */
export function getPacketNetHeader(pool: PacketPool, i: number, out: NetHeader): boolean {
  if ((pool.flags[i]! & PKT_F_VNET_HDR) === 0) {
    out.reset();
    return false;
  }
  decodeNetHeader(pool.data, pool.base(i), VNET_META_BYTES, out);
  out.numBuffers = 0;
  return true;
}

/** Forget buffer `i`'s offload metadata. */
export function clearPacketNetHeader(pool: PacketPool, i: number): void {
  pool.flags[i] = pool.flags[i]! & ~PKT_F_VNET_HDR;
}
