/**
 * pcap / pcapng replay as a {@link FrameSource}.
 *
 * The capture is read once with @nfvio/packet's streaming reader
 * (`openCapture`, records as views, no per-record copies by the reader) into
 * one byte arena plus per-record offsets, lengths and times; replay then
 * copies each record into a pool buffer. Timing:
 *
 * - `original`: the capture's own inter-frame times, divided by `speed`
 *   (a record stamped before its predecessor is sent right after it).
 *   Loop L starts one mean inter-frame gap (of the file) after loop L−1's
 *   last frame: frame k of loop L is due at
 *   `start + L × (span + meanGap) / speed + (ts_k − ts_0) / speed`, where
 *   `span = ts_last − ts_0` and `meanGap = span / (n − 1)` (for a one-frame
 *   file, the frame's wire time).
 * - `rate`: evenly spaced at a rate (pps, bps or % as in units.ts; bps
 *   rates use the capture's mean frame size).
 * - `fast`: as fast as possible: back to back at the line rate under the
 *   model clock (each frame followed by its wire time), unpaced under the
 *   real clock.
 *
 * ## Signatures
 * With `signature: true` (the default) each UDP or TCP frame over IPv4 or
 * IPv6 whose L4 payload has at least 16 bytes and ends at the frame's end
 * (no Ethernet padding, not a fragment) gets the signature in its last 16
 * bytes, and its L4 checksum is patched incrementally (RFC 1624 eqn. 3;
 * `~old` precomputed at load). Other frames are replayed unchanged and are
 * not tracked (`untracked` counts them). With `signature: false` every frame
 * is replayed byte for byte.
 */
import { FragFlag, IpProto, openCapture, PacketMeta, parse, type CaptureInput, type PacketPool } from "@nfvio/packet";
import { TrafgenError } from "./errors.js";
import { foldChecksum } from "./fields.js";
import type { FrameSource, Pacing } from "./stream.js";
import { SIGNATURE_LEN, signatureWordSum, writeSignature } from "./signature.js";
import { FCS_LEN, parseLineRate, parseRate, ratePps, wireTimeNs, type Rate } from "./units.js";

export type ReplayMode = "original" | "rate" | "fast";

export interface ReplayOptions {
  /** Default "original". */
  mode?: ReplayMode;
  /** Rate for mode "rate" ("1Mpps", "5Gbps", "50%", or pps). */
  rate?: string | number | Rate;
  /** Time scale for mode "original": 2 replays twice as fast (default 1). */
  speed?: number;
  /** Times through the file (default 1; Infinity to loop until the run ends). */
  loops?: number;
  /** Line rate, bit/s or text (default 100 Gbit/s). */
  lineRate?: string | number;
  /** Stamp signatures into UDP/TCP frames (default true). */
  signature?: boolean;
  /** Stream id of the signatures (default 0). */
  id?: number;
  name?: string;
  /** Largest capture loaded, bytes of frames (default 256 MiB). */
  maxBytes?: number;
  /** Offset of the first frame from the run's start, ns (default 0). */
  startNs?: number;
}

/** A frame to replay from memory: bytes and a capture time in ns. */
export interface ReplayFrame {
  data: Uint8Array;
  timestampNs: bigint | number;
}

export class PcapReplay implements FrameSource {
  readonly id: number;
  readonly name: string;
  readonly mode: ReplayMode;
  readonly pacing: Pacing;
  readonly pps: number;
  readonly lineRateBps: number;
  readonly loops: number;
  /** Records in the capture. */
  readonly records: number;
  /** Frames with a signature per loop. */
  readonly tracked: number;
  /** Mean frame size, FCS included. */
  readonly meanSize: number;
  sent = 0;
  bytes = 0;
  /** Frames replayed without a signature. */
  untracked = 0;
  private readonly arena: Uint8Array;
  private readonly off: Uint32Array;
  private readonly len: Uint32Array;
  /** Relative capture times (ns from the first record), scaled by 1/speed. */
  private readonly rel: Float64Array;
  /** Per record: L4 checksum offset in the frame, -2 = no signature, -1 = signature but no checksum. */
  private readonly csum: Int32Array;
  private readonly oldNot: Uint32Array;
  private readonly odd: Uint8Array;
  private readonly udp: Uint8Array;
  /** The arena as a Buffer, for copies into pool buffers without a view per frame. */
  private readonly arenaBuf: Buffer;
  private readonly period: number;
  private startNs: number;
  private readonly startOffset: number;
  private k = 0;
  private loop = 0;
  private fastT = 0;
  /** Sequence number of the next signed frame. */
  private seq = 0;

  private constructor(frames: ArenaFrames, opts: ReplayOptions) {
    this.id = opts.id ?? 0;
    this.name = opts.name ?? `replay${this.id}`;
    this.mode = opts.mode ?? "original";
    if (this.mode !== "original" && this.mode !== "rate" && this.mode !== "fast") throw new TrafgenError("config", `replay mode "${String(this.mode)}" must be original, rate or fast`, { field: "mode" });
    this.loops = opts.loops ?? 1;
    if (!(this.loops >= 1) || (Number.isFinite(this.loops) && !Number.isInteger(this.loops))) throw new TrafgenError("config", `replay loops ${this.loops} must be a positive integer or Infinity`, { field: "loops" });
    this.lineRateBps = parseLineRate(opts.lineRate ?? 100e9);
    const speed = opts.speed ?? 1;
    if (!(speed > 0)) throw new TrafgenError("config", `replay speed ${speed} must be positive`, { field: "speed" });
    this.arena = frames.arena;
    this.off = frames.off;
    this.len = frames.len;
    this.records = frames.n;
    if (this.records === 0) throw new TrafgenError("malformed", "the capture has no frames to replay");
    let total = 0;
    for (let k = 0; k < this.records; k++) total += this.len[k]! + FCS_LEN;
    this.meanSize = total / this.records;
    this.rel = new Float64Array(this.records);
    for (let k = 0; k < this.records; k++) this.rel[k] = frames.rel[k]! / speed;
    const span = this.rel[this.records - 1]!;
    const meanGap = this.records > 1 ? span / (this.records - 1) : wireTimeNs(this.len[0]! + FCS_LEN, this.lineRateBps);
    this.period = span + meanGap;
    if (this.mode === "rate") {
      if (opts.rate === undefined) throw new TrafgenError("config", 'replay mode "rate" needs a rate', { field: "rate" });
      const r = typeof opts.rate === "object" ? opts.rate : parseRate(opts.rate);
      this.pps = ratePps(r, this.meanSize, this.lineRateBps);
      this.pacing = "rate";
    } else if (this.mode === "fast") {
      this.pps = Infinity;
      this.pacing = "none";
    } else {
      this.pps = this.records > 1 && span > 0 ? (this.records - 1) / (span / 1e9) : Infinity;
      this.pacing = "schedule";
    }
    this.startOffset = opts.startNs ?? 0;
    this.startNs = this.startOffset;
    this.fastT = this.startNs;
    // Signature eligibility, once per record.
    this.csum = new Int32Array(this.records).fill(-2);
    this.oldNot = new Uint32Array(this.records);
    this.odd = new Uint8Array(this.records);
    this.udp = new Uint8Array(this.records);
    this.arenaBuf = Buffer.from(this.arena.buffer, this.arena.byteOffset, this.arena.length);
    let tracked = 0;
    if (opts.signature ?? true) {
      const meta = new PacketMeta();
      for (let k = 0; k < this.records; k++) {
        const o = this.off[k]!;
        const n = this.len[k]!;
        if (!parse(this.arena, o, n, meta)) continue;
        if (meta.l4Proto !== IpProto.UDP && meta.l4Proto !== IpProto.TCP) continue;
        if (meta.tunnel !== 0 || meta.payloadOffset < 0 || (meta.fragFlags & (FragFlag.MORE | FragFlag.IS_FRAGMENT)) !== 0) continue;
        if (meta.l3Offset + meta.l3Length !== o + n) continue; // padded or cut
        if (o + n - meta.payloadOffset < SIGNATURE_LEN) continue;
        tracked++;
        const udp = meta.l4Proto === IpProto.UDP;
        this.udp[k] = udp ? 1 : 0;
        const c = meta.l4Offset + (udp ? 6 : 16);
        const zero = udp && this.arena[c] === 0 && this.arena[c + 1] === 0;
        this.csum[k] = zero ? -1 : c - o;
        const sig = o + n - SIGNATURE_LEN;
        const odd = ((sig - meta.l4Offset) & 1) !== 0;
        this.odd[k] = odd ? 1 : 0;
        this.oldNot[k] = ~contribution(this.arena, sig, odd) & 0xffff;
      }
    }
    this.tracked = tracked;
  }

  /** Load a capture (path, fd, FileHandle, bytes or async chunks) with the streaming reader. */
  static async open(input: CaptureInput, opts: ReplayOptions = {}): Promise<PcapReplay> {
    const max = opts.maxBytes ?? 256 * 1024 * 1024;
    const reader = await openCapture(input, { copy: false });
    const b = new ArenaBuilder(max);
    try {
      for (let rec = await reader.next(); rec !== null; rec = await reader.next()) {
        if (rec.linkType !== 1) throw new TrafgenError("malformed", `capture record at file offset ${rec.fileOffset} has link type ${rec.linkType}; replay takes Ethernet (1) only`);
        b.add(rec.data, rec.timestampNs);
      }
    } finally {
      await reader.close();
    }
    return new PcapReplay(b.done(), opts);
  }

  /** Replay frames held in memory (tests, generated captures). */
  static fromFrames(frames: readonly ReplayFrame[], opts: ReplayOptions = {}): PcapReplay {
    const b = new ArenaBuilder(opts.maxBytes ?? 256 * 1024 * 1024);
    for (const f of frames) b.add(f.data, f.timestampNs);
    return new PcapReplay(b.done(), opts);
  }

  get remaining(): number {
    return this.loops * this.records - this.sent;
  }

  get endNs(): number {
    return Infinity;
  }

  nextTime(): number {
    if (this.loop >= this.loops) return Infinity;
    switch (this.mode) {
      case "original":
        return this.startNs + this.loop * this.period + this.rel[this.k]!;
      case "rate":
        return this.startNs + (this.sent * 1e9) / this.pps;
      case "fast":
        return this.fastT;
    }
  }

  reset(startNs = this.startOffset): void {
    this.startNs = startNs;
    this.fastT = startNs;
    this.k = 0;
    this.loop = 0;
    this.sent = 0;
    this.bytes = 0;
    this.untracked = 0;
    this.seq = 0;
  }

  emit(pool: PacketPool, i: number, stampNs: number): void {
    const k = this.k;
    const o = this.off[k]!;
    const n = this.len[k]!;
    const data = pool.data;
    const base = pool.start(i);
    this.arenaBuf.copy(data, base, o, o + n);
    pool.len[i] = n;
    const c = this.csum[k]!;
    if (c === -2) this.untracked++;
    else {
      const sig = base + n - SIGNATURE_LEN;
      writeSignature(pool.view, sig, this.id, this.seq++, stampNs);
      if (c >= 0) {
        const at = base + c;
        let v = foldChecksum((data[at]! << 8) | data[at + 1]!, this.oldNot[k]! + contribution(data, sig, this.odd[k] === 1));
        if (v === 0 && this.udp[k] === 1) v = 0xffff;
        data[at] = v >>> 8;
        data[at + 1] = v & 0xff;
      }
    }
    const size = n + FCS_LEN;
    this.sent++;
    this.bytes += size;
    if (this.mode === "fast") this.fastT += wireTimeNs(size, this.lineRateBps);
    this.k++;
    if (this.k === this.records) {
      this.k = 0;
      this.loop++;
    }
  }
}

/** The signature region's contribution to its checksum: its folded word sum, byte-swapped when it starts at an odd offset. */
function contribution(data: Uint8Array, off: number, odd: boolean): number {
  let s = signatureWordSum(data, off);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return odd ? ((s & 0xff) << 8) | (s >>> 8) : s;
}

interface ArenaFrames {
  arena: Uint8Array;
  off: Uint32Array;
  len: Uint32Array;
  rel: Float64Array;
  n: number;
}

class ArenaBuilder {
  private arena: Uint8Array = new Uint8Array(1 << 16);
  private off: Uint32Array = new Uint32Array(1024);
  private len: Uint32Array = new Uint32Array(1024);
  private rel: Float64Array = new Float64Array(1024);
  private n = 0;
  private used = 0;
  private t0: bigint | null = null;

  constructor(private readonly max: number) {}

  add(data: Uint8Array, ts: bigint | number): void {
    if (this.used + data.length > this.max) throw new TrafgenError("config", `capture holds more than ${this.max} bytes of frames (maxBytes); replay loads the capture into memory`, { field: "maxBytes" });
    if (data.length < 14) throw new TrafgenError("malformed", `capture record ${this.n} has ${data.length} bytes, less than an Ethernet header`);
    const t = typeof ts === "bigint" ? ts : BigInt(Math.round(ts));
    if (this.t0 === null) this.t0 = t;
    if (this.used + data.length > this.arena.length) {
      const a = new Uint8Array(Math.max(this.arena.length * 2, this.used + data.length));
      a.set(this.arena.subarray(0, this.used));
      this.arena = a;
    }
    if (this.n === this.off.length) {
      this.off = grow32(this.off);
      this.len = grow32(this.len);
      const r = new Float64Array(this.rel.length * 2);
      r.set(this.rel);
      this.rel = r;
    }
    this.arena.set(data, this.used);
    this.off[this.n] = this.used;
    this.len[this.n] = data.length;
    // A record stamped earlier than the one before it (captures merged from
    // several interfaces) is replayed right after it: times never go back.
    let rel = Number(t - this.t0);
    if (this.n > 0 && rel < this.rel[this.n - 1]!) rel = this.rel[this.n - 1]!;
    this.rel[this.n] = rel;
    this.used += data.length;
    this.n++;
  }

  done(): ArenaFrames {
    return { arena: this.arena, off: this.off, len: this.len, rel: this.rel, n: this.n };
  }
}

function grow32(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
