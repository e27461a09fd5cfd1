/**
 * The queue manager's frame queues: FIFOs of frames (a device buffer plus
 * what the pipeline decided about it) with a credit limit. A full queue
 * refuses the frame (tail drop), as a DPAA queue manager's congestion
 * management with tail discard does; the caller counts the drop.
 *
 * Entries carry the modelled time at which the frame becomes visible to
 * the next engine, so a FIFO is also the hand-off between pipeline stages
 * under the model clock.
 */

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

export class FrameQueue {
  readonly idx: Uint32Array;
  readonly at: Float64Array;
  readonly port: Uint32Array;
  readonly hash: Uint32Array;
  readonly report: Uint8Array;
  readonly flags: Uint8Array;
  private readonly mask: number;
  head = 0;
  size = 0;

  /** `limit`: credits (frames accepted); `capacity`: ring size, at least `limit`. */
  constructor(
    readonly limit: number,
    capacity = limit,
  ) {
    const cap = nextPow2(Math.max(limit, capacity, 1));
    this.idx = new Uint32Array(cap);
    this.at = new Float64Array(cap);
    this.port = new Uint32Array(cap);
    this.hash = new Uint32Array(cap);
    this.report = new Uint8Array(cap);
    this.flags = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  /** Frames the queue can still take before its limit. */
  get room(): number {
    return this.limit - this.size;
  }

  /** Append a frame; false (nothing changed) when the queue is at its limit and `force` is not set. */
  push(i: number, at: number, port: number, hash: number, report: number, flags: number, force = false): boolean {
    if (this.size >= this.limit && !force) return false;
    if (this.size > this.mask) return false;
    const s = (this.head + this.size) & this.mask;
    this.idx[s] = i;
    this.at[s] = at;
    this.port[s] = port;
    this.hash[s] = hash;
    this.report[s] = report;
    this.flags[s] = flags;
    this.size++;
    return true;
  }

  /** Slot of the k-th entry from the head. */
  slot(k: number): number {
    return (this.head + k) & this.mask;
  }

  /** Time of the head entry (Infinity when empty). */
  headAt(): number {
    return this.size === 0 ? Infinity : this.at[this.head]!;
  }

  /** Set the time of the entries `from .. size-1` (counted from the head). */
  stampFrom(from: number, at: number): void {
    for (let k = from; k < this.size; k++) this.at[(this.head + k) & this.mask] = at;
  }

  shift(): void {
    this.head = (this.head + 1) & this.mask;
    this.size--;
  }
}
