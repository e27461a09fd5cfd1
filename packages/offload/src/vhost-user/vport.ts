/**
 * One vport of an {@link OffloadDevice} as a vhost-user device: the device
 * behind one socket, serving that front-end's rings directly (vDPA style:
 * the device pops the front-end's chains and reads and writes its buffers
 * itself) and switching its frames with the other vports' in the eSwitch.
 *
 * ```
 *  front-end A ─ socket A ─ VhostUserVport(0) ─┐
 *                                               ├── OffloadDevice (eSwitch) ◀── DevicePoller (setImmediate turns, sleeps on kicks)
 *  front-end B ─ socket B ─ VhostUserVport(1) ─┘
 * ```
 *
 * Lifecycle. A vport is attached ({@link OffloadDevice.attachQueues}) once
 * both rings of its queue pair have started (memory, size, addresses and
 * kick in place) and are enabled, with the features the front-end
 * negotiated. It is detached ({@link OffloadDevice.detachVport}) when either
 * ring stops (GET_VRING_BASE, a new memory table, disconnect) or is
 * disabled. Receive chains the device had popped ahead and not written go
 * back as vhost-user allows: on a split ring the count is returned from the
 * receive ring's `vringStopping`, so GET_VRING_BASE reports the available
 * index that many entries earlier; a packed ring's are returned used with
 * length 0 and published when the vport is detached. If the transmit ring
 * stopped first and the receive ring keeps running until the vport is
 * attached again, the held split chains are returned used with length 0
 * then. Before detaching, the device takes in what the front-end already
 * queued on its transmit ring (as `@nfvio/vhost`'s network device does), so
 * every frame handed over is switched and counted. A front-end may
 * reconnect any number of times; counters are cumulative.
 *
 * Features: what the device's profile offers a guest
 * ({@link offloadDeviceFeatures}) minus what a vhost-user back-end does not
 * serve: the control virtqueue (VIRTIO_NET_F_CTRL_VQ, and so MQ, RSS and
 * HASH_REPORT, which need it) is handled by QEMU or DPDK's virtio-user
 * themselves; one queue pair per socket. With a MAC the vport offers
 * VIRTIO_NET_F_MAC and a configuration space (GET_CONFIG) carrying it,
 * link status up, one queue pair and the MTU the device can carry.
 *
 * Hostile front-ends: the rings come from the session's ring code with its
 * bounds checks; a ring that faults is reported once with `vring.fail()`
 * (err eventfd, DEVICE_NEEDS_RESET) and the device stops using it; features
 * the device refuses at attach (an invalid combination) fail the ring too.
 */
import {
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_S_LINK_UP,
  type DescChain,
  type DeviceQueue,
} from "@nfvio/virtio";
import { offloadDeviceFeatures, type InterruptSink, type OffloadDevice, type Vport } from "../device/device.js";
import type { DeviceProfile } from "../device/profile.js";
import { parseMac } from "../flow-key.js";
import type { DevicePoller, PollerMember } from "./poller.js";
import type { VhostLogger, VhostUserDeviceShape, VhostUserVringShape } from "./shapes.js";

/** Feature bits a vhost-user back-end leaves to the front-end (QEMU, DPDK virtio-user): the control queue and what needs it. */
export const VHOST_USER_FRONTEND_FEATURES = VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_MQ | VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT;

/** Features a vport of a device with `profile` offers over vhost-user (VIRTIO_NET_F_MAC only when it has a MAC). */
export function vhostUserVportFeatures(profile: DeviceProfile, withMac: boolean): bigint {
  let f = offloadDeviceFeatures(profile) & ~VHOST_USER_FRONTEND_FEATURES;
  if (!withMac) f &= ~VIRTIO_NET_F_MAC;
  return f;
}

export interface VhostUserVportOptions {
  /** Vport slot of the device. */
  vport: number;
  /** The guest's MAC (static entry in the eSwitch, and VIRTIO_NET_F_MAC / config space); none: the vport is reached only by learning or flooding. */
  mac?: string | number;
  log?: VhostLogger;
}

/** Counters of one vhost-user vport (cumulative over connections). */
export interface VhostUserVportStats {
  /** Times the rings were attached to the device. */
  attaches: number;
  /** Times they were detached (ring stopped or disabled, disconnect). */
  detaches: number;
  /** Attaches the device refused (invalid features); the ring was failed. */
  refused: number;
  /** Kicks from the front-end (both rings). */
  kicks: number;
  /** Used-buffer notifications sent (call eventfd writes). */
  calls: number;
  /** Frames queued for the vport when it was detached (dropped: `drop.detached`). */
  droppedOnDetach: number;
  /** Split-ring receive chains handed back by rewinding GET_VRING_BASE. */
  rewound: number;
  /** Receive chains handed back used with length 0 (packed rings at detach, or split ones at a later attach). */
  returnedEmpty: number;
  /** Rings reported broken with `vring.fail()`. */
  ringFailures: number;
}

export class VhostUserVport implements VhostUserDeviceShape, PollerMember {
  readonly features: bigint;
  readonly vrings = 2;
  readonly queueNum = 1;
  /** Vport slot. */
  readonly id: number;
  /** MAC as a 48-bit number, or -1. */
  readonly mac: number;
  readonly stats: VhostUserVportStats = { attaches: 0, detaches: 0, refused: 0, kicks: 0, calls: 0, droppedOnDetach: 0, rewound: 0, returnedEmpty: 0, ringFailures: 0 };
  private readonly device: OffloadDevice;
  private readonly poller: DevicePoller;
  private readonly log: VhostLogger;
  private readonly rings: (VhostUserVringShape | null)[] = [null, null];
  private readonly reported = [false, false];
  private vp: Vport | null = null;
  /** Split receive chains held by the device at the last detach, with the queue they came from. */
  private held: DescChain[] = [];
  private heldQueue: DeviceQueue | null = null;
  private readonly sink: InterruptSink;
  private readonly configSpace: Uint8Array;

  constructor(device: OffloadDevice, poller: DevicePoller, options: VhostUserVportOptions) {
    this.device = device;
    this.poller = poller;
    this.id = options.vport;
    if (!Number.isInteger(this.id) || this.id < 0 || this.id >= device.vportCount) throw new RangeError(`vport ${this.id} is not a vport of device "${device.name}" (0 .. ${device.vportCount - 1})`);
    this.mac = options.mac === undefined ? -1 : typeof options.mac === "string" ? parseMac(options.mac) : options.mac;
    if (this.mac !== -1 && (!Number.isInteger(this.mac) || this.mac < 0 || this.mac >= 2 ** 48)) throw new RangeError(`MAC ${String(options.mac)} is not a 48-bit address`);
    this.log = options.log ?? (() => {});
    this.features = vhostUserVportFeatures(device.profile, this.mac >= 0);
    this.sink = {
      interrupt: (vq: number): void => {
        const v = this.rings[vq];
        if (v) {
          this.stats.calls++;
          v.call();
        }
      },
    };
    // virtio 1.2 §5.1.4: mac[6], status, max_virtqueue_pairs, mtu (little-endian u16s).
    const cfg = new Uint8Array(12);
    for (let k = 0; k < 6 && this.mac >= 0; k++) cfg[k] = Math.floor(this.mac / 2 ** (8 * (5 - k))) & 0xff;
    cfg[6] = VIRTIO_NET_S_LINK_UP;
    cfg[8] = 1;
    const mtu = Math.min(device.profile.maxFrameBytes.value, device.pool.dataRoom) - 14;
    cfg[10] = mtu & 0xff;
    cfg[11] = (mtu >>> 8) & 0xff;
    this.configSpace = cfg;
    poller.add(this);
  }

  /** The vport's rings are attached to the device. */
  get attached(): boolean {
    return this.vp !== null;
  }

  /** A started ring of this vport will not be kicked (the poller then looks every millisecond). */
  get kickPolled(): boolean {
    return this.rings.some((v) => v !== null && v.started && v.kickPolled);
  }

  // -------------------------------------------------------------------------
  // vhost-user device hooks

  config(): Uint8Array {
    return this.configSpace;
  }

  vringStarted(v: VhostUserVringShape): void {
    if (v.index > 1) return;
    this.rings[v.index] = v;
    this.reported[v.index] = false;
    this.tryAttach();
    this.poller.wake();
  }

  vringEnabled(v: VhostUserVringShape, enabled: boolean): void {
    if (v.index > 1) return;
    // "In the disabled state the back-end must not supply any new RX packets": the vport leaves the switch.
    if (enabled) this.tryAttach();
    else if (this.vp !== null) {
      // Frames queued before the disable are switched ("must process and discard any TX packets"; DPDK's virtio-user disables before it stops).
      this.drainTx();
      this.detach(`vring ${v.index} disabled`);
    }
    this.poller.wake();
  }

  vringKicked(v: VhostUserVringShape): void {
    this.stats.kicks++;
    if (this.vp !== null && v.index <= 1) this.vp.kick(v.index);
    this.poller.kicked();
  }

  vringStopping(v: VhostUserVringShape): number {
    if (v.index > 1) return 0;
    if (this.vp !== null) {
      // Take in what the front-end already queued for transmission, so every frame it handed over is switched and counted.
      this.drainTx();
      this.detach(`vring ${v.index} stopping`);
    }
    this.rings[v.index] = null;
    if (v.index !== 0 || this.heldQueue === null) return 0;
    let n = 0;
    if (this.heldQueue === v.queue) {
      n = this.held.length;
      this.stats.rewound += n;
    }
    this.held = [];
    this.heldQueue = null;
    return n;
  }

  disconnected(reason: string): void {
    if (this.vp !== null) {
      this.drainTx();
      this.detach(`disconnected: ${reason}`);
    }
    this.rings[0] = null;
    this.rings[1] = null;
    this.held = [];
    this.heldQueue = null;
  }

  // -------------------------------------------------------------------------
  // Poller member

  afterTurn(): void {
    for (let i = 0; i < 2; i++) {
      const v = this.rings[i];
      if (v === null || this.reported[i]) continue;
      const q = v.queue;
      if (q !== null && q.brokenBy !== null) {
        this.reported[i] = true;
        this.stats.ringFailures++;
        v.fail(`vport ${this.id}: queue fault ${q.brokenBy}`);
      }
    }
  }

  /** Leave the poller (the socket is closed for good). Detaches the vport if attached. */
  close(): void {
    if (this.vp !== null) this.detach("closed");
    this.poller.remove(this);
  }

  // -------------------------------------------------------------------------

  private tryAttach(): void {
    if (this.vp !== null) return;
    const rx = this.rings[0];
    const tx = this.rings[1];
    if (rx === null || tx === null || !rx.started || !tx.started || !rx.enabled || !tx.enabled) return;
    const rq = rx.queue;
    const tq = tx.queue;
    const mem = rx.memory;
    if (rq === null || tq === null || mem === null) return;
    if (this.heldQueue !== null) {
      // Chains kept from a detach while this receive ring ran on: it was not rewound, so return them empty.
      if (this.heldQueue === rq && !rq.broken) {
        for (const ch of this.held) rq.pushUsed(ch, 0);
        this.stats.returnedEmpty += this.held.length;
        if (rq.publishUsed()) this.sink.interrupt(0, 0);
      }
      this.held = [];
      this.heldQueue = null;
    }
    const features = rx.features & this.features;
    try {
      this.vp = this.device.attachQueues(this.id, { mem, features, rx: [rq], tx: [tq], guest: this.sink, ...(this.mac >= 0 ? { mac: this.mac } : {}) });
    } catch (e) {
      this.stats.refused++;
      this.stats.ringFailures++;
      this.reported[0] = true;
      rx.fail(`vport ${this.id}: the device refused the rings: ${(e as Error).message}`);
      return;
    }
    this.stats.attaches++;
    this.log("info", `vport ${this.id}: attached (${rx.packed ? "packed" : "split"} rings, size ${rq.size}, features 0x${features.toString(16)})`);
  }

  /** While attached: poll the device until this vport's transmit ring is empty (at most a ring's worth of rounds). */
  private drainTx(): void {
    const q = this.rings[1]?.queue ?? null;
    if (q === null || q.broken) return;
    for (let k = 0; k <= q.size && q.pending() > 0; k++) this.device.poll();
    this.afterTurn();
  }

  private detach(why: string): void {
    const rxQueue = this.rings[0]?.queue ?? null;
    const r = this.device.detachVport(this.id, { rewindSplit: true });
    this.vp = null;
    this.stats.detaches++;
    this.stats.droppedOnDetach += r.dropped;
    this.stats.returnedEmpty += r.returned;
    const held = r.rxHeld[0] ?? [];
    if (held.length > 0 && rxQueue !== null) {
      this.held = held.slice();
      this.heldQueue = rxQueue;
    }
    this.log("info", `vport ${this.id}: detached (${why}); ${r.dropped} queued frame(s) dropped, ${held.length} receive chain(s) held`);
  }
}
