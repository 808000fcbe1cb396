"""Kind ``xanes_lcf``: XANES linear-combination fit of one unknown spectrum with ≥ 2 standards.

Standards are stored ``XASSpectrum`` rows of any sample — reference samples, other lab
samples, simulated spectra (``source="simulated"``, labelled SIMULATED in the result and in
every stored quantity). Engine: :mod:`analysis.engines.xanes_lcf`. Result mapping: one
``ReportedQuantity(source="computed")`` per standard of the best-ranked fit (its phase
fraction ± error) plus its reduced χ² and R-factor, all on the unknown's sample.

This module also holds what ``xanes_pca`` shares: the normalization schema, the stored
spectrum → engine input reader and the edge/range cross-checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import xanes_lcf as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import XASSpectrum

SIMULATED = "SIMULATED"


class NormalizationSerializer(serializers.Serializer):
    """The one larch ``pre_edge`` setting every spectrum of the run shares (eV from E0)."""

    pre1_ev = serializers.FloatField(default=-150.0, max_value=0.0)
    pre2_ev = serializers.FloatField(default=-30.0, max_value=0.0)
    norm1_ev = serializers.FloatField(default=150.0, min_value=0.0)
    norm2_ev = serializers.FloatField(default=850.0, min_value=0.0)
    nnorm = serializers.IntegerField(default=1, min_value=0, max_value=3,
                                     help_text="Degree of the post-edge polynomial.")
    nvict = serializers.IntegerField(default=0, min_value=0, max_value=4,
                                     help_text="Energy exponent of the pre-edge fit (Victoreen).")

    def validate(self, attrs: dict) -> dict:
        if attrs["pre1_ev"] >= attrs["pre2_ev"]:
            raise ValidationError({"pre1_ev": "pre1_ev must be below pre2_ev (eV from E0)."})
        if attrs["norm1_ev"] >= attrs["norm2_ev"]:
            raise ValidationError({"norm1_ev": "norm1_ev must be below norm2_ev (eV from E0)."})
        return attrs


class EnergyRangeField(serializers.ListField):
    """[start, end] in absolute eV."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(), min_length=2, max_length=2,
                         help_text="[start, end] of the fit in eV (absolute energies), inside "
                         "every spectrum's data.", **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError("expected [start, end] in eV with start < end.")
        return value


E0_CHOICES = (("stored", "the spectrum's stored E0 (from its file); larch find_e0 if none"),
              ("larch", "larch find_e0 on every spectrum"))


class XanesLcfParameters(serializers.Serializer):
    energy_range_ev = EnergyRangeField()
    normalization = NormalizationSerializer(default=dict)
    e0_from = serializers.ChoiceField(choices=E0_CHOICES, default="stored")
    sum_to_one = serializers.BooleanField(default=True)
    bounded = serializers.BooleanField(default=True, help_text="Keep each weight in 0…1.")
    vary_e0 = serializers.BooleanField(default=False,
                                       help_text="Fit an energy shift of the unknown (eV).")
    all_combinations = serializers.BooleanField(
        default=True, help_text="Also fit every combination of ≥ 2 standards, ranked by χ²ᵥ.")
    max_components = serializers.IntegerField(default=None, allow_null=True, min_value=2)


# ---------------------------------------------------------------- shared with xanes_pca


def rows_of(inputs: Mapping[str, Any], role: str) -> list[XASSpectrum]:
    """The resolved rows of ``role`` as a list (a single-id role gives one row)."""
    value = inputs.get(role)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def spectrum_label(spectrum: XASSpectrum) -> str:
    """``CODE group`` and the SIMULATED label for simulated spectra."""
    name = f"{spectrum.sample} {spectrum.group_label}".strip() if spectrum.group_label else (
        f"{spectrum.sample} {spectrum.element} {spectrum.edge}")
    simulated = spectrum.source == DataSource.SIMULATED
    return f"{name} ({SIMULATED})" if simulated else name


def check_unique(rows: Sequence[XASSpectrum], role: str,
                 others: Sequence[XASSpectrum] = ()) -> None:
    """400 on ``inputs.<role>`` when an id repeats (or is one of ``others``)."""
    ids = [r.pk for r in rows]
    repeated = sorted({i for i in ids if ids.count(i) > 1} | ({r.pk for r in others} & set(ids)))
    if repeated:
        raise ValidationError({f"inputs.{role}": (
            f"spectrum id(s) {repeated} appear twice; each spectrum may be used once.")})


def check_same_edge(reference: XASSpectrum, rows: Sequence[XASSpectrum], role: str) -> None:
    """400 on ``inputs.<role>`` when a row is on another element/edge than ``reference``."""
    edge = (reference.element.lower(), reference.edge.upper())
    wrong = [f"{spectrum_label(r)} (id {r.pk}, {r.element} {r.edge})" for r in rows
             if (r.element.lower(), r.edge.upper()) != edge]
    if wrong:
        raise ValidationError({f"inputs.{role}": (
            f"every spectrum must be on the {reference.element} {reference.edge} edge like "
            f"{spectrum_label(reference)}; not: {', '.join(wrong)}.")})


def read_mu(spectrum: XASSpectrum, role: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Energy (eV), μ(E) and the raw-file facts of a stored spectrum (read-only use of
    ``analysis.services.fits.load_mu``); DomainError naming ``inputs.<role>`` when it has no
    parsed raw file or the file is gone/changed."""
    from analysis.services.fits import load_mu

    data_file = spectrum.data_file
    if data_file is None or data_file.parse_status != "ok":
        raise DomainError(f"inputs.{role}: {spectrum_label(spectrum)} (id {spectrum.pk}) has no "
                          "parsed raw data file (published spectra carry no μ(E)).",
                          field=f"inputs.{role}")
    try:
        energy, mu, raw = load_mu(spectrum)
    except DomainError as exc:
        raise DomainError(exc.message.replace("spectrum:", f"inputs.{role}:", 1),
                          field=f"inputs.{role}") from exc
    return np.asarray(energy, dtype=float), np.asarray(mu, dtype=float), raw


def check_range(parameters: dict, roles: Mapping[str, Sequence[XASSpectrum]]) -> None:
    """400 on ``parameters.energy_range_ev`` unless the range lies inside every spectrum."""
    spectra = [engine_input(s, role, parameters)
               for role, rows in roles.items() for s in rows]
    try:
        engine.check_energy_range(spectra, parameters["energy_range_ev"])
    except EngineError as exc:
        raise ValidationError({"parameters.energy_range_ev": exc.message}) from exc


def engine_input(spectrum: XASSpectrum, role: str, parameters: dict) -> engine.XanesInput:
    """The engine's view of a stored spectrum: key ``s<id>``, label, μ(E), E0 per
    ``parameters.e0_from``, SIMULATED flag."""
    energy, mu, _raw = read_mu(spectrum, role)
    e0 = spectrum.e0_ev if parameters.get("e0_from", "stored") == "stored" else None
    return engine.XanesInput(key=f"s{spectrum.pk}", label=spectrum_label(spectrum),
                             energy_ev=energy, mu=mu, e0_ev=e0,
                             simulated=spectrum.source == DataSource.SIMULATED)


def normalization_of(parameters: dict) -> engine.Normalization:
    return engine.Normalization(**parameters.get("normalization") or {})


def record_quantity(run: AnalysisRun, sample: Any, *, quantity: str, value: float | None,
                    err: float | None, unit: str, extra: dict) -> Any:
    """One computed ReportedQuantity of ``run`` (``record_run_quantity`` of the lifecycle)."""
    from analysis.services.runs import record_run_quantity

    return record_run_quantity(run, sample=sample, quantity=quantity[:200], value=value,
                               err=err, unit=unit, **extra)


# ---------------------------------------------------------------- the kind


class XanesLcfKind(AnalysisKind):
    name = "xanes_lcf"
    label = "XANES linear combination"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("unknown", "spectrum", help="The spectrum to fit."),
        InputRole("standards", "spectrum", many=True, min=2,
                  help="Spectra of any sample (reference samples, simulated spectra)."),
    )
    parameters = XanesLcfParameters
    form_template = "analysis/kinds/xanes_lcf_form.html"
    result_template = "analysis/kinds/xanes_lcf_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        (unknown,) = rows_of(inputs, "unknown")
        standards = rows_of(inputs, "standards")
        if len(standards) < 2:
            raise ValidationError({"inputs.standards": (
                f"a linear combination needs at least 2 standards; got {len(standards)}.")})
        check_unique(standards, "standards", others=[unknown])
        check_same_edge(unknown, standards, "standards")
        try:
            check_range(parameters, {"unknown": [unknown], "standards": standards})
        except DomainError as exc:
            raise ValidationError({exc.field or "inputs": exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        (unknown,) = rows_of(inputs, "unknown")
        parameters = run.parameters
        return {"unknown": engine_input(unknown, "unknown", parameters),
                "standards": [engine_input(s, "standards", parameters)
                              for s in rows_of(inputs, "standards")]}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        lo, hi = parameters["energy_range_ev"]
        options = engine.LcfOptions(
            energy_range_ev=(float(lo), float(hi)), sum_to_one=parameters["sum_to_one"],
            bounded=parameters["bounded"], vary_e0=parameters["vary_e0"],
            all_combinations=parameters["all_combinations"],
            max_components=parameters.get("max_components"))
        return engine.fit_lcf(loaded["unknown"], loaded["standards"],
                              normalization=normalization_of(parameters), options=options,
                              progress=progress)

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        (unknown,) = rows_of(inputs, "unknown")
        best = result["best"]
        common = {"energy_range_ev": run.parameters["energy_range_ev"],
                  "sum_to_one": run.parameters["sum_to_one"],
                  "standards": [c["label"] for c in best["components"]],
                  "engine": result["engine"]}
        rows = []
        for comp in best["components"]:
            rows.append(record_quantity(
                run, unknown.sample, quantity=f"XANES LCF fraction: {comp['label']}",
                value=comp["weight"], err=comp["weight_err"], unit="fraction",
                extra={**common, "standard_spectrum": int(comp["key"][1:]),
                       "simulated": comp["simulated"]}))
        for quantity, key in (("XANES LCF reduced chi-square", "reduced_chi_square"),
                              ("XANES LCF R-factor", "r_factor")):
            rows.append(record_quantity(run, unknown.sample, quantity=quantity,
                                        value=best[key], err=None, unit="", extra=common))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        best = (run.output or {}).get("best")
        if not best:
            return ""
        parts = [f"{c['label']} {c['weight']:.2f} ± {c['weight_err'] or 0:.2f}"
                 for c in best["components"] if c["weight"] is not None]
        return f"{len(parts)} standards: " + " + ".join(parts)


KIND = register(XanesLcfKind())
