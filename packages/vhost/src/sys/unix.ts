/**
 * AF_UNIX stream sockets with descriptor passing (unix(7), cmsg(3)).
 *
 * Every socket is created SOCK_NONBLOCK | SOCK_CLOEXEC, and every received
 * descriptor is made close-on-exec (MSG_CMSG_CLOEXEC). Calls that would
 * block return null; watch the descriptor with {@link watchFd} and retry.
 *
 * Descriptor ownership: a descriptor returned here belongs to the caller,
 * who must close it. `recvMessage` never leaves a received descriptor
 * behind that it does not return: when the control data was truncated it
 * closes whatever did arrive and reports the truncation instead.
 */
import { lstatSync, unlinkSync } from "node:fs";
import {
  AF_UNIX,
  CMSG_ALIGN,
  CMSGHDR_SIZE,
  EINVAL,
  ENAMETOOLONG,
  IOVEC_SIZE,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  MSGHDR_CONTROL,
  MSGHDR_CONTROLLEN,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_SIZE,
  SCM_MAX_FD,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_UN_SIZE,
  SOL_SOCKET,
  SUN_PATH_MAX,
  SUN_PATH_OFFSET,
} from "./constants.js";
import { SysError } from "./errors.js";
import { closeAll, retry, retryNonblocking } from "./fd.js";
import { libc, Scratch } from "./libc.js";

/** Most descriptors one vhost-user message carries (VHOST_MEMORY_BASELINE_NREGIONS). */
export const MAX_FDS_PER_MESSAGE = 8;

const encoder = new TextEncoder();

function sockaddrUn(path: string, syscall: string): { addr: Uint8Array; len: number } {
  const bytes = encoder.encode(path);
  if (bytes.length === 0 || bytes.includes(0)) throw new SysError(syscall, EINVAL, { path, detail: "a socket path must be non-empty and contain no NUL byte" });
  if (bytes.length > SUN_PATH_MAX) throw new SysError(syscall, ENAMETOOLONG, { path, detail: `${bytes.length} bytes; sun_path holds at most ${SUN_PATH_MAX}` });
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, SUN_PATH_OFFSET);
  // sun_family + path + terminating NUL (unix(7), "Pathname sockets").
  return { addr, len: SUN_PATH_OFFSET + bytes.length + 1 };
}

/** socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0). */
export function unixSocket(): number {
  const c = libc();
  return retry("socket", () => c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

/** socketpair(2): two connected, nonblocking, close-on-exec AF_UNIX stream sockets. */
export function socketPair(): [number, number] {
  const c = libc();
  const sv = new Int32Array(2);
  retry("socketpair", () => c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
  return [sv[0]!, sv[1]!];
}

/** bind(2) to a filesystem path. */
export function bindUnix(fd: number, path: string): void {
  const c = libc();
  const { addr, len } = sockaddrUn(path, "bind");
  retry("bind", () => c.bind(fd, addr, len), { fd, path });
}

/** listen(2). */
export function listen(fd: number, backlog = 16): void {
  const c = libc();
  retry("listen", () => c.listen(fd, backlog), { fd });
}

/** accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; null when no connection is pending. */
export function accept(fd: number): number | null {
  const c = libc();
  return retryNonblocking("accept4", () => c.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC), { fd });
}

/**
 * connect(2) to a listening socket path. A Unix stream connect completes at
 * once or fails: EAGAIN means the listener's backlog is full, ECONNREFUSED
 * that nobody listens, ENOENT that the path does not exist.
 */
export function connectFd(fd: number, path: string): void {
  const c = libc();
  const { addr, len } = sockaddrUn(path, "connect");
  retry("connect", () => c.connect(fd, addr, len), { fd, path });
}

/** A new socket connected to `path`. */
export function connectUnix(path: string): number {
  const fd = unixSocket();
  try {
    connectFd(fd, path);
    return fd;
  } catch (e) {
    closeAll([fd]);
    throw e;
  }
}

/** chmod(2). */
export function chmod(path: string, mode: number): void {
  const c = libc();
  retry("chmod", () => c.chmod(path, mode), { path });
}

/** fchmod(2). */
export function fchmod(fd: number, mode: number): void {
  const c = libc();
  retry("fchmod", () => c.fchmod(fd, mode), { fd });
}

export interface ListenOptions {
  /** Permission bits of the socket file (default 0o600: only this user may connect). */
  mode?: number;
  /** listen(2) backlog (default 16). */
  backlog?: number;
  /** Remove a stale socket file at `path` first (only if it is a socket; default false). */
  replace?: boolean;
}

/**
 * A listening socket at `path` whose file has exactly `mode` (default 0600).
 *
 * No window with a wider mode: the socket inode is fchmod'ed before bind,
 * and Linux creates the file with the socket inode's mode masked by the
 * umask (`unix_bind` in net/unix/af_unix.c uses
 * `SOCK_INODE(sock)->i_mode & ~current_umask()`). The result is checked
 * with lstat after bind, and corrected with chmod if a stricter umask removed
 * bits, still before listen(2): until then every connect is refused, so no
 * peer can connect through a wrong mode. The process umask is never touched
 * (it is process-wide and would race with other threads).
 */
export function listenUnix(path: string, options: ListenOptions = {}): number {
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new SysError("listen", EINVAL, { path, detail: `mode ${mode} is not a permission mask` });
  if (options.replace) removeStaleSocket(path);
  const fd = unixSocket();
  try {
    fchmod(fd, mode);
    bindUnix(fd, path);
    if ((lstatSync(path).mode & 0o777) !== mode) chmod(path, mode);
    listen(fd, options.backlog ?? 16);
    return fd;
  } catch (e) {
    closeAll([fd]);
    throw e;
  }
}

function removeStaleSocket(path: string): void {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new SysError("unlink", EINVAL, { path, detail: "refusing to replace a file that is not a socket" });
  unlinkSync(path);
}

// sendmsg/recvmsg --------------------------------------------------------

const scratch = new Scratch();
const align = (n: number): number => (n + CMSG_ALIGN - 1) & ~(CMSG_ALIGN - 1);
const cmsgSpace = (dataLen: number): number => CMSGHDR_SIZE + align(dataLen);
const CONTROL_OFFSET = MSGHDR_SIZE + IOVEC_SIZE; // 72, already 8-aligned

/**
 * sendmsg(2) of `bytes` with up to 8 descriptors as SCM_RIGHTS.
 *
 * Returns the number of bytes sent, or null when the socket buffer is full.
 * A stream socket may send fewer bytes than asked; the descriptors travel
 * with the first byte, so send the rest without them.
 */
export function sendMessage(fd: number, bytes: Uint8Array, fds: readonly number[] = []): number | null {
  if (fds.length > MAX_FDS_PER_MESSAGE) throw new SysError("sendmsg", EINVAL, { fd, detail: `${fds.length} descriptors; at most ${MAX_FDS_PER_MESSAGE} per message` });
  if (bytes.length === 0 && fds.length > 0) throw new SysError("sendmsg", EINVAL, { fd, detail: "descriptors need at least one byte of data to travel with" });
  const c = libc();
  const control = fds.length > 0 ? cmsgSpace(fds.length * 4) : 0;
  const dataOffset = CONTROL_OFFSET + align(control);
  const s = scratch.ensure(dataOffset + bytes.length);
  const v = s.view;
  s.bytes.fill(0, 0, dataOffset);
  s.bytes.set(bytes, dataOffset);
  v.setBigUint64(MSGHDR_IOV, s.base + BigInt(MSGHDR_SIZE), true);
  v.setBigUint64(MSGHDR_IOVLEN, 1n, true);
  v.setBigUint64(MSGHDR_SIZE, s.base + BigInt(dataOffset), true); // iov_base
  v.setBigUint64(MSGHDR_SIZE + 8, BigInt(bytes.length), true); // iov_len
  if (fds.length > 0) {
    v.setBigUint64(MSGHDR_CONTROL, s.base + BigInt(CONTROL_OFFSET), true);
    v.setBigUint64(MSGHDR_CONTROLLEN, BigInt(control), true);
    v.setBigUint64(CONTROL_OFFSET, BigInt(CMSGHDR_SIZE + fds.length * 4), true); // cmsg_len = CMSG_LEN
    v.setInt32(CONTROL_OFFSET + 8, SOL_SOCKET, true);
    v.setInt32(CONTROL_OFFSET + 12, SCM_RIGHTS, true);
    fds.forEach((f, i) => v.setInt32(CONTROL_OFFSET + CMSGHDR_SIZE + 4 * i, f, true));
  }
  return retryNonblocking("sendmsg", () => c.sendmsg(fd, s.ptr, MSG_NOSIGNAL | MSG_DONTWAIT), { fd });
}

export interface ReceivedMessage {
  /** Bytes written into the buffer; 0 means the peer closed the connection. */
  bytes: number;
  /** Descriptors received with these bytes, in the sender's order; the caller owns them. */
  fds: number[];
  /**
   * MSG_CTRUNC: more descriptors were sent than `maxFds` allowed. Every
   * descriptor that did arrive has already been closed and `fds` is empty;
   * treat the message as malformed.
   */
  controlTruncated: boolean;
  /** MSG_TRUNC: datagram data was cut (never set on a stream socket, where the rest stays queued). */
  dataTruncated: boolean;
}

export interface RecvOptions {
  /** Most descriptors accepted with this read (default 8, at most 253). */
  maxFds?: number;
}

/**
 * recvmsg(2) into `buf`, collecting SCM_RIGHTS descriptors.
 *
 * Returns null when nothing is queued. On a stream socket, descriptors
 * arrive with the first byte of the sendmsg that carried them; read a
 * vhost-user header (12 bytes) and then its body so descriptors are never
 * attributed to the wrong message.
 */
export function recvMessage(fd: number, buf: Uint8Array, options: RecvOptions = {}): ReceivedMessage | null {
  const maxFds = options.maxFds ?? MAX_FDS_PER_MESSAGE;
  if (buf.length === 0) throw new SysError("recvmsg", EINVAL, { fd, detail: "an empty buffer would read 0 bytes, which means end of stream" });
  if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > SCM_MAX_FD) throw new SysError("recvmsg", EINVAL, { fd, detail: `maxFds ${maxFds} must be 0 .. ${SCM_MAX_FD}` });
  const c = libc();
  const control = maxFds > 0 ? cmsgSpace(maxFds * 4) : 0;
  const dataOffset = CONTROL_OFFSET + align(control);
  const s = scratch.ensure(dataOffset + buf.length);
  const v = s.view;
  s.bytes.fill(0, 0, dataOffset);
  v.setBigUint64(MSGHDR_IOV, s.base + BigInt(MSGHDR_SIZE), true);
  v.setBigUint64(MSGHDR_IOVLEN, 1n, true);
  v.setBigUint64(MSGHDR_SIZE, s.base + BigInt(dataOffset), true);
  v.setBigUint64(MSGHDR_SIZE + 8, BigInt(buf.length), true);
  if (control > 0) {
    v.setBigUint64(MSGHDR_CONTROL, s.base + BigInt(CONTROL_OFFSET), true);
    v.setBigUint64(MSGHDR_CONTROLLEN, BigInt(control), true);
  }
  const n = retryNonblocking("recvmsg", () => c.recvmsg(fd, s.ptr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT), { fd });
  if (n === null) return null;
  buf.set(s.bytes.subarray(dataOffset, dataOffset + n));
  const flags = v.getInt32(MSGHDR_FLAGS, true);
  const fds = parseRights(v, Number(v.getBigUint64(MSGHDR_CONTROLLEN, true)));
  const controlTruncated = (flags & MSG_CTRUNC) !== 0;
  if (controlTruncated) closeAll(fds.splice(0));
  return { bytes: n, fds, controlTruncated, dataTruncated: (flags & MSG_TRUNC) !== 0 };
}

/** Walk the control messages the kernel returned (CMSG_FIRSTHDR/CMSG_NXTHDR) and collect SCM_RIGHTS descriptors. */
function parseRights(v: DataView, controlLen: number): number[] {
  const fds: number[] = [];
  let off = 0;
  while (off + CMSGHDR_SIZE <= controlLen) {
    const len = Number(v.getBigUint64(CONTROL_OFFSET + off, true));
    if (len < CMSGHDR_SIZE || off + len > controlLen) break;
    const level = v.getInt32(CONTROL_OFFSET + off + 8, true);
    const type = v.getInt32(CONTROL_OFFSET + off + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      const count = Math.floor((len - CMSGHDR_SIZE) / 4);
      for (let i = 0; i < count; i++) fds.push(v.getInt32(CONTROL_OFFSET + off + CMSGHDR_SIZE + 4 * i, true));
    }
    off += align(len);
  }
  return fds;
}

