/**
 * The one error type of @nfvio/virtio.
 *
 * Errors are thrown only from setup and control paths (creating memory maps,
 * configuring a queue, negotiating features). The datapath never throws: a
 * malformed ring from a hostile peer is counted under a named
 * {@link QueueFault} and the queue enters the broken state (the spec's
 * DEVICE_NEEDS_RESET, virtio 1.2 §2.1.1).
 */
export type VirtioErrorKind =
  /** Input from a peer or a caller that violates the spec (bad size, bad alignment, bad layout). */
  | "malformed"
  /** Feature negotiation failed or a feature-dependent operation was used without the feature. */
  | "negotiation"
  /** Guest memory / transport problems: address not mapped, overlapping regions. */
  | "transport"
  /** Invalid use of the API by the program (wrong state, wrong argument). */
  | "usage";

export class VirtioError extends Error {
  readonly kind: VirtioErrorKind;
  constructor(kind: VirtioErrorKind, message: string) {
    super(message);
    this.name = "VirtioError";
    this.kind = kind;
  }
}
