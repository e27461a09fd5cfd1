import { PacketMeta, parse, verifyChecksums, type PacketPool } from "@nfvio/packet";

/** Parse buffer i and check every checksum (IPv4 header, L4). Returns the meta or throws with the reason. */
export function checkFrame(pool: PacketPool, i: number): PacketMeta {
  const meta = new PacketMeta();
  const bytes = pool.bytes(i);
  if (!parse(bytes, 0, bytes.length, meta)) throw new Error(`frame ${i} does not parse: errors ${meta.errors}`);
  const st = verifyChecksums(bytes, meta);
  if (st !== 0) throw new Error(`frame ${i}: checksum status ${st}`);
  return meta;
}
