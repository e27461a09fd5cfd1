/**
 * `nfvio vhost-user --mode switch`: the offload device's embedded switch
 * served to real vhost-user peers. One {@link OffloadDevice} on the real
 * clock (vDPA style: it pops the peers' chains and reads and writes their
 * buffers itself), one vport per socket; frames are switched between the
 * peers by destination MAC (the `--mac` given to each socket, and with
 * `--learn` the source MACs the peers use), optionally flooded (`--flood`).
 * The device has no uplink here: a frame for no known MAC is dropped as
 * `noRoute` unless it is flooded.
 */
import { DevicePoller, OffloadDevice, VhostUserVport, parseMac, type DeviceProfile, type DevicePollerStats, type VhostUserVportStats } from "@nfvio/offload";
import { PacketPool } from "@nfvio/packet";
import { VhostUserServer, type Logger } from "@nfvio/vhost";
import { OFFLOAD_PROFILES } from "../scenario/offload-fabric.js";
import { CliError, table } from "../output.js";

/** Rate of a growing counter, sampled every 100 ms: frames per second between the first and the last sample that moved, and the best 1 s window. */
export class RateSampler {
  private last = 0;
  private firstT = -1;
  private firstN = 0;
  private lastT = -1;
  private lastN = 0;
  private readonly win: { t: number; n: number }[] = [];
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly count: () => number) {
    this.timer = setInterval(() => this.sample(), 100);
  }

  private sample(): void {
    const n = this.count();
    const t = performance.now();
    this.win.push({ t, n });
    if (this.win.length > 11) this.win.shift();
    if (this.win.length === 11) this.peak = Math.max(this.peak, (n - this.win[0]!.n) / ((t - this.win[0]!.t) / 1000));
    if (n !== this.last) {
      if (this.firstT < 0) {
        this.firstT = t - 100;
        this.firstN = this.last;
      }
      this.lastT = t;
      this.lastN = n;
      this.last = n;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The rate so far (take a last reading first). */
  result(): { frames: number; seconds: number; mpps: number; peakMpps: number } {
    const final = this.count();
    if (final !== this.lastN && this.lastT >= 0) {
      this.lastN = final;
      this.lastT = performance.now();
    }
    const seconds = this.firstT >= 0 ? (this.lastT - this.firstT) / 1000 : 0;
    const frames = this.firstT >= 0 ? this.lastN - this.firstN : 0;
    return { frames, seconds, mpps: seconds > 0 ? frames / seconds / 1e6 : 0, peakMpps: this.peak / 1e6 };
  }
}

export type SwitchProfile = keyof typeof OFFLOAD_PROFILES;
export const SWITCH_PROFILES = Object.keys(OFFLOAD_PROFILES) as SwitchProfile[];

export interface SwitchOptions {
  sockets: readonly string[];
  /** One per socket (defaults filled in by {@link switchMacs}). */
  macs: readonly string[];
  profile: SwitchProfile;
  learn: boolean;
  flood: boolean;
  client: boolean;
  idleMs: number;
  json: boolean;
  log: Logger;
}

/** One vport of the switch report. */
export interface SwitchVportReport {
  vport: number;
  socket: string;
  mac: string;
  connections: number;
  refused: number;
  attached: boolean;
  /** Frames the peer transmitted (taken from its transmit ring) and bytes (without the virtio-net header). */
  tx: { frames: number; bytes: number };
  /** Frames delivered into the peer's receive ring. */
  rx: { frames: number; bytes: number };
  /** Frames dropped that came from or were going to this vport. */
  drops: number;
  kicks: number;
  interrupts: number;
  lifecycle: VhostUserVportStats;
}

/** What `--mode switch --json` prints. */
export interface SwitchReport {
  mode: "switch";
  role: "server" | "client";
  profile: SwitchProfile;
  learn: boolean;
  flood: boolean;
  seconds: number;
  vports: SwitchVportReport[];
  /** The eSwitch stage's counters (toVport, eastWest, flooded, learned, moved, tableFull, toUplink). */
  eswitch: Record<string, number>;
  /** Drops by reason (only reasons that happened). */
  drops: Record<string, number>;
  /** Device-wide counters (non-zero ones). */
  device: Record<string, number>;
  /** offered = delivered + dropped + inFlight. */
  conservation: { offered: number; delivered: number; dropped: number; inFlight: number };
  /** Frames taken from the peers' transmit rings per second (as the other modes' rate). */
  rate: { frames: number; seconds: number; mpps: number; peakMpps: number };
  scheduler: DevicePollerStats;
}

/** The MAC of each socket: `--mac` in order, else 02:00:00:00:00:01, :02, ... Checked: unicast, distinct. */
export function switchMacs(sockets: readonly string[], macs: readonly string[] | undefined): string[] {
  if (macs !== undefined && macs.length !== sockets.length) throw new CliError(`--mac: give one per --socket (${sockets.length}), got ${macs.length}`);
  const out = macs ? [...macs] : sockets.map((_, k) => `02:00:00:00:${(((k + 1) >> 8) & 0xff).toString(16).padStart(2, "0")}:${((k + 1) & 0xff).toString(16).padStart(2, "0")}`);
  const seen = new Map<number, string>();
  for (const m of out) {
    let v: number;
    try {
      v = parseMac(m);
    } catch {
      throw new CliError(`--mac: "${m}" is not a MAC address (six hex bytes separated by ":")`);
    }
    if (Math.floor(v / 2 ** 40) & 1) throw new CliError(`--mac: ${m} is a group (multicast) address; a port needs a unicast one`);
    const other = seen.get(v);
    if (other !== undefined) throw new CliError(`--mac: ${m} is given twice (${other})`);
    seen.set(v, m);
  }
  return out;
}

/** Serve the switch until `stopped` resolves, then print the report. */
export async function runSwitch(o: SwitchOptions, stopped: Promise<unknown>): Promise<SwitchReport> {
  const profile: DeviceProfile = OFFLOAD_PROFILES[o.profile];
  if (o.sockets.length > profile.vports.value) throw new CliError(`--socket: profile ${o.profile} has ${profile.vports.value} vports, ${o.sockets.length} sockets given`);
  const pool = new PacketPool({ count: profile.buffers.value, dataRoom: 2048 });
  const device = new OffloadDevice({
    name: "switch",
    profile,
    pool,
    vports: o.sockets.length,
    hasUplink: false,
    defaultVport: null,
    learn: o.learn,
    flood: o.flood,
  });
  const poller = new DevicePoller(device, { idleMs: o.idleMs });
  const role = o.client ? "client" : "server";
  const vports = o.sockets.map((_, k) => new VhostUserVport(device, poller, { vport: k, mac: o.macs[k]!, log: o.log }));
  const servers: VhostUserServer[] = [];
  try {
    for (const [k, socket] of o.sockets.entries()) {
      const server = new VhostUserServer({ path: socket, role, device: vports[k]!, log: o.log });
      servers.push(server);
      server.start();
    }
  } catch (e) {
    for (const s of servers) s.close();
    poller.close();
    throw new CliError(`cannot serve ${o.sockets[servers.length - 1]}: ${(e as Error).message}`);
  }
  if (!o.json) {
    const what = o.sockets.map((s, k) => `${s} (${o.macs[k]})`).join(", ");
    process.stderr.write(`nfvio vhost-user: switch (${o.profile}${o.learn ? ", learning" : ""}${o.flood ? ", flooding" : ""}) ${role === "server" ? "listening on" : "connecting to"} ${what}; Ctrl-C to stop\n`);
  }
  const started = performance.now();
  const counters = device.counters;
  const sampler = new RateSampler(() => counters.get("txChains"));
  await stopped;
  sampler.stop();
  for (const s of servers) s.close();
  for (const v of vports) v.close();
  poller.close();
  const snap = device.snapshot();
  const rate = sampler.result();
  const eswitch: Record<string, number> = {};
  const drops: Record<string, number> = {};
  const dev: Record<string, number> = {};
  for (const [name, value] of Object.entries(snap)) {
    if (name.startsWith("eswitch.")) eswitch[name.slice(8)] = value;
    else if (name.startsWith("drop.")) {
      if (value !== 0) drops[name.slice(5)] = value;
    } else if (!name.startsWith("vport") && !name.includes(".") && value !== 0) dev[name] = value;
  }
  const report: SwitchReport = {
    mode: "switch",
    role,
    profile: o.profile,
    learn: o.learn,
    flood: o.flood,
    seconds: (performance.now() - started) / 1000,
    vports: vports.map((v, k) => ({
      vport: k,
      socket: o.sockets[k]!,
      mac: o.macs[k]!,
      connections: servers[k]!.connections,
      refused: servers[k]!.refused,
      attached: v.attached,
      tx: { frames: snap[`vport${k}.txFrames`] ?? 0, bytes: snap[`vport${k}.txBytes`] ?? 0 },
      rx: { frames: snap[`vport${k}.rxFrames`] ?? 0, bytes: snap[`vport${k}.rxBytes`] ?? 0 },
      drops: snap[`vport${k}.drops`] ?? 0,
      kicks: snap[`vport${k}.kicks`] ?? 0,
      interrupts: snap[`vport${k}.interrupts`] ?? 0,
      lifecycle: { ...v.stats },
    })),
    eswitch,
    drops,
    device: dev,
    conservation: device.conservation(),
    rate,
    scheduler: { ...poller.stats },
  };
  device.close();
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(
      table(
        ["vport", "socket", "mac", "conn", "tx frames", "rx frames", "drops", "attach", "detach"],
        report.vports.map((v) => [v.vport, v.socket, v.mac, v.connections, v.tx.frames, v.rx.frames, v.drops, v.lifecycle.attaches, v.lifecycle.detaches]),
      ) + "\n",
    );
    const kv = (r: Record<string, number>): string => {
      const parts = Object.entries(r).map(([k, n]) => `${k}=${n}`);
      return parts.length > 0 ? parts.join(" ") : "-";
    };
    process.stdout.write(`eswitch: ${kv(eswitch)}\n`);
    process.stdout.write(`drops: ${kv(drops)}\n`);
    const c = report.conservation;
    process.stdout.write(`offered ${c.offered} = delivered ${c.delivered} + dropped ${c.dropped} + in flight ${c.inFlight}; transmit rate ${rate.mpps.toFixed(3)} Mpps over ${rate.seconds.toFixed(2)} s; wakeups ${report.scheduler.wakeups}, kicks ${report.scheduler.kicks}\n`);
  }
  return report;
}
