/**
 * @nfvio/offload: the hardware offload device model.
 *
 * This first version holds the two algorithmic hearts of the device's
 * receive pipeline: the flow key and its bounded parser, the virtio-net RSS
 * distributor (Toeplitz hash), and the flow classifier (exact-match and
 * wildcard tables with jumps, rte_flow-shaped rule API).
 */
export { OffloadError, type OffloadErrorKind, type Refusal } from "./errors.js";
export * from "./flow-key.js";
export * from "./rss.js";
export * from "./classifier/index.js";
export * from "./device/index.js";
export * from "./vhost-user/index.js";
