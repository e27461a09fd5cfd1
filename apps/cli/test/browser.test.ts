/**
 * The pages in a real browser: Debian's chromium, headless, driven by
 * playwright-core. The live dashboard while a scenario runs, and the HTML
 * report opened from disk: the charts must be drawn (canvas) with data in
 * their series, the topology as SVG. Screenshots go to artifacts/.
 * Skipped, with the reason printed, only when chromium is not installed.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startDashboard, type Dashboard } from "@nfvio/dashboard";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { showScenario } from "../src/commands/dashboard.js";
import { loadScenario } from "../src/scenario/builtin.js";
import { compare } from "../src/scenario/compare.js";
import { compareReport, writeReport } from "../src/scenario/report.js";

// The page functions below run in the browser; these are the few DOM names they use (this package has no DOM lib).
interface DomText {
  readonly textContent: string | null;
}
declare const window: unknown;
declare const document: { querySelector(s: string): DomText | null; querySelectorAll(s: string): ArrayLike<DomText> & Iterable<DomText> };

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ARTIFACTS = resolve(import.meta.dirname, "../../../artifacts");
if (!CHROMIUM) console.log("browser tests skipped: no chromium at /usr/bin/chromium (apt-get install -y chromium)");

interface Drawn {
  title: string;
  points: number;
  series: { label: string; values: number }[];
}

describe.skipIf(!CHROMIUM)("pages in chromium", () => {
  let ctx: BrowserContext;
  let profile = "";
  let dir = "";

  beforeAll(async () => {
    profile = await mkdtemp(join(tmpdir(), "nfvio-chromium-"));
    dir = await mkdtemp(join(tmpdir(), "nfvio-report-"));
    await mkdir(ARTIFACTS, { recursive: true });
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM!,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 1000 },
    });
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
    await rm(profile, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  test("the live dashboard shows the topology, live counters and charts with data while a scenario runs", async () => {
    const d: Dashboard = await startDashboard({ title: "nfvio dashboard: test" });
    try {
      expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await ctx.newPage();
      await page.goto(d.url);
      await page.waitForFunction(() => (window as unknown as { nfvio?: { ready?: boolean } }).nfvio?.ready === true);
      const { scenario } = loadScenario("north-south-baseline");
      // Runs while the page is open: samples arrive over server-sent events.
      await showScenario(d, { ...scenario, duration: "200us", warmup: "50us", drain: "200us" }, ["vhost-net", "offload"], 5);
      d.status("done");
      await page.waitForFunction(() => document.querySelector("#status")?.textContent === "done");
      await page.waitForFunction(() => ((window as unknown as { nfvio: { live: { samples: number } } }).nfvio.live.samples ?? 0) >= 40);
      const state = await page.evaluate(() => {
        const w = window as unknown as { nfvio: { drawn: Record<string, Drawn>; live: { samples: number; events: number } } };
        return {
          drawn: w.nfvio.drawn,
          samples: w.nfvio.live.samples,
          canvases: document.querySelectorAll("canvas").length,
          topologies: document.querySelectorAll("svg.topology").length,
          counters: [...document.querySelectorAll("svg.topology text.counter")].map((t) => t.textContent ?? ""),
          tables: document.querySelectorAll("section.table").length,
        };
      });
      expect(state.topologies).toBe(2);
      expect(state.canvases).toBeGreaterThanOrEqual(4);
      expect(state.counters.some((t) => /rx [1-9]/.test(t))).toBe(true);
      const rate = Object.entries(state.drawn).filter(([k]) => k.endsWith("-rate"));
      expect(rate.length).toBe(2);
      for (const [, c] of rate) {
        expect(c.points).toBeGreaterThan(10);
        for (const s of c.series) expect(s.values).toBeGreaterThan(10);
      }
      expect(state.tables).toBe(2); // one summary per run
      // Polling clients get the same state.
      const json = (await (await fetch(`${d.url}state.json`)).json()) as { runs: { samples: unknown[] }[] };
      expect(json.runs.length).toBe(2);
      expect(json.runs[0]!.samples.length).toBeGreaterThan(10);
      await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
      await page.close();
    } finally {
      await d.close();
    }
  });

  test("the HTML report opens from disk, offline, with every chart drawn from data", async () => {
    const res = await compare({ quick: true, sizes: ["64", "1518"] });
    const files = await writeReport(dir, "compare", res, compareReport(res));
    const page = await ctx.newPage();
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(files.html).href);
    await page.waitForFunction(() => (window as unknown as { nfvio?: { ready?: boolean } }).nfvio?.ready === true);
    const state = await page.evaluate(() => {
      const w = window as unknown as { nfvio: { drawn: Record<string, Drawn> } };
      return { drawn: w.nfvio.drawn, canvases: document.querySelectorAll("canvas").length, svgs: document.querySelectorAll("svg.topology").length, rows: document.querySelectorAll("table tr").length };
    });
    // Nothing but the file itself was loaded: the chart library is inlined.
    expect(requests.filter((u) => !u.startsWith("file:"))).toEqual([]);
    const charts = Object.entries(state.drawn).filter(([k]) => !k.startsWith("topology:"));
    expect(charts.map(([k]) => k).sort()).toEqual(
      ["latency-east-west", "latency-north-south", "scale-cores", "scale-queues", "scale-vms", "size-gbps", "size-hostCyclesPerPacket", "size-mpps"].sort(),
    );
    expect(state.canvases).toBeGreaterThanOrEqual(charts.length);
    for (const [id, c] of charts) {
      expect(c.points, id).toBeGreaterThan(0);
      for (const s of c.series) expect(s.values, `${id}: ${s.label}`).toBeGreaterThan(0);
    }
    expect(state.svgs).toBe(4);
    expect(state.rows).toBeGreaterThan(8);
    await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
    await page.close();
  });
});
