/**
 * Linux x86_64 constants and struct layouts used by the syscall module.
 *
 * Every value below was checked against the kernel UAPI / glibc headers of
 * the development machine (<linux/memfd.h>, <sys/eventfd.h>,
 * <bits/socket.h>, <linux/if_tun.h>, <net/if.h>, <poll.h>, <fcntl.h>,
 * <asm-generic/errno*.h>) by printing them from a throwaway C program with
 * `sizeof`/`offsetof`; the man page named next to each group documents it.
 * They are the x86_64 (LP64) values: pointers and size_t are 8 bytes.
 */

// errno values, asm-generic/errno-base.h and asm-generic/errno.h
export const EPERM = 1;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const EINVAL = 22;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;

// memfd_create(2), <linux/memfd.h>
export const MFD_CLOEXEC = 0x0001;
export const MFD_ALLOW_SEALING = 0x0002;

// mmap(2), <asm-generic/mman-common.h>, <linux/mman.h>
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** `MAP_FAILED` is `(void *) -1`. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

// eventfd(2), <sys/eventfd.h>
export const EFD_SEMAPHORE = 0x1;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

// open(2)/fcntl(2), <asm-generic/fcntl.h>
export const O_RDWR = 0x2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;

// socket(2), unix(7), <bits/socket.h>
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x4000_0000;

/** `struct sockaddr_un`: sa_family_t (u16) then `sun_path[108]`; 110 bytes. */
export const SOCKADDR_UN_SIZE = 110;
export const SUN_PATH_OFFSET = 2;
/** Longest path that fits `sun_path` with its terminating NUL. */
export const SUN_PATH_MAX = 107;

/**
 * `struct msghdr` (56 bytes): msg_name @0 (ptr), msg_namelen @8 (u32),
 * msg_iov @16 (ptr), msg_iovlen @24 (size_t), msg_control @32 (ptr),
 * msg_controllen @40 (size_t), msg_flags @48 (int).
 */
export const MSGHDR_SIZE = 56;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MSGHDR_CONTROL = 32;
export const MSGHDR_CONTROLLEN = 40;
export const MSGHDR_FLAGS = 48;
/** `struct iovec`: iov_base (ptr), iov_len (size_t). */
export const IOVEC_SIZE = 16;
/** `struct cmsghdr`: cmsg_len (size_t) @0, cmsg_level (int) @8, cmsg_type (int) @12, data @16. */
export const CMSGHDR_SIZE = 16;
/** CMSG_ALIGN: control messages are aligned to sizeof(size_t). */
export const CMSG_ALIGN = 8;
/** Kernel limit on descriptors in one SCM_RIGHTS message (SCM_MAX_FD, include/net/scm.h). */
export const SCM_MAX_FD = 253;

// poll(2), <asm-generic/poll.h>; struct pollfd { int fd; short events; short revents; } = 8 bytes
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
export const POLLFD_SIZE = 8;

// TUN/TAP, <linux/if_tun.h>; struct ifreq is 40 bytes: ifr_name[IFNAMSIZ=16], then ifr_flags (short) @16
export const TUNSETIFF = 0x4004_54ca; // _IOW('T', 202, int)
export const TUNSETVNETHDRSZ = 0x4004_54d8; // _IOW('T', 216, int)
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
export const IFREQ_FLAGS = 16;

// sysconf(3), <bits/confname.h>
export const SC_PAGESIZE = 30;
