// Scenarios with real peers on their wires (clock: real): TAP interfaces in network namespaces this
// file creates and deletes (addresses only from 198.18.0.0/15), and vhost-user front-ends (nfvio's own
// virtio-user, in this process). The scenario runner opens the ports, waits for the peers, and moves
// their frames through the scenario's VMs and VNFs.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Burst, PacketPool, buildFrame } from "@nfvio/packet";
import { VirtioUserFrontend, VirtioUserPort } from "@nfvio/vhost";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../../packages/vhost/test/vhost-user-dpdk-helpers.ts";
import { Namespaces, ip, kernelSkipReason, nsExec, uniqueIf } from "../../../packages/vhost/test/netns-helpers.ts";
import { runScenario } from "../src/scenario/runner.js";
import { scenarioIssues } from "./helpers.js";
import { loadScenarioFile, parseScenario, type ScenarioInput } from "../src/scenario/schema.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const linux = process.platform === "linux" && process.arch === "x64";

function tmpSocket(): string {
  const dir = mkdtempSync(join(tmpdir(), "nfvio-scn-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "peer.sock");
}

/** Poll `cond` every 5 ms until it holds; throws after `ms`. */
const until = (cond: () => boolean, ms: number, what: string): Promise<void> => waitFor(cond, ms, what, 5);

describe("scenario schema: real peers", () => {
  const base: ScenarioInput = {
    name: "real",
    clock: "real",
    backend: { kind: "vhost-net" },
    vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
    ports: [
      { name: "peer", kind: "vhost-user", socket: "/tmp/x.sock" },
      { name: "sink", kind: "trafgen" },
    ],
    path: ["peer", "vm1", "sink"],
  };
  const issues = scenarioIssues;

  it("a path that starts at a real peer has no traffic section; defaults are filled in", () => {
    const s = parseScenario(base, "s.yaml");
    expect(s.traffic).toBeUndefined();
    expect(s.ports[0]).toEqual({ name: "peer", kind: "vhost-user", socket: "/tmp/x.sock", server: true, queues: 1, wait: "30s", settle: "0s" });
  });

  it("the example files with real peers load (apps/cli/scenarios/examples)", () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), "../scenarios/examples");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    expect(files.sort()).toEqual(["tap-router.yaml", "testpmd-peer.yaml"]);
    for (const f of files) {
      const s = loadScenarioFile(join(dir, f));
      expect(s.clock).toBe("real");
      expect(s.ports.some((p) => p.kind !== "trafgen")).toBe(true);
    }
  });

  it("names the field and the reason for each mistake", () => {
    expect(issues({ ...base, traffic: { streams: [{ size: 64, rate: "1kpps" }] } })).toEqual([expect.stringMatching(/^traffic: the path starts at vhost-user port "peer": its peer sends/)]);
    expect(issues({ ...base, path: ["sink", "vm1", "peer"] })).toEqual([expect.stringMatching(/^traffic: required/)]);
    expect(issues({ ...base, clock: "model" })).toEqual([expect.stringMatching(/^ports\[0\]\.kind: a vhost-user port talks to the real world: it needs clock: real/)]);
    expect(issues({ ...base, ports: [{ name: "peer", kind: "tap", ifname: "a-name-longer-than-15" }, base.ports![1]] })).toEqual([expect.stringMatching(/^ports\[0\]\.ifname: must be an interface name of at most 15 bytes/)]);
    expect(issues({ ...base, ports: [{ ...base.ports![0], wait: "soon" }, base.ports![1]] })).toEqual([expect.stringMatching(/^ports\[0\]\.wait: /)]);
  });
});

describe.runIf(linux)("scenario runner: vhost-user peers", () => {
  it("generated frames go through the VM's VNF to a virtio-user peer, every one counted once", async () => {
    const socket = tmpSocket();
    const pool = new PacketPool({ count: 4096 });
    let peer: VirtioUserPort | null = null;
    let got = 0;
    let swapped = 0;
    const b = new Burst(32);
    const poller = setInterval(() => {
      if (peer === null) return;
      while (peer.rx(b) > 0) {
        for (let k = 0; k < b.count; k++) {
          const i = b.idx[k]!;
          const s = pool.start(i);
          // macswap: the generator's destination MAC (trafgen default 02:00:00:00:00:02) is now the source.
          if (pool.data[s + 6] === 0x02 && pool.data[s + 11] === 0x02) swapped++;
          got++;
        }
        pool.freeBurst(b);
      }
    }, 1);
    cleanups.push(() => clearInterval(poller));
    const run = runScenario(
      parseScenario(
        {
          name: "to-peer",
          clock: "real",
          duration: "1s",
          warmup: "0s",
          drain: "100ms",
          backend: { kind: "vhost-net" },
          vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
          ports: [
            { name: "gen", kind: "trafgen" },
            { name: "peer", kind: "vhost-user", socket, wait: "10s" },
          ],
          path: ["gen", "vm1", "peer"],
          traffic: { streams: [{ size: 64, rate: "5kpps", count: 1500 }] },
        },
        "to-peer.yaml",
      ),
    );
    await until(() => existsSync(socket), 5000, "the scenario's socket");
    const frontend = await VirtioUserFrontend.connect({ path: socket, queueSize: 1024 });
    cleanups.push(() => frontend.close());
    peer = new VirtioUserPort({ frontend, pool });
    const r = await run;
    await until(() => got >= r.received, 2000, "the peer to drain its ring");
    const why = JSON.stringify({ drops: r.drops, counters: r.counters, got });
    expect(r.tx, why).toBe(1500);
    expect(r.received, why).toBe(1500);
    expect(r.lost).toBe(0);
    expect(got).toBe(1500);
    expect(swapped).toBe(1500);
    expect(r.counters["port.peer.tx.packets"]).toBe(1500);
    expect(r.drops).toEqual({});
    expect(r.topology.nodes.map((n) => n.label)).toEqual(["gen: trafgen", "vm1: macswap", "peer: vhost-user peer"]);
  });

  it("a virtio-user peer's frames go through the VM to trafgen's analyser (no traffic section)", async () => {
    const socket = tmpSocket();
    const pool = new PacketPool({ count: 4096 });
    let frontend: VirtioUserFrontend | null = null;
    const run = runScenario(
      parseScenario(
        {
          name: "from-peer",
          clock: "real",
          duration: "500ms",
          warmup: "0s",
          drain: "100ms",
          backend: { kind: "offload", profile: "smartnic" },
          vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
          ports: [{ name: "peer", kind: "vhost-user", socket, wait: "10s" }],
          path: ["peer", "vm1", "peer"],
        },
        "from-peer.yaml",
      ),
      {
        onReady: async () => {
          // The peer sends 800 frames once the run is ready: 25 bursts of 32.
          const port = new VirtioUserPort({ frontend: frontend!, pool });
          const b = new Burst(32);
          const frame = buildFrame({ src: "02:00:00:00:00:aa", dst: "02:00:00:00:00:bb", ipv4: { src: "198.18.0.1", dst: "198.18.0.2" }, udp: { srcPort: 1000, dstPort: 2000 }, payload: new Uint8Array(18) });
          for (let k = 0; k < 25; k++) {
            pool.allocBurst(b, 32);
            for (let j = 0; j < 32; j++) {
              const i = b.idx[j]!;
              pool.data.set(frame, pool.start(i));
              pool.len[i] = frame.length;
            }
            port.tx(b);
            b.clear();
            await new Promise((r) => setTimeout(r, 2));
          }
          cleanups.push(() => port.close());
        },
      },
    );
    await until(() => existsSync(socket), 5000, "the scenario's socket");
    frontend = await VirtioUserFrontend.connect({ path: socket, queueSize: 1024 });
    cleanups.push(() => frontend!.close());
    const r = await run;
    // What the peer sent came back to it through the offload device and the VNF.
    expect(r.tx).toBe(800);
    expect(r.received).toBe(800);
    expect(r.sizes).toBe("from peer");
    expect(r.counters["port.peer.rx.packets"]).toBe(800);
    expect(r.counters["port.peer.tx.packets"]).toBe(800);
    expect(r.counters["offload.deliveredFrames"]).toBeGreaterThanOrEqual(800);
    expect(r.latency.count).toBe(0);
  });

  it("refuses to start when no peer comes, naming the port", async () => {
    const socket = tmpSocket();
    const s = parseScenario(
      {
        name: "lonely",
        clock: "real",
        backend: { kind: "vhost-net" },
        vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
        ports: [{ name: "peer", kind: "vhost-user", socket, wait: "200ms" }],
        path: ["peer", "vm1", "peer"],
      },
      "lonely.yaml",
    );
    await expect(runScenario(s)).rejects.toThrow(/^port "peer": no peer after 0\.2 s/);
    // The socket is gone with the run.
    expect(existsSync(socket)).toBe(false);
  });
});

const skipReason = kernelSkipReason(["ip", "python3"]);
const namespaces = new Namespaces();
afterAll(() => namespaces.deleteAll());

describe.skipIf(!!skipReason)(`scenario runner: TAP peers in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  it("routes UDP datagrams from one namespace to another through a router VNF in a VM", async () => {
    const nsA = namespaces.add();
    const nsB = namespaces.add();
    const ifA = uniqueIf("nfva");
    const ifB = uniqueIf("nfvb");
    const R0 = "02:00:00:00:01:fe";
    const R1 = "02:00:00:00:02:fe";
    const B = "02:00:00:00:02:01";
    let receiver: ReturnType<typeof spawn> | null = null;
    let received = "";
    const s = parseScenario(
      {
        name: "routed",
        clock: "real",
        duration: "1500ms",
        warmup: "0s",
        drain: "200ms",
        backend: { kind: "vhost-net" },
        vms: [
          {
            name: "r1",
            vnf: {
              kind: "router",
              config: {
                ports: [
                  { mac: R0, ipv4: ["198.18.1.254/24"] },
                  { mac: R1, ipv4: ["198.18.2.254/24"] },
                ],
                neighbours: [{ ip: "198.18.2.1", mac: B, port: 1 }],
                lpm: { ipv4RootBits: 16 },
              },
            },
          },
        ],
        ports: [
          { name: "a", kind: "tap", ifname: ifA, netns: nsA, address: "198.18.1.1/24" },
          { name: "b", kind: "tap", ifname: ifB, netns: nsB },
        ],
        path: ["a", "r1", "b"],
      },
      "routed.yaml",
    );
    const r = await runScenario(s, {
      onReady: async () => {
        // B: the MAC the router's neighbour entry names, then the address; A: a route via the router, no ARP.
        ip("-n", nsB, "link", "set", "dev", ifB, "address", B);
        ip("-n", nsB, "addr", "add", "198.18.2.1/24", "dev", ifB);
        ip("-n", nsB, "route", "add", "198.18.1.0/24", "via", "198.18.2.254");
        ip("-n", nsB, "neigh", "replace", "198.18.2.254", "lladdr", R1, "dev", ifB, "nud", "permanent");
        ip("-n", nsA, "route", "add", "198.18.2.0/24", "via", "198.18.1.254");
        ip("-n", nsA, "neigh", "replace", "198.18.1.254", "lladdr", R0, "dev", ifA, "nud", "permanent");
        receiver = spawn("ip", [
          "netns",
          "exec",
          nsB,
          "python3",
          "-c",
          "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('198.18.2.1',9000))\ns.settimeout(3)\nprint('ready',flush=True)\nfor _ in range(10):\n  d,a=s.recvfrom(2048)\n  print(a[0],d.decode(),flush=True)\n",
        ]);
        receiver.stdout!.on("data", (d: Buffer) => (received += d.toString()));
        await until(() => received.includes("ready"), 5000, "the receiver in nsB");
        for (let k = 0; k < 10; k++) nsExec(nsA, ["bash", "-c", `printf 'datagram-${k}' > /dev/udp/198.18.2.1/9000`]);
      },
    });
    await until(() => received.split("\n").filter((l) => l.includes("datagram-")).length === 10, 3000, "ten datagrams in nsB").catch(() => {});
    (receiver as ReturnType<typeof spawn> | null)?.kill("SIGKILL");
    const lines = received.split("\n").filter((l) => l.includes("datagram-"));
    expect(lines).toEqual(Array.from({ length: 10 }, (_, k) => `198.18.1.1 datagram-${k}`));
    expect(r.tx).toBe(10);
    expect(r.received).toBe(10);
    expect(r.counters["port.a.rx.packets"]).toBe(10);
    expect(r.counters["port.b.tx.packets"]).toBe(10);
    expect(r.topology.nodes.map((n) => n.label)).toEqual([`a: tap ${ifA}`, "r1: router", `b: tap ${ifB}`]);
    // The TAPs went away with the run.
    expect(() => ip("-n", nsA, "link", "show", "dev", ifA)).toThrow();
  });
});
