/**
 * The flow classifier of the offload device model: several flow tables
 * (exact-match hash tables and wildcard TCAMs) with jumps between them, a
 * rule API shaped like DPDK's rte_flow (validate / create / destroy / query)
 * and a burst lookup that fills a reusable {@link Verdicts} record without
 * allocating.
 *
 * Semantics:
 * - Every packet starts in table 0. In a wildcard table the matching rule
 *   with the lowest priority number wins (0 is highest, as in rte_flow);
 *   among equal priorities the rule created first wins (rte_flow leaves this
 *   undefined; the model fixes it so runs are deterministic). An exact table
 *   has at most one rule per key.
 * - A `jump` continues the lookup in a higher-numbered table, so rule sets
 *   cannot loop; the device's `maxLookups` bounds the chain length, and a
 *   rule or miss jump that would make a chain longer is refused.
 * - A miss does what the table's `miss` setting says: "default" (the
 *   device's default path, {@link FATE_DEFAULT}), "drop", or a jump.
 * - Non-fate actions (mark, count, VLAN, VXLAN, mirror) gather along the
 *   chain; see {@link ./actions.ts}.
 *
 * Every control-path request is checked completely before anything changes,
 * so a refused rule leaves no trace (atomic install), and every refusal
 * carries a reason.
 */
import { OffloadError, refuse, type Refusal } from "../errors.js";
import { FK_FLAGS, FK_FRAME_LEN, FKF_TUNNEL, type FlowKey } from "../flow-key.js";
import { defaultIndirectionTable, rssHashFlowKey, RssDistributor, validateRssConfig } from "../rss.js";
import { FATE_JUMP, prepareActions, type EncapTemplate, type FlowAction, type PreparedActions } from "./actions.js";
import { ACTION_TYPES, type ActionType, type ClassifierCaps, type TableCaps } from "./caps.js";
import { compileKeyTemplate, compileMatch, FIELD_DEFS, type CompileLimits, type CompiledEntry, type FlowField, type FlowMatch, type KeyFieldSpec } from "./fields.js";
import { ExactTable, WildcardTable, type FlowTable } from "./tables.js";
import {
  FATE_DEFAULT,
  FATE_DROP,
  FATE_QUEUE,
  FATE_RSS,
  FATE_VPORT,
  VA_COUNT,
  VA_MARK,
  VA_MIRROR,
  VA_VLAN_POP,
  VA_VLAN_PUSH,
  VA_VXLAN_DECAP,
  VA_VXLAN_ENCAP,
  type Verdicts,
} from "./verdict.js";

/** A rule, as a control plane writes it. */
export interface FlowRule {
  /** Table id; default 0 (the root). */
  readonly table?: number;
  /** Wildcard tables: lower numbers match first; default 0. Exact tables take no priority. */
  readonly priority?: number;
  /** Field values; absent fields are wildcards. */
  readonly match: FlowMatch;
  /** Exactly one fate action, plus any non-fate actions. */
  readonly actions: readonly FlowAction[];
}

/**
 * Opaque rule handle: a positive integer, never reused. (It encodes the
 * rule's slot and a per-slot generation, so stale handles are recognised
 * without a map lookup.)
 */
export type RuleHandle = number;

/** What a miss in a table does. */
export type TableMiss = "default" | "drop" | { readonly jump: number };

export interface TableConfig {
  /** Exact tables: the key fields, optionally with template masks. Defaults to the caps' `defaultKey`. */
  readonly key?: readonly (FlowField | KeyFieldSpec)[];
  /** Miss behaviour; default "default". */
  readonly miss?: TableMiss;
}

/** Counters of the classifier as a whole. */
export interface ClassifierStats {
  /** Packets classified. */
  packets: number;
  /** Lookups that hit, per table. */
  readonly hits: Float64Array;
  /** Lookups that missed, per table. */
  readonly misses: Float64Array;
  /** Packets dropped because their chain exceeded `maxLookups` (stays 0: chains are bounded at install). */
  depthExceeded: number;
}

export interface TableUsage {
  readonly id: number;
  readonly kind: "exact" | "wildcard";
  readonly capacity: number;
  /** Entries in use (wildcard: after range expansion). */
  readonly entries: number;
  /** Rules in the table. */
  readonly rules: number;
  /** Wildcard tables: distinct masks, i.e. subtables a lookup may probe. */
  readonly masks: number;
  /** Exact tables: the key fields. */
  readonly key: readonly FlowField[] | undefined;
}

const MISS_DEFAULT = 0;
const MISS_DROP = 1;
const MISS_JUMP = 2;
const DEFAULT_PRIORITIES = 65536;
/** Rule slots; a handle is generation * SLOT_SPACE + slot. */
const SLOT_SPACE = 2 ** 24;
/** Float64 words per rule in the hot rule data. */
const RD_STRIDE = 4;

interface Prepared {
  readonly table: number;
  readonly entries: readonly CompiledEntry[];
  readonly actions: PreparedActions;
  readonly priority: number;
  /** Existing RSS context to share, or -1 for a new one. */
  readonly rssId: number;
  readonly rssNew: RssDistributor | undefined;
  readonly encapId: number;
}

interface TableState {
  readonly caps: TableCaps;
  readonly table: FlowTable;
  readonly limits: CompileLimits;
  readonly actions: ReadonlySet<ActionType>;
  /** Exact tables: key template. */
  readonly template: readonly number[] | undefined;
  readonly keyFields: readonly FlowField[] | undefined;
  rules: number;
}

interface SharedRef<T> {
  readonly value: T;
  readonly signature: string;
  refs: number;
}

export class FlowClassifier {
  readonly caps: ClassifierCaps;
  readonly stats: ClassifierStats;
  private readonly states: TableState[] = [];
  private readonly tables: FlowTable[] = [];
  private readonly missKind: Uint8Array;
  private readonly missTarget: Uint8Array;
  /** edges[from * n + to]: rules and misses jumping from one table to another. */
  private readonly edges: Int32Array;

  // Per-rule datapath state, indexed by rule slot.
  private cap = 0;
  /**
   * The hot per-rule words, RD_STRIDE per slot so a hit reads one cache line:
   * fate | flags << 8, fate argument (queue, vport, RSS context, jump
   * target), handle (-1 when free), mark.
   */
  private rData = new Float64Array(0);
  private rTable = new Uint8Array(0);
  private rVlan = new Uint16Array(0);
  private rEncap = new Uint16Array(0);
  private rMirror = new Uint32Array(0);
  private rPackets = new Float64Array(0);
  private rBytes = new Float64Array(0);
  private rEntry = new Int32Array(0);
  private rGen = new Uint32Array(0);
  private readonly wildEntries = new Map<number, number[]>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private live = 0;
  /** Creation sequence: breaks priority ties in favour of the older rule. */
  private nextSeq = 1;

  private readonly rss: (SharedRef<RssDistributor> | undefined)[] = [];
  private readonly rssBySig = new Map<string, number>();
  private readonly encaps: (SharedRef<EncapTemplate> | undefined)[] = [];
  private readonly encapBySig = new Map<string, number>();
  private countersUsed = 0;
  private readonly hashOut = new Uint32Array(1);

  /**
   * A classifier for a device with `caps`; `tables[i]` configures table i.
   * Throws {@link OffloadError} if the caps or the configuration are invalid.
   */
  constructor(caps: ClassifierCaps, tables: readonly (TableConfig | undefined)[] = []) {
    this.caps = caps;
    const n = caps.tables.length;
    if (n < 1 || n > 255) throw new OffloadError("malformed", `a classifier has 1..255 tables, caps declare ${n}`);
    if (!Number.isInteger(caps.maxLookups) || caps.maxLookups < 1 || caps.maxLookups > 255) throw new OffloadError("malformed", `maxLookups must be 1..255`);
    this.missKind = new Uint8Array(n);
    this.missTarget = new Uint8Array(n);
    this.edges = new Int32Array(n * n);
    this.stats = { packets: 0, hits: new Float64Array(n), misses: new Float64Array(n), depthExceeded: 0 };
    for (let id = 0; id < n; id++) {
      const tc = caps.tables[id]!;
      if (!Number.isInteger(tc.capacity) || tc.capacity < 1) throw new OffloadError("malformed", `table ${id}: capacity must be a positive integer`);
      for (const f of tc.fields) if (!(f in FIELD_DEFS)) throw new OffloadError("malformed", `table ${id}: unknown field ${f}`);
      for (const a of tc.actions) if (!(ACTION_TYPES as readonly string[]).includes(a)) throw new OffloadError("malformed", `table ${id}: unknown action ${a}`);
      const st = this.buildTable(id, tc, tables[id]?.key ?? tc.defaultKey);
      if (!("table" in st)) throw new OffloadError(st.kind, st.reason);
      this.states.push(st);
      this.tables.push(st.table);
    }
    for (let id = 0; id < n; id++) {
      const miss = tables[id]?.miss;
      if (miss !== undefined) {
        const r = this.setMiss(id, miss);
        if (!r.ok) throw new OffloadError(r.kind, r.reason);
      }
    }
  }

  private buildTable(id: number, tc: TableCaps, key: readonly (FlowField | KeyFieldSpec)[] | undefined): TableState | Refusal {
    const label = `table ${id} (${tc.kind})`;
    const limits: CompileLimits = {
      fields: new Set(tc.fields),
      masks: tc.kind === "exact" ? "arbitrary" : (tc.masks ?? "arbitrary"),
      rangeExpansion: tc.kind === "exact" ? 0 : (tc.rangeExpansion ?? 0),
      label,
    };
    const actions = new Set(tc.actions);
    if (tc.kind === "exact") {
      if (key === undefined) return refuse("malformed", `${label}: an exact-match table needs key fields (config key or caps defaultKey)`);
      const t = compileKeyTemplate(key, limits);
      if ("ok" in t) return t;
      return { caps: tc, table: new ExactTable(id, tc.capacity, t.mask), limits, actions, template: t.mask, keyFields: t.named, rules: 0 };
    }
    if (key !== undefined) return refuse("malformed", `${label}: only exact-match tables take key fields`);
    return { caps: tc, table: new WildcardTable(id, tc.capacity), limits, actions, template: undefined, keyFields: undefined, rules: 0 };
  }

  /**
   * Re-key an empty exact table or change a table's miss behaviour.
   * Refused if the table has rules (re-keying) or the miss jump is invalid.
   */
  configureTable(id: number, config: TableConfig): { ok: true } | Refusal {
    if (!Number.isInteger(id) || id < 0 || id >= this.states.length) return refuse("usage", `no table ${id}`);
    const old = this.states[id]!;
    let next: TableState = old;
    if (config.key !== undefined) {
      if (old.rules > 0) return refuse("usage", `table ${id} has ${old.rules} rules; its key can change only while empty`);
      const st = this.buildTable(id, old.caps, config.key);
      if (!("table" in st)) return st;
      next = st;
    }
    if (config.miss !== undefined) {
      const r = this.setMiss(id, config.miss);
      if (!r.ok) return r;
    }
    this.states[id] = next;
    this.tables[id] = next.table;
    return { ok: true };
  }

  private setMiss(id: number, miss: TableMiss): { ok: true } | Refusal {
    const n = this.states.length;
    const oldKind = this.missKind[id]!;
    const oldTarget = this.missTarget[id]!;
    if (miss === "default" || miss === "drop") {
      if (oldKind === MISS_JUMP) this.edges[id * n + oldTarget]!--;
      this.missKind[id] = miss === "drop" ? MISS_DROP : MISS_DEFAULT;
      return { ok: true };
    }
    const to = (miss as { jump?: unknown }).jump;
    if (typeof to !== "number" || !Number.isInteger(to)) return refuse("malformed", `table ${id}: miss must be "default", "drop" or { jump: table }`);
    if (to <= id) return refuse("unsupported", `table ${id}: a miss may jump only to a higher table id`);
    if (to >= n) return refuse("malformed", `table ${id}: miss jump target ${to} does not exist`);
    if (oldKind === MISS_JUMP) this.edges[id * n + oldTarget]!--;
    this.edges[id * n + to]!++;
    const depth = this.longestChain();
    if (depth > this.caps.maxLookups) {
      this.edges[id * n + to]!--;
      if (oldKind === MISS_JUMP) this.edges[id * n + oldTarget]!++;
      return refuse("unsupported", `table ${id}: a miss jump to table ${to} makes lookup chains ${depth} tables long; the device does ${this.caps.maxLookups}`);
    }
    this.missKind[id] = MISS_JUMP;
    this.missTarget[id] = to;
    return { ok: true };
  }

  /** Longest chain of tables a packet can visit from table 0, given the current jump edges. */
  private longestChain(): number {
    const n = this.states.length;
    const depth = new Int32Array(n);
    depth[0] = 1;
    let max = 1;
    for (let from = 0; from < n; from++) {
      if (depth[from] === 0) continue;
      for (let to = from + 1; to < n; to++) {
        if (this.edges[from * n + to]! > 0 && depth[from]! + 1 > depth[to]!) {
          depth[to] = depth[from]! + 1;
          if (depth[to]! > max) max = depth[to]!;
        }
      }
    }
    return max;
  }

  // -------------------------------------------------------------------------
  // Rule API
  // -------------------------------------------------------------------------

  private prepare(rule: FlowRule): Prepared | Refusal {
    if (typeof rule !== "object" || rule === null) return refuse("malformed", "a rule must be an object");
    if (typeof rule.match !== "object" || rule.match === null) return refuse("malformed", "a rule needs a match object (use {} to match everything)");
    const id = rule.table ?? 0;
    if (!Number.isInteger(id) || id < 0 || id >= this.states.length) return refuse("malformed", `no table ${id} (the device has ${this.states.length})`);
    const st = this.states[id]!;
    const label = `table ${id} (${st.caps.kind})`;
    let priority = 0;
    if (st.caps.kind === "exact") {
      if (rule.priority !== undefined && rule.priority !== 0) return refuse("unsupported", `${label}: exact-match tables have no rule priorities`);
    } else {
      priority = rule.priority ?? 0;
      const levels = st.caps.priorities ?? DEFAULT_PRIORITIES;
      if (!Number.isInteger(priority) || priority < 0 || priority >= levels) return refuse("unsupported", `${label}: priority ${priority} is outside 0..${levels - 1}`);
    }
    const c = compileMatch(rule.match, st.limits);
    if ("ok" in c) return c;
    if (st.template !== undefined) {
      const keyFields = st.keyFields!;
      const missing = keyFields.filter((f) => !c.named.has(f));
      const extra = [...c.named].filter((f) => !keyFields.includes(f));
      if (missing.length > 0 || extra.length > 0) {
        return refuse(
          "unsupported",
          `${label} keys on exactly {${keyFields.join(", ")}}` +
            (missing.length > 0 ? `; the rule lacks ${missing.join(", ")}` : "") +
            (extra.length > 0 ? `; the table cannot match ${extra.join(", ")}` : ""),
        );
      }
      const e = c.entries[0]!;
      for (let w = 0; w < st.template.length; w++) {
        if (e.mask[w] !== st.template[w]) return refuse("unsupported", `${label}: an exact-match rule must use the key's masks; a field's mask differs (masked matches belong in a wildcard table)`);
      }
      if ((st.table as ExactTable).has(e.value)) return refuse("usage", `${label} already holds a rule with this key`);
      if (st.table.size + 1 > st.caps.capacity) return refuse("capacity", `${label} is full (${st.caps.capacity} entries)`);
    } else if (st.table.size + c.entries.length > st.caps.capacity) {
      return refuse(
        "capacity",
        `${label} has ${st.caps.capacity - st.table.size} free entries; the rule needs ${c.entries.length}` + (c.entries.length > 1 ? " after range expansion" : ""),
      );
    }
    if (this.freeSlots.length === 0 && this.nextSlot >= SLOT_SPACE) return refuse("capacity", `the classifier holds at most ${SLOT_SPACE} rules`);
    const e0 = c.entries[0]!;
    const matchTunnel = (e0.mask[FK_FLAGS]! & FKF_TUNNEL) !== 0 && (e0.value[FK_FLAGS]! & FKF_TUNNEL) !== 0;
    const a = prepareActions(rule.actions, { table: id, tableActions: st.actions, caps: this.caps, matchTunnel });
    if ("ok" in a) return a;
    if (a.flags & VA_COUNT && this.countersUsed + 1 > this.caps.counters) return refuse("capacity", `all ${this.caps.counters} flow counters are in use`);
    let rssId = -1;
    let rssNew: RssDistributor | undefined;
    if (a.rss !== undefined) {
      const existing = this.rssBySig.get(a.rss.signature);
      if (existing !== undefined) rssId = existing;
      else {
        if (this.rssBySig.size + 1 > this.caps.rssContexts) return refuse("capacity", `all ${this.caps.rssContexts} RSS contexts are in use`);
        // The largest power-of-two table the device allows, up to 128 entries.
        let len = 1;
        while (len * 2 <= Math.min(this.caps.rss.maxIndirectionTableLength, 128)) len *= 2;
        const table = defaultIndirectionTable(a.rss.queues.length, len).map((i) => a.rss!.queues[i]!);
        const cfg = {
          hashTypes: a.rss.hashTypes,
          indirectionTable: table,
          unclassifiedQueue: a.rss.queues[0]!,
          ...(a.rss.key !== undefined ? { key: a.rss.key } : {}),
          innerHash: a.rss.innerHash,
        };
        const v = validateRssConfig(cfg, this.caps.rss);
        if (!v.ok) return v;
        rssNew = new RssDistributor(cfg, this.caps.rss);
      }
    }
    let encapId = -1;
    if (a.encap !== undefined) {
      const existing = this.encapBySig.get(a.encap.signature);
      if (existing !== undefined) encapId = existing;
      else if (this.encapBySig.size + 1 > this.caps.encapTemplates) return refuse("capacity", `all ${this.caps.encapTemplates} encapsulation templates are in use`);
    }
    if (a.fate === FATE_JUMP) {
      const n = this.states.length;
      this.edges[id * n + a.arg]!++;
      const depth = this.longestChain();
      this.edges[id * n + a.arg]!--;
      if (depth > this.caps.maxLookups) {
        return refuse("unsupported", `jump from table ${id} to ${a.arg} makes lookup chains ${depth} tables long; the device does ${this.caps.maxLookups}`);
      }
    }
    return { table: id, entries: c.entries, actions: a, priority, rssId, rssNew, encapId };
  }

  /** Would {@link create} accept `rule`? Changes nothing. */
  validate(rule: FlowRule): { ok: true } | Refusal {
    const p = this.prepare(rule);
    return "ok" in p ? p : { ok: true };
  }

  /** Install `rule` completely, or not at all. */
  create(rule: FlowRule): { ok: true; handle: RuleHandle } | Refusal {
    const p = this.prepare(rule);
    if ("ok" in p) return p;
    const a = p.actions;
    const slot = this.allocSlot();
    this.rGen[slot]!++;
    const handle = this.rGen[slot]! * SLOT_SPACE + slot;
    const seq = this.nextSeq++;
    this.live++;
    this.rTable[slot] = p.table;
    let arg = a.arg;
    this.rVlan[slot] = a.vlanTci;
    this.rMirror[slot] = a.mirror;
    this.rPackets[slot] = 0;
    this.rBytes[slot] = 0;
    if (a.flags & VA_COUNT) this.countersUsed++;
    if (a.rss !== undefined) {
      let id = p.rssId;
      if (id === -1) {
        id = this.rss.indexOf(undefined);
        if (id === -1) id = this.rss.length;
        this.rss[id] = { value: p.rssNew!, signature: a.rss.signature, refs: 0 };
        this.rssBySig.set(a.rss.signature, id);
      }
      this.rss[id]!.refs++;
      arg = id;
    }
    if (a.encap !== undefined) {
      let id = p.encapId;
      if (id === -1) {
        id = this.encaps.indexOf(undefined);
        if (id === -1) id = this.encaps.length;
        this.encaps[id] = { value: a.encap.template, signature: a.encap.signature, refs: 0 };
        this.encapBySig.set(a.encap.signature, id);
      }
      this.encaps[id]!.refs++;
      this.rEncap[slot] = id;
    }
    if (a.fate === FATE_JUMP) this.edges[p.table * this.states.length + a.arg]!++;
    const b = slot * RD_STRIDE;
    this.rData[b] = a.fate | (a.flags << 8);
    this.rData[b + 1] = arg;
    this.rData[b + 2] = handle;
    this.rData[b + 3] = a.mark;
    const st = this.states[p.table]!;
    if (st.table.kind === "exact") {
      this.rEntry[slot] = st.table.insert(p.entries[0]!.value, slot);
    } else {
      const rank = p.priority * 2 ** 32 + seq;
      const ids: number[] = [];
      for (const e of p.entries) ids.push(st.table.insert(e.value, e.mask, rank, slot));
      this.wildEntries.set(slot, ids);
    }
    st.rules++;
    return { ok: true, handle };
  }

  /** Remove a rule and release what it held. */
  destroy(handle: RuleHandle): { ok: true } | Refusal {
    const slot = this.slotOf(handle);
    if (slot === -1) return refuse("usage", `no rule with handle ${handle}`);
    this.live--;
    const st = this.states[this.rTable[slot]!]!;
    if (st.table.kind === "exact") st.table.remove(this.rEntry[slot]!);
    else {
      for (const e of this.wildEntries.get(slot)!) st.table.remove(e);
      this.wildEntries.delete(slot);
    }
    st.rules--;
    const flags = this.flagsOf(slot);
    if (flags & VA_COUNT) this.countersUsed--;
    const fate = this.fateOf(slot);
    if (fate === FATE_RSS) {
      const id = this.argOf(slot);
      const ref = this.rss[id]!;
      if (--ref.refs === 0) {
        this.rss[id] = undefined;
        this.rssBySig.delete(ref.signature);
      }
    }
    if (flags & VA_VXLAN_ENCAP) {
      const id = this.rEncap[slot]!;
      const ref = this.encaps[id]!;
      if (--ref.refs === 0) {
        this.encaps[id] = undefined;
        this.encapBySig.delete(ref.signature);
      }
    }
    if (fate === FATE_JUMP) this.edges[this.rTable[slot]! * this.states.length + this.argOf(slot)]!--;
    const b = slot * RD_STRIDE;
    this.rData[b] = FATE_DROP;
    this.rData[b + 1] = 0;
    this.rData[b + 2] = -1;
    this.rData[b + 3] = 0;
    this.freeSlots.push(slot);
    return { ok: true };
  }

  /** Packets and bytes counted by a rule's `count` action; `reset` zeroes them after reading. */
  query(handle: RuleHandle, reset = false): { ok: true; packets: number; bytes: number } | Refusal {
    const slot = this.slotOf(handle);
    if (slot === -1) return refuse("usage", `no rule with handle ${handle}`);
    if ((this.flagsOf(slot) & VA_COUNT) === 0) return refuse("usage", `rule ${handle} has no count action`);
    const packets = this.rPackets[slot]!;
    const bytes = this.rBytes[slot]!;
    if (reset) {
      this.rPackets[slot] = 0;
      this.rBytes[slot] = 0;
    }
    return { ok: true, packets, bytes };
  }

  /** Destroy every rule. */
  flush(): void {
    for (let slot = 0; slot < this.nextSlot; slot++) {
      const h = this.rData[slot * RD_STRIDE + 2]!;
      if (h > 0) this.destroy(h);
    }
  }

  /** Rules installed. */
  get ruleCount(): number {
    return this.live;
  }

  /** Occupancy of table `id`. */
  tableUsage(id: number): TableUsage {
    const st = this.states[id];
    if (st === undefined) throw new OffloadError("usage", `no table ${id}`);
    return {
      id,
      kind: st.caps.kind,
      capacity: st.caps.capacity,
      entries: st.table.size,
      rules: st.rules,
      masks: st.table.kind === "wildcard" ? st.table.masks : 1,
      key: st.keyFields,
    };
  }

  /** The encapsulation template a verdict's `encap` id names. */
  encapTemplate(id: number): EncapTemplate | undefined {
    return this.encaps[id]?.value;
  }

  /** The RSS context an installed rss action uses (for inspection). */
  rssContextOf(handle: RuleHandle): RssDistributor | undefined {
    const slot = this.slotOf(handle);
    if (slot === -1 || this.fateOf(slot) !== FATE_RSS) return undefined;
    return this.rss[this.argOf(slot)]?.value;
  }

  /** The slot of a live rule's handle, or -1. */
  private slotOf(handle: RuleHandle): number {
    if (!Number.isInteger(handle) || handle <= 0) return -1;
    const slot = handle % SLOT_SPACE;
    return slot < this.nextSlot && this.rData[slot * RD_STRIDE + 2] === handle ? slot : -1;
  }

  private fateOf(slot: number): number {
    return this.rData[slot * RD_STRIDE]! & 0xff;
  }

  private flagsOf(slot: number): number {
    return this.rData[slot * RD_STRIDE]! >>> 8;
  }

  private argOf(slot: number): number {
    return this.rData[slot * RD_STRIDE + 1]!;
  }

  private allocSlot(): number {
    if (this.freeSlots.length > 0) return this.freeSlots.pop()!;
    const s = this.nextSlot++;
    if (s >= this.cap) this.growSlots(Math.max(64, this.cap * 2));
    return s;
  }

  private growSlots(n: number): void {
    const grow = <T extends Float64Array | Uint8Array | Uint16Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    const data = new Float64Array(n * RD_STRIDE);
    data.set(this.rData);
    this.rData = data;
    this.rTable = grow(this.rTable, (k) => new Uint8Array(k));
    this.rVlan = grow(this.rVlan, (k) => new Uint16Array(k));
    this.rEncap = grow(this.rEncap, (k) => new Uint16Array(k));
    this.rMirror = grow(this.rMirror, (k) => new Uint32Array(k));
    this.rPackets = grow(this.rPackets, (k) => new Float64Array(k));
    this.rBytes = grow(this.rBytes, (k) => new Float64Array(k));
    this.rEntry = grow(this.rEntry, (k) => new Int32Array(k));
    this.rGen = grow(this.rGen, (k) => new Uint32Array(k));
    this.cap = n;
  }

  // -------------------------------------------------------------------------
  // Datapath
  // -------------------------------------------------------------------------

  /**
   * Classify `keys[0..n)` into `out[0..n)` (at most `out.size` of them);
   * updates rule counters and the classifier's stats. Allocates nothing.
   */
  classify(keys: readonly FlowKey[], n: number, out: Verdicts): void {
    const tables = this.tables;
    const missKind = this.missKind;
    const missTarget = this.missTarget;
    const maxLookups = this.caps.maxLookups;
    const hits = this.stats.hits;
    const misses = this.stats.misses;
    const rd = this.rData;
    const hashOut = this.hashOut;
    const count = Math.min(n, out.size);
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      const w = key.words;
      let acts = 0;
      let mark = 0;
      let tci = 0;
      let encap = 0;
      let mirror = 0;
      let fate = FATE_DEFAULT;
      let queue = 0;
      let vport = 0;
      let hash = 0;
      let report = 0;
      let handle = -1;
      let set = -1;
      let t = 0;
      let lookups = 0;
      for (;;) {
        if (lookups === maxLookups) {
          fate = FATE_DROP;
          this.stats.depthExceeded++;
          break;
        }
        lookups++;
        const s = tables[t]!.lookup(w);
        if (s === -1) {
          misses[t]!++;
          const mk = missKind[t]!;
          if (mk === MISS_JUMP) {
            t = missTarget[t]!;
            continue;
          }
          fate = mk === MISS_DROP ? FATE_DROP : FATE_DEFAULT;
          break;
        }
        hits[t]!++;
        const b = s * RD_STRIDE;
        const fw = rd[b]!;
        const f = fw >>> 8;
        if (f !== 0) {
          if (f & VA_COUNT) {
            this.rPackets[s]!++;
            this.rBytes[s]! += w[FK_FRAME_LEN]!;
          }
          if (f & VA_MARK) mark = rd[b + 3]!;
          if (f & (VA_VLAN_PUSH | VA_VLAN_POP)) {
            acts &= ~(VA_VLAN_PUSH | VA_VLAN_POP);
            tci = this.rVlan[s]!;
          }
          if (f & (VA_VXLAN_ENCAP | VA_VXLAN_DECAP)) {
            acts &= ~(VA_VXLAN_ENCAP | VA_VXLAN_DECAP);
            encap = this.rEncap[s]!;
          }
          if (f & VA_MIRROR) mirror = this.rMirror[s]!;
          acts |= f;
        }
        const rf = fw & 0xff;
        if (rf === FATE_JUMP) {
          t = rd[b + 1]!;
          continue;
        }
        fate = rf;
        handle = rd[b + 2]!;
        set = s;
        if (rf === FATE_QUEUE) queue = rd[b + 1]!;
        else if (rf === FATE_VPORT) vport = rd[b + 1]!;
        else if (rf === FATE_RSS) {
          // After a VXLAN decap the packet is the inner frame, so RSS hashes the inner headers.
          const d = this.rss[rd[b + 1]!]!.value;
          report = rssHashFlowKey(d.toeplitz, d.hashTypes, key, d.innerHash || (acts & VA_VXLAN_DECAP) !== 0, hashOut);
          if (report === 0) queue = d.unclassifiedQueue;
          else {
            hash = hashOut[0]!;
            queue = d.table[hash & d.tableMask]!;
          }
        }
        break;
      }
      out.fate[i] = fate;
      out.queue[i] = queue;
      out.vport[i] = vport;
      out.hash[i] = hash;
      out.hashReport[i] = report;
      out.actions[i] = acts;
      out.mark[i] = mark;
      out.vlanTci[i] = tci;
      out.encap[i] = encap;
      out.mirror[i] = mirror;
      out.rule[i] = handle;
      out.actionSet[i] = set;
      out.lookups[i] = lookups;
    }
    this.stats.packets += count;
  }
}
