/**
 * Stateful firewall: ordered ACL rules (first match, default action) for new
 * connections, plus connection tracking ({@link ConnTrack}) so that packets
 * of accepted connections, in both directions, pass without consulting the
 * rules, and ICMP errors quoting a tracked connection pass as related
 * (RFC 792, RFC 4443 §2.4: the error carries the offending packet's header).
 *
 * A bump in the wire: a packet arriving on port `i` leaves on port `i ^ 1`
 * unchanged. Fragments are dropped (no reassembly); frames that are not IP
 * (ARP, LLDP) are forwarded or dropped by `nonIp`; ICMP messages that are
 * neither echo nor errors (neighbour discovery, router advertisements) are
 * judged by the rules on every packet and not tracked.
 */
import { z } from "zod";
import { ACCEPT, Acl, AclRuleSchema } from "./acl.js";
import type { PacketBurst } from "./burst.js";
import { parseConfig } from "./config.js";
import { ConnTrack, ConnTrackConfigSchema, CT_INVALID } from "./conntrack.js";
import { Counters, EXTRA_BASE, vnfCounterNames } from "./counters.js";
import { FLOW_KEY_WORDS, FlowInfo, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, flowKey, isEcho, isIcmpError, parseFlow, quotedFlowKey, reverseKey } from "./internal/parse.js";
import { DropReason, drop } from "./verdict.js";
import { type Clock, type Vnf, type VnfOptions, defaultClock, tally } from "./vnf.js";

export const FirewallConfigSchema = z
  .object({
    /** Number of ports (even); port `i` forwards to `i ^ 1`. Default 2. */
    ports: z.number().int().min(2).max(65536).multipleOf(2).default(2),
    /** Ordered rules; the first match decides. */
    rules: z.array(AclRuleSchema).max(100000).default([]),
    /** Action when no rule matches. Default `drop`. */
    defaultAction: z.enum(["accept", "drop"]).default("drop"),
    /** Track connections (default true); when false every packet is judged by the rules. */
    stateful: z.boolean().default(true),
    conntrack: ConnTrackConfigSchema.default({}),
    /** Frames that are not IPv4/IPv6 (ARP, ...): `forward` (default) or `drop`. */
    nonIp: z.enum(["forward", "drop"]).default("forward"),
  })
  .strict();
export type FirewallConfig = z.input<typeof FirewallConfigSchema>;

const C_NEW = EXTRA_BASE;
const C_ESTABLISHED = EXTRA_BASE + 1;
const C_RELATED = EXTRA_BASE + 2;
const C_UNTRACKED = EXTRA_BASE + 3;
const C_NON_IP = EXTRA_BASE + 4;
const C_CT_CREATED = EXTRA_BASE + 5;
const C_CT_EXPIRED = EXTRA_BASE + 6;
const C_CT_EVICTED = EXTRA_BASE + 7;
const C_CT_REFUSED = EXTRA_BASE + 8;
const C_CT_ACTIVE = EXTRA_BASE + 9;
const FW_COUNTERS = ["new", "established", "related", "untracked", "non-ip", "ct.created", "ct.expired", "ct.evicted", "ct.refused", "ct.active"];

export class Firewall implements Vnf {
  readonly kind = "firewall";
  readonly portCount: number;
  readonly counters = new Counters(vnfCounterNames(FW_COUNTERS));
  readonly outbox = null;
  readonly acl: Acl;
  /** The connection table (null when stateless). */
  readonly conntrack: ConnTrack | null;
  private readonly clock: Clock;
  private readonly forwardNonIp: boolean;
  private readonly f = new FlowInfo();
  private readonly key = new Uint32Array(FLOW_KEY_WORDS * 2);

  constructor(config: FirewallConfig = {}, opts: VnfOptions = {}) {
    const c = parseConfig(FirewallConfigSchema, config);
    this.portCount = c.ports;
    this.acl = new Acl(c.rules, c.defaultAction);
    this.conntrack = c.stateful ? new ConnTrack(c.conntrack) : null;
    this.clock = opts.clock ?? defaultClock;
    this.forwardNonIp = c.nonIp === "forward";
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const c = this.counters.values;
    const ct = this.conntrack;
    const now = ct ? this.clock() : 0;
    for (let i = 0; i < n; i++) {
      const port = ports[i]!;
      if (port >= this.portCount) {
        verdicts[i] = drop(DropReason.BadPort);
        continue;
      }
      verdicts[i] = this.one(bufs[i]!, offsets[i]!, lengths[i]!, port, now, c);
    }
    if (ct) {
      ct.sweep(now, 32);
      c[C_CT_CREATED] = ct.created;
      c[C_CT_EXPIRED] = ct.expired;
      c[C_CT_EVICTED] = ct.evicted;
      c[C_CT_REFUSED] = ct.refused;
      c[C_CT_ACTIVE] = ct.size;
    }
    return tally(c, verdicts, n);
  }

  private one(b: Uint8Array, off: number, len: number, port: number, now: number, c: Float64Array): number {
    const f = this.f;
    const r = parseFlow(b, off, len, f);
    const out = port ^ 1;
    if (r >= 0) {
      if (f.family === 0 && r === DropReason.Unsupported) {
        c[C_NON_IP]!++;
        return this.forwardNonIp ? out : drop(DropReason.Unsupported);
      }
      return drop(r as DropReason);
    }
    const key = this.key;
    flowKey(b, f, key, 0);
    const ct = this.conntrack;
    const icmp = f.proto === PROTO_ICMP || f.proto === PROTO_ICMPV6;
    if (ct === null || (icmp && !isEcho(f) && !isIcmpError(f))) {
      c[C_UNTRACKED]!++;
      return this.acl.decide(key, 0, port) === ACCEPT ? out : drop(DropReason.AclDeny);
    }
    const v = ct.lookup(key, 0, now);
    if (v >= 0) {
      if (ct.update(v >> 1, v & 1, f.tcpFlags, now) === CT_INVALID) return drop(DropReason.Invalid);
      c[C_ESTABLISHED]!++;
      return out;
    }
    if (icmp && isIcmpError(f) && this.related(b, f.l4 + 8, f.ipEnd, f.family, now)) {
      c[C_RELATED]!++;
      return out;
    }
    if (this.acl.decide(key, 0, port) !== ACCEPT) return drop(DropReason.AclDeny);
    if (f.proto === PROTO_TCP && (f.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN) return drop(DropReason.Invalid);
    if (icmp && isIcmpError(f)) {
      // Accepted by a rule but quoting no connection: pass without tracking.
      c[C_UNTRACKED]!++;
      return out;
    }
    reverseKey(key, 0, key, FLOW_KEY_WORDS);
    const id = ct.create(key, 0, key, FLOW_KEY_WORDS, now);
    if (id < 0) return drop(id === -1 ? DropReason.TableFull : DropReason.Invalid);
    c[C_NEW]!++;
    return out;
  }

  /** Whether the packet quoted by an ICMP error (IP header at `q`) belongs to a tracked connection. */
  private related(b: Uint8Array, q: number, end: number, family: number, now: number): boolean {
    if (quotedFlowKey(b, q, end, family, this.key, FLOW_KEY_WORDS) < 0) return false;
    return this.conntrack!.lookup(this.key, FLOW_KEY_WORDS, now) >= 0;
  }
}
