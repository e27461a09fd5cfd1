import { createReadStream } from "node:fs";
import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BlockType,
  MemorySink,
  openCapture,
  PcapError,
  pcapBytes,
  pcapngBytes,
  PcapngReader,
  PcapngWriter,
  PcapReader,
  PcapWriter,
  readCapture,
} from "../src/index.js";
import { sampleFrames } from "../src/samples.js";
import { captureSeeds, runFuzz } from "../src/testing.js";
import { fuzzCaptureTarget } from "../src/pcap/reader.fuzz.js";
import { hex } from "./helpers.js";

const frames = Object.values(sampleFrames());
const T0 = 1_700_000_000_123_456_789n;
const packets = frames.map((data, i) => ({ data, timestampNs: T0 + BigInt(i) * 1_000_001n }));

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nfvio-pcap-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A pcapng block built by hand (not by PcapngWriter), for reader tests. */
function block(type: number, body: Uint8Array, le = true, lengthOverride?: number, trailingOverride?: number): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const len = 12 + padded;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, lengthOverride ?? len, le);
  b.set(body, 8);
  dv.setUint32(len - 4, trailingOverride ?? len, le);
  return b;
}
function u32s(le: boolean, ...vals: number[]): Uint8Array {
  const b = new Uint8Array(vals.length * 4);
  vals.forEach((v, i) => new DataView(b.buffer).setUint32(i * 4, v >>> 0, le));
  return b;
}
function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
function shb(le = true, major = 1): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, 0x1a2b3c4d, le);
  dv.setUint16(4, major, le);
  dv.setUint16(6, 0, le);
  dv.setInt32(8, -1, le);
  dv.setInt32(12, -1, le);
  return block(BlockType.SECTION_HEADER, body, le);
}
function idb(le: boolean, snaplen: number, options: Uint8Array = new Uint8Array(0), linkType = 1): Uint8Array {
  const head = new Uint8Array(8);
  new DataView(head.buffer).setUint16(0, linkType, le);
  new DataView(head.buffer).setUint32(4, snaplen, le);
  return block(BlockType.INTERFACE_DESCRIPTION, cat(head, options), le);
}
function opt(le: boolean, code: number, value: Uint8Array): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint16(0, code, le);
  new DataView(h.buffer).setUint16(2, value.length, le);
  const pad = new Uint8Array((4 - (value.length % 4)) % 4);
  return cat(h, value, pad);
}
function epb(le: boolean, iface: number, tsHi: number, tsLo: number, data: Uint8Array, origLen = data.length, caplen = data.length): Uint8Array {
  return block(BlockType.ENHANCED_PACKET, cat(u32s(le, iface, tsHi, tsLo, caplen, origLen), data), le);
}

async function expectPcapError(bytes: Uint8Array, kind: string, offset: number, message: RegExp, opts = {}): Promise<void> {
  let err: unknown = null;
  try {
    await readCapture(bytes, opts);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a PcapError matching ${message}`).toBeInstanceOf(PcapError);
  const e = err as PcapError;
  expect({ kind: e.kind, offset: e.offset }).toEqual({ kind, offset });
  expect(e.message).toMatch(message);
  expect(e.message).toContain(`at file offset ${offset}`);
}

describe("pcap", () => {
  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) {
      it(`round trip: ${bigEndian ? "big" : "little"}-endian, ${nanosecond ? "ns" : "µs"}`, async () => {
        const bytes = await pcapBytes(packets, { bigEndian, nanosecond });
        const magic = nanosecond ? "a1b23c4d" : "a1b2c3d4";
        const want = bigEndian ? magic : magic.match(/../g)!.reverse().join("");
        expect(Buffer.from(bytes.subarray(0, 4)).toString("hex")).toBe(want);
        const r = await openCapture(bytes);
        expect(r).toBeInstanceOf(PcapReader);
        const h = (r as PcapReader).header;
        expect(h).toEqual({ littleEndian: !bigEndian, nanosecond, versionMajor: 2, versionMinor: 4, snaplen: 262144, linkType: 1 });
        const got = [];
        for await (const rec of r) got.push(rec);
        expect(got.length).toBe(packets.length);
        got.forEach((rec, i) => {
          expect(rec.data).toEqual(packets[i]!.data);
          expect(rec.originalLength).toBe(packets[i]!.data.length);
          const ts = packets[i]!.timestampNs;
          expect(rec.timestampNs).toBe(nanosecond ? ts : (ts / 1000n) * 1000n);
          expect(rec.linkType).toBe(1);
        });
        expect(got[0]!.fileOffset).toBe(24);
        expect(got[1]!.fileOffset).toBe(24 + 16 + packets[0]!.data.length);
      });
    }
  }

  it("reads a hand-written big-endian nanosecond file", async () => {
    const bytes = hex(`
      a1b23c4d 0002 0004 00000000 00000000 0000ffff 00000001
      5f5e1000 3b9ac9ff 00000004 0000003c deadbeef
    `);
    const [rec] = await readCapture(bytes);
    expect(rec!.timestampNs).toBe(1_600_000_000n * 1_000_000_000n + 999_999_999n);
    expect(rec!.data).toEqual(hex("deadbeef"));
    expect(rec!.originalLength).toBe(60);
  });

  it("cuts packets to the snaplen and keeps the original length", async () => {
    const bytes = await pcapBytes([{ data: new Uint8Array(100).fill(7) }], { snaplen: 64 });
    const [rec] = await readCapture(bytes);
    expect(rec!.data.length).toBe(64);
    expect(rec!.originalLength).toBe(100);
  });

  it("append continues an existing file in its own format; refuses a cut one", async () => {
    const path = join(dir, "append.pcap");
    const w = await PcapWriter.create(path, { bigEndian: true, nanosecond: true });
    await w.write(frames[0]!, 5n);
    await w.close();
    const a = await PcapWriter.append(path, { nanosecond: false });
    expect(a.nanosecond).toBe(true);
    await a.write(frames[1]!, 6n);
    await a.close();
    const recs = await readCapture(path);
    expect(recs.map((r) => r.timestampNs)).toEqual([5n, 6n]);
    expect(recs[1]!.data).toEqual(frames[1]);
    const fresh = join(dir, "append-new.pcap");
    const b = await PcapWriter.append(fresh);
    await b.write(frames[2]!);
    await b.close();
    expect((await readCapture(fresh)).length).toBe(1);
    const full = await readFile(path);
    await writeFile(path, full.subarray(0, full.length - 3));
    await expect(PcapWriter.append(path)).rejects.toThrow(PcapError);
  });
});

describe("pcapng", () => {
  for (const bigEndian of [false, true]) {
    it(`round trip: ${bigEndian ? "big" : "little"}-endian, two interfaces, EPB, SPB, comment, unknown block`, async () => {
      const sink = new MemorySink();
      const w = PcapngWriter.toSink(sink, { bigEndian, interfaces: [{ name: "vhost0" }, { tsresol: 6, snaplen: 64 }] });
      await w.write(frames[0]!, { timestampNs: T0, comment: "hello" });
      await w.write(frames[16]!, { timestampNs: T0 + 1n, interfaceId: 1 });
      await w.writeRawBlock(BlockType.NAME_RESOLUTION, new Uint8Array(4));
      await w.writeRawBlock(0x0bad, new Uint8Array(10));
      await w.writeSimple(frames[2]!);
      await w.close();
      const bytes = sink.bytes();
      const r = (await openCapture(bytes)) as PcapngReader;
      expect(r).toBeInstanceOf(PcapngReader);
      const recs = [];
      for (let x = await r.next(); x !== null; x = await r.next()) recs.push(x);
      expect(r.littleEndian).toBe(!bigEndian);
      expect(r.interfaces.map((i) => [i.name, i.unitsPerSecond, i.snaplen])).toEqual([["vhost0", 1_000_000_000n, 0], [undefined, 1_000_000n, 64]]);
      expect(r.skippedBlocks).toBe(2);
      expect(recs.length).toBe(3);
      expect(recs[0]!.data).toEqual(frames[0]);
      expect(recs[0]!.timestampNs).toBe(T0);
      expect(recs[1]!.interfaceId).toBe(1);
      expect(recs[1]!.data).toEqual(frames[16]!.subarray(0, 64));
      expect(recs[1]!.originalLength).toBe(frames[16]!.length);
      expect(recs[1]!.timestampNs).toBe((T0 / 1000n) * 1000n);
      expect(recs[2]!.data).toEqual(frames[2]);
      expect(recs[2]!.timestampNs).toBe(0n);
      await r.close();
    });
  }

  it("several sections in different byte orders; interfaces are per section", async () => {
    const a = await pcapngBytes([{ data: frames[0]!, timestampNs: 1n }], { bigEndian: false });
    const b = await pcapngBytes([{ data: frames[1]!, timestampNs: 2n, interfaceId: 1 }], { bigEndian: true, interfaces: [{}, { linkType: 1 }] });
    const recs = await readCapture(cat(a, b, a));
    expect(recs.map((r) => [r.section, r.interfaceId, r.timestampNs])).toEqual([[0, 0, 1n], [1, 1, 2n], [2, 0, 1n]]);
  });

  it("hand-written: if_tsresol 2^-10, if_tsoffset, an obsolete Packet Block, both byte orders", async () => {
    for (const le of [true, false]) {
      const off = new Uint8Array(8);
      new DataView(off.buffer).setBigInt64(0, 100n, le);
      const iface = idb(le, 0, cat(opt(le, 9, Uint8Array.of(0x8a)), opt(le, 14, off), opt(le, 2, new TextEncoder().encode("eth7")), opt(le, 0, new Uint8Array(0))));
      const data = hex("0102030405");
      const obsolete = new Uint8Array(20);
      const dv = new DataView(obsolete.buffer);
      dv.setUint16(0, 0, le);
      dv.setUint32(4, 0, le);
      dv.setUint32(8, 2048, le);
      dv.setUint32(12, 5, le);
      dv.setUint32(16, 5, le);
      const bytes = cat(shb(le), iface, epb(le, 0, 0, 1024 * 3 + 512, data), block(BlockType.PACKET, cat(obsolete, data), le));
      const r = await openCapture(bytes);
      const recs = await readCapture(bytes);
      expect(r.interfaces.length).toBe(0); // nothing read yet
      expect(recs.map((x) => x.timestampNs)).toEqual([103_500_000_000n, 102_000_000_000n]);
      expect(recs[0]!.data).toEqual(data);
      expect(recs[1]!.data).toEqual(data);
    }
  });

  it("append adds a section", async () => {
    const path = join(dir, "append.pcapng");
    const w = await PcapngWriter.create(path);
    await w.write(frames[0]!, { timestampNs: 1n });
    await w.close();
    const a = await PcapngWriter.append(path, { bigEndian: true });
    await a.write(frames[1]!, { timestampNs: 2n });
    await a.close();
    const recs = await readCapture(path);
    expect(recs.map((r) => [r.section, r.timestampNs])).toEqual([[0, 1n], [1, 2n]]);
  });
});

describe("streaming input", () => {
  it("reads from a path, an fd, a FileHandle and a ReadStream in small chunks", async () => {
    const path = join(dir, "stream.pcapng");
    await writeFile(path, await pcapngBytes(packets));
    const want = (await readCapture(path)).map((r) => r.data);
    expect(want.length).toBe(packets.length);
    const fh = await open(path, "r");
    const viaFh = await readCapture(fh, { chunkSize: 100 });
    await fh.close();
    const fh2 = await open(path, "r");
    const viaFd = await readCapture(fh2.fd, { chunkSize: 64 });
    await fh2.close();
    const viaStream = await readCapture(createReadStream(path, { highWaterMark: 13 }), { chunkSize: 64 });
    for (const got of [viaFh, viaFd, viaStream]) expect(got.map((r) => r.data)).toEqual(want);
  });

  it("a capture much larger than the read buffer: bounded memory, every record seen", async () => {
    const path = join(dir, "big.pcap");
    const w = await PcapWriter.create(path, { nanosecond: true });
    const frame = new Uint8Array(1514);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      frame[0] = i & 0xff;
      await w.write(frame, BigInt(i));
    }
    await w.close();
    const size = (await stat(path)).size;
    expect(size).toBe(24 + n * (16 + 1514));
    const r = await openCapture(path, { chunkSize: 1 << 16, copy: false });
    let count = 0;
    let maxCap = 0;
    for (let rec = await r.next(); rec !== null; rec = await r.next()) {
      if (rec.data[0] !== (count & 0xff) || rec.timestampNs !== BigInt(count)) throw new Error(`record ${count} wrong`);
      count++;
      maxCap = Math.max(maxCap, r.bufferCapacity);
    }
    await r.close();
    expect(count).toBe(n);
    expect(maxCap).toBe(1 << 16);
    expect(maxCap).toBeLessThan(size / 400);
  });

  it("a block larger than the chunk size grows the buffer only to that block", async () => {
    const big = new Uint8Array(200_000).fill(3);
    const bytes = await pcapngBytes([{ data: new Uint8Array(10) }, { data: big }, { data: new Uint8Array(10) }]);
    const chunks = async function* (): AsyncIterable<Uint8Array> {
      for (let i = 0; i < bytes.length; i += 4096) yield bytes.subarray(i, i + 4096);
    };
    const r = await openCapture(chunks(), { chunkSize: 4096, maxCaplen: 1 << 20 });
    const sizes: number[] = [];
    for (let rec = await r.next(); rec !== null; rec = await r.next()) sizes.push(rec.data.length);
    expect(sizes).toEqual([10, 200_000, 10]);
    // The EPB is 32 bytes of framing + the data.
    expect(r.bufferCapacity).toBe(200_032);
  });
});

describe("corrupt files give a PcapError with the offset", () => {
  const good = (async () => pcapBytes(packets.slice(0, 3)))();
  const le = true;
  const base = cat(shb(le), idb(le, 0));

  it("empty, short, unknown magic", async () => {
    await expectPcapError(new Uint8Array(0), "truncated", 0, /too short/);
    await expectPcapError(hex("a1b2c3"), "truncated", 0, /too short/);
    await expectPcapError(hex("7f454c46 02010100"), "malformed", 0, /not a pcap or pcapng file: magic 0x7f454c46/);
  });

  it("pcap: header cut, version, absurd snaplen", async () => {
    const g = await good;
    await expectPcapError(g.subarray(0, 20), "truncated", 0, /needs 24 bytes/);
    const v = g.slice();
    v[4] = 3;
    await expectPcapError(v, "unsupported", 4, /major version 3/);
    const s = g.slice();
    new DataView(s.buffer).setUint32(16, 0xffff_fff0, true);
    await expectPcapError(s, "limit", 16, /snaplen 4294967280 is absurd/);
  });

  it("pcap: record header cut, data cut, caplen above limits, original below captured", async () => {
    const g = await good;
    const second = 24 + 16 + packets[0]!.data.length;
    await expectPcapError(g.subarray(0, 24 + 10), "truncated", 24, /record header cut short: 10 of 16/);
    await expectPcapError(g.subarray(0, second - 1), "truncated", 24, /record data cut short/);
    await expectPcapError(g.subarray(0, second + 16 + 3), "truncated", second, /record data cut short: 3 of/);
    const huge = g.slice();
    new DataView(huge.buffer).setUint32(second + 8, 0x7fff_ffff, true);
    await expectPcapError(huge, "limit", second, /captured length 2147483647 is above the limit 262144/);
    const snap = g.slice();
    new DataView(snap.buffer).setUint32(16, 32, true);
    await expectPcapError(snap, "limit", 24, /above the file's snaplen 32/);
    const orig = g.slice();
    new DataView(orig.buffer).setUint32(24 + 12, 10, true);
    await expectPcapError(orig, "malformed", 24, /original length 10 is below its captured length/);
    await expectPcapError(g, "limit", 24, /above the limit 20/, { maxCaplen: 20 });
  });

  it("pcapng: block lengths that lie", async () => {
    const e = epb(le, 0, 0, 0, hex("01020304"));
    const at = base.length;
    await expectPcapError(cat(base, block(6, new Uint8Array(20), le, 8)), "malformed", at, /length 8 is below the 12-byte minimum/);
    await expectPcapError(cat(base, block(6, new Uint8Array(20), le, 30)), "malformed", at, /length 30 is not a multiple of 4/);
    await expectPcapError(cat(base, block(6, new Uint8Array(20), le, 0xffff_fff0)), "limit", at, /length 4294967280 is above the limit/);
    await expectPcapError(cat(base, block(6, new Uint8Array(20), le, 36)), "truncated", at, /cut short: 32 of 36 bytes/);
    await expectPcapError(cat(base, block(6, new Uint8Array(20), le, undefined, 40)), "malformed", at, /trailing length 40 differs from its leading length 32/);
    await expectPcapError(cat(base, e.subarray(0, 5)), "truncated", at, /block header cut short: 5 of at least 12/);
    await expectPcapError(cat(base, e.subarray(0, e.length - 1)), "truncated", at, /cut short/);
  });

  it("pcapng: section header problems", async () => {
    const s = shb(le);
    const badBom = s.slice();
    badBom[8] = 0;
    await expectPcapError(badBom, "malformed", 0, /byte-order magic/);
    await expectPcapError(shb(le, 2), "unsupported", 0, /major version 2/);
    await expectPcapError(cat(s, block(BlockType.SECTION_HEADER, u32s(le, 0x1a2b3c4d), le)), "malformed", s.length, /body of 4 bytes is below 16/);
    await expectPcapError(cat(s.subarray(0, 10)), "truncated", 0, /block header cut short/);
  });

  it("pcapng: packet blocks that contradict their block or interface", async () => {
    const at = base.length;
    await expectPcapError(cat(base, epb(le, 3, 0, 0, hex("01"))), "malformed", at, /interface 3, but the section has 1/);
    await expectPcapError(cat(shb(le), epb(le, 0, 0, 0, hex("01"))), "malformed", 28, /interface 0, but the section has 0/);
    await expectPcapError(cat(base, epb(le, 0, 0, 0, hex("01020304"), 4, 400)), "malformed", at, /captured length 400 runs past the block end/);
    await expectPcapError(cat(base, epb(le, 0, 0, 0, hex("01020304"), 2, 4)), "malformed", at, /original length 2 is below/);
    await expectPcapError(cat(shb(le), idb(le, 2), epb(le, 0, 0, 0, hex("01020304"))), "limit", base.length, /above the interface snaplen 2/);
    await expectPcapError(cat(base, block(BlockType.ENHANCED_PACKET, u32s(le, 0, 0), le)), "malformed", at, /body of 8 bytes is below 20/);
    await expectPcapError(cat(base, block(BlockType.SIMPLE_PACKET, cat(u32s(le, 40), hex("01020304")), le)), "malformed", at, /runs past the block end/);
  });

  it("pcapng: options that run past their block", async () => {
    const at = shb(le).length;
    await expectPcapError(cat(shb(le), idb(le, 0, cat(u32s(le, 0x00ff_0009)))), "malformed", at, /option 9 of length 255 runs past/);
    await expectPcapError(cat(shb(le), idb(le, 0, opt(le, 9, Uint8Array.of(6, 6)))), "malformed", at, /if_tsresol option length 2/);
  });

  it("a failed reader stays failed", async () => {
    const r = await openCapture(cat(base, block(6, new Uint8Array(20), le, 30)));
    const first = await r.next().catch((e: unknown) => e);
    const second = await r.next().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(PcapError);
    expect(second).toBe(first);
  });

  it("fuzz harness over the capture seeds (fixed seed)", async () => {
    const r = await runFuzz({ seeds: await captureSeeds(), target: fuzzCaptureTarget, iterations: 3000, seed: 99 });
    expect(r.failure?.error.message ?? null).toBeNull();
  });
});
