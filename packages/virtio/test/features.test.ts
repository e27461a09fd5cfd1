/**
 * Feature bits (virtio 1.2 §6 and §5.1.3), the network device's feature
 * requirements (§5.1.3.1), negotiation, and the device status bits (§2.1).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtioError } from "../src/errors.js";
import * as F from "../src/features.js";

describe("bit numbers", () => {
  it("device-independent bits (§6)", () => {
    const bits: Array<[bigint, number]> = [
      [F.VIRTIO_F_NOTIFY_ON_EMPTY, 24],
      [F.VIRTIO_F_ANY_LAYOUT, 27],
      [F.VIRTIO_F_INDIRECT_DESC, 28],
      [F.VIRTIO_F_EVENT_IDX, 29],
      [F.VIRTIO_F_VERSION_1, 32],
      [F.VIRTIO_F_ACCESS_PLATFORM, 33],
      [F.VIRTIO_F_RING_PACKED, 34],
      [F.VIRTIO_F_IN_ORDER, 35],
      [F.VIRTIO_F_ORDER_PLATFORM, 36],
      [F.VIRTIO_F_SR_IOV, 37],
      [F.VIRTIO_F_NOTIFICATION_DATA, 38],
      [F.VIRTIO_F_NOTIF_CONFIG_DATA, 39],
      [F.VIRTIO_F_RING_RESET, 40],
      [F.VIRTIO_F_ADMIN_VQ, 41],
    ];
    for (const [mask, bit] of bits) expect(mask).toBe(1n << BigInt(bit));
  });
  it("network device bits (§5.1.3)", () => {
    const bits: Array<[bigint, number]> = [
      [F.VIRTIO_NET_F_CSUM, 0],
      [F.VIRTIO_NET_F_GUEST_CSUM, 1],
      [F.VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, 2],
      [F.VIRTIO_NET_F_MTU, 3],
      [F.VIRTIO_NET_F_MAC, 5],
      [F.VIRTIO_NET_F_GSO, 6],
      [F.VIRTIO_NET_F_GUEST_TSO4, 7],
      [F.VIRTIO_NET_F_GUEST_TSO6, 8],
      [F.VIRTIO_NET_F_GUEST_ECN, 9],
      [F.VIRTIO_NET_F_GUEST_UFO, 10],
      [F.VIRTIO_NET_F_HOST_TSO4, 11],
      [F.VIRTIO_NET_F_HOST_TSO6, 12],
      [F.VIRTIO_NET_F_HOST_ECN, 13],
      [F.VIRTIO_NET_F_HOST_UFO, 14],
      [F.VIRTIO_NET_F_MRG_RXBUF, 15],
      [F.VIRTIO_NET_F_STATUS, 16],
      [F.VIRTIO_NET_F_CTRL_VQ, 17],
      [F.VIRTIO_NET_F_CTRL_RX, 18],
      [F.VIRTIO_NET_F_CTRL_VLAN, 19],
      [F.VIRTIO_NET_F_CTRL_RX_EXTRA, 20],
      [F.VIRTIO_NET_F_GUEST_ANNOUNCE, 21],
      [F.VIRTIO_NET_F_MQ, 22],
      [F.VIRTIO_NET_F_CTRL_MAC_ADDR, 23],
      [F.VIRTIO_NET_F_GUEST_RSC4, 41],
      [F.VIRTIO_NET_F_GUEST_RSC6, 42],
      [F.VIRTIO_NET_F_DEVICE_STATS, 50],
      [F.VIRTIO_NET_F_HASH_TUNNEL, 51],
      [F.VIRTIO_NET_F_VQ_NOTF_COAL, 52],
      [F.VIRTIO_NET_F_NOTF_COAL, 53],
      [F.VIRTIO_NET_F_GUEST_USO4, 54],
      [F.VIRTIO_NET_F_GUEST_USO6, 55],
      [F.VIRTIO_NET_F_HOST_USO, 56],
      [F.VIRTIO_NET_F_HASH_REPORT, 57],
      [F.VIRTIO_NET_F_GUEST_HDRLEN, 59],
      [F.VIRTIO_NET_F_RSS, 60],
      [F.VIRTIO_NET_F_RSC_EXT, 61],
      [F.VIRTIO_NET_F_STANDBY, 62],
      [F.VIRTIO_NET_F_SPEED_DUPLEX, 63],
    ];
    for (const [mask, bit] of bits) expect(mask).toBe(1n << BigInt(bit));
  });
  it("the info tables agree with the constants and have unique bits", () => {
    for (const t of [F.TRANSPORT_FEATURES, F.NET_FEATURES]) {
      expect(new Set(t.map((f) => f.bit)).size).toBe(t.length);
      for (const f of t) expect(f.mask).toBe(1n << BigInt(f.bit));
    }
    expect(F.NET_FEATURES.find((f) => f.name === "VIRTIO_NET_F_GSO")!.legacy).toBe(true);
  });
  it("featureNames names set bits and marks unknown ones", () => {
    expect(F.featureNames(F.VIRTIO_F_VERSION_1 | F.VIRTIO_NET_F_MAC | (1n << 4n))).toEqual(["bit 4", "VIRTIO_NET_F_MAC", "VIRTIO_F_VERSION_1"]);
    expect(F.featureNames(0n)).toEqual([]);
  });
  it("device status bits (§2.1)", () => {
    expect(F.DeviceStatus).toEqual({ ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, SUSPEND: 16, DEVICE_NEEDS_RESET: 64, FAILED: 128 });
  });
});

describe("negotiation (§5.1.3.1)", () => {
  const base = F.VIRTIO_F_VERSION_1 | F.VIRTIO_F_EVENT_IDX;
  it("returns offered ∩ wanted", () => {
    const offered = base | F.VIRTIO_NET_F_MAC | F.VIRTIO_NET_F_CSUM | F.VIRTIO_F_RING_PACKED;
    const wanted = base | F.VIRTIO_NET_F_MAC | F.VIRTIO_NET_F_MRG_RXBUF;
    expect(F.negotiateFeatures(offered, wanted)).toBe(base | F.VIRTIO_NET_F_MAC);
  });
  it("GUEST_TSO4 without GUEST_CSUM fails with kind 'negotiation'", () => {
    const set = base | F.VIRTIO_NET_F_GUEST_TSO4;
    let err: unknown = null;
    try {
      F.negotiateFeatures(set, set);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VirtioError);
    expect((err as VirtioError).kind).toBe("negotiation");
    expect((err as VirtioError).message).toContain("VIRTIO_NET_F_GUEST_TSO4 requires VIRTIO_NET_F_GUEST_CSUM");
  });
  it("a dependency dropped by the intersection is caught too", () => {
    const offered = base | F.VIRTIO_NET_F_GUEST_TSO4 | F.VIRTIO_NET_F_GUEST_CSUM;
    const wanted = base | F.VIRTIO_NET_F_GUEST_TSO4;
    expect(() => F.negotiateFeatures(offered, wanted)).toThrow(/GUEST_TSO4 requires/);
    expect(F.negotiateFeatures(offered, wanted | F.VIRTIO_NET_F_GUEST_CSUM)).toBe(offered);
  });
  it("'one of' requirements: GUEST_ECN needs TSO4 or TSO6; HASH_TUNNEL needs CTRL_VQ and RSS or HASH_REPORT", () => {
    const ecn = F.VIRTIO_NET_F_GUEST_ECN | F.VIRTIO_NET_F_GUEST_CSUM;
    expect(F.featureProblems(ecn)).toEqual(["VIRTIO_NET_F_GUEST_ECN requires one of VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6"]);
    expect(F.featureProblems(ecn | F.VIRTIO_NET_F_GUEST_TSO6)).toEqual([]);
    expect(F.featureProblems(F.VIRTIO_NET_F_HASH_TUNNEL)).toHaveLength(2);
    expect(F.featureProblems(F.VIRTIO_NET_F_HASH_TUNNEL | F.VIRTIO_NET_F_CTRL_VQ | F.VIRTIO_NET_F_HASH_REPORT)).toEqual([]);
  });
  it("every §5.1.3.1 rule is enforced", () => {
    const rules: Array<[bigint, bigint]> = [
      [F.VIRTIO_NET_F_GUEST_TSO6, F.VIRTIO_NET_F_GUEST_CSUM],
      [F.VIRTIO_NET_F_GUEST_UFO, F.VIRTIO_NET_F_GUEST_CSUM],
      [F.VIRTIO_NET_F_GUEST_USO4, F.VIRTIO_NET_F_GUEST_CSUM],
      [F.VIRTIO_NET_F_GUEST_USO6, F.VIRTIO_NET_F_GUEST_CSUM],
      [F.VIRTIO_NET_F_HOST_TSO4, F.VIRTIO_NET_F_CSUM],
      [F.VIRTIO_NET_F_HOST_TSO6, F.VIRTIO_NET_F_CSUM],
      [F.VIRTIO_NET_F_HOST_UFO, F.VIRTIO_NET_F_CSUM],
      [F.VIRTIO_NET_F_HOST_USO, F.VIRTIO_NET_F_CSUM],
      [F.VIRTIO_NET_F_CTRL_RX, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_CTRL_VLAN, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_GUEST_ANNOUNCE, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_MQ, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_CTRL_MAC_ADDR, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_NOTF_COAL, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_RSS, F.VIRTIO_NET_F_CTRL_VQ],
      [F.VIRTIO_NET_F_VQ_NOTF_COAL, F.VIRTIO_NET_F_CTRL_VQ],
    ];
    for (const [feature, needs] of rules) {
      expect(F.featureProblems(feature)).toHaveLength(1);
      expect(F.featureProblems(feature | needs)).toEqual([]);
    }
    expect(F.featureProblems(F.VIRTIO_NET_F_HOST_ECN | F.VIRTIO_NET_F_CSUM)).toHaveLength(1);
    expect(F.featureProblems(F.VIRTIO_NET_F_RSC_EXT | F.VIRTIO_NET_F_HOST_TSO4 | F.VIRTIO_NET_F_CSUM)).toEqual([]);
  });
  it("required bits must be negotiated", () => {
    expect(() => F.negotiateFeatures(F.VIRTIO_NET_F_MAC, F.VIRTIO_NET_F_MAC | F.VIRTIO_F_VERSION_1, { required: F.VIRTIO_F_VERSION_1 })).toThrow(/required VIRTIO_F_VERSION_1 not offered/);
    expect(() => F.negotiateFeatures(F.VIRTIO_F_VERSION_1, 0n, { required: F.VIRTIO_F_VERSION_1 })).toThrow(/not wanted/);
  });
  it("property: the result is a subset of both sides and either consistent or an error", () => {
    const bits = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(bits, bits, (offered, wanted) => {
        try {
          const r = F.negotiateFeatures(offered, wanted);
          expect(r & ~offered).toBe(0n);
          expect(r & ~wanted).toBe(0n);
          expect(F.featureProblems(r)).toEqual([]);
        } catch (e) {
          expect((e as VirtioError).kind).toBe("negotiation");
          expect(F.featureProblems(offered & wanted).length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});
