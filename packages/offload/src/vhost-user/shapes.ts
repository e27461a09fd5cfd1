/**
 * The parts of `@nfvio/vhost`'s vhost-user back-end the offload device's
 * adapter needs, described structurally: this package does not depend on
 * `@nfvio/vhost` (the two are siblings), and `@nfvio/vhost`'s
 * `VhostUserVring` and `VhostUserDevice` fit these shapes as they are, so a
 * {@link VhostUserVport} is passed to its `VhostUserServer` as the device.
 */
import type { DeviceQueue, GuestMemory } from "@nfvio/virtio";

export type VhostLogLevel = "debug" | "info" | "warn" | "error";
/** One log line, without a newline (the shape of `@nfvio/vhost`'s `Logger`). */
export type VhostLogger = (level: VhostLogLevel, message: string) => void;

/** One virtqueue of a connected front-end (the shape of `@nfvio/vhost`'s `VhostUserVring`). */
export interface VhostUserVringShape {
  /** Vring index (virtio-net: 2k is receiveq k+1, 2k+1 is transmitq k+1). */
  readonly index: number;
  /** Memory, size, addresses and kick are in place: the queue may be processed. */
  readonly started: boolean;
  /** Enabled by SET_VRING_ENABLE (or from the start without protocol features). */
  readonly enabled: boolean;
  /** The device side of the ring; non-null while started. */
  readonly queue: DeviceQueue | null;
  /** The front-end's memory; non-null while a memory table is mapped. */
  readonly memory: GuestMemory | null;
  /** Negotiated features (as the session keeps them; may carry VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly features: bigint;
  /** Packed layout. */
  readonly packed: boolean;
  /** The front-end will not kick this ring: poll it. */
  readonly kickPolled: boolean;
  /** Used-buffer notification (the call eventfd). */
  call(): void;
  /** The ring broke: err eventfd, DEVICE_NEEDS_RESET. */
  fail(reason: string): void;
}

/** A device behind a vhost-user socket (the shape of `@nfvio/vhost`'s `VhostUserDevice`). */
export interface VhostUserDeviceShape {
  readonly features: bigint;
  readonly vrings: number;
  readonly queueNum?: number;
  config?(): Uint8Array;
  featuresSet?(features: bigint): void;
  vringStarted?(vring: VhostUserVringShape): void;
  vringKicked?(vring: VhostUserVringShape): void;
  vringEnabled?(vring: VhostUserVringShape, enabled: boolean): void;
  /** Returns how many popped chains are still held (split rings: GET_VRING_BASE rewinds by that many). */
  vringStopping?(vring: VhostUserVringShape): number;
  disconnected?(reason: string): void;
}
