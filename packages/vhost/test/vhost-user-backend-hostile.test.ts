// A hostile front-end against the back-end: every bad input is refused with
// a log line naming the request and the reason, NACKed when REPLY_ACK was
// negotiated and NEED_REPLY set, the connection closed where the front-end
// cannot be told (or the message itself was malformed), no descriptor or
// mapping leaks, and the server goes on serving the next front-end.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from "@nfvio/virtio";
import * as sys from "../src/sys/index.js";
import { VirtioUserFrontend } from "../src/vhost-user/frontend.js";
import { VhostUserNetDevice } from "../src/vhost-user/net.js";
import { encodeMessage, featureMask, ProtocolFeature, type MemoryRegion } from "../src/vhost-user/protocol.js";
import { VhostUserServer } from "../src/vhost-user/server.js";
import { capturingLogger, linux, makeRegion, negotiate, openFds, PROTOCOL_BIT, ScriptedFrontend, sessionPair, until } from "./vhost-user-helpers.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function pair() {
  const s = sessionPair();
  cleanups.push(() => s.fe.close(), () => s.session.close());
  return s;
}

/** A raw message: header fields as given, then `body`. */
function raw(request: number, flags: number, body: Uint8Array, size = body.length): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, size, true);
  out.set(body, 12);
  return out;
}

/** One memfd-backed region at guest address `gpa`. */
function region(gpa: number, size = 0x10000): { fd: number; r: MemoryRegion } {
  const t = makeRegion(gpa, size);
  cleanups.push(() => t.mapping.unmap());
  return { fd: t.fd, r: t.region };
}

describe.runIf(linux)("vhost-user back-end: malformed messages close the connection", () => {
  const cases: { name: string; bytes: () => Uint8Array; fds?: () => number[]; log: RegExp }[] = [
    { name: "a payload of the wrong size (GET_FEATURES with 8 bytes)", bytes: () => raw(1, 1, new Uint8Array(8)), log: /GET_FEATURES: payload is 8 bytes, expected 0/ },
    { name: "an unknown request code", bytes: () => raw(99, 1, new Uint8Array(0)), log: /unknown request code 99/ },
    { name: "version 2 in the flags", bytes: () => raw(1, 2, new Uint8Array(0)), log: /version 2, expected 1/ },
    { name: "reserved flag bits", bytes: () => raw(1, 1 | 0x100, new Uint8Array(0)), log: /reserved flag bits/ },
    { name: "the REPLY flag on a request", bytes: () => raw(3, 1 | 4, new Uint8Array(0)), log: /REPLY flag is set on a request/ },
    { name: "a declared payload far beyond the limit", bytes: () => raw(5, 1, new Uint8Array(0), 1 << 20), log: /payload of 1048576 bytes; the limit is 4096/ },
    { name: "a split ring size that is not a power of two", bytes: () => encodeMessage("SET_VRING_NUM", { index: 0, num: 100 }), log: /ring size 100 is not a power of two/ },
    { name: "a ring size above 32768", bytes: () => encodeMessage("SET_VRING_NUM", { index: 0, num: 65536 }), log: /ring size 65536 is outside 1 .. 32768/ },
    { name: "a vring index beyond the device's vrings", bytes: () => encodeMessage("SET_VRING_NUM", { index: 7, num: 256 }), log: /vring index 7 is out of range \(2 vrings\)/ },
    { name: "a descriptor with a message that takes none (SET_VRING_NUM + fd)", bytes: () => encodeMessage("SET_VRING_NUM", { index: 0, num: 256 }), fds: () => [sys.eventfd(0)], log: /SET_VRING_NUM carries no descriptors, got 1/ },
    { name: "a kick without its descriptor", bytes: () => encodeMessage("SET_VRING_KICK", { index: 0, noFd: false }), log: /SET_VRING_KICK carries one descriptor unless the no-fd flag/ },
    { name: "misaligned ring addresses", bytes: () => encodeMessage("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0x1008n, avail: 0x2000n, used: 0x3000n, log: 0n }), log: /descriptor table address 0x1008 is not 16-byte aligned/ },
    { name: "nine memory regions", bytes: () => encodeMessage("SET_MEM_TABLE", { regions: Array.from({ length: 9 }, (_, i) => ({ guestAddr: BigInt(i) << 20n, size: 0x1000n, userAddr: BigInt(i) << 20n, mmapOffset: 0n })) }), log: /SET_MEM_TABLE carries one descriptor per region: 9 regions, 0 descriptors/ },
    {
      name: "overlapping memory regions",
      bytes: () => encodeMessage("SET_MEM_TABLE", { regions: [{ guestAddr: 0n, size: 0x2000n, userAddr: 0x10000n, mmapOffset: 0n }, { guestAddr: 0x1000n, size: 0x2000n, userAddr: 0x20000n, mmapOffset: 0n }] }),
      fds: () => [sys.memfdCreate("a"), sys.memfdCreate("b")],
      log: /regions 0 and 1 overlap in guest address space/,
    },
    {
      name: "fewer descriptors than regions",
      bytes: () => encodeMessage("SET_MEM_TABLE", { regions: [{ guestAddr: 0n, size: 0x1000n, userAddr: 0n, mmapOffset: 0n }, { guestAddr: 0x1000n, size: 0x1000n, userAddr: 0x1000n, mmapOffset: 0n }] }),
      fds: () => [sys.memfdCreate("a")],
      log: /one descriptor per region: 2 regions, 1 descriptors/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const before = openFds();
      const { fe, logs, closed, session } = pair();
      const fds = c.fds?.() ?? [];
      fe.raw(c.bytes(), fds);
      sys.closeAll(fds); // the back-end got its own copies; it must close them
      expect(await fe.closedByPeer()).toBe(true);
      expect(session.closed).toBe(true);
      expect(closed).toHaveLength(1);
      expect(logs.warnings().join("\n")).toMatch(c.log);
      fe.close();
      expect(openFds()).toBe(before);
    });
  }

  it("NACKs a malformed message that asked for a reply once REPLY_ACK is negotiated, then closes", async () => {
    const { fe, logs } = pair();
    await negotiate(fe, { ack: true });
    fe.raw(encodeMessage("SET_VRING_NUM", { index: 0, num: 3 }, { needReply: true }));
    expect(await fe.reply("SET_VRING_NUM")).toBe(1n);
    expect(await fe.closedByPeer()).toBe(true);
    expect(logs.warnings().join("\n")).toMatch(/malformed message refused \(invalid\): SET_VRING_NUM: ring size 3 is not a power of two/);
  });

  it("closes on a front-end that hangs up in the middle of a message, releasing the descriptors it sent", async () => {
    const before = openFds();
    const { fe, logs, session } = pair();
    const msg = encodeMessage("SET_MEM_TABLE", { regions: [{ guestAddr: 0n, size: 0x1000n, userAddr: 0n, mmapOffset: 0n }] });
    const m = sys.memfdCreate("x");
    fe.raw(msg.subarray(0, 20), [m]); // header and 8 bytes; the descriptor travels with them
    sys.close(m);
    await until(() => false, 50);
    fe.close();
    expect(await until(() => session.closed)).toBe(true);
    expect(logs.lines.join("\n")).toMatch(/closed the connection in the middle of a message/);
    expect(openFds()).toBe(before);
  });
});

describe.runIf(linux)("vhost-user back-end: refused requests (NACK with REPLY_ACK, else close)", () => {
  it("refuses ring addresses before SET_MEM_TABLE and a kick before SET_VRING_NUM/ADDR; the connection goes on after a NACK", async () => {
    const { fe, logs, session } = pair();
    await negotiate(fe, { ack: true });
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0x1000n, avail: 0x2000n, used: 0x3000n, log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(1n);
    const kick = sys.eventfd(0);
    fe.send("SET_VRING_KICK", { index: 1, noFd: false }, [kick], true);
    sys.close(kick);
    expect(await fe.reply("SET_VRING_KICK")).toBe(1n);
    const w = logs.warnings().join("\n");
    expect(w).toMatch(/SET_VRING_ADDR refused: vring 0: ring addresses before SET_MEM_TABLE .*\(NACK sent\)/);
    expect(w).toMatch(/SET_VRING_KICK refused: vring 1: kick before SET_MEM_TABLE \(NACK sent\)/);
    // Memory, then still no size: the kick is refused for that.
    const g = region(0x100000);
    fe.send("SET_MEM_TABLE", { regions: [g.r] }, [g.fd], true);
    sys.close(g.fd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(0n);
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: g.r.userAddr, avail: g.r.userAddr + 0x1000n, used: g.r.userAddr + 0x2000n, log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(1n);
    expect(logs.warnings().join("\n")).toMatch(/ring addresses before SET_VRING_NUM/);
    const k2 = sys.eventfd(0);
    fe.send("SET_VRING_KICK", { index: 0, noFd: false }, [k2], true);
    sys.close(k2);
    expect(await fe.reply("SET_VRING_KICK")).toBe(1n);
    expect(logs.warnings().join("\n")).toMatch(/kick before SET_VRING_NUM/);
    expect(session.closed).toBe(false);
    expect(await fe.request("GET_QUEUE_NUM", null)).toBe(1n);
  });

  it("closes the connection for the same refusal when the front-end asked for no reply", async () => {
    const { fe, logs } = pair();
    await negotiate(fe, { ack: false });
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0x1000n, avail: 0x2000n, used: 0x3000n, log: 0n });
    expect(await fe.closedByPeer()).toBe(true);
    expect(logs.warnings().join("\n")).toMatch(/SET_VRING_ADDR refused: .*; closing the connection \(the front-end cannot be told\)/);
  });

  it("refuses ring addresses outside every region", async () => {
    const { fe, logs, session } = pair();
    await negotiate(fe, { ack: true });
    const g = region(0x100000);
    fe.send("SET_MEM_TABLE", { regions: [g.r] }, [g.fd], true);
    sys.close(g.fd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(0n);
    fe.send("SET_VRING_NUM", { index: 0, num: 256 }, [], true);
    expect(await fe.reply("SET_VRING_NUM")).toBe(0n);
    // The used ring ends beyond the region (user address + 0x10000).
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: g.r.userAddr, avail: g.r.userAddr + 0x1000n, used: g.r.userAddr + 0xf800n, log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(1n);
    // A guest address is not a user address: the descriptor table at the region's guest address is unmapped.
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0x100000n, avail: 0x101000n, used: 0x102000n, log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(1n);
    const w = logs.warnings().join("\n");
    expect(w).toMatch(/used ring at user address 0x[0-9a-f]+ \(\+2054\) is outside every memory region/);
    expect(w).toMatch(/descriptor table at user address 0x100000 \(\+4096\) is outside every memory region/);
    expect(session.vrings[0]!.addr).toBeNull();
  });

  it("refuses memory it cannot map safely: a region beyond its file, a descriptor that is not a file, an unoffered feature", async () => {
    const before = openFds();
    const { fe, logs, session } = pair();
    await negotiate(fe, { ack: true });
    const short = makeRegion(0x100000, 0x10000, 0x4000); // the file has 16 KiB, the region claims 64 KiB
    short.mapping.unmap();
    fe.send("SET_MEM_TABLE", { regions: [short.region] }, [short.fd], true);
    sys.close(short.fd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(1n);
    const efd = sys.eventfd(0);
    fe.send("SET_MEM_TABLE", { regions: [{ guestAddr: 0n, size: 0x1000n, userAddr: 0x7000_0000n, mmapOffset: 0n }] }, [efd], true);
    sys.close(efd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(1n);
    fe.send("SET_FEATURES", VIRTIO_F_VERSION_1 | (1n << 50n), [], true);
    expect(await fe.reply("SET_FEATURES")).toBe(1n);
    fe.send("SET_PROTOCOL_FEATURES", featureMask(ProtocolFeature.INBAND_NOTIFICATIONS), [], true);
    expect(await fe.reply("SET_PROTOCOL_FEATURES")).toBe(1n);
    fe.send("SET_LOG_FD", null, [sys.eventfd(0)], true);
    expect(await fe.reply("SET_LOG_FD")).toBe(1n);
    const w = logs.warnings().join("\n");
    expect(w).toMatch(/needs 65536 bytes of its file, which has 16384/);
    expect(w).toMatch(/is not a regular file/);
    expect(w).toMatch(/SET_FEATURES refused: features 0x4000000000000 were not offered/);
    expect(w).toMatch(/SET_PROTOCOL_FEATURES refused: protocol features 0x4000 were not offered/);
    expect(w).toMatch(/SET_LOG_FD refused: not supported/);
    expect(session.memory).toBeNull();
    expect(session.closed).toBe(false);
    fe.close();
    expect(await until(() => session.closed)).toBe(true);
    expect(openFds()).toBeLessThanOrEqual(before + 1); // the SET_LOG_FD eventfd above was never ours to close
  });

  it("refuses a new memory table or ring size while rings run, and packed bases outside the ring", async () => {
    const { fe, logs, session } = pair();
    const n = await negotiate(fe, { ack: true, packed: true });
    expect(n.features & VIRTIO_F_RING_PACKED).toBe(VIRTIO_F_RING_PACKED);
    const g = region(0x100000);
    fe.send("SET_MEM_TABLE", { regions: [g.r] }, [g.fd], true);
    sys.close(g.fd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(0n);
    fe.send("SET_VRING_NUM", { index: 0, num: 100 }, [], true); // packed: any size
    expect(await fe.reply("SET_VRING_NUM")).toBe(0n);
    // A packed base names slots of the ring: 100 is past the end of a 100-entry ring.
    fe.send("SET_VRING_BASE", { index: 0, num: 100 | 0x8000 }, [], true);
    expect(await fe.reply("SET_VRING_BASE")).toBe(1n);
    expect(logs.warnings().join("\n")).toMatch(/SET_VRING_BASE refused: vring 0: packed base 0x8064 \(available 100\/1, used 100\/1\) does not fit the ring: packed ring availIdx 100 must be a slot in \[0, 100\)/);
    expect(session.refused).toBe(1);
    // Any slot inside it, with either wrap counter, is a place to start.
    fe.send("SET_VRING_BASE", { index: 0, num: 5 | 0x8000 }, [], true);
    expect(await fe.reply("SET_VRING_BASE")).toBe(0n);
    fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: g.r.userAddr, avail: g.r.userAddr + 0x1000n, used: g.r.userAddr + 0x1040n, log: 0n }, [], true);
    expect(await fe.reply("SET_VRING_ADDR")).toBe(0n);
    const kick = sys.eventfd(0);
    fe.send("SET_VRING_KICK", { index: 0, noFd: false }, [kick], true);
    sys.close(kick);
    expect(await fe.reply("SET_VRING_KICK")).toBe(0n);
    fe.send("SET_VRING_NUM", { index: 0, num: 64 }, [], true);
    expect(await fe.reply("SET_VRING_NUM")).toBe(1n);
    const g2 = region(0x200000);
    fe.send("SET_MEM_TABLE", { regions: [g2.r] }, [g2.fd], true);
    sys.close(g2.fd);
    expect(await fe.reply("SET_MEM_TABLE")).toBe(1n);
    const w = logs.warnings().join("\n");
    expect(w).toMatch(/vring 0 runs; its size cannot change/);
    expect(w).toMatch(/a new memory table while rings 0 run is not supported/);
  });
});

describe.runIf(linux)("vhost-user back-end: keeps serving after hostile front-ends", () => {
  it("a server serves a good front-end after each hostile one, and another server in the process is unaffected", async () => {
    const logs = capturingLogger();
    const mk = (name: string) => {
      const path = join(tmpdir(), `nfvio-hostile-${process.pid}-${name}.sock`);
      const device = new VhostUserNetDevice({ mode: "echo", log: logs.log });
      const server = new VhostUserServer({ path, device, log: logs.log });
      server.start();
      cleanups.push(() => server.close());
      return { path, device, server };
    };
    const a = mk("a");
    const b = mk("b");
    const other = await VirtioUserFrontend.connect({ path: b.path });
    cleanups.push(() => other.close());
    const before = openFds();
    const attacks: ((fe: ScriptedFrontend) => void)[] = [
      (fe) => fe.raw(raw(1, 1, new Uint8Array(3))),
      (fe) => fe.raw(raw(77, 1, new Uint8Array(0))),
      (fe) => fe.raw(raw(5, 1, new Uint8Array(0), 0xffff_ffff)),
      (fe) => fe.send("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0n, avail: 0n, used: 0n, log: 0n }),
      (fe) => fe.send("SET_FEATURES", PROTOCOL_BIT | (1n << 63n)),
    ];
    for (const attack of attacks) {
      const fe = new ScriptedFrontend(sys.connectUnix(a.path));
      attack(fe);
      expect(await fe.closedByPeer()).toBe(true);
      fe.close();
      expect(await until(() => a.server.session === null)).toBe(true);
      const good = await VirtioUserFrontend.connect({ path: a.path });
      const p = good.pairs[0]!;
      let got = 0;
      const f = new Uint8Array(64).fill(1);
      await until(() => {
        p.reclaimTx();
        if (p.txCounters.frames < 10) {
          p.send(f);
          p.flush();
        }
        got += p.receive();
        return got === 10;
      });
      expect(got).toBe(10);
      await good.close();
      expect(await until(() => a.server.session === null)).toBe(true);
    }
    expect(openFds()).toBe(before);
    expect(a.server.connections).toBe(2 * attacks.length);
    // The other socket's front-end never noticed.
    expect(other.disconnected).toBe(false);
    expect(b.server.connections).toBe(1);
    expect(logs.warnings().length).toBeGreaterThanOrEqual(attacks.length);
  });
});
