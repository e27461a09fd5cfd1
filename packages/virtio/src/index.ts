export { VirtioError, type VirtioErrorKind } from "./errors.js";
export { GuestMemory, GPA_LIMIT, gpaFromParts, type MemoryRegion, type RegionSpec } from "./memory.js";
export {
  DescChain,
  QUEUE_FAULTS,
  newQueueStats,
  type DeviceQueue,
  type DriverQueue,
  type QueueFault,
  type QueueStats,
} from "./queue.js";
export * from "./layout.js";
export {
  HOST_LITTLE_ENDIAN,
  SplitDevice,
  SplitDriver,
  newDescChains,
  type SplitDeviceOptions,
  type SplitDriverOptions,
  type SplitIndirectArea,
} from "./split.js";
export { GuestSpace, guestSpace, readChainViews, readFromChain, viewsOf, writeChainViews, writeToChain } from "./chain.js";
export { byteViews, copyBytes, type ByteViews } from "./bytes.js";
export { registerRing, ringFactory, ringKinds, type RingFactory, type RingPlacement, type RingStart } from "./rings.js";
export * from "./features.js";
export * from "./net.js";
export * from "./packed.js";
