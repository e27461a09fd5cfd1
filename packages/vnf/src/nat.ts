/**
 * IPv4 network address translation (Traditional NAT, RFC 3022), connection
 * tracked:
 *
 * - source NAT, many-to-one: inside hosts matching a rule share the rule's
 *   external address; TCP and UDP source ports and ICMP echo identifiers are
 *   allocated from the rule's range (the inside port is kept when it is free,
 *   as RFC 4787 §4.2.1 recommends), and exhaustion is counted;
 * - destination NAT (port forwards): a packet from outside to
 *   `address:port` is sent to `to:toPort` inside.
 *
 * Each translated connection is one {@link ConnTrack} entry whose reply key
 * is the reverse of the translated tuple, as in Linux netfilter: a packet in
 * either direction finds its entry and is rewritten to the reverse of the
 * other direction's key. Headers are patched in place with the incremental
 * checksum update of RFC 1624 (IPv4 header, the TCP/UDP pseudo-header and
 * ports, the ICMP identifier); a UDP checksum of 0 (none, RFC 768) stays 0.
 *
 * Port 0 is inside, port 1 outside; the Ethernet header is left alone (chain
 * a router or an l2fwd for link-layer addressing). ICMP errors about a
 * translated connection are translated too (RFC 5508 §4.2): the outer
 * address that stands for the NATed host and the quoted packet's addresses,
 * ports or identifier, with the quoted headers' checksums and the ICMP
 * checksum patched. Fragments and hairpinning are not handled: they are
 * dropped and counted.
 */
import { z } from "zod";
import type { PacketBurst } from "./burst.js";
import { zIPv4, zPortRange, zPrefix4, parseConfig } from "./config.js";
import { ConnTrack, ConnTrackConfigSchema, CT_INVALID } from "./conntrack.js";
import { Counters, EXTRA_BASE, vnfCounterNames } from "./counters.js";
import { VnfError } from "./errors.js";
import { checksumUpdate16, checksumUpdate32 } from "@nfvio/packet";
import { rd16, rd32, wr16, wr32 } from "./internal/csum.js";
import { KeyTable } from "./internal/table.js";
import { FLOW_KEY_WORDS, FlowInfo, PROTO_ICMP, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, flowKey, isEcho, isIcmpError, parseFlow, quotedFlowKey, reverseKey } from "./internal/parse.js";
import { DropReason, drop } from "./verdict.js";
import { type Clock, type Vnf, type VnfOptions, defaultClock, tally } from "./vnf.js";

export const NAT_INSIDE = 0;
export const NAT_OUTSIDE = 1;

export const NatConfigSchema = z
  .object({
    /** Source NAT rules, first match: inside sources in `from` leave as `to`, ports from `ports`. */
    snat: z
      .array(
        z
          .object({
            from: zPrefix4,
            to: zIPv4,
            /** Ports (and ICMP identifiers) to allocate; default 1024-65535. */
            ports: zPortRange.default("1024-65535"),
          })
          .strict(),
      )
      .default([]),
    /** Port forwards: outside packets to `address:port` go to `to:toPort`. */
    dnat: z
      .array(
        z
          .object({
            proto: z.enum(["tcp", "udp"]),
            address: zIPv4,
            port: z.number().int().min(1).max(65535),
            to: zIPv4,
            /** Default: the same port. */
            toPort: z.number().int().min(1).max(65535).optional(),
          })
          .strict(),
      )
      .default([]),
    /** Inside traffic matching no SNAT rule: `forward` it untranslated (tracked, so replies pass) or `drop` it. */
    untranslated: z.enum(["forward", "drop"]).default("forward"),
    conntrack: ConnTrackConfigSchema.default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ranges = new Map<number, { lo: number; hi: number; i: number }>();
    // Refinements also run after a field failed (its value is then zod's aborted marker): guard.
    c.snat.forEach((r, i) => {
      if (r.to?.words === undefined || r.ports?.lo === undefined) return;
      const a = r.to.words[3];
      const prev = ranges.get(a);
      if (prev && (prev.lo !== r.ports.lo || prev.hi !== r.ports.hi))
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["snat", i, "ports"], message: `differs from snat[${prev.i}].ports for the same address` });
      else ranges.set(a, { ...r.ports, i });
      if (r.ports.lo === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["snat", i, "ports"], message: "must not include port 0" });
    });
    const seen = new Set<string>();
    c.dnat.forEach((r, i) => {
      if (r.address?.words === undefined) return;
      const k = `${r.proto}/${r.address.words[3]}/${r.port}`;
      if (seen.has(k)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["dnat", i, "port"], message: `duplicate port forward ${r.proto} ${r.port}` });
      seen.add(k);
    });
  });
export type NatConfig = z.input<typeof NatConfigSchema>;

/** A pool of ports (or ICMP identifiers) of one external address for one protocol. */
class PortPool {
  readonly used = new Uint8Array(65536);
  /** Connection holding each port (-1: none or a port forward). */
  readonly owner = new Int32Array(65536).fill(-1);
  inUse = 0;
  private cursor: number;
  /** Where the next reclaim scan starts. */
  reclaimAt: number;
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {
    this.cursor = lo;
    this.reclaimAt = lo;
  }

  get size(): number {
    return this.hi - this.lo + 1;
  }

  /** Take `want` if free and in range, else the next free port; -1 when exhausted. */
  take(want: number): number {
    if (want >= this.lo && want <= this.hi && !this.used[want]) return this.mark(want);
    if (this.inUse >= this.size) return -1;
    let p = this.cursor;
    for (let n = 0; n < this.size; n++) {
      if (!this.used[p]) {
        this.cursor = p === this.hi ? this.lo : p + 1;
        return this.mark(p);
      }
      p = p === this.hi ? this.lo : p + 1;
    }
    return -1;
  }

  private mark(p: number): number {
    this.used[p] = 1;
    this.inUse++;
    return p;
  }

  release(p: number): void {
    if (this.used[p]) {
      this.used[p] = 0;
      this.owner[p] = -1;
      this.inUse--;
    }
  }
}

const C_SNAT_NEW = EXTRA_BASE;
const C_DNAT_NEW = EXTRA_BASE + 1;
const C_BYPASS_NEW = EXTRA_BASE + 2;
const C_TRANSLATED = EXTRA_BASE + 3;
const C_CT_CREATED = EXTRA_BASE + 4;
const C_CT_EXPIRED = EXTRA_BASE + 5;
const C_CT_EVICTED = EXTRA_BASE + 6;
const C_CT_REFUSED = EXTRA_BASE + 7;
const C_CT_ACTIVE = EXTRA_BASE + 8;
const C_PORTS_IN_USE = EXTRA_BASE + 9;
const NAT_COUNTERS = ["snat.new", "dnat.new", "untranslated.new", "translated", "ct.created", "ct.expired", "ct.evicted", "ct.refused", "ct.active", "ports-in-use"];

/** Protocol slot of a port pool: TCP 0, UDP 1, ICMP 2. */
function protoSlot(proto: number): number {
  return proto === PROTO_TCP ? 0 : proto === PROTO_UDP ? 1 : proto === PROTO_ICMP ? 2 : -1;
}

export class Nat implements Vnf {
  readonly kind = "nat";
  readonly portCount = 2;
  readonly counters = new Counters(vnfCounterNames(NAT_COUNTERS));
  readonly outbox = null;
  readonly conntrack: ConnTrack;
  private readonly clock: Clock;
  private readonly f = new FlowInfo();
  private readonly key = new Uint32Array(FLOW_KEY_WORDS * 2);
  // Source NAT rules.
  private readonly snatNet: Uint32Array;
  private readonly snatMask: Uint32Array;
  private readonly snatPool: Int32Array;
  /** Pools: index = addressIndex * 3 + protoSlot. */
  private readonly pools: PortPool[] = [];
  private readonly poolAddr: number[] = [];
  // Port forwards: key (proto, address, port) -> index into dnatTo / dnatToPort.
  private readonly dnat: KeyTable;
  private readonly dnatKey = new Uint32Array(3);
  private readonly dnatTo: Uint32Array;
  private readonly dnatToPort: Uint16Array;
  /** Per connection: the pool that lent its external port, or -1. */
  private readonly entryPool: Int32Array;
  private readonly forwardUntranslated: boolean;

  constructor(config: NatConfig = {}, opts: VnfOptions = {}) {
    const c = parseConfig(NatConfigSchema, config);
    this.clock = opts.clock ?? defaultClock;
    this.forwardUntranslated = c.untranslated === "forward";
    this.conntrack = new ConnTrack(c.conntrack, (id) => this.release(id));
    this.entryPool = new Int32Array(this.conntrack.capacity).fill(-1);
    const addrIndex = new Map<number, number>();
    this.snatNet = new Uint32Array(c.snat.length);
    this.snatMask = new Uint32Array(c.snat.length);
    this.snatPool = new Int32Array(c.snat.length);
    // Refinements also run after a field failed (its value is then zod's aborted marker): guard.
    c.snat.forEach((r, i) => {
      if (r.to?.words === undefined || r.ports?.lo === undefined) return;
      const a = r.to.words[3];
      let ai = addrIndex.get(a);
      if (ai === undefined) {
        ai = this.poolAddr.length;
        addrIndex.set(a, ai);
        this.poolAddr.push(a);
        for (let s = 0; s < 3; s++) this.pools.push(new PortPool(r.ports.lo, r.ports.hi));
      }
      const mask = r.from.len === 0 ? 0 : (0xffffffff << (32 - r.from.len)) >>> 0;
      this.snatMask[i] = mask;
      this.snatNet[i] = (r.from.words[3] & mask) >>> 0;
      this.snatPool[i] = ai;
    });
    this.dnat = new KeyTable(3, Math.max(1, c.dnat.length));
    this.dnatTo = new Uint32Array(c.dnat.length);
    this.dnatToPort = new Uint16Array(c.dnat.length);
    c.dnat.forEach((d, i) => {
      const proto = d.proto === "tcp" ? PROTO_TCP : PROTO_UDP;
      const addr = d.address.words[3];
      this.dnatKey.set([proto, addr, d.port]);
      this.dnat.set(this.dnatKey, 0, i);
      this.dnatTo[i] = d.to.words[3];
      this.dnatToPort[i] = d.toPort ?? d.port;
      // Keep forwarded ports out of the dynamic pools.
      const ai = addrIndex.get(addr);
      if (ai !== undefined) {
        const pool = this.pools[ai * 3 + protoSlot(proto)]!;
        if (d.port >= pool.lo && d.port <= pool.hi) pool.take(d.port);
      }
    });
  }

  /** Ports (or identifiers) in use for `address` (dotted quad as number) and protocol 6/17/1. */
  portsInUse(address: number, proto: number): number {
    const ai = this.poolAddr.indexOf(address >>> 0);
    if (ai < 0) throw new VnfError("usage", "not a source-NAT address");
    return this.pools[ai * 3 + protoSlot(proto)]!.inUse;
  }

  private release(id: number): void {
    const p = this.entryPool[id]!;
    if (p < 0) return;
    // The external port is the destination port of the reply key (ICMP: the identifier in the source slot).
    const r = this.conntrack.reply;
    const b = id * FLOW_KEY_WORDS;
    const proto = r[b]! & 0xff;
    const port = proto === PROTO_ICMP ? r[b + 9]! >>> 16 : r[b + 9]! & 0xffff;
    this.pools[p]!.release(port);
    this.entryPool[id] = -1;
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const c = this.counters.values;
    const now = this.clock();
    for (let i = 0; i < n; i++) {
      const port = ports[i]!;
      verdicts[i] = port > 1 ? drop(DropReason.BadPort) : this.one(bufs[i]!, offsets[i]!, lengths[i]!, port, now, c);
    }
    const ct = this.conntrack;
    ct.sweep(now, 32);
    c[C_CT_CREATED] = ct.created;
    c[C_CT_EXPIRED] = ct.expired;
    c[C_CT_EVICTED] = ct.evicted;
    c[C_CT_REFUSED] = ct.refused;
    c[C_CT_ACTIVE] = ct.size;
    let inUse = 0;
    for (const p of this.pools) inUse += p.inUse;
    c[C_PORTS_IN_USE] = inUse;
    return tally(c, verdicts, n);
  }

  private one(b: Uint8Array, off: number, len: number, port: number, now: number, c: Float64Array): number {
    const f = this.f;
    const r = parseFlow(b, off, len, f);
    const out = port ^ 1;
    if (r >= 0) return drop(r as DropReason);
    if (f.family !== 4) return drop(DropReason.Unsupported);
    const proto = f.proto;
    if (proto === PROTO_ICMP && !isEcho(f)) return isIcmpError(f) ? this.translateError(b, f, port, now, c) : drop(DropReason.Unsupported);
    const key = this.key;
    flowKey(b, f, key, 0);
    const ct = this.conntrack;
    const v = ct.lookup(key, 0, now);
    if (v >= 0) {
      const id = v >> 1;
      const dir = v & 1;
      if (ct.update(id, dir, f.tcpFlags, now) === CT_INVALID) return drop(DropReason.Invalid);
      this.translate(b, f, id, dir, c);
      return out;
    }
    if (proto !== PROTO_TCP && proto !== PROTO_UDP && proto !== PROTO_ICMP) return drop(DropReason.Unsupported);
    if (proto === PROTO_TCP && (f.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN) return drop(DropReason.Invalid);
    if (port === NAT_INSIDE) return this.newOutbound(b, f, now, c, out);
    return this.newInbound(b, f, now, c, out);
  }

  private newOutbound(b: Uint8Array, f: FlowInfo, now: number, c: Float64Array, out: number): number {
    const key = this.key;
    const k = FLOW_KEY_WORDS;
    const src = key[4]!;
    let rule = -1;
    for (let i = 0; i < this.snatNet.length; i++) {
      if (((src & this.snatMask[i]!) >>> 0) === this.snatNet[i]) {
        rule = i;
        break;
      }
    }
    const ct = this.conntrack;
    if (rule < 0) {
      if (!this.forwardUntranslated) return drop(DropReason.NoMapping);
      reverseKey(key, 0, key, k);
      const id = ct.create(key, 0, key, k, now);
      if (id < 0) return drop(id === -1 ? DropReason.TableFull : DropReason.Invalid);
      c[C_BYPASS_NEW]!++;
      return out;
    }
    const ai = this.snatPool[rule]!;
    const poolIdx = ai * 3 + protoSlot(f.proto);
    const pool = this.pools[poolIdx]!;
    const icmp = f.proto === PROTO_ICMP;
    let ext = pool.take(f.sport);
    if (ext < 0 && this.reclaim(pool, now)) ext = pool.take(f.sport);
    if (ext < 0) return drop(DropReason.NatExhausted);
    // Reply key: from the remote end to the external address and port.
    reverseKey(key, 0, key, k);
    key[k + 8] = this.poolAddr[ai]!;
    key[k + 9] = icmp ? (ext << 16) >>> 0 : ((key[k + 9]! & 0xffff0000) | ext) >>> 0;
    const id = ct.create(key, 0, key, k, now);
    if (id < 0) {
      pool.release(ext);
      return drop(id === -1 ? DropReason.TableFull : DropReason.Invalid);
    }
    this.entryPool[id] = poolIdx;
    pool.owner[ext] = id;
    c[C_SNAT_NEW]!++;
    this.translate(b, f, id, 0, c);
    return out;
  }

  /**
   * A full pool may still hold ports of connections that have timed out but
   * not been swept yet: scan a bounded number of the pool's ports for one and
   * expire it. True when a port was freed.
   */
  private reclaim(pool: PortPool, now: number): boolean {
    const ct = this.conntrack;
    let p = pool.reclaimAt;
    for (let n = 0; n < 256; n++) {
      const id = pool.owner[p]!;
      p = p === pool.hi ? pool.lo : p + 1;
      if (id >= 0 && ct.expires[id]! <= now) {
        pool.reclaimAt = p;
        ct.expired++;
        ct.remove(id);
        return true;
      }
    }
    pool.reclaimAt = p;
    return false;
  }

  private newInbound(b: Uint8Array, f: FlowInfo, now: number, c: Float64Array, out: number): number {
    if (f.proto === PROTO_ICMP) return drop(DropReason.NoMapping);
    const key = this.key;
    const k = FLOW_KEY_WORDS;
    const dk = this.dnatKey;
    dk[0] = f.proto;
    dk[1] = key[8]!;
    dk[2] = f.dport;
    const fwd = this.dnat.get(dk, 0);
    if (fwd < 0) return drop(DropReason.NoMapping);
    reverseKey(key, 0, key, k);
    key[k + 4] = this.dnatTo[fwd]!;
    key[k + 9] = ((this.dnatToPort[fwd]! << 16) | (key[k + 9]! & 0xffff)) >>> 0;
    const id = this.conntrack.create(key, 0, key, k, now);
    if (id < 0) return drop(id === -1 ? DropReason.TableFull : DropReason.Invalid);
    c[C_DNAT_NEW]!++;
    this.translate(b, f, id, 0, c);
    return out;
  }

  /** Outer ICMP checksum being patched by {@link put16}. */
  private acc = 0;

  /** Write a 16-bit word inside an ICMP error's quote, folding the change into the ICMP checksum (RFC 1624). */
  private put16(b: Uint8Array, at: number, v: number): void {
    const old = rd16(b, at);
    if (old === v) return;
    this.acc = checksumUpdate16(this.acc, old, v);
    wr16(b, at, v);
  }

  /**
   * Translate an ICMP error (RFC 792 types 3, 4, 5, 11, 12) that quotes a
   * packet of a tracked connection, as RFC 5508 §4.2 asks: the quoted packet
   * is the connection's packet as it was on the side the error comes from,
   * so it is rewritten to the other side's form (the reverse of the key it
   * matches), and the outer address that stood for the NATed host is
   * translated; the error's own source (a router on the path) is kept.
   */
  private translateError(b: Uint8Array, f: FlowInfo, port: number, now: number, c: Float64Array): number {
    const key = this.key;
    const k = FLOW_KEY_WORDS;
    const q = f.l4 + 8;
    const il4 = quotedFlowKey(b, q, f.ipEnd, 4, key, k);
    if (il4 < 0) return drop(DropReason.Malformed);
    // The quoted packet travelled opposite to the error: its reverse is a key of the error's direction.
    reverseKey(key, k, key, 0);
    const ct = this.conntrack;
    const v = ct.lookup(key, 0, now);
    if (v < 0) return drop(DropReason.NoMapping);
    const id = v >> 1;
    const dir = v & 1;
    const o = id * FLOW_KEY_WORDS;
    // Quoted packet := the other direction's key (it is the tuple before translation).
    const target = dir === 1 ? ct.orig : ct.reply;
    const iproto = b[q + 9]!;
    const avail = f.ipEnd - il4;
    const l4csAt = iproto === PROTO_TCP ? il4 + 16 : iproto === PROTO_UDP ? il4 + 6 : il4 + 2;
    const hasL4cs = l4csAt + 2 <= il4 + avail && !(iproto === PROTO_UDP && rd16(b, l4csAt) === 0);
    this.acc = rd16(b, f.l4 + 2);
    let ipcs = rd16(b, q + 10);
    let l4cs = hasL4cs ? rd16(b, l4csAt) : 0;
    const pseudo = iproto === PROTO_TCP || iproto === PROTO_UDP;
    for (let a = 0; a < 2; a++) {
      const at = q + 12 + a * 4;
      const nv = target[o + 4 + a * 4]!;
      const ov = rd32(b, at);
      if (ov === nv) continue;
      ipcs = checksumUpdate32(ipcs, ov, nv);
      if (hasL4cs && pseudo) l4cs = checksumUpdate32(l4cs, ov, nv);
      this.put16(b, at, nv >>> 16);
      this.put16(b, at + 2, nv & 0xffff);
    }
    // Ports (TCP/UDP: both; ICMP echo: the identifier) from the target key's port word.
    const ports = target[o + 9]!;
    const nWords = iproto === PROTO_ICMP ? 1 : pseudo ? 2 : 0;
    for (let w = 0; w < nWords; w++) {
      const at = iproto === PROTO_ICMP ? il4 + 4 : il4 + 2 * w;
      const nv = w === 0 ? ports >>> 16 : ports & 0xffff;
      const ov = rd16(b, at);
      if (ov === nv) continue;
      if (hasL4cs) l4cs = checksumUpdate16(l4cs, ov, nv);
      this.put16(b, at, nv);
    }
    this.put16(b, q + 10, ipcs);
    if (hasL4cs) this.put16(b, l4csAt, iproto === PROTO_UDP && l4cs === 0 ? 0xffff : l4cs);
    // Outer header, as for a packet of this direction: the destination (the quoted packet's
    // sender) always; the source only when it is the connection's own end, not a router on the path.
    const ip = f.l3;
    const own = dir === 1 ? ct.reply : ct.orig;
    let ipcsOut = rd16(b, ip + 10);
    const oldDst = rd32(b, ip + 16);
    if (oldDst !== target[o + 4]!) {
      ipcsOut = checksumUpdate32(ipcsOut, oldDst, target[o + 4]!);
      wr32(b, ip + 16, target[o + 4]!);
    }
    const oldSrc = rd32(b, ip + 12);
    if (oldSrc === own[o + 4]! && oldSrc !== target[o + 8]!) {
      ipcsOut = checksumUpdate32(ipcsOut, oldSrc, target[o + 8]!);
      wr32(b, ip + 12, target[o + 8]!);
    }
    wr16(b, ip + 10, ipcsOut);
    wr16(b, f.l4 + 2, this.acc);
    c[C_TRANSLATED]!++;
    return port ^ 1;
  }

  /** Rewrite the packet of connection `id` in direction `dir` to the reverse of the other direction's key. */
  private translate(b: Uint8Array, f: FlowInfo, id: number, dir: number, c: Float64Array): void {
    const other = dir === 0 ? this.conntrack.reply : this.conntrack.orig;
    const o = id * FLOW_KEY_WORDS;
    const newSrc = other[o + 8]!;
    const newDst = other[o + 4]!;
    const ports = other[o + 9]!;
    const ip = f.l3;
    const l4 = f.l4;
    const proto = f.proto;
    const oldSrc = rd32(b, ip + 12);
    const oldDst = rd32(b, ip + 16);
    // L4 checksum offset: TCP 16, UDP 6 (0 means none), ICMP 2 (no pseudo-header).
    const csOff = proto === PROTO_TCP ? l4 + 16 : proto === PROTO_UDP ? l4 + 6 : l4 + 2;
    let l4cs = rd16(b, csOff);
    const hasL4cs = !(proto === PROTO_UDP && l4cs === 0);
    let ipcs = rd16(b, ip + 10);
    let changed = false;
    if (oldSrc !== newSrc) {
      ipcs = checksumUpdate32(ipcs, oldSrc, newSrc);
      if (proto !== PROTO_ICMP && hasL4cs) l4cs = checksumUpdate32(l4cs, oldSrc, newSrc);
      wr32(b, ip + 12, newSrc);
      changed = true;
    }
    if (oldDst !== newDst) {
      ipcs = checksumUpdate32(ipcs, oldDst, newDst);
      if (proto !== PROTO_ICMP && hasL4cs) l4cs = checksumUpdate32(l4cs, oldDst, newDst);
      wr32(b, ip + 16, newDst);
      changed = true;
    }
    if (proto === PROTO_ICMP) {
      const newId = ports >>> 16;
      const oldId = rd16(b, l4 + 4);
      if (oldId !== newId) {
        l4cs = checksumUpdate16(l4cs, oldId, newId);
        wr16(b, l4 + 4, newId);
        changed = true;
      }
    } else {
      // The reverse of the other key: its destination port is our source port.
      const newSport = ports & 0xffff;
      const newDport = ports >>> 16;
      const oldSport = rd16(b, l4);
      const oldDport = rd16(b, l4 + 2);
      if (oldSport !== newSport) {
        if (hasL4cs) l4cs = checksumUpdate16(l4cs, oldSport, newSport);
        wr16(b, l4, newSport);
        changed = true;
      }
      if (oldDport !== newDport) {
        if (hasL4cs) l4cs = checksumUpdate16(l4cs, oldDport, newDport);
        wr16(b, l4 + 2, newDport);
        changed = true;
      }
    }
    if (!changed) return;
    wr16(b, ip + 10, ipcs);
    if (hasL4cs) wr16(b, csOff, proto === PROTO_UDP && l4cs === 0 ? 0xffff : l4cs);
    c[C_TRANSLATED]!++;
  }
}
