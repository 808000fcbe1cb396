/* labdb web UI: small progressive enhancements in vanilla JS (no build step).
 *  - file upload by drag and drop, or by pressing the drop zone (a real <button>);
 *    the plain file input + Upload button keep working without JS;
 *  - interactive plotly plots of data-file series (zoom, pan) on demand;
 *  - polling of fit-run progress;
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
          var failed = results.querySelectorAll(".badge-bad").length;
          status.textContent = "✓ Upload finished" + (failed ? " — " + failed + " file(s) could not be parsed, see below." : ".");
          initPlotButtons(results);
          initBrokenImages(results);
          var empty = document.querySelector("[data-no-files]");
          if (empty) empty.remove();
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

  /* --- fit plots: one request at a time (the plots are rendered on demand by the server,
   * whose mathtext parser is not safe to run in parallel threads) ------------------------ */
  function loadSequentially(images) {
    var queue = Array.prototype.slice.call(images);
    function next() {
      var img = queue.shift();
      if (!img) return;
      img.addEventListener("load", next, {once: true});
      img.addEventListener("error", next, {once: true});
      img.src = img.dataset.sequentialSrc;
      img.removeAttribute("data-sequential-src");
    }
    next();
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
    loadSequentially(document.querySelectorAll("img[data-sequential-src]"));
    document.querySelectorAll("[data-fit-progress]").forEach(initFitProgress);
    document.querySelectorAll("[data-explore-plot]").forEach(initExplore);
  });
})();
