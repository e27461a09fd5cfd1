// The live dashboard: state from /state.json, then updates over server-sent events (/events).
(function () {
  "use strict";
  var nfvio = window.nfvio;
  var main = document.getElementById("main");
  var statusEl = document.getElementById("status");
  var runs = {}; // id -> { run, svg, rate, cores }
  nfvio.live = { runs: runs, samples: 0, events: 0 };

  function chartOf(run) {
    return [
      {
        id: run.id + "-rate",
        title: "Mpps over time",
        kind: "line",
        xLabel: "scenario time (µs)",
        yLabel: "Mpps",
        x: [],
        series: [{ label: "offered", values: [] }, { label: "delivered", values: [] }],
      },
      {
        id: run.id + "-cores",
        title: "Host cores busy",
        kind: "line",
        xLabel: "scenario time (µs)",
        yLabel: "host cores",
        x: [],
        series: [{ label: "host CPU (backend)", values: [] }],
      },
    ];
  }

  function addRun(run) {
    var sec = nfvio.el("section", { class: "run", id: "run-" + run.id });
    sec.appendChild(nfvio.el("h2", null, run.title));
    main.appendChild(sec);
    var svg = nfvio.topology(sec, run.topology);
    var grid = nfvio.el("div", { class: "grid" });
    sec.appendChild(grid);
    var specs = chartOf(run);
    var r = { run: run, svg: svg, specs: specs, sec: sec, plots: specs.map(function (c) { return nfvio.chart(grid, c, 520); }) };
    runs[run.id] = r;
    run.samples.forEach(function (s) { addSample(run.id, s, false); });
    redraw(r);
    if (run.summary) showSummary(r, run.summary);
  }

  function addSample(id, s, draw) {
    var r = runs[id];
    if (!r) return;
    var t = s.tNs / 1e3;
    r.specs[0].x.push(t);
    r.specs[0].series[0].values.push(s.offeredMpps);
    r.specs[0].series[1].values.push(s.rxMpps);
    r.specs[1].x.push(t);
    r.specs[1].series[0].values.push(s.hostCores);
    nfvio.topologyCounters(r.svg, s.nodes);
    nfvio.live.samples++;
    if (draw !== false) redraw(r);
  }

  function redraw(r) {
    r.plots.forEach(function (u, i) {
      var c = r.specs[i];
      u.setData([c.x].concat(c.series.map(function (s) { return s.values; })));
      nfvio.drawn[c.id] = { title: c.title, points: c.x.length, series: c.series.map(function (s) { return { label: s.label, values: s.values.length }; }) };
    });
  }

  function showSummary(r, summary) {
    var rows = Object.keys(summary).map(function (k) { return [k, summary[k]]; });
    nfvio.table(r.sec, { title: "Result", headers: ["figure", "value"], rows: rows });
  }

  function setStatus(s, report) {
    statusEl.textContent = s;
    if (report) {
      var a = document.getElementById("report-link");
      a.style.display = "inline";
    }
  }

  // The stream starts with the whole state (so nothing is missed between a page load and the stream), then sends changes.
  var es = new EventSource("events");
  es.addEventListener("state", function (e) {
    nfvio.live.events++;
    var state = JSON.parse(e.data);
    document.title = state.title;
    document.getElementById("title").textContent = state.title;
    while (main.firstChild) main.removeChild(main.firstChild);
    for (var k in runs) delete runs[k];
    state.runs.forEach(addRun);
    setStatus(state.status, state.report);
    nfvio.ready = true;
  });
  es.addEventListener("run", function (e) {
    nfvio.live.events++;
    var run = JSON.parse(e.data);
    if (!runs[run.id]) addRun(run);
  });
  es.addEventListener("sample", function (e) {
    nfvio.live.events++;
    var m = JSON.parse(e.data);
    addSample(m.id, m.sample);
  });
  es.addEventListener("summary", function (e) {
    nfvio.live.events++;
    var m = JSON.parse(e.data);
    if (runs[m.id]) showSummary(runs[m.id], m.summary);
  });
  es.addEventListener("status", function (e) {
    nfvio.live.events++;
    var m = JSON.parse(e.data);
    setStatus(m.status, m.report);
  });
})();
