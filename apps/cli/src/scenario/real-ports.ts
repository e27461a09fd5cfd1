/**
 * Real peers on a scenario's wires (clock: real only).
 *
 * ```
 *   kernel stack (netns)  ──TAP──┐                        ┌── fabric (vhost-net model or offload device) ── VMs with VNFs
 *   DPDK / QEMU / nfvio   ──vhost-user socket──┤ RealPort ├──  ingress(name, burst)  /  WireSink(name) ──▶ port.tx
 * ```
 *
 * Each port is a core `Port` over the fabric's host pool: what the peer
 * sends (`rx`) enters the fabric at the port's wire, and what the fabric
 * sends to that wire goes to the peer (`tx`, which frees every buffer and
 * counts what the peer could not take).
 *
 * - `tap`: a TAP interface (`TapPort`), created when the run starts,
 *   optionally moved into an existing network namespace and given an
 *   address; it disappears when the run ends.
 * - `vhost-user`: a vhost-user back-end (`VhostUserPort` behind a
 *   `VhostUserServer`); the peer is a virtio-net front-end: DPDK's
 *   net_virtio_user, a QEMU guest, nfvio's `virtio-user`. The run waits up
 *   to the port's `wait` for it to start its rings before the traffic.
 */
import type { PacketPool, Port } from "@nfvio/core";
import { TapPort, VhostUserPort, VhostUserServer, type LogLevel } from "@nfvio/vhost";
import { parseDuration } from "@nfvio/trafgen";
import type { PortConfig } from "./schema.js";

export type RealPortConfig = Exclude<PortConfig, { kind: "trafgen" }>;

export interface RealPort {
  readonly name: string;
  readonly kind: RealPortConfig["kind"];
  readonly port: Port;
  /** What it is attached to, for messages and the topology. */
  readonly label: string;
  /** Frames can flow: a TAP at once, vhost-user once a front-end started its rings. */
  ready(): boolean;
  /** Indices of the port's `tx.packets` and `tx.bytes` in `port.counters.values` (frames the peer accepted). */
  readonly txPackets: number;
  readonly txBytes: number;
  /** Longest wait for {@link ready}, ns. */
  readonly waitNs: number;
  /** Time to let pass after it is ready, before the traffic, ns. */
  readonly settleNs: number;
  /** Non-zero counters of the port (`rx.packets`, `tx.drop.no_buffer`, ...). */
  counters(): Record<string, number>;
  close(): void;
}

/** Open one real port; `portId` is stamped on the frames it receives. */
export function openRealPort(c: RealPortConfig, pool: PacketPool, portId: number, log: (level: LogLevel, message: string) => void): RealPort {
  if (c.kind === "tap") {
    let tap: TapPort;
    try {
      tap = new TapPort({ pool, name: c.ifname, portId, up: true, ...(c.netns !== undefined ? { netns: c.netns } : {}), ...(c.address !== undefined ? { kernelAddress: c.address } : {}) });
    } catch (e) {
      throw new Error(`port "${c.name}": cannot open TAP ${c.ifname}${c.netns ? ` in netns ${c.netns}` : ""}: ${(e as Error).message}`);
    }
    return {
      name: c.name,
      kind: c.kind,
      port: tap,
      label: `${c.name}: tap ${tap.name}${c.netns ? ` (netns ${c.netns})` : ""}`,
      ready: () => true,
      txPackets: tap.counters.id("tx.packets"),
      txBytes: tap.counters.id("tx.bytes"),
      waitNs: 0,
      settleNs: 0,
      counters: () => tap.counters.nonZero(),
      close: () => tap.close(),
    };
  }
  const port = new VhostUserPort({ pool, portId, queuePairs: c.queues, log });
  const server = new VhostUserServer({ path: c.socket, role: c.server ? "server" : "client", device: port, log });
  try {
    server.start();
  } catch (e) {
    throw new Error(`port "${c.name}": cannot ${c.server ? "listen on" : "connect to"} ${c.socket}: ${(e as Error).message}`);
  }
  return {
    name: c.name,
    kind: c.kind,
    port,
    label: `${c.name}: vhost-user ${c.socket}`,
    ready: () => port.connected,
    txPackets: port.counters.id("tx.packets"),
    txBytes: port.counters.id("tx.bytes"),
    waitNs: parseDuration(c.wait),
    settleNs: parseDuration(c.settle),
    counters: () => port.counters.nonZero(),
    close: () => {
      server.close();
      port.close();
    },
  };
}

/** Wait until every port is ready, then the longest `settle`; throws naming the first that is not ready after its `wait`. */
export async function waitReady(ports: readonly RealPort[], onWait?: (p: RealPort) => void): Promise<void> {
  const t0 = performance.now();
  for (const p of ports) {
    if (p.ready()) continue;
    onWait?.(p);
    while (!p.ready()) {
      if ((performance.now() - t0) * 1e6 >= p.waitNs) throw new Error(`port "${p.name}": no peer after ${(p.waitNs / 1e9).toFixed(1)} s (${p.label}); start the front-end, or raise the port's wait`);
      await new Promise<void>((r) => setTimeout(r, 10));
    }
  }
  const settle = Math.max(0, ...ports.map((p) => p.settleNs));
  if (settle > 0) await new Promise<void>((r) => setTimeout(r, settle / 1e6));
}
