"""Kind ``sizing_curve``: size, molar absorption coefficient, concentration and intrinsic
absorption coefficient (seed 004 eq. 4) of a sample's nanocrystals from its absorption, by a
published sizing/extinction correlation (issue 15 item 4).

Inputs: the sample's absorption measurement (``inputs.absorption``: its stored 1S peak, or
its raw file, where the 1S peak and the absorbances are read) or, with a typed 1S wavelength
and absorbance, the sample itself (``inputs.sample``). Engine: :mod:`analysis.engines.sizing`
(the curated table of correlations, with citations and validity ranges; no extrapolation).

Result mapping (the shared result contract): computed ``ReportedQuantity`` rows on the
sample — "diameter from sizing curve" (nm), "molar absorption coefficient" (M⁻¹ cm⁻¹, at the
wavelength ``extra.wavelength_nm``), "concentration" (µM, of the stock: measured × dilution)
and "intrinsic absorption coefficient" (cm⁻¹), each with ``extra.correlation`` (the table key),
its citation and DOI. The correlation curve and the sample's point go in the run's output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import sizing as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from labdb.lib.errors import DomainError, LabdbError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import AbsorptionMeasurement, DataFile

ABSORBANCE_UNITS = {"abs", "a", "absorbance", "od", "absorbance (a.u.)"}

PEAK_CHOICES = (
    ("measurement", "the absorption measurement's stored 1S peak (peak_1s_nm)"),
    ("spectrum", "found in the absorption measurement's raw spectrum (refined parabola)"),
    ("typed", "parameters.peak_1s_nm"),
)
ABSORBANCE_CHOICES = (
    ("spectrum", "read from the raw spectrum at ε's wavelength (1S peak or fixed λ)"),
    ("typed", "parameters.absorbance, measured at ε's wavelength"),
    ("none", "no concentration: size and ε only"),
)


class SizingParameters(serializers.Serializer):
    correlation = serializers.ChoiceField(
        choices=[(k, c.label) for k, c in engine.CORRELATIONS.items()],
        help_text="Key of the published correlation (see GET /api/analysis-runs/kinds/).")
    peak_from = serializers.ChoiceField(
        choices=PEAK_CHOICES, required=False, allow_null=True, default=None,
        help_text="Where the 1S peak comes from; default: typed when peak_1s_nm is given, "
                  "else the measurement's stored peak (its raw spectrum when it has none).")
    peak_1s_nm = serializers.FloatField(required=False, allow_null=True, default=None,
                                        min_value=200.0, max_value=5000.0)
    peak_1s_err_nm = serializers.FloatField(
        default=0.0, min_value=0.0, max_value=50.0,
        help_text="1σ of the 1S position (nm); for a peak found in the spectrum the larger of "
                  "this and the fit's error is used.")
    diameter_nm = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.5, max_value=100.0,
        help_text="Only for a correlation without a sizing equation (e.g. seed 004 HgSe).")
    diameter_err_nm = serializers.FloatField(default=0.0, min_value=0.0)
    absorbance_from = serializers.ChoiceField(
        choices=ABSORBANCE_CHOICES, required=False, allow_null=True, default=None,
        help_text="Default: typed when absorbance is given, else the raw spectrum.")
    absorbance = serializers.FloatField(required=False, allow_null=True, default=None,
                                        help_text="A at ε's wavelength (1S or fixed λ).")
    absorbance_err = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0,
        help_text="1σ of A; default 0 for a typed A, the spectrum's noise for a read one.")
    path_length_cm = serializers.FloatField(default=1.0, min_value=1e-4, max_value=100.0)
    path_length_err_cm = serializers.FloatField(default=0.0, min_value=0.0)
    dilution_factor = serializers.FloatField(
        default=1.0, min_value=1.0, max_value=1e7,
        help_text="Stock / measured concentration (the measured solution was diluted this "
                  "many times); the stored concentration is the stock's.")
    dilution_err = serializers.FloatField(default=0.0, min_value=0.0)
    epsilon_rel_err = serializers.FloatField(
        default=0.0, min_value=0.0, max_value=1.0,
        help_text="Relative 1σ of the correlation's ε (e.g. 0.1); propagated.")
    mu_wavelength_nm = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=200.0, max_value=5000.0,
        help_text="Eq. 4 μ at this wavelength (default: ε's wavelength).")
    mu_absorbance = serializers.FloatField(
        required=False, allow_null=True, default=None,
        help_text="A at mu_wavelength_nm (default: read from the raw spectrum).")
    mu_absorbance_err = serializers.FloatField(default=0.0, min_value=0.0)
    volume_fraction = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0, max_value=1.0,
        help_text="f_V of eq. 4 (default: c·N_A·πD³/6 from the computed concentration).")
    volume_fraction_err = serializers.FloatField(default=0.0, min_value=0.0)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("peak_from") == "typed" and attrs.get("peak_1s_nm") is None:
            raise ValidationError({"peak_1s_nm": "peak_from is 'typed': give the 1S wavelength "
                                                 "(nm)."})
        if attrs.get("absorbance_from") == "typed" and attrs.get("absorbance") is None:
            raise ValidationError({"absorbance": "absorbance_from is 'typed': give the "
                                                 "absorbance at ε's wavelength."})
        if attrs.get("mu_absorbance") is not None and attrs.get("mu_wavelength_nm") is None:
            raise ValidationError({"mu_wavelength_nm": "give the wavelength (nm) mu_absorbance "
                                                       "was measured at."})
        if attrs.get("volume_fraction") == 0:
            raise ValidationError({"volume_fraction": "must be above 0."})
        corr = engine.CORRELATIONS[attrs["correlation"]]
        if corr.sizes and attrs.get("diameter_nm") is not None:
            raise ValidationError({"diameter_nm": (
                f"{corr.label} sizes from the 1S peak; a given diameter is only for "
                "correlations without a sizing equation.")})
        return attrs


# ---------------------------------------------------------------- reading the inputs


def peak_source(parameters: dict, absorption: Any) -> str:
    """Where the run takes the 1S peak from (the explicit choice or the default)."""
    chosen = parameters.get("peak_from")
    if chosen:
        return str(chosen)
    if parameters.get("peak_1s_nm") is not None:
        return "typed"
    if absorption is not None and absorption.peak_1s_nm is None and absorption.data_file_id:
        return "spectrum"
    return "measurement"


def absorbance_source(parameters: dict) -> str:
    chosen = parameters.get("absorbance_from")
    if chosen:
        return str(chosen)
    return "typed" if parameters.get("absorbance") is not None else "spectrum"


def _stored_bytes(data_file: DataFile) -> bytes:
    from django.core.files.storage import default_storage

    name = data_file.original_name
    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(f"inputs.absorption: the raw file {name} is missing from storage; "
                          "restore it or re-upload it.", field="inputs.absorption") from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(f"inputs.absorption: the stored file {name} no longer matches its "
                          "sha256.", field="inputs.absorption")
    return content


def read_spectrum(absorption: AbsorptionMeasurement) -> dict:
    """A(λ) of the measurement's raw file (its scan), re-parsed with its parser; DomainError
    naming ``inputs.absorption`` for no file, a file of another technique, or a series that
    is not absorbance against wavelength."""
    from characterization.parsers.registry import parse_file

    data_file = absorption.data_file
    where = "inputs.absorption"
    if data_file is None:
        raise DomainError(f"{where}: absorption measurement {absorption.pk} has no raw file "
                          "(typed in); give the 1S wavelength and absorbance as parameters.",
                          field=where)
    name = data_file.original_name
    if data_file.parse_status != "ok" or data_file.technique != "uvvis":
        raise DomainError(f"{where}: {name} is not a parsed UV-vis absorbance file (technique "
                          f"{data_file.technique or 'unknown'}, parse {data_file.parse_status}).",
                          field=where)
    parsed = parse_file(_stored_bytes(data_file), filename=name)
    series = list(parsed.series)
    index = absorption.scan_index
    chosen = (series[index] if index is not None and 0 <= index < len(series)
              else next((s for s in series
                         if str(s.y_unit).strip().lower() in ABSORBANCE_UNITS), None))
    if chosen is None or str(chosen.y_unit).strip().lower() not in ABSORBANCE_UNITS:
        units = sorted({str(s.y_unit) for s in series}) or ["none"]
        raise DomainError(f"{where}: {name} holds no absorbance series (y units: "
                          f"{', '.join(units)}); %T and %R are not absorbance.", field=where)
    x = np.asarray(chosen.x, dtype=float)
    unit = str(chosen.x_unit).strip().lower()
    if unit == "ev":
        x = engine.HC_EV_NM / x
    elif unit != "nm":
        raise DomainError(f"{where}: {name} is against {chosen.x_unit}; expected wavelength in "
                          "nm (or energy in eV).", field=where)
    return {"wavelength_nm": x.tolist(), "absorbance": np.asarray(chosen.y, float).tolist(),
            "file": name, "sha256": data_file.sha256, "series": chosen.name,
            "parser": parsed.parser_name, "parser_version": parsed.parser_version}


def _one(inputs: Mapping[str, Any], role: str) -> Any:
    value = inputs.get(role)
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _needs_spectrum(parameters: dict, absorption: Any) -> bool:
    corr = engine.CORRELATIONS[parameters["correlation"]]
    peak = corr.sizes and peak_source(parameters, absorption) == "spectrum"
    absorbance = absorbance_source(parameters) == "spectrum"
    mu = (parameters.get("mu_wavelength_nm") is not None
          and parameters.get("mu_absorbance") is None and absorbance_source(parameters) != "none")
    return peak or absorbance or mu


def _request(parameters: dict, source: str, stored_peak_nm: float | None,
             spectrum: dict | None) -> tuple[engine.SizingRequest, dict | None]:
    """The engine's request and the peak found in the spectrum (or None): the 1S peak from
    ``source`` (typed, the stored row's ``stored_peak_nm``, or found in ``spectrum``), the
    absorbances typed or read from the spectrum. Raises EngineError naming the field."""
    corr = engine.CORRELATIONS[parameters["correlation"]]
    peak_nm, peak_err = None, float(parameters["peak_1s_err_nm"])
    peak_field = "parameters.peak_1s_nm"
    found: dict | None = None
    if corr.sizes:
        if source == "typed":
            peak_nm = parameters["peak_1s_nm"]
        elif source == "measurement":
            peak_nm, peak_field = stored_peak_nm, "inputs.absorption"
        else:
            assert spectrum is not None
            found = engine.find_1s_peak(spectrum["wavelength_nm"], spectrum["absorbance"])
            peak_nm, peak_field = found["peak_nm"], "inputs.absorption"
            peak_err = max(peak_err, found["peak_err_nm"])
    epsilon_at = corr.epsilon_at_nm if corr.epsilon_at_nm is not None else peak_nm
    a_source = absorbance_source(parameters)
    absorbance, absorbance_err, a_field = None, 0.0, "parameters.absorbance"
    if a_source == "typed":
        absorbance = parameters["absorbance"]
        absorbance_err = parameters.get("absorbance_err") or 0.0
    elif a_source == "spectrum" and epsilon_at is not None:
        assert spectrum is not None
        absorbance, noise = engine.absorbance_at(spectrum["wavelength_nm"],
                                                 spectrum["absorbance"], epsilon_at)
        given = parameters.get("absorbance_err")
        absorbance_err = noise if given is None else given
        a_field = "inputs.absorption"
    mu_a, mu_err = parameters.get("mu_absorbance"), parameters["mu_absorbance_err"]
    mu_at = parameters.get("mu_wavelength_nm")
    if mu_at is not None and mu_a is None and a_source != "none":
        assert spectrum is not None
        mu_a, noise = engine.absorbance_at(spectrum["wavelength_nm"], spectrum["absorbance"],
                                           mu_at)
        mu_err = mu_err or noise
        engine.check_absorbance(mu_a, "inputs.absorption")
    return engine.SizingRequest(
        correlation=corr.key, path_cm=parameters["path_length_cm"],
        path_err_cm=parameters["path_length_err_cm"], dilution=parameters["dilution_factor"],
        dilution_err=parameters["dilution_err"], epsilon_rel_err=parameters["epsilon_rel_err"],
        peak_nm=peak_nm, peak_err_nm=peak_err, peak_field=peak_field,
        diameter_nm=parameters.get("diameter_nm"),
        diameter_err_nm=parameters["diameter_err_nm"],
        absorbance=absorbance, absorbance_err=float(absorbance_err), absorbance_field=a_field,
        mu_absorbance=mu_a, mu_absorbance_err=float(mu_err), mu_wavelength_nm=mu_at,
        volume_fraction=parameters.get("volume_fraction"),
        volume_fraction_err=parameters["volume_fraction_err"]), found


def _as_validation(exc: LabdbError, default: str) -> ValidationError:
    message = exc.message
    field = getattr(exc, "field", None) or (message.split(":", 1)[0] if ":" in message
                                            else default)
    if not field.startswith(("parameters.", "inputs.")):
        field = default
    return ValidationError({field: message})


# ---------------------------------------------------------------- the kind


class SizingCurveKind(AnalysisKind):
    name = "sizing_curve"
    label = "Sizing curve: size, ε, concentration, μ"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("absorption", "absorption", required=False,
                  help="The sample's absorption measurement (its 1S peak, its raw spectrum)."),
        InputRole("sample", "sample", required=False,
                  help="The sample, when the 1S peak and absorbance are typed."),
    )
    parameters = SizingParameters
    form_template = "analysis/kinds/sizing_curve_form.html"
    result_template = "analysis/kinds/sizing_curve_result.html"
    #: The curated table, for the start page's chooser (material, range, citation).
    correlations = engine.correlation_table()

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        absorption, sample = _one(inputs, "absorption"), _one(inputs, "sample")
        if absorption is None and sample is None:
            raise ValidationError({"inputs.absorption": (
                "give the sample's absorption measurement, or the sample (inputs.sample) "
                "with the 1S wavelength and absorbance typed as parameters.")})
        if absorption is not None and sample is not None and absorption.sample_id != sample.pk:
            raise ValidationError({"inputs.sample": (
                f"absorption measurement {absorption.pk} is of sample {absorption.sample}, "
                f"not of {sample}; give one sample.")})
        corr = engine.CORRELATIONS[parameters["correlation"]]
        source = peak_source(parameters, absorption)
        if corr.sizes and source in ("measurement", "spectrum") and absorption is None:
            raise ValidationError({"parameters.peak_1s_nm": (
                f"{corr.label} sizes from the 1S peak: give the 1S wavelength (nm) or an "
                "absorption measurement (inputs.absorption).")})
        if corr.sizes and source == "measurement" and absorption.peak_1s_nm is None:
            raise ValidationError({"inputs.absorption": (
                f"absorption measurement {absorption.pk} stores no 1S peak; choose "
                "peak_from 'spectrum' (its raw file) or type the 1S wavelength.")})
        if absorbance_source(parameters) == "spectrum" and absorption is None:
            raise ValidationError({"parameters.absorbance": (
                "give the absorbance at ε's wavelength (or an absorption measurement with its "
                "raw spectrum, or absorbance_from 'none').")})
        try:
            spectrum = (read_spectrum(absorption) if absorption is not None
                        and _needs_spectrum(parameters, absorption) else None)
            if source != "spectrum" or not corr.sizes:
                # everything is known now: the ranges and absorbances are a 400, not a failure
                stored = absorption.peak_1s_nm if absorption is not None else None
                engine.check_request(_request(parameters, source, stored, spectrum)[0])
            else:  # the peak is found by the worker; the typed numbers are checked now
                if absorbance_source(parameters) == "typed":
                    engine.check_absorbance(parameters["absorbance"], "parameters.absorbance")
                if parameters.get("mu_absorbance") is not None:
                    engine.check_absorbance(parameters["mu_absorbance"],
                                            "parameters.mu_absorbance")
        except LabdbError as exc:
            raise _as_validation(exc, "inputs.absorption") from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        absorption = _one(inputs, "absorption")
        parameters = run.parameters
        spectrum = (read_spectrum(absorption) if absorption is not None
                    and _needs_spectrum(parameters, absorption) else None)
        return {"absorption": None if absorption is None else {
                    "id": absorption.pk, "peak_1s_nm": absorption.peak_1s_nm},
                "spectrum": spectrum, "peak_source": peak_source(parameters, absorption),
                "absorbance_source": absorbance_source(parameters)}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        absorption = loaded["absorption"]
        stored = None if absorption is None else absorption["peak_1s_nm"]
        spectrum = loaded["spectrum"]
        progress(20, "reading the 1S peak and absorbances")
        request, found = _request(parameters, loaded["peak_source"], stored, spectrum)
        progress(50, f"applying {request.correlation}")
        result = engine.compute_sizing(request)
        result.update(peak_from=loaded["peak_source"],
                      absorbance_from=loaded["absorbance_source"], found_peak=found)
        if spectrum is not None:
            x, y = spectrum["wavelength_nm"], spectrum["absorbance"]
            result["spectrum"] = {"wavelength_nm": x, "absorbance": y, "file": spectrum["file"],
                                  "series": spectrum["series"], "parser": spectrum["parser"],
                                  "parser_version": spectrum["parser_version"]}
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from analysis.services.runs import record_run_quantity

        absorption = _one(inputs, "absorption")
        sample = absorption.sample if absorption is not None else _one(inputs, "sample")
        corr = result["correlation"]
        common = {"correlation": corr["key"], "correlation_label": corr["label"],
                  "correlation_citation": corr["citation"], "doi": corr["doi"],
                  "peak_1s_nm": result["peak_1s_nm"]["value"], "peak_from": result["peak_from"],
                  "absorption_measurement": absorption.pk if absorption is not None else None,
                  "engine": result["engine"]}
        rows = []
        if corr["sizes"]:
            d = result["diameter_nm"]
            rows.append(record_run_quantity(run, sample=sample,
                                            quantity="diameter from sizing curve",
                                            value=d["value"], err=d["err"], unit="nm", **common))
        eps = result["epsilon_per_m_cm"]
        rows.append(record_run_quantity(
            run, sample=sample, quantity="molar absorption coefficient", value=eps["value"],
            err=eps["err"], unit="M⁻¹ cm⁻¹", wavelength_nm=result["epsilon_at_nm"],
            diameter_nm=result["diameter_nm"]["value"], **common))
        conc = result["concentration_um"]
        if conc["value"] is not None:
            rows.append(record_run_quantity(
                run, sample=sample, quantity="concentration", value=conc["value"],
                err=conc["err"], unit="µM", of="stock (measured × dilution factor)",
                measured_concentration_um=result["measured_concentration_um"]["value"],
                dilution_factor=result["dilution_factor"],
                path_length_cm=result["path_length_cm"], absorbance=result["absorbance"],
                **common))
        mu = result.get("intrinsic_absorption")
        if mu and mu["mu_per_cm"]["value"] is not None:
            rows.append(record_run_quantity(
                run, sample=sample, quantity="intrinsic absorption coefficient",
                value=mu["mu_per_cm"]["value"], err=mu["mu_per_cm"]["err"], unit="cm⁻¹",
                wavelength_nm=mu["at_nm"], volume_fraction=mu["volume_fraction"]["value"],
                volume_fraction_from=mu["volume_fraction_from"], equation=mu["equation"],
                **common))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if "correlation" not in out:
            return ""
        parts = [out["correlation"]["label"]]
        d = out["diameter_nm"]
        if d["value"] is not None:
            parts.append(f"D {d['value']:.2f} ± {d['err'] or 0:.2f} nm")
        c = out["concentration_um"]
        if c["value"] is not None:
            parts.append(f"c {c['value']:.3g} ± {c['err'] or 0:.2g} µM")
        return ", ".join(parts)


KIND = register(SizingCurveKind())
