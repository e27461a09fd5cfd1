#!/usr/bin/env node
import { HELLO } from "@nfvio/virtio";
import { Worker } from "node:worker_threads";
const w = new Worker(new URL("../../../packages/virtio/test/smoke.worker.ts", import.meta.url));
w.on("message", (m) => { console.log("nfvio", HELLO, m); void w.terminate(); });
