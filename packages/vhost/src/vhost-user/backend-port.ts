/**
 * VhostUserPort: a vhost-user back-end whose connected front-end (DPDK's
 * net_virtio_user, a QEMU guest, nfvio's `VirtioUserFrontend`) is a
 * poll-driven core {@link Port}, so a datapath can use a real virtio peer as
 * a wire. It is a {@link VhostUserDevice}: put it behind a
 * {@link VhostUserServer}, then call `rx` and `tx` from the datapath's loop.
 *
 * ```
 *   front-end (driver)                       nfvio
 *   ┌────────────────────┐  vhost-user   ┌──────────────────────────────────┐
 *   │ transmitq k ───────┼──────────────▶│ rx(burst): copy frames into pool │──▶ datapath
 *   │                    │  shared       │   buffers, return the TX buffers │
 *   │ receiveq k ◀───────┼──memory───────┤ tx(burst): copy pool buffers into│◀── datapath
 *   └────────────────────┘  (memfds)     │   posted RX buffers, free them   │
 *                                        └──────────────────────────────────┘
 * ```
 *
 * - `rx` takes the frames the peer transmitted, round robin over the queue
 *   pairs (one burst of up to `burst` frames per transmit ring per call,
 *   starting one pair further each call), copies each after its virtio-net
 *   header into a fresh pool buffer (`pool.port[i] = portId`) and gives
 *   the transmit buffer back. An empty pool leaves the frames in the ring
 *   and counts one `rx.drop.nobuf` per call; a frame longer than a pool
 *   buffer's room is dropped (`rx.drop.oversize`), one shorter than a
 *   header plus an Ethernet header too (`rx.drop.short`); frames from a
 *   disabled transmit ring are discarded ("must process and discard any TX
 *   packets", vhost-user.rst; `rx.drop.disabled`).
 * - `tx` puts each frame into the receive queue of pair
 *   `pool.hash[i] % n` of the n pairs whose receive ring is started,
 *   enabled and not broken (so 0 without a hash), with the receive-buffer
 *   filling of rx-fill.ts (header with `num_buffers`, MRG_RXBUF merging),
 *   frees every buffer and returns `burst.count`: never a block or a throw.
 *   Refusals are counted: `tx.drop.not_ready` (no such ring),
 *   `tx.drop.no_buffer` (the peer posted none), `tx.drop.too_small`.
 * - Poll-driven: kicks are turned off on every ring while it is started
 *   (the port is polled, it never schedules itself); used-buffer
 *   notifications (call eventfd) are sent when `publishUsed()` says the
 *   driver wants one, so interrupt-driven guests work.
 * - A ring that breaks (a {@link QueueFault}) is reported once with
 *   `vring.fail()` and counted in `ring.fault`; the session sets
 *   DEVICE_NEEDS_RESET.
 *
 * A transmit ring that stops (GET_VRING_BASE, disconnect) is emptied
 * first: the frames the peer queued on it are copied into pool buffers
 * (as many as the pool has; the rest stay in the ring, where a restarted
 * split ring starts) and handed out by the next `rx` calls, so every frame
 * a peer handed over before it left is received (as VhostUserNetDevice
 * counts every frame before a stop).
 */
import { CounterSet, counterIndex, type Port } from "@nfvio/core";
import type { Burst, PacketPool } from "@nfvio/packet";
import { parseMac } from "@nfvio/packet";
import { DescChain, encodeNetConfig, netHeaderSize, readFromChain, NET_CONFIG_SIZE, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MQ, VIRTIO_NET_S_LINK_UP } from "@nfvio/virtio";
import { silentLogger, type Logger, type VhostUserDevice, type VhostUserVring } from "./device.js";
import { NET_DEVICE_FEATURES } from "./net.js";
import { RX_NO_BUFFER, RxFill } from "./rx-fill.js";

export interface VhostUserPortOptions {
  /** Receive buffers come from this pool; transmitted buffers are freed into it. */
  pool: PacketPool;
  /** Queue pairs, 1 .. 128 (default 1); VIRTIO_NET_F_MQ is offered with more than one. */
  queuePairs?: number;
  /** Input port number stamped into `pool.port[i]` on rx (default 0). */
  portId?: number;
  /** Most frames taken from one transmit ring in one rx call (default 32). */
  burst?: number;
  /** Offered virtio features (default NET_DEVICE_FEATURES, plus MQ with several pairs); e.g. clear RING_PACKED to force split rings. */
  features?: bigint;
  /** MAC address ("02:00:00:00:00:01"): offers VIRTIO_NET_F_MAC and a config space (GET_CONFIG) carrying it. */
  mac?: string;
  log?: Logger;
}

export const VHOST_USER_PORT_COUNTERS = [
  "rx.packets",
  "rx.bytes",
  "rx.drop.nobuf",
  "rx.drop.oversize",
  "rx.drop.short",
  "rx.drop.disabled",
  "tx.packets",
  "tx.bytes",
  "tx.drop.not_ready",
  "tx.drop.no_buffer",
  "tx.drop.too_small",
  "ring.fault",
] as const;

export type VhostUserPortCounter = (typeof VHOST_USER_PORT_COUNTERS)[number];

const {
  "rx.packets": RX_PACKETS,
  "rx.bytes": RX_BYTES,
  "rx.drop.nobuf": RX_NOBUF,
  "rx.drop.oversize": RX_OVERSIZE,
  "rx.drop.short": RX_SHORT,
  "rx.drop.disabled": RX_DISABLED,
  "tx.packets": TX_PACKETS,
  "tx.bytes": TX_BYTES,
  "tx.drop.not_ready": TX_NOT_READY,
  "tx.drop.no_buffer": TX_NO_BUFFER,
  "tx.drop.too_small": TX_TOO_SMALL,
  "ring.fault": RING_FAULT,
} = counterIndex(VHOST_USER_PORT_COUNTERS);

/** Ethernet header: a frame shorter than this is not a frame. */
const ETH_HLEN = 14;

class Pair {
  /** receiveq (vring 2k): where tx() delivers. */
  rx: VhostUserVring | null = null;
  /** transmitq (vring 2k+1): where rx() takes frames. */
  tx: VhostUserVring | null = null;
  chains: DescChain[] = [];
  readonly fill = new RxFill();
  /** Frames were delivered to the receive ring in this tx call (publish once). */
  touched = false;
  rxBroken = false;
  txBroken = false;
  constructor(readonly index: number) {}
}

export class VhostUserPort implements Port, VhostUserDevice {
  readonly counters = new CounterSet(VHOST_USER_PORT_COUNTERS);
  readonly features: bigint;
  readonly vrings: number;
  readonly queueNum: number;
  readonly pool: PacketPool;
  readonly portId: number;
  /** GET_CONFIG: `struct virtio_net_config` (§5.1.4), only with a `mac`. */
  readonly config?: () => Uint8Array;
  private readonly v: Float64Array;
  private readonly pairs: Pair[];
  private readonly burst: number;
  private readonly log: Logger;
  private readonly room: number;
  private hdr = 12;
  /** Pair indices whose receive ring can take frames, `ready[0 .. readyCount)`. */
  private readonly ready: Int32Array;
  private readyCount = 0;
  private next = 0;
  private closed = false;
  /** Frames taken from transmit rings as they stopped, handed out by the next rx calls: `stash[stashHead ..+ stashCount)`. */
  private stash = new Uint32Array(0);
  private stashHead = 0;
  private stashCount = 0;

  constructor(options: VhostUserPortOptions) {
    const pairs = options.queuePairs ?? 1;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > 128) throw new RangeError(`queuePairs must be 1 .. 128, got ${pairs}`);
    this.burst = options.burst ?? 32;
    if (!Number.isInteger(this.burst) || this.burst < 1 || this.burst > 1024) throw new RangeError(`burst must be 1 .. 1024, got ${this.burst}`);
    this.pool = options.pool;
    this.portId = options.portId ?? 0;
    this.log = options.log ?? silentLogger;
    let features = options.features ?? (NET_DEVICE_FEATURES | (pairs > 1 ? VIRTIO_NET_F_MQ : 0n));
    if (options.mac !== undefined) {
      const mac = parseMac(options.mac);
      features |= VIRTIO_NET_F_MAC;
      // status exists with VIRTIO_NET_F_STATUS, max_virtqueue_pairs with MQ; both are harmless otherwise.
      const space = encodeNetConfig({ mac, status: VIRTIO_NET_S_LINK_UP, maxVirtqueuePairs: pairs }, new Uint8Array(NET_CONFIG_SIZE));
      this.config = () => space;
    }
    this.features = features;
    this.vrings = 2 * pairs;
    this.queueNum = pairs;
    this.pairs = Array.from({ length: pairs }, (_, i) => new Pair(i));
    this.ready = new Int32Array(pairs);
    this.v = this.counters.values;
    this.room = this.pool.stride - this.pool.headroom;
  }

  /** Counter value by name. */
  get(name: VhostUserPortCounter): number {
    return this.counters.get(name);
  }

  /** A front-end has at least one started and enabled transmit ring and one started and enabled receive ring. */
  get connected(): boolean {
    if (this.closed) return false;
    let rx = false;
    let tx = false;
    for (const p of this.pairs) {
      if (p.rx?.started && p.rx.enabled) rx = true;
      if (p.tx?.started && p.tx.enabled) tx = true;
    }
    return rx && tx;
  }

  // -------------------------------------------------------------------------
  // Device hooks

  featuresSet(features: bigint): void {
    this.hdr = netHeaderSize(features);
    for (const p of this.pairs) p.fill.setFeatures(features);
  }

  vringStarted(v: VhostUserVring): void {
    if (this.closed) return;
    const p = this.pairs[v.index >> 1]!;
    const q = v.queue!;
    const segs = Math.min(q.size, 256);
    // Polled: neither ring needs kicks (receive buffers are taken when frames need them).
    q.setNotify(false);
    if ((v.index & 1) === 1) {
      p.tx = v;
      p.chains = Array.from({ length: this.burst }, () => new DescChain(segs));
      p.txBroken = false;
    } else {
      p.rx = v;
      p.fill.reset(segs);
      p.rxBroken = false;
      this.updateReady();
    }
  }

  vringEnabled(v: VhostUserVring): void {
    if ((v.index & 1) === 0) this.updateReady();
    else if (!v.enabled) {
      // Frames the front-end queued while the ring was enabled were handed over: keep them for rx
      // (DPDK's virtio-user disables its rings, then stops them); later ones are discarded.
      const p = this.pairs[v.index >> 1]!;
      if (p.tx === v) this.drainAtStop(p, v, true);
    }
  }

  vringStopping(v: VhostUserVring): number {
    const p = this.pairs[v.index >> 1]!;
    if ((v.index & 1) === 1) {
      if (p.tx === v) {
        this.drainAtStop(p, v);
        p.tx = null;
      }
      return 0;
    }
    if (p.rx !== v) return 0;
    const q = v.queue!;
    let held = p.fill.held;
    if (held > 0 && v.packed) {
      // A packed ring cannot be rewound: give the buffers back empty.
      p.fill.returnHeld(q);
      if (q.publishUsed()) v.call();
      held = 0;
    }
    p.fill.clear();
    p.rx = null;
    this.updateReady();
    return held;
  }

  disconnected(): void {
    for (const p of this.pairs) {
      p.rx = null;
      p.tx = null;
    }
    this.updateReady();
  }

  private updateReady(): void {
    let n = 0;
    if (!this.closed) {
      for (const p of this.pairs) {
        const r = p.rx;
        if (r !== null && r.started && r.enabled && r.queue !== null && r.memory !== null && r.queue.brokenBy === null) this.ready[n++] = p.index;
      }
    }
    this.readyCount = n;
  }

  private broke(p: Pair, v: VhostUserVring, rx: boolean): void {
    if (rx) {
      if (p.rxBroken) return;
      p.rxBroken = true;
      this.updateReady();
    } else {
      if (p.txBroken) return;
      p.txBroken = true;
    }
    this.v[RING_FAULT]! += 1;
    v.fail(`queue fault ${v.queue?.brokenBy ?? "?"}`);
  }

  // -------------------------------------------------------------------------
  // Port

  rx(burst: Burst): number {
    if (this.closed || burst.count >= burst.capacity) return 0;
    const start = burst.count;
    if (this.stashCount > 0) this.unstash(burst);
    const pairs = this.pairs;
    const np = pairs.length;
    let nobuf = false;
    for (let t = 0; t < np && burst.count < burst.capacity && !nobuf; t++) {
      const p = pairs[(this.next + t) % np]!;
      const n = this.take(p, burst.idx, burst.count, burst.capacity - burst.count, true, false);
      if (n < 0) nobuf = true;
      else burst.count += n;
    }
    this.next = (this.next + 1) % np;
    if (nobuf) this.v[RX_NOBUF]! += 1;
    return burst.count - start;
  }

  /**
   * Up to `room` (at most `burst`) frames of pair `p`'s transmit ring into
   * fresh pool buffers written to `idx[base..]`; returns how many, or -1
   * when frames wait and the pool has no buffer (they stay in the ring).
   * `count`: count them as received (rx.packets, rx.bytes) now.
   * `evenDisabled`: take them from a disabled ring too (frames queued before the disable).
   */
  private take(p: Pair, idx: Uint32Array, base: number, room: number, count: boolean, evenDisabled: boolean): number {
    const v = p.tx;
    if (v === null || !v.started) return 0;
    const q = v.queue!;
    const mem = v.memory;
    if (mem === null) return 0;
    let want = q.pending();
    if (want === 0) {
      if (q.brokenBy !== null) this.broke(p, v, false);
      return 0;
    }
    if (want > this.burst) want = this.burst;
    const counts = this.v;
    const chains = p.chains;
    if (!v.enabled && !evenDisabled) {
      // Disabled: "must process and discard any TX packets".
      const n = q.popBurst(chains, want);
      for (let i = 0; i < n; i++) q.pushUsed(chains[i]!, 0);
      counts[RX_DISABLED]! += n;
      if (q.publishUsed()) v.call();
      if (q.brokenBy !== null) this.broke(p, v, false);
      return 0;
    }
    if (want > room) want = room;
    const pool = this.pool;
    const got = pool.allocInto(idx, base, want);
    if (got === 0) return -1;
    const n = q.popBurst(chains, got);
    const hdr = this.hdr;
    const data = pool.data;
    const max = this.room;
    const portId = this.portId;
    let k = base;
    for (let j = 0; j < n; j++) {
      const c = chains[j]!;
      const len = c.readBytes - hdr;
      if (len < ETH_HLEN) counts[RX_SHORT]! += 1;
      else if (len > max) counts[RX_OVERSIZE]! += 1;
      else {
        const i = idx[k]!;
        readFromChain(mem, c, hdr, data, pool.start(i), len);
        pool.len[i] = len;
        pool.port[i] = portId;
        if (count) {
          counts[RX_PACKETS]! += 1;
          counts[RX_BYTES]! += len;
        }
        k++;
      }
      q.pushUsed(c, 0);
    }
    if (k < base + got) pool.freeRange(idx, k, base + got);
    if (n > 0 && q.publishUsed()) v.call();
    if (q.brokenBy !== null) this.broke(p, v, false);
    return k - base;
  }

  /** Hand out frames taken from rings that stopped (see {@link vringStopping}). */
  private unstash(burst: Burst): void {
    const pool = this.pool;
    const counts = this.v;
    let n = burst.capacity - burst.count;
    if (n > this.stashCount) n = this.stashCount;
    const stash = this.stash;
    const idx = burst.idx;
    let c = burst.count;
    for (let k = 0; k < n; k++) {
      const i = stash[this.stashHead + k]!;
      idx[c++] = i;
      counts[RX_PACKETS]! += 1;
      counts[RX_BYTES]! += pool.len[i]!;
    }
    burst.count = c;
    this.stashHead += n;
    this.stashCount -= n;
    if (this.stashCount === 0) this.stashHead = 0;
  }

  /**
   * A transmit ring stops: take what the front-end queued on it into pool
   * buffers (as many as the pool has) for the next rx calls, so frames
   * handed over before GET_VRING_BASE or a disconnect are not lost. What
   * the pool cannot hold stays in the ring (a split ring's base points at it).
   */
  private drainAtStop(p: Pair, v: VhostUserVring, evenDisabled = false): void {
    const q = v.queue;
    if (q === null || v.memory === null || q.brokenBy !== null) return;
    if (this.stashHead > 0) {
      this.stash.copyWithin(0, this.stashHead, this.stashHead + this.stashCount);
      this.stashHead = 0;
    }
    let taken = 0;
    for (let guard = 0; guard <= q.size; guard++) {
      const waiting = q.pending();
      if (waiting === 0) break;
      const want = waiting < this.burst ? waiting : this.burst;
      if (this.stash.length < this.stashCount + want) {
        const grown = new Uint32Array(Math.max(2 * this.stash.length, this.stashCount + want, 64));
        grown.set(this.stash.subarray(0, this.stashCount));
        this.stash = grown;
      }
      const n = this.take(p, this.stash, this.stashCount, want, false, evenDisabled);
      if (n < 0) {
        this.v[RX_NOBUF]! += 1;
        break;
      }
      this.stashCount += n;
      taken += n;
    }
    const left = q.pending();
    if (taken > 0 || left > 0) this.log("debug", `vring ${v.index}: stopping: ${taken} frames kept for rx, ${left} left in the ring`);
  }

  tx(burst: Burst): number {
    const count = burst.count;
    if (count === 0) return 0;
    const pool = this.pool;
    const idx = burst.idx;
    const counts = this.v;
    const nReady = this.readyCount;
    if (nReady === 0) {
      counts[TX_NOT_READY]! += count;
      pool.freeRange(idx, 0, count);
      return count;
    }
    const pairs = this.pairs;
    const ready = this.ready;
    const data = pool.data;
    for (let j = 0; j < count; j++) {
      const i = idx[j]!;
      const p = pairs[ready[nReady === 1 ? 0 : pool.hash[i]! % nReady]!]!;
      const v = p.rx!;
      const q = v.queue;
      const mem = v.memory;
      if (q === null || mem === null || q.brokenBy !== null) {
        counts[TX_NOT_READY]! += 1;
        continue;
      }
      const len = pool.len[i]!;
      const f = p.fill;
      const k = f.take(q, len);
      if (k <= 0) {
        counts[k === RX_NO_BUFFER ? TX_NO_BUFFER : TX_TOO_SMALL]! += 1;
        // Buffers given back empty (too small) are used entries to publish too.
        if (f.small > 0) p.touched = true;
        continue;
      }
      f.header(mem);
      f.write(mem, 0, data, pool.start(i), len);
      f.commit(q);
      p.touched = true;
      counts[TX_PACKETS]! += 1;
      counts[TX_BYTES]! += len;
    }
    // Publish per touched pair (over all pairs: a fault found here changes `ready`).
    for (let r = 0; r < pairs.length; r++) {
      const p = pairs[r]!;
      if (!p.touched) continue;
      p.touched = false;
      const v = p.rx;
      const q = v?.queue ?? null;
      if (v === null || q === null) continue;
      if (q.publishUsed()) v.call();
      if (q.brokenBy !== null) this.broke(p, v, true);
    }
    pool.freeRange(idx, 0, count);
    return count;
  }

  /**
   * Stop using the rings (idempotent): receive buffers carried for a frame
   * are given back empty, then the rings are forgotten. The server (and the
   * connection) stay: close the {@link VhostUserServer} too.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pairs) {
      const v = p.rx;
      if (v !== null && v.started && v.queue !== null && p.fill.held > 0) {
        p.fill.returnHeld(v.queue);
        if (v.queue.publishUsed()) v.call();
      }
      p.fill.clear();
      p.rx = null;
      p.tx = null;
    }
    this.pool.freeRange(this.stash, this.stashHead, this.stashHead + this.stashCount);
    this.stashCount = 0;
    this.stashHead = 0;
    this.updateReady();
  }

  /** Non-zero counters (all with `all`), as a plain object. */
  snapshot(all = false): Record<string, number> {
    return all ? this.counters.snapshot() : this.counters.nonZero();
  }
}
