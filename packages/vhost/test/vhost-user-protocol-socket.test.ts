// The codec over a real socket: a front-end sends SET_MEM_TABLE with two memfds,
// a kick eventfd and GET_FEATURES; the back-end reads header-then-body through
// the framer, decodes, maps the regions and answers.
import { afterAll, describe, expect, it } from "vitest";
import * as sys from "../src/sys/index.js";
import { decodeMessage, decodeReply, encodeMessage, encodeReply, MessageFramer, type FrontendMessage } from "../src/vhost-user/protocol.js";

const linux = process.platform === "linux" && process.arch === "x64";

/** Read whatever is queued on `fd` through the framer; returns decoded messages with their descriptors. */
function drain(fd: number, framer: MessageFramer): { msg: FrontendMessage; fds: number[] }[] {
  const out: { msg: FrontendMessage; fds: number[] }[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const got = sys.recvMessage(fd, buf.subarray(0, framer.wanted));
    if (got === null || got.bytes === 0) return out;
    if (got.controlTruncated) throw new Error("descriptors were cut");
    framer.push(buf.subarray(0, got.bytes), got.fds);
    if (framer.error) throw framer.error;
    for (let f = framer.take(); f; f = framer.take()) {
      const r = decodeMessage(f.bytes, f.fds.length);
      if (!r.ok) throw r.error;
      out.push({ msg: r.message, fds: f.fds });
    }
  }
}

describe.runIf(linux)("vhost-user protocol over a Unix socket", () => {
  const owned: number[] = [];
  afterAll(() => sys.closeAll(owned));

  it("carries a memory table, a kick fd and a feature exchange", async () => {
    const [front, back] = sys.socketPair();
    owned.push(front, back);
    const mems = [0, 1].map((i) => {
      const fd = sys.memfdCreate(`guest-ram-${i}`);
      sys.ftruncate(fd, 0x4000);
      const m = sys.mmap(fd, 0x4000);
      new Uint8Array(m.buffer).fill(0x10 + i);
      m.unmap();
      return fd;
    });
    const kick = sys.eventfd(0);
    const regions = [
      { guestAddr: 0n, size: 0x4000n, userAddr: 0x7f00_0000_0000n, mmapOffset: 0n },
      { guestAddr: 0x10_0000n, size: 0x4000n, userAddr: 0x7f00_1000_0000n, mmapOffset: 0n },
    ];
    sys.sendMessage(front, encodeMessage("SET_MEM_TABLE", { regions }, { needReply: true }), mems);
    sys.sendMessage(front, encodeMessage("SET_VRING_KICK", { index: 0, noFd: false }), [kick]);
    sys.sendMessage(front, encodeMessage("GET_FEATURES", null));
    sys.closeAll(mems);

    const framer = new MessageFramer();
    const got: { msg: FrontendMessage; fds: number[] }[] = [];
    await new Promise<void>((resolve) => {
      const w = sys.watchFd(back, { readable: true }, () => {
        got.push(...drain(back, framer));
        if (got.length === 3) {
          w.stop();
          resolve();
        }
      });
    });
    got.forEach((g) => owned.push(...g.fds));
    expect(got.map((g) => g.msg.name)).toEqual(["SET_MEM_TABLE", "SET_VRING_KICK", "GET_FEATURES"]);

    const table = got[0]!;
    if (table.msg.name !== "SET_MEM_TABLE") throw new Error("unreachable");
    expect(table.msg.needReply).toBe(true);
    table.msg.body.regions.forEach((r, i) => {
      const m = sys.mmap(table.fds[i]!, Number(r.size), { offset: Number(r.mmapOffset) });
      expect(new Uint8Array(m.buffer)[0x3fff]).toBe(0x10 + i);
      m.unmap();
    });

    sys.eventfdWrite(got[1]!.fds[0]!, 1n);
    expect(sys.eventfdRead(kick)).toBe(1n);
    sys.close(kick);

    // back-end answers: the REPLY_ACK for the table, then the features
    sys.sendMessage(back, encodeReply("SET_MEM_TABLE", 0n));
    sys.sendMessage(back, encodeReply("GET_FEATURES", (1n << 32n) | (1n << 30n)));
    const buf = new Uint8Array(64);
    expect(await sys.waitReadable(front, 1000)).toBe(true);
    const a = sys.recvMessage(front, buf.subarray(0, 20))!;
    const ack = decodeReply(buf.slice(0, a.bytes), a.fds.length, "SET_MEM_TABLE");
    expect(ack.ok && ack.message.body).toBe(0n);
    const f = sys.recvMessage(front, buf.subarray(0, 20))!;
    const features = decodeReply(buf.slice(0, f.bytes), f.fds.length, "GET_FEATURES");
    expect(features.ok && features.message.body).toBe((1n << 32n) | (1n << 30n));
  });
});
