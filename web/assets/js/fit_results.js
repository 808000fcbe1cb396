/* Fit page: interactive χ(k), χ(R) and χ(q) plots with a k-weight switch (0–3) and Re/Im
 * toggles, overlays of other fits (their arrays, or for printed fits their path table beside
 * this one with the differences), and a Copy button for the provenance JSON.
 *
 * Arrays come from /api/xas-fits/<id>/arrays/?space=k|r|q&kweight=w (computed once per fit
 * version and k-weight on the server, with larch's own transform). No inline scripts (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
  var cache = {};

  function getJSON(url) {
    if (!cache[url]) {
      cache[url] = fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.message || ("HTTP " + response.status));
            return body;
          });
        });
      cache[url].catch(function () { delete cache[url]; });
    }
    return cache[url];
  }

  function arraysUrl(fitId, space, kweight, dataset) {
    return "/api/xas-fits/" + fitId + "/arrays/?space=" + space + "&kweight=" + kweight +
      (dataset ? "&dataset=" + encodeURIComponent(dataset) : "");
  }

  function line(x, y, name, color, extra) {
    var trace = {x: x, y: y, name: name, type: "scatter", mode: "lines",
                 line: {width: 1.3, color: color}};
    Object.keys(extra || {}).forEach(function (key) { trace[key] = extra[key]; });
    return trace;
  }

  function layout(xtitle, ytitle, xmax) {
    return {margin: {l: 60, r: 10, t: 10, b: 45}, height: 340,
            xaxis: {title: {text: xtitle}, range: xmax ? [0, xmax] : undefined},
            yaxis: {title: {text: ytitle}}, legend: {orientation: "h", y: -0.3, yanchor: "top"},
            font: {size: 11}};
  }

  function unitText(kw, extra) {
    var power = kw + (extra || 0);
    return power ? "Å⁻" + "⁰¹²³⁴"[power] : "1";
  }

  /* One fit's traces in one space; `tag` labels an overlay ("" for this fit). */
  function traces(space, data, state, tag, color) {
    var a = data.arrays, out = [], who = tag ? tag + " " : "";
    var dash = tag ? "dot" : "dash";
    if (space === "k") {
      out.push(line(a.k_inv_a, a.data, who + "data", color));
      out.push(line(a.k_inv_a, a.model, who + "fit", color, {line: {width: 1.3, dash: dash, color: color}}));
      if (!tag) out.push(line(a.k_inv_a, a.residual, "residual", "#7f7f7f", {line: {width: 1, color: "#7f7f7f"}}));
    } else if (space === "r") {
      var parts = {mag: "|χ(R)|", re: "Re χ(R)", im: "Im χ(R)"};
      state.rparts.forEach(function (part, i) {
        var width = part === "mag" ? 1.4 : 1;
        out.push(line(a.r_a, a[part + "_data"], who + parts[part] + " data", color,
                      {line: {width: width, color: color}, opacity: 1 - 0.25 * i}));
        out.push(line(a.r_a, a[part + "_model"], who + parts[part] + " fit", color,
                      {line: {width: width, dash: dash, color: color}, opacity: 1 - 0.25 * i}));
      });
    } else {
      out.push(line(a.q_inv_a, a.re_data, who + "Re χ(q) data", color));
      out.push(line(a.q_inv_a, a.re_model, who + "Re χ(q) fit", color, {line: {width: 1.3, dash: dash, color: color}}));
    }
    return out;
  }

  function axes(space, kw, data) {
    var t = data.transform || {};
    if (space === "k") return layout("k (Å⁻¹)", "k" + "⁰¹²³"[kw] + "·χ(k) (" + unitText(kw) + ")", (t.kmax || 14) + 2);
    if (space === "r") return layout("R (Å)", "χ(R) (" + unitText(kw, 1) + ")", 6);
    return layout("q (Å⁻¹)", "χ(q) (" + unitText(kw) + ")", (t.kmax || 14) + 2);
  }

  function draw(box, state) {
    var kw = state.kweight, fitId = box.dataset.fitId;
    var spaces = {k: "chik", r: "chir", q: "chiq"};
    var jobs = Object.keys(spaces).map(function (space) {
      var target = box.querySelector('.fit-plot[data-kind="' + spaces[space] + '"]');
      var wanted = [getJSON(arraysUrl(fitId, space, kw, state.dataset))].concat(state.overlays.map(function (o) {
        return getJSON(arraysUrl(o.id, space, kw));
      }));
      return Promise.all(wanted).then(function (all) {
        var data = all[0], shown = traces(space, data, state, "", COLORS[0]);
        state.overlays.forEach(function (o, i) {
          shown = shown.concat(traces(space, all[i + 1], state, "fit " + o.id, COLORS[(i + 1) % COLORS.length]));
        });
        if (!window.Plotly) throw new Error("the plotting library did not load");
        window.Plotly.react(target, shown, axes(space, kw, data), CONFIG);
        target.classList.add("plotted");
        target.setAttribute("data-kweight", String(kw));
        target.setAttribute("data-traces", String(shown.length));
      });
    });
    box.removeAttribute("data-plotted");
    Promise.all(jobs).then(function () {
      box.setAttribute("data-plotted", String(kw));
      box.removeAttribute("data-plot-error");
    }).catch(function (err) {
      box.setAttribute("data-plot-error", err.message);
      var note = box.querySelector("[data-plot-note]") || document.createElement("p");
      note.setAttribute("data-plot-note", "");
      note.className = "note";
      note.textContent = "Plot not available: " + err.message;
      box.querySelector(".fit-plots").after(note);
    });
    box.querySelectorAll("a[data-csv]").forEach(function (link) {
      link.href = arraysUrl(fitId, link.dataset.csv, kw, state.dataset) + "&format=csv";
    });
  }

  function drawMu(box) {
    var target = box.querySelector('.fit-plot[data-kind="mu"]');
    if (!target) return;
    getJSON(target.dataset.plotData).then(function (data) {
      var mu = data.mu;
      window.Plotly.newPlot(target, [line(mu.energy_ev, mu.norm, data.simulated ? "simulated data" : "data", COLORS[0])],
                            layout("energy (eV)", "normalized μ(E)"), CONFIG);
      target.classList.add("plotted");
    }).catch(function (err) { target.textContent = "Plot not available: " + err.message; });
  }

  /* --- overlays: a printed fit has no arrays, so its path table goes beside this one ------- */
  function cell(text, tag) {
    var el = document.createElement(tag || "td");
    el.textContent = text;
    return el;
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toPrecision(digits || 4);
  }

  function comparisonTable(box, otherId, rows, computedIsThis) {
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.setAttribute("data-overlay-table", otherId);
    var table = document.createElement("table");
    table.className = "comparison";
    var caption = document.createElement("caption");
    caption.textContent = "This fit (" + box.dataset.fitId + ") against fit " + otherId +
      ": difference in units of the combined error";
    table.appendChild(caption);
    var head = document.createElement("tr");
    ["Path", "Parameter", "fit " + box.dataset.fitId, "fit " + otherId, "difference", "σ"].forEach(function (t) {
      var th = cell(t, "th"); th.scope = "col"; head.appendChild(th);
    });
    var thead = document.createElement("thead"); thead.appendChild(head); table.appendChild(thead);
    var body = document.createElement("tbody");
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      var mine = computedIsThis ? row.computed : row.published;
      var theirs = computedIsThis ? row.published : row.computed;
      var diff = row.difference === null ? null : (computedIsThis ? row.difference : -row.difference);
      var sig = row.sigmas === null ? null : (computedIsThis ? row.sigmas : -row.sigmas);
      [row.absorber + "–" + row.scatterer, row.parameter, fmt(mine, 5), fmt(theirs, 5), fmt(diff, 3),
       sig === null ? "–" : sig.toFixed(1)].forEach(function (t) { tr.appendChild(cell(t)); });
      if (sig !== null && Math.abs(sig) > 2) tr.className = "high";
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }

  function addTable(box, option) {
    var otherId = option.value, thisId = box.dataset.fitId;
    var thisComputed = box.dataset.hasArrays === "true";
    var computed = thisComputed ? thisId : otherId, published = thisComputed ? otherId : thisId;
    var tables = box.querySelector("[data-overlay-tables]");
    if (tables.querySelector('[data-overlay-table="' + otherId + '"]')) return Promise.resolve();
    return getJSON("/api/fit-comparison/?computed=" + computed + "&published=" + published)
      .then(function (body) { tables.appendChild(comparisonTable(box, otherId, body.rows, thisComputed)); });
  }

  function initOverlays(box, state) {
    var form = box.querySelector("[data-overlay-picker]");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var option = form.querySelector("select").selectedOptions[0];
      if (!option) return;
      var id = option.value;
      var withArrays = option.dataset.hasArrays === "true" && box.dataset.hasArrays === "true";
      var tableDone = addTable(box, option);
      if (withArrays && !state.overlays.some(function (o) { return o.id === id; })) {
        state.overlays.push({id: id});
        draw(box, state);
      }
      tableDone.then(function () { box.setAttribute("data-overlays", String(state.overlays.length)); })
        .catch(function (err) { box.setAttribute("data-overlay-error", err.message); });
    });
  }

  function initControls(box, state) {
    var controls = box.querySelector(".plot-controls");
    if (!controls) return;
    controls.addEventListener("change", function () {
      var checked = controls.querySelector('input[name="kweight"]:checked');
      state.kweight = checked ? Number(checked.value) : state.kweight;
      var dataset = controls.querySelector('select[name="dataset"]');
      state.dataset = dataset ? dataset.value : null;
      state.rparts = Array.prototype.map.call(controls.querySelectorAll('input[name="rpart"]:checked'),
                                              function (input) { return input.value; });
      draw(box, state);
    });
  }

  /* --- provenance: copy the JSON (clipboard API, else a selected textarea) ---------------- */
  function initCopy(button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copyTarget);
      var text = source.textContent;
      var status = button.parentElement.querySelector("[data-copy-status]");
      function done(message) { if (status) status.textContent = message; button.setAttribute("data-copied", "true"); }
      function fallback() {
        var area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.className = "copy-buffer";
        document.body.appendChild(area);
        area.select();
        var ok = document.execCommand && document.execCommand("copy");
        document.body.removeChild(area);
        done(ok ? "Copied." : "Select the JSON below and copy it.");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("Copied."); }, fallback);
      } else {
        fallback();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy-target]").forEach(initCopy);
    document.querySelectorAll("[data-fit-results]").forEach(function (box) {
      var state = {kweight: Number(box.dataset.fitKweight) || 2, rparts: ["mag"], overlays: [],
                   dataset: null};
      var checked = box.querySelector('input[name="kweight"]:checked');
      if (checked) state.kweight = Number(checked.value);
      initOverlays(box, state);
      if (box.dataset.hasArrays !== "true") return;
      initControls(box, state);
      drawMu(box);
      draw(box, state);
    });
  });
})();
