import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ServiceChain } from "../src/chain.js";
import { loadConfig } from "../src/config.js";
import { Firewall } from "../src/firewall.js";
import { MacSwap } from "../src/l2fwd.js";
import { Nat, NatConfigSchema } from "../src/nat.js";
import { createVnf, loadVnf } from "../src/registry.js";
import { Router } from "../src/router.js";
import { DropReason, drop } from "../src/verdict.js";
import { VnfError } from "../src/errors.js";
import { FLAGS, checksumProblems, hex, packet } from "./helpers/frames.js";
import { manualClock, run } from "./helpers/run.js";

describe("ServiceChain", () => {
  it("feeds each stage's output to the next and short-circuits drops", () => {
    const clock = manualClock();
    const fw = new Firewall({ rules: [{ action: "accept", proto: "tcp", dstPorts: 443 }] }, { clock: clock.now });
    const nat = new Nat({ snat: [{ from: "10.0.0.0/8", to: "203.0.113.1" }] }, { clock: clock.now });
    // The firewall sends inside-to-outside traffic out of its port 1: that is the NAT's inside port 0.
    const chain = new ServiceChain([fw, nat], { links: [[1, 0]] });
    const ok = { src: "10.0.0.5", dst: "198.51.100.1", proto: "tcp" as const, sport: 5000, dport: 443, flags: FLAGS.SYN };
    const denied = { ...ok, dport: 80 };
    const r = run(chain, [packet(ok), packet(denied), packet(ok)], 0);
    expect(r.verdicts).toEqual([1, drop(DropReason.AclDeny), 1]);
    expect(hex(r.out[0]!)).toBe(hex(packet({ ...ok, src: "203.0.113.1" })));
    expect(checksumProblems(r.out[0]!)).toEqual([]);
    expect(hex(r.out[1]!)).toBe(hex(packet(denied))); // untouched: the NAT never saw it
    expect(chain.counters.get("stage0.firewall.dropped")).toBe(1);
    expect(nat.counters.get("rx")).toBe(2);
    expect(chain.counters.snapshot(true)).toMatchObject({ rx: 3, tx: 2, dropped: 1, "drop.acl-deny": 1 });
  });

  it("maps ports between stages with links and splits long bursts", () => {
    const a = new MacSwap({ ports: 2, output: "paired" });
    const b = new MacSwap({ ports: 2, output: "paired" });
    const chain = new ServiceChain([a, b], { links: [[1, 0]], maxBurst: 4 });
    const f = packet({ src: "10.0.0.1", dst: "10.0.0.2", proto: "udp" });
    const r = run(chain, Array.from({ length: 10 }, () => f), 0);
    // a: 0 -> 1, link: 1 -> 0, b: 0 -> 1; two swaps restore the MACs.
    expect(r.verdicts).toEqual(new Array(10).fill(1));
    expect(hex(r.out[9]!)).toBe(hex(f));
    expect(() => new ServiceChain([a, b], { links: [[0]] })).toThrow(/links\[0\] must map each/);
  });

  it("collects the packets stages originate into its outbox", () => {
    const router = new Router({ ports: [{ mac: "02:00:00:00:00:01", ipv4: ["10.0.0.1/24"] }, { mac: "02:00:00:00:00:02", ipv4: ["10.0.1.1/24"] }], lpm: { ipv4RootBits: 16 } });
    const chain = new ServiceChain([new MacSwap({ ports: 2 }), router]);
    const f = packet({ dstMac: "02:00:00:00:00:aa", srcMac: "02:00:00:00:00:01", src: "10.0.0.5", dst: "10.0.1.9", proto: "udp" });
    const r = run(chain, [f], 0);
    expect(r.verdicts).toEqual([drop(DropReason.Queued)]);
    expect(chain.outbox.count).toBe(1);
    expect(chain.emittedBy[0]).toBe(1);
    expect(chain.outbox.burst.ports[0]).toBe(1);
    expect(router.outbox.count).toBe(0);
  });
});

describe("Configuration as data and files", () => {
  const dir = mkdtempSync(join(tmpdir(), "nfvio-vnf-"));

  it("builds any VNF from { kind, config }, naming nested fields in errors", () => {
    expect(createVnf({ kind: "macswap" }).kind).toBe("macswap");
    const chain = createVnf({ kind: "chain", config: { stages: [{ kind: "firewall", config: {} }, { kind: "l2fwd", config: { ports: [{}, {}] } }] } });
    expect(chain.kind).toBe("chain");
    expect(() => createVnf({ kind: "firewall", config: { rules: [{ action: "accept", src: "10.0.0.0/33" }] } })).toThrow(/config\.rules\[0\]\.src: prefix length "33" is not 0\.\.32/);
    expect(() => createVnf({ kind: "chain", config: { stages: [{ kind: "macswap" }, { kind: "nat", config: { snat: [{ from: "10/8", to: "1.2.3.4" }] } }] } })).toThrow(
      /config\.stages\[1\]\.config\.snat\[0\]\.from: "10\/8" is not an IPv4 or IPv6 address or prefix/,
    );
    expect(() => createVnf({ kind: "bridge" as "macswap" })).toThrow(/kind: Invalid enum value/);
  });

  it("loads JSON and YAML files; errors carry the file name and the field", () => {
    const yml = join(dir, "nat.yaml");
    writeFileSync(yml, "snat:\n  - from: 10.0.0.0/8\n    to: 203.0.113.1\n    ports: 2000-3000\n");
    expect(loadConfig(yml, NatConfigSchema).snat[0]!.ports).toEqual({ lo: 2000, hi: 3000 });
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "snat:\n  - from: 10.0.0.0/8\n    to: 203.0.113.1\n    ports: 3000-2000\n");
    expect(() => loadConfig(bad, NatConfigSchema)).toThrow(new RegExp(`${bad.replace(/[.]/g, "\\.")}: snat\\[0\\]\\.ports: port range 3000-2000`));
    const vnfFile = join(dir, "fw.json");
    writeFileSync(vnfFile, JSON.stringify({ kind: "firewall", config: { defaultAction: "maybe" } }));
    try {
      loadVnf(vnfFile);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VnfError);
      expect((e as VnfError).message).toContain(`${vnfFile}: config.defaultAction: Invalid enum value`);
      expect((e as VnfError).issues[0]!.path).toBe("config.defaultAction");
    }
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ nope");
    expect(() => loadVnf(broken)).toThrow(new RegExp(`${broken.replace(/[.]/g, "\\.")}: cannot parse`));
    expect(() => loadVnf(join(dir, "missing.yml"))).toThrow(/missing\.yml: cannot read/);
    const good = join(dir, "lb.yml");
    writeFileSync(good, "kind: lb\nconfig:\n  mac: 02:00:00:00:0b:00\n  services:\n    - { vip: 192.0.2.10, proto: tcp, port: 80, tableSize: 251, backends: [{ name: a, mac: '02:00:00:00:0b:01' }] }\n");
    expect(loadVnf(good).kind).toBe("lb");
  });
});
