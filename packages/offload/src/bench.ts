/**
 * Benchmarks of the offload model's lookup hearts, as a function the CLI can
 * call (`@nfvio/offload/bench`) and `bench/classifier.ts` runs:
 *
 * - classifier lookups, burst 32, on exact-match tables of 1k, 100k and 1M
 *   5-tuple rules (hit traffic over 64k distinct flows);
 * - classifier lookups on wildcard (TCAM model) tables of ACL-like rules
 *   with mixed prefix lengths, a protocol and port match, random priorities
 *   and a catch-all default, 1k and 4k rules;
 * - Toeplitz RSS over IPv4/TCP and IPv6/TCP flow keys.
 *
 * Figures are wall-clock, single thread, of this software on this machine,
 * not of the modelled hardware (whose lookup is one pipeline stage).
 */
import { FlowClassifier } from "./classifier/classifier.js";
import { ACTION_TYPES, type ClassifierCaps } from "./classifier/caps.js";
import { FLOW_FIELDS, type FlowMatch } from "./classifier/fields.js";
import { Verdicts } from "./classifier/verdict.js";
import { FK_DST_IP, FK_FLAGS, FK_L3L4, FK_L4_PORTS, FK_SRC_IP, FKF_L4, FlowKey } from "./flow-key.js";
import { DEFAULT_RSS_CAPS, RssDistributor, VIRTIO_NET_HASH_TYPE_ALL, defaultIndirectionTable } from "./rss.js";

export interface ClassifierBenchOptions {
  /** Exact-match table sizes; default 1k, 100k, 1M. */
  readonly exactSizes?: readonly number[];
  /** Wildcard table sizes; default 1k and 4k. */
  readonly wildcardSizes?: readonly number[];
  /** Lookups timed per case; default 2,000,000. */
  readonly lookups?: number;
  /** Burst size; default 32. */
  readonly burst?: number;
  /** Called with one line per finished case. */
  readonly log?: (line: string) => void;
}

export interface ClassifierBenchResult {
  /** Case name, e.g. "exact 5-tuple" or "toeplitz ipv4/tcp". */
  readonly name: string;
  readonly kind: "exact" | "wildcard" | "toeplitz";
  /** Rules installed (0 for Toeplitz). */
  readonly rules: number;
  /** Wildcard tables: distinct masks (subtables probed at worst). */
  readonly masks: number;
  /** Operations timed. */
  readonly ops: number;
  readonly nsPerOp: number;
  /** Millions of lookups (or hashes) per second. */
  readonly mopsPerSec: number;
  /** Time to install the rules through `create`, ms; and the rate, rules/s. */
  readonly setupMs: number;
  readonly rulesPerSec: number;
}

/** Deterministic xorshift32 generator. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function caps(kind: "exact" | "wildcard", capacity: number): ClassifierCaps {
  return {
    name: `bench-${kind}`,
    tables: [
      kind === "exact"
        ? { kind, capacity, fields: FLOW_FIELDS, actions: ACTION_TYPES, defaultKey: ["srcIpv4", "dstIpv4", "ipProto", "srcPort", "dstPort"] }
        : { kind, capacity, fields: FLOW_FIELDS, actions: ACTION_TYPES, rangeExpansion: 0, priorities: 16 },
    ],
    maxLookups: 1,
    counters: 0,
    rssContexts: 1,
    rss: DEFAULT_RSS_CAPS,
    queues: 64,
    vports: 1024,
    encapTemplates: 0,
  };
}

function tcpKey(k: FlowKey, src: number, dst: number, sport: number, dport: number, proto = 6): void {
  const w = k.words;
  w.fill(0);
  w[FK_L3L4] = ((proto << 24) | (4 << 12)) >>> 0;
  w[FK_FLAGS] = FKF_L4;
  w[FK_SRC_IP] = src >>> 0;
  w[FK_DST_IP] = dst >>> 0;
  w[FK_L4_PORTS] = ((sport << 16) | dport) >>> 0;
  w[4] = 0x0800;
  w[34] = 64;
}

/** Packet records for the timed loops: source, destination, L3/L4 word, ports. */
const REC = 4;
const PACKETS = 65536;

/**
 * Time `lookups` classifications in bursts. Each burst's keys are refilled
 * from the next packet records, as a parser would fill them (so the keys are
 * hot in cache, as they are right after parsing); the refill is timed alone
 * and subtracted. Returns ns per lookup.
 */
function timeLookups(lookups: number, burst: number, packets: Uint32Array, classify: (keys: FlowKey[], n: number) => void): number {
  const keys = FlowKey.burst(burst);
  for (const k of keys) tcpKey(k, 0, 0, 0, 0);
  const npk = packets.length / REC;
  let pos = 0;
  const fill = (): void => {
    for (let j = 0; j < burst; j++) {
      const w = keys[j]!.words;
      const r = pos * REC;
      w[FK_SRC_IP] = packets[r]!;
      w[FK_DST_IP] = packets[r + 1]!;
      w[FK_L3L4] = packets[r + 2]!;
      w[FK_L4_PORTS] = packets[r + 3]!;
      if (++pos === npk) pos = 0;
    }
  };
  const run = (n: number, withLookup: boolean): number => {
    pos = 0;
    const t0 = process.hrtime.bigint();
    for (let done = 0; done < n; done += burst) {
      fill();
      if (withLookup) classify(keys, burst);
    }
    return Number(process.hrtime.bigint() - t0);
  };
  run(Math.min(lookups, 200_000), true); // warm up the JIT
  run(Math.min(lookups, 200_000), false);
  const total = run(lookups, true);
  const fillOnly = run(lookups, false);
  return Math.max(0, total - fillOnly) / lookups;
}

function record(packets: Uint32Array, i: number, src: number, dst: number, proto: number, sport: number, dport: number, version = 4): void {
  packets[i * REC] = src >>> 0;
  packets[i * REC + 1] = dst >>> 0;
  packets[i * REC + 2] = ((proto << 24) | (version << 12)) >>> 0;
  packets[i * REC + 3] = ((sport << 16) | dport) >>> 0;
}

function exactCase(size: number, lookups: number, burst: number): ClassifierBenchResult {
  const c = new FlowClassifier(caps("exact", size));
  const next = rng(size);
  const flows = new Uint32Array(size * 3);
  const t0 = performance.now();
  for (let i = 0; i < size; i++) {
    const src = (0x0a000000 + i) >>> 0;
    const dst = next();
    const ports = next();
    flows[i * 3] = src;
    flows[i * 3 + 1] = dst;
    flows[i * 3 + 2] = ports;
    const r = c.create({
      match: { srcIpv4: src, dstIpv4: dst, ipProto: 6, srcPort: ports >>> 16, dstPort: ports & 0xffff },
      actions: [{ type: "vport", id: i & 1023 }],
    });
    if (!r.ok) throw new Error(`bench setup refused: ${r.reason}`);
  }
  const setupMs = performance.now() - t0;
  const packets = new Uint32Array(PACKETS * REC);
  for (let i = 0; i < PACKETS; i++) {
    const f = next() % size;
    const p = flows[f * 3 + 2]!;
    record(packets, i, flows[f * 3]!, flows[f * 3 + 1]!, 6, p >>> 16, p & 0xffff);
  }
  const v = new Verdicts(burst);
  const ns = timeLookups(lookups, burst, packets, (keys, n) => c.classify(keys, n, v));
  if (c.stats.misses[0] !== 0) throw new Error("exact bench: lookups missed");
  return { name: "exact 5-tuple", kind: "exact", rules: size, masks: 1, ops: lookups, nsPerOp: ns, mopsPerSec: 1000 / ns, setupMs, rulesPerSec: size / (setupMs / 1000) };
}

function wildcardCase(size: number, lookups: number, burst: number): ClassifierBenchResult {
  const c = new FlowClassifier(caps("wildcard", size + 1));
  const next = rng(size * 7 + 1);
  const srcLens = [8, 16, 24, 32];
  const dstLens = [16, 24, 32];
  const rules: { src: number; sl: number; dst: number; dl: number; proto: number; port: number }[] = [];
  const t0 = performance.now();
  for (let i = 0; i < size; i++) {
    const sl = srcLens[next() % srcLens.length]!;
    const dl = dstLens[next() % dstLens.length]!;
    const src = (0x0a000000 | (next() & 0x00ffffff)) >>> 0;
    const dst = (0xac100000 | (next() & 0x000fffff)) >>> 0;
    const proto = next() % 3 === 0 ? 0 : next() % 2 === 0 ? 6 : 17;
    const port = next() % 2 === 0 ? 0 : [22, 53, 80, 443, 8080][next() % 5]!;
    const match: Record<string, unknown> = { srcIpv4: { value: src, prefix: sl }, dstIpv4: { value: dst, prefix: dl } };
    if (proto !== 0) match.ipProto = proto;
    if (port !== 0 && proto !== 0) match.dstPort = port;
    const r = c.create({ priority: 1 + (next() % 14), match: match as FlowMatch, actions: [next() % 4 === 0 ? { type: "drop" } : { type: "queue", index: next() % 64 }] });
    if (!r.ok) throw new Error(`bench setup refused: ${r.reason}`);
    rules.push({ src, sl, dst, dl, proto, port: proto !== 0 ? port : 0 });
  }
  // The ACL's default: lowest priority, matches everything.
  c.create({ priority: 15, match: {}, actions: [{ type: "queue", index: 0 }] });
  const setupMs = performance.now() - t0;
  const packets = new Uint32Array(PACKETS * REC);
  for (let i = 0; i < PACKETS; i++) {
    // Half the packets fall inside a random rule's match (wildcard bits random), half are random.
    const r = rules[next() % rules.length]!;
    const inside = next() % 2 === 0;
    const keep = (v: number, len: number, rand: number): number => (len === 32 ? v : ((v & ~(0xffffffff >>> len)) | (rand & (0xffffffff >>> len))) >>> 0);
    const src = inside ? keep(r.src, r.sl, next()) : next();
    const dst = inside ? keep(r.dst, r.dl, next()) : next();
    const proto = inside && r.proto !== 0 ? r.proto : next() % 2 === 0 ? 6 : 17;
    const dport = inside && r.port !== 0 ? r.port : next() & 0xffff;
    record(packets, i, src, dst, proto, next() & 0xffff, dport);
  }
  const v = new Verdicts(burst);
  const ns = timeLookups(lookups, burst, packets, (keys, n) => c.classify(keys, n, v));
  const masks = c.tableUsage(0).masks;
  return { name: "wildcard ACL", kind: "wildcard", rules: size + 1, masks, ops: lookups, nsPerOp: ns, mopsPerSec: 1000 / ns, setupMs, rulesPerSec: (size + 1) / (setupMs / 1000) };
}

function toeplitzCase(v6: boolean, ops: number, burst: number): ClassifierBenchResult {
  const d = new RssDistributor({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(16), unclassifiedQueue: 0 });
  const next = rng(v6 ? 66 : 44);
  const packets = new Uint32Array(PACKETS * REC);
  // IPv6 records vary the first word of each address; the other words stay zero (the hash cost is the same).
  for (let i = 0; i < PACKETS; i++) record(packets, i, next(), next(), 6, next() & 0xffff, next() & 0xffff, v6 ? 6 : 4);
  const queues = new Uint16Array(burst);
  const hashes = new Uint32Array(burst);
  const reports = new Uint8Array(burst);
  const ns = timeLookups(ops, burst, packets, (keys, n) => d.distribute(keys, n, queues, hashes, reports));
  return { name: v6 ? "toeplitz ipv6/tcp" : "toeplitz ipv4/tcp", kind: "toeplitz", rules: 0, masks: 0, ops, nsPerOp: ns, mopsPerSec: 1000 / ns, setupMs: 0, rulesPerSec: 0 };
}

/** One line for a result, as printed by the bench script. */
export function formatClassifierBenchResult(r: ClassifierBenchResult): string {
  const what = r.kind === "toeplitz" ? r.name.padEnd(28) : `${r.name} ${r.rules.toLocaleString("en-US")} rules`.padEnd(28);
  const masks = r.kind === "wildcard" ? `  ${r.masks} masks` : "";
  const setup = r.kind === "toeplitz" ? "" : `  (install ${(r.rulesPerSec / 1000).toFixed(0)}k rules/s)`;
  return `${what} ${r.nsPerOp.toFixed(1).padStart(7)} ns/op  ${r.mopsPerSec.toFixed(2).padStart(7)} M/s${masks}${setup}`;
}

/** Run every case and return the figures. Takes tens of seconds with the defaults (the 1M-rule install dominates). */
export function runClassifierBench(options: ClassifierBenchOptions = {}): ClassifierBenchResult[] {
  const lookups = options.lookups ?? 2_000_000;
  const burst = options.burst ?? 32;
  const log = options.log ?? (() => {});
  const out: ClassifierBenchResult[] = [];
  const push = (r: ClassifierBenchResult): void => {
    out.push(r);
    log(formatClassifierBenchResult(r));
  };
  for (const n of options.exactSizes ?? [1_000, 100_000, 1_000_000]) push(exactCase(n, lookups, burst));
  for (const n of options.wildcardSizes ?? [1_000, 4_000]) push(wildcardCase(n, lookups, burst));
  push(toeplitzCase(false, lookups * 2, burst));
  push(toeplitzCase(true, lookups * 2, burst));
  return out;
}
