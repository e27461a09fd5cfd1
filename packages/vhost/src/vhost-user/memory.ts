/**
 * The front-end's memory as the back-end sees it: the regions of
 * SET_MEM_TABLE, each mmap'd from the descriptor that came with it, turned
 * into one {@link GuestMemory} keyed by guest-physical address, plus the
 * user-address translation ring addresses need.
 *
 * vhost-user.rst, "Memory access": each region has a guest address and a
 * user address; "User addresses map to the vhost memory region containing
 * that user address" (SET_VRING_ADDR carries user addresses), and, without
 * VIRTIO_F_IOMMU_PLATFORM, "Guest addresses map to the vhost memory region
 * containing that guest address" (descriptors carry guest addresses).
 *
 * A region's bytes start `mmap_offset` bytes into its file ("offset where
 * region starts in the mapped memory"). mmap(2) needs a page-aligned file
 * offset, so the mapping starts at the page below and the region view skips
 * the rest.
 *
 * Before mapping, each descriptor is fstat'ed: it must be a regular file (a
 * memfd or a hugetlbfs file) at least `mmap_offset + size` bytes long.
 * Touching a MAP_SHARED page beyond the end of its file raises SIGBUS,
 * which would kill the whole process, so a region that claims more bytes
 * than its file has is refused here. (A front-end that shrinks the file
 * after SET_MEM_TABLE can still cause SIGBUS; the vhost-user protocol has
 * no way to prevent that short of requiring seals, which front-ends do not
 * set.)
 */
import { fstatSync } from "node:fs";
import { GuestMemory, GPA_LIMIT } from "@nfvio/virtio";
import * as sys from "../sys/index.js";
import type { MemoryTable } from "./messages.js";

/** One mapped region, with numbers (every address is checked to be below 2^53). */
export interface MappedRegion {
  readonly guestAddr: number;
  readonly size: number;
  readonly userAddr: number;
  readonly mmapOffset: number;
  /** The mapping; the region's bytes start `viewOffset` bytes into it. */
  readonly mapping: sys.Mapping;
  readonly viewOffset: number;
}

/** Why a memory table could not be mapped; the message is for the log line. */
export class MemoryMapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryMapError";
  }
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/**
 * Map a memory table. `fds[i]` belongs to region i; the caller keeps
 * ownership of the descriptors (close them after this returns, mapped or
 * not: a mapping keeps its file alive). Throws {@link MemoryMapError} and
 * leaves nothing mapped on failure.
 */
export function mapMemoryTable(table: MemoryTable, fds: readonly number[], options: { maxBytes?: number } = {}): VhostUserMemory {
  if (fds.length !== table.regions.length) throw new MemoryMapError(`${table.regions.length} regions but ${fds.length} descriptors`);
  const maxBytes = options.maxBytes ?? 64 * 2 ** 30;
  const page = sys.pageSize();
  const mapped: MappedRegion[] = [];
  let total = 0;
  try {
    table.regions.forEach((r, i) => {
      const what = `region ${i} (guest ${hex(r.guestAddr)}, user ${hex(r.userAddr)}, size ${hex(r.size)})`;
      for (const [name, v] of [
        ["guest address end", r.guestAddr + r.size],
        ["user address end", r.userAddr + r.size],
        ["mmap offset end", r.mmapOffset + r.size],
      ] as const) {
        if (v > BigInt(GPA_LIMIT)) throw new MemoryMapError(`${what}: ${name} ${hex(v)} is above 2^53`);
      }
      const size = Number(r.size);
      const mmapOffset = Number(r.mmapOffset);
      total += size;
      if (total > maxBytes) throw new MemoryMapError(`${what}: the table maps more than ${maxBytes} bytes`);
      if (size > 2 ** 32 - page) throw new MemoryMapError(`${what}: regions above 4 GiB are not supported (split guest memory into smaller regions)`);
      const fd = fds[i]!;
      let st;
      try {
        st = fstatSync(fd);
      } catch (e) {
        throw new MemoryMapError(`${what}: fstat of descriptor ${fd} failed: ${(e as Error).message}`);
      }
      if (!st.isFile()) throw new MemoryMapError(`${what}: descriptor ${fd} is not a regular file (memfd or hugetlbfs file)`);
      if (mmapOffset + size > st.size) throw new MemoryMapError(`${what}: needs ${mmapOffset + size} bytes of its file, which has ${st.size}`);
      const base = mmapOffset - (mmapOffset % page);
      const viewOffset = mmapOffset - base;
      let mapping: sys.Mapping;
      try {
        mapping = sys.mmap(fd, size + viewOffset, { offset: base });
      } catch (e) {
        throw new MemoryMapError(`${what}: ${(e as Error).message}`);
      }
      mapped.push({ guestAddr: Number(r.guestAddr), size, userAddr: Number(r.userAddr), mmapOffset, mapping, viewOffset });
    });
    return new VhostUserMemory(mapped);
  } catch (e) {
    for (const m of mapped) m.mapping.unmap();
    throw e;
  }
}

/** A mapped memory table: guest memory for the rings, and user-address translation. */
export class VhostUserMemory {
  readonly guest: GuestMemory;
  readonly regions: readonly MappedRegion[];
  private live = true;

  /** @internal use {@link mapMemoryTable}. */
  constructor(regions: readonly MappedRegion[]) {
    this.regions = regions;
    this.guest = new GuestMemory(regions.map((r) => ({ gpa: r.guestAddr, buffer: r.mapping.buffer, offset: r.viewOffset, size: r.size })));
  }

  /**
   * The guest-physical address of front-end user address `ua`, if
   * [ua, ua + len) lies inside one region; -1 otherwise.
   */
  userToGuest(ua: number, len: number): number {
    for (const r of this.regions) {
      if (ua >= r.userAddr && ua < r.userAddr + r.size && len <= r.userAddr + r.size - ua) return r.guestAddr + (ua - r.userAddr);
    }
    return -1;
  }

  /** Total mapped bytes. */
  get size(): number {
    return this.regions.reduce((n, r) => n + r.size, 0);
  }

  get mapped(): boolean {
    return this.live;
  }

  /** Drop every region's shared pages (see sys.Mapping.unmap: stale views read zeros). Idempotent. */
  unmap(): void {
    if (!this.live) return;
    this.live = false;
    for (const r of this.regions) r.mapping.unmap();
  }
}
