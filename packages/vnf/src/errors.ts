/**
 * The one error type of @nfvio/vnf. Errors are thrown only from setup and
 * control paths (building a VNF from its configuration, adding routes or
 * backends); the datapath never throws, it counts.
 */
export type VnfErrorKind =
  /** A configuration value is missing, of the wrong type or out of range. */
  | "config"
  /** A configuration file could not be read or parsed. */
  | "file"
  /** A table (routes, next hops, rules) is full. */
  | "capacity"
  /** Invalid use of the API (unknown backend, duplicate name, wrong state). */
  | "usage";

export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. `routes[2].prefix` (empty for the root). */
  readonly path: string;
  /** Why the value was refused. */
  readonly reason: string;
}

export class VnfError extends Error {
  readonly kind: VnfErrorKind;
  /** For `config` errors: every problem found, each naming its field. */
  readonly issues: readonly ConfigIssue[];
  constructor(kind: VnfErrorKind, message: string, issues: readonly ConfigIssue[] = []) {
    super(message);
    this.name = "VnfError";
    this.kind = kind;
    this.issues = issues;
  }
}
