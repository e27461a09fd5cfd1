import { buildFrame, TcpFlag } from "@nfvio/packet";
import { Firewall, burstFromFrames, describeVerdict } from "../src/index.js";

export function firewallExample(): string {
  const fw = new Firewall({
    rules: [
      { action: "drop", proto: "tcp", dstPorts: 23, comment: "no telnet" },
      { action: "accept", proto: "tcp", src: "10.0.0.0/8", dstPorts: "80-443", inPort: 0 },
    ],
    defaultAction: "drop",
    conntrack: { capacity: 1024, timeouts: { established: 3600 } },
  });
  const tcp = (src: string, dst: string, sport: number, dport: number, flags: number) => buildFrame({ ipv4: { src, dst }, tcp: { srcPort: sport, dstPort: dport, flags } });
  const run = (frame: Uint8Array, port: number) => {
    const v = new Int32Array(1);
    fw.process(burstFromFrames([frame], port), 1, v);
    return describeVerdict(v[0]!);
  };
  const steps = [
    run(tcp("10.0.0.5", "198.51.100.1", 40000, 443, TcpFlag.SYN), 0), // new, rule 1 accepts
    run(tcp("198.51.100.1", "10.0.0.5", 443, 40000, TcpFlag.SYN | TcpFlag.ACK), 1), // reply, admitted by conntrack
    run(tcp("10.0.0.5", "198.51.100.1", 40000, 443, TcpFlag.ACK), 0), // ESTABLISHED
    run(tcp("198.51.100.9", "10.0.0.5", 5555, 443, TcpFlag.SYN), 1), // unsolicited: default drop
    run(tcp("10.0.0.5", "198.51.100.1", 40001, 23, TcpFlag.SYN), 0), // rule 0
  ];
  const ct = fw.conntrack!;
  return `${steps.join(", ")} | ${ct.ids().map((id) => ct.stateName(id)).join(",")} | hits ${Array.from(fw.acl.hits).join(",")}`;
}
