/* Cauchy wavelet runs: |W(k,R)| as an interactive plotly heatmap (k across, R up) with the
 * ridge maxima marked, and |χ(R)| beside it on the same R axis.
 *
 * Data come from the run's output via json_script (#wavelet-k, #wavelet-r, #wavelet-magnitude,
 * #wavelet-chir-r, #wavelet-chir-mag, #wavelet-ridges). No inline scripts (CSP). */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function plotMap(k, r, z, ridges, kweight) {
    var node = document.getElementById("wavelet-map");
    if (!node || !z) return;
    var traces = [{
      x: k, y: r, z: z, type: "heatmap", colorscale: "Viridis", name: "|W|",
      colorbar: {title: {text: "|W|"}, len: 0.9},
      hovertemplate: "k %{x:.2f} Å⁻¹<br>R %{y:.3f} Å<br>|W| %{z:.4g}<extra></extra>"
    }];
    if (ridges && ridges.length) {
      traces.push({
        x: ridges.map(function (p) { return p.k_inv_a; }),
        y: ridges.map(function (p) { return p.r_a; }),
        text: ridges.map(function (p) { return "band " + p.band_a[0] + "–" + p.band_a[1] + " Å"; }),
        type: "scatter", mode: "markers", name: "ridge maxima",
        marker: {symbol: "x", size: 11, color: "#ff4136", line: {width: 1}},
        hovertemplate: "%{text}<br>k %{x:.2f} Å⁻¹, R %{y:.3f} Å<extra></extra>"
      });
    }
    var layout = {margin: {l: 60, r: 10, t: 10, b: 45}, height: 420, font: {size: 11},
                  xaxis: {title: {text: "k (Å⁻¹), k-weight " + kweight}},
                  yaxis: {title: {text: "R (Å)"}}, showlegend: false};
    window.Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function plotChir(r, mag, ridges) {
    var node = document.getElementById("wavelet-chir");
    if (!node || !mag) return;
    var shapes = (ridges || []).map(function (p) {
      return {type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: p.r_a, y1: p.r_a,
              line: {color: "#ff4136", width: 1, dash: "dot"}};
    });
    var layout = {margin: {l: 50, r: 10, t: 10, b: 45}, height: 420, font: {size: 11},
                  xaxis: {title: {text: "|χ(R)|"}}, yaxis: {title: {text: "R (Å)"}},
                  shapes: shapes, showlegend: false};
    window.Plotly.newPlot(node, [{x: mag, y: r, type: "scatter", mode: "lines", name: "|χ(R)|",
                                  line: {width: 1.5, color: "#1f77b4"}}], layout, CONFIG);
  }

  function start() {
    if (!window.Plotly || !document.getElementById("wavelet-result")) return;
    var ridges = readJSON("wavelet-ridges");
    plotMap(readJSON("wavelet-k"), readJSON("wavelet-r"), readJSON("wavelet-magnitude"), ridges,
            readJSON("wavelet-kweight"));
    plotChir(readJSON("wavelet-chir-r"), readJSON("wavelet-chir-mag"), ridges);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
