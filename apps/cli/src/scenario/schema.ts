/**
 * The scenario file: what `nfvio run` loads. YAML or JSON, checked with zod;
 * every problem is reported as `file: field.path: reason`.
 *
 * ```yaml
 * name: north-south-baseline
 * clock: model                 # model (deterministic, modelled time) or real (this software, wall clock)
 * duration: 1ms                # traffic time; warmup is left out of the rates; drain lets in-flight frames land
 * backend: { kind: vhost-net } # or { kind: offload, profile: smartnic | dpaa }
 * vms:
 *   - name: vm1
 *     queues: 1                # queue pairs, one vCPU each
 *     vnf: { kind: macswap, config: { ports: 1 } }   # any @nfvio/vnf spec; none: the VM runs the traffic app
 *     nics: 1                  # 1 (a VNF's ports collapse onto it) or 2 (VNF port k is NIC k; a two-port VNF)
 * ports:
 *   - { name: wire0, kind: trafgen }                # a wire with trafgen on it
 *   # real peers (clock: real only):
 *   #   { name: t0, kind: tap, ifname: nfv0, netns: ns1, address: 198.18.1.1/24 }
 *   #   { name: p0, kind: vhost-user, socket: /tmp/p0.sock, server: true, queues: 1, wait: 30s }
 * path: [wire0, vm1, wire0]    # where frames go: generated at the first (trafgen, or the real peer), analysed at the last
 * reverse: false               # true: the last endpoint's frames go back along the path (real peers at both ends, two-NIC VMs)
 * traffic:
 *   streams:                   # @nfvio/trafgen streams
 *     - { size: 64, rate: 100%, fields: [{ field: srcPort, mode: inc, count: 1024 }] }
 * ```
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { loadCostModel, type CostOverrides } from "@nfvio/core";
import { Stream, TrafgenError, parseDuration, parseLineRate, streamSchema, type StreamSpec } from "@nfvio/trafgen";
import { VNF_KINDS, VNF_SCHEMAS, createVnf, type VnfKind, type VnfSpec } from "@nfvio/vnf";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/** A scenario that does not load: the file, and each problem as a field path and a reason. */
export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly { path: string; reason: string }[],
  ) {
    super(issues.map((i) => `${file}: ${i.path ? `${i.path}: ` : ""}${i.reason}`).join("\n"));
    this.name = "ScenarioError";
  }
}

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a name of lowercase letters, digits and dashes, starting with a letter (at most 32)");
const duration = z.union([z.string(), z.number().nonnegative()]).superRefine((v, ctx) => {
  try {
    parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
  }
});
const pow2 = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min)
    .max(max)
    .refine((n) => (n & (n - 1)) === 0, "must be a power of two");

const vnfSpec = z.object({ kind: z.enum(VNF_KINDS as [VnfKind, ...VnfKind[]]), config: z.unknown().optional() }).strict();

export const vmSchema = z
  .object({
    name,
    /** The VNF (any @nfvio/vnf spec); leave it out for the VM that runs the traffic application. */
    vnf: vnfSpec.optional(),
    /** Queue pairs, one vCPU each (default 1). */
    queues: z.number().int().min(1).max(16).default(1),
    /** Ring entries per virtqueue (default 256). */
    queueSize: pow2(16, 4096).default(256),
    ring: z.enum(["split", "packed"]).default("split"),
    /** Guest driver: a polling PMD (DPDK, default) or Linux's NAPI with interrupts. */
    driver: z.enum(["poll", "napi"]).default("poll"),
    /** Guest cycles the VNF costs per packet (default the cost model's cyclesPerPacketBase). */
    vnfCyclesPerPacket: z.number().nonnegative().optional(),
    /** Copies of this VM (name-1 .. name-N); a path through it spreads flows over them. */
    count: z.number().int().min(1).max(64).default(1),
    /**
     * virtio-net NICs (default 1). With 1 a VNF's ports collapse onto it (every frame arrives on port 0, a forward
     * verdict goes back out the same queue). With 2 (a two-port VNF), VNF port k is NIC k: frames from the path's
     * start arrive on NIC 0 and go on from NIC 1; what the VNF originates (ARP, ICMP) leaves on its port's NIC.
     */
    nics: z.union([z.literal(1), z.literal(2)], { errorMap: () => ({ message: "must be 1 or 2" }) }).default(1),
  })
  .strict();

export const portSchema = z.discriminatedUnion("kind", [
  z
    .object({
      name,
      kind: z.literal("trafgen"),
      /** Line rate of the wire (default: the backend's, 100 Gbit/s for the cost model's wire). */
      lineRate: z.union([z.string(), z.number().positive()]).optional(),
    })
    .strict(),
  z
    .object({
      name,
      kind: z.literal("tap"),
      /** Interface name (at most 15 bytes); created by the run and removed after it. */
      ifname: z
        .string()
        .min(1)
        .refine((n) => Buffer.byteLength(n) <= 15 && !/[\s/]/.test(n), "must be an interface name of at most 15 bytes, without spaces or slashes"),
      /** Network namespace (existing) to move the interface into. */
      netns: z.string().min(1).optional(),
      /** Kernel-side address with prefix length, e.g. 198.18.1.1/24. */
      address: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      name,
      kind: z.literal("vhost-user"),
      /** Socket path. */
      socket: z.string().min(1),
      /** nfvio listens at `socket` (default); false: nfvio connects to a front-end listening there (QEMU `server=on`). */
      server: z.boolean().default(true),
      /** Queue pairs offered to the front-end (default 1). */
      queues: z.number().int().min(1).max(16).default(1),
      /** How long to wait for the front-end before the traffic starts (default 30s). */
      wait: duration.default("30s"),
      /** Time between the front-end's rings starting and the traffic (default 0s): a peer that starts its rings before it polls (testpmd) drops what comes meanwhile. */
      settle: duration.default("0s"),
    })
    .strict(),
]);

export const backendSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("vhost-net"),
      /** Host stack (NIC driver + bridge) cycles per frame (default cyclesPerPacketBase). */
      stackCyclesPerPacket: z.number().nonnegative().optional(),
      /** Frames a host stack core may have queued (default 1000, netdev_max_backlog). */
      backlog: z.number().int().positive().optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("offload"),
      profile: z.enum(["smartnic", "dpaa"]).default("smartnic"),
    })
    .strict(),
]);

export const scenarioSchema = z
  .object({
    name,
    description: z.string().default(""),
    clock: z.enum(["model", "real"]).default("model"),
    /** Traffic time (default 1ms). */
    duration: duration.default("1ms"),
    /** Start of the measured interval (default a quarter of the duration). */
    warmup: duration.optional(),
    /** Time after the traffic for frames in flight (default 1ms). */
    drain: duration.default("1ms"),
    /** Cost model overrides (docs/cost-model.md), e.g. { cpuHz: 3.0e9 }. */
    cost: z.record(z.unknown()).optional(),
    backend: backendSchema,
    vms: z.array(vmSchema).min(1),
    ports: z.array(portSchema).default([]),
    /** Endpoints frames visit: generated at the first, analysed at the last; VMs in between run their VNFs. */
    path: z.array(name).min(2),
    /**
     * Frames from the last endpoint travel the path backwards to the first (default false): into each VM on NIC 1,
     * out of NIC 0. Needs two different real ports at the ends and every VM inside the path with nics: 2.
     */
    reverse: z.boolean().default(false),
    /**
     * @nfvio/trafgen streams (checked against its schema, kept as written: a stream without lineRate runs at the wire's).
     * Required when the path starts at a trafgen port or a traffic VM; left out when it starts at a TAP or vhost-user port (the peer sends).
     */
    traffic: z.object({ streams: z.array(z.record(z.unknown()).transform((x) => x as StreamSpec)).min(1) }).strict().optional(),
    /** Run once per combination: `vm` copied `vms` times with `queues` queue pairs each. */
    sweep: z
      .object({
        vm: name.optional(),
        vms: z.array(z.number().int().min(1).max(64)).min(1).default([1]),
        queues: z.array(z.number().int().min(1).max(16)).min(1).default([1]),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;
export type VmConfig = z.output<typeof vmSchema>;
export type PortConfig = z.output<typeof portSchema>;
export type BackendConfig = z.output<typeof backendSchema>;

function pathText(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s;
}

type Issue = { path: string; reason: string };

/** VNF configurations, checked against @nfvio/vnf's schemas without building the VNFs. */
function checkVnf(spec: { kind: string; config?: unknown }, at: string, out: Issue[]): void {
  if (spec.kind === "chain") {
    const c = spec.config as { stages?: unknown } | undefined;
    if (!c || !Array.isArray(c.stages) || c.stages.length === 0) {
      out.push({ path: `${at}.config.stages`, reason: "a chain needs a non-empty list of stages" });
      return;
    }
    c.stages.forEach((st, i) => {
      const r = vnfSpec.safeParse(st);
      if (!r.success) for (const is of r.error.issues) out.push({ path: `${at}.config.stages[${i}]${is.path.length ? "." + pathText(is.path) : ""}`, reason: is.message });
      else checkVnf(r.data, `${at}.config.stages[${i}]`, out);
    });
    return;
  }
  const schema = VNF_SCHEMAS[spec.kind as keyof typeof VNF_SCHEMAS];
  const r = schema.safeParse(spec.config ?? {});
  if (!r.success) for (const is of r.error.issues) out.push({ path: `${at}.config${is.path.length ? "." + pathText(is.path) : ""}`, reason: is.message });
}

/** Ports of a VNF whose configuration checked out (built once to ask it); null when it cannot be built. */
function vnfPortCount(spec: { kind: string; config?: unknown }): number | null {
  try {
    return createVnf(spec as VnfSpec).portCount;
  } catch {
    return null;
  }
}

/** Checks that need more than one field. */
function crossCheck(s: Scenario): Issue[] {
  const out: Issue[] = [];
  const vmNames = new Map<string, number>();
  const portNames = new Map<string, number>();
  s.vms.forEach((v, i) => {
    if (vmNames.has(v.name)) out.push({ path: `vms[${i}].name`, reason: `"${v.name}" is used twice` });
    vmNames.set(v.name, i);
    const before = out.length;
    if (v.vnf) checkVnf(v.vnf, `vms[${i}].vnf`, out);
    if (v.nics === 2) {
      if (!v.vnf) out.push({ path: `vms[${i}].nics`, reason: "two NICs are for a two-port VNF: this VM has none (it runs the traffic application, on one NIC)" });
      else if (out.length === before) {
        const ports = vnfPortCount(v.vnf);
        if (ports !== null && ports !== 2) out.push({ path: `vms[${i}].nics`, reason: `two NICs carry VNF ports 0 and 1, but this ${v.vnf.kind} has ${ports} port${ports === 1 ? "" : "s"}: give it 2, or leave nics at 1` });
      }
    }
  });
  s.ports.forEach((p, i) => {
    if (portNames.has(p.name) || vmNames.has(p.name)) out.push({ path: `ports[${i}].name`, reason: `"${p.name}" is used twice` });
    portNames.set(p.name, i);
    if (p.kind !== "trafgen" && s.clock !== "real") out.push({ path: `ports[${i}].kind`, reason: `a ${p.kind} port talks to the real world: it needs clock: real` });
    if (p.kind === "trafgen" && p.lineRate !== undefined) {
      try {
        parseLineRate(p.lineRate);
      } catch (e) {
        out.push({ path: `ports[${i}].lineRate`, reason: (e as Error).message });
      }
    }
  });
  const ends = [s.path[0]!, s.path[s.path.length - 1]!];
  s.path.forEach((p, i) => {
    const inner = i > 0 && i < s.path.length - 1;
    if (!vmNames.has(p) && !portNames.has(p)) {
      out.push({ path: `path[${i}]`, reason: `"${p}" is neither a VM nor a port (have: ${[...vmNames.keys(), ...portNames.keys()].join(", ")})` });
      return;
    }
    const vm = vmNames.has(p) ? s.vms[vmNames.get(p)!]! : null;
    if (inner) {
      if (vm === null) out.push({ path: `path[${i}]`, reason: `"${p}" is a port: only VMs may sit inside the path` });
      else if (!vm.vnf) out.push({ path: `vms[${vmNames.get(p)}].vnf`, reason: `VM "${p}" is inside the path, so it needs a VNF` });
      if (s.path.indexOf(p) !== i || ends.includes(p)) out.push({ path: `path[${i}]`, reason: `"${p}" appears twice: a path visits each VM once` });
    } else {
      if (vm !== null && vm.vnf) out.push({ path: `path[${i}]`, reason: `"${p}" runs a VNF: the path's ends are ports (trafgen, tap, vhost-user) or VMs without a VNF (they run the traffic application)` });
      if (vm !== null && vm.count > 1) out.push({ path: `path[${i}]`, reason: `"${p}" has count ${vm.count}: the traffic application runs in one VM` });
    }
  });
  const first = portNames.has(s.path[0]!) ? s.ports[portNames.get(s.path[0]!)!]! : null;
  const peerSends = first !== null && first.kind !== "trafgen";
  if (peerSends && s.traffic !== undefined) out.push({ path: "traffic", reason: `the path starts at ${first.kind} port "${first.name}": its peer sends the traffic, so leave traffic out` });
  if (!peerSends && s.traffic === undefined) out.push({ path: "traffic", reason: "required: the path starts at a trafgen port or a traffic VM, which sends these streams" });
  if (s.path[0] !== s.path[s.path.length - 1] && vmNames.has(s.path[0]!) !== vmNames.has(s.path[s.path.length - 1]!)) {
    out.push({ path: "path", reason: "the first and last endpoints must both be ports or both the same VM" });
  }
  if (s.reverse) {
    const kinds = ends.map((e) => (portNames.has(e) ? s.ports[portNames.get(e)!]!.kind : "vm"));
    if (kinds.some((k) => k !== "tap" && k !== "vhost-user")) {
      out.push({ path: "reverse", reason: `frames travel back from a real peer: both ends of the path must be tap or vhost-user ports (they are ${kinds.map((k, j) => `${k === "vm" ? "VM" : `${k} port`} "${ends[j]}"`).join(" and ")})` });
    } else if (ends[0] === ends[1]) {
      out.push({ path: "reverse", reason: `the path starts and ends at "${ends[0]}": a two-way path needs two different ports` });
    } else if (s.backend.kind === "offload") {
      out.push({ path: "reverse", reason: `the offload device has one uplink: a two-way path between "${ends[0]}" and "${ends[1]}" needs backend vhost-net` });
    }
    s.path.slice(1, -1).forEach((p) => {
      const i = vmNames.get(p);
      if (i !== undefined && s.vms[i]!.nics !== 2) out.push({ path: `vms[${i}].nics`, reason: `VM "${p}" is inside a reverse path: it needs nics: 2 (forward traffic enters NIC 0, reverse traffic NIC 1)` });
    });
  }
  if (s.sweep) {
    const target = s.sweep.vm ?? s.path.slice(1, -1).find((p) => vmNames.has(p));
    if (target === undefined || !vmNames.has(target) || !s.path.slice(1, -1).includes(target)) out.push({ path: "sweep.vm", reason: "must name a VM inside the path" });
  }
  if (s.cost !== undefined) {
    try {
      loadCostModel(s.cost as CostOverrides);
    } catch (e) {
      out.push({ path: "cost", reason: (e as Error).message.replace(/^cost model: /, "") });
    }
  }
  (s.traffic?.streams ?? []).forEach((st, i) => {
    const r = streamSchema.safeParse(st);
    if (!r.success) {
      for (const is of r.error.issues) out.push({ path: `traffic.streams[${i}]${is.path.length ? "." + pathText(is.path) : ""}`, reason: is.message });
      return;
    }
    try {
      new Stream(st, i);
    } catch (e) {
      const field = e instanceof TrafgenError && e.field !== undefined ? `.${e.field}` : "";
      out.push({ path: `traffic.streams[${i}]${field}`, reason: (e as Error).message });
    }
  });
  return out;
}

/** Check a parsed object; throws {@link ScenarioError} naming `file`. */
export function parseScenario(data: unknown, file: string): Scenario {
  const r = scenarioSchema.safeParse(data);
  if (!r.success) throw new ScenarioError(file, r.error.issues.map((is) => ({ path: pathText(is.path), reason: is.message })));
  const issues = crossCheck(r.data);
  if (issues.length > 0) throw new ScenarioError(file, issues);
  return r.data;
}

/** Parse YAML (or JSON, which is YAML) text. */
export function parseScenarioText(text: string, file: string): Scenario {
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ScenarioError(file, [{ path: "", reason: `not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message.split("\n")[0]}` }]);
  }
  return parseScenario(data, file);
}

/** Read and check a scenario file. */
export function loadScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ScenarioError(file, [{ path: "", reason: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return parseScenarioText(text, file);
}

/** The scenario's name for messages: its `name`, else the file's base name. */
export function displayName(file: string): string {
  return basename(file).replace(/\.(ya?ml|json)$/, "");
}

export type { VnfSpec };
