/**
 * Worker for pool.threads.test.ts: hammers a shared pool with burst allocs
 * and frees, checks that no other thread touches a buffer it holds, and
 * hands some buffers to the peer through a small SPSC ring to be freed there.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Burst } from "../src/burst.js";
import { PacketPool, type PoolHandle } from "../src/pool.js";

interface Job {
  pool: PoolHandle;
  id: number;
  iterations: number;
  /** Int32Array: [write, read, slots...]; worker 0 produces, worker 1 consumes. */
  ring: SharedArrayBuffer;
  /** Int32Array: [go, done0, done1] */
  sync: SharedArrayBuffer;
}

const job = workerData as Job;
const pool = PacketPool.attach(job.pool);
const ring = new Int32Array(job.ring);
const cap = ring.length - 2;
const sync = new Int32Array(job.sync);
const tag = 0x1000 + job.id;
let seed = 12345 + job.id * 977;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

Atomics.wait(sync, 0, 0); // start together
let clobbered = 0;
let handedOff = 0;
let received = 0;
let allocated = 0;
const burst = new Burst(32);
const held = new Burst(64);
for (let it = 0; it < job.iterations; it++) {
  burst.clear();
  const got = pool.allocBurst(burst, 1 + rand(32));
  allocated += got;
  for (let k = 0; k < got; k++) {
    const i = burst.idx[k]!;
    if (pool.mark[i] !== 0) clobbered++;
    pool.mark[i] = tag;
    pool.data[pool.start(i)] = job.id;
    pool.len[i] = 1;
    if (!held.push(i)) {
      // Held set full: give the rest back now, after checking ownership.
      if (pool.mark[i] !== tag) clobbered++;
      pool.free(i);
    }
  }
  // Release a random prefix of what we hold; worker 0 hands some to worker 1.
  const n = rand(held.count + 1);
  for (let k = 0; k < n; k++) {
    const i = held.idx[k]!;
    if (pool.mark[i] !== tag || pool.data[pool.start(i)] !== job.id) clobbered++;
    if (job.id === 0 && (k & 1) === 0) {
      const w = Atomics.load(ring, 0);
      if (w - Atomics.load(ring, 1) < cap) {
        pool.mark[i] = 0x2000;
        ring[2 + (w % cap)] = i;
        Atomics.store(ring, 0, w + 1);
        handedOff++;
        continue;
      }
    }
    pool.free(i);
  }
  held.shift(n);
  if (job.id === 1) {
    // Free whatever worker 0 handed over.
    const w = Atomics.load(ring, 0);
    let r = Atomics.load(ring, 1);
    while (r < w) {
      const i = ring[2 + (r % cap)]!;
      if (pool.mark[i] !== 0x2000) clobbered++;
      pool.free(i);
      r++;
      received++;
    }
    Atomics.store(ring, 1, r);
  }
}
pool.freeBurst(held);
Atomics.store(sync, 1 + job.id, 1);
if (job.id === 1) {
  // Drain the rest of the handoffs once worker 0 is done.
  while (Atomics.load(sync, 1) === 0) Atomics.wait(sync, 1, 0, 5);
  const w = Atomics.load(ring, 0);
  let r = Atomics.load(ring, 1);
  for (; r < w; r++) {
    const i = ring[2 + (r % cap)]!;
    if (pool.mark[i] !== 0x2000) clobbered++;
    pool.free(i);
    received++;
  }
  Atomics.store(ring, 1, r);
}
parentPort!.postMessage({ clobbered, handedOff, received, allocated });
