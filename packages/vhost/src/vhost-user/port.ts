/**
 * VirtioUserPort: one queue pair of a connected {@link VirtioUserFrontend}
 * as an nfvio {@link Port} (core's DPDK-style rx/tx of bursts of
 * PacketPool buffer indices), so anything that drives a Port (trafgen's
 * `runPort`, `portApp` in a graph) can drive a vhost-user back-end.
 *
 * ```
 *   nfvio process                                      vhost-user back-end
 *   ┌────────────────────────────────────┐  shared    ┌───────────────────┐
 *   │ tx(burst): copy each pool buffer    │  guest     │ TX ring ─▶ device │
 *   │   into a guest TX buffer, free it ─┼──memory───▶│                   │
 *   │ rx(burst): copy received frames     │  (memfd)   │ device ─▶ RX ring │
 *   │   into fresh pool buffers ◀────────┼────────────┤                   │
 *   └────────────────────────────────────┘            └───────────────────┘
 * ```
 *
 * - tx first takes back the TX buffers the back-end is done with, then
 *   copies `idx[0..count)` (once each, pool data ─▶ guest buffer), publishes
 *   them (kicking when the ring asks for it) and frees every pool buffer. A
 *   frame finding no free TX buffer is counted (`tx.drop.ring_full`), one
 *   longer than a TX buffer too (`tx.drop.oversize`): never a block or a
 *   throw. It returns `burst.count`.
 * - rx allocates up to `burst.room` pool buffers, takes at most that many
 *   received frames into them (the receive buffers are posted again at
 *   once) and frees the unused ones. An empty pool leaves the frames in the
 *   ring and counts one `rx.drop.nobuf`; a frame longer than a pool
 *   buffer's room is dropped (`rx.drop.oversize`).
 * - No allocation per packet: the receive callback is made once and gets
 *   (bytes, offset, length) instead of a view; frames are copied both ways
 *   with `@nfvio/virtio`'s word copy (`copy.ts`), without a view.
 */
import { CounterSet, counterIndex, type Port } from "@nfvio/core";
import type { Burst, PacketPool } from "@nfvio/packet";
import { copyArray } from "./copy.js";
import type { VirtioUserFrontend, VirtioUserQueuePair } from "./frontend.js";

export interface VirtioUserPortOptions {
  /** A connected front-end. */
  frontend: VirtioUserFrontend;
  /** Buffers come from (and return to) this pool. */
  pool: PacketPool;
  /** Queue pair of the front-end (default 0). */
  queuePair?: number;
  /** Input port number stamped into `pool.port[i]` on rx (default 0). */
  portId?: number;
}

export const VIRTIO_USER_PORT_COUNTERS = ["rx.packets", "rx.bytes", "rx.drop.nobuf", "rx.drop.oversize", "tx.packets", "tx.bytes", "tx.drop.ring_full", "tx.drop.oversize", "tx.drop.closed"] as const;

export type VirtioUserPortCounter = (typeof VIRTIO_USER_PORT_COUNTERS)[number];

const { "rx.packets": RX_PACKETS, "rx.bytes": RX_BYTES, "rx.drop.nobuf": RX_NOBUF, "rx.drop.oversize": RX_OVERSIZE, "tx.packets": TX_PACKETS, "tx.bytes": TX_BYTES, "tx.drop.ring_full": TX_RING_FULL, "tx.drop.oversize": TX_OVERSIZE, "tx.drop.closed": TX_CLOSED } = counterIndex(VIRTIO_USER_PORT_COUNTERS);

export class VirtioUserPort implements Port {
  readonly counters = new CounterSet(VIRTIO_USER_PORT_COUNTERS);
  readonly frontend: VirtioUserFrontend;
  readonly pair: VirtioUserQueuePair;
  readonly pool: PacketPool;
  readonly portId: number;
  private readonly v: Float64Array;
  private closed = false;
  // State of the rx call in progress, for the callback made once.
  private rxIdx: Uint32Array = new Uint32Array(0);
  private rxAt = 0;
  private rxEnd = 0;
  private readonly onFrame: (bytes: Uint8Array, offset: number, length: number) => void;

  constructor(options: VirtioUserPortOptions) {
    const q = options.queuePair ?? 0;
    const pair = options.frontend.pairs[q];
    if (!pair) throw new RangeError(`VirtioUserPort: queue pair ${q} out of range (the front-end has ${options.frontend.pairs.length})`);
    this.frontend = options.frontend;
    this.pair = pair;
    this.pool = options.pool;
    this.portId = options.portId ?? 0;
    this.v = this.counters.values;
    const pool = this.pool;
    const v = this.v;
    this.onFrame = (bytes: Uint8Array, off: number, n: number): void => {
      if (n > pool.stride - pool.headroom) {
        v[RX_OVERSIZE]! += 1;
        return;
      }
      if (this.rxAt >= this.rxEnd) return; // cannot happen: at most rxEnd - rxAt buffers are taken
      const i = this.rxIdx[this.rxAt++]!;
      copyArray(bytes, off, pool.data, pool.base(i) + pool.headroom, n);
      pool.len[i] = n;
      pool.port[i] = this.portId;
      v[RX_PACKETS]! += 1;
      v[RX_BYTES]! += n;
    };
  }

  /** Counter value by name. */
  get(name: VirtioUserPortCounter): number {
    return this.counters.get(name);
  }

  rx(burst: Burst): number {
    if (this.closed || burst.count >= burst.capacity) return 0;
    const pool = this.pool;
    const start = burst.count;
    const got = pool.allocBurst(burst);
    if (got === 0) {
      // Pool empty: the frames stay in the receive ring (the back-end drops when it fills).
      this.v[RX_NOBUF]! += 1;
      return 0;
    }
    const end = start + got;
    this.rxIdx = burst.idx;
    this.rxAt = start;
    this.rxEnd = end;
    this.pair.receiveRaw(this.onFrame, got);
    const k = this.rxAt;
    if (k < end) pool.freeRange(burst.idx, k, end);
    burst.count = k;
    return k - start;
  }

  tx(burst: Burst): number {
    const count = burst.count;
    if (count === 0) return 0;
    const pool = this.pool;
    const v = this.v;
    const idx = burst.idx;
    if (this.closed) {
      v[TX_CLOSED]! += count;
      pool.freeRange(idx, 0, count);
      return count;
    }
    const pair = this.pair;
    pair.reclaimTx();
    const data = pool.data;
    let sent = 0;
    let reclaimed = false;
    for (let k = 0; k < count; k++) {
      const i = idx[k]!;
      const len = pool.len[i]!;
      if (pair.txFreeCount === 0) {
        // Ring full: take back what the back-end finished since, once, else drop.
        if (reclaimed || pair.reclaimTx() === 0) {
          reclaimed = true;
          v[TX_RING_FULL]! += 1;
          continue;
        }
      }
      if (pair.sendFrom(data, pool.start(i), len)) {
        v[TX_PACKETS]! += 1;
        v[TX_BYTES]! += len;
        sent++;
      } else if (pair.txFreeCount === 0) v[TX_RING_FULL]! += 1;
      else v[TX_OVERSIZE]! += 1;
    }
    if (sent > 0) pair.flush();
    pool.freeRange(idx, 0, count);
    return count;
  }

  /** Publish anything added (tx publishes on every call already). */
  flush(): void {
    if (!this.closed) this.pair.flush();
  }

  /** Stop using the queue pair (the front-end stays connected: its owner closes it); idempotent. */
  close(): void {
    this.closed = true;
  }

  /** Non-zero counters (all with `all`), as a plain object. */
  snapshot(all = false): Record<string, number> {
    return all ? this.counters.snapshot() : this.counters.nonZero();
  }
}
