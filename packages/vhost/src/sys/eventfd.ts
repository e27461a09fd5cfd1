/**
 * eventfd(2): the kick and call notifications of vhost-user.
 *
 * The counter is an unsigned 64-bit integer. A write adds to it; a read
 * returns it and resets it to 0 (or, with `semaphore`, returns 1 and
 * decrements it). On a nonblocking eventfd a read of a zero counter, or a
 * write that would push the counter past 2^64 - 2, would block: these
 * return `null` / `false` here instead of throwing.
 */
import { EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EINVAL } from "./constants.js";
import { SysError } from "./errors.js";
import { retry, retryNonblocking } from "./fd.js";
import { libc } from "./libc.js";

export interface EventfdOptions {
  /** O_NONBLOCK (default true). */
  nonblock?: boolean;
  /** Close on exec (default true). */
  cloexec?: boolean;
  /** EFD_SEMAPHORE: each read returns 1 and decrements (default false). */
  semaphore?: boolean;
}

/** Largest value one write may add: 2^64 - 2 (eventfd(2)). */
export const EVENTFD_MAX = 0xffff_ffff_ffff_fffen;

/** eventfd(2) with an initial counter value (0 .. 2^32 - 1). */
export function eventfd(initial = 0, options: EventfdOptions = {}): number {
  if (!Number.isInteger(initial) || initial < 0 || initial > 0xffff_ffff) throw new SysError("eventfd", EINVAL, { detail: `initial value ${initial} must fit in 32 bits` });
  const c = libc();
  const flags = (options.nonblock === false ? 0 : EFD_NONBLOCK) | (options.cloexec === false ? 0 : EFD_CLOEXEC) | (options.semaphore ? EFD_SEMAPHORE : 0);
  return retry("eventfd", () => c.eventfd(initial, flags));
}

const readBuf = new BigUint64Array(1);
const readBytes = new Uint8Array(readBuf.buffer);
const writeBuf = new BigUint64Array(1);
const writeBytes = new Uint8Array(writeBuf.buffer);

/** Read (and reset) the counter; null when it is 0 on a nonblocking eventfd. */
export function eventfdRead(fd: number): bigint | null {
  const c = libc();
  const n = retryNonblocking("read(eventfd)", () => c.read(fd, readBytes, 8), { fd });
  if (n === null) return null;
  if (n !== 8) throw new SysError("read(eventfd)", EINVAL, { fd, detail: `short read of ${n} bytes` });
  return readBuf[0]!;
}

/** Add `value` (1 .. 2^64 - 2) to the counter; false when it would overflow on a nonblocking eventfd. */
export function eventfdWrite(fd: number, value: bigint | number = 1n): boolean {
  const v = BigInt(value);
  if (v < 0n || v > EVENTFD_MAX) throw new SysError("write(eventfd)", EINVAL, { fd, detail: `value ${v} is outside 0 .. 2^64 - 2` });
  const c = libc();
  writeBuf[0] = v;
  const n = retryNonblocking("write(eventfd)", () => c.write(fd, writeBytes, 8), { fd });
  return n !== null;
}
