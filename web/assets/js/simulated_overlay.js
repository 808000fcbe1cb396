/* Sample page: overlay a SIMULATED spectrum (FDMNES, FEFF xmu.dat) on a data file's
 * interactive μ(E) plot. The simulated μ is drawn on its own right-hand axis (an FDMNES
 * cross-section in Mbarn has no common scale with a measured μ) and its legend entry starts
 * with "SIMULATED". Series come from the file-series URL of the simulated spectrum's file.
 * No inline scripts (CSP): the <select data-simulated-overlay> carries the URLs. */
(function () {
  "use strict";

  var OVERLAY = "simulated-overlay";

  function whenPlotted(target, timeoutMs) {
    /* The base plot is drawn by labdb.js on demand: press its button, wait for the plot. */
    return new Promise(function (resolve, reject) {
      if (target.classList.contains("plotted") && target.data) return resolve(target);
      var button = document.querySelector('[data-plot-button][aria-controls="' + target.id + '"]');
      if (button && !button.disabled) button.click();
      var waited = 0;
      var timer = window.setInterval(function () {
        waited += 100;
        if (target.classList.contains("plotted") && target.data) {
          window.clearInterval(timer);
          resolve(target);
        } else if (waited >= timeoutMs) {
          window.clearInterval(timer);
          reject(new Error("the base plot did not load"));
        }
      }, 100);
    });
  }

  function removeOverlay(target) {
    var indices = [];
    (target.data || []).forEach(function (trace, i) { if (trace.meta === OVERLAY) indices.push(i); });
    if (indices.length) window.Plotly.deleteTraces(target, indices);
  }

  function overlay(select) {
    var target = document.getElementById(select.dataset.plotId);
    var status = select.closest(".interactive").querySelector("[data-overlay-status]");
    var option = select.options[select.selectedIndex];
    if (!target || !window.Plotly) return;
    status.textContent = select.value ? "Loading the simulated spectrum…" : "";
    whenPlotted(target, 15000)
      .then(function () {
        removeOverlay(target);
        if (!select.value) return null;
        return fetch(select.value, {credentials: "same-origin"}).then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        });
      })
      .then(function (data) {
        if (!data) return;
        var s = (data.series || [])[0];
        if (!s) throw new Error("the simulated file has no series");
        window.Plotly.addTraces(target, {
          x: s.x, y: s.y, name: option.textContent, type: "scatter", mode: "lines",
          yaxis: "y2", meta: OVERLAY, line: {width: 1.4, dash: "dot", color: "#d62728"},
        });
        window.Plotly.relayout(target, {
          showlegend: true,
          yaxis2: {overlaying: "y", side: "right", showgrid: false,
                   title: {text: "SIMULATED " + (s.y_unit ? "(" + s.y_unit + ")" : "μ (own scale)")}},
        });
        status.textContent = "Overlaid: " + option.textContent;
      })
      .catch(function (err) {
        status.textContent = "✗ Could not overlay the simulated spectrum (" + err.message + ").";
      });
  }

  /* Delegated: file lists are re-rendered after uploads, so selects come and go. */
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select && select.matches && select.matches("[data-simulated-overlay]")) overlay(select);
  });
})();
