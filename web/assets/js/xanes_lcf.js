/* XANES linear combination and PCA runs: the start form (spectra pickers, POST to
 * /api/analysis-runs/) and the result plots (LCF: data, fit, weighted components, residual;
 * PCA: scree plot, components, reconstructions/target transforms).
 *
 * Data come from the run's output via json_script (#xanes-lcf-output / #xanes-pca-output).
 * No inline scripts (CSP). SIMULATED spectra keep their label in every legend. */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

  function line(x, y, name, color, extra) {
    var trace = {x: x, y: y, name: name, type: "scatter", mode: "lines", line: {width: 1.4, color: color}};
    Object.keys(extra || {}).forEach(function (key) { trace[key] = extra[key]; });
    return trace;
  }

  function layout(xtitle, ytitle, height) {
    return {margin: {l: 60, r: 10, t: 10, b: 45}, height: height || 380,
            xaxis: {title: {text: xtitle}}, yaxis: {title: {text: ytitle}},
            legend: {orientation: "h", y: -0.25, yanchor: "top"}, font: {size: 11}};
  }

  var readJSON = window.labdbRuns.readJSON;

  /* ---------------------------------------------------------------- results */

  function plotLcf(out) {
    var node = document.getElementById("xanes-lcf-plot");
    if (!node || !window.Plotly) return;
    var best = out.best, x = best.energy_ev, traces = [];
    traces.push(line(x, best.data, "data: " + out.unknown.label, "#000000", {line: {width: 2, color: "#000000"}}));
    traces.push(line(x, best.fit, "fit", "#d62728", {line: {width: 1.6, dash: "dash", color: "#d62728"}}));
    best.components.forEach(function (c, i) {
      var y = best.weighted_components[c.key];
      if (y) traces.push(line(x, y, c.label + " × " + (c.weight === null ? "?" : c.weight.toFixed(3)), COLORS[(i + 2) % COLORS.length], {line: {width: 1.1, dash: "dot", color: COLORS[(i + 2) % COLORS.length]}}));
    });
    traces.push(line(x, best.residual, "residual (data − fit)", "#7f7f7f", {yaxis: "y2", line: {width: 1, color: "#7f7f7f"}}));
    var lay = layout("Energy (eV)", "normalized μ(E)", 460);
    lay.yaxis.domain = [0.3, 1];
    lay.yaxis2 = {domain: [0, 0.22], title: {text: "residual"}, zeroline: true};
    window.Plotly.newPlot(node, traces, lay, CONFIG);
  }

  function plotPca(out) {
    var model = out.model, scree = document.getElementById("xanes-pca-scree");
    if (!window.Plotly) return;
    var n = model.variances.map(function (_, i) { return i + 1; });
    if (scree) {
      window.Plotly.newPlot(scree, [
        {x: n, y: model.variances, name: "variance", type: "scatter", mode: "lines+markers", marker: {color: COLORS[0]}},
        {x: n, y: model.cumulative_variances, name: "cumulative", type: "scatter", mode: "lines+markers", marker: {color: COLORS[1]}},
        {x: n.slice(0, model.ind.length), y: model.ind, name: "IND", type: "scatter", mode: "lines+markers", yaxis: "y2", marker: {color: COLORS[2]}}
      ], (function () {
        var lay = layout("component", "fraction of variance", 320);
        lay.yaxis.type = "log";
        lay.yaxis2 = {overlaying: "y", side: "right", title: {text: "IND"}};
        return lay;
      })(), CONFIG);
    }
    var comps = document.getElementById("xanes-pca-components");
    if (comps) {
      var traces = [line(model.energy_ev, model.mean, "mean", "#000000", {line: {width: 2, color: "#000000"}})];
      model.components.forEach(function (c, i) {
        traces.push(line(model.energy_ev, c, "component " + (i + 1), COLORS[i % COLORS.length], {yaxis: "y2", visible: i < Math.max(out.n_components, 2) ? true : "legendonly"}));
      });
      var lay = layout("Energy (eV)", "mean normalized μ(E)", 380);
      lay.yaxis2 = {overlaying: "y", side: "right", title: {text: "component"}};
      window.Plotly.newPlot(comps, traces, lay, CONFIG);
    }
    var fits = document.getElementById("xanes-pca-fits");
    if (fits) {
      var ft = [];
      out.fits.concat(out.targets).forEach(function (f, i) {
        var color = COLORS[i % COLORS.length], tag = out.fits.indexOf(f) >= 0 ? "" : " (target)";
        ft.push(line(model.energy_ev, f.data, f.label + tag, color));
        ft.push(line(model.energy_ev, f.fit, f.label + tag + ": " + f.n_components + " components", color, {line: {width: 1.3, dash: "dash", color: color}}));
      });
      window.Plotly.newPlot(fits, ft, layout("Energy (eV)", "normalized μ(E)", 380), CONFIG);
    }
  }

  /* ---------------------------------------------------------------- start form */

  function spectrumLabel(s, codes) {
    var sample = codes[s.sample] || ("sample " + s.sample);
    var simulated = s.source === "simulated" ? " (SIMULATED)" : "";
    return "#" + s.id + " " + sample + " " + (s.group_label || "") + " — " + s.element + " " + s.edge + simulated;
  }

  /* Spectra with a parsed raw file (published spectra carry no μ(E)), labelled by sample code. */
  function fillChoices(root, spectra, samples) {
    var codes = {};
    samples.forEach(function (x) { codes[x.id] = x.code; });
    spectra = spectra.filter(function (s) { return s.data_file; });
    root.querySelectorAll("[data-role]").forEach(function (box) {
      var role = box.getAttribute("data-role");
      spectra.forEach(function (s) {
        if (box.tagName === "SELECT") {
          var opt = document.createElement("option");
          opt.value = s.id; opt.textContent = spectrumLabel(s, codes);
          box.appendChild(opt);
        } else {
          var label = document.createElement("label");
          var input = document.createElement("input");
          input.type = "checkbox"; input.value = s.id; input.name = role;
          label.appendChild(input);
          label.appendChild(document.createTextNode(" " + spectrumLabel(s, codes)));
          box.appendChild(label);
        }
      });
    });
  }

  function num(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el && el.value !== "" ? Number(el.value) : null;
  }

  function checked(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.checked : undefined;
  }

  function request(root) {
    var kind = root.getAttribute("data-kind"), inputs = {};
    root.querySelectorAll("[data-role]").forEach(function (box) {
      var role = box.getAttribute("data-role");
      if (box.tagName === "SELECT") { inputs[role] = Number(box.value); return; }
      var ids = Array.prototype.map.call(box.querySelectorAll("input:checked"), function (i) { return Number(i.value); });
      if (ids.length || role === "standards" || role === "spectra") inputs[role] = ids;
    });
    var parameters = {
      energy_range_ev: [num(root, "energy_min_ev"), num(root, "energy_max_ev")],
      normalization: {pre1_ev: num(root, "pre1_ev"), pre2_ev: num(root, "pre2_ev"),
                      norm1_ev: num(root, "norm1_ev"), norm2_ev: num(root, "norm2_ev"),
                      nnorm: num(root, "nnorm")},
      e0_from: root.querySelector("[name=e0_from]").value
    };
    if (kind === "xanes_lcf") {
      ["sum_to_one", "bounded", "all_combinations", "vary_e0"].forEach(function (k) { parameters[k] = checked(root, k); });
    } else {
      parameters.n_components = num(root, "n_components");
    }
    return {kind: kind, inputs: inputs, parameters: parameters};
  }

  function startForm(root) {
    var error = document.getElementById("xanes-error");
    Promise.all([window.labdbRuns.getAll("/api/xas-spectra/?page_size=500", []),
                 window.labdbRuns.getAll("/api/samples/?page_size=500", []).catch(function () { return []; })])
      .then(function (both) { fillChoices(root, both[0], both[1]); });
    document.getElementById("xanes-submit").addEventListener("click", function () {
      window.labdbRuns.postRun(root, request(root), error);
    });
  }

  function init() {
    var lcf = readJSON("xanes-lcf-output");
    if (lcf) plotLcf(lcf);
    var pca = readJSON("xanes-pca-output");
    if (pca) plotPca(pca);
    var form = document.getElementById("xanes-start");
    if (form) startForm(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
