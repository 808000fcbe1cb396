/* Effective-mass overlap runs: the start form (sample search, layer table, POST through
 * labdbRuns.postRun) and the result plot (ψe, ψh versus r with the band-edge profiles).
 * Data come from the run's output via json_script (#effective-mass-output). No inline scripts. */
(function () {
  "use strict";

  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
  var runs = window.labdbRuns;

  function plot(out) {
    var node = document.getElementById("effective-mass-plot");
    if (!node || !window.Plotly) return;
    var c = out.curves, edge = out.nc_radius_nm - out.surface_shell_nm;
    var traces = [
      {x: c.r_nm, y: c.psi_e, name: "ψe (nm⁻³ᐟ²)", type: "scatter", mode: "lines", line: {color: "#1f77b4", width: 2}},
      {x: c.r_nm, y: c.psi_h, name: "ψh (nm⁻³ᐟ²)", type: "scatter", mode: "lines", line: {color: "#d62728", width: 2}},
      {x: c.r_nm, y: c.v_e_ev, name: "electron potential (eV)", yaxis: "y2", type: "scatter", mode: "lines", line: {color: "#1f77b4", width: 1, dash: "dot"}},
      {x: c.r_nm, y: c.v_h_ev, name: "hole potential (eV)", yaxis: "y2", type: "scatter", mode: "lines", line: {color: "#d62728", width: 1, dash: "dot"}}
    ];
    var layout = {margin: {l: 60, r: 60, t: 10, b: 45}, height: 420, font: {size: 11},
                  xaxis: {title: {text: "r (nm)"}}, yaxis: {title: {text: "radial wavefunction"}},
                  yaxis2: {overlaying: "y", side: "right", title: {text: "potential (eV)"}},
                  legend: {orientation: "h", y: -0.2, yanchor: "top"},
                  shapes: [{type: "line", x0: edge, x1: edge, yref: "paper", y0: 0, y1: 1, line: {color: "#7f7f7f", dash: "dash", width: 1}}]};
    window.Plotly.newPlot(node, traces, layout, CONFIG);
  }

  function searchSamples(query, select) {
    var url = "/api/samples/?page_size=50" + (query ? "&search=" + encodeURIComponent(query) : "");
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (body) {
        select.textContent = "";
        (body.results || body || []).forEach(function (s) {
          var opt = document.createElement("option");
          opt.value = s.id; opt.textContent = s.code + " — " + s.material;
          select.appendChild(opt);
        });
      });
  }

  function number(el) { return el && el.value !== "" ? Number(el.value) : null; }

  function request(root) {
    var layers = [];
    root.querySelectorAll("#effective-mass-layers tbody tr").forEach(function (tr) {
      var radius = number(tr.querySelector("[name=outer_radius_nm]"));
      if (radius === null) return;
      layers.push({name: tr.querySelector("[name=label]").value,
                   x_hg_frac: number(tr.querySelector("[name=x_hg_frac]")), outer_radius_nm: radius});
    });
    var sample = document.getElementById("effective-mass-sample").value;
    return {kind: "effective_mass_overlap", inputs: {sample: sample ? Number(sample) : null},
            parameters: {layers: layers,
                         medium: {m_e: number(root.querySelector("[name=medium_m_e]")),
                                  m_h: number(root.querySelector("[name=medium_m_h]"))},
                         grid_nm: number(root.querySelector("[name=grid_nm]")),
                         coulomb: root.querySelector("[name=coulomb]").checked}};
  }

  function form(root) {
    var search = document.getElementById("effective-mass-search");
    var select = document.getElementById("effective-mass-sample");
    var timer = null;
    searchSamples("", select);
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { searchSamples(search.value.trim(), select); }, 250);
    });
    document.getElementById("effective-mass-submit").addEventListener("click", function () {
      runs.postRun(root, request(root), document.getElementById("effective-mass-error"));
    });
  }

  function init() {
    var out = runs.readJSON("effective-mass-output");
    if (out) plot(out);
    var root = document.getElementById("effective-mass-start");
    if (root) form(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
