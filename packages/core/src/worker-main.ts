/** Entry point of an nfvio worker thread (started by the engine's placement). */
import { parentPort, workerData } from "node:worker_threads";
import type { WorkerInit } from "./placement.js";
import { runWorker } from "./runtime.js";

if (!parentPort) throw new Error("@nfvio/core worker-main must run in a worker thread");
await runWorker(workerData as WorkerInit, parentPort);
