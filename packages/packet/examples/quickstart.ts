import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFrame, formatIpv4, openCapture, PacketMeta, parse, parseErrorNames, PcapngWriter, TcpFlag, verifyChecksums } from "@nfvio/packet";

// Build a TCP SYN inside VXLAN: lengths and checksums are filled in.
const frame = buildFrame({
  ipv4: { src: "10.0.0.1", dst: "10.0.0.2" },
  vxlan: { vni: 42, inner: { ipv4: { src: "192.0.2.1", dst: "198.51.100.7" }, tcp: { srcPort: 40000, dstPort: 80, flags: TcpFlag.SYN } } },
});

// Parse into a reusable record (one per burst slot; nothing is allocated per packet).
const meta = new PacketMeta();
const ok = parse(frame, 0, frame.length, meta);
const inner = meta.inner!;
console.log(ok, meta.vni, formatIpv4(inner.src4), inner.dstPort, verifyChecksums(frame, meta));

// A frame cut short is reported in meta.errors, never thrown.
console.log(parse(frame, 0, 40, meta), parseErrorNames(meta.errors).join(","));

// Write a pcapng file and stream it back.
const path = join(tmpdir(), `nfvio-quickstart-${process.pid}.pcapng`);
const writer = await PcapngWriter.create(path);
await writer.write(frame, { timestampNs: 1_700_000_000_000_000_000n });
await writer.close();
for await (const rec of await openCapture(path)) console.log(rec.data.length, rec.timestampNs);
await rm(path);
