export {};
export { Burst, BURST_SIZE } from "./burst.js";
export { PacketPool, POOL_MAX_COUNT, DEFAULT_DATA_ROOM, DEFAULT_HEADROOM, type PoolOptions, type PoolHandle, type PoolStats } from "./pool.js";
