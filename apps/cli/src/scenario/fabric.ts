/**
 * What connects the VMs of a scenario to each other and to the wires: the
 * backend. Two implementations with one interface:
 *
 * - `VhostNetFabric` (baseline): each VM queue served by a vhost-net device
 *   model, a host network stack (NIC driver + bridge) in software, every
 *   copy, notification and exit charged to host CPUs.
 * - `OffloadFabric` (accelerated): a device that DMAs frames between the
 *   wire and the guests' rings and switches VM to VM in hardware.
 *
 * Steering is by where a frame comes from (the scenario's path): a rule
 * per source (a wire, or a VM's NIC), to a wire or to one NIC of a group of
 * VMs; within a group a flow hash picks the VM and the queue.
 */
import type { Burst, PacketPool, ResourceSnapshot } from "@nfvio/core";
import type { Vm } from "./vm.js";

/** Where frames from one source go: a wire, or a group of VMs (into NIC `nic` of each; 0 for one-NIC VMs). */
export type Target = { kind: "wire"; name: string } | { kind: "vms"; vms: readonly Vm[]; nic: number };

/** The receiving side of a wire: frames leaving the system, `pool.ts` = the time their last bit is on the wire. The callee frees them. */
export type WireSink = (pool: PacketPool, burst: Burst) => void;

export interface FabricSnapshot {
  /** Host CPU cycles charged so far: backend workers, host stack, and KVM's handling of exits and injected interrupts. */
  hostCycles: number;
  /** Every resource the backend charged (CPU cores and hardware stages). */
  resources: Record<string, ResourceSnapshot>;
  /** Backend counters, flattened (`vm1.q0.txFrames`, `offload.rxDropNoBuffer`, ...). */
  counters: Record<string, number>;
  /** Dropped frames by reason (`vhost-net: tun queue full`, ...). */
  drops: Record<string, number>;
}

export interface Fabric {
  readonly kind: "vhost-net" | "offload";
  /** Host pool: wire frames live here. */
  readonly hostPool: PacketPool;
  /** Serve a VM's queues. Call for every VM before `route`. */
  attachVm(vm: Vm): void;
  /** Frames that come from `from` (a wire, or a VM NIC's {@link Vm.key}: the VM's name with one NIC, `name#k` with two) go to `to`. */
  route(from: string, to: Target): void;
  /** Where frames sent to wire `name` end up. */
  connectWire(name: string, sink: WireSink): void;
  /** Frames arrive from wire `name` (host pool buffers, `pool.ts` = arrival time, at or after now). Takes them all. */
  ingress(name: string, burst: Burst): void;
  /** Real clock: one pass over the backend's own work; true when more is pending. */
  poll(): boolean;
  snapshot(): FabricSnapshot;
  close(): void;
}

/**
 * Flow hash of frame `i` (FNV-1a over the IPv4/IPv6 addresses and L4 ports
 * of an untagged or single-tagged frame; the first 64 bytes otherwise),
 * stored in `pool.hash[i]`. Software steering (tun's flow hash, an app's
 * queue choice) uses it; the offload device computes its own Toeplitz hash.
 */
export function flowHash(pool: PacketPool, i: number): number {
  const d = pool.data;
  const s = pool.start(i);
  const len = pool.len[i]!;
  let l3 = 14;
  let et = (d[s + 12]! << 8) | d[s + 13]!;
  if (et === 0x8100 && len >= 18) {
    et = (d[s + 16]! << 8) | d[s + 17]!;
    l3 = 18;
  }
  let from = 0;
  let to = Math.min(len, 64);
  if (et === 0x0800 && len >= l3 + 24) {
    from = s + l3 + 12;
    to = s + l3 + 24; // addresses + ports (no options in test frames)
  } else if (et === 0x86dd && len >= l3 + 44) {
    from = s + l3 + 8;
    to = s + l3 + 44;
  } else {
    from = s;
    to = s + to;
  }
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ d[k]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h >>>= 0;
  pool.hash[i] = h;
  return h;
}

/** Pick `(vm, queue)` of a group for hash `h`: the high bits choose the VM, the rest the queue. */
export function pickQueue(vms: readonly Vm[], h: number): { vm: number; queue: number } {
  const n = vms.length;
  const x = (h / 0x1_0000_0000) * n;
  const vm = Math.min(n - 1, Math.floor(x));
  const q = vms[vm]!.spec.queues;
  const queue = Math.min(q - 1, Math.floor((x - vm) * q));
  return { vm, queue };
}

/** Add `v` to `rec[k]` when non-zero. */
export function addDrop(rec: Record<string, number>, k: string, v: number): void {
  if (v > 0) rec[k] = (rec[k] ?? 0) + v;
}
