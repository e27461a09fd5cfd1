export { DevicePoller, type DevicePollerOptions, type DevicePollerStats, type PollerMember } from "./poller.js";
export type { VhostLogLevel, VhostLogger, VhostUserDeviceShape, VhostUserVringShape } from "./shapes.js";
export { VHOST_USER_FRONTEND_FEATURES, VhostUserVport, vhostUserVportFeatures, type VhostUserVportOptions, type VhostUserVportStats } from "./vport.js";
