import { buildFrame, PacketMeta, ParseError, parse } from "@nfvio/packet";
import { sampleFrames } from "@nfvio/packet/testing";
import { describe, expect, it } from "vitest";
import {
  FKE_ARP,
  FKE_IP_FRAGMENT,
  FKE_IPV4_OPTION,
  FKE_IPV6_EXT_DEPTH,
  FKE_L4_TRUNCATED,
  FKE_ND,
  FKF_IPV6_EXT,
  FKF_L4,
  FKF_TUNNEL,
  FlowKey,
  flowKeyFromFrame,
  flowKeyFromMeta,
} from "../src/flow-key.js";
import {
  DEFAULT_RSS_CAPS,
  DEFAULT_RSS_KEY,
  VIRTIO_NET_HASH_TYPE_ALL,
  VIRTIO_NET_HASH_TYPE_TCPv4,
  decodeRssCommand,
  defaultIndirectionTable,
  encodeRssCommand,
  hashTypeOfReport,
} from "../src/rss.js";
import * as virtio from "@nfvio/virtio";
import * as rss from "../src/rss.js";
import { eth, ext8, ipv4, ipv6, tcp } from "./flow-frames.js";

const key = (f: Uint8Array): FlowKey => flowKeyFromFrame(f, 0, f.length, 1, new FlowKey());

describe("flow keys from @nfvio/packet's PacketMeta", () => {
  it("uses the parser's error bit values", () => {
    // flow-key.ts repeats ParseError's bits as literals for its hot path.
    expect(ParseError.TRUNCATED_L2).toBe(1 << 0);
    expect(ParseError.TRUNCATED_L3).toBe(1 << 1);
    expect(ParseError.TRUNCATED_L4).toBe(1 << 2);
    expect(ParseError.TOO_MANY_VLANS).toBe(1 << 4);
    expect(ParseError.BAD_IP_VERSION).toBe(1 << 5);
    expect(ParseError.BAD_IHL).toBe(1 << 6);
    expect(ParseError.BAD_IP_LENGTH).toBe(1 << 7);
    expect(ParseError.BAD_IP_OPTION).toBe(1 << 8);
    expect(ParseError.IPV6_EXT_TOO_MANY).toBe(1 << 9);
    expect(ParseError.IPV6_EXT_ORDER).toBe(1 << 10);
    expect(ParseError.BAD_TCP_OFFSET).toBe(1 << 11);
    expect(ParseError.BAD_UDP_LENGTH).toBe(1 << 12);
    expect(ParseError.BAD_ARP).toBe(1 << 13);
    expect(ParseError.BAD_FRAGMENT).toBe(1 << 14);
    expect(ParseError.BAD_VXLAN).toBe(1 << 15);
    expect(ParseError.BAD_ND).toBe(1 << 17);
  });

  it("fills the same key from a meta the caller parsed", () => {
    const meta = new PacketMeta();
    const frames = [
      buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, tcp: { srcPort: 1000, dstPort: 80, flags: 0x18 }, payload: 100 }),
      buildFrame({ ipv6: { src: "2001:db8::1", dst: "2001:db8::2" }, udp: { srcPort: 5, dstPort: 6 } }),
      buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, vxlan: { vni: 7, inner: { ipv4: { src: "192.0.2.1", dst: "192.0.2.2" }, tcp: { srcPort: 1, dstPort: 2 } } } }),
      ...Object.values(sampleFrames()),
    ];
    for (const f of frames) {
      // At an offset inside a bigger array, as in a packet pool.
      const big = new Uint8Array(f.length + 100);
      big.set(f, 37);
      parse(big, 37, f.length, meta);
      const a = flowKeyFromMeta(big, meta, 4, new FlowKey());
      const b = flowKeyFromFrame(f, 0, f.length, 4, new FlowKey());
      expect([...a.words]).toEqual([...b.words]);
    }
    const tun = key(frames[2]!);
    expect(tun.flags & FKF_TUNNEL).toBe(FKF_TUNNEL);
    expect(tun.vni).toBe(7);
    expect(key(frames[0]!).tcpFlags).toBe(0x18);
  });

  it("keeps the parser's extra findings as error bits", () => {
    const badOpt = eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 6, options: [7, 1, 0, 0], payload: tcp(1, 2) }));
    expect(key(badOpt).parseErrors << 16).toBe(FKE_IPV4_OPTION);
    expect(key(badOpt).flags & FKF_L4).toBe(FKF_L4);
    const pod = eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, frag: 0x1fff, payload: new Uint8Array(64) }));
    expect(key(pod).parseErrors << 16).toBe(FKE_IP_FRAGMENT);
    expect(key(eth(0x0806, new Uint8Array(28))).parseErrors << 16).toBe(FKE_ARP);
    const ns = buildFrame({ ipv6: { src: "fe80::1", dst: "ff02::1:ff00:2", hopLimit: 64 }, icmpv6: { type: 135, target: "fe80::2" } });
    expect((key(ns).parseErrors << 16) >>> 0).toBe(FKE_ND);
    const shortIcmp = eth(0x0800, ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 1, payload: new Uint8Array(4) }));
    expect(key(shortIcmp).parseErrors << 16).toBe(FKE_L4_TRUNCATED);
    // Hop-by-Hop after another extension header breaks RFC 8200 §4.1's order.
    const order = eth(0x86dd, ipv6({ src: "::1", dst: "::2", next: 60, payload: new Uint8Array([...ext8(0, []), ...ext8(6, []), ...tcp(1, 2)]) }));
    const k = key(order);
    expect(k.parseErrors << 16).toBe(FKE_IPV6_EXT_DEPTH);
    expect(k.flags & FKF_IPV6_EXT).toBe(FKF_IPV6_EXT);
  });
});

describe("RSS constants and the control command come from @nfvio/virtio", () => {
  it("re-exports net.ts's hash types and reports", () => {
    for (const name of Object.keys(rss).filter((n) => n.startsWith("VIRTIO_NET_HASH_TYPE_") || n.startsWith("VIRTIO_NET_HASH_REPORT_"))) {
      if (name === "VIRTIO_NET_HASH_TUNNEL_TYPE_VXLAN") continue;
      expect((rss as Record<string, unknown>)[name], name).toBe((virtio as Record<string, unknown>)[name]);
    }
    expect(hashTypeOfReport).toBe(virtio.hashTypeOfReport);
  });

  it("round-trips a configuration through the command's wire layout", () => {
    const cfg = { hashTypes: VIRTIO_NET_HASH_TYPE_ALL, indirectionTable: defaultIndirectionTable(4), unclassifiedQueue: 1, maxTxVq: 4, key: DEFAULT_RSS_KEY };
    const bytes = encodeRssCommand(cfg);
    expect(bytes.length).toBe(virtio.rssConfigSize(128, 40));
    const back = decodeRssCommand(bytes, DEFAULT_RSS_CAPS, 4);
    expect("ok" in back).toBe(false);
    if (!("ok" in back)) {
      expect(Array.from(back.indirectionTable)).toEqual([...cfg.indirectionTable]);
      expect(back.unclassifiedQueue).toBe(1);
      expect(Array.from(back.key ?? [])).toEqual([...DEFAULT_RSS_KEY]);
    }
    // A queue beyond the enabled pairs is refused with the codec's reason.
    const r = decodeRssCommand(bytes, DEFAULT_RSS_CAPS, 2);
    expect("ok" in r && !r.ok && r.reason).toMatch(/queue/);
    // Hash types the device lacks are refused.
    const r2 = decodeRssCommand(bytes, { ...DEFAULT_RSS_CAPS, supportedHashTypes: VIRTIO_NET_HASH_TYPE_TCPv4 }, 4);
    expect("ok" in r2 && r2.ok).toBe(false);
    const short = decodeRssCommand(bytes.subarray(0, 20), DEFAULT_RSS_CAPS, 4);
    expect("ok" in short && short.kind).toBe("malformed");
  });
});
