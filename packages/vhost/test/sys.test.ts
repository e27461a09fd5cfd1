import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tsWorker } from "../../../tooling/worker.ts";
import {
  accept,
  bindUnix,
  close,
  closeAll,
  connectUnix,
  defaultWatchBackend,
  eventfd,
  eventfdRead,
  eventfdWrite,
  EVENTFD_MAX,
  fchmod,
  ftruncate,
  isSysError,
  listenUnix,
  memfdCreate,
  mmap,
  pageSize,
  pollFds,
  read,
  recvMessage,
  sendMessage,
  socketPair,
  SysError,
  sysAvailable,
  unixSocket,
  waitReadable,
  watchFd,
  write,
  type FdWatcher,
  type Readiness,
  type WatchBackend,
} from "../src/sys/index.js";

const linux = process.platform === "linux" && process.arch === "x64";

/** Open descriptors of this process (to prove nothing leaks). */
function openFds(): Set<number> {
  return new Set(readdirSync("/proc/self/fd").map(Number));
}

describe.runIf(linux)("sys: syscall module", () => {
  let dir: string;
  const cleanup: number[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nfvio-sys-"));
  });
  afterAll(() => {
    closeAll(cleanup);
    rmSync(dir, { recursive: true, force: true });
  });
  const own = (...fds: number[]): void => {
    cleanup.push(...fds);
  };

  it("is available here", () => {
    expect(sysAvailable()).toBe(true);
    expect(pageSize()).toBe(4096);
  });

  describe("memfd + mmap", () => {
    it("shares bytes between two mappings of the same memfd", () => {
      const fd = memfdCreate("nfvio-test");
      own(fd);
      ftruncate(fd, 2 * 4096);
      const a = mmap(fd, 2 * 4096);
      const b = mmap(fd, 2 * 4096);
      expect(a.address).not.toBe(b.address);
      const va = new Uint8Array(a.buffer);
      const vb = new DataView(b.buffer);
      va.set([1, 2, 3, 4], 4096);
      expect(vb.getUint32(4096, true)).toBe(0x04030201);
      vb.setBigUint64(8, 0x1122334455667788n, true);
      expect(Array.from(va.subarray(8, 16))).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
      a.unmap();
      b.unmap();
    });

    it("maps at an offset", () => {
      const fd = memfdCreate("nfvio-offset");
      own(fd);
      ftruncate(fd, 3 * 4096);
      const whole = mmap(fd, 3 * 4096);
      new Uint8Array(whole.buffer)[2 * 4096 + 5] = 77;
      const tail = mmap(fd, 4096, { offset: 2 * 4096 });
      expect(new Uint8Array(tail.buffer)[5]).toBe(77);
      whole.unmap();
      tail.unmap();
    });

    it("unmap stops sharing but leaves stale views safe (zeros, no crash)", () => {
      const fd = memfdCreate("nfvio-unmap");
      own(fd);
      ftruncate(fd, 4096);
      const a = mmap(fd, 4096);
      const b = mmap(fd, 4096);
      const stale = new Uint8Array(a.buffer);
      stale[0] = 9;
      a.unmap();
      expect(a.mapped).toBe(false);
      expect(stale[0]).toBe(0);
      stale[0] = 42; // goes to a private page
      expect(new Uint8Array(b.buffer)[0]).toBe(9);
      a.unmap(); // idempotent
      b.unmap();
    });

    it("the mapping outlives the descriptor", () => {
      const fd = memfdCreate("nfvio-closed");
      ftruncate(fd, 4096);
      const a = mmap(fd, 4096);
      close(fd);
      new Uint8Array(a.buffer)[100] = 5;
      expect(new Uint8Array(a.buffer)[100]).toBe(5);
      a.unmap();
    });

    it("maps the same memfd in a worker thread", async () => {
      const fd = memfdCreate("nfvio-worker");
      own(fd);
      ftruncate(fd, 2 * 4096);
      const m = mmap(fd, 2 * 4096);
      const bytes = new Uint8Array(m.buffer);
      bytes.set([10, 20, 30, 40], 0);
      const worker = tsWorker(new URL("./sys-mmap.worker.ts", import.meta.url), { workerData: { fd, size: 2 * 4096 } });
      const reply = await new Promise<{ seen: number[] }>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      await worker.terminate();
      expect(reply.seen).toEqual([10, 20, 30, 40]);
      expect(Array.from(bytes.subarray(4096, 4098))).toEqual([0xca, 0xfe]);
      m.unmap();
    });

    it("reports errors as SysError with errno code, syscall and fd", () => {
      const err = catchSys(() => mmap(1_000_000, 4096));
      expect(err.code).toBe("EBADF");
      expect(err.syscall).toBe("mmap");
      expect(err.fd).toBe(1_000_000);
      expect(err.name).toBe("SysError");
      expect(err.message).toMatch(/mmap\(fd 1000000\) failed: EBADF/);
      const fd = memfdCreate("nfvio-bad-offset");
      own(fd);
      ftruncate(fd, 8192);
      expect(catchSys(() => mmap(fd, 4096, { offset: 100 })).code).toBe("EINVAL");
      expect(catchSys(() => ftruncate(1_000_000, 10)).code).toBe("EBADF");
    });
  });

  describe("eventfd", () => {
    it("adds writes and resets on read", () => {
      const fd = eventfd();
      own(fd);
      expect(eventfdRead(fd)).toBeNull(); // counter 0 would block
      expect(eventfdWrite(fd)).toBe(true);
      expect(eventfdWrite(fd, 2n)).toBe(true);
      expect(eventfdRead(fd)).toBe(3n);
      expect(eventfdRead(fd)).toBeNull();
    });

    it("starts from the initial value", () => {
      const fd = eventfd(7);
      own(fd);
      expect(eventfdRead(fd)).toBe(7n);
    });

    it("semaphore mode returns 1 per read", () => {
      const fd = eventfd(0, { semaphore: true });
      own(fd);
      eventfdWrite(fd, 3);
      expect([eventfdRead(fd), eventfdRead(fd), eventfdRead(fd), eventfdRead(fd)]).toEqual([1n, 1n, 1n, null]);
    });

    it("refuses to overflow: the write would block, then 2^64-1 is invalid", () => {
      const fd = eventfd();
      own(fd);
      expect(eventfdWrite(fd, EVENTFD_MAX)).toBe(true);
      expect(eventfdWrite(fd, 1n)).toBe(false);
      expect(eventfdRead(fd)).toBe(EVENTFD_MAX);
      expect(catchSys(() => eventfdWrite(fd, EVENTFD_MAX + 1n)).code).toBe("EINVAL");
    });

    it("reads as an ordinary descriptor too", () => {
      const fd = eventfd(5);
      own(fd);
      const buf = new Uint8Array(8);
      expect(read(fd, buf)).toBe(8);
      expect(new DataView(buf.buffer).getBigUint64(0, true)).toBe(5n);
      expect(read(fd, buf)).toBeNull();
      expect(write(fd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]))).toBe(8);
      expect(eventfdRead(fd)).toBe(1n);
    });
  });

  describe("unix sockets and SCM_RIGHTS", () => {
    it("passes a memfd, an eventfd and a socket over a socketpair and uses them", () => {
      const [a, b] = socketPair();
      own(a, b);
      const mem = memfdCreate("nfvio-pass");
      ftruncate(mem, 4096);
      const m = mmap(mem, 4096);
      new Uint8Array(m.buffer).set(new TextEncoder().encode("hello vhost"), 0);
      const ev = eventfd(0);
      const [p, q] = socketPair();
      own(q);
      const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(sendMessage(a, payload, [mem, ev, p])).toBe(12);
      closeAll([mem, ev, p]); // the receiver holds its own references now
      m.unmap();

      const buf = new Uint8Array(64);
      const got = recvMessage(b, buf)!;
      expect(got.bytes).toBe(12);
      expect(Array.from(buf.subarray(0, 12))).toEqual(Array.from(payload));
      expect(got.fds).toHaveLength(3);
      expect(got.controlTruncated).toBe(false);
      const [rmem, rev, rp] = got.fds as [number, number, number];
      own(rmem, rev, rp);

      const rm = mmap(rmem, 4096);
      expect(new TextDecoder().decode(new Uint8Array(rm.buffer, 0, 11))).toBe("hello vhost");
      rm.unmap();
      expect(eventfdWrite(rev, 4n)).toBe(true);
      expect(eventfdRead(rev)).toBe(4n);
      expect(sendMessage(rp, new Uint8Array([42]))).toBe(1);
      const one = new Uint8Array(1);
      expect(recvMessage(q, one)!.bytes).toBe(1);
      expect(one[0]).toBe(42);
      // nothing more queued
      expect(recvMessage(b, buf)).toBeNull();
    });

    it("passes descriptors between listen/accept and connect through a 0600 socket file", () => {
      const path = join(dir, "vhost.sock");
      const lfd = listenUnix(path);
      own(lfd);
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      expect(accept(lfd)).toBeNull();
      const cfd = connectUnix(path);
      own(cfd);
      const sfd = accept(lfd)!;
      own(sfd);
      expect(sfd).toBeGreaterThan(0);
      const ev = eventfd(0);
      expect(sendMessage(cfd, new Uint8Array([7]), [ev])).toBe(1);
      const got = recvMessage(sfd, new Uint8Array(4))!;
      expect(got.fds).toHaveLength(1);
      own(got.fds[0]!);
      eventfdWrite(got.fds[0]!, 9n); // written on the received copy ...
      expect(eventfdRead(ev)).toBe(9n); // ... seen on the original
      close(ev);
    });

    it("creates the socket file with the requested mode even under a permissive umask", () => {
      const old = process.umask(0o000);
      try {
        const lfd = listenUnix(join(dir, "umask0.sock"));
        own(lfd);
        expect(lstatSync(join(dir, "umask0.sock")).mode & 0o777).toBe(0o600);
        const lfd2 = listenUnix(join(dir, "mode660.sock"), { mode: 0o660 });
        own(lfd2);
        expect(lstatSync(join(dir, "mode660.sock")).mode & 0o777).toBe(0o660);
      } finally {
        process.umask(old);
      }
      // A strict umask (0o277) would strip bits; listenUnix restores them before listen().
      const old2 = process.umask(0o277);
      try {
        const lfd = listenUnix(join(dir, "umask277.sock"));
        own(lfd);
        expect(lstatSync(join(dir, "umask277.sock")).mode & 0o777).toBe(0o600);
      } finally {
        process.umask(old2);
      }
    });

    it("fchmod before bind is what sets the mode: the file is born 0600, not fixed up later", () => {
      const old = process.umask(0o000);
      try {
        const plain = unixSocket();
        own(plain);
        bindUnix(plain, join(dir, "plain.sock"));
        // control: without fchmod the socket inode's mode (0777) passes through a zero umask
        expect(lstatSync(join(dir, "plain.sock")).mode & 0o777).toBe(0o777);
        const fd = unixSocket();
        own(fd);
        fchmod(fd, 0o600);
        bindUnix(fd, join(dir, "born600.sock"));
        expect(lstatSync(join(dir, "born600.sock")).mode & 0o777).toBe(0o600);
      } finally {
        process.umask(old);
      }
    });

    it("refuses a path in use unless asked to replace a stale socket", () => {
      const path = join(dir, "stale.sock");
      const first = listenUnix(path);
      close(first); // the file stays behind, like after a crash
      expect(catchSys(() => listenUnix(path)).code).toBe("EADDRINUSE");
      const again = listenUnix(path, { replace: true });
      own(again);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      expect(catchSys(() => connectUnix(join(dir, "missing.sock"))).code).toBe("ENOENT");
      expect(catchSys(() => listenUnix(join(dir, "x".repeat(120)))).code).toBe("ENAMETOOLONG");
    });

    it("closes descriptors that arrive beyond what the receiver accepts (MSG_CTRUNC)", () => {
      const [a, b] = socketPair();
      own(a, b);
      const sent = Array.from({ length: 8 }, () => eventfd(0));
      const before = openFds();
      expect(sendMessage(a, new Uint8Array([1]), sent)).toBe(1);
      expect(sendMessage(a, new Uint8Array([2]), sent.slice(0, 3))).toBe(1);
      closeAll(sent);
      const got = recvMessage(b, new Uint8Array(1), { maxFds: 2 })!;
      expect(got.bytes).toBe(1);
      expect(got.controlTruncated).toBe(true);
      expect(got.fds).toEqual([]);
      // a receiver expecting no descriptors at all
      const got2 = recvMessage(b, new Uint8Array(1), { maxFds: 0 })!;
      expect(got2.controlTruncated).toBe(true);
      expect(got2.fds).toEqual([]);
      // every descriptor that arrived was closed: the table is down by exactly the 8 we closed ourselves
      expect(openFds().size).toBe(before.size - sent.length);
    });

    it("keeps message boundaries of fd-carrying sends when reading header then body", () => {
      const [a, b] = socketPair();
      own(a, b);
      const e1 = eventfd(1);
      const e2 = eventfd(2);
      sendMessage(a, new Uint8Array(20).fill(1), [e1]);
      sendMessage(a, new Uint8Array(20).fill(2), [e2]);
      closeAll([e1, e2]);
      const head = new Uint8Array(12);
      const body = new Uint8Array(8);
      const h1 = recvMessage(b, head)!;
      const b1 = recvMessage(b, body)!;
      const h2 = recvMessage(b, head)!;
      own(...h1.fds, ...h2.fds);
      expect([h1.bytes, b1.bytes, h2.bytes]).toEqual([12, 8, 12]);
      expect([h1.fds.length, b1.fds.length, h2.fds.length]).toEqual([1, 0, 1]);
      expect(eventfdRead(h1.fds[0]!)).toBe(1n);
      expect(eventfdRead(h2.fds[0]!)).toBe(2n);
    });

    it("reports end of stream as 0 bytes and refuses more than 8 descriptors or an empty buffer", () => {
      const [a, b] = socketPair();
      own(b);
      expect(catchSys(() => sendMessage(a, new Uint8Array(1), new Array<number>(9).fill(a))).code).toBe("EINVAL");
      expect(catchSys(() => recvMessage(b, new Uint8Array(0))).code).toBe("EINVAL");
      close(a);
      expect(recvMessage(b, new Uint8Array(4))!.bytes).toBe(0);
    });
  });

  describe("readiness", () => {
    it("poll(2) reports readable and writable", () => {
      const [a, b] = socketPair();
      own(a, b);
      expect(pollFds([{ fd: b, readable: true }])[0]!.readable).toBe(false);
      sendMessage(a, new Uint8Array([1]));
      const [r] = pollFds([{ fd: b, readable: true, writable: true }]);
      expect(r).toMatchObject({ readable: true, writable: true, hangup: false, error: false });
    });

    const backends: WatchBackend[] = ["poll"];
    if (linux && defaultWatchBackend() === "uv") backends.push("uv");
    for (const backend of backends) {
      it(`watchFd (${backend}) signals readability without consuming, then stops`, async () => {
        const [a, b] = socketPair();
        own(a, b);
        const events: Readiness[] = [];
        const got: number[][] = [];
        let w: FdWatcher | undefined;
        const done = new Promise<void>((resolve) => {
          w = watchFd(
            b,
            { readable: true },
            (r) => {
              events.push(r);
              const m = recvMessage(b, new Uint8Array(16));
              if (m && m.bytes > 0) {
                got.push(m.fds);
                own(...m.fds);
              }
              if (got.length === 2) resolve();
            },
            { backend },
          );
        });
        expect(w!.backend).toBe(backend);
        const ev = eventfd(0);
        sendMessage(a, new Uint8Array([1, 2, 3]), [ev]);
        setTimeout(() => sendMessage(a, new Uint8Array([4])), 5);
        await done;
        w!.stop();
        w!.stop();
        close(ev);
        expect(events.every((e) => e.readable)).toBe(true);
        expect(got.map((f) => f.length)).toEqual([1, 0]);
        // after stop no more callbacks
        const count = events.length;
        sendMessage(a, new Uint8Array([5]));
        await new Promise((r) => setTimeout(r, 20));
        expect(events.length).toBe(count);
      });

      it(`watchFd (${backend}) reports hangup and eventfd kicks`, async () => {
        const [a, b] = socketPair();
        own(b);
        const hung = new Promise<Readiness>((resolve) => {
          const w = watchFd(b, { readable: true }, (r) => {
            w.stop();
            resolve(r);
          }, { backend });
        });
        close(a);
        expect((await hung).hangup || (await hung).readable).toBe(true);

        const kick = eventfd(0);
        own(kick);
        const p = waitReadable(kick, 2000, { backend });
        setTimeout(() => eventfdWrite(kick), 5);
        expect(await p).toBe(true);
        expect(eventfdRead(kick)).toBe(1n);
        expect(await waitReadable(kick, 20, { backend })).toBe(false);
      });
    }

    it("net.Socket({ fd }) is no readiness source: it reads the bytes itself and the descriptors are lost", async () => {
      const [a, b] = socketPair();
      own(a);
      const before = openFds().size;
      const ev = eventfd(0);
      sendMessage(a, new Uint8Array([1, 2, 3]), [ev]);
      close(ev);
      const s = new net.Socket({ fd: b, readable: true, writable: true });
      s.pause();
      await new Promise((r) => setTimeout(r, 30));
      expect(recvMessage(b, new Uint8Array(16))).toBeNull(); // the bytes are gone from the socket ...
      expect(s.readableLength).toBe(3); // ... into Node's buffer,
      expect(openFds().size).toBe(before); // and the eventfd never arrived
      s.destroy(); // closes b
    });

    it("refuses a second watcher on the same descriptor", () => {
      const fd = eventfd(0);
      own(fd);
      const w = watchFd(fd, { readable: true }, () => {});
      try {
        expect(catchSys(() => watchFd(fd, { readable: true }, () => {})).code).toBe("EINVAL");
      } finally {
        w.stop();
      }
      watchFd(fd, { readable: true }, () => {}).stop();
    });
  });
});

describe("sys: elsewhere", () => {
  it("imports anywhere and throws ENOSYS only when a syscall is made", () => {
    // A child process that pretends to be macOS before importing the package.
    const entry = new URL("../src/index.ts", import.meta.url).href;
    const script = `
      Object.defineProperty(process, "platform", { value: "darwin" });
      const m = await import(${JSON.stringify(entry)});
      const out = { available: m.sys.sysAvailable(), decodes: m.decodeMessage(m.encodeMessage("GET_FEATURES", null), 0).ok };
      try { m.sys.eventfd(); } catch (e) { out.name = e.name; out.code = e.code; out.message = e.message; }
      console.log(JSON.stringify(out));`;
    const stdout = execFileSync(process.execPath, ["--import", "tsx", "--conditions=source", "--input-type=module", "-e", script], { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" });
    expect(JSON.parse(stdout)).toMatchObject({ available: false, decodes: true, name: "SysError", code: "ENOSYS", message: expect.stringMatching(/Linux x86_64 \(glibc\) only; this is darwin/) });
  });
});

function catchSys(fn: () => unknown): SysError {
  try {
    fn();
  } catch (e) {
    if (isSysError(e)) return e;
    throw e;
  }
  throw new Error("expected a SysError");
}
