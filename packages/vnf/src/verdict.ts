/**
 * Verdicts: what a VNF decided for one packet of a burst.
 *
 * A verdict is one signed 32-bit integer, so a burst's verdicts fit in an
 * `Int32Array` the caller owns and reuses (no allocation per packet):
 *
 * - `v >= 0`: forward the packet (its bytes possibly rewritten in place) out of
 *   the VNF's output port `v`;
 * - `v < 0`: the caller may free the packet's buffer; `-v - 1` is the
 *   {@link DropReason}.
 *
 * One reason, {@link DropReason.Queued}, is not a loss: the VNF copied the
 * packet (for example while it resolves the next hop's link-layer address)
 * and will emit it later from its {@link Outbox}.
 */

/** Why a packet did not leave on a port. Stable numeric codes; names in {@link DROP_REASON_NAMES}. */
export const DropReason = {
  /** Frame too short or a header field inconsistent with the frame (bad version, lengths). */
  Malformed: 0,
  /** IPv4 header checksum does not verify (RFC 1812 §5.2.2 requires the check). */
  BadChecksum: 1,
  /** EtherType or protocol this VNF does not handle. */
  Unsupported: 2,
  /** Destination MAC is neither the port's address nor broadcast/multicast. */
  NotForUs: 3,
  /** No route (RFC 1812 §5.2.7.1: an ICMP destination unreachable may be sent). */
  NoRoute: 4,
  /** TTL or hop limit would reach zero (RFC 1812 §5.3.1, RFC 8200 §3). */
  TtlExceeded: 5,
  /** Next hop link-layer address unknown and the packet could not be held. */
  NeighbourUnresolved: 6,
  /** Held by the VNF until the next hop resolves; emitted later from the outbox (not a loss). */
  Queued: 7,
  /** Handled by the VNF's control plane (ARP, neighbour discovery, echo to the VNF itself). */
  Control: 8,
  /** Addressed to the VNF itself but not a protocol it answers. */
  Local: 9,
  /** Source or destination scope forbids forwarding (IPv6 link-local, RFC 4291 §2.5.6). */
  Scope: 10,
  /** An ACL rule or the default action denied the packet. */
  AclDeny: 11,
  /** Connection table full and no entry could be evicted. */
  TableFull: 12,
  /** Packet does not fit the tracked connection's state (e.g. TCP without SYN and no entry). */
  Invalid: 13,
  /** Non-first fragment or fragment the VNF cannot classify without reassembly. */
  Fragment: 14,
  /** Every port (or ICMP id) of the NAT range is in use. */
  NatExhausted: 15,
  /** Packet from outside matches no NAT mapping or port forward. */
  NoMapping: 16,
  /** The load balancer has no service for the destination or the service has no backend. */
  NoBackend: 17,
  /** Input port out of the VNF's configured range. */
  BadPort: 18,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Counter-friendly names of the drop reasons, indexed by code. */
export const DROP_REASON_NAMES: readonly string[] = [
  "malformed",
  "bad-checksum",
  "unsupported",
  "not-for-us",
  "no-route",
  "ttl-exceeded",
  "neighbour-unresolved",
  "queued",
  "control",
  "local",
  "scope",
  "acl-deny",
  "table-full",
  "invalid",
  "fragment",
  "nat-exhausted",
  "no-mapping",
  "no-backend",
  "bad-port",
];

/** Verdict: forward out of `port`. */
export function forward(port: number): number {
  return port;
}

/** Verdict: drop with `reason`. */
export function drop(reason: DropReason): number {
  return -reason - 1;
}

/** True when the verdict forwards. */
export function isForward(v: number): boolean {
  return v >= 0;
}

/** Drop reason of a drop verdict, or -1 for a forward verdict. */
export function dropReasonOf(v: number): number {
  return v < 0 ? -v - 1 : -1;
}

/** Human-readable verdict, for logs and test messages: `port 1` or `drop no-route`. */
export function describeVerdict(v: number): string {
  return v >= 0 ? `port ${v}` : `drop ${DROP_REASON_NAMES[-v - 1] ?? `reason ${-v - 1}`}`;
}
