"""Fit results a referee can check: parameters, correlations, statistics, arrays, provenance.

Everything here is read from what the fit stored (``XASFit.provenance`` and the engine output
kept on its ``FitRun.result_data``) — nothing is refitted:

* :func:`parameter_table` — every guess/set/def parameter with value ± error, initial value,
  bounds, kind and an "at bound" flag (same tolerance as the engine's warnings);
* :func:`correlation_matrix` — the varied parameters' correlations (lmfit ``correl`` stored at
  fit time), pairs with |r| > 0.8 flagged;
* :func:`fit_statistics` — χ², χ²ᵥ, R-factor, N_idp, N_var, AIC, BIC in total and per dataset;
* :func:`fit_arrays` — data, model and residual in k, R (|χ|, Re, Im) and q for any k-weight
  0–3, computed with larch's own feffit transform on the stored χ(k) of data and model and
  cached per (fit, fit version, k-weight, space, dataset) beside the plot data;
* :func:`provenance_document` — the provenance as real JSON with a request that can be POSTed
  back to ``/api/fit-runs/``.

Units: k and q in Å⁻¹, R in Å; k^w·χ(k) in Å⁻ʷ; χ(R) in Å⁻⁽ʷ⁺¹⁾.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from typing import Any

from analysis.engines.fitting import BOUND_TOLERANCE
from analysis.models import FitRun, model_in_order
from analysis.services import fit_plots
from characterization.enums import DataSource
from characterization.models import XASFit
from labdb.lib.errors import DomainError

__all__ = [
    "ARRAYS_VERSION",
    "CORRELATION_HIGHLIGHT",
    "KWEIGHTS",
    "SPACES",
    "arrays_csv",
    "correlation_matrix",
    "fit_arrays",
    "fit_results",
    "fit_statistics",
    "n_notes",
    "overlay_candidates",
    "parameter_table",
    "provenance_document",
    "provenance_text",
    "transform_arrays",
]

#: |r| above this is highlighted in the correlation matrix (the engine *warns* above 0.95).
CORRELATION_HIGHLIGHT = 0.8
KWEIGHTS = (0, 1, 2, 3)
SPACES = ("k", "r", "q")
#: Bump when :func:`transform_arrays` changes: cached array entries are keyed by it.
ARRAYS_VERSION = "2"
#: χ(R) is served out to this R (Å), as larch's feffit stores it.
RMAX_OUT_A = 10.0

NOT_STORED = "not stored with this fit (computed before correlations were kept): refit to see"


def _fit(fit_id: int) -> XASFit:
    fit = XASFit.objects.filter(pk=fit_id).first()
    if fit is None:
        raise fit_plots.FitNotFound(f"fit: there is no XAS fit {fit_id}.", field="fit")
    return fit


# --- parameters ----------------------------------------------------------------------------


def _at_bound(value: float | None, low: float | None, high: float | None) -> str | None:
    """'min' or 'max' when ``value`` sits on that bound (as the engine's fit warnings judge)."""
    if value is None:
        return None
    for side, bound in (("min", low), ("max", high)):
        if bound is not None and abs(value - bound) <= BOUND_TOLERANCE * max(1.0, abs(bound)):
            return side
    return None


_KIND_ORDER = {"guess": 0, "set": 1, "def": 2}


def parameter_table(provenance: dict) -> list[dict]:
    """One row per fit parameter: varied (guess) first, then set, then def, each by name.

    Keys: name, kind (guess/set/def), value, stderr, init, min, max, expr, vary, at_bound
    ('min'/'max'/None, only for varied parameters), carried_from (the citation when the value
    was carried over from another fit, else None). Units are the parameter's own (the model
    names them). Empty for fits without stored parameters (published fits).
    """
    carried = provenance.get("carried_parameters") or {}
    rows = []
    # PostgreSQL's jsonb keeps no key order: guess, then set, then def, each by name
    stored = provenance.get("parameters") or {}
    for name in sorted(stored, key=lambda n: (_KIND_ORDER.get(stored[n].get("kind"), 3), n)):
        p = stored[name]
        varied = bool(p.get("vary"))
        rows.append({
            "name": name,
            "kind": p.get("kind"),
            "value": p.get("value"),
            "stderr": p.get("stderr"),
            "init": p.get("init"),
            "min": p.get("min"),
            "max": p.get("max"),
            "expr": p.get("expr"),
            "vary": varied,
            "at_bound": _at_bound(p.get("value"), p.get("min"), p.get("max")) if varied else None,
            "carried_from": carried.get(name),
        })
    return rows


# --- correlations --------------------------------------------------------------------------


def _stored_correlations(fit: XASFit, provenance: dict) -> dict[str, float] | None:
    if "correlations" in provenance:
        return provenance["correlations"]
    data = FitRun.objects.filter(result_id=fit.pk).values_list("result_data", flat=True).first()
    fit_json = (data or {}).get("fit") or {}
    return fit_json.get("correlations") if "correlations" in fit_json else None


def correlation_matrix(parameters: list[dict], correlations: dict[str, float] | None) -> dict:
    """Correlation matrix of the varied parameters from lmfit's pairwise ``correl``.

    ``correlations`` is ``{"a,b": r}`` as stored at fit time (None: not stored). Returns
    ``{"stored": bool, "note": str, "names": [...], "matrix": [[r or None]], "rows": [{"name",
    "cells": [{"r", "high", "diagonal"}]}] (the matrix for display), "pairs": [{"a", "b", "r",
    "high"}], "threshold": 0.8}``; the diagonal is 1, a pair lmfit could not
    estimate (no error bars) is None; ``high`` marks |r| > 0.8. Pairs are sorted by |r|,
    largest first.
    """
    names = [row["name"] for row in parameters if row["vary"]]
    out: dict[str, Any] = {"threshold": CORRELATION_HIGHLIGHT, "names": names}
    if correlations is None:
        return {**out, "stored": False, "note": NOT_STORED, "matrix": [], "rows": [],
                "pairs": []}
    lookup: dict[tuple[str, str], float] = {}
    for pair, r in correlations.items():
        a, b = pair.split(",")
        lookup[(a, b)] = lookup[(b, a)] = r
    matrix = [[1.0 if a == b else lookup.get((a, b)) for b in names] for a in names]
    pairs = [
        {"a": a, "b": b, "r": lookup[(a, b)], "high": abs(lookup[(a, b)]) > CORRELATION_HIGHLIGHT}
        for i, a in enumerate(names) for b in names[i + 1:] if (a, b) in lookup
    ]
    pairs.sort(key=lambda p: -abs(p["r"]))
    note = "" if pairs or len(names) < 2 else "the fit gave no correlations (no error bars)"
    rows = [
        {"name": a, "cells": [
            {"r": r, "diagonal": a == b,
             "high": a != b and r is not None and abs(r) > CORRELATION_HIGHLIGHT}
            for b, r in zip(names, row, strict=True)]}
        for a, row in zip(names, matrix, strict=True)
    ]
    return {**out, "stored": True, "note": note, "matrix": matrix, "rows": rows, "pairs": pairs}


# --- statistics ----------------------------------------------------------------------------


def _information_criteria(chi_square: float | None, n_idp: float | None,
                          n_var: float | None) -> tuple[float | None, float | None]:
    """AIC and BIC as larch's ``feffit`` computes them (larch/xafs/feffit.py, xraylarch
    2026.3: "calculate 'aic', 'bic' rescaled to n_idp"): −2 ln L = N_idp·ln(χ²/N_idp), then
    AIC = −2 ln L + 2·N_var and BIC = −2 ln L + ln(N_idp)·N_var. None when χ² or N_idp is
    missing or not positive."""
    if not chi_square or not n_idp or chi_square <= 0 or n_idp <= 0 or n_var is None:
        return None, None
    neg2_loglikel = n_idp * math.log(chi_square / n_idp)
    return neg2_loglikel + 2 * n_var, neg2_loglikel + math.log(n_idp) * n_var


def fit_statistics(provenance: dict) -> dict:
    """χ², χ²ᵥ, R-factor, N_idp, N_var, AIC, BIC in total and per dataset.

    The total is larch's own (stored at fit time). Per dataset, χ², χ²ᵥ and R-factor are the
    engine's per-dataset values (χ² scaled to that dataset's N_idp); N_var is that dataset's
    share of the varied parameters, N_var·N_idp,i/ΣN_idp (so a one-dataset fit repeats the
    total exactly), and AIC/BIC follow larch's definition with those numbers (see
    :func:`_information_criteria`). Returns ``{"total": {...}, "datasets": [{"id", ...}]}``
    with keys chi_square, chi2_reduced, r_factor, n_idp, n_var, aic, bic (datasets also
    k_min, k_max, r_min_a, r_max_a); empty dict for fits without stored statistics.
    """
    st = provenance.get("statistics") or {}
    if not st:
        return {}
    n_total, n_var = st.get("n_independent"), st.get("nvarys")
    total = {
        "chi_square": st.get("chi_square"), "chi2_reduced": st.get("chi2_reduced"),
        "r_factor": st.get("rfactor"), "n_idp": n_total, "n_var": n_var,
        "aic": st.get("aic"), "bic": st.get("bic"),
    }
    by_dataset = provenance.get("dataset_statistics") or {}
    datasets = []
    for ds_id, ds in by_dataset.items():
        n_idp = ds.get("n_idp")
        share = n_var * n_idp / n_total if n_var is not None and n_idp and n_total else None
        aic, bic = _information_criteria(ds.get("chi_square"), n_idp, share)
        datasets.append({
            "id": ds_id, "chi_square": ds.get("chi_square"), "chi2_reduced": ds.get("chi2_reduced"),
            "r_factor": ds.get("rfactor"), "n_idp": n_idp, "n_var": share, "aic": aic, "bic": bic,
            "k_min": ds.get("kmin"), "k_max": ds.get("kmax"),
            "r_min_a": ds.get("rmin"), "r_max_a": ds.get("rmax"),
        })
    return {"total": total, "datasets": datasets}


def _idiom_paths(provenance: dict) -> set[tuple[str, str]]:
    """(dataset id, path label) of paths written in the Larch idiom ``degen 1, s02 "amp*n1"``:
    degeneracy 1 and an amplitude expression that is not just the S0² parameter (the
    parameter named by ``options.s02_parameter``, else s02 / amp / S02)."""
    model = provenance.get("resolved_model") or {}
    names = set(model.get("parameters") or {})
    s02_name = (model.get("options") or {}).get("s02_parameter") or next(
        (n for n in ("s02", "amp", "S02") if n in names), None)
    out = set()
    for ds in model.get("datasets") or []:
        for path in ds.get("paths") or []:
            s02 = path.get("s02")
            if path.get("degen") == 1 and isinstance(s02, str) and s02.strip() != s02_name:
                out.add((ds.get("id"), path.get("label")))
    return out


def n_notes(fit: XASFit, provenance: dict) -> list[str]:
    """A note per path whose stored N is FEFF's degeneracy 1 ± 0 although the model put N into
    the amplitude (``degen 1, s02 "amp*n1"``): such fits were stored before labdb evaluated N
    for that idiom, and a refit shows the fitted N. Costs a query only for idiom models."""
    idiom = _idiom_paths(provenance)
    if not idiom:
        return []
    notes = []
    for path in fit.paths.all():
        printed = path.as_printed if isinstance(path.as_printed, dict) else {}
        key = (printed.get("dataset"), printed.get("label"))
        if key in idiom and path.n == 1 and not path.n_err:
            notes.append(
                f"path {key[1]} ({key[0]}): N is stored as FEFF's degeneracy 1 ± 0, but the "
                "model writes N into the amplitude (degen 1, s02 expression): this fit was "
                "stored before labdb evaluated N for that form; refit to see N with its error."
            )
    return notes


def fit_results(*, fit_id: int, fit: XASFit | None = None) -> dict:
    """Parameter table, correlation matrix and statistics of one fit (see the functions above).

    Published fits have none of these (only their printed path table): the keys are present
    and empty, with ``source`` saying why. ``fit``: the record when the caller has it (saves
    the query). Raises FitNotFound for an unknown fit id.
    """
    fit = fit if fit is not None and fit.pk == fit_id else _fit(fit_id)
    provenance = fit.provenance or {}
    parameters = parameter_table(provenance)
    computed = fit.source == DataSource.COMPUTED and bool(parameters)
    correlations = _stored_correlations(fit, provenance) if computed else None
    has_arrays = computed and FitRun.objects.filter(result_id=fit.pk).exists()
    return {
        "fit": {"id": fit.pk, "version": fit.version, "source": fit.source},
        "has_arrays": has_arrays,
        "s02": fit.s02,
        "s02_err": fit.s02_err,
        "parameters": parameters,
        "correlations": correlation_matrix(parameters, correlations) if computed else {},
        "statistics": fit_statistics(provenance),
        "warnings": list(fit.warnings or []),
        "n_notes": n_notes(fit, provenance) if computed else [],
    }


# --- arrays --------------------------------------------------------------------------------

_SUPERSCRIPT = "⁰¹²³⁴"


def _columns(space: str, kweight: int) -> list[tuple[str, str]]:
    """(column, unit) of one space at k-weight ``kweight``."""
    kw = f"Å⁻{_SUPERSCRIPT[kweight]}" if kweight else "1"
    chir = f"Å⁻{_SUPERSCRIPT[kweight + 1]}"
    if space == "k":
        return [("k_inv_a", "Å⁻¹"), ("kwin", "1"), ("data", kw), ("model", kw),
                ("residual", kw)]
    if space == "r":
        parts = [f"{part}_{who}" for who in ("data", "model", "residual")
                 for part in ("mag", "re", "im")]
        return [("r_a", "Å"), ("rwin", "1")] + [(p, chir) for p in parts]
    parts = [f"{part}_{who}" for who in ("data", "model", "residual") for part in ("re", "im")]
    return [("q_inv_a", "Å⁻¹")] + [(p, kw) for p in parts]


def transform_arrays(k_inv_a, chi_data, chi_model, transform: dict, *, kweight: int,
                     space: str) -> dict[str, list[float | None]]:
    """Data, model and residual χ of a fit in k, R or q space at ``kweight``.

    ``k_inv_a``, ``chi_data``, ``chi_model`` are the fit's unweighted χ(k) on larch's k grid
    (as stored with the fit); ``transform`` is the fit's transform (``TransformSpec``
    larch_kwargs). k: k^w·χ(k) of data, model, residual (= data − model) and the k window.
    R and q: larch's feffit transform (``feffit_transform(...)._xafsft(..., with_chiq=True)``,
    the call feffit's ``save_outputs`` makes) with only the k-weight changed, out to
    R = 10 Å and q = kmax + 2 Å⁻¹. Returns column → list of floats (see ``_columns``).
    Raises DomainError for an unknown space or k-weight.
    """
    import numpy as np

    from analysis.engines._larch import larch

    if space not in SPACES:
        raise DomainError(f"space: expected k, r or q, got {space!r}.", field="space")
    if kweight not in KWEIGHTS:
        raise DomainError(f"kweight: expected 0, 1, 2 or 3, got {kweight!r}.", field="kweight")
    k = np.asarray(k_inv_a, dtype="float64")
    chis = {"data": np.asarray(chi_data, dtype="float64"),
            "model": np.asarray(chi_model, dtype="float64")}
    chis["residual"] = chis["data"] - chis["model"]
    lx = larch()
    kwargs = {**transform, "kweight": kweight}
    out: dict[str, Any] = {}
    if space == "k":
        trans = lx.feffit_transform(**kwargs)
        trans.fftf(chis["data"])  # builds the k window exactly as the fit did
        out = {"k_inv_a": k, "kwin": trans.kwin[: len(k)]}
        out.update({who: chi * k**kweight for who, chi in chis.items()})
        return {name: _floats(values) for name, values in out.items()}
    for who, chi in chis.items():
        group = lx.Group()
        lx.feffit_transform(**kwargs)._xafsft(chi, group=group, rmax_out=RMAX_OUT_A,
                                              with_chiq=True)
        if space == "r":
            out.update({"r_a": group.r, "rwin": group.rwin, f"mag_{who}": group.chir_mag,
                        f"re_{who}": group.chir_re, f"im_{who}": group.chir_im})
        else:
            out.update({"q_inv_a": group.q, f"re_{who}": group.chiq_re,
                        f"im_{who}": group.chiq_im})
    names = [name for name, _ in _columns(space, kweight)]
    return {name: _floats(out[name]) for name in names}


def _floats(values) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def _dataset_arrays(fit_id: int, dataset: str | None) -> tuple[dict, int]:
    data = FitRun.objects.filter(result_id=fit_id).values_list("result_data", flat=True).first()
    datasets = ((data or {}).get("fit") or {}).get("datasets") or []
    if not datasets or "chi_model" not in (datasets[0].get("arrays") or {}):
        raise DomainError(
            f"fit {fit_id}: only fits computed by labdb have arrays; published fits are "
            "stored as printed (see their path table).",
            field="fit",
        )
    if dataset is None:
        return datasets[0], 0
    for index, ds in enumerate(datasets):
        if ds["id"] == dataset:
            return ds, index
    known = ", ".join(ds["id"] for ds in datasets)
    raise DomainError(f"dataset: fit {fit_id} has no dataset {dataset!r} (it has {known}).",
                      field="dataset")


def _kweight(value) -> int:
    try:
        kweight = int(value)
    except (TypeError, ValueError):
        kweight = None
    if kweight not in KWEIGHTS or str(value).strip() not in {str(k) for k in KWEIGHTS}:
        raise DomainError(f"kweight: expected 0, 1, 2 or 3, got {value!r}.", field="kweight")
    return kweight


def fit_arrays(*, fit_id: int, space: str = "k", kweight=2, dataset: str | None = None,
               etag: str | None = None) -> fit_plots.CachedPlot:
    """Arrays of one dataset of a computed fit as JSON bytes, cached per fit version.

    JSON: ``{"fit": {id, version}, "dataset", "space", "kweight", "fit_kweight",
    "columns": [names], "units": {name: unit}, "arrays": {name: [floats]}, "transform"}``.
    A cache hit costs one query and one file read; the first computation imports larch.
    Raises FitNotFound (unknown fit) or DomainError naming the parameter (space, kweight,
    dataset) or the fit (no arrays: a published fit).
    """
    if space not in SPACES:
        raise DomainError(f"space: expected k, r or q, got {space!r}.", field="space")
    kweight = _kweight(kweight)
    # the dataset id is the client's text: hashed, so it never becomes part of a storage path
    tag = hashlib.sha256(dataset.encode()).hexdigest()[:16] if dataset else "first"
    name = f"arrays{ARRAYS_VERSION}-{space}-kw{kweight}-ds-{tag}.json"

    def compute(version: int) -> dict:
        ds, _ = _dataset_arrays(fit_id, dataset)
        arr = ds["arrays"]
        arrays = transform_arrays(arr["k_inv_a"], arr["chi_data"], arr["chi_model"],
                                  ds["transform"], kweight=kweight, space=space)
        columns = _columns(space, kweight)
        return {
            "fit": {"id": fit_id, "version": version}, "dataset": ds["id"], "space": space,
            "kweight": kweight, "fit_kweight": arr.get("kweight"),
            "columns": [c for c, _ in columns], "units": dict(columns), "arrays": arrays,
            "transform": ds["transform"], "simulated": bool(ds.get("simulated")),
        }

    return fit_plots.cached_json(fit_id=fit_id, name=name, compute=compute, etag=etag)


def arrays_csv(payload: dict, provenance: dict) -> str:
    """The arrays of :func:`fit_arrays` as CSV: ``#`` comment lines with the fit, the dataset,
    the space, k-weight, units per column and the provenance essentials (raw file sha256,
    model hash, software versions), then one header row and one row per point (floats in
    full precision, empty for a missing value)."""
    buf = io.StringIO()
    fit = payload["fit"]
    header = [
        f"labdb XAS fit {fit['id']} (version {fit['version']}), dataset {payload['dataset']}",
        f"space {payload['space']}, k-weight {payload['kweight']} "
        f"(the fit used {payload['fit_kweight']})",
        "units: " + ", ".join(f"{c} [{payload['units'][c]}]" for c in payload["columns"]),
        f"transform: {json.dumps(payload['transform'], sort_keys=True)}",
        f"raw file sha256: {provenance.get('input_sha256')}",
        f"model hash: {provenance.get('model_hash')}",
        f"fit run: {provenance.get('fit_run')}",
        "software: " + json.dumps(provenance.get("versions") or {}, sort_keys=True),
    ]
    if payload.get("simulated"):
        header.append("SIMULATED data (not measured)")
    for line in header:
        buf.write(f"# {line}\n")
    writer = csv.writer(buf, lineterminator="\n")
    columns = payload["columns"]
    writer.writerow(columns)
    for row in zip(*(payload["arrays"][c] for c in columns), strict=True):
        writer.writerow(["" if v is None else repr(v) for v in row])
    return buf.getvalue()


# --- provenance and overlays ---------------------------------------------------------------


def provenance_document(*, fit_id: int, fit: XASFit | None = None) -> dict:
    """The provenance of a fit as a JSON document, with ``fit_run_request``: the body to POST
    to ``/api/fit-runs/`` to run the same model again (``{"spectrum": id, "model": {...}}``;
    a multi-spectrum model names its spectra itself). Published fits: their stored provenance
    (usually empty) and no request. Raises FitNotFound."""
    fit = fit if fit is not None and fit.pk == fit_id else _fit(fit_id)
    provenance = dict(fit.provenance or {})
    if isinstance(provenance.get("model"), dict):
        provenance["model"] = model_in_order(provenance["model"],
                                             provenance.get("parameter_order"))
    request = None
    if fit.source == DataSource.COMPUTED and provenance.get("model"):
        # In the given variable order (jsonb keeps no key order; parameter_order is a list).
        request = {"model": provenance["model"]}
        if len(provenance.get("spectra") or []) <= 1 and fit.spectrum_id:
            request = {"spectrum": fit.spectrum_id, **request}
    return _finite({"fit": fit.pk, "version": fit.version, "source": fit.source,
                    "fit_run_request": request, "provenance": provenance})


def _finite(obj):
    """``obj`` with NaN/±inf floats as None, so it is JSON every parser reads."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def provenance_text(*, fit_id: int, fit: XASFit | None = None) -> str:
    """:func:`provenance_document` pretty-printed (2-space indent, UTF-8 kept), as served at
    ``/api/xas-fits/<id>/provenance.json`` and shown on the fit page."""
    document = provenance_document(fit_id=fit_id, fit=fit)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def overlay_candidates(fit: XASFit) -> list[dict]:
    """Other current fits of the same absorber and edge (computed and published), for the
    overlay picker: id, sample code, source, label, citation, whether it has arrays."""
    others = (
        XASFit.objects.filter(absorber=fit.absorber, edge_name=fit.edge_name, is_retired=False)
        .exclude(pk=fit.pk)
        .select_related("sample")
        .order_by("sample__code", "source", "pk")
    )
    with_arrays = set(FitRun.objects.filter(result__in=others).values_list("result_id",
                                                                            flat=True))
    return [
        {"id": o.pk, "sample": o.sample.code, "source": o.source, "label": o.label,
         "citation": getattr(o, "citation", "") or "", "has_arrays": o.pk in with_arrays,
         "same_sample": o.sample_id == fit.sample_id}
        for o in others
    ]
