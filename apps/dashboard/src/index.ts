/**
 * @nfvio/dashboard: nfvio's web pages. The live dashboard (a node:http
 * server on 127.0.0.1 with server-sent events) and the self-contained HTML
 * report; both draw with uPlot, inlined, so they work offline.
 */
export { renderReport, renderLivePage } from "./report.js";
export { startDashboard, type Dashboard, type DashboardOptions } from "./server.js";
export { uplotVersion } from "./assets.js";
export type { Chart, ChartSeries, LiveRun, LiveSample, LiveState, ReportData, Table, TopologyNode, TopologyView } from "./types.js";
