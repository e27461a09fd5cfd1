import { describe, expect, it } from "vitest";
import { OffloadError } from "../src/errors.js";
import {
  BUILTIN_STAGES,
  DEVICE_PROFILES,
  DPAA_LIKE_PROFILE,
  GENERIC_SMARTNIC_PROFILE,
  loadDeviceProfile,
  stageCapacityPps,
  validateDeviceProfile,
  type DeviceProfile,
} from "../src/device/profile.js";
import { offloadDeviceFeatures } from "../src/device/device.js";
import { VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_RSS } from "@nfvio/virtio";

/** Every `{ value, unit, source }` entry in an object. */
function entries(o: unknown, path = ""): { path: string; source: string }[] {
  if (typeof o !== "object" || o === null) return [];
  const r = o as Record<string, unknown>;
  if (typeof r["value"] === "number" && typeof r["source"] === "string") return [{ path, source: r["source"] as string }];
  return Object.entries(r).flatMap(([k, v]) => entries(v, path ? `${path}.${k}` : k));
}

describe("device profiles", () => {
  it("every shipped figure names its source, and assumptions say so", () => {
    for (const p of Object.values(DEVICE_PROFILES)) {
      const es = entries(p);
      expect(es.length).toBeGreaterThan(30);
      for (const e of es) expect(e.source.length, `${p.name}: ${e.path}`).toBeGreaterThan(10);
      for (const s of BUILTIN_STAGES) expect(p.stages[s], `${p.name}: ${s}`).toBeDefined();
      expect(p.offloads.source.length).toBeGreaterThan(10);
      expect(p.classifierSource.length).toBeGreaterThan(10);
    }
    // The stage latencies nobody publishes are marked as assumptions.
    expect(DPAA_LIKE_PROFILE.stages["parser"]!.latencyNs.source).toMatch(/assumption/);
    expect(GENERIC_SMARTNIC_PROFILE.stages["classifier"]!.latencyNs.source).toMatch(/assumption/);
  });

  it("DPAA-like: the T2080 frame manager's 37.2 Mpps is line rate for 2x10G + 2x2.5G at 64 bytes", () => {
    const p = DPAA_LIKE_PROFILE;
    for (const s of ["parser", "classifier", "distributor"]) {
      expect(p.stages[s]!.ratePps!.value).toBe(37.2e6);
      expect(p.stages[s]!.ratePps!.source).toMatch(/T2080 Product Brief.*37\.2 Mpps/);
    }
    expect(p.stages["mac"]!.gbps!.value).toBe(25);
    // 25 Gbit/s over 60 stored bytes + 24 bytes of FCS, preamble and gap = 37.2 Mpps.
    expect(stageCapacityPps(p.stages["mac"]!, 60) / 1e6).toBeCloseTo(37.2, 1);
    expect(p.offloads.tso).toBe(false);
    expect(offloadDeviceFeatures(p) & VIRTIO_NET_F_HOST_TSO4).toBe(0n);
    expect(offloadDeviceFeatures(p) & VIRTIO_NET_F_GUEST_CSUM).toBe(VIRTIO_NET_F_GUEST_CSUM);
  });

  it("generic SmartNIC: 100 GbE, ConnectX-6 message rate, PCIe 4.0 x16 DMA", () => {
    const p = GENERIC_SMARTNIC_PROFILE;
    expect(p.stages["mac"]!.gbps!.value).toBe(100);
    expect(p.stages["classifier"]!.ratePps!.value).toBe(215e6);
    expect(p.stages["dmaWrite"]!.gbps!.value).toBe(252);
    expect(p.stages["dmaWrite"]!.latencyNs.value).toBe(500);
    expect(offloadDeviceFeatures(p) & (VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_RSS)).toBe(VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_RSS);
  });

  it("loads from JSON on top of a base: bare numbers override values, entries override whole figures, new stages can be priced", () => {
    const json = JSON.stringify({
      name: "my-nic",
      stages: {
        classifier: { ratePps: 100e6 },
        dmaWrite: { latencyNs: { value: 900, source: "measured on host A" } },
        meter: { ratePps: 50e6, latencyNs: 10 },
      },
      queueDepthFrames: 64,
      offloads: { tso: false },
    });
    const p = loadDeviceProfile(json, GENERIC_SMARTNIC_PROFILE);
    expect(p.name).toBe("my-nic");
    expect(p.stages["classifier"]!.ratePps).toEqual({ value: 100e6, unit: "packets/s", source: "user override" });
    expect(p.stages["classifier"]!.latencyNs).toEqual(GENERIC_SMARTNIC_PROFILE.stages["classifier"]!.latencyNs);
    expect(p.stages["dmaWrite"]!.latencyNs).toEqual({ value: 900, unit: "ns", source: "measured on host A" });
    expect(p.stages["meter"]!.ratePps!.unit).toBe("packets/s");
    expect(p.queueDepthFrames.value).toBe(64);
    expect(p.offloads.tso).toBe(false);
    expect(p.offloads.rss).toBe(true);
    // The base is untouched.
    expect(GENERIC_SMARTNIC_PROFILE.stages["classifier"]!.ratePps!.value).toBe(215e6);
    // A round trip through JSON validates as is.
    expect(validateDeviceProfile(JSON.parse(JSON.stringify(DPAA_LIKE_PROFILE)))).toEqual(DPAA_LIKE_PROFILE);
  });

  it("refuses what is not a profile, naming the field", () => {
    const bad = (o: unknown, re: RegExp): void => {
      let err: unknown;
      try {
        loadDeviceProfile(o);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OffloadError);
      expect((err as OffloadError).kind).toBe("malformed");
      expect((err as Error).message).toMatch(re);
    };
    bad("{ nope", /not valid JSON/);
    bad([], /expected an object/);
    bad({ stages: { parser: { ratePps: 0 } } }, /stages\.parser\.ratePps\.value: must be greater than 0/);
    bad({ stages: { newStage: { latencyNs: 5 } } }, /stages\.newStage: a stage needs ratePps or gbps/);
    bad({ offloads: { txChecksum: false } }, /offloads\.tso: TSO needs txChecksum/);
    bad({ queueDepthFrames: 1.5 }, /queueDepthFrames\.value: must be a positive integer/);
    bad({ classifier: { tables: [{ kind: "exact", capacity: 1, fields: ["nope"], actions: [] }] } }, /classifier\.tables\.0\.fields\.0/);
    bad({ extra: 1 }, /Unrecognized key/);
    const noMac: Record<string, unknown> = { ...(JSON.parse(JSON.stringify(GENERIC_SMARTNIC_PROFILE)) as DeviceProfile) };
    delete (noMac["stages"] as Record<string, unknown>)["mac"];
    expect(() => validateDeviceProfile(noMac)).toThrow(/stages\.mac: every profile prices this stage/);
  });
});
