export {
  DEVICE_COUNTERS,
  DEVICE_DROP_REASONS,
  MAX_TSO_SEGMENTS,
  OffloadDevice,
  VPORT_COUNTERS,
  Vport,
  offloadDeviceFeatures,
  type AttachOptions,
  type AttachQueues,
  type DetachOptions,
  type VportDetach,
  type InterruptSink,
  type OffloadDeviceOptions,
  type VirtioNetSetup,
} from "./device.js";
export {
  BUILTIN_STAGES,
  DEVICE_PROFILES,
  DPAA_LIKE_PROFILE,
  GENERIC_SMARTNIC_PROFILE,
  deviceProfileSchema,
  loadDeviceProfile,
  stageCapacityPps,
  stageRates,
  validateDeviceProfile,
  type BuiltinStage,
  type DeviceOffloads,
  type DeviceProfile,
  type StageCostSpec,
  type StageRatesFlat,
} from "./profile.js";
export {
  DEST_FLOOD,
  DEST_NONE,
  DEST_UPLINK,
  LEARN_FULL,
  LEARN_MOVED,
  LEARN_NEW,
  LEARN_NONE,
  PipelineBatch,
  UPLINK_PORT,
  registerStage,
  stageFactory,
  stageKinds,
  stageOptions,
  type DeviceStage,
  type StageDeviceView,
  type StageEnv,
  type StageFactory,
  type StageSpec,
  type VportView,
} from "./stage.js";
export { BUILTIN_PIPELINE } from "./stages.js";
export { FrameQueue } from "./queues.js";
export { completeChecksum, fixTsoSegment, type TsoLayout } from "./offloads.js";
export { GuestSpace, readChain, writeChain } from "./dma.js";
export { TPID_CTAG, TPID_STAG, encapLength, encapSourcePort, vlanPop, vlanPush, vxlanDecap, vxlanEncap } from "./actions.js";
