/**
 * virtio-net structures (virtio 1.2 §5.1): header sizes and golden bytes
 * (§5.1.6), config space layout (§5.1.4), the RSS and hash configuration
 * commands (§5.1.6.5.7, §5.1.6.5.6.4) with their validation, and the hash
 * type / report constants (§5.1.6.4.3, §5.1.6.4.4).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtioError } from "../src/errors.js";
import { VIRTIO_F_VERSION_1, VIRTIO_NET_F_HASH_REPORT, VIRTIO_NET_F_MQ, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_MTU, VIRTIO_NET_F_RSS } from "../src/features.js";
import * as N from "../src/net.js";

describe("virtio_net_hdr (§5.1.6)", () => {
  it("size: 10 legacy, 12 with VERSION_1 or MRG_RXBUF, 20 with HASH_REPORT", () => {
    expect(N.netHeaderSize(0n)).toBe(10);
    expect(N.netHeaderSize(VIRTIO_NET_F_MRG_RXBUF)).toBe(12);
    expect(N.netHeaderSize(VIRTIO_F_VERSION_1)).toBe(12);
    expect(N.netHeaderSize(VIRTIO_F_VERSION_1 | VIRTIO_NET_F_HASH_REPORT)).toBe(20);
  });
  it("flag and gso constants", () => {
    expect([N.VIRTIO_NET_HDR_F_NEEDS_CSUM, N.VIRTIO_NET_HDR_F_DATA_VALID, N.VIRTIO_NET_HDR_F_RSC_INFO]).toEqual([1, 2, 4]);
    expect([N.VIRTIO_NET_HDR_GSO_NONE, N.VIRTIO_NET_HDR_GSO_TCPV4, N.VIRTIO_NET_HDR_GSO_UDP, N.VIRTIO_NET_HDR_GSO_TCPV6, N.VIRTIO_NET_HDR_GSO_UDP_L4, N.VIRTIO_NET_HDR_GSO_ECN]).toEqual([0, 1, 3, 4, 5, 0x80]);
  });
  it("golden 20-byte header: flags@0 gso_type@1 hdr_len@2 gso_size@4 csum_start@6 csum_offset@8 num_buffers@10 hash_value@12 hash_report@16 padding@18, little-endian", () => {
    const h = new N.NetHeader();
    Object.assign(h, { flags: 1, gsoType: 0x81, hdrLen: 0x0136, gsoSize: 0x05a8, csumStart: 0x0022, csumOffset: 0x0010, numBuffers: 3, hashValue: 0xdeadbeef, hashReport: N.VIRTIO_NET_HASH_REPORT_TCPv4, paddingReserved: 0 });
    const b = new Uint8Array(22);
    expect(N.encodeNetHeader(h, b, 1, 20)).toBe(true);
    expect([...b]).toEqual([0, 0x01, 0x81, 0x36, 0x01, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00, 0x03, 0x00, 0xef, 0xbe, 0xad, 0xde, 0x02, 0x00, 0x00, 0x00, 0]);
    const d = new N.NetHeader();
    expect(N.decodeNetHeader(b, 1, 20, d)).toBe(true);
    expect(d).toEqual(h);
  });
  it("10- and 12-byte headers carry fewer fields; the rest decode as 0", () => {
    const h = new N.NetHeader();
    Object.assign(h, { flags: 2, numBuffers: 7, hashValue: 5, hashReport: 1 });
    const b = new Uint8Array(12).fill(0xff);
    N.encodeNetHeader(h, b, 0, 10);
    expect([...b.subarray(10)]).toEqual([0xff, 0xff]);
    const d = new N.NetHeader();
    N.decodeNetHeader(b, 0, 10, d);
    expect(d.numBuffers).toBe(0);
    expect(d.flags).toBe(2);
    N.encodeNetHeader(h, b, 0, 12);
    N.decodeNetHeader(b, 0, 12, d);
    expect(d.numBuffers).toBe(7);
    expect(d.hashValue).toBe(0);
  });
  it("refuses short buffers and odd sizes without touching the record", () => {
    const d = new N.NetHeader();
    d.flags = 9;
    expect(N.decodeNetHeader(new Uint8Array(11), 0, 12, d)).toBe(false);
    expect(N.decodeNetHeader(new Uint8Array(30), 0, 14, d)).toBe(false);
    expect(N.decodeNetHeader(new Uint8Array(30), 20, 12, d)).toBe(false);
    expect(d.flags).toBe(9);
    expect(N.encodeNetHeader(d, new Uint8Array(19), 0, 20)).toBe(false);
  });
  it("property: encode then decode is the identity for every size", () => {
    const u8 = fc.integer({ min: 0, max: 255 });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(u8, u8, u16, u16, u16, u16, u16, fc.integer({ min: 0, max: 0xffff_ffff }), u16, u16, fc.constantFrom(10, 12, 20), (flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset, numBuffers, hashValue, hashReport, paddingReserved, size) => {
        const h = Object.assign(new N.NetHeader(), { flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset, numBuffers, hashValue, hashReport, paddingReserved });
        const b = new Uint8Array(size);
        N.encodeNetHeader(h, b, 0, size);
        const d = new N.NetHeader();
        N.decodeNetHeader(b, 0, size, d);
        expect(d).toEqual(Object.assign(new N.NetHeader(), { flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset, numBuffers: size >= 12 ? numBuffers : 0, ...(size === 20 ? { hashValue, hashReport, paddingReserved } : {}) }));
      }),
    );
  });
});

describe("virtio_net_config (§5.1.4)", () => {
  it("offsets and golden bytes", () => {
    expect(N.NetConfigOffset).toEqual({ mac: 0, status: 6, maxVirtqueuePairs: 8, mtu: 10, speed: 12, duplex: 16, rssMaxKeySize: 17, rssMaxIndirectionTableLength: 18, supportedHashTypes: 20 });
    expect(N.NET_CONFIG_SIZE).toBe(24);
    const cfg: N.NetConfig = {
      mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56),
      status: N.VIRTIO_NET_S_LINK_UP,
      maxVirtqueuePairs: 4,
      mtu: 1500,
      speed: 10000,
      duplex: N.VIRTIO_NET_DUPLEX_FULL,
      rssMaxKeySize: 40,
      rssMaxIndirectionTableLength: 128,
      supportedHashTypes: N.VIRTIO_NET_HASH_TYPE_ALL,
    };
    const b = N.encodeNetConfig(cfg);
    expect([...b]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 4, 0, 0xdc, 0x05, 0x10, 0x27, 0, 0, 1, 40, 128, 0, 0xff, 0x01, 0, 0]);
    expect(N.decodeNetConfig(b)).toEqual(cfg);
    expect(N.netConfigProblems(cfg, VIRTIO_NET_F_MQ | VIRTIO_NET_F_MTU | VIRTIO_NET_F_RSS)).toEqual([]);
  });
  it("decodes a short (mac-only) image; refuses fewer than 6 bytes", () => {
    const c = N.decodeNetConfig(Uint8Array.of(1, 2, 3, 4, 5, 6, 1, 0));
    expect([...c.mac]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.status).toBe(1);
    expect(c.mtu).toBe(0);
    expect(() => N.decodeNetConfig(new Uint8Array(5))).toThrow(VirtioError);
  });
  it("device requirements (§5.1.4.1)", () => {
    const c = N.decodeNetConfig(new Uint8Array(24));
    expect(N.netConfigProblems(c, VIRTIO_NET_F_MQ | VIRTIO_NET_F_MTU | VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT)).toHaveLength(4);
    expect(N.netConfigProblems({ ...c, mtu: 67 }, VIRTIO_NET_F_MTU)).toHaveLength(1);
    expect(N.netConfigProblems({ ...c, maxVirtqueuePairs: 0x8001 }, VIRTIO_NET_F_MQ)).toHaveLength(1);
  });
  it("constants: status bits, duplex, speed unknown", () => {
    expect([N.VIRTIO_NET_S_LINK_UP, N.VIRTIO_NET_S_ANNOUNCE]).toEqual([1, 2]);
    expect([N.VIRTIO_NET_DUPLEX_HALF, N.VIRTIO_NET_DUPLEX_FULL, N.VIRTIO_NET_DUPLEX_UNKNOWN]).toEqual([0, 1, 0xff]);
    expect(N.VIRTIO_NET_SPEED_UNKNOWN).toBe(0xffffffff);
  });
});

describe("hash types and reports (§5.1.6.4.3, §5.1.6.4.4)", () => {
  it("type bits and report values, related by TYPE = 1 << (REPORT - 1)", () => {
    expect([N.VIRTIO_NET_HASH_TYPE_IPv4, N.VIRTIO_NET_HASH_TYPE_TCPv4, N.VIRTIO_NET_HASH_TYPE_UDPv4, N.VIRTIO_NET_HASH_TYPE_IPv6, N.VIRTIO_NET_HASH_TYPE_TCPv6, N.VIRTIO_NET_HASH_TYPE_UDPv6, N.VIRTIO_NET_HASH_TYPE_IP_EX, N.VIRTIO_NET_HASH_TYPE_TCP_EX, N.VIRTIO_NET_HASH_TYPE_UDP_EX]).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(N.hashTypeOfReport(N.VIRTIO_NET_HASH_REPORT_TCPv4)).toBe(N.VIRTIO_NET_HASH_TYPE_TCPv4);
    expect(N.hashTypeOfReport(N.VIRTIO_NET_HASH_REPORT_UDPv6_EX)).toBe(N.VIRTIO_NET_HASH_TYPE_UDP_EX);
    expect(N.hashTypeOfReport(N.VIRTIO_NET_HASH_REPORT_NONE)).toBe(0);
    expect(N.VIRTIO_NET_HASH_REPORT_IPv6_EX).toBe(7);
  });
  it("control constants (§5.1.6.5)", () => {
    expect([N.VIRTIO_NET_CTRL_RX, N.VIRTIO_NET_CTRL_MAC, N.VIRTIO_NET_CTRL_VLAN, N.VIRTIO_NET_CTRL_ANNOUNCE, N.VIRTIO_NET_CTRL_MQ, N.VIRTIO_NET_CTRL_GUEST_OFFLOADS]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([N.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, N.VIRTIO_NET_CTRL_MQ_RSS_CONFIG, N.VIRTIO_NET_CTRL_MQ_HASH_CONFIG]).toEqual([0, 1, 2]);
    expect([N.VIRTIO_NET_OK, N.VIRTIO_NET_ERR]).toEqual([0, 1]);
    expect([N.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN, N.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX]).toEqual([1, 0x8000]);
  });
});

describe("virtio_net_rss_config (§5.1.6.5.7)", () => {
  const limits: N.RssLimits = { maxKeySize: 40, maxIndirectionTableLength: 128, queuePairs: 4, supportedHashTypes: N.VIRTIO_NET_HASH_TYPE_ALL };
  const key = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
  const cfg: N.RssConfig = { hashTypes: N.VIRTIO_NET_HASH_TYPE_TCPv4 | N.VIRTIO_NET_HASH_TYPE_IPv4, indirectionTable: Uint16Array.of(0, 1, 2, 3), unclassifiedQueue: 0, maxTxVq: 4, hashKey: key };
  it("golden layout: hash_types@0 mask@4 unclassified@6 table@8 max_tx_vq key_length key", () => {
    const b = N.encodeRssConfig(cfg, limits);
    expect(b.length).toBe(N.rssConfigSize(4, 40));
    expect(b.length).toBe(4 + 2 + 2 + 8 + 2 + 1 + 40);
    expect([...b.subarray(0, 19)]).toEqual([3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 40]);
    expect([...b.subarray(19)]).toEqual([...key]);
    expect(N.decodeRssConfig(b, limits)).toEqual(cfg);
  });
  it("rejects a table length that is not a power of two", () => {
    expect(() => N.encodeRssConfig({ ...cfg, indirectionTable: Uint16Array.of(0, 1, 2) })).toThrow(/power of two/);
    const b = N.encodeRssConfig(cfg);
    b[4] = 2; // mask 2 -> 3 entries
    expect(() => N.decodeRssConfig(b)).toThrow(VirtioError);
  });
  it("rejects lengths that disagree with the fields", () => {
    const b = N.encodeRssConfig(cfg);
    expect(() => N.decodeRssConfig(b.subarray(0, b.length - 1))).toThrow(/bytes/);
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    expect(() => N.decodeRssConfig(longer)).toThrow(/bytes/);
    expect(() => N.decodeRssConfig(b.subarray(0, 7))).toThrow(/shorter/);
  });
  it("rejects the reserved bit of a receive queue id", () => {
    const b = N.encodeRssConfig(cfg);
    b[9] = 0x80;
    expect(() => N.decodeRssConfig(b)).toThrow(/reserved/);
  });
  it("enforces the device limits: table size, key size, hash types, queue ids, max_tx_vq", () => {
    const b = (c: Partial<N.RssConfig>) => N.encodeRssConfig({ ...cfg, ...c });
    expect(() => N.decodeRssConfig(b({ indirectionTable: new Uint16Array(256) }), limits)).toThrow(/rss_max_indirection_table_length/);
    expect(() => N.decodeRssConfig(b({ hashKey: new Uint8Array(41) }), limits)).toThrow(/rss_max_key_size/);
    expect(() => N.decodeRssConfig(b({ hashTypes: 1 << 9 }), { ...limits, supportedHashTypes: 0xff })).toThrow(/does not support/);
    expect(() => N.decodeRssConfig(b({ indirectionTable: Uint16Array.of(0, 4) }), limits)).toThrow(/below the 4 enabled/);
    expect(() => N.decodeRssConfig(b({ unclassifiedQueue: 9 }), limits)).toThrow(/below/);
    expect(() => N.decodeRssConfig(b({ maxTxVq: 5 }), limits)).toThrow(/max_tx_vq/);
    expect(() => N.encodeRssConfig({ ...cfg, maxTxVq: 0 })).toThrow(/max_tx_vq/);
    expect(N.decodeRssConfig(b({ indirectionTable: new Uint16Array(128) }), limits).indirectionTable.length).toBe(128);
  });
  it("property: valid configs round-trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 16 }),
        fc.nat(),
        (log2, keyLen, pairs, seed) => {
          const n = 1 << log2;
          const c: N.RssConfig = {
            hashTypes: seed & N.VIRTIO_NET_HASH_TYPE_ALL,
            indirectionTable: Uint16Array.from({ length: n }, (_, i) => (seed + i) % pairs),
            unclassifiedQueue: seed % pairs,
            maxTxVq: 1 + (seed % pairs),
            hashKey: Uint8Array.from({ length: keyLen }, (_, i) => (seed + i) & 0xff),
          };
          const l = { ...limits, queuePairs: pairs };
          expect(N.decodeRssConfig(N.encodeRssConfig(c, l), l)).toEqual(c);
        },
      ),
    );
  });
});

describe("virtio_net_hash_config (§5.1.6.5.6.4)", () => {
  it("round-trips and checks reserved words, length and limits", () => {
    const c = { hashTypes: N.VIRTIO_NET_HASH_TYPE_UDPv4, hashKey: Uint8Array.of(1, 2, 3) };
    const b = N.encodeHashConfig(c);
    expect([...b]).toEqual([4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
    expect(N.decodeHashConfig(b)).toEqual(c);
    const r = b.slice();
    r[6] = 1;
    expect(() => N.decodeHashConfig(r)).toThrow(/reserved/);
    expect(() => N.decodeHashConfig(b.subarray(0, 15))).toThrow(/bytes/);
    expect(() => N.decodeHashConfig(b, { maxKeySize: 2, supportedHashTypes: 0xff })).toThrow(/rss_max_key_size/);
  });
});
