import { buildFrame, formatIpv4, readIpv4 } from "@nfvio/packet";
import { NAT_INSIDE, NAT_OUTSIDE, Nat, burstFromFrames } from "../src/index.js";

export function natExample(): string {
  const nat = new Nat({
    snat: [{ from: "10.0.0.0/8", to: "203.0.113.1", ports: "20000-29999" }],
    dnat: [{ proto: "tcp", address: "203.0.113.1", port: 8080, to: "10.0.0.80", toPort: 80 }],
  });
  const udp = (src: string, dst: string, sport: number, dport: number) => buildFrame({ ipv4: { src, dst }, udp: { srcPort: sport, dstPort: dport } });
  const show = (f: Uint8Array) => `${formatIpv4(readIpv4(f, 26))}:${(f[34]! << 8) | f[35]!} -> ${formatIpv4(readIpv4(f, 30))}:${(f[36]! << 8) | f[37]!}`;
  const v = new Int32Array(1);
  // Outbound: the source becomes 203.0.113.1 with a port from the range (the inside port 5353 is not in it).
  const out = udp("10.0.0.7", "198.51.100.53", 5353, 53);
  nat.process(burstFromFrames([out], NAT_INSIDE), 1, v);
  const a = show(out);
  // The reply is translated back to the inside host.
  const reply = udp("198.51.100.53", "203.0.113.1", 53, (out[34]! << 8) | out[35]!);
  nat.process(burstFromFrames([reply], NAT_OUTSIDE), 1, v);
  return `${a} | ${show(reply)} | ${nat.counters.get("snat.new")} mapping, ${nat.counters.get("translated")} translated`;
}
