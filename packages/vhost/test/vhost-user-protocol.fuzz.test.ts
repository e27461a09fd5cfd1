// Fuzzing the vhost-user decoder and framer with fast-check. Inputs are random
// bytes and mutations of the unit tests' sample messages (the seeds), so the
// deep per-message checks are reached, not only the header checks.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BackendRequest,
  decodeBackendMessage,
  decodeBackendReply,
  decodeMessage,
  decodeReply,
  encodeBackendMessage,
  encodeMessage,
  FrontendRequest,
  MessageFramer,
  VhostUserError,
  type BackendRequestName,
  type DecodeOptions,
  type DecodeResult,
  type FrontendRequestName,
} from "../src/vhost-user/protocol.js";
import { allSampleBytes, allSamples } from "./vhost-user-protocol.fixtures.js";

const frontendNames = Object.keys(FrontendRequest) as FrontendRequestName[];
const backendNames = Object.keys(BackendRequest) as BackendRequestName[];

/** Run every decoder on the input; each must return (never throw) and report failures as VhostUserError. */
function decodeAll(bytes: Uint8Array, fdCount: number, options: DecodeOptions, replyTo: FrontendRequestName, backendReplyTo: BackendRequestName): DecodeResult<unknown>[] {
  return [decodeMessage(bytes, fdCount, options), decodeReply(bytes, fdCount, replyTo, options), decodeBackendMessage(bytes, fdCount, options), decodeBackendReply(bytes, fdCount, backendReplyTo, options)];
}

function wellBehaved(results: DecodeResult<unknown>[]): void {
  for (const r of results) {
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(VhostUserError);
      expect(r.error.message.length).toBeGreaterThan(0);
    }
  }
}

const options = fc.record(
  {
    maxBodySize: fc.integer({ min: 0, max: 8192 }),
    maxRegions: fc.integer({ min: 1, max: 8 }),
    queueCount: fc.integer({ min: 1, max: 256 }),
    maxQueueSize: fc.integer({ min: 1, max: 32768 }),
    packed: fc.boolean(),
    maxConfigSize: fc.integer({ min: 0, max: 512 }),
  },
  { requiredKeys: [] },
);

/**
 * A sample message (with its descriptor count, usually) with a few bytes
 * overwritten, sometimes truncated or extended, and often the header size
 * fixed up to match, so that many inputs get past the header checks.
 */
const mutated = fc
  .record({
    seed: fc.constantFrom(...allSamples),
    edits: fc.oneof(
      { weight: 1, arbitrary: fc.constant([]) },
      { weight: 4, arbitrary: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }) },
    ),
    resize: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -16, max: 40 }) }),
    fixSize: fc.boolean(),
    fds: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9 }) }),
  })
  .map(({ seed, edits, resize, fixSize, fds }): { bytes: Uint8Array; fds: number } => {
    const len = Math.max(0, seed.bytes.length + resize);
    const out = new Uint8Array(len);
    out.set(seed.bytes.subarray(0, Math.min(seed.bytes.length, len)));
    for (const e of edits) if (out.length > 0) out[e.at % out.length] = e.value;
    if (fixSize && out.length >= 12) new DataView(out.buffer).setUint32(8, out.length - 12, true);
    return { bytes: out, fds: fds < 0 ? seed.fds : fds };
  });

// Generous: catches pathological (super-linear or looping) inputs, not scheduler noise on a shared CPU.
const TIME_BUDGET_MS = 500;

function timed<T>(fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  expect(performance.now() - t0).toBeLessThan(TIME_BUDGET_MS);
  return r;
}

describe("vhost-user protocol: fuzz", () => {
  it("seeds decode as the unit tests expect (at least one decoder accepts each)", () => {
    for (const bytes of allSampleBytes) {
      const accepted = [0, 1, 2].some((fds) => decodeAll(bytes, fds, {}, "GET_FEATURES", "IOTLB_MSG").some((r) => r.ok));
      // replies only decode against their own request; try all
      const asReply = frontendNames.some((n) => [0, 1].some((fds) => decodeReply(bytes, fds, n).ok)) || backendNames.some((n) => [0, 1].some((fds) => decodeBackendReply(bytes, fds, n).ok));
      expect(accepted || asReply).toBe(true);
    }
  });

  it("decoders never throw and never hang on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: -1, max: 12 }), options, fc.constantFrom(...frontendNames), fc.constantFrom(...backendNames), (bytes, fds, opts, name, bname) => {
        wellBehaved(timed(() => decodeAll(bytes, fds, opts, name, bname)));
      }),
      { numRuns: 3000, seed: 0x6e66_7669 },
    );
  });

  it("decoders never throw on mutated sample messages, and reach every error kind", () => {
    const kinds = new Set<string>();
    let accepted = 0;
    fc.assert(
      fc.property(mutated, fc.oneof(fc.constant({}), options), fc.constantFrom(...frontendNames), fc.constantFrom(...backendNames), ({ bytes, fds }, opts, name, bname) => {
        const results = timed(() => decodeAll(bytes, fds, opts, name, bname));
        wellBehaved(results);
        for (const r of results) {
          if (r.ok) accepted++;
          else kinds.add(r.error.kind);
        }
      }),
      {
        numRuns: 6000,
        seed: 0x7668_6f73,
        examples: allSamples.map((s) => [{ bytes: s.bytes, fds: s.fds }, {}, s.name in FrontendRequest ? (s.name as FrontendRequestName) : "GET_FEATURES", s.name in BackendRequest ? (s.name as BackendRequestName) : "IOTLB_MSG"] as [{ bytes: Uint8Array; fds: number }, DecodeOptions, FrontendRequestName, BackendRequestName]),
      },
    );
    expect(accepted).toBeGreaterThan(300);
    for (const k of ["truncated", "unknown-request", "bad-version", "bad-flags", "fd-count", "body-size", "invalid", "reply-mismatch"]) expect(kinds).toContain(k);
  });

  it("an accepted message re-encodes to one that decodes to the same value", () => {
    fc.assert(
      fc.property(mutated, ({ bytes, fds }) => {
        const r = decodeMessage(bytes, fds);
        if (r.ok) {
          const again = encodeMessage(r.message.name, r.message.body as never, { needReply: r.message.needReply });
          const r2 = decodeMessage(again, r.message.fdCount + r.message.unusedFds);
          expect(r2.ok && r2.message.body).toEqual(r.message.body);
        }
        const b = decodeBackendMessage(bytes, fds);
        if (b.ok) {
          const again = encodeBackendMessage(b.message.name, b.message.body as never, { needReply: b.message.needReply });
          const b2 = decodeBackendMessage(again, b.message.fdCount);
          expect(b2.ok && b2.message.body).toEqual(b.message.body);
        }
      }),
      { numRuns: 4000, seed: 0x7573_6572 },
    );
  });

  it("the framer never throws, never over-allocates and never consumes past a message on random streams", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(mutated.map((m) => m.bytes), fc.uint8Array({ maxLength: 64 })), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 1024 }),
        (parts, chunks, maxBodySize) => {
          const stream = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
          const framer = new MessageFramer({ maxBodySize });
          let off = 0;
          let i = 0;
          let fdNo = 1000;
          const given: number[] = [];
          const received: number[] = [];
          while (off < stream.length) {
            const chunk = stream.subarray(off, off + chunks[i++ % chunks.length]!);
            const fds = i % 3 === 0 ? [fdNo++] : [];
            given.push(...fds);
            const used = framer.push(chunk, fds);
            expect(used).toBeGreaterThanOrEqual(0);
            expect(used).toBeLessThanOrEqual(chunk.length);
            for (let f = framer.take(); f; f = framer.take()) {
              expect(f.bytes.length).toBeLessThanOrEqual(12 + maxBodySize);
              expect(new DataView(f.bytes.buffer, f.bytes.byteOffset).getUint32(8, true)).toBe(f.bytes.length - 12);
              received.push(...f.fds);
            }
            if (framer.error) {
              expect(framer.error).toBeInstanceOf(VhostUserError);
              expect(framer.push(chunk, [fdNo])).toBe(0);
              given.push(fdNo++);
              break;
            }
            if (used === 0 && chunk.length > 0) throw new Error("framer made no progress");
            off += used;
          }
          // every descriptor handed in comes back exactly once: in a frame or from releaseFds
          received.push(...framer.releaseFds());
          expect(received.sort((a, b) => a - b)).toEqual(given.sort((a, b) => a - b));
        },
      ),
      { numRuns: 1500, seed: 0x6672_616d },
    );
  });
});
