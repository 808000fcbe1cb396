"""XANES linear-combination fitting and principal component analysis with xraylarch.

Every spectrum of a run — the unknown, each standard, every member of a PCA set — is
normalized with **one** set of ``pre_edge`` parameters (only E0 is per spectrum), then
larch does the rest on the ``norm`` arrays:

* LCF: ``larch.math.lincombo_fit`` interpolates every standard onto the unknown's energy grid
  inside the energy range and fits the weights (lmfit standard errors, optional sum-to-one and
  0 ≤ w ≤ 1 bounds); ``lincombo_fitall`` fits every combination of ≥ 2 standards and ranks
  them by reduced χ².
* PCA: ``larch.math.pca_train`` (variances, eigenvalues, components, IND, number of
  significant components), ``pca_fit`` (reconstruct an unknown from n components) and target
  transformation of a candidate standard (the documented method: least-squares projection of
  the candidate onto the model mean + the first n components, ``pca_fit`` with
  ``rescale=False``; a candidate whose residual is at noise level lies in the space the set
  spans — Malinowski, *Factor Analysis in Chemistry*, ch. 4).

Units: energies in eV (absolute for ``energy_range_ev``, relative to E0 for the normalization
ranges), μ(E) and normalized μ(E) dimensionless, weights are fractions of the edge step.
Every bad input raises :class:`labdb.lib.errors.EngineError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.engines._json import json_float as _f
from analysis.engines._json import json_floats as _floats
from labdb.lib.errors import EngineError

from ._larch import larch, software_versions

ENGINE_NAME = "labdb.xanes_lcf"
ENGINE_VERSION = "1.0"

#: Fewer points than this inside the energy range cannot constrain a combination.
MIN_RANGE_POINTS = 10

Progress = Callable[[int, str], None]


@dataclass(frozen=True, eq=False)
class XanesInput:
    """One stored spectrum as the engine sees it.

    ``key`` is unique within a run (larch keys weights by it); ``label`` is what a chemist
    reads; ``e0_ev`` is the edge energy to normalize at (None: larch ``find_e0``).
    """

    key: str
    label: str
    energy_ev: np.ndarray
    mu: np.ndarray
    e0_ev: float | None = None
    simulated: bool = False


@dataclass(frozen=True)
class Normalization:
    """The one ``pre_edge`` setting every spectrum of a run shares (eV relative to E0)."""

    pre1_ev: float = -150.0
    pre2_ev: float = -30.0
    norm1_ev: float = 150.0
    norm2_ev: float = 850.0
    nnorm: int = 1
    nvict: int = 0

    def as_pre_edge(self) -> dict[str, float | int]:
        """The keyword arguments of larch ``pre_edge``."""
        return {"pre1": self.pre1_ev, "pre2": self.pre2_ev, "norm1": self.norm1_ev,
                "norm2": self.norm2_ev, "nnorm": self.nnorm, "nvict": self.nvict}


def normalize(spectrum: XanesInput, normalization: Normalization) -> Any:
    """A larch Group of ``spectrum`` with ``energy``, ``mu``, ``norm``, ``e0``, ``edge_step``.

    Raises EngineError (field ``inputs``) when larch cannot normalize it (too few points, a
    range that leaves no pre- or post-edge points).
    """
    lx = larch()
    energy = np.asarray(spectrum.energy_ev, dtype=float)
    mu = np.asarray(spectrum.mu, dtype=float)
    if energy.size < MIN_RANGE_POINTS or energy.size != mu.size:
        raise EngineError(f"{spectrum.label}: μ(E) has {energy.size} energies and {mu.size} "
                          "values; at least 10 equal-length points are needed", field="inputs")
    order = np.argsort(energy)
    group = lx.Group(energy=energy[order], mu=mu[order], filename=spectrum.key,
                     label=spectrum.label)
    try:
        lx.pre_edge(group, e0=spectrum.e0_ev, **normalization.as_pre_edge())
    except Exception as exc:  # larch raises bare ValueError/IndexError/LinAlgError
        raise EngineError(f"{spectrum.label}: larch pre_edge could not normalize it with "
                          f"{normalization.as_pre_edge()}", field="parameters.normalization",
                          detail=f"{type(exc).__name__}: {exc}") from exc
    if not np.all(np.isfinite(group.norm)) or not group.edge_step > 0:
        raise EngineError(f"{spectrum.label}: normalization gave an edge step of "
                          f"{group.edge_step!r}; check the pre-/post-edge ranges",
                          field="parameters.normalization")
    return group


def check_energy_range(spectra: Sequence[XanesInput], energy_range_ev: Sequence[float]) -> None:
    """EngineError (``parameters.energy_range_ev``) unless the range lies inside every
    spectrum's data and holds at least MIN_RANGE_POINTS points of each."""
    lo, hi = float(energy_range_ev[0]), float(energy_range_ev[1])
    if not lo < hi:
        raise EngineError(f"energy range {lo:g}–{hi:g} eV: the start must be below the end",
                          field="parameters.energy_range_ev")
    for s in spectra:
        e = np.asarray(s.energy_ev, dtype=float)
        if lo < e.min() or hi > e.max():
            raise EngineError(
                f"energy range {lo:g}–{hi:g} eV is outside the data of {s.label} "
                f"({e.min():.1f}–{e.max():.1f} eV); choose a range inside every spectrum",
                field="parameters.energy_range_ev")
        inside = int(np.count_nonzero((e >= lo) & (e <= hi)))
        if inside < MIN_RANGE_POINTS:
            raise EngineError(f"energy range {lo:g}–{hi:g} eV holds only {inside} points of "
                              f"{s.label}; at least {MIN_RANGE_POINTS} are needed",
                              field="parameters.energy_range_ev")


def _param(params: dict, key: str) -> tuple[float | None, float | None]:
    p = params.get(key)
    return (None, None) if p is None else (_f(p.value), _f(p.stderr))


def _fit_json(out: Any, labels: dict[str, str], simulated: dict[str, bool], *,
              arrays: bool) -> dict[str, Any]:
    """One larch lincombo result as JSON: weights ± stderr per standard, χ²ᵥ, R-factor."""
    components = []
    for key in out.weights:
        weight, err = _param(out.params, key)
        components.append({"key": key, "label": labels[key], "weight": weight,
                           "weight_err": err, "weight_lstsq": _f(out.weights_lstsq[key]),
                           "simulated": simulated[key]})
    total, total_err = _param(out.params, "total")
    e0_shift, e0_shift_err = _param(out.params, "e0_shift")
    result: dict[str, Any] = {
        "components": components, "total": total, "total_err": total_err,
        "e0_shift_ev": e0_shift, "e0_shift_err_ev": e0_shift_err,
        "chi_square": _f(out.chisqr), "reduced_chi_square": _f(out.redchi),
        "r_factor": _f(out.rfactor), "n_points": int(np.size(out.xdata)),
        "n_varys": int(out.result.nvarys),
    }
    if arrays:
        result["energy_ev"] = _floats(out.xdata)
        result["data"] = _floats(out.ydata)
        result["fit"] = _floats(out.yfit)
        result["residual"] = _floats(np.asarray(out.ydata) - np.asarray(out.yfit))
        result["weighted_components"] = {k: _floats(v) for k, v in out.ycomps.items()}
    return result


@dataclass(frozen=True)
class LcfOptions:
    """How to fit: the energy range (absolute eV), sum-to-one, 0 ≤ w ≤ 1 bounds, E0 shift of
    the unknown, and whether to fit every combination of ≥ 2 standards (up to
    ``max_components`` standards each)."""

    energy_range_ev: tuple[float, float]
    sum_to_one: bool = True
    bounded: bool = True
    vary_e0: bool = False
    all_combinations: bool = True
    max_components: int | None = None


def _lcf_kwargs(n: int, options: LcfOptions) -> dict[str, Any]:
    bounds: dict[str, Any] = ({"minvals": [0.0] * n, "maxvals": [1.0] * n}
                              if options.bounded else {})
    return {**bounds, "arrayname": "norm", "xmin": options.energy_range_ev[0],
            "xmax": options.energy_range_ev[1], "sum_to_one": options.sum_to_one,
            "vary_e0": options.vary_e0}


def fit_lcf(unknown: XanesInput, standards: Sequence[XanesInput], *,
            normalization: Normalization, options: LcfOptions,
            progress: Progress | None = None) -> dict[str, Any]:
    """Fit ``unknown`` as a linear combination of ``standards``.

    Returns JSON: ``fit`` (all standards, with arrays: energy_ev, data, fit, residual,
    weighted_components), ``ranked`` (every combination when ``all_combinations``, best
    reduced χ² first, without arrays), ``best`` (the top-ranked fit with arrays),
    ``normalization`` with each spectrum's E0 and edge step, ``engine``, ``versions``.

    Raises EngineError: fewer than 2 standards, duplicate keys, an energy range outside a
    spectrum, a normalization larch cannot do.
    """
    report = progress or (lambda pct, msg: None)
    if len(standards) < 2:
        raise EngineError("a linear combination needs at least 2 standards",
                          field="inputs.standards")
    keys = [s.key for s in standards]
    if len(set(keys)) != len(keys) or unknown.key in keys:
        raise EngineError("each standard may appear once and not be the unknown",
                          field="inputs.standards")
    check_energy_range([unknown, *standards], options.energy_range_ev)
    report(5, "normalizing every spectrum with one pre_edge setting")
    group = normalize(unknown, normalization)
    comps = [normalize(s, normalization) for s in standards]
    labels = {s.key: s.label for s in standards}
    simulated = {s.key: s.simulated for s in standards}
    lm = _lincombo()
    report(20, f"fitting {unknown.label} with {len(comps)} standards")
    full = lm.lincombo_fit(group, comps, **_lcf_kwargs(len(comps), options))
    result: dict[str, Any] = {"fit": _fit_json(full, labels, simulated, arrays=True)}
    ranked_groups = [full]
    if options.all_combinations:
        report(40, "fitting every combination of the standards")
        ranked_groups = lm.lincombo_fitall(
            group, comps, **_lcf_kwargs(len(comps), options),
            max_ncomps=options.max_components, max_output=10_000)
    result["ranked"] = [_fit_json(r, labels, simulated, arrays=False) for r in ranked_groups]
    result["best"] = _fit_json(ranked_groups[0], labels, simulated, arrays=True)
    result["normalization"] = {
        "pre_edge": normalization.as_pre_edge(),
        "spectra": [{"key": s.key, "label": s.label, "e0_ev": _f(g.e0),
                     "edge_step": _f(g.edge_step), "simulated": s.simulated}
                    for s, g in zip([unknown, *standards], [group, *comps], strict=True)],
    }
    result["unknown"] = {"key": unknown.key, "label": unknown.label}
    result["engine"] = {"name": ENGINE_NAME, "version": ENGINE_VERSION}
    result["versions"] = software_versions()
    report(95, "linear combination done")
    return result


def _lincombo() -> Any:
    """larch.math (lincombo_fit, lincombo_fitall, pca_train, pca_fit), imported once."""
    larch()  # the import guard (EngineError when larch is missing)
    import larch.math as lm

    return lm


# ---------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PcaOptions:
    """The energy range (absolute eV) and how many components reconstruct unknowns and
    target-transform candidates (None: larch's IND minimum, ``nsig``)."""

    energy_range_ev: tuple[float, float]
    n_components: int | None = None


def _model_json(model: Any) -> dict[str, Any]:
    variances = np.asarray(model.variances, dtype=float)
    return {
        "energy_ev": _floats(model.x),
        "labels": list(model.labels),
        "variances": _floats(variances),
        "cumulative_variances": _floats(np.cumsum(variances)),
        "eigenvalues": _floats(model.eigenvalues),
        "ind": _floats(model.ind),
        "n_significant": int(model.nsig),
        "mean": _floats(model.mean),
        "components": [_floats(c) for c in model.components],
        "data": [_floats(y) for y in model.ydat],
    }


def _projection(group: Any, model: Any, ncomps: int, *, rescale: bool) -> dict[str, Any]:
    """``pca_fit`` of ``group``: weights, data on the model grid, fit, residual, χ², R."""
    lm = _lincombo()
    try:
        lm.pca_fit(group, model, ncomps=ncomps, rescale=rescale)
    except Exception as exc:
        raise EngineError(f"{group.label}: larch pca_fit failed with {ncomps} components",
                          field="parameters.n_components",
                          detail=f"{type(exc).__name__}: {exc}") from exc
    res = group.pca_result
    ydat, yfit = np.asarray(res.ydat, dtype=float), np.asarray(res.yfit, dtype=float)
    resid = ydat - yfit
    return {
        "key": group.filename, "label": group.label, "n_components": ncomps,
        "weights": _floats(res.weights), "data_scale": _f(res.data_scale),
        "chi_square": _f(float(np.sum(resid**2))),
        "r_factor": _f(float(np.sum(resid**2) / np.sum(ydat**2))),
        "data": _floats(ydat), "fit": _floats(yfit), "residual": _floats(resid),
    }


def run_pca(spectra: Sequence[XanesInput], *, normalization: Normalization,
            options: PcaOptions, unknowns: Sequence[XanesInput] = (),
            targets: Sequence[XanesInput] = (),
            progress: Progress | None = None) -> dict[str, Any]:
    """Train a PCA model on ``spectra``; reconstruct each of ``unknowns`` and target-transform
    each of ``targets`` with ``n_components`` components.

    Returns JSON: ``model`` (energy_ev grid of the first spectrum inside the range,
    variances, cumulative_variances, eigenvalues, ind, n_significant, mean, components,
    data), ``n_components`` used, ``fits`` (unknowns, rescaled as larch does), ``targets``
    (no rescaling), ``normalization``, ``engine``, ``versions``.

    Raises EngineError: fewer than 3 spectra, duplicate keys, a range outside a spectrum,
    ``n_components`` not in 1…len(spectra).
    """
    report = progress or (lambda pct, msg: None)
    if len(spectra) < 3:
        raise EngineError("a principal component analysis needs at least 3 spectra",
                          field="inputs.spectra")
    everything = [*spectra, *unknowns, *targets]
    keys = [s.key for s in everything]
    if len(set(keys)) != len(keys):
        raise EngineError("each spectrum may appear once across spectra, unknowns and targets",
                          field="inputs.spectra")
    ncomps = options.n_components
    if ncomps is not None and not 1 <= ncomps <= len(spectra):
        raise EngineError(f"n_components must be between 1 and {len(spectra)} (the number "
                          "of spectra in the set)", field="parameters.n_components")
    check_energy_range(everything, options.energy_range_ev)
    report(5, "normalizing every spectrum with one pre_edge setting")
    groups = [normalize(s, normalization) for s in spectra]
    lm = _lincombo()
    report(30, f"training the PCA model on {len(groups)} spectra")
    model = lm.pca_train(groups, arrayname="norm", xmin=options.energy_range_ev[0],
                         xmax=options.energy_range_ev[1])
    used = ncomps if ncomps is not None else max(1, int(model.nsig))
    report(60, f"reconstructing unknowns and target-transforming with {used} components")
    fits = [_projection(normalize(s, normalization), model, used, rescale=True)
            for s in unknowns]
    tts = [_projection(normalize(s, normalization), model, used, rescale=False)
           for s in targets]
    for item, source in [*zip(fits, unknowns, strict=True), *zip(tts, targets, strict=True)]:
        item["simulated"] = source.simulated
    report(95, "PCA done")
    return {
        "model": _model_json(model), "n_components": used, "fits": fits, "targets": tts,
        "spectra": [{"key": s.key, "label": s.label, "e0_ev": _f(g.e0),
                     "simulated": s.simulated} for s, g in zip(spectra, groups, strict=True)],
        "normalization": {"pre_edge": normalization.as_pre_edge()},
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "versions": software_versions(),
    }
