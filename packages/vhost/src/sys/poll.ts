/**
 * Readiness: poll(2), and watching a descriptor from Node's event loop.
 *
 * The vhost-user socket carries descriptors, so its bytes must be read with
 * recvmsg, never by Node. `net.Socket({ fd })` is no use for readiness: it
 * starts reading with libuv as soon as it is created, even when paused, and
 * a plain read() of a Unix socket makes the kernel discard the SCM_RIGHTS
 * descriptors queued with the bytes (sys.test.ts shows both: the bytes end
 * up in the socket's buffer and no descriptor reaches the process). With
 * `readable: false` it gives no readiness at all.
 *
 * {@link watchFd} therefore lets libuv report readiness without reading:
 *
 * - backend "uv" (preferred): koffi 2.15+ ships `koffi.node.poll`, a libuv
 *   `uv_poll_t` on the descriptor in this thread's event loop. Readiness
 *   arrives through epoll with no timer and no added latency. koffi marks the
 *   API as not yet documented, so it is feature-detected.
 * - backend "poll" (fallback): poll(2) with timeout 0, re-run with
 *   setImmediate while the descriptor is ready (so a busy socket is drained
 *   at event-loop speed) and with a timer of `intervalMs` (default 1 ms)
 *   while it is idle.
 *
 * Both are level-triggered: the callback repeats while the condition holds,
 * so a handler should drain (read until null) or stop the watcher.
 *
 * Rules: one watcher per descriptor per thread; stop the watcher *before*
 * closing the descriptor (libuv must not poll a closed, possibly reused,
 * descriptor number).
 */
import { EBADF, EINVAL, POLLERR, POLLFD_SIZE, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "./constants.js";
import { SysError } from "./errors.js";
import { retry } from "./fd.js";
import { libc } from "./libc.js";

export interface PollRequest {
  fd: number;
  readable?: boolean;
  writable?: boolean;
}

export interface Readiness {
  readable: boolean;
  writable: boolean;
  /** The peer hung up (POLLHUP, or libuv's disconnect). Reads return 0 once the queue is drained. */
  hangup: boolean;
  /** An error condition on the descriptor (POLLERR/POLLNVAL, or a libuv poll error). */
  error: boolean;
}

/** poll(2) on a set of descriptors; `timeoutMs` 0 returns at once, -1 waits forever (blocks the thread). */
export function pollFds(requests: readonly PollRequest[], timeoutMs = 0): Readiness[] {
  const c = libc();
  const buf = new Uint8Array(Math.max(1, requests.length) * POLLFD_SIZE);
  const v = new DataView(buf.buffer);
  requests.forEach((r, i) => {
    v.setInt32(i * POLLFD_SIZE, r.fd, true);
    v.setInt16(i * POLLFD_SIZE + 4, (r.readable ? POLLIN : 0) | (r.writable ? POLLOUT : 0), true);
  });
  retry("poll", () => c.poll(buf, requests.length, timeoutMs));
  return requests.map((_, i) => {
    const re = v.getInt16(i * POLLFD_SIZE + 6, true);
    return { readable: (re & POLLIN) !== 0, writable: (re & POLLOUT) !== 0, hangup: (re & POLLHUP) !== 0, error: (re & (POLLERR | POLLNVAL)) !== 0 };
  });
}

export type WatchBackend = "uv" | "poll";

export interface WatchOptions {
  /** "auto" (default) uses "uv" when koffi provides it, else "poll". */
  backend?: WatchBackend | "auto";
  /** Idle re-poll interval of the "poll" backend (default 1 ms). */
  intervalMs?: number;
}

export interface FdWatcher {
  readonly fd: number;
  readonly backend: WatchBackend;
  /** Stop watching and release the watcher; idempotent. Call before closing the descriptor. */
  stop(): void;
  /** Let the event loop exit while this watcher is active (like `timer.unref()`). */
  unref(): void;
  ref(): void;
}

interface KoffiPollHandle {
  stop(): void;
  close(): void;
  unref(): void;
  ref(): void;
}
type KoffiPoll = (fd: number, opts: { readable?: boolean; writable?: boolean; disconnect?: boolean }, cb: (status: number, ev: { readable: boolean; writable: boolean; disconnect: boolean }) => void) => KoffiPollHandle;

function uvPoll(): KoffiPoll | undefined {
  const node = (libc().koffi as unknown as { node?: { poll?: unknown } }).node;
  return typeof node?.poll === "function" ? (node.poll as KoffiPoll) : undefined;
}

/** Which backend "auto" picks in this process. */
export function defaultWatchBackend(): WatchBackend {
  return uvPoll() ? "uv" : "poll";
}

// Active watchers by descriptor. Holding them here also keeps koffi's poll
// handle reachable: its native destructor closes the uv_poll_t when the
// JavaScript object is collected, which would silently stop the events.
const watched = new Map<number, FdWatcher>();

/**
 * Call `onReady` from the event loop whenever `fd` is readable / writable
 * (as asked), has hung up, or has an error. See the module notes.
 */
export function watchFd(fd: number, interest: { readable?: boolean; writable?: boolean }, onReady: (r: Readiness) => void, options: WatchOptions = {}): FdWatcher {
  if (!Number.isInteger(fd) || fd < 0) throw new SysError("watch", EBADF, { fd });
  if (!interest.readable && !interest.writable) throw new SysError("watch", EINVAL, { fd, detail: "watch for readable, writable or both" });
  if (watched.has(fd)) throw new SysError("watch", EINVAL, { fd, detail: "this descriptor is already watched in this thread; stop the other watcher first" });
  const wanted = options.backend ?? "auto";
  const poll = wanted === "poll" ? undefined : uvPoll();
  if (wanted === "uv" && !poll) throw new SysError("watch", EINVAL, { fd, detail: "this koffi build has no koffi.node.poll; use the poll backend" });
  const w = poll ? watchUv(poll, fd, interest, onReady) : watchPoll(fd, interest, onReady, options.intervalMs ?? 1);
  watched.set(fd, w);
  return w;
}

function watchUv(poll: KoffiPoll, fd: number, interest: { readable?: boolean; writable?: boolean }, onReady: (r: Readiness) => void): FdWatcher {
  let stopped = false;
  let handle: KoffiPollHandle;
  try {
    handle = poll(fd, { readable: !!interest.readable, writable: !!interest.writable, disconnect: true }, (status, ev) => {
      if (stopped) return;
      onReady({ readable: ev.readable, writable: ev.writable, hangup: ev.disconnect, error: status < 0 });
    });
  } catch (e) {
    // koffi reports uv_poll_init/uv_poll_start failures (e.g. a closed descriptor) as plain Errors.
    throw new SysError("uv_poll", EBADF, { fd, detail: (e as Error).message });
  }
  return {
    fd,
    backend: "uv",
    stop() {
      if (stopped) return;
      stopped = true;
      watched.delete(fd);
      handle.close();
    },
    unref: () => handle.unref(),
    ref: () => handle.ref(),
  };
}

function watchPoll(fd: number, interest: { readable?: boolean; writable?: boolean }, onReady: (r: Readiness) => void, intervalMs: number): FdWatcher {
  let stopped = false;
  let referenced = true;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const req = [{ fd, readable: !!interest.readable, writable: !!interest.writable }];
  const schedule = (busy: boolean): void => {
    if (stopped) return;
    if (busy) {
      immediate = setImmediate(tick);
      if (!referenced) immediate.unref();
    } else {
      timer = setTimeout(tick, intervalMs);
      if (!referenced) timer.unref();
    }
  };
  const tick = (): void => {
    timer = undefined;
    immediate = undefined;
    if (stopped) return;
    const r = pollFds(req, 0)[0]!;
    const hit = (interest.readable && r.readable) || (interest.writable && r.writable) || r.hangup || r.error;
    if (hit) onReady(r);
    schedule(!!hit);
  };
  schedule(true);
  return {
    fd,
    backend: "poll",
    stop() {
      if (stopped) return;
      stopped = true;
      watched.delete(fd);
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    },
    unref() {
      referenced = false;
      timer?.unref();
      immediate?.unref();
    },
    ref() {
      referenced = true;
      timer?.ref();
      immediate?.ref();
    },
  };
}

/**
 * Resolve true when `fd` becomes readable (or hangs up / errors), false
 * after `timeoutMs`. A small helper for tests and control paths; a datapath
 * keeps one {@link watchFd} instead.
 */
export function waitReadable(fd: number, timeoutMs: number, options: WatchOptions = {}): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let w: FdWatcher | undefined;
    const timer = setTimeout(() => {
      w?.stop();
      resolve(false);
    }, timeoutMs);
    try {
      w = watchFd(
        fd,
        { readable: true },
        () => {
          w?.stop();
          clearTimeout(timer);
          resolve(true);
        },
        options,
      );
    } catch (e) {
      clearTimeout(timer);
      reject(e);
    }
  });
}
