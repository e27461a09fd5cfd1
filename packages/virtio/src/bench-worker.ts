/** Worker entry of the ring benchmark: runs one side and reports once (see bench.ts). */
import { parentPort, workerData } from "node:worker_threads";
import { runBenchRole, type BenchWorkerData } from "./bench.js";

parentPort?.postMessage(runBenchRole(workerData as BenchWorkerData));
