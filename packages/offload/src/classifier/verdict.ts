/**
 * The classifier's output for a burst: one reusable struct-of-arrays record,
 * filled in place by {@link FlowClassifier.classify}.
 */

/** No rule gave a fate (a miss with the table's miss behaviour "default"): the device's default path, e.g. the port's RSS. */
export const FATE_DEFAULT = 0;
/** Deliver to receive queue {@link Verdicts.queue}. */
export const FATE_QUEUE = 1;
/** Deliver to the queue RSS picked, in {@link Verdicts.queue}, with {@link Verdicts.hash} and {@link Verdicts.hashReport}. */
export const FATE_RSS = 2;
/** Switch to vport {@link Verdicts.vport} (a VM's virtio-net device). */
export const FATE_VPORT = 3;
/** Switch to the uplink (the wire). */
export const FATE_UPLINK = 4;
/** Drop. */
export const FATE_DROP = 5;

/** Names of the fates, indexed by value. */
export const FATE_NAMES = ["default", "queue", "rss", "vport", "uplink", "drop"] as const;

/** Action bits in {@link Verdicts.actions}. */
export const VA_MARK = 1 << 0;
export const VA_COUNT = 1 << 1;
export const VA_VLAN_PUSH = 1 << 2;
export const VA_VLAN_POP = 1 << 3;
export const VA_VXLAN_ENCAP = 1 << 4;
export const VA_VXLAN_DECAP = 1 << 5;
export const VA_MIRROR = 1 << 6;

/** {@link Verdicts.mirror} value for a mirror to the uplink. */
export const MIRROR_UPLINK = 0xffffffff;

export class Verdicts {
  /** One of the FATE_* values. */
  readonly fate: Uint8Array;
  /** Receive queue for FATE_QUEUE and FATE_RSS. */
  readonly queue: Uint16Array;
  /** Vport for FATE_VPORT. */
  readonly vport: Uint32Array;
  /** Toeplitz hash for FATE_RSS (0 when the report is NONE). */
  readonly hash: Uint32Array;
  /** VIRTIO_NET_HASH_REPORT_* for FATE_RSS. */
  readonly hashReport: Uint8Array;
  /** VA_* bits of the non-fate actions gathered along the jump chain. */
  readonly actions: Uint16Array;
  /** Flow mark, valid with VA_MARK. */
  readonly mark: Uint32Array;
  /** TCI to push, valid with VA_VLAN_PUSH. */
  readonly vlanTci: Uint16Array;
  /** Encapsulation template id, valid with VA_VXLAN_ENCAP (see {@link FlowClassifier.encapTemplate}). */
  readonly encap: Uint16Array;
  /** Mirror target vport, or {@link MIRROR_UPLINK}; valid with VA_MIRROR. */
  readonly mirror: Uint32Array;
  /** Handle of the rule that gave the fate, or -1 when none did. */
  readonly rule: Float64Array;
  /** Action-set id (the classifier's rule slot) that gave the fate, or -1. */
  readonly actionSet: Int32Array;
  /** Tables looked up for the packet. */
  readonly lookups: Uint8Array;

  constructor(readonly size = 32) {
    this.fate = new Uint8Array(size);
    this.queue = new Uint16Array(size);
    this.vport = new Uint32Array(size);
    this.hash = new Uint32Array(size);
    this.hashReport = new Uint8Array(size);
    this.actions = new Uint16Array(size);
    this.mark = new Uint32Array(size);
    this.vlanTci = new Uint16Array(size);
    this.encap = new Uint16Array(size);
    this.mirror = new Uint32Array(size);
    this.rule = new Float64Array(size);
    this.actionSet = new Int32Array(size);
    this.lookups = new Uint8Array(size);
  }
}
