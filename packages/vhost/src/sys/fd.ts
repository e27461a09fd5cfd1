/**
 * Plain file-descriptor operations: close, nonblocking mode, read and write.
 *
 * `read`/`write` return `null` when a nonblocking descriptor would block
 * (EAGAIN), so callers poll readiness (see {@link watchFd}) instead of
 * catching exceptions. EINTR is retried here and nowhere else needs to care.
 */
import { EAGAIN, EINTR, F_GETFL, F_SETFL, O_NONBLOCK } from "./constants.js";
import { SysError } from "./errors.js";
import { libc } from "./libc.js";

/** Run a syscall, retrying on EINTR; returns the result or throws SysError. */
export function retry(syscall: string, call: () => number, target: { fd?: number; path?: string } = {}): number {
  const c = libc();
  for (;;) {
    const r = call();
    if (r >= 0) return r;
    const e = c.errno();
    if (e === EINTR) continue;
    throw new SysError(syscall, e, target);
  }
}

/** As {@link retry}, but EAGAIN (would block) returns null. */
export function retryNonblocking(syscall: string, call: () => number, target: { fd?: number; path?: string } = {}): number | null {
  const c = libc();
  for (;;) {
    const r = call();
    if (r >= 0) return r;
    const e = c.errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new SysError(syscall, e, target);
  }
}

/**
 * close(2). Never retried on EINTR: on Linux the descriptor is released
 * even when close reports EINTR, and retrying could close a descriptor
 * another thread just opened (close(2), "Dealing with error returns").
 */
export function close(fd: number): void {
  const c = libc();
  if (c.close(fd) < 0) {
    const e = c.errno();
    if (e !== EINTR) throw new SysError("close", e, { fd });
  }
}

/** Close every descriptor, ignoring errors; for cleanup paths. */
export function closeAll(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // cleanup: nothing useful to do with a failed close
    }
  }
}

/** Set or clear O_NONBLOCK with fcntl(2). */
export function setNonblocking(fd: number, on = true): void {
  const c = libc();
  const flags = retry("fcntl(F_GETFL)", () => c.fcntlGet(fd, F_GETFL), { fd });
  const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (next !== flags) retry("fcntl(F_SETFL)", () => c.fcntlSet(fd, F_SETFL, next), { fd });
}

/** read(2) into `buf`; the byte count (0 = end of file), or null when it would block. */
export function read(fd: number, buf: Uint8Array): number | null {
  const c = libc();
  return retryNonblocking("read", () => c.read(fd, buf, buf.byteLength), { fd });
}

/** write(2) of `buf`; the byte count written, or null when it would block. */
export function write(fd: number, buf: Uint8Array): number | null {
  const c = libc();
  return retryNonblocking("write", () => c.write(fd, buf, buf.byteLength), { fd });
}
