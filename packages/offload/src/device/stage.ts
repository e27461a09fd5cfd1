/**
 * The device pipeline's stage interface and the stage registry.
 *
 * A device is a pipeline of typed stages. Frames move through it in
 * {@link PipelineBatch}es (a burst of up to 32 frames as struct-of-arrays
 * records: the buffer, the parser's {@link PacketMeta}, the {@link FlowKey},
 * the classifier's {@link Verdicts}, the destination, queue, hash and the
 * virtio-net header flags to deliver). A stage reads and writes those
 * records in place; it drops a frame by setting `batch.drop[i]` to one of
 * its declared drop reasons, and frames already dropped are skipped by
 * every later stage.
 *
 * Every stage has a declared cost ({@link StageCostSpec}: rate in pps,
 * latency, optional bandwidth) taken from the device profile under the
 * stage's name, or from the stage factory's default. The device, not the
 * stage, charges it: per batch, the frames alive when the stage starts and
 * their bytes, on the stage's own hardware {@link Resource} through a core
 * {@link Meter}, so the same stage code runs under the model and the real
 * clock. A stage that does extra work per frame may charge more through the
 * meter it is handed.
 *
 * Contributors add a stage by registering a {@link StageFactory} under a
 * kind and naming it in the device's `stages` option (see
 * docs/extending-a-device.md).
 */
import type { Clock, Meter } from "@nfvio/core";
import { PacketMeta, type PacketPool } from "@nfvio/packet";
import { z } from "zod";
import type { FlowClassifier } from "../classifier/classifier.js";
import { Verdicts } from "../classifier/verdict.js";
import { OffloadError } from "../errors.js";
import { FlowKey } from "../flow-key.js";
import type { RssDistributor } from "../rss.js";
import type { StageCostSpec } from "./profile.js";

/** `PipelineBatch.inPort` of a frame that came from the uplink. */
export const UPLINK_PORT = 0xffff;
/** `PipelineBatch.dest`: no destination chosen yet. */
export const DEST_NONE = -2;
/** `PipelineBatch.dest`: the uplink. */
export const DEST_UPLINK = -1;
/** `PipelineBatch.dest`: every other attached vport (receive queue 0 of each) and the uplink (device option `flood`). */
export const DEST_FLOOD = -3;

/** One burst of frames on their way through the pipeline. Allocated once per device; refilled per batch. */
export class PipelineBatch {
  /** Frames in the batch (alive or dropped). */
  count = 0;
  /** Device pool buffer of each frame (bytes at `pool.start(idx)`, length `pool.len[idx]`). */
  readonly idx: Uint32Array;
  /** Ingress port: a vport id, or {@link UPLINK_PORT}. */
  readonly inPort: Uint32Array;
  /** The parser's record of each frame (offsets into `pool.data`). */
  readonly metas: PacketMeta[];
  readonly keys: FlowKey[];
  readonly verdicts: Verdicts;
  /** Destination: a vport id, {@link DEST_UPLINK}, {@link DEST_FLOOD}, or {@link DEST_NONE}. */
  readonly dest: Int32Array;
  /** Receive queue (pair index) in the destination vport. */
  readonly queue: Uint16Array;
  /** Hash to report in the virtio-net header, with {@link hashReport}. */
  readonly hash: Uint32Array;
  /** VIRTIO_NET_HASH_REPORT_* to report (0: none). */
  readonly hashReport: Uint8Array;
  /** VIRTIO_NET_HDR_F_* flags to deliver with the frame (DATA_VALID). */
  readonly hdrFlags: Uint8Array;
  /** 0 while the frame is alive; otherwise the drop reason code. */
  readonly drop: Uint8Array;
  /** Modelled time each frame entered the pipeline (ns). */
  readonly arrival: Float64Array;

  constructor(
    readonly size: number,
    readonly pool: PacketPool,
  ) {
    this.idx = new Uint32Array(size);
    this.inPort = new Uint32Array(size);
    this.metas = [];
    for (let i = 0; i < size; i++) this.metas.push(new PacketMeta());
    this.keys = FlowKey.burst(size);
    this.verdicts = new Verdicts(size);
    this.dest = new Int32Array(size);
    this.queue = new Uint16Array(size);
    this.hash = new Uint32Array(size);
    this.hashReport = new Uint8Array(size);
    this.hdrFlags = new Uint8Array(size);
    this.drop = new Uint8Array(size);
    this.arrival = new Float64Array(size);
  }

  /** Add a frame (fields reset); returns its slot. The caller checks `count < size`. */
  push(i: number, inPort: number, arrival: number): number {
    const k = this.count++;
    this.idx[k] = i;
    this.inPort[k] = inPort;
    this.dest[k] = DEST_NONE;
    this.queue[k] = 0;
    this.hash[k] = 0;
    this.hashReport[k] = 0;
    this.hdrFlags[k] = 0;
    this.drop[k] = 0;
    this.arrival[k] = arrival;
    return k;
  }

  /** Frames not dropped. */
  alive(): number {
    let n = 0;
    for (let k = 0; k < this.count; k++) if (this.drop[k] === 0) n++;
    return n;
  }

  /** Bytes of the frames not dropped. */
  aliveBytes(): number {
    let b = 0;
    const len = this.pool.len;
    for (let k = 0; k < this.count; k++) if (this.drop[k] === 0) b += len[this.idx[k]!]!;
    return b;
  }

  /** Frame `k`'s bytes start at `pool.data[start(k)]`. */
  start(k: number): number {
    return this.pool.start(this.idx[k]!);
  }

  /** Frame `k`'s length. */
  length(k: number): number {
    return this.pool.len[this.idx[k]!]!;
  }
}

/** A pipeline stage instance. */
export interface DeviceStage {
  /** The stage's name in its device (counters are `<name>.<counter>`; its cost is the profile's `stages[<name>]`). */
  readonly name: string;
  /** The registry kind it was made from. */
  readonly kind: string;
  /**
   * Process `batch` in place: skip frames with `batch.drop[k] !== 0`, drop a
   * frame by setting `batch.drop[k]` to a code from `env.dropCode`. Runs
   * between the begin and end of the stage's meter: `meter.now()` is the
   * stage's modelled time, and extra work may be charged to it. Must not
   * throw on any frame and should not allocate.
   */
  process(batch: PipelineBatch, meter: Meter): void;
}

/** What a stage factory gets to build a stage. */
export interface StageEnv {
  /** The stage's name. */
  readonly name: string;
  /** Index into `counters` of the stage's declared counter `<name>.<counter>`. */
  counter(counter: string): number;
  /** The device's counter values (one writer: the device's thread). */
  readonly counters: Float64Array;
  /** Drop code of a reason the factory declared (or a built-in one). */
  dropCode(reason: string): number;
  readonly pool: PacketPool;
  readonly clock: Clock;
  /** Device services the built-in stages use (vports, classifier, switching). */
  readonly device: StageDeviceView;
}

/** A vport as the pipeline sees it. */
export interface VportView {
  readonly id: number;
  /** A guest's rings are attached. */
  readonly attached: boolean;
  /** Receive queues (pairs) the driver enabled. */
  readonly rxQueues: number;
  /** VIRTIO_NET_F_GUEST_CSUM was negotiated (the device may set DATA_VALID). */
  readonly guestCsum: boolean;
  /** VIRTIO_NET_F_HASH_REPORT was negotiated. */
  readonly hashReport: boolean;
  /** The RSS configuration the driver set (VIRTIO_NET_CTRL_MQ_RSS_CONFIG), or null. */
  readonly rss: RssDistributor | null;
  /** What hash reports are computed with: the RSS configuration, or the hash configuration (VIRTIO_NET_CTRL_MQ_HASH_CONFIG), or null. */
  readonly hasher: RssDistributor | null;
}

/** The part of a device a stage may consult. */
export interface StageDeviceView {
  readonly name: string;
  /** Vport slots (ids 0 .. vportCount-1). */
  readonly vportCount: number;
  /** The flow classifier (rules are installed on it). */
  readonly classifier: FlowClassifier;
  /** Vport `id`. */
  vport(id: number): VportView | undefined;
  /** The vport whose MAC address is `mac` (48-bit number), or -1. */
  vportByMac(mac: number): number;
  /** Where unknown unicast, broadcast and multicast from the uplink go: a vport id, or -1 (dropped). */
  readonly defaultVport: number;
  /** Whether frames from one vport to another are switched by MAC in the device (default true). */
  readonly eastWest: boolean;
  /** The device has an uplink (default true); without one, frames switched to it have no route. */
  readonly hasUplink: boolean;
  /** Source MACs of frames from vports are learned (device option `learn`, default false). */
  readonly learning: boolean;
  /** Broadcast, multicast and unknown unicast are flooded (device option `flood`, default false). */
  readonly flooding: boolean;
  /**
   * Learn that `mac` (48-bit number) is behind vport `vport`. Returns
   * {@link LEARN_NONE} (already known there, or a static MAC),
   * {@link LEARN_NEW}, {@link LEARN_MOVED} (it was behind another vport) or
   * {@link LEARN_FULL} (the table is full; not learned).
   */
  learnMac(mac: number, vport: number): number;
}

/** {@link StageDeviceView.learnMac}: nothing changed. */
export const LEARN_NONE = 0;
/** {@link StageDeviceView.learnMac}: a new entry. */
export const LEARN_NEW = 1;
/** {@link StageDeviceView.learnMac}: the MAC moved to another vport. */
export const LEARN_MOVED = 2;
/** {@link StageDeviceView.learnMac}: the table is full; not learned. */
export const LEARN_FULL = 3;

/**
 * A stage kind: options schema, declared counters and drop reasons, a
 * default cost, and how to build an instance. Register it with
 * {@link registerStage}.
 */
export interface StageFactory<S extends z.ZodTypeAny = z.ZodTypeAny> {
  readonly kind: string;
  readonly description: string;
  /** Options, with defaults (zod). */
  readonly schema: S;
  /** Counter names, registered as `<stage name>.<counter>`. */
  readonly counters?: readonly string[];
  /** Drop reasons the stage may use; counted as `drop.<reason>`. */
  readonly dropReasons?: readonly string[];
  /** Cost used when the device profile has no entry for the stage's name. */
  readonly defaultCost?: StageCostSpec;
  create(options: z.output<S>, env: StageEnv): DeviceStage;
}

/** Where a stage goes in a device's pipeline, and with what options and cost. */
export interface StageSpec {
  /** Registry kind. */
  readonly kind: string;
  /** Name in the device (default: the kind). Names are unique per device. */
  readonly name?: string;
  /** Insert after this stage (default: before the distributor, i.e. after the eSwitch). */
  readonly after?: string;
  /** Insert before this stage. */
  readonly before?: string;
  /** Options, checked against the factory's schema. */
  readonly options?: unknown;
  /** Cost, overriding the profile's and the factory's. */
  readonly cost?: StageCostSpec;
}

const registry = new Map<string, StageFactory>();

/** Register (or replace) a stage kind. */
export function registerStage<S extends z.ZodTypeAny>(factory: StageFactory<S>): void {
  if (typeof factory.kind !== "string" || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(factory.kind)) {
    throw new OffloadError("usage", `stage kind ${JSON.stringify(factory.kind)} must be an identifier`);
  }
  registry.set(factory.kind, factory as unknown as StageFactory);
}

/** The factory registered under `kind`; throws {@link OffloadError} ("usage") for an unknown kind. */
export function stageFactory(kind: string): StageFactory {
  const f = registry.get(kind);
  if (!f) throw new OffloadError("usage", `unknown stage kind "${kind}" (registered: ${[...registry.keys()].join(", ")})`);
  return f;
}

/** Registered stage kinds. */
export function stageKinds(): string[] {
  return [...registry.keys()];
}

/** Validate `options` against a factory's schema; throws {@link OffloadError} ("malformed") naming the option. */
export function stageOptions<S extends z.ZodTypeAny>(factory: StageFactory<S>, name: string, options: unknown): z.output<S> {
  const r = factory.schema.safeParse(options ?? {});
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`).join("; ");
    throw new OffloadError("malformed", `stage "${name}" (${factory.kind}): ${msg}`);
  }
  return r.data as z.output<S>;
}
