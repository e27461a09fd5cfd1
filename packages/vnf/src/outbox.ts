/**
 * Packets a VNF originates itself (ARP and neighbour discovery messages, ICMP
 * errors and echo replies, packets released after their next hop resolved).
 *
 * The outbox owns a fixed set of slots in one `Uint8Array`, allocated once; a
 * VNF fills slots during `process()` and the caller sends
 * `burst` entries `0 .. count-1` out of `burst.ports[i]`, then calls
 * {@link Outbox.clear}. When every slot is taken the VNF counts the packet as
 * lost (`outbox-overflow`) instead of blocking or throwing, as a full Snabb
 * link does.
 */
import type { PacketBurst } from "./burst.js";

export class Outbox {
  /** The generated packets; entries `0 .. count-1` are valid. */
  readonly burst: PacketBurst;
  /** Backing bytes of every slot (slot `i` starts at `i * slotSize`). */
  readonly bytes: Uint8Array;
  readonly slotSize: number;
  readonly capacity: number;
  /** Number of packets waiting in the outbox. */
  count = 0;
  /** Packets refused because the outbox was full. */
  overflows = 0;

  constructor(capacity: number, slotSize: number) {
    this.capacity = capacity;
    this.slotSize = slotSize;
    this.bytes = new Uint8Array(capacity * slotSize);
    const offsets = new Uint32Array(capacity);
    for (let i = 0; i < capacity; i++) offsets[i] = i * slotSize;
    this.burst = {
      bufs: new Array<Uint8Array>(capacity).fill(this.bytes),
      offsets,
      lengths: new Uint32Array(capacity),
      ports: new Uint16Array(capacity),
    };
  }

  /**
   * Reserve a slot for a `len`-byte packet to be sent on `port`. Returns the
   * packet's start offset in {@link bytes}, or -1 when the outbox is full or
   * the packet does not fit a slot. The slot's bytes are not cleared.
   */
  alloc(len: number, port: number): number {
    if (this.count >= this.capacity || len > this.slotSize) {
      this.overflows++;
      return -1;
    }
    const i = this.count++;
    this.burst.lengths[i] = len;
    this.burst.ports[i] = port;
    return this.burst.offsets[i]!;
  }

  /** Shrink the most recently allocated packet to `len` bytes. */
  trimLast(len: number): void {
    if (this.count > 0) this.burst.lengths[this.count - 1] = len;
  }

  /** Forget all packets (after the caller has sent them). */
  clear(): void {
    this.count = 0;
  }

  /** Copies of the waiting frames with their ports (allocates; tests and slow paths). */
  frames(): { port: number; frame: Uint8Array }[] {
    const out: { port: number; frame: Uint8Array }[] = [];
    for (let i = 0; i < this.count; i++) {
      const o = this.burst.offsets[i]!;
      out.push({ port: this.burst.ports[i]!, frame: this.bytes.slice(o, o + this.burst.lengths[i]!) });
    }
    return out;
  }
}
