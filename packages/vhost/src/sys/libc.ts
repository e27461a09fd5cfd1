/**
 * The one place that touches koffi (internal; not exported from the package).
 *
 * koffi is loaded lazily, on the first syscall, through `createRequire`, so
 * importing @nfvio/vhost on macOS, Windows or a musl system never loads the
 * native module; only calling a syscall there throws a {@link SysError} with
 * code `ENOSYS` and a message saying why.
 *
 * Declarations follow the glibc prototypes for x86_64 (off_t is 64-bit,
 * ssize_t is `intptr_t`). koffi passes a TypedArray argument for a `void *`
 * parameter as a pointer to its bytes (honouring byteOffset), so callee
 * writes land in the JavaScript buffer without a copy. Pointers that must be
 * stored inside C structs (sendmsg/recvmsg) cannot point into the JavaScript
 * heap, so those structs live in koffi-allocated scratch memory
 * ({@link Scratch}).
 */
import { createRequire } from "node:module";
import type * as Koffi from "koffi";
import { ENOSYS } from "./constants.js";
import { SysError } from "./errors.js";

export type KoffiModule = typeof Koffi;
/** An opaque native pointer as koffi represents it. */
export type Pointer = { readonly __brand: "NativePointer" };

export interface Libc {
  readonly koffi: KoffiModule;
  errno(): number;
  close(fd: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  open(path: string, flags: number): number;
  fcntlGet(fd: number, cmd: number): number;
  fcntlSet(fd: number, cmd: number, arg: number): number;
  memfd_create(name: string, flags: number): number;
  ftruncate(fd: number, len: number): number;
  mmap(addr: Pointer | null, len: number, prot: number, flags: number, fd: number, offset: number): Pointer | null;
  munmap(addr: Pointer, len: number): number;
  sysconf(name: number): number;
  eventfd(initval: number, flags: number): number;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, addr: null, len: null, flags: number): number;
  chmod(path: string, mode: number): number;
  fchmod(fd: number, mode: number): number;
  sendmsg(fd: number, msg: Pointer, flags: number): number;
  recvmsg(fd: number, msg: Pointer, flags: number): number;
  poll(fds: Uint8Array, nfds: number, timeout: number): number;
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  /** Address of a native pointer. */
  address(ptr: Pointer): bigint;
  /** An ArrayBuffer over native memory, without copy (koffi.view). */
  view(ptr: Pointer, len: number): ArrayBuffer;
  alloc(len: number): Pointer;
  free(ptr: Pointer): void;
}

let cached: Libc | undefined;
let failure: SysError | undefined;

/** True when the syscall module can work here (Linux x86_64 with glibc and koffi). Never throws. */
export function sysAvailable(): boolean {
  try {
    libc();
    return true;
  } catch {
    return false;
  }
}

/** The bound libc, loading koffi on first use. Throws SysError(ENOSYS) where unsupported. */
export function libc(): Libc {
  if (cached) return cached;
  if (failure) throw failure;
  if (process.platform !== "linux" || process.arch !== "x64") {
    failure = new SysError("load", ENOSYS, { detail: `the nfvio syscall module supports Linux x86_64 (glibc) only; this is ${process.platform}/${process.arch}` });
    throw failure;
  }
  let koffi: KoffiModule;
  let lib: Koffi.IKoffiLib;
  try {
    koffi = createRequire(import.meta.url)("koffi") as KoffiModule;
    lib = koffi.load("libc.so.6");
  } catch (e) {
    failure = new SysError("load", ENOSYS, { detail: `cannot load koffi or glibc's libc.so.6: ${(e as Error).message}` });
    throw failure;
  }
  cached = bind(koffi, lib);
  return cached;
}

type Fn = (...args: unknown[]) => unknown;

function bind(koffi: KoffiModule, lib: Koffi.IKoffiLib): Libc {
  const f = (decl: string): Fn => lib.func(decl) as Fn;
  const close = f("int close(int fd)");
  const read = f("intptr_t read(int fd, void *buf, size_t count)");
  const write = f("intptr_t write(int fd, const void *buf, size_t count)");
  const open = f("int open(const char *path, int flags, ...)");
  const fcntl = f("int fcntl(int fd, int cmd, ...)");
  const memfd_create = f("int memfd_create(const char *name, unsigned int flags)");
  const ftruncate = f("int ftruncate(int fd, int64_t length)");
  const mmap = f("void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)");
  const munmap = f("int munmap(void *addr, size_t length)");
  const sysconf = f("long sysconf(int name)");
  const eventfd = f("int eventfd(unsigned int initval, int flags)");
  const socket = f("int socket(int domain, int type, int protocol)");
  const socketpair = f("int socketpair(int domain, int type, int protocol, int *sv)");
  const bindFn = f("int bind(int fd, const void *addr, uint32_t addrlen)");
  const connect = f("int connect(int fd, const void *addr, uint32_t addrlen)");
  const listen = f("int listen(int fd, int backlog)");
  const accept4 = f("int accept4(int fd, void *addr, void *addrlen, int flags)");
  const chmod = f("int chmod(const char *path, uint32_t mode)");
  const fchmod = f("int fchmod(int fd, uint32_t mode)");
  const sendmsg = f("intptr_t sendmsg(int fd, void *msg, int flags)");
  const recvmsg = f("intptr_t recvmsg(int fd, void *msg, int flags)");
  const poll = f("int poll(void *fds, uint64_t nfds, int timeout)");
  const ioctl = f("int ioctl(int fd, unsigned long request, ...)");
  const num = (v: unknown): number => Number(v);
  return {
    koffi,
    errno: () => koffi.errno(),
    close: (fd) => num(close(fd)),
    read: (fd, buf, len) => num(read(fd, buf, len)),
    write: (fd, buf, len) => num(write(fd, buf, len)),
    open: (path, flags) => num(open(path, flags)),
    fcntlGet: (fd, cmd) => num(fcntl(fd, cmd)),
    fcntlSet: (fd, cmd, arg) => num(fcntl(fd, cmd, "int", arg)),
    memfd_create: (name, flags) => num(memfd_create(name, flags)),
    ftruncate: (fd, len) => num(ftruncate(fd, len)),
    mmap: (addr, len, prot, flags, fd, offset) => mmap(addr, len, prot, flags, fd, offset) as Pointer | null,
    munmap: (addr, len) => num(munmap(addr, len)),
    sysconf: (name) => num(sysconf(name)),
    eventfd: (initval, flags) => num(eventfd(initval, flags)),
    socket: (d, t, p) => num(socket(d, t, p)),
    socketpair: (d, t, p, sv) => num(socketpair(d, t, p, sv)),
    bind: (fd, addr, len) => num(bindFn(fd, addr, len)),
    connect: (fd, addr, len) => num(connect(fd, addr, len)),
    listen: (fd, backlog) => num(listen(fd, backlog)),
    accept4: (fd, addr, len, flags) => num(accept4(fd, addr, len, flags)),
    chmod: (path, mode) => num(chmod(path, mode)),
    fchmod: (fd, mode) => num(fchmod(fd, mode)),
    sendmsg: (fd, msg, flags) => num(sendmsg(fd, msg, flags)),
    recvmsg: (fd, msg, flags) => num(recvmsg(fd, msg, flags)),
    poll: (fds, nfds, timeout) => num(poll(fds, nfds, timeout)),
    ioctlPtr: (fd, request, arg) => num(ioctl(fd, request, "void *", arg)),
    address: (ptr) => koffi.address(ptr),
    view: (ptr, len) => koffi.view(ptr, len),
    alloc: (len) => koffi.alloc("uint8_t", len) as Pointer,
    free: (ptr) => koffi.free(ptr),
  };
}

/**
 * Native scratch memory for structs that hold pointers (msghdr, iovec,
 * cmsghdr and the bytes they point at). One per thread (module instances are
 * per thread), grown on demand, never shrunk. Syscalls are synchronous, so a
 * single buffer is never used by two calls at once.
 */
export class Scratch {
  private ptr: Pointer | undefined;
  private size = 0;
  private base = 0n;
  private bytes = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));

  /** Make sure at least `len` bytes exist; returns the pointer, its address, and views over it. */
  ensure(len: number): { ptr: Pointer; base: bigint; bytes: Uint8Array; view: DataView } {
    const c = libc();
    if (!this.ptr || this.size < len) {
      if (this.ptr) c.free(this.ptr);
      const size = Math.max(4096, 2 ** Math.ceil(Math.log2(len)));
      this.ptr = c.alloc(size);
      this.size = size;
      this.base = c.address(this.ptr);
      const ab = c.view(this.ptr, size);
      this.bytes = new Uint8Array(ab);
      this.dv = new DataView(ab);
    }
    return { ptr: this.ptr, base: this.base, bytes: this.bytes, view: this.dv };
  }
}
