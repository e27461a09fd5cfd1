/**
 * Feature bits, their negotiation, and the device status field.
 *
 * Each feature constant is a bigint mask (`1n << bit`), so sets of features
 * combine with `|` and test with `&`. Device-independent bits are in
 * virtio 1.2 §6 ("Reserved Feature Bits"), network device bits in §5.1.3,
 * their dependencies in §5.1.3.1, device status bits in §2.1.
 */
import { VirtioError } from "./errors.js";

const bit = (n: number): bigint => 1n << BigInt(n);

// ---- Device-independent feature bits (§6) ----

/** Bit 24, legacy: notify when the available ring runs empty (§6.3 legacy). */
export const VIRTIO_F_NOTIFY_ON_EMPTY = bit(24);
/** Bit 27, legacy: the device accepts arbitrary descriptor layouts (§6.3 legacy; implied by VERSION_1). */
export const VIRTIO_F_ANY_LAYOUT = bit(27);
/** Bit 28: the driver may use descriptors with VIRTQ_DESC_F_INDIRECT (§2.7.5.3, §2.8.19). */
export const VIRTIO_F_INDIRECT_DESC = bit(28);
/** Bit 29: enables the used_event and avail_event fields (§2.7.7, §2.7.10). */
export const VIRTIO_F_EVENT_IDX = bit(29);
/** Bit 32: compliance with virtio 1.x; without it the device is legacy (§6). */
export const VIRTIO_F_VERSION_1 = bit(32);
/** Bit 33: the device is behind an IOMMU / platform-specific address translation (§6). */
export const VIRTIO_F_ACCESS_PLATFORM = bit(33);
/** Bit 34: the packed virtqueue layout (§2.8). */
export const VIRTIO_F_RING_PACKED = bit(34);
/** Bit 35: the device uses buffers in the order they were made available (§2.7.9, §2.8.9). */
export const VIRTIO_F_IN_ORDER = bit(35);
/** Bit 36: memory accesses need platform ordering, not just CPU barriers (§6). */
export const VIRTIO_F_ORDER_PLATFORM = bit(36);
/** Bit 37: single-root I/O virtualisation is supported (§6). */
export const VIRTIO_F_SR_IOV = bit(37);
/** Bit 38: the driver passes extra data in available-buffer notifications (§6, §2.9). */
export const VIRTIO_F_NOTIFICATION_DATA = bit(38);
/** Bit 39: the driver uses a device-provided value in notifications (§6). */
export const VIRTIO_F_NOTIF_CONFIG_DATA = bit(39);
/** Bit 40: individual virtqueues can be reset (§2.6.1). */
export const VIRTIO_F_RING_RESET = bit(40);
/** Bit 41: administration virtqueues (virtio 1.3 §2.12). */
export const VIRTIO_F_ADMIN_VQ = bit(41);

// ---- Network device feature bits (§5.1.3) ----

/** Bit 0: device handles packets with partial checksum (transmit checksum offload). */
export const VIRTIO_NET_F_CSUM = bit(0);
/** Bit 1: driver handles packets with partial checksum (receive). */
export const VIRTIO_NET_F_GUEST_CSUM = bit(1);
/** Bit 2: control channel offload reconfiguration (VIRTIO_NET_CTRL_GUEST_OFFLOADS). */
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = bit(2);
/** Bit 3: device reports its maximum MTU in config space. */
export const VIRTIO_NET_F_MTU = bit(3);
/** Bit 5: device has given a MAC address in config space. */
export const VIRTIO_NET_F_MAC = bit(5);
/** Bit 6, legacy: device handles packets with any GSO type (§5.1.3.2). */
export const VIRTIO_NET_F_GSO = bit(6);
/** Bit 7: driver can receive TSOv4. */
export const VIRTIO_NET_F_GUEST_TSO4 = bit(7);
/** Bit 8: driver can receive TSOv6. */
export const VIRTIO_NET_F_GUEST_TSO6 = bit(8);
/** Bit 9: driver can receive TSO with ECN. */
export const VIRTIO_NET_F_GUEST_ECN = bit(9);
/** Bit 10: driver can receive UFO. */
export const VIRTIO_NET_F_GUEST_UFO = bit(10);
/** Bit 11: device can receive TSOv4 (transmit segmentation offload). */
export const VIRTIO_NET_F_HOST_TSO4 = bit(11);
/** Bit 12: device can receive TSOv6. */
export const VIRTIO_NET_F_HOST_TSO6 = bit(12);
/** Bit 13: device can receive TSO with ECN. */
export const VIRTIO_NET_F_HOST_ECN = bit(13);
/** Bit 14: device can receive UFO. */
export const VIRTIO_NET_F_HOST_UFO = bit(14);
/** Bit 15: driver can merge receive buffers (num_buffers in the header, §5.1.6.3). */
export const VIRTIO_NET_F_MRG_RXBUF = bit(15);
/** Bit 16: the config space status field is available. */
export const VIRTIO_NET_F_STATUS = bit(16);
/** Bit 17: control virtqueue is available. */
export const VIRTIO_NET_F_CTRL_VQ = bit(17);
/** Bit 18: control channel RX mode support. */
export const VIRTIO_NET_F_CTRL_RX = bit(18);
/** Bit 19: control channel VLAN filtering. */
export const VIRTIO_NET_F_CTRL_VLAN = bit(19);
/** Bit 20: control channel RX extra mode support. */
export const VIRTIO_NET_F_CTRL_RX_EXTRA = bit(20);
/** Bit 21: driver can send gratuitous packets. */
export const VIRTIO_NET_F_GUEST_ANNOUNCE = bit(21);
/** Bit 22: multiqueue with automatic receive steering. */
export const VIRTIO_NET_F_MQ = bit(22);
/** Bit 23: set MAC address through the control channel. */
export const VIRTIO_NET_F_CTRL_MAC_ADDR = bit(23);
/** Bit 41, legacy: device coalesces TCP/IPv4 packets (§5.1.3.2). Shares its number with VIRTIO_F_ADMIN_VQ. */
export const VIRTIO_NET_F_GUEST_RSC4 = bit(41);
/** Bit 42, legacy: device coalesces TCP/IPv6 packets (§5.1.3.2). */
export const VIRTIO_NET_F_GUEST_RSC6 = bit(42);
/** Bit 50: device-level statistics (virtio 1.3). */
export const VIRTIO_NET_F_DEVICE_STATS = bit(50);
/** Bit 51: inner header hash for encapsulated packets (virtio 1.3). */
export const VIRTIO_NET_F_HASH_TUNNEL = bit(51);
/** Bit 52: per-virtqueue notification coalescing (virtio 1.3). */
export const VIRTIO_NET_F_VQ_NOTF_COAL = bit(52);
/** Bit 53: notification coalescing. */
export const VIRTIO_NET_F_NOTF_COAL = bit(53);
/** Bit 54: driver can receive USOv4. */
export const VIRTIO_NET_F_GUEST_USO4 = bit(54);
/** Bit 55: driver can receive USOv6. */
export const VIRTIO_NET_F_GUEST_USO6 = bit(55);
/** Bit 56: device can receive USO packets. */
export const VIRTIO_NET_F_HOST_USO = bit(56);
/** Bit 57: device reports a per-packet hash value and type (20-byte header, §5.1.6). */
export const VIRTIO_NET_F_HASH_REPORT = bit(57);
/** Bit 59: driver provides the exact hdr_len. */
export const VIRTIO_NET_F_GUEST_HDRLEN = bit(59);
/** Bit 60: receive-side scaling with Toeplitz hash (§5.1.6.5.7). */
export const VIRTIO_NET_F_RSS = bit(60);
/** Bit 61: device can process duplicated ACKs and report coalesced segments (RSC_INFO). */
export const VIRTIO_NET_F_RSC_EXT = bit(61);
/** Bit 62: device may act as a standby for a primary device with the same MAC. */
export const VIRTIO_NET_F_STANDBY = bit(62);
/** Bit 63: device reports speed and duplex. */
export const VIRTIO_NET_F_SPEED_DUPLEX = bit(63);

/** A named feature: its bit number, mask and the spec section that defines it. */
export interface FeatureInfo {
  readonly name: string;
  readonly bit: number;
  readonly mask: bigint;
  /** Defined only for the legacy interface. */
  readonly legacy: boolean;
}

function info(name: string, mask: bigint, legacy = false): FeatureInfo {
  let b = 0;
  while (1n << BigInt(b) !== mask) b++;
  return { name, bit: b, mask, legacy };
}

/** Device-independent features (§6), by bit. */
export const TRANSPORT_FEATURES: readonly FeatureInfo[] = [
  info("VIRTIO_F_NOTIFY_ON_EMPTY", VIRTIO_F_NOTIFY_ON_EMPTY, true),
  info("VIRTIO_F_ANY_LAYOUT", VIRTIO_F_ANY_LAYOUT, true),
  info("VIRTIO_F_INDIRECT_DESC", VIRTIO_F_INDIRECT_DESC),
  info("VIRTIO_F_EVENT_IDX", VIRTIO_F_EVENT_IDX),
  info("VIRTIO_F_VERSION_1", VIRTIO_F_VERSION_1),
  info("VIRTIO_F_ACCESS_PLATFORM", VIRTIO_F_ACCESS_PLATFORM),
  info("VIRTIO_F_RING_PACKED", VIRTIO_F_RING_PACKED),
  info("VIRTIO_F_IN_ORDER", VIRTIO_F_IN_ORDER),
  info("VIRTIO_F_ORDER_PLATFORM", VIRTIO_F_ORDER_PLATFORM),
  info("VIRTIO_F_SR_IOV", VIRTIO_F_SR_IOV),
  info("VIRTIO_F_NOTIFICATION_DATA", VIRTIO_F_NOTIFICATION_DATA),
  info("VIRTIO_F_NOTIF_CONFIG_DATA", VIRTIO_F_NOTIF_CONFIG_DATA),
  info("VIRTIO_F_RING_RESET", VIRTIO_F_RING_RESET),
  info("VIRTIO_F_ADMIN_VQ", VIRTIO_F_ADMIN_VQ),
];

/** Network device features (§5.1.3), by bit. */
export const NET_FEATURES: readonly FeatureInfo[] = [
  info("VIRTIO_NET_F_CSUM", VIRTIO_NET_F_CSUM),
  info("VIRTIO_NET_F_GUEST_CSUM", VIRTIO_NET_F_GUEST_CSUM),
  info("VIRTIO_NET_F_CTRL_GUEST_OFFLOADS", VIRTIO_NET_F_CTRL_GUEST_OFFLOADS),
  info("VIRTIO_NET_F_MTU", VIRTIO_NET_F_MTU),
  info("VIRTIO_NET_F_MAC", VIRTIO_NET_F_MAC),
  info("VIRTIO_NET_F_GSO", VIRTIO_NET_F_GSO, true),
  info("VIRTIO_NET_F_GUEST_TSO4", VIRTIO_NET_F_GUEST_TSO4),
  info("VIRTIO_NET_F_GUEST_TSO6", VIRTIO_NET_F_GUEST_TSO6),
  info("VIRTIO_NET_F_GUEST_ECN", VIRTIO_NET_F_GUEST_ECN),
  info("VIRTIO_NET_F_GUEST_UFO", VIRTIO_NET_F_GUEST_UFO),
  info("VIRTIO_NET_F_HOST_TSO4", VIRTIO_NET_F_HOST_TSO4),
  info("VIRTIO_NET_F_HOST_TSO6", VIRTIO_NET_F_HOST_TSO6),
  info("VIRTIO_NET_F_HOST_ECN", VIRTIO_NET_F_HOST_ECN),
  info("VIRTIO_NET_F_HOST_UFO", VIRTIO_NET_F_HOST_UFO),
  info("VIRTIO_NET_F_MRG_RXBUF", VIRTIO_NET_F_MRG_RXBUF),
  info("VIRTIO_NET_F_STATUS", VIRTIO_NET_F_STATUS),
  info("VIRTIO_NET_F_CTRL_VQ", VIRTIO_NET_F_CTRL_VQ),
  info("VIRTIO_NET_F_CTRL_RX", VIRTIO_NET_F_CTRL_RX),
  info("VIRTIO_NET_F_CTRL_VLAN", VIRTIO_NET_F_CTRL_VLAN),
  info("VIRTIO_NET_F_CTRL_RX_EXTRA", VIRTIO_NET_F_CTRL_RX_EXTRA),
  info("VIRTIO_NET_F_GUEST_ANNOUNCE", VIRTIO_NET_F_GUEST_ANNOUNCE),
  info("VIRTIO_NET_F_MQ", VIRTIO_NET_F_MQ),
  info("VIRTIO_NET_F_CTRL_MAC_ADDR", VIRTIO_NET_F_CTRL_MAC_ADDR),
  info("VIRTIO_NET_F_GUEST_RSC4", VIRTIO_NET_F_GUEST_RSC4, true),
  info("VIRTIO_NET_F_GUEST_RSC6", VIRTIO_NET_F_GUEST_RSC6, true),
  info("VIRTIO_NET_F_DEVICE_STATS", VIRTIO_NET_F_DEVICE_STATS),
  info("VIRTIO_NET_F_HASH_TUNNEL", VIRTIO_NET_F_HASH_TUNNEL),
  info("VIRTIO_NET_F_VQ_NOTF_COAL", VIRTIO_NET_F_VQ_NOTF_COAL),
  info("VIRTIO_NET_F_NOTF_COAL", VIRTIO_NET_F_NOTF_COAL),
  info("VIRTIO_NET_F_GUEST_USO4", VIRTIO_NET_F_GUEST_USO4),
  info("VIRTIO_NET_F_GUEST_USO6", VIRTIO_NET_F_GUEST_USO6),
  info("VIRTIO_NET_F_HOST_USO", VIRTIO_NET_F_HOST_USO),
  info("VIRTIO_NET_F_HASH_REPORT", VIRTIO_NET_F_HASH_REPORT),
  info("VIRTIO_NET_F_GUEST_HDRLEN", VIRTIO_NET_F_GUEST_HDRLEN),
  info("VIRTIO_NET_F_RSS", VIRTIO_NET_F_RSS),
  info("VIRTIO_NET_F_RSC_EXT", VIRTIO_NET_F_RSC_EXT),
  info("VIRTIO_NET_F_STANDBY", VIRTIO_NET_F_STANDBY),
  info("VIRTIO_NET_F_SPEED_DUPLEX", VIRTIO_NET_F_SPEED_DUPLEX),
];

/**
 * Names of the bits set in `features`, for logs and reports. Bits 24..41
 * (the transport range) are named from the transport table, the rest from
 * the net table when `device` is "net". Unknown bits appear as `bit N`.
 */
export function featureNames(features: bigint, device: "net" | "none" = "net"): string[] {
  const out: string[] = [];
  for (let b = 0; features >> BigInt(b) !== 0n; b++) {
    const m = 1n << BigInt(b);
    if ((features & m) === 0n) continue;
    const t = TRANSPORT_FEATURES.find((f) => f.mask === m);
    const n = device === "net" ? NET_FEATURES.find((f) => f.mask === m) : undefined;
    out.push((b >= 24 && b <= 41 && t ? t.name : (n ?? t)?.name) ?? `bit ${b}`);
  }
  return out;
}

/** True when every bit of `mask` is set in `features`. */
export function hasFeatures(features: bigint, mask: bigint): boolean {
  return (features & mask) === mask;
}

/**
 * A dependency between feature bits: if `feature` is negotiated, all of
 * `allOf` must be, and (when given) at least one of `anyOf`.
 */
export interface FeatureRequirement {
  readonly feature: bigint;
  readonly allOf: bigint;
  readonly anyOf?: bigint;
}

/** The network device's feature bit requirements (§5.1.3.1), limited to bits 0..63. */
export const NET_FEATURE_REQUIREMENTS: readonly FeatureRequirement[] = [
  { feature: VIRTIO_NET_F_GUEST_TSO4, allOf: VIRTIO_NET_F_GUEST_CSUM },
  { feature: VIRTIO_NET_F_GUEST_TSO6, allOf: VIRTIO_NET_F_GUEST_CSUM },
  { feature: VIRTIO_NET_F_GUEST_ECN, allOf: 0n, anyOf: VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 },
  { feature: VIRTIO_NET_F_GUEST_UFO, allOf: VIRTIO_NET_F_GUEST_CSUM },
  { feature: VIRTIO_NET_F_GUEST_USO4, allOf: VIRTIO_NET_F_GUEST_CSUM },
  { feature: VIRTIO_NET_F_GUEST_USO6, allOf: VIRTIO_NET_F_GUEST_CSUM },
  { feature: VIRTIO_NET_F_HOST_TSO4, allOf: VIRTIO_NET_F_CSUM },
  { feature: VIRTIO_NET_F_HOST_TSO6, allOf: VIRTIO_NET_F_CSUM },
  { feature: VIRTIO_NET_F_HOST_ECN, allOf: 0n, anyOf: VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 },
  { feature: VIRTIO_NET_F_HOST_UFO, allOf: VIRTIO_NET_F_CSUM },
  { feature: VIRTIO_NET_F_HOST_USO, allOf: VIRTIO_NET_F_CSUM },
  { feature: VIRTIO_NET_F_CTRL_RX, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_CTRL_VLAN, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_GUEST_ANNOUNCE, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_MQ, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_CTRL_MAC_ADDR, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_NOTF_COAL, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_RSC_EXT, allOf: 0n, anyOf: VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 },
  { feature: VIRTIO_NET_F_RSS, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_VQ_NOTF_COAL, allOf: VIRTIO_NET_F_CTRL_VQ },
  { feature: VIRTIO_NET_F_HASH_TUNNEL, allOf: VIRTIO_NET_F_CTRL_VQ, anyOf: VIRTIO_NET_F_RSS | VIRTIO_NET_F_HASH_REPORT },
];

function nameOf(mask: bigint): string {
  return featureNames(mask).join(" | ") || "(none)";
}

/**
 * Every unmet requirement in a feature set, as readable sentences (empty
 * when the set is consistent). Useful both for checking what a device offers
 * and what a driver accepts.
 */
export function featureProblems(features: bigint, requirements: readonly FeatureRequirement[] = NET_FEATURE_REQUIREMENTS): string[] {
  const out: string[] = [];
  for (const r of requirements) {
    if ((features & r.feature) === 0n) continue;
    const missing = r.allOf & ~features;
    if (missing !== 0n) out.push(`${nameOf(r.feature)} requires ${nameOf(missing)}`);
    if (r.anyOf !== undefined && (features & r.anyOf) === 0n) out.push(`${nameOf(r.feature)} requires one of ${featureNames(r.anyOf).join(", ")}`);
  }
  return out;
}

export interface NegotiateOptions {
  /** Bits that must end up negotiated (e.g. VIRTIO_F_VERSION_1); missing ones are an error. */
  required?: bigint;
  /** Dependency rules to check (default: the network device's, §5.1.3.1). */
  requirements?: readonly FeatureRequirement[];
}

/**
 * Feature negotiation (§2.2, §3.1.1 step 5): the result is `offered &
 * wanted`. Throws VirtioError("negotiation") when a bit in
 * `options.required` is missing from the result or when the result breaks a
 * feature dependency (§5.1.3.1: "the driver ... MUST NOT accept a feature
 * which requires another feature which was not accepted"), listing every
 * problem found.
 */
export function negotiateFeatures(offered: bigint, wanted: bigint, options: NegotiateOptions = {}): bigint {
  const result = offered & wanted;
  const problems = featureProblems(result, options.requirements ?? NET_FEATURE_REQUIREMENTS);
  const missing = (options.required ?? 0n) & ~result;
  if (missing !== 0n) problems.unshift(`required ${nameOf(missing)} not ${(offered & missing) === missing ? "wanted" : "offered"}`);
  if (problems.length > 0) throw new VirtioError("negotiation", `feature negotiation failed: ${problems.join("; ")}`);
  return result;
}

// ---- Device status field (§2.1) ----

/** Bits of the device status field (§2.1). */
export const DeviceStatus = {
  /** The guest found the device and recognised it as a virtio device. */
  ACKNOWLEDGE: 1,
  /** The guest knows how to drive the device. */
  DRIVER: 2,
  /** The driver is set up and ready to drive the device. */
  DRIVER_OK: 4,
  /** The driver acknowledged all the features it understands; negotiation is complete. */
  FEATURES_OK: 8,
  /** The device has been suspended by the driver (VIRTIO_F_SUSPEND, virtio 1.3). */
  SUSPEND: 16,
  /** The device hit an error it cannot recover from; the driver must reset it. */
  DEVICE_NEEDS_RESET: 64,
  /** Something went wrong in the guest and it gave up on the device. */
  FAILED: 128,
} as const;

export type DeviceStatusBit = (typeof DeviceStatus)[keyof typeof DeviceStatus];
