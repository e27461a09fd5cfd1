/**
 * One side of the two-thread packed ring test (see packed-threads.test.ts).
 *
 * Roles:
 * - "tx-driver": writes frames (sequence number, length, checksum, xorshift
 *   payload) into buffers from its pool and makes them available, split
 *   four ways: one descriptor, header + data, three descriptors, or an
 *   indirect table; reclaims used buffers back into the pool.
 * - "tx-device": pops frames, checks sequence, layout and checksum, returns
 *   the buffers, every other burst in reverse order.
 * - "rx-driver": posts device-writable buffers, checks the frames the device
 *   wrote (sequence, used length, checksum) when it reclaims them.
 * - "rx-device": writes frames into the posted buffers and returns them used
 *   with the frame length.
 *
 * Notifications go through the ring's event suppression: a side with
 * nothing to do enables notifications, re-checks the ring, then sleeps on a
 * doorbell (Atomics.wait) that the peer rings only when publish()/
 * publishUsed() says so. A sleep that times out while work was waiting is a
 * lost wakeup and is reported.
 */
import { parentPort, workerData } from "node:worker_threads";
import { GuestMemory } from "../src/memory.js";
import { PackedDevice, PackedDriver } from "../src/packed.js";
import type { DescChain } from "../src/queue.js";

export interface ThreadsConfig {
  role: "tx-driver" | "tx-device" | "rx-driver" | "rx-device";
  sab: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  base: number;
  size: number;
  descAddr: number;
  driverEventAddr: number;
  deviceEventAddr: number;
  indirectAddr: number;
  indirectEntries: number;
  bufAddr: number;
  bufStride: number;
  frames: number;
  features: bigint;
  inOrderBatch: boolean;
  seed: number;
}

export interface ThreadsResult {
  role: string;
  frames: number;
  errors: number;
  firstError: string;
  hash: number;
  bytes: number;
  notifications: number;
  suppressed: number;
  lostWakeups: number;
  sleeps: number;
  broken: string | null;
  ms: number;
}

/** Doorbells in `ctrl`: the driver rings KICK, the device rings IRQ. */
const KICK = 0;
const IRQ = 1;
const WAIT_MS = 2000;
/** Empty polls before a side goes to sleep (adaptive polling keeps wakeups rare). */
const SPIN = 200;

const cfg = workerData as ThreadsConfig;
const mem = new GuestMemory([{ gpa: cfg.base, buffer: cfg.sab }]);
const region = mem.regions[0]!;
const words = new Uint32Array(cfg.sab);
const bytes = new Uint8Array(cfg.sab);
const ctrl = new Int32Array(cfg.ctrl);
const hostOf = (gpa: number): number => gpa - cfg.base;

/** Frame length for a sequence number: 60..1514, spread by a multiplicative hash. */
function frameLen(seq: number, seed: number): number {
  const h = Math.imul(seq ^ seed, 0x9e37_79b1) >>> 0;
  return 60 + (h % 1455);
}

/**
 * Write frame `seq` of `len` bytes at host byte offset `off` (4-aligned):
 * [seq u32][len u32][checksum u32][payload]. Returns the checksum.
 */
function writeFrame(off: number, seq: number, len: number): number {
  const w = off >>> 2;
  let x = (seq * 2654435761 + cfg.seed) | 1;
  const payloadWords = (len - 12 + 3) >>> 2;
  for (let i = 0; i < payloadWords; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[w + 3 + i] = x;
  }
  const h = checksum(off + 12, len - 12);
  words[w] = seq;
  words[w + 1] = len;
  words[w + 2] = h;
  return h;
}

/** FNV-style hash over `len` bytes at host offset `off` (4-aligned): whole words, then the tail bytes. */
function checksum(off: number, len: number): number {
  const w0 = off >>> 2;
  const nw = len >>> 2;
  let h = 0x811c_9dc5;
  for (let i = 0; i < nw; i++) h = Math.imul(h ^ words[w0 + i]!, 0x0100_0193);
  for (let i = nw * 4; i < len; i++) h = Math.imul(h ^ bytes[off + i]!, 0x0100_0193);
  return h >>> 0;
}

function sleepOn(slot: number, seen: number): boolean {
  return Atomics.wait(ctrl, slot, seen, WAIT_MS) === "timed-out";
}

function ring(slot: number): void {
  Atomics.add(ctrl, slot, 1);
  Atomics.notify(ctrl, slot);
}

function newResult(role: string): ThreadsResult {
  return { role, frames: 0, errors: 0, firstError: "", hash: 0, bytes: 0, notifications: 0, suppressed: 0, lostWakeups: 0, sleeps: 0, broken: null, ms: 0 };
}

function error(res: ThreadsResult, msg: string): void {
  if (res.errors++ === 0) res.firstError = msg;
}

function makeDriver(): PackedDriver {
  return new PackedDriver(mem, cfg.size, cfg.descAddr, cfg.driverEventAddr, cfg.deviceEventAddr, cfg.features, {
    indirectAddr: cfg.indirectAddr,
    indirectEntries: cfg.indirectEntries,
    init: false,
  });
}

function makeDevice(): PackedDevice {
  return new PackedDevice(mem, cfg.size, cfg.descAddr, cfg.driverEventAddr, cfg.deviceEventAddr, cfg.features, {
    inOrderBatch: cfg.inOrderBatch,
    init: false,
  });
}

/** Driver side common loop: `fill(seq, buf)` adds one buffer; `take(token, len)` handles a reclaimed one. */
function driverLoop(res: ThreadsResult, fill: (drv: PackedDriver, seq: number, buf: number) => boolean, take: (token: number, len: number) => void): PackedDriver {
  const drv = makeDriver();
  const free = new Int32Array(cfg.size);
  let nFree = cfg.size;
  for (let i = 0; i < cfg.size; i++) free[i] = cfg.size - 1 - i;
  const tokens = new Uint32Array(64);
  const lens = new Uint32Array(64);
  let seq = 0;
  let done = 0;
  let idle = 0;
  while (done < cfg.frames) {
    let progressed = false;
    const n = drv.reclaim(tokens, lens, 64);
    for (let i = 0; i < n; i++) {
      take(tokens[i]!, lens[i]!);
      free[nFree++] = tokens[i]!;
    }
    done += n;
    if (n > 0) progressed = true;
    let added = 0;
    while (added < 32 && seq < cfg.frames && nFree > 0) {
      const buf = free[nFree - 1]!;
      if (!fill(drv, seq, buf)) break;
      nFree--;
      seq++;
      added++;
    }
    if (added > 0) {
      progressed = true;
      if (drv.publish()) ring(KICK);
    }
    if (drv.broken) break;
    if (progressed) idle = 0;
    else if (++idle >= SPIN) {
      idle = 0;
      const seen = Atomics.load(ctrl, IRQ);
      drv.setNotify(true);
      const more = drv.reclaim(tokens, lens, 64);
      if (more > 0) {
        for (let i = 0; i < more; i++) {
          take(tokens[i]!, lens[i]!);
          free[nFree++] = tokens[i]!;
        }
        done += more;
      } else {
        res.sleeps++;
        if (sleepOn(IRQ, seen)) {
          // Timed out: was a used buffer waiting all along? Then a notification was lost.
          const peek = drv.reclaim(tokens, lens, 64);
          if (peek > 0) res.lostWakeups++;
          for (let i = 0; i < peek; i++) {
            take(tokens[i]!, lens[i]!);
            free[nFree++] = tokens[i]!;
          }
          done += peek;
        }
      }
      drv.setNotify(false);
    }
  }
  res.notifications = drv.stats.notifications;
  res.suppressed = drv.stats.notificationsSuppressed;
  res.broken = drv.brokenBy;
  return drv;
}

/** Device side common loop: `serve(chain)` handles one popped chain (in ring order) and returns the bytes written. */
function deviceLoop(res: ThreadsResult, serve: (chain: DescChain) => number): void {
  const dev = makeDevice();
  const chains = PackedDevice.chains(32, 8);
  const written = new Uint32Array(32);
  // Out-of-order completion across threads, except where VIRTIO_F_IN_ORDER forbids it (§2.8.8).
  const mayReorder = (cfg.features & (1n << 35n)) === 0n;
  let burst = 0;
  let idle = 0;
  while (res.frames < cfg.frames) {
    const n = dev.popBurst(chains, 32);
    if (n > 0) {
      idle = 0;
      for (let k = 0; k < n; k++) written[k] = serve(chains[k]!);
      const reverse = mayReorder && (burst++ & 1) === 1;
      for (let k = 0; k < n; k++) {
        const i = reverse ? n - 1 - k : k;
        dev.pushUsed(chains[i]!, written[i]!);
      }
      res.frames += n;
      if (dev.publishUsed()) ring(IRQ);
      continue;
    }
    if (dev.broken) break;
    if (++idle < SPIN) continue;
    idle = 0;
    const seen = Atomics.load(ctrl, KICK);
    dev.setNotify(true);
    if (dev.pending() === 0) {
      res.sleeps++;
      if (sleepOn(KICK, seen) && dev.pending() > 0) res.lostWakeups++;
    }
    dev.setNotify(false);
  }
  res.notifications = dev.stats.notifications;
  res.suppressed = dev.stats.notificationsSuppressed;
  res.broken = dev.brokenBy;
}

function txDriver(): ThreadsResult {
  const res = newResult(cfg.role);
  const addrs = new Float64Array(4);
  const lens = new Uint32Array(4);
  const fill = (drv: PackedDriver, seq: number, buf: number): boolean => {
    const gpa = cfg.bufAddr + buf * cfg.bufStride;
    const len = frameLen(seq, cfg.seed);
    const mode = seq & 3;
    // Split one contiguous frame into 1, 2 or 3 readable elements, or an indirect table of 2.
    let nOut = 1;
    addrs[0] = gpa;
    if (mode === 0) lens[0] = len;
    else if (mode === 1 || mode === 3) {
      lens[0] = 12;
      addrs[1] = gpa + 12;
      lens[1] = len - 12;
      nOut = 2;
    } else {
      const cut = 12 + ((seq >>> 2) % (len - 24));
      lens[0] = 12;
      addrs[1] = gpa + 12;
      lens[1] = cut - 12;
      addrs[2] = gpa + cut;
      lens[2] = len - cut;
      nOut = 3;
    }
    if (drv.freeDescriptors < (mode === 3 ? 1 : nOut)) return false;
    const h = writeFrame(hostOf(gpa), seq, len);
    if (!drv.add(addrs, lens, nOut, 0, buf, mode === 3)) return false;
    res.hash = (Math.imul(res.hash, 31) + h) | 0;
    res.bytes += len;
    res.frames++;
    return true;
  };
  const t0 = performance.now();
  driverLoop(res, fill, (_token, len) => {
    if (len !== 0) error(res, `tx used len ${len}, want 0`);
  });
  res.ms = performance.now() - t0;
  return res;
}

function txDevice(): ThreadsResult {
  const res = newResult(cfg.role);
  let expect = 0;
  const t0 = performance.now();
  deviceLoop(res, (c) => {
    if (c.writeBytes !== 0 || c.readable !== c.count) error(res, `seq ${expect}: writable elements in a tx buffer`);
    // Elements must tile the frame contiguously.
    let total = 0;
    for (let k = 0; k < c.count; k++) {
      if (c.addr[k] !== c.addr[0]! + total) error(res, `seq ${expect}: element ${k} not contiguous`);
      total += c.len[k]!;
    }
    const off = c.offset[0]! + region.bytes.byteOffset;
    const w = off >>> 2;
    const seq = words[w]!;
    const len = words[w + 1]!;
    const sum = words[w + 2]!;
    if (seq !== expect) error(res, `got seq ${seq}, want ${expect}`);
    if (len !== total) error(res, `seq ${seq}: header length ${len}, elements ${total}`);
    else if (len !== frameLen(seq, cfg.seed)) error(res, `seq ${seq}: length ${len}`);
    const h = checksum(off + 12, Math.min(len, total) - 12);
    if (h !== sum) error(res, `seq ${seq}: checksum ${h} != ${sum}`);
    res.hash = (Math.imul(res.hash, 31) + h) | 0;
    res.bytes += total;
    expect++;
    return 0;
  });
  res.ms = performance.now() - t0;
  return res;
}

function rxDriver(): ThreadsResult {
  const res = newResult(cfg.role);
  const addrs = new Float64Array(2);
  const lens = new Uint32Array(2);
  let expect = 0;
  let posted = 0;
  const fill = (drv: PackedDriver, _seq: number, buf: number): boolean => {
    const gpa = cfg.bufAddr + buf * cfg.bufStride;
    // A 12-byte header element and a data element, device-writable; every fourth as an indirect table.
    addrs[0] = gpa;
    lens[0] = 12;
    addrs[1] = gpa + 12;
    lens[1] = cfg.bufStride - 12;
    const indirect = (posted & 3) === 3;
    if (!drv.add(addrs, lens, 0, 2, buf, indirect)) return false;
    posted++;
    return true;
  };
  const take = (token: number, len: number): void => {
    const off = hostOf(cfg.bufAddr + token * cfg.bufStride);
    const w = off >>> 2;
    const seq = words[w]!;
    const flen = words[w + 1]!;
    const sum = words[w + 2]!;
    if (seq !== expect) error(res, `got seq ${seq}, want ${expect}`);
    if (flen !== len || len !== frameLen(seq, cfg.seed)) error(res, `seq ${seq}: used len ${len}, header ${flen}`);
    const h = checksum(off + 12, Math.min(len, cfg.bufStride) - 12);
    if (h !== sum) error(res, `seq ${seq}: checksum ${h} != ${sum}`);
    res.hash = (Math.imul(res.hash, 31) + h) | 0;
    res.bytes += len;
    res.frames++;
    expect++;
  };
  const t0 = performance.now();
  driverLoop(res, fill, take);
  res.ms = performance.now() - t0;
  return res;
}

function rxDevice(): ThreadsResult {
  const res = newResult(cfg.role);
  let seq = 0;
  const t0 = performance.now();
  deviceLoop(res, (c) => {
    if (c.readable !== 0 || c.count !== 2 || c.len[0] !== 12 || c.addr[1] !== c.addr[0]! + 12) {
      error(res, `seq ${seq}: unexpected rx buffer layout`);
      return 0;
    }
    const len = frameLen(seq, cfg.seed);
    if (len > c.writeBytes) {
      error(res, `seq ${seq}: buffer too small`);
      return 0;
    }
    const h = writeFrame(c.offset[0]! + region.bytes.byteOffset, seq, len);
    res.hash = (Math.imul(res.hash, 31) + h) | 0;
    res.bytes += len;
    seq++;
    return len;
  });
  res.ms = performance.now() - t0;
  return res;
}

const run = { "tx-driver": txDriver, "tx-device": txDevice, "rx-driver": rxDriver, "rx-device": rxDevice }[cfg.role];
parentPort!.postMessage(run());
