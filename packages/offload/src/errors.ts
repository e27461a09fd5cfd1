/**
 * The one error type of @nfvio/offload.
 *
 * Errors are thrown only from setup and control paths (building a Toeplitz
 * hasher from a bad key, an RSS configuration the device cannot hold). The
 * datapath never throws: a malformed frame sets parse-error bits in its
 * {@link FlowKey}, and a rule the classifier cannot hold is refused with a
 * {@link Refusal} value rather than an exception.
 */
export type OffloadErrorKind =
  /** Input that violates a spec or the documented layout (bad key length, indirection table not a power of two). */
  | "malformed"
  /** Well-formed, but the device model cannot express it (unsupported field, mask, action or combination). */
  | "unsupported"
  /** The device has no room left (table full, counters or RSS contexts exhausted). */
  | "capacity"
  /** Invalid use of the API by the program (unknown handle, bad argument). */
  | "usage";

export class OffloadError extends Error {
  readonly kind: OffloadErrorKind;
  constructor(kind: OffloadErrorKind, message: string) {
    super(message);
    this.name = "OffloadError";
    this.kind = kind;
  }
}

/** A control-path request the device model turned down, with the reason. */
export interface Refusal {
  readonly ok: false;
  readonly kind: OffloadErrorKind;
  readonly reason: string;
}

/** Build a {@link Refusal}. */
export function refuse(kind: OffloadErrorKind, reason: string): Refusal {
  return { ok: false, kind, reason };
}
