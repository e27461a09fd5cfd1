/**
 * TAP devices (Documentation/networking/tuntap.rst; <linux/if_tun.h>).
 *
 * `openTap` opens /dev/net/tun nonblocking and close-on-exec, and attaches
 * it to a TAP interface with TUNSETIFF (IFF_TAP | IFF_NO_PI, optionally
 * IFF_VNET_HDR). Each read returns one whole Ethernet frame (prefixed with a
 * virtio-net header when `vnetHdr` is set); each write sends one. The
 * interface exists while the descriptor is open (it is not made persistent).
 *
 * Namespaces: /dev/net/tun creates the interface in the network namespace of
 * the calling thread. To put it elsewhere, move it afterwards with
 * `ip link set dev NAME netns NS`: the descriptor stays attached across the
 * move. Needs CAP_NET_ADMIN; EPERM otherwise.
 */
import { EINVAL, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, IFNAMSIZ, IFREQ_FLAGS, IFREQ_SIZE, O_CLOEXEC, O_NONBLOCK, O_RDWR, TUNSETIFF, TUNSETVNETHDRSZ } from "./constants.js";
import { SysError } from "./errors.js";
import { closeAll, read, retry, write } from "./fd.js";
import { libc } from "./libc.js";

export interface TapOptions {
  /** Interface name, at most 15 bytes; may contain one `%d` for the kernel to number (default "tap%d"). */
  name?: string;
  /** Prefix every frame with a virtio-net header (IFF_VNET_HDR; default false). */
  vnetHdr?: boolean;
  /** Header size with `vnetHdr`: 10 (legacy `virtio_net_hdr`) or 12 (with num_buffers, virtio 1.x); default 12. */
  vnetHdrSize?: 10 | 12;
  /** Device node (default /dev/net/tun). */
  device?: string;
}

export interface TapDevice {
  /** Nonblocking descriptor; read and write whole frames on it. */
  readonly fd: number;
  /** The interface name the kernel assigned. */
  readonly name: string;
  /** Bytes of virtio-net header before each frame; 0 without `vnetHdr`. */
  readonly vnetHdrSize: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Create (or attach to) a TAP interface. The caller closes `fd`, which removes the interface. */
export function openTap(options: TapOptions = {}): TapDevice {
  const name = options.name ?? "tap%d";
  const nameBytes = encoder.encode(name);
  if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || nameBytes.includes(0)) throw new SysError("ioctl(TUNSETIFF)", EINVAL, { path: name, detail: `interface names are 1 .. ${IFNAMSIZ - 1} bytes` });
  const hdr = options.vnetHdr ? (options.vnetHdrSize ?? 12) : 0;
  if (options.vnetHdr && hdr !== 10 && hdr !== 12) throw new SysError("ioctl(TUNSETVNETHDRSZ)", EINVAL, { detail: `vnetHdrSize ${hdr} must be 10 or 12` });
  const device = options.device ?? "/dev/net/tun";
  const c = libc();
  const fd = retry("open", () => c.open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC), { path: device });
  try {
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(nameBytes, 0);
    new DataView(ifr.buffer).setInt16(IFREQ_FLAGS, IFF_TAP | IFF_NO_PI | (hdr ? IFF_VNET_HDR : 0), true);
    retry("ioctl(TUNSETIFF)", () => c.ioctlPtr(fd, TUNSETIFF, ifr), { fd, path: name });
    const end = ifr.indexOf(0);
    const assigned = decoder.decode(ifr.subarray(0, end < 0 ? IFNAMSIZ : Math.min(end, IFNAMSIZ)));
    if (hdr) {
      const size = new Uint8Array(new Int32Array([hdr]).buffer);
      retry("ioctl(TUNSETVNETHDRSZ)", () => c.ioctlPtr(fd, TUNSETVNETHDRSZ, size), { fd, path: assigned });
    }
    return { fd, name: assigned, vnetHdrSize: hdr };
  } catch (e) {
    closeAll([fd]);
    throw e;
  }
}

/** Read one frame into `buf` (size it for the MTU plus headers); the frame length, or null when none is queued. */
export function readFrame(fd: number, buf: Uint8Array): number | null {
  return read(fd, buf);
}

/** Write one frame; its length, or null when the device queue is full. */
export function writeFrame(fd: number, frame: Uint8Array): number | null {
  return write(fd, frame);
}
