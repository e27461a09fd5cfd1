/**
 * A guest's receive and transmit rings (split or packed) over its own
 * memory, driven by hand: post receive buffers, send frames (12-byte
 * virtio-net header + frame), take used buffers back.
 */
import { GuestMemory, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1, ringFactory, type DeviceQueue, type DriverQueue } from "@nfvio/virtio";
import { expect } from "vitest";

export const HDR = 12;
export const SIZE = 64;
export const BUF = 2048;

/** A guest's rings and buffers. */
export class RingGuest {
  readonly mem = GuestMemory.shared(1 << 22, 0x10000);
  readonly features: bigint;
  readonly rx: DriverQueue;
  readonly tx: DriverQueue;
  readonly rxDev: DeviceQueue;
  readonly txDev: DeviceQueue;
  private readonly rxBase = 0x100000;
  private readonly txBase = 0x200000;
  private readonly freeRx: number[] = [];
  private readonly freeTx: number[] = [];
  private readonly tokens = new Uint32Array(SIZE);
  private readonly lens = new Uint32Array(SIZE);
  /** Frames received (header stripped) and zero-length returns. */
  readonly received: Uint8Array[] = [];
  empties = 0;

  constructor(
    readonly ring: "split" | "packed",
    extra = 0n,
  ) {
    this.features = VIRTIO_F_VERSION_1 | (ring === "packed" ? VIRTIO_F_RING_PACKED : 0n) | extra;
    const f = ringFactory(ring);
    const prx = f.place(SIZE, 0x10000);
    const ptx = f.place(SIZE, Math.ceil(prx.end / 4096) * 4096);
    this.rx = f.driver(this.mem, prx, this.features, true);
    this.tx = f.driver(this.mem, ptx, this.features, true);
    this.rxDev = f.device(this.mem, prx, this.features);
    this.txDev = f.device(this.mem, ptx, this.features);
    for (let t = SIZE - 1; t >= 0; t--) {
      this.freeRx.push(t);
      this.freeTx.push(t);
    }
  }

  post(n: number, len = BUF): void {
    for (let k = 0; k < n; k++) {
      const t = this.freeRx.pop()!;
      expect(this.rx.add(Float64Array.of(this.rxBase + t * BUF), Uint32Array.of(len), 0, 1, t)).toBe(true);
    }
    this.rx.publish();
  }

  send(frames: readonly Uint8Array[]): void {
    this.reclaimTx();
    for (const fr of frames) {
      const t = this.freeTx.pop()!;
      const gpa = this.txBase + t * BUF;
      this.mem.write(gpa, new Uint8Array(HDR));
      this.mem.write(gpa + HDR, fr);
      expect(this.tx.add(Float64Array.of(gpa), Uint32Array.of(HDR + fr.length), 1, 0, t)).toBe(true);
    }
    this.tx.publish();
  }

  reclaimTx(): void {
    const n = this.tx.reclaim(this.tokens, this.lens, SIZE);
    for (let k = 0; k < n; k++) this.freeTx.push(this.tokens[k]!);
  }

  /** Take used receive buffers (not posted again). */
  receive(): void {
    const n = this.rx.reclaim(this.tokens, this.lens, SIZE);
    for (let k = 0; k < n; k++) {
      const t = this.tokens[k]!;
      const len = this.lens[k]!;
      if (len === 0) this.empties++;
      else this.received.push(this.mem.slice(this.rxBase + t * BUF + HDR, len - HDR).slice());
      this.freeRx.push(t);
    }
  }
}

