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
