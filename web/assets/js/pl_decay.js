/* PL decay fits: the start form (decay/IRF file and scan pickers from /api/files/, POST to
 * /api/analysis-runs/ through labdbRuns.postRun) and the result plot (log counts of the decay,
 * the shifted IRF scaled to the decay's peak and the fit; weighted residuals below).
 *
 * Data come from the run's output via json_script (#pl-decay-output). No inline scripts (CSP).
 * SIMULATED decays keep their label in the legend. */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};

  /* ---------------------------------------------------------------- result */

  function plot(out) {
    var node = document.getElementById("pl-decay-plot");
    if (!node || !window.Plotly) return;
    var a = out.arrays, label = out.decay.label;
    var traces = [
      {x: a.time_ns, y: a.counts, name: "decay: " + label, type: "scatter", mode: "markers",
       marker: {size: 3, color: "#1f77b4"}},
      {x: a.fit_time_ns, y: a.fit, name: out.model, type: "scatter", mode: "lines",
       line: {width: 2, color: "#d62728"}},
      {x: a.fit_time_ns, y: a.weighted_residual, name: "weighted residual (y − m)/√max(y, 1)",
       type: "scatter", mode: "lines", yaxis: "y2", line: {width: 1, color: "#7f7f7f"}}
    ];
    if (a.irf_scaled) {
      traces.splice(1, 0, {x: a.time_ns, y: a.irf_scaled, name: "IRF (shifted, scaled to the peak)",
                           type: "scatter", mode: "lines", line: {width: 1.2, dash: "dot", color: "#2ca02c"}});
    }
    var layout = {
      margin: {l: 65, r: 10, t: 10, b: 45}, height: 520, font: {size: 11},
      xaxis: {title: {text: "Time (ns)"}},
      yaxis: {title: {text: "Counts"}, type: "log", domain: [0.32, 1]},
      yaxis2: {title: {text: "residual"}, domain: [0, 0.24], zeroline: true},
      legend: {orientation: "h", y: -0.18, yanchor: "top"}
    };
    window.Plotly.newPlot(node, traces, layout, CONFIG).then(function () { node.classList.add("plotted"); });
  }

  /* ---------------------------------------------------------------- start form */

  /* Parsed files whose every scan has time in ns (TCSPC decays and IRFs). */
  function timeScans(files) {
    return files.filter(function (f) {
      var scans = (f.metadata || {}).scans || [];
      return f.parse_status === "ok" && scans.length && scans.every(function (s) { return s.x_unit === "ns"; });
    });
  }

  function option(value, text) {
    var opt = document.createElement("option");
    opt.value = value; opt.textContent = text;
    return opt;
  }

  function fillScans(select, file) {
    select.innerHTML = "";
    ((file && file.metadata.scans) || []).forEach(function (s) {
      select.appendChild(option(s.index, s.index + ": " + s.label + " (" + s.n_points + " channels, " +
                                s.x_first + "–" + s.x_last + " ns)"));
    });
    select.disabled = !file;
  }

  function fileLabel(f) {
    var kind = (f.metadata || {}).kind || "";
    return "#" + f.id + " " + f.original_name + (kind ? " — " + kind : "") +
      " (" + ((f.metadata || {}).scans || []).length + " scan(s))";
  }

  function request(root) {
    var decay = document.getElementById("pl-decay-file").value;
    var irf = document.getElementById("pl-decay-irf").value;
    var inputs = {decay: Number(decay)};
    if (irf) inputs.irf = Number(irf);
    var start = root.querySelector("[name=range_start_ns]").value;
    var end = root.querySelector("[name=range_end_ns]").value;
    var parameters = {
      n_exponentials: Number(root.querySelector("[name=n_exponentials]").value),
      method: root.querySelector("[name=method]").value,
      scan_index: Number(document.getElementById("pl-decay-scan").value || 0),
      irf_scan_index: Number(document.getElementById("pl-decay-irf-scan").value || 0),
      fit_background: root.querySelector("[name=fit_background]").checked,
      fit_shift: root.querySelector("[name=fit_shift]").checked
    };
    if (start !== "" || end !== "") parameters.fit_range_ns = [Number(start), Number(end)];
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function startForm(root) {
    var error = document.getElementById("pl-decay-error");
    var decaySelect = document.getElementById("pl-decay-file");
    var irfSelect = document.getElementById("pl-decay-irf");
    var byId = {};
    window.labdbRuns.getAll("/api/files/?technique=pl&parse_status=ok&page_size=500", []).then(function (files) {
      timeScans(files).forEach(function (f) {
        byId[f.id] = f;
        decaySelect.appendChild(option(f.id, fileLabel(f)));
        irfSelect.appendChild(option(f.id, fileLabel(f)));
      });
      fillScans(document.getElementById("pl-decay-scan"), byId[decaySelect.value]);
      fillScans(document.getElementById("pl-decay-irf-scan"), byId[irfSelect.value]);
      root.setAttribute("data-loaded", String(Object.keys(byId).length));
    });
    decaySelect.addEventListener("change", function () {
      fillScans(document.getElementById("pl-decay-scan"), byId[decaySelect.value]);
    });
    irfSelect.addEventListener("change", function () {
      fillScans(document.getElementById("pl-decay-irf-scan"), byId[irfSelect.value]);
    });
    document.getElementById("pl-decay-submit").addEventListener("click", function () {
      window.labdbRuns.postRun(root, request(root), error);
    });
  }

  function init() {
    var out = window.labdbRuns.readJSON("pl-decay-output");
    if (out) plot(out);
    var form = document.getElementById("pl-decay-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
