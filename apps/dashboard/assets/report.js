// The report page: everything comes from the JSON in <script id="nfvio-data">.
(function () {
  "use strict";
  var nfvio = window.nfvio;
  var data = JSON.parse(document.getElementById("nfvio-data").textContent);
  nfvio.report = data;
  var main = document.getElementById("main");
  if (data.notes.length) {
    var ul = nfvio.el("ul", { class: "notes" });
    data.notes.forEach(function (n) { ul.appendChild(nfvio.el("li", null, n)); });
    main.appendChild(ul);
  }
  if (data.tables.length) {
    main.appendChild(nfvio.el("h2", null, "Results"));
    data.tables.forEach(function (t) { nfvio.table(main, t); });
  }
  if (data.charts.length) {
    main.appendChild(nfvio.el("h2", null, "Charts"));
    var grid = nfvio.el("div", { class: "grid" });
    main.appendChild(grid);
    data.charts.forEach(function (c) { nfvio.chart(grid, c, 560); });
  }
  if (data.topologies.length) {
    main.appendChild(nfvio.el("h2", null, "Topologies"));
    data.topologies.forEach(function (t) { nfvio.topology(main, t); });
  }
  nfvio.ready = true;
})();
