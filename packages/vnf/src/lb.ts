/**
 * Layer-4 load balancer: flows to a virtual IP (service) are spread over its
 * backends by {@link MaglevTable} consistent hashing of the 5-tuple, and a
 * connection affinity table pins each flow to the backend it started on, so
 * adding a backend moves no established flow and removing one moves only
 * the flows it served (Maglev paper §3.3: connection tracking plus
 * consistent hashing).
 *
 * Forwarding is direct server return at layer 2 (as IPVS's direct routing):
 * the frame keeps its IP header (the VIP stays the destination, configured
 * on every backend), the destination MAC becomes the backend's and the source
 * MAC the balancer's, and it leaves on the backend's port. Maglev itself
 * encapsulates in GRE instead (§3.1); that needs headroom and is left for
 * when pools exist.
 */
import { z } from "zod";
import type { PacketBurst } from "./burst.js";
import { zIp, zMac, zPortIndex, parseConfig } from "./config.js";
import { Counters, EXTRA_BASE, vnfCounterNames } from "./counters.js";
import { VnfError } from "./errors.js";
import { FLOW_KEY_WORDS, FlowInfo, PROTO_TCP, PROTO_UDP, TCP_FIN, TCP_RST, flowKey, parseFlow } from "./internal/parse.js";
import { KeyTable, hash32 } from "./internal/table.js";
import { MAGLEV_DEFAULT_SIZE, MaglevTable, isPrime } from "./maglev.js";
import { DropReason, drop } from "./verdict.js";
import { type Clock, type Vnf, type VnfOptions, defaultClock, tally } from "./vnf.js";

export const BackendSchema = z
  .object({
    /** Unique name; it seeds the backend's Maglev permutation. */
    name: z.string().min(1),
    /** The backend's MAC address (destination of forwarded frames). */
    mac: zMac,
    /** Output port towards the backend (default 1). */
    port: zPortIndex.default(1),
  })
  .strict();
export type Backend = z.input<typeof BackendSchema>;

export const ServiceSchema = z
  .object({
    /** Virtual IP address (IPv4 or IPv6). */
    vip: zIp,
    proto: z.enum(["tcp", "udp"]),
    /** Destination port; 0 means every port. */
    port: z.number().int().min(0).max(65535),
    backends: z.array(BackendSchema).default([]),
    /** Maglev lookup table size M (prime, ≫ backends). Default 65537. */
    tableSize: z.number().int().refine(isPrime, { message: "must be a prime number" }).default(MAGLEV_DEFAULT_SIZE),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    s.backends.forEach((b, i) => {
      if (names.has(b.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["backends", i, "name"], message: `duplicate backend name "${b.name}"` });
      names.add(b.name);
    });
  });
export type Service = z.input<typeof ServiceSchema>;

export const LoadBalancerConfigSchema = z
  .object({
    /** The balancer's own MAC (source of forwarded frames). */
    mac: zMac,
    /** Number of ports (default 2: clients on 0, backends on 1). */
    ports: z.number().int().min(1).max(65536).default(2),
    services: z.array(ServiceSchema).min(1),
    affinity: z
      .object({
        /** Most flows pinned at once; new flows beyond it are still balanced by hash, unpinned. */
        capacity: z.number().int().min(1).max(1 << 24).default(65536),
        /** Idle seconds before a flow's pin is forgotten. */
        timeout: z.number().positive().default(300),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.services.forEach((s, i) => {
      if (s.vip?.words === undefined) return;
      const k = `${s.vip.words.join(",")}/${s.proto}/${s.port}`;
      if (seen.has(k)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["services", i], message: "duplicate service (vip, proto, port)" });
      seen.add(k);
      s.backends?.forEach((b, j) => {
        if (typeof b.port === "number" && b.port >= c.ports)
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["services", i, "backends", j, "port"], message: `is not below ports (${c.ports})` });
      });
    });
  });
export type LoadBalancerConfig = z.input<typeof LoadBalancerConfigSchema>;

const C_NEW = EXTRA_BASE;
const C_PINNED = EXTRA_BASE + 1;
const C_REPINNED = EXTRA_BASE + 2;
const C_AFF_FULL = EXTRA_BASE + 3;
const C_AFF_ACTIVE = EXTRA_BASE + 4;
const LB_COUNTERS = ["flows.new", "flows.pinned", "flows.repinned", "affinity.full", "affinity.active"];

interface ServiceState {
  readonly maglev: MaglevTable;
  /** Backend slots: names, MACs, ports, alive; ids are indices into `backendMac` etc. (global). */
  readonly ids: number[];
}

const FLOW_SEED = 0x5eed1b;

export class LoadBalancer implements Vnf {
  readonly kind = "lb";
  readonly portCount: number;
  readonly counters = new Counters(vnfCounterNames(LB_COUNTERS));
  readonly outbox = null;
  private readonly clock: Clock;
  private readonly mac: Uint8Array;
  private readonly f = new FlowInfo();
  private readonly key = new Uint32Array(FLOW_KEY_WORDS);
  private readonly svcKey = new Uint32Array(6);
  private readonly svcTable: KeyTable;
  private readonly services: ServiceState[] = [];
  // Backends (global ids).
  private readonly backendName: string[] = [];
  private readonly backendService: number[] = [];
  private backendMac = new Uint8Array(0);
  private backendPort = new Uint16Array(0);
  private backendAlive = new Uint8Array(0);
  /** Flows served per backend id (pins made, for displays and tests). */
  private backendFlows = new Float64Array(0);
  // Affinity table.
  private readonly aff: KeyTable;
  private readonly affKeys: Uint32Array;
  private readonly affBackend: Int32Array;
  private readonly affExpires: Float64Array;
  private readonly affFree: Int32Array;
  private affFreeTop: number;
  private affHand = 0;
  private readonly affTimeout: number;

  constructor(config: LoadBalancerConfig, opts: VnfOptions = {}) {
    const c = parseConfig(LoadBalancerConfigSchema, config);
    this.clock = opts.clock ?? defaultClock;
    this.portCount = c.ports;
    this.mac = c.mac;
    this.svcTable = new KeyTable(6, Math.max(16, c.services.length));
    c.services.forEach((s, si) => {
      this.svcKey.set([(s.proto === "tcp" ? PROTO_TCP : PROTO_UDP) | (s.vip.family << 8), ...s.vip.words, s.port]);
      this.svcTable.set(this.svcKey, 0, si);
      this.services.push({ maglev: new MaglevTable(s.tableSize), ids: [] });
      for (const b of s.backends) this.addBackendSlot(si, b.name, b.mac, b.port);
      this.rebuild(si);
    });
    const cap = c.affinity.capacity;
    this.aff = new KeyTable(FLOW_KEY_WORDS, cap);
    this.affKeys = new Uint32Array(cap * FLOW_KEY_WORDS);
    this.affBackend = new Int32Array(cap).fill(-1);
    this.affExpires = new Float64Array(cap);
    this.affFree = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.affFree[i] = cap - 1 - i;
    this.affFreeTop = cap;
    this.affTimeout = c.affinity.timeout * 1000;
  }

  private addBackendSlot(si: number, name: string, mac: Uint8Array, port: number): number {
    const id = this.backendName.length;
    this.backendName.push(name);
    this.backendService.push(si);
    const grow = <T extends Uint8Array | Uint16Array | Float64Array>(a: T, make: (n: number) => T, per: number): T => {
      const b = make((id + 1) * per);
      b.set(a);
      return b;
    };
    this.backendMac = grow(this.backendMac, (n) => new Uint8Array(n), 6);
    this.backendPort = grow(this.backendPort, (n) => new Uint16Array(n), 1);
    this.backendAlive = grow(this.backendAlive, (n) => new Uint8Array(n), 1);
    this.backendFlows = grow(this.backendFlows, (n) => new Float64Array(n), 1);
    this.backendMac.set(mac, id * 6);
    this.backendPort[id] = port;
    this.backendAlive[id] = 1;
    this.services[si]!.ids.push(id);
    return id;
  }

  private rebuild(si: number): void {
    const s = this.services[si]!;
    const live = s.ids.filter((id) => this.backendAlive[id]);
    s.maglev.populate(
      live.map((id) => this.backendName[id]!),
      live,
    );
  }

  private serviceIndex(service: number): number {
    if (!Number.isInteger(service) || service < 0 || service >= this.services.length) throw new VnfError("usage", `no service ${service}`);
    return service;
  }

  /** Add a backend to service `service` (index in the configuration); flows already pinned stay where they are. */
  addBackend(service: number, backend: Backend): void {
    const si = this.serviceIndex(service);
    const b = parseConfig(BackendSchema, backend);
    if (b.port >= this.portCount) throw new VnfError("usage", `backend port ${b.port} is not below ${this.portCount}`);
    if (this.liveId(si, b.name) >= 0) throw new VnfError("usage", `service ${si} already has a backend "${b.name}"`);
    this.addBackendSlot(si, b.name, b.mac, b.port);
    this.rebuild(si);
  }

  /** Remove a backend: its flows are re-balanced on their next packet; others keep their backend. */
  removeBackend(service: number, name: string): void {
    const si = this.serviceIndex(service);
    const id = this.liveId(si, name);
    if (id < 0) throw new VnfError("usage", `service ${si} has no backend "${name}"`);
    this.backendAlive[id] = 0;
    this.rebuild(si);
  }

  private liveId(si: number, name: string): number {
    for (const id of this.services[si]!.ids) if (this.backendAlive[id] && this.backendName[id] === name) return id;
    return -1;
  }

  /** Live backend names of a service with the number of flows pinned to each so far. */
  backends(service: number): { name: string; flows: number }[] {
    const si = this.serviceIndex(service);
    return this.services[si]!.ids.filter((id) => this.backendAlive[id]).map((id) => ({ name: this.backendName[id]!, flows: this.backendFlows[id]! }));
  }

  /** The Maglev table of a service (for inspection). */
  maglev(service: number): MaglevTable {
    return this.services[this.serviceIndex(service)]!.maglev;
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    const { bufs, offsets, lengths, ports } = burst;
    const c = this.counters.values;
    const now = this.clock();
    for (let i = 0; i < n; i++) {
      verdicts[i] = ports[i]! >= this.portCount ? drop(DropReason.BadPort) : this.one(bufs[i]!, offsets[i]!, lengths[i]!, now, c);
    }
    this.sweep(now, 32);
    c[C_AFF_ACTIVE] = this.aff.size;
    return tally(c, verdicts, n);
  }

  private one(b: Uint8Array, off: number, len: number, now: number, c: Float64Array): number {
    const f = this.f;
    const r = parseFlow(b, off, len, f);
    if (r >= 0) return drop(r as DropReason);
    if (f.proto !== PROTO_TCP && f.proto !== PROTO_UDP) return drop(DropReason.NoBackend);
    const key = this.key;
    flowKey(b, f, key, 0);
    // Service: (proto|family, VIP, port), then the every-port service.
    const sk = this.svcKey;
    sk[0] = key[0]!;
    sk[1] = key[5]!;
    sk[2] = key[6]!;
    sk[3] = key[7]!;
    sk[4] = key[8]!;
    sk[5] = f.dport;
    let si = this.svcTable.get(sk, 0);
    if (si < 0) {
      sk[5] = 0;
      si = this.svcTable.get(sk, 0);
      if (si < 0) return drop(DropReason.NoBackend);
    }
    let backend = -1;
    const slot = this.aff.get(key, 0);
    if (slot >= 0) {
      const pinned = this.affBackend[slot]!;
      if (this.affExpires[slot]! > now && this.backendAlive[pinned] && this.backendService[pinned] === si) {
        backend = pinned;
        c[C_PINNED]!++;
      } else {
        backend = this.services[si]!.maglev.lookup(hash32(key, 0, FLOW_KEY_WORDS, FLOW_SEED));
        if (backend < 0) {
          this.unpin(slot);
          return drop(DropReason.NoBackend);
        }
        this.affBackend[slot] = backend;
        this.backendFlows[backend]!++;
        c[C_REPINNED]!++;
      }
      if (f.tcpFlags & (TCP_RST | TCP_FIN)) this.affExpires[slot] = now + Math.min(this.affTimeout, 10_000);
      else this.affExpires[slot] = now + this.affTimeout;
    } else {
      backend = this.services[si]!.maglev.lookup(hash32(key, 0, FLOW_KEY_WORDS, FLOW_SEED));
      if (backend < 0) return drop(DropReason.NoBackend);
      this.pin(key, backend, now, c);
      this.backendFlows[backend]!++;
      c[C_NEW]!++;
    }
    // Direct server return at layer 2: destination MAC = backend, source MAC = balancer.
    const m = this.backendMac;
    const mb = backend * 6;
    for (let k = 0; k < 6; k++) {
      b[off + k] = m[mb + k]!;
      b[off + 6 + k] = this.mac[k]!;
    }
    return this.backendPort[backend]!;
  }

  private pin(key: Uint32Array, backend: number, now: number, c: Float64Array): void {
    if (this.affFreeTop === 0) {
      this.sweep(now, 16);
      if (this.affFreeTop === 0) {
        c[C_AFF_FULL]!++;
        return;
      }
    }
    const slot = this.affFree[--this.affFreeTop]!;
    this.affKeys.set(key, slot * FLOW_KEY_WORDS);
    this.affBackend[slot] = backend;
    this.affExpires[slot] = now + this.affTimeout;
    this.aff.set(this.affKeys, slot * FLOW_KEY_WORDS, slot);
  }

  private unpin(slot: number): void {
    this.aff.delete(this.affKeys, slot * FLOW_KEY_WORDS);
    this.affBackend[slot] = -1;
    this.affFree[this.affFreeTop++] = slot;
  }

  private sweep(now: number, budget: number): void {
    const cap = this.affBackend.length;
    for (let n = 0; n < budget; n++) {
      const s = this.affHand;
      this.affHand = s + 1 === cap ? 0 : s + 1;
      if (this.affBackend[s]! >= 0 && this.affExpires[s]! <= now) this.unpin(s);
    }
  }
}
