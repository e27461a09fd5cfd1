/**
 * Rule actions (shaped like DPDK rte_flow's, but our own) and their
 * validation against a device's capabilities.
 *
 * A rule has exactly one fate action (queue, rss, vport, uplink, drop,
 * jump) and any of the non-fate actions at most once each. Non-fate actions
 * gather along a jump chain: a later rule's action of the same kind replaces
 * an earlier one, and VLAN push/pop (or VXLAN encap/decap) replace each other.
 */
import { refuse, type Refusal } from "../errors.js";
import { parseIpv4, parseIpv6, parseMac, VXLAN_UDP_PORT } from "../flow-key.js";
import { VIRTIO_NET_HASH_TYPE_IPv4, VIRTIO_NET_HASH_TYPE_IPv6, VIRTIO_NET_HASH_TYPE_TCPv4, VIRTIO_NET_HASH_TYPE_TCPv6, VIRTIO_NET_HASH_TYPE_UDPv4, VIRTIO_NET_HASH_TYPE_UDPv6 } from "../rss.js";
import { FATE_ACTIONS, type ActionType, type ClassifierCaps } from "./caps.js";
import {
  FATE_DROP,
  FATE_QUEUE,
  FATE_RSS,
  FATE_UPLINK,
  FATE_VPORT,
  MIRROR_UPLINK,
  VA_COUNT,
  VA_MARK,
  VA_MIRROR,
  VA_VLAN_POP,
  VA_VLAN_PUSH,
  VA_VXLAN_DECAP,
  VA_VXLAN_ENCAP,
} from "./verdict.js";

/** Outer headers a `vxlanEncap` action prepends (RFC 7348 §5: Ethernet / IP / UDP 4789 / VXLAN). */
export interface VxlanEncapTemplate {
  readonly srcMac: number | string;
  readonly dstMac: number | string;
  /** IPv4 or IPv6 text; both addresses of one family. */
  readonly srcIp: string;
  readonly dstIp: string;
  /** VXLAN network identifier, 24 bits. */
  readonly vni: number;
  /** UDP source port; 0 (default) lets the device derive it from the inner flow's hash, as RFC 7348 §5 recommends. */
  readonly srcPort?: number;
  /** UDP destination port; default 4789. */
  readonly dstPort?: number;
  /** IP TTL / hop limit; default 64. */
  readonly ttl?: number;
  /** Outer VLAN TCI, if the underlay is tagged. */
  readonly vlanTci?: number;
}

export type MirrorTarget = { readonly vport: number } | "uplink";

export type FlowAction =
  | { readonly type: "queue"; readonly index: number }
  | {
      readonly type: "rss";
      /** Receive queues to spread over (indirection table filled round robin). */
      readonly queues: readonly number[];
      /** VIRTIO_NET_HASH_TYPE_* bits; default IPv4/TCPv4/UDPv4/IPv6/TCPv6/UDPv6. */
      readonly hashTypes?: number;
      /** Toeplitz key; default the 40-byte default key. */
      readonly key?: readonly number[];
      /** Hash VXLAN frames on their inner headers. */
      readonly innerHash?: boolean;
    }
  | { readonly type: "vport"; readonly id: number }
  | { readonly type: "uplink" }
  | { readonly type: "drop" }
  | { readonly type: "jump"; readonly table: number }
  | { readonly type: "mark"; readonly id: number }
  | { readonly type: "count" }
  | { readonly type: "vlanPush"; readonly vid: number; readonly pcp?: number; readonly dei?: number }
  | { readonly type: "vlanPop" }
  | { readonly type: "vxlanEncap"; readonly template: VxlanEncapTemplate }
  | { readonly type: "vxlanDecap" }
  | { readonly type: "mirror"; readonly to: MirrorTarget };

/** Default hash types of an `rss` action. */
export const DEFAULT_RSS_ACTION_HASH_TYPES =
  VIRTIO_NET_HASH_TYPE_IPv4 | VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_UDPv4 | VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_TCPv6 | VIRTIO_NET_HASH_TYPE_UDPv6;

/** Internal fate value of a jump (never in a verdict). */
export const FATE_JUMP = 6;

/** A validated encap template in wire form. */
export interface EncapTemplate {
  readonly srcMac: number;
  readonly dstMac: number;
  readonly ipVersion: 4 | 6;
  /** Addresses as four words each (IPv4 in word 0). */
  readonly srcIp: Uint32Array;
  readonly dstIp: Uint32Array;
  readonly vni: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly ttl: number;
  readonly vlanTci: number | undefined;
}

export interface RssSpec {
  readonly queues: readonly number[];
  readonly hashTypes: number;
  readonly key: readonly number[] | undefined;
  readonly innerHash: boolean;
  /** Identity for sharing one context between rules. */
  readonly signature: string;
}

/** Actions compiled to what the datapath stores per rule. */
export interface PreparedActions {
  readonly fate: number;
  /** Queue index, vport id or jump target (RSS context is bound at install). */
  readonly arg: number;
  readonly flags: number;
  readonly mark: number;
  readonly vlanTci: number;
  readonly mirror: number;
  readonly rss: RssSpec | undefined;
  readonly encap: { readonly template: EncapTemplate; readonly signature: string } | undefined;
}

const isU = (v: unknown, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

function prepareEncap(t: VxlanEncapTemplate): EncapTemplate | string {
  let srcMac: number;
  let dstMac: number;
  try {
    srcMac = typeof t.srcMac === "string" ? parseMac(t.srcMac) : t.srcMac;
    dstMac = typeof t.dstMac === "string" ? parseMac(t.dstMac) : t.dstMac;
  } catch (e) {
    return `vxlanEncap: ${(e as Error).message}`;
  }
  if (!isU(srcMac, 2 ** 48 - 1) || !isU(dstMac, 2 ** 48 - 1)) return "vxlanEncap: MAC addresses must be 48-bit";
  const v6 = t.srcIp.includes(":");
  if (v6 !== t.dstIp.includes(":")) return "vxlanEncap: source and destination IPs must be of one family";
  const srcIp = new Uint32Array(4);
  const dstIp = new Uint32Array(4);
  if (v6) {
    const s = parseIpv6(t.srcIp);
    const d = parseIpv6(t.dstIp);
    if (s === undefined || d === undefined) return "vxlanEncap: bad IPv6 address";
    srcIp.set(s);
    dstIp.set(d);
  } else {
    const s = parseIpv4(t.srcIp);
    const d = parseIpv4(t.dstIp);
    if (s === undefined || d === undefined) return "vxlanEncap: bad IPv4 address";
    srcIp[0] = s;
    dstIp[0] = d;
  }
  if (!isU(t.vni, 0xffffff)) return `vxlanEncap: VNI ${t.vni} is not 24-bit`;
  const srcPort = t.srcPort ?? 0;
  const dstPort = t.dstPort ?? VXLAN_UDP_PORT;
  const ttl = t.ttl ?? 64;
  if (!isU(srcPort, 0xffff) || !isU(dstPort, 0xffff)) return "vxlanEncap: UDP ports must be 16-bit";
  if (!isU(ttl, 255) || ttl === 0) return "vxlanEncap: TTL must be 1..255";
  if (t.vlanTci !== undefined && !isU(t.vlanTci, 0xffff)) return "vxlanEncap: VLAN TCI must be 16-bit";
  return { srcMac, dstMac, ipVersion: v6 ? 6 : 4, srcIp, dstIp, vni: t.vni, srcPort, dstPort, ttl, vlanTci: t.vlanTci };
}

/** What {@link prepareActions} needs to know about the rule's table and match. */
export interface ActionContext {
  readonly table: number;
  readonly tableActions: ReadonlySet<ActionType>;
  readonly caps: ClassifierCaps;
  /** The tunnel flag's value in the rule's match, if the match constrains it. */
  readonly matchTunnel: boolean;
}

/** Validate a rule's actions and compile them; refuses what the device cannot express. */
export function prepareActions(actions: readonly FlowAction[], ctx: ActionContext): PreparedActions | Refusal {
  if (!Array.isArray(actions)) return refuse("malformed", "actions must be an array");
  const label = `table ${ctx.table}`;
  const seen = new Set<ActionType>();
  const fates: ActionType[] = [];
  let fate = -1;
  let arg = 0;
  let flags = 0;
  let mark = 0;
  let vlanTci = 0;
  let mirror = 0;
  let rss: RssSpec | undefined;
  let encap: PreparedActions["encap"];
  const caps = ctx.caps;
  for (const a of actions) {
    const type = (a as { type?: unknown }).type;
    if (typeof type !== "string" || !(FATE_ACTIONS.has(type as ActionType) || ["mark", "count", "vlanPush", "vlanPop", "vxlanEncap", "vxlanDecap", "mirror"].includes(type))) {
      return refuse("malformed", `unknown action type ${JSON.stringify(type)}`);
    }
    const t = type as ActionType;
    if (!ctx.tableActions.has(t)) return refuse("unsupported", `${label} does not support the ${t} action`);
    if (seen.has(t)) return refuse("unsupported", `action ${t} appears twice`);
    seen.add(t);
    if (FATE_ACTIONS.has(t)) fates.push(t);
    switch (a.type) {
      case "queue":
        if (!isU(a.index, caps.queues - 1)) return refuse("malformed", `queue ${a.index} is not a receive queue below ${caps.queues}`);
        fate = FATE_QUEUE;
        arg = a.index;
        break;
      case "rss": {
        const qs = a.queues;
        if (!Array.isArray(qs) || qs.length === 0) return refuse("malformed", "rss needs at least one queue");
        if (qs.length > caps.rss.maxIndirectionTableLength) {
          return refuse("unsupported", `rss over ${qs.length} queues exceeds the indirection table length ${caps.rss.maxIndirectionTableLength}`);
        }
        for (const q of qs) {
          if (!isU(q, Math.min(caps.queues, caps.rss.maxQueuePairs) - 1)) return refuse("malformed", `rss queue ${q} is not a receive queue below ${Math.min(caps.queues, caps.rss.maxQueuePairs)}`);
        }
        const hashTypes = a.hashTypes ?? DEFAULT_RSS_ACTION_HASH_TYPES & caps.rss.supportedHashTypes;
        if (!isU(hashTypes, 0xffffffff)) return refuse("malformed", `rss hash types ${hashTypes} is not a u32`);
        if ((hashTypes & ~caps.rss.supportedHashTypes) !== 0) return refuse("unsupported", `rss hash types 0x${hashTypes.toString(16)} include types the device does not support`);
        if (a.key !== undefined) {
          if (!Array.isArray(a.key) || a.key.length === 0 || a.key.some((b: number) => !isU(b, 255))) return refuse("malformed", "rss key must be an array of bytes");
          if (a.key.length > caps.rss.maxKeySize) return refuse("unsupported", `rss key of ${a.key.length} bytes exceeds the device's ${caps.rss.maxKeySize}`);
        }
        const innerHash = a.innerHash ?? false;
        rss = {
          queues: [...qs],
          hashTypes,
          key: a.key === undefined ? undefined : [...a.key],
          innerHash,
          signature: `${qs.join(",")}|${hashTypes}|${a.key?.join(",") ?? "default"}|${innerHash}`,
        };
        fate = FATE_RSS;
        break;
      }
      case "vport":
        if (!isU(a.id, caps.vports - 1)) return refuse("malformed", `vport ${a.id} is not below ${caps.vports}`);
        fate = FATE_VPORT;
        arg = a.id;
        break;
      case "uplink":
        fate = FATE_UPLINK;
        break;
      case "drop":
        fate = FATE_DROP;
        break;
      case "jump":
        if (!Number.isInteger(a.table)) return refuse("malformed", `jump target ${a.table} is not a table id`);
        if (a.table <= ctx.table) return refuse("unsupported", `jump from ${label} to table ${a.table}: jumps go only to higher table ids, so rule sets cannot loop`);
        if (a.table >= caps.tables.length) return refuse("malformed", `jump target table ${a.table} does not exist (the device has ${caps.tables.length})`);
        fate = FATE_JUMP;
        arg = a.table;
        break;
      case "mark":
        if (!isU(a.id, 0xffffffff)) return refuse("malformed", `mark ${a.id} is not a u32`);
        flags |= VA_MARK;
        mark = a.id;
        break;
      case "count":
        flags |= VA_COUNT;
        break;
      case "vlanPush": {
        const pcp = a.pcp ?? 0;
        const dei = a.dei ?? 0;
        if (!isU(a.vid, 4095) || !isU(pcp, 7) || !isU(dei, 1)) return refuse("malformed", "vlanPush needs vid 0..4095, pcp 0..7, dei 0..1");
        flags |= VA_VLAN_PUSH;
        vlanTci = (pcp << 13) | (dei << 12) | a.vid;
        break;
      }
      case "vlanPop":
        flags |= VA_VLAN_POP;
        break;
      case "vxlanEncap": {
        const tpl = prepareEncap(a.template);
        if (typeof tpl === "string") return refuse("malformed", tpl);
        flags |= VA_VXLAN_ENCAP;
        encap = {
          template: tpl,
          signature: JSON.stringify({ ...tpl, srcIp: [...tpl.srcIp], dstIp: [...tpl.dstIp] }),
        };
        break;
      }
      case "vxlanDecap":
        flags |= VA_VXLAN_DECAP;
        break;
      case "mirror": {
        const to = a.to;
        if (to === "uplink") mirror = MIRROR_UPLINK;
        else if (typeof to === "object" && to !== null && isU(to.vport, caps.vports - 1)) mirror = to.vport;
        else return refuse("malformed", `mirror target must be "uplink" or { vport } below ${caps.vports}`);
        flags |= VA_MIRROR;
        break;
      }
    }
  }
  if (fates.length === 0) return refuse("malformed", "a rule needs exactly one fate action (queue, rss, vport, uplink, drop or jump); it has none");
  if (fates.length > 1) return refuse("unsupported", `a rule needs exactly one fate action; it has ${fates.join(" and ")}`);
  if (flags & VA_VLAN_PUSH && flags & VA_VLAN_POP) return refuse("unsupported", "vlanPush and vlanPop in one rule");
  if (flags & VA_VXLAN_ENCAP && flags & VA_VXLAN_DECAP) return refuse("unsupported", "vxlanEncap and vxlanDecap in one rule");
  if (fate === FATE_DROP && flags & (VA_VLAN_PUSH | VA_VLAN_POP | VA_VXLAN_ENCAP | VA_VXLAN_DECAP)) {
    return refuse("unsupported", "drop with packet-modifying actions (vlan push/pop, vxlan encap/decap)");
  }
  if (flags & VA_VXLAN_DECAP && !ctx.matchTunnel) {
    return refuse("unsupported", "vxlanDecap needs a match on a VXLAN tunnel (tunnel: 1 or a vni)");
  }
  return { fate, arg, flags, mark, vlanTci, mirror, rss, encap };
}
