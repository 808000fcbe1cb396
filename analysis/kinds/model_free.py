"""Kind ``model_free_exafs``: seed 002's model-free fit of one EXAFS shell.

Inputs: a **reference** spectrum (bulk material of known structure, e.g. bulk CdS: Cd–S N = 4,
R = 2.52 Å), an **unknown** spectrum on the same edge, and optionally **compare_fit**: an
Artemis-style shell fit (stored or published ``XASFit``) of the unknown's sample, whose values
are printed beside the distribution. χ(k) of both spectra comes from the stored raw files with
the processing engine the EXAFS fits use (larch ``pre_edge`` → ``autobk``), read-only.
Engine: :mod:`analysis.engines.model_free` (amplitude/phase by Fourier filtering, differential
evolution repeated M times). Result mapping: N, Δσ² (Å²), ΔR (Å) and ΔE0 (eV) — mean ± SD of
the M fits — as ``ReportedQuantity(source="computed")`` rows on the unknown's sample, each
with the run, quantiles, the compare fit's id and value in ``extra``; histograms and curves
stay in the run output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import model_free as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from labdb.lib.errors import DomainError, EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import XASFit, XASSpectrum

#: Result parameters → (ReportedQuantity name, unit).
QUANTITIES = {
    "n": ("N", ""),
    "delta_sigma2_a2": ("Δσ²", "Å²"),
    "delta_r_a": ("ΔR", "Å"),
    "delta_e0_ev": ("ΔE0", "eV"),
}
#: The compare fit's path value beside each parameter (XASPath field, relative to the reference).
COMPARE_FIELDS = {
    "n": ("n", "n_err"),
    "r_a": ("r_a", "r_err_a"),
    "sigma2_a2": ("sigma2_a2", "sigma2_err_a2"),
    "delta_e0_ev": ("delta_e0_ev", "delta_e0_err_ev"),
}


class RangeField(serializers.ListField):
    """[low, high] of numbers with low < high (unit in the field's name)."""

    def __init__(self, *, unit: str, **kwargs: Any) -> None:
        self.unit = unit
        super().__init__(child=serializers.FloatField(), min_length=2, max_length=2, **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError(f"expected [low, high] in {self.unit} with low < high.")
        return value


class BoundsSerializer(serializers.Serializer):
    """Search bounds of differential evolution (engine defaults when omitted)."""

    n = RangeField(unit="(coordination number)", required=False)
    delta_sigma2_a2 = RangeField(unit="Å²", required=False)
    delta_r_a = RangeField(unit="Å", required=False)
    delta_e0_ev = RangeField(unit="eV", required=False)

    def validate_n(self, value: list[float]) -> list[float]:
        if value[0] < 0:
            raise ValidationError("a coordination number cannot be negative.")
        return value


class ModelFreeParameters(serializers.Serializer):
    k_range_inv_a = RangeField(unit="Å⁻¹", default=[3.0, 12.0],
                               help_text="[kmin, kmax] of the Fourier filter, Å⁻¹.")
    dk_inv_a = serializers.FloatField(default=1.0, min_value=0.0, max_value=4.0,
                                      help_text="Hanning taper of the k-window, Å⁻¹.")
    kweight = serializers.IntegerField(default=2, min_value=0, max_value=3)
    r_window_a = RangeField(unit="Å", help_text="[rmin, rmax] of the shell's |χ(R)| peak, Å "
                            "(no phase correction; Cd–S of CdS: about 1.6–2.8).")
    dr_a = serializers.FloatField(default=0.2, min_value=0.0, max_value=1.0,
                                  help_text="Hanning taper of the R-window, Å.")
    shell = serializers.CharField(default="", allow_blank=True, max_length=40,
                                  help_text="The shell's name in the results, e.g. Cd–S.")
    n_ref = serializers.FloatField(min_value=0.01, max_value=24,
                                   help_text="Coordination number of the shell in the reference.")
    r_ref_a = serializers.FloatField(min_value=0.5, max_value=8.0,
                                     help_text="Distance of the shell in the reference, Å.")
    sigma2_ref_a2 = serializers.FloatField(default=0.0, min_value=-0.01, max_value=0.1,
                                           help_text="σ² of the reference shell, Å² (adds to Δσ²).")
    repeats = serializers.IntegerField(default=1000, min_value=1, max_value=10_000,
                                       help_text="M: differential-evolution fits.")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)
    noise = serializers.ChoiceField(choices=engine.NOISE_MODES, default="scaled")
    bounds = BoundsSerializer(default=dict)
    rbkg_a = serializers.FloatField(default=1.0, min_value=0.3, max_value=3.0,
                                    help_text="autobk rbkg for χ(k) of both spectra, Å.")


# ---------------------------------------------------------------- reading stored spectra


def _one(inputs: Mapping[str, Any], role: str) -> Any:
    value = inputs.get(role)
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _label(spectrum: XASSpectrum) -> str:
    from characterization.enums import DataSource

    text = f"{spectrum.sample} {spectrum.element} {spectrum.edge}"
    return f"{text} (SIMULATED)" if spectrum.source == DataSource.SIMULATED else text


def chi_of(spectrum: XASSpectrum, role: str, rbkg_a: float) -> dict[str, Any]:
    """χ(k) (Å⁻¹) of a stored spectrum from its raw file (larch pre_edge defaults, autobk with
    ``rbkg_a``, k-weight 2), with the resolved processing and the raw file's sha256.
    DomainError naming ``inputs.<role>`` when there is no parsed raw file or it changed."""
    from analysis.engines.xas_processing import process_mu
    from analysis.services.fits import load_mu

    data_file = spectrum.data_file
    if data_file is None or data_file.parse_status != "ok":
        raise DomainError(f"inputs.{role}: {_label(spectrum)} (id {spectrum.pk}) has no parsed "
                          "raw data file (published spectra carry no μ(E)).",
                          field=f"inputs.{role}")
    try:
        energy, mu, raw = load_mu(spectrum)
        done = process_mu(energy, mu, pre_edge={}, autobk={"rbkg": rbkg_a, "kweight": 2},
                          xftf={})
    except (DomainError, EngineError) as exc:
        raise DomainError(f"inputs.{role}: {_label(spectrum)}: {exc.message}",
                          field=f"inputs.{role}") from exc
    return {"spectrum": spectrum.pk, "label": _label(spectrum), "k_inv_a": done.k_inv_a,
            "chi": done.chi, "processing": done.parameters, "raw": raw}


def window_of(parameters: dict) -> engine.ShellWindow:
    kmin, kmax = parameters["k_range_inv_a"]
    rmin, rmax = parameters["r_window_a"]
    return engine.ShellWindow(kmin_inv_a=kmin, kmax_inv_a=kmax, dk_inv_a=parameters["dk_inv_a"],
                              kweight=parameters["kweight"], rmin_a=rmin, rmax_a=rmax,
                              dr_a=parameters["dr_a"])


def _check_window(parameters: dict, chis: Mapping[str, dict]) -> None:
    """400 on ``parameters.k_range_inv_a`` / ``parameters.r_window_a`` (no peak of the
    reference's |χ(R)| inside the R-window)."""
    window = window_of(parameters)
    fields = {"k_range": "parameters.k_range_inv_a", "r_window": "parameters.r_window_a"}
    shells = {}
    for role, chi in chis.items():
        try:
            shells[role] = engine.filter_shell(chi["k_inv_a"], chi["chi"], window, where=role)
        except EngineError as exc:
            name = fields.get(exc.field or "", f"inputs.{role}")
            raise ValidationError({name: f"{chi['label']}: {exc.message}."}) from exc
    if engine.shell_peak_r_a(shells["reference"], window) is None:
        raise ValidationError({"parameters.r_window_a": (
            f"|χ(R)| of the reference {chis['reference']['label']} has no peak between "
            f"{window.rmin_a} and {window.rmax_a} Å; choose the R-window around the shell's "
            "peak.")})


def _compare_paths(fit: XASFit) -> list[dict[str, Any]]:
    return [{"scatterer": p.scatterer, **{f: getattr(p, f) for pair in COMPARE_FIELDS.values()
                                          for f in pair}}
            for p in fit.paths.all()]


def compare_values(fit: XASFit, r_ref_a: float) -> dict[str, Any]:
    """The compare fit's shell (its path nearest to ``r_ref_a``) as plain numbers."""
    paths = [p for p in _compare_paths(fit) if p["r_a"] is not None] or _compare_paths(fit)
    if not paths:
        return {"fit": fit.pk, "label": str(fit), "path": None}
    path = min(paths, key=lambda p: abs((p["r_a"] or r_ref_a) - r_ref_a))
    e0 = path["delta_e0_ev"] if path["delta_e0_ev"] is not None else fit.delta_e0_ev
    e0_err = path["delta_e0_err_ev"] if path["delta_e0_ev"] is not None else fit.delta_e0_err_ev
    return {"fit": fit.pk, "label": fit.label or str(fit), "software": fit.software,
            "ssr": fit.ssr, "r_factor": fit.r_factor,
            "path": {**path, "delta_e0_ev": e0, "delta_e0_err_ev": e0_err}}


def record_quantity(run: AnalysisRun, sample: Any, *, quantity: str, value: float | None,
                    err: float | None, unit: str, extra: dict) -> Any:
    """One computed ReportedQuantity of ``run`` (the lifecycle's ``record_run_quantity``)."""
    from analysis.services.runs import record_run_quantity

    return record_run_quantity(run, sample=sample, quantity=quantity, value=value, err=err,
                               unit=unit, **extra)


# ---------------------------------------------------------------- the kind


class ModelFreeExafsKind(AnalysisKind):
    name = "model_free_exafs"
    label = "Model-free EXAFS fit"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("reference", "spectrum",
                  help="Bulk reference of known structure (amplitude and phase source)."),
        InputRole("unknown", "spectrum", help="The spectrum to fit."),
        InputRole("compare_fit", "fit", required=False,
                  help="An Artemis-style shell fit of the unknown's sample, shown beside."),
    )
    parameters = ModelFreeParameters
    form_template = "analysis/kinds/model_free_form.html"
    result_template = "analysis/kinds/model_free_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        reference, unknown = _one(inputs, "reference"), _one(inputs, "unknown")
        if (reference.element.lower(), reference.edge.upper()) != (
                unknown.element.lower(), unknown.edge.upper()):
            raise ValidationError({"inputs.unknown": (
                f"{_label(unknown)} is on the {unknown.element} {unknown.edge} edge, the "
                f"reference {_label(reference)} on {reference.element} {reference.edge}; "
                "amplitude and phase only transfer within one edge.")})
        fit = _one(inputs, "compare_fit")
        if fit is not None and fit.sample_id != unknown.sample_id:
            raise ValidationError({"inputs.compare_fit": (
                f"fit {fit.pk} is of sample {fit.sample}, not of the unknown's sample "
                f"{unknown.sample}.")})
        try:
            chis = {role: chi_of(row, role, parameters["rbkg_a"])
                    for role, row in (("reference", reference), ("unknown", unknown))}
        except DomainError as exc:
            raise ValidationError({exc.field or "inputs": exc.message}) from exc
        _check_window(parameters, chis)

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        rbkg = run.parameters["rbkg_a"]
        fit = _one(inputs, "compare_fit")
        return {"reference": chi_of(_one(inputs, "reference"), "reference", rbkg),
                "unknown": chi_of(_one(inputs, "unknown"), "unknown", rbkg),
                "compare": compare_values(fit, run.parameters["r_ref_a"]) if fit else None}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        ref, unk = loaded["reference"], loaded["unknown"]
        bounds = {name: tuple(pair) for name, pair in (parameters.get("bounds") or {}).items()}
        result = engine.fit_model_free(
            ref["k_inv_a"], ref["chi"], unk["k_inv_a"], unk["chi"],
            window=window_of(parameters), n_ref=parameters["n_ref"],
            r_ref_a=parameters["r_ref_a"], sigma2_ref_a2=parameters["sigma2_ref_a2"],
            bounds=bounds, repeats=parameters["repeats"], seed=parameters["seed"],
            noise=parameters["noise"], progress=progress).to_json()
        result["shell"] = parameters.get("shell") or ""
        result["spectra"] = {role: {"spectrum": d["spectrum"], "label": d["label"],
                                    "processing": d["processing"], "raw": d["raw"]}
                             for role, d in (("reference", ref), ("unknown", unk))}
        result["compare_fit"] = loaded["compare"]
        return _finite(result)

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        unknown = _one(inputs, "unknown")
        shell = result.get("shell") or ""
        compare = result.get("compare_fit") or None
        common = {"shell": shell, "repeats": result["repeats"], "seed": result["seed"],
                  "noise_mode": result["noise_mode"], "window": result["window"],
                  "reference_spectrum": result["spectra"]["reference"]["spectrum"],
                  "unknown_spectrum": result["spectra"]["unknown"]["spectrum"],
                  "reference_structure": result["reference_structure"],
                  "compare_fit": compare["fit"] if compare else None,
                  "engine": result["engine"]}
        rows = []
        for key, (name, unit) in QUANTITIES.items():
            stats = result["parameters"][key]
            quantity = f"Model-free EXAFS {name}" + (f" ({shell})" if shell else "")
            rows.append(record_quantity(
                run, unknown.sample, quantity=quantity, value=stats["mean"], err=stats["sd"],
                unit=unit, extra={**common, "parameter": key, "statistic": "mean ± SD",
                                  "quantiles": stats["quantiles"]}))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        stats = out.get("parameters")
        if not stats:
            return ""
        n, dr = stats["n"], stats["delta_r_a"]
        shell = f"{out.get('shell')}: " if out.get("shell") else ""
        return (f"{shell}N = {n['mean']:.2f} ± {n['sd']:.2f}, ΔR = {dr['mean']:.3f} ± "
                f"{dr['sd']:.3f} Å ({out.get('repeats')} fits)")


def _finite(value: Any) -> Any:
    """NaN/±inf → None, numpy scalars → Python (the run output is strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


KIND = register(ModelFreeExafsKind())
