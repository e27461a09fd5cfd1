import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OffloadError } from "../src/errors.js";
import { FK_DST_IP, FK_FLAGS, FK_L3L4, FK_L4_PORTS, FK_SRC_IP, FKF_L4, FlowKey, flowKeyFromFrame, parseIpv4, parseIpv6 } from "../src/flow-key.js";
import {
  DEFAULT_RSS_KEY,
  RssDistributor,
  Toeplitz,
  VIRTIO_NET_HASH_REPORT_IPv4,
  VIRTIO_NET_HASH_REPORT_IPv6,
  VIRTIO_NET_HASH_REPORT_IPv6_EX,
  VIRTIO_NET_HASH_REPORT_NONE,
  VIRTIO_NET_HASH_REPORT_TCPv4,
  VIRTIO_NET_HASH_REPORT_TCPv6,
  VIRTIO_NET_HASH_REPORT_TCPv6_EX,
  VIRTIO_NET_HASH_REPORT_UDPv4,
  VIRTIO_NET_HASH_REPORT_UDPv6,
  VIRTIO_NET_HASH_TYPE_ALL,
  VIRTIO_NET_HASH_TYPE_IP_EX,
  VIRTIO_NET_HASH_TYPE_IPv4,
  VIRTIO_NET_HASH_TYPE_IPv6,
  VIRTIO_NET_HASH_TYPE_TCP_EX,
  VIRTIO_NET_HASH_TYPE_TCPv4,
  VIRTIO_NET_HASH_TYPE_TCPv6,
  VIRTIO_NET_HASH_TYPE_UDPv4,
  VIRTIO_NET_HASH_TYPE_UDPv6,
  defaultIndirectionTable,
  hashTypeOfReport,
  toeplitzReference,
  validateRssConfig,
} from "../src/rss.js";
import { concat, destOptsHomeAddress, eth, ext8, fragmentHeader, ipv4, ipv4Tcp, ipv6, routingType2, tcp, udp, v4, v6, vxlan } from "./flow-frames.js";

/**
 * Verification vectors from Microsoft, "Verifying the RSS Hash Calculation"
 * (Windows driver documentation, network drivers / RSS,
 * https://learn.microsoft.com/windows-hardware/drivers/network/verifying-the-rss-hash-calculation;
 * source MicrosoftDocs/windows-driver-docs, ms.assetid 321a2c3e-98f8-464b-96ad-8b6fc34d5261),
 * computed with the 40-byte key 6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa.
 * Columns: destination address:port, source address:port, hash over the
 * addresses only, hash over addresses and TCP ports. The hash input is
 * source address, destination address, source port, destination port.
 */
const MS_IPV4: [dst: string, dport: number, src: string, sport: number, ipOnly: number, withTcp: number][] = [
  ["161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178],
  ["65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea],
  ["12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a],
  ["209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f],
  ["202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2],
];
const MS_IPV6: [dst: string, dport: number, src: string, sport: number, ipOnly: number, withTcp: number][] = [
  ["3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d],
  ["ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf],
  ["fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985, 0x02d1feef],
];

const MS_KEY_HEX = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
const port = (p: number): number[] => [p >>> 8, p & 255];
const ip4 = (s: string): number => parseIpv4(s)!;

describe("Toeplitz", () => {
  it("uses the published key by default", () => {
    expect(DEFAULT_RSS_KEY.map((b) => b.toString(16).padStart(2, "0")).join("")).toBe(MS_KEY_HEX);
  });

  const t = new Toeplitz();

  it.each(MS_IPV4)("reproduces Microsoft's IPv4 vector %s:%i <- %s:%i", (dst, dport, src, sport, ipOnly, withTcp) => {
    const l3 = [...v4(src), ...v4(dst)];
    const l4 = [...l3, ...port(sport), ...port(dport)];
    expect(toeplitzReference(DEFAULT_RSS_KEY, l3)).toBe(ipOnly);
    expect(toeplitzReference(DEFAULT_RSS_KEY, l4)).toBe(withTcp);
    expect(t.hash(Uint8Array.from(l3))).toBe(ipOnly);
    expect(t.hash(Uint8Array.from(l4))).toBe(withTcp);
    expect(t.hashIpv4(ip4(src), ip4(dst))).toBe(ipOnly);
    expect(t.hashIpv4L4(ip4(src), ip4(dst), ((sport << 16) | dport) >>> 0)).toBe(withTcp);
  });

  it.each(MS_IPV6)("reproduces Microsoft's IPv6 vector %s.%i <- %s.%i", (dst, dport, src, sport, ipOnly, withTcp) => {
    const l3 = [...v6(src), ...v6(dst)];
    const l4 = [...l3, ...port(sport), ...port(dport)];
    expect(toeplitzReference(DEFAULT_RSS_KEY, l3)).toBe(ipOnly);
    expect(toeplitzReference(DEFAULT_RSS_KEY, l4)).toBe(withTcp);
    expect(t.hash(Uint8Array.from(l4))).toBe(withTcp);
    const w = new Uint32Array(8);
    w.set(parseIpv6(src)!, 0);
    w.set(parseIpv6(dst)!, 4);
    expect(t.hashIpv6(w, 0, 4)).toBe(ipOnly);
    expect(t.hashIpv6L4(w, 0, 4, ((sport << 16) | dport) >>> 0)).toBe(withTcp);
  });

  it("matches the bit-by-bit reference for random keys and inputs (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (key, input) => {
        expect(new Toeplitz(key).hash(input)).toBe(toeplitzReference(key, input));
      }),
      { numRuns: 400 },
    );
  });

  it("word-level entry points equal the byte-level hash (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 52 }), fc.array(fc.nat({ max: 0xffffffff }), { minLength: 9, maxLength: 9 }), (key, ws) => {
        const h = new Toeplitz(key);
        const w = Uint32Array.from(ws);
        const bytes = new Uint8Array(36);
        ws.forEach((x, i) => bytes.set([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255], i * 4));
        expect(h.hashIpv4(w[0]!, w[1]!)).toBe(toeplitzReference(key, bytes.subarray(0, 8)));
        expect(h.hashIpv4L4(w[0]!, w[1]!, w[2]!)).toBe(toeplitzReference(key, bytes.subarray(0, 12)));
        expect(h.hashIpv6(w, 0, 4)).toBe(toeplitzReference(key, bytes.subarray(0, 32)));
        expect(h.hashIpv6L4(w, 0, 4, w[8]!)).toBe(toeplitzReference(key, bytes));
      }),
      { numRuns: 200 },
    );
  });

  it("refuses keys that are not 1..255 bytes", () => {
    expect(() => new Toeplitz([])).toThrow(OffloadError);
    expect(() => new Toeplitz(new Array(256).fill(1))).toThrow(OffloadError);
    expect(() => new Toeplitz([1, 300])).toThrow(/not a byte/);
  });
});

const allQueues = (n: number): RssDistributor =>
  new RssDistributor({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(n), unclassifiedQueue: 0 });

describe("RSS hash types (virtio 1.2 §5.1.6.4.3)", () => {
  const key = new FlowKey();
  const at = (frame: Uint8Array): FlowKey => flowKeyFromFrame(frame, 0, frame.length, 0, key);
  const dist = (hashTypes: number, innerHash = false): RssDistributor =>
    new RssDistributor({ hashTypes, indirectionTable: defaultIndirectionTable(4), unclassifiedQueue: 3, innerHash });

  it("hashes parsed frames to the Microsoft values with the matching report", () => {
    for (const [dst, dport, src, sport, ipOnly, withTcp] of MS_IPV4) {
      const f = ipv4Tcp(src, dst, sport, dport);
      const d = dist(VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_IPv4);
      expect(d.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_TCPv4);
      expect(d.lastHash).toBe(withTcp);
      const ipOnlyDist = dist(VIRTIO_NET_HASH_TYPE_IPv4);
      expect(ipOnlyDist.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_IPv4);
      expect(ipOnlyDist.lastHash).toBe(ipOnly);
      // UDP hashes the same fields in the same order.
      const u = eth(0x0800, ipv4({ src, dst, proto: 17, payload: udp(sport, dport) }));
      const ud = dist(VIRTIO_NET_HASH_TYPE_UDPv4 | VIRTIO_NET_HASH_TYPE_TCPv4);
      expect(ud.hash(at(u))).toBe(VIRTIO_NET_HASH_REPORT_UDPv4);
      expect(ud.lastHash).toBe(withTcp);
    }
    for (const [dst, dport, src, sport, ipOnly, withTcp] of MS_IPV6) {
      const f = eth(0x86dd, ipv6({ src, dst, next: 6, payload: tcp(sport, dport) }));
      const d = dist(VIRTIO_NET_HASH_TYPE_TCPv6 | VIRTIO_NET_HASH_TYPE_IPv6);
      expect(d.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_TCPv6);
      expect(d.lastHash).toBe(withTcp);
      const ipd = dist(VIRTIO_NET_HASH_TYPE_IPv6);
      expect(ipd.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_IPv6);
      expect(ipd.lastHash).toBe(ipOnly);
    }
  });

  it("falls back from L4 to L3 and to NONE as the enabled types say", () => {
    const tcpFrame = ipv4Tcp("1.2.3.4", "5.6.7.8", 10, 20);
    const udpFrame = eth(0x0800, ipv4({ src: "1.2.3.4", dst: "5.6.7.8", proto: 17, payload: udp(10, 20) }));
    const icmp = eth(0x0800, ipv4({ src: "1.2.3.4", dst: "5.6.7.8", proto: 1, payload: new Uint8Array(8) }));
    const l3 = toeplitzReference(DEFAULT_RSS_KEY, [...v4("1.2.3.4"), ...v4("5.6.7.8")]);
    const d = dist(VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_IPv4);
    expect(d.hash(at(udpFrame))).toBe(VIRTIO_NET_HASH_REPORT_IPv4);
    expect(d.lastHash).toBe(l3);
    expect(d.hash(at(icmp))).toBe(VIRTIO_NET_HASH_REPORT_IPv4);
    expect(dist(VIRTIO_NET_HASH_TYPE_UDPv4).hash(at(tcpFrame))).toBe(VIRTIO_NET_HASH_REPORT_NONE);
    expect(dist(VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_TCPv6).hash(at(tcpFrame))).toBe(VIRTIO_NET_HASH_REPORT_NONE);
    const arp = eth(0x0806, new Uint8Array(28));
    expect(dist(VIRTIO_NET_HASH_TYPE_ALL).hash(at(arp))).toBe(VIRTIO_NET_HASH_REPORT_NONE);
    // A packet with no hash goes to unclassified_queue.
    expect(dist(VIRTIO_NET_HASH_TYPE_ALL).queueOf(at(arp))).toBe(3);
  });

  it("does not hash the ports of IP fragments", () => {
    const first = eth(0x0800, ipv4({ src: "1.2.3.4", dst: "5.6.7.8", proto: 6, frag: 0x2000, payload: tcp(10, 20) }));
    const d = dist(VIRTIO_NET_HASH_TYPE_ALL);
    expect(d.hash(at(first))).toBe(VIRTIO_NET_HASH_REPORT_IPv4);
    const v6frag = eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 44, payload: concat(fragmentHeader(6, 0, true), tcp(1, 2)) }));
    expect(dist(VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_TCPv6).hash(at(v6frag))).toBe(VIRTIO_NET_HASH_REPORT_IPv6);
  });

  it("uses the Home Address and Type 2 Routing Header for the *_EX types", () => {
    const src = "2001:db8::1";
    const dst = "2001:db8::2";
    const home = "2001:db8:aaaa::10";
    const rh2 = "2001:db8:bbbb::20";
    const chain = concat(destOptsHomeAddress(43, home), routingType2(6, rh2), tcp(1000, 2000));
    const f = eth(0x86dd, ipv6({ src, dst, next: 60, payload: chain }));
    const ex4 = toeplitzReference(DEFAULT_RSS_KEY, [...v6(home), ...v6(rh2), ...port(1000), ...port(2000)]);
    const ex2 = toeplitzReference(DEFAULT_RSS_KEY, [...v6(home), ...v6(rh2)]);
    const plain4 = toeplitzReference(DEFAULT_RSS_KEY, [...v6(src), ...v6(dst), ...port(1000), ...port(2000)]);
    const plain2 = toeplitzReference(DEFAULT_RSS_KEY, [...v6(src), ...v6(dst)]);
    const cases: [number, number, number][] = [
      [VIRTIO_NET_HASH_TYPE_TCP_EX | VIRTIO_NET_HASH_TYPE_IP_EX | VIRTIO_NET_HASH_TYPE_TCPv6, VIRTIO_NET_HASH_REPORT_TCPv6_EX, ex4],
      [VIRTIO_NET_HASH_TYPE_IP_EX | VIRTIO_NET_HASH_TYPE_TCPv6, VIRTIO_NET_HASH_REPORT_IPv6_EX, ex2],
      // No *_EX type: skip the extension headers and hash as plain IPv6.
      [VIRTIO_NET_HASH_TYPE_TCPv6 | VIRTIO_NET_HASH_TYPE_IPv6, VIRTIO_NET_HASH_REPORT_TCPv6, plain4],
      [VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_UDPv6, VIRTIO_NET_HASH_REPORT_IPv6, plain2],
    ];
    for (const [types, report, value] of cases) {
      const d = dist(types);
      expect(d.hash(at(f))).toBe(report);
      expect(d.lastHash).toBe(value);
    }
    // Extension headers without those options: the *_EX types use the real addresses.
    const hbh = eth(0x86dd, ipv6({ src, dst, next: 0, payload: concat(ext8(6, []), tcp(1000, 2000)) }));
    const d = dist(VIRTIO_NET_HASH_TYPE_TCP_EX);
    expect(d.hash(at(hbh))).toBe(VIRTIO_NET_HASH_REPORT_TCPv6_EX);
    expect(d.lastHash).toBe(plain4);
    // A packet without extension headers is not an *_EX packet.
    const none = eth(0x86dd, ipv6({ src, dst, next: 6, payload: tcp(1000, 2000) }));
    expect(dist(VIRTIO_NET_HASH_TYPE_TCP_EX | VIRTIO_NET_HASH_TYPE_IP_EX).hash(at(none))).toBe(VIRTIO_NET_HASH_REPORT_NONE);
  });

  it("hashes VXLAN frames on the outer headers unless inner hashing is enabled", () => {
    const inner = ipv4Tcp("192.168.1.1", "192.168.1.2", 3333, 80);
    const f = eth(0x0800, ipv4({ src: "10.0.0.1", dst: "10.0.0.2", proto: 17, payload: udp(50000, 4789, vxlan(77, inner)) }));
    const outer = dist(VIRTIO_NET_HASH_TYPE_ALL);
    expect(outer.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_UDPv4);
    expect(outer.lastHash).toBe(toeplitzReference(DEFAULT_RSS_KEY, [...v4("10.0.0.1"), ...v4("10.0.0.2"), ...port(50000), ...port(4789)]));
    const innerD = dist(VIRTIO_NET_HASH_TYPE_ALL, true);
    expect(innerD.hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_TCPv4);
    expect(innerD.lastHash).toBe(toeplitzReference(DEFAULT_RSS_KEY, [...v4("192.168.1.1"), ...v4("192.168.1.2"), ...port(3333), ...port(80)]));
    const v6outer = eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 17, payload: udp(50000, 4789, vxlan(77, inner)) }));
    expect(dist(VIRTIO_NET_HASH_TYPE_IPv6).hash(at(v6outer))).toBe(VIRTIO_NET_HASH_REPORT_IPv6);
    expect(dist(VIRTIO_NET_HASH_TYPE_UDPv6).hash(at(v6outer))).toBe(VIRTIO_NET_HASH_REPORT_UDPv6);
    expect(dist(VIRTIO_NET_HASH_TYPE_TCPv4).hash(at(f))).toBe(VIRTIO_NET_HASH_REPORT_NONE);
  });

  it("relates report values to hash types as the spec's formula says", () => {
    expect(hashTypeOfReport(VIRTIO_NET_HASH_REPORT_NONE)).toBe(0);
    expect(hashTypeOfReport(VIRTIO_NET_HASH_REPORT_IPv4)).toBe(VIRTIO_NET_HASH_TYPE_IPv4);
    expect(hashTypeOfReport(VIRTIO_NET_HASH_REPORT_UDPv6)).toBe(VIRTIO_NET_HASH_TYPE_UDPv6);
    expect(hashTypeOfReport(VIRTIO_NET_HASH_REPORT_TCPv6_EX)).toBe(VIRTIO_NET_HASH_TYPE_TCP_EX);
    expect(hashTypeOfReport(10)).toBe(0);
  });
});

describe("RSS queue selection (virtio_net_rss_config)", () => {
  it("indexes the indirection table with hash & indirection_table_mask", () => {
    const table = [5, 1, 1, 2, 7, 0, 3, 3];
    const d = new RssDistributor({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: table, unclassifiedQueue: 6 }, { maxKeySize: 40, maxIndirectionTableLength: 128, supportedHashTypes: VIRTIO_NET_HASH_TYPE_ALL, maxQueuePairs: 8 });
    const key = new FlowKey();
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (s, t, p) => {
        key.clear();
        key.words[FK_L3L4] = (6 << 24) | (4 << 12);
        key.words[FK_FLAGS] = FKF_L4;
        key.words[FK_SRC_IP] = s;
        key.words[FK_DST_IP] = t;
        key.words[FK_L4_PORTS] = p;
        const q = d.queueOf(key);
        expect(d.lastReport).toBe(VIRTIO_NET_HASH_REPORT_TCPv4);
        expect(q).toBe(table[d.lastHash & 7]);
      }),
      { numRuns: 300 },
    );
  });

  it("fills queues, hashes and reports for a burst", () => {
    const keys = FlowKey.burst(3);
    const frames = [ipv4Tcp("1.1.1.1", "2.2.2.2", 1, 2), eth(0x0806, new Uint8Array(28)), eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 17, payload: udp(5, 6) }))];
    frames.forEach((f, i) => flowKeyFromFrame(f, 0, f.length, 0, keys[i]!));
    const d = new RssDistributor({ hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(4), unclassifiedQueue: 2 });
    const queues = new Uint16Array(3);
    const hashes = new Uint32Array(3);
    const reports = new Uint8Array(3);
    d.distribute(keys, 3, queues, hashes, reports);
    expect([...reports]).toEqual([VIRTIO_NET_HASH_REPORT_TCPv4, VIRTIO_NET_HASH_REPORT_NONE, VIRTIO_NET_HASH_REPORT_UDPv6]);
    expect(hashes[0]).toBe(toeplitzReference(DEFAULT_RSS_KEY, [1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 0, 2]));
    expect(hashes[1]).toBe(0);
    expect(queues[1]).toBe(2);
    expect(queues[0]).toBe(hashes[0]! % 4);
  });

  it("validates configurations against the spec and the device caps", () => {
    const ok = { hashTypes: VIRTIO_NET_HASH_TYPE_IPv4, indirectionTable: defaultIndirectionTable(2), unclassifiedQueue: 0 };
    expect(validateRssConfig(ok)).toEqual({ ok: true });
    const bad = (patch: object, kind: string, re: RegExp): void => {
      const r = validateRssConfig({ ...ok, ...patch });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.kind).toBe(kind);
        expect(r.reason).toMatch(re);
      }
    };
    bad({ indirectionTable: [0, 1, 0] }, "malformed", /power of two/);
    bad({ indirectionTable: [] }, "malformed", /power of two/);
    bad({ indirectionTable: defaultIndirectionTable(2, 256) }, "unsupported", /rss_max_indirection_table_length/);
    bad({ hashTypes: 1 << 9 }, "unsupported", /not supported/);
    bad({ indirectionTable: [0, 64] }, "malformed", /indirection_table\[1\]/);
    bad({ unclassifiedQueue: 99 }, "malformed", /unclassified_queue/);
    bad({ maxTxVq: 0 }, "malformed", /max_tx_vq/);
    bad({ key: new Array(41).fill(1) }, "unsupported", /rss_max_key_size/);
    expect(() => new RssDistributor({ ...ok, indirectionTable: [0, 0, 0] })).toThrow(OffloadError);
  });
});

describe("RSS spread", () => {
  it("spreads 1,000,000 random TCP flows across 4, 8 and 16 queues within 5% of even", () => {
    const flows = 1_000_000;
    const ds = [4, 8, 16].map((n) => ({ n, d: allQueues(n), counts: new Float64Array(n) }));
    const key = new FlowKey();
    key.words[FK_L3L4] = (6 << 24) | (4 << 12);
    key.words[FK_FLAGS] = FKF_L4;
    // xorshift32: deterministic, fast, allocation-free.
    let x = 0x9e3779b9;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (let i = 0; i < flows; i++) {
      key.words[FK_SRC_IP] = next();
      key.words[FK_DST_IP] = next();
      key.words[FK_L4_PORTS] = next();
      for (const e of ds) e.counts[e.d.queueOf(key)]!++;
    }
    for (const { n, counts } of ds) {
      const even = flows / n;
      for (let q = 0; q < n; q++) expect(Math.abs(counts[q]! - even) / even).toBeLessThan(0.05);
    }
  });
});
