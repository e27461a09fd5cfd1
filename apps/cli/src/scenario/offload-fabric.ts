/**
 * The accelerated backend: @nfvio/offload's `OffloadDevice`, a virtio-net
 * offload device that serves the guests' rings itself (vDPA style).
 *
 * ```
 *  wire ──▶ uplink ─▶ parser ─▶ classifier ─▶ eSwitch ─▶ distributor ─▶ queue manager ─▶ DMA write into the guest's posted RX buffer
 *  wire ◀── uplink ◀── eSwitch ◀── classifier ◀── parser ◀── DMA read of the guest's TX chain ◀── doorbell (no VM exit)
 *                         └── VM to VM: DMA from one guest's TX buffer into the other's RX buffer, no host CPU
 * ```
 *
 * Each VM queue (one vCPU each, see vm.ts) of each NIC is one vport of the device. The
 * scenario's path becomes classifier rules on the ingress port: frames
 * from the uplink or from a vport go to the uplink or to the next VM's
 * vports. A group of several vports (copies of a VM, queues of a VM) is
 * spread over by the low 6 bits of the L4 source port (64 buckets, dealt
 * round robin), with a catch-all rule to the group's first vport for
 * frames without ports.
 *
 * Host CPU: the device copies nothing with the CPU (`hostCopyBytes` stays
 * 0), doorbells are mapped into the guest (no VM exit) and interrupts are
 * the guest's to take; the host cycles reported are the device's VM exits
 * (none) times `cyclesPerVmExit`.
 */
import { CounterSet, type Burst, type CostRates, type ModelClock, type PacketPool, type Port, type RealClock } from "@nfvio/core";
import { DPAA_LIKE_PROFILE, GENERIC_SMARTNIC_PROFILE, OffloadDevice, UPLINK_PORT, offloadDeviceFeatures, type DeviceProfile, type FlowRule, type Vport } from "@nfvio/offload";
import { addDrop, type Fabric, type FabricSnapshot, type Target, type WireSink } from "./fabric.js";
import type { Vm } from "./vm.js";

export type ProfileName = "smartnic" | "dpaa";

/** The device profiles a scenario may name. */
export const OFFLOAD_PROFILES: Readonly<Record<ProfileName, DeviceProfile>> = {
  smartnic: GENERIC_SMARTNIC_PROFILE,
  dpaa: DPAA_LIKE_PROFILE,
};

/** Features the device offers a guest. */
export function offloadFeatures(profile: ProfileName): bigint {
  return offloadDeviceFeatures(OFFLOAD_PROFILES[profile]);
}

/** Line rate of the device's uplink, bit/s (the profile's MAC stage). */
export function offloadWireBps(profile: ProfileName): number | null {
  const g = OFFLOAD_PROFILES[profile].stages["mac"]?.gbps?.value;
  return g !== undefined ? g * 1e9 : null;
}

const BUCKETS = 64;

export interface OffloadFabricOptions {
  clock: ModelClock | RealClock;
  rates: CostRates;
  hostPool: PacketPool;
  profile: ProfileName;
  /** Vports the device needs (every VM queue). */
  vports: number;
}

export class OffloadFabric implements Fabric {
  readonly kind = "offload" as const;
  readonly hostPool: PacketPool;
  readonly device: OffloadDevice;
  readonly profile: ProfileName;
  private readonly rates: CostRates;
  private readonly vportsOf = new Map<string, number[]>();
  private readonly routes = new Map<string, Target>();
  private wireName: string | null = null;
  private sink: WireSink | null = null;
  private next = 0;
  private priority = 0;

  constructor(o: OffloadFabricOptions) {
    this.hostPool = o.hostPool;
    this.rates = o.rates;
    this.profile = o.profile;
    const fabric = this;
    const wire: Port = {
      counters: new CounterSet([]),
      rx: () => 0,
      tx(burst: Burst): number {
        const n = burst.count;
        if (fabric.sink === null) return 0;
        fabric.sink(fabric.hostPool, burst);
        return n;
      },
    };
    this.device = new OffloadDevice({
      name: "offload",
      profile: OFFLOAD_PROFILES[o.profile],
      clock: o.clock,
      cost: o.rates,
      pool: o.hostPool,
      vports: Math.max(1, o.vports),
      wire,
      defaultVport: null,
    });
  }

  attachVm(vm: Vm): void {
    for (let nic = 0; nic < vm.nicCount; nic++) this.attachNic(vm, nic);
  }

  /** One vport per queue of the NIC; its key (`vm` or `vm#k`) names them in routes. */
  private attachNic(vm: Vm, nic: number): void {
    const ids: number[] = [];
    const vps: Vport[] = [];
    for (const g of vm.nics[nic]!) {
      const id = this.next++;
      const mac = `02:00:00:10:${((id >> 8) & 0xff).toString(16).padStart(2, "0")}:${(id & 0xff).toString(16).padStart(2, "0")}`;
      const vp = this.device.attachGuest(id, g.setup, { mac, guest: g });
      g.connect(vp);
      ids.push(id);
      vps.push(vp);
    }
    this.vportsOf.set(vm.key(nic), ids);
  }

  private rule(r: FlowRule): void {
    const res = this.device.classifier.create(r);
    if (!res.ok) throw new Error(`offload device: cannot install a steering rule (${JSON.stringify(r.match)}): ${res.reason}`);
  }

  route(from: string, to: Target): void {
    this.routes.set(from, to);
    const ports = this.vportsOf.get(from) ?? [UPLINK_PORT];
    if (to.kind === "wire") {
      if (this.wireName !== null && this.wireName !== to.name) throw new Error(`the offload device has one uplink: it cannot reach both "${this.wireName}" and "${to.name}"`);
      this.wireName = to.name;
      for (const port of ports) this.rule({ priority: this.priority, match: { port }, actions: [{ type: "uplink" }] });
      return;
    }
    const dests: number[] = [];
    for (const vm of to.vms) dests.push(...(this.vportsOf.get(vm.key(vm.nicCount === 1 ? 0 : to.nic)) ?? []));
    for (const port of ports) {
      if (dests.length > 1) {
        for (let b = 0; b < BUCKETS; b++) {
          this.rule({ priority: this.priority, match: { port, srcPort: { value: b, mask: BUCKETS - 1 } }, actions: [{ type: "vport", id: dests[b % dests.length]! }] });
        }
      }
      this.rule({ priority: this.priority + 1, match: { port }, actions: [{ type: "vport", id: dests[0]! }] });
    }
  }

  connectWire(name: string, sink: WireSink): void {
    if (this.wireName === null || this.wireName === name) {
      this.wireName = name;
      this.sink = sink;
    }
  }

  ingress(name: string, burst: Burst): void {
    if (this.wireName !== null && name !== this.wireName) throw new Error(`the offload device has one uplink ("${this.wireName}"); frames came from "${name}"`);
    this.wireName = name;
    this.device.uplink.tx(burst);
    burst.clear();
  }

  poll(): boolean {
    return this.device.poll();
  }

  snapshot(): FabricSnapshot {
    const c = this.device.snapshot();
    const counters: Record<string, number> = {};
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(c)) {
      if (k.startsWith("drop.")) addDrop(drops, `offload: ${k.slice(5)}`, v);
      else if (!k.includes(".") || k.startsWith("vport")) counters[`offload.${k}`] = v;
    }
    const exits = c["vmExits"] ?? 0;
    return {
      hostCycles: exits * this.rates.cyclesPerVmExit + (c["hostCopyBytes"] ?? 0) * this.rates.cyclesPerCopyByte + (c["hostCopies"] ?? 0) * this.rates.cyclesPerCopyCall,
      resources: this.device.resourceSnapshot(),
      counters,
      drops,
    };
  }

  close(): void {
    // The rings belong to the guests; the device holds no other resource.
  }
}
