/**
 * Notifications between a guest driver and the vhost-net device, in the
 * two directions virtio has (§2.3 "Notifications"):
 *
 * - available buffer notification, the guest's *kick*: in a KVM guest a
 *   write to the virtio-pci notify register (MMIO) or port (PIO). The write
 *   traps (a VM exit), KVM matches it against an ioeventfd and signals the
 *   eventfd without going out to the VMM; vhost's poll on that eventfd
 *   queues the virtqueue's handler on the vhost worker and wakes it
 *   (drivers/vhost/vhost.c vhost_poll_wakeup -> vhost_poll_queue).
 * - used buffer notification, the device's *interrupt*: vhost signals the
 *   virtqueue's call eventfd (vhost_signal), which KVM's irqfd turns into an
 *   MSI injected into the guest (virt/kvm/eventfd.c irqfd_wakeup).
 *
 * In one thread these are method calls ({@link KickTarget},
 * {@link InterruptTarget}). Across threads a {@link Doorbell} plays the
 * eventfd: a counter per virtqueue in shared memory plus a wake word the
 * receiving thread sleeps on with `Atomics.wait`.
 */
import type { Meter } from "@nfvio/core";
import { VirtioError } from "@nfvio/virtio";

/** The device side of kicks (the ioeventfds of the device's virtqueues). */
export interface KickTarget {
  /**
   * The guest notified virtqueue `vq`. `from` is the meter of the vCPU that
   * kicked (it pays the VM exit), or null when no vCPU is modelled. `count`
   * kicks may arrive coalesced, as an eventfd counter coalesces them.
   */
  kick(vq: number, from: Meter | null, count?: number): void;
}

/** The guest side of interrupts (the irqfds of the device's virtqueues). */
export interface InterruptTarget {
  /** The device signalled virtqueue `vq`'s call eventfd at time `at` (ns on the device's clock). */
  interrupt(vq: number, at: number): void;
  /**
   * Model clock only: used buffers became visible on `vq` at `at` without an
   * interrupt (suppressed). A polling driver (a DPDK PMD) would see them on
   * its next poll; it uses this to schedule that poll instead of spinning
   * in modelled time. Costs nothing and is not counted as a notification.
   */
  usedVisible?(vq: number, at: number): void;
}

/** Structured-cloneable description of a {@link Doorbell}. */
export interface DoorbellHandle {
  readonly kind: "nfvio.doorbell";
  readonly buffer: SharedArrayBuffer;
}

const WAKE = 0;
const STOP = 1;
const FIRST = 16; // counters start on their own cache line

/**
 * Eventfds in shared memory for `vqs` virtqueues: `ring(vq)` adds to the
 * virtqueue's counter and wakes the other side; `take(vq)` reads and clears
 * it (eventfd read semantics); `wait(ms)` sleeps until something rings.
 * Also carries a stop word for the thread that waits on it.
 */
export class Doorbell {
  readonly vqs: number;
  private readonly w: Int32Array;
  private readonly buffer: SharedArrayBuffer;

  constructor(vqs: number, buffer?: SharedArrayBuffer) {
    if (!Number.isInteger(vqs) || vqs < 1 || vqs > 0x10000) throw new VirtioError("usage", `doorbell needs 1..65536 virtqueues, got ${vqs}`);
    this.buffer = buffer ?? new SharedArrayBuffer((FIRST + vqs) * 4);
    if (this.buffer.byteLength !== (FIRST + vqs) * 4) throw new VirtioError("usage", "doorbell buffer does not match its virtqueue count");
    this.vqs = vqs;
    this.w = new Int32Array(this.buffer);
  }

  static attach(handle: DoorbellHandle): Doorbell {
    if (handle?.kind !== "nfvio.doorbell" || !(handle.buffer instanceof SharedArrayBuffer)) throw new VirtioError("usage", "not a doorbell handle");
    return new Doorbell(handle.buffer.byteLength / 4 - FIRST, handle.buffer);
  }

  get handle(): DoorbellHandle {
    return { kind: "nfvio.doorbell", buffer: this.buffer };
  }

  /** Signal virtqueue `vq` (eventfd write of 1) and wake the waiter. */
  ring(vq: number): void {
    Atomics.add(this.w, FIRST + vq, 1);
    Atomics.add(this.w, WAKE, 1);
    Atomics.notify(this.w, WAKE);
  }

  /** Read and clear virtqueue `vq`'s counter (eventfd read). */
  take(vq: number): number {
    return Atomics.exchange(this.w, FIRST + vq, 0);
  }

  /** The wake word's value, to pass to {@link wait} after checking for work. */
  get epoch(): number {
    return Atomics.load(this.w, WAKE);
  }

  /** Sleep until something rings after `epoch` was read, or `ms` pass, or stop is asked. */
  wait(epoch: number, ms: number): void {
    if (Atomics.load(this.w, STOP) !== 0) return;
    Atomics.wait(this.w, WAKE, epoch, ms);
  }

  /** Ask the waiting thread to stop (and wake it). */
  stop(): void {
    Atomics.store(this.w, STOP, 1);
    Atomics.add(this.w, WAKE, 1);
    Atomics.notify(this.w, WAKE);
  }

  get stopped(): boolean {
    return Atomics.load(this.w, STOP) !== 0;
  }
}

/** A {@link KickTarget} in another thread: kicks ring a doorbell (the guest side of an ioeventfd). */
export class DoorbellKicks implements KickTarget {
  constructor(readonly doorbell: Doorbell) {}
  kick(vq: number, from: Meter | null): void {
    // The exit happens on the kicking vCPU, so it is charged here, in its thread;
    // the device thread counts the kick when it reads the doorbell.
    if (from !== null) from.cycles(from.rates.cyclesPerVmExit);
    this.doorbell.ring(vq);
  }
}

/** An {@link InterruptTarget} in another thread: interrupts ring a doorbell (the device side of an irqfd). */
export class DoorbellInterrupts implements InterruptTarget {
  constructor(readonly doorbell: Doorbell) {}
  interrupt(vq: number): void {
    this.doorbell.ring(vq);
  }
}
