/**
 * Ordered 5-tuple access-control rules: the first rule that matches decides,
 * else the default action. Rules are compiled into typed arrays at setup; a
 * match walks them in order (new connections only, when the firewall tracks
 * state: established traffic is admitted by the connection table).
 */
import { z } from "zod";
import { wordMask } from "./addr.js";
import { type PortRange, zPortIndex, zPortRange, zPrefix, zProto } from "./config.js";
import { PROTO_TCP, PROTO_UDP } from "./internal/parse.js";

export const AclRuleSchema = z
  .object({
    /** `accept` or `drop`. */
    action: z.enum(["accept", "drop"]),
    /** `tcp`, `udp`, `icmp`, `icmpv6`, a protocol number, or `any` (default). */
    proto: zProto.default("any"),
    /** Source prefix (IPv4 or IPv6); absent matches any address of either family. */
    src: zPrefix.optional(),
    /** Destination prefix. */
    dst: zPrefix.optional(),
    /** Source port or range (`"1024-65535"`); a rule with ports matches only TCP and UDP. */
    srcPorts: zPortRange.optional(),
    /** Destination port or range. */
    dstPorts: zPortRange.optional(),
    /** Only packets arriving on this port. */
    inPort: zPortIndex.optional(),
    /** Free text shown in rule listings. */
    comment: z.string().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    // After a failed field its value is zod's aborted marker, without a family.
    if (r.src?.family !== undefined && r.dst?.family !== undefined && r.src.family !== r.dst.family)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["dst"], message: `is IPv${r.dst.family} but src is IPv${r.src.family}` });
    if ((r.srcPorts || r.dstPorts) && r.proto !== -1 && r.proto !== PROTO_TCP && r.proto !== PROTO_UDP)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["proto"], message: "port ranges need proto tcp, udp or any" });
  });
export type AclRule = z.input<typeof AclRuleSchema>;
type AclRuleOut = z.output<typeof AclRuleSchema>;

export const ACCEPT = 1;
export const DENY = 0;

/** Compiled rule set. */
export class Acl {
  readonly size: number;
  /** Hits per rule (index-aligned with the configuration's rules). */
  readonly hits: Float64Array;
  private readonly family: Uint8Array;
  private readonly proto: Int16Array;
  private readonly src: Uint32Array;
  private readonly srcMask: Uint32Array;
  private readonly dst: Uint32Array;
  private readonly dstMask: Uint32Array;
  private readonly ports: Uint16Array;
  private readonly hasPorts: Uint8Array;
  private readonly inPort: Int32Array;
  private readonly action: Uint8Array;
  readonly defaultAction: number;

  constructor(rules: readonly AclRuleOut[], defaultAction: "accept" | "drop") {
    const n = rules.length;
    this.size = n;
    this.hits = new Float64Array(n);
    this.family = new Uint8Array(n);
    this.proto = new Int16Array(n);
    this.src = new Uint32Array(n * 4);
    this.srcMask = new Uint32Array(n * 4);
    this.dst = new Uint32Array(n * 4);
    this.dstMask = new Uint32Array(n * 4);
    this.ports = new Uint16Array(n * 4);
    this.hasPorts = new Uint8Array(n);
    this.inPort = new Int32Array(n);
    this.action = new Uint8Array(n);
    this.defaultAction = defaultAction === "accept" ? ACCEPT : DENY;
    rules.forEach((r, i) => {
      this.family[i] = r.src?.family ?? r.dst?.family ?? 0;
      this.proto[i] = r.proto;
      for (const [p, a, m] of [
        [r.src, this.src, this.srcMask],
        [r.dst, this.dst, this.dstMask],
      ] as const) {
        if (!p) continue;
        const l128 = p.family === 4 ? 96 + p.len : p.len;
        for (let k = 0; k < 4; k++) {
          m[i * 4 + k] = wordMask(l128, k);
          a[i * 4 + k] = (p.words[k]! & m[i * 4 + k]!) >>> 0;
        }
      }
      const sp: PortRange = r.srcPorts ?? { lo: 0, hi: 65535 };
      const dp: PortRange = r.dstPorts ?? { lo: 0, hi: 65535 };
      this.ports.set([sp.lo, sp.hi, dp.lo, dp.hi], i * 4);
      this.hasPorts[i] = r.srcPorts || r.dstPorts ? 1 : 0;
      this.inPort[i] = r.inPort ?? -1;
      this.action[i] = r.action === "accept" ? ACCEPT : DENY;
    });
  }

  /**
   * First rule matching the flow key at `key[ko ..]` (as written by
   * `flowKey`) arriving on `inPort`; returns the rule index or -1.
   */
  match(key: Uint32Array, ko: number, inPort: number): number {
    const kw = key[ko]!;
    const proto = kw & 0xff;
    const fam = kw >>> 8;
    const sport = key[ko + 9]! >>> 16;
    const dport = key[ko + 9]! & 0xffff;
    const portful = proto === PROTO_TCP || proto === PROTO_UDP;
    const { family, src, srcMask, dst, dstMask, ports } = this;
    outer: for (let i = 0; i < this.size; i++) {
      const f = family[i]!;
      if (f !== 0 && f !== fam) continue;
      const p = this.proto[i]!;
      if (p !== -1 && p !== proto) continue;
      const ip = this.inPort[i]!;
      if (ip !== -1 && ip !== inPort) continue;
      const b = i * 4;
      for (let k = 0; k < 4; k++) {
        if (((key[ko + 1 + k]! & srcMask[b + k]!) >>> 0) !== src[b + k]) continue outer;
        if (((key[ko + 5 + k]! & dstMask[b + k]!) >>> 0) !== dst[b + k]) continue outer;
      }
      if (this.hasPorts[i]) {
        if (!portful) continue;
        if (sport < ports[b]! || sport > ports[b + 1]! || dport < ports[b + 2]! || dport > ports[b + 3]!) continue;
      }
      return i;
    }
    return -1;
  }

  /** Action (ACCEPT/DENY) for a flow, counting the rule hit. */
  decide(key: Uint32Array, ko: number, inPort: number): number {
    const i = this.match(key, ko, inPort);
    if (i < 0) return this.defaultAction;
    this.hits[i]!++;
    return this.action[i]!;
  }
}
