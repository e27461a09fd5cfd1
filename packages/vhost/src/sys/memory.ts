/**
 * Shared memory: memfd_create(2), ftruncate(2), mmap(2)/munmap(2).
 *
 * A {@link Mapping} exposes a MAP_SHARED mapping as an `ArrayBuffer` (made
 * with `koffi.view`, which wraps the native range without copying), so
 * `Uint8Array`, `DataView` and `@nfvio/virtio`'s `GuestMemory` work on it
 * directly. Two mappings of the same memfd, in this thread, another thread
 * or another process, see each other's writes.
 *
 * ## Lifetime rules
 *
 * An ArrayBuffer that points at native memory cannot be detached from
 * JavaScript in Node 20 (structured-clone transfer copies it instead), so a
 * plain munmap would leave every typed array over it pointing at unmapped
 * pages: the next access kills the process with SIGSEGV. `Mapping` avoids
 * that:
 *
 * - `unmap()` releases the shared pages at once (the memfd, and the peer's
 *   memory, are no longer referenced by this process) by mapping private,
 *   zero-filled, unreserved anonymous memory over the same addresses
 *   (MAP_FIXED replaces the old mapping atomically). Stale views keep
 *   working but read zeros and their writes go nowhere shared; nothing
 *   crashes.
 * - The address range itself is returned to the kernel (munmap) by a
 *   FinalizationRegistry once the ArrayBuffer and every view over it have
 *   been garbage-collected. A mapping that is never `unmap()`ed is released
 *   the same way, so forgetting `unmap()` leaks nothing past the views.
 * - The file descriptor is independent of the mapping: it may be closed
 *   right after `mmap` (the mapping keeps the memfd alive), and must be
 *   closed by whoever owns it.
 * - An ArrayBuffer is per thread. To share a memfd with a worker, send the
 *   fd number (descriptors are process-wide) and map it again there; both
 *   mappings are the same physical pages.
 * - A worker that exits skips finalizers: call `unmap()` before a worker
 *   ends so the shared pages are dropped; only an unreserved placeholder
 *   range then remains until the process exits.
 * - V8 caps a typed array at 2^32 elements in Node 20, so a single
 *   Uint8Array over a mapping above 4 GiB fails; map large memory in
 *   several regions (vhost-user regions are usually much smaller).
 */
import { EINVAL, MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MFD_ALLOW_SEALING, MFD_CLOEXEC, PROT_READ, PROT_WRITE, SC_PAGESIZE } from "./constants.js";
import { SysError } from "./errors.js";
import { retry } from "./fd.js";
import { libc, type Pointer } from "./libc.js";

export interface MemfdOptions {
  /** Close on exec (default true). */
  cloexec?: boolean;
  /** Allow F_ADD_SEALS (default false). */
  allowSealing?: boolean;
}

/** memfd_create(2): an anonymous file in RAM, e.g. for guest memory shared over vhost-user. */
export function memfdCreate(name: string, options: MemfdOptions = {}): number {
  const c = libc();
  const flags = (options.cloexec === false ? 0 : MFD_CLOEXEC) | (options.allowSealing ? MFD_ALLOW_SEALING : 0);
  return retry("memfd_create", () => c.memfd_create(name, flags), { path: name });
}

/** ftruncate(2): set the size of a file (a memfd starts at 0 bytes). */
export function ftruncate(fd: number, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new SysError("ftruncate", EINVAL, { fd, detail: `size ${size} is not a non-negative integer` });
  const c = libc();
  retry("ftruncate", () => c.ftruncate(fd, size), { fd });
}

let pageSizeCache = 0;

/** The system page size (sysconf(_SC_PAGESIZE)); mmap offsets must be multiples of it. */
export function pageSize(): number {
  if (pageSizeCache === 0) pageSizeCache = libc().sysconf(SC_PAGESIZE);
  return pageSizeCache;
}

export interface MmapOptions {
  /** Byte offset into the file; a multiple of the page size (default 0). */
  offset?: number;
}

interface Held {
  ptr: Pointer;
  size: number;
}

// Returns the address range to the kernel once no JavaScript can reach it.
const reaper = new FinalizationRegistry<Held>((held) => {
  try {
    libc().munmap(held.ptr, held.size);
  } catch {
    // nothing to report to from a finalizer
  }
});

/** A MAP_SHARED mapping of a file, exposed as an ArrayBuffer. See the module notes for lifetime rules. */
export class Mapping {
  /** The mapped bytes; valid (shared) until {@link unmap}. */
  readonly buffer: ArrayBuffer;
  /** Length in bytes. */
  readonly size: number;
  /** Virtual address of the first byte in this process (for logs and vhost-user replies). */
  readonly address: bigint;
  private readonly held: Held;
  private live = true;

  /** @internal use {@link mmap}. */
  constructor(ptr: Pointer, size: number) {
    const c = libc();
    this.held = { ptr, size };
    this.size = size;
    this.address = c.address(ptr);
    this.buffer = c.view(ptr, size);
    reaper.register(this.buffer, this.held);
  }

  /** True until {@link unmap} has been called. */
  get mapped(): boolean {
    return this.live;
  }

  /**
   * Stop sharing: the pages of the file are released now; the address range
   * stays reserved (private zero pages) until the buffer is garbage-collected.
   * Idempotent.
   */
  unmap(): void {
    if (!this.live) return;
    const c = libc();
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
    const p = c.mmap(this.held.ptr, this.size, PROT_READ | PROT_WRITE, flags, -1, 0);
    const e = c.errno();
    if (p === null || c.address(p) === MAP_FAILED) throw new SysError("mmap(MAP_FIXED)", e, { detail: "replacing a shared mapping on unmap" });
    this.live = false;
  }
}

/** mmap(2) `size` bytes of `fd` with MAP_SHARED. */
export function mmap(fd: number, size: number, options: MmapOptions = {}): Mapping {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(size) || size <= 0) throw new SysError("mmap", EINVAL, { fd, detail: `size ${size} must be a positive integer` });
  if (!Number.isSafeInteger(offset) || offset < 0) throw new SysError("mmap", EINVAL, { fd, detail: `offset ${offset} must be a non-negative integer` });
  const c = libc();
  // Always read-write: a JavaScript view cannot be made read-only, and a
  // store into a PROT_READ page would kill the process.
  const p = c.mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  const e = c.errno();
  if (p === null || c.address(p) === MAP_FAILED) throw new SysError("mmap", e, { fd });
  return new Mapping(p, size);
}
