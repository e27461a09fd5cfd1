/**
 * What the pages show, as plain JSON-able data. The CLI turns its results
 * into these; the pages know nothing of scenarios or backends.
 */

/** One line (or one set of bars) of a chart. `null` leaves a gap. */
export interface ChartSeries {
  label: string;
  values: (number | null)[];
}

export interface Chart {
  id: string;
  title: string;
  /** "line": points joined; "bars": grouped bars per x. */
  kind: "line" | "bars";
  xLabel: string;
  yLabel: string;
  /** x values (numbers); with `xTicks`, categories at 0..n-1. */
  x: number[];
  /** Labels of categorical x values. */
  xTicks?: string[];
  /** Logarithmic x axis (latency histograms). */
  logX?: boolean;
  series: ChartSeries[];
  /** A sentence under the chart: what it shows and how it was made. */
  note?: string;
}

export interface Table {
  title: string;
  headers: string[];
  rows: (string | number)[][];
  note?: string;
}

export interface TopologyNode {
  id: string;
  kind: "wire" | "vm" | "app";
  label: string;
  /** Nodes of one group (copies of a VM) are drawn in one column. */
  group: string;
}

export interface TopologyView {
  title: string;
  backend: string;
  nodes: TopologyNode[];
  edges: { from: string; to: string }[];
}

export interface ReportData {
  title: string;
  subtitle: string;
  /** Free-text notes (how to reproduce, what the figures mean). */
  notes: string[];
  tables: Table[];
  charts: Chart[];
  topologies: TopologyView[];
}

/** One point of a live run. */
export interface LiveSample {
  /** Scenario time, ns. */
  tNs: number;
  offeredMpps: number;
  rxMpps: number;
  hostCores: number;
  /** Cumulative frames per node. */
  nodes: Record<string, { rx: number; tx: number }>;
}

/** One run shown live: its topology, then samples, then a summary. */
export interface LiveRun {
  id: string;
  title: string;
  topology: TopologyView;
  samples: LiveSample[];
  /** Set when the run ended: a few figures to show. */
  summary: Record<string, string | number> | null;
}

/** Everything the live page shows; `/state.json` returns it. */
export interface LiveState {
  title: string;
  status: string;
  runs: LiveRun[];
  /** Path of the HTML report, once written (served at /report). */
  report: string | null;
}
