/**
 * Packet templates: a declarative, JSON-able description of a test frame
 * (Ethernet, an optional 802.1Q tag, IPv4 or IPv6, UDP or TCP), built once
 * per frame size with `buildFrame` from @nfvio/packet, and parsed once with
 * `parse` to learn where each header and checksum sits. The L4 payload is
 * zero-filled so that the signature written into its last 16 bytes changes
 * the L4 checksum by exactly the signature's own sum (RFC 1624 eqn. 3 with
 * an old value of 0).
 *
 * Defaults follow RFC 2544: addresses from the benchmarking range
 * 198.18.0.0/15 (RFC 2544 Appendix C.2.2, RFC 6815) or 2001:2::/48 for IPv6
 * (RFC 5180 §5), and UDP to the echo port 7 like the test frames of RFC 2544
 * Appendix C.
 */
import { buildFrame, PacketMeta, parse, parseErrorNames, type FrameSpec, IpProto, TcpFlag } from "@nfvio/packet";
import { z } from "zod";
import { TrafgenError } from "./errors.js";
import { SIGNATURE_LEN } from "./signature.js";
import { FCS_LEN } from "./units.js";

const mac = z.string().regex(/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/, "must be a MAC address like 02:00:00:00:00:01");
const port = z.number().int().min(0).max(65535);

/** What a template may say (every field optional; see {@link DEFAULT_TEMPLATE}). */
export const templateSchema = z
  .object({
    /** Source MAC (default 02:00:00:00:00:01). */
    srcMac: mac.optional(),
    /** Destination MAC (default 02:00:00:00:00:02). */
    dstMac: mac.optional(),
    /** One 802.1Q tag with this VLAN id (IEEE 802.1Q §9.6), none by default. */
    vlan: z.number().int().min(0).max(4095).optional(),
    /** Priority code point of the tag. */
    pcp: z.number().int().min(0).max(7).optional(),
    ip: z.enum(["ipv4", "ipv6"]).default("ipv4"),
    /** Source address (default 198.18.0.1, or 2001:2::1 for IPv6). */
    srcIp: z.string().optional(),
    /** Destination address (default 198.19.0.1, or 2001:2::2). */
    dstIp: z.string().optional(),
    /** TTL / hop limit (default 64). */
    ttl: z.number().int().min(0).max(255).optional(),
    l4: z.enum(["udp", "tcp"]).default("udp"),
    /** Default 1024. */
    srcPort: port.optional(),
    /** Default 7 (echo). */
    dstPort: port.optional(),
  })
  .strict();

export type TemplateSpec = z.input<typeof templateSchema>;
export type TemplateOptions = z.output<typeof templateSchema>;

export const DEFAULT_TEMPLATE: TemplateOptions = templateSchema.parse({});

/** A template built for a set of frame sizes, with its header offsets. */
export class Template {
  /** Frame sizes (FCS included), as given. */
  readonly sizes: readonly number[];
  /** The stored bytes of each size (size − 4: no FCS), signature area zeroed. */
  readonly frames: readonly Uint8Array[];
  /** Bytes of headers before the L4 payload. */
  readonly headerLen: number;
  readonly l3Offset: number;
  readonly l4Offset: number;
  readonly ipv6: boolean;
  readonly l4Proto: number;
  /** Offset of the IPv4 header checksum, or -1 (IPv6). */
  readonly ipChecksumOffset: number;
  /** Offset of the L4 checksum field, or -1 when there is none to keep (UDP sent with a zero checksum). */
  readonly l4ChecksumOffset: number;
  /** UDP: a computed checksum of 0 is sent as 0xffff (RFC 768). */
  readonly udp: boolean;
  /** Offsets of the fields that {@link FieldSpec}s may vary. */
  readonly offsets: Readonly<Record<"dstMac" | "srcMac" | "vlan" | "srcIp" | "dstIp" | "srcPort" | "dstPort", number>>;
  readonly options: TemplateOptions;

  constructor(spec: TemplateSpec, sizes: readonly number[]) {
    const parsed = templateSchema.safeParse(spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new TrafgenError("config", `template: ${i.path.join(".") || "(root)"}: ${i.message}`, { field: `template.${i.path.join(".")}` });
    }
    const o = parsed.data;
    this.options = o;
    const base = frameSpec(o, new Uint8Array(0));
    const headerLen = safeBuild(base).length;
    this.headerLen = headerLen;
    const frames: Uint8Array[] = [];
    for (const size of sizes) {
      const payload = size - FCS_LEN - headerLen;
      if (payload < SIGNATURE_LEN) {
        throw new TrafgenError(
          "config",
          `frame size ${size} is too small for this template: ${headerLen} bytes of headers + ${SIGNATURE_LEN} bytes of signature + ${FCS_LEN} of FCS need at least ${headerLen + SIGNATURE_LEN + FCS_LEN}`,
          { field: "size" },
        );
      }
      frames.push(safeBuild(frameSpec(o, new Uint8Array(payload))));
    }
    this.sizes = Object.freeze([...sizes]);
    this.frames = Object.freeze(frames);
    const f = frames[0] ?? safeBuild(frameSpec(o, new Uint8Array(SIGNATURE_LEN)));
    const meta = new PacketMeta();
    if (!parse(f, 0, f.length, meta)) throw new TrafgenError("config", `template does not parse back: ${parseErrorNames(meta.errors).join(", ")}`);
    this.l3Offset = meta.l3Offset;
    this.l4Offset = meta.l4Offset;
    this.ipv6 = o.ip === "ipv6";
    this.l4Proto = meta.l4Proto;
    this.udp = meta.l4Proto === IpProto.UDP;
    this.ipChecksumOffset = this.ipv6 ? -1 : meta.l3Offset + 10;
    const l4c = meta.l4Offset + (this.udp ? 6 : 16);
    this.l4ChecksumOffset = this.udp && f[l4c] === 0 && f[l4c + 1] === 0 ? -1 : l4c;
    this.offsets = Object.freeze({
      dstMac: 0,
      srcMac: 6,
      vlan: o.vlan === undefined ? -1 : 14,
      srcIp: meta.srcAddrOffset,
      dstIp: meta.dstAddrOffset,
      srcPort: meta.l4Offset,
      dstPort: meta.l4Offset + 2,
    });
  }
}

function frameSpec(o: TemplateOptions, payload: Uint8Array): FrameSpec {
  const spec: FrameSpec = {
    src: o.srcMac ?? "02:00:00:00:00:01",
    dst: o.dstMac ?? "02:00:00:00:00:02",
    payload,
    padTo: 0,
  };
  if (o.vlan !== undefined) spec.vlans = [{ vid: o.vlan, pcp: o.pcp ?? 0 }];
  const ttl = o.ttl ?? 64;
  if (o.ip === "ipv4") spec.ipv4 = { src: o.srcIp ?? "198.18.0.1", dst: o.dstIp ?? "198.19.0.1", ttl };
  else spec.ipv6 = { src: o.srcIp ?? "2001:2::1", dst: o.dstIp ?? "2001:2::2", hopLimit: ttl };
  const srcPort = o.srcPort ?? 1024;
  const dstPort = o.dstPort ?? 7;
  if (o.l4 === "udp") spec.udp = { srcPort, dstPort };
  else spec.tcp = { srcPort, dstPort, flags: TcpFlag.ACK };
  return spec;
}

function safeBuild(spec: FrameSpec): Uint8Array {
  try {
    return buildFrame(spec);
  } catch (e) {
    throw new TrafgenError("config", `template: ${(e as Error).message}`, { cause: e });
  }
}
