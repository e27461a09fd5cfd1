export {
  RX_DROPS,
  TUN_READQ_SIZE,
  TX_DROPS,
  UIO_MAXIOV,
  VHOST_NET_BATCH,
  VHOST_NET_COUNTERS,
  VHOST_NET_FEATURES,
  VHOST_NET_PKT_WEIGHT,
  VHOST_NET_QUEUE_COUNTERS,
  VHOST_NET_WEIGHT,
  VhostNetDevice,
  type VhostNetDeviceOptions,
  type VhostNetQueueInfo,
  type VhostNetSetup,
} from "./device.js";
export { PKT_F_VNET_HDR, VNET_META_BYTES, clearPacketNetHeader, getPacketNetHeader, isPlainHeader, setPacketNetHeader } from "./meta.js";
export { Doorbell, DoorbellInterrupts, DoorbellKicks, type DoorbellHandle, type InterruptTarget, type KickTarget } from "./notify.js";
export {
  DROP_VNF,
  DiscardPort,
  GeneratorVnf,
  HostGenerator,
  connectVirtioNet,
  modelVhostNet,
  testFrame,
  type VhostNetModelOptions,
  type VhostNetModelResult,
} from "./model.js";
export { measureVhostNetThreads, type VhostNetThreadsOptions, type VhostNetThreadsResult } from "./threads.js";
