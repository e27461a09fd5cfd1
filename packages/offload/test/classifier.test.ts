import { describe, expect, it } from "vitest";
import { OffloadError } from "../src/errors.js";
import { FKE_IP_LENGTH, FKF_IP_FRAG, FlowKey, flowKeyFromFields, flowKeyFromFrame, type FlowKeyInit } from "../src/flow-key.js";
import { DEFAULT_RSS_CAPS, DEFAULT_RSS_KEY, RssDistributor, VIRTIO_NET_HASH_REPORT_TCPv4, VIRTIO_NET_HASH_TYPE_IPv4, VIRTIO_NET_HASH_TYPE_TCPv4, toeplitzReference } from "../src/rss.js";
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
  GENERIC_SMARTNIC_CAPS,
  MIRROR_UPLINK,
  VA_COUNT,
  VA_MARK,
  VA_MIRROR,
  VA_VLAN_POP,
  VA_VLAN_PUSH,
  VA_VXLAN_DECAP,
  VA_VXLAN_ENCAP,
  Verdicts,
  rangeToPrefixes,
  type ClassifierCaps,
  type FlowMatch,
  type FlowRule,
  type TableConfig,
} from "../src/classifier/index.js";
import { runClassifierBench } from "../src/bench.js";
import { eth, ipv4 } from "./flow-frames.js";

const TEST_CAPS: ClassifierCaps = {
  name: "test",
  tables: [
    { kind: "wildcard", capacity: 64, fields: FLOW_FIELDS, actions: ACTION_TYPES, rangeExpansion: 16, priorities: 16 },
    { kind: "exact", capacity: 4, fields: FLOW_FIELDS, actions: ACTION_TYPES, defaultKey: ["srcIpv4", "dstIpv4", "ipProto", "srcPort", "dstPort"] },
    {
      kind: "wildcard",
      capacity: 16,
      fields: ["port", "dmac", "srcIpv4", "dstIpv4", "ipProto", "dstPort", "vni", "tunnel"],
      actions: ["queue", "vport", "uplink", "drop", "mark", "count", "vlanPush", "vlanPop", "vxlanDecap", "vxlanEncap", "mirror"],
      masks: "prefix",
    },
  ],
  maxLookups: 3,
  counters: 4,
  rssContexts: 2,
  rss: DEFAULT_RSS_CAPS,
  queues: 16,
  vports: 8,
  encapTemplates: 2,
};

function make(tables: readonly (TableConfig | undefined)[] = [], caps: ClassifierCaps = TEST_CAPS): FlowClassifier {
  return new FlowClassifier(caps, tables);
}

function install(c: FlowClassifier, rule: FlowRule): number {
  const r = c.create(rule);
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.handle;
}

const v = new Verdicts(32);
function classifyOne(c: FlowClassifier, key: FlowKey | FlowKeyInit): number {
  const k = key instanceof FlowKey ? key : flowKeyFromFields(key);
  c.classify([k], 1, v);
  return v.fate[0]!;
}

const TCP = { srcIp: "10.0.0.1", dstIp: "10.0.0.2", ipProto: 6, srcPort: 1000, dstPort: 80 } as const;

describe("classifier fields", () => {
  // [match, a key that matches, a key that must not]
  const cases: [string, FlowMatch, FlowKeyInit, FlowKeyInit][] = [
    ["port", { port: 3 }, { port: 3 }, { port: 4 }],
    ["dmac text", { dmac: "02:00:00:00:00:0a" }, { dmac: 0x02000000000a }, { dmac: 0x02000000000b }],
    ["smac OUI mask", { smac: { value: "00:1b:21:00:00:00", mask: "ff:ff:ff:00:00:00" } }, { smac: "00:1b:21:12:34:56" }, { smac: "00:1b:22:12:34:56" }],
    ["vlanId", { vlanId: 0 }, { vlanTci: 0x2000 }, {}],
    ["vlanPcp", { vlanPcp: 5 }, { vlanTci: (5 << 13) | 10 }, { vlanTci: (4 << 13) | 10 }],
    ["vlanDei", { vlanDei: 1 }, { vlanTci: (1 << 12) | 10 }, { vlanTci: 10 }],
    ["vlan present", { vlan: 1 }, { vlanTci: 1 }, {}],
    ["etherType", { etherType: 0x0806 }, { etherType: 0x0806 }, { etherType: 0x0800 }],
    ["ipVersion", { ipVersion: 6 }, { srcIp: "::1" }, { srcIp: "1.1.1.1" }],
    ["ipTos DSCP EF", { ipTos: { value: 0xb8, mask: 0xfc } }, { ...TCP, ipTos: 0xb9 }, { ...TCP, ipTos: 0x28 }],
    ["ipProto", { ipProto: 17 }, { ...TCP, ipProto: 17 }, TCP],
    ["tcpFlags SYN", { tcpFlags: { value: 0x02, mask: 0x12 } }, { ...TCP, tcpFlags: 0x02 }, { ...TCP, tcpFlags: 0x12 }],
    ["flags (fragment bit)", { flags: { value: FKF_IP_FRAG, mask: FKF_IP_FRAG } }, { ...TCP, flags: FKF_IP_FRAG }, TCP],
    ["fragment", { fragment: 1 }, { ...TCP, flags: FKF_IP_FRAG }, TCP],
    ["l4", { l4: 0 }, { srcIp: "1.1.1.1", dstIp: "2.2.2.2", ipProto: 1 }, TCP],
    ["parseErrors", { parseErrors: { value: FKE_IP_LENGTH >>> 16, mask: FKE_IP_LENGTH >>> 16 } }, { ...TCP, flags: FKE_IP_LENGTH }, TCP],
    ["srcIpv4 prefix", { srcIpv4: "10.0.0.0/8" }, TCP, { ...TCP, srcIp: "11.0.0.1" }],
    ["dstIpv4 exact", { dstIpv4: "10.0.0.2" }, TCP, { ...TCP, dstIp: "10.0.0.3" }],
    ["dstIpv4 as number", { dstIpv4: 0x0a000002 }, TCP, { ...TCP, dstIp: "10.0.0.3" }],
    ["srcIpv4 arbitrary mask", { srcIpv4: { value: "0.0.0.1", mask: "0.0.0.255" } }, TCP, { ...TCP, srcIp: "10.0.0.2" }],
    // An IPv4 prefix must not match an IPv6 address whose first word agrees (0a00:0000::).
    ["srcIpv4 vs IPv6", { srcIpv4: "10.0.0.0/8" }, TCP, { srcIp: "a00::1", dstIp: "::2" }],
    ["srcIpv6 prefix", { srcIpv6: "2001:db8::/32" }, { srcIp: "2001:db8:1::1", dstIp: "::1" }, { srcIp: "2001:db9::1", dstIp: "::1" }],
    ["dstIpv6 exact", { dstIpv6: "fe80::1" }, { srcIp: "::1", dstIp: "fe80::1" }, { srcIp: "::1", dstIp: "fe80::2" }],
    ["srcPort", { srcPort: 1000 }, TCP, { ...TCP, srcPort: 1001 }],
    ["dstPort range", { dstPort: { range: [79, 81] } }, TCP, { ...TCP, dstPort: 82 }],
    ["dstPort 0 needs L4", { dstPort: 0 }, { ...TCP, dstPort: 0 }, { srcIp: "1.1.1.1", dstIp: "2.2.2.2", ipProto: 1 }],
    ["vni", { vni: 0 }, { ...TCP, tunnel: { vni: 0, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2" } }, TCP],
    ["tunnel", { tunnel: 1 }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2" } }, TCP],
    ["outerIpVersion", { outerIpVersion: 6 }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "::1", outerDstIp: "::2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2" } }],
    ["outerSrcIpv4", { outerSrcIpv4: "172.16.0.0/12" }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "172.20.0.1", outerDstIp: "2.2.2.2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "172.32.0.1", outerDstIp: "2.2.2.2" } }],
    ["outerDstIpv4", { outerDstIpv4: "2.2.2.2" }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.3" } }],
    ["outerSrcIpv6", { outerSrcIpv6: "fd00::/8" }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "fd12::1", outerDstIp: "::2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "fe12::1", outerDstIp: "::2" } }],
    ["outerDstIpv6", { outerDstIpv6: "::2" }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "::1", outerDstIp: "::2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "::1", outerDstIp: "::3" } }],
    ["outerSrcPort", { outerSrcPort: { range: [49152, 65535] } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2", outerSrcPort: 50000 } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2", outerSrcPort: 1000 } }],
    ["outerDstPort", { outerDstPort: 4789 }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2" } }, { ...TCP, tunnel: { vni: 9, outerSrcIp: "1.1.1.1", outerDstIp: "2.2.2.2", outerDstPort: 4790 } }],
  ];

  it.each(cases)("%s", (_name, match, hit, miss) => {
    const c = make();
    install(c, { match, actions: [{ type: "queue", index: 1 }] });
    expect(classifyOne(c, hit)).toBe(FATE_QUEUE);
    expect(classifyOne(c, miss)).toBe(FATE_DEFAULT);
  });

  it("covers every field", () => {
    const named = new Set(cases.flatMap(([, m]) => Object.keys(m)));
    expect(FLOW_FIELDS.filter((f) => !named.has(f))).toEqual([]);
  });

  it("expands ranges into the minimal prefix set", () => {
    expect(rangeToPrefixes(79, 81, 16)).toEqual([
      [79, 0xffff],
      [80, 0xfffe],
    ]);
    expect(rangeToPrefixes(0, 65535, 16)).toEqual([[0, 0]]);
    expect(rangeToPrefixes(1, 65534, 16).length).toBe(30);
    expect(rangeToPrefixes(1024, 65535, 16)).toEqual([
      [1024, 0xfc00],
      [2048, 0xf800],
      [4096, 0xf000],
      [8192, 0xe000],
      [16384, 0xc000],
      [32768, 0x8000],
    ]);
  });

  it("matches parsed frames", () => {
    const c = make();
    install(c, { match: { srcIpv4: "192.168.0.0/16", ipProto: 17, dstPort: 53 }, actions: [{ type: "vport", id: 2 }] });
    const f = eth(0x0800, ipv4({ src: "192.168.7.7", dst: "8.8.8.8", proto: 17, payload: Uint8Array.from([0, 1, 0, 53, 0, 8, 0, 0]) }));
    expect(classifyOne(c, flowKeyFromFrame(f, 0, f.length, 0, new FlowKey()))).toBe(FATE_VPORT);
    expect(v.vport[0]).toBe(2);
  });
});

describe("classifier actions", () => {
  it("queue, vport, uplink, drop", () => {
    const c = make();
    const handles = [
      install(c, { match: { port: 1 }, actions: [{ type: "queue", index: 7 }] }),
      install(c, { match: { port: 2 }, actions: [{ type: "vport", id: 5 }] }),
      install(c, { match: { port: 3 }, actions: [{ type: "uplink" }] }),
      install(c, { match: { port: 4 }, actions: [{ type: "drop" }] }),
    ];
    const keys = [1, 2, 3, 4, 5].map((port) => flowKeyFromFields({ port }));
    c.classify(keys, 5, v);
    expect([...v.fate.subarray(0, 5)]).toEqual([FATE_QUEUE, FATE_VPORT, FATE_UPLINK, FATE_DROP, FATE_DEFAULT]);
    expect(v.queue[0]).toBe(7);
    expect(v.vport[1]).toBe(5);
    expect([...v.rule.subarray(0, 5)]).toEqual([...handles, -1]);
    expect(new Set(handles).size).toBe(4);
    expect(v.actionSet[4]).toBe(-1);
    expect(c.stats.packets).toBe(5);
    expect(c.stats.hits[0]).toBe(4);
    expect(c.stats.misses[0]).toBe(1);
  });

  it("rss: Toeplitz over the rule's queue set, with the hash report", () => {
    const c = make();
    const h = install(c, { match: { ipProto: 6 }, actions: [{ type: "rss", queues: [4, 5, 6, 7], hashTypes: VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_IPv4 }] });
    const key = flowKeyFromFields(TCP);
    expect(classifyOne(c, key)).toBe(FATE_RSS);
    const expected = toeplitzReference(DEFAULT_RSS_KEY, [10, 0, 0, 1, 10, 0, 0, 2, 1000 >> 8, 1000 & 255, 0, 80]);
    expect(v.hashReport[0]).toBe(VIRTIO_NET_HASH_REPORT_TCPv4);
    expect(v.hash[0]).toBe(expected);
    expect(v.queue[0]).toBe([4, 5, 6, 7][expected % 4]);
    expect(c.rssContextOf(h)).toBeInstanceOf(RssDistributor);
    const seen = new Set<number>();
    for (let p = 0; p < 200; p++) {
      classifyOne(c, { ...TCP, srcPort: p });
      seen.add(v.queue[0]!);
    }
    expect([...seen].sort()).toEqual([4, 5, 6, 7]);
    // A packet without a hash goes to the first queue of the set.
    const d = make();
    install(d, { match: {}, actions: [{ type: "rss", queues: [9, 3], hashTypes: VIRTIO_NET_HASH_TYPE_IPv4 }] });
    classifyOne(d, { etherType: 0x0806 });
    expect(v.queue[0]).toBe(9);
    expect(v.hashReport[0]).toBe(0);
  });

  it("rss after vxlanDecap hashes the inner headers", () => {
    const c = make();
    install(c, { match: { vni: 7 }, actions: [{ type: "vxlanDecap" }, { type: "rss", queues: [0, 1, 2, 3] }] });
    install(c, { match: { tunnel: 1 }, actions: [{ type: "rss", queues: [0, 1, 2, 3] }] });
    const tunnel = { vni: 7, outerSrcIp: "192.0.2.1", outerDstIp: "192.0.2.2", outerSrcPort: 40000 };
    classifyOne(c, { ...TCP, tunnel });
    expect(v.actions[0]).toBe(VA_VXLAN_DECAP);
    expect(v.hash[0]).toBe(toeplitzReference(DEFAULT_RSS_KEY, [10, 0, 0, 1, 10, 0, 0, 2, 1000 >> 8, 1000 & 255, 0, 80]));
    classifyOne(c, { ...TCP, tunnel: { ...tunnel, vni: 8 } });
    expect(v.hash[0]).toBe(toeplitzReference(DEFAULT_RSS_KEY, [192, 0, 2, 1, 192, 0, 2, 2, 40000 >> 8, 40000 & 255, 4789 >> 8, 4789 & 255]));
  });

  it("mark, count and query", () => {
    const c = make();
    const h = install(c, { match: { port: 1 }, actions: [{ type: "mark", id: 0xdeadbeef }, { type: "count" }, { type: "queue", index: 0 }] });
    const k = flowKeyFromFields({ port: 1, frameLength: 100 });
    c.classify([k, k, k], 3, v);
    expect(v.actions[0]).toBe(VA_MARK | VA_COUNT);
    expect(v.mark[2]).toBe(0xdeadbeef);
    expect(c.query(h)).toEqual({ ok: true, packets: 3, bytes: 300 });
    expect(c.query(h, true)).toEqual({ ok: true, packets: 3, bytes: 300 });
    expect(c.query(h)).toEqual({ ok: true, packets: 0, bytes: 0 });
  });

  it("vlan push/pop, vxlan encap/decap, mirror", () => {
    const c = make();
    install(c, { match: { port: 1 }, actions: [{ type: "vlanPush", vid: 100, pcp: 3 }, { type: "mirror", to: { vport: 6 } }, { type: "uplink" }] });
    install(c, { match: { port: 2 }, actions: [{ type: "vlanPop" }, { type: "mirror", to: "uplink" }, { type: "vport", id: 1 }] });
    const tpl = { srcMac: "02:00:00:00:00:01", dstMac: "02:00:00:00:00:02", srcIp: "10.0.0.1", dstIp: "10.0.0.2", vni: 5000 };
    install(c, { match: { port: 3 }, actions: [{ type: "vxlanEncap", template: tpl }, { type: "uplink" }] });
    install(c, { match: { port: 4 }, actions: [{ type: "vxlanEncap", template: { ...tpl } }, { type: "uplink" }] });
    install(c, { match: { port: 5, vni: 5000 }, actions: [{ type: "vxlanDecap" }, { type: "vport", id: 3 }] });
    const keys = [1, 2, 3, 4].map((port) => flowKeyFromFields({ port }));
    keys.push(flowKeyFromFields({ port: 5, ...TCP, tunnel: { vni: 5000, outerSrcIp: "10.0.0.2", outerDstIp: "10.0.0.1" } }));
    c.classify(keys, 5, v);
    expect(v.actions[0]).toBe(VA_VLAN_PUSH | VA_MIRROR);
    expect(v.vlanTci[0]).toBe((3 << 13) | 100);
    expect(v.mirror[0]).toBe(6);
    expect(v.actions[1]).toBe(VA_VLAN_POP | VA_MIRROR);
    expect(v.mirror[1]).toBe(MIRROR_UPLINK);
    expect(v.actions[2]).toBe(VA_VXLAN_ENCAP);
    expect(v.encap[3]).toBe(v.encap[2]); // identical templates share one slot
    const t = c.encapTemplate(v.encap[2]!)!;
    expect(t.vni).toBe(5000);
    expect(t.dstPort).toBe(4789);
    expect(t.ipVersion).toBe(4);
    expect(v.actions[4]).toBe(VA_VXLAN_DECAP);
    expect(v.fate[4]).toBe(FATE_VPORT);
  });

  it("jump: non-fate actions gather along the chain; later VLAN actions replace earlier ones", () => {
    const c = make([undefined, { key: ["port"] }]);
    install(c, { match: { port: 1 }, actions: [{ type: "mark", id: 1 }, { type: "vlanPush", vid: 5 }, { type: "jump", table: 1 }] });
    install(c, { table: 1, match: { port: 1 }, actions: [{ type: "jump", table: 2 }, { type: "mark", id: 2 }] });
    const last = install(c, { table: 2, match: { port: 1 }, actions: [{ type: "vlanPop" }, { type: "vport", id: 4 }] });
    expect(classifyOne(c, { port: 1 })).toBe(FATE_VPORT);
    expect(v.mark[0]).toBe(2);
    expect(v.actions[0]).toBe(VA_MARK | VA_VLAN_POP);
    expect(v.lookups[0]).toBe(3);
    expect(v.rule[0]).toBe(last);
  });

  it("miss behaviour: default, drop, jump", () => {
    const c = make([{ miss: { jump: 2 } }, undefined, { miss: "drop" }]);
    install(c, { table: 2, match: { port: 9 }, actions: [{ type: "queue", index: 2 }] });
    expect(classifyOne(c, { port: 9 })).toBe(FATE_QUEUE);
    expect(v.lookups[0]).toBe(2);
    expect(classifyOne(c, { port: 8 })).toBe(FATE_DROP);
    expect(c.configureTable(2, { miss: "default" })).toEqual({ ok: true });
    expect(classifyOne(c, { port: 8 })).toBe(FATE_DEFAULT);
    expect(c.configureTable(0, { miss: "drop" })).toEqual({ ok: true });
    expect(classifyOne(c, { port: 9 })).toBe(FATE_DROP);
  });

  it("priorities: lowest number wins, ties go to the older rule, destroy exposes the next", () => {
    const c = make();
    const a = install(c, { priority: 5, match: { srcIpv4: "10.0.0.0/8" }, actions: [{ type: "queue", index: 1 }] });
    const b = install(c, { priority: 2, match: { srcIpv4: "10.0.0.0/16" }, actions: [{ type: "queue", index: 2 }] });
    const d = install(c, { priority: 2, match: { dstPort: 80 }, actions: [{ type: "queue", index: 3 }] });
    classifyOne(c, TCP);
    expect(v.queue[0]).toBe(2);
    expect(c.destroy(b)).toEqual({ ok: true });
    classifyOne(c, TCP);
    expect(v.queue[0]).toBe(3);
    expect(c.destroy(d)).toEqual({ ok: true });
    classifyOne(c, TCP);
    expect(v.queue[0]).toBe(1);
    c.destroy(a);
    expect(classifyOne(c, TCP)).toBe(FATE_DEFAULT);
    expect(c.tableUsage(0)).toMatchObject({ entries: 0, rules: 0, masks: 0 });
  });

  it("exact tables: hit, miss, duplicate, delete and re-add, template prefix", () => {
    const c = make([undefined, { key: ["srcIpv4", { field: "dstIpv4", prefix: 24 }] }]);
    expect(c.tableUsage(1).key).toEqual(["srcIpv4", "dstIpv4"]);
    const h = install(c, { table: 1, match: { srcIpv4: "1.1.1.1", dstIpv4: "2.2.2.0/24" }, actions: [{ type: "queue", index: 4 }] });
    const c0 = make();
    expect(c0.tableUsage(1).key).toEqual(["srcIpv4", "dstIpv4", "ipProto", "srcPort", "dstPort"]);
    install(c, { match: {}, actions: [{ type: "jump", table: 1 }] });
    expect(classifyOne(c, { srcIp: "1.1.1.1", dstIp: "2.2.2.77" })).toBe(FATE_QUEUE);
    expect(classifyOne(c, { srcIp: "1.1.1.1", dstIp: "2.2.3.77" })).toBe(FATE_DEFAULT);
    const dup = c.create({ table: 1, match: { srcIpv4: "1.1.1.1", dstIpv4: "2.2.2.9/24" }, actions: [{ type: "drop" }] });
    expect(dup).toMatchObject({ ok: false, kind: "usage" });
    c.destroy(h);
    expect(classifyOne(c, { srcIp: "1.1.1.1", dstIp: "2.2.2.77" })).toBe(FATE_DEFAULT);
    install(c, { table: 1, match: { srcIpv4: "1.1.1.1", dstIpv4: "2.2.2.0/24" }, actions: [{ type: "drop" }] });
    expect(classifyOne(c, { srcIp: "1.1.1.1", dstIp: "2.2.2.77" })).toBe(FATE_DROP);
  });

  it("exact tables survive churn (backward-shift deletion)", () => {
    const caps: ClassifierCaps = { ...TEST_CAPS, tables: [{ kind: "exact", capacity: 5000, fields: FLOW_FIELDS, actions: ACTION_TYPES, defaultKey: ["port"] }] };
    const c = make([], caps);
    const live = new Map<number, number>();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 20000; step++) {
      const port = rnd(3000);
      const h = live.get(port);
      if (h === undefined) live.set(port, install(c, { match: { port }, actions: [{ type: "queue", index: port % 16 }] }));
      else {
        c.destroy(h);
        live.delete(port);
      }
    }
    const key = new FlowKey();
    for (let port = 0; port < 3000; port++) {
      key.port = port;
      c.classify([key], 1, v);
      expect(v.fate[0]).toBe(live.has(port) ? FATE_QUEUE : FATE_DEFAULT);
    }
    expect(c.tableUsage(0).entries).toBe(live.size);
  });
});

describe("classifier refusals", () => {
  /** Create must refuse with `kind` and a reason matching `re`, and leave the classifier unchanged. */
  function refused(c: FlowClassifier, rule: FlowRule, kind: string, re: RegExp): void {
    const before = JSON.stringify([c.ruleCount, [0, 1, 2].map((t) => c.tableUsage(t))]);
    const val = c.validate(rule);
    const r = c.create(rule);
    expect(r.ok).toBe(false);
    expect(val).toEqual(r);
    if (!r.ok) {
      expect(r.kind).toBe(kind);
      expect(r.reason).toMatch(re);
    }
    expect(JSON.stringify([c.ruleCount, [0, 1, 2].map((t) => c.tableUsage(t))])).toBe(before);
  }
  const q = [{ type: "queue", index: 0 }] as const;

  it("capacity: a full exact table, and range expansion past a wildcard table's free entries (nothing half-installed)", () => {
    const c = make();
    for (let i = 0; i < 4; i++) install(c, { table: 1, match: { ...{ srcIpv4: i, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 } }, actions: q });
    refused(c, { table: 1, match: { srcIpv4: 9, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: q }, "capacity", /full/);
    for (let i = 0; i < 60; i++) install(c, { match: { port: i }, actions: q });
    // [1, 14] expands to 6 prefixes; 4 entries are free.
    refused(c, { match: { dstPort: { range: [1, 14] } }, actions: q }, "capacity", /4 free entries; the rule needs 6 after range expansion/);
    install(c, { match: { dstPort: { range: [8, 15] } }, actions: q });
    expect(c.tableUsage(0).entries).toBe(61);
  });

  it("ranges the device will not expand, and masks it cannot hold", () => {
    const c = make();
    refused(c, { match: { dstPort: { range: [1, 65534] } }, actions: q }, "unsupported", /limit of 16 per rule/);
    refused(c, { table: 2, match: { dstPort: { range: [1, 2] } }, actions: q }, "unsupported", /cannot match ranges/);
    refused(c, { table: 2, match: { srcIpv4: { value: "0.0.0.1", mask: "0.0.0.255" } }, actions: q }, "unsupported", /only prefix masks/);
    expect(c.create({ table: 2, match: { srcIpv4: "10.0.0.0/8" }, actions: q }).ok).toBe(true);
    refused(c, { table: 1, match: { srcIpv4: "1.1.1.0/24", dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: q }, "unsupported", /must use the key's masks/);
    refused(c, { table: 1, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: { range: [1, 2] } }, actions: q }, "unsupported", /cannot match ranges/);
  });

  it("fields a table cannot match, or an exact key does not cover", () => {
    const c = make();
    refused(c, { table: 2, match: { smac: 1 }, actions: q }, "unsupported", /cannot match on field "smac"/);
    refused(c, { table: 1, match: { srcIpv4: 1 }, actions: q }, "unsupported", /lacks dstIpv4, ipProto, srcPort, dstPort/);
    refused(c, { table: 1, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2, port: 1 }, actions: q }, "unsupported", /cannot match port/);
    refused(c, { table: 1, priority: 3, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: q }, "unsupported", /no rule priorities/);
    refused(c, { priority: 16, match: {}, actions: q }, "unsupported", /priority 16 is outside 0..15/);
    refused(c, { table: 3, match: {}, actions: q }, "malformed", /no table 3/);
  });

  it("malformed and conflicting match values", () => {
    const c = make();
    refused(c, { match: { nosuch: 1 } as unknown as FlowMatch, actions: q }, "malformed", /unknown match field "nosuch"/);
    refused(c, { match: { srcIpv4: "10.0.0.300" }, actions: q }, "malformed", /bad IPv4/);
    refused(c, { match: { srcIpv6: "2001:::1" }, actions: q }, "malformed", /bad IPv6/);
    refused(c, { match: { srcIpv4: "10.0.0.0/33" }, actions: q }, "malformed", /prefix/);
    refused(c, { match: { dmac: "zz:00:00:00:00:00" }, actions: q }, "malformed", /bad MAC/);
    refused(c, { match: { dstPort: 70000 }, actions: q }, "malformed", /wider than 16 bits/);
    refused(c, { match: { ipProto: "tcp" }, actions: q }, "malformed", /text values/);
    refused(c, { match: { dstPort: { range: [10, 5] } }, actions: q }, "malformed", /bad range/);
    refused(c, { match: { srcIpv4: "10.0.0.1", srcIpv6: "::1" }, actions: q }, "malformed", /conflicts/);
    refused(c, { match: { ipVersion: 6, dstIpv4: "1.1.1.1" }, actions: q }, "malformed", /implies ipVersion = 4/);
    refused(c, { match: { tunnel: 0, vni: 5 }, actions: q }, "malformed", /implies tunnel = 1/);
    refused(c, { match: { ipProto: 17, tcpFlags: 2 }, actions: q }, "malformed", /implies ipProto = 6/);
  });

  it("fate actions: none, two, and unknown or duplicated actions", () => {
    const c = make();
    refused(c, { match: {}, actions: [] }, "malformed", /exactly one fate action.*none/);
    refused(c, { match: {}, actions: [{ type: "mark", id: 1 }] }, "malformed", /none/);
    refused(c, { match: {}, actions: [{ type: "queue", index: 1 }, { type: "drop" }] }, "unsupported", /queue and drop/);
    refused(c, { match: {}, actions: [{ type: "vport", id: 1 }, { type: "jump", table: 1 }] }, "unsupported", /vport and jump/);
    refused(c, { match: {}, actions: [{ type: "mark", id: 1 }, { type: "mark", id: 2 }, { type: "drop" }] }, "unsupported", /mark appears twice/);
    refused(c, { match: {}, actions: [{ type: "teleport" } as never] }, "malformed", /unknown action/);
  });

  it("action combinations and values the device cannot express", () => {
    const c = make();
    refused(c, { table: 2, match: {}, actions: [{ type: "rss", queues: [0, 1] }] }, "unsupported", /does not support the rss action/);
    refused(c, { match: {}, actions: [{ type: "vlanPush", vid: 1 }, { type: "vlanPop" }, { type: "uplink" }] }, "unsupported", /vlanPush and vlanPop/);
    refused(c, { match: { vni: 1 }, actions: [{ type: "vxlanDecap" }, { type: "vxlanEncap", template: { srcMac: 1, dstMac: 2, srcIp: "1.1.1.1", dstIp: "2.2.2.2", vni: 1 } }, { type: "uplink" }] }, "unsupported", /vxlanEncap and vxlanDecap/);
    refused(c, { match: {}, actions: [{ type: "vlanPush", vid: 1 }, { type: "drop" }] }, "unsupported", /drop with packet-modifying/);
    refused(c, { match: { port: 1 }, actions: [{ type: "vxlanDecap" }, { type: "vport", id: 1 }] }, "unsupported", /needs a match on a VXLAN tunnel/);
    refused(c, { match: {}, actions: [{ type: "queue", index: 16 }] }, "malformed", /queue 16/);
    refused(c, { match: {}, actions: [{ type: "vport", id: 8 }] }, "malformed", /vport 8/);
    refused(c, { match: {}, actions: [{ type: "mirror", to: { vport: 99 } }, { type: "drop" }] }, "malformed", /mirror target/);
    refused(c, { match: {}, actions: [{ type: "vlanPush", vid: 4096 }, { type: "uplink" }] }, "malformed", /vid 0..4095/);
    refused(c, { match: {}, actions: [{ type: "mark", id: -1 }, { type: "drop" }] }, "malformed", /not a u32/);
    refused(c, { match: {}, actions: [{ type: "rss", queues: [] }] }, "malformed", /at least one queue/);
    refused(c, { match: {}, actions: [{ type: "rss", queues: [0], hashTypes: 1 << 12 }] }, "unsupported", /does not support/);
    refused(c, { match: {}, actions: [{ type: "rss", queues: [0], key: new Array(41).fill(1) }] }, "unsupported", /exceeds the device's 40/);
    refused(c, { match: {}, actions: [{ type: "vxlanEncap", template: { srcMac: 1, dstMac: 2, srcIp: "1.1.1.1", dstIp: "::2", vni: 1 } }, { type: "uplink" }] }, "malformed", /one family/);
    refused(c, { match: {}, actions: [{ type: "vxlanEncap", template: { srcMac: 1, dstMac: 2, srcIp: "1.1.1.1", dstIp: "2.2.2.2", vni: 1 << 24 } }, { type: "uplink" }] }, "malformed", /24-bit/);
  });

  it("jumps only forward, to existing tables, within the lookup depth", () => {
    const c = make();
    refused(c, { table: 1, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: [{ type: "jump", table: 1 }] }, "unsupported", /only to higher table ids/);
    refused(c, { table: 1, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: [{ type: "jump", table: 0 }] }, "unsupported", /only to higher table ids/);
    refused(c, { table: 2, match: {}, actions: [{ type: "jump", table: 0 }] }, "unsupported", /does not support the jump action/);
    refused(c, { match: {}, actions: [{ type: "jump", table: 3 }] }, "malformed", /does not exist/);
    const shallow = make([], { ...TEST_CAPS, maxLookups: 2 });
    install(shallow, { match: { port: 1 }, actions: [{ type: "jump", table: 1 }] });
    refused(shallow, { table: 1, match: { srcIpv4: 1, dstIpv4: 1, ipProto: 6, srcPort: 1, dstPort: 2 }, actions: [{ type: "jump", table: 2 }] }, "unsupported", /3 tables long; the device does 2/);
    expect(shallow.configureTable(1, { miss: { jump: 2 } })).toMatchObject({ ok: false, kind: "unsupported" });
    install(shallow, { match: { port: 2 }, actions: [{ type: "jump", table: 2 }] });
    expect(c.configureTable(2, { miss: { jump: 1 } })).toMatchObject({ ok: false, kind: "unsupported" });
    expect(c.configureTable(0, { miss: { jump: 7 } })).toMatchObject({ ok: false, kind: "malformed" });
  });

  it("shared resources: counters, RSS contexts, encap templates", () => {
    const c = make();
    const counted = [0, 1, 2, 3].map((i) => install(c, { match: { port: i }, actions: [{ type: "count" }, { type: "drop" }] }));
    refused(c, { match: { port: 9 }, actions: [{ type: "count" }, { type: "drop" }] }, "capacity", /all 4 flow counters/);
    c.destroy(counted[0]!);
    install(c, { match: { port: 9 }, actions: [{ type: "count" }, { type: "drop" }] });

    install(c, { match: { port: 10 }, actions: [{ type: "rss", queues: [0, 1] }] });
    install(c, { match: { port: 11 }, actions: [{ type: "rss", queues: [0, 1] }] }); // shares the context
    const r3 = install(c, { match: { port: 12 }, actions: [{ type: "rss", queues: [2, 3] }] });
    refused(c, { match: { port: 13 }, actions: [{ type: "rss", queues: [4] }] }, "capacity", /all 2 RSS contexts/);
    c.destroy(r3);
    install(c, { match: { port: 13 }, actions: [{ type: "rss", queues: [4] }] });

    const tpl = (vni: number) => ({ type: "vxlanEncap", template: { srcMac: 1, dstMac: 2, srcIp: "1.1.1.1", dstIp: "2.2.2.2", vni } }) as const;
    install(c, { match: { port: 20 }, actions: [tpl(1), { type: "uplink" }] });
    install(c, { match: { port: 21 }, actions: [tpl(2), { type: "uplink" }] });
    install(c, { match: { port: 22 }, actions: [tpl(1), { type: "uplink" }] });
    refused(c, { match: { port: 23 }, actions: [tpl(3), { type: "uplink" }] }, "capacity", /all 2 encapsulation templates/);
  });

  it("handles: destroy and query of unknown rules, query without count", () => {
    const c = make();
    const h = install(c, { match: {}, actions: q });
    expect(c.query(h)).toMatchObject({ ok: false, kind: "usage", reason: expect.stringMatching(/no count action/) });
    expect(c.destroy(h)).toEqual({ ok: true });
    expect(c.destroy(h)).toMatchObject({ ok: false, kind: "usage" });
    // The slot is reused, the handle is not.
    const h2 = install(c, { match: {}, actions: q });
    expect(h2).not.toBe(h);
    expect(c.destroy(h)).toMatchObject({ ok: false, kind: "usage" });
    expect(c.destroy(h2)).toEqual({ ok: true });
    expect(c.destroy(1.5)).toMatchObject({ ok: false, kind: "usage" });
    expect(c.query(12345)).toMatchObject({ ok: false, kind: "usage" });
    expect(c.validate({ match: {}, actions: q })).toEqual({ ok: true });
    expect(c.ruleCount).toBe(0);
    install(c, { match: { port: 1 }, actions: q });
    install(c, { match: { port: 2 }, actions: q });
    c.flush();
    expect(c.ruleCount).toBe(0);
    expect(c.configureTable(1, { key: ["port"] })).toEqual({ ok: true });
    install(c, { table: 1, match: { port: 1 }, actions: q });
    expect(c.configureTable(1, { key: ["dmac"] })).toMatchObject({ ok: false, kind: "usage" });
  });

  it("refuses invalid device descriptions and table configurations", () => {
    const noKey: ClassifierCaps = { ...TEST_CAPS, tables: [{ kind: "exact", capacity: 4, fields: FLOW_FIELDS, actions: ACTION_TYPES }] };
    expect(() => new FlowClassifier(noKey)).toThrow(OffloadError);
    expect(() => new FlowClassifier({ ...TEST_CAPS, tables: [] })).toThrow(/1..255 tables/);
    expect(() => new FlowClassifier(TEST_CAPS, [{ key: ["port"] }])).toThrow(/only exact-match tables take key fields/);
    expect(() => new FlowClassifier(TEST_CAPS, [undefined, { key: ["smac", "smac"] }])).toThrow(/listed twice/);
    expect(() => new FlowClassifier(TEST_CAPS, [undefined, undefined, { key: ["port"] }])).toThrow(OffloadError);
    expect(() => new FlowClassifier(TEST_CAPS, [{ miss: { jump: 0 } }])).toThrow(/higher table/);
  });

  it("the generic SmartNIC profile builds and takes a 5-tuple flow", () => {
    const c = new FlowClassifier(GENERIC_SMARTNIC_CAPS, [{ miss: { jump: 1 } }]);
    install(c, { table: 1, match: { srcIpv4: "10.0.0.1", dstIpv4: "10.0.0.2", ipProto: 6, srcPort: 1000, dstPort: 80 }, actions: [{ type: "vport", id: 1 }] });
    expect(classifyOne(c, TCP)).toBe(FATE_VPORT);
    expect(v.lookups[0]).toBe(2);
  });
});

describe("classifier bench", () => {
  it("runs every case at toy sizes", () => {
    const r = runClassifierBench({ exactSizes: [64], wildcardSizes: [32], lookups: 4096 });
    expect(r.map((x) => x.kind)).toEqual(["exact", "wildcard", "toeplitz", "toeplitz"]);
    for (const x of r) {
      expect(x.nsPerOp).toBeGreaterThanOrEqual(0);
      expect(x.ops).toBeGreaterThan(0);
    }
    expect(r[1]!.masks).toBeGreaterThan(1);
  });
});
