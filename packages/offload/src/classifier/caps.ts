/**
 * Device capability description for the classifier: what tables a device
 * has, how big they are, and which fields and actions each can hold. A
 * device profile declares one of these; the classifier refuses any rule the
 * declared device could not hold or express.
 */
import { DEFAULT_RSS_CAPS, type RssCaps } from "../rss.js";
import { FLOW_FIELDS, type FlowField, type KeyFieldSpec } from "./fields.js";

/** Every action type, fate actions first. */
export const ACTION_TYPES = [
  "queue",
  "rss",
  "vport",
  "uplink",
  "drop",
  "jump",
  "mark",
  "count",
  "vlanPush",
  "vlanPop",
  "vxlanEncap",
  "vxlanDecap",
  "mirror",
] as const;

export type ActionType = (typeof ACTION_TYPES)[number];

/** Actions that decide where a packet goes; a rule has exactly one. */
export const FATE_ACTIONS: ReadonlySet<ActionType> = new Set<ActionType>(["queue", "rss", "vport", "uplink", "drop", "jump"]);

export interface TableCaps {
  /** "exact": hash table on a declared key; "wildcard": priority-ordered value/mask entries (TCAM). */
  readonly kind: "exact" | "wildcard";
  /** Entries the table holds. For a wildcard table, each expanded range prefix is one entry. */
  readonly capacity: number;
  /** Fields the table can match on. */
  readonly fields: readonly FlowField[];
  /** Actions rules in this table may use. */
  readonly actions: readonly ActionType[];
  /** Wildcard tables: "arbitrary" bit masks (default) or "prefix" masks only. */
  readonly masks?: "arbitrary" | "prefix";
  /**
   * Wildcard tables: most entries one rule may expand to through ranges
   * (TCAMs have no native range match; the driver expands ranges into
   * prefixes). 0 or absent: ranges are refused.
   */
  readonly rangeExpansion?: number;
  /** Wildcard tables: number of priority levels (priority < this); default 65536. */
  readonly priorities?: number;
  /** Exact tables: the key the device uses unless the table is configured with another. */
  readonly defaultKey?: readonly (FlowField | KeyFieldSpec)[];
}

export interface ClassifierCaps {
  /** Profile name, for messages. */
  readonly name: string;
  /** Table 0 is the root every packet starts in; jumps go to higher ids only. */
  readonly tables: readonly TableCaps[];
  /** Tables one packet may visit (the pipeline's lookup stages): 1 + the longest jump chain. */
  readonly maxLookups: number;
  /** Flow counters (one per rule with a `count` action). */
  readonly counters: number;
  /** Distinct RSS action contexts (queue set + hash types + key). */
  readonly rssContexts: number;
  /** RSS limits: key size, indirection table length, hash types, receive queues. */
  readonly rss: RssCaps;
  /** `queue` actions name a receive queue below this. */
  readonly queues: number;
  /** `vport` and mirror targets name a vport below this. */
  readonly vports: number;
  /** Distinct VXLAN encapsulation templates. */
  readonly encapTemplates: number;
}

const ALL_ACTIONS: readonly ActionType[] = ACTION_TYPES;

/**
 * A generic SmartNIC-like profile: a 4K-entry TCAM root table, a 1M-entry
 * exact-match flow table on the 5-tuple fields, and a 1K-entry TCAM for
 * per-tenant policy, three lookups deep. The figures are round numbers of
 * the order public SmartNIC datasheets quote, not any one product's.
 */
export const GENERIC_SMARTNIC_CAPS: ClassifierCaps = Object.freeze({
  name: "generic-smartnic",
  tables: Object.freeze([
    Object.freeze({ kind: "wildcard", capacity: 4096, fields: FLOW_FIELDS, actions: ALL_ACTIONS, masks: "arbitrary", rangeExpansion: 64, priorities: 65536 }),
    Object.freeze({
      kind: "exact",
      capacity: 1 << 20,
      fields: FLOW_FIELDS,
      actions: ALL_ACTIONS,
      defaultKey: Object.freeze(["srcIpv4", "dstIpv4", "ipProto", "srcPort", "dstPort"] as const),
    }),
    Object.freeze({ kind: "wildcard", capacity: 1024, fields: FLOW_FIELDS, actions: ALL_ACTIONS, masks: "arbitrary", rangeExpansion: 16, priorities: 16 }),
  ] satisfies TableCaps[]),
  maxLookups: 3,
  counters: 1 << 20,
  rssContexts: 64,
  rss: DEFAULT_RSS_CAPS,
  queues: 64,
  vports: 256,
  encapTemplates: 1024,
}) as ClassifierCaps;
