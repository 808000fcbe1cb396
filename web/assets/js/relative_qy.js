/* Relative PL quantum yield: the start form (PL/absorption pickers from the REST API, the
 * server-rendered standard picker, POST through labdbRuns.postRun) and the result plot (both
 * emission spectra, baselines and shaded integration ranges).
 *
 * Data come from the run's output via json_script (#relative-qy-output). No inline scripts
 * (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var COLORS = {sample: "#1f77b4", reference: "#d62728"};
  var runs = window.labdbRuns;

  /* ---------------------------------------------------------------- result */

  function shade(spectrum, side) {
    /* the integrated area: the spectrum inside the range, filled down to its baseline */
    var lo = spectrum.range_nm[0], hi = spectrum.range_nm[1], x = [], y = [];
    spectrum.wavelength_nm.forEach(function (w, i) {
      if (w >= lo && w <= hi) { x.push(w); y.push(spectrum.intensity[i]); }
    });
    var axis = side === "reference" ? "y2" : "y";
    return [
      {x: [x[0], x[x.length - 1]], y: [spectrum.baseline, spectrum.baseline], type: "scatter", mode: "lines",
       name: side + " baseline", yaxis: axis, line: {width: 1, dash: "dot", color: COLORS[side]}, showlegend: false},
      {x: x, y: y, type: "scatter", mode: "lines", fill: "tonexty", yaxis: axis, opacity: 0.3,
       name: side + " integral " + lo + "–" + hi + " nm", line: {width: 0, color: COLORS[side]}}
    ];
  }

  function plot(out) {
    var node = document.getElementById("relative-qy-plot");
    if (!node || !window.Plotly) return;
    var traces = [];
    ["sample", "reference"].forEach(function (side) {
      var s = out.spectra[side];
      traces = traces.concat(shade(s, side));
      traces.push({x: s.wavelength_nm, y: s.intensity, type: "scatter", mode: "lines",
                   yaxis: side === "reference" ? "y2" : "y", name: side + ": " + s.label,
                   line: {width: 1.6, color: COLORS[side]}});
    });
    var layout = {margin: {l: 70, r: 70, t: 10, b: 45}, height: 460, font: {size: 11},
                  xaxis: {title: {text: "Wavelength (nm)"}},
                  yaxis: {title: {text: "sample PL (counts)"}, color: COLORS.sample},
                  yaxis2: {title: {text: "reference PL (counts)"}, overlaying: "y", side: "right", color: COLORS.reference},
                  legend: {orientation: "h", y: -0.18, yanchor: "top"}};
    window.Plotly.newPlot(node, traces, layout, CONFIG);
  }

  /* ---------------------------------------------------------------- start form */

  function option(select, value, text) {
    var opt = document.createElement("option");
    opt.value = value; opt.textContent = text;
    select.appendChild(opt);
  }

  function group(select, label, rows, prefix, describe) {
    if (!rows.length) return;
    var node = document.createElement("optgroup");
    node.label = label;
    rows.forEach(function (r) { option(node, prefix + ":" + r.id, describe(r)); });
    select.appendChild(node);
  }

  function fill(root, lists) {
    var codes = {};
    lists.samples.forEach(function (s) { codes[s.id] = s.code; });
    function measurement(r) {
      var scan = r.scan_label ? " " + r.scan_label : "";
      var peak = r.peak_nm ? " peak " + r.peak_nm + " nm" : (r.peak_1s_nm ? " 1S " + Number(r.peak_1s_nm).toFixed(1) + " nm" : "");
      return "#" + r.id + " " + (codes[r.sample] || "sample " + r.sample) + scan + peak;
    }
    function file(f) {
      var scans = (f.metadata && f.metadata.scans) ? " (" + f.metadata.scans.length + " scans)" : "";
      return "file #" + f.id + " " + f.original_name + scans + (f.sample ? " — " + (codes[f.sample] || "sample " + f.sample) : "");
    }
    var plRows = lists.pl.filter(function (r) { return r.data_file; });
    var absRows = lists.absorption.filter(function (r) { return r.data_file; });
    root.querySelectorAll("[data-pl]").forEach(function (select) {
      group(select, "PL measurements", plRows, "pl", measurement);
      group(select, "PL files", lists.plFiles, "file", file);
    });
    root.querySelectorAll("[data-abs]").forEach(function (select) {
      group(select, "absorption measurements", absRows, "absorption", measurement);
      group(select, "UV-vis files", lists.absFiles, "file", file);
    });
  }

  function num(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el && el.value !== "" ? Number(el.value) : null;
  }

  function text(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.value : "";
  }

  function request(root) {
    var inputs = {}, parameters = {
      standard: Number(text(root, "standard")), excitation_nm: num(root, "excitation_nm"),
      sample_range_nm: [num(root, "sample_min_nm"), num(root, "sample_max_nm")],
      absorbance_err: num(root, "absorbance_err"), absorbance_model: text(root, "absorbance_model"),
      baseline_mode: text(root, "baseline_mode"), sample_solvent: text(root, "sample_solvent"),
      sample_scan: num(root, "sample_scan") || 0, reference_scan: num(root, "reference_scan") || 0
    };
    if (num(root, "reference_min_nm") !== null || num(root, "reference_max_nm") !== null) {
      parameters.reference_range_nm = [num(root, "reference_min_nm"), num(root, "reference_max_nm")];
    }
    if (parameters.baseline_mode === "constant") {
      parameters.baseline_sample = num(root, "baseline_sample") || 0;
      parameters.baseline_reference = num(root, "baseline_reference") || 0;
    }
    if (num(root, "n_sample") !== null) parameters.n_sample = num(root, "n_sample");
    root.querySelectorAll("[data-pl]").forEach(function (select) {
      var side = select.getAttribute("data-pl"), parts = select.value.split(":");
      if (parts.length === 2) inputs[side + (parts[0] === "file" ? "_pl_file" : "_pl")] = Number(parts[1]);
    });
    root.querySelectorAll("[data-abs]").forEach(function (select) {
      var side = select.getAttribute("data-abs"), parts = select.value.split(":");
      if (parts.length === 2) {
        inputs[side + (parts[0] === "file" ? "_absorption_file" : "_absorption")] = Number(parts[1]);
      } else {
        parameters["absorbance_" + side] = num(root, "absorbance_" + side);
      }
    });
    return {kind: root.getAttribute("data-kind"), inputs: inputs, parameters: parameters};
  }

  function noteStandard(root, standards) {
    var select = document.getElementById("qy-standards"), note = document.getElementById("qy-standard-note");
    function show() {
      var s = standards.filter(function (x) { return String(x.id) === select.value; })[0];
      if (!s || !note) return;
      note.textContent = s.citation + ". " + (s.qy_err === null ? "No uncertainty stated: the error bar leaves the standard out. " : "") + "Solvent " + s.solvent + ", n " + s.refractive_index + ".";
    }
    select.addEventListener("change", show);
    show();
  }

  function startForm(root) {
    var error = document.getElementById("qy-error");
    var get = function (url) { return runs.getAll(url, []).catch(function () { return []; }); };
    Promise.all([get("/api/pl-measurements/?page_size=500"), get("/api/files/?technique=pl&parse_status=ok&page_size=500"),
                 get("/api/absorption-measurements/?page_size=500"), get("/api/files/?technique=uvvis&parse_status=ok&page_size=500"),
                 get("/api/samples/?page_size=500")])
      .then(function (all) {
        fill(root, {pl: all[0], plFiles: all[1], absorption: all[2], absFiles: all[3], samples: all[4]});
      });
    noteStandard(root, runs.readJSON("qy-standards-data") || []);
    document.getElementById("qy-submit").addEventListener("click", function () {
      runs.postRun(root, request(root), error);
    });
  }

  function init() {
    var out = runs.readJSON("relative-qy-output");
    if (out) plot(out);
    var form = document.getElementById("qy-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
