/**
 * TapPort: a Linux TAP interface as an nfvio {@link Port} (core's DPDK-style
 * rx/tx of bursts of PacketPool buffer indices).
 *
 * ```
 *   kernel stack (maybe in netns NS)          nfvio process
 *   ┌───────────────────────────┐  /dev/net/tun fd  ┌──────────────────────────┐
 *   │ iface NAME 198.18.0.2/15 ─┼──────────────────▶│ rx(burst): read() into    │
 *   │   (IFF_TAP | IFF_NO_PI)   │◀──────────────────┼ pool buffers; tx(burst):  │
 *   └───────────────────────────┘  one frame/call   │ write() and free          │
 *                                                   └──────────────────────────┘
 * ```
 *
 * - rx reads up to `burst.room` frames straight into pool buffers (one view
 *   per buffer is made at construction: no allocation per packet). A frame
 *   that does not fit the buffer is counted (`rx.drop.oversize`) and dropped;
 *   EAGAIN means nothing is queued.
 * - tx writes `idx[0..count)` and frees every buffer: EAGAIN / ENOBUFS are
 *   counted drops (`tx.drop.full`, `tx.drop.nobufs`), never a block or a
 *   throw. It returns `burst.count` (every buffer was taken, sent or dropped).
 * - Other errors are counted by errno (`err.EIO`, ...), never thrown.
 * - With `vnetHdr`, the virtio-net header is read into / written from the
 *   buffer's headroom just before the frame, so the packet still starts at
 *   `dataOff`; tx writes a zero header (no offload requested).
 * - Namespaces: /dev/net/tun is opened in this process's namespace; with
 *   `netns`, the link is then moved by `ip link set dev NAME netns NS`. The
 *   descriptor stays attached across the move.
 */
import { execFileSync } from "node:child_process";
import { CounterSet, type Port } from "@nfvio/core";
import { type Burst, type PacketPool } from "@nfvio/packet";
import { EAGAIN, EINTR } from "../sys/constants.js";
import { close as closeFd } from "../sys/fd.js";
import { libc, type Libc } from "../sys/libc.js";
import { watchFd, type FdWatcher, type Readiness, type WatchOptions } from "../sys/poll.js";
import { openTap } from "../sys/tap.js";

export interface TapPortOptions {
  /** Buffers come from (and return to) this pool. */
  pool: PacketPool;
  /** Interface name (max 15 bytes, may hold one `%d`; default "nfvtap%d"). */
  name?: string;
  /** Network namespace to move the interface into (`ip link set dev NAME netns NS`). */
  netns?: string;
  /** Prefix frames with a virtio-net header of this size (10 or 12); default none. */
  vnetHdrSize?: 10 | 12;
  /** Kernel-side address (CIDR) to put on the interface, e.g. "198.18.0.2/15". */
  kernelAddress?: string;
  /** Set the interface up (default true when `netns` or `kernelAddress` is given, else false). */
  up?: boolean;
  /** Input port number stamped into `pool.port[i]` on rx (default 0). */
  portId?: number;
}

/** Errno values counted by name; anything else goes to `err.other`. */
const COUNTED_ERRNOS: Readonly<Record<number, string>> = { 5: "EIO", 9: "EBADF", 14: "EFAULT", 22: "EINVAL", 77: "EBADFD", 90: "EMSGSIZE", 100: "ENETDOWN", 105: "ENOBUFS" };
const ENOBUFS = 105;

export const TAP_PORT_COUNTERS = [
  "rx.packets",
  "rx.bytes",
  "rx.drop.oversize",
  "rx.drop.nobuf",
  "rx.drop.runt",
  "tx.packets",
  "tx.bytes",
  "tx.drop.full",
  "tx.drop.nobufs",
  "tx.drop.oversize",
  "tx.drop.closed",
  "tx.drop.error",
  "rx.wakeups",
  ...Object.values(COUNTED_ERRNOS).map((n) => `err.${n}`),
  "err.other",
] as const;

export type TapPortCounter = (typeof TAP_PORT_COUNTERS)[number];

function runIp(args: readonly string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

export class TapPort implements Port {
  readonly counters = new CounterSet(TAP_PORT_COUNTERS);
  /** The interface name the kernel assigned. */
  readonly name: string;
  readonly netns: string | undefined;
  readonly vnetHdrSize: number;
  readonly pool: PacketPool;
  readonly portId: number;
  private fdNum: number;
  private readonly c: Libc;
  /** One view per pool buffer, from `headroom - vnetHdrSize` to the buffer's end. */
  private readonly views: Uint8Array[];
  private readonly room: number;
  private watcher: FdWatcher | undefined;
  private readonly v: Float64Array;
  private readonly errIndex = new Map<number, number>();
  private readonly errOther: number;

  constructor(options: TapPortOptions) {
    const pool = options.pool;
    const hdr = options.vnetHdrSize ?? 0;
    if (hdr !== 0 && hdr !== 10 && hdr !== 12) throw new RangeError(`TapPort: vnetHdrSize ${hdr} must be 10 or 12`);
    if (pool.headroom < hdr) throw new RangeError(`TapPort: the pool's headroom (${pool.headroom}) must hold the ${hdr}-byte virtio-net header`);
    this.pool = pool;
    this.vnetHdrSize = hdr;
    this.portId = options.portId ?? 0;
    this.c = libc();
    const dev = openTap({ name: options.name ?? "nfvtap%d", vnetHdr: hdr > 0, ...(hdr > 0 ? { vnetHdrSize: hdr as 10 | 12 } : {}) });
    this.fdNum = dev.fd;
    this.name = dev.name;
    this.netns = options.netns;
    try {
      const ipIn = (args: string[]): void => runIp(options.netns ? ["-n", options.netns, ...args] : args);
      if (options.netns) runIp(["link", "set", "dev", dev.name, "netns", options.netns]);
      if (options.kernelAddress) ipIn(["addr", "add", options.kernelAddress, "dev", dev.name]);
      if (options.up ?? (options.netns !== undefined || options.kernelAddress !== undefined)) ipIn(["link", "set", "dev", dev.name, "up"]);
    } catch (e) {
      closeFd(dev.fd);
      this.fdNum = -1;
      throw e;
    }
    this.room = pool.stride - pool.headroom + hdr;
    this.views = new Array<Uint8Array>(pool.count);
    for (let i = 0; i < pool.count; i++) {
      const s = pool.base(i) + pool.headroom - hdr;
      this.views[i] = pool.data.subarray(s, s + this.room);
    }
    this.v = this.counters.values;
    for (const [errno, name] of Object.entries(COUNTED_ERRNOS)) this.errIndex.set(Number(errno), this.counters.id(`err.${name}`));
    this.errOther = this.counters.id("err.other");
  }

  /** The TAP descriptor (-1 after {@link close}). */
  get fd(): number {
    return this.fdNum;
  }

  get closed(): boolean {
    return this.fdNum < 0;
  }

  /** Counter value by name. */
  get(name: TapPortCounter): number {
    return this.counters.get(name);
  }

  private countErr(errno: number): void {
    const i = this.errIndex.get(errno);
    this.v[i ?? this.errOther]! += 1;
  }

  rx(burst: Burst): number {
    const fd = this.fdNum;
    if (fd < 0 || burst.count >= burst.capacity) return 0;
    const pool = this.pool;
    const c = this.c;
    const v = this.v;
    const hdr = this.vnetHdrSize;
    const room = this.room;
    const start = burst.count;
    const got = pool.allocBurst(burst);
    if (got === 0) {
      // Pool empty: leave the frames queued in the kernel (it drops when its queue fills).
      v[3]! += 1; // rx.drop.nobuf (a failed attempt, not a frame)
      return 0;
    }
    const idx = burst.idx;
    let k = start;
    const end = start + got;
    while (k < end) {
      const i = idx[k]!;
      const n = c.read(fd, this.views[i]!, room);
      if (n < 0) {
        const e = c.errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) this.countErr(e);
        break;
      }
      // tun returns the frame's full length even when the buffer was shorter (the rest is cut):
      // a frame filling the whole buffer may have been cut too, so it counts as oversize.
      if (n >= room) {
        v[2]! += 1; // rx.drop.oversize
        continue;
      }
      const len = n - hdr;
      if (len <= 0) {
        v[4]! += 1; // rx.drop.runt
        continue;
      }
      pool.len[i] = len;
      pool.port[i] = this.portId;
      v[0]! += 1;
      v[1]! += len;
      k++;
    }
    if (k < end) pool.freeRange(idx, k, end);
    burst.count = k;
    return k - start;
  }

  tx(burst: Burst): number {
    const count = burst.count;
    if (count === 0) return 0;
    const pool = this.pool;
    const fd = this.fdNum;
    const v = this.v;
    if (fd < 0) {
      v[10]! += count; // tx.drop.closed
      pool.freeRange(burst.idx, 0, count);
      return count;
    }
    const c = this.c;
    const hdr = this.vnetHdrSize;
    const headroom = pool.headroom;
    const data = pool.data;
    const idx = burst.idx;
    for (let k = 0; k < count; k++) {
      const i = idx[k]!;
      const len = pool.len[i]!;
      const off = pool.dataOff[i]!;
      if (headroom + len > pool.stride) {
        v[9]! += 1; // tx.drop.oversize
        continue;
      }
      if (off !== headroom) {
        // Move the packet to the spot the precomputed view starts at (no allocation).
        const b = pool.base(i);
        data.copyWithin(b + headroom, b + off, b + off + len);
        pool.dataOff[i] = headroom;
      }
      if (hdr > 0) data.fill(0, pool.base(i) + headroom - hdr, pool.base(i) + headroom);
      let n: number;
      do n = c.write(fd, this.views[i]!, len + hdr);
      while (n < 0 && c.errno() === EINTR);
      if (n >= 0) {
        v[5]! += 1;
        v[6]! += len;
        continue;
      }
      const e = c.errno();
      if (e === EAGAIN) v[7]! += 1;
      else if (e === ENOBUFS) v[8]! += 1;
      else {
        v[11]! += 1;
        this.countErr(e);
      }
    }
    pool.freeRange(idx, 0, count);
    return count;
  }

  /**
   * Call `onReadable` from the event loop whenever frames are queued (level
   * triggered: drain with rx until it returns 0, or the callback runs again).
   * One watcher per port; {@link close} stops it.
   */
  watch(onReadable: (r: Readiness) => void, options: WatchOptions = {}): FdWatcher {
    if (this.fdNum < 0) throw new Error(`TapPort ${this.name}: closed`);
    if (this.watcher) throw new Error(`TapPort ${this.name}: already watched; stop the other watcher first`);
    const rw = this.v;
    const w = watchFd(
      this.fdNum,
      { readable: true },
      (r) => {
        rw[12]! += 1; // rx.wakeups
        onReadable(r);
      },
      options,
    );
    this.watcher = w;
    const stop = w.stop.bind(w);
    return {
      fd: w.fd,
      backend: w.backend,
      stop: () => {
        if (this.watcher === w) this.watcher = undefined;
        stop();
      },
      unref: () => w.unref(),
      ref: () => w.ref(),
    };
  }

  /** Stop the watcher and close the descriptor (the interface disappears); idempotent. */
  close(): void {
    if (this.fdNum < 0) return;
    this.watcher?.stop();
    this.watcher = undefined;
    const fd = this.fdNum;
    this.fdNum = -1;
    try {
      closeFd(fd);
    } catch {
      // already gone: nothing to release
    }
  }

  /** Non-zero counters (all with `all`), as a plain object. */
  snapshot(all = false): Record<string, number> {
    return all ? this.counters.snapshot() : this.counters.nonZero();
  }
}
