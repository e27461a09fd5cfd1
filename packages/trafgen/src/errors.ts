/**
 * The one error type of @nfvio/trafgen.
 *
 * Thrown from setup paths only (parsing a rate or a size mix, building a
 * stream from a template, opening a capture, starting a search). The
 * generator and the analyser never throw on the datapath: an empty pool is
 * counted (`allocFailures`), a frame without a signature is counted
 * (`foreign`).
 */
export type TrafgenErrorKind =
  /** A stream, rate, size, field variation or search option failed validation. */
  | "config"
  /** Input that does not parse (a rate like "10 parsecs", a capture file the generator cannot use). */
  | "malformed"
  /** Invalid use of the API (running a finished generator, a size too small for the signature). */
  | "usage";

export class TrafgenError extends Error {
  readonly kind: TrafgenErrorKind;
  /** The option the error is about, when there is one. */
  readonly field: string | undefined;

  constructor(kind: TrafgenErrorKind, message: string, where: { field?: string; cause?: unknown } = {}) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.name = "TrafgenError";
    this.kind = kind;
    this.field = where.field;
  }
}
