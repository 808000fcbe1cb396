"""EXAFS fitting engine: a validated fit model + data + FEFF path files → :class:`FitResult`.

Wraps larch ``feffit`` (lmfit MINPACK least squares, Ifeffit conventions: chi-square scaled to
the number of independent points, uncertainties already scaled by √(reduced chi-square)).
Everything that determines the numbers — resolved processing and transform parameters, the
path files chosen for each model entry, software versions — is returned with the result.

Units: R, reff, ΔR in Å; σ² in Å²; c3 in Å³; ΔE0 in eV; k in Å⁻¹.
Every problem raises :class:`EngineError` before or instead of a result (never a partial one).
"""

from __future__ import annotations

import ast
import atexit
import functools
import hashlib
import math
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labdb.lib.errors import EngineError

from ._larch import larch, software_versions
from .feff import FeffPathFile, FeffRun, parse_feff_dat
from .feffit_model import (
    PATH_PARAMETERS,
    DatasetSpec,
    FitModel,
    PathSpec,
    expression_names,
    parse_fit_model,
    s02_parameter,
)
from .xas_processing import ProcessedSpectrum, check_k_range, process_mu

DataInput = Any  # ProcessedSpectrum | SimulatedChi | {"energy_ev": ..., "mu": ...}
PathFilesInput = Mapping[str, "str | Path | FeffPathFile"] | FeffRun


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`run_fit`.

    Attributes:
        parameters: ``{name: {value, stderr, init, vary, expr, min, max, kind}}``.
        paths: one dict per FEFF path used (see :func:`_path_result` for the keys).
        statistics: rfactor, chi_square, chi2_reduced, n_independent, nvarys, nfree, ndata,
            nfev, aic, bic, success, errorbars, message.
        correlations: ``{"a,b": r}`` for every pair of varied parameters.
        datasets: per dataset: id, label, simulated, processing (resolved), transform,
            n_idp, epsilon_k, epsilon_r, and the plot arrays.
        model: the canonical model JSON (defaults filled, selectors resolved to path files).
        warnings: things the chemist should know (unused variables fixed, no error bars, …).
        versions: xraylarch, lmfit, asteval, numpy, scipy, larixite, python.
        elapsed_s: wall time of run_fit, s.
    """

    parameters: dict[str, dict[str, Any]]
    paths: list[dict[str, Any]]
    statistics: dict[str, Any]
    correlations: dict[str, float]
    datasets: list[dict[str, Any]]
    model: dict[str, Any]
    warnings: list[str]
    versions: dict[str, str | None]
    elapsed_s: float
    simulated: bool = False
    # The processed spectra (ProcessedSpectrum) by dataset id, for callers that store μ(E)
    # plot arrays without processing again; not part of to_json().
    spectra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def parameter(self, name: str) -> dict[str, Any]:
        return self.parameters[name]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (numpy arrays → lists, NaN → None)."""
        return _jsonable({
            "parameters": self.parameters, "paths": self.paths, "statistics": self.statistics,
            "correlations": self.correlations, "datasets": self.datasets, "model": self.model,
            "warnings": self.warnings, "versions": self.versions, "elapsed_s": self.elapsed_s,
            "simulated": self.simulated})


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1 and obj.dtype == np.float64:
            return _float_list(obj)
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _float_list(values: np.ndarray) -> list[float | None]:
    """A 1-D float array as a list of Python floats, NaN and ±inf as None — what the element
    by element walk of :func:`_jsonable` gives, with one vectorised finiteness check instead
    of a Python call per point (the plot arrays are most of a result's JSON)."""
    out = values.tolist()
    if np.isfinite(values).all():
        return out
    return [v if math.isfinite(v) else None for v in out]


# --------------------------------------------------------------------------- path files
def _load_path_files(path_files: PathFilesInput) -> dict[str, FeffPathFile]:
    if isinstance(path_files, FeffRun):
        return {p.file_id: p for p in path_files.paths}
    if not isinstance(path_files, Mapping):
        raise EngineError("path_files must map path file ids to feffNNNN.dat texts",
                          field="path_files")
    out = {}
    for file_id, value in path_files.items():
        if isinstance(value, FeffPathFile):
            out[file_id] = value
            continue
        if isinstance(value, Path):
            try:
                value = value.read_text(errors="replace")
            except OSError as exc:
                raise EngineError(f"path file {file_id!r} cannot be read: {exc}",
                                  field="path_files") from exc
        if not isinstance(value, str):
            raise EngineError(f"path file {file_id!r} must be text or a Path",
                              field="path_files")
        out[file_id] = parse_feff_dat(value, file_id=file_id)
    return out


@functools.cache
def _feffdat_dir() -> Path:
    """Per-process folder holding path texts as files: larch re-reads a FeffDatFile from its
    filename whenever it copies one (lmfit deep-copies the parameters' symbol table)."""
    folder = Path(tempfile.mkdtemp(prefix="labdb-feffdat-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.lru_cache(maxsize=512)
def _feffdat(text_sha256: str, text: str) -> Any:
    """Parse a feffNNNN.dat with larch once per distinct text (larch reads only from files)."""
    path = _feffdat_dir() / f"{text_sha256}.dat"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return larch().FeffDatFile(filename=str(path))


def _selected_paths(spec: PathSpec, files: dict[str, FeffPathFile],
                    where: str) -> list[FeffPathFile]:
    if spec.path_file is not None:
        if spec.path_file not in files:
            known = ", ".join(sorted(files)) or "none"
            raise EngineError(f"path {spec.label!r} names unknown path file "
                              f"{spec.path_file!r} (known: {known})", field=f"{where}.path_file")
        return [files[spec.path_file]]
    sel = spec.select
    assert sel is not None
    chosen = [f for f in files.values()
              if f.absorber == sel.absorber and f.scatterers == sel.scatterers
              and sel.r_min_a <= f.reff_a <= sel.r_max_a]
    if not chosen:
        chain = "-".join((sel.absorber, *sel.scatterers))
        available = "; ".join(f.label for f in sorted(files.values(), key=lambda f: f.reff_a)
                              [:12])
        raise EngineError(f"path {spec.label!r}: no FEFF path {chain} with reff between "
                          f"{sel.r_min_a} and {sel.r_max_a} Å (available: {available})",
                          field=f"{where}.select")
    return sorted(chosen, key=lambda f: (f.reff_a, f.file_id))


# --------------------------------------------------------------------------- data
def _prepare_data(ds: DatasetSpec, data: DataInput, where: str) -> tuple[Any, dict]:
    """Return (larch group with k and chi, info dict with processing/simulated/label)."""
    lx = larch()
    if isinstance(data, ProcessedSpectrum):
        if ds.processing is not None:
            raise EngineError(f"dataset {ds.id!r} is already processed; remove 'processing' "
                              f"from the model or pass raw energy_ev/mu",
                              field=f"{where}.processing")
        spectrum = data
    elif isinstance(data, Mapping) and "energy_ev" in data and "mu" in data:
        if ds.processing is None:
            raise EngineError(f"dataset {ds.id!r} is raw μ(E); the model needs 'processing'",
                              field=f"{where}.processing")
        try:
            spectrum = process_mu(data["energy_ev"], data["mu"], **ds.processing)
        except EngineError as exc:
            raise EngineError(f"dataset {ds.id!r}: {exc.message}",
                              field=f"{where}.{exc.field}" if exc.field else where,
                              detail=exc.detail) from exc
    elif hasattr(data, "k_inv_a") and hasattr(data, "chi"):
        if ds.processing is not None:
            raise EngineError(f"dataset {ds.id!r} is χ(k) already; remove 'processing'",
                              field=f"{where}.processing")
        k = np.asarray(data.k_inv_a, dtype="float64")
        chi = np.asarray(data.chi, dtype="float64")
        if k.ndim != 1 or k.shape != chi.shape or k.size < 10:
            raise EngineError(f"dataset {ds.id!r}: k and chi must be equal-length 1-D arrays",
                              field=f"{where}.chi")
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(chi))):
            raise EngineError(f"dataset {ds.id!r}: χ(k) has non-finite values",
                              field=f"{where}.chi")
        if np.any(np.diff(k) <= 0):
            raise EngineError(f"dataset {ds.id!r}: k must increase strictly", field=f"{where}.k")
        group = lx.Group(k=k, chi=chi)
        return group, {"processing": None, "simulated": bool(getattr(data, "simulated", False)),
                       "label": str(getattr(data, "label", ""))}
    else:
        raise EngineError(f"dataset {ds.id!r}: give a ProcessedSpectrum, a simulated χ(k) or "
                          f"{{'energy_ev': [...], 'mu': [...]}}", field=where)
    group = spectrum._group
    if group is None:
        group = lx.Group(k=spectrum.k_inv_a, chi=spectrum.chi)
    return group, {"processing": spectrum.parameters, "simulated": spectrum.simulated,
                   "label": spectrum.label, "e0_ev": spectrum.e0_ev,
                   "edge_step": spectrum.edge_step, "spectrum": spectrum}


# --------------------------------------------------------------------------- fit
def _build_parameters(model: FitModel) -> Any:
    lx = larch()
    pars = {}
    for p in model.parameters:
        if p.kind == "def":
            pars[p.name] = lx.param(expr=p.expr)
        else:
            kws: dict[str, Any] = {"vary": p.kind == "guess"}
            if p.min is not None:
                kws["min"] = p.min
            if p.max is not None:
                kws["max"] = p.max
            pars[p.name] = lx.param(p.value, **kws)
    return lx.param_group(**pars)


@dataclass
class _PathPlan:
    dataset_index: int
    spec: PathSpec
    file: FeffPathFile
    label: str
    n_fraction: float | None  # share of the entry's coordination number for this path
    kwargs: dict[str, Any] = field(default_factory=dict)


def _plan_paths(model: FitModel, files: dict[str, FeffPathFile]) -> list[_PathPlan]:
    plans = []
    for d, ds in enumerate(model.datasets):
        used_labels: set[str] = set()
        absorbers = set()
        for j, spec in enumerate(ds.paths):
            where = f"datasets[{d}].paths[{j}]"
            chosen = _selected_paths(spec, files, where)
            total_degen = sum(f.degen for f in chosen)
            for f in chosen:
                absorbers.add(f.absorber)
                label = spec.label if len(chosen) == 1 else f"{spec.label}:{f.file_id}"
                if label in used_labels:
                    raise EngineError(f"path file {f.file_id!r} is used twice in dataset "
                                      f"{ds.id!r}", field=where)
                used_labels.add(label)
                kwargs: dict[str, Any] = {
                    p: with_constants(getattr(spec, p), ds.constants) for p in PATH_PARAMETERS}
                frac = None
                if spec.n is not None:
                    frac = f.degen / total_degen
                    kwargs["degen"] = 1.0
                    kwargs["s02"] = (f"({kwargs['s02']})*({with_constants(spec.n, ds.constants)})"
                                     f"*{frac!r}")
                elif spec.degen is not None:
                    kwargs["degen"] = spec.degen
                plans.append(_PathPlan(d, spec, f, label, frac, kwargs))
        if len(absorbers) > 1:
            raise EngineError(f"dataset {ds.id!r} mixes paths of different absorbers "
                              f"({', '.join(sorted(absorbers))})", field=f"datasets[{d}].paths")
    return plans


def with_constants(expr: float | str, constants: Mapping[str, float]) -> float | str:
    """``expr`` with the dataset's constants written in as numbers (larch has one namespace
    for all datasets, so ``sigma2_eins(temperature_k, theta)`` becomes ``sigma2_eins(10.0,
    theta)`` for the 10 K dataset). Numbers and expressions without constants are unchanged."""
    if not isinstance(expr, str) or not constants:
        return expr
    tree = ast.parse(expr, mode="eval")
    if not any(isinstance(n, ast.Name) and n.id in constants for n in ast.walk(tree)):
        return expr

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in constants:
                return ast.copy_location(ast.Constant(constants[node.id]), node)
            return node

    return ast.unparse(_Sub().visit(tree))


def run_fit(datasets: Mapping[str, DataInput], model: Mapping[str, Any] | FitModel,
            path_files: PathFilesInput) -> FitResult:
    """Fit FEFF paths to one or several datasets as described by ``model``.

    Args:
        datasets: ``{dataset id: data}``; data is a raw ``{"energy_ev", "mu"}`` mapping
            (processed with the model's ``processing``), a :class:`ProcessedSpectrum`, or a
            :class:`analysis.engines.simulation.SimulatedChi` (χ(k) used as is).
        model: fit model JSON (docs/fit-model.md) or a parsed :class:`FitModel`.
        path_files: ``{path file id: feffNNNN.dat text | Path | FeffPathFile}`` or a FeffRun.

    Returns:
        FitResult.

    Raises:
        EngineError: invalid model, unknown path/parameter, selector matching nothing,
            k-range outside the data, bad data, or a failed fit — never a partial result.
    """
    t0 = time.perf_counter()
    fit_model = parse_fit_model(model)
    if not isinstance(datasets, Mapping):
        raise EngineError("datasets must map dataset ids to data", field="datasets")
    wanted = [d.id for d in fit_model.datasets]
    missing = [i for i in wanted if i not in datasets]
    extra = [i for i in datasets if i not in wanted]
    if missing or extra:
        raise EngineError(
            f"datasets do not match the model: missing {missing or 'none'}, "
            f"not in the model {extra or 'none'}", field="datasets")
    files = _load_path_files(path_files)
    plans = _plan_paths(fit_model, files)
    lx = larch()

    groups, infos = [], []
    for d, ds in enumerate(fit_model.datasets):
        group, info = _prepare_data(ds, datasets[ds.id], f"datasets[{d}]")
        check_k_range(ds.transform.kmin, ds.transform.kmax, float(np.max(group.k)),
                      f"datasets[{d}].transform")
        groups.append(group)
        infos.append(info)

    pars = _build_parameters(fit_model)
    dsets = []
    try:
        for d, ds in enumerate(fit_model.datasets):
            pathlist = []
            for plan in (p for p in plans if p.dataset_index == d):
                fdat = _feffdat(hashlib.sha256(plan.file.text.encode()).hexdigest(),
                                plan.file.text)
                pathlist.append(_make_path(lx, plan, fdat))
            trans = lx.feffit_transform(**ds.transform.larch_kwargs())
            dsets.append(lx.feffit_dataset(data=groups[d], pathlist=pathlist, transform=trans,
                                           epsilon_k=ds.epsilon_k))
        fit_kws = {}
        if "max_nfev" in fit_model.options:
            fit_kws["max_nfev"] = int(fit_model.options["max_nfev"])
        out = lx.feffit(pars, dsets, fix_unused_variables=bool(
            fit_model.options.get("fix_unused_variables", True)), **fit_kws)
    except EngineError:
        raise
    except Exception as exc:  # lmfit/asteval/larch: NameError, ValueError, LinAlgError, ...
        raise EngineError(f"the fit could not be run: {exc}", field="model",
                          detail=f"{type(exc).__name__}: {exc}") from exc
    if out is None or getattr(out, "params", None) is None:
        raise EngineError("larch feffit returned no result", field="model")
    return _collect(out, fit_model, plans, infos, t0)


def _make_path(lx: Any, plan: _PathPlan, fdat: Any) -> Any:
    from larch.xafs.feffdat import FeffPathGroup  # larch is already imported by lx

    return FeffPathGroup(filename=plan.file.file_id, label=plan.label, _feffdat=fdat,
                         **plan.kwargs)


# --------------------------------------------------------------------------- results
def _f(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _collect(out: Any, model: FitModel, plans: list[_PathPlan], infos: list[dict],
             t0: float) -> FitResult:
    params = out.params
    spec_by_name = {p.name: p for p in model.parameters}
    warnings = []
    parameters = {}
    for p in model.parameters:
        par = params[p.name]
        parameters[p.name] = {
            "kind": p.kind, "value": _f(par.value), "stderr": _f(par.stderr),
            "init": _f(p.value) if p.kind != "def" else None, "vary": bool(par.vary),
            "expr": p.expr, "min": p.min, "max": p.max}
        if p.kind == "guess" and not par.vary:
            warnings.append(f"parameter {p.name!r} is not used by any path and was held fixed")
    if not out.errorbars:
        warnings.append("uncertainties could not be estimated (singular covariance): the "
                        "model has too many or degenerate variables")
    varied = [n for n in out.var_names if n in spec_by_name]
    correlations = {}
    for i, a in enumerate(varied):
        for b in varied[i + 1:]:
            c = (params[a].correl or {}).get(b)
            if c is not None:
                correlations[f"{a},{b}"] = float(c)

    paths = []
    for d, ds in enumerate(out.datasets):
        for plan in (p for p in plans if p.dataset_index == d):
            paths.append(_path_result(ds.paths[plan.label], plan, model, params))

    dataset_results = []
    for d, ds in enumerate(out.datasets):
        spec = model.datasets[d]
        kw = spec.transform.kweight
        kw0 = kw[0] if isinstance(kw, tuple) else kw
        k = np.asarray(ds.model.k)
        dataset_results.append({
            "id": spec.id, "label": infos[d]["label"], "simulated": infos[d]["simulated"],
            "processing": infos[d]["processing"], "e0_ev": infos[d].get("e0_ev"),
            "edge_step": infos[d].get("edge_step"),
            "transform": spec.transform.larch_kwargs(), "n_idp": float(ds.n_idp),
            "epsilon_k": float(np.mean(ds.epsilon_k)), "epsilon_r": float(np.mean(ds.epsilon_r)),
            "arrays": {
                "kweight": kw0, "k_inv_a": k, "chi_data": np.asarray(ds._chi)[:len(k)],
                "chi_model": np.asarray(ds.model.chi), "kwin": np.asarray(ds.model.kwin),
                "r_a": np.asarray(ds.data.r), "chir_mag_data": np.asarray(ds.data.chir_mag),
                "chir_mag_model": np.asarray(ds.model.chir_mag),
                "chir_re_data": np.asarray(ds.data.chir_re),
                "chir_re_model": np.asarray(ds.model.chir_re)}})

    residuals = _fit_residuals(out, params)
    for d, ds in enumerate(out.datasets):
        dataset_results[d]["statistics"] = _dataset_statistics(ds, out, *residuals[d])
    statistics = {
        "rfactor": _f(out.rfactor), "chi_square": _f(out.chi_square),
        "chi2_reduced": _f(out.chi2_reduced), "n_independent": _f(out.n_independent),
        "nvarys": int(out.nvarys), "nfree": int(out.nfree), "ndata": int(out.ndata),
        "nfev": int(out.nfev), "aic": _f(out.aic), "bic": _f(out.bic),
        "success": bool(out.success), "errorbars": bool(out.errorbars),
        "message": str(out.message)}
    resolved = model.to_json()
    for entry in paths:
        ds_json = resolved["datasets"][entry["dataset_index"]]
        ds_json.setdefault("resolved_paths", []).append(
            {"label": entry["label"], "path_file": entry["path_file"],
             "path_file_sha256": entry["path_file_sha256"], "larch_path_parameters":
             entry["larch_path_parameters"]})
    for d, info in enumerate(infos):
        resolved["datasets"][d]["processing_resolved"] = info["processing"]
    warnings += fit_warnings(parameters, statistics, correlations)
    return FitResult(parameters=parameters, paths=paths, statistics=statistics,
                     correlations=correlations, datasets=dataset_results, model=resolved,
                     warnings=warnings, versions=software_versions(),
                     elapsed_s=time.perf_counter() - t0,
                     simulated=any(i["simulated"] for i in infos),
                     spectra={ds.id: info["spectrum"] for ds, info in zip(
                         model.datasets, infos, strict=True) if "spectrum" in info})


#: Warning thresholds (Ifeffit/Artemis conventions): R-factor, |correlation|.
RFACTOR_WARN = 0.05
CORRELATION_WARN = 0.95
#: A parameter this close to a bound (relative to max(1, |bound|)) is "at the bound".
BOUND_TOLERANCE = 1e-6


def fit_warnings(parameters: dict[str, dict[str, Any]], statistics: dict[str, Any],
                 correlations: dict[str, float]) -> list[str]:
    """What the chemist should check: N_var close to or above N_idp, parameters at a bound,
    R-factor above 0.05, correlations above 0.95 in magnitude."""
    out = []
    nvarys, n_idp = statistics["nvarys"], statistics["n_independent"] or 0.0
    if nvarys > n_idp:
        out.append(f"{nvarys} varied parameters exceed the {n_idp:.2f} independent points: "
                   f"the fit is undetermined")
    elif nvarys > 2 * n_idp / 3:
        out.append(f"{nvarys} varied parameters for {n_idp:.2f} independent points (more than "
                   f"2/3): uncertainties are unreliable")
    for name, p in parameters.items():
        if not p["vary"] or p["value"] is None:
            continue
        for side in ("min", "max"):
            bound = p[side]
            if bound is not None and abs(p["value"] - bound) <= BOUND_TOLERANCE * max(
                    1.0, abs(bound)):
                out.append(f"parameter {name!r} = {p['value']:.6g} sits at its {side}imum "
                           f"({bound:g}): the bound, not the data, sets it")
    rfactor = statistics.get("rfactor")
    if rfactor is not None and rfactor > RFACTOR_WARN:
        out.append(f"R-factor {rfactor:.4f} is above {RFACTOR_WARN}: the model does not "
                   f"describe the data well")
    for pair, r in correlations.items():
        if abs(r) > CORRELATION_WARN:
            a, b = pair.split(",")
            out.append(f"parameters {a!r} and {b!r} are correlated by {r:.3f} (|r| > "
                       f"{CORRELATION_WARN})")
    return out


def _fit_residuals(out: Any, params: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(residual, transformed data) of each dataset at the best fit, for its statistics.

    The residual is the dataset's share of the one lmfit evaluated at the best-fit values
    (``fit_details.residual``: larch's ``_feffit_resid`` concatenates the datasets' residuals in
    order; the same numbers, bit for bit, as evaluating the dataset again), so the statistics
    do not evaluate every path once more; evaluated again only when the lengths do not add up.
    """
    data = [_data_residual(ds, params) for ds in out.datasets]
    total = getattr(getattr(out, "fit_details", None), "residual", None)
    total = None if total is None else np.asarray(total)
    if total is None or total.size != sum(d.size for d in data):
        return [(np.asarray(ds._residual(params)), d) for ds, d in zip(out.datasets, data,
                                                                       strict=True)]
    bounds = np.cumsum([0, *(d.size for d in data)])
    return [(total[lo:hi], d) for lo, hi, d in zip(bounds[:-1], bounds[1:], data, strict=True)]


def _data_residual(ds: Any, params: Any) -> np.ndarray:
    """The dataset's transformed data (larch ``_residual(data_only=True)``) without evaluating
    its paths: with ``data_only`` larch still sums every path's χ(k), then ignores it, so the
    paths are taken away for the call (with no paths ``ff2chi`` returns at once and leaves the
    model untouched). The same numbers as the call with the paths."""
    paths = ds.paths
    ds.paths = {}
    try:
        return np.asarray(ds._residual(params, data_only=True))
    finally:
        ds.paths = paths


def _dataset_statistics(ds: Any, out: Any, resid: np.ndarray,
                        data: np.ndarray) -> dict[str, Any]:
    """χ², χ²ᵥ and R-factor of one dataset, scaled like larch's totals: χ² to this dataset's
    N_idp; χ²ᵥ with the varied parameters shared out by N_idp (N_var·N_idp,i/ΣN_idp).
    ``resid`` and ``data``: the dataset's residual and transformed data at the best fit
    (:func:`_fit_residuals`)."""
    n_idp = float(ds.n_idp)
    chi_square = float((resid ** 2).sum()) * n_idp / len(resid)
    nvar_share = out.nvarys * n_idp / float(out.n_independent)
    tr = ds.transform
    return {
        "chi_square": chi_square,
        "chi2_reduced": chi_square / (n_idp - nvar_share) if n_idp > nvar_share else None,
        "rfactor": float((resid ** 2).sum() / (data ** 2).sum()), "n_idp": n_idp,
        "kmin": float(tr.kmin), "kmax": float(tr.kmax), "rmin": float(tr.rmin),
        "rmax": float(tr.rmax)}


def _path_value(params: Any, path: Any, name: str) -> tuple[float | None, float | None]:
    par = params.get(path.pathpar_name(name))
    if par is None:
        return None, None
    # 'reff' etc. in the shared expression namespace belong to whichever path was evaluated
    # last; put this path's values there before re-evaluating its expression.
    path.store_feffdat()
    return _f(par._getval()), _f(par.stderr)


def _path_result(path: Any, plan: _PathPlan, model: FitModel, params: Any) -> dict[str, Any]:
    """Evaluated values of one path after the fit.

    Keys: dataset (id), dataset_index, label, path_file, path_file_sha256, absorber,
    scatterers, nleg, reff_a, feff_degen, r_a / r_err_a (reff + ΔR), deltar_a(_err),
    n / n_err (coordination: fitted when the entry has ``n``, else the degeneracy used),
    n_s02 / n_s02_err (N·S0², the amplitude actually fitted), s02 / s02_err,
    sigma2_a2(_err), delta_e0_ev(_err), c3_a3(_err), c4_a4(_err), expressions.
    """
    spec = plan.spec
    s02, s02_err = _path_value(params, path, "s02")
    e0, e0_err = _path_value(params, path, "e0")
    dr, dr_err = _path_value(params, path, "deltar")
    ss2, ss2_err = _path_value(params, path, "sigma2")
    c3, c3_err = _path_value(params, path, "third")
    c4, c4_err = _path_value(params, path, "fourth")
    degen = float(path.degen)
    n_s02 = None if s02 is None else degen * s02
    n_s02_err = None if s02_err is None else degen * s02_err
    consts = model.datasets[plan.dataset_index].constants
    path_symbols = {"reff": float(path.reff), "degen": degen, **consts}
    s02_name = s02_parameter(model)
    if spec.n is not None and plan.n_fraction is not None:
        n, n_err = evaluate_with_errors(params, model, f"({spec.n})*{plan.n_fraction!r}",
                                        path_symbols)
        s02_user, s02_user_err = evaluate_with_errors(params, model, spec.s02, path_symbols)
    elif isinstance(spec.s02, str) and s02_name and spec.s02.strip() != s02_name:
        # "degen 1, s02 'amp*n1'": the amplitude holds N; N = degen·amplitude / S0²
        n, n_err = evaluate_with_errors(params, model, f"{degen!r}*({spec.s02})/{s02_name}",
                                        path_symbols)
        s02_user, s02_user_err = evaluate_with_errors(params, model, s02_name, path_symbols)
    else:
        n, n_err = degen, 0.0
        s02_user, s02_user_err = (
            evaluate_with_errors(params, model, spec.s02, path_symbols)
            if isinstance(spec.s02, str) else (s02, s02_err))
    reff = float(path.reff)
    return {
        "dataset": model.datasets[plan.dataset_index].id, "dataset_index": plan.dataset_index,
        "label": plan.label, "entry": spec.label, "path_file": plan.file.file_id,
        "path_file_sha256": hashlib.sha256(plan.file.text.encode()).hexdigest(),
        "absorber": plan.file.absorber, "scatterers": list(plan.file.scatterers),
        "nleg": plan.file.nleg, "reff_a": reff, "feff_degen": plan.file.degen,
        "r_a": None if dr is None else reff + dr, "r_err_a": dr_err,
        "deltar_a": dr, "deltar_err_a": dr_err,
        "n": n, "n_err": n_err, "n_s02": n_s02, "n_s02_err": n_s02_err,
        "s02": s02_user, "s02_err": s02_user_err,
        "sigma2_a2": ss2, "sigma2_err_a2": ss2_err, "delta_e0_ev": e0, "delta_e0_err_ev": e0_err,
        "c3_a3": c3, "c3_err_a3": c3_err, "c4_a4": c4, "c4_err_a4": c4_err,
        "expressions": {p: getattr(spec, p) for p in PATH_PARAMETERS + ("n",)
                        if getattr(spec, p) is not None},
        "larch_path_parameters": {k: v for k, v in plan.kwargs.items()},
    }


def evaluate_with_errors(params: Any, model: FitModel, expr: float | str,
                         symbols: Mapping[str, float]) -> tuple[float | None, float | None]:
    """Value and 1σ error of ``expr`` from the fitted parameters, propagated linearly with
    their correlations (the ``uncertainties`` package, as lmfit does for 'def' parameters).
    ``symbols``: path values (reff, degen) and dataset constants. Errors are None when the
    fit gave no error bars."""
    import uncertainties
    from uncertainties import umath

    if isinstance(expr, (int, float)):
        return float(expr), 0.0
    if expr.strip() in params and expr.strip() in model.parameter_names:
        par = params[expr.strip()]
        return _f(par.value), (_f(par.stderr) if par.vary or par.expr else 0.0)
    varied = [n for n in model.parameter_names if params[n].vary]
    have_errors = all(params[n].stderr is not None for n in varied)
    namespace: dict[str, Any] = {name: getattr(umath, name) for name in (
        "sqrt", "exp", "log", "log10", "sin", "cos", "tan", "sinh", "cosh", "tanh")}
    namespace.update({"pi": math.pi, "e": math.e, "abs": abs, "min": min, "max": max})
    namespace.update(symbols)
    if varied and have_errors:
        sig = np.array([params[n].stderr for n in varied], dtype=float)
        corr = np.array([[1.0 if a == b else (params[a].correl or {}).get(b, 0.0)
                          for b in varied] for a in varied])
        values = uncertainties.correlated_values([params[n].value for n in varied],
                                                 corr * np.outer(sig, sig))
        namespace.update(dict(zip(varied, values, strict=True)))
    else:
        namespace.update({n: params[n].value for n in varied})
    for p in model.parameters:
        if p.kind == "set" or (p.kind == "guess" and not params[p.name].vary):
            namespace[p.name] = params[p.name].value
    pending = [p for p in model.parameters if p.kind == "def"]
    while pending:  # definitions in dependency order ('def's were checked for cycles)
        ready = [p for p in pending if expression_names(p.definition(), p.name) <= set(namespace)]
        for p in ready:
            namespace[p.name] = eval(compile(p.definition(), p.name, "eval"), {"__builtins__": {}},
                                     namespace)
        pending = [p for p in pending if p not in ready]
    result = eval(compile(str(expr), "expr", "eval"), {"__builtins__": {}}, namespace)
    if isinstance(result, uncertainties.core.AffineScalarFunc):
        return _f(result.nominal_value), _f(result.std_dev) if have_errors else None
    return _f(result), 0.0 if have_errors else None
