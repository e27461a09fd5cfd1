/**
 * The error type of the syscall module.
 *
 * Every failed syscall becomes one `SysError` carrying the errno value, its
 * symbolic code (`EAGAIN`, `EPERM`, ...), the name of the syscall and, where
 * there is one, the path or file descriptor it was applied to. Callers test
 * `err.code`, never the message.
 *
 * "Would block" is not an error on a nonblocking descriptor: the functions
 * that can hit it (`read`, `recvMessage`, `accept`, ...) return `null` instead
 * of throwing, so a datapath loop never pays for an exception.
 */
import { getSystemErrorMap } from "node:util";

export class SysError extends Error {
  /** Symbolic errno name, e.g. `EAGAIN`; `E<number>` when Node does not know it. */
  readonly code: string;
  /** Positive errno value. */
  readonly errno: number;
  /** The C function that failed, e.g. `bind` or `ioctl(TUNSETIFF)`. */
  readonly syscall: string;
  /** The path the call was about, when there is one. */
  readonly path: string | undefined;
  /** The file descriptor the call was about, when there is one. */
  readonly fd: number | undefined;

  constructor(syscall: string, errno: number, target: { path?: string; fd?: number; detail?: string } = {}) {
    const [code, description] = describeErrno(errno);
    const where = [target.fd !== undefined ? `fd ${target.fd}` : "", target.path !== undefined ? JSON.stringify(target.path) : ""].filter(Boolean).join(", ");
    super(`${syscall}(${where}) failed: ${code} (${description})${target.detail ? `: ${target.detail}` : ""}`);
    this.name = "SysError";
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = target.path;
    this.fd = target.fd;
  }
}

/** True when `err` is a {@link SysError}, optionally with the given code. */
export function isSysError(err: unknown, code?: string): err is SysError {
  return err instanceof SysError && (code === undefined || err.code === code);
}

let errnoMap: Map<number, [string, string]> | undefined;

/** `[code, description]` for an errno value, using libuv's table (the same strings Node prints). */
export function describeErrno(errno: number): [string, string] {
  errnoMap ??= getSystemErrorMap();
  // libuv keys its table by negative errno on Unix.
  const entry = errnoMap.get(-errno);
  return entry ? [entry[0], entry[1]] : [`E${errno}`, "unknown error"];
}
