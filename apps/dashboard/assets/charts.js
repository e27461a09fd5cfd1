// nfvio pages: charts (uPlot), topology diagrams (SVG) and tables, shared by
// the report and the live dashboard. Plain browser JavaScript, no build step.
// Everything drawn is recorded in window.nfvio.drawn so tests (and people in
// the console) can see what each chart holds.
(function () {
  "use strict";
  var COLORS = ["#c0392b", "#1f77b4", "#e67e22", "#2ca02c", "#8e44ad", "#7f7f7f", "#17becf", "#bcbd22"];
  var nfvio = (window.nfvio = window.nfvio || {});
  nfvio.drawn = nfvio.drawn || {};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  nfvio.el = el;

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  }
  nfvio.fmt = fmt;

  // A chart: { id, title, kind: "line"|"bars", xLabel, yLabel, x, xTicks?, logX?, series: [{label, values}], note? }
  nfvio.chart = function (parent, chart, width) {
    var box = el("figure", { class: "chart", id: "chart-" + chart.id });
    box.appendChild(el("figcaption", null, chart.title));
    var plot = el("div", { class: "plot" });
    box.appendChild(plot);
    if (chart.note) box.appendChild(el("p", { class: "note" }, chart.note));
    parent.appendChild(box);
    var w = width || Math.min(560, Math.max(320, (parent.clientWidth || 600) - 20));
    var ticks = chart.xTicks;
    var bars = chart.kind === "bars";
    var series = [
      {
        label: chart.xLabel,
        value: function (u, v) {
          return ticks ? ticks[v] || "" : v == null ? "" : fmt(v);
        },
      },
    ];
    chart.series.forEach(function (s, i) {
      var c = COLORS[i % COLORS.length];
      // Categories ("bars") are drawn as points joined by thin lines: one marker per category and series.
      series.push({
        label: s.label,
        stroke: c,
        width: bars ? 1 : 2,
        dash: bars ? [4, 4] : undefined,
        points: { show: true, size: bars ? 9 : 5, fill: c },
        value: function (u, v) { return v == null ? "-" : fmt(v); },
      });
      if (!bars) delete series[series.length - 1].dash;
    });
    var opts = {
      width: w,
      height: 260,
      series: series,
      legend: { live: true },
      scales: {
        x: bars || ticks
          ? { time: false, range: function (u, mn, mx) { return [mn - 0.6, mx + 0.6]; } }
          : chart.logX
            ? { time: false, distr: 3 }
            : { time: false },
        y: { range: function (u, mn, mx) { return [Math.min(0, mn), mx > 0 ? mx * 1.1 : 1]; } },
      },
      axes: [
        {
          label: chart.xLabel,
          values: ticks
            ? function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) && ticks[v] !== undefined ? ticks[v] : ""; }); }
            : undefined,
          splits: ticks ? function () { return ticks.map(function (_, i) { return i; }); } : undefined,
        },
        { label: chart.yLabel, size: 60 },
      ],
    };
    if (!opts.axes[0].values) delete opts.axes[0].values;
    if (!opts.axes[0].splits) delete opts.axes[0].splits;
    var data = [chart.x.slice()].concat(chart.series.map(function (s) { return s.values.slice(); }));
    var u = new uPlot(opts, data, plot);
    nfvio.drawn[chart.id] = { title: chart.title, points: chart.x.length, series: chart.series.map(function (s) { return { label: s.label, values: s.values.filter(function (v) { return v != null; }).length }; }) };
    return u;
  };

  // A table: { title, headers, rows, note? }
  nfvio.table = function (parent, t) {
    var sec = el("section", { class: "table" });
    sec.appendChild(el("h3", null, t.title));
    var tab = el("table");
    var tr = el("tr");
    t.headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    tab.appendChild(tr);
    t.rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c) { row.appendChild(el("td", { class: typeof c === "number" ? "num" : "" }, fmt(c))); });
      tab.appendChild(row);
    });
    sec.appendChild(tab);
    if (t.note) sec.appendChild(el("p", { class: "note" }, t.note));
    parent.appendChild(sec);
    return tab;
  };

  // A topology: { title, backend, nodes: [{id, kind, label, group}], edges: [{from, to}] } as SVG.
  // Groups become columns in order of first appearance; the last column repeats the first when the path loops.
  nfvio.topology = function (parent, topo) {
    var NS = "http://www.w3.org/2000/svg";
    var groups = [];
    topo.nodes.forEach(function (n) { if (groups.indexOf(n.group) < 0) groups.push(n.group); });
    var first = topo.edges.length ? topo.nodes.filter(function (n) { return n.id === topo.edges[0].from; })[0] : null;
    var loops = false;
    topo.edges.forEach(function (e) { if (first && e.to === first.id) loops = true; });
    var cols = groups.slice();
    if (loops && first) cols.push(first.group + "\u21ba");
    var byGroup = {};
    topo.nodes.forEach(function (n) { (byGroup[n.group] = byGroup[n.group] || []).push(n); });
    var maxRows = 1;
    groups.forEach(function (g) { maxRows = Math.max(maxRows, byGroup[g].length); });
    var W = 170, H = 44, GX = 60, GY = 12;
    var width = cols.length * (W + GX) + 20, height = Math.min(maxRows, 8) * (H + GY) + 60;
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("class", "topology");
    svg.setAttribute("data-title", topo.title);
    var pos = {};
    function place(n, col, row, suffix) {
      var x = 10 + col * (W + GX), y = 40 + row * (H + GY);
      pos[n.id + (suffix || "")] = { x: x, y: y };
      var g = document.createElementNS(NS, "g");
      g.setAttribute("class", "node " + n.kind);
      g.setAttribute("data-id", n.id);
      var r = document.createElementNS(NS, "rect");
      r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", W); r.setAttribute("height", H); r.setAttribute("rx", 6);
      g.appendChild(r);
      var t = document.createElementNS(NS, "text");
      t.setAttribute("x", x + 8); t.setAttribute("y", y + 17); t.textContent = n.label;
      g.appendChild(t);
      var c = document.createElementNS(NS, "text");
      c.setAttribute("x", x + 8); c.setAttribute("y", y + 35); c.setAttribute("class", "counter"); c.setAttribute("data-counter", n.id + (suffix || ""));
      c.textContent = "";
      g.appendChild(c);
      svg.appendChild(g);
    }
    groups.forEach(function (g, col) {
      byGroup[g].slice(0, 8).forEach(function (n, row) { place(n, col, row); });
    });
    if (loops && first) place(first, cols.length - 1, 0, "#out");
    var title = document.createElementNS(NS, "text");
    title.setAttribute("x", 10); title.setAttribute("y", 20); title.setAttribute("class", "title");
    title.textContent = topo.title + " \u2014 backend: " + topo.backend;
    svg.appendChild(title);
    topo.edges.forEach(function (e) {
      var a = pos[e.from], b = pos[e.to === (first && first.id) && pos[e.to + "#out"] ? e.to + "#out" : e.to];
      if (!a || !b) return;
      var l = document.createElementNS(NS, "line");
      l.setAttribute("x1", a.x + W); l.setAttribute("y1", a.y + H / 2); l.setAttribute("x2", b.x); l.setAttribute("y2", b.y + H / 2);
      l.setAttribute("class", "edge");
      svg.insertBefore(l, svg.firstChild);
    });
    var box = el("figure", { class: "topo" });
    box.appendChild(svg);
    parent.appendChild(box);
    nfvio.drawn["topology:" + topo.title] = { nodes: topo.nodes.length, edges: topo.edges.length };
    return svg;
  };

  // Write counters into a topology drawn by nfvio.topology.
  nfvio.topologyCounters = function (svg, nodes) {
    var texts = svg.querySelectorAll("text.counter");
    for (var i = 0; i < texts.length; i++) {
      var id = texts[i].getAttribute("data-counter").replace(/#out$/, "");
      var n = nodes[id];
      if (n) texts[i].textContent = "rx " + fmt(n.rx) + "  tx " + fmt(n.tx);
    }
  };
})();
