import { describe, expect, it } from "vitest";
import {
  BackendRequest,
  decodeBackendMessage,
  decodeBackendReply,
  decodeHeader,
  decodeMessage,
  decodeReply,
  encodeBackendMessage,
  encodeMessage,
  encodeReply,
  featureMask,
  FrontendRequest,
  MessageFramer,
  ProtocolFeature,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostUserError,
  type BackendRequestName,
  type DecodeOptions,
  type DecodeResult,
  type FrontendRequestName,
  type MemoryRegion,
  type VhostUserErrorKind,
} from "../src/vhost-user/protocol.js";
import { backendReplySamples, backendSamples, frontendSamples, highRam, lowRam, replySamples } from "./vhost-user-protocol.fixtures.js";

/** Rewrite header fields of an encoded message. */
function patch(bytes: Uint8Array, fields: { request?: number; flags?: number; size?: number }): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  if (fields.request !== undefined) v.setUint32(0, fields.request, true);
  if (fields.flags !== undefined) v.setUint32(4, fields.flags, true);
  if (fields.size !== undefined) v.setUint32(8, fields.size, true);
  return out;
}

/** Header + arbitrary payload bytes. */
function raw(request: number, payload: Uint8Array | number[], flags = 1): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  const out = new Uint8Array(12 + p.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, p.length, true);
  out.set(p, 12);
  return out;
}

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

function expectError<T>(r: DecodeResult<T>, kind: VhostUserErrorKind, message?: RegExp): VhostUserError {
  if (r.ok) throw new Error(`expected a ${kind} error, decoded ${JSON.stringify(r.message, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
  expect(r.error).toBeInstanceOf(VhostUserError);
  expect(r.error.kind).toBe(kind);
  if (message) expect(r.error.message).toMatch(message);
  return r.error;
}

function ok<T>(r: DecodeResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error.kind}: ${r.error.message}`);
  return r.message;
}

const table = (regions: MemoryRegion[]): Uint8Array => encodeMessage("SET_MEM_TABLE", { regions });

describe("vhost-user protocol: constants from the spec", () => {
  it("numbers the requests and features as vhost-user.rst does", () => {
    expect(FrontendRequest).toMatchObject({ GET_FEATURES: 1, SET_MEM_TABLE: 5, SET_VRING_NUM: 8, SET_VRING_KICK: 12, SET_VRING_ERR: 14, GET_PROTOCOL_FEATURES: 15, SET_VRING_ENABLE: 18, GET_CONFIG: 24, SET_CONFIG: 25, GET_INFLIGHT_FD: 31, VRING_KICK: 35, ADD_MEM_REG: 37, REM_MEM_REG: 38, CHECK_DEVICE_STATE: 43 });
    expect(Object.values(FrontendRequest)).toEqual(Array.from({ length: 43 }, (_, i) => i + 1));
    expect(Object.values(BackendRequest)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ProtocolFeature).toMatchObject({ MQ: 0, LOG_SHMFD: 1, RARP: 2, REPLY_ACK: 3, MTU: 4, BACKEND_REQ: 5, CONFIG: 9, INFLIGHT_SHMFD: 12, CONFIGURE_MEM_SLOTS: 15, STATUS: 16, DEVICE_STATE: 19 });
    expect(VHOST_USER_F_PROTOCOL_FEATURES).toBe(30);
    expect(featureMask(ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK)).toBe(0b1001n);
  });

  it("lays out the header and payloads little-endian, as the C structs are", () => {
    expect(Array.from(encodeMessage("GET_FEATURES", null))).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(encodeMessage("SET_VRING_NUM", { index: 1, num: 256 }, { needReply: true }))).toEqual([8, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
    expect(Array.from(encodeReply("GET_QUEUE_NUM", 2n))).toEqual([17, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    // SET_VRING_KICK: bits 0-7 index, bit 8 no-fd
    expect(Array.from(encodeMessage("SET_VRING_KICK", { index: 3, noFd: true }).subarray(12))).toEqual([3, 1, 0, 0, 0, 0, 0, 0]);
    // sizes: vring addr 40, memory table 8 + 32n, single region 8 + 32, iotlb 32, inflight 24, config 12 + n
    const size = (b: Uint8Array) => decodeHeader(b)!.size;
    expect(size(encodeMessage("SET_VRING_ADDR", { index: 0, flags: 0, desc: 0n, used: 0n, avail: 0n, log: 0n }))).toBe(40);
    expect(size(table([lowRam, highRam]))).toBe(8 + 64);
    expect(size(encodeMessage("ADD_MEM_REG", lowRam))).toBe(40);
    expect(size(encodeMessage("IOTLB_MSG", { iova: 0n, size: 0n, userAddr: 0n, perm: 0, type: 2 }))).toBe(32);
    expect(size(encodeMessage("SET_INFLIGHT_FD", { mmapSize: 1n, mmapOffset: 0n, numQueues: 1, queueSize: 1 }))).toBe(24);
    expect(size(encodeMessage("SET_CONFIG", { offset: 0, flags: 0, data: new Uint8Array(6) }))).toBe(18);
    // memory table: nregions, padding, then guest/size/user/offset of region 0
    const t = new DataView(table([highRam]).buffer, 12);
    expect([t.getUint32(0, true), t.getUint32(4, true)]).toEqual([1, 0]);
    expect([t.getBigUint64(8, true), t.getBigUint64(16, true), t.getBigUint64(24, true), t.getBigUint64(32, true)]).toEqual([highRam.guestAddr, highRam.size, highRam.userAddr, highRam.mmapOffset]);
  });
});

describe("vhost-user protocol: round trips", () => {
  it("has a sample for every request and reply", () => {
    expect(frontendSamples.map((s) => s.name).sort()).toEqual(Object.keys(FrontendRequest).sort());
    expect(replySamples.map((s) => s.name).sort()).toEqual(Object.keys(FrontendRequest).sort());
    expect(backendSamples.map((s) => s.name).sort()).toEqual(Object.keys(BackendRequest).sort());
    expect(backendReplySamples).toHaveLength(8);
  });

  for (const s of frontendSamples) {
    it(`front-end ${s.name}`, () => {
      const m = ok(decodeMessage(s.bytes, s.fds));
      expect(m.name).toBe(s.name);
      expect(m.request).toBe(FrontendRequest[s.name as FrontendRequestName]);
      expect(m.body).toEqual(s.body);
      expect(m.fdCount).toBe(s.fds);
      expect(m.unusedFds).toBe(0);
      expect(m.needReply).toBe(false);
      // NEED_REPLY survives, and a reply decodes against its request
      const nr = encodeMessage(s.name as FrontendRequestName, s.body as never, { needReply: true });
      expect(ok(decodeMessage(nr, s.fds)).needReply).toBe(true);
      expect(ok(decodeMessage(nr, s.fds)).body).toEqual(s.body);
    });
  }

  for (const s of replySamples) {
    it(`reply to ${s.name}`, () => {
      const m = ok(decodeReply(s.bytes, s.fds, s.name as FrontendRequestName));
      expect(m.name).toBe(s.name);
      expect(m.body).toEqual(s.body);
      expect(m.fdCount).toBe(s.fds);
      expect(m.flags).toBe(0x5);
    });
  }

  for (const s of backendSamples) {
    it(`back-end ${s.name}`, () => {
      const m = ok(decodeBackendMessage(s.bytes, s.fds));
      expect(m.name).toBe(s.name);
      expect(m.body).toEqual(s.body);
      expect(m.fdCount).toBe(s.fds);
    });
  }

  for (const s of backendReplySamples) {
    it(`reply to back-end ${s.name}`, () => {
      const m = ok(decodeBackendReply(s.bytes, s.fds, s.name as BackendRequestName));
      expect(m.body).toBe(0n);
      expect(m.fdCount).toBe(s.fds);
    });
  }

  it("decodes reply alternatives: acks, postcopy tables, GET_CONFIG failure, device-state fds", () => {
    expect(ok(decodeReply(encodeReply("SET_MEM_TABLE", 0n), 0, "SET_MEM_TABLE")).body).toBe(0n);
    expect(ok(decodeReply(encodeReply("ADD_MEM_REG", 1n), 0, "ADD_MEM_REG")).body).toBe(1n);
    expect(ok(decodeReply(encodeReply("GET_CONFIG", null), 0, "GET_CONFIG")).body).toBeNull();
    expect(ok(decodeReply(encodeReply("SET_DEVICE_STATE_FD", { error: 0, noFd: true }), 0, "SET_DEVICE_STATE_FD")).body).toEqual({ error: 0, noFd: true });
    expect(ok(decodeReply(encodeReply("GET_SHARED_OBJECT", 1n), 0, "GET_SHARED_OBJECT")).fdCount).toBe(0);
    // the device-state reply must not report an error and hand over a descriptor
    expectError(decodeReply(encodeReply("SET_DEVICE_STATE_FD", { error: 1, noFd: false }), 1, "SET_DEVICE_STATE_FD"), "invalid", /both/);
  });

  it("accepts and flags the one stray descriptor REM_MEM_REG tolerates", () => {
    const m = ok(decodeMessage(encodeMessage("REM_MEM_REG", lowRam), 1));
    expect([m.fdCount, m.unusedFds]).toEqual([0, 1]);
    expectError(decodeMessage(encodeMessage("REM_MEM_REG", lowRam), 2), "fd-count");
  });

  it("refuses to encode values that do not fit their fields", () => {
    expect(() => encodeMessage("SET_VRING_NUM", { index: -1, num: 8 })).toThrow(VhostUserError);
    expect(() => encodeMessage("SET_FEATURES", 1n << 64n)).toThrow(/does not fit in u64/);
    expect(() => encodeMessage("SET_VRING_KICK", { index: 256, noFd: false })).toThrow(/u8/);
    expect(() => encodeMessage("SEND_RARP", { mac: new Uint8Array(5) })).toThrow(/6 bytes/);
    try {
      encodeMessage("SET_VRING_NUM", { index: 0, num: 2 ** 32 });
    } catch (e) {
      expect((e as VhostUserError).kind).toBe("unencodable");
    }
  });
});

describe("vhost-user protocol: bad input, one class at a time", () => {
  const features = encodeMessage("SET_FEATURES", 1n);

  it("truncated: shorter than a header, or than the declared size", () => {
    expectError(decodeMessage(new Uint8Array(0), 0), "truncated");
    expectError(decodeMessage(features.subarray(0, 11), 0), "truncated");
    expectError(decodeMessage(features.subarray(0, 19), 0), "truncated", /7 payload bytes present, header declares 8/);
    expectError(decodeMessage(Uint8Array.of(...features, 0), 0), "body-size", /beyond the declared payload/);
  });

  it("unknown requests, per channel", () => {
    for (const code of [0, 44, 1000, 0xffff_ffff]) expectError(decodeMessage(raw(code, []), 0), "unknown-request", new RegExp(`${code}`));
    expectError(decodeBackendMessage(raw(9, []), 0), "unknown-request");
    expectError(decodeBackendMessage(raw(0, []), 0), "unknown-request");
  });

  it("sizes above the maximum, before anything else about the body", () => {
    expectError(decodeMessage(raw(1, new Uint8Array(4097)), 0), "too-large", /4097 bytes exceeds the 4096-byte limit/);
    expectError(decodeMessage(patch(features, { size: 0xffff_ffff }), 0), "too-large");
    expectError(decodeMessage(features, 0, { maxBodySize: 4 }), "too-large");
  });

  it("versions other than 1", () => {
    for (const flags of [0, 2, 3, 0x4 | 2]) expectError(decodeMessage(patch(features, { flags }), 0), "bad-version");
  });

  it("reserved flag bits, and REPLY / NEED_REPLY where they do not belong", () => {
    for (const bit of [4, 5, 8, 31]) expectError(decodeMessage(patch(features, { flags: 1 | (2 ** bit) }), 0), "bad-flags", /reserved/);
    expectError(decodeMessage(patch(features, { flags: 0x5 }), 0), "bad-flags", /REPLY flag is set on a request/);
    const rep = encodeReply("GET_FEATURES", 1n);
    expectError(decodeReply(patch(rep, { flags: 0x1 }), 0, "GET_FEATURES"), "bad-flags");
    expectError(decodeReply(patch(rep, { flags: 0xd }), 0, "GET_FEATURES"), "bad-flags");
    expectError(decodeReply(rep, 0, "GET_PROTOCOL_FEATURES"), "reply-mismatch", /awaited a reply to GET_PROTOCOL_FEATURES, got one to GET_FEATURES/);
  });

  it("descriptors: none allowed, missing, extra, or more than a message can carry", () => {
    expectError(decodeMessage(encodeMessage("GET_FEATURES", null), 1), "fd-count", /carries no descriptors, got 1/);
    expectError(decodeMessage(features, 2), "fd-count");
    expectError(decodeMessage(encodeMessage("SET_LOG_FD", null), 0), "fd-count", /exactly one/);
    expectError(decodeMessage(encodeMessage("SET_BACKEND_REQ_FD", null), 2), "fd-count");
    expectError(decodeMessage(table([lowRam, highRam]), 1), "fd-count", /2 regions, 1 descriptors/);
    expectError(decodeMessage(table([lowRam, highRam]), 3), "fd-count");
    expectError(decodeMessage(encodeMessage("SET_VRING_KICK", { index: 0, noFd: false }), 0), "fd-count", /unless the no-fd flag/);
    expectError(decodeMessage(encodeMessage("SET_VRING_CALL", { index: 0, noFd: true }), 1), "fd-count", /no-fd flag \(bit 8\) set but carries 1/);
    expectError(decodeMessage(encodeMessage("ADD_MEM_REG", lowRam), 0), "fd-count");
    expectError(decodeMessage(encodeMessage("SET_VRING_KICK", { index: 0, noFd: false }), 9), "fd-count", /0 \.\. 8/);
    expectError(decodeBackendMessage(encodeBackendMessage("VRING_HOST_NOTIFIER_MSG", { index: 0, noFd: true, size: 0n, offset: 0n }), 1), "fd-count");
  });

  it("exact body sizes", () => {
    expectError(decodeMessage(raw(FrontendRequest.SET_FEATURES, [1, 0, 0, 0]), 0), "body-size", /payload is 4 bytes, expected 8/);
    expectError(decodeMessage(raw(FrontendRequest.GET_FEATURES, u64(0n)), 0), "body-size", /expected 0/);
    expectError(decodeMessage(raw(FrontendRequest.SET_VRING_NUM, new Uint8Array(12)), 0), "body-size");
    expectError(decodeMessage(raw(FrontendRequest.SET_VRING_ADDR, new Uint8Array(48)), 0), "body-size", /expected 40/);
    // a packed 26-byte iotlb message is not what QEMU sends (sizeof = 32)
    expectError(decodeMessage(raw(FrontendRequest.IOTLB_MSG, new Uint8Array(26)), 0), "body-size");
    // two regions declared, one present (the two descriptors are right)
    const two = table([lowRam, highRam]);
    expectError(decodeMessage(patch(two.subarray(0, 12 + 40), { size: 40 }), 2), "body-size", /expected 72/);
    // the full 8-region struct for 2 regions is refused: the size is 8 + 32 n
    expectError(decodeMessage(raw(FrontendRequest.SET_MEM_TABLE, Uint8Array.of(...two.subarray(12), ...new Uint8Array(6 * 32))), 2), "body-size");
    // too short to read the region count or the kick u64
    expectError(decodeMessage(raw(FrontendRequest.SET_MEM_TABLE, [1, 0]), 1), "body-size", /too short/);
    expectError(decodeMessage(raw(FrontendRequest.SET_VRING_KICK, [0, 0, 0, 0]), 1), "body-size", /too short/);
    // config: the size field decides
    const cfg = encodeMessage("SET_CONFIG", { offset: 0, flags: 0, data: new Uint8Array(6) });
    const bad = cfg.slice();
    new DataView(bad.buffer).setUint32(12 + 4, 7, true);
    expectError(decodeMessage(bad, 0), "body-size", /expected 19/);
    expectError(decodeMessage(raw(FrontendRequest.SET_CONFIG, new Uint8Array(8)), 0), "body-size");
    expectError(decodeReply(raw(FrontendRequest.GET_VRING_BASE, new Uint8Array(4), 5), 0, "GET_VRING_BASE"), "body-size");
  });

  it("checks in a fixed order: header, then descriptors, then size, then values", () => {
    // unknown request wins over a bad version and a huge size
    expectError(decodeMessage(patch(raw(99, []), { flags: 0 }), 0), "unknown-request");
    // too large wins over a bad version
    expectError(decodeMessage(patch(raw(1, new Uint8Array(5000)), { flags: 2 }), 0), "too-large");
    // version wins over reserved flags
    expectError(decodeMessage(patch(features, { flags: 0x10 }), 0), "bad-version");
    // descriptors win over a wrong size
    expectError(decodeMessage(raw(FrontendRequest.SET_FEATURES, [1, 2, 3]), 1), "fd-count");
    // size wins over invalid values (zero-sized region, one region short)
    const t = table([{ ...lowRam, size: 0n }, highRam]);
    expectError(decodeMessage(patch(t.subarray(0, t.length - 1), { size: t.length - 13 }), 2), "body-size");
    expectError(decodeMessage(t, 2), "invalid", /size 0/);
  });

  it("memory tables: region count, overlaps, zero sizes, 64-bit overflow", () => {
    expectError(decodeMessage(table([]), 0), "invalid", /0 memory regions/);
    const nine = Array.from({ length: 9 }, (_, i) => ({ guestAddr: BigInt(i) << 32n, size: 0x1000n, userAddr: BigInt(i + 1) << 32n, mmapOffset: 0n }));
    expectError(decodeMessage(table(nine), 8), "fd-count"); // nine regions can never come with nine descriptors
    expect(ok(decodeMessage(table(nine.slice(0, 8)), 8)).fdCount).toBe(8);
    expectError(decodeMessage(table(nine.slice(0, 3)), 3, { maxRegions: 2 }), "invalid", /3 memory regions; accepted 1 \.\. 2/);
    expectError(decodeMessage(table([lowRam, { ...highRam, guestAddr: 0x9_0000n }]), 2), "invalid", /overlap in guest address space/);
    expectError(decodeMessage(table([lowRam, { ...highRam, userAddr: lowRam.userAddr + 0x1000n }]), 2), "invalid", /overlap in user address space/);
    expectError(decodeMessage(table([{ ...lowRam, guestAddr: 0xffff_ffff_ffff_f000n, size: 0x2000n }]), 1), "invalid", /guest address \+ size overflows/);
    expectError(decodeMessage(table([{ ...lowRam, userAddr: 0xffff_ffff_ffff_f000n, size: 0x2000n }]), 1), "invalid", /user address/);
    expectError(decodeMessage(table([{ ...lowRam, mmapOffset: 0xffff_ffff_ffff_f000n, size: 0x2000n }]), 1), "invalid", /mmap offset/);
    // touching is not overlapping; a region may end exactly at 2^64
    expect(ok(decodeMessage(table([lowRam, { ...highRam, guestAddr: 0xa_0000n, userAddr: lowRam.userAddr + 0xa_0000n }]), 2)).body).toBeDefined();
    expect(ok(decodeMessage(table([{ ...lowRam, guestAddr: 0xffff_ffff_ffff_f000n, size: 0x1000n }]), 1)).body).toBeDefined();
    expectError(decodeMessage(encodeMessage("ADD_MEM_REG", { ...lowRam, size: 0n }), 1), "invalid", /size 0/);
  });

  it("vring indexes within the queue count", () => {
    const q2: DecodeOptions = { queueCount: 2 };
    expectError(decodeMessage(encodeMessage("SET_VRING_NUM", { index: 256, num: 256 }), 0), "invalid", /vring index 256 is out of range \(256 vrings\)/);
    expectError(decodeMessage(encodeMessage("SET_VRING_NUM", { index: 2, num: 256 }), 0, q2), "invalid", /index 2/);
    expect(ok(decodeMessage(encodeMessage("SET_VRING_NUM", { index: 1, num: 256 }), 0, q2)).body).toEqual({ index: 1, num: 256 });
    for (const name of ["SET_VRING_KICK", "SET_VRING_CALL"] as const) expectError(decodeMessage(encodeMessage(name, { index: 5, noFd: false }), 1, q2), "invalid", /index 5/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ERR", { index: 2, noFd: true }), 0, q2), "invalid");
    expectError(decodeMessage(encodeMessage("SET_VRING_ADDR", { index: 3, flags: 0, desc: 0n, used: 0n, avail: 0n, log: 0n }), 0, q2), "invalid");
    for (const name of ["SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_ENABLE", "SET_VRING_ENDIAN", "VRING_KICK"] as const) expectError(decodeMessage(encodeMessage(name, { index: 2, num: 0 }), 0, q2), "invalid", /out of range/);
    expectError(decodeReply(encodeReply("GET_VRING_BASE", { index: 7, num: 0 }), 0, "GET_VRING_BASE", q2), "invalid");
    expectError(decodeBackendMessage(encodeBackendMessage("VRING_CALL", { index: 2, num: 0 }), 0, q2), "invalid");
    // bits 9-63 of the kick/call u64 are reserved
    expectError(decodeMessage(raw(FrontendRequest.SET_VRING_KICK, u64(0x200n)), 1), "invalid", /reserved bits/);
    expectError(decodeMessage(raw(FrontendRequest.SET_VRING_CALL, u64(1n << 40n)), 1), "invalid", /reserved bits/);
  });

  it("ring sizes: powers of two up to 32768 (any size up to 32768 for packed rings)", () => {
    const num = (n: number, o: DecodeOptions = {}) => decodeMessage(encodeMessage("SET_VRING_NUM", { index: 0, num: n }), 0, o);
    for (const n of [1, 2, 256, 1024, 32768]) expect(num(n).ok).toBe(true);
    expectError(num(0), "invalid", /outside 1 \.\. 32768/);
    expectError(num(65536), "invalid", /outside 1 \.\. 32768/);
    expectError(num(3), "invalid", /not a power of two/);
    expectError(num(1000), "invalid", /not a power of two/);
    expectError(num(1024, { maxQueueSize: 512 }), "invalid");
    expect(num(1000, { packed: true }).ok).toBe(true);
    expectError(num(40000, { packed: true }), "invalid");
    expectError(decodeMessage(encodeMessage("SET_INFLIGHT_FD", { mmapSize: 0x1000n, mmapOffset: 0n, numQueues: 2, queueSize: 100 }), 1), "invalid", /inflight queue size 100/);
    expectError(decodeMessage(encodeMessage("SET_VRING_BASE", { index: 0, num: 0x1_0000 }), 0), "invalid", /reserved bits 16-31/);
    expect(decodeMessage(encodeMessage("SET_VRING_BASE", { index: 0, num: 0x8001_8001 }), 0, { packed: true }).ok).toBe(true);
  });

  it("other per-message checks", () => {
    const addr = { index: 0, flags: 0, desc: 0x1000n, used: 0x3000n, avail: 0x2000n, log: 0n };
    expect(decodeMessage(encodeMessage("SET_VRING_ADDR", { ...addr, flags: 1 }), 0).ok).toBe(true);
    expectError(decodeMessage(encodeMessage("SET_VRING_ADDR", { ...addr, flags: 2 }), 0), "invalid", /VHOST_VRING_F_LOG/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ADDR", { ...addr, desc: 0x1008n }), 0), "invalid", /16-byte aligned/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ADDR", { ...addr, avail: 0x2001n }), 0), "invalid", /2-byte aligned/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ADDR", { ...addr, used: 0x3002n }), 0), "invalid", /4-byte aligned/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ENABLE", { index: 0, num: 2 }), 0), "invalid", /enable 2/);
    expectError(decodeMessage(encodeMessage("SET_VRING_ENDIAN", { index: 0, num: 2 }), 0), "invalid");
    expectError(decodeMessage(encodeMessage("NET_SET_MTU", 67), 0), "invalid", /MTU 67/);
    expectError(decodeMessage(encodeMessage("NET_SET_MTU", 65536), 0), "invalid");
    expectError(decodeMessage(encodeMessage("SET_STATUS", 256), 0), "invalid", /8 bits/);
    expectError(decodeMessage(encodeMessage("SET_CONFIG", { offset: 0, flags: 2, data: new Uint8Array(4) }), 0), "invalid", /config flags 2/);
    expectError(decodeMessage(encodeMessage("SET_CONFIG", { offset: 0, flags: 0, data: new Uint8Array(300) }), 0), "invalid", /300 bytes exceeds 256/);
    expectError(decodeMessage(encodeMessage("GET_CONFIG", { offset: 250, flags: 0, data: new Uint8Array(8) }), 0), "invalid", /beyond 256/);
    expectError(decodeMessage(encodeMessage("IOTLB_MSG", { iova: 0n, size: 1n, userAddr: 0n, perm: 4, type: 2 }), 0), "invalid", /permissions/);
    expectError(decodeMessage(encodeMessage("IOTLB_MSG", { iova: 0n, size: 1n, userAddr: 0n, perm: 1, type: 9 }), 0), "invalid", /type 9/);
    expectError(decodeBackendMessage(encodeBackendMessage("IOTLB_MSG", { iova: 0n, size: 0n, userAddr: 0n, perm: 1, type: 2 }), 0), "invalid", /miss/);
    expectError(decodeMessage(encodeMessage("SET_LOG_BASE", { size: 0n, offset: 0n }), 1), "invalid", /log size is 0/);
    expectError(decodeMessage(encodeMessage("SET_INFLIGHT_FD", { mmapSize: 0x1000n, mmapOffset: 0n, numQueues: 0, queueSize: 256 }), 1), "invalid", /num_queues 0/);
    expectError(decodeMessage(encodeMessage("SET_DEVICE_STATE_FD", { direction: 2, phase: 0 }), 1), "invalid", /direction 2/);
    expectError(decodeMessage(encodeMessage("SET_DEVICE_STATE_FD", { direction: 0, phase: 1 }), 1), "invalid", /phase 1/);
    expectError(decodeBackendMessage(encodeBackendMessage("VRING_HOST_NOTIFIER_MSG", { index: 0, noFd: false, size: 0n, offset: 0n }), 1), "invalid", /host notifier size is 0/);
  });
});

describe("vhost-user protocol: framing", () => {
  /** Feed a stream through the framer in chunks no larger than `wanted`, each chunk at most `max` bytes. */
  function frameAll(stream: Uint8Array, fdsAt: Map<number, number[]>, chunkSizes: () => number, framer = new MessageFramer()) {
    const frames = [];
    let off = 0;
    while (off < stream.length && !framer.error) {
      const want = Math.min(framer.wanted, chunkSizes(), stream.length - off);
      const used = framer.push(stream.subarray(off, off + want), fdsAt.get(off) ?? []);
      expect(used).toBe(want);
      off += used;
      for (let f = framer.take(); f; f = framer.take()) frames.push(f);
    }
    return { frames, framer };
  }

  const samples = frontendSamples;
  const stream = Uint8Array.from(samples.flatMap((s) => Array.from(s.bytes)));
  // descriptors arrive with the first byte of each message that has them (fake numbers)
  const fdsAt = new Map<number, number[]>();
  let at = 0;
  samples.forEach((s, i) => {
    if (s.fds) fdsAt.set(at, Array.from({ length: s.fds }, (_, k) => 100 + i * 10 + k));
    at += s.bytes.length;
  });

  for (const [label, sizes] of [
    ["header then body", () => Infinity],
    ["one byte at a time", () => 1],
    ["odd chunks", (() => {
      let n = 0;
      return () => 1 + ((n += 7) % 13);
    })()],
  ] as const) {
    it(`cuts a stream into the original messages (${label}) with their descriptors`, () => {
      const { frames, framer } = frameAll(stream, fdsAt, sizes);
      expect(framer.error).toBeNull();
      expect(framer.atBoundary).toBe(true);
      expect(frames.map((f) => Array.from(f.bytes))).toEqual(samples.map((s) => Array.from(s.bytes)));
      frames.forEach((f, i) => {
        expect(f.fds).toHaveLength(samples[i]!.fds);
        expect(ok(decodeMessage(f.bytes, f.fds.length)).name).toBe(samples[i]!.name);
      });
    });
  }

  it("asks for the header, then exactly the payload, and never consumes into the next message", () => {
    const f = new MessageFramer();
    expect(f.wanted).toBe(12);
    const msg = encodeMessage("SET_VRING_NUM", { index: 0, num: 8 });
    const twice = Uint8Array.of(...msg, ...msg);
    expect(f.push(twice.subarray(0, 12))).toBe(12);
    expect(f.atBoundary).toBe(false);
    expect(f.wanted).toBe(8);
    expect(f.push(twice.subarray(12))).toBe(8);
    expect(f.take()!.bytes).toEqual(msg);
    expect(f.take()).toBeNull();
    expect(f.wanted).toBe(12);
    expect(f.push(twice)).toBe(20); // one whole message, not into the second
    expect(f.take()!.bytes).toEqual(msg);
    // a header with no payload completes a frame at once
    expect(f.push(encodeMessage("GET_FEATURES", null))).toBe(12);
    expect(f.take()!.bytes).toHaveLength(12);
  });

  it("fails, sticky, on a declared size above the bound, before allocating it", () => {
    const f = new MessageFramer({ maxBodySize: 64 });
    const huge = raw(1, []);
    new DataView(huge.buffer).setUint32(8, 0xffff_fff0, true);
    expect(f.push(huge, [7])).toBe(12);
    expect(f.error?.kind).toBe("too-large");
    expect(f.wanted).toBe(0);
    expect(f.push(encodeMessage("GET_FEATURES", null), [8])).toBe(0);
    expect(f.take()).toBeNull();
    expect(f.releaseFds().sort()).toEqual([7, 8]);
    expect(f.releaseFds()).toEqual([]);
  });

  it("fails on more descriptors than a message may carry, and hands back what it holds", () => {
    const f = new MessageFramer();
    const msg = table([lowRam, highRam]);
    f.push(msg.subarray(0, 12), [1, 2, 3, 4, 5]);
    f.push(msg.subarray(12, 20), [6, 7, 8, 9]);
    expect(f.error?.kind).toBe("fd-count");
    expect(f.releaseFds().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("releases descriptors of partial and untaken frames on teardown", () => {
    const f = new MessageFramer();
    f.push(encodeMessage("SET_LOG_FD", null), [11]);
    const kick = encodeMessage("SET_VRING_KICK", { index: 0, noFd: false });
    f.push(kick.subarray(0, 12), [12]);
    expect(f.atBoundary).toBe(false);
    expect(f.releaseFds().sort()).toEqual([11, 12]);
  });
});

describe("vhost-user protocol: VhostUserError", () => {
  it("carries kind, request code and a readable message", () => {
    const e = expectError(decodeMessage(encodeMessage("SET_VRING_NUM", { index: 0, num: 3 }), 0), "invalid");
    expect(e.name).toBe("VhostUserError");
    expect(e.request).toBe(8);
    expect(e.message).toBe("SET_VRING_NUM: ring size 3 is not a power of two");
  });
});
