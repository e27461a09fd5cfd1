/**
 * The syscall module of @nfvio/vhost: the Linux calls Node lacks, made
 * through koffi (no hand-written addon), with one error type and a small
 * typed surface. Linux x86_64 with glibc only; koffi is loaded on first use,
 * so importing this on another system is harmless until a syscall is made.
 */
export { SysError, isSysError } from "./errors.js";
export { sysAvailable } from "./libc.js";
export { close, closeAll, setNonblocking, read, write } from "./fd.js";
export { memfdCreate, ftruncate, mmap, pageSize, type Mapping, type MemfdOptions, type MmapOptions } from "./memory.js";
export { eventfd, eventfdRead, eventfdWrite, EVENTFD_MAX, type EventfdOptions } from "./eventfd.js";
export {
  unixSocket,
  socketPair,
  bindUnix,
  listen,
  listenUnix,
  accept,
  connectFd,
  connectUnix,
  chmod,
  fchmod,
  sendMessage,
  recvMessage,
  MAX_FDS_PER_MESSAGE,
  type ListenOptions,
  type ReceivedMessage,
  type RecvOptions,
} from "./unix.js";
export { pollFds, watchFd, waitReadable, defaultWatchBackend, type PollRequest, type Readiness, type FdWatcher, type WatchBackend, type WatchOptions } from "./poll.js";
export { openTap, readFrame, writeFrame, type TapOptions, type TapDevice } from "./tap.js";
