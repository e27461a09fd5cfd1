/**
 * Single-thread throughput of each VNF core on prebuilt minimum-size frames.
 *
 * Frames are 60 bytes (64 B on the wire with the FCS; IPv6 frames are 64
 * bytes, the smallest UDP/IPv6 frame being 62) laid out like a packet pool:
 * one `Uint8Array`, a buffer every 64 bytes, so each burst is a pool-index
 * burst. Before each burst its 32 frames are refilled from a pristine copy
 * (one 2 KiB copy, standing in for the NIC's receive DMA) so that rewriting
 * VNFs (TTL, NAT) see the same input every time. Stateful VNFs run a warm-up
 * first, so the figures are for established flows.
 *
 * Exported as `@nfvio/vnf/bench` for the CLI; `bench/vnf.ts` prints it.
 */
import { type PacketBurst, createBurst } from "./burst.js";
import { ServiceChain } from "./chain.js";
import { Firewall } from "./firewall.js";
import { L2Fwd, MacSwap } from "./l2fwd.js";
import { LoadBalancer } from "./lb.js";
import { Nat } from "./nat.js";
import { Router } from "./router.js";
import type { Vnf } from "./vnf.js";

export interface VnfBenchOptions {
  /** Measured time per VNF in ms (default 1000). */
  durationMs?: number;
  /** Warm-up per VNF in ms (default 200). */
  warmupMs?: number;
  /** Packets per burst (default 32). */
  burst?: number;
  /** Distinct flows cycled through (default 1024). */
  flows?: number;
  /** Only these VNFs (names as in the results). */
  only?: readonly string[];
}

export interface VnfBenchResult {
  vnf: string;
  /** Million packets per second, one thread. */
  mpps: number;
  nsPerPacket: number;
  packets: number;
  seconds: number;
  frameBytes: number;
  /** Fraction of packets forwarded in the measured run (sanity: 1 for every case here). */
  forwarded: number;
}

const STRIDE = 64;

function cs(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

interface FlowSpec {
  dstMac: number[];
  srcMac: number[];
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  proto: 6 | 17;
  tcpFlags?: number;
}

/** A 60-byte IPv4 TCP/UDP frame (or 64-byte IPv6 when addresses have 16 bytes) with valid checksums. */
function frame(f: FlowSpec): number[] {
  const v6 = f.src.length === 16;
  const l4len = f.proto === 6 ? 20 : v6 ? 10 : 26;
  const l4: number[] = new Array<number>(l4len).fill(0);
  l4[0] = f.sport >> 8;
  l4[1] = f.sport & 255;
  l4[2] = f.dport >> 8;
  l4[3] = f.dport & 255;
  if (f.proto === 6) {
    l4[12] = 0x50;
    l4[13] = f.tcpFlags ?? 0x10;
    l4[14] = 0xff;
    l4[15] = 0xff;
  } else {
    l4[4] = l4len >> 8;
    l4[5] = l4len & 255;
  }
  const pseudo = v6 ? [...f.src, ...f.dst, 0, 0, 0, l4len, 0, 0, 0, f.proto] : [...f.src, ...f.dst, 0, f.proto, 0, l4len];
  const c = cs([...pseudo, ...l4]);
  const at = f.proto === 6 ? 16 : 6;
  l4[at] = c >> 8;
  l4[at + 1] = c & 255;
  let ip: number[];
  if (v6) ip = [0x60, 0, 0, 0, 0, l4len, f.proto, 64, ...f.src, ...f.dst];
  else {
    ip = [0x45, 0, 0, 20 + l4len, 0, 0, 0x40, 0, 64, f.proto, 0, 0, ...f.src, ...f.dst];
    const h = cs(ip);
    ip[10] = h >> 8;
    ip[11] = h & 255;
  }
  return [...f.dstMac, ...f.srcMac, v6 ? 0x86 : 0x08, v6 ? 0xdd : 0x00, ...ip, ...l4];
}

const mac = (s: string) => s.split(":").map((h) => parseInt(h, 16));

/** Deterministic pseudo-random numbers (LCG) so every run uses the same tables and flows. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

interface Case {
  name: string;
  make: () => Vnf;
  frames: (i: number) => number[];
  port: number;
  /** Frames to send once before the warm-up (on their port), e.g. TCP handshakes. */
  prime?: (i: number) => { frame: number[]; port: number }[];
}

function cases(flows: number): Case[] {
  const R0 = "02:00:00:00:00:01";
  const H = mac("02:00:00:00:aa:01");
  const rnd = lcg(42);
  const routes: { prefix: string; via: string }[] = [];
  const dsts: number[][] = [];
  for (let i = 0; i < 1000; i++) {
    const a = 11 + (rnd() % 200);
    const b = rnd() & 255;
    const len = 16 + (rnd() % 9);
    const c = len > 16 ? rnd() & 255 & (0xff << (24 - len)) : 0;
    routes.push({ prefix: `${a}.${b}.${c}.0/${len}`, via: "10.0.1.254" });
    dsts.push([a, b, c, 1 + (rnd() % 200)]);
  }
  const routes6 = Array.from({ length: 1000 }, (_, i) => ({ prefix: `2001:db8:${(i * 7).toString(16)}::/48`, via: "fe80::fe", port: 1 }));
  const routerConfig = {
    ports: [
      { mac: R0, ipv4: ["10.0.0.1/24"], ipv6: ["2001:db8:ffff:1::1/64", "fe80::1/64"] },
      { mac: "02:00:00:00:00:02", ipv4: ["10.0.1.1/24"], ipv6: ["2001:db8:ffff:2::1/64", "fe80::2/64"] },
    ],
    routes: [...routes, ...routes6],
    neighbours: [
      { ip: "10.0.1.254", mac: "02:00:00:00:fe:01", port: 1 },
      { ip: "fe80::fe", mac: "02:00:00:00:fe:06", port: 1 },
    ],
  };
  const inside = (i: number) => [10, 0, (i >> 8) & 255, i & 255];
  const remote = (i: number) => [198, 51, 100, 1 + (i % 200)];
  // Inside 2001:db8:<7i>::/48, matching the routes above.
  const v6 = (i: number) => [0x20, 0x01, 0x0d, 0xb8, (i * 7) >> 8, (i * 7) & 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const udp = (i: number): FlowSpec => ({ dstMac: mac(R0), srcMac: H, src: inside(i), dst: remote(i), sport: 10000 + i, dport: 443, proto: 17 });
  const tcp = (i: number): FlowSpec => ({ ...udp(i), proto: 6 });
  return [
    { name: "macswap", make: () => new MacSwap(), frames: (i) => frame(udp(i)), port: 0 },
    { name: "l2fwd", make: () => new L2Fwd({ ports: [{ mac: R0, peerMac: "02:00:00:00:aa:01" }, { mac: "02:00:00:00:00:02", peerMac: "02:00:00:00:bb:01" }] }), frames: (i) => frame(udp(i)), port: 0 },
    { name: "router-ipv4", make: () => new Router(routerConfig), frames: (i) => frame({ ...udp(i), dst: dsts[i % dsts.length]! }), port: 0 },
    { name: "router-ipv6", make: () => new Router(routerConfig), frames: (i) => frame({ ...udp(i), src: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5], dst: v6(i % 1000) }), port: 0 },
    {
      name: "firewall",
      make: () =>
        new Firewall({
          rules: [
            ...Array.from({ length: 9 }, (_, k) => ({ action: "drop" as const, proto: "tcp" as const, dstPorts: 1000 + k })),
            { action: "accept", proto: "tcp", src: "10.0.0.0/8", dstPorts: "1-1023" },
          ],
          conntrack: { capacity: flows * 4 },
        }),
      // Each flow's handshake is primed, so measured packets are ACKs of ESTABLISHED connections.
      frames: (i) => frame(tcp(i)),
      port: 0,
      prime: (i) => {
        const f = tcp(i);
        return [
          { frame: frame({ ...f, tcpFlags: 0x02 }), port: 0 },
          { frame: frame({ ...f, src: f.dst, dst: f.src, sport: f.dport, dport: f.sport, tcpFlags: 0x12 }), port: 1 },
          { frame: frame({ ...f, tcpFlags: 0x10 }), port: 0 },
        ];
      },
    },
    { name: "nat", make: () => new Nat({ snat: [{ from: "10.0.0.0/8", to: "203.0.113.1" }], conntrack: { capacity: flows * 4 } }), frames: (i) => frame(udp(i)), port: 0 },
    {
      name: "lb",
      make: () =>
        new LoadBalancer({
          mac: R0,
          services: [{ vip: "192.0.2.10", proto: "udp", port: 443, backends: Array.from({ length: 16 }, (_, k) => ({ name: `b${k}`, mac: `02:00:00:00:0b:${k.toString(16).padStart(2, "0")}` })) }],
          affinity: { capacity: flows * 4 },
        }),
      frames: (i) => frame({ ...udp(i), dst: [192, 0, 2, 10] }),
      port: 0,
    },
    {
      name: "chain-fw-nat",
      make: () =>
        new ServiceChain(
          [new Firewall({ rules: [{ action: "accept", proto: "udp", src: "10.0.0.0/8" }], conntrack: { capacity: flows * 4 } }), new Nat({ snat: [{ from: "10.0.0.0/8", to: "203.0.113.1" }], conntrack: { capacity: flows * 4 } })],
          { links: [[1, 0]] },
        ),
      frames: (i) => frame(udp(i)),
      port: 0,
    },
  ];
}

/** Run the VNF benchmark; results in the order of the cases. */
export function runVnfBench(opts: VnfBenchOptions = {}): VnfBenchResult[] {
  const duration = opts.durationMs ?? 1000;
  const warmup = opts.warmupMs ?? 200;
  const bs = opts.burst ?? 32;
  const flows = Math.max(bs, Math.ceil((opts.flows ?? 1024) / bs) * bs);
  const out: VnfBenchResult[] = [];
  for (const c of cases(flows)) {
    if (opts.only && !opts.only.includes(c.name)) continue;
    const vnf = c.make();
    // The "pool": flows buffers of 64 bytes, plus a pristine copy.
    const pristine = new Uint8Array(flows * STRIDE);
    const lens = new Uint32Array(flows);
    for (let i = 0; i < flows; i++) {
      const f = c.frames(i);
      if (f.length > STRIDE) throw new Error(`${c.name}: frame of ${f.length} bytes`);
      const padded = f.length < 60 ? [...f, ...new Array<number>(60 - f.length).fill(0)] : f;
      pristine.set(padded, i * STRIDE);
      lens[i] = padded.length;
    }
    const pool = pristine.slice();
    const bursts: PacketBurst[] = [];
    for (let b = 0; b < flows / bs; b++) {
      const burst = createBurst(bs);
      for (let j = 0; j < bs; j++) {
        const i = b * bs + j;
        burst.bufs[j] = pool;
        burst.offsets[j] = i * STRIDE;
        burst.lengths[j] = lens[i]!;
        burst.ports[j] = c.port;
      }
      bursts.push(burst);
    }
    const verdicts = new Int32Array(bs);
    if (c.prime) {
      const pv = new Int32Array(1);
      const one = createBurst(1);
      for (let i = 0; i < flows; i++) {
        for (const p of c.prime(i)) {
          one.bufs[0] = Uint8Array.from(p.frame);
          one.offsets[0] = 0;
          one.lengths[0] = p.frame.length;
          one.ports[0] = p.port;
          vnf.process(one, 1, pv);
        }
      }
    }
    const nb = bursts.length;
    const pristineBursts = bursts.map((_, k) => pristine.subarray(k * bs * STRIDE, (k + 1) * bs * STRIDE));
    const span = bs * STRIDE;
    const runFor = (ms: number): { packets: number; seconds: number; fwd: number } => {
      let packets = 0;
      let fwd = 0;
      let k = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < ms) {
        for (let r = 0; r < 64; r++) {
          pool.set(pristineBursts[k]!, k * span);
          fwd += vnf.process(bursts[k]!, bs, verdicts);
          if (vnf.outbox) vnf.outbox.clear();
          packets += bs;
          k = k + 1 === nb ? 0 : k + 1;
        }
        t = performance.now();
      }
      return { packets, seconds: (t - t0) / 1000, fwd };
    };
    runFor(warmup);
    const r = runFor(duration);
    out.push({
      vnf: c.name,
      mpps: r.packets / r.seconds / 1e6,
      nsPerPacket: (r.seconds * 1e9) / r.packets,
      packets: r.packets,
      seconds: r.seconds,
      frameBytes: lens[0]!,
      forwarded: r.fwd / r.packets,
    });
  }
  return out;
}

/** The results as a text table. */
export function formatVnfBench(results: readonly VnfBenchResult[], burst = 32): string {
  const lines = [`VNF              frame  burst    Mpps   ns/pkt  forwarded`];
  for (const r of results) {
    lines.push(
      `${r.vnf.padEnd(16)} ${`${r.frameBytes + 4} B`.padStart(5)}  ${String(burst).padStart(5)}  ${r.mpps.toFixed(2).padStart(6)}  ${r.nsPerPacket.toFixed(1).padStart(7)}  ${(r.forwarded * 100).toFixed(1).padStart(8)}%`,
    );
  }
  return lines.join("\n");
}
