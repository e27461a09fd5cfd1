/**
 * Property test: for random rule sets (created and destroyed in random
 * order) and random packets, the classifier gives the same verdict as a
 * naive linear reference that evaluates each rule's match field by field
 * from the FlowKey accessors (priority order, first match wins among equal
 * priorities in creation order, jumps and miss behaviours followed).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FKF_L4, FKF_VLAN, FlowKey, flowKeyFromFields, parseIpv4, parseIpv6 } from "../src/flow-key.js";
import { DEFAULT_RSS_CAPS, RssDistributor, defaultIndirectionTable } from "../src/rss.js";
import { DEFAULT_RSS_ACTION_HASH_TYPES } from "../src/classifier/actions.js";
import {
  ACTION_TYPES,
  FATE_DEFAULT,
  FATE_DROP,
  FATE_QUEUE,
  FATE_RSS,
  FATE_UPLINK,
  FATE_VPORT,
  FLOW_FIELDS,
  FlowClassifier,
  VA_MARK,
  Verdicts,
  type ClassifierCaps,
  type FlowAction,
  type FlowMatch,
  type TableMiss,
} from "../src/classifier/index.js";

const CAPS: ClassifierCaps = {
  name: "property",
  tables: [
    { kind: "wildcard", capacity: 2000, fields: FLOW_FIELDS, actions: ACTION_TYPES, rangeExpansion: 64, priorities: 4 },
    { kind: "exact", capacity: 2000, fields: FLOW_FIELDS, actions: ACTION_TYPES, defaultKey: ["ipProto", "dstPort"] },
    { kind: "wildcard", capacity: 2000, fields: FLOW_FIELDS, actions: ACTION_TYPES, rangeExpansion: 64, priorities: 4 },
  ],
  maxLookups: 3,
  counters: 100000,
  rssContexts: 1000,
  rss: DEFAULT_RSS_CAPS,
  queues: 16,
  vports: 8,
  encapTemplates: 16,
};

// ---------------------------------------------------------------------------
// Rule model: a small domain so that rules and packets meet often.
// ---------------------------------------------------------------------------

type Port = { exact: number } | { range: [number, number] };
interface RuleModel {
  table: number;
  priority: number;
  port?: number;
  dmac?: number;
  vlanId?: number;
  ipProto?: number;
  srcIpv4?: [string, number];
  dstIpv4?: [string, number];
  srcIpv6?: [string, number];
  srcPort?: Port;
  dstPort?: Port;
  tcpFlags?: [number, number];
  vni?: number;
  tunnel?: number;
  fate: { type: "queue"; n: number } | { type: "vport"; n: number } | { type: "drop" } | { type: "uplink" } | { type: "rss"; queues: readonly number[] } | { type: "jump"; to: number };
  mark?: number;
  count: boolean;
}

const v4addr = fc.integer({ min: 0, max: 3 }).map((i) => `10.0.0.${i}`);
const portArb: fc.Arbitrary<Port> = fc.oneof(
  fc.integer({ min: 0, max: 7 }).map((exact) => ({ exact })),
  fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 })).map(([a, b]) => ({ range: [Math.min(a, b), Math.max(a, b)] as [number, number] })),
);
/** Mostly absent: rules name about two fields each, so rules and packets meet often. */
const opt = <T>(a: fc.Arbitrary<T>, absent = 6): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: a, weight: 1 });

const ruleArb: fc.Arbitrary<RuleModel> = fc
  .record({
    table: fc.constantFrom(0, 0, 1, 2),
    priority: fc.integer({ min: 0, max: 3 }),
    port: opt(fc.integer({ min: 0, max: 2 })),
    dmac: opt(fc.constantFrom(1, 2)),
    vlanId: opt(fc.constantFrom(0, 1)),
    ipProto: opt(fc.constantFrom(6, 17)),
    srcIpv4: opt(fc.tuple(v4addr, fc.constantFrom(24, 31, 32))),
    dstIpv4: opt(fc.tuple(v4addr, fc.constantFrom(30, 32))),
    srcIpv6: opt(fc.tuple(fc.integer({ min: 0, max: 3 }).map((i) => `2001:db8::${i}`), fc.constantFrom(126, 128))),
    srcPort: opt(portArb),
    dstPort: opt(portArb),
    tcpFlags: opt(fc.tuple(fc.constantFrom(0x02, 0x10, 0x12), fc.constantFrom(0x02, 0x12, 0xff))),
    vni: opt(fc.constantFrom(1, 2)),
    tunnel: opt(fc.constantFrom(0, 1)),
    fate: fc.oneof(
      fc.integer({ min: 0, max: 15 }).map((n) => ({ type: "queue" as const, n })),
      fc.integer({ min: 0, max: 7 }).map((n) => ({ type: "vport" as const, n })),
      fc.constant({ type: "drop" as const }),
      fc.constant({ type: "uplink" as const }),
      fc.constantFrom([0, 1], [2, 3, 4]).map((queues) => ({ type: "rss" as const, queues })),
      fc.constantFrom(1, 2).map((to) => ({ type: "jump" as const, to })),
    ),
    mark: opt(fc.integer({ min: 1, max: 1000 })),
    count: fc.boolean(),
  })
  .map((r) => {
    // Exact table 1 keys on exactly ipProto and dstPort (exact values).
    if (r.table === 1) {
      return { table: 1, priority: 0, ipProto: r.ipProto ?? 6, dstPort: { exact: r.dstPort !== undefined && "exact" in r.dstPort ? r.dstPort.exact : 1 }, fate: r.fate, mark: r.mark, count: r.count } as RuleModel;
    }
    const m: RuleModel = { ...r };
    // Keep rules expressible: one address family, consistent tunnel flag, TCP flags only with TCP.
    if (m.srcIpv6 !== undefined) {
      delete m.srcIpv4;
      delete m.dstIpv4;
    }
    if (m.vni !== undefined) m.tunnel = 1;
    if (m.tcpFlags !== undefined) m.ipProto = 6;
    return m;
  })
  .map((m) => {
    // Jumps go forward only: fix up jumps that would not.
    if (m.fate.type === "jump" && m.fate.to <= m.table) return { ...m, fate: { type: "drop" as const } };
    return m;
  });

function toMatch(m: RuleModel): FlowMatch {
  const match: Record<string, unknown> = {};
  const port = (p: Port) => ("exact" in p ? p.exact : { range: p.range });
  if (m.port !== undefined) match.port = m.port;
  if (m.dmac !== undefined) match.dmac = m.dmac;
  if (m.vlanId !== undefined) match.vlanId = m.vlanId;
  if (m.ipProto !== undefined) match.ipProto = m.ipProto;
  if (m.srcIpv4 !== undefined) match.srcIpv4 = `${m.srcIpv4[0]}/${m.srcIpv4[1]}`;
  if (m.dstIpv4 !== undefined) match.dstIpv4 = { value: m.dstIpv4[0], prefix: m.dstIpv4[1] };
  if (m.srcIpv6 !== undefined) match.srcIpv6 = `${m.srcIpv6[0]}/${m.srcIpv6[1]}`;
  if (m.srcPort !== undefined) match.srcPort = port(m.srcPort);
  if (m.dstPort !== undefined) match.dstPort = port(m.dstPort);
  if (m.tcpFlags !== undefined) match.tcpFlags = { value: m.tcpFlags[0], mask: m.tcpFlags[1] };
  if (m.vni !== undefined) match.vni = m.vni;
  if (m.tunnel !== undefined) match.tunnel = m.tunnel;
  return match as FlowMatch;
}

function toActions(m: RuleModel): FlowAction[] {
  const a: FlowAction[] = [];
  if (m.mark !== undefined) a.push({ type: "mark", id: m.mark });
  if (m.count) a.push({ type: "count" });
  const f = m.fate;
  if (f.type === "queue") a.push({ type: "queue", index: f.n });
  else if (f.type === "vport") a.push({ type: "vport", id: f.n });
  else if (f.type === "rss") a.push({ type: "rss", queues: f.queues });
  else if (f.type === "jump") a.push({ type: "jump", table: f.to });
  else a.push({ type: f.type });
  return a;
}

// ---------------------------------------------------------------------------
// The naive reference: evaluate each field from the FlowKey's accessors.
// ---------------------------------------------------------------------------

const bigOf = (w: ArrayLike<number>): bigint => w.length === 1 ? BigInt(w[0]!) : Array.from(w).reduce((a, x) => (a << 32n) | BigInt(x), 0n);
const prefixEq = (a: bigint, b: bigint, bits: number, prefix: number): boolean => prefix === 0 || a >> BigInt(bits - prefix) === b >> BigInt(bits - prefix);
const inPort = (v: number, p: Port): boolean => ("exact" in p ? v === p.exact : v >= p.range[0] && v <= p.range[1]);

function refMatches(m: RuleModel, k: FlowKey): boolean {
  const l4 = (k.flags & FKF_L4) !== 0;
  if (m.port !== undefined && k.port !== m.port) return false;
  if (m.dmac !== undefined && k.dmac !== m.dmac) return false;
  if (m.vlanId !== undefined && !((k.flags & FKF_VLAN) !== 0 && k.vlanId === m.vlanId)) return false;
  if (m.ipProto !== undefined && k.ipProto !== m.ipProto) return false;
  if (m.srcIpv4 !== undefined && !(k.ipVersion === 4 && prefixEq(BigInt(k.srcIpv4), BigInt(parseIpv4(m.srcIpv4[0])!), 32, m.srcIpv4[1]))) return false;
  if (m.dstIpv4 !== undefined && !(k.ipVersion === 4 && prefixEq(BigInt(k.dstIpv4), BigInt(parseIpv4(m.dstIpv4[0])!), 32, m.dstIpv4[1]))) return false;
  if (m.srcIpv6 !== undefined && !(k.ipVersion === 6 && prefixEq(bigOf(k.words.subarray(7, 11)), bigOf(parseIpv6(m.srcIpv6[0])!), 128, m.srcIpv6[1]))) return false;
  if (m.srcPort !== undefined && !(l4 && inPort(k.srcPort, m.srcPort))) return false;
  if (m.dstPort !== undefined && !(l4 && inPort(k.dstPort, m.dstPort))) return false;
  if (m.tcpFlags !== undefined && !(k.ipProto === 6 && (k.tcpFlags & m.tcpFlags[1]) === (m.tcpFlags[0] & m.tcpFlags[1]))) return false;
  if (m.vni !== undefined && !(k.tunnel && k.vni === m.vni)) return false;
  if (m.tunnel !== undefined && (k.tunnel ? 1 : 0) !== m.tunnel) return false;
  return true;
}

interface RefRule {
  handle: number;
  /** Creation order: the older rule wins a priority tie. */
  seq: number;
  model: RuleModel;
  packets: number;
}

interface RefVerdict {
  fate: number;
  rule: number;
  queue: number;
  vport: number;
  mark: number;
  marked: boolean;
  lookups: number;
}

function refClassify(rules: RefRule[], misses: TableMiss[], k: FlowKey): RefVerdict {
  const out: RefVerdict = { fate: FATE_DEFAULT, rule: -1, queue: 0, vport: 0, mark: 0, marked: false, lookups: 0 };
  let t = 0;
  for (;;) {
    out.lookups++;
    let best: RefRule | undefined;
    for (const r of rules) {
      if (r.model.table !== t || !refMatches(r.model, k)) continue;
      if (best === undefined || r.model.priority < best.model.priority || (r.model.priority === best.model.priority && r.seq < best.seq)) best = r;
    }
    if (best === undefined) {
      const miss = misses[t]!;
      if (typeof miss === "object") {
        t = miss.jump;
        continue;
      }
      out.fate = miss === "drop" ? FATE_DROP : FATE_DEFAULT;
      return out;
    }
    if (best.model.count) best.packets++;
    if (best.model.mark !== undefined) {
      out.mark = best.model.mark;
      out.marked = true;
    }
    const f = best.model.fate;
    if (f.type === "jump") {
      t = f.to;
      continue;
    }
    out.rule = best.handle;
    if (f.type === "queue") {
      out.fate = FATE_QUEUE;
      out.queue = f.n;
    } else if (f.type === "vport") {
      out.fate = FATE_VPORT;
      out.vport = f.n;
    } else if (f.type === "drop") out.fate = FATE_DROP;
    else if (f.type === "uplink") out.fate = FATE_UPLINK;
    else {
      out.fate = FATE_RSS;
      const d = new RssDistributor({ hashTypes: DEFAULT_RSS_ACTION_HASH_TYPES, indirectionTable: defaultIndirectionTable(f.queues.length).map((i) => f.queues[i]!), unclassifiedQueue: f.queues[0]! });
      out.queue = d.queueOf(k);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Packets from the same small domain.
// ---------------------------------------------------------------------------

const keyArb: fc.Arbitrary<FlowKey> = fc
  .record({
    port: fc.integer({ min: 0, max: 2 }),
    dmac: fc.constantFrom(1, 2),
    vlanTci: opt(fc.constantFrom(0, 1, 0x2001), 1),
    family: fc.constantFrom(4, 4, 6, 0),
    src: fc.integer({ min: 0, max: 3 }),
    dst: fc.integer({ min: 0, max: 3 }),
    ipProto: fc.constantFrom(6, 17, 1),
    srcPort: fc.integer({ min: 0, max: 7 }),
    dstPort: fc.integer({ min: 0, max: 7 }),
    tcpFlags: fc.constantFrom(0, 0x02, 0x10, 0x12),
    vni: opt(fc.constantFrom(1, 2, 3), 1),
  })
  .map((p) => {
    const ip = p.family === 4 ? { srcIp: `10.0.0.${p.src}`, dstIp: `10.0.0.${p.dst}` } : p.family === 6 ? { srcIp: `2001:db8::${p.src}`, dstIp: `2001:db8::${p.dst}` } : {};
    const hasL4 = p.family !== 0 && p.ipProto !== 1;
    return flowKeyFromFields({
      port: p.port,
      dmac: p.dmac,
      ...(p.vlanTci !== undefined ? { vlanTci: p.vlanTci } : {}),
      ...ip,
      ...(p.family !== 0 ? { ipProto: p.ipProto } : {}),
      ...(hasL4 ? { srcPort: p.srcPort, dstPort: p.dstPort } : {}),
      ...(hasL4 && p.ipProto === 6 ? { tcpFlags: p.tcpFlags } : {}),
      ...(p.vni !== undefined ? { tunnel: { vni: p.vni, outerSrcIp: "192.0.2.1", outerDstIp: "192.0.2.2" } } : {}),
      frameLength: 60 + p.srcPort,
    });
  });

type Op = { create: RuleModel } | { destroy: number };
const opArb: fc.Arbitrary<Op> = fc.oneof({ arbitrary: ruleArb.map((create) => ({ create })), weight: 4 }, { arbitrary: fc.nat().map((destroy) => ({ destroy })), weight: 1 });
const missArb: fc.Arbitrary<TableMiss[]> = fc.tuple(
  fc.constantFrom<TableMiss>("default", "drop", { jump: 1 }, { jump: 2 }),
  fc.constantFrom<TableMiss>("default", "drop", { jump: 2 }),
  fc.constantFrom<TableMiss>("default", "drop"),
);

describe("classifier vs naive linear reference (fast-check)", () => {
  it("gives the same verdict, rule and counters for random rule sets and packets", () => {
    fc.assert(
      fc.property(missArb, fc.array(opArb, { minLength: 4, maxLength: 40 }), fc.array(keyArb, { minLength: 16, maxLength: 64 }), (misses, ops, keys) => {
        const c = new FlowClassifier(CAPS, misses.map((miss) => ({ miss })));
        const rules: RefRule[] = [];
        let seq = 0;
        for (const op of ops) {
          if ("create" in op) {
            const m = op.create;
            const r = c.create({ table: m.table, priority: m.priority, match: toMatch(m), actions: toActions(m) });
            if (!r.ok) {
              // The only refusal this generator can provoke: a second exact-match rule with the same key.
              const dup = m.table === 1 && rules.some((x) => x.model.table === 1 && x.model.ipProto === m.ipProto && JSON.stringify(x.model.dstPort) === JSON.stringify(m.dstPort));
              expect({ dup, reason: r.reason }).toEqual({ dup: true, reason: expect.stringMatching(/already holds/) });
              continue;
            }
            rules.push({ handle: r.handle, seq: seq++, model: m, packets: 0 });
          } else if (rules.length > 0) {
            const [victim] = rules.splice(op.destroy % rules.length, 1);
            expect(c.destroy(victim!.handle)).toEqual({ ok: true });
          }
        }
        const verdicts = new Verdicts(32);
        for (let base = 0; base < keys.length; base += 32) {
          const n = Math.min(32, keys.length - base);
          c.classify(keys.slice(base, base + n), n, verdicts);
          for (let i = 0; i < n; i++) {
            const ref = refClassify(rules, misses, keys[base + i]!);
            const got: RefVerdict = {
              fate: verdicts.fate[i]!,
              rule: verdicts.rule[i]!,
              queue: verdicts.fate[i] === FATE_QUEUE || verdicts.fate[i] === FATE_RSS ? verdicts.queue[i]! : 0,
              vport: verdicts.fate[i] === FATE_VPORT ? verdicts.vport[i]! : 0,
              mark: verdicts.mark[i]!,
              marked: (verdicts.actions[i]! & VA_MARK) !== 0,
              lookups: verdicts.lookups[i]!,
            };
            expect(got).toEqual(ref);
          }
        }
        for (const r of rules) {
          if (r.model.count) expect(c.query(r.handle)).toMatchObject({ ok: true, packets: r.packets });
        }
      }),
      { numRuns: 300 },
    );
  });
});
