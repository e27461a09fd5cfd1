import { CounterSet, ModelClock, PacketPool, type Clock, type Port } from "@nfvio/core";
import { buildFrame, pcapBytes, pcapngBytes, type Burst } from "@nfvio/packet";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PcapReplay, readSignature, runPort, type ReplayOptions } from "../src/index.js";
import { checkFrame } from "./helpers.js";

/** A port that records when each frame arrives and its signature, checks its checksums, and frees it. */
class RecordingPort implements Port {
  readonly counters = new CounterSet(["tx"]);
  readonly times: number[] = [];
  readonly seqs: number[] = [];
  readonly lens: number[] = [];
  constructor(
    readonly pool: PacketPool,
    readonly clock: Clock,
  ) {}
  tx(b: Burst): number {
    const sig = { stream: 0, seq32: 0, txNs: 0 };
    const n = b.count;
    for (let k = 0; k < b.count; k++) {
      const i = b.idx[k]!;
      this.times.push(this.clock.now());
      this.lens.push(this.pool.len[i]!);
      this.seqs.push(readSignature(this.pool.view, this.pool.start(i), this.pool.len[i]!, sig) ? sig.seq32 : -1);
      if (this.pool.data[this.pool.start(i) + 13] === 0x00) checkFrame(this.pool, i); // IPv4 frames: checksums right
    }
    this.pool.freeBurst(b);
    return n;
  }
  rx(): number {
    return 0;
  }
}

const udp = (payload: number) => buildFrame({ ipv4: { src: "10.0.0.1", dst: "10.0.0.2" }, udp: { srcPort: 5, dstPort: 6 }, payload, padTo: 0 });
const capture = [
  { data: udp(30), timestampNs: 1_700_000_000_000_000_000n },
  { data: udp(31), timestampNs: 1_700_000_000_001_000_000n }, // odd length: signature at an odd L4 offset
  { data: buildFrame({ arp: { senderIp: "10.0.0.1", targetIp: "10.0.0.2" } }), timestampNs: 1_700_000_000_003_000_000n }, // not signed
];

async function replay(opts: ReplayOptions, source: "pcap" | "pcapng" | "memory" = "memory") {
  const pool = new PacketPool({ count: 256 });
  const clock = new ModelClock();
  const port = new RecordingPort(pool, clock);
  const r =
    source === "memory" ? PcapReplay.fromFrames(capture, opts)
    : await PcapReplay.open(source === "pcap" ? await pcapBytes(capture, { nanosecond: true }) : await pcapngBytes(capture), opts);
  const res = await runPort({ port, pool, clock, streams: [r], drainNs: 0 });
  return { port, r, res };
}

describe("pcap replay in modelled time", () => {
  it("original timing, looped: each loop starts one mean gap after the last frame", async () => {
    const { port, r, res } = await replay({ loops: 2 }, "pcap");
    expect(port.times).toEqual([0, 1e6, 3e6, 4.5e6, 5.5e6, 7.5e6]);
    expect(port.seqs).toEqual([0, 1, -1, 2, 3, -1]);
    expect(r.tracked).toBe(2);
    expect(r.untracked).toBe(2);
    expect(res.streams[0]!.tx).toBe(6);
  });

  it("original timing with speed, from pcapng", async () => {
    const { port } = await replay({ speed: 2 }, "pcapng");
    expect(port.times).toEqual([0, 0.5e6, 1.5e6]);
  });

  it("at a set rate", async () => {
    const { port } = await replay({ mode: "rate", rate: "1kpps", loops: 2 });
    expect(port.times).toEqual([0, 1e6, 2e6, 3e6, 4e6, 5e6]);
  });

  it("as fast as possible: back to back at the line rate", async () => {
    const { port } = await replay({ mode: "fast", lineRate: "1G" });
    const wire = (len: number) => ((len + 4 + 20) * 8 * 1e9) / 1e9;
    expect(port.times[0]).toBe(0);
    expect(port.times[1]).toBeCloseTo(wire(port.lens[0]!), 9);
    expect(port.times[2]).toBeCloseTo(wire(port.lens[0]!) + wire(port.lens[1]!), 9);
  });

  it("without signatures frames go out byte for byte", async () => {
    const pool = new PacketPool({ count: 16 });
    const r = PcapReplay.fromFrames(capture, { signature: false });
    const i = pool.alloc();
    r.emit(pool, i, 0);
    expect(Buffer.from(pool.bytes(i)).equals(Buffer.from(capture[0]!.data))).toBe(true);
  });

  it("reads a capture file from a path and refuses empty or non-Ethernet captures", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trafgen-"));
    try {
      const path = join(dir, "c.pcap");
      await writeFile(path, await pcapBytes(capture));
      const r = await PcapReplay.open(path);
      expect(r.records).toBe(3);
      await writeFile(path, await pcapBytes([]));
      await expect(PcapReplay.open(path)).rejects.toThrow(/no frames/);
      await writeFile(path, await pcapBytes(capture, { linkType: 101 }));
      await expect(PcapReplay.open(path)).rejects.toThrow(/link type 101/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
