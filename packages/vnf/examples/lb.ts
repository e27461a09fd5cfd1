import { buildFrame, formatMac } from "@nfvio/packet";
import { LoadBalancer, burstFromFrames } from "../src/index.js";

export function lbExample(): string {
  const lb = new LoadBalancer({
    mac: "02:00:00:00:0b:00",
    services: [
      {
        vip: "192.0.2.10",
        proto: "tcp",
        port: 80,
        tableSize: 65537,
        backends: [
          { name: "web-a", mac: "02:00:00:00:0b:0a" },
          { name: "web-b", mac: "02:00:00:00:0b:0b" },
          { name: "web-c", mac: "02:00:00:00:0b:0c" },
        ],
      },
    ],
    affinity: { capacity: 65536, timeout: 300 },
  });
  const frames = Array.from({ length: 3000 }, (_, i) =>
    buildFrame({ dst: "02:00:00:00:0b:00", ipv4: { src: `198.51.${i >> 8}.${i & 255}`, dst: "192.0.2.10" }, tcp: { srcPort: 1024 + i, dstPort: 80 } }),
  );
  const verdicts = new Int32Array(frames.length);
  const burst = burstFromFrames(frames, 0);
  lb.process(burst, frames.length, verdicts);
  const first = frames.map((f) => formatMac(f, 0));
  // Remove a backend: only its flows move; the others keep their backend.
  lb.removeBackend(0, "web-b");
  const again = Array.from({ length: 3000 }, (_, i) => frames[i]!);
  lb.process(burstFromFrames(again, 0), again.length, verdicts);
  const moved = again.filter((f, i) => formatMac(f, 0) !== first[i]).length;
  const onB = first.filter((m) => m.endsWith("0b")).length;
  return `${lb.backends(0).map((b) => b.name).join(",")} | flows on web-b before: ${onB}, moved: ${moved}`;
}
