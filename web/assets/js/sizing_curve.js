/* Sizing-curve runs: the start form (absorption and sample pickers from the REST API, the
 * correlation chooser, POST to /api/analysis-runs/ through labdbRuns.postRun) and the result
 * plots (the correlation over its validity range with this sample's point ± error; the
 * absorption spectrum with the 1S peak used).
 *
 * Data come from json_script blocks (#sizing-correlations, #sizing-curve-output).
 * No inline scripts (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var readJSON = window.labdbRuns.readJSON;

  function layout(xtitle, ytitle, height) {
    return {margin: {l: 70, r: 70, t: 10, b: 45}, height: height || 400,
            xaxis: {title: {text: xtitle}}, yaxis: {title: {text: ytitle}},
            legend: {orientation: "h", y: -0.2, yanchor: "top"}, font: {size: 11}};
  }

  /* ---------------------------------------------------------------- result */

  function errorBar(err) {
    return {type: "data", array: [err || 0], visible: !!err, thickness: 1.5, width: 5};
  }

  function plotCurve(out) {
    var node = document.getElementById("sizing-curve-plot");
    if (!node || !window.Plotly) return;
    var curve = out.curve, corr = out.correlation, traces, lay;
    var d = out.diameter_nm, eps = out.epsilon_per_m_cm;
    if (curve.peak_1s_nm) {
      var peak = out.peak_1s_nm;
      traces = [
        {x: curve.peak_1s_nm, y: curve.diameter_nm, name: "D(λ₁ₛ): " + corr.label, type: "scatter",
         mode: "lines", line: {width: 2, color: "#1f77b4"}},
        {x: curve.peak_1s_nm, y: curve.epsilon_per_m_cm, name: "ε(λ₁ₛ)" + (corr.epsilon_at_nm ? " at " + corr.epsilon_at_nm + " nm" : " at 1S"),
         type: "scatter", mode: "lines", yaxis: "y2", line: {width: 1.5, dash: "dash", color: "#d62728"}},
        {x: [peak.value], y: [d.value], name: "this sample: D = " + d.value.toFixed(2) + " ± " + (d.err || 0).toFixed(2) + " nm",
         type: "scatter", mode: "markers", marker: {size: 10, color: "#000000"},
         error_x: errorBar(peak.err), error_y: errorBar(d.err)},
        {x: [peak.value], y: [eps.value], name: "this sample: ε = " + eps.value.toPrecision(4) + " M⁻¹ cm⁻¹",
         type: "scatter", mode: "markers", yaxis: "y2", marker: {size: 9, symbol: "diamond", color: "#d62728"},
         error_x: errorBar(peak.err), error_y: errorBar(eps.err)}
      ];
      lay = layout("1S peak wavelength (nm) — validity range of the correlation", "diameter D (nm)", 460);
    } else {
      traces = [
        {x: curve.diameter_nm, y: curve.epsilon_per_m_cm, name: "ε(D): " + corr.label, type: "scatter",
         mode: "lines", yaxis: "y2", line: {width: 2, color: "#d62728"}},
        {x: [d.value], y: [eps.value], name: "this sample: ε = " + eps.value.toPrecision(4) + " M⁻¹ cm⁻¹",
         type: "scatter", mode: "markers", yaxis: "y2", marker: {size: 10, color: "#000000"},
         error_x: errorBar(d.err), error_y: errorBar(eps.err)}
      ];
      lay = layout("diameter D (nm) — validity range of the correlation", "", 420);
    }
    lay.yaxis2 = {overlaying: "y", side: "right", title: {text: "ε (M⁻¹ cm⁻¹)"}, exponentformat: "e"};
    window.Plotly.newPlot(node, traces, lay, CONFIG);
  }

  function plotSpectrum(out) {
    var node = document.getElementById("sizing-spectrum-plot");
    if (!node || !window.Plotly || !out.spectrum) return;
    var s = out.spectrum, traces = [
      {x: s.wavelength_nm, y: s.absorbance, name: s.file + " · " + s.series, type: "scatter", mode: "lines",
       line: {width: 1.4, color: "#000000"}}
    ];
    if (out.peak_1s_nm.value !== null) {
      var found = out.found_peak;
      traces.push({x: [out.peak_1s_nm.value], y: [found ? found.absorbance : (out.absorbance ? out.absorbance.value : null)],
                   name: "1S peak used: " + out.peak_1s_nm.value.toFixed(1) + " nm (" + out.peak_from + ")",
                   type: "scatter", mode: "markers", marker: {size: 10, color: "#d62728"},
                   error_x: errorBar(out.peak_1s_nm.err)});
    }
    if (out.absorbance && out.absorbance.at_nm !== null) {
      traces.push({x: [out.absorbance.at_nm], y: [out.absorbance.value], name: "A used for c: " + out.absorbance.value.toPrecision(4),
                   type: "scatter", mode: "markers", marker: {size: 9, symbol: "square-open", color: "#1f77b4"},
                   error_y: errorBar(out.absorbance.err)});
    }
    window.Plotly.newPlot(node, traces, layout("wavelength (nm)", "absorbance", 340), CONFIG);
  }

  /* ---------------------------------------------------------------- start form */

  function value(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.value.trim() : "";
  }

  function request(root) {
    var inputs = {}, parameters = {correlation: value(root, "correlation")};
    ["absorption", "sample"].forEach(function (role) {
      var el = root.querySelector("[data-role=" + role + "]");
      if (el && el.value) inputs[role] = Number(el.value);
    });
    ["peak_from", "absorbance_from"].forEach(function (k) { if (value(root, k)) parameters[k] = value(root, k); });
    ["peak_1s_nm", "peak_1s_err_nm", "diameter_nm", "diameter_err_nm", "absorbance", "absorbance_err",
     "path_length_cm", "path_length_err_cm", "dilution_factor", "dilution_err", "epsilon_rel_err",
     "mu_wavelength_nm", "mu_absorbance", "volume_fraction", "volume_fraction_err"].forEach(function (k) {
      var v = value(root, k);
      if (v !== "") parameters[k] = Number(v);
    });
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function option(select, id, text) {
    var o = document.createElement("option");
    o.value = String(id);
    o.textContent = text;
    select.appendChild(o);
  }

  function fill(root, rows, samples) {
    var codes = {};
    samples.forEach(function (x) { codes[x.id] = x.code; });
    var abs = document.getElementById("sizing-absorption"), smp = document.getElementById("sizing-sample");
    rows.forEach(function (r) {
      var label = "#" + r.id + " " + (codes[r.sample] || ("sample " + r.sample)) +
        (r.peak_1s_nm ? " — 1S " + Number(r.peak_1s_nm).toFixed(1) + " nm" : " — no stored 1S") +
        (r.data_file ? " · raw file" : " · typed in") + (r.scan_label ? " · " + r.scan_label : "");
      option(abs, r.id, label);
    });
    samples.forEach(function (x) { option(smp, x.id, x.code + (x.name && x.name !== x.code ? " — " + x.name : "")); });
  }

  function describe(table) {
    var select = document.getElementById("sizing-correlation"), info = document.getElementById("sizing-correlation-info");
    function show() {
      var c = (table || []).filter(function (x) { return x.key === select.value; })[0];
      if (!c || !info) return;
      info.textContent = c.size_equation + " · " + c.epsilon_equation + " · " + c.citation +
        (c.doi ? " (doi:" + c.doi + ")" : "") + " · " + c.range_note;
    }
    select.addEventListener("change", show);
    show();
  }

  function startForm(root) {
    var error = document.getElementById("sizing-error");
    describe(readJSON("sizing-correlations"));
    Promise.all([window.labdbRuns.getAll("/api/absorption-measurements/?page_size=500", []),
                 window.labdbRuns.getAll("/api/samples/?page_size=500", []).catch(function () { return []; })])
      .then(function (both) { fill(root, both[0], both[1]); });
    document.getElementById("sizing-submit").addEventListener("click", function () {
      window.labdbRuns.postRun(root, request(root), error);
    });
  }

  function init() {
    var out = readJSON("sizing-curve-output");
    if (out && out.curve) { plotCurve(out); plotSpectrum(out); }
    var form = document.getElementById("sizing-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
