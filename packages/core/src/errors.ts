/**
 * The one error type of @nfvio/core.
 *
 * Errors are thrown from setup and control paths only (building a graph,
 * validating options, placing components on workers). The datapath never
 * throws: a full link drops and counts, an empty pool counts a failure.
 */
export type CoreErrorKind =
  /** A component's options, a link spec, a placement or a cost model failed validation. */
  | "config"
  /** Invalid use of the API by the program (wrong state, wrong argument). */
  | "usage"
  /** A worker thread failed to start, load a component, or stop. */
  | "worker";

export class CoreError extends Error {
  readonly kind: CoreErrorKind;
  /** The component the error is about, when there is one. */
  readonly component: string | undefined;
  /** The option / field the error is about, when there is one. */
  readonly field: string | undefined;

  constructor(kind: CoreErrorKind, message: string, where: { component?: string; field?: string } = {}) {
    super(message);
    this.name = "CoreError";
    this.kind = kind;
    this.component = where.component;
    this.field = where.field;
  }
}
