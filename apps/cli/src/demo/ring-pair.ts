/**
 * The virtqueue-pair demo: a guest driver and a host backend on two worker
 * threads share one guest memory (a SharedArrayBuffer). The guest sends
 * frames of random sizes (each with a sequence number and a checksum) on its
 * TX queue; the host, vhost-net style, copies every frame out of the guest
 * TX buffer into a host buffer and from there into a posted guest RX buffer;
 * the guest checks every frame that comes back. Both directions use the same
 * ring layout (split or packed), with EVENT_IDX notification suppression:
 * the host polls (it turns kicks off), the guest keeps interrupts on, so the
 * counters show how many interrupts the host would raise.
 */
import { startWorker } from "@nfvio/core";
import { ringFactory, GuestMemory, VIRTIO_F_EVENT_IDX, VIRTIO_F_VERSION_1, type RingPlacement } from "@nfvio/virtio";
import { once } from "node:events";

export type RingKind = "split" | "packed";

/** Shared-memory geometry of one demo run; plain data so it can be posted to workers. */
export interface PairSetup {
  kind: RingKind;
  features: bigint;
  sab: SharedArrayBuffer;
  /** Offset of guest memory in `sab` (the first bytes hold the control words). */
  guestOffset: number;
  guestSize: number;
  gpaBase: number;
  tx: RingPlacement;
  rx: RingPlacement;
  bufBase: number;
  bufSize: number;
  queueSize: number;
  burst: number;
  seed: number;
}

/** Control words at the start of the SharedArrayBuffer (Int32 indices). */
export const CTL_STOP_SENDING = 0;
export const CTL_GUEST_DONE = 1;
/** Set by the main thread once both workers said they are ready: traffic (and the clock) starts. */
export const CTL_GO = 2;
export const CTL_WORDS = 16;

export interface GuestReport {
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  outOfOrder: number;
  corrupt: number;
  kicks: number;
  kicksSuppressed: number;
  seconds: number;
}

export interface HostReport {
  frames: number;
  bytesCopied: number;
  copies: number;
  interrupts: number;
  interruptsSuppressed: number;
  faults: Record<string, number>;
  broken: string | null;
}

export interface PairResult {
  ring: RingKind;
  guest: GuestReport;
  host: HostReport;
  mpps: number;
  gbps: number;
  lost: number;
}

export function pairSetup(kind: RingKind, queueSize = 256, burst = 32, seed = 1): PairSetup {
  const f = ringFactory(kind);
  const features = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | f.features;
  const gpaBase = 0x10_0000;
  const tx = f.place(queueSize, gpaBase);
  const rx = f.place(queueSize, Math.ceil(tx.end / 4096) * 4096);
  const bufBase = Math.ceil(rx.end / 4096) * 4096;
  const bufSize = 2048;
  const guestSize = bufBase - gpaBase + 2 * queueSize * bufSize;
  const guestOffset = 4096;
  const sab = new SharedArrayBuffer(guestOffset + guestSize);
  // Driver-side initial ring state is written once, here, before either worker starts.
  const mem = new GuestMemory([{ gpa: gpaBase, buffer: sab, offset: guestOffset, size: guestSize }]);
  f.driver(mem, tx, features, true);
  f.driver(mem, rx, features, true);
  return { kind, features, sab, guestOffset, guestSize, gpaBase, tx, rx, bufBase, bufSize, queueSize, burst, seed };
}

/** Run the demo for one ring kind: `seconds` of sending, then a drain. */
export async function runPair(kind: RingKind, seconds: number): Promise<PairResult> {
  const setup = pairSetup(kind);
  const url = new URL(`./ring-pair-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);
  const host = startWorker(url, { workerData: { role: "host", setup } });
  const guest = startWorker(url, { workerData: { role: "guest", setup } });
  const ctl = new Int32Array(setup.sab, 0, CTL_WORDS);
  let timer: NodeJS.Timeout | undefined;
  try {
    // Workers load (and, in-repo, transpile) their code first; the measured interval starts when both are ready.
    await Promise.all([once(host, "message"), once(guest, "message")]);
    const guestDone = once(guest, "message") as Promise<[GuestReport]>;
    const hostDone = once(host, "message") as Promise<[HostReport]>;
    Atomics.store(ctl, CTL_GO, 1);
    Atomics.notify(ctl, CTL_GO);
    timer = setTimeout(() => Atomics.store(ctl, CTL_STOP_SENDING, 1), seconds * 1000);
    const [[g], [h]] = await Promise.all([guestDone, hostDone]);
    const mpps = g.received / g.seconds / 1e6;
    const gbps = (g.bytesReceived * 8) / g.seconds / 1e9;
    return { ring: kind, guest: g, host: h, mpps, gbps, lost: g.sent - g.received };
  } finally {
    clearTimeout(timer);
    await Promise.all([host.terminate(), guest.terminate()]);
  }
}
