/**
 * Bridge from `@nfvio/packet`'s pool-index bursts to {@link PacketBurst}:
 * every entry views the pool's one `data` array at the packet's start, so
 * nothing is copied and nothing is allocated per packet.
 */
import type { Burst, PacketPool } from "@nfvio/packet";
import type { PacketBurst } from "./burst.js";

/**
 * Point `out` at the packets of `burst` (buffer indices of `pool`): bytes,
 * start offset, length and input port from the pool's metadata. Returns the
 * number of packets (at most `out`'s capacity).
 */
export function viewPoolBurst(pool: PacketPool, burst: Burst, out: PacketBurst): number {
  const n = Math.min(burst.count, out.offsets.length);
  const data = pool.data;
  for (let i = 0; i < n; i++) {
    const idx = burst.idx[i]!;
    out.bufs[i] = data;
    out.offsets[i] = pool.start(idx);
    out.lengths[i] = pool.len[idx]!;
    out.ports[i] = pool.port[idx]!;
  }
  return n;
}

/** Copy lengths back into the pool's metadata after a VNF changed them. */
export function syncPoolLengths(pool: PacketPool, burst: Burst, view: PacketBurst, n: number): void {
  for (let i = 0; i < n; i++) pool.len[burst.idx[i]!] = view.lengths[i]!;
}
