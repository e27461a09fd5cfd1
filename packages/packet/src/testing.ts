/**
 * Test tools of @nfvio/packet (`@nfvio/packet/testing`): sample frames for
 * every protocol the parser knows, the fuzz targets that sit beside the
 * parsers, seed corpora built from the sample frames, and a small
 * deterministic mutation fuzzer to drive them.
 *
 *     import { runFuzz, parseSeeds, fuzzParseTarget } from "@nfvio/packet/testing";
 *     runFuzz({ seeds: parseSeeds(), target: fuzzParseTarget, iterations: 10_000, seed: 1 });
 */
import { fuzzAddrTarget } from "./addr.fuzz.js";
import { fuzzParseTarget, setDirtyFrame, snapshotMeta } from "./parse.fuzz.js";
import { fuzzCaptureTarget } from "./pcap/reader.fuzz.js";
import { BlockType } from "./pcap/format.js";
import { MemorySink } from "./pcap/io.js";
import { PcapngWriter, pcapBytes } from "./pcap/writer.js";
import { SAMPLE_SPECS, sampleFrames } from "./samples.js";

export { fuzzAddrTarget, fuzzCaptureTarget, fuzzParseTarget, SAMPLE_SPECS, sampleFrames, snapshotMeta };

/** A small deterministic PRNG (mulberry32): same seed, same run. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform u32. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
}

const INTERESTING8 = [0, 1, 2, 4, 5, 6, 0x0f, 0x10, 0x3f, 0x40, 0x45, 0x60, 0x7f, 0x80, 0xff];
const INTERESTING16 = [0, 1, 7, 8, 12, 19, 20, 40, 0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806, 4789, 0x7fff, 0x8000, 0xfffe, 0xffff];

/**
 * One random mutation of `input`: flip a bit, set a byte or a big-endian
 * 16/32-bit word to an interesting value (lengths, EtherTypes, limits),
 * nudge a word by ±1..4, cut the end, insert or delete a run, duplicate a
 * run, or splice in part of another seed.
 */
export function mutate(rng: Rng, input: Uint8Array, other?: Uint8Array): Uint8Array {
  let b = input.slice();
  const n = 1 + rng.below(3);
  for (let k = 0; k < n; k++) {
    const pos = rng.below(Math.max(1, b.length));
    switch (rng.below(10)) {
      case 0:
        if (b.length > 0) b[pos] = b[pos]! ^ (1 << rng.below(8));
        break;
      case 1:
        if (b.length > 0) b[pos] = INTERESTING8[rng.below(INTERESTING8.length)]!;
        break;
      case 2:
        if (pos + 1 < b.length) {
          const v = INTERESTING16[rng.below(INTERESTING16.length)]!;
          b[pos] = v >> 8;
          b[pos + 1] = v;
        }
        break;
      case 3:
        if (pos + 1 < b.length) {
          const v = (((b[pos]! << 8) | b[pos + 1]!) + (rng.below(9) - 4)) & 0xffff;
          b[pos] = v >> 8;
          b[pos + 1] = v;
        }
        break;
      case 4:
        b = b.slice(0, rng.below(b.length + 1));
        break;
      case 5: {
        const len = 1 + rng.below(16);
        const ins = new Uint8Array(len).map(() => rng.below(256));
        const c = new Uint8Array(b.length + len);
        c.set(b.subarray(0, pos));
        c.set(ins, pos);
        c.set(b.subarray(pos), pos + len);
        b = c;
        break;
      }
      case 6: {
        const len = Math.min(b.length - pos, 1 + rng.below(16));
        const c = new Uint8Array(b.length - len);
        c.set(b.subarray(0, pos));
        c.set(b.subarray(pos + len), pos);
        b = c;
        break;
      }
      case 7: {
        const len = Math.min(b.length - pos, 1 + rng.below(32));
        const c = new Uint8Array(b.length + len);
        c.set(b.subarray(0, pos + len));
        c.set(b.subarray(pos, pos + len), pos + len);
        c.set(b.subarray(pos + len), pos + 2 * len);
        b = c;
        break;
      }
      case 8:
        if (pos + 3 < b.length) {
          const v = [0, 1, 12, 28, 0x7fff_ffff, 0xffff_ffff, 0x1a2b3c4d, 0x0a0d0d0a][rng.below(8)]!;
          b[pos] = v >>> 24;
          b[pos + 1] = v >>> 16;
          b[pos + 2] = v >>> 8;
          b[pos + 3] = v;
        }
        break;
      default:
        if (other !== undefined && other.length > 0) {
          const from = rng.below(other.length);
          const len = Math.min(other.length - from, 1 + rng.below(64));
          const c = new Uint8Array(Math.max(b.length, pos + len));
          c.set(b);
          c.set(other.subarray(from, from + len), pos);
          b = c;
        }
    }
  }
  return b;
}

/** Seed corpus for {@link fuzzParseTarget}: the sample frames, plus padded copies. */
export function parseSeeds(): Uint8Array[] {
  const frames = Object.values(sampleFrames());
  const padded = frames.map((f) => {
    const p = new Uint8Array(Math.max(60, f.length + 4));
    p.set(f);
    return p;
  });
  setDirtyFrame(sampleFrames()["vxlan4_tcp4"]!);
  return [...frames, ...padded];
}

/**
 * Seed corpus for {@link fuzzCaptureTarget}: the sample frames as pcap
 * (µs and ns, both byte orders) and pcapng (both byte orders, several
 * interfaces and sections, EPB, SPB, options, an unknown block).
 */
export async function captureSeeds(): Promise<Uint8Array[]> {
  const frames = Object.values(sampleFrames()).slice(0, 6);
  const packets = frames.map((data, i) => ({ data, timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_123n }));
  const seeds: Uint8Array[] = [];
  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) seeds.push(await pcapBytes(packets, { bigEndian, nanosecond }));
    const sink = new MemorySink();
    const w = PcapngWriter.toSink(sink, { bigEndian, interfaces: [{ name: "eth0" }, { tsresol: 6, snaplen: 64 }] });
    for (const [i, p] of packets.entries()) await w.write(p.data, { timestampNs: p.timestampNs, interfaceId: i & 1, comment: i === 0 ? "first" : undefined });
    await w.writeRawBlock(BlockType.NAME_RESOLUTION, new Uint8Array(8));
    await w.writeSimple(frames[0]!);
    await w.flush();
    const w2 = PcapngWriter.toSink(sink, { bigEndian: !bigEndian });
    await w2.write(frames[1]!, { timestampNs: 5n });
    await w2.close();
    seeds.push(sink.bytes());
  }
  return seeds;
}

/** Text seeds for {@link fuzzAddrTarget}. */
export function addrSeeds(): string[] {
  return ["02:00:00:00:00:01", "aa-bb-cc-dd-ee-ff", "192.0.2.1", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1", "fe80::1:2:3:4", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8", "64:ff9b::198.51.100.7"];
}

export interface FuzzOptions<T> {
  seeds: readonly T[];
  target: (input: T) => void | Promise<void>;
  /** Produce a new input from a seed (default: {@link mutate} for bytes). */
  mutator?: (rng: Rng, input: T, other: T) => T;
  iterations?: number;
  /** Stop after this many milliseconds (whichever of iterations/time comes first). */
  timeMs?: number;
  seed?: number;
}

export interface FuzzFailure<T> {
  input: T;
  error: Error;
  iteration: number;
}

/**
 * Run the seeds, then mutations of them, through `target`. Returns the
 * first failure (input and error) or null; never throws for a failing input.
 */
export async function runFuzz<T>(opts: FuzzOptions<T>): Promise<{ iterations: number; failure: FuzzFailure<T> | null }> {
  const rng = new Rng(opts.seed ?? 1);
  const mut = opts.mutator ?? ((r: Rng, x: T, o: T): T => mutate(r, x as Uint8Array, o as Uint8Array) as T);
  const max = opts.iterations ?? Number.POSITIVE_INFINITY;
  const deadline = opts.timeMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeMs;
  const corpus = [...opts.seeds];
  let i = 0;
  const run = async (input: T): Promise<FuzzFailure<T> | null> => {
    try {
      await opts.target(input);
      return null;
    } catch (e) {
      return { input, error: e instanceof Error ? e : new Error(String(e)), iteration: i };
    }
  };
  for (const s of corpus) {
    const f = await run(s);
    if (f !== null) return { iterations: i, failure: f };
    i++;
  }
  while (i < max && Date.now() < deadline) {
    const base = corpus[rng.below(corpus.length)]!;
    const input = mut(rng, base, corpus[rng.below(corpus.length)]!);
    const f = await run(input);
    if (f !== null) return { iterations: i, failure: f };
    // Keep some mutants so mutations stack up over the run.
    if (rng.below(16) === 0 && corpus.length < 4096) corpus.push(input);
    i++;
  }
  return { iterations: i, failure: null };
}

/** Mutate a string: the byte mutator over its UTF-8 bytes, decoded back. */
export function mutateText(rng: Rng, input: string, other: string): string {
  const enc = new TextEncoder();
  const out = mutate(rng, enc.encode(input), enc.encode(other));
  return new TextDecoder().decode(out);
}
