/**
 * A service chain: several VNFs in sequence inside one process. The packets
 * a stage forwards out of its port `p` enter the next stage on port
 * `links[k][p]` (default `p`); a drop at any stage ends the packet's trip
 * there, with that stage's reason as the chain's verdict. The last stage's
 * forward verdicts are the chain's.
 *
 * Packets a stage originates (ARP replies, ICMP errors, released held
 * packets) do not travel through the other stages: after each burst they are
 * copied into the chain's outbox with the stage that emitted them in
 * {@link ServiceChain.emittedBy} and that stage's port, for the caller to send
 * on. Across VMs a chain is the same VNFs on separate ports joined by links;
 * this class is the in-VM composition.
 */
import { type PacketBurst, createBurst } from "./burst.js";
import { Counters, EXTRA_BASE, vnfCounterNames } from "./counters.js";
import { VnfError } from "./errors.js";
import { Outbox } from "./outbox.js";
import { type Vnf, tally } from "./vnf.js";

export interface ChainOptions {
  /** Per stage boundary k (between stage k and k+1): output port → input port of the next stage. */
  links?: readonly (readonly number[] | undefined)[];
  /** Largest burst processed at once (longer bursts are split). Default 256. */
  maxBurst?: number;
  /** Slots of the chain's outbox. Default 256. */
  outboxSlots?: number;
}

export class ServiceChain implements Vnf {
  readonly kind = "chain";
  readonly portCount: number;
  readonly counters: Counters;
  readonly outbox: Outbox;
  /** The stage that emitted each outbox packet (index-aligned with the outbox burst). */
  readonly emittedBy: Uint16Array;
  readonly stages: readonly Vnf[];
  private readonly links: (Int32Array | null)[];
  private readonly sub: PacketBurst;
  private readonly subIdx: Int32Array;
  private readonly subVerdicts: Int32Array;
  private readonly cap: number;

  constructor(stages: readonly Vnf[], opts: ChainOptions = {}) {
    if (stages.length === 0) throw new VnfError("usage", "a service chain needs at least one stage");
    this.stages = [...stages];
    this.portCount = stages[stages.length - 1]!.portCount;
    this.counters = new Counters(vnfCounterNames(stages.map((s, k) => `stage${k}.${s.kind}.dropped`)));
    this.links = stages.slice(0, -1).map((s, k) => {
      const l = opts.links?.[k];
      if (!l) return null;
      if (l.length !== s.portCount) throw new VnfError("usage", `links[${k}] must map each of stage ${k}'s ${s.portCount} ports`);
      for (const p of l) if (!Number.isInteger(p) || p < 0 || p >= stages[k + 1]!.portCount) throw new VnfError("usage", `links[${k}] maps to port ${p}, not a port of stage ${k + 1}`);
      return Int32Array.from(l);
    });
    this.cap = opts.maxBurst ?? 256;
    this.sub = createBurst(this.cap);
    this.subIdx = new Int32Array(this.cap);
    this.subVerdicts = new Int32Array(this.cap);
    const slots = opts.outboxSlots ?? 256;
    this.outbox = new Outbox(slots, Math.max(2048, ...stages.map((s) => s.outbox?.slotSize ?? 0)));
    this.emittedBy = new Uint16Array(slots);
  }

  process(burst: PacketBurst, n: number, verdicts: Int32Array): number {
    for (let start = 0; start < n; start += this.cap) this.chunk(burst, start, Math.min(this.cap, n - start), verdicts);
    this.collectOutboxes();
    return tally(this.counters.values, verdicts, n);
  }

  private chunk(burst: PacketBurst, start: number, n: number, verdicts: Int32Array): void {
    const sub = this.sub;
    const idx = this.subIdx;
    const sv = this.subVerdicts;
    const c = this.counters.values;
    // Stage 0 sees the packets as they arrived.
    let m = 0;
    for (let i = 0; i < n; i++) {
      const g = start + i;
      sub.bufs[m] = burst.bufs[g]!;
      sub.offsets[m] = burst.offsets[g]!;
      sub.lengths[m] = burst.lengths[g]!;
      sub.ports[m] = burst.ports[g]!;
      idx[m++] = g;
    }
    for (let k = 0; k < this.stages.length; k++) {
      if (m === 0) break;
      this.stages[k]!.process(sub, m, sv);
      const link = k + 1 < this.stages.length ? this.links[k] : null;
      let kept = 0;
      for (let j = 0; j < m; j++) {
        const g = idx[j]!;
        const v = sv[j]!;
        burst.lengths[g] = sub.lengths[j]!;
        if (v < 0) {
          verdicts[g] = v;
          c[EXTRA_BASE + k]!++;
          continue;
        }
        verdicts[g] = v;
        // Compact forwarded packets to the front for the next stage.
        sub.bufs[kept] = sub.bufs[j]!;
        sub.offsets[kept] = sub.offsets[j]!;
        sub.lengths[kept] = sub.lengths[j]!;
        sub.ports[kept] = link ? link[v]! : v;
        idx[kept++] = g;
      }
      m = kept;
    }
  }

  private collectOutboxes(): void {
    const ob = this.outbox;
    for (let k = 0; k < this.stages.length; k++) {
      const so = this.stages[k]!.outbox;
      if (!so || so.count === 0) continue;
      for (let i = 0; i < so.count; i++) {
        const len = so.burst.lengths[i]!;
        const at = ob.alloc(len, so.burst.ports[i]!);
        if (at < 0) continue;
        const o = so.burst.offsets[i]!;
        ob.bytes.set(so.bytes.subarray(o, o + len), at);
        this.emittedBy[ob.count - 1] = k;
      }
      so.clear();
    }
  }
}
