/**
 * Streams: frames from a template, with sizes, field variation, a rate, a
 * length (count or duration) and an optional burst shape, each carrying the
 * signature of signature.ts.
 *
 * ## Schedule (modelled time)
 * Frame k of a stream at `pps` frames per second is due at
 * `start + k × 1e9 / pps` ns, computed from k each time (never by adding
 * gaps, which would drift), so a rate of X pps is exact for any X,
 * including non-integer gaps. With `burst: n`, frames leave in bursts of n
 * back to back on the wire (each frame followed by its wire time at the
 * line rate, preamble, SFD and gap included: RFC 2544 §21, bursty traffic),
 * and burst j starts at `start + j × n × 1e9 / pps`, so the mean rate is
 * still `pps`.
 *
 * ## Writing frames
 * `emit` copies the template of the frame's size into a pool buffer (the
 * buffer is the one allocated by the caller, in bursts; nothing is
 * allocated per frame), patches the varied fields, writes the signature,
 * and adjusts the L4 checksum and the IPv4 header checksum incrementally
 * (RFC 1624 eqn. 3), once per checksum per frame.
 */
import type { PacketPool } from "@nfvio/packet";
import { z } from "zod";
import { TrafgenError } from "./errors.js";
import { Field, fieldSchema, foldChecksum, type FieldSpec } from "./fields.js";
import { SIGNATURE_LEN, signatureWordSum, writeSignature } from "./signature.js";
import { parseSizeSpec, SizeSequence, type SizeSpec } from "./sizes.js";
import { Template, templateSchema, type TemplateSpec } from "./template.js";
import { lineRatePps, parseDuration, parseLineRate, parseRate, ratePps, wireTimeNs, type Rate } from "./units.js";

export type Pacing = "rate" | "schedule" | "none";

/** Something the generator takes frames from: a {@link Stream} or a pcap replay. */
export interface FrameSource {
  /** Stream id carried in the signature (0-65535). */
  readonly id: number;
  readonly name: string;
  /** Frames emitted so far. */
  readonly sent: number;
  /** Bytes emitted so far, FCS included (frame sizes). */
  readonly bytes: number;
  /** Packets per second asked for (Infinity: as fast as possible). */
  readonly pps: number;
  /** Modelled time of the next frame, or Infinity when the source is done. */
  nextTime(): number;
  /** Frames left (Infinity when bounded by time only or unbounded). */
  readonly remaining: number;
  /** Time (ns, relative to the run's start) after which nothing more is sent, or Infinity. */
  readonly endNs: number;
  /** Write the next frame into buffer `i` (a fresh buffer of `pool`), signature stamped `stampNs`; advance. */
  emit(pool: PacketPool, i: number, stampNs: number): void;
  /** Back to frame 0 with the schedule starting at `startNs`. */
  reset(startNs?: number): void;
  /** Line rate (bit/s, L1) the source's rate and wire times refer to. */
  readonly lineRateBps: number;
  /**
   * How a real-time driver paces it: `"rate"` with a token bucket at
   * {@link pps}, `"schedule"` by {@link nextTime} against the clock
   * (replay at original timing), `"none"` as fast as the loop goes.
   */
  readonly pacing: Pacing;
}

const rateInput = z.union([z.string(), z.number().positive()]);
const sizeInput = z.union([
  z.number().int(),
  z.string(),
  z.object({ mix: z.array(z.tuple([z.number().int(), z.number().int()])).min(1) }).strict(),
  z.object({ sweep: z.object({ from: z.number().int(), to: z.number().int(), step: z.number().int().positive().optional() }).strict() }).strict(),
]);

/** A stream's options, as data (all JSON). */
export const streamSchema = z
  .object({
    /** Stream id in the signature (default: the stream's position). */
    id: z.number().int().min(0).max(65535).optional(),
    name: z.string().optional(),
    template: templateSchema.default({}),
    /** 64, "imix", "64:7,570:4,1518:1", "64..1518/64", { mix }, { sweep } (default 64). */
    size: sizeInput.default(64),
    /** "1Mpps", "9.5Gbps" (L2), "10Gbps-l1" (L1), "50%" of the line rate, or a number of pps (default "1Mpps"). */
    rate: rateInput.default("1Mpps"),
    /** Line rate in bit/s or text ("10G"); default 100 Gbit/s (the cost model's wireGbps default). */
    lineRate: z.union([z.string(), z.number().positive()]).default(100e9),
    /** Frames to send (default: unbounded, or bounded by duration). */
    count: z.number().int().nonnegative().optional(),
    /** How long to send: "2s", "500ms", or ns as a number. */
    duration: z.union([z.string(), z.number().nonnegative()]).optional(),
    /** Offset of the stream's first frame from the run's start: "10ms" or ns. */
    start: z.union([z.string(), z.number().nonnegative()]).default(0),
    /** Frames per burst, sent back to back at the line rate (default 1: evenly spaced). */
    burst: z.number().int().positive().default(1),
    fields: z.array(fieldSchema).default([]),
  })
  .strict();

export type StreamSpec = Omit<z.input<typeof streamSchema>, "size"> & {
  /** 64, "imix", "64:7,570:4,1518:1", "64..1518/64", { mix }, { sweep } (default 64). */
  size?: SizeSpec | string;
};
export type StreamOptions = z.output<typeof streamSchema>;

/** Parse a duration option: text goes through {@link parseDuration}, a number is ns. */
export function durationNs(v: string | number): number {
  return typeof v === "number" ? v : parseDuration(v);
}

export class Stream implements FrameSource {
  readonly id: number;
  readonly name: string;
  readonly template: Template;
  readonly sizes: SizeSequence;
  readonly fields: readonly Field[];
  readonly rate: Rate;
  readonly pps: number;
  readonly lineRateBps: number;
  readonly burstLen: number;
  readonly pacing: Pacing = "rate";
  readonly count: number;
  readonly durationNs: number;
  sent = 0;
  bytes = 0;
  private startNs: number;
  private readonly startOffset: number;
  private readonly nsPerFrame: number;
  private readonly frames: readonly Uint8Array[];
  private readonly sizeOf: Float64Array;
  private readonly l4c: number;
  private readonly ipc: number;
  private readonly l4Off: number;
  private readonly udp: boolean;
  private burstPos = 0;
  private burstOffsetNs = 0;
  private lastSize = 0;

  constructor(spec: StreamSpec, index = 0) {
    const parsed = streamSchema.safeParse(spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new TrafgenError("config", `stream ${index}: ${i.path.join(".") || "(root)"}: ${i.message}`, { field: i.path.join(".") });
    }
    const o = parsed.data;
    this.id = o.id ?? index;
    this.name = o.name ?? `stream${this.id}`;
    const size: SizeSpec = typeof o.size === "string" ? parseSizeSpec(o.size) : o.size;
    this.sizes = new SizeSequence(size);
    this.template = new Template(o.template as TemplateSpec, this.sizes.sizes);
    this.fields = o.fields.map((f, k) => new Field(f as FieldSpec, this.template, (this.id + 1) * 0x9e37 + k * 0x85eb + 1));
    this.rate = parseRate(o.rate);
    this.lineRateBps = parseLineRate(o.lineRate);
    this.pps = ratePps(this.rate, this.sizes.meanSize, this.lineRateBps);
    const max = lineRatePps(this.sizes.meanSize, this.lineRateBps);
    if (this.pps > max * (1 + 1e-9)) {
      throw new TrafgenError("config", `stream ${this.name}: ${this.pps.toFixed(1)} pps is above the line rate (${max.toFixed(1)} pps of ${this.sizes.meanSize.toFixed(1)}-byte frames at ${this.lineRateBps / 1e9} Gbit/s)`, { field: "rate" });
    }
    this.burstLen = o.burst;
    this.nsPerFrame = 1e9 / this.pps;
    if (this.burstLen > 1 && this.burstLen * wireTimeNs(this.sizes.maxSize, this.lineRateBps) > this.burstLen * this.nsPerFrame * (1 + 1e-9)) {
      throw new TrafgenError("config", `stream ${this.name}: bursts of ${this.burstLen} frames at the line rate do not fit the period of ${this.pps.toFixed(1)} pps`, { field: "burst" });
    }
    this.count = o.count ?? Infinity;
    this.durationNs = o.duration === undefined ? Infinity : durationNs(o.duration);
    this.startOffset = durationNs(o.start);
    this.startNs = this.startOffset;
    this.frames = this.template.frames;
    this.sizeOf = Float64Array.from(this.sizes.sizes);
    this.l4c = this.template.l4ChecksumOffset;
    this.ipc = this.template.ipChecksumOffset;
    this.l4Off = this.template.l4Offset;
    this.udp = this.template.udp;
  }

  get remaining(): number {
    return this.count - this.sent;
  }

  get endNs(): number {
    return this.startNs + this.durationNs;
  }

  /** Mean frame size (FCS included) over one cycle of the sizes. */
  get meanSize(): number {
    return this.sizes.meanSize;
  }

  nextTime(): number {
    if (this.sent >= this.count) return Infinity;
    let t: number;
    if (this.burstLen === 1) t = this.startNs + (this.sent * 1e9) / this.pps;
    else {
      const j = Math.floor(this.sent / this.burstLen);
      t = this.startNs + (j * this.burstLen * 1e9) / this.pps + this.burstOffsetNs;
    }
    return t < this.startNs + this.durationNs ? t : Infinity;
  }

  reset(startNs = this.startOffset): void {
    this.startNs = startNs;
    this.sent = 0;
    this.bytes = 0;
    this.burstPos = 0;
    this.burstOffsetNs = 0;
    this.sizes.reset();
    for (const f of this.fields) f.reset();
  }

  emit(pool: PacketPool, i: number, stampNs: number): void {
    const s = this.sizes.next();
    const tpl = this.frames[s]!;
    const len = tpl.length;
    const data = pool.data;
    const base = pool.start(i);
    data.set(tpl, base);
    pool.len[i] = len;
    let d4 = 0;
    let dIp = 0;
    const fields = this.fields;
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k]!;
      const d = f.apply(data, base);
      if (f.l4Checksum) d4 += d;
      if (f.ipChecksum) dIp += d;
    }
    const sig = base + len - SIGNATURE_LEN;
    writeSignature(pool.view, sig, this.id, this.sent, stampNs);
    if (this.l4c >= 0) {
      let ss = signatureWordSum(data, sig);
      if (((len - SIGNATURE_LEN - this.l4Off) & 1) !== 0) {
        // The signature starts at an odd offset of the L4 segment: its words straddle the checksum's words,
        // and its contribution is the byte-swapped sum (RFC 1071 §2(B)).
        while (ss > 0xffff) ss = (ss & 0xffff) + (ss >>> 16);
        ss = ((ss & 0xff) << 8) | (ss >>> 8);
      }
      d4 += ss;
      const o = base + this.l4c;
      let c = foldChecksum((data[o]! << 8) | data[o + 1]!, d4);
      if (c === 0 && this.udp) c = 0xffff;
      data[o] = c >>> 8;
      data[o + 1] = c & 0xff;
    }
    if (this.ipc >= 0 && dIp !== 0) {
      const o = base + this.ipc;
      const c = foldChecksum((data[o]! << 8) | data[o + 1]!, dIp);
      data[o] = c >>> 8;
      data[o + 1] = c & 0xff;
    }
    const size = this.sizeOf[s]!;
    this.sent++;
    this.bytes += size;
    if (this.burstLen > 1) {
      this.burstPos++;
      if (this.burstPos === this.burstLen) {
        this.burstPos = 0;
        this.burstOffsetNs = 0;
      } else this.burstOffsetNs += wireTimeNs(size, this.lineRateBps);
    }
    this.lastSize = size;
  }

  /** Size (FCS included) of the last frame emitted. */
  get lastFrameSize(): number {
    return this.lastSize;
  }
}
