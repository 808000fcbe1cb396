"""Kind ``pl_decay``: a TCSPC photoluminescence decay fitted with 1–4 exponentials, as a tail
fit or reconvolved with a measured IRF (shift and background fitted).

Inputs are stored data files (``decay``: a time scan, ``irf``: optional, an instrument
response or any time scan; ``sample``: optional, the sample the result belongs to when the
decay file is not uploaded for one). Multi-scan exports (the Edinburgh F980 ``Decay1…DecayN``
files) take ``parameters.scan_index`` / ``irf_scan_index``. The raw bytes are read back
(sha256 checked) and re-parsed with the registry's parser (``characterization.parsers``).

Engine: :mod:`analysis.engines.pl_decay`. Result mapping (the shared contract): one
``PLLifetimeMeasurement(source="computed", data_file=<decay file>)`` with ``average_tau_ns``
the intensity-weighted mean (``average_kind="intensity"``), both means with errors,
``reduced_chi_square`` and ``fit_model``, and one ``LifetimeComponent`` per exponential
(amplitude ± err, τ ± err), sorted by τ. Arrays for the plot stay in the run's output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import pl_decay as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError, LabdbError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import DataFile

SIMULATED = "SIMULATED"
METHOD_CHOICES = (("least_squares", "Poisson-weighted least squares (weights 1/max(counts, 1))"),
                  ("mle", "maximum likelihood (Poisson deviance)"))


class RangeField(serializers.ListField):
    """[start, end] in ns."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(), min_length=2, max_length=2, **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError("expected [start, end] in ns with start < end.")
        return value


class PlDecayParameters(serializers.Serializer):
    n_exponentials = serializers.IntegerField(
        default=2, min_value=1, max_value=engine.MAX_EXPONENTIALS,
        help_text="Number of exponential components (1–4).")
    method = serializers.ChoiceField(choices=METHOD_CHOICES, default="least_squares")
    scan_index = serializers.IntegerField(
        default=0, min_value=0, help_text="Which scan of a multi-scan decay file (0-based).")
    irf_scan_index = serializers.IntegerField(
        default=0, min_value=0, help_text="Which scan of the IRF file (0-based).")
    fit_range_ns = RangeField(
        required=False, allow_null=True, default=None,
        help_text="[start, end] of the fit in ns; default: peak to end (tail fit), the whole "
        "decay (reconvolution).")
    fit_shift = serializers.BooleanField(
        default=True, help_text="Fit the IRF shift (ns); otherwise it is fixed at shift_ns.")
    shift_ns = serializers.FloatField(
        required=False, allow_null=True, default=None,
        help_text="Start (or fixed) IRF shift in ns; default: the rise-time difference.")
    fit_background = serializers.BooleanField(
        default=True, help_text="Fit a constant background (counts per channel).")
    background_counts = serializers.FloatField(
        default=0.0, min_value=0.0, help_text="The fixed background when it is not fitted.")
    initial_taus_ns = serializers.ListField(
        child=serializers.FloatField(min_value=1e-6), required=False, allow_null=True,
        default=None, help_text="Start values of the lifetimes (ns), one per exponential.")

    def validate(self, attrs: dict) -> dict:
        taus = attrs.get("initial_taus_ns")
        if taus is not None and len(taus) != attrs["n_exponentials"]:
            raise ValidationError({"initial_taus_ns": (
                f"give {attrs['n_exponentials']} start lifetimes (one per exponential), "
                f"got {len(taus)}.")})
        return attrs


# ---------------------------------------------------------------- reading stored files


def _stored_bytes(data_file: DataFile, role: str) -> bytes:
    from labdb.storage import read_stored

    where = f"inputs.{role}"
    try:
        content = read_stored(data_file.file.name, label=f"{where}: {data_file}")
    except LabdbError as exc:
        raise DomainError(exc.message, field=where) from exc
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(f"{where}: the stored file {data_file.original_name} no longer "
                          "matches its sha256.", field=where)
    return content


def read_time_scan(data_file: DataFile, role: str, scan_index: int, *,
                   simulated: bool = False) -> engine.Decay:
    """Scan ``scan_index`` of a stored time-resolved file as an engine Decay (time in ns,
    counts). DomainError naming ``inputs.<role>`` for a file that is not parsed, not a
    time scan (an emission scan, an absorbance), or has no such scan; naming
    ``parameters.scan_index`` / ``irf_scan_index`` for a scan that does not exist."""
    from characterization.parsers.registry import parse_file

    where = f"inputs.{role}"
    if data_file.parse_status != "ok":
        raise DomainError(f"{where}: {data_file.original_name} (file {data_file.pk}) is not a "
                          f"parsed instrument file (status {data_file.parse_status}).",
                          field=where)
    parsed = parse_file(_stored_bytes(data_file, role), filename=data_file.original_name)
    kind = parsed.metadata.get("kind", "")
    series = parsed.series
    if not series or any(s.x_unit != "ns" for s in series):
        x_unit = series[0].x_unit if series else "?"
        raise DomainError(
            f"{where}: {data_file.original_name} (file {data_file.pk}) is not a TCSPC decay: "
            f"it is a {kind or parsed.technique} scan with x in {x_unit}; a time scan (time in "
            "ns vs counts) was expected.", field=where)
    index_field = "parameters.scan_index" if role == "decay" else "parameters.irf_scan_index"
    if scan_index >= len(series):
        raise DomainError(f"{index_field}: {data_file.original_name} holds {len(series)} "
                          f"scan(s) (0–{len(series) - 1}); there is no scan {scan_index}.",
                          field=index_field)
    scan = series[scan_index]
    label = f"{data_file.original_name} {scan.name}".strip()
    if simulated:
        label = f"{label} ({SIMULATED})"
    return engine.Decay(time_ns=np.asarray(scan.x, dtype=float),
                        counts=np.asarray(scan.y, dtype=float), label=label,
                        simulated=simulated)


def _is_simulated(data_file: DataFile) -> bool:
    return bool((data_file.metadata or {}).get("simulated")) or (
        SIMULATED.lower() in data_file.original_name.lower())


def sample_of(inputs: Mapping[str, Any]) -> Any:
    """The sample the result belongs to: ``inputs.sample``, else the decay file's sample,
    else its one active linked sample; DomainError naming ``inputs.sample`` otherwise."""
    if inputs.get("sample") is not None:
        return inputs["sample"]
    decay = inputs["decay"]
    if decay.sample is not None:
        return decay.sample
    links = [link.sample for link in decay.links.filter(is_active=True).select_related("sample")]
    if len(links) == 1:
        return links[0]
    raise DomainError(f"inputs.sample: {decay.original_name} belongs to {len(links)} samples; "
                      "give the sample the lifetime is of.", field="inputs.sample")


def _options(parameters: dict) -> engine.DecayOptions:
    fit_range = parameters.get("fit_range_ns")
    taus = parameters.get("initial_taus_ns")
    return engine.DecayOptions(
        n_exponentials=parameters["n_exponentials"], method=parameters["method"],
        fit_range_ns=(float(fit_range[0]), float(fit_range[1])) if fit_range else None,
        fit_shift=parameters["fit_shift"], shift_ns=parameters.get("shift_ns"),
        fit_background=parameters["fit_background"],
        background_counts=parameters["background_counts"],
        initial_taus_ns=tuple(float(t) for t in taus) if taus else None)


# ---------------------------------------------------------------- the kind


class PlDecayKind(AnalysisKind):
    name = "pl_decay"
    label = "PL decay fit (TCSPC)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("decay", "file", help="A TCSPC decay file (time scan, ns vs counts)."),
        InputRole("irf", "file", required=False,
                  help="The instrument response (optional: reconvolution instead of a tail fit)."),
        InputRole("sample", "sample", required=False,
                  help="The sample the lifetime is of (default: the decay file's sample)."),
    )
    parameters = PlDecayParameters
    form_template = "analysis/kinds/pl_decay_form.html"
    result_template = "analysis/kinds/pl_decay_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        try:
            sample_of(inputs)
            loaded = self._read(parameters, inputs)
            engine.check_fit(loaded["decay"], loaded["irf"], _options(parameters))
        except (DomainError, EngineError) as exc:
            raise ValidationError({exc.field or "inputs": exc.message}) from exc

    def _read(self, parameters: dict, inputs: Mapping[str, Any]) -> dict:
        decay_file = inputs["decay"]
        irf_file = inputs.get("irf")
        if irf_file is not None and irf_file.pk == decay_file.pk and (
                parameters["irf_scan_index"] == parameters["scan_index"]):
            raise DomainError("inputs.irf: the IRF is the decay itself; choose the instrument "
                              "response scan.", field="inputs.irf")
        return {
            "decay": read_time_scan(decay_file, "decay", parameters["scan_index"],
                                    simulated=_is_simulated(decay_file)),
            "irf": None if irf_file is None else read_time_scan(
                irf_file, "irf", parameters["irf_scan_index"],
                simulated=_is_simulated(irf_file)),
        }

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        return self._read(run.parameters, inputs)

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        return engine.fit_decay(loaded["decay"], loaded["irf"], options=_options(parameters),
                                progress=progress)

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from characterization.models import LifetimeComponent, PLLifetimeMeasurement
        from labdb.lib.records import save_validated

        decay_file = inputs["decay"]
        extra = {
            "analysis_run": run.pk, "kind": run.kind, "engine": result["engine"],
            "method": result["method"], "scan_index": run.parameters["scan_index"],
            "decay": result["decay"]["label"],
            "irf_file": inputs["irf"].pk if inputs.get("irf") is not None else None,
            "irf": (result["irf"] or {}).get("label"),
            "fit_range_ns": result["fit_range_ns"],
            "background_counts": result["background_counts"],
            "background_err_counts": result["background_err_counts"],
            "shift_ns": result["shift_ns"], "shift_err_ns": result["shift_err_ns"],
            "chi_square": result["chi_square"], "n_points": result["n_points"],
            "simulated": result["decay"]["simulated"], "warnings": result["warnings"],
        }
        row = PLLifetimeMeasurement(
            sample=sample_of(inputs), data_file=decay_file, source=DataSource.COMPUTED,
            owner=run.owner, citation=f"analysis run {run.pk} ({run.kind})",
            average_tau_ns=result["intensity_weighted_tau_ns"],
            average_tau_err_ns=result["intensity_weighted_tau_err_ns"],
            average_kind="intensity",
            amplitude_weighted_tau_ns=result["amplitude_weighted_tau_ns"],
            amplitude_weighted_tau_err_ns=result["amplitude_weighted_tau_err_ns"],
            intensity_weighted_tau_ns=result["intensity_weighted_tau_ns"],
            intensity_weighted_tau_err_ns=result["intensity_weighted_tau_err_ns"],
            reduced_chi_square=result["reduced_chi_square"],
            fit_model=result["model"][:100], extra=extra,
        )
        save_validated(row)
        rows: list = [row]
        for comp in result["components"]:
            rows.append(save_validated(LifetimeComponent(
                measurement=row, position=comp["position"], amplitude=comp["amplitude"],
                amplitude_err=comp["amplitude_err"], tau_ns=comp["tau_ns"],
                tau_err_ns=comp["tau_err_ns"]), prefix=f"components[{comp['position']}]."))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if not out.get("components"):
            return ""
        taus = ", ".join(f"{c['tau_ns']:.3g} ± {c['tau_err_ns'] or 0:.2g}"
                         for c in out["components"])
        return (f"{out['model']}: τ = {taus} ns; ⟨τ⟩int {out['intensity_weighted_tau_ns']:.3g}"
                f" ns, χ²ᵥ {out['reduced_chi_square']:.3g}")


KIND = register(PlDecayKind())
