import { buildFrame } from "@nfvio/packet";
import { Router, burstFromFrames, describeVerdict } from "../src/index.js";

export function routerExample(): string {
  const router = new Router({
    ports: [
      { mac: "02:00:00:00:00:01", ipv4: ["10.0.0.1/24"], ipv6: ["2001:db8:1::1/64"] },
      { mac: "02:00:00:00:00:02", ipv4: ["10.0.1.1/24"], ipv6: ["2001:db8:2::1/64", "fe80::2/64"] },
    ],
    routes: [
      { prefix: "192.168.0.0/16", via: "10.0.1.254" },
      { prefix: "2001:db8:100::/48", via: "fe80::fe", port: 1 },
    ],
    neighbours: [{ ip: "10.0.1.254", mac: "02:00:00:00:fe:01", port: 1 }],
  });
  const frames = [
    // Routed to the gateway: TTL 64 -> 63, MACs rewritten.
    buildFrame({ dst: "02:00:00:00:00:01", ipv4: { src: "10.0.0.5", dst: "192.168.7.7", ttl: 64 }, udp: { dstPort: 53 } }),
    // TTL 1: dropped, an ICMP time exceeded goes to the outbox.
    buildFrame({ dst: "02:00:00:00:00:01", ipv4: { src: "10.0.0.5", dst: "192.168.7.7", ttl: 1 }, udp: { dstPort: 53 } }),
    // ARP request for the router's address: answered from the outbox.
    buildFrame({ dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:aa:05", arp: { op: 1, senderMac: "02:00:00:00:aa:05", senderIp: "10.0.0.5", targetIp: "10.0.0.1" } }),
    // IPv6 to a next hop not yet resolved: held while a neighbour solicitation goes out.
    buildFrame({ dst: "02:00:00:00:00:01", ipv6: { src: "2001:db8:1::5", dst: "2001:db8:100::9" }, udp: { dstPort: 53 } }),
  ];
  const burst = burstFromFrames(frames, 0);
  const verdicts = new Int32Array(frames.length);
  router.process(burst, frames.length, verdicts);
  const out = router.outbox.frames().map((f) => `${f.frame[12] === 0x08 && f.frame[13] === 0x06 ? "arp" : f.frame[13] === 0xdd ? "icmpv6/nd" : "icmp"}@${f.port}`);
  router.outbox.clear();
  return `${Array.from(verdicts, describeVerdict).join(", ")} | ttl ${frames[0]![22]} | outbox ${out.join(" ")}`;
}
