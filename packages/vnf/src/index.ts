/**
 * @nfvio/vnf: the sample VNFs' functional cores on plain frames.
 *
 * Every VNF is built from a zod-checked configuration and processes a
 * {@link PacketBurst} (bytes, offset, length, port per packet), writing one
 * verdict per packet (forward out of port k, or drop with a reason) and
 * rewriting bytes in place; nothing is allocated per packet on the forwarding
 * path. Packets a VNF originates wait in its {@link Outbox}.
 */
export { DropReason, DROP_REASON_NAMES, forward, drop, isForward, dropReasonOf, describeVerdict } from "./verdict.js";
export { type PacketBurst, DEFAULT_BURST, createBurst, burstFromFrames, frameOf } from "./burst.js";
export { Counters, vnfCounterNames } from "./counters.js";
export { Outbox } from "./outbox.js";
export { type Vnf, type VnfOptions, type Clock, defaultClock } from "./vnf.js";
export { VnfError, type VnfErrorKind, type ConfigIssue } from "./errors.js";
export { parseConfig, loadConfig, parseConfigText, type PortRange } from "./config.js";
export {
  type IpAddress,
  type IpPrefix,
  type IpWords,
  parseIPv4,
  parseIPv6,
  parseIp,
  parsePrefix,
  parseMac,
  formatIPv4,
  formatIPv6,
  formatIp,
  formatMac,
} from "./addr.js";
export { MacSwap, MacSwapConfigSchema, type MacSwapConfig, L2Fwd, L2FwdConfigSchema, type L2FwdConfig } from "./l2fwd.js";
export { Lpm4, Lpm6, LPM_MAX_NEXT_HOP, type Lpm4Options, type Lpm6Options } from "./lpm.js";
export { Router, RouterConfigSchema, RouteSchema, type RouterConfig, type Route, type NeighbourInfo } from "./router.js";
export { Acl, AclRuleSchema, type AclRule } from "./acl.js";
export { ConnTrack, ConnTrackConfigSchema, TimeoutsSchema, TcpState, type ConnTrackConfig, type Timeouts } from "./conntrack.js";
export { Firewall, FirewallConfigSchema, type FirewallConfig } from "./firewall.js";
export { Nat, NatConfigSchema, NAT_INSIDE, NAT_OUTSIDE, type NatConfig } from "./nat.js";
export { MaglevTable, MAGLEV_DEFAULT_SIZE, isPrime } from "./maglev.js";
export { LoadBalancer, LoadBalancerConfigSchema, BackendSchema, ServiceSchema, type LoadBalancerConfig, type Backend, type Service } from "./lb.js";
export { ServiceChain, type ChainOptions } from "./chain.js";
export { createVnf, loadVnf, VNF_SCHEMAS, VNF_KINDS, type VnfKind, type VnfSpec } from "./registry.js";
export { viewPoolBurst, syncPoolLengths } from "./pool.js";
