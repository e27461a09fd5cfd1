// Worker for sys.test.ts: maps a memfd received as a plain fd number (descriptors are
// process-wide), checks what the main thread wrote, writes back, and reports.
import { parentPort, workerData } from "node:worker_threads";
import { mmap } from "../src/sys/index.js";

const { fd, size } = workerData as { fd: number; size: number };
const m = mmap(fd, size);
const bytes = new Uint8Array(m.buffer);
const seen = Array.from(bytes.subarray(0, 4));
bytes.set([0xca, 0xfe], 4096);
m.unmap();
parentPort!.postMessage({ seen });
