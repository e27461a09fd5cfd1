/**
 * Runs an {@link OffloadDevice} on the real clock inside Node's event loop,
 * as `@nfvio/vhost`'s network device runs itself:
 *
 * - Idle, nothing runs: the device left notifications on in every transmit
 *   ring it found empty, and the front-ends' kicks (eventfds watched by
 *   libuv) wake the poller ({@link DevicePoller.wake}).
 * - Awake, it polls in a chain of `setImmediate` turns: each turn runs up to
 *   `roundsPerTurn` calls of `device.poll()` (every engine once: transmit
 *   rings, the pipeline, receive delivery), stopping early when one does
 *   nothing, then yields to the event loop so socket messages, timers and
 *   kicks are served between turns.
 * - After `idleMs` without work it asks the device whether anything is left
 *   ({@link OffloadDevice.hasWork}, which leaves notifications on where a
 *   ring is empty) and, if not, sleeps. A ring the front-end polls (no kick
 *   descriptor) is looked at every millisecond while asleep.
 *
 * One poller serves a device and all its vports; members (the vhost-user
 * vports) are told after every turn, to report broken rings.
 */
import type { OffloadDevice } from "../device/device.js";

/** Something served by the poller (a {@link VhostUserVport}). */
export interface PollerMember {
  /** After each polling turn (report rings that broke). */
  afterTurn(): void;
  /** A started ring of this member will not be kicked (the front-end asked to be polled). */
  readonly kickPolled: boolean;
}

export interface DevicePollerOptions {
  /** `device.poll()` calls per event-loop turn at most (default 8). */
  roundsPerTurn?: number;
  /** Keep polling this long after the last work before sleeping on kicks (default 1 ms; 0 sleeps at once). */
  idleMs?: number;
}

/** How the poller used the event loop. */
export interface DevicePollerStats {
  /** Idle to polling transitions. */
  wakeups: number;
  /** Turns that found work. */
  busyTurns: number;
  /** Turns that found none (before going idle). */
  idleTurns: number;
  /** Polling to idle transitions. */
  sleeps: number;
  /** Kicks forwarded to the device. */
  kicks: number;
}

export class DevicePoller {
  readonly device: OffloadDevice;
  readonly stats: DevicePollerStats = { wakeups: 0, busyTurns: 0, idleTurns: 0, sleeps: 0, kicks: 0 };
  private readonly rounds: number;
  private readonly idleMs: number;
  private readonly members = new Set<PollerMember>();
  private active = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWork = 0;
  private closed = false;
  private readonly turn = (): void => this.onTurn();

  constructor(device: OffloadDevice, options: DevicePollerOptions = {}) {
    this.device = device;
    this.rounds = options.roundsPerTurn ?? 8;
    this.idleMs = options.idleMs ?? 1;
    if (!Number.isInteger(this.rounds) || this.rounds < 1) throw new RangeError(`roundsPerTurn must be a positive integer, got ${this.rounds}`);
    if (!Number.isFinite(this.idleMs) || this.idleMs < 0) throw new RangeError(`idleMs must be a non-negative number, got ${this.idleMs}`);
  }

  /** True while polling; false while asleep on kicks. */
  get polling(): boolean {
    return this.active;
  }

  add(member: PollerMember): void {
    this.members.add(member);
  }

  remove(member: PollerMember): void {
    this.members.delete(member);
  }

  /** A kick arrived (already forwarded to the vport): poll. */
  kicked(): void {
    this.stats.kicks++;
    this.wake();
  }

  /** Start polling (if asleep) and note that there is work. */
  wake(): void {
    if (this.closed) return;
    if (!this.active) {
      this.active = true;
      this.stats.wakeups++;
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    }
    this.lastWork = performance.now();
    if (this.immediate === null) this.immediate = setImmediate(this.turn);
  }

  /** Stop for good: no more turns or timers. */
  close(): void {
    this.closed = true;
    this.active = false;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private onTurn(): void {
    this.immediate = null;
    if (this.closed) return;
    let work = 0;
    for (let r = 0; r < this.rounds; r++) {
      if (!this.device.poll()) break;
      work++;
    }
    for (const m of this.members) m.afterTurn();
    const now = performance.now();
    if (work > 0) {
      this.stats.busyTurns++;
      this.lastWork = now;
    } else {
      this.stats.idleTurns++;
      if (now - this.lastWork >= this.idleMs) {
        if (!this.device.hasWork()) return this.sleep();
        this.lastWork = now;
      }
    }
    this.immediate = setImmediate(this.turn);
  }

  private sleep(): void {
    this.active = false;
    this.stats.sleeps++;
    let polled = false;
    for (const m of this.members) if (m.kickPolled) polled = true;
    if (polled) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake();
      }, 1);
    }
  }
}
