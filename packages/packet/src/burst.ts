/**
 * A burst: a reusable, fixed-capacity array of packet buffer indices plus a
 * count, the unit in which packets move through nfvio (DPDK's
 * `rte_mbuf *pkts[32]` + `nb_pkts`, Snabb's batch of a breath).
 *
 * A burst is created once per call site and refilled by every receive or
 * allocation: nothing is allocated per packet. Indices refer to buffers of
 * one {@link PacketPool}; the burst does not know which.
 */

/** Default burst size, as in DPDK's examples and nfvio's architecture brief. */
export const BURST_SIZE = 32;

export class Burst {
  /** Buffer indices; slots [0, count) are valid. */
  readonly idx: Uint32Array;
  /** Number of valid slots. */
  count = 0;

  constructor(readonly capacity: number = BURST_SIZE) {
    if (!Number.isInteger(capacity) || capacity <= 0 || capacity > 0x10000) {
      throw new RangeError(`burst capacity ${capacity} must be an integer in [1, 65536]`);
    }
    this.idx = new Uint32Array(capacity);
  }

  /** Free slots left. */
  get room(): number {
    return this.capacity - this.count;
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  /** Append one index; false (and nothing appended) when full. */
  push(index: number): boolean {
    if (this.count >= this.capacity) return false;
    this.idx[this.count++] = index;
    return true;
  }

  /** Forget all slots (the buffers are not freed: that is the owner's job). */
  clear(): void {
    this.count = 0;
  }

  /**
   * Drop slots [0, n) and move the rest to the front (after a partial
   * transmit: the accepted head leaves, the refused tail stays).
   */
  shift(n: number): void {
    if (n <= 0) return;
    if (n >= this.count) {
      this.count = 0;
      return;
    }
    this.idx.copyWithin(0, n, this.count);
    this.count -= n;
  }
}
