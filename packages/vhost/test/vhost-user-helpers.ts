// Shared by the vhost-user back-end and front-end tests: a scripted front-end
// speaking the codec directly (so tests can send anything, hostile or not),
// guest memory in memfds, and a back-end session over a socketpair.
import { readdirSync } from "node:fs";
import { GuestMemory, ringFactory, VIRTIO_F_EVENT_IDX, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, type DriverQueue, type RingPlacement } from "@nfvio/virtio";
import * as sys from "../src/sys/index.js";
import { FrontendChannel } from "../src/vhost-user/channel.js";
import type { Logger, LogLevel } from "../src/vhost-user/device.js";
import { VhostUserNetDevice, type NetDeviceOptions } from "../src/vhost-user/net.js";
import { featureMask, ProtocolFeature, VHOST_USER_F_PROTOCOL_FEATURES, type FrontendReplyBody, type FrontendRequestBodies, type FrontendRequestName, type MemoryRegion } from "../src/vhost-user/protocol.js";
import { VhostUserSession } from "../src/vhost-user/session.js";

export const linux = process.platform === "linux" && process.arch === "x64";
export const PROTOCOL_BIT = 1n << BigInt(VHOST_USER_F_PROTOCOL_FEATURES);
export const REPLY_ACK = featureMask(ProtocolFeature.REPLY_ACK);

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until `cond()` holds, polling the event loop; false on timeout. */
export async function until(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** Open descriptors of this process (for leak checks). */
export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** A logger that keeps every line. */
export function capturingLogger(): { log: Logger; lines: string[]; warnings: () => string[] } {
  const lines: string[] = [];
  return {
    log: (level: LogLevel, message: string) => lines.push(`${level}: ${message}`),
    lines,
    warnings: () => lines.filter((l) => l.startsWith("warn") || l.startsWith("error")),
  };
}

/** Guest memory in one memfd: the descriptor (caller closes), our mapping, and a region description for it. */
export interface TestRegion {
  fd: number;
  mapping: sys.Mapping;
  region: MemoryRegion;
  gpa: number;
  size: number;
}

export function makeRegion(gpa: number, size: number, fileSize = size): TestRegion {
  const fd = sys.memfdCreate("test-guest");
  sys.ftruncate(fd, fileSize);
  const mapping = sys.mmap(fd, size);
  return { fd, mapping, gpa, size, region: { guestAddr: BigInt(gpa), size: BigInt(size), userAddr: mapping.address, mmapOffset: 0n } };
}

/** A front-end driven by the test: the codec over a socket, nothing checked on our side. */
export class ScriptedFrontend {
  readonly ch: FrontendChannel;
  constructor(fd: number) {
    this.ch = new FrontendChannel(fd);
  }
  send<K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds: readonly number[] = [], needReply = false): void {
    this.ch.send(name, body, fds, { needReply });
  }
  raw(bytes: Uint8Array, fds: readonly number[] = []): void {
    sys.sendMessage(this.ch.fd, bytes, fds);
  }
  reply<K extends FrontendRequestName>(name: K, timeoutMs = 2000): Promise<FrontendReplyBody<K>> {
    return this.ch.reply(name, timeoutMs);
  }
  request<K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds: readonly number[] = [], needReply = false): Promise<FrontendReplyBody<K>> {
    this.send(name, body, fds, needReply);
    return this.reply(name);
  }
  /** Resolves true once the back-end has closed the connection. */
  closedByPeer(timeoutMs = 2000): Promise<boolean> {
    return until(() => this.ch.closed, timeoutMs);
  }
  close(): void {
    this.ch.close();
  }
}

/** A back-end session (net device) over one end of a socketpair, a scripted front-end on the other. */
export function sessionPair(deviceOptions: NetDeviceOptions = {}): { session: VhostUserSession; device: VhostUserNetDevice; fe: ScriptedFrontend; logs: ReturnType<typeof capturingLogger>; closed: string[] } {
  const [a, b] = sys.socketPair();
  const logs = capturingLogger();
  const device = new VhostUserNetDevice({ log: logs.log, ...deviceOptions });
  const closed: string[] = [];
  const session = new VhostUserSession(b, device, { log: logs.log, name: "test", onClose: (r) => closed.push(r) });
  session.start();
  return { session, device, fe: new ScriptedFrontend(a), logs, closed };
}

export interface Negotiated {
  features: bigint;
  protocol: bigint;
}

/** SET_OWNER, features, protocol features (with REPLY_ACK when `ack`). */
export async function negotiate(fe: ScriptedFrontend, opts: { ack?: boolean; packed?: boolean; mrg?: boolean } = {}): Promise<Negotiated> {
  fe.send("SET_OWNER", null);
  const offered = await fe.request("GET_FEATURES", null);
  const po = await fe.request("GET_PROTOCOL_FEATURES", null);
  const protocol = po & (featureMask(ProtocolFeature.MQ) | (opts.ack ? REPLY_ACK : 0n));
  fe.send("SET_PROTOCOL_FEATURES", protocol);
  const features = offered & (VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | PROTOCOL_BIT | (opts.mrg === false ? 0n : VIRTIO_NET_F_MRG_RXBUF) | (opts.packed ? VIRTIO_F_RING_PACKED : 0n));
  fe.send("SET_FEATURES", features);
  return { features, protocol };
}

/** A full driver-side set-up of one queue pair over one region, done by hand through the scripted front-end. */
export interface HandRings {
  region: TestRegion;
  mem: GuestMemory;
  placements: RingPlacement[];
  drivers: DriverQueue[];
  kicks: number[];
  calls: number[];
  errs: number[];
  bufBase: number;
}

export async function handSetup(fe: ScriptedFrontend, n: Negotiated, opts: { size?: number; gpa?: number } = {}): Promise<HandRings> {
  const size = opts.size ?? 64;
  const gpa = opts.gpa ?? 0x10_0000;
  const packed = (n.features & VIRTIO_F_RING_PACKED) !== 0n;
  const kind = ringFactory(packed ? "packed" : "split");
  const placements = [kind.place(size, gpa), kind.place(size, gpa + 0x4000)];
  const region = makeRegion(gpa, 0x10_0000);
  const mem = new GuestMemory([{ gpa, buffer: region.mapping.buffer }]);
  const ack = (n.protocol & REPLY_ACK) !== 0n;
  const acked = async <K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds: number[] = []): Promise<void> => {
    fe.send(name, body, fds, ack);
    if (ack) {
      const r = await fe.reply(name);
      if (r !== 0n) throw new Error(`${name} refused`);
    }
  };
  await acked("SET_MEM_TABLE", { regions: [region.region] }, [region.fd]);
  sys.close(region.fd);
  const ua = (g: number): bigint => region.mapping.address + BigInt(g - gpa);
  const drivers: DriverQueue[] = [];
  const kicks: number[] = [];
  const calls: number[] = [];
  const errs: number[] = [];
  for (let i = 0; i < 2; i++) {
    const p = placements[i]!;
    drivers.push(kind.driver(mem, p, n.features, true));
    const kick = sys.eventfd(0);
    const call = sys.eventfd(0);
    const err = sys.eventfd(0);
    kicks.push(kick);
    calls.push(call);
    errs.push(err);
    await acked("SET_VRING_NUM", { index: i, num: size });
    await acked("SET_VRING_BASE", { index: i, num: packed ? 0x8000 : 0 });
    await acked("SET_VRING_ADDR", { index: i, flags: 0, desc: ua(p.descArea), avail: ua(p.driverArea), used: ua(p.deviceArea), log: 0n });
    await acked("SET_VRING_CALL", { index: i, noFd: false }, [call]);
    await acked("SET_VRING_ERR", { index: i, noFd: false }, [err]);
    await acked("SET_VRING_KICK", { index: i, noFd: false }, [kick]);
    await acked("SET_VRING_ENABLE", { index: i, num: 1 });
  }
  return { region, mem, placements, drivers, kicks, calls, errs, bufBase: gpa + 0x8000 };
}

export function releaseHand(h: HandRings): void {
  sys.closeAll([...h.kicks, ...h.calls, ...h.errs]);
  h.region.mapping.unmap();
}
