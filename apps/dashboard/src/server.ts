/**
 * The live dashboard server: node:http on 127.0.0.1.
 *
 * - `GET /`            the page (uPlot inlined; it needs nothing else)
 * - `GET /events`      server-sent events: `state` (everything so far, first), then `run`, `sample`, `summary`, `status`
 * - `GET /state.json`  everything so far, for polling clients
 * - `GET /report`      the HTML report, once one is set
 *
 * Port 0 (the default) lets the system pick a free port; `url` says which.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { renderLivePage } from "./report.js";
import type { LiveRun, LiveSample, LiveState, TopologyView } from "./types.js";

export interface DashboardOptions {
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1; the dashboard is for this machine). */
  host?: string;
  title?: string;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  readonly state: LiveState;
  /** Start showing a run. */
  addRun(id: string, title: string, topology: TopologyView): void;
  sample(id: string, s: LiveSample): void;
  summary(id: string, summary: Record<string, string | number>): void;
  status(text: string): void;
  /** Serve this HTML report file at /report. */
  setReport(path: string): void;
  /** Clients connected to /events now. */
  readonly clients: number;
  close(): Promise<void>;
}

/** Start the dashboard server. */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const state: LiveState = { title: options.title ?? "nfvio dashboard", status: "waiting", runs: [], report: null };
  const clients = new Set<ServerResponse>();
  let page: string | null = null;
  const send = (event: string, data: unknown): void => {
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) c.write(msg);
  };
  const runOf = (id: string): LiveRun | undefined => state.runs.find((r) => r.id === id);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (url.pathname) {
      case "/":
      case "/index.html":
        page ??= renderLivePage(state.title);
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(page);
        return;
      case "/state.json":
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(state));
        return;
      case "/events":
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
        res.write(`event: state\ndata: ${JSON.stringify(state)}\n\n`);
        clients.add(res);
        req.on("close", () => clients.delete(res));
        return;
      case "/report":
        if (state.report === null) {
          res.writeHead(404, { "content-type": "text/plain" }).end("no report yet\n");
          return;
        }
        readFile(state.report, "utf8").then(
          (html) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html),
          () => res.writeHead(404, { "content-type": "text/plain" }).end("report file is gone\n"),
        );
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  };

  const server: Server = createServer(handle);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // Keep-alive pings so proxies and browsers keep the stream open while a long run is quiet.
  const ping = setInterval(() => {
    for (const c of clients) c.write(": ping\n\n");
  }, 15_000);
  ping.unref();

  return {
    url: `http://${host}:${port}/`,
    port,
    state,
    get clients() {
      return clients.size;
    },
    addRun(id, title, topology) {
      const run: LiveRun = { id, title, topology, samples: [], summary: null };
      state.runs.push(run);
      send("run", run);
    },
    sample(id, s) {
      runOf(id)?.samples.push(s);
      send("sample", { id, sample: s });
    },
    summary(id, summary) {
      const r = runOf(id);
      if (r) r.summary = summary;
      send("summary", { id, summary });
    },
    status(text) {
      state.status = text;
      send("status", { status: text, report: state.report });
    },
    setReport(path) {
      state.report = path;
      send("status", { status: state.status, report: path });
    },
    async close() {
      clearInterval(ping);
      for (const c of clients) c.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
}
