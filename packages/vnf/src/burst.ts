/**
 * A burst of packets as the VNFs see it.
 *
 * Each packet `i` is the byte range `[offsets[i], offsets[i] + lengths[i])` of
 * `bufs[i]`, arrived on port `ports[i]`. For a pool of fixed-size buffers in
 * one `ArrayBuffer` (the DPDK mbuf model that `@nfvio/packet` builds), every
 * `bufs[i]` is the pool's single `Uint8Array` and `offsets[i]` selects the
 * buffer, so a pool-index burst is this structure with no copy. Frames held
 * as separate `Uint8Array`s use `offsets[i] = 0`.
 *
 * The structure is reused from burst to burst: nothing is allocated per packet.
 */
export interface PacketBurst {
  /** Bytes that hold packet `i` (the same array for every packet of a pool burst). */
  readonly bufs: Uint8Array[];
  /** Start of packet `i`'s Ethernet frame in `bufs[i]`. */
  readonly offsets: Uint32Array;
  /** Length of packet `i`'s frame in bytes (without FCS). */
  readonly lengths: Uint32Array;
  /** Port packet `i` arrived on (on output from an {@link Outbox}: the port to send it on). */
  readonly ports: Uint16Array;
}

/** Default burst size, as in DPDK and the design brief. */
export const DEFAULT_BURST = 32;

const EMPTY = new Uint8Array(0);

/** An empty burst of `capacity` packets, to be filled by the caller. */
export function createBurst(capacity: number = DEFAULT_BURST): PacketBurst {
  return {
    bufs: new Array<Uint8Array>(capacity).fill(EMPTY),
    offsets: new Uint32Array(capacity),
    lengths: new Uint32Array(capacity),
    ports: new Uint16Array(capacity),
  };
}

/**
 * A burst over separate frames (convenience for tests, examples and slow
 * paths; allocates the burst itself). All frames arrive on `port`.
 */
export function burstFromFrames(frames: readonly Uint8Array[], port = 0): PacketBurst {
  const b = createBurst(frames.length);
  for (let i = 0; i < frames.length; i++) {
    b.bufs[i] = frames[i]!;
    b.offsets[i] = 0;
    b.lengths[i] = frames[i]!.length;
    b.ports[i] = port;
  }
  return b;
}

/** Copy of packet `i`'s frame (allocates; for tests and slow paths). */
export function frameOf(b: PacketBurst, i: number): Uint8Array {
  return b.bufs[i]!.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!);
}
