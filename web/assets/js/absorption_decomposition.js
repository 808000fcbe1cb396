/* Absorption decomposition runs: the start form (absorption measurement or UV-vis file picker,
 * model, transitions, range; POST through labdbRuns.postRun) and the result plot (data, fit,
 * each transition, background, residual, and the Savitzky–Golay second derivative with the
 * minima the transitions started from).
 *
 * Data come from the run's output via json_script (#absorption-decomposition-output).
 * No inline scripts or styles (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                "#ff7f0e", "#7f7f7f", "#aec7e8", "#98df8a"];

  function line(x, y, name, style, extra) {
    var trace = {x: x, y: y, name: name, type: "scatter", mode: "lines", line: style};
    Object.keys(extra || {}).forEach(function (key) { trace[key] = extra[key]; });
    return trace;
  }

  /* ---------------------------------------------------------------- result */

  function plotResult(out) {
    var node = document.getElementById("absorption-decomposition-plot");
    if (!node || !window.Plotly) return;
    var a = out.arrays, x = a.energy_ev, traces = [];
    traces.push(line(x, a.absorbance, "data: " + out.spectrum_label, {width: 2, color: "#000000"},
                     {mode: "markers+lines", marker: {size: 3, color: "#000000"}}));
    traces.push(line(x, a.fit, "fit (sum)", {width: 1.8, dash: "dash", color: "#d62728"}));
    a.components.forEach(function (y, i) {
      var t = out.transitions[i], color = COLORS[(i + 1) % COLORS.length];
      traces.push(line(x, y, "transition " + t.index + " at " + t.center_ev.toFixed(3) + " eV",
                       {width: 1.1, color: color}, {fill: i === 0 ? "tozeroy" : "none"}));
    });
    if (out.background_kind !== "none") {
      traces.push(line(x, a.background, "background (" + out.background_kind + ")", {width: 1, dash: "dot", color: "#7f7f7f"}));
    }
    traces.push(line(x, a.residual, "residual (data − fit)", {width: 1, color: "#7f7f7f"}, {yaxis: "y2"}));
    traces.push(line(a.d2_energy_ev, a.d2, "d²A/dE² (Savitzky–Golay)", {width: 1.2, color: "#1f77b4"}, {yaxis: "y3"}));
    var minima = out.minima || [];
    traces.push({x: minima.map(function (m) { return m.energy_ev; }), y: minima.map(function (m) { return m.d2; }),
                 name: "2nd-derivative minima (start values)", type: "scatter", mode: "markers", yaxis: "y3",
                 marker: {symbol: "triangle-down", size: 9, color: "#d62728"}});
    var q = out.quality || {};
    if (q.peak_1s_ev !== null && q.peak_1s_ev !== undefined) {
      traces.push({x: [q.peak_1s_ev], y: [q.peak_1s_absorbance], name: "1S peak " + q.peak_1s_nm.toFixed(1) + " nm",
                   type: "scatter", mode: "markers", marker: {symbol: "star", size: 12, color: "#ff7f0e"}});
    }
    var layout = {
      margin: {l: 65, r: 10, t: 10, b: 45}, height: 640, font: {size: 11},
      legend: {orientation: "h", y: -0.12, yanchor: "top"},
      xaxis: {title: {text: "Energy (eV)"}, anchor: "y3"},
      yaxis: {domain: [0.45, 1], title: {text: "absorbance"}},
      yaxis2: {domain: [0.3, 0.42], title: {text: "residual"}, zeroline: true},
      yaxis3: {domain: [0, 0.26], title: {text: "d²A/dE² (eV⁻²)"}, zeroline: true}
    };
    window.Plotly.newPlot(node, traces, layout, CONFIG);
  }

  /* ---------------------------------------------------------------- start form */

  function option(select, value, text) {
    var opt = document.createElement("option");
    opt.value = value; opt.textContent = text;
    select.appendChild(opt);
  }

  function fillPickers(rows, files, samples) {
    var codes = {};
    samples.forEach(function (s) { codes[s.id] = s.code; });
    var measurements = document.getElementById("absdec-absorption");
    rows.filter(function (r) { return r.data_file; }).forEach(function (r) {
      var peak = r.peak_1s_nm ? " · 1S " + Number(r.peak_1s_nm).toFixed(1) + " nm" : "";
      var scan = r.scan_label ? " · " + r.scan_label : "";
      option(measurements, r.id, "#" + r.id + " " + (codes[r.sample] || ("sample " + r.sample)) + peak + scan +
             (r.source && r.source !== "measured" ? " (" + r.source + ")" : ""));
    });
    var fileBox = document.getElementById("absdec-file");
    files.forEach(function (f) {
      option(fileBox, f.id, "#" + f.id + " " + f.original_name + (f.sample ? " · " + (codes[f.sample] || ("sample " + f.sample)) : ""));
    });
  }

  function num(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el && el.value !== "" ? Number(el.value) : null;
  }

  function value(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.value : null;
  }

  function request(root) {
    var inputs = {};
    root.querySelectorAll("[data-role]").forEach(function (box) {
      if (box.value !== "") inputs[box.getAttribute("data-role")] = Number(box.value);
    });
    var lo = num(root, "energy_min_ev"), hi = num(root, "energy_max_ev");
    var parameters = {
      model: value(root, "model"), background: value(root, "background"),
      n_transitions: num(root, "n_transitions"), hwhm_baseline: value(root, "hwhm_baseline"),
      energy_range_ev: lo === null && hi === null ? null : [lo, hi]
    };
    ["bulk_gap_ev", "center_bound_mev", "smoothing_window_mev"].forEach(function (k) {
      var v = num(root, k);
      if (v !== null) parameters[k] = v;
    });
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function startForm(root) {
    var runs = window.labdbRuns, error = document.getElementById("absdec-error");
    Promise.all([runs.getAll("/api/absorption-measurements/?page_size=500", []),
                 runs.getAll("/api/files/?technique=uvvis&parse_status=ok&page_size=500", []),
                 runs.getAll("/api/samples/?page_size=500", []).catch(function () { return []; })])
      .then(function (all) { fillPickers(all[0], all[1], all[2]); });
    document.getElementById("absdec-submit").addEventListener("click", function () {
      runs.postRun(root, request(root), error);
    });
  }

  function init() {
    var out = window.labdbRuns.readJSON("absorption-decomposition-output");
    if (out) plotResult(out);
    var form = document.getElementById("absdec-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
