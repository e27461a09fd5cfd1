// The TAP port against the real kernel: TapPort unit tests, the responder answering ping, and iperf3
// TCP through the L2 forwarder, each inside network namespaces this file creates and always deletes.
// Addresses come only from 198.18.0.0/15 (RFC 2544 benchmarking range).
import { afterAll, describe, expect, it } from "vitest";
import { Burst, buildFrame, PacketPool } from "@nfvio/packet";
import { TapPort, TapResponder } from "../src/tap/index.js";
import { waitReadable } from "../src/sys/index.js";
import { has, ip, kernelSkipReason, Namespaces, nsExec, repoRoot, spawnBounded, spawnCli, uniqueIf } from "./netns-helpers.js";

const skipReason = kernelSkipReason(["ip", "iperf3"]);
// iputils-ping is preferred; without it, a raw-socket python3 pinger does the same three echoes.
const pinger: string[] | null = has("ping") ? ["ping", "-c", "3", "-W", "2", "198.18.0.1"] : has("python3") ? ["python3", `${repoRoot}tooling/netns/icmp-ping.py`, "198.18.0.1", "3", "2"] : null;
if (skipReason) console.warn(`tap.test.ts skipped: ${skipReason}`);
else if (!has("ping")) console.warn(`tap.test.ts: ping (Debian package iputils-ping) is missing; ${pinger ? "using tooling/netns/icmp-ping.py (python3 raw socket) instead" : "the ping test is skipped"}`);

const namespaces = new Namespaces();
afterAll(() => namespaces.deleteAll());

/** Bash's /dev/udp: one datagram of `size` payload bytes from inside `ns`. */
function udpFrom(ns: string, dst: string, size: number): void {
  nsExec(ns, ["bash", "-c", `head -c ${size} /dev/zero > /dev/udp/${dst}/9`]);
}

/** Drain the port until `want` frames were received or 3 s passed. */
async function rxUntil(port: TapPort, burst: Burst, want: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!want() && Date.now() < deadline) {
    burst.clear();
    if (port.rx(burst) === 0) await waitReadable(port.fd, 100);
    port.pool.freeBurst(burst);
  }
}

function linkStats(ns: string, dev: string): { rx: number; tx: number } {
  const j = JSON.parse(ip("-n", ns, "-s", "-j", "link", "show", "dev", dev)) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
  return { rx: j[0]!.stats64.rx.packets, tx: j[0]!.stats64.tx.packets };
}

describe.skipIf(!!skipReason)(`TapPort in a network namespace${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  it("receives frames into pool buffers, transmits and frees them, with counters", async () => {
    const ns = namespaces.add();
    const pool = new PacketPool({ count: 256 });
    const port = new TapPort({ pool, name: uniqueIf("nfvu"), netns: ns, kernelAddress: "198.18.2.2/24" });
    try {
      expect(ip("-n", ns, "link", "show", "dev", port.name)).toContain("UP");
      // A static neighbour: the kernel's datagrams go straight out of the TAP, no ARP.
      ip("-n", ns, "neigh", "replace", "198.18.2.1", "lladdr", "02:00:00:00:02:01", "dev", port.name, "nud", "permanent");
      for (let k = 0; k < 5; k++) udpFrom(ns, "198.18.2.1", 100);
      const burst = new Burst(32);
      await rxUntil(port, burst, () => port.get("rx.packets") >= 5);
      expect(port.get("rx.packets")).toBe(5);
      expect(port.get("rx.bytes")).toBe(5 * (14 + 20 + 8 + 100));
      expect(pool.inUse).toBe(0);

      // tx: a UDP frame addressed to the kernel's interface MAC arrives in its rx counters.
      const kernelMac = (JSON.parse(ip("-n", ns, "-j", "link", "show", "dev", port.name)) as { address: string }[])[0]!.address;
      const before = linkStats(ns, port.name);
      burst.clear();
      pool.allocBurst(burst, 3);
      const frame = buildFrame({ src: "02:00:00:00:02:01", dst: kernelMac, ipv4: { src: "198.18.2.1", dst: "198.18.2.2" }, udp: { srcPort: 9, dstPort: 9 }, payload: new Uint8Array(64) });
      for (let k = 0; k < 3; k++) pool.write(burst.idx[k]!, frame);
      pool.adj(burst.idx[1]!, 0); // unchanged offset
      expect(port.tx(burst)).toBe(3);
      expect(port.get("tx.packets")).toBe(3);
      expect(port.get("tx.bytes")).toBe(3 * frame.length);
      expect(pool.inUse).toBe(0);
      expect(linkStats(ns, port.name).rx - before.rx).toBe(3);
    } finally {
      port.close();
    }
  });

  it("counts and drops frames too large for a buffer", async () => {
    const ns = namespaces.add();
    // 64-byte buffers without headroom: a 52-byte frame fits, a 242-byte one does not.
    const pool = new PacketPool({ count: 64, dataRoom: 64, headroom: 0 });
    const port = new TapPort({ pool, name: uniqueIf("nfvo"), netns: ns, kernelAddress: "198.18.3.2/24" });
    try {
      ip("-n", ns, "neigh", "replace", "198.18.3.1", "lladdr", "02:00:00:00:03:01", "dev", port.name, "nud", "permanent");
      udpFrom(ns, "198.18.3.1", 200);
      udpFrom(ns, "198.18.3.1", 10);
      const burst = new Burst(32);
      await rxUntil(port, burst, () => port.get("rx.packets") + port.get("rx.drop.oversize") >= 2);
      expect(port.get("rx.drop.oversize")).toBe(1);
      expect(port.get("rx.packets")).toBe(1);
      expect(port.get("rx.bytes")).toBe(14 + 20 + 8 + 10);
      expect(pool.inUse).toBe(0);
    } finally {
      port.close();
    }
  });

  it("after close: rx gives nothing, tx frees and counts, the interface is gone", () => {
    const ns = namespaces.add();
    const pool = new PacketPool({ count: 64 });
    const port = new TapPort({ pool, name: uniqueIf("nfvc"), netns: ns });
    const name = port.name;
    port.close();
    port.close(); // idempotent
    expect(port.closed).toBe(true);
    expect(port.fd).toBe(-1);
    const burst = new Burst(8);
    expect(port.rx(burst)).toBe(0);
    pool.allocBurst(burst, 4);
    expect(port.tx(burst)).toBe(4);
    expect(port.get("tx.drop.closed")).toBe(4);
    expect(pool.inUse).toBe(0);
    expect(() => port.watch(() => undefined)).toThrow(/closed/);
    expect(() => ip("-n", ns, "link", "show", "dev", name)).toThrow();
  });

  it("the in-process responder answers ARP and an ICMP echo with correct checksums", async () => {
    const ns = namespaces.add();
    const pool = new PacketPool({ count: 256 });
    const port = new TapPort({ pool, name: uniqueIf("nfvr"), netns: ns, kernelAddress: "198.18.4.2/24" });
    const responder = new TapResponder(port, { ip: "198.18.4.1" }).start();
    try {
      // A datagram makes the kernel ARP for 198.18.4.1; the reply teaches it our MAC. The kernel drops
      // echo replies with a bad IPv4 or ICMP checksum, so a successful ping checks both.
      udpFrom(ns, "198.18.4.1", 8);
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && responder.counters.get("arp.replies") < 1) await new Promise((r) => setTimeout(r, 20));
      expect(responder.counters.get("arp.replies")).toBeGreaterThanOrEqual(1);
      expect(ip("-n", ns, "neigh", "show", "198.18.4.1", "dev", port.name)).toContain("02:6e:66:76:69:6f");
      if (pinger) {
        const args = pinger.map((a) => (a === "198.18.0.1" ? "198.18.4.1" : a));
        const out = await runAsync(ns, args, 15_000);
        expect(out.code, out.text).toBe(0);
        expect(responder.counters.get("icmp.echo-replies")).toBe(3);
      }
    } finally {
      responder.stop();
      port.close();
    }
  });
});

/** Run a command in `ns` without blocking this event loop (the responder runs in it). */
async function runAsync(ns: string, args: string[], timeoutMs: number): Promise<{ code: number | null; text: string }> {
  const child = spawnBounded("ip", ["netns", "exec", ns, ...args], timeoutMs);
  const code = await child.exited(timeoutMs);
  return { code, text: child.stdout() + child.stderr() };
}

describe.skipIf(!!skipReason)(`nfvio tap CLI against the kernel${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  it.skipIf(!pinger)("ping from a namespace gets replies from `nfvio tap respond` behind the TAP", async () => {
    const ns = namespaces.add();
    const name = uniqueIf("nfvp");
    const cli = spawnCli(["tap", "respond", "--name", name, "--netns", ns, "--ip", "198.18.0.1/15", "--kernel-ip", "198.18.0.2/15", "--json"], 30_000);
    try {
      await cli.waitFor("ready", 15_000);
      const out = await runAsync(ns, pinger!, 15_000);
      console.log(`ping through the nfvio responder:\n${out.text.trim()}`);
      expect(out.code, out.text).toBe(0);
      expect(out.text).toMatch(/3 (packets )?received|3\/3 replies/);
      cli.kill("SIGINT");
      expect(await cli.exited(10_000)).toBe(0);
      const report = JSON.parse(cli.stdout()) as { port: Record<string, number>; responder: Record<string, number> };
      expect(report.responder["icmp.echo-replies"]).toBe(3);
      expect(report.responder["arp.replies"]).toBeGreaterThanOrEqual(1);
      expect(report.port["tx.packets"]).toBeGreaterThanOrEqual(4);
    } finally {
      cli.kill();
    }
  }, 45_000);

  it("refuses addresses outside 198.18.0.0/15 without --allow-any-address", async () => {
    const cli = spawnCli(["tap", "respond", "--name", uniqueIf("nfvx"), "--ip", "10.0.0.1/8"], 20_000);
    expect(await cli.exited(20_000)).toBe(2);
    expect(cli.stderr()).toMatch(/outside 198\.18\.0\.0\/15/);
  }, 25_000);

  it("iperf3 TCP between two namespaces through `nfvio tap l2fwd`", async () => {
    const ns1 = namespaces.add();
    const ns2 = namespaces.add();
    const a = uniqueIf("nfva");
    const b = uniqueIf("nfvb");
    const fwd = spawnCli(["tap", "l2fwd", "--a", a, "--b", b, "--netns-a", ns1, "--netns-b", ns2, "--kernel-ip-a", "198.18.1.1/24", "--kernel-ip-b", "198.18.1.2/24", "--json"], 40_000);
    const server = { child: undefined as ReturnType<typeof spawnBounded> | undefined };
    try {
      await fwd.waitFor("ready", 15_000);
      server.child = spawnBounded("ip", ["netns", "exec", ns2, "iperf3", "-s", "-1", "-B", "198.18.1.2"], 25_000);
      // Wait until the one-off server listens.
      const t0 = Date.now();
      while (Date.now() - t0 < 5000 && !nsExec(ns2, ["ss", "-ltn"]).includes("198.18.1.2:5201")) await new Promise((r) => setTimeout(r, 50));
      const client = spawnBounded("ip", ["netns", "exec", ns1, "iperf3", "-c", "198.18.1.2", "-t", "3", "-J"], 20_000);
      const code = await client.exited(20_000);
      expect(code, client.stdout() + client.stderr()).toBe(0);
      const result = JSON.parse(client.stdout()) as { end: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { retransmits?: number } } };
      const recv = result.end.sum_received;
      console.log(`iperf3 TCP through nfvio tap l2fwd: ${(recv.bits_per_second / 1e9).toFixed(3)} Gbit/s, ${recv.bytes} bytes received, ${result.end.sum_sent.retransmits ?? "?"} retransmits`);
      expect(recv.bytes).toBeGreaterThan(0);
      await server.child.exited(5000);
      fwd.kill("SIGINT");
      expect(await fwd.exited(10_000)).toBe(0);
      const report = JSON.parse(fwd.stdout()) as { forwarder: Record<string, number> };
      expect(report.forwarder["a-to-b"]).toBeGreaterThan(1000);
      expect(report.forwarder["b-to-a"]).toBeGreaterThan(100);
    } finally {
      server.child?.kill();
      fwd.kill();
    }
  }, 50_000);
});
