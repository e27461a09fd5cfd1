/**
 * Parser throughput on one thread, for `pnpm bench` and the CLI.
 *
 * The frames are 64-byte TCP/IPv4 frames (60 bytes + the 4-byte FCS the
 * wire would add is not stored, so each buffer slot holds 64 bytes: a
 * 14-byte Ethernet header, 20-byte IPv4, 20-byte TCP, 10 bytes of payload),
 * laid out like a pool of 2 KiB buffers, with ports that differ per slot.
 * The loop parses bursts of 32 into one reused {@link PacketMeta} per slot,
 * as a datapath would.
 */
import { buildFrame } from "./build.js";
import { TcpFlag } from "./constants.js";
import { PacketMeta } from "./meta.js";
import { parse } from "./parse.js";

export interface BenchResult {
  /** Million packets parsed per wall-clock second. */
  mpps: number;
  /**
   * Million packets per second of CPU time used by the process (user +
   * system). Equals `mpps` on an idle machine; on a shared one it is the
   * figure that does not depend on how often the thread was scheduled.
   */
  cpuMpps: number;
  packets: number;
  /** Wall-clock seconds measured. */
  seconds: number;
  /** CPU seconds used while measuring. */
  cpuSeconds: number;
  frameLength: number;
  /** Packets whose parse returned false (should be 0). */
  failures: number;
}

const SLOTS = 1024;
const SLOT_SIZE = 2048;
const BURST = 32;

/** Parse 64-byte TCP/IPv4 frames for about `seconds` seconds; returns the rate. */
export function benchParse(seconds = 1): BenchResult {
  const pool = new Uint8Array(SLOTS * SLOT_SIZE);
  const frameLength = 64;
  for (let i = 0; i < SLOTS; i++) {
    const f = buildFrame({
      ipv4: { src: 0x0a000001 + (i & 0xff), dst: 0xc0a80001 },
      tcp: { srcPort: 1024 + i, dstPort: 80, flags: TcpFlag.ACK, seq: i },
      payload: 10,
      padTo: frameLength,
    });
    pool.set(f, i * SLOT_SIZE);
  }
  const metas: PacketMeta[] = [];
  for (let i = 0; i < BURST; i++) metas.push(new PacketMeta());
  // Warm up so the parser is optimised before timing.
  let failures = runBursts(pool, metas, frameLength, 20_000);
  failures = 0;
  let packets = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  do {
    failures += runBursts(pool, metas, frameLength, 2_000);
    packets += 2_000 * BURST;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < budget);
  const cpu = process.cpuUsage(c0);
  const secs = Number(elapsed) / 1e9;
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  return { mpps: packets / secs / 1e6, cpuMpps: packets / cpuSecs / 1e6, packets, seconds: secs, cpuSeconds: cpuSecs, frameLength, failures };
}

function runBursts(pool: Uint8Array, metas: PacketMeta[], len: number, bursts: number): number {
  let failures = 0;
  let slot = 0;
  for (let b = 0; b < bursts; b++) {
    for (let j = 0; j < BURST; j++) {
      if (!parse(pool, slot * SLOT_SIZE, len, metas[j]!)) failures++;
      slot = (slot + 1) & (SLOTS - 1);
    }
  }
  return failures;
}
