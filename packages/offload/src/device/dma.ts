/**
 * The DMA engine's data movement: bytes between the segments of a popped
 * virtqueue chain in guest memory and the device's packet buffers, without
 * the host CPU's involvement in the model's accounting and without
 * allocating per packet. The segment walk is `@nfvio/virtio`'s (one for
 * every datapath); these are its names in the device.
 */
export { GuestSpace, readChainViews as readChain, writeChainViews as writeChain } from "@nfvio/virtio";
