// The Linux syscall module (koffi; loaded on first use), as a namespace: `sys.memfdCreate(...)`.
export * as sys from "./sys/index.js";
export { SysError, isSysError } from "./sys/index.js";
// The vhost-user wire protocol: constants, message types, validating decoder, encoder, framer.
export * from "./vhost-user/protocol.js";
// The vhost-user back-end (protocol session, server/client sockets, the virtio-net device) and the virtio-user front-end.
export { silentLogger, stderrLogger, type Logger, type LogLevel, type VhostUserDevice, type VhostUserVring } from "./vhost-user/device.js";
export { mapMemoryTable, MemoryMapError, VhostUserMemory, type MappedRegion } from "./vhost-user/memory.js";
export { VhostUserSession, type SessionOptions } from "./vhost-user/session.js";
export { VhostUserServer, type VhostUserServerOptions } from "./vhost-user/server.js";
export { VhostUserNetDevice, NET_DEVICE_FEATURES, NET_MODES, type NetMode, type NetDeviceOptions, type QueueCounters, type SchedulerStats } from "./vhost-user/net.js";
export { VnfStage, DEFAULT_VNF_SLOT, type FrameBurst, type FrameProcessor } from "./vhost-user/vnf-device.js";
export { FrontendChannel } from "./vhost-user/channel.js";
export { VirtioUserFrontend, VirtioUserQueuePair, type VirtioUserOptions, type FrontendQueueCounters } from "./vhost-user/frontend.js";
// The vhost-net baseline model (device, notifications, offload metadata, modelled and threaded runs).
export * from "./vhost-net/index.js";
// A guest: guest memory + virtio-net driver + VNF hook.
export * from "./guest/index.js";
// The TAP port (a Linux TAP interface as a core Port) and its responder / L2 forwarder apps.
export * from "./tap/index.js";
export { VirtioUserPort, VIRTIO_USER_PORT_COUNTERS, type VirtioUserPortOptions, type VirtioUserPortCounter } from "./vhost-user/port.js";
export { VhostUserPort, VHOST_USER_PORT_COUNTERS, type VhostUserPortOptions, type VhostUserPortCounter } from "./vhost-user/backend-port.js";
