/**
 * The device author's side of the vhost-user back-end.
 *
 * {@link VhostUserSession} (session.ts) speaks the protocol, one method per
 * message, and owns everything the front-end hands over: the memory table,
 * the rings' sizes, addresses and bases, and the kick/call/err eventfds. A
 * device only says what it offers and reacts to rings starting, being
 * kicked, enabled and stopping; every hook is optional. The network device
 * (net.ts) is one such device.
 */
import type { DeviceQueue, GuestMemory } from "@nfvio/virtio";

export type LogLevel = "debug" | "info" | "warn" | "error";
/** Where the back-end's log lines go; one line per call, without a newline. */
export type Logger = (level: LogLevel, message: string) => void;

/** A logger that drops everything. */
export const silentLogger: Logger = () => {};

/** Writes warnings and errors to stderr (the default of servers and sessions). */
export const stderrLogger: Logger = (level, message) => {
  if (level === "warn" || level === "error") process.stderr.write(`vhost-user ${level}: ${message}\n`);
};

/** One virtqueue of a connected front-end, as a device sees it. */
export interface VhostUserVring {
  /** Vring index (virtio-net: 2k is receiveq k+1, 2k+1 is transmitq k+1). */
  readonly index: number;
  /** Started: memory, size, addresses and kick descriptor are in place and the queue may be processed. */
  readonly started: boolean;
  /** Enabled by SET_VRING_ENABLE (or from the start without VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly enabled: boolean;
  /** The device side of the ring; non-null while started. */
  readonly queue: DeviceQueue | null;
  /** The front-end's memory; non-null while a memory table is mapped. */
  readonly memory: GuestMemory | null;
  /** Negotiated virtio features. */
  readonly features: bigint;
  /** Packed layout (VIRTIO_F_RING_PACKED negotiated). */
  readonly packed: boolean;
  /** The front-end will not kick this ring (SET_VRING_KICK with the no-fd bit): poll it. */
  readonly kickPolled: boolean;
  /** Signal a used-buffer notification (write the call eventfd). A no-op without one. */
  call(): void;
  /**
   * Report that the ring broke (a queue fault): writes the err eventfd when
   * there is one, sets DEVICE_NEEDS_RESET in the device status, logs once.
   */
  fail(reason: string): void;
}

/**
 * A device behind a vhost-user socket. Only `features` and `vrings` are
 * required; everything else has a sensible default.
 */
export interface VhostUserDevice {
  /** Virtio feature bits offered in GET_FEATURES (the session adds VHOST_USER_F_PROTOCOL_FEATURES). */
  readonly features: bigint;
  /** Number of vrings the device has (every vring index must be below it). */
  readonly vrings: number;
  /** GET_QUEUE_NUM: "how many queues the back-end supports" (virtio-net: queue pairs). Default: `vrings`. */
  readonly queueNum?: number;
  /** Device configuration space for GET_CONFIG; offering it adds VHOST_USER_PROTOCOL_F_CONFIG. */
  config?(): Uint8Array;
  /** SET_FEATURES accepted these features. */
  featuresSet?(features: bigint): void;
  /** A vring started. */
  vringStarted?(vring: VhostUserVring): void;
  /** The front-end kicked a started vring (the eventfd was readable and has been drained). */
  vringKicked?(vring: VhostUserVring): void;
  /** SET_VRING_ENABLE (or the implicit enable without protocol features) changed a vring. */
  vringEnabled?(vring: VhostUserVring, enabled: boolean): void;
  /**
   * A started vring is about to stop (GET_VRING_BASE, a new memory table,
   * RESET_OWNER or disconnect): finish or return in-flight work now; the
   * queue is gone after this. Return how many chains were popped and are
   * still held, not returned (split rings: GET_VRING_BASE then reports the
   * available index that many entries earlier, so they are not lost).
   */
  vringStopping?(vring: VhostUserVring): number;
  /** The connection ended; every vring has stopped and the memory is unmapped. */
  disconnected?(reason: string): void;
}
