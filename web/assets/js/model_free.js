/* Model-free EXAFS runs: the start form (reference/unknown/compare-fit pickers, POST to
 * /api/analysis-runs/) and the result plots (histogram of N, Δσ², ΔR, ΔE0 over the M fits with
 * mean and ±SD marked and the compare fit's value; filtered χ(k) with the median model; |χ(R)|
 * with the R-window; the reference's amplitude and phase).
 *
 * Data come from parts of the run's output via json_script (#model-free-parameters, …). No inline scripts (CSP).
 * SIMULATED spectra keep their label (it is part of the labels the server sends). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var PARAMS = [
    {key: "n", title: "N"},
    {key: "delta_sigma2_a2", title: "Δσ² (Å²)"},
    {key: "delta_r_a", title: "ΔR (Å)"},
    {key: "delta_e0_ev", title: "ΔE0 (eV)"}
  ];

  var readJSON = window.labdbRuns.readJSON;

  function line(x, y, name, color, extra) {
    var trace = {x: x, y: y, name: name, type: "scatter", mode: "lines", line: {width: 1.4, color: color}};
    Object.keys(extra || {}).forEach(function (key) { trace[key] = extra[key]; });
    return trace;
  }

  function layout(xtitle, ytitle, height) {
    return {margin: {l: 60, r: 10, t: 10, b: 45}, height: height || 320,
            xaxis: {title: {text: xtitle}}, yaxis: {title: {text: ytitle}},
            legend: {orientation: "h", y: -0.3, yanchor: "top"}, font: {size: 11}};
  }

  function vline(x, color, dash) {
    return {type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
            line: {color: color, width: 1.5, dash: dash}};
  }

  /* The compare fit's value on the scale of a fitted parameter (relative to the reference). */
  function compareValue(out, key) {
    var path = out.compare_fit && out.compare_fit.path, ref = out.reference_structure;
    if (!path) return null;
    if (key === "n") return path.n;
    if (key === "delta_r_a") return path.r_a === null ? null : path.r_a - ref.r_ref_a;
    if (key === "delta_sigma2_a2") return path.sigma2_a2 === null ? null : path.sigma2_a2 - ref.sigma2_ref_a2;
    if (key === "delta_e0_ev") return path.delta_e0_ev;
    return null;
  }

  function plotHistogram(out, param) {
    var node = document.getElementById("model-free-hist-" + param.key);
    var stats = out.parameters[param.key];
    if (!node || !stats) return;
    var edges = stats.histogram.edges, centres = [], widths = [];
    for (var i = 0; i < edges.length - 1; i++) {
      centres.push((edges[i] + edges[i + 1]) / 2);
      widths.push(edges[i + 1] - edges[i]);
    }
    var shapes = [vline(stats.mean, "#000000", "solid"),
                  vline(stats.mean - stats.sd, "#000000", "dot"),
                  vline(stats.mean + stats.sd, "#000000", "dot")];
    var compare = compareValue(out, param.key);
    if (compare !== null && compare !== undefined) shapes.push(vline(compare, "#d62728", "dash"));
    var lay = layout(param.title, "fits", 260);
    lay.shapes = shapes;
    lay.showlegend = false;
    lay.bargap = 0.02;
    window.Plotly.newPlot(node, [{x: centres, y: stats.histogram.counts, width: widths, type: "bar",
                                  marker: {color: "#1f77b4"}, name: param.title}], lay, CONFIG);
  }

  function plotCurves(out) {
    var c = out.curves, kw = out.window.kweight;
    var chik = document.getElementById("model-free-chik");
    if (chik) {
      window.Plotly.newPlot(chik, [
        line(c.k_inv_a, c.unknown_filtered_kw, "unknown, filtered: " + out.spectra.unknown.label, "#000000"),
        line(c.k_inv_a, c.model_median_kw, "model at the median parameters", "#d62728", {line: {width: 1.4, dash: "dash", color: "#d62728"}})
      ], layout("k (Å⁻¹)", "k" + kw + "·χ(k) of the shell"), CONFIG);
    }
    var chir = document.getElementById("model-free-chir");
    if (chir) {
      var lay = layout("R (Å), no phase correction", "|χ(R)|");
      lay.shapes = [{type: "rect", xref: "x", yref: "paper", x0: out.window.rmin_a, x1: out.window.rmax_a,
                     y0: 0, y1: 1, fillcolor: "#1f77b4", opacity: 0.1, line: {width: 0}}];
      window.Plotly.newPlot(chir, [
        line(c.r_a, c.reference_chir_mag, "reference: " + out.spectra.reference.label, "#1f77b4"),
        line(c.r_a, c.unknown_chir_mag, "unknown: " + out.spectra.unknown.label, "#000000")
      ], lay, CONFIG);
    }
    var ampha = document.getElementById("model-free-ampha");
    if (ampha) {
      var lay2 = layout("k (Å⁻¹)", "A_ref(k)");
      lay2.yaxis2 = {overlaying: "y", side: "right", title: {text: "Φ_ref(k) (rad)"}};
      window.Plotly.newPlot(ampha, [
        line(c.k_inv_a, c.reference_amplitude, "amplitude A_ref(k)", "#2ca02c"),
        line(c.k_inv_a, c.reference_phase_rad, "phase Φ_ref(k)", "#9467bd", {yaxis: "y2"})
      ], lay2, CONFIG);
    }
  }

  function showResult(out) {
    if (!window.Plotly) return;
    PARAMS.forEach(function (param) { plotHistogram(out, param); });
    plotCurves(out);
  }

  /* ---------------------------------------------------------------- start form */

  function spectrumLabel(s) {
    var sample = s.sample_code || ("sample " + s.sample);
    var simulated = s.source === "simulated" ? " (SIMULATED)" : "";
    return "#" + s.id + " " + sample + " " + (s.group_label || "") + " — " + s.element + " " + s.edge + simulated;
  }

  function fitLabel(f) {
    var shells = (f.paths || []).map(function (p) { return (p.absorber || "") + "–" + p.scatterer; });
    return "#" + f.id + " sample " + f.sample + " " + (f.label || "") + " " + (f.software || f.source || "") +
      (shells.length ? " (" + shells.join(", ") + ")" : "");
  }

  function fill(select, rows, label) {
    rows.forEach(function (row) {
      var opt = document.createElement("option");
      opt.value = row.id;
      opt.textContent = label(row);
      select.appendChild(opt);
    });
  }

  function num(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el && el.value !== "" ? Number(el.value) : null;
  }

  function request(root) {
    var inputs = {};
    root.querySelectorAll("select[data-role]").forEach(function (box) {
      if (box.value !== "") inputs[box.getAttribute("data-role")] = Number(box.value);
    });
    var parameters = {
      k_range_inv_a: [num(root, "kmin_inv_a"), num(root, "kmax_inv_a")],
      r_window_a: [num(root, "rmin_a"), num(root, "rmax_a")],
      shell: root.querySelector("[name=shell]").value,
      noise: root.querySelector("[name=noise]").value,
      bounds: {}
    };
    ["dk_inv_a", "kweight", "dr_a", "rbkg_a", "n_ref", "r_ref_a", "sigma2_ref_a2", "repeats", "seed"]
      .forEach(function (name) { var v = num(root, name); if (v !== null) parameters[name] = v; });
    PARAMS.forEach(function (param) {
      var lo = num(root, param.key + "_lo"), hi = num(root, param.key + "_hi");
      if (lo !== null || hi !== null) parameters.bounds[param.key] = [lo, hi];
    });
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function startForm(root) {
    var error = document.getElementById("model-free-error");
    window.labdbRuns.getAll("/api/xas-spectra/?page_size=500", []).then(function (spectra) {
      root.querySelectorAll("select[data-type=spectrum]").forEach(function (box) { fill(box, spectra, spectrumLabel); });
    });
    window.labdbRuns.getAll("/api/xas-fits/?page_size=500", []).then(function (fits) {
      root.querySelectorAll("select[data-type=fit]").forEach(function (box) { fill(box, fits, fitLabel); });
    });
    document.getElementById("model-free-submit").addEventListener("click", function () {
      window.labdbRuns.postRun(root, request(root), error);
    });
  }

  /* The run output's parts the page embeds (json_script), as one object. */
  function readOutput() {
    var parameters = readJSON("model-free-parameters");
    if (!parameters) return null;
    return {parameters: parameters, curves: readJSON("model-free-curves"),
            window: readJSON("model-free-window"), reference_structure: readJSON("model-free-reference"),
            spectra: readJSON("model-free-spectra"), compare_fit: readJSON("model-free-compare")};
  }

  function init() {
    var out = readOutput();
    if (out) showResult(out);
    var form = document.getElementById("model-free-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
