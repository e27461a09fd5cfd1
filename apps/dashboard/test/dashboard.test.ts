/** The dashboard server (HTTP + server-sent events) and the report renderer, without a browser. */
import { request } from "node:http";
import { describe, expect, test } from "vitest";
import { renderLivePage, renderReport, startDashboard, uplotVersion, type ReportData } from "../src/index.js";

const DATA: ReportData = {
  title: "t </script><script>alert(1)</script>",
  subtitle: "s",
  notes: ["a note with </script> in it"],
  tables: [{ title: "T", headers: ["a", "b"], rows: [["x", 1.5]] }],
  charts: [{ id: "c", title: "C", kind: "line", xLabel: "x", yLabel: "y", x: [1, 2, 3], series: [{ label: "s", values: [1, null, 3] }] }],
  topologies: [{ title: "topo", backend: "b", nodes: [{ id: "w", kind: "wire", label: "w", group: "w" }], edges: [] }],
};

/** Read an SSE stream until `n` events arrived. */
function events(url: string, n: number): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const got: { event: string; data: unknown }[] = [];
    const req = request(url, (res) => {
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let k: number;
        while ((k = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev && data) got.push({ event: ev, data: JSON.parse(data) });
          if (got.length >= n) {
            req.destroy();
            resolve(got);
            return;
          }
        }
      });
    });
    req.on("error", (e) => (got.length >= n ? undefined : reject(e)));
    req.end();
  });
}

describe("report", () => {
  test("is one self-contained document: uPlot, styles, scripts and data inlined, nothing fetched", () => {
    const html = renderReport(DATA);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import/);
    expect(html).toContain(`uPlot ${uplotVersion()}`);
    expect(uplotVersion()).toBe("1.6.32");
    // Text that would end a script element cannot escape the data block.
    expect(html).not.toContain("</script><script>alert(1)");
    const m = /<script type="application\/json" id="nfvio-data">(.*?)<\/script>/s.exec(html);
    expect(JSON.parse(m![1]!)).toEqual(DATA);
    expect(html.match(/<\/script>/g)!.length).toBe(4);
  });

  test("the live page inlines the same library", () => {
    const html = renderLivePage("live");
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toContain("EventSource");
  });
});

describe("dashboard server", () => {
  test("serves the page, the state, a stream of events (state first) and 404s, on 127.0.0.1 with a free port", async () => {
    const d = await startDashboard({ title: "test" });
    try {
      expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(d.port).toBeGreaterThan(0);
      const page = await fetch(d.url);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      expect(await page.text()).toContain("<title>test</title>");
      d.addRun("r1", "Run 1", DATA.topologies[0]!);
      const stream = events(`${d.url}events`, 3);
      await new Promise((r) => setTimeout(r, 100));
      d.sample("r1", { tNs: 1000, offeredMpps: 10, rxMpps: 5, hostCores: 1, nodes: { w: { rx: 1, tx: 2 } } });
      d.status("running");
      const got = await stream;
      expect(got.map((e) => e.event)).toEqual(["state", "sample", "status"]);
      expect((got[0]!.data as { runs: unknown[] }).runs.length).toBe(1);
      expect(got[1]!.data).toEqual({ id: "r1", sample: { tNs: 1000, offeredMpps: 10, rxMpps: 5, hostCores: 1, nodes: { w: { rx: 1, tx: 2 } } } });
      const state = (await (await fetch(`${d.url}state.json`)).json()) as { status: string; runs: { samples: unknown[] }[] };
      expect(state.status).toBe("running");
      expect(state.runs[0]!.samples.length).toBe(1);
      expect((await fetch(`${d.url}report`)).status).toBe(404);
      expect((await fetch(`${d.url}nope`)).status).toBe(404);
      expect((await fetch(d.url, { method: "POST" })).status).toBe(405);
    } finally {
      await d.close();
    }
  });
});
