/* Interdiffusion kinetics runs: the start forms (a synthesis run's aliquots and their stored
 * compositions; interdiffusion runs for an Arrhenius fit; POST through labdbRuns.postRun) and
 * the result plots (x(t) data with error bars + Fickian fit; ln D vs 1/(kB T) with the line).
 *
 * Data come from the run's output via json_script (#interdiffusion-output / #arrhenius-output).
 * No inline scripts (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var runs = window.labdbRuns;

  function json(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; });
  }

  function layout(xtitle, ytitle) {
    return {margin: {l: 65, r: 10, t: 10, b: 45}, height: 400,
            xaxis: {title: {text: xtitle}}, yaxis: {title: {text: ytitle}},
            legend: {orientation: "h", y: -0.2, yanchor: "top"}, font: {size: 11}};
  }

  function errorBars(values) {
    var any = values.some(function (v) { return v !== null && v !== undefined; });
    return any ? {type: "data", array: values.map(function (v) { return v || 0; }), visible: true} : undefined;
  }

  /* ---------------------------------------------------------------- results */

  function plotDiffusion(out) {
    var node = document.getElementById("interdiffusion-plot");
    if (!node || !window.Plotly) return;
    var pts = out.points;
    var data = {x: pts.map(function (p) { return p.time_min; }), y: pts.map(function (p) { return p.x_frac; }),
                text: pts.map(function (p) { return p.label; }), name: "aliquots (" + out.element + " fraction)",
                type: "scatter", mode: "markers", marker: {size: 8, color: "#1f77b4"},
                error_y: errorBars(pts.map(function (p) { return p.x_err_frac; }))};
    var fit = {x: out.curve.time_min, y: out.curve.x_frac, type: "scatter", mode: "lines",
               name: "Fickian sphere, D = " + out.d_cm2_s.toExponential(3) + " cm² s⁻¹",
               line: {color: "#d62728", width: 1.8}};
    var lay = layout("reaction time (min)", out.element + "/(" + out.element + "+" + out.host + ")");
    window.Plotly.newPlot(node, [data, fit], lay, CONFIG);
  }

  function plotArrhenius(out) {
    var node = document.getElementById("arrhenius-plot");
    if (!node || !window.Plotly) return;
    var pts = out.points;
    var data = {x: pts.map(function (p) { return p.inv_kt_per_ev; }), y: pts.map(function (p) { return p.ln_d; }),
                text: pts.map(function (p) { return p.label; }), name: "runs", type: "scatter", mode: "markers",
                marker: {size: 8, color: "#1f77b4"}, error_y: errorBars(pts.map(function (p) { return p.ln_d_err; }))};
    var line = {x: out.line.inv_kt_per_ev, y: out.line.ln_d, type: "scatter", mode: "lines",
                name: "Eₐ = " + out.activation_energy_ev.toFixed(3) + " eV", line: {color: "#d62728", width: 1.8}};
    window.Plotly.newPlot(node, [data, line], layout("1/(k_B T) (eV⁻¹)", "ln D (D in cm² s⁻¹)"), CONFIG);
  }

  /* ---------------------------------------------------------------- interdiffusion form */

  function option(select, value, text) {
    var opt = document.createElement("option");
    opt.value = value; opt.textContent = text;
    select.appendChild(opt);
  }

  function clearOptions(select) {
    Array.prototype.slice.call(select.querySelectorAll("option")).forEach(function (o, i) {
      if (i > 0) o.remove();
    });
  }

  function ratioText(ratios) {
    return Object.keys(ratios || {}).map(function (k) { return k + " = " + ratios[k]; }).join(", ");
  }

  /* The run's products and the samples taken from them as aliquots, as sample records. */
  function aliquotSamples(run) {
    var products = run.products || [];
    return Promise.all(products.map(function (id) {
      return runs.getAll("/api/sample-parents/?process=aliquot&parent=" + id, []);
    })).then(function (lists) {
      var ids = products.slice();
      lists.forEach(function (links) {
        links.forEach(function (l) { if (ids.indexOf(l.child) < 0) ids.push(l.child); });
      });
      return Promise.all(ids.map(function (id) { return json("/api/samples/" + id + "/"); }));
    }).then(function (samples) { return samples.filter(Boolean); });
  }

  function compositionRow(tbody, c, code) {
    var tr = document.createElement("tr");
    var use = document.createElement("input");
    use.type = "checkbox"; use.value = c.id; use.name = "compositions";
    use.checked = c.method !== "nominal";
    var time = document.createElement("input");
    time.type = "number"; time.step = "any"; time.min = "0"; time.name = "time-" + c.id;
    var t = (c.extra || {}).reaction_time_min;
    if (t !== undefined && t !== null) time.value = t;
    [use, code, c.method, ratioText(c.ratios), time].forEach(function (cell) {
      var td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null ? "" : cell;
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }

  function showRun(root, run) {
    var tbody = root.querySelector("#interdiffusion-compositions tbody");
    var empty = document.getElementById("interdiffusion-empty");
    var size = document.getElementById("interdiffusion-size");
    var target = document.getElementById("interdiffusion-sample");
    tbody.textContent = "";
    clearOptions(size); clearOptions(target);
    if (run.max_setpoint_c !== null && run.max_setpoint_c !== undefined) {
      root.querySelector("[name=temperature_c]").value = run.max_setpoint_c;
    }
    aliquotSamples(run).then(function (samples) {
      var codes = {};
      samples.forEach(function (s) { codes[s.id] = s.code; option(target, s.id, s.code); });
      return Promise.all(samples.map(function (s) {
        return Promise.all([runs.getAll("/api/compositions/?sample=" + s.id, []),
                            runs.getAll("/api/tem-sizes/?sample=" + s.id, [])]);
      })).then(function (both) {
        var n = 0;
        both.forEach(function (pair) {
          pair[0].forEach(function (c) { compositionRow(tbody, c, codes[c.sample]); n += 1; });
          pair[1].forEach(function (t) {
            if (t.diameter_nm) option(size, t.id, codes[t.sample] + ": d = " + t.diameter_nm + " nm (TEM " + t.id + ")");
          });
        });
        empty.textContent = n ? "" : "No composition measurement on this run's products or aliquots.";
        empty.hidden = n > 0;
      });
    });
  }

  function value(root, name) {
    var el = root.querySelector("[name=" + name + "]");
    return el ? el.value : "";
  }

  function number(root, name) {
    var v = value(root, name);
    return v === "" ? null : Number(v);
  }

  function diffusionRequest(root) {
    var ids = [], times = [];
    root.querySelectorAll("input[name=compositions]:checked").forEach(function (box) {
      ids.push(Number(box.value));
      times.push(number(root, "time-" + box.value));
    });
    var inputs = {compositions: ids};
    var size = document.getElementById("interdiffusion-size").value;
    var sample = document.getElementById("interdiffusion-sample").value;
    if (size) inputs.size = Number(size);
    if (sample) inputs.sample = Number(sample);
    var parameters = {
      times_min: times, element: value(root, "element"), host: value(root, "host"),
      fraction_key: value(root, "fraction_key"), radius_nm: size ? null : number(root, "radius_nm"),
      x0_frac: number(root, "x0_frac"), x_inf_frac: number(root, "x_inf_frac"),
      vary_x0: root.querySelector("[name=vary_x0]").checked,
      vary_x_inf: root.querySelector("[name=vary_x_inf]").checked,
      temperature_c: number(root, "temperature_c")
    };
    return {kind: "interdiffusion", inputs: inputs, parameters: parameters};
  }

  function diffusionForm(root) {
    var select = document.getElementById("interdiffusion-synthesis-run");
    var byId = {};
    runs.getAll("/api/runs/?page_size=200", []).then(function (list) {
      list.forEach(function (r) {
        byId[r.id] = r;
        option(select, r.id, r.code + (r.started_at ? " (" + r.started_at.slice(0, 10) + ")" : "") +
               " — " + (r.products || []).length + " products");
      });
    });
    select.addEventListener("change", function () {
      if (byId[select.value]) showRun(root, byId[select.value]);
    });
    document.getElementById("interdiffusion-submit").addEventListener("click", function () {
      runs.postRun(root, diffusionRequest(root), document.getElementById("interdiffusion-error"));
    });
  }

  /* ---------------------------------------------------------------- Arrhenius form */

  function arrheniusForm(root) {
    var box = document.getElementById("arrhenius-runs");
    runs.getAll("/api/analysis-runs/?kind=interdiffusion&status=succeeded", []).then(function (list) {
      document.getElementById("arrhenius-empty").hidden = list.length > 0;
      list.forEach(function (r) {
        var label = document.createElement("label");
        var input = document.createElement("input");
        input.type = "checkbox"; input.value = r.id; input.name = "runs";
        label.appendChild(input);
        label.appendChild(document.createTextNode(" run " + r.id + ": " + (r.summary || "")));
        box.appendChild(label);
      });
    });
    document.getElementById("arrhenius-submit").addEventListener("click", function () {
      var ids = Array.prototype.map.call(box.querySelectorAll("input:checked"), function (i) { return Number(i.value); });
      var body = {kind: "interdiffusion_arrhenius", inputs: {runs: ids},
                  parameters: {weighted: root.querySelector("[name=weighted]").checked}};
      runs.postRun(root, body, document.getElementById("arrhenius-error"));
    });
  }

  function init() {
    var out = runs.readJSON("interdiffusion-output");
    if (out) plotDiffusion(out);
    var arr = runs.readJSON("arrhenius-output");
    if (arr) plotArrhenius(arr);
    var form = document.getElementById("interdiffusion-start");
    if (form) diffusionForm(form);
    var aform = document.getElementById("arrhenius-start");
    if (aform) arrheniusForm(aform);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
