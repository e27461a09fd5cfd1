// The `vnf` datapath of the vhost-user back-end, driven by the virtio-user
// front-end in the same process: frames go through a frame processor (a
// tiny macswap-like one here, shaped like @nfvio/vnf's Vnf), come back
// processed byte-exact, drops are counted by the processor, originated
// frames (outbox) are delivered, and VNF port k maps to queue pair k mod N.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { VhostUserNetDevice } from "../src/vhost-user/net.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import type { FrameBurst, FrameProcessor } from "../src/vhost-user/vnf-device.js";
import { capturingLogger, linux } from "./vhost-user-helpers.js";

let n = 0;
const sockPath = (): string => join(tmpdir(), `nfvio-vnf-${process.pid}-${n++}.sock`);
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function frame(len: number, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  return f;
}

const swapped = (f: Uint8Array): number[] => [...f.subarray(6, 12), ...f.subarray(0, 6), ...f.subarray(12)];

/**
 * Swap MACs; forward out of `out(port)`; drop every `dropEvery`-th frame
 * (reason counted). Optionally originate one copy of every `echoEvery`-th
 * frame into an outbox on port 0.
 */
class TestProcessor implements FrameProcessor {
  rx = 0;
  tx = 0;
  drops: Record<string, number> = {};
  ports = new Set<number>();
  readonly outbox: { burst: FrameBurst; count: number; clear(): void } | null;
  private readonly obBytes = new Uint8Array(4 * 2048);
  constructor(
    readonly portCount: number,
    private readonly out: (port: number) => number,
    private readonly dropEvery = 0,
    private readonly originateEvery = 0,
  ) {
    const ob = this.obBytes;
    this.outbox = originateEvery > 0
      ? { burst: { bufs: [ob, ob, ob, ob], offsets: Uint32Array.of(0, 2048, 4096, 6144), lengths: new Uint32Array(4), ports: new Uint16Array(4) }, count: 0, clear() { this.count = 0; } }
      : null;
  }
  process(b: FrameBurst, n: number, verdicts: Int32Array): number {
    let fwd = 0;
    for (let i = 0; i < n; i++) {
      this.rx++;
      this.ports.add(b.ports[i]!);
      if (this.dropEvery > 0 && this.rx % this.dropEvery === 0) {
        verdicts[i] = -3;
        this.drops["test-drop"] = (this.drops["test-drop"] ?? 0) + 1;
        continue;
      }
      const buf = b.bufs[i]!;
      const o = b.offsets[i]!;
      for (let k = 0; k < 6; k++) {
        const t = buf[o + k]!;
        buf[o + k] = buf[o + 6 + k]!;
        buf[o + 6 + k] = t;
      }
      verdicts[i] = this.out(b.ports[i]!);
      fwd++;
      const ob = this.outbox;
      if (ob && this.rx % this.originateEvery === 0 && ob.count < 4) {
        const at = ob.burst.offsets[ob.count]!;
        const len = b.lengths[i]!;
        this.obBytes.set(buf.subarray(o, o + len), at);
        this.obBytes[at + 13] = 0xee; // mark
        ob.burst.lengths[ob.count] = len;
        ob.burst.ports[ob.count] = 0;
        ob.count++;
      }
    }
    this.tx += fwd;
    return fwd;
  }
}

/**
 * Send `count` copies of `f` per pair (listed pairs only), receiving on every
 * pair until `done()`; at most 64 frames neither received nor `dropped()` in flight.
 */
async function pump(fe: VirtioUserFrontend, f: Uint8Array, count: number, sendOn: number[], onFrame: (g: Uint8Array, pair: number) => void, done: () => boolean, dropped: () => number = () => 0): Promise<void> {
  const sent = fe.pairs.map(() => 0);
  let received = 0;
  const total = (): number => sent.reduce((a, b) => a + b, 0);
  await new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const turn = (): void => {
      fe.pairs.forEach((p, i) => {
        p.reclaimTx();
        if (sendOn.includes(i)) {
          while (sent[i]! < count && total() - received - dropped() < 64 && p.send(f)) sent[i]!++;
          p.flush();
        }
        received += p.receive((g) => onFrame(g, i), 256);
      });
      const allSent = sendOn.every((i) => sent[i]! >= count) && fe.pairs.every((p) => p.txInFlight === 0);
      if (allSent && done()) resolve();
      else if (Date.now() - t0 > 15000) reject(new Error(`pump timed out: sent ${sent.join(",")}`));
      else setImmediate(turn);
    };
    turn();
  });
}

describe.runIf(linux)("vhost-user back-end: vnf datapath", () => {
  function serve(pairs: number, processor: FrameProcessor, extra: { vnfSlotSize?: number } = {}) {
    const path = sockPath();
    const logs = capturingLogger();
    const device = new VhostUserNetDevice({ mode: "vnf", processor, queuePairs: pairs, log: logs.log, ...extra });
    const server = new VhostUserServer({ path, device, log: logs.log });
    server.start();
    cleanups.push(() => server.close());
    return { path, device, logs };
  }

  it("refuses mode vnf without a processor, and a processor in another mode", () => {
    expect(() => new VhostUserNetDevice({ mode: "vnf" })).toThrow(/needs a processor/);
    expect(() => new VhostUserNetDevice({ mode: "echo", processor: new TestProcessor(1, (p) => p) })).toThrow(/only used in mode "vnf"/);
  });

  for (const packed of [false, true]) {
    const ring = packed ? "packed" : "split";

    it(`frames come back processed byte-exact on the same pair; drops are the processor's (${ring})`, async () => {
      const proc = new TestProcessor(1, (p) => p, 4);
      const { path, device, logs } = serve(1, proc);
      const fe = await VirtioUserFrontend.connect({ path, packed });
      cleanups.push(() => fe.close());
      const f = frame(128, 3);
      const want = swapped(f);
      let ok = 0;
      let bad = 0;
      await pump(fe, f, 1000, [0], (g) => {
        if (g.length === 128 && g.every((b, k) => b === want[k])) ok++;
        else bad++;
      }, () => ok + bad >= 750, () => proc.rx - proc.tx);
      expect(bad).toBe(0);
      expect(ok).toBe(750);
      expect(proc.rx).toBe(1000);
      expect(proc.tx).toBe(750);
      expect(proc.drops).toEqual({ "test-drop": 250 });
      expect([...proc.ports]).toEqual([0]);
      const c = device.counters();
      expect(c.map((q) => [q.direction, q.frames, q.bytes])).toEqual([
        ["rx", 750, 750 * 128],
        ["tx", 1000, 1000 * 128],
      ]);
      expect(c.every((q) => Object.keys(q.errors).length === 0)).toBe(true);
      expect(logs.warnings()).toEqual([]);
    });
  }

  it("merges receive buffers for long frames (MRG_RXBUF) and counts frames longer than a scratch slot", async () => {
    const proc = new TestProcessor(1, (p) => p);
    const { path, device } = serve(1, proc, { vnfSlotSize: 1024 });
    const fe = await VirtioUserFrontend.connect({ path, rxBufferSize: 512 });
    cleanups.push(() => fe.close());
    const f = frame(1000, 9);
    const want = swapped(f);
    let ok = 0;
    await pump(fe, f, 100, [0], (g) => {
      if (g.length === 1000 && g.every((b, k) => b === want[k])) ok++;
    }, () => ok === 100);
    expect(ok).toBe(100);
    const long = frame(1100);
    await pump(fe, long, 5, [0], () => undefined, () => true, () => 5);
    const c = device.counters();
    expect(c[1]).toMatchObject({ frames: 100, errors: { frame_too_long: 5 } });
    expect(proc.rx).toBe(100);
  });

  it("a 2-port processor: port k goes to queue pair k mod N (pair 0 -> port 0 -> out port 1 -> pair 1)", async () => {
    const proc = new TestProcessor(2, (p) => p ^ 1);
    const { path, device } = serve(2, proc);
    const fe = await VirtioUserFrontend.connect({ path, queuePairs: 2, packed: true });
    cleanups.push(() => fe.close());
    const f = frame(64, 1);
    const want = swapped(f);
    const got = [0, 0];
    let bad = 0;
    await pump(fe, f, 300, [0], (g, i) => {
      got[i]!++;
      if (!g.every((b, k) => b === want[k])) bad++;
    }, () => got[1] === 300);
    expect(got).toEqual([0, 300]);
    expect(bad).toBe(0);
    expect([...proc.ports]).toEqual([0]);
    expect(device.counters().map((q) => q.frames)).toEqual([0, 300, 300, 0]);
  });

  it("delivers what the processor originates (outbox) and clears it", async () => {
    const proc = new TestProcessor(1, (p) => p, 0, 10);
    const { path } = serve(1, proc);
    const fe = await VirtioUserFrontend.connect({ path });
    cleanups.push(() => fe.close());
    const f = frame(80, 5);
    let normal = 0;
    let originated = 0;
    await pump(fe, f, 200, [0], (g) => {
      if (g[13] === 0xee) originated++;
      else normal++;
    }, () => normal === 200 && originated === 20, () => -originated);
    expect(proc.outbox!.count).toBe(0);
  });
});
