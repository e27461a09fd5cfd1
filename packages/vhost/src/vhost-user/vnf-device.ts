/**
 * The `vnf` datapath of {@link VhostUserNetDevice}: frames the driver
 * transmits go through a frame processor (a VNF of `@nfvio/vnf`, or anything
 * with the same shape) and the frames it forwards are delivered to receive
 * queues.
 *
 * This package does not depend on `@nfvio/vnf` (the two are siblings), so
 * the processor is described structurally here: `@nfvio/vnf`'s `Vnf` fits
 * {@link FrameProcessor} as it is.
 *
 * ## Ports and queue pairs
 * A frame taken from transmitq `i` (queue pair `i`) arrives on processor
 * port `i mod portCount`. A frame forwarded (verdict `k >= 0`) out of port
 * `k`, and a packet the processor originates on port `k` (its outbox), goes
 * to receiveq `k mod queuePairs`. With one pair and a 2-port VNF (l2fwd,
 * router, firewall) everything arrives on port 0 and every output comes
 * back on the one pair; with two pairs port 0 is pair 0 and port 1 pair 1.
 *
 * ## Memory
 * One scratch region, allocated once: `burst` slots of `slotSize` bytes. A
 * frame is copied out of its guest chain into its slot once (the transmit
 * buffer is returned at once), processed in place, and copied into receive
 * buffers. Nothing is allocated per frame.
 */

/** A burst as `@nfvio/vnf`'s `PacketBurst`: packet `i` is `bufs[i][offsets[i] .. +lengths[i])`, arrived on / sent to `ports[i]`. */
export interface FrameBurst {
  readonly bufs: Uint8Array[];
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly ports: Uint16Array;
}

/** What the `vnf` datapath needs of a VNF (the shape of `@nfvio/vnf`'s `Vnf`). */
export interface FrameProcessor {
  /** Ports; input ports and forward verdicts are below this. */
  readonly portCount: number;
  /**
   * Process frames `0 .. n-1` of `burst` in place; write one verdict per
   * frame: `>= 0` forward out of that port, `< 0` drop (the processor counts
   * the reason). Returns the number forwarded.
   */
  process(burst: FrameBurst, n: number, verdicts: Int32Array): number;
  /** Frames the processor originated during `process` (sent, then `clear()`ed by the device), or null. */
  readonly outbox?: { readonly burst: FrameBurst; readonly count: number; clear(): void } | null;
}

/** Default scratch slot: a 9000-byte jumbo frame and then some. */
export const DEFAULT_VNF_SLOT = 9216;

/** The reusable burst and scratch memory of the `vnf` datapath. */
export class VnfStage {
  readonly processor: FrameProcessor;
  readonly slotSize: number;
  readonly scratch: Uint8Array;
  readonly burst: FrameBurst;
  readonly verdicts: Int32Array;

  constructor(processor: FrameProcessor, capacity: number, slotSize = DEFAULT_VNF_SLOT) {
    if (!Number.isInteger(processor.portCount) || processor.portCount < 1) throw new RangeError(`processor portCount must be a positive integer, got ${processor.portCount}`);
    if (!Number.isInteger(slotSize) || slotSize < 64) throw new RangeError(`slotSize must be an integer >= 64, got ${slotSize}`);
    this.processor = processor;
    this.slotSize = slotSize;
    this.scratch = new Uint8Array(capacity * slotSize);
    const offsets = new Uint32Array(capacity);
    for (let i = 0; i < capacity; i++) offsets[i] = i * slotSize;
    this.burst = { bufs: new Array<Uint8Array>(capacity).fill(this.scratch), offsets, lengths: new Uint32Array(capacity), ports: new Uint16Array(capacity) };
    this.verdicts = new Int32Array(capacity);
  }

  /** Reset slot `i` (the processor may have moved its offset) and return its start in {@link scratch}. */
  slot(i: number, port: number, len: number): number {
    const b = this.burst;
    const o = i * this.slotSize;
    b.bufs[i] = this.scratch;
    b.offsets[i] = o;
    b.lengths[i] = len;
    b.ports[i] = port;
    return o;
  }
}
