// The virtio-user front-end against a scripted back-end (the test decodes
// every request and answers by hand): the request sequence, the memory table
// it shares (memfds whose pages are its guest memory), ring addresses that
// translate into the table, REPLY_ACK handling, and clear errors for a
// back-end that refuses, lacks features or goes away. Then the two CLI
// commands against each other as separate processes.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MQ, VIRTIO_NET_F_MRG_RXBUF } from "@nfvio/virtio";
import * as sys from "../src/sys/index.js";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { decodeMessage, encodeReply, featureMask, MessageFramer, ProtocolFeature, type FrontendMessage, type FrontendReplyBody, type FrontendRequestName } from "../src/vhost-user/protocol.js";
import { killChildren, nfvio, startBackend, stopBackend } from "./vhost-user-dpdk-helpers.js";
import { linux, PROTOCOL_BIT } from "./vhost-user-helpers.js";

let n = 0;
const sockPath = (): string => join(tmpdir(), `nfvio-fe-${process.pid}-${n++}.sock`);
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  killChildren();
});

/** The back-end side, scripted: accept one connection, hand out decoded requests, send replies. */
class ScriptedBackend {
  readonly path = sockPath();
  private readonly lfd = sys.listenUnix(this.path, { replace: true });
  private fd = -1;
  private readonly framer = new MessageFramer();
  private readonly buf = new Uint8Array(4096 + 12);
  readonly seen: FrontendMessage[] = [];
  /** REPLY_ACK negotiated by the front-end. */
  acked = false;
  private closed = false;
  constructor() {
    cleanups.push(() => this.close());
  }
  async next(timeoutMs = 3000): Promise<{ msg: FrontendMessage; fds: number[] }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      // A closed back-end's descriptor numbers may already belong to the next test's sockets.
      if (this.closed) throw new Error("back-end closed");
      if (this.fd < 0) {
        const fd = sys.accept(this.lfd);
        if (fd !== null) this.fd = fd;
      }
      if (this.fd >= 0) {
        const f = this.framer.take();
        if (f) {
          const r = decodeMessage(f.bytes, f.fds.length, { queueCount: 8 });
          if (!r.ok) throw r.error;
          this.seen.push(r.message);
          return { msg: r.message, fds: f.fds };
        }
        const got = sys.recvMessage(this.fd, this.buf.subarray(0, this.framer.wanted));
        if (got && got.bytes > 0) {
          this.framer.push(this.buf.subarray(0, got.bytes), got.fds);
          continue;
        }
        if (got && got.bytes === 0) throw new Error("front-end closed");
      }
      if (Date.now() > end) throw new Error("no request in time");
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  reply<K extends FrontendRequestName>(name: K, body: FrontendReplyBody<K>): void {
    sys.sendMessage(this.fd, encodeReply(name, body));
  }
  hangUp(): void {
    sys.closeAll([this.fd]);
    this.fd = -1;
  }
  close(): void {
    this.closed = true;
    sys.closeAll([this.lfd, ...(this.fd >= 0 ? [this.fd] : [])]);
  }
}

const OFFER = VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_MQ | PROTOCOL_BIT;

/** Answer like a well-behaved back-end until `stopAt` (exclusive) is requested; returns that request. */
async function serveUntil(be: ScriptedBackend, opts: { offer?: bigint; protocol?: bigint; queueNum?: bigint; nack?: FrontendRequestName; stopAt?: FrontendRequestName } = {}): Promise<{ msg: FrontendMessage; fds: number[] } | null> {
  const protocol = opts.protocol ?? featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK);
  for (;;) {
    let m: { msg: FrontendMessage; fds: number[] };
    try {
      m = await be.next();
    } catch {
      return null;
    }
    const { msg, fds } = m;
    if (msg.name === opts.stopAt) return m;
    sys.closeAll(fds.filter(() => msg.name !== "SET_MEM_TABLE"));
    if (msg.name === "GET_FEATURES") be.reply("GET_FEATURES", opts.offer ?? OFFER);
    else if (msg.name === "GET_PROTOCOL_FEATURES") be.reply("GET_PROTOCOL_FEATURES", protocol);
    else if (msg.name === "SET_PROTOCOL_FEATURES") be.acked = (msg.body & featureMask(ProtocolFeature.REPLY_ACK)) !== 0n;
    else if (msg.name === "GET_QUEUE_NUM") be.reply("GET_QUEUE_NUM", opts.queueNum ?? 4n);
    else if (msg.name === "GET_VRING_BASE") be.reply("GET_VRING_BASE", { index: msg.body.index, num: 0 });
    if (msg.name === "SET_MEM_TABLE") m.fds.forEach((fd) => cleanups.push(() => sys.closeAll([fd])));
    if (msg.needReply && be.acked && !msg.name.startsWith("GET_")) be.reply(msg.name as "SET_OWNER", msg.name === opts.nack ? 1n : 0n);
  }
}

describe.runIf(linux)("virtio-user front-end against a scripted back-end", () => {
  it("sends the set-up in QEMU/DPDK order with acks, a memory table of memfds, and ring addresses inside it", async () => {
    const be = new ScriptedBackend();
    const conn = VirtioUserFrontend.connect({ path: be.path, queuePairs: 2, packed: true, regions: 2, queueSize: 128 });
    const served = serveUntil(be, { stopAt: "GET_VRING_BASE" });
    const fe = await conn;
    expect(fe.features).toBe(VIRTIO_F_VERSION_1 | VIRTIO_F_RING_PACKED | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_MQ);
    expect(fe.protocolFeatures).toBe(featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK));
    const names = be.seen.map((m) => m.name);
    expect(names.slice(0, 7)).toEqual(["SET_OWNER", "GET_FEATURES", "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_FEATURES", "SET_MEM_TABLE"]);
    for (let i = 0; i < 4; i++) expect(names.slice(7 + 5 * i, 12 + 5 * i)).toEqual(["SET_VRING_NUM", "SET_VRING_BASE", "SET_VRING_ADDR", "SET_VRING_KICK", "SET_VRING_CALL"]);
    expect(names.slice(27)).toEqual(["SET_VRING_ENABLE", "SET_VRING_ENABLE", "SET_VRING_ENABLE", "SET_VRING_ENABLE"]);
    const set = be.seen.find((m) => m.name === "SET_FEATURES")!;
    expect(set.needReply).toBe(true);
    expect(set.body).toBe(fe.features | PROTOCOL_BIT);
    const table = be.seen.find((m) => m.name === "SET_MEM_TABLE");
    if (table?.name !== "SET_MEM_TABLE") throw new Error("no table");
    expect(table.body.regions).toHaveLength(2);
    expect(table.fdCount).toBe(2);
    const inTable = (ua: bigint, len: number) => table.body.regions.some((r) => ua >= r.userAddr && ua + BigInt(len) <= r.userAddr + r.size);
    for (const m of be.seen) {
      if (m.name === "SET_VRING_ADDR") {
        expect(inTable(m.body.desc, 128 * 16)).toBe(true);
        expect(inTable(m.body.avail, 4)).toBe(true);
        expect(inTable(m.body.used, 4)).toBe(true);
      }
      if (m.name === "SET_VRING_BASE") expect(m.body.num).toBe(0x8000); // packed: position 0, wrap counter 1
      if (m.name === "SET_VRING_NUM") expect(m.body.num).toBe(128);
    }
    const close = fe.close();
    const stop = await served;
    expect(stop?.msg.name).toBe("GET_VRING_BASE");
    be.reply("GET_VRING_BASE", { index: 0, num: 0 });
    void serveUntil(be);
    await close;
  });

  it("the shared memory is the front-end's guest memory: a frame it sends is visible through the back-end's mapping", async () => {
    const be = new ScriptedBackend();
    const conn = VirtioUserFrontend.connect({ path: be.path });
    const tableSeen = serveUntil(be, { stopAt: "SET_MEM_TABLE" });
    const t = await tableSeen;
    if (t?.msg.name !== "SET_MEM_TABLE") throw new Error("no table");
    const r = t.msg.body.regions[0]!;
    const m = sys.mmap(t.fds[0]!, Number(r.size));
    cleanups.push(() => m.unmap());
    sys.closeAll(t.fds);
    be.reply("SET_MEM_TABLE", 0n);
    const rest = serveUntil(be, { stopAt: "GET_VRING_BASE" });
    const fe = await conn;
    const frame = new Uint8Array(64).fill(0xab);
    fe.pairs[0]!.send(frame);
    const bytes = new Uint8Array(m.buffer);
    const at = bytes.findIndex((b, i) => b === 0xab && bytes.subarray(i, i + 64).every((x) => x === 0xab));
    expect(at).toBeGreaterThan(0);
    // The 12-byte virtio-net header before it is zero.
    expect([...bytes.subarray(at - 12, at)]).toEqual(new Array(12).fill(0));
    const close = fe.close();
    await rest;
    be.reply("GET_VRING_BASE", { index: 0, num: 0 });
    void serveUntil(be);
    await close;
  });

  it("fails with the request the back-end NACKed", async () => {
    const be = new ScriptedBackend();
    const conn = VirtioUserFrontend.connect({ path: be.path });
    void serveUntil(be, { nack: "SET_VRING_ADDR" });
    await expect(conn).rejects.toThrow(/the back-end refused SET_VRING_ADDR \(reply 1\)/);
  });

  it("fails clearly when the back-end lacks VERSION_1, packed rings or enough queues, or hangs up", async () => {
    const cases: [Parameters<typeof serveUntil>[1], Parameters<typeof VirtioUserFrontend.connect>[0] extends infer O ? Partial<O> : never, RegExp][] = [
      [{ offer: VIRTIO_NET_F_MRG_RXBUF | PROTOCOL_BIT }, {}, /does not offer VIRTIO_F_VERSION_1/],
      [{ offer: VIRTIO_F_VERSION_1 | PROTOCOL_BIT }, { packed: true }, /does not offer VIRTIO_F_RING_PACKED/],
      [{ queueNum: 1n }, { queuePairs: 2 }, /supports 1 queue pairs, 2 asked for/],
      [{ protocol: featureMask(ProtocolFeature.REPLY_ACK) }, { queuePairs: 2 }, /need VIRTIO_NET_F_MQ and VHOST_USER_PROTOCOL_F_MQ/],
    ];
    for (const [serve, opts, err] of cases) {
      const be = new ScriptedBackend();
      const conn = VirtioUserFrontend.connect({ path: be.path, ...opts });
      void serveUntil(be, serve);
      await expect(conn).rejects.toThrow(err);
    }
    const be = new ScriptedBackend();
    const conn = VirtioUserFrontend.connect({ path: be.path });
    const at = await serveUntil(be, { stopAt: "SET_MEM_TABLE" });
    sys.closeAll(at!.fds);
    be.hangUp();
    await expect(conn).rejects.toThrow(/the back-end closed the connection/);
  });

  it("retries the connection while nobody listens, up to connectTimeoutMs", async () => {
    const path = sockPath();
    await expect(VirtioUserFrontend.connect({ path })).rejects.toThrow(/ENOENT/);
    const t0 = Date.now();
    await expect(VirtioUserFrontend.connect({ path, connectTimeoutMs: 200 })).rejects.toThrow(/ENOENT/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });
});

describe.runIf(linux)("CLI: nfvio virtio-user -> nfvio vhost-user, as two processes", () => {
  it("echo: every frame sent comes back; both sides print per-queue counters as JSON and exit 0", async () => {
    const socket = sockPath();
    const be = await startBackend(["--mode", "echo", "--queues", "2"], socket, undefined);
    const fe = nfvio(["virtio-user", "--socket", socket, "--queues", "2", "--count", "20000", "--size", "128", "--packed"]);
    expect(await fe.exited, fe.stderr()).toBe(0);
    const r = JSON.parse(fe.stdout().trim()) as { sent: number; received: number; unfinished: number; queues: { frames: number; bytes: number }[] };
    const b = await stopBackend<{ totals: { rx: { frames: number; bytes: number }; tx: { frames: number }; errors: number }; connections: number }>(be);
    expect(r.sent).toBe(20000);
    expect(r.unfinished).toBe(0);
    expect(b.totals.tx.frames).toBe(20000);
    // Every frame came back, except any the back-end dropped (and counted) while the front-end, descheduled, left its receive ring full.
    expect(b.totals.rx.frames + b.totals.errors).toBe(20000);
    expect(b.totals.rx.bytes).toBe(b.totals.rx.frames * 128);
    expect(r.received).toBeLessThanOrEqual(b.totals.rx.frames);
    expect(b.connections).toBe(1);
  });

  it("reports a usage error for bad options (exit code 2)", async () => {
    const fe = nfvio(["virtio-user", "--socket", sockPath(), "--count", "5", "--seconds", "1"]);
    expect(await fe.exited).toBe(2);
    expect(fe.stderr()).toMatch(/give --count or --seconds, not both/);
    const be = nfvio(["vhost-user", "--socket", sockPath(), "--mode", "bogus"]);
    expect(await be.exited).toBe(2);
    expect(be.stderr()).toMatch(/--mode must be one of drop, echo, macswap/);
  });
});
