// Two-NIC VMs and reverse paths: the schema's checks, a modelled run through a two-port firewall on two
// NICs, and the real thing: ping (and iperf3 TCP) between two network namespaces this file creates and
// deletes, through a router VNF in a two-NIC VM that resolves its neighbours with ARP (addresses only
// from 198.18.0.0/15).
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Namespaces, has, ip, kernelSkipReason, spawnBounded, uniqueIf, type Child } from "../../../packages/vhost/test/netns-helpers.ts";
import { runScenario } from "../src/scenario/runner.js";
import { scenarioIssues } from "./helpers.js";
import { parseScenario, type ScenarioInput } from "../src/scenario/schema.js";

const issues = scenarioIssues;

const ROUTER = {
  kind: "router" as const,
  config: {
    ports: [
      { mac: "02:00:00:00:01:fe", ipv4: ["198.18.1.254/24"] },
      { mac: "02:00:00:00:02:fe", ipv4: ["198.18.2.254/24"] },
    ],
    lpm: { ipv4RootBits: 16 },
  },
};

describe("scenario schema: nics and reverse", () => {
  const real: ScenarioInput = {
    name: "two-way",
    clock: "real",
    backend: { kind: "vhost-net" },
    vms: [{ name: "r1", nics: 2, vnf: ROUTER }],
    ports: [
      { name: "a", kind: "tap", ifname: "nfva" },
      { name: "b", kind: "tap", ifname: "nfvb" },
    ],
    path: ["a", "r1", "b"],
    reverse: true,
  };
  const model: ScenarioInput = {
    name: "one-nic",
    backend: { kind: "vhost-net" },
    vms: [{ name: "vm1", vnf: { kind: "macswap", config: { ports: 1 } } }],
    ports: [{ name: "wire0", kind: "trafgen" }],
    path: ["wire0", "vm1", "wire0"],
    traffic: { streams: [{ size: 64, rate: "1Mpps" }] },
  };

  it("defaults: one NIC, one way", () => {
    const s = parseScenario(model, "s.yaml");
    expect(s.vms[0]!.nics).toBe(1);
    expect(s.reverse).toBe(false);
    expect(parseScenario(real, "s.yaml").vms[0]!.nics).toBe(2);
  });

  it("nics: 1 or 2, and two NICs need a two-port VNF", () => {
    expect(issues({ ...model, vms: [{ ...model.vms[0]!, nics: 3 }] })).toEqual(["vms[0].nics: must be 1 or 2"]);
    expect(issues({ ...model, vms: [{ ...model.vms[0]!, nics: 2 }] })).toEqual([expect.stringMatching(/^vms\[0\]\.nics: two NICs carry VNF ports 0 and 1, but this macswap has 1 port: give it 2/)]);
    expect(issues({ ...model, vms: [{ name: "vm1", nics: 2, vnf: { kind: "firewall", config: { ports: 4 } } }] })).toEqual([expect.stringMatching(/^vms\[0\]\.nics: .*this firewall has 4 ports/)]);
    const app = { ...model, vms: [{ name: "app", nics: 2 }, model.vms[0]!], path: ["app", "vm1", "app"] };
    expect(issues(app)).toEqual([expect.stringMatching(/^vms\[0\]\.nics: two NICs are for a two-port VNF: this VM has none/)]);
    // A two-port VNF on two NICs is fine; on one NIC it is today's collapse.
    expect(issues({ ...model, vms: [{ name: "vm1", nics: 2, vnf: { kind: "firewall", config: {} } }] })).toEqual([]);
    expect(issues({ ...model, vms: [{ name: "vm1", vnf: { kind: "firewall", config: {} } }] })).toEqual([]);
  });

  it("reverse needs two different real ports at the ends, two-NIC VMs inside, and vhost-net", () => {
    expect(issues(real)).toEqual([]);
    expect(issues({ ...real, vms: [{ name: "r1", vnf: ROUTER }] })).toEqual([expect.stringMatching(/^vms\[0\]\.nics: VM "r1" is inside a reverse path: it needs nics: 2/)]);
    expect(issues({ ...real, ports: [real.ports![0], { name: "b", kind: "trafgen" }] })).toEqual([
      expect.stringMatching(/^reverse: frames travel back from a real peer: both ends of the path must be tap or vhost-user ports \(they are tap port "a" and trafgen port "b"\)/),
    ]);
    expect(issues({ ...real, path: ["a", "r1", "a"] })).toEqual([expect.stringMatching(/^reverse: the path starts and ends at "a": a two-way path needs two different ports/)]);
    expect(issues({ ...real, backend: { kind: "offload" } })).toEqual([expect.stringMatching(/^reverse: the offload device has one uplink: .* needs backend vhost-net/)]);
    expect(issues({ ...model, vms: [{ name: "vm1", nics: 2, vnf: { kind: "firewall", config: {} } }], reverse: true })).toEqual([
      expect.stringMatching(/^reverse: .*both ends of the path must be tap or vhost-user ports \(they are trafgen port "wire0" and trafgen port "wire0"\)/),
    ]);
    expect(issues({ ...real, reverse: "yes" })).toEqual([expect.stringMatching(/^reverse: Expected boolean/)]);
  });
});

describe("scenario runner: a two-NIC VM under the model clock", () => {
  const fw = { kind: "firewall" as const, config: { defaultAction: "accept" } };
  const base: ScenarioInput = {
    name: "fw-two-nics",
    duration: "40us",
    warmup: "10us",
    drain: "200us",
    backend: { kind: "vhost-net" },
    vms: [{ name: "fw", nics: 2, vnf: fw }],
    ports: [
      { name: "gen", kind: "trafgen" },
      { name: "sink", kind: "trafgen" },
    ],
    path: ["gen", "fw", "sink"],
    traffic: { streams: [{ size: 64, rate: "10Mpps", fields: [{ field: "srcPort", mode: "inc", count: 64 }] }] },
  };

  it("forward traffic enters VNF port 0 on NIC 0 and leaves VNF port 1 on NIC 1 (vhost-net)", async () => {
    const r = await runScenario(parseScenario(base, "fw.yaml"));
    const c = r.counters;
    const why = JSON.stringify({ drops: r.drops, c });
    expect(r.tx, why).toBeGreaterThan(100);
    expect(r.received, why).toBe(r.tx);
    expect(r.drops).toEqual({});
    expect(c["vm.fw.nic0.rxFrames"]).toBe(r.tx);
    expect(c["vm.fw.nic0.txFrames"]).toBe(0);
    expect(c["vm.fw.nic1.rxFrames"]).toBe(0);
    expect(c["vm.fw.nic1.txFrames"]).toBe(r.tx);
    expect(c["vnf.fw.rx"]).toBe(r.tx);
    expect(c["vnf.fw.tx"]).toBe(r.tx);
    expect(c["vnf.fw.new"]).toBe(64);
    // The vhost-net devices of each NIC: one took the guest's RX frames, the other its TX.
    expect(c["fw.nic0.rxFrames"]).toBe(r.tx);
    expect(c["fw.nic1.txFrames"]).toBe(r.tx);
    expect(r.topology.nodes.map((n) => n.label)).toEqual(["gen: trafgen", "fw: firewall (2 NICs)", "sink: trafgen"]);
    expect(r.topology.edges).toEqual([
      { from: "gen", to: "fw" },
      { from: "fw", to: "sink" },
    ]);
  });

  it("the same through the offload device with two queue pairs per NIC (one vport per VM, NIC and queue)", async () => {
    const s = parseScenario({ ...base, backend: { kind: "offload" }, vms: [{ name: "fw", nics: 2, queues: 2, vnf: fw }], ports: [{ name: "wire0", kind: "trafgen" }], path: ["wire0", "fw", "wire0"] }, "fw.yaml");
    const r = await runScenario(s);
    const c = r.counters;
    expect(r.received, JSON.stringify({ drops: r.drops })).toBe(r.tx);
    expect(c["vm.fw.nic0.rxFrames"]).toBe(r.tx);
    expect(c["vm.fw.nic1.txFrames"]).toBe(r.tx);
    expect(c["vm.fw.nic1.rxFrames"]).toBe(0);
    expect(c["vnf.fw.tx"]).toBe(r.tx);
    expect(r.hostCycles).toBe(0);
  });
});

const skipReason = kernelSkipReason(["ip", "ping"]);
const namespaces = new Namespaces();
const children: Child[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
});
afterAll(() => namespaces.deleteAll());

describe.skipIf(!!skipReason)(`scenario runner: two namespaces through a two-NIC router VM, both ways${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  it("ping from A to B gets 5 replies (the router resolves A and B with ARP); iperf3 TCP runs 2 s", { timeout: 60_000 }, async () => {
    const nsA = namespaces.add();
    const nsB = namespaces.add();
    const ifA = uniqueIf("nfva");
    const ifB = uniqueIf("nfvb");
    const iperf = has("iperf3");
    if (!iperf) console.warn("iperf3 part skipped: iperf3 is not installed");
    let ping: Child | null = null;
    let client: Child | null = null;
    let pingDone: Promise<number | null> = Promise.resolve(null);
    let iperfDone: Promise<number | null> = Promise.resolve(null);
    const s = parseScenario(
      {
        name: "two-way",
        clock: "real",
        duration: iperf ? "7s" : "3s",
        warmup: "0s",
        drain: "200ms",
        backend: { kind: "vhost-net" },
        vms: [{ name: "r1", nics: 2, vnf: ROUTER }],
        ports: [
          { name: "a", kind: "tap", ifname: ifA, netns: nsA, address: "198.18.1.1/24" },
          { name: "b", kind: "tap", ifname: ifB, netns: nsB, address: "198.18.2.1/24" },
        ],
        path: ["a", "r1", "b"],
        reverse: true,
      },
      "two-way.yaml",
    );
    const r = await runScenario(s, {
      onReady: () => {
        // No static neighbours anywhere: the kernels ARP for the router, the router for them.
        ip("-n", nsA, "route", "add", "default", "via", "198.18.1.254");
        ip("-n", nsB, "route", "add", "default", "via", "198.18.2.254");
        // The run polls the ports only once this returns: start the peers, do not wait for them here.
        const server = iperf ? spawnBounded("ip", ["netns", "exec", nsB, "iperf3", "-s", "-1", "-B", "198.18.2.1"], 15_000) : null;
        if (server) children.push(server);
        ping = spawnBounded("ip", ["netns", "exec", nsA, "ping", "-c", "5", "-i", "0.2", "-W", "2", "198.18.2.1"], 10_000);
        children.push(ping);
        pingDone = ping.exited(10_000);
        if (iperf) {
          iperfDone = pingDone.then(() => {
            client = spawnBounded("ip", ["netns", "exec", nsA, "iperf3", "-c", "198.18.2.1", "-t", "2", "--connect-timeout", "2000"], 10_000);
            children.push(client);
            return client.exited(10_000);
          });
        }
      },
    });
    const pingCode = await pingDone;
    const iperfCode = await iperfDone;
    const pingOut = (ping as Child | null)?.stdout() ?? "";
    const iperfOut = (client as Child | null)?.stdout() ?? "";
    console.log(`ping:\n${pingOut}`);
    if (iperf) console.log(`iperf3:\n${iperfOut}${(client as Child | null)?.stderr() ?? ""}`);
    console.log(JSON.stringify({ tx: r.tx, received: r.received, drops: r.drops, counters: Object.fromEntries(Object.entries(r.counters).filter(([k]) => k.startsWith("port.") || k.startsWith("vm.") || k.startsWith("vnf.r1.neigh") || k.startsWith("vnf.r1.arp"))) }));
    expect(pingOut).toMatch(/5 packets transmitted, 5 received, 0% packet loss/);
    expect(pingCode).toBe(0);
    // Both peers sent and accepted frames: echo requests and ARP one way, replies and ARP the other.
    expect(r.counters["port.a.rx.packets"]).toBeGreaterThanOrEqual(6);
    expect(r.counters["port.b.rx.packets"]).toBeGreaterThanOrEqual(6);
    expect(r.counters["port.a.tx.packets"]).toBeGreaterThanOrEqual(6);
    expect(r.counters["port.b.tx.packets"]).toBeGreaterThanOrEqual(6);
    expect(r.tx).toBe(r.counters["port.a.rx.packets"]! + r.counters["port.b.rx.packets"]!);
    expect(r.received).toBe(r.counters["port.a.tx.packets"]! + r.counters["port.b.tx.packets"]!);
    // The router's own frames (ARP requests and replies) left through its outbox.
    expect(r.counters["vm.r1.outbox.sent"]).toBeGreaterThanOrEqual(2);
    expect(r.topology.edges).toEqual([
      { from: "a", to: "r1" },
      { from: "r1", to: "b" },
      { from: "b", to: "r1" },
      { from: "r1", to: "a" },
    ]);
    if (iperf) {
      expect(iperfCode, iperfOut).toBe(0);
      expect(iperfOut).toMatch(/sender/);
      expect(iperfOut).toMatch(/receiver/);
    }
    // The TAPs went away with the run.
    expect(() => ip("-n", nsA, "link", "show", "dev", ifA)).toThrow();
  });
});
