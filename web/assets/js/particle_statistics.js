/* TEM particle statistics: the start form (size-table picker, its columns and samples, POST
 * to /api/analysis-runs/ through run_common.js) and the result plots (one histogram per
 * dimension with the fitted normal and log-normal densities scaled to counts per bin).
 *
 * Data come from the run's output via json_script (#particle-stats-output). No inline
 * scripts (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};

  /* ---------------------------------------------------------------- results */

  function plotDimension(node, d) {
    var h = d.histogram, edges = h.edges_nm, centers = [], widths = [];
    for (var i = 0; i < h.counts.length; i++) {
      centers.push((edges[i] + edges[i + 1]) / 2);
      widths.push(edges[i + 1] - edges[i]);
    }
    var c = d.curves, fits = d.fits;
    var traces = [
      {x: centers, y: h.counts, width: widths, type: "bar", name: d.name + " (N = " + d.n + ")",
       marker: {color: "rgba(31,119,180,0.55)", line: {color: "#1f77b4", width: 1}},
       hovertemplate: "%{x:.2f} nm: %{y} particles<extra></extra>"},
      {x: c.x_nm, y: c.normal_counts, type: "scatter", mode: "lines",
       name: "normal μ = " + fits.normal.mu_nm.toFixed(2) + " nm, σ = " + fits.normal.sigma_nm.toFixed(2) + " nm",
       line: {color: "#d62728", width: 2}},
      {x: c.x_nm, y: c.lognormal_counts, type: "scatter", mode: "lines",
       name: "log-normal median = " + fits.lognormal.median_nm.toFixed(2) + " nm, s = " + fits.lognormal.s.toFixed(3),
       line: {color: "#2ca02c", width: 2, dash: "dash"}}
    ];
    var layout = {margin: {l: 60, r: 10, t: 10, b: 45}, height: 360, bargap: 0,
                  xaxis: {title: {text: d.name + " (nm)"}}, yaxis: {title: {text: "particles per bin"}},
                  legend: {orientation: "h", y: -0.25, yanchor: "top"}, font: {size: 11}};
    window.Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function plotAll(out) {
    if (!window.Plotly) return;
    Object.keys(out.dimensions).forEach(function (name) {
      var node = document.getElementById("particle-stats-plot-" + name);
      if (node) plotDimension(node, out.dimensions[name]);
    });
  }

  /* ---------------------------------------------------------------- start form */

  function option(value, text) {
    var opt = document.createElement("option");
    opt.value = value; opt.textContent = text;
    return opt;
  }

  function fileLabel(f) {
    var k = f.key_numbers || {};
    var codes = (f.samples || []).map(function (s) { return s.sample_code; }).join(", ");
    return "#" + f.id + " " + f.original_name + " — " + (k.n_particles || "?") + " rows" +
      (codes ? " — " + codes : "");
  }

  function resetSelect(select, keepFirst) {
    while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
  }

  function showFile(root, file) {
    var columns = ((file && file.metadata && file.metadata.columns) || []).filter(function (c) { return c && c.trim(); });
    root.querySelectorAll("select[data-columns]").forEach(function (select) {
      resetSelect(select, true);
      columns.forEach(function (c) { select.appendChild(option(c, c)); });
    });
    var sample = document.getElementById("particle-stats-sample");
    resetSelect(sample, true);
    ((file && file.samples) || []).forEach(function (s) { sample.appendChild(option(s.sample, s.sample_code)); });
    var help = document.getElementById("particle-stats-columns-help");
    if (help) {
      var k = (file && file.key_numbers) || {};
      help.textContent = file ? "Columns: " + columns.join(", ") + ". The parser's size column: " +
        (k.size_column || "none") + (k.size_unit ? ", unit " + k.size_unit : ", no unit in the header") + "." : "";
    }
  }

  function value(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.value : "";
  }

  function number(root, name) {
    var v = value(root, name);
    return v === "" ? null : Number(v);
  }

  function request(root) {
    var inputs = {table: Number(document.getElementById("particle-stats-table").value)};
    var sample = document.getElementById("particle-stats-sample").value;
    if (sample) inputs.sample = Number(sample);
    var geometry = value(root, "geometry");
    var parameters = {geometry: geometry, unit: value(root, "unit"),
                      nm_per_px: number(root, "nm_per_px"), n_bins: number(root, "n_bins")};
    if (geometry === "diameter") parameters.diameter_column = value(root, "diameter_column");
    else {
      parameters.length_column = value(root, "length_column");
      parameters.width_column = value(root, "width_column");
    }
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function startForm(root) {
    var select = document.getElementById("particle-stats-table"), files = {};
    var error = document.getElementById("particle-stats-error");
    window.labdbRuns.getAll("/api/files/?technique=tem_sizes&parse_status=ok&page_size=500", [])
      .then(function (rows) {
        rows.forEach(function (f) { files[f.id] = f; select.appendChild(option(f.id, fileLabel(f))); });
        showFile(root, rows[0]);
      });
    select.addEventListener("change", function () { showFile(root, files[select.value]); });
    document.getElementById("particle-stats-submit").addEventListener("click", function () {
      window.labdbRuns.postRun(root, request(root), error);
    });
  }

  function init() {
    var out = window.labdbRuns.readJSON("particle-stats-output");
    if (out) plotAll(out);
    var form = document.getElementById("particle-stats-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
