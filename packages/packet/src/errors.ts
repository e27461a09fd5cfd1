/**
 * The one error type of @nfvio/packet.
 *
 * Errors are thrown only from setup and file paths (text address parsing for
 * configs, frame building with impossible specs, capture file reading and
 * writing). The packet parser never throws: it reports malformed input in
 * {@link PacketMeta.errors} as named bits ({@link ParseError}).
 */
export type PacketErrorKind =
  /** Input that violates a format (an address that does not parse, a corrupt capture file). */
  | "malformed"
  /** A capture file or a block in it ends before its declared end. */
  | "truncated"
  /** A declared size above the configured limit (snaplen, caplen, block length). */
  | "limit"
  /** A valid input nfvio does not handle (a pcapng section of an unknown major version). */
  | "unsupported"
  /** The file or stream underneath failed. */
  | "io"
  /** Invalid use of the API (a frame spec with two L3 headers, a write after close). */
  | "usage";

export class PacketError extends Error {
  readonly kind: PacketErrorKind;
  constructor(kind: PacketErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PacketError";
    this.kind = kind;
  }
}

/**
 * A capture file problem, with the byte offset in the file (or stream) where
 * the offending header, block or record starts.
 */
export class PcapError extends PacketError {
  /** Byte offset from the start of the file of the structure that is wrong. */
  readonly offset: number;
  constructor(kind: PacketErrorKind, offset: number, message: string, options?: { cause?: unknown }) {
    super(kind, `${message} (at file offset ${offset})`, options);
    this.name = "PcapError";
    this.offset = offset;
  }
}
