import { buildFrame, formatIpv4, readIpv4 } from "@nfvio/packet";
import { burstFromFrames, createVnf, describeVerdict, parseConfigText } from "../src/index.js";

export function chainExample(): string {
  // A scenario as YAML: firewall, then source NAT; the firewall's port 1 feeds the NAT's inside port 0.
  const yaml = `
kind: chain
config:
  stages:
    - kind: firewall
      config:
        rules:
          - { action: accept, proto: udp, src: 10.0.0.0/8, dstPorts: 53 }
    - kind: nat
      config:
        snat: [{ from: 10.0.0.0/8, to: 203.0.113.1 }]
  links: [[1, 0]]
`;
  const chain = createVnf(parseConfigText(yaml, "chain.yaml") as { kind: "chain"; config: unknown });
  const frames = [
    buildFrame({ ipv4: { src: "10.0.0.7", dst: "198.51.100.53" }, udp: { srcPort: 4000, dstPort: 53 } }),
    buildFrame({ ipv4: { src: "10.0.0.7", dst: "198.51.100.53" }, udp: { srcPort: 4000, dstPort: 123 } }),
  ];
  const verdicts = new Int32Array(2);
  chain.process(burstFromFrames(frames, 0), 2, verdicts);
  return `${Array.from(verdicts, describeVerdict).join(", ")} | src ${formatIpv4(readIpv4(frames[0]!, 26))} | ${JSON.stringify(chain.counters.snapshot(true))}`;
}
