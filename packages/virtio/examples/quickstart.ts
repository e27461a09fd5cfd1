import {
  GuestMemory,
  SplitDevice,
  SplitDriver,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_VERSION_1,
  newDescChains,
  readFromChain,
  splitRingLayout,
} from "../src/index.js";

export function quickstart(): string {
  // 64 KiB of guest memory at guest-physical 0x10000, a 256-entry split ring at its start.
  const mem = GuestMemory.fromBuffer(new SharedArrayBuffer(0x10000), 0x10000);
  const ring = splitRingLayout(256, 0x10000, { usedAlign: 64 });
  const features = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX;
  const driver = SplitDriver.fromLayout(mem, ring, features); // the guest side
  const device = SplitDevice.fromLayout(mem, ring, features); // the host / hardware side

  // Driver: put a frame in a guest buffer and make it available.
  const buf = 0x18000;
  mem.write(buf, new TextEncoder().encode("hello, virtio"));
  driver.add(Float64Array.of(buf), Uint32Array.of(13), 1, 0, /* token */ 42);
  const kick = driver.publish(); // true: the device wants a notification

  // Device: pop a burst of chains, read them, return them used.
  const chains = newDescChains(32, 256);
  const n = device.popBurst(chains, 32);
  const bytes = new Uint8Array(chains[0]!.readBytes);
  readFromChain(mem, chains[0]!, 0, bytes, 0, bytes.length);
  device.pushUsed(chains[0]!, 0);
  const interrupt = device.publishUsed();

  // Driver: reclaim the buffer by its token.
  const tokens = new Uint32Array(32);
  const lens = new Uint32Array(32);
  const done = driver.reclaim(tokens, lens, 32);
  return `${n} popped, kick=${kick}, "${new TextDecoder().decode(bytes)}", interrupt=${interrupt}, reclaimed ${done} (token ${tokens[0]})`;
}
