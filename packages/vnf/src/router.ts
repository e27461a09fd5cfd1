/**
 * IPv4/IPv6 router core.
 *
 * Forwarding follows RFC 1812 (IPv4 routers) and RFC 8200 (IPv6): verify the
 * IPv4 header checksum (§5.2.2), look the destination up by longest-prefix
 * match ({@link Lpm4} DIR-24-8, {@link Lpm6} multibit trie), decrement the
 * TTL with the incremental checksum update of RFC 1624 (or the hop limit,
 * which IPv6 does not checksum), and rewrite the Ethernet addresses to the
 * next hop's. Link-layer addresses come from a neighbour cache filled by ARP
 * (RFC 826) for IPv4 and Neighbor Discovery (RFC 4861) for IPv6: the router
 * answers requests and solicitations for its own addresses, learns from
 * replies and advertisements, and while a next hop is unresolved it sends
 * requests (retried, then given up) and holds a few packets per neighbour,
 * emitting them from its {@link Outbox} once resolved.
 *
 * ICMP errors are rate-limited by a token bucket: time exceeded (RFC 792;
 * RFC 4443 §3.3) when the TTL/hop limit runs out and destination unreachable
 * (RFC 792 code 0; RFC 4443 §3.1 code 0, code 2 for a link-local source) when
 * no route matches. Following RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e) no error
 * is sent about an ICMP error, a non-first fragment, or a packet to or from a
 * multicast, broadcast or unspecified address. Errors quote as much of the
 * offending datagram as fits in 576 bytes (RFC 1812 §4.3.2.3) or the 1280-byte
 * IPv6 minimum MTU (RFC 4443 §2.4(c)), and go back out of the ingress port to
 * the previous hop's MAC (the frame's source) rather than through a second
 * route lookup. Echo requests to the router's own addresses are answered.
 *
 * Not done here (see the README's gaps): IPv4 options are forwarded untouched,
 * no fragmentation or MTU check, no neighbour reachability aging (an entry
 * stays until new ARP/ND information replaces it), no redirects, no multicast
 * routing, untagged Ethernet only.
 */
import { z } from "zod";
import { type IpPrefix, formatIPv4, formatIPv6, formatMac } from "./addr.js";
import type { PacketBurst } from "./burst.js";
import { zIfAddr, zIp, zMac, zPortIndex, zPrefix, parseConfig } from "./config.js";
import { Counters, EXTRA_BASE, vnfCounterNames } from "./counters.js";
import { VnfError } from "./errors.js";
import { checksumUpdate16, internetChecksum, ipv4HeaderChecksum, pseudoHeaderSum6, verifyInternetChecksum } from "@nfvio/packet";
import { ipv4HeaderValid, rd16, rd32, wr16, wr32 } from "./internal/csum.js";
import { TokenBucket } from "./internal/ratelimit.js";
import { KeyTable } from "./internal/table.js";
import { Lpm4, Lpm6 } from "./lpm.js";
import { Outbox } from "./outbox.js";
import { DropReason, drop } from "./verdict.js";
import { type Clock, type Vnf, type VnfOptions, defaultClock, tally } from "./vnf.js";

export const RouterPortSchema = z
  .object({
    mac: zMac,
    /** IPv4 interface addresses with their subnet, `10.0.0.1/24`. */
    ipv4: z.array(zIfAddr.refine((a) => a.family === 4 || a.family === undefined, { message: "must be an IPv4 address" })).default([]),
    /** IPv6 interface addresses, `2001:db8::1/64`; add a link-local `fe80::.../64` for link-local next hops. */
    ipv6: z.array(zIfAddr.refine((a) => a.family === 6 || a.family === undefined, { message: "must be an IPv6 address" })).default([]),
  })
  .strict();

export const RouteSchema = z
  .object({
    prefix: zPrefix,
    /** Gateway address; absent for a directly connected prefix (then `port` is required). */
    via: zIp.optional(),
    /** Output port; may be left out when `via` lies in one port's subnet. */
    port: zPortIndex.optional(),
  })
  .strict();
export type Route = z.input<typeof RouteSchema>;

export const RouterConfigSchema = z
  .object({
    ports: z.array(RouterPortSchema).min(1).max(4096),
    routes: z.array(RouteSchema).default([]),
    /** Static neighbours (never replaced by ARP/ND). */
    neighbours: z.array(z.object({ ip: zIp, mac: zMac, port: zPortIndex }).strict()).default([]),
    neighbour: z
      .object({
        /** Neighbour cache entries. */
        capacity: z.number().int().min(1).max(1 << 20).default(4096),
        /** Packets held per unresolved neighbour; 0 drops them (counted) instead. */
        queuePerNeighbour: z.number().int().min(0).max(64).default(3),
        /** Hold buffers shared by all neighbours. */
        holdSlots: z.number().int().min(0).max(65536).default(256),
        /** Milliseconds between ARP requests / neighbour solicitations (RFC 4861 RetransTimer: 1000). */
        retryMs: z.number().positive().default(1000),
        /** Requests sent before giving up (RFC 4861 MAX_MULTICAST_SOLICIT: 3). */
        maxProbes: z.number().int().min(1).max(255).default(3),
        /** Milliseconds a failed neighbour refuses packets before probing again. */
        failedHoldMs: z.number().nonnegative().default(5000),
      })
      .strict()
      .default({}),
    icmp: z
      .object({
        /** Send ICMP errors at all. */
        errors: z.boolean().default(true),
        /** Answer echo requests to the router's addresses. */
        echo: z.boolean().default(true),
        /** Errors per second (token bucket rate). */
        rate: z.number().positive().default(1000),
        /** Token bucket depth. */
        burst: z.number().int().min(1).default(50),
      })
      .strict()
      .default({}),
    lpm: z
      .object({
        /** DIR-24-8 (24, 64 MiB) or DIR-16-8-8 (16, 256 KiB) first level. */
        ipv4RootBits: z.union([z.literal(16), z.literal(24)]).default(24),
        ipv4Groups: z.number().int().min(1).max(1 << 24).default(4096),
        ipv6Groups: z.number().int().min(1).max(1 << 24).default(8192),
      })
      .strict()
      .default({}),
    /** Slots of the outbox for generated packets (each 2048 bytes). */
    outboxSlots: z.number().int().min(1).max(65536).default(256),
  })
  .strict()
  .superRefine((c, ctx) => {
    const n = c.ports.length;
    c.routes.forEach((r, i) => {
      if (typeof r.port === "number" && r.port >= n) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["routes", i, "port"], message: `is not below the port count (${n})` });
      if (r.via === undefined && r.port === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["routes", i], message: "needs via, port, or both" });
      if (r.via?.family !== undefined && r.prefix?.family !== undefined && r.via.family !== r.prefix.family)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["routes", i, "via"], message: `is IPv${r.via.family} for an IPv${r.prefix.family} prefix` });
    });
    c.neighbours.forEach((nb, i) => {
      if (nb.port >= n) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["neighbours", i, "port"], message: `is not below the port count (${n})` });
    });
  });
export type RouterConfig = z.input<typeof RouterConfigSchema>;
type RouterConfigOut = z.output<typeof RouterConfigSchema>;

const ETH = 14;
const SLOT = 2048;

// Next-hop kinds.
const NH_CONNECTED = 1;
const NH_GATEWAY = 2;
const NH_LOCAL = 3;

// Neighbour states.
const N_FREE = 0;
const N_INCOMPLETE = 1;
const N_REACHABLE = 2;
const N_STATIC = 3;
const N_FAILED = 4;
const N_STATE_NAMES = ["FREE", "INCOMPLETE", "REACHABLE", "STATIC", "FAILED"];

const ROUTER_COUNTERS = [
  "arp.requests-in",
  "arp.replies-in",
  "arp.requests-out",
  "arp.replies-out",
  "nd.ns-in",
  "nd.na-in",
  "nd.ns-out",
  "nd.na-out",
  "icmp.errors-out",
  "icmp.rate-limited",
  "icmp.echo-replies",
  "neigh.held",
  "neigh.released",
  "neigh.hold-dropped",
  "neigh.table-full",
  "outbox.overflow",
];
const C_ARP_REQ_IN = EXTRA_BASE;
const C_ARP_REP_IN = EXTRA_BASE + 1;
const C_ARP_REQ_OUT = EXTRA_BASE + 2;
const C_ARP_REP_OUT = EXTRA_BASE + 3;
const C_NS_IN = EXTRA_BASE + 4;
const C_NA_IN = EXTRA_BASE + 5;
const C_NS_OUT = EXTRA_BASE + 6;
const C_NA_OUT = EXTRA_BASE + 7;
const C_ICMP_OUT = EXTRA_BASE + 8;
const C_ICMP_LIMITED = EXTRA_BASE + 9;
const C_ECHO = EXTRA_BASE + 10;
const C_HELD = EXTRA_BASE + 11;
const C_RELEASED = EXTRA_BASE + 12;
const C_HOLD_DROPPED = EXTRA_BASE + 13;
const C_NEIGH_FULL = EXTRA_BASE + 14;
const C_OUTBOX_OVERFLOW = EXTRA_BASE + 15;

interface PortAddrs {
  mac: Uint8Array;
  v4: { addr: number; len: number }[];
  v6: { words: readonly number[]; len: number }[];
}

/** A neighbour cache entry as listed by {@link Router.neighbours}. */
export interface NeighbourInfo {
  ip: string;
  port: number;
  state: string;
  mac: string;
}

function isLinkLocal6(w0: number): boolean {
  return w0 >>> 22 === 0x3fa; // fe80::/10
}

function prefixCovers6(words: readonly number[], len: number, a: readonly number[]): boolean {
  for (let k = 0; k < 4; k++) {
    const bits = len - 32 * k;
    if (bits <= 0) return true;
    const m = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((words[k]! ^ a[k]!) & m) !== 0) return false;
  }
  return true;
}

export class Router implements Vnf {
  readonly kind = "router";
  readonly portCount: number;
  readonly counters = new Counters(vnfCounterNames(ROUTER_COUNTERS));
  readonly outbox: Outbox;
  readonly lpm4: Lpm4;
  readonly lpm6: Lpm6;
  private readonly clock: Clock;
  private readonly ports: PortAddrs[];
  /** Port MACs, 6 bytes each. */
  private readonly portMac: Uint8Array;
  // Next hops.
  private readonly nhKind: Uint8Array;
  private readonly nhPort: Uint16Array;
  private readonly nhNeigh: Int32Array;
  private readonly nhIndex = new Map<string, number>();
  private nhCount = 0;
  // Neighbour cache.
  private readonly nKeys: Uint32Array;
  private readonly nState: Uint8Array;
  private readonly nMac: Uint8Array;
  private readonly nPort: Uint16Array;
  private readonly nProbeAt: Float64Array;
  private readonly nProbes: Uint8Array;
  private readonly nHoldHead: Int32Array;
  private readonly nHoldTail: Int32Array;
  private readonly nHoldCount: Uint8Array;
  private readonly nTable: KeyTable;
  private nCount = 0;
  private readonly nKey = new Uint32Array(5);
  // Hold buffers.
  private readonly hold: Uint8Array;
  private readonly holdLen: Uint32Array;
  private readonly holdNext: Int32Array;
  private readonly holdFree: Int32Array;
  private holdFreeTop: number;
  private readonly cfg: RouterConfigOut;
  private readonly bucket: TokenBucket;
  private readonly scratch6 = new Uint32Array(4);

  constructor(config: RouterConfig, opts: VnfOptions = {}) {
    const c = parseConfig(RouterConfigSchema, config);
    this.cfg = c;
    this.clock = opts.clock ?? defaultClock;
    this.portCount = c.ports.length;
    this.outbox = new Outbox(c.outboxSlots, SLOT);
    this.lpm4 = new Lpm4({ rootBits: c.lpm.ipv4RootBits, groups: c.lpm.ipv4Groups });
    this.lpm6 = new Lpm6({ groups: c.lpm.ipv6Groups });
    this.bucket = new TokenBucket(c.icmp.rate, c.icmp.burst);
    this.ports = c.ports.map((p) => ({
      mac: p.mac,
      v4: p.ipv4.map((a) => ({ addr: a.words[3], len: a.len })),
      v6: p.ipv6.map((a) => ({ words: a.words, len: a.len })),
    }));
    this.portMac = new Uint8Array(this.portCount * 6);
    this.ports.forEach((p, i) => this.portMac.set(p.mac, i * 6));
    const nhCap = 2 * (c.routes.length + c.ports.reduce((s, p) => s + p.ipv4.length + p.ipv6.length, 0)) + 1024;
    this.nhKind = new Uint8Array(nhCap);
    this.nhPort = new Uint16Array(nhCap);
    this.nhNeigh = new Int32Array(nhCap).fill(-1);
    const ncap = c.neighbour.capacity;
    this.nKeys = new Uint32Array(ncap * 5);
    this.nState = new Uint8Array(ncap);
    this.nMac = new Uint8Array(ncap * 6);
    this.nPort = new Uint16Array(ncap);
    this.nProbeAt = new Float64Array(ncap);
    this.nProbes = new Uint8Array(ncap);
    this.nHoldHead = new Int32Array(ncap).fill(-1);
    this.nHoldTail = new Int32Array(ncap).fill(-1);
    this.nHoldCount = new Uint8Array(ncap);
    this.nTable = new KeyTable(5, ncap);
    const hs = c.neighbour.holdSlots;
    this.hold = new Uint8Array(hs * SLOT);
    this.holdLen = new Uint32Array(hs);
    this.holdNext = new Int32Array(hs).fill(-1);
    this.holdFree = new Int32Array(hs);
    for (let i = 0; i < hs; i++) this.holdFree[i] = hs - 1 - i;
    this.holdFreeTop = hs;

    // Local and connected routes from the port addresses.
    this.ports.forEach((p, port) => {
      for (const a of p.v4) {
        this.lpm4.add(a.addr, 32, this.nextHop(NH_LOCAL, port, null));
        if (a.len < 32) this.lpm4.add(a.addr, a.len, this.nextHop(NH_CONNECTED, port, null));
      }
      for (const a of p.v6) {
        this.lpm6.add(a.words, 128, this.nextHop(NH_LOCAL, port, null));
        if (a.len < 128 && !isLinkLocal6(a.words[0]!)) this.lpm6.add(a.words, a.len, this.nextHop(NH_CONNECTED, port, null));
      }
    });
    for (const nb of c.neighbours) this.setStatic(nb.ip.words, nb.mac, nb.port);
    c.routes.forEach((r, i) => {
      try {
        this.installRoute(r.prefix, r.via?.words ?? null, r.port);
      } catch (e) {
        throw new VnfError("config", `invalid configuration\n  routes[${i}]: ${(e as Error).message}`, [{ path: `routes[${i}]`, reason: (e as Error).message }]);
      }
    });
  }

  // ---------------------------------------------------------------- control

  private nextHop(kind: number, port: number, gw: readonly number[] | null): number {
    const k = `${kind}/${port}/${gw ? gw.join(",") : ""}`;
    const have = this.nhIndex.get(k);
    if (have !== undefined) return have;
    if (this.nhCount >= this.nhKind.length) throw new VnfError("capacity", "next-hop table full");
    const nh = this.nhCount++;
    this.nhKind[nh] = kind;
    this.nhPort[nh] = port;
    if (gw) {
      const n = this.neighbourFor(gw, port, true);
      if (n < 0) throw new VnfError("capacity", "neighbour cache full");
      this.nhNeigh[nh] = n;
    }
    this.nhIndex.set(k, nh);
    return nh;
  }

  /** The port whose subnet covers `gw` (IPv4-mapped or IPv6 words), or -1. */
  private portFor(gw: readonly number[]): number {
    const v4 = gw[0] === 0 && gw[1] === 0 && gw[2] === 0xffff;
    for (let p = 0; p < this.ports.length; p++) {
      const pa = this.ports[p]!;
      if (v4) {
        for (const a of pa.v4) {
          const m = a.len === 0 ? 0 : (0xffffffff << (32 - a.len)) >>> 0;
          if (((a.addr ^ gw[3]!) & m) === 0) return p;
        }
      } else {
        for (const a of pa.v6) if (prefixCovers6(a.words, a.len, gw)) return p;
      }
    }
    return -1;
  }

  private installRoute(prefix: IpPrefix, via: readonly number[] | null, port: number | undefined): void {
    let out = port;
    if (out === undefined) {
      out = this.portFor(via!);
      if (out < 0) throw new Error(`via ${prefix.family === 4 ? formatIPv4(via![3]!) : formatIPv6(via as [number, number, number, number])} is on no port's subnet; give its port`);
    }
    if (out >= this.portCount) throw new Error(`port ${out} is not below the port count (${this.portCount})`);
    const nh = this.nextHop(via ? NH_GATEWAY : NH_CONNECTED, out, via);
    if (prefix.family === 4) this.lpm4.add(prefix.words[3], prefix.len, nh);
    else this.lpm6.add(prefix.words, prefix.len, nh);
  }

  /** Add or replace a route: `prefix` like `10.1.0.0/16`, through gateway `via` and/or out of `port`. */
  addRoute(route: Route): void {
    const r = parseConfig(RouteSchema, route);
    if (!r.via && r.port === undefined) throw new VnfError("usage", "a route needs via, port, or both");
    try {
      this.installRoute(r.prefix, r.via?.words ?? null, r.port);
    } catch (e) {
      if (e instanceof VnfError) throw e;
      throw new VnfError("usage", (e as Error).message);
    }
  }

  /** Remove the route for exactly `prefix`; false when there was none. */
  deleteRoute(prefix: string): boolean {
    const p = parseConfig(zPrefix, prefix);
    return p.family === 4 ? this.lpm4.delete(p.words[3], p.len) : this.lpm6.delete(p.words, p.len);
  }

  /** Add a static neighbour entry (ARP/ND never replace it). */
  addNeighbour(ip: string, mac: string, port: number): void {
    const a = parseConfig(zIp, ip);
    const m = parseConfig(zMac, mac);
    if (!Number.isInteger(port) || port < 0 || port >= this.portCount) throw new VnfError("usage", `port ${port} is not below ${this.portCount}`);
    this.setStatic(a.words, m, port);
  }

  private setStatic(words: readonly number[], m: Uint8Array, port: number): void {
    const n = this.neighbourFor(words, port, true);
    if (n < 0) throw new VnfError("capacity", "neighbour cache full");
    this.nMac.set(m, n * 6);
    this.nState[n] = N_STATIC;
  }

  /** The neighbour cache (allocates; control path). */
  neighbours(): NeighbourInfo[] {
    const out: NeighbourInfo[] = [];
    for (let n = 0; n < this.nCount; n++) {
      if (this.nState[n] === N_FREE) continue;
      const k = this.nKeys.subarray(n * 5, n * 5 + 4);
      const v4 = k[0] === 0 && k[1] === 0 && k[2] === 0xffff;
      out.push({ ip: v4 ? formatIPv4(k[3]!) : formatIPv6([k[0]!, k[1]!, k[2]!, k[3]!]), port: this.nPort[n]!, state: N_STATE_NAMES[this.nState[n]!]!, mac: formatMac(this.nMac.subarray(n * 6, n * 6 + 6)) });
    }
    return out;
  }

  /** Find (or, when `create`, add as INCOMPLETE) the neighbour for address words `w` on `port`. -1 when full/absent. */
  private neighbourFor(w: ArrayLike<number>, port: number, create: boolean): number {
    const k = this.nKey;
    k[0] = w[0]!;
    k[1] = w[1]!;
    k[2] = w[2]!;
    k[3] = w[3]!;
    k[4] = port;
    const n = this.nTable.get(k, 0);
    if (n >= 0 || !create) return n;
    if (this.nCount >= this.nState.length) return -1;
    const id = this.nCount++;
    this.nKeys.set(k, id * 5);
    this.nTable.set(this.nKeys, id * 5, id);
    this.nState[id] = N_INCOMPLETE;
    this.nPort[id] = port;
    this.nProbes[id] = 0;
    this.nProbeAt[id] = Number.NEGATIVE_INFINITY;
    return id;
  }

  // --------------------------------------------------------------- datapath

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const c = this.counters.values;
    const now = this.clock();
    const overflowBefore = this.outbox.overflows;
    for (let i = 0; i < n; i++) {
      const port = ports[i]!;
      verdicts[i] = port >= this.portCount ? drop(DropReason.BadPort) : this.one(bufs[i]!, offsets[i]!, lengths[i]!, port, now, c);
    }
    c[C_OUTBOX_OVERFLOW]! += this.outbox.overflows - overflowBefore;
    return tally(c, verdicts, n);
  }

  private one(b: Uint8Array, o: number, len: number, port: number, now: number, c: Float64Array): number {
    if (len < ETH) return drop(DropReason.Malformed);
    const pm = port * 6;
    const mac = this.portMac;
    // Unicast frames must be addressed to this port (multicast/broadcast go on to ARP/ND handling).
    if ((b[o]! & 1) === 0) {
      for (let k = 0; k < 6; k++) if (b[o + k] !== mac[pm + k]) return drop(DropReason.NotForUs);
    }
    const et = (b[o + 12]! << 8) | b[o + 13]!;
    if (et === 0x0800) return this.ipv4(b, o, len, port, now, c);
    if (et === 0x86dd) return this.ipv6(b, o, len, port, now, c);
    if (et === 0x0806) return this.arp(b, o, len, port, c);
    return drop(DropReason.Unsupported);
  }

  private ipv4(b: Uint8Array, o: number, len: number, port: number, now: number, c: Float64Array): number {
    const ip = o + ETH;
    if (len < ETH + 20) return drop(DropReason.Malformed);
    const vi = b[ip]!;
    const ihl = (vi & 15) << 2;
    const tot = (b[ip + 2]! << 8) | b[ip + 3]!;
    if (vi >> 4 !== 4 || ihl < 20 || tot < ihl || tot > len - ETH) return drop(DropReason.Malformed);
    if (!ipv4HeaderValid(b, ip, ihl)) return drop(DropReason.BadChecksum);
    if (b[o]! & 1) return drop(DropReason.NotForUs); // link-layer broadcast/multicast is not forwarded (RFC 1812 §5.3.4)
    const src0 = b[ip + 12]!;
    // Martian sources (RFC 1812 §5.3.7): 0/8, 127/8, multicast and reserved.
    if (src0 === 0 || src0 === 127 || src0 >= 224) return drop(DropReason.Scope);
    const dst = rd32(b, ip + 16);
    const nh = this.lpm4.lookup(dst);
    if (nh < 0) {
      this.icmp4Error(b, o, ip, ihl, tot, port, 3, 0, now, c);
      return drop(DropReason.NoRoute);
    }
    const kind = this.nhKind[nh]!;
    if (kind === NH_LOCAL) return this.local4(b, o, ip, ihl, tot, port, c);
    const ttl = b[ip + 8]!;
    if (ttl <= 1) {
      this.icmp4Error(b, o, ip, ihl, tot, port, 11, 0, now, c);
      return drop(DropReason.TtlExceeded);
    }
    // RFC 1624 eqn. 3 over the TTL/protocol word.
    const proto = b[ip + 9]!;
    const cs = checksumUpdate16((b[ip + 10]! << 8) | b[ip + 11]!, (ttl << 8) | proto, ((ttl - 1) << 8) | proto);
    b[ip + 8] = ttl - 1;
    b[ip + 10] = cs >>> 8;
    b[ip + 11] = cs & 0xff;
    const out = this.nhPort[nh]!;
    let n = this.nhNeigh[nh]!;
    if (kind === NH_CONNECTED) {
      const k = this.nKey;
      k[0] = 0;
      k[1] = 0;
      k[2] = 0xffff;
      k[3] = dst;
      k[4] = out;
      n = this.nTable.get(k, 0);
    }
    return this.toNeighbour(b, o, len, n, out, dst, null, now, c);
  }

  /** Send to neighbour `n` (or create and resolve it: IPv4 `dst4`, or IPv6 `dst6` words). */
  private toNeighbour(b: Uint8Array, o: number, len: number, n: number, out: number, dst4: number, dst6: Uint32Array | null, now: number, c: Float64Array): number {
    if (n >= 0) {
      const st = this.nState[n]!;
      if (st === N_REACHABLE || st === N_STATIC) {
        const nm = this.nMac;
        const pm = this.portMac;
        const nb = n * 6;
        const pb = out * 6;
        for (let k = 0; k < 6; k++) {
          b[o + k] = nm[nb + k]!;
          b[o + 6 + k] = pm[pb + k]!;
        }
        return out;
      }
    } else {
      if (dst6) n = this.neighbourFor(dst6, out, true);
      else {
        const w = this.scratch6;
        w[0] = 0;
        w[1] = 0;
        w[2] = 0xffff;
        w[3] = dst4;
        n = this.neighbourFor(w, out, true);
      }
      if (n < 0) {
        c[C_NEIGH_FULL]!++;
        return drop(DropReason.NeighbourUnresolved);
      }
    }
    return this.unresolved(b, o, len, n, now, c);
  }

  /** Probe for neighbour `n` as needed and hold the packet if allowed. */
  private unresolved(b: Uint8Array, o: number, len: number, n: number, now: number, c: Float64Array): number {
    const nc = this.cfg.neighbour;
    if (this.nState[n] === N_FAILED) {
      if (now - this.nProbeAt[n]! < nc.failedHoldMs) return drop(DropReason.NeighbourUnresolved);
      this.nState[n] = N_INCOMPLETE;
      this.nProbes[n] = 0;
      this.nProbeAt[n] = Number.NEGATIVE_INFINITY;
    }
    if (now - this.nProbeAt[n]! >= nc.retryMs) {
      if (this.nProbes[n]! >= nc.maxProbes) {
        this.nState[n] = N_FAILED;
        this.nProbeAt[n] = now;
        this.dropHeld(n, c);
        return drop(DropReason.NeighbourUnresolved);
      }
      this.nProbes[n]!++;
      this.nProbeAt[n] = now;
      this.solicit(n, c);
    }
    if (this.nHoldCount[n]! >= nc.queuePerNeighbour || this.holdFreeTop === 0 || len > SLOT) return drop(DropReason.NeighbourUnresolved);
    const h = this.holdFree[--this.holdFreeTop]!;
    this.hold.set(b.subarray(o, o + len), h * SLOT);
    this.holdLen[h] = len;
    this.holdNext[h] = -1;
    if (this.nHoldTail[n]! >= 0) this.holdNext[this.nHoldTail[n]!] = h;
    else this.nHoldHead[n] = h;
    this.nHoldTail[n] = h;
    this.nHoldCount[n]!++;
    c[C_HELD]!++;
    return drop(DropReason.Queued);
  }

  private dropHeld(n: number, c: Float64Array): void {
    let h = this.nHoldHead[n]!;
    while (h >= 0) {
      const next = this.holdNext[h]!;
      this.holdFree[this.holdFreeTop++] = h;
      c[C_HOLD_DROPPED]!++;
      h = next;
    }
    this.nHoldHead[n] = -1;
    this.nHoldTail[n] = -1;
    this.nHoldCount[n] = 0;
  }

  /** Neighbour `n` resolved to the MAC at `b[macOff..]`: record it and release held packets into the outbox. */
  private resolved(n: number, b: Uint8Array, macOff: number, c: Float64Array): void {
    if (this.nState[n] === N_STATIC) return;
    this.nMac.set(b.subarray(macOff, macOff + 6), n * 6);
    this.nState[n] = N_REACHABLE;
    this.nProbes[n] = 0;
    const port = this.nPort[n]!;
    let h = this.nHoldHead[n]!;
    while (h >= 0) {
      const len = this.holdLen[h]!;
      const at = this.outbox.alloc(len, port);
      if (at >= 0) {
        const ob = this.outbox.bytes;
        ob.set(this.hold.subarray(h * SLOT, h * SLOT + len), at);
        ob.set(this.nMac.subarray(n * 6, n * 6 + 6), at);
        ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
        c[C_RELEASED]!++;
      } else c[C_HOLD_DROPPED]!++;
      const next = this.holdNext[h]!;
      this.holdFree[this.holdFreeTop++] = h;
      h = next;
    }
    this.nHoldHead[n] = -1;
    this.nHoldTail[n] = -1;
    this.nHoldCount[n] = 0;
  }

  /** Send an ARP request or a neighbour solicitation for neighbour `n`. */
  private solicit(n: number, c: Float64Array): void {
    const port = this.nPort[n]!;
    const k = this.nKeys;
    const kb = n * 5;
    const v4 = k[kb] === 0 && k[kb + 1] === 0 && k[kb + 2] === 0xffff;
    if (v4) {
      const target = k[kb + 3]!;
      const spa = this.sourceV4(port, target);
      if (spa < 0) return;
      const at = this.outbox.alloc(42, port);
      if (at < 0) return;
      const ob = this.outbox.bytes;
      ob.fill(0xff, at, at + 6);
      ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
      this.arpBody(ob, at, 1, port, spa, null, 0, target);
      c[C_ARP_REQ_OUT]!++;
    } else {
      const t = [k[kb]!, k[kb + 1]!, k[kb + 2]!, k[kb + 3]!];
      const src = this.sourceV6(port, t);
      if (!src) return;
      // Solicited-node multicast address ff02::1:ffXX:XXXX (RFC 4291 §2.7.1) and its MAC 33:33:ff:XX:XX:XX (RFC 2464 §7).
      const dst = [0xff020000, 0, 1, (0xff000000 | (t[3]! & 0xffffff)) >>> 0];
      const at = this.outbox.alloc(86, port);
      if (at < 0) return;
      const ob = this.outbox.bytes;
      ob.set([0x33, 0x33, 0xff, (t[3]! >>> 16) & 0xff, (t[3]! >>> 8) & 0xff, t[3]! & 0xff], at);
      this.ndMessage(ob, at, port, src, dst, 135, 0, t, 1);
      c[C_NS_OUT]!++;
    }
  }

  /** The port's IPv4 address on `target`'s subnet, else its first; -1 when it has none. */
  private sourceV4(port: number, target: number): number {
    const v4 = this.ports[port]!.v4;
    for (const a of v4) {
      const m = a.len === 0 ? 0 : (0xffffffff << (32 - a.len)) >>> 0;
      if (((a.addr ^ target) & m) === 0) return a.addr;
    }
    return v4.length ? v4[0]!.addr : -1;
  }

  /** The port's IPv6 address best suited to talk to `peer`: same prefix, else link-local for link-local peers, else the first global. */
  private sourceV6(port: number, peer: readonly number[]): readonly number[] | null {
    const v6 = this.ports[port]!.v6;
    for (const a of v6) if (prefixCovers6(a.words, a.len, peer)) return a.words;
    const ll = isLinkLocal6(peer[0]!);
    for (const a of v6) if (isLinkLocal6(a.words[0]!) === ll) return a.words;
    return v6.length ? v6[0]!.words : null;
  }

  /** Write ARP body (RFC 826) after the Ethernet header at `at`; sets the EtherType. */
  private arpBody(ob: Uint8Array, at: number, op: number, port: number, spa: number, tha: Uint8Array | null, thaOff: number, tpa: number): void {
    ob.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op], at + 12);
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 22);
    wr32(ob, at + 28, spa);
    if (tha) ob.set(tha.subarray(thaOff, thaOff + 6), at + 32);
    else ob.fill(0, at + 32, at + 38);
    wr32(ob, at + 38, tpa);
  }

  /**
   * Write an IPv6 neighbour discovery message (RFC 4861 §4.3/§4.4: 24 bytes
   * plus one link-layer address option with this port's MAC) after the
   * Ethernet destination already at `at`.
   */
  private ndMessage(ob: Uint8Array, at: number, port: number, src: readonly number[], dst: readonly number[], type: number, flags: number, target: readonly number[], optType: number): void {
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
    ob[at + 12] = 0x86;
    ob[at + 13] = 0xdd;
    const ip = at + ETH;
    ob.set([0x60, 0, 0, 0, 0, 32, 58, 255], ip);
    for (let w = 0; w < 4; w++) {
      wr32(ob, ip + 8 + w * 4, src[w]!);
      wr32(ob, ip + 24 + w * 4, dst[w]!);
    }
    const icmp = ip + 40;
    ob.set([type, 0, 0, 0, flags, 0, 0, 0], icmp);
    for (let w = 0; w < 4; w++) wr32(ob, icmp + 8 + w * 4, target[w]!);
    ob[icmp + 24] = optType;
    ob[icmp + 25] = 1;
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), icmp + 26);
    wr16(ob, icmp + 2, internetChecksum(ob, icmp, 32, pseudoHeaderSum6(ob, ip + 8, ip + 24, 58, 32)));
  }

  private arp(b: Uint8Array, o: number, len: number, port: number, c: Float64Array): number {
    if (len < ETH + 28) return drop(DropReason.Malformed);
    const a = o + ETH;
    if (rd16(b, a) !== 1 || rd16(b, a + 2) !== 0x0800 || b[a + 4] !== 6 || b[a + 5] !== 4) return drop(DropReason.Malformed);
    const op = rd16(b, a + 6);
    if (op !== 1 && op !== 2) return drop(DropReason.Malformed);
    c[op === 1 ? C_ARP_REQ_IN : C_ARP_REP_IN]!++;
    const spa = rd32(b, a + 14);
    const tpa = rd32(b, a + 24);
    let ours = false;
    for (const x of this.ports[port]!.v4) if (x.addr === tpa) ours = true;
    // RFC 826 "merge": update an existing entry for the sender; add one when the packet is for us.
    const w = this.scratch6;
    w[0] = 0;
    w[1] = 0;
    w[2] = 0xffff;
    w[3] = spa;
    if (spa !== 0) {
      let n = this.neighbourFor(w, port, false);
      if (n < 0 && ours) n = this.neighbourFor(w, port, true);
      if (n >= 0) this.resolved(n, b, a + 8, c);
    }
    if (op === 1 && ours) {
      const at = this.outbox.alloc(42, port);
      if (at >= 0) {
        const ob = this.outbox.bytes;
        ob.set(b.subarray(a + 8, a + 14), at);
        ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
        this.arpBody(ob, at, 2, port, tpa, b, a + 8, spa);
        c[C_ARP_REP_OUT]!++;
      }
    }
    return drop(DropReason.Control);
  }

  /**
   * A reply in the outbox: the `len`-byte frame at `b[o..]` copied, addressed
   * back to its sender from port `port`'s MAC. Returns its offset in the
   * outbox, or -1 when the outbox is full.
   */
  private replyFrame(b: Uint8Array, o: number, len: number, port: number): number {
    const at = this.outbox.alloc(len, port);
    if (at < 0) return -1;
    const ob = this.outbox.bytes;
    ob.set(b.subarray(o, o + len), at);
    ob.set(b.subarray(o + 6, o + 12), at);
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
    return at;
  }

  private local4(b: Uint8Array, o: number, ip: number, ihl: number, tot: number, port: number, c: Float64Array): number {
    const l4 = ip + ihl;
    if (!this.cfg.icmp.echo || b[ip + 9] !== 1 || tot - ihl < 8 || b[l4] !== 8 || (rd16(b, ip + 6) & 0x3fff) !== 0) return drop(DropReason.Local);
    // Echo reply (RFC 792): same identifier, sequence and data; addresses swapped.
    const at = this.replyFrame(b, o, ETH + tot, port);
    if (at < 0) return drop(DropReason.Local);
    const ob = this.outbox.bytes;
    const nip = at + ETH;
    ob.set(b.subarray(ip + 16, ip + 20), nip + 12);
    ob.set(b.subarray(ip + 12, ip + 16), nip + 16);
    ob[nip + 8] = 64;
    wr16(ob, nip + 10, ipv4HeaderChecksum(ob, nip));
    const nl4 = nip + ihl;
    ob[nl4] = 0;
    wr16(ob, nl4 + 2, checksumUpdate16(rd16(ob, nl4 + 2), 8 << 8 | ob[nl4 + 1]!, ob[nl4 + 1]!));
    c[C_ECHO]!++;
    return drop(DropReason.Control);
  }

  /** Whether the ICMP bucket allows one more error now (counting refusals). */
  private mayError(now: number, c: Float64Array): boolean {
    if (!this.cfg.icmp.errors) return false;
    if (this.bucket.take(now)) return true;
    c[C_ICMP_LIMITED]!++;
    return false;
  }

  /** ICMP error about the IPv4 datagram at `ip` (RFC 792, RFC 1812 §4.3.2), back to the previous hop. */
  private icmp4Error(b: Uint8Array, o: number, ip: number, ihl: number, tot: number, port: number, type: number, code: number, now: number, c: Float64Array): void {
    const src = rd32(b, ip + 12);
    const dst = rd32(b, ip + 16);
    const s0 = src >>> 24;
    if (s0 === 0 || s0 === 127 || s0 >= 224 || dst >>> 28 === 0xe || dst === 0xffffffff) return;
    if ((rd16(b, ip + 6) & 0x1fff) !== 0) return; // not the first fragment
    if (b[ip + 9] === 1 && tot >= ihl + 1) {
      const t = b[ip + ihl]!;
      if (t !== 0 && t !== 8 && t !== 13 && t !== 14 && t !== 15 && t !== 16 && t !== 17 && t !== 18) return; // an ICMP error
    }
    const from = this.sourceV4(port, src);
    if (from < 0 || !this.mayError(now, c)) return;
    const quote = Math.min(tot, 576 - 28);
    const len = ETH + 28 + quote;
    const at = this.outbox.alloc(len, port);
    if (at < 0) return;
    const ob = this.outbox.bytes;
    ob.set(b.subarray(o + 6, o + 12), at);
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
    ob[at + 12] = 0x08;
    ob[at + 13] = 0x00;
    const nip = at + ETH;
    ob.set([0x45, 0, (28 + quote) >> 8, (28 + quote) & 0xff, 0, 0, 0, 0, 64, 1, 0, 0], nip);
    wr32(ob, nip + 12, from);
    wr32(ob, nip + 16, src);
    wr16(ob, nip + 10, ipv4HeaderChecksum(ob, nip));
    const ic = nip + 20;
    ob.set([type, code, 0, 0, 0, 0, 0, 0], ic);
    ob.set(b.subarray(ip, ip + quote), ic + 8);
    wr16(ob, ic + 2, internetChecksum(ob, ic, 8 + quote));
    c[C_ICMP_OUT]!++;
  }

  private ipv6(b: Uint8Array, o: number, len: number, port: number, now: number, c: Float64Array): number {
    const ip = o + ETH;
    if (len < ETH + 40 || b[ip]! >> 4 !== 6) return drop(DropReason.Malformed);
    const plen = rd16(b, ip + 4);
    if (40 + plen > len - ETH) return drop(DropReason.Malformed);
    const nextHeader = b[ip + 6]!;
    // Neighbour discovery (no extension headers before ICMPv6 in ND messages, RFC 4861 §6-7).
    if (nextHeader === 58 && plen >= 4) {
      const t = b[ip + 40]!;
      if (t === 135 || t === 136) return this.nd(b, o, ip, plen, port, c);
    }
    if (b[o]! & 1) return drop(DropReason.NotForUs); // multicast: not routed here
    const w0 = rd32(b, ip + 24);
    if (isLinkLocal6(w0) || w0 >>> 24 === 0xff) {
      // To a link-local or multicast address: ours (echo) or not forwarded.
      const nh = this.lpm6.lookup(b, ip + 24);
      if (nh >= 0 && this.nhKind[nh] === NH_LOCAL) return this.local6(b, o, ip, plen, port, c);
      return drop(DropReason.Scope);
    }
    const nh = this.lpm6.lookup(b, ip + 24);
    if (nh < 0) {
      this.icmp6Error(b, o, ip, plen, port, 1, 0, now, c);
      return drop(DropReason.NoRoute);
    }
    const kind = this.nhKind[nh]!;
    if (kind === NH_LOCAL) return this.local6(b, o, ip, plen, port, c);
    const s0 = rd32(b, ip + 8);
    if (isLinkLocal6(s0)) {
      // RFC 4291 §2.5.6: never forward a link-local source; RFC 4443 §3.1 code 2.
      this.icmp6Error(b, o, ip, plen, port, 1, 2, now, c);
      return drop(DropReason.Scope);
    }
    const hl = b[ip + 7]!;
    if (hl <= 1) {
      this.icmp6Error(b, o, ip, plen, port, 3, 0, now, c);
      return drop(DropReason.TtlExceeded);
    }
    b[ip + 7] = hl - 1;
    const out = this.nhPort[nh]!;
    let n = this.nhNeigh[nh]!;
    let dst6: Uint32Array | null = null;
    if (kind === NH_CONNECTED) {
      const k = this.nKey;
      dst6 = this.scratch6;
      for (let w = 0; w < 4; w++) k[w] = dst6[w] = rd32(b, ip + 24 + w * 4);
      k[4] = out;
      n = this.nTable.get(k, 0);
    }
    return this.toNeighbour(b, o, len, n, out, 0, dst6, now, c);
  }

  /** Is the 16-byte address at `b[at..]` one of `port`'s IPv6 addresses? */
  private ours6(b: Uint8Array, at: number, port: number): boolean {
    for (const a of this.ports[port]!.v6) {
      let eq = true;
      for (let w = 0; w < 4 && eq; w++) if (rd32(b, at + w * 4) !== a.words[w]) eq = false;
      if (eq) return true;
    }
    return false;
  }

  /** Neighbor Solicitation / Advertisement (RFC 4861 §7.1-7.2). */
  private nd(b: Uint8Array, o: number, ip: number, plen: number, port: number, c: Float64Array): number {
    const icmp = ip + 40;
    // Validation (§7.1.1, §7.1.2): hop limit 255, code 0, length >= 24, checksum.
    if (b[ip + 7] !== 255 || b[icmp + 1] !== 0 || plen < 24) return drop(DropReason.Malformed);
    if (!verifyInternetChecksum(b, icmp, plen, pseudoHeaderSum6(b, ip + 8, ip + 24, 58, plen))) return drop(DropReason.BadChecksum);
    if (b[icmp + 8] === 0xff) return drop(DropReason.Malformed); // multicast target
    // Link-layer address option (type 1 source in NS, 2 target in NA).
    const type = b[icmp]!;
    const want = type === 135 ? 1 : 2;
    let lla = -1;
    for (let p = icmp + 24; p + 2 <= icmp + plen; ) {
      const ol = b[p + 1]! * 8;
      if (ol === 0 || p + ol > icmp + plen) return drop(DropReason.Malformed);
      if (b[p] === want && ol >= 8) lla = p + 2;
      p += ol;
    }
    const w = this.scratch6;
    if (type === 135) {
      c[C_NS_IN]!++;
      if (!this.ours6(b, icmp + 8, port)) return drop(DropReason.Control);
      const srcUnspec = rd32(b, ip + 8) === 0 && rd32(b, ip + 12) === 0 && rd32(b, ip + 16) === 0 && rd32(b, ip + 20) === 0;
      if (srcUnspec) return drop(DropReason.Control); // duplicate address detection: not defended here
      for (let k = 0; k < 4; k++) w[k] = rd32(b, ip + 8 + k * 4);
      if (lla >= 0) {
        let n = this.neighbourFor(w, port, false);
        if (n < 0) n = this.neighbourFor(w, port, true);
        if (n >= 0) this.resolved(n, b, lla, c);
      }
      // Solicited advertisement back to the soliciting node: Router, Solicited, Override (§7.2.4).
      const at = this.outbox.alloc(86, port);
      if (at >= 0) {
        const ob = this.outbox.bytes;
        if (lla >= 0) ob.set(b.subarray(lla, lla + 6), at);
        else ob.set(b.subarray(o + 6, o + 12), at);
        const target = [rd32(b, icmp + 8), rd32(b, icmp + 12), rd32(b, icmp + 16), rd32(b, icmp + 20)];
        this.ndMessage(ob, at, port, target, Array.from(w), 136, 0xe0, target, 2);
        c[C_NA_OUT]!++;
      }
      return drop(DropReason.Control);
    }
    c[C_NA_IN]!++;
    for (let k = 0; k < 4; k++) w[k] = rd32(b, icmp + 8 + k * 4);
    // An advertisement updates an existing entry only (§7.2.5); without a target address option it cannot.
    const n = this.neighbourFor(w, port, false);
    if (n >= 0 && lla >= 0) this.resolved(n, b, lla, c);
    return drop(DropReason.Control);
  }

  private local6(b: Uint8Array, o: number, ip: number, plen: number, port: number, c: Float64Array): number {
    const icmp = ip + 40;
    if (!this.cfg.icmp.echo || b[ip + 6] !== 58 || plen < 8 || b[icmp] !== 128) return drop(DropReason.Local);
    // Echo reply (RFC 4443 §4.2) from the address the request was sent to.
    const at = this.replyFrame(b, o, ETH + 40 + plen, port);
    if (at < 0) return drop(DropReason.Local);
    const ob = this.outbox.bytes;
    const nip = at + ETH;
    ob.set(b.subarray(ip + 24, ip + 40), nip + 8);
    ob.set(b.subarray(ip + 8, ip + 24), nip + 24);
    ob[nip + 7] = 64;
    const ni = nip + 40;
    ob[ni] = 129;
    // Addresses only swapped (the pseudo-header sum is unchanged): adjust for the type.
    wr16(ob, ni + 2, checksumUpdate16(rd16(ob, ni + 2), (128 << 8) | ob[ni + 1]!, (129 << 8) | ob[ni + 1]!));
    c[C_ECHO]!++;
    return drop(DropReason.Control);
  }

  /** ICMPv6 error (RFC 4443 §2.4) about the packet at `ip`, back to the previous hop. */
  private icmp6Error(b: Uint8Array, o: number, ip: number, plen: number, port: number, type: number, code: number, now: number, c: Float64Array): void {
    const s0 = rd32(b, ip + 8);
    if (s0 >>> 24 === 0xff) return; // multicast source
    if (s0 === 0 && rd32(b, ip + 12) === 0 && rd32(b, ip + 16) === 0 && rd32(b, ip + 20) === 0) return; // unspecified
    if (b[ip + 24] === 0xff) return; // multicast destination (§2.4(e))
    if (b[ip + 6] === 58 && plen >= 1 && b[ip + 40]! < 128) return; // an ICMPv6 error (§2.4(e.1))
    const peer = [s0, rd32(b, ip + 12), rd32(b, ip + 16), rd32(b, ip + 20)];
    const from = this.sourceV6(port, peer);
    if (!from || !this.mayError(now, c)) return;
    const quote = Math.min(40 + plen, 1280 - 48);
    const icmpLen = 8 + quote;
    const at = this.outbox.alloc(ETH + 40 + icmpLen, port);
    if (at < 0) return;
    const ob = this.outbox.bytes;
    ob.set(b.subarray(o + 6, o + 12), at);
    ob.set(this.portMac.subarray(port * 6, port * 6 + 6), at + 6);
    ob[at + 12] = 0x86;
    ob[at + 13] = 0xdd;
    const nip = at + ETH;
    ob.set([0x60, 0, 0, 0, icmpLen >> 8, icmpLen & 0xff, 58, 64], nip);
    for (let w = 0; w < 4; w++) {
      wr32(ob, nip + 8 + w * 4, from[w]!);
      wr32(ob, nip + 24 + w * 4, peer[w]!);
    }
    const ic = nip + 40;
    ob.set([type, code, 0, 0, 0, 0, 0, 0], ic);
    ob.set(b.subarray(ip, ip + quote), ic + 8);
    wr16(ob, ic + 2, internetChecksum(ob, ic, icmpLen, pseudoHeaderSum6(ob, nip + 8, nip + 24, 58, icmpLen)));
    c[C_ICMP_OUT]!++;
  }

}
