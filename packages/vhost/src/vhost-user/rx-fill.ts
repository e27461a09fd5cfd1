/**
 * Filling one virtio-net receive queue with frames, as a device does it
 * (virtio 1.2 §5.1.6.3, §5.1.6.4), shared by {@link VhostUserNetDevice}
 * (net.ts) and {@link VhostUserPort} (backend-port.ts).
 *
 * A frame is delivered in three steps, so the caller decides where its
 * bytes come from (another chain, a host array) without a closure:
 *
 * 1. {@link RxFill.take}: take receive buffers until they hold the header
 *    and the frame. Without VIRTIO_NET_F_MRG_RXBUF one buffer must hold
 *    both; with it a frame may span up to {@link MAX_MERGE} buffers, each
 *    at least a header long (§5.1.6.3.1). A buffer too small for that is
 *    given back empty. When the ring runs dry part-way, the buffers taken
 *    are kept (carried) for the next frame, not returned half-written.
 * 2. {@link RxFill.header} writes the header: zeros (no offloads) and
 *    `num_buffers` (12- and 20-byte headers, §5.1.6); then
 *    {@link RxFill.copy} / {@link RxFill.write} put the frame's bytes after
 *    it, across the buffers taken.
 * 3. {@link RxFill.commit} returns the buffers as used, each with the bytes
 *    written into it. The caller publishes (`publishUsed()`) and signals.
 *
 * The chains are made when the ring starts ({@link RxFill.reset}) and
 * reused: nothing is allocated per frame.
 */
import { DescChain, netHeaderSize, VIRTIO_NET_F_MRG_RXBUF, writeToChain, type DeviceQueue, type GuestMemory } from "@nfvio/virtio";
import { copyChainToChain } from "./copy.js";

/** Most receive buffers one frame may take with MRG_RXBUF. */
export const MAX_MERGE = 32;
/** Chains popped round robin; more than a frame in flight plus the carried ones can ever hold. */
const POOL = 64;

/** {@link RxFill.take}: the ring ran dry (the buffers taken are carried to the next frame). */
export const RX_NO_BUFFER = 0;
/** {@link RxFill.take}: the buffers cannot hold the frame (it is dropped, the buffers given back empty). */
export const RX_TOO_SMALL = -1;

export class RxFill {
  /** Header size for the negotiated features (§5.1.6). */
  hdr = 12;
  /** VIRTIO_NET_F_MRG_RXBUF negotiated. */
  mrg = false;
  /** `rx_buffer_too_small` events of the last {@link take}: buffers given back empty, plus one when a frame needed more than {@link MAX_MERGE}. */
  small = 0;
  private pool: DescChain[] = [];
  private poolNext = 0;
  private readonly one: DescChain[] = [new DescChain(1)];
  private readonly carry: (DescChain | null)[] = new Array<DescChain | null>(MAX_MERGE).fill(null);
  private carryHead = 0;
  private carryCount = 0;
  /** The buffers taken for the frame being delivered. */
  private readonly use: (DescChain | null)[] = new Array<DescChain | null>(MAX_MERGE).fill(null);
  private k = 0;
  private need = 0;
  private readonly written = new Uint32Array(MAX_MERGE);
  private readonly hdrBytes = new Uint8Array(20);

  /** SET_FEATURES: header size and merging. */
  setFeatures(features: bigint): void {
    this.hdr = netHeaderSize(features);
    this.mrg = (features & VIRTIO_NET_F_MRG_RXBUF) !== 0n;
  }

  /** The receive ring (re)started: chains for buffers of up to `segments` segments; nothing carried. */
  reset(segments: number): void {
    this.pool = Array.from({ length: POOL }, () => new DescChain(segments));
    this.poolNext = 0;
    this.carryHead = 0;
    this.carryCount = 0;
    this.k = 0;
  }

  /** Buffers popped and carried (not returned) since a frame ran out of them. */
  get held(): number {
    return this.carryCount;
  }

  /** Forget the carried buffers (the ring stopped; see {@link returnHeld}). */
  clear(): void {
    this.carryCount = 0;
    this.k = 0;
  }

  /** Give the carried buffers back empty (a packed ring cannot be rewound); returns how many. Publish after. */
  returnHeld(q: DeviceQueue): number {
    const n = this.carryCount;
    for (let i = 0; i < n; i++) q.pushUsed(this.carry[(this.carryHead + i) % MAX_MERGE]!, 0);
    this.carryCount = 0;
    return n;
  }

  /** One receive buffer: a carried one first, else pop. */
  private next(q: DeviceQueue): DescChain | null {
    if (this.carryCount > 0) {
      const c = this.carry[this.carryHead]!;
      this.carryHead = (this.carryHead + 1) % MAX_MERGE;
      this.carryCount--;
      return c;
    }
    const slot = this.pool[this.poolNext]!;
    this.poolNext = (this.poolNext + 1) % POOL;
    this.one[0] = slot;
    return q.popBurst(this.one, 1) === 1 ? slot : null;
  }

  /**
   * Take buffers of `q` for a frame of `len` bytes (header not included).
   * Returns how many (> 0; then write and {@link commit}), or
   * {@link RX_NO_BUFFER} / {@link RX_TOO_SMALL}. Sets {@link small}.
   */
  take(q: DeviceQueue, len: number): number {
    const hdr = this.hdr;
    const need = hdr + len;
    const use = this.use;
    const mrg = this.mrg;
    this.small = 0;
    this.k = 0;
    let k = 0;
    let room = 0;
    while (room < need && k < MAX_MERGE) {
      const r = this.next(q);
      if (r === null) break;
      if (mrg ? r.writeBytes < hdr : r.writeBytes < need) {
        // §5.1.6.3.1: a receive buffer holds at least a header (MRG_RXBUF) or a whole frame; give this one back empty.
        q.pushUsed(r, 0);
        this.small++;
        if (!mrg) return RX_TOO_SMALL;
        continue;
      }
      use[k++] = r;
      room += r.writeBytes;
      if (!mrg) break;
    }
    if (room < need) {
      if (k === MAX_MERGE) {
        for (let j = 0; j < k; j++) q.pushUsed(use[j]!, 0);
        this.small++;
        return RX_TOO_SMALL;
      }
      // The ring ran dry: keep the buffers for the next frame.
      for (let j = 0; j < k; j++) {
        this.carry[(this.carryHead + this.carryCount) % MAX_MERGE] = use[j]!;
        this.carryCount++;
      }
      return RX_NO_BUFFER;
    }
    this.k = k;
    this.need = need;
    return k;
  }

  /** Write the header of the frame taken: zeros and `num_buffers`. */
  header(mem: GuestMemory): void {
    const h = this.hdrBytes;
    const k = this.k;
    if (this.hdr >= 12) {
      h[10] = k & 0xff;
      h[11] = k >>> 8;
    }
    writeToChain(mem, this.use[0]!, 0, h, 0, this.hdr);
  }

  /** Copy `n` bytes of `src`'s readable part (from offset `from`) to frame offset `at`. */
  copy(mem: GuestMemory, src: DescChain, from: number, at: number, n: number): void {
    this.put(mem, src, null, from, at, n);
  }

  /** Write `bytes[off .. off + n)` to frame offset `at`. */
  write(mem: GuestMemory, at: number, bytes: Uint8Array, off: number, n: number): void {
    this.put(mem, null, bytes, off, at, n);
  }

  /** {@link copy} (from the chain `src`) or {@link write} (from `bytes`): `n` bytes from source offset `from` to frame offset `at`, across the buffers taken. */
  private put(mem: GuestMemory, src: DescChain | null, bytes: Uint8Array | null, from: number, at: number, n: number): void {
    const use = this.use;
    let pos = this.hdr + at; // offset in the concatenated writable parts
    let done = 0;
    for (let j = 0; j < this.k && done < n; j++) {
      const r = use[j]!;
      if (pos >= r.writeBytes) {
        pos -= r.writeBytes;
        continue;
      }
      // Either copy stops at the end of r's writable part.
      done += src !== null ? copyChainToChain(mem, src, from + done, r, pos, n - done) : writeToChain(mem, r, pos, bytes!, from + done, n - done);
      pos = 0;
    }
  }

  /** Return the buffers of the frame as used, each with the bytes written into it (not yet published). */
  commit(q: DeviceQueue): void {
    const use = this.use;
    const written = this.written;
    const k = this.k;
    let left = this.need;
    for (let j = 0; j < k; j++) {
      const w = use[j]!.writeBytes < left ? use[j]!.writeBytes : left;
      written[j] = w;
      left -= w;
    }
    for (let j = 0; j < k; j++) q.pushUsed(use[j]!, written[j]!);
    this.k = 0;
  }
}
