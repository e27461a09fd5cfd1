// Sample messages for every vhost-user request and reply: used by the unit
// tests for round trips and by the fuzz tests as seeds.
import {
  BackendRequest,
  encodeBackendMessage,
  encodeBackendReply,
  encodeMessage,
  encodeReply,
  featureMask,
  FrontendRequest,
  ProtocolFeature,
  type BackendRequestBodies,
  type BackendRequestName,
  type FrontendReplyBody,
  type FrontendRequestBodies,
  type FrontendRequestName,
  type MemoryRegion,
} from "../src/vhost-user/protocol.js";

export interface Sample<B> {
  name: string;
  body: B;
  fds: number;
  bytes: Uint8Array;
}

const frontend = <K extends FrontendRequestName>(name: K, body: FrontendRequestBodies[K], fds = 0): Sample<unknown> => ({ name, body, fds, bytes: encodeMessage(name, body) });
const reply = <K extends FrontendRequestName>(name: K, body: FrontendReplyBody<K>, fds = 0): Sample<unknown> => ({ name, body, fds, bytes: encodeReply(name, body) });
const backend = <K extends BackendRequestName>(name: K, body: BackendRequestBodies[K], fds = 0): Sample<unknown> => ({ name, body, fds, bytes: encodeBackendMessage(name, body) });

export const lowRam: MemoryRegion = { guestAddr: 0n, size: 0xa_0000n, userAddr: 0x7f00_0000_0000n, mmapOffset: 0n };
export const highRam: MemoryRegion = { guestAddr: 0x10_0000n, size: 0x3ff0_0000n, userAddr: 0x7f00_4000_0000n, mmapOffset: 0x10_0000n };
export const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

export const frontendSamples: Sample<unknown>[] = [
  frontend("GET_FEATURES", null),
  frontend("SET_FEATURES", (1n << 32n) | (1n << 30n) | (1n << 5n)),
  frontend("SET_OWNER", null),
  frontend("RESET_OWNER", null),
  frontend("SET_MEM_TABLE", { regions: [lowRam, highRam] }, 2),
  frontend("SET_LOG_BASE", { size: 0x1000n, offset: 0n }, 1),
  frontend("SET_LOG_FD", null, 1),
  frontend("SET_VRING_NUM", { index: 0, num: 256 }),
  frontend("SET_VRING_ADDR", { index: 1, flags: 0, desc: 0x7f00_4000_0000n, used: 0x7f00_4000_2000n, avail: 0x7f00_4000_1000n, log: 0n }),
  frontend("SET_VRING_BASE", { index: 0, num: 0 }),
  frontend("GET_VRING_BASE", { index: 1, num: 0 }),
  frontend("SET_VRING_KICK", { index: 0, noFd: false }, 1),
  frontend("SET_VRING_CALL", { index: 1, noFd: false }, 1),
  frontend("SET_VRING_ERR", { index: 0, noFd: true }, 0),
  frontend("GET_PROTOCOL_FEATURES", null),
  frontend("SET_PROTOCOL_FEATURES", featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG)),
  frontend("GET_QUEUE_NUM", null),
  frontend("SET_VRING_ENABLE", { index: 1, num: 1 }),
  frontend("SEND_RARP", { mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56) }),
  frontend("NET_SET_MTU", 1500),
  frontend("SET_BACKEND_REQ_FD", null, 1),
  frontend("IOTLB_MSG", { iova: 0x1000n, size: 0x1000n, userAddr: 0x7f00_0000_1000n, perm: 3, type: 2 }),
  frontend("SET_VRING_ENDIAN", { index: 0, num: 0 }),
  frontend("GET_CONFIG", { offset: 0, flags: 0, data: new Uint8Array(12) }),
  frontend("SET_CONFIG", { offset: 6, flags: 1, data: Uint8Array.of(1, 0) }),
  frontend("CREATE_CRYPTO_SESSION", Uint8Array.from({ length: 20 }, (_, i) => i)),
  frontend("CLOSE_CRYPTO_SESSION", 7n),
  frontend("POSTCOPY_ADVISE", null),
  frontend("POSTCOPY_LISTEN", null),
  frontend("POSTCOPY_END", null),
  frontend("GET_INFLIGHT_FD", { mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: 256 }),
  frontend("SET_INFLIGHT_FD", { mmapSize: 0x2000n, mmapOffset: 0n, numQueues: 2, queueSize: 256 }, 1),
  frontend("GPU_SET_SOCKET", null, 1),
  frontend("RESET_DEVICE", null),
  frontend("VRING_KICK", { index: 1, num: 0 }),
  frontend("GET_MAX_MEM_SLOTS", null),
  frontend("ADD_MEM_REG", highRam, 1),
  frontend("REM_MEM_REG", highRam, 0),
  frontend("SET_STATUS", 0x0f),
  frontend("GET_STATUS", null),
  frontend("GET_SHARED_OBJECT", { uuid }),
  frontend("SET_DEVICE_STATE_FD", { direction: 1, phase: 0 }, 1),
  frontend("CHECK_DEVICE_STATE", null),
];

/** A reply for every front-end request: its own payload where it has one, a u64 ack otherwise. */
export const replySamples: Sample<unknown>[] = (Object.keys(FrontendRequest) as FrontendRequestName[]).map((name) => {
  switch (name) {
    case "GET_FEATURES":
      return reply(name, (1n << 32n) | (1n << 30n));
    case "GET_PROTOCOL_FEATURES":
      return reply(name, featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK));
    case "GET_VRING_BASE":
      return reply(name, { index: 1, num: 42 });
    case "GET_QUEUE_NUM":
      return reply(name, 2n);
    case "GET_CONFIG":
      return reply(name, { offset: 0, flags: 0, data: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 2, 0, 0xdc, 0x05) });
    case "GET_INFLIGHT_FD":
      return reply(name, { mmapSize: 0x2000n, mmapOffset: 0n, numQueues: 2, queueSize: 256 }, 1);
    case "GET_MAX_MEM_SLOTS":
      return reply(name, 32n);
    case "GET_STATUS":
      return reply(name, 0x0f);
    case "POSTCOPY_ADVISE":
      return reply(name, null, 1);
    case "SET_MEM_TABLE":
      return reply(name, { regions: [lowRam, highRam] });
    case "ADD_MEM_REG":
      return reply(name, highRam);
    case "REM_MEM_REG":
      return reply(name, 0n);
    case "GET_SHARED_OBJECT":
      return reply(name, 0n, 1);
    case "SET_DEVICE_STATE_FD":
      return reply(name, { error: 0, noFd: false }, 1);
    default:
      return reply(name, 0n as FrontendReplyBody<typeof name>);
  }
});

export const backendSamples: Sample<unknown>[] = [
  backend("IOTLB_MSG", { iova: 0x2000n, size: 0n, userAddr: 0n, perm: 1, type: 1 }),
  backend("CONFIG_CHANGE_MSG", null),
  backend("VRING_HOST_NOTIFIER_MSG", { index: 0, noFd: false, size: 0x1000n, offset: 0x3000n }, 1),
  backend("VRING_CALL", { index: 1, num: 0 }),
  backend("VRING_ERR", { index: 0, num: 0 }),
  backend("SHARED_OBJECT_ADD", { uuid }),
  backend("SHARED_OBJECT_REMOVE", { uuid }),
  backend("SHARED_OBJECT_LOOKUP", { uuid }),
];

export const backendReplySamples: Sample<unknown>[] = (Object.keys(BackendRequest) as BackendRequestName[]).map((name) => ({
  name,
  body: 0n,
  fds: name === "SHARED_OBJECT_LOOKUP" ? 1 : 0,
  bytes: encodeBackendReply(name, 0n),
}));

/** Every sample, for fuzz seeds. */
export const allSamples: Sample<unknown>[] = [...frontendSamples, ...replySamples, ...backendSamples, ...backendReplySamples];
export const allSampleBytes: Uint8Array[] = allSamples.map((s) => s.bytes);
