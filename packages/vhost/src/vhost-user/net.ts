/**
 * A virtio-net device behind vhost-user, with three datapaths:
 *
 * - `drop`: count every frame of every transmit queue and return its buffer.
 * - `echo`: put every frame taken from transmitq k into receiveq k of the
 *   same pair (a loopback cable).
 * - `macswap`: as echo, with the destination and source MAC addresses
 *   swapped, so a peer that sends to us sees its frames come back to it.
 * - `vnf`: every frame goes through a {@link FrameProcessor} (a VNF) and
 *   what it forwards out of port k goes to receiveq `k mod pairs`
 *   (`vnf-device.ts`).
 *
 * Queue numbering (virtio 1.2 §5.1.2): vring 2k is receiveq k+1, 2k+1 is
 * transmitq k+1.
 *
 * ## Frames and headers (§5.1.6)
 * Every buffer starts with a `struct virtio_net_hdr` of `netHeaderSize`
 * bytes (12 with VIRTIO_F_VERSION_1 or MRG_RXBUF), anywhere in the chain's
 * descriptors (the copy walks segments, so any layout works). No checksum
 * or segmentation offload is offered, so a transmitted header carries
 * nothing the device must act on, and a received header is all zeros
 * except `num_buffers`. With VIRTIO_NET_F_MRG_RXBUF a frame may span
 * several receive buffers; the header, in the first, says how many
 * (§5.1.6.4: "num_buffers ... the number of descriptors used"). Without it
 * one buffer must hold header and frame.
 *
 * When a receive queue has no buffer, the frame is dropped and counted as
 * `no_rx_buffer` (as DPDK's vhost library does; the transmit buffer is
 * returned either way). Buffers taken for a frame that then ran out of
 * room are kept for the next frame, not returned half-written.
 *
 * ## Counters
 * Per vring: `frames` and `bytes` (frame bytes, without the virtio-net
 * header), and errors by name: every {@link QueueFault} the ring code
 * detects (a fault breaks the queue: DEVICE_NEEDS_RESET, err eventfd),
 * `short_frame` (less than a header plus an Ethernet header),
 * `no_rx_buffer`, `rx_buffer_too_small`, `rx_not_ready` (receive ring not
 * started or disabled; "in the disabled state the back-end must not supply
 * any new RX packets, but must process and discard any TX packets").
 *
 * ## Scheduling on Node's event loop
 * Idle, the device waits: each transmit ring's kick eventfd is watched by
 * libuv (epoll) and nothing runs. A kick wakes it: it asks the driver to
 * stop kicking (VIRTQ_USED_F_NO_NOTIFY, or an unmoved avail_event /
 * packed DISABLE) and polls. Polling is a chain of `setImmediate` turns:
 * each turn runs up to `roundsPerTurn` rounds of one burst (default 32
 * frames) per queue pair, stopping early when a round finds nothing, then
 * yields to the event loop (so socket messages, timers and other devices
 * run between turns; libuv polls with timeout 0 while immediates are
 * pending). After `idleMs` without work it re-enables kicks, checks the
 * rings once more (a driver may have added buffers before it saw the
 * change), and sleeps on the eventfds again. A ring whose kick descriptor
 * was replaced by polling (the no-fd bit) is re-checked every millisecond
 * while idle.
 */
import {
  DescChain,
  netHeaderSize,
  readFromChain,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  type DeviceQueue,
  type GuestMemory,
  type QueueStats,
} from "@nfvio/virtio";
import { silentLogger, type Logger, type VhostUserDevice, type VhostUserVring } from "./device.js";
import { RX_NO_BUFFER, RxFill } from "./rx-fill.js";
import { VnfStage, type FrameProcessor } from "./vnf-device.js";

export type NetMode = "drop" | "echo" | "macswap" | "vnf";
/** Every datapath; `vnf` needs a `processor` (see `vnf-device.ts`). */
export const NET_MODES: readonly NetMode[] = ["drop", "echo", "macswap", "vnf"];

/** Features the network device offers (MQ is added when it has more than one queue pair). */
export const NET_DEVICE_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | VIRTIO_NET_F_MRG_RXBUF;

export interface NetDeviceOptions {
  /** Queue pairs, 1 .. 128 (default 1). */
  queuePairs?: number;
  /** Datapath (default "drop"). */
  mode?: NetMode;
  /** The frame processor (a VNF) of mode "vnf"; required there, refused otherwise. */
  processor?: FrameProcessor;
  /** Scratch bytes per frame in mode "vnf" (default 9216); longer frames are counted as `frame_too_long` and dropped. */
  vnfSlotSize?: number;
  /** Frames per burst (default 32). */
  burst?: number;
  /** Rounds of one burst per queue pair in one event-loop turn (default 8). */
  roundsPerTurn?: number;
  /** Keep polling this long after the last frame before sleeping on kicks (default 1 ms; 0 sleeps at once). */
  idleMs?: number;
  /** Offered features (default NET_DEVICE_FEATURES, plus MQ with several pairs); e.g. clear RING_PACKED to force split rings. */
  features?: bigint;
  log?: Logger;
}

/** Counters of one vring. */
export interface QueueCounters {
  /** Vring index. */
  queue: number;
  /** "rx": device to driver (receiveq); "tx": driver to device (transmitq). */
  direction: "rx" | "tx";
  frames: number;
  bytes: number;
  /** Errors by name (only those that happened). */
  errors: Record<string, number>;
}

/** How the datapath used the event loop. */
export interface SchedulerStats {
  /** Idle to polling transitions (a kick, or a ring starting). */
  wakeups: number;
  /** Polling turns that found work. */
  busyTurns: number;
  /** Polling turns that found none (spinning before going idle). */
  idleTurns: number;
  /** Polling to idle transitions. */
  sleeps: number;
  /** Kicks received on transmit rings. */
  kicks: number;
  /** Used-buffer notifications sent (call eventfd writes). */
  calls: number;
}

/** Ethernet header: a frame shorter than this is not a frame. */
const ETH_HLEN = 14;

class Counters {
  frames = 0;
  bytes = 0;
  errors: Record<string, number> = {};
  count(name: string, n = 1): void {
    this.errors[name] = (this.errors[name] ?? 0) + n;
  }
  addFaults(stats: QueueStats): void {
    for (const [k, n] of Object.entries(stats.faults)) if (n > 0) this.errors[k] = (this.errors[k] ?? 0) + n;
  }
}

class Pair {
  constructor(readonly index: number) {}
  rx: VhostUserVring | null = null;
  tx: VhostUserVring | null = null;
  readonly rxc = new Counters();
  readonly txc = new Counters();
  txChains: DescChain[] = [];
  /** Receive-buffer filling of the receive ring. */
  readonly fill = new RxFill();
  brokenReported = [false, false];
}

export class VhostUserNetDevice implements VhostUserDevice {
  readonly features: bigint;
  readonly vrings: number;
  readonly queueNum: number;
  readonly mode: NetMode;
  readonly sched: SchedulerStats = { wakeups: 0, busyTurns: 0, idleTurns: 0, sleeps: 0, kicks: 0, calls: 0 };
  private readonly pairs: Pair[];
  private readonly burst: number;
  private readonly rounds: number;
  private readonly idleMs: number;
  private readonly log: Logger;
  private hdr = 12;
  private active = false;
  private scheduled = false;
  private lastWork = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly mac = new Uint8Array(12);
  private readonly turn = (): void => this.onTurn();
  private readonly stage: VnfStage | null;
  /** Pairs whose receive ring got frames in this vnf burst (to publish once each). */
  private readonly touched: Uint8Array;

  constructor(options: NetDeviceOptions = {}) {
    const pairs = options.queuePairs ?? 1;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > 128) throw new RangeError(`queuePairs must be 1 .. 128, got ${pairs}`);
    this.mode = options.mode ?? "drop";
    if (!NET_MODES.includes(this.mode)) throw new RangeError(`mode must be one of ${NET_MODES.join(", ")}`);
    this.burst = options.burst ?? 32;
    if (!Number.isInteger(this.burst) || this.burst < 1 || this.burst > 1024) throw new RangeError(`burst must be 1 .. 1024, got ${this.burst}`);
    this.rounds = options.roundsPerTurn ?? 8;
    this.idleMs = options.idleMs ?? 1;
    this.log = options.log ?? silentLogger;
    this.features = options.features ?? (NET_DEVICE_FEATURES | (pairs > 1 ? VIRTIO_NET_F_MQ : 0n));
    this.vrings = 2 * pairs;
    this.queueNum = pairs;
    this.pairs = Array.from({ length: pairs }, (_, i) => new Pair(i));
    if (this.mode === "vnf" && !options.processor) throw new RangeError(`mode "vnf" needs a processor`);
    if (this.mode !== "vnf" && options.processor) throw new RangeError(`a processor is only used in mode "vnf"`);
    this.stage = options.processor ? new VnfStage(options.processor, this.burst, options.vnfSlotSize) : null;
    this.touched = new Uint8Array(pairs);
  }

  // -------------------------------------------------------------------------
  // Device hooks

  featuresSet(features: bigint): void {
    this.hdr = netHeaderSize(features);
    for (const p of this.pairs) p.fill.setFeatures(features);
  }

  vringStarted(v: VhostUserVring): void {
    const p = this.pairs[v.index >> 1]!;
    const q = v.queue!;
    const segs = Math.min(q.size, 256);
    if ((v.index & 1) === 1) {
      p.tx = v;
      p.txChains = Array.from({ length: this.burst }, () => new DescChain(segs));
      p.brokenReported[1] = false;
      // Polling already: this ring joins without asking for kicks.
      if (this.active) q.setNotify(false);
    } else {
      p.rx = v;
      p.fill.reset(segs);
      p.brokenReported[0] = false;
      // Receive buffers are taken when frames need them; kicks on this ring are of no use.
      q.setNotify(false);
    }
    this.wake();
  }

  vringKicked(v: VhostUserVring): void {
    if ((v.index & 1) === 1) {
      this.sched.kicks++;
      this.wake();
    }
  }

  vringStopping(v: VhostUserVring): number {
    const p = this.pairs[v.index >> 1]!;
    const q = v.queue!;
    let held = 0;
    if ((v.index & 1) === 1) {
      // Finish what the driver already queued, so every frame it handed over is counted.
      let drained = 0;
      for (let i = 0; i <= q.size; i++) {
        const k = this.processPair(p);
        if (k === 0) break;
        drained += k;
      }
      if (drained > 0) this.log("debug", `vring ${v.index}: ${drained} frames queued before the stop were processed`);
      p.txc.addFaults(q.stats);
      p.tx = null;
    } else {
      held = p.fill.held;
      if (held > 0 && v.packed) {
        // A packed ring cannot be rewound: give the buffers back empty.
        p.fill.returnHeld(q);
        if (q.publishUsed()) this.callOf(v);
        held = 0;
      }
      p.fill.clear();
      p.rxc.addFaults(q.stats);
      p.rx = null;
    }
    return held;
  }

  disconnected(): void {
    for (const p of this.pairs) {
      p.rx = null;
      p.tx = null;
    }
  }

  // -------------------------------------------------------------------------
  // Scheduling

  /** True while the device polls its rings; false while it sleeps on kick eventfds. */
  get polling(): boolean {
    return this.active;
  }

  private wake(): void {
    if (!this.active) {
      this.active = true;
      this.sched.wakeups++;
      this.setTxNotify(false);
      if (this.pollTimer) {
        clearTimeout(this.pollTimer);
        this.pollTimer = null;
      }
    }
    this.lastWork = performance.now();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  }

  private onTurn(): void {
    this.scheduled = false;
    let work = 0;
    for (let r = 0; r < this.rounds; r++) {
      let w = 0;
      for (let i = 0; i < this.pairs.length; i++) w += this.processPair(this.pairs[i]!);
      work += w;
      if (w === 0) break;
    }
    const now = performance.now();
    if (work > 0) {
      this.sched.busyTurns++;
      this.lastWork = now;
    } else {
      this.sched.idleTurns++;
      if (now - this.lastWork >= this.idleMs && !this.anyStarted()) return this.sleep();
      if (now - this.lastWork >= this.idleMs) {
        this.setTxNotify(true);
        if (!this.anyPending()) return this.sleep();
        this.setTxNotify(false);
        this.lastWork = now;
      }
    }
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private sleep(): void {
    this.active = false;
    this.sched.sleeps++;
    if (this.pairs.some((p) => p.tx?.started && p.tx.kickPolled)) this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.wake();
    }, 1);
  }

  private anyStarted(): boolean {
    return this.pairs.some((p) => p.tx?.started === true);
  }

  private anyPending(): boolean {
    return this.pairs.some((p) => p.tx?.started === true && p.tx.queue!.pending() > 0);
  }

  private setTxNotify(on: boolean): void {
    for (const p of this.pairs) if (p.tx?.started) p.tx.queue!.setNotify(on);
  }

  private callOf(v: VhostUserVring): void {
    this.sched.calls++;
    v.call();
  }

  // -------------------------------------------------------------------------
  // Datapath

  /** One burst on one queue pair; returns the frames taken from its transmit ring. */
  private processPair(p: Pair): number {
    const tx = p.tx;
    if (tx === null || !tx.started) return 0;
    const q = tx.queue!;
    const chains = p.txChains;
    const n = q.popBurst(chains, this.burst);
    if (n === 0) {
      if (q.brokenBy !== null) this.reportBroken(p, tx, 1);
      return 0;
    }
    if (this.stage !== null) return this.processVnf(p, tx, n, this.stage);
    const hdr = this.hdr;
    const txc = p.txc;
    const rxv = p.rx;
    const deliver = this.mode !== "drop" && tx.enabled;
    const rxq = rxv !== null && rxv.started && rxv.enabled && rxv.queue!.brokenBy === null ? rxv.queue : null;
    const mem = tx.memory!;
    for (let i = 0; i < n; i++) {
      const c = chains[i]!;
      const len = c.readBytes - hdr;
      if (len < ETH_HLEN) txc.count("short_frame");
      else {
        txc.frames++;
        txc.bytes += len;
        if (deliver) {
          if (rxq === null) p.rxc.count("rx_not_ready");
          else this.deliver(p, rxq, mem, c, len, null, 0);
        }
      }
      q.pushUsed(c, 0);
    }
    if (q.publishUsed()) this.callOf(tx);
    if (rxq !== null && rxq.publishUsed()) this.callOf(rxv!);
    if (q.brokenBy !== null) this.reportBroken(p, tx, 1);
    if (rxq !== null && rxq.brokenBy !== null) this.reportBroken(p, rxv!, 0);
    return n;
  }

  private reportBroken(p: Pair, v: VhostUserVring, side: 0 | 1): void {
    if (p.brokenReported[side]) return;
    p.brokenReported[side] = true;
    v.fail(`queue fault ${v.queue?.brokenBy ?? "?"}`);
  }

  /**
   * Mode "vnf": copy the burst's frames out of their chains (returning the
   * transmit buffers), run the processor, deliver what it forwards and
   * originates to receiveq `port mod pairs`.
   */
  private processVnf(p: Pair, tx: VhostUserVring, n: number, stage: VnfStage): number {
    const q = tx.queue!;
    const chains = p.txChains;
    const hdr = this.hdr;
    const txc = p.txc;
    const mem = tx.memory!;
    const proc = stage.processor;
    const inPort = p.index % proc.portCount;
    const scratch = stage.scratch;
    const slotSize = stage.slotSize;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const c = chains[i]!;
      const len = c.readBytes - hdr;
      if (len < ETH_HLEN) txc.count("short_frame");
      else if (len > slotSize) txc.count("frame_too_long");
      else {
        txc.frames++;
        txc.bytes += len;
        if (tx.enabled) {
          const o = stage.slot(m, inPort, len);
          readFromChain(mem, c, hdr, scratch, o, len);
          m++;
        }
      }
      q.pushUsed(c, 0);
    }
    if (q.publishUsed()) this.callOf(tx);
    if (q.brokenBy !== null) this.reportBroken(p, tx, 1);
    if (m === 0) return n;
    const verdicts = stage.verdicts;
    proc.process(stage.burst, m, verdicts);
    const touched = this.touched;
    const b = stage.burst;
    for (let i = 0; i < m; i++) {
      const v = verdicts[i]!;
      if (v >= 0) this.deliverOut(v, b.bufs[i]!, b.offsets[i]!, b.lengths[i]!);
    }
    const ob = proc.outbox;
    if (ob && ob.count > 0) {
      const obb = ob.burst;
      for (let i = 0; i < ob.count; i++) this.deliverOut(obb.ports[i]!, obb.bufs[i]!, obb.offsets[i]!, obb.lengths[i]!);
      ob.clear();
    }
    for (let j = 0; j < touched.length; j++) {
      if (touched[j] === 0) continue;
      touched[j] = 0;
      const rp = this.pairs[j]!;
      const rxv = rp.rx;
      if (rxv === null || !rxv.started || rxv.queue === null) continue;
      const rxq = rxv.queue;
      if (rxq.publishUsed()) this.callOf(rxv);
      if (rxq.brokenBy !== null) this.reportBroken(rp, rxv, 0);
    }
    return n;
  }

  /** Deliver one processed frame out of processor port `port` (receiveq `port mod pairs`). */
  private deliverOut(port: number, bytes: Uint8Array, off: number, len: number): void {
    const j = port % this.pairs.length;
    const rp = this.pairs[j]!;
    const rxv = rp.rx;
    if (rxv === null || !rxv.started || !rxv.enabled || rxv.queue === null || rxv.queue.brokenBy !== null || rxv.memory === null) {
      rp.rxc.count("rx_not_ready");
      return;
    }
    this.touched[j] = 1;
    this.deliver(rp, rxv.queue, rxv.memory, null, len, bytes, off);
  }

  /**
   * Copy one frame into receive buffers of `q` (rx-fill.ts): `len` bytes
   * after the header of `src`, or (with `src` null) `bytes[off .. off + len)`.
   */
  private deliver(p: Pair, q: DeviceQueue, mem: GuestMemory, src: DescChain | null, len: number, bytes: Uint8Array | null, off: number): void {
    const f = p.fill;
    const rxc = p.rxc;
    const k = f.take(q, len);
    if (f.small > 0) rxc.count("rx_buffer_too_small", f.small);
    if (k <= 0) {
      if (k === RX_NO_BUFFER) rxc.count("no_rx_buffer");
      return;
    }
    f.header(mem);
    if (src === null) {
      f.write(mem, 0, bytes!, off, len);
    } else if (this.mode === "macswap" && len >= 12) {
      const hdr = this.hdr;
      readFromChain(mem, src, hdr, this.mac, 0, 12);
      const m = this.mac;
      for (let i = 0; i < 6; i++) {
        const t = m[i]!;
        m[i] = m[i + 6]!;
        m[i + 6] = t;
      }
      f.write(mem, 0, m, 0, 12);
      f.copy(mem, src, hdr + 12, 12, len - 12);
    } else {
      f.copy(mem, src, this.hdr, 0, len);
    }
    f.commit(q);
    rxc.frames++;
    rxc.bytes += len;
  }

  // -------------------------------------------------------------------------
  // Counters

  /** Counters of every vring (cumulative over connections), queue order. */
  counters(): QueueCounters[] {
    const out: QueueCounters[] = [];
    this.pairs.forEach((p, i) => {
      for (const [dir, c, v] of [
        ["rx", p.rxc, p.rx],
        ["tx", p.txc, p.tx],
      ] as const) {
        const errors = { ...c.errors };
        if (v?.queue) for (const [k, n] of Object.entries(v.queue.stats.faults)) if (n > 0) errors[k] = (errors[k] ?? 0) + n;
        out.push({ queue: 2 * i + (dir === "tx" ? 1 : 0), direction: dir, frames: c.frames, bytes: c.bytes, errors });
      }
    });
    return out;
  }
}
