/**
 * Interop with Wireshark's tshark and editcap: files nfvio writes must
 * dissect as the frames we built (protocol stacks, fields, checksums), and
 * files tshark writes must read back in nfvio byte for byte.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIpv4, formatIpv6, MemorySink, PacketMeta, parse, pcapBytes, PcapngWriter, readCapture, type CaptureRecord } from "../src/index.js";
import { sampleFrames } from "../src/samples.js";

const run = promisify(execFile);
const TSHARK = ["/usr/bin/tshark", "/usr/local/bin/tshark"].find((p) => existsSync(p));
const EDITCAP = ["/usr/bin/editcap", "/usr/local/bin/editcap"].find((p) => existsSync(p));
if (TSHARK === undefined) console.warn("tshark not found (apt-get install -y tshark): skipping the tshark interop tests");

const S = sampleFrames();
const names = Object.keys(S);
const frames = Object.values(S);
const T0 = 1_700_000_000_123_456_789n;
const packets = frames.map((data, i) => ({ data, timestampNs: T0 + BigInt(i) * 1_000_000_007n }));

/** The protocol stack tshark should report, up to the last header nfvio builds (payload dissectors vary by port). */
const STACKS: Record<string, string> = {
  tcp4: "eth:ethertype:ip:tcp",
  tcp4_options: "eth:ethertype:ip:tcp",
  udp4: "eth:ethertype:ip:udp",
  icmp4_echo: "eth:ethertype:ip:icmp",
  arp_request: "eth:ethertype:arp",
  vlan_tcp4: "eth:ethertype:vlan:ethertype:ip:tcp",
  qinq_udp4: "eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:udp",
  qinq9100_icmp4: "eth:ethertype:vlan:ethertype:vlan:ethertype:ip:icmp",
  tcp6: "eth:ethertype:ipv6:tcp",
  udp6: "eth:ethertype:ipv6:udp",
  ipv6_ext_chain: "eth:ethertype:ipv6:ipv6.hopopts:ipv6.dstopts:ipv6.routing:ipv6.dstopts:udp",
  ipv6_ah_tcp: "eth:ethertype:ipv6:ah:tcp",
  icmpv6_echo: "eth:ethertype:ipv6:icmpv6",
  icmpv6_ns: "eth:ethertype:ipv6:icmpv6",
  icmpv6_na: "eth:ethertype:ipv6:icmpv6",
  icmpv6_rs: "eth:ethertype:ipv6:icmpv6",
  vxlan4_tcp4: "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp",
  vxlan6_udp6: "eth:ethertype:ipv6:udp:vxlan:eth:ethertype:vlan:ethertype:ipv6:udp",
  frag4_first: "eth:ethertype:ip:udp",
  frag4_later: "eth:ethertype:ip:data",
  frag6_later: "eth:ethertype:ipv6:ipv6.fraghdr:data",
  sctp4: "eth:ethertype:ip:sctp",
};

const FIELDS = [
  "frame.protocols",
  "frame.len",
  "frame.time_epoch",
  "ip.src",
  "ipv6.src",
  "tcp.srcport",
  "udp.srcport",
  "vlan.id",
  "ieee8021ad.id",
  "vxlan.vni",
  "icmp.type",
  "icmpv6.type",
  "arp.opcode",
  "ip.checksum.status",
  "tcp.checksum.status",
  "udp.checksum.status",
  "icmp.checksum.status",
  "icmpv6.checksum.status",
  "frame.comment",
];

async function tshark(file: string, extra: string[] = []): Promise<string[][]> {
  const args = ["-r", file, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"];
  for (const f of FIELDS) args.push("-e", f);
  args.push(
    ...["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"],
    ...["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"],
    ...extra,
  );
  const { stdout } = await run(TSHARK!, args, { maxBuffer: 1 << 24 });
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split("\t"));
}

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nfvio-tshark-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Check tshark's view of the sample frames against what nfvio built and parsed. */
function checkDissection(rows: string[][], nanosecond: (i: number) => boolean): void {
  expect(rows.length).toBe(frames.length);
  const m = new PacketMeta();
  rows.forEach((row, i) => {
    const rec = Object.fromEntries(FIELDS.map((f, k) => [f, row[k] ?? ""]));
    const name = names[i]!;
    const f = frames[i]!;
    expect({ name, stack: rec["frame.protocols"]!.startsWith(STACKS[name]!) ? STACKS[name] : rec["frame.protocols"] }).toEqual({ name, stack: STACKS[name] });
    expect(Number(rec["frame.len"])).toBe(f.length);
    const ts = packets[i]!.timestampNs;
    const want = nanosecond(i) ? ts : (ts / 1000n) * 1000n;
    expect(rec["frame.time_epoch"]).toBe(`${want / 1_000_000_000n}.${(want % 1_000_000_000n).toString().padStart(9, "0")}`);
    // Field by field against nfvio's parser (outer first, inner after a comma).
    expect(parse(f, 0, f.length, m)).toBe(true);
    const inner = m.tunnel !== 0 ? m.inner! : null;
    const layers = inner !== null ? [m, inner] : [m];
    const ip4 = layers.filter((l) => l.etherType === 0x0800).map((l) => formatIpv4(l.src4));
    const ip6 = layers.filter((l) => l.etherType === 0x86dd).map((l) => formatIpv6(f, l.srcAddrOffset));
    if (m.etherType !== 0x0806) expect([name, rec["ip.src"]]).toEqual([name, ip4.join(",")]);
    expect([name, rec["ipv6.src"]]).toEqual([name, ip6.join(",")]);
    const ports = (proto: number): string => layers.filter((l) => l.l4Proto === proto && l.l4Offset >= 0).map((l) => String(l.srcPort)).join(",");
    expect([name, rec["tcp.srcport"]]).toEqual([name, ports(6)]);
    expect([name, rec["udp.srcport"]]).toEqual([name, ports(17)]);
    // Wireshark shows an 802.1ad (0x88a8) tag under its own protocol; 0x8100 and 0x9100 tags as vlan.
    const tags = layers.flatMap((l) => [[l.vlanTpid0, l.vlanTci0], [0x8100, l.vlanTci1]].slice(0, l.vlanCount));
    const ids = (sTag: boolean): string => tags.filter(([tpid]) => (tpid === 0x88a8) === sTag).map(([, tci]) => String(tci! & 0xfff)).join(",");
    expect([name, rec["vlan.id"]]).toEqual([name, ids(false)]);
    expect([name, rec["ieee8021ad.id"]]).toEqual([name, ids(true)]);
    expect([name, rec["vxlan.vni"]]).toEqual([name, m.tunnel !== 0 ? String(m.vni) : ""]);
    const icmp = layers.filter((l) => l.l4Proto === 1).map((l) => String(l.icmpType));
    expect([name, rec["icmp.type"]]).toEqual([name, icmp.join(",")]);
    const icmp6 = layers.filter((l) => l.l4Proto === 58).map((l) => String(l.icmpType));
    expect([name, rec["icmpv6.type"]]).toEqual([name, icmp6.join(",")]);
    expect([name, rec["arp.opcode"]]).toEqual([name, m.arpOp !== 0 ? String(m.arpOp) : ""]);
    // Checksums: 1 = good, 3 = not present (zero UDP checksum), "" = not checked; never 0 (bad).
    for (const c of ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status"]) {
      for (const v of rec[c]!.split(",").filter((x) => x !== "")) expect([name, c, v]).not.toEqual([name, c, "0"]);
    }
  });
}

function sameRecords(got: CaptureRecord[], nanosecond: boolean): void {
  expect(got.length).toBe(packets.length);
  got.forEach((r, i) => {
    expect(r.data).toEqual(packets[i]!.data);
    const ts = packets[i]!.timestampNs;
    expect(r.timestampNs).toBe(nanosecond ? ts : (ts / 1000n) * 1000n);
  });
}

describe.skipIf(TSHARK === undefined)("tshark reads what nfvio writes", () => {
  it("pcap, microseconds, little-endian", async () => {
    const file = join(dir, "us-le.pcap");
    await writeFile(file, await pcapBytes(packets, { bigEndian: false }));
    checkDissection(await tshark(file), () => false);
  });

  it("pcap, nanoseconds, big-endian", async () => {
    const file = join(dir, "ns-be.pcap");
    await writeFile(file, await pcapBytes(packets, { bigEndian: true, nanosecond: true }));
    checkDissection(await tshark(file), () => true);
  });

  it("pcapng: both byte orders, two sections, two interfaces (ns and µs), comments", async () => {
    const file = join(dir, "two-sections.pcapng");
    const sink = new MemorySink();
    const half = Math.ceil(packets.length / 2);
    const a = PcapngWriter.toSink(sink, { bigEndian: false, interfaces: [{ name: "vhost0" }, { name: "vhost1", tsresol: 6 }] });
    for (const [i, p] of packets.slice(0, half).entries()) await a.write(p.data, { timestampNs: p.timestampNs, interfaceId: i & 1, comment: `frame ${i}` });
    await a.close();
    const b = PcapngWriter.toSink(sink, { bigEndian: true });
    for (const p of packets.slice(half)) await b.write(p.data, { timestampNs: p.timestampNs });
    await b.close();
    await writeFile(file, sink.bytes());
    const rows = await tshark(file);
    checkDissection(rows, (i) => i >= half || (i & 1) === 0);
    expect(rows.map((r) => r[FIELDS.indexOf("frame.comment")])).toEqual(packets.map((_, i) => (i < half ? `frame ${i}` : "")));
  });
});

describe.skipIf(TSHARK === undefined)("nfvio reads what tshark and editcap write", () => {
  let source = "";
  beforeAll(async () => {
    source = join(dir, "source.pcapng");
    const sink = new MemorySink();
    const w = PcapngWriter.toSink(sink, { interfaces: [{ name: "nfvio0" }] });
    for (const p of packets) await w.write(p.data, { timestampNs: p.timestampNs, comment: "c" });
    await w.close();
    await writeFile(source, sink.bytes());
  });

  it("tshark -F pcapng", async () => {
    const out = join(dir, "by-tshark.pcapng");
    await run(TSHARK!, ["-r", source, "-w", out, "-F", "pcapng"]);
    sameRecords(await readCapture(out), true);
  });

  it("tshark -F pcap (microseconds)", async () => {
    const out = join(dir, "by-tshark.pcap");
    await run(TSHARK!, ["-r", source, "-w", out, "-F", "pcap"]);
    sameRecords(await readCapture(out), false);
  });

  it.skipIf(EDITCAP === undefined)("editcap -F nsecpcap; editcap pcap -> pcapng, and a snaplen cut", async () => {
    const ns = join(dir, "by-editcap-ns.pcap");
    await run(EDITCAP!, ["-F", "nsecpcap", source, ns]);
    sameRecords(await readCapture(ns), true);
    const pcap = join(dir, "for-editcap.pcap");
    await writeFile(pcap, await pcapBytes(packets, { nanosecond: true }));
    const out = join(dir, "by-editcap.pcapng");
    await run(EDITCAP!, ["-F", "pcapng", pcap, out]);
    sameRecords(await readCapture(out), true);
    const cut = join(dir, "cut.pcapng");
    await run(EDITCAP!, ["-s", "40", "-F", "pcapng", pcap, cut]);
    const recs = await readCapture(cut);
    expect(recs.map((r) => r.data.length)).toEqual(packets.map((p) => Math.min(40, p.data.length)));
    expect(recs.map((r) => r.originalLength)).toEqual(packets.map((p) => p.data.length));
    // A frame cut by the snaplen parses with a length error, not an exception.
    const m = new PacketMeta();
    for (const r of recs) parse(r.data, 0, r.data.length, m);
  });
});

describe.skipIf(TSHARK !== undefined)("tshark interop", () => {
  it.skip("skipped: tshark is not installed (apt-get install -y tshark)", () => {});
});
