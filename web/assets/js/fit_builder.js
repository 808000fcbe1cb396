/* labdb XAS fit builder (templates/web/fit_builder.html). Vanilla JS, no build step, no inline
 * script (CSP script-src 'self'): the page's data comes from the json_script block
 * #fit-builder-data.
 *
 * It builds the JSON fit model POST /api/fit-runs/ takes (docs/fit-model.md) from the form:
 *  - per dataset (spectrum): a structure → POST /api/feff-calculations/ → the path table, the
 *    ticked paths with their parameter expressions, processing and k/R windows with live plots
 *    from POST /api/xas-spectra/<id>/preview-processing/ (debounced, stale answers dropped);
 *  - the shared parameter table (guess/set/def, bounds), its names offered in every path field;
 *  - the model shown live (read-only) with a Copy button; Run posts it and follows the run.
 * A 400 from any of these names a JSON path ("model.datasets[0].paths[1].sigma2"); the message
 * is shown beside the field with that data-field, or the nearest enclosing one.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 350;
  var PLOT_CONFIG = {responsive: true, displaylogo: false};
  var LAYOUT = {margin: {l: 55, r: 15, t: 10, b: 45}, font: {family: "system-ui, sans-serif", size: 12},
                legend: {orientation: "h", y: -0.25}, height: 300};
  var PATH_KEYS = ["s02", "e0", "deltar", "sigma2", "third", "fourth"];

  var form, data, datasets = [], counter = 0;

  /* --- small helpers ----------------------------------------------------------------- */
  function $(root, sel) { return root.querySelector(sel); }
  function $$(root, sel) { return Array.prototype.slice.call(root.querySelectorAll(sel)); }
  function csrf() { var i = form.querySelector("input[name=csrfmiddlewaretoken]"); return i ? i.value : ""; }
  function num(text) {
    if (text === null || text === undefined || String(text).trim() === "") return null;
    var v = Number(text);
    return isFinite(v) ? v : String(text).trim();  // a non-number is sent as typed: the server names it
  }
  function exprOrNum(text) {
    var t = String(text || "").trim();
    if (t === "") return null;
    var v = Number(t);
    return isFinite(v) ? v : t;
  }
  function setPath(obj, dotted, value) {
    var keys = dotted.split("."), o = obj;
    for (var i = 0; i < keys.length - 1; i++) { o[keys[i]] = o[keys[i]] || {}; o = o[keys[i]]; }
    if (value === null || value === undefined) delete o[keys[keys.length - 1]];
    else o[keys[keys.length - 1]] = value;
  }
  function getPath(obj, dotted) {
    return dotted.split(".").reduce(function (o, k) { return o && o[k] !== undefined ? o[k] : undefined; }, obj);
  }
  function api(method, url, body) {
    var opts = {method: method, credentials: "same-origin",
                headers: {"Accept": "application/json", "X-CSRFToken": csrf()}};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = {message: text.slice(0, 300)}; }
        return {status: r.status, ok: r.ok, json: json || {}};
      });
    });
  }
  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }
  function uniqueId(base) {
    var taken = datasets.map(function (d) { return d.id(); }), id = base, n = 2;
    while (taken.indexOf(id) >= 0) { id = base + "_" + n; n += 1; }
    return id;
  }

  /* --- errors beside fields ---------------------------------------------------------- */
  function clearErrors(root) {
    $$(root || form, ".field-error").forEach(function (e) { e.hidden = true; e.textContent = ""; });
    $$(root || form, "[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
  }
  function errorSlot(el) {
    if (el.classList.contains("field-error")) return el;
    var next = el.nextElementSibling;
    if (next && next.classList.contains("field-error")) return next;
    return null;
  }
  /* "datasets[0].paths[1].sigma2" → the element with that data-field, else its parents'. */
  function showError(field, message) {
    var path = String(field || "model").replace(/^model\.?/, "");
    path = path.replace(/\.processing\.xftf\./, ".transform.");
    var candidates = [];
    while (path) {
      candidates.push(path);
      var cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
      path = cut > 0 ? path.slice(0, cut) : "";
    }
    candidates.push("model");
    for (var i = 0; i < candidates.length; i++) {
      var el = form.querySelector('[data-field="' + candidates[i].replace(/"/g, '\\"') + '"]');
      var slot = el && errorSlot(el);
      if (slot) {
        if (el !== slot) el.setAttribute("aria-invalid", "true");
        slot.textContent = "✗ " + message;
        slot.hidden = false;
        if (el.scrollIntoView) el.scrollIntoView({block: "center"});
        return slot;
      }
    }
    return null;
  }

  /* --- parameters -------------------------------------------------------------------- */
  var paramBody, namesList;
  function addParamRow(name, spec) {
    spec = spec || {kind: "guess", value: 0};
    var tr = document.createElement("tr");
    if (spec.from_fit !== undefined) tr.carried = spec;
    tr.className = "fb-param";
    tr.innerHTML =
      '<td><input data-p="name" size="10" maxlength="40" aria-label="parameter name"><span class="field-error" hidden></span></td>' +
      '<td><select data-p="kind" aria-label="kind"><option>guess</option><option>set</option><option>def</option></select></td>' +
      '<td><input data-p="value" size="16" aria-label="value or expression"><span class="field-error" hidden></span></td>' +
      '<td><input data-p="min" size="6" aria-label="lower bound"><span class="field-error" hidden></span></td>' +
      '<td><input data-p="max" size="6" aria-label="upper bound"><span class="field-error" hidden></span></td>' +
      '<td><button type="button" class="small" data-action="remove-param">Remove</button></td>';
    $(tr, "[data-p=name]").value = name || "";
    if (tr.carried) {
      var opt = document.createElement("option"); opt.value = "from_fit"; opt.textContent = "from a fit";
      $(tr, "[data-p=kind]").appendChild(opt);
      spec = {kind: "from_fit", value: "fit " + spec.from_fit + ": " + (spec.parameter || name)};
      $(tr, "[data-p=value]").readOnly = true;
    }
    $(tr, "[data-p=kind]").value = spec.kind || "guess";
    $(tr, "[data-p=value]").value = spec.kind === "def" ? (spec.expr || "") : (spec.value === undefined ? "" : spec.value);
    $(tr, "[data-p=min]").value = spec.min === undefined || spec.min === null ? "" : spec.min;
    $(tr, "[data-p=max]").value = spec.max === undefined || spec.max === null ? "" : spec.max;
    paramBody.appendChild(tr);
    refreshParamFields();
    return tr;
  }
  function paramNames() { return $$(paramBody, "[data-p=name]").map(function (i) { return i.value.trim(); }).filter(Boolean); }
  function ensureParam(name, spec) { if (name && paramNames().indexOf(name) < 0) addParamRow(name, spec); }
  function refreshParamFields() {
    $$(paramBody, "tr.fb-param").forEach(function (tr) {
      var name = $(tr, "[data-p=name]").value.trim(), kind = $(tr, "[data-p=kind]").value;
      var base = "parameters." + name;
      $(tr, "[data-p=name]").setAttribute("data-field", base);
      $(tr, "[data-p=value]").setAttribute("data-field", base + (kind === "def" ? ".expr" : ".value"));
      $(tr, "[data-p=min]").setAttribute("data-field", base + ".min");
      $(tr, "[data-p=max]").setAttribute("data-field", base + ".max");
      $(tr, "[data-p=min]").disabled = $(tr, "[data-p=max]").disabled = kind !== "guess";
    });
    namesList.innerHTML = "";
    paramNames().forEach(function (n) { var o = document.createElement("option"); o.value = n; namesList.appendChild(o); });
  }
  function parametersJson() {
    var out = {};
    $$(paramBody, "tr.fb-param").forEach(function (tr) {
      var name = $(tr, "[data-p=name]").value.trim(), kind = $(tr, "[data-p=kind]").value;
      if (!name) return;
      if (tr.carried && kind === "from_fit") { out[name] = Object.assign({}, tr.carried); return; }
      var raw = $(tr, "[data-p=value]").value;
      if (kind === "def") { out[name] = {kind: "def", expr: raw.trim()}; return; }
      var spec = {kind: kind, value: num(raw) === null ? 0 : num(raw)};
      if (kind === "guess") {
        if (num($(tr, "[data-p=min]").value) !== null) spec.min = num($(tr, "[data-p=min]").value);
        if (num($(tr, "[data-p=max]").value) !== null) spec.max = num($(tr, "[data-p=max]").value);
      }
      out[name] = spec;
    });
    return out;
  }

  /* --- datasets ---------------------------------------------------------------------- */
  function Dataset(spectrum, given) {
    counter += 1;
    var self = this, tpl = document.getElementById("fb-dataset-template");
    var html = tpl.innerHTML.replace(/__i__/g, "d" + counter);
    var holder = document.createElement("div");
    holder.innerHTML = html;
    this.root = holder.firstElementChild;
    this.spectrum = spectrum;
    this.calc = null;          // the FEFF calculation shown (API answer)
    this.feff = null;          // the model's feff for this dataset
    this.entries = [];         // path entries of the model (objects), in model order
    this.extra = {};           // keys of a loaded dataset the form does not edit (kept as given)
    this.previewSeq = 0;
    this.kmaxTouched = false;
    this.root.setAttribute("data-spectrum", spectrum.id);
    $(this.root, "[data-slot=title]").textContent = spectrum.label;
    document.getElementById("fb-datasets").appendChild(this.root);
    this.fillPresets();
    this.load(given || defaultDataset(spectrum, datasets.length));
    this.root.addEventListener("input", function (e) { self.changed(e); });
    this.root.addEventListener("change", function (e) { self.changed(e); });
    this.root.addEventListener("click", function (e) { self.clicked(e); });
    this.schedulePreview = debounce(function () { self.preview(); }, DEBOUNCE_MS);
  }
  Dataset.prototype.id = function () { return $(this.root, "[data-key=id]").value.trim(); };
  Dataset.prototype.prefix = function () { return "datasets[" + datasets.indexOf(this) + "]."; };
  Dataset.prototype.fillPresets = function () {
    var select = $(this.root, "[data-feff=preset]");
    data.lattices.forEach(function (p, i) {
      var o = document.createElement("option"); o.value = String(i); o.textContent = p.label; select.appendChild(o);
    });
  };
  Dataset.prototype.applyPreset = function (preset) {
    var r = this.root;
    ["kind", "a_a", "c_a", "u", "cation", "anion"].forEach(function (k) {
      $(r, "[data-feff=" + k + "]").value = preset[k] === undefined || preset[k] === null ? "" : preset[k];
    });
  };
  Dataset.prototype.load = function (ds) {
    var r = this.root, self = this;
    $(r, "[data-key=id]").value = ds.id || uniqueId((this.spectrum.element + "_" + this.spectrum.edge).toLowerCase());
    $$(r, "[data-key]").forEach(function (input) {
      var key = input.getAttribute("data-key");
      if (input.tagName === "P" || key === "id") return;
      var v = getPath(ds, key);
      if (key === "transform.kweight" && Array.isArray(v)) v = v.join(",");
      if (v !== undefined && v !== null) input.value = v;
    });
    this.kmaxTouched = getPath(ds, "transform.kmax") !== undefined && !ds._default;
    this.entries = (ds.paths || []).map(function (p) { return Object.assign({}, p); });
    var known = ["id", "spectrum", "feff", "paths", "processing", "transform", "_default"];
    Object.keys(ds).forEach(function (k) { if (known.indexOf(k) < 0) self.extra[k] = ds[k]; });
    this.extraProcessing = {};
    this.givenXftf = (ds.processing || {}).xftf || null;
    Object.keys(ds.processing || {}).forEach(function (step) {
      Object.keys(ds.processing[step] || {}).forEach(function (key) {
        if (!r.querySelector('[data-key="processing.' + step + "." + key + '"]') && step !== "xftf") {
          setPath(self.extraProcessing, step + "." + key, ds.processing[step][key]);
        }
      });
    });
    var feff = ds.feff || {};
    $(r, "[data-feff=absorber]").value = feff.absorber || this.spectrum.element;
    $(r, "[data-feff=edge]").value = feff.edge || this.spectrum.edge;
    if (feff.cluster_radius_a) $(r, "[data-feff=cluster_radius_a]").value = feff.cluster_radius_a;
    if (feff.feff_version) $(r, "[data-feff=feff_version]").value = String(feff.feff_version);
    var structure = feff.structure || {};
    if (structure.source === "lattice") this.applyPreset(structure);
    else {
      var preset = data.lattices.findIndex(function (p) {
        return p.cation === self.spectrum.element || p.anion === self.spectrum.element;
      });
      if (preset >= 0) { $(r, "[data-feff=preset]").value = String(preset); this.applyPreset(data.lattices[preset]); }
    }
    this.setSource(feff.calculation ? "stored" : (structure.source || "lattice"));
    this.feff = ds.feff || null;
    this.renderEntries();
    if (feff.calculation) this.runFeff(feff.calculation);
    else if (feff.structure) this.runFeff(null, feff);
    else if (feff.path_files) this.showPathFiles(feff.path_files);
  };
  Dataset.prototype.setSource = function (source) {
    var r = this.root, self = this;
    $(r, "[data-feff=source]").value = source;
    function show(panel, on) {  // .field sets display, so hidden alone would not hide it
      var el = $(r, "[data-panel=" + panel + "]");
      el.hidden = !on;
      el.style.display = on ? "" : "none";
    }
    ["lattice", "amcsd", "cif", "stored"].forEach(function (p) { show(p, p === source); });
    show("compute", source !== "stored");
    if (source === "amcsd" && !this.amcsdLoaded) {
      this.amcsdLoaded = true;
      fetch(data.urls.structures + "?element=" + encodeURIComponent(this.spectrum.element), {credentials: "same-origin"})
        .then(function (resp) { return resp.json(); })
        .then(function (body) {
          var select = $(r, "[data-feff=amcsd]");
          select.innerHTML = "";
          (body.structures || []).forEach(function (s) {
            var o = document.createElement("option");
            o.value = String(s.amcsd_id);
            o.textContent = s.mineral + " — " + s.formula + " (AMCSD " + s.amcsd_id + ", a " + s.a_a + " Å)";
            o.setAttribute("data-elements", s.elements.join(" "));
            o.setAttribute("data-mineral", s.mineral);
            select.appendChild(o);
          });
          var want = getPath(self.feff || {}, "structure.amcsd_id");
          if (want) select.value = String(want);
        });
    }
    if (source === "stored" && !this.storedLoaded) {
      this.storedLoaded = true;
      api("GET", data.urls.feff + "?absorber=" + encodeURIComponent(this.spectrum.element) + "&page_size=200")
        .then(function (res) {
          var select = $(r, "[data-feff=stored]");
          select.innerHTML = "";
          var rows = Array.isArray(res.json) ? res.json : (res.json.results || []);
          if (!res.ok || !rows.length) {
            select.innerHTML = "<option value=''>no stored FEFF calculation for this absorber</option>";
            return;
          }
          rows.forEach(function (c) {
            var o = document.createElement("option");
            o.value = String(c.id);
            var st = c.structure || {};
            o.textContent = "#" + c.id + " · " + (c.absorber || "") + " " + (c.edge || "") + " · " +
              (st.mineral || st.kind || st.source || c.source || "") + " · " + ((c.paths || []).length) + " paths";
            select.appendChild(o);
          });
          var want = getPath(self.feff || {}, "calculation");
          if (want) select.value = String(want);
        });
    }
  };
  Dataset.prototype.structureSpec = function () {
    var r = this.root, source = $(r, "[data-feff=source]").value;
    if (source === "lattice") {
      var s = {source: "lattice", kind: $(r, "[data-feff=kind]").value, a_a: num($(r, "[data-feff=a_a]").value),
               cation: $(r, "[data-feff=cation]").value.trim(), anion: $(r, "[data-feff=anion]").value.trim()};
      if (s.kind === "wurtzite") { s.c_a = num($(r, "[data-feff=c_a]").value); if (num($(r, "[data-feff=u]").value) !== null) s.u = num($(r, "[data-feff=u]").value); }
      return Promise.resolve(s);
    }
    if (source === "amcsd") {
      var opt = $(r, "[data-feff=amcsd]").selectedOptions[0];
      if (!opt || !opt.value) return Promise.reject({field: "feff", message: "choose a bundled structure."});
      return Promise.resolve({source: "amcsd", elements: opt.getAttribute("data-elements").split(" "),
                              mineral: opt.getAttribute("data-mineral"), amcsd_id: Number(opt.value)});
    }
    var file = $(r, "[data-feff=cif]").files[0];
    if (!file) {
      var given = getPath(this.feff || {}, "structure.cif_text");
      if (given) return Promise.resolve({source: "cif", cif_text: given});
      return Promise.reject({field: "feff", message: "choose a CIF file to upload."});
    }
    return file.text().then(function (text) { return {source: "cif", cif_text: text}; });
  };
  /* calculationId: show a stored calculation; given: a loaded model's structure feff, computed
   * (or found cached) to show its paths while the model keeps referencing it as it was. */
  Dataset.prototype.runFeff = function (calculationId, given) {
    var self = this, r = this.root, status = $(r, "[data-slot=feff-status]");
    clearErrors($(r, ".fb-feff"));
    var source = $(r, "[data-feff=source]").value;
    if (source === "stored" && !calculationId) calculationId = num($(r, "[data-feff=stored]").value);
    status.textContent = calculationId ? "Loading the stored FEFF paths…" : "Running FEFF…";
    r.setAttribute("aria-busy", "true");
    var request;
    if (calculationId) request = api("GET", data.urls.feff + calculationId + "/");
    else {
      var spec = given ? Promise.resolve(given.structure) : this.structureSpec();
      request = spec.then(function (structure) {
        return api("POST", data.urls.feff, {
          structure: structure, absorber: given ? given.absorber : $(r, "[data-feff=absorber]").value.trim(),
          edge: given ? (given.edge || "K") : $(r, "[data-feff=edge]").value,
          feff_version: given ? Number(given.feff_version || 6) : Number($(r, "[data-feff=feff_version]").value),
          cluster_radius_a: given ? Number(given.cluster_radius_a || 6.0) : num($(r, "[data-feff=cluster_radius_a]").value)});
      });
    }
    return request.then(function (res) {
      if (!res.ok) throw {field: res.json.field ? "feff." + String(res.json.field).replace(/^(model\.)?(feff\.)?/, "") : "feff",
                          message: res.json.message || res.json.detail || ("HTTP " + res.status)};
      self.calc = res.json;
      if (!given) self.feff = {calculation: res.json.id};
      status.textContent = "FEFF: " + (res.json.paths || []).length + " paths" +
        (res.status === 200 && !calculationId ? " (already computed)" : "") +
        (res.json.elapsed_s ? " · " + Number(res.json.elapsed_s).toFixed(1) + " s" : "");
      self.renderFeffPaths();
      update();
    }).catch(function (err) {
      status.textContent = "";
      var where = self.prefix() + (err.field || "feff");
      if (!showError(where, err.message || String(err))) showError(self.prefix() + "feff", err.message || String(err));
    }).finally(function () { r.removeAttribute("aria-busy"); });
  };
  /* Path files uploaded once (POST /api/feff-calculations/, multipart), then used by id. */
  Dataset.prototype.uploadFeff = function () {
    var self = this, r = this.root, input = $(r, "[data-feff=upload]");
    clearErrors($(r, ".fb-feff"));
    if (!input.files.length) { showError(this.prefix() + "feff.structure.upload", "choose one or more feffNNNN.dat files."); return; }
    var body = new FormData();
    Array.prototype.forEach.call(input.files, function (f) { body.append("files", f, f.name); });
    body.append("absorber", $(r, "[data-feff=absorber]").value.trim() || this.spectrum.element);
    body.append("edge", $(r, "[data-feff=edge]").value || this.spectrum.edge);
    $(r, "[data-slot=feff-status]").textContent = "Uploading the path files…";
    fetch(data.urls.feff, {method: "POST", body: body, credentials: "same-origin",
                           headers: {"Accept": "application/json", "X-CSRFToken": csrf()}})
      .then(function (resp) { return resp.json().then(function (json) { return {ok: resp.ok, json: json}; }); })
      .then(function (res) {
        if (!res.ok) throw {message: res.json.message || "the files were refused."};
        self.storedLoaded = false;
        self.runFeff(res.json.id);
      })
      .catch(function (err) {
        $(r, "[data-slot=feff-status]").textContent = "";
        showError(self.prefix() + "feff.structure.upload", err.message || String(err));
      });
  };
  Dataset.prototype.showPathFiles = function (files) {
    this.calc = {paths: Object.keys(files).map(function (name, i) {
      return {name: name, index: i + 1, scatterers: "", nleg: "", reff_a: "", degen: "", amplitude_ratio_pct: ""};
    })};
    this.renderFeffPaths();
  };
  function stem(name) { return String(name).replace(/\.dat$/, ""); }
  Dataset.prototype.renderFeffPaths = function () {
    var body = $(this.root, "[data-slot=feff-paths]"), self = this;
    body.innerHTML = "";
    (this.calc.paths || []).forEach(function (p) {
      var tr = document.createElement("tr"), id = stem(p.name);
      var used = self.entries.some(function (e) { return e.path_file === id; });
      tr.innerHTML = '<td><input type="checkbox" data-path-file="' + id + '" aria-label="use path ' + p.index + '"></td>' +
        "<td>" + p.index + "</td><td>" + (p.scatterers || "") + "</td><td>" + p.nleg + "</td><td>" +
        (p.reff_a === "" ? "" : Number(p.reff_a).toFixed(4)) + "</td><td>" + p.degen + "</td><td>" +
        (p.amplitude_ratio_pct === "" || p.amplitude_ratio_pct === null || p.amplitude_ratio_pct === undefined ? "" : Number(p.amplitude_ratio_pct).toFixed(2)) + "</td>";
      tr.querySelector("input").checked = used;
      body.appendChild(tr);
    });
  };
  Dataset.prototype.pathInfo = function (id) {
    var paths = (this.calc && this.calc.paths) || [];
    for (var i = 0; i < paths.length; i++) if (stem(paths[i].name) === id) return paths[i];
    return null;
  };
  Dataset.prototype.tickPath = function (id, on) {
    if (!on) { this.entries = this.entries.filter(function (e) { return e.path_file !== id; }); }
    else if (!this.entries.some(function (e) { return e.path_file === id; })) {
      var index = datasets.indexOf(this), suffix = index > 0 ? "_" + (index + 1) : "";
      var n = this.entries.length + 1, info = this.pathInfo(id) || {};
      var entry = {path_file: id, label: (info.scatterers || id) + (info.reff_a ? " " + Number(info.reff_a).toFixed(2) : ""),
                   s02: "amp" + suffix, e0: "de0" + suffix, deltar: "dr" + n, sigma2: "ss" + n};
      ensureParam("amp" + suffix, {kind: "guess", value: 1.0, min: 0});
      ensureParam("de0" + suffix, {kind: "guess", value: 0.0});
      ensureParam("dr" + n, {kind: "guess", value: 0.0});
      ensureParam("ss" + n, {kind: "guess", value: 0.005, min: 0});
      this.entries.push(entry);
    }
    this.renderEntries();
  };
  // A path selector of a stored model, in words: "Cd–S paths, reff 2.3–2.8 Å".
  function describeSelect(sel) {
    var atoms = [sel.absorber || "?"].concat(sel.scatterers || [sel.scatterer || "?"]);
    var low = sel.r_min_a, high = sel.r_max_a;
    var window = (low !== undefined || high !== undefined) ?
      ", reff " + (low !== undefined ? low : "0") + "–" + (high !== undefined ? high : "∞") + " Å" : "";
    return atoms.join("–") + " paths" + window;
  }
  Dataset.prototype.renderEntries = function () {
    var body = $(this.root, "[data-slot=paths]");
    body.innerHTML = "";
    if (!this.entries.length) {
      body.innerHTML = '<tr><td colspan="8" class="empty">No paths ticked yet.</td></tr>';
      return;
    }
    this.entries.forEach(function (entry, j) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-entry", String(j));
      var what = entry.path_file || (entry.select ? describeSelect(entry.select) : "?");
      var cells = "<th scope='row'><span data-pe='where'></span><span class='field-error' hidden></span></th>" +
        "<td><input data-pkey='label' size='12'><span class='field-error' hidden></span></td>";
      PATH_KEYS.forEach(function (k) {
        cells += "<td><input data-pkey='" + k + "' size='9' list='fb-param-names' aria-label='" + k + " of path " + (j + 1) + "'><span class='field-error' hidden></span></td>";
      });
      tr.innerHTML = cells;
      tr.querySelector("[data-pe=where]").textContent = what;
      $$(tr, "[data-pkey]").forEach(function (input) {
        var v = entry[input.getAttribute("data-pkey")];
        input.value = v === undefined || v === null ? "" : v;
      });
      body.appendChild(tr);
    });
    reindex();
  };
  Dataset.prototype.readEntries = function () {
    var self = this;
    $$(this.root, "[data-slot=paths] tr[data-entry]").forEach(function (tr) {
      var entry = self.entries[Number(tr.getAttribute("data-entry"))];
      $$(tr, "[data-pkey]").forEach(function (input) {
        var key = input.getAttribute("data-pkey"), v = key === "label" ? input.value.trim() : exprOrNum(input.value);
        if (v === null || v === "") delete entry[key]; else entry[key] = v;
      });
    });
  };
  Dataset.prototype.values = function (prefix) {
    var out = {};
    $$(this.root, "[data-key^='" + prefix + "']").forEach(function (input) {
      if (input.tagName === "P") return;
      var key = input.getAttribute("data-key"), raw = input.value, v;
      if (key === "transform.kweight") {
        var parts = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean).map(num);
        v = parts.length > 1 ? parts : (parts.length ? parts[0] : null);
      } else if (input.tagName === "SELECT") v = raw || null;
      else v = num(raw);
      setPath(out, key, v);
    });
    return out;
  };
  Dataset.prototype.processingJson = function () {
    var p = this.values("processing.").processing || {};
    var merged = JSON.parse(JSON.stringify(this.extraProcessing || {}));
    Object.keys(p).forEach(function (step) { merged[step] = Object.assign(merged[step] || {}, p[step]); });
    merged.pre_edge = merged.pre_edge || {};
    merged.autobk = merged.autobk || {};
    if (merged.autobk.kweight === undefined && merged.autobk.kw === undefined) merged.autobk.kweight = 2;
    var t = this.transformJson(), xftf = {};
    ["kmin", "kmax", "dk", "window"].forEach(function (k) { if (t[k] !== undefined) xftf[k] = t[k]; });
    xftf.kweight = Array.isArray(t.kweight) ? t.kweight[0] : (t.kweight === undefined ? 2 : t.kweight);
    merged.xftf = this.givenXftf ? Object.assign({}, this.givenXftf) : xftf;
    return merged;
  };
  Dataset.prototype.transformJson = function () { return this.values("transform.").transform || {}; };
  Dataset.prototype.json = function () {
    this.readEntries();
    var out = {id: this.id(), spectrum: this.spectrum.id};
    if (this.feff) out.feff = this.feff;
    out.processing = this.processingJson();
    out.transform = this.transformJson();
    out.paths = this.entries.map(function (e) { return Object.assign({}, e); });
    return Object.assign(out, this.extra);
  };
  Dataset.prototype.changed = function (e) {
    var t = e.target;
    if (t.matches("[data-path-file]") && e.type === "change") { this.tickPath(t.getAttribute("data-path-file"), t.checked); update(); return; }
    if (t.matches("[data-feff=source]") && e.type === "change") { this.setSource(t.value); return; }
    if (t.matches("[data-feff=preset]") && e.type === "change" && t.value !== "") { this.applyPreset(data.lattices[Number(t.value)]); return; }
    if (t.matches("[data-key='transform.kmax']")) this.kmaxTouched = true;
    if (t.matches("[data-key^='transform.']")) this.givenXftf = null;  // xftf follows the window again
    if (t.matches("[data-key]") && t.tagName !== "P") {
      var errorEl = errorSlot(t);
      if (errorEl) { errorEl.hidden = true; t.removeAttribute("aria-invalid"); }
      var key = t.getAttribute("data-key");
      if (key.indexOf("processing.") === 0 || key.indexOf("transform.") === 0) this.schedulePreview();
    }
    update();
  };
  Dataset.prototype.clicked = function (e) {
    var action = e.target.getAttribute("data-action");
    if (action === "run-feff") { this.feff = null; this.calc = null; this.runFeff(null); }
    if (action === "upload-feff") this.uploadFeff();
    if (action === "remove-dataset") {
      datasets.splice(datasets.indexOf(this), 1);
      this.root.remove();
      reindex();
      update();
    }
  };

  /* --- live processing preview ------------------------------------------------------- */
  Dataset.prototype.preview = function () {
    var self = this, r = this.root, seq = ++this.previewSeq;
    var body = {processing: this.processingJson(), transform: this.transformJson()};
    delete body.processing.xftf;
    r.setAttribute("data-preview", "pending");
    $$(r, "fieldset [data-key^='processing.'] + .field-error, fieldset [data-key^='transform.'] + .field-error, p.field-error[data-key=processing], p.field-error[data-key=transform]")
      .forEach(function (e) { e.hidden = true; });
    api("POST", data.urls.preview.replace("{id}", this.spectrum.id), body).then(function (res) {
      if (seq !== self.previewSeq) return;  // a newer edit is on its way
      if (res.status === 503) { setTimeout(function () { self.schedulePreview(); }, 1500); return; }
      if (!res.ok) {
        r.setAttribute("data-preview", "error");
        showError(self.prefix() + (res.json.field || "processing"), res.json.message || ("HTTP " + res.status));
        return;
      }
      self.draw(res.json);
      r.setAttribute("data-preview", "done");
    }).catch(function (err) {
      if (seq !== self.previewSeq) return;
      r.setAttribute("data-preview", "error");
      showError(self.prefix() + "processing", "the preview could not be computed (" + err.message + ").");
    });
  };
  Dataset.prototype.draw = function (p) {
    var r = this.root, t = this.transformJson();
    r.setAttribute("data-e0-ev", String(p.e0_ev));
    r.setAttribute("data-edge-step", String(p.edge_step));
    $(r, "[data-slot=resolved]").textContent = "As larch resolves them: E0 " + p.e0_ev.toFixed(2) + " eV · edge step " +
      p.edge_step.toPrecision(4) + " · data end at k = " + p.k_max_inv_a.toFixed(2) + " Å⁻¹ · pre-edge " +
      p.parameters.pre_edge.pre1.toFixed(1) + " to " + p.parameters.pre_edge.pre2.toFixed(1) + " eV, normalization " +
      p.parameters.pre_edge.norm1.toFixed(1) + " to " + p.parameters.pre_edge.norm2.toFixed(1) + " eV";
    if (!this.kmaxTouched && t.kmax !== undefined && t.kmax > p.k_max_inv_a) {
      $(r, "[data-key='transform.kmax']").value = Math.floor(p.k_max_inv_a * 10 - 5) / 10;
      update();
    }
    if (!window.Plotly) return;
    var mu = p.mu, ck = p.chik, cr = p.chir;
    plot($(r, "[data-plot=mu]"), [
      {x: mu.energy_ev, y: mu.mu, name: "μ(E)", mode: "lines", line: {width: 1.4}},
      {x: mu.energy_ev, y: mu.bkg, name: "background", mode: "lines", line: {width: 1.2, dash: "dash"}},
      {x: mu.energy_ev, y: mu.pre_edge, name: "pre-edge line", mode: "lines", line: {width: 1, dash: "dot"}},
      {x: mu.energy_ev, y: mu.post_edge, name: "post-edge line", mode: "lines", line: {width: 1, dash: "dot"}}],
      {xaxis: {title: {text: "E (eV)"}}, yaxis: {title: {text: "μ(E)"}},
       shapes: [{type: "line", xref: "x", yref: "paper", x0: p.e0_ev, x1: p.e0_ev, y0: 0, y1: 1, line: {width: 1, color: "#888"}}]});
    var peak = Math.max.apply(null, ck.chi_kw.map(Math.abs)) || 1;
    plot($(r, "[data-plot=chik]"), [
      {x: ck.k_inv_a, y: ck.chi_kw, name: "k^" + ck.kweight + "·χ(k)", mode: "lines", line: {width: 1.4}},
      {x: ck.k_inv_a, y: ck.kwin.map(function (w) { return w * peak; }), name: "k window", mode: "lines", line: {width: 1, dash: "dash"}}],
      {xaxis: {title: {text: "k (Å⁻¹)"}}, yaxis: {title: {text: "k^" + ck.kweight + "·χ(k) (Å^-" + ck.kweight + ")"}}});
    var shapes = [];
    if (t.rmin !== undefined && t.rmax !== undefined) {
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: t.rmin, x1: t.rmax, y0: 0, y1: 1,
                   fillcolor: "rgba(80,120,200,0.12)", line: {width: 0}});
    }
    plot($(r, "[data-plot=chir]"), [{x: cr.r_a, y: cr.chir_mag, name: "|χ(R)|", mode: "lines", line: {width: 1.4}}],
      {xaxis: {title: {text: "R (Å)"}, range: [0, 6]}, yaxis: {title: {text: "|χ(R)|"}}, shapes: shapes});
    r.setAttribute("data-plotted", "true");
  };
  function plot(target, traces, extra) {
    traces.forEach(function (tr) { tr.type = "scatter"; });
    window.Plotly.react(target, traces, Object.assign({}, LAYOUT, extra), PLOT_CONFIG);
    target.classList.add("plotted");
  }

  function defaultDataset(spectrum, index) {
    return {_default: true, id: null, spectrum: spectrum.id,
            processing: {pre_edge: {}, autobk: {rbkg: 1.0}},
            transform: {kmin: 3, kmax: 12, dk: 1, window: "hanning", kweight: 2, rmin: 1.0, rmax: 3.0, fitspace: "r"},
            paths: []};
  }

  /* --- the model, live ------------------------------------------------------------------ */
  function reindex() {
    datasets.forEach(function (ds) {
      var prefix = ds.prefix();
      $$(ds.root, "[data-key]").forEach(function (el) { el.setAttribute("data-field", prefix + el.getAttribute("data-key")); });
      $$(ds.root, "[data-feff]").forEach(function (el) {
        var key = el.getAttribute("data-feff");
        var top = ["absorber", "edge", "cluster_radius_a", "feff_version"].indexOf(key) >= 0;
        el.setAttribute("data-field", prefix + "feff." + (top ? key : "structure." + key));
      });
      $$(ds.root, "[data-slot=paths] tr[data-entry]").forEach(function (tr) {
        var j = tr.getAttribute("data-entry");
        tr.querySelector("[data-pe=where]").setAttribute("data-field", prefix + "paths[" + j + "]");
        $$(tr, "[data-pkey]").forEach(function (el) {
          var key = el.getAttribute("data-pkey");
          el.setAttribute("data-field", prefix + "paths[" + j + "]." + (key === "s02" ? "s02" : key));
        });
      });
    });
  }
  function model() {
    var m = {parameters: parametersJson(), datasets: datasets.map(function (ds) { return ds.json(); })};
    Object.keys(data.model || {}).forEach(function (key) {  // options, schema_version, … as given
      if (["parameters", "datasets", "feff"].indexOf(key) < 0) m[key] = data.model[key];
    });
    return m;
  }
  function update() {
    refreshParamFields();
    document.getElementById("fb-model-json").value = JSON.stringify(model(), null, 2);
  }

  function addSpectrum(spectrum, given) {
    var ds = new Dataset(spectrum, given);
    datasets.push(ds);
    reindex();
    update();
    ds.preview();
    return ds;
  }

  function run(e) {
    e.preventDefault();
    clearErrors();
    var status = document.getElementById("fb-run-status"), button = document.getElementById("fb-run");
    if (!datasets.length) { showError("datasets", "add at least one spectrum to fit."); return; }
    button.disabled = true;
    status.textContent = "Checking the model…";
    api("POST", data.urls.fit_runs, {model: model()}).then(function (res) {
      if (res.status === 201 || res.status === 202) {
        status.textContent = "Queued as fit run " + res.json.id + "; following its progress…";
        window.location.assign(data.urls.progress + res.json.id);
        return;
      }
      status.textContent = "✗ Not queued: see the message beside the field.";
      var field = res.json.field || "model", message = res.json.message || JSON.stringify(res.json);
      if (!showError(field, message)) showError("model", message);
      button.disabled = false;
    }).catch(function (err) {
      status.textContent = "✗ Could not send the fit (" + err.message + ").";
      button.disabled = false;
    });
  }

  function copy() {
    var area = document.getElementById("fb-model-json"), status = document.getElementById("fb-copy-status");
    var done = function () { status.textContent = "Copied."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(area.value).then(done, function () { area.select(); document.execCommand("copy"); done(); });
    } else { area.select(); document.execCommand("copy"); done(); }
  }

  function init() {
    form = document.getElementById("fit-builder");
    var source = document.getElementById("fit-builder-data");
    if (!form || !source) return;
    data = JSON.parse(source.textContent);
    paramBody = $(document.getElementById("fb-params"), "tbody");
    namesList = document.getElementById("fb-param-names");
    var given = data.model || {};
    Object.keys(given.parameters || {}).forEach(function (name) { addParamRow(name, given.parameters[name]); });
    data.spectra.forEach(function (sp, i) { addSpectrum(sp, (given.datasets || [])[i]); });
    paramBody.addEventListener("input", function (e) {
      var slot = errorSlot(e.target); if (slot) slot.hidden = true; update();
    });
    paramBody.addEventListener("change", update);
    paramBody.addEventListener("click", function (e) {
      if (e.target.getAttribute("data-action") === "remove-param") { e.target.closest("tr").remove(); update(); }
    });
    document.getElementById("fb-add-param").addEventListener("click", function () {
      addParamRow("", {kind: "guess", value: 0}).querySelector("input").focus();
    });
    document.getElementById("fb-add-spectrum-btn").addEventListener("click", function () {
      var id = Number(document.getElementById("fb-add-spectrum").value);
      var sp = data.choices.filter(function (c) { return c.id === id; })[0];
      if (sp) addSpectrum(sp);
    });
    document.getElementById("fb-copy").addEventListener("click", copy);
    form.addEventListener("submit", run);
    update();
    form.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
