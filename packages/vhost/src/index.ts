// The Linux syscall module (koffi; loaded on first use), as a namespace: `sys.memfdCreate(...)`.
export * as sys from "./sys/index.js";
export { SysError, isSysError } from "./sys/index.js";
// The vhost-user wire protocol: constants, message types, validating decoder, encoder, framer.
export * from "./vhost-user/protocol.js";
