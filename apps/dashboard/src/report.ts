/**
 * The HTML report: one self-contained file. uPlot's script and styles, the
 * page's own script and the data are all inlined, so it opens offline,
 * from disk, with nothing else beside it.
 */
import { asset, escapeHtml, jsonScript, scriptSafe, uplotCss, uplotJs, uplotVersion } from "./assets.js";
import type { ReportData } from "./types.js";

/** Render the report as one HTML document. */
export function renderReport(data: ReportData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nfvio (charts: uPlot ${escapeHtml(uplotVersion())}, inlined)">
<title>${escapeHtml(data.title)}</title>
<style>${uplotCss()}</style>
<style>${asset("style.css")}</style>
</head>
<body>
<header><h1>${escapeHtml(data.title)}</h1><p>${escapeHtml(data.subtitle)}</p></header>
<main id="main"></main>
<script type="application/json" id="nfvio-data">${jsonScript(data)}</script>
<script>${scriptSafe(uplotJs())}</script>
<script>${scriptSafe(asset("charts.js"))}</script>
<script>${scriptSafe(asset("report.js"))}</script>
</body>
</html>
`;
}

/** The live dashboard page (it loads its data from the server it came from). */
export function renderLivePage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${uplotCss()}</style>
<style>${asset("style.css")}</style>
</head>
<body>
<header><h1 id="title">${escapeHtml(title)}</h1><p>live: <span id="status" class="status">connecting</span>
<a id="report-link" href="report" style="display:none;color:#fff;margin-left:12px">open the report</a></p></header>
<main id="main"></main>
<script>${scriptSafe(uplotJs())}</script>
<script>${scriptSafe(asset("charts.js"))}</script>
<script>${scriptSafe(asset("live.js"))}</script>
</body>
</html>
`;
}
