/** Driver side of the transfer harness (see transfer.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { GuestMemory } from "../../src/memory.js";
import { ringFactory } from "../../src/rings.js";
import { frameLength, Pattern, STREAM_START, streamStep } from "./frames.js";
import { CTL_ABORT, CTL_DRIVER_READY, CTL_IRQ, CTL_KICK, type SideReport, type TransferSetup } from "./transfer.js";

const s = workerData as TransferSetup;
const ctl = new Int32Array(s.ctl);
const mem = GuestMemory.fromBuffer(s.memory, 0x1000);
const q = ringFactory(s.kind).driver(mem, s.placement, s.features, true);
q.setNotify(false);
Atomics.store(ctl, CTL_DRIVER_READY, 1);
Atomics.notify(ctl, CTL_DRIVER_READY);

const bytes = mem.regions[0]!.bytes;
const pattern = new Pattern(s.seed);
const useIndirect = s.placement.indirectEntries > 0;
const free: number[] = [];
for (let i = s.buffers - 1; i >= 0; i--) free.push(i);
const addrs = new Float64Array(4);
const lens = new Uint32Array(4);
const tokens = new Uint32Array(s.burst);
const rlens = new Uint32Array(s.burst);
const tokenSeq = new Float64Array(s.buffers);
const r: SideReport = { role: "driver", frames: 0, reclaimed: 0, bytes: 0, streamSum: STREAM_START, errors: 0, firstError: null, waits: 0, timeouts: 0, notified: 0, broken: null, faults: {} };
let nextReclaimSeq = 0;
const deadline = Date.now() + s.deadlineMs;

function kick(): void {
  Atomics.add(ctl, CTL_KICK, 1);
  Atomics.notify(ctl, CTL_KICK);
  r.notified++;
}

function reclaim(): number {
  const n = q.reclaim(tokens, rlens, s.burst);
  for (let k = 0; k < n; k++) {
    const t = tokens[k]!;
    if (tokenSeq[t] !== nextReclaimSeq && r.errors++ === 0) r.firstError = `reclaimed seq ${tokenSeq[t]} expected ${nextReclaimSeq}`;
    nextReclaimSeq++;
    free.push(t);
  }
  r.reclaimed += n;
  return n;
}

function send(): number {
  let added = 0;
  while (added < s.burst && r.frames < s.frames && free.length > 0) {
    const buf = free[free.length - 1]!;
    const seq = r.frames;
    const len = frameLength(s.seed, seq, s.minLen, s.maxLen);
    const gpa = s.bufBase + buf * s.bufStride;
    const [s1, s2] = pattern.write(bytes, gpa - 0x1000, seq, len);
    // Vary the framing: one segment, header split off (14 bytes), or three segments through an indirect table.
    let n = 1;
    let indirect = false;
    if (seq % 5 === 1) {
      addrs[0] = gpa;
      lens[0] = 14;
      addrs[1] = gpa + 14;
      lens[1] = len - 14;
      n = 2;
    } else if (useIndirect && seq % 7 === 3) {
      const a = Math.floor(len / 3);
      addrs[0] = gpa;
      lens[0] = a;
      addrs[1] = gpa + a;
      lens[1] = a;
      addrs[2] = gpa + 2 * a;
      lens[2] = len - 2 * a;
      n = 3;
      indirect = true;
    } else {
      addrs[0] = gpa;
      lens[0] = len;
    }
    if (!q.add(addrs, lens, n, 0, buf, indirect)) break;
    free.pop();
    tokenSeq[buf] = seq;
    r.streamSum = streamStep(r.streamSum, seq, len, s1, s2);
    r.bytes += len;
    r.frames++;
    added++;
  }
  if (added > 0 && q.publish()) kick();
  return added;
}

let idle = 0;
while (r.reclaimed < s.frames) {
  if (q.broken || Atomics.load(ctl, CTL_ABORT) !== 0 || Date.now() > deadline) break;
  const got = reclaim();
  const sent = send();
  if (got + sent > 0) {
    idle = 0;
    continue;
  }
  if (++idle < 64) continue;
  idle = 0;
  // Nothing to do: ask for a used-buffer notification, look once more, then sleep.
  const seen = Atomics.load(ctl, CTL_IRQ);
  q.setNotify(true);
  if (reclaim() === 0) {
    r.waits++;
    if (Atomics.wait(ctl, CTL_IRQ, seen, s.waitMs) === "timed-out") r.timeouts++;
  }
  q.setNotify(false);
}
r.broken = q.brokenBy;
for (const [k, v] of Object.entries(q.stats.faults)) if (v) r.faults[k] = v;
parentPort!.postMessage(r);
