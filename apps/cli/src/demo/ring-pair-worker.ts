/**
 * Worker side of the virtqueue-pair demo (see ring-pair.ts): role "guest"
 * runs the driver (TX frames out, RX frames checked), role "host" runs the
 * vhost-net style backend (copy TX chain -> host buffer -> RX chain).
 * Every loop here is allocation-free; reports go back once, at the end.
 */
import { parentPort, workerData } from "node:worker_threads";
import { DescChain, GuestMemory, readFromChain, ringFactory, writeToChain, type DeviceQueue, type DriverQueue } from "@nfvio/virtio";
import { CTL_GO, CTL_GUEST_DONE, CTL_STOP_SENDING, CTL_WORDS, type GuestReport, type HostReport, type PairSetup } from "./ring-pair.js";

const { role, setup } = workerData as { role: "guest" | "host"; setup: PairSetup };
const NET_HDR = 12; // VERSION_1 header with num_buffers (virtio 1.2 §5.1.6)
const ETH = 14;
const MIN_FRAME = 60;
const MAX_FRAME = 1514;
const DRAIN_MS = 3000;
/** Idle polls before a thread naps: on a busy 2-core box a spinning peer must not starve the other. */
const SPINS_BEFORE_NAP = 64;
const NAP_MS = 0.05;
/** A control word nobody writes: Atomics.wait on it is a short sleep. */
const CTL_NAP = CTL_WORDS - 1;

const ctl = new Int32Array(setup.sab, 0, CTL_WORDS);
const mem = new GuestMemory([{ gpa: setup.gpaBase, buffer: setup.sab, offset: setup.guestOffset, size: setup.guestSize }]);
const ring = ringFactory(setup.kind);

/**
 * FNV-1a over the frame [from, to): whole 32-bit words first (from is 4-byte
 * aligned), then the tail bytes. Word-wise keeps the check cheap enough that
 * the demo measures the rings and copies, not a byte loop.
 */
function frameHash(w: Int32Array, b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  const wEnd = to >> 2;
  for (let i = from >> 2; i < wEnd; i++) h = Math.imul(h ^ w[i]!, 0x01000193);
  for (let j = wEnd << 2; j < to; j++) h = Math.imul(h ^ b[j]!, 0x01000193);
  return h >>> 0;
}

function runGuest(): GuestReport {
  const tx: DriverQueue = ring.driver(mem, setup.tx, setup.features, false);
  const rx: DriverQueue = ring.driver(mem, setup.rx, setup.features, false);
  const g = mem.regions[0]!.bytes;
  const view = mem.regions[0]!.view;
  const w = new Int32Array(setup.sab, setup.guestOffset, setup.guestSize >> 2);
  const q = setup.queueSize;
  const burst = setup.burst;
  const bufGpa = (i: number) => setup.bufBase + i * setup.bufSize;
  const addrs = new Float64Array(1);
  const lens = new Uint32Array(1);
  const tokens = new Uint32Array(burst);
  const used = new Uint32Array(burst);
  const freeTx = new Uint32Array(q);
  let freeTop = 0;
  for (let i = 0; i < q; i++) freeTx[freeTop++] = i;

  // Post every RX buffer (device-writable, one descriptor each).
  lens[0] = setup.bufSize;
  for (let i = 0; i < q; i++) {
    addrs[0] = bufGpa(q + i);
    rx.add(addrs, lens, 0, 1, q + i);
  }
  rx.publish();

  let rng = setup.seed >>> 0 || 1;
  let seq = 0;
  let expect = 0;
  const r: GuestReport = { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, outOfOrder: 0, corrupt: 0, kicks: 0, kicksSuppressed: 0, seconds: 0 };
  const t0 = performance.now();
  let stopAt = 0;
  let idle = 0;
  for (;;) {
    // Reclaim transmitted buffers.
    const nt = tx.reclaim(tokens, used, burst);
    for (let k = 0; k < nt; k++) freeTx[freeTop++] = tokens[k]!;

    // Send a burst of frames of random sizes.
    const sending = Atomics.load(ctl, CTL_STOP_SENDING) === 0;
    if (sending) {
      let added = 0;
      while (added < burst && freeTop > 0) {
        const i = freeTx[--freeTop]!;
        const off = bufGpa(i) - setup.gpaBase;
        rng ^= rng << 13;
        rng ^= rng >>> 17;
        rng ^= rng << 5;
        const len = MIN_FRAME + ((rng >>> 0) % (MAX_FRAME - MIN_FRAME + 1));
        g.fill(0, off, off + NET_HDR); // no offloads requested
        const f = off + NET_HDR;
        view.setUint32(f, 0x02000000, false); // dst 02:00:00:00:00:02
        view.setUint16(f + 4, 0x0002, false);
        view.setUint32(f + 6, 0x02000000, false); // src 02:00:00:00:00:01
        view.setUint16(f + 10, 0x0001, false);
        view.setUint16(f + 12, 0x88b5, false); // IEEE 802 local experimental EtherType 1
        view.setUint32(f + ETH, seq, true);
        view.setUint16(f + ETH + 4, len, true);
        const p = f + ETH + 6; // 4-byte aligned: buffers are, and NET_HDR + ETH + 6 = 32
        const end = f + len - 4;
        const wEnd = end >> 2;
        const salt = Math.imul(seq, 0x9e3779b1);
        for (let j = p >> 2; j < wEnd; j++) w[j] = salt + j;
        for (let j = wEnd << 2; j < end; j++) g[j] = (seq + j) & 0xff;
        view.setUint32(end, frameHash(w, g, f, end), true);
        addrs[0] = bufGpa(i);
        lens[0] = NET_HDR + len;
        if (!tx.add(addrs, lens, 1, 0, i)) {
          freeTop++;
          break;
        }
        seq = (seq + 1) >>> 0;
        r.sent++;
        r.bytesSent += len;
        added++;
      }
      if (added > 0) {
        if (tx.publish()) r.kicks++;
        else r.kicksSuppressed++;
      }
    } else if (stopAt === 0) {
      stopAt = performance.now();
    }

    // Receive and check.
    const nr = rx.reclaim(tokens, used, burst);
    for (let k = 0; k < nr; k++) {
      const buf = tokens[k]!;
      const off = bufGpa(buf) - setup.gpaBase;
      const f = off + NET_HDR;
      const got = used[k]! - NET_HDR;
      const s = view.getUint32(f + ETH, true);
      const len = view.getUint16(f + ETH + 4, true);
      if (view.getUint16(off + 10, true) !== 1 || len !== got || len < MIN_FRAME || len > MAX_FRAME || view.getUint32(f + len - 4, true) !== frameHash(w, g, f, f + len - 4)) {
        r.corrupt++;
      } else if (s !== expect) {
        r.outOfOrder++;
      }
      expect = (s + 1) >>> 0;
      r.received++;
      r.bytesReceived += got;
      addrs[0] = bufGpa(buf);
      lens[0] = setup.bufSize;
      rx.add(addrs, lens, 0, 1, buf);
    }
    if (nr > 0) rx.publish();

    if (!sending && (r.received >= r.sent || performance.now() - stopAt > DRAIN_MS)) break;
    if (tx.broken || rx.broken) break;
    if (nt === 0 && nr === 0 && ++idle >= SPINS_BEFORE_NAP) {
      idle = 0;
      Atomics.wait(ctl, CTL_NAP, 0, NAP_MS);
    } else if (nt !== 0 || nr !== 0) idle = 0;
  }
  r.seconds = ((stopAt || performance.now()) - t0) / 1000;
  return r;
}

function runHost(): HostReport {
  const txd: DeviceQueue = ring.device(mem, setup.tx, setup.features);
  const rxd: DeviceQueue = ring.device(mem, setup.rx, setup.features);
  txd.setNotify(false); // a polling backend: no kicks needed
  rxd.setNotify(false);
  const burst = setup.burst;
  const txc: DescChain[] = [];
  const rxc: DescChain[] = [];
  for (let i = 0; i < burst; i++) {
    txc.push(new DescChain(setup.queueSize));
    rxc.push(new DescChain(setup.queueSize));
  }
  const host = new Uint8Array(NET_HDR + 65536); // the host-side copy buffer (an skb, in vhost-net)
  let idle = 0;
  const r: HostReport = { frames: 0, bytesCopied: 0, copies: 0, interrupts: 0, interruptsSuppressed: 0, faults: {}, broken: null };
  while (Atomics.load(ctl, CTL_GUEST_DONE) === 0 && !txd.broken && !rxd.broken) {
    let n = txd.pending();
    const room = rxd.pending();
    if (room < n) n = room; // back-pressure: take TX only when an RX buffer waits
    if (n > burst) n = burst;
    if (n === 0) {
      if (++idle >= SPINS_BEFORE_NAP) {
        idle = 0;
        Atomics.wait(ctl, CTL_NAP, 0, NAP_MS);
      }
      continue;
    }
    idle = 0;
    const nt = txd.popBurst(txc, n);
    const nr = rxd.popBurst(rxc, nt);
    for (let i = 0; i < nt; i++) {
      const t = txc[i]!;
      if (i < nr) {
        const len = readFromChain(mem, t, 0, host, 0, host.length);
        host[10] = 1; // num_buffers = 1 (little-endian u16)
        host[11] = 0;
        const w = writeToChain(mem, rxc[i]!, 0, host, 0, len);
        rxd.pushUsed(rxc[i]!, w);
        r.copies += 2;
        r.bytesCopied += len + w;
        r.frames++;
      }
      txd.pushUsed(t, 0);
    }
    if (txd.publishUsed()) r.interrupts++;
    if (nr > 0 && rxd.publishUsed()) r.interrupts++;
  }
  r.interruptsSuppressed = txd.stats.notificationsSuppressed + rxd.stats.notificationsSuppressed;
  for (const q of [txd, rxd]) {
    for (const [k, v] of Object.entries(q.stats.faults)) if (v > 0) r.faults[k] = (r.faults[k] ?? 0) + v;
  }
  r.broken = txd.brokenBy ?? rxd.brokenBy;
  return r;
}

parentPort!.postMessage("ready");
Atomics.wait(ctl, CTL_GO, 0);
if (role === "guest") {
  const report = runGuest();
  Atomics.store(ctl, CTL_GUEST_DONE, 1);
  parentPort!.postMessage(report);
} else {
  parentPort!.postMessage(runHost());
}
