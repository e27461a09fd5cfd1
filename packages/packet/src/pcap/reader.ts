/**
 * Streaming readers for pcap and pcapng.
 *
 * {@link openCapture} sniffs the format from the first bytes and returns a
 * {@link CaptureReader}: `await reader.next()` yields one
 * {@link CaptureRecord} at a time (or null at the end), and the reader is an
 * async iterable. Input is read in chunks ({@link BufferedInput}), so a file
 * larger than memory is fine; the buffer only grows to the largest record or
 * block, which the limits cap.
 *
 * Every structure is checked before it is used: header and block lengths
 * against the bytes really present, against each other (pcapng's leading
 * and trailing block lengths, §3.1) and against the limits. A problem is a
 * {@link PcapError} that names the file offset of the structure; after one,
 * the reader stays failed and rethrows it.
 */
import { PcapError } from "../errors.js";
import {
  BYTE_ORDER_MAGIC,
  BlockType,
  DEFAULT_MAX_BLOCK,
  DEFAULT_MAX_CAPLEN,
  OptionCode,
  PCAP_HEADER_LEN,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_LEN,
  pad4,
} from "./format.js";
import { BufferedInput, openSource, type CaptureInput } from "./io.js";

/** One captured packet. */
export interface CaptureRecord {
  /** Captured bytes (a copy, unless the reader was opened with `copy: false`). */
  data: Uint8Array;
  /** Length of the packet on the wire (at least `data.length`). */
  originalLength: number;
  /** Capture time, nanoseconds since 1970-01-01 UTC; 0n for a pcapng Simple Packet Block, which has none. */
  timestampNs: bigint;
  /** Interface index within its section (always 0 for pcap). */
  interfaceId: number;
  /** Link-layer type of the interface (1 = Ethernet). */
  linkType: number;
  /** pcapng section number, from 0 (always 0 for pcap). */
  section: number;
  /** File offset of the record header or block. */
  fileOffset: number;
}

/** A capture interface: pcap has one, from its file header; pcapng one per IDB. */
export interface CaptureInterface {
  linkType: number;
  /** Snapshot length; 0 means no limit (pcapng §4.2). */
  snaplen: number;
  /** Timestamp units per second (10^6 for pcap µs, 10^9 for ns, if_tsresol in pcapng). */
  unitsPerSecond: bigint;
  /** if_tsoffset: seconds added to every timestamp (pcapng §4.2). */
  offsetSeconds: bigint;
  /** if_name, when present. */
  name?: string;
}

export interface ReadOptions {
  /** Largest captured length accepted (default 262144). */
  maxCaplen?: number;
  /** Largest pcapng block accepted (default 16 MiB). */
  maxBlockSize?: number;
  /** Bytes read from the source at a time (default 64 KiB). */
  chunkSize?: number;
  /**
   * Copy each record's bytes (default true). With false, `data` is a view
   * into the reader's buffer, valid until the next call to `next()`.
   */
  copy?: boolean;
}

export type CaptureFormat = "pcap" | "pcapng";

/** The common shape of the pcap and pcapng readers. */
export abstract class CaptureReader implements AsyncIterable<CaptureRecord> {
  abstract readonly format: CaptureFormat;
  protected failure: PcapError | null = null;
  protected readonly maxCaplen: number;
  protected readonly maxBlock: number;
  protected readonly copy: boolean;

  protected constructor(
    protected readonly input: BufferedInput,
    opts: ReadOptions,
  ) {
    this.maxCaplen = opts.maxCaplen ?? DEFAULT_MAX_CAPLEN;
    this.maxBlock = opts.maxBlockSize ?? DEFAULT_MAX_BLOCK;
    this.copy = opts.copy ?? true;
  }

  /** Interfaces known so far (pcapng: of the current section). */
  abstract get interfaces(): readonly CaptureInterface[];

  /** Size of the read buffer; stays near the chunk size unless a record is larger. */
  get bufferCapacity(): number {
    return this.input.capacity;
  }

  /** The next record, or null at the end of the input. */
  async next(): Promise<CaptureRecord | null> {
    if (this.failure !== null) throw this.failure;
    try {
      return await this.readNext();
    } catch (e) {
      this.failure = e instanceof PcapError ? e : new PcapError("io", this.input.position, String(e), { cause: e });
      throw this.failure;
    }
  }

  protected abstract readNext(): Promise<CaptureRecord | null>;

  /** Close the underlying source (a path opened by the reader; an fd or FileHandle passed in is left open). */
  async close(): Promise<void> {
    await this.input.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CaptureRecord> {
    try {
      for (;;) {
        const r = await this.next();
        if (r === null) return;
        yield r;
      }
    } finally {
      await this.close();
    }
  }

  protected take(start: number, length: number): Uint8Array {
    const b = this.input.bytes;
    return this.copy ? b.slice(start, start + length) : b.subarray(start, start + length);
  }
}

function u16(b: Uint8Array, i: number, le: boolean): number {
  return le ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!;
}

function u32(b: Uint8Array, i: number, le: boolean): number {
  return le
    ? (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0
    : ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

const NS_PER_S = 1_000_000_000n;

/**
 * Open a capture: a path, an fd, a FileHandle, an async iterable of chunks
 * (e.g. a ReadStream), or bytes. The format is taken from the magic number.
 */
export async function openCapture(input: CaptureInput, opts: ReadOptions = {}): Promise<CaptureReader> {
  const source = input instanceof Uint8Array ? input : await openSource(input);
  const buf = new BufferedInput(source, opts.chunkSize);
  try {
    const got = await buf.fill(4);
    if (got < 4) throw new PcapError("truncated", 0, `${got}-byte input is too short for a capture file magic number`);
    const b = buf.bytes;
    const be = u32(b, buf.index, false);
    if (be === BlockType.SECTION_HEADER) return new PcapngReader(buf, opts);
    const le = u32(b, buf.index, true);
    if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) {
      return await PcapReader.start(buf, opts);
    }
    throw new PcapError("malformed", 0, `not a pcap or pcapng file: magic 0x${be.toString(16).padStart(8, "0")}`);
  } catch (e) {
    await buf.close();
    throw e;
  }
}

/** Read every record of a capture into memory (for tests and small files). */
export async function readCapture(input: CaptureInput, opts: ReadOptions = {}): Promise<CaptureRecord[]> {
  const reader = await openCapture(input, opts);
  const out: CaptureRecord[] = [];
  for await (const r of reader) out.push(r);
  return out;
}

/** Header facts of a pcap file. */
export interface PcapHeader {
  littleEndian: boolean;
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
}

/** Reader for pcap files (draft-ietf-opsawg-pcap §4, §5), either byte order, µs or ns timestamps. */
export class PcapReader extends CaptureReader {
  readonly format = "pcap";
  readonly header: PcapHeader;
  private readonly iface: CaptureInterface;

  private constructor(input: BufferedInput, opts: ReadOptions, header: PcapHeader) {
    super(input, opts);
    this.header = header;
    this.iface = {
      linkType: header.linkType,
      snaplen: header.snaplen,
      unitsPerSecond: header.nanosecond ? NS_PER_S : 1_000_000n,
      offsetSeconds: 0n,
    };
  }

  /** @internal */
  static async start(input: BufferedInput, opts: ReadOptions): Promise<PcapReader> {
    const got = await input.fill(PCAP_HEADER_LEN);
    if (got < PCAP_HEADER_LEN) throw new PcapError("truncated", 0, `pcap file header needs 24 bytes, file has ${got}`);
    const b = input.bytes;
    const i = input.index;
    const magicLe = u32(b, i, true);
    const le = magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS;
    const magic = u32(b, i, le);
    const header: PcapHeader = {
      littleEndian: le,
      nanosecond: magic === PCAP_MAGIC_NS,
      versionMajor: u16(b, i + 4, le),
      versionMinor: u16(b, i + 6, le),
      snaplen: u32(b, i + 16, le),
      // LinkType and additional information: the link type is the low bits,
      // the top bits describe the FCS (draft-ietf-opsawg-pcap §4).
      linkType: u32(b, i + 20, le) & 0x03ff_ffff,
    };
    if (header.versionMajor !== 2) throw new PcapError("unsupported", 4, `pcap major version ${header.versionMajor} (only 2 is defined)`);
    if (header.snaplen > 0x4000_0000) throw new PcapError("limit", 16, `pcap snaplen ${header.snaplen} is absurd`);
    input.consume(PCAP_HEADER_LEN);
    return new PcapReader(input, opts, header);
  }

  get interfaces(): readonly CaptureInterface[] {
    return [this.iface];
  }

  protected async readNext(): Promise<CaptureRecord | null> {
    const input = this.input;
    const pos = input.position;
    const got = await input.fill(PCAP_RECORD_HEADER_LEN);
    if (got === 0) return null;
    if (got < PCAP_RECORD_HEADER_LEN) throw new PcapError("truncated", pos, `pcap record header cut short: ${got} of 16 bytes`);
    const le = this.header.littleEndian;
    const b = input.bytes;
    let i = input.index;
    const sec = u32(b, i, le);
    const frac = u32(b, i + 4, le);
    const caplen = u32(b, i + 8, le);
    const origLen = u32(b, i + 12, le);
    if (caplen > this.maxCaplen) throw new PcapError("limit", pos, `pcap record captured length ${caplen} is above the limit ${this.maxCaplen}`);
    const snap = this.header.snaplen;
    if (snap !== 0 && caplen > snap) throw new PcapError("limit", pos, `pcap record captured length ${caplen} is above the file's snaplen ${snap}`);
    if (origLen < caplen) throw new PcapError("malformed", pos, `pcap record original length ${origLen} is below its captured length ${caplen}`);
    const have = await input.fill(PCAP_RECORD_HEADER_LEN + caplen);
    if (have < PCAP_RECORD_HEADER_LEN + caplen) {
      throw new PcapError("truncated", pos, `pcap record data cut short: ${have - PCAP_RECORD_HEADER_LEN} of ${caplen} bytes`);
    }
    i = input.index;
    const data = this.take(i + PCAP_RECORD_HEADER_LEN, caplen);
    input.consume(PCAP_RECORD_HEADER_LEN + caplen);
    const fracNs = this.header.nanosecond ? BigInt(frac) : BigInt(frac) * 1000n;
    return {
      data,
      originalLength: origLen,
      timestampNs: BigInt(sec) * NS_PER_S + fracNs,
      interfaceId: 0,
      linkType: this.header.linkType,
      section: 0,
      fileOffset: pos,
    };
  }
}

/** Reader for pcapng (draft-ietf-opsawg-pcapng): any number of sections and interfaces, either byte order. */
export class PcapngReader extends CaptureReader {
  readonly format = "pcapng";
  private le = true;
  private section = -1;
  private ifaces: CaptureInterface[] = [];
  /** Blocks skipped because nfvio does not decode their type. */
  skippedBlocks = 0;

  /** @internal */
  constructor(input: BufferedInput, opts: ReadOptions) {
    super(input, opts);
  }

  get interfaces(): readonly CaptureInterface[] {
    return this.ifaces;
  }

  /** Byte order of the current section. */
  get littleEndian(): boolean {
    return this.le;
  }

  protected async readNext(): Promise<CaptureRecord | null> {
    for (;;) {
      const input = this.input;
      const pos = input.position;
      const got = await input.fill(12);
      if (got === 0) {
        if (this.section < 0) throw new PcapError("truncated", pos, "pcapng file has no Section Header Block");
        return null;
      }
      if (got < 12) throw new PcapError("truncated", pos, `pcapng block header cut short: ${got} of at least 12 bytes`);
      let b = input.bytes;
      let i = input.index;
      const typeBe = u32(b, i, false);
      if (typeBe === BlockType.SECTION_HEADER) {
        // The byte-order magic decides how to read everything in the
        // section, the block length included (§4.1).
        const bom = u32(b, i + 8, true);
        if (bom === BYTE_ORDER_MAGIC) this.le = true;
        else if (u32(b, i + 8, false) === BYTE_ORDER_MAGIC) this.le = false;
        else throw new PcapError("malformed", pos, `Section Header Block byte-order magic 0x${u32(b, i + 8, false).toString(16)} is not 0x1a2b3c4d in either order`);
      } else if (this.section < 0) {
        throw new PcapError("malformed", pos, `pcapng file must start with a Section Header Block, found type 0x${typeBe.toString(16)}`);
      }
      const le = this.le;
      const type = u32(b, i, le);
      const len = u32(b, i + 4, le);
      if (len < 12) throw new PcapError("malformed", pos, `pcapng block length ${len} is below the 12-byte minimum`);
      if (len % 4 !== 0) throw new PcapError("malformed", pos, `pcapng block length ${len} is not a multiple of 4`);
      if (len > this.maxBlock) throw new PcapError("limit", pos, `pcapng block length ${len} is above the limit ${this.maxBlock}`);
      const have = await input.fill(len);
      if (have < len) throw new PcapError("truncated", pos, `pcapng block (type 0x${type.toString(16)}) cut short: ${have} of ${len} bytes`);
      b = input.bytes;
      i = input.index;
      const trailing = u32(b, i + len - 4, le);
      if (trailing !== len) throw new PcapError("malformed", pos, `pcapng block trailing length ${trailing} differs from its leading length ${len}`);
      const bodyStart = i + 8;
      const bodyEnd = i + len - 4;
      let record: CaptureRecord | null = null;
      switch (type) {
        case BlockType.SECTION_HEADER:
          this.readSectionHeader(b, bodyStart, bodyEnd, pos);
          break;
        case BlockType.INTERFACE_DESCRIPTION:
          this.readInterface(b, bodyStart, bodyEnd, pos);
          break;
        case BlockType.ENHANCED_PACKET:
          record = this.readEnhancedPacket(b, bodyStart, bodyEnd, pos);
          break;
        case BlockType.SIMPLE_PACKET:
          record = this.readSimplePacket(b, bodyStart, bodyEnd, pos);
          break;
        case BlockType.PACKET:
          record = this.readObsoletePacket(b, bodyStart, bodyEnd, pos);
          break;
        default:
          // Unknown and undecoded blocks (NRB, ISB, DSB, custom...) are skipped (§3.1).
          this.skippedBlocks++;
      }
      input.consume(len);
      if (record !== null) return record;
    }
  }

  private readSectionHeader(b: Uint8Array, s: number, e: number, pos: number): void {
    if (e - s < 16) throw new PcapError("malformed", pos, `Section Header Block body of ${e - s} bytes is below 16`);
    const major = u16(b, s + 4, this.le);
    if (major !== 1) throw new PcapError("unsupported", pos, `pcapng section major version ${major} (only 1 is defined)`);
    this.forEachOption(b, s + 16, e, pos, () => {});
    this.section++;
    this.ifaces = [];
  }

  private readInterface(b: Uint8Array, s: number, e: number, pos: number): void {
    if (e - s < 8) throw new PcapError("malformed", pos, `Interface Description Block body of ${e - s} bytes is below 8`);
    const le = this.le;
    const iface: CaptureInterface = {
      linkType: u16(b, s, le),
      snaplen: u32(b, s + 4, le),
      unitsPerSecond: 1_000_000n,
      offsetSeconds: 0n,
    };
    this.forEachOption(b, s + 8, e, pos, (code, vs, vl) => {
      if (code === OptionCode.IF_TSRESOL) {
        if (vl !== 1) throw new PcapError("malformed", pos, `if_tsresol option length ${vl} is not 1`);
        const v = b[vs]!;
        // MSB clear: 10^-v seconds; MSB set: 2^-(v & 0x7f) (§4.2).
        iface.unitsPerSecond = (v & 0x80) === 0 ? 10n ** BigInt(v) : 2n ** BigInt(v & 0x7f);
      } else if (code === OptionCode.IF_TSOFFSET) {
        if (vl !== 8) throw new PcapError("malformed", pos, `if_tsoffset option length ${vl} is not 8`);
        const hi = BigInt(u32(b, le ? vs + 4 : vs, le));
        const lo = BigInt(u32(b, le ? vs : vs + 4, le));
        iface.offsetSeconds = BigInt.asIntN(64, (hi << 32n) | lo);
      } else if (code === OptionCode.IF_NAME) {
        iface.name = new TextDecoder().decode(b.subarray(vs, vs + vl));
      }
    });
    this.ifaces.push(iface);
  }

  private iface(id: number, pos: number): CaptureInterface {
    const f = this.ifaces[id];
    if (f === undefined) throw new PcapError("malformed", pos, `packet block names interface ${id}, but the section has ${this.ifaces.length}`);
    return f;
  }

  private checkCaplen(caplen: number, origLen: number, f: CaptureInterface, pos: number, what: string): void {
    if (caplen > this.maxCaplen) throw new PcapError("limit", pos, `${what} captured length ${caplen} is above the limit ${this.maxCaplen}`);
    if (f.snaplen !== 0 && caplen > f.snaplen) throw new PcapError("limit", pos, `${what} captured length ${caplen} is above the interface snaplen ${f.snaplen}`);
    if (origLen < caplen) throw new PcapError("malformed", pos, `${what} original length ${origLen} is below its captured length ${caplen}`);
  }

  private timestamp(f: CaptureInterface, hi: number, lo: number): bigint {
    const units = (BigInt(hi) << 32n) | BigInt(lo);
    return (units * NS_PER_S) / f.unitsPerSecond + f.offsetSeconds * NS_PER_S;
  }

  private readEnhancedPacket(b: Uint8Array, s: number, e: number, pos: number): CaptureRecord {
    if (e - s < 20) throw new PcapError("malformed", pos, `Enhanced Packet Block body of ${e - s} bytes is below 20`);
    const le = this.le;
    const id = u32(b, s, le);
    const f = this.iface(id, pos);
    const caplen = u32(b, s + 12, le);
    const origLen = u32(b, s + 16, le);
    if (20 + pad4(caplen) > e - s) throw new PcapError("malformed", pos, `Enhanced Packet Block captured length ${caplen} runs past the block end`);
    this.checkCaplen(caplen, origLen, f, pos, "Enhanced Packet Block");
    this.forEachOption(b, s + 20 + pad4(caplen), e, pos, () => {});
    return {
      data: this.take(s + 20, caplen),
      originalLength: origLen,
      timestampNs: this.timestamp(f, u32(b, s + 4, le), u32(b, s + 8, le)),
      interfaceId: id,
      linkType: f.linkType,
      section: this.section,
      fileOffset: pos,
    };
  }

  private readSimplePacket(b: Uint8Array, s: number, e: number, pos: number): CaptureRecord {
    if (e - s < 4) throw new PcapError("malformed", pos, `Simple Packet Block body of ${e - s} bytes is below 4`);
    const f = this.iface(0, pos);
    const origLen = u32(b, s, this.le);
    // §4.4: captured length = min(original length, snaplen); the block
    // holds that many bytes plus padding.
    let caplen = f.snaplen !== 0 ? Math.min(origLen, f.snaplen) : origLen;
    if (caplen > e - s - 4) {
      if (pad4(caplen) !== e - s - 4) throw new PcapError("malformed", pos, `Simple Packet Block packet of ${caplen} bytes runs past the block end`);
      caplen = e - s - 4;
    }
    this.checkCaplen(caplen, origLen, f, pos, "Simple Packet Block");
    return { data: this.take(s + 4, caplen), originalLength: origLen, timestampNs: 0n, interfaceId: 0, linkType: f.linkType, section: this.section, fileOffset: pos };
  }

  private readObsoletePacket(b: Uint8Array, s: number, e: number, pos: number): CaptureRecord {
    if (e - s < 20) throw new PcapError("malformed", pos, `Packet Block body of ${e - s} bytes is below 20`);
    const le = this.le;
    const id = u16(b, s, le);
    const f = this.iface(id, pos);
    const caplen = u32(b, s + 12, le);
    const origLen = u32(b, s + 16, le);
    if (20 + pad4(caplen) > e - s) throw new PcapError("malformed", pos, `Packet Block captured length ${caplen} runs past the block end`);
    this.checkCaplen(caplen, origLen, f, pos, "Packet Block");
    return {
      data: this.take(s + 20, caplen),
      originalLength: origLen,
      timestampNs: this.timestamp(f, u32(b, s + 4, le), u32(b, s + 8, le)),
      interfaceId: id,
      linkType: f.linkType,
      section: this.section,
      fileOffset: pos,
    };
  }

  /** Walk options (§3.5): code, length, value padded to 32 bits; stops at opt_endofopt or the end. */
  private forEachOption(b: Uint8Array, s: number, e: number, pos: number, fn: (code: number, valueStart: number, valueLength: number) => void): void {
    let o = s;
    while (e - o >= 4) {
      const code = u16(b, o, this.le);
      const vl = u16(b, o + 2, this.le);
      if (code === OptionCode.END_OF_OPT) return;
      if (o + 4 + pad4(vl) > e) throw new PcapError("malformed", pos, `option ${code} of length ${vl} runs past the block end`);
      fn(code, o + 4, vl);
      o += 4 + pad4(vl);
    }
  }
}
