"""Kind ``absorption_decomposition``: a UV-vis absorption spectrum decomposed into Gaussian
transitions (seed 004 eq. 1, or a plain sum of Gaussians) with the 1S quality numbers.

Input: one stored absorption — an ``absorption`` measurement (a row the parse made of a UV-vis
file, its scan) or a UV-vis ``file`` (for exports whose parse made no row, e.g. an Edinburgh
absorbance scan). A(λ) is read by re-parsing the stored raw file (bytes checked against their
sha256) with its parser. Engine: :mod:`analysis.engines.absorption_decomposition`.

Result mapping (the shared contract): one computed ``AbsorptionMeasurement`` of the
spectrum's sample (data_file = the file) with ``peak_1s_nm``, ``peak_1s_ev``, ``hwhm_1s_mev``,
``peak_to_valley``; per transition a ``ReportedQuantity`` "transition energy" (eV) and
"relative oscillator strength" (aᵢ/a₁, dimensionless) with ``extra.transition`` = its index
(1 = lowest energy, the 1S); for eq. 1 the fitted "relative size dispersion" dR. Arrays for
the plot stay in the run's output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import absorption_decomposition as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError, LabdbError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import AbsorptionMeasurement, DataFile
    from synthesis.models import Sample

ABSORBANCE_UNITS = ("abs", "a", "absorbance")
MODEL_LABELS = {"eq1": "seed 004 eq. 1 (shared size dispersion dR)",
                "gaussians": "sum of Gaussians (free widths)"}


class EnergyRangeField(serializers.ListField):
    """[start, end] in eV, start < end."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(min_value=0.1, max_value=20.0),
                         min_length=2, max_length=2, **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError("expected [start, end] in eV with start < end.")
        return value


class AbsorptionDecompositionParameters(serializers.Serializer):
    energy_range_ev = EnergyRangeField(
        default=None, allow_null=True,
        help_text="[start, end] of the fit in eV (E = 1239.84193/λ[nm]); null: the whole "
        "spectrum.")
    n_transitions = serializers.IntegerField(
        default=None, allow_null=True, min_value=1, max_value=engine.MAX_TRANSITIONS,
        help_text="Number of transitions; null: every significant minimum of d²A/dE².")
    model = serializers.ChoiceField(choices=list(MODEL_LABELS.items()), default="eq1")
    bulk_gap_ev = serializers.FloatField(
        default=1.74, min_value=-1.0, max_value=10.0,
        help_text="Bulk band gap E_g of eq. 1 in eV (CdSe 1.74, HgSe −0.06; Hg_xCd_1−xSe: "
        "linear interpolation in x, as seed 004).")
    background = serializers.ChoiceField(
        choices=[("none", "none"), ("constant", "constant"), ("linear", "linear in E"),
                 ("power_law", "scattering power law b·(E/E_start)^p")], default="none")
    center_bound_mev = serializers.FloatField(
        default=50.0, min_value=1.0, max_value=500.0,
        help_text="Each transition energy stays within ± this of its 2nd-derivative minimum.")
    smoothing_window_mev = serializers.FloatField(
        default=60.0, min_value=1.0, max_value=2000.0,
        help_text="Savitzky–Golay window (meV) of the smoothed spectrum and its 2nd derivative.")
    smoothing_polyorder = serializers.IntegerField(default=3, min_value=2, max_value=6)
    max_absorbance = serializers.FloatField(
        default=4.0, min_value=0.5, max_value=10.0,
        help_text="Absorbance above this in range is refused as saturated.")
    hwhm_baseline = serializers.ChoiceField(
        choices=[("minimum", "lowest A below the 1S energy"), ("zero", "A = 0")],
        default="minimum")

    def validate(self, attrs: dict) -> dict:
        if attrs["smoothing_window_mev"] <= 0:
            raise ValidationError({"smoothing_window_mev": "must be positive (meV)."})
        return attrs


def options_of(parameters: dict) -> engine.DecompositionOptions:
    rng = parameters.get("energy_range_ev")
    return engine.DecompositionOptions(
        energy_range_ev=(float(rng[0]), float(rng[1])) if rng else None,
        n_transitions=parameters.get("n_transitions"), model=parameters["model"],
        bulk_gap_ev=parameters["bulk_gap_ev"], background=parameters["background"],
        center_bound_mev=parameters["center_bound_mev"],
        smoothing_window_mev=parameters["smoothing_window_mev"],
        smoothing_polyorder=parameters["smoothing_polyorder"],
        max_absorbance=parameters["max_absorbance"], hwhm_baseline=parameters["hwhm_baseline"])


# ------------------------------------------------------------------ reading the stored input


def _role_of(inputs: Mapping[str, Any]) -> str:
    given = [role for role in ("absorption", "file") if inputs.get(role) is not None]
    if len(given) != 1:
        raise ValidationError({"inputs.absorption": (
            "give one absorption spectrum: an absorption measurement id as inputs.absorption "
            "or a UV-vis file id as inputs.file" + (", not both." if given else "."))})
    return given[0]


def _stored_bytes(data_file: DataFile, where: str) -> bytes:
    from django.core.files.storage import default_storage

    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(f"{where}: raw file {data_file.original_name} is missing from "
                          "storage; restore it or re-upload it.", field=where) from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(f"{where}: the stored file {data_file.original_name} no longer "
                          "matches its sha256.", field=where)
    return content


def _is_absorbance(series: Any) -> bool:
    return str(series.y_unit).strip().lower() in ABSORBANCE_UNITS


def _series_of(data_file: DataFile, where: str, scan_index: int | None) -> dict:
    """A(λ) of the stored file's absorbance series (scan ``scan_index`` or the first
    absorbance series), re-parsed with its parser; DomainError naming ``where``."""
    from characterization.parsers.registry import parse_file

    name = data_file.original_name
    if data_file.parse_status != "ok":
        raise DomainError(f"{where}: {name} is not a parsed instrument file "
                          f"(parse status {data_file.parse_status}).", field=where)
    if data_file.technique != "uvvis":
        raise DomainError(
            f"{where}: {name} is a {data_file.get_technique_display()} file "
            f"({data_file.format or 'unknown format'}); expected a UV-vis absorbance spectrum.",
            field=where)
    parsed = parse_file(_stored_bytes(data_file, where), filename=name)
    series = list(parsed.series)
    chosen: Any
    if scan_index is not None and 0 <= scan_index < len(series):
        chosen = series[scan_index]
    else:
        chosen = next((s for s in series if _is_absorbance(s)), None)
        scan_index = series.index(chosen) if chosen is not None else None
    if chosen is None or not _is_absorbance(chosen):
        units = sorted({str(s.y_unit) for s in series}) or ["none"]
        raise DomainError(f"{where}: {name} holds no absorbance series (y units: "
                          f"{', '.join(units)}); %T or %R scans are not absorbance.", field=where)
    x = np.asarray(chosen.x, dtype=float)
    unit = str(chosen.x_unit).strip().lower()
    if unit == "ev":
        x = engine.HC_EV_NM / x
    elif unit != "nm":
        raise DomainError(f"{where}: {name} is against {chosen.x_unit}; expected wavelength "
                          "in nm or energy in eV.", field=where)
    return {"wavelength_nm": x, "absorbance": np.asarray(chosen.y, dtype=float),
            "label": f"{name} · {chosen.name}" if len(series) > 1 else name,
            "scan_index": scan_index if len(series) > 1 else None,
            "scan_label": chosen.name if len(series) > 1 else "",
            "parser": parsed.parser_name, "parser_version": parsed.parser_version}


def _file_sample(data_file: DataFile) -> Sample | None:
    if data_file.sample_id is not None:
        return data_file.sample
    links = list(data_file.links.filter(is_active=True).select_related("sample")[:2])
    return links[0].sample if len(links) == 1 else None


def read_input(inputs: Mapping[str, Any]) -> dict:
    """The engine's view of the run's one spectrum plus where it came from: ``role``,
    ``where`` (``inputs.<role>``), ``data_file``, ``sample``, A(λ) and scan facts."""
    role = _role_of(inputs)
    where = f"inputs.{role}"
    sample: Sample | None
    if role == "absorption":
        row: AbsorptionMeasurement = inputs["absorption"]
        if row.data_file is None:
            raise DomainError(f"{where}: absorption {row.pk} of {row.sample} has no raw data "
                              "file (typed-in or published); a decomposition needs the "
                              "measured spectrum.", field=where)
        data_file, sample, scan = row.data_file, row.sample, row.scan_index
    else:
        data_file, scan = inputs["file"], None
        sample = _file_sample(data_file)
    spectrum = _series_of(data_file, where, scan)
    if sample is None:
        raise DomainError(f"{where}: {data_file.original_name} belongs to no single sample; "
                          "link it to its sample first (the result is a measurement of it).",
                          field=where)
    return {"role": role, "where": where, "data_file": data_file, "sample": sample, **spectrum}


def _as_validation(exc: LabdbError, default: str) -> ValidationError:
    return ValidationError({exc.field or default: exc.message})


# ------------------------------------------------------------------ the kind


class AbsorptionDecompositionKind(AnalysisKind):
    name = "absorption_decomposition"
    label = "Absorption decomposition (Gaussian transitions, 1S quality)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("absorption", "absorption", required=False,
                  help="An absorption measurement with its raw UV-vis file (give this or file)."),
        InputRole("file", "file", required=False,
                  help="A UV-vis absorbance file linked to its sample (give this or absorption)."),
    )
    parameters = AbsorptionDecompositionParameters
    form_template = "analysis/kinds/absorption_decomposition_form.html"
    result_template = "analysis/kinds/absorption_decomposition_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        try:
            spectrum = read_input(inputs)
        except DomainError as exc:
            raise _as_validation(exc, "inputs.absorption") from exc
        options = options_of(parameters)
        try:
            energy, a = engine.wavelength_to_energy(spectrum["wavelength_nm"],
                                                    spectrum["absorbance"])
            energy, a = engine.select_range(energy, a, options.energy_range_ev)
            engine.check_absorbance(energy, a, max_absorbance=options.max_absorbance,
                                    field=spectrum["where"])
            smooth = engine.smoothed(energy, a, window_mev=options.smoothing_window_mev,
                                     polyorder=options.smoothing_polyorder)
        except EngineError as exc:
            field = spectrum["where"] if exc.field == "inputs" else exc.field
            raise _as_validation(exc, field or spectrum["where"]) from exc
        minima = engine.derivative_minima(smooth["grid_ev"], smooth["d2"],
                                          window=smooth["window"], noise=smooth["noise_d2"])
        n = options.n_transitions
        if n is not None and n > len(minima):
            raise ValidationError({"parameters.n_transitions": (
                f"{n} transitions asked for but the second derivative has only {len(minima)} "
                f"minima in range; ask for at most {len(minima)} or leave it on auto.")})
        if not minima:
            raise ValidationError({"parameters.energy_range_ev": (
                "the second derivative of A(E) has no significant minimum in this range; "
                "widen the range or reduce parameters.smoothing_window_mev.")})

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        spectrum = read_input(inputs)
        return {k: spectrum[k] for k in ("wavelength_nm", "absorbance", "label", "where",
                                         "parser", "parser_version")}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        progress(5, f"read {loaded['label']} ({len(loaded['wavelength_nm'])} points, "
                    f"{loaded['parser']} {loaded['parser_version']})")
        result = engine.decompose(loaded["wavelength_nm"], loaded["absorbance"],
                                  options_of(parameters), input_field=loaded["where"],
                                  progress=progress)
        result["spectrum_label"] = loaded["label"]
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from analysis.services.runs import record_run_quantity
        from characterization.models import AbsorptionMeasurement
        from labdb.lib.records import save_validated

        spectrum = read_input(inputs)
        sample, data_file = spectrum["sample"], spectrum["data_file"]
        quality = result["quality"]
        common = {"model": result["model"], "background": result["background_kind"],
                  "energy_range_ev": result["energy_range_ev"],
                  "bulk_gap_ev": result["bulk_gap_ev"], "data_file": data_file.pk,
                  "engine": result["engine"]}
        measurement = AbsorptionMeasurement(
            sample=sample, data_file=data_file, source=DataSource.COMPUTED, owner=run.owner,
            citation=f"analysis run {run.pk} ({run.kind})",
            scan_index=spectrum["scan_index"], scan_label=spectrum["scan_label"][:200],
            peak_1s_nm=quality["peak_1s_nm"], peak_1s_ev=quality["peak_1s_ev"],
            hwhm_1s_mev=quality["hwhm_1s_mev"], peak_to_valley=quality["peak_to_valley"],
            extra={"analysis_run": run.pk, "kind": run.kind, **common,
                   "quality": quality, "dR": result["dR"], "dR_err": result["dR_err"],
                   "transitions": [{k: t[k] for k in ("index", "center_ev", "center_err_ev",
                                                      "relative_oscillator_strength")}
                                   for t in result["transitions"]]})
        save_validated(measurement)
        rows: list = [measurement]
        for t in result["transitions"]:
            extra = {**common, "transition": t["index"], "center_nm": t["center_nm"],
                     "sigma_ev": t["sigma_ev"], "at_bound": t["at_bound"]}
            rows.append(record_run_quantity(
                run, sample=sample, quantity="transition energy", value=t["center_ev"],
                err=t["center_err_ev"], unit="eV", **extra))
            rows.append(record_run_quantity(
                run, sample=sample, quantity="relative oscillator strength",
                value=t["relative_oscillator_strength"],
                err=t["relative_oscillator_strength_err"], unit="",
                **extra, area=t["area"], area_err=t["area_err"]))
        if result["model"] == "eq1" and result["dR"] is not None:
            rows.append(record_run_quantity(
                run, sample=sample, quantity="relative size dispersion", value=result["dR"],
                err=result["dR_err"], unit="", **common))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        quality = out.get("quality") or {}
        transitions = out.get("transitions") or []
        if not transitions:
            return ""
        parts = [f"{len(transitions)} transitions"]
        if quality.get("peak_1s_nm") is not None:
            parts.append(f"1S {quality['peak_1s_nm']:.1f} nm")
        if quality.get("hwhm_1s_mev") is not None:
            parts.append(f"HWHM {quality['hwhm_1s_mev']:.0f} meV")
        if out.get("dR") is not None:
            parts.append(f"dR {out['dR']:.3f}")
        return ", ".join(parts)


KIND = register(AbsorptionDecompositionKind())
