/**
 * Two small runnable apps on {@link TapPort}s, driven by the event loop:
 *
 * - {@link TapResponder}: answers ARP requests and ICMP echo requests for
 *   one IPv4 address, rewriting the request buffer in place into the reply
 *   (checksums from @nfvio/packet), everything else is freed and counted.
 * - {@link TapL2Forwarder}: frames read from port A are written to port B
 *   and back, unchanged (the `L2Fwd` of @nfvio/vnf without MAC rewriting:
 *   port i -> i ^ 1; @nfvio/vhost does not depend on @nfvio/vnf, so the
 *   loop is written out here).
 *
 * Both move bursts (default 32) and sleep when idle: each port's descriptor
 * is watched (`watchFd`, epoll through libuv), and a wake-up drains up to
 * `burstsPerWake` bursts before yielding back to the event loop (the watcher
 * is level triggered, so a port that still has frames is called again).
 * Nothing is allocated per packet.
 */
import { CounterSet } from "@nfvio/core";
import { ArpOp, Burst, BURST_SIZE, EtherType, IcmpType, IpProto, internetChecksum, parseIpv4, parseMac, setIpv4HeaderChecksum, type PacketPool } from "@nfvio/packet";
import type { FdWatcher, WatchOptions } from "../sys/poll.js";
import type { TapPort } from "./port.js";

export interface TapAppOptions {
  /** Frames per burst (default 32). */
  burstSize?: number;
  /** Bursts handled per wake-up before yielding to the event loop (default 64). */
  burstsPerWake?: number;
  /** Readiness backend options (see `sys.watchFd`). */
  watch?: WatchOptions;
}

export interface TapResponderOptions extends TapAppOptions {
  /** The IPv4 address answered for, e.g. "198.18.0.1". */
  ip: string;
  /** The MAC answered with (default 02:6e:66:76:69:6f, locally administered). */
  mac?: string;
}

export const TAP_RESPONDER_COUNTERS = ["rx", "arp.requests", "arp.replies", "icmp.echo-requests", "icmp.echo-replies", "ignored", "tx"] as const;

const ETH = 14;

/** ARP + ICMP echo responder for one IPv4 address behind a TapPort. */
export class TapResponder {
  readonly counters = new CounterSet(TAP_RESPONDER_COUNTERS);
  readonly ip: number;
  readonly mac: Uint8Array;
  private readonly burst: Burst;
  private readonly pool: PacketPool;
  private readonly perWake: number;
  private watcher: FdWatcher | undefined;
  private readonly v: Float64Array;

  constructor(
    readonly port: TapPort,
    private readonly options: TapResponderOptions,
  ) {
    this.ip = parseIpv4(options.ip);
    this.mac = parseMac(options.mac ?? "02:6e:66:76:69:6f");
    this.burst = new Burst(options.burstSize ?? BURST_SIZE);
    this.pool = port.pool;
    this.perWake = options.burstsPerWake ?? 64;
    this.v = this.counters.values;
  }

  /** Start answering from the event loop. */
  start(): this {
    this.watcher ??= this.port.watch(() => this.poll(this.perWake), this.options.watch);
    return this;
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }

  /** Receive, answer and transmit up to `maxBursts` bursts; returns frames received. */
  poll(maxBursts = 1): number {
    let total = 0;
    const b = this.burst;
    for (let k = 0; k < maxBursts; k++) {
      b.clear();
      const n = this.port.rx(b);
      if (n === 0) break;
      total += n;
      this.handle(b);
      if (b.count > 0) this.port.tx(b);
      b.clear();
    }
    return total;
  }

  /** Turn the requests in `burst` into replies in place; frees the rest and keeps only replies in the burst. */
  handle(burst: Burst): void {
    const pool = this.pool;
    const data = pool.data;
    const v = this.v;
    const idx = burst.idx;
    let out = 0;
    for (let k = 0; k < burst.count; k++) {
      const i = idx[k]!;
      v[0]! += 1;
      if (this.answer(data, pool.start(i), pool.len[i]!)) {
        idx[out++] = i;
        v[6]! += 1;
      } else {
        v[5]! += 1;
        pool.free(i);
      }
    }
    burst.count = out;
  }

  private answer(d: Uint8Array, s: number, len: number): boolean {
    if (len < ETH) return false;
    const type = (d[s + 12]! << 8) | d[s + 13]!;
    if (type === EtherType.ARP) return this.arp(d, s, len);
    if (type === EtherType.IPV4) return this.icmp(d, s, len);
    return false;
  }

  private arp(d: Uint8Array, s: number, len: number): boolean {
    const a = s + ETH;
    if (len < ETH + 28) return false;
    // Ethernet / IPv4, 6 / 4, request
    if (d[a] !== 0 || d[a + 1] !== 1 || d[a + 2] !== 0x08 || d[a + 3] !== 0 || d[a + 4] !== 6 || d[a + 5] !== 4) return false;
    if (d[a + 6] !== 0 || d[a + 7] !== ArpOp.REQUEST) return false;
    if (readU32(d, a + 24) !== this.ip) return false;
    this.v[1]! += 1;
    // target := sender; sender := us
    d.copyWithin(a + 18, a + 8, a + 18);
    d.set(this.mac, a + 8);
    writeU32(d, a + 14, this.ip);
    d[a + 7] = ArpOp.REPLY;
    d.copyWithin(s, s + 6, s + 12);
    d.set(this.mac, s + 6);
    this.v[2]! += 1;
    return true;
  }

  private icmp(d: Uint8Array, s: number, len: number): boolean {
    const l3 = s + ETH;
    if (len < ETH + 20 || d[l3]! >> 4 !== 4) return false;
    const ihl = (d[l3]! & 15) << 2;
    const total = (d[l3 + 2]! << 8) | d[l3 + 3]!;
    if (ihl < 20 || total < ihl + 8 || ETH + total > len) return false;
    if (d[l3 + 9] !== IpProto.ICMP || readU32(d, l3 + 16) !== this.ip) return false;
    if (((d[l3 + 6]! & 0x3f) | d[l3 + 7]!) !== 0) return false; // a fragment (MF or offset): not handled
    const l4 = l3 + ihl;
    if (d[l4] !== IcmpType.ECHO_REQUEST || d[l4 + 1] !== 0) return false;
    this.v[3]! += 1;
    // IPv4: destination := source, source := us, fresh TTL, new checksum
    d.copyWithin(l3 + 16, l3 + 12, l3 + 16);
    writeU32(d, l3 + 12, this.ip);
    d[l3 + 8] = 64;
    setIpv4HeaderChecksum(d, l3);
    // ICMP: echo reply, checksum over the whole ICMP message
    d[l4] = IcmpType.ECHO_REPLY;
    d[l4 + 2] = 0;
    d[l4 + 3] = 0;
    const c = internetChecksum(d, l4, total - ihl);
    d[l4 + 2] = c >> 8;
    d[l4 + 3] = c & 0xff;
    // Ethernet
    d.copyWithin(s, s + 6, s + 12);
    d.set(this.mac, s + 6);
    this.v[4]! += 1;
    return true;
  }

  snapshot(): Record<string, number> {
    return this.counters.snapshot();
  }
}

function readU32(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
}

function writeU32(d: Uint8Array, o: number, x: number): void {
  d[o] = x >>> 24;
  d[o + 1] = (x >>> 16) & 255;
  d[o + 2] = (x >>> 8) & 255;
  d[o + 3] = x & 255;
}

export const TAP_L2FWD_COUNTERS = ["a-to-b", "b-to-a", "wakeups"] as const;

/** Forward frames A -> B and B -> A unchanged, in bursts, sleeping on readiness when idle. */
export class TapL2Forwarder {
  readonly counters = new CounterSet(TAP_L2FWD_COUNTERS);
  private readonly burst: Burst;
  private readonly perWake: number;
  private watchers: FdWatcher[] = [];

  constructor(
    readonly a: TapPort,
    readonly b: TapPort,
    private readonly options: TapAppOptions = {},
  ) {
    if (a.pool !== b.pool) throw new RangeError("TapL2Forwarder: both ports must share one PacketPool");
    this.burst = new Burst(options.burstSize ?? BURST_SIZE);
    this.perWake = options.burstsPerWake ?? 64;
  }

  start(): this {
    if (this.watchers.length === 0) {
      this.watchers = [this.a.watch(() => this.forward(this.a, this.b, 0), this.options.watch), this.b.watch(() => this.forward(this.b, this.a, 1), this.options.watch)];
    }
    return this;
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    this.watchers = [];
  }

  /** Move up to `burstsPerWake` bursts from `from` to `to`; returns frames moved. */
  forward(from: TapPort, to: TapPort, dir: 0 | 1): number {
    const b = this.burst;
    const v = this.counters.values;
    v[2]! += 1;
    let total = 0;
    for (let k = 0; k < this.perWake; k++) {
      b.clear();
      const n = from.rx(b);
      if (n === 0) break;
      total += n;
      to.tx(b);
      b.clear();
    }
    v[dir]! += total;
    return total;
  }

  snapshot(): Record<string, number> {
    return this.counters.snapshot();
  }
}
