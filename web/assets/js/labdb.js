/* labdb web UI: small progressive enhancements in vanilla JS (no build step).
 *  - file upload by drag and drop, or by pressing the drop zone (a real <button>);
 *    the plain file input + Upload button keep working without JS;
 *  - interactive plotly plots of data-file series (zoom, pan) on demand;
 *  - polling of fit-run progress and of files being parsed;
 *  - the correlation explorer's scatter plot.
 */
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  var MARKERS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down"];
  var LAYOUT = {
    margin: {l: 60, r: 20, t: 20, b: 50},
    font: {family: "system-ui, sans-serif", size: 12},
    legend: {orientation: "h"},
  };
  var CONFIG = {responsive: true, displaylogo: false};

  function axisTitle(label, unit) { return unit ? label + " (" + unit + ")" : (label || ""); }

  /* --- data-file series plots ---------------------------------------------------------- */
  function drawSeries(target, data) {
    var series = (data && data.series) || [];
    if (!series.length || !window.Plotly) {
      target.textContent = "No plottable series in this file.";
      return;
    }
    var traces = series.slice(0, 12).map(function (s, i) {
      return {x: s.x, y: s.y, name: s.name, type: "scatter", mode: "lines",
              line: {width: 1.2, dash: ["solid", "dash", "dot", "dashdot"][i % 4]}};
    });
    var first = series[0];
    var layout = Object.assign({}, LAYOUT, {
      xaxis: {title: {text: axisTitle(first.x_label, first.x_unit)},
              autorange: first.x_unit === "cm⁻¹" ? "reversed" : true},
      yaxis: {title: {text: axisTitle(first.y_label, first.y_unit)}},
      showlegend: series.length > 1,
    });
    target.classList.add("plotted");
    window.Plotly.newPlot(target, traces, layout, CONFIG);
  }

  function showPlot(button) {
    var target = document.getElementById(button.getAttribute("aria-controls"));
    if (!target || target.classList.contains("plotted")) return;
    button.disabled = true;
    button.textContent = "Loading plot…";
    fetch(button.dataset.seriesUrl, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        drawSeries(target, data);
        button.textContent = "Interactive plot shown below (drag to zoom, double-click to reset)";
      })
      .catch(function (err) {
        target.textContent = "✗ Could not load the plot data (" + err.message + ").";
        button.disabled = false;
        button.textContent = "Retry interactive plot";
      });
  }

  function initPlotButtons(root) {
    root.querySelectorAll("[data-plot-button]").forEach(function (button) {
      if (button.dataset.bound) return;
      button.dataset.bound = "1";
      button.addEventListener("click", function () { showPlot(button); });
      if (button.hasAttribute("data-autoplot")) showPlot(button);
    });
  }

  /* --- uploads --------------------------------------------------------------------------- */
  /* Measurements parsed from the new files, and the file lists, without a reload. Files just
     shown in the upload results (with their plots) are not repeated in the refreshed lists. */
  function refreshSections(form, results) {
    var url = form.dataset.sectionsUrl;
    if (!url) return null;
    return fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (sections) {
        Object.keys(sections).forEach(function (name) {
          var target = document.querySelector('[data-section="' + name + '"]');
          if (!target) return;
          target.innerHTML = sections[name];
          target.querySelectorAll("li.file").forEach(function (item) {
            var shown = results.querySelector("#" + item.id);
            if (!shown) return;
            // A result shown while it was parsing is replaced by the parsed file (plots,
            // preview, numbers); otherwise the result stays and the list copy goes.
            var wasParsing = shown.hasAttribute("data-parse-pending") || shown.hasAttribute("data-parse-done");
            if (wasParsing && !item.hasAttribute("data-parse-pending")) {
              shown.replaceWith(item);
              item.querySelectorAll("[data-plot-button]").forEach(function (b) { b.setAttribute("data-autoplot", ""); });
              initPlotButtons(item);
              initBrokenImages(item);
            } else {
              item.remove();
            }
          });
          target.querySelectorAll("ul.files, ul.attachments").forEach(function (list) {
            if (!list.children.length && list.previousElementSibling) list.previousElementSibling.remove();
            if (!list.children.length) list.remove();
          });
          initPlotButtons(target);
          initBrokenImages(target);
          initParsePolling(target);
        });
      })
      .catch(function (err) { status_(form).textContent += " (Could not refresh the page sections: " + err.message + "; reload to see them.)"; });
  }

  function status_(form) { return form.querySelector("[data-upload-status]"); }

  function initUpload(form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("[data-file-input]");
    var status = form.querySelector("[data-upload-status]");
    var results = form.querySelector("[data-upload-results]");
    form.classList.add("js-upload");

    function send(files) {
      if (!files || !files.length) return;
      var body = new FormData();
      Array.prototype.forEach.call(files, function (f) { body.append("files", f, f.name); });
      status.textContent = "↻ Uploading and parsing " + files.length + " file(s)…";
      zone.setAttribute("aria-busy", "true");
      fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                          headers: {"X-CSRFToken": csrfToken(form), "X-Requested-With": "fetch"}})
        .then(function (r) {
          return r.text().then(function (html) {
            if (!r.ok) throw new Error("HTTP " + r.status);
            return html;
          });
        })
        .then(function (html) {
          results.insertAdjacentHTML("afterbegin", html);
          var parsing = results.querySelectorAll("[data-parse-pending]").length;
          status.textContent = parsing ? "✓ Stored; parsing " + parsing + " file(s)…" : uploadFinishedText(results);
          initPlotButtons(results);
          initBrokenImages(results);
          initParsePolling(results);
          var empty = document.querySelector("[data-no-files]");
          if (empty) empty.remove();
          return refreshSections(form, results);
        })
        .catch(function (err) { status.textContent = "✗ Upload failed (" + err.message + "). Try the Upload button."; })
        .finally(function () { zone.removeAttribute("aria-busy"); input.value = ""; });
    }

    zone.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", function () { send(input.files); });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (e) { send(e.dataTransfer.files); });
    form.addEventListener("submit", function (e) { e.preventDefault(); send(input.files); });
  }

  /* --- images that are not there (e.g. fit plots not yet rendered) ------------------------- */
  function initBrokenImages(root) {
    root.querySelectorAll("img").forEach(function (img) {
      img.addEventListener("error", function () {
        var note = document.createElement("p");
        note.className = "empty";
        note.textContent = "Plot not available: " + img.alt;
        img.replaceWith(note);
      }, {once: true});
    });
  }

  /* --- fit plots: the server computes each fit's plot data once (cached per fit version);
   * the browser draws μ(E), χ(k) and |χ(R)| with plotly. χ(k) arrives unweighted with the
   * fit's k-weight, so the weighting is applied here. ------------------------------------- */
  function fitKweight(value) {
    var w = Array.isArray(value) ? value[0] : Number(value);
    return isFinite(w) ? w : 2;
  }

  function line(x, y, name, extra) {
    return Object.assign({x: x, y: y, name: name, type: "scatter", mode: "lines",
                          line: {width: 1.3}}, extra || {});
  }

  function fitFigures(data) {
    var tag = data.simulated ? "simulated data" : "data";
    var mu = data.mu, ck = data.chik, cr = data.chir;
    var kw = fitKweight(ck.kweight);
    var weigh = function (chi) {
      return chi.map(function (v, i) { return v === null ? null : v * Math.pow(ck.k_inv_a[i], kw); });
    };
    var chiData = weigh(ck.chi_data);
    var peak = Math.max.apply(null, chiData.map(function (v) { return Math.abs(v || 0); })) || 1;
    return {
      mu: {traces: [line(mu.energy_ev, mu.norm, tag)],
           layout: {xaxis: {title: {text: "energy (eV)"}},
                    yaxis: {title: {text: "normalized μ(E)"}},
                    shapes: [{type: "line", x0: mu.e0_ev, x1: mu.e0_ev, yref: "paper", y0: 0, y1: 1,
                              line: {dash: "dash", width: 1, color: "#888"}}]}},
      chik: {traces: [line(ck.k_inv_a, chiData, tag),
                      line(ck.k_inv_a, weigh(ck.chi_model), "fit", {line: {width: 1.3, dash: "dash"}}),
                      line(ck.k_inv_a, ck.kwin.map(function (v) { return v === null ? null : v * peak; }),
                           "k window", {line: {width: 0.8, color: "#999"}})],
             layout: {xaxis: {title: {text: "k (Å⁻¹)"}},
                      yaxis: {title: {text: "k^" + kw + "·χ(k) (Å^-" + kw + ")"}}}},
      chir: {traces: [line(cr.r_a, cr.mag_data, "|χ(R)| " + tag),
                      line(cr.r_a, cr.mag_model, "|χ(R)| fit", {line: {width: 1.3, dash: "dash"}})],
             layout: {xaxis: {title: {text: "R (Å)"}},
                      yaxis: {title: {text: "|χ(R)| (Å^-" + (kw + 1) + ")"}},
                      shapes: [{type: "rect", x0: cr.rmin_a, x1: cr.rmax_a, yref: "paper", y0: 0, y1: 1,
                                fillcolor: "#e6e6e6", opacity: 0.6, line: {width: 0}, layer: "below"}]}},
    };
  }

  function drawFitPlots(box, data) {
    var figures = fitFigures(data);
    box.querySelectorAll(".fit-plot[data-kind]").forEach(function (target) {
      var fig = figures[target.dataset.kind];
      if (!fig) return;
      var layout = Object.assign({}, LAYOUT, {height: 280, margin: {l: 60, r: 10, t: 10, b: 45}},
                                 fig.layout);
      target.classList.add("plotted");
      window.Plotly.newPlot(target, fig.traces, layout, CONFIG);
    });
    box.setAttribute("data-plotted", "");
  }

  function initFitPlots(box) {
    fetch(box.dataset.fitPlots, {credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) return r.json().then(function (b) { throw new Error(b.message || "HTTP " + r.status); });
        return r.json();
      })
      .then(function (data) {
        if (!window.Plotly) throw new Error("the plotting library did not load");
        drawFitPlots(box, data);
      })
      .catch(function (err) {
        box.querySelectorAll(".fit-plot").forEach(function (target) {
          target.textContent = "Plot not available: " + err.message;
        });
        box.setAttribute("data-plot-error", "");
      });
  }

  /* --- parse polling: files stored, parsed by a background job ----------------------------- */
  /* Each file shown "parsing…" polls its JSON until the parse job has finished; then the
     sample page's measurement and file sections are fetched again (or, elsewhere, the badge
     is updated in place). No reload by hand. */
  var PARSE_DONE_LABEL = {ok: "✓ ok", failed: "✗ failed", skipped: "📎 attachment"};

  function uploadFinishedText(results) {
    var failed = results.querySelectorAll(".badge-bad").length;
    return "✓ Upload finished" + (failed ? " — " + failed + " file(s) could not be parsed, see below." : ".");
  }

  function parseFinished(item, file) {
    item.removeAttribute("data-parse-pending");
    item.setAttribute("data-parse-done", file.parse_status);
    var badge = item.querySelector("[data-parse-badge]");
    if (badge) {
      badge.textContent = PARSE_DONE_LABEL[file.parse_status] || file.parse_status;
      badge.className = "badge badge-" + (file.parse_status === "failed" ? "bad" : "ok");
    }
    if (file.parse_status === "failed" && file.parse_error) {
      var p = document.createElement("p");
      p.className = "field-error";
      p.textContent = "✗ Could not parse: " + file.parse_error;
      item.appendChild(p);
    }
    var form = document.querySelector("form[data-upload][data-sections-url]");
    var results = form && form.querySelector("[data-upload-results]");
    if (!form || !results) return;  // elsewhere the badge says it
    var refreshed = refreshSections(form, results) || Promise.resolve();
    refreshed.then(function () {
      if (!document.querySelector("[data-parse-pending]") && results.querySelector(".file")) {
        status_(form).textContent = uploadFinishedText(results);
      }
    });
  }

  function pollParse(item) {
    if (item.hasAttribute("data-parse-polling")) return;
    item.setAttribute("data-parse-polling", "");
    var delay = 400;
    function poll() {
      fetch(item.dataset.fileStatusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (file) {
          if (file.parse_status === "pending" || file.parse_status === "parsing") {
            delay = Math.min(delay * 1.5, 3000);
            setTimeout(poll, delay);
            return;
          }
          parseFinished(item, file);
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, delay);
  }

  function initParsePolling(root) {
    root.querySelectorAll("[data-parse-pending][data-file-status-url]").forEach(pollParse);
  }

  /* --- fit-run progress polling ------------------------------------------------------------ */
  function initFitProgress(box) {
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-progress-text]");
    var rows = box.querySelector("[data-run-rows]");
    var delay = 500;
    function poll() {
      fetch(box.dataset.statusUrl, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          bar.value = s.pct;
          bar.textContent = s.pct + " %";
          text.textContent = s.text;
          rows.innerHTML = s.html;
          if (s.finished) { box.setAttribute("data-finished", ""); return; }
          delay = Math.min(delay * 1.5, 5000);
          setTimeout(poll, delay);
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    if (!box.hasAttribute("data-finished")) setTimeout(poll, delay);
  }

  /* --- correlation explorer ---------------------------------------------------------------- */
  function initExplore(target) {
    var traces = JSON.parse(document.getElementById(target.dataset.traces).textContent);
    traces.forEach(function (t, i) {
      t.marker = {size: 9, symbol: MARKERS[i % MARKERS.length], line: {width: 1, color: "#222"}};
    });
    var layout = Object.assign({}, LAYOUT, {
      xaxis: {title: {text: target.dataset.xLabel}},
      yaxis: {title: {text: target.dataset.yLabel}},
      hovermode: "closest",
    });
    target.classList.add("plotted");
    window.Plotly.newPlot(target, traces, layout, CONFIG);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(initUpload);
    initPlotButtons(document);
    initBrokenImages(document);
    initParsePolling(document);
    document.querySelectorAll("[data-fit-plots]").forEach(initFitPlots);
    document.querySelectorAll("[data-fit-progress]").forEach(initFitProgress);
    document.querySelectorAll("[data-explore-plot]").forEach(initExplore);
  });
})();

/* --- records: searchable pickers (a text box filtering a select's options) ------------------ */
(function () {
  "use strict";
  function initFilterable(select) {
    if (select.dataset.filterReady) return;
    select.dataset.filterReady = "1";
    var box = document.createElement("input");
    box.type = "search";
    box.className = "picker-filter";
    box.placeholder = "Type to filter…";
    box.setAttribute("aria-label", "Type to filter the list below");
    select.parentNode.insertBefore(box, select);
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var text = (option.dataset.search || option.textContent).toLowerCase();
        option.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !Array.prototype.some.call(group.children, function (o) { return !o.hidden; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-filterable]").forEach(initFilterable);
  });
})();
