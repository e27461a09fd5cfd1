/**
 * Modelled runs: the device's rate follows its profile, runs are
 * deterministic, and the baseline (vhost-net) moves the same traffic with
 * host-CPU copies where the device has none.
 */
import { describe, expect, it } from "vitest";
import { DPAA_LIKE_PROFILE, GENERIC_SMARTNIC_PROFILE, loadDeviceProfile } from "../src/device/profile.js";
import { offloadEastWest, offloadNorthSouth, vhostEastWest, vhostNorthSouth } from "../bench/scenario.js";

/** Frames per second a line carries at `bytes` stored bytes per frame (+24 bytes of L1 overhead and FCS). */
const lineRateMpps = (gbps: number, bytes: number): number => (gbps * 1e3) / ((bytes + 24) * 8);

describe("modelled device rate follows the profile", () => {
  it("DPAA-like: 64-byte frames at line rate (2x10G + 2x2.5G) go through at the frame manager's 37.2 Mpps", () => {
    expect(lineRateMpps(25, 60)).toBeCloseTo(37.2, 1);
    const r = offloadNorthSouth({ profile: DPAA_LIKE_PROFILE, frames: 40_000 });
    expect(r.delivered).toBe(40_000);
    expect(r.mpps).toBeGreaterThan(37.2 * 0.98);
    expect(r.mpps).toBeLessThan(37.2 * 1.005);
  });

  it("DPAA-like saturates near 37.2 Mpps when offered more, and drops the excess at the ingress FIFO, counted", () => {
    const r = offloadNorthSouth({ profile: DPAA_LIKE_PROFILE, frames: 40_000, offerGbps: 40 });
    expect(r.mpps).toBeGreaterThan(37.2 * 0.97);
    expect(r.mpps).toBeLessThan(37.2 * 1.005);
    expect(r.device["drop.ingressOverrun"]).toBeGreaterThan(0);
    expect(r.delivered + r.device["drop.ingressOverrun"]!).toBe(40_000);
  });

  it("a slower parser in the profile caps the device at that rate", () => {
    const slow = loadDeviceProfile({ stages: { parser: { ratePps: 20e6 } } }, DPAA_LIKE_PROFILE);
    expect(slow.stages["parser"]!.ratePps!.source).toBe("user override");
    const r = offloadNorthSouth({ profile: slow, frames: 20_000 });
    expect(r.mpps).toBeGreaterThan(20 * 0.97);
    expect(r.mpps).toBeLessThan(20 * 1.005);
    expect(r.delivered + r.device["drop.ingressOverrun"]!).toBe(20_000);
  });

  it("generic SmartNIC: 1514-byte frames at 100 GbE line rate", () => {
    const r = offloadNorthSouth({ profile: GENERIC_SMARTNIC_PROFILE, frames: 10_000, frameSize: 1514 });
    expect(r.delivered).toBe(10_000);
    expect(r.mpps).toBeGreaterThan(lineRateMpps(100, 1514) * 0.98);
    expect(r.mpps).toBeLessThan(lineRateMpps(100, 1514) * 1.005);
  });

  it("east-west on the DPAA-like profile runs at the frame manager's rate", () => {
    const r = offloadEastWest({ profile: DPAA_LIKE_PROFILE, frames: 30_000 });
    expect(r.delivered).toBe(30_000);
    expect(r.mpps).toBeGreaterThan(37.2 * 0.97);
    expect(r.mpps).toBeLessThan(37.2 * 1.005);
  });

  it("is deterministic: the same run twice gives the same counters, resources and times", () => {
    const a = offloadNorthSouth({ profile: DPAA_LIKE_PROFILE, frames: 5000, offerGbps: 40 });
    const b = offloadNorthSouth({ profile: DPAA_LIKE_PROFILE, frames: 5000, offerGbps: 40 });
    expect(b).toEqual(a);
    const c = offloadEastWest({ frames: 3000 });
    const d = offloadEastWest({ frames: 3000 });
    expect(d).toEqual(c);
  });
});

describe("the baseline moves the same traffic with host-CPU copies; the device with none", () => {
  it("north-south", () => {
    const off = offloadNorthSouth({ frames: 5000, offerGbps: 1 });
    const base = vhostNorthSouth({ frames: 5000, offerGbps: 1 });
    expect(off.delivered).toBe(5000);
    expect(base.delivered).toBe(5000);
    expect(off.hostCopyBytes).toBe(0);
    expect(off.hostCyclesPerFrame).toBe(0);
    expect(off.dmaBytes).toBeGreaterThanOrEqual(5000 * 60);
    // vhost-net copies every frame (and its header) into the guest's buffer on the host CPU.
    expect(base.hostCopyBytes).toBeGreaterThanOrEqual(5000 * 60);
    expect(base.device["copies"]).toBeGreaterThanOrEqual(5000);
    expect(base.hostCyclesPerFrame).toBeGreaterThan(300);
  });

  it("east-west", () => {
    const off = offloadEastWest({ frames: 3000 });
    const base = vhostEastWest({ frames: 3000 });
    expect(off.delivered).toBe(3000);
    expect(off.hostCopyBytes).toBe(0);
    expect(off.device["dmaReadBytes"]).toBe(3000 * (60 + 12));
    // Out of VM1 and into VM2: two host-CPU copies per frame delivered.
    expect(base.hostCopyBytes).toBeGreaterThanOrEqual(2 * base.delivered * 60);
    expect(base.device["vm1.copies"]! + base.device["vm2.copies"]!).toBeGreaterThanOrEqual(2 * base.delivered);
    // Frames vhost-net could not take are dropped by name, so the baseline conserves too.
    expect(base.delivered + base.device["vm2.rxDropQueueFull"]! + base.device["vm1.txDropHost"]!).toBe(3000);
  });
});
