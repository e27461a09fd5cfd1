/** Device side of the transfer harness (see transfer.ts): checks every frame and returns it used. */
import { parentPort, workerData } from "node:worker_threads";
import { GuestMemory } from "../../src/memory.js";
import { DescChain } from "../../src/queue.js";
import { ringFactory } from "../../src/rings.js";
import { frameLength, HEADER, rd32, STREAM_START, streamStep } from "./frames.js";
import { CTL_ABORT, CTL_DRIVER_READY, CTL_IRQ, CTL_KICK, type SideReport, type TransferSetup } from "./transfer.js";

const s = workerData as TransferSetup;
const ctl = new Int32Array(s.ctl);
while (Atomics.load(ctl, CTL_DRIVER_READY) === 0) Atomics.wait(ctl, CTL_DRIVER_READY, 0, 100);
const mem = GuestMemory.fromBuffer(s.memory, 0x1000);
const q = ringFactory(s.kind).device(mem, s.placement, s.features);
q.setNotify(false);
const chains: DescChain[] = [];
for (let i = 0; i < s.burst; i++) chains.push(new DescChain(s.placement.size));
const head = new Uint8Array(HEADER);
const r: SideReport = { role: "device", frames: 0, reclaimed: 0, bytes: 0, streamSum: STREAM_START, errors: 0, firstError: null, waits: 0, timeouts: 0, notified: 0, broken: null, faults: {} };
const deadline = Date.now() + s.deadlineMs;

function bad(msg: string): void {
  if (r.errors++ === 0) r.firstError = msg;
}

/** Check one frame across its segments; the header may itself be split. */
function check(c: DescChain): void {
  const seq = r.frames;
  let s1 = 0;
  let s2 = 0;
  let at = 0;
  for (let i = 0; i < c.readable; i++) {
    const b = mem.regions[c.region[i]!]!.bytes;
    const o = c.offset[i]!;
    const n = c.len[i]!;
    let k = 0;
    for (; k < n && at < HEADER; k++, at++) head[at] = b[o + k]!;
    // Payload position p = at - HEADER.
    const base = at - HEADER - k;
    for (; k < n; k++) {
      const v = b[o + k]!;
      s1 += v;
      s2 += (base + k) * v;
    }
    at = base + HEADER + n;
  }
  const want = frameLength(s.seed, seq, s.minLen, s.maxLen);
  if (c.writeBytes !== 0) bad(`frame ${seq} has ${c.writeBytes} writable bytes`);
  if (c.readBytes !== want) bad(`frame ${seq}: ${c.readBytes} bytes, expected ${want}`);
  if (rd32(head, 0) !== seq) bad(`frame ${seq}: carries seq ${rd32(head, 0)}`);
  if (rd32(head, 4) !== c.readBytes) bad(`frame ${seq}: header length ${rd32(head, 4)} vs ${c.readBytes} bytes`);
  if (rd32(head, 8) !== s1 >>> 0 || rd32(head, 12) !== s2 >>> 0) bad(`frame ${seq}: checksum mismatch`);
  r.streamSum = streamStep(r.streamSum, rd32(head, 0), rd32(head, 4), s1, s2);
  r.bytes += c.readBytes;
  r.frames++;
}

let idle = 0;
while (r.frames < s.frames) {
  if (q.broken || Atomics.load(ctl, CTL_ABORT) !== 0 || Date.now() > deadline) break;
  const n = q.popBurst(chains, s.burst);
  if (n > 0) {
    for (let i = 0; i < n; i++) {
      check(chains[i]!);
      q.pushUsed(chains[i]!, 0);
    }
    if (q.publishUsed()) {
      Atomics.add(ctl, CTL_IRQ, 1);
      Atomics.notify(ctl, CTL_IRQ);
      r.notified++;
    }
    idle = 0;
    continue;
  }
  if (++idle < 64) continue;
  idle = 0;
  // Ring empty: ask for a kick, look once more, then sleep.
  const seen = Atomics.load(ctl, CTL_KICK);
  q.setNotify(true);
  if (q.pending() === 0) {
    r.waits++;
    if (Atomics.wait(ctl, CTL_KICK, seen, s.waitMs) === "timed-out") r.timeouts++;
  }
  q.setNotify(false);
}
r.broken = q.brokenBy;
for (const [k, v] of Object.entries(q.stats.faults)) if (v) r.faults[k] = v;
parentPort!.postMessage(r);
