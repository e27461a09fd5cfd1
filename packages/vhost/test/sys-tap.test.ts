// TAP through the syscall module, inside a network namespace this test creates and deletes.
// Addresses come only from 198.18.0.0/15 (RFC 2544 benchmarking range).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, openTap, readFrame, waitReadable, writeFrame, type TapDevice } from "../src/sys/index.js";

const linux = process.platform === "linux" && process.arch === "x64";
const skipReason = !linux
  ? "TAP needs Linux x86_64"
  : process.getuid?.() !== 0
    ? "TAP tests need root (CAP_NET_ADMIN)"
    : !existsSync("/dev/net/tun")
      ? "/dev/net/tun is missing"
      : "";
if (skipReason) console.warn(`sys-tap.test.ts skipped: ${skipReason}`);

const ns = `nfvio-test-${process.pid}-${randomBytes(3).toString("hex")}`;

function ip(...args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** Send one UDP datagram from inside the namespace; the kernel first ARPs for `dst` out of the TAP. */
function udpFromNs(dst: string): void {
  execFileSync("ip", ["netns", "exec", ns, "bash", "-c", `echo nfvio > /dev/udp/${dst}/9`], { stdio: "ignore" });
}

const ARP = 0x0806;
const IPV4 = 0x0800;

function ipv4(bytes: Uint8Array, off: number): string {
  return Array.from(bytes.subarray(off, off + 4)).join(".");
}

/** Read frames until `match` accepts one (others, e.g. IPv6 neighbour discovery, are skipped). */
async function readUntil(tap: TapDevice, match: (frame: Uint8Array) => boolean, retrigger?: () => void): Promise<Uint8Array> {
  const buf = new Uint8Array(2048);
  const deadline = Date.now() + 5000;
  let lastTrigger = Date.now();
  while (Date.now() < deadline) {
    const n = readFrame(tap.fd, buf);
    if (n === null) {
      await waitReadable(tap.fd, 250);
      if (retrigger && Date.now() - lastTrigger > 1000) {
        retrigger();
        lastTrigger = Date.now();
      }
      continue;
    }
    const frame = buf.slice(0, n);
    if (match(frame)) return frame;
  }
  throw new Error(`no matching frame on ${tap.name} within 5 s`);
}

describe.skipIf(!!skipReason)(`sys: TAP in a network namespace${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const taps: TapDevice[] = [];

  beforeAll(() => {
    ip("netns", "add", ns);
    ip("-n", ns, "link", "set", "lo", "up");
  });

  afterAll(() => {
    // Closing the descriptor removes a non-persistent TAP; then the namespace goes.
    closeAll(taps.map((t) => t.fd));
    try {
      ip("netns", "del", ns);
    } catch (e) {
      console.warn(String(e));
    }
  });

  function tapInNs(name: string, cidr: string, options: Parameters<typeof openTap>[0] = {}): TapDevice {
    const tap = openTap({ name, ...options });
    taps.push(tap);
    ip("link", "set", "dev", tap.name, "netns", ns);
    ip("-n", ns, "addr", "add", cidr, "dev", tap.name);
    ip("-n", ns, "link", "set", "dev", tap.name, "up");
    return tap;
  }

  it("reads the kernel's ARP request and answers it by writing a frame", async () => {
    const tap = tapInNs("nfvt%d", "198.18.0.1/24");
    expect(tap.name).toMatch(/^nfvt\d+$/);
    expect(tap.vnetHdrSize).toBe(0);
    expect(ip("-n", ns, "link", "show", "dev", tap.name)).toContain(tap.name);

    udpFromNs("198.18.0.2");
    const view = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset, f.byteLength);
    const req = await readUntil(
      tap,
      (f) => f.length >= 42 && view(f).getUint16(12) === ARP && view(f).getUint16(20) === 1 && ipv4(f, 38) === "198.18.0.2",
      () => udpFromNs("198.18.0.2"),
    );
    expect(ipv4(req, 28)).toBe("198.18.0.1");
    expect(Array.from(req.subarray(0, 6))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const tapMac = req.subarray(6, 12);

    // ARP reply from 198.18.0.2 at 02:00:00:00:00:02 (a locally administered address).
    const peerMac = [0x02, 0, 0, 0, 0, 0x02];
    const reply = new Uint8Array(42);
    const v = new DataView(reply.buffer);
    reply.set(tapMac, 0);
    reply.set(peerMac, 6);
    v.setUint16(12, ARP);
    v.setUint16(14, 1); // hardware type: Ethernet
    v.setUint16(16, IPV4);
    reply[18] = 6;
    reply[19] = 4;
    v.setUint16(20, 2); // reply
    reply.set(peerMac, 22);
    reply.set([198, 18, 0, 2], 28);
    reply.set(tapMac, 32);
    reply.set([198, 18, 0, 1], 38);
    expect(writeFrame(tap.fd, reply)).toBe(42);

    // The kernel learnt the neighbour and now sends the queued datagram to it.
    const udp = await readUntil(tap, (f) => f.length >= 34 && view(f).getUint16(12) === IPV4 && f[23] === 17 && ipv4(f, 30) === "198.18.0.2");
    expect(Array.from(udp.subarray(0, 6))).toEqual(peerMac);
    expect(ip("-n", ns, "neigh", "show", "198.18.0.2", "dev", tap.name)).toContain("02:00:00:00:00:02");
  });

  it("prefixes frames with a 12-byte virtio-net header when asked", async () => {
    const tap = tapInNs("nfvv%d", "198.18.1.1/24", { vnetHdr: true, vnetHdrSize: 12 });
    expect(tap.vnetHdrSize).toBe(12);
    udpFromNs("198.18.1.2");
    const frame = await readUntil(
      tap,
      (f) => f.length >= 12 + 42 && new DataView(f.buffer, f.byteOffset).getUint16(12 + 12) === ARP && ipv4(f, 12 + 38) === "198.18.1.2",
      () => udpFromNs("198.18.1.2"),
    );
    // virtio_net_hdr: flags 0, gso_type VIRTIO_NET_HDR_GSO_NONE (0) for a plain ARP frame
    expect(frame[0]).toBe(0);
    expect(frame[1]).toBe(0);
    expect(frame.length).toBe(12 + 42);
  });

  it("refuses bad names before touching the kernel", () => {
    expect(() => openTap({ name: "a-name-that-is-too-long" })).toThrow(/1 \.\. 15 bytes/);
  });
});
