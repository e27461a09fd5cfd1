/**
 * The built-in pipeline stages, registered under their kinds:
 *
 * - `parser`: `@nfvio/packet`'s {@link parse} into the batch's
 *   {@link PacketMeta}s (L2, VLAN, IPv4/IPv6 with extension headers, L4,
 *   VXLAN with its inner frame), then {@link flowKeyFromMeta}. A malformed
 *   frame is flagged (its key carries `FKE_*` bits) and counted; it is
 *   dropped only with `dropMalformed`.
 * - `classifier`: the device's {@link FlowClassifier} over the keys; a drop
 *   fate drops, a mark sets the buffer's mark, VLAN push/pop and VXLAN
 *   encap/decap rewrite the frame in its buffer (see `./actions.ts`).
 * - `eswitch`: the embedded switch. A vport or uplink fate from the
 *   classifier decides; otherwise the destination MAC does: from the
 *   uplink, the vport with that MAC (or the default vport); from a vport,
 *   another vport with that MAC (east-west) or else the uplink. Optionally
 *   it learns source MACs and floods (device options `learn`, `flood`).
 * - `distributor`: the receive queue in the destination vport: an explicit
 *   queue or RSS fate from the classifier, else the vport's virtio RSS
 *   configuration (Toeplitz over the indirection table), else queue 0; and
 *   the hash report when the vport negotiated VIRTIO_NET_F_HASH_REPORT.
 * - `rxChecksum`: for a vport that negotiated VIRTIO_NET_F_GUEST_CSUM,
 *   verify the IPv4 header and L4 checksums and deliver
 *   VIRTIO_NET_HDR_F_DATA_VALID when they are right (virtio 1.2 §5.1.6.4).
 *
 * Each stage assumes every frame of the batch is alive when it starts (the
 * device compacts the batch between stages) and drops by setting
 * `batch.drop[k]`.
 */
import type { Meter } from "@nfvio/core";
import { parse, verifyChecksums } from "@nfvio/packet";
import { VIRTIO_NET_HDR_F_DATA_VALID } from "@nfvio/virtio";
import { z } from "zod";
import { FATE_DROP, FATE_QUEUE, FATE_RSS, FATE_UPLINK, FATE_VPORT, VA_MARK, VA_VLAN_POP, VA_VLAN_PUSH, VA_VXLAN_DECAP, VA_VXLAN_ENCAP } from "../classifier/verdict.js";
import { flowKeyFromMeta } from "../flow-key.js";
import { encapSourcePort, vlanPop, vlanPush, vxlanDecap, vxlanEncap } from "./actions.js";
import { DEST_FLOOD, DEST_UPLINK, LEARN_FULL, LEARN_MOVED, LEARN_NEW, UPLINK_PORT, registerStage, type DeviceStage, type PipelineBatch, type StageEnv } from "./stage.js";

const parseFrame = parse;
const keyFromMeta = flowKeyFromMeta;
const verify = verifyChecksums;
const DATA_VALID = VIRTIO_NET_HDR_F_DATA_VALID;

// ---- parser ----

const parserSchema = z.object({ dropMalformed: z.boolean().default(false) }).strict();

class ParserStage implements DeviceStage {
  readonly kind = "parser";
  private readonly cFrames: number;
  private readonly cMalformed: number;
  private readonly cTunnels: number;
  private readonly dropCode: number;

  constructor(
    readonly name: string,
    private readonly env: StageEnv,
    private readonly dropMalformed: boolean,
  ) {
    this.cFrames = env.counter("frames");
    this.cMalformed = env.counter("malformed");
    this.cTunnels = env.counter("tunnels");
    this.dropCode = env.dropCode("malformed");
  }

  process(b: PipelineBatch): void {
    const pool = b.pool;
    const data = pool.data;
    const c = this.env.counters;
    let malformed = 0;
    let tunnels = 0;
    for (let k = 0; k < b.count; k++) {
      const i = b.idx[k]!;
      const m = b.metas[k]!;
      const ok = parseFrame(data, pool.start(i), pool.len[i]!, m);
      keyFromMeta(data, m, b.inPort[k]!, b.keys[k]!);
      if (m.tunnel !== 0) tunnels++;
      if (!ok) {
        malformed++;
        if (this.dropMalformed) b.drop[k] = this.dropCode;
      }
    }
    c[this.cFrames]! += b.count;
    c[this.cMalformed]! += malformed;
    c[this.cTunnels]! += tunnels;
  }
}

registerStage({
  kind: "parser",
  description: "L2, VLAN, IPv4/IPv6 (extension headers), L4, VXLAN inner frame: @nfvio/packet's parse, then the flow key; malformed frames flagged and counted",
  schema: parserSchema,
  counters: ["frames", "malformed", "tunnels"],
  dropReasons: ["malformed"],
  create: (o, env) => new ParserStage(env.name, env, o.dropMalformed),
});

// ---- classifier ----

const REWRITE = VA_VLAN_PUSH | VA_VLAN_POP | VA_VXLAN_ENCAP | VA_VXLAN_DECAP;

/**
 * The classifier, then the frame-rewriting actions applied in place in the
 * frame's device buffer, in this order: VXLAN decap, VLAN pop, VLAN push,
 * VXLAN encap. A rewritten frame is parsed again so later stages (receive
 * checksum) see its new headers; its flow key stays the classified one.
 * - `vlanPop` of an untagged frame leaves it as it is (`vlanPopNoTag`).
 * - `vxlanDecap` of a frame that is not VXLAN (possible only with a rule
 *   matching the VNI word of a non-tunnel key) leaves it as it is and
 *   delivers it (`decapNotVxlan`), like a pop without a tag.
 * - A push or encap without headroom in the buffer drops the frame
 *   (`drop.actionNoRoom`); with the pool's 128 bytes it does not happen.
 * Mirroring is done by the device when it queues the frame.
 */
class ClassifierStage implements DeviceStage {
  readonly kind = "classifier";
  private readonly cDropped: number;
  private readonly cMarked: number;
  private readonly cUnapplied: number;
  private readonly cPush: number;
  private readonly cPop: number;
  private readonly cPopNoTag: number;
  private readonly cEncap: number;
  private readonly cDecap: number;
  private readonly cDecapNotVxlan: number;
  private readonly dropCode: number;
  private readonly noRoom: number;

  constructor(
    readonly name: string,
    private readonly env: StageEnv,
  ) {
    this.cDropped = env.counter("dropped");
    this.cMarked = env.counter("marked");
    this.cUnapplied = env.counter("unappliedActions");
    this.cPush = env.counter("vlanPushed");
    this.cPop = env.counter("vlanPopped");
    this.cPopNoTag = env.counter("vlanPopNoTag");
    this.cEncap = env.counter("vxlanEncapped");
    this.cDecap = env.counter("vxlanDecapped");
    this.cDecapNotVxlan = env.counter("decapNotVxlan");
    this.dropCode = env.dropCode("classifier");
    this.noRoom = env.dropCode("actionNoRoom");
  }

  process(b: PipelineBatch): void {
    const v = b.verdicts;
    const cls = this.env.device.classifier;
    cls.classify(b.keys, b.count, v);
    const c = this.env.counters;
    const pool = b.pool;
    const mark = pool.mark;
    for (let k = 0; k < b.count; k++) {
      if (v.fate[k] === FATE_DROP) {
        b.drop[k] = this.dropCode;
        c[this.cDropped]! += 1;
        continue;
      }
      const a = v.actions[k]!;
      const i = b.idx[k]!;
      if (a & VA_MARK) {
        mark[i] = v.mark[k]!;
        c[this.cMarked]! += 1;
      }
      if ((a & REWRITE) === 0) continue;
      let changed = false;
      if (a & VA_VXLAN_DECAP) {
        if (vxlanDecap(pool, i, b.metas[k]!)) {
          changed = true;
          c[this.cDecap]! += 1;
        } else c[this.cDecapNotVxlan]! += 1;
      }
      if (a & VA_VLAN_POP) {
        if (vlanPop(pool, i)) {
          changed = true;
          c[this.cPop]! += 1;
        } else c[this.cPopNoTag]! += 1;
      }
      if (a & VA_VLAN_PUSH) {
        if (!vlanPush(pool, i, v.vlanTci[k]!)) {
          b.drop[k] = this.noRoom;
          continue;
        }
        changed = true;
        c[this.cPush]! += 1;
      }
      if (a & VA_VXLAN_ENCAP) {
        const t = cls.encapTemplate(v.encap[k]!);
        if (t === undefined) {
          // The rule went away between classify and here: cannot happen within a batch.
          c[this.cUnapplied]! += 1;
        } else if (!vxlanEncap(pool, i, t, encapSourcePort(b.keys[k]!))) {
          b.drop[k] = this.noRoom;
          continue;
        } else {
          changed = true;
          c[this.cEncap]! += 1;
        }
      }
      if (changed) parseFrame(pool.data, pool.start(i), pool.len[i]!, b.metas[k]!);
    }
  }
}

registerStage({
  kind: "classifier",
  description: "the device's FlowClassifier (exact-match and wildcard tables with jumps): fate, mark, counters, and the VLAN push/pop and VXLAN encap/decap actions applied in place",
  schema: z.object({}).strict(),
  counters: ["dropped", "marked", "unappliedActions", "vlanPushed", "vlanPopped", "vlanPopNoTag", "vxlanEncapped", "vxlanDecapped", "decapNotVxlan"],
  dropReasons: ["classifier", "actionNoRoom"],
  create: (_o, env) => new ClassifierStage(env.name, env),
});

// ---- eswitch ----

/**
 * The embedded switch. A classifier vport or uplink fate decides; otherwise
 * the destination MAC does:
 * - from the uplink: the vport with that MAC, else the default vport (or,
 *   with `flood`, every attached vport; broadcast and multicast too);
 * - from a vport: another vport with that MAC (east-west), else the uplink
 *   (or, with `flood`, every other attached vport and the uplink).
 * With `learn`, the source MAC of each frame from a vport (when it is a
 * unicast address) is learned as behind that vport first. A device without
 * an uplink drops what would go there as `noRoute`.
 */
class EswitchStage implements DeviceStage {
  readonly kind = "eswitch";
  private readonly cToVport: number;
  private readonly cToUplink: number;
  private readonly cEastWest: number;
  private readonly cLearned: number;
  private readonly cMoved: number;
  private readonly cTableFull: number;
  private readonly cFlooded: number;
  private readonly noRoute: number;

  constructor(
    readonly name: string,
    private readonly env: StageEnv,
  ) {
    this.cToVport = env.counter("toVport");
    this.cToUplink = env.counter("toUplink");
    this.cEastWest = env.counter("eastWest");
    this.cLearned = env.counter("learned");
    this.cMoved = env.counter("moved");
    this.cTableFull = env.counter("tableFull");
    this.cFlooded = env.counter("flooded");
    this.noRoute = env.dropCode("noRoute");
  }

  process(b: PipelineBatch): void {
    const dev = this.env.device;
    const v = b.verdicts;
    const data = b.pool.data;
    const c = this.env.counters;
    const learn = dev.learning;
    const flood = dev.flooding;
    for (let k = 0; k < b.count; k++) {
      const fate = v.fate[k]!;
      const from = b.inPort[k]!;
      let d: number;
      if (learn && from !== UPLINK_PORT) {
        const p = b.start(k) + 6;
        // Only unicast source addresses are learned (a group address as a source is bogus).
        if ((data[p]! & 1) === 0) {
          const smac = (((data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!) >>> 0) * 0x10000 + ((data[p + 4]! << 8) | data[p + 5]!);
          const r = dev.learnMac(smac, from);
          if (r === LEARN_NEW) c[this.cLearned]! += 1;
          else if (r === LEARN_MOVED) c[this.cMoved]! += 1;
          else if (r === LEARN_FULL) c[this.cTableFull]! += 1;
        }
      }
      if (fate === FATE_VPORT) d = v.vport[k]!;
      else if (fate === FATE_UPLINK) d = DEST_UPLINK;
      else {
        const p = b.start(k);
        const dmac = (((data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!) >>> 0) * 0x10000 + ((data[p + 4]! << 8) | data[p + 5]!);
        // Multicast and broadcast (I/G bit) are not looked up: they go to the default path (or are flooded).
        const unicast = (data[p]! & 1) === 0;
        if (from === UPLINK_PORT) {
          d = unicast ? dev.vportByMac(dmac) : -1;
          if (d < 0) {
            if (flood) d = DEST_FLOOD;
            else {
              d = dev.defaultVport;
              if (d < 0) {
                // No vport for it and no default: the device has nowhere to put it.
                b.drop[k] = this.noRoute;
                continue;
              }
            }
          }
        } else {
          d = unicast && dev.eastWest ? dev.vportByMac(dmac) : -1;
          if (d < 0) d = flood && dev.eastWest ? DEST_FLOOD : DEST_UPLINK;
        }
      }
      if (d >= 0) {
        const vp = dev.vport(d);
        if (vp === undefined || !vp.attached) {
          b.drop[k] = this.noRoute;
          continue;
        }
        c[this.cToVport]! += 1;
        if (from !== UPLINK_PORT) c[this.cEastWest]! += 1;
      } else if (d === DEST_UPLINK && dev.hasUplink) c[this.cToUplink]! += 1;
      else if (d === DEST_FLOOD) c[this.cFlooded]! += 1;
      else {
        b.drop[k] = this.noRoute;
        continue;
      }
      b.dest[k] = d;
    }
  }
}

registerStage({
  kind: "eswitch",
  description: "embedded switch: classifier vport/uplink fates, else destination MAC (uplink -> vport or default vport; vport -> vport or uplink); optional MAC learning and flooding",
  schema: z.object({}).strict(),
  counters: ["toVport", "toUplink", "eastWest", "learned", "moved", "tableFull", "flooded"],
  dropReasons: ["noRoute"],
  create: (_o, env) => new EswitchStage(env.name, env),
});

// ---- distributor ----

class DistributorStage implements DeviceStage {
  readonly kind = "distributor";
  private readonly cRss: number;
  private readonly cExplicit: number;
  private readonly cReports: number;
  private readonly cClamped: number;

  constructor(
    readonly name: string,
    private readonly env: StageEnv,
  ) {
    this.cRss = env.counter("rss");
    this.cExplicit = env.counter("explicit");
    this.cReports = env.counter("hashReports");
    this.cClamped = env.counter("clamped");
  }

  process(b: PipelineBatch): void {
    const dev = this.env.device;
    const v = b.verdicts;
    const c = this.env.counters;
    for (let k = 0; k < b.count; k++) {
      const d = b.dest[k]!;
      if (d < 0) continue;
      const vp = dev.vport(d)!;
      const key = b.keys[k]!;
      const fate = v.fate[k]!;
      let q = 0;
      let report = 0;
      let hash = 0;
      if (fate === FATE_QUEUE) {
        q = v.queue[k]!;
        c[this.cExplicit]! += 1;
      } else if (fate === FATE_RSS) {
        q = v.queue[k]!;
        report = v.hashReport[k]!;
        hash = v.hash[k]!;
        c[this.cExplicit]! += 1;
      } else if (vp.rss !== null) {
        q = vp.rss.queueOf(key);
        report = vp.rss.lastReport;
        if (report !== 0) hash = vp.rss.lastHash;
        c[this.cRss]! += 1;
      }
      if (vp.hashReport) {
        if (report === 0 && vp.hasher !== null) {
          report = vp.hasher.hash(key);
          if (report !== 0) hash = vp.hasher.lastHash;
        }
        b.hashReport[k] = report;
        b.hash[k] = report !== 0 ? hash : 0;
        if (report !== 0) c[this.cReports]! += 1;
      }
      if (q >= vp.rxQueues) {
        q = 0;
        c[this.cClamped]! += 1;
      }
      b.queue[k] = q;
    }
  }
}

registerStage({
  kind: "distributor",
  description: "receive queue in the destination vport: classifier queue/RSS fate, else the vport's virtio RSS configuration (Toeplitz), else queue 0; hash report for VIRTIO_NET_F_HASH_REPORT",
  schema: z.object({}).strict(),
  counters: ["rss", "explicit", "hashReports", "clamped"],
  create: (_o, env) => new DistributorStage(env.name, env),
});

// ---- rxChecksum ----

class RxChecksumStage implements DeviceStage {
  readonly kind = "rxChecksum";
  private readonly cGood: number;
  private readonly cBad: number;
  private readonly cUnchecked: number;

  constructor(
    readonly name: string,
    private readonly env: StageEnv,
  ) {
    this.cGood = env.counter("good");
    this.cBad = env.counter("bad");
    this.cUnchecked = env.counter("unchecked");
  }

  process(b: PipelineBatch, _meter: Meter): void {
    const dev = this.env.device;
    const data = b.pool.data;
    const c = this.env.counters;
    for (let k = 0; k < b.count; k++) {
      const d = b.dest[k]!;
      if (d < 0 || !dev.vport(d)!.guestCsum) continue;
      const m = b.metas[k]!;
      if (m.l4Proto < 0) {
        c[this.cUnchecked]! += 1;
        continue;
      }
      const r = verify(data, m);
      if (r === 0) {
        b.hdrFlags[k] = b.hdrFlags[k]! | DATA_VALID;
        c[this.cGood]! += 1;
      } else if (r & 3) c[this.cBad]! += 1;
      else c[this.cUnchecked]! += 1;
    }
  }
}

registerStage({
  kind: "rxChecksum",
  description: "receive checksum validation: IPv4 header and TCP/UDP/ICMP checksums recomputed; VIRTIO_NET_HDR_F_DATA_VALID when right (vports with VIRTIO_NET_F_GUEST_CSUM)",
  schema: z.object({}).strict(),
  counters: ["good", "bad", "unchecked"],
  create: (_o, env) => new RxChecksumStage(env.name, env),
});

/** Kinds of the built-in pipeline stages, in pipeline order. */
export const BUILTIN_PIPELINE = ["parser", "classifier", "eswitch", "distributor", "rxChecksum"] as const;
