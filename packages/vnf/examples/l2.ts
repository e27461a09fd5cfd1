import { buildFrame, formatMac } from "@nfvio/packet";
import { L2Fwd, MacSwap, burstFromFrames, describeVerdict } from "../src/index.js";

export function l2Example(): string {
  const frame = buildFrame({ src: "02:00:00:00:00:0a", dst: "02:00:00:00:00:0b", ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 1000, dstPort: 2000 } });
  const verdicts = new Int32Array(1);

  // testpmd macswap: swap the MACs, send the frame back out of port 0.
  const swap = new MacSwap({ ports: 1 });
  const b1 = burstFromFrames([frame.slice()], 0);
  swap.process(b1, 1, verdicts);
  const swapped = `${describeVerdict(verdicts[0]!)} dst=${formatMac(b1.bufs[0]!, 0)}`;

  // l2fwd: port 1 -> port 0, destination MAC rewritten to port 0's peer.
  const fwd = new L2Fwd({ ports: [{ mac: "02:00:00:00:00:01", peerMac: "02:00:00:00:aa:00" }, { mac: "02:00:00:00:00:02" }] });
  const b2 = burstFromFrames([frame.slice()], 1);
  fwd.process(b2, 1, verdicts);
  return `macswap: ${swapped}; l2fwd: ${describeVerdict(verdicts[0]!)} dst=${formatMac(b2.bufs[0]!, 0)} src=${formatMac(b2.bufs[0]!, 6)}`;
}
