/**
 * pcap and pcapng writers. Records are collected in a buffer and handed to
 * the sink (a file, an fd, memory) in large writes; `flush()` pushes the
 * buffer out, `close()` flushes and closes.
 *
 * Appending: {@link PcapWriter.append} continues an existing pcap file with
 * its own byte order, timestamp resolution, snaplen and link type.
 * {@link PcapngWriter.append} adds a new section (a Section Header Block and
 * its interfaces) at the end of an existing pcapng file, which is how the
 * format concatenates captures (draft-ietf-opsawg-pcapng §3.1); the earlier
 * sections are untouched.
 */
import { open } from "node:fs/promises";
import { PcapError, PacketError } from "../errors.js";
import {
  BYTE_ORDER_MAGIC,
  BlockType,
  LINKTYPE_ETHERNET,
  OptionCode,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  pad4,
} from "./format.js";
import { fileSink, MemorySink, type ByteSink } from "./io.js";
import { PcapReader, openCapture } from "./reader.js";

const FLUSH_AT = 1 << 18;

/** A growable byte buffer with endian-aware puts. */
class OutBuf {
  bytes = new Uint8Array(FLUSH_AT + 4096);
  length = 0;
  constructor(readonly le: boolean) {}
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.bytes[this.length++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    const b = this.bytes;
    const o = this.length;
    if (this.le) {
      b[o] = v;
      b[o + 1] = v >>> 8;
    } else {
      b[o] = v >>> 8;
      b[o + 1] = v;
    }
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.u32At(this.length, v);
    this.length += 4;
  }
  /** Write a u32 at an earlier position (block lengths). */
  u32At(o: number, v: number): void {
    const b = this.bytes;
    if (this.le) {
      b[o] = v;
      b[o + 1] = v >>> 8;
      b[o + 2] = v >>> 16;
      b[o + 3] = v >>> 24;
    } else {
      b[o] = v >>> 24;
      b[o + 1] = v >>> 16;
      b[o + 2] = v >>> 8;
      b[o + 3] = v;
    }
  }
  raw(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.bytes.fill(0, this.length, this.length + n);
    this.length += n;
  }
}

function platformLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function checkLength(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new PacketError("usage", `${what} ${v} is not a u32`);
}

abstract class Writer {
  protected readonly out: OutBuf;
  private closed = false;
  /** Records written. */
  count = 0;

  protected constructor(
    protected readonly sink: ByteSink,
    le: boolean,
  ) {
    this.out = new OutBuf(le);
  }

  protected checkOpen(): void {
    if (this.closed) throw new PacketError("usage", "capture writer is closed");
  }

  protected async maybeFlush(): Promise<void> {
    if (this.out.length >= FLUSH_AT) await this.flush();
  }

  /** Hand buffered bytes to the sink. */
  async flush(): Promise<void> {
    if (this.out.length === 0) return;
    const n = this.out.length;
    this.out.length = 0;
    await this.sink.write(this.out.bytes.subarray(0, n));
  }

  /** Flush and close the sink. Further writes throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.sink.close();
  }
}

export interface PcapWriteOptions {
  /** Link type (default 1, Ethernet). */
  linkType?: number;
  /** Snapshot length (default 262144); longer packets are cut to it. */
  snaplen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d); default microseconds. */
  nanosecond?: boolean;
  /** Byte order (default: this machine's). */
  bigEndian?: boolean;
}

/** Writer for pcap files (draft-ietf-opsawg-pcap §4, §5). */
export class PcapWriter extends Writer {
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanosecond: boolean;

  private constructor(sink: ByteSink, le: boolean, linkType: number, snaplen: number, nanosecond: boolean) {
    super(sink, le);
    this.linkType = linkType;
    this.snaplen = snaplen;
    this.nanosecond = nanosecond;
  }

  private static fromOptions(sink: ByteSink, opts: PcapWriteOptions): PcapWriter {
    const le = opts.bigEndian === undefined ? platformLittleEndian() : !opts.bigEndian;
    const snaplen = opts.snaplen ?? 262144;
    checkLength("snaplen", snaplen);
    return new PcapWriter(sink, le, opts.linkType ?? LINKTYPE_ETHERNET, snaplen, opts.nanosecond ?? false);
  }

  private writeHeader(): void {
    const o = this.out;
    o.u32(this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
    o.u16(2);
    o.u16(4);
    o.u32(0); // reserved (was thiszone)
    o.u32(0); // reserved (was sigfigs)
    o.u32(this.snaplen);
    o.u32(this.linkType);
  }

  /** Write a new pcap file at `path` (truncating it). */
  static async create(path: string, opts: PcapWriteOptions = {}): Promise<PcapWriter> {
    const w = PcapWriter.fromOptions(await fileSink(path, "w"), opts);
    w.writeHeader();
    return w;
  }

  /** A writer over any sink; the file header is written first. */
  static toSink(sink: ByteSink, opts: PcapWriteOptions = {}): PcapWriter {
    const w = PcapWriter.fromOptions(sink, opts);
    w.writeHeader();
    return w;
  }

  /**
   * Append to the pcap file at `path`, keeping its header's byte order,
   * resolution, snaplen and link type; a missing or empty file is created
   * with `opts`. A file whose last record is cut short is refused
   * (PcapError), since appending after it would corrupt every later record.
   */
  static async append(path: string, opts: PcapWriteOptions = {}): Promise<PcapWriter> {
    let size = 0;
    try {
      const fh = await open(path, "r");
      size = (await fh.stat()).size;
      await fh.close();
    } catch {
      size = 0;
    }
    if (size === 0) return PcapWriter.create(path, opts);
    const reader = await openCapture(path);
    if (!(reader instanceof PcapReader)) {
      await reader.close();
      throw new PcapError("usage", 0, `${path} is not a pcap file`);
    }
    try {
      // Walk to the end: checks every record, so the append starts on a boundary.
      while ((await reader.next()) !== null);
    } finally {
      await reader.close();
    }
    const h = reader.header;
    return new PcapWriter(await fileSink(path, "a"), h.littleEndian, h.linkType, h.snaplen, h.nanosecond);
  }

  /**
   * Write one packet. `timestampNs` is nanoseconds since 1970 (default 0n);
   * `originalLength` defaults to the data length. Data beyond the snaplen is
   * cut off.
   */
  async write(data: Uint8Array, timestampNs = 0n, originalLength = data.length): Promise<void> {
    this.checkOpen();
    checkLength("original length", originalLength);
    const caplen = this.snaplen !== 0 ? Math.min(data.length, this.snaplen) : data.length;
    if (timestampNs < 0n) throw new PacketError("usage", `pcap cannot store a negative timestamp (${timestampNs})`);
    const sec = timestampNs / 1_000_000_000n;
    if (sec > 0xffff_ffffn) throw new PacketError("usage", `timestamp ${timestampNs} ns is beyond pcap's 32-bit seconds`);
    const ns = Number(timestampNs % 1_000_000_000n);
    const o = this.out;
    o.u32(Number(sec));
    o.u32(this.nanosecond ? ns : Math.floor(ns / 1000));
    o.u32(caplen);
    o.u32(Math.max(originalLength, caplen));
    o.raw(caplen === data.length ? data : data.subarray(0, caplen));
    this.count++;
    await this.maybeFlush();
  }
}

export interface PcapngInterfaceOptions {
  /** Link type (default 1, Ethernet). */
  linkType?: number;
  /** Snapshot length; 0 (default) means no limit. */
  snaplen?: number;
  /** if_tsresol as a power of ten (default 9: nanoseconds). */
  tsresol?: number;
  /** if_name. */
  name?: string;
}

export interface PcapngWriteOptions {
  /** Byte order of the section (default: this machine's). */
  bigEndian?: boolean;
  /** shb_userappl (default "nfvio"). */
  application?: string;
  /** Interfaces to describe right after the Section Header Block (default: one Ethernet interface). */
  interfaces?: readonly PcapngInterfaceOptions[];
}

export interface PcapngPacketOptions {
  timestampNs?: bigint;
  interfaceId?: number;
  originalLength?: number;
  /** opt_comment on the Enhanced Packet Block. */
  comment?: string;
}

interface WriterIface {
  snaplen: number;
  unitsPerSecond: bigint;
}

const text = new TextEncoder();

/** Writer for pcapng (draft-ietf-opsawg-pcapng §4.1-§4.4). */
export class PcapngWriter extends Writer {
  private readonly ifaces: WriterIface[] = [];

  private constructor(sink: ByteSink, le: boolean) {
    super(sink, le);
  }

  private static start(sink: ByteSink, opts: PcapngWriteOptions): PcapngWriter {
    const le = opts.bigEndian === undefined ? platformLittleEndian() : !opts.bigEndian;
    const w = new PcapngWriter(sink, le);
    w.sectionHeader(opts.application ?? "nfvio");
    for (const i of opts.interfaces ?? [{}]) w.addInterface(i);
    return w;
  }

  /** Write a new pcapng file at `path` (truncating it). */
  static async create(path: string, opts: PcapngWriteOptions = {}): Promise<PcapngWriter> {
    return PcapngWriter.start(await fileSink(path, "w"), opts);
  }

  /** Append a new section to the pcapng file at `path` (created if missing). */
  static async append(path: string, opts: PcapngWriteOptions = {}): Promise<PcapngWriter> {
    return PcapngWriter.start(await fileSink(path, "a"), opts);
  }

  /** A writer over any sink; the section header and interfaces are written first. */
  static toSink(sink: ByteSink, opts: PcapngWriteOptions = {}): PcapngWriter {
    return PcapngWriter.start(sink, opts);
  }

  private option(code: number, value: Uint8Array): void {
    const o = this.out;
    o.u16(code);
    o.u16(value.length);
    o.raw(value);
    o.zeros(pad4(value.length) - value.length);
  }

  private endBlock(start: number): void {
    const o = this.out;
    const len = o.length - start + 4;
    o.u32(len);
    o.u32At(start + 4, len);
  }

  private sectionHeader(application: string): void {
    const o = this.out;
    const start = o.length;
    o.u32(BlockType.SECTION_HEADER);
    o.u32(0);
    o.u32(BYTE_ORDER_MAGIC);
    o.u16(1);
    o.u16(0);
    o.u32(0xffff_ffff); // section length -1: not given (§4.1)
    o.u32(0xffff_ffff);
    this.option(OptionCode.SHB_USERAPPL, text.encode(application));
    this.option(OptionCode.END_OF_OPT, new Uint8Array(0));
    this.endBlock(start);
  }

  /** Describe another interface (an Interface Description Block, §4.2); returns its id. */
  addInterface(opts: PcapngInterfaceOptions = {}): number {
    this.checkOpen();
    const tsresol = opts.tsresol ?? 9;
    if (!Number.isInteger(tsresol) || tsresol < 0 || tsresol > 12) throw new PacketError("usage", `tsresol ${tsresol} is not a power of ten nfvio writes (0-12)`);
    const snaplen = opts.snaplen ?? 0;
    checkLength("snaplen", snaplen);
    const o = this.out;
    const start = o.length;
    o.u32(BlockType.INTERFACE_DESCRIPTION);
    o.u32(0);
    o.u16(opts.linkType ?? LINKTYPE_ETHERNET);
    o.u16(0);
    o.u32(snaplen);
    if (opts.name !== undefined) this.option(OptionCode.IF_NAME, text.encode(opts.name));
    this.option(OptionCode.IF_TSRESOL, Uint8Array.of(tsresol));
    this.option(OptionCode.END_OF_OPT, new Uint8Array(0));
    this.endBlock(start);
    this.ifaces.push({ snaplen, unitsPerSecond: 10n ** BigInt(tsresol) });
    return this.ifaces.length - 1;
  }

  /** Write one packet as an Enhanced Packet Block (§4.3). */
  async write(data: Uint8Array, opts: PcapngPacketOptions = {}): Promise<void> {
    this.checkOpen();
    const id = opts.interfaceId ?? 0;
    const f = this.ifaces[id];
    if (f === undefined) throw new PacketError("usage", `interface ${id} was not added`);
    const originalLength = opts.originalLength ?? data.length;
    checkLength("original length", originalLength);
    const caplen = f.snaplen !== 0 ? Math.min(data.length, f.snaplen) : data.length;
    const ts = ((opts.timestampNs ?? 0n) * f.unitsPerSecond) / 1_000_000_000n;
    if (ts < 0n || ts >= 1n << 64n) throw new PacketError("usage", `timestamp ${opts.timestampNs} does not fit 64 bits of the interface's units`);
    const o = this.out;
    const start = o.length;
    o.u32(BlockType.ENHANCED_PACKET);
    o.u32(0);
    o.u32(id);
    o.u32(Number(ts >> 32n));
    o.u32(Number(ts & 0xffff_ffffn));
    o.u32(caplen);
    o.u32(Math.max(originalLength, caplen));
    o.raw(caplen === data.length ? data : data.subarray(0, caplen));
    o.zeros(pad4(caplen) - caplen);
    if (opts.comment !== undefined) {
      this.option(OptionCode.COMMENT, text.encode(opts.comment));
      this.option(OptionCode.END_OF_OPT, new Uint8Array(0));
    }
    this.endBlock(start);
    this.count++;
    await this.maybeFlush();
  }

  /** Write one packet as a Simple Packet Block (§4.4): no timestamp, interface 0. */
  async writeSimple(data: Uint8Array, originalLength = data.length): Promise<void> {
    this.checkOpen();
    const f = this.ifaces[0];
    if (f === undefined) throw new PacketError("usage", "a Simple Packet Block needs interface 0");
    checkLength("original length", originalLength);
    // §4.4: the stored length is min(original length, snaplen).
    const stored = f.snaplen !== 0 ? Math.min(originalLength, f.snaplen) : originalLength;
    if (stored !== data.length) throw new PacketError("usage", `a Simple Packet Block stores min(original length, snaplen) = ${stored} bytes, got ${data.length}`);
    const o = this.out;
    const start = o.length;
    o.u32(BlockType.SIMPLE_PACKET);
    o.u32(0);
    o.u32(originalLength);
    o.raw(data);
    o.zeros(pad4(data.length) - data.length);
    this.endBlock(start);
    this.count++;
    await this.maybeFlush();
  }

  /** Write an arbitrary block (for tests of readers that must skip unknown blocks). */
  async writeRawBlock(type: number, body: Uint8Array): Promise<void> {
    this.checkOpen();
    const o = this.out;
    const start = o.length;
    o.u32(type);
    o.u32(0);
    o.raw(body);
    o.zeros(pad4(body.length) - body.length);
    this.endBlock(start);
    await this.maybeFlush();
  }
}

/** One packet for the in-memory helpers. */
export interface PacketToWrite {
  data: Uint8Array;
  timestampNs?: bigint;
  originalLength?: number;
}

/** A pcap file in memory. */
export async function pcapBytes(packets: Iterable<PacketToWrite>, opts: PcapWriteOptions = {}): Promise<Uint8Array> {
  const sink = new MemorySink();
  const w = PcapWriter.toSink(sink, opts);
  for (const p of packets) await w.write(p.data, p.timestampNs ?? 0n, p.originalLength ?? p.data.length);
  await w.close();
  return sink.bytes();
}

/** A pcapng file in memory (one section, one Ethernet interface unless `opts.interfaces` says otherwise). */
export async function pcapngBytes(packets: Iterable<PacketToWrite & { interfaceId?: number }>, opts: PcapngWriteOptions = {}): Promise<Uint8Array> {
  const sink = new MemorySink();
  const w = PcapngWriter.toSink(sink, opts);
  for (const p of packets) {
    const po: PcapngPacketOptions = {};
    if (p.timestampNs !== undefined) po.timestampNs = p.timestampNs;
    if (p.originalLength !== undefined) po.originalLength = p.originalLength;
    if (p.interfaceId !== undefined) po.interfaceId = p.interfaceId;
    await w.write(p.data, po);
  }
  await w.close();
  return sink.bytes();
}
