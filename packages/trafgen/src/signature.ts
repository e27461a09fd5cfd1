/**
 * The signature every generated frame carries in its last 16 bytes (before
 * the FCS the wire adds), inside the L4 payload of the template. Big-endian:
 *
 * ```
 *  byte  0      2        4                8                               16
 *        +------+--------+----------------+-------------------------------+
 *        |magic |stream  | sequence (low  | TX timestamp, ns, IEEE 754    |
 *        |0x5447|id (u16)| 32 bits, u32)  | binary64 (float64)            |
 *        +------+--------+----------------+-------------------------------+
 * ```
 *
 * - `magic` is "TG" (0x5447). A frame is taken as ours when the magic
 *   matches and the stream id names a stream the analyser knows; anything
 *   else is counted as `foreign`.
 * - `sequence` counts the stream's frames from 0. Only the low 32 bits
 *   travel; the receiver extends them to a full number with the highest
 *   sequence seen so far (the nearest value, as TCP does with its 32-bit
 *   sequence space), which is exact while frames are displaced by less than
 *   2^31 positions.
 * - `timestamp` is the time the frame was scheduled for (model clock: exact
 *   and possibly fractional ns) or sent (real clock: integer ns of the
 *   sender's clock). A float64 holds every integer ns below 2^53 (104 days)
 *   exactly and keeps modelled fractions.
 *
 * At the tail the signature survives header changes by a device under test
 * (VLAN push/pop, MAC rewrite, NAT, TTL). 16 bytes fit the 18 bytes of UDP
 * payload a 64-byte UDP/IPv4 frame has.
 */
export const SIGNATURE_LEN = 16;
export const SIGNATURE_MAGIC = 0x5447;

/** Write a signature at `off` (absolute index into `view`'s buffer). */
export function writeSignature(view: DataView, off: number, stream: number, seq: number, txNs: number): void {
  view.setUint16(off, SIGNATURE_MAGIC);
  view.setUint16(off + 2, stream);
  view.setUint32(off + 4, seq >>> 0);
  view.setFloat64(off + 8, txNs);
}

/** One's complement sum (RFC 1071 §1) of the 8 big-endian words of the signature at `off`, unfolded. */
export function signatureWordSum(data: Uint8Array, off: number): number {
  let s = 0;
  for (let k = 0; k < SIGNATURE_LEN; k += 2) s += (data[off + k]! << 8) | data[off + k + 1]!;
  return s;
}

/** What {@link readSignature} found. */
export interface SignatureFields {
  stream: number;
  /** Low 32 bits of the sequence number. */
  seq32: number;
  txNs: number;
}

/** Read the signature of a frame of `len` bytes at `start`; false when it has none (too short or wrong magic). */
export function readSignature(view: DataView, start: number, len: number, out: SignatureFields): boolean {
  if (len < SIGNATURE_LEN) return false;
  const off = start + len - SIGNATURE_LEN;
  if (view.getUint16(off) !== SIGNATURE_MAGIC) return false;
  out.stream = view.getUint16(off + 2);
  out.seq32 = view.getUint32(off + 4);
  out.txNs = view.getFloat64(off + 8);
  return true;
}

/** Extend a 32-bit sequence number to the full value nearest `ref` (the highest seen so far, or -1). */
export function extendSeq(seq32: number, ref: number): number {
  if (ref < 0) return seq32;
  const refLow = ref % 4294967296;
  let d = seq32 - refLow;
  if (d > 2147483647) d -= 4294967296;
  else if (d < -2147483648) d += 4294967296;
  const v = ref + d;
  return v < 0 ? seq32 : v;
}
