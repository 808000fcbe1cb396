"""Kind ``relative_qy``: PL quantum yield of a sample relative to a reference dye.

QY = QY_ref · (I/I_ref) · (f_ref/f) · (n²/n_ref²) — engine :mod:`analysis.engines.relative_qy`.

Inputs (each spectrum either a stored measurement row or a raw file):

* the sample's and the reference's emission spectra: ``sample_pl`` / ``sample_pl_file`` and
  ``reference_pl`` / ``reference_pl_file`` (a PL measurement row reads its file's scan; a file
  reads scan ``parameters.sample_scan`` / ``reference_scan``);
* the absorbances at the excitation wavelength: typed (``parameters.absorbance_sample`` /
  ``absorbance_reference``, decadic absorbance) or read from a stored absorption spectrum
  (``sample_absorption`` / ``sample_absorption_file`` …, interpolated at ``excitation_nm``);
* the standard (``parameters.standard``: a :class:`analysis.models_qy.QYStandard` id or name),
  which gives the reference's QY ± uncertainty, solvent and refractive index.

Result mapping: one ``PLMeasurement(source=computed)`` of the sample (``qy_pct``,
``qy_pct_err``, ``qy_method="relative"``, ``reference_dye``, ``excitation_nm``, ``solvent``,
``data_file`` = the sample's emission file) with the integrals, absorbances, the standard's
snapshot and the warnings (inner filter …) in ``extra``. The plot arrays stay in the output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import relative_qy as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError, LabdbError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import DataFile

KIND_NAME = "relative_qy"
ABSORBANCE_UNITS = ("absorbance", "A", "OD", "dimensionless")
ABSORBANCE_Y_UNITS = ("abs", "a", "absorbance", "od")
DECAY_KINDS = ("decay", "irf")
BASELINE_MODES = (("none", "no baseline"), ("constant", "the given constant (counts)"),
                  ("outside_range", "mean of the points outside the integration range"))
# role pairs: (measurement role, file role) for each spectrum the kind reads
PL_ROLES = {"sample": ("sample_pl", "sample_pl_file"),
            "reference": ("reference_pl", "reference_pl_file")}
ABS_ROLES = {"sample": ("sample_absorption", "sample_absorption_file"),
             "reference": ("reference_absorption", "reference_absorption_file")}


# ---------------------------------------------------------------- schema


class RangeField(serializers.ListField):
    """[start, end] in nm, start < end."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(min_value=0.0), min_length=2, max_length=2,
                         **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError("expected [start, end] in nm with start < end.")
        return value


class StandardField(serializers.Field):
    """A QY standard by id, by name, or as a stored snapshot ``{"id": …}`` (a rerun); the
    validated value is the standard's snapshot at request time."""

    default_error_messages = {"invalid": "expected a QY standard id or name."}

    def to_internal_value(self, data: Any) -> dict:
        from analysis.models_qy import QYStandard

        key = data.get("id") if isinstance(data, Mapping) else data
        rows = QYStandard.objects.filter(is_retired=False)
        if isinstance(key, int) and not isinstance(key, bool):
            row = rows.filter(pk=key).first()
        elif isinstance(key, str) and key.strip():
            row = (rows.filter(pk=int(key)).first() if key.strip().isdigit()
                   else rows.filter(name__iexact=key.strip()).first())
        else:
            self.fail("invalid")
        if row is None:
            known = "; ".join(rows.values_list("name", flat=True))
            raise ValidationError(f"no QY standard {key!r} with a known QY (standards: {known}). "
                                  "A curator adds new ones in the admin.")
        return row.snapshot()

    def to_representation(self, value: Any) -> Any:
        return value


class RelativeQYParameters(serializers.Serializer):
    standard = StandardField(help_text="QY standard id or name (its QY ± err, solvent, n).")
    excitation_nm = serializers.FloatField(min_value=1.0,
                                           help_text="Excitation wavelength of both spectra.")
    sample_range_nm = RangeField(help_text="[start, end] of the sample's PL integral, nm.")
    reference_range_nm = RangeField(required=False, allow_null=True, default=None,
                                    help_text="[start, end] of the reference's PL integral "
                                    "(default: the sample's range), nm.")
    absorbance_sample = serializers.FloatField(required=False, allow_null=True, default=None,
                                               help_text="Absorbance at excitation_nm (or give "
                                               "inputs.sample_absorption).")
    absorbance_reference = serializers.FloatField(required=False, allow_null=True, default=None)
    absorbance_unit = serializers.CharField(default="absorbance",
                                            help_text="Unit of the typed absorbances: decadic "
                                            "absorbance (A, OD), dimensionless.")
    absorbance_err = serializers.FloatField(default=0.002, min_value=0.0, max_value=0.5,
                                            help_text="One standard uncertainty of each "
                                            "absorbance (photometric accuracy).")
    absorbance_model = serializers.ChoiceField(
        choices=(("absorptance", "f = 1 − 10^(−A)"), ("linear", "f ≈ A (dilute)")),
        default="absorptance")
    sample_solvent = serializers.CharField(max_length=100,
                                           help_text="Solvent of the sample (its n_D from the "
                                           "table unless n_sample is given).")
    n_sample = serializers.FloatField(required=False, allow_null=True, default=None,
                                      min_value=1.0, max_value=3.0)
    n_reference = serializers.FloatField(required=False, allow_null=True, default=None,
                                         min_value=1.0, max_value=3.0,
                                         help_text="Default: the standard's solvent.")
    baseline_mode = serializers.ChoiceField(choices=BASELINE_MODES, default="none")
    baseline_sample = serializers.FloatField(default=0.0, help_text="counts (constant mode)")
    baseline_reference = serializers.FloatField(default=0.0, help_text="counts (constant mode)")
    sample_scan = serializers.IntegerField(default=0, min_value=0,
                                           help_text="Scan of a multi-scan sample PL file.")
    reference_scan = serializers.IntegerField(default=0, min_value=0)
    sample_absorption_scan = serializers.IntegerField(default=0, min_value=0)
    reference_absorption_scan = serializers.IntegerField(default=0, min_value=0)

    def validate_absorbance_unit(self, value: str) -> str:
        if value.strip().lower() not in {u.lower() for u in ABSORBANCE_UNITS}:
            raise ValidationError(f"{value!r}: expected a decadic absorbance (one of "
                                  f"{', '.join(ABSORBANCE_UNITS)}); convert %T with "
                                  "A = 2 − log10(%T).")
        return "absorbance"

    def _absorbance(self, value: float | None, name: str) -> float | None:
        if value is not None:
            try:
                engine.check_absorbance(value, field=name)
            except EngineError as exc:
                raise ValidationError(exc.message) from exc
        return value

    def validate_absorbance_sample(self, value: float | None) -> float | None:
        return self._absorbance(value, "absorbance_sample")

    def validate_absorbance_reference(self, value: float | None) -> float | None:
        return self._absorbance(value, "absorbance_reference")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("reference_range_nm") is None:
            attrs["reference_range_nm"] = list(attrs["sample_range_nm"])
        if attrs.get("n_sample") is None:
            n = engine.refractive_index_of(attrs["sample_solvent"])
            if n is None:
                raise ValidationError({"n_sample": (
                    f"no refractive index known for solvent {attrs['sample_solvent']!r}; give "
                    f"n_sample or a solvent of the table ({', '.join(engine.REFRACTIVE_INDEX)})."
                )})
            attrs["n_sample"] = n
        if attrs.get("n_reference") is None:
            attrs["n_reference"] = attrs["standard"]["refractive_index"]
        return attrs


# ---------------------------------------------------------------- reading stored spectra


@dataclass(frozen=True)
class Curve:
    """One spectrum read from a stored raw file (x in nm) and where it came from."""

    label: str
    x: np.ndarray
    y: np.ndarray
    data_file: Any
    scan_index: int
    metadata: dict


def _file_bytes(data_file: DataFile, field: str) -> bytes:
    """The raw file's bytes, checked against its sha256 (DomainError naming ``field``)."""
    from django.core.files.storage import default_storage

    try:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DomainError(f"{field}: raw file {data_file.original_name} is missing from "
                          "storage; restore it or upload it again.", field=field) from None
    if hashlib.sha256(content).hexdigest() != data_file.sha256:
        raise DomainError(f"{field}: the stored file {data_file.original_name} no longer "
                          "matches its sha256.", field=field)
    return content


def read_curve(data_file: DataFile | None, scan: int, *, field: str, what: str,
               label: str) -> Curve:
    """Scan ``scan`` of ``data_file`` re-parsed by its parser, checked to be ``what``
    (``"emission"``: PL counts vs nm, no decay; ``"absorbance"``: UV-vis absorbance vs nm).
    DomainError naming ``field`` for a missing/unparsed file, a wrong technique or unit, or a
    scan the file does not have."""
    from characterization.parsers.registry import parse_file

    if data_file is None:
        raise DomainError(f"{field}: {label} has no raw data file (a typed-in or published "
                          "measurement carries no spectrum).", field=field)
    if data_file.parse_status != "ok":
        raise DomainError(f"{field}: {data_file.original_name} is not parsed "
                          f"({data_file.parse_status}).", field=field)
    parsed = parse_file(_file_bytes(data_file, field), filename=data_file.original_name)
    technique = "pl" if what == "emission" else "uvvis"
    if parsed.technique != technique or (
            what == "emission" and parsed.metadata.get("kind") in DECAY_KINDS):
        kind = parsed.metadata.get("kind") or parsed.technique
        raise DomainError(f"{field}: {data_file.original_name} holds {kind} data; an {what} "
                          f"spectrum ({'PL' if what == 'emission' else 'UV-vis'}) was expected.",
                          field=field)
    if not 0 <= scan < len(parsed.series):
        raise DomainError(f"{field}: {data_file.original_name} has {len(parsed.series)} "
                          f"scan(s); there is no scan {scan}.", field=field)
    series = parsed.series[scan]
    if series.x_unit.strip().lower() != "nm":
        raise DomainError(f"{field}: scan {scan} of {data_file.original_name} is against "
                          f"{series.x_unit}; a spectrum against wavelength in nm was expected.",
                          field=field)
    if what == "absorbance" and series.y_unit.strip().lower() not in ABSORBANCE_Y_UNITS:
        raise DomainError(f"{field}: scan {scan} ({series.name}) of {data_file.original_name} "
                          f"is in {series.y_unit}; an absorbance spectrum was expected.",
                          field=field)
    return Curve(label=f"{label} ({data_file.original_name}"
                       f"{'' if len(parsed.series) == 1 else ', ' + series.name})",
                 x=np.asarray(series.x, dtype=float), y=np.asarray(series.y, dtype=float),
                 data_file=data_file, scan_index=scan, metadata=parsed.metadata)


def _only(inputs: Mapping[str, Any], roles: tuple[str, str], side: str, what: str,
          typed: bool = False) -> tuple[str, Any] | None:
    """(role, row) of the one given role of a pair; 400 naming the pair when both are given,
    or none (unless ``typed``: a typed parameter stands in)."""
    given = [(r, inputs[r]) for r in roles if inputs.get(r) is not None]
    if len(given) > 1:
        raise ValidationError({f"inputs.{roles[0]}": (
            f"give the {side}'s {what} once: inputs.{roles[0]} or inputs.{roles[1]}, not both.")})
    if not given and not typed:
        raise ValidationError({f"inputs.{roles[0]}": (
            f"required: the {side}'s {what} as a stored measurement (inputs.{roles[0]}) or a "
            f"raw file (inputs.{roles[1]}).")})
    return given[0] if given else None


def _row_label(row: Any) -> str:
    sample = getattr(row, "sample", None)
    return str(sample) if sample is not None else f"file {row.pk}"


def emission_of(inputs: Mapping[str, Any], parameters: dict, side: str) -> Curve:
    """The sample's or the reference's emission spectrum."""
    pair = _only(inputs, PL_ROLES[side], side, "PL spectrum")
    assert pair is not None  # _only refuses a missing pair unless typed
    role, row = pair
    field = f"inputs.{role}"
    if role.endswith("_file"):
        return read_curve(row, parameters[f"{side}_scan"], field=field, what="emission",
                          label=f"{side} {_row_label(row)}")
    return read_curve(row.data_file, row.scan_index or 0, field=field, what="emission",
                      label=f"{side} {row.sample}")


def absorbance_of(inputs: Mapping[str, Any], parameters: dict, side: str) -> dict:
    """``{"value", "source", ...}``: the typed absorbance, or the stored spectrum's at the
    excitation wavelength (linear interpolation)."""
    typed = parameters.get(f"absorbance_{side}")
    pair = _only(inputs, ABS_ROLES[side], side, "absorbance", typed=True)
    if pair is None:
        if typed is None:
            raise ValidationError({f"parameters.absorbance_{side}": (
                f"required: the {side}'s absorbance at {parameters['excitation_nm']:g} nm, typed "
                f"here or read from inputs.{ABS_ROLES[side][0]} / inputs.{ABS_ROLES[side][1]}.")})
        return {"value": float(typed), "source": "typed"}
    role, row = pair
    if typed is not None:
        raise ValidationError({f"parameters.absorbance_{side}": (
            f"give the {side}'s absorbance once: typed or from inputs.{role}, not both.")})
    field = f"inputs.{role}"
    if role.endswith("_file"):
        curve = read_curve(row, parameters[f"{side}_absorption_scan"], field=field,
                           what="absorbance", label=f"{side} {_row_label(row)}")
    else:
        curve = read_curve(row.data_file, row.scan_index or 0, field=field, what="absorbance",
                           label=f"{side} {row.sample}")
    try:
        value = engine.absorbance_at(curve.x, curve.y, parameters["excitation_nm"], field=field,
                                     label=curve.label)
        engine.check_absorbance(value, field=field)
    except EngineError as exc:
        raise DomainError(f"{field}: {exc.message}", field=field) from exc
    return {"value": value, "source": "spectrum", "label": curve.label,
            "data_file": curve.data_file.pk, "scan_index": curve.scan_index,
            "sha256": curve.data_file.sha256}


def target_sample(inputs: Mapping[str, Any]) -> Any:
    """The sample the QY belongs to: ``inputs.sample``, else the sample PL row's sample, else
    the sample file's sample (or its one active link)."""
    if inputs.get("sample") is not None:
        return inputs["sample"]
    if inputs.get("sample_pl") is not None:
        return inputs["sample_pl"].sample
    data_file = inputs.get("sample_pl_file")
    if data_file is not None:
        if data_file.sample is not None:
            return data_file.sample
        links = [link.sample for link in data_file.links.filter(is_active=True)
                 .select_related("sample")]
        if len(links) == 1:
            return links[0]
        raise ValidationError({"inputs.sample": (
            f"{data_file.original_name} is linked to {len(links)} samples; name the sample "
            "whose QY this is (inputs.sample).")})
    return None


def _emission(curve: Curve, parameters: dict, side: str) -> engine.Emission:
    """The engine's view of an emission curve with its range and baseline."""
    range_nm = parameters[f"{side}_range_nm"]
    mode = parameters.get("baseline_mode", "none")
    baseline = 0.0
    if mode == "constant":
        baseline = float(parameters[f"baseline_{side}"])
    elif mode == "outside_range":
        baseline = engine.outside_range_baseline(curve.x, curve.y, range_nm,
                                                 field="parameters.baseline_mode",
                                                 label=curve.label)
    return engine.Emission(label=curve.label, wavelength_nm=curve.x, intensity=curve.y,
                           range_nm=(float(range_nm[0]), float(range_nm[1])), baseline=baseline)


def _excitation_warnings(parameters: dict, curves: Mapping[str, Curve]) -> list[str]:
    """The excitation outside the standard's range, or unlike what a file states."""
    out = []
    exc = parameters["excitation_nm"]
    lo, hi = parameters["standard"]["excitation_range_nm"]
    if not lo <= exc <= hi:
        out.append(f"excitation {exc:g} nm is outside the range {lo:g}–{hi:g} nm the "
                   f"standard's QY applies to ({parameters['standard']['name']})")
    for side, curve in curves.items():
        stated = curve.metadata.get("fixed_wavelength_nm")
        if isinstance(stated, int | float) and stated > 0 and abs(stated - exc) > 1.0:
            out.append(f"the {side} file states excitation at {stated:g} nm, not {exc:g} nm")
    return out


# ---------------------------------------------------------------- the kind


class RelativeQYKind(AnalysisKind):
    name = KIND_NAME
    label = "Relative PL quantum yield"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("sample_pl", "pl", required=False, help="The sample's PL measurement."),
        InputRole("sample_pl_file", "file", required=False,
                  help="…or its emission file (scan parameters.sample_scan)."),
        InputRole("reference_pl", "pl", required=False, help="The reference dye's PL."),
        InputRole("reference_pl_file", "file", required=False,
                  help="…or its emission file (scan parameters.reference_scan)."),
        InputRole("sample_absorption", "absorption", required=False,
                  help="The sample's absorption spectrum (or parameters.absorbance_sample)."),
        InputRole("sample_absorption_file", "file", required=False),
        InputRole("reference_absorption", "absorption", required=False,
                  help="The reference's absorption (or parameters.absorbance_reference)."),
        InputRole("reference_absorption_file", "file", required=False),
        InputRole("sample", "sample", required=False,
                  help="Whose QY (default: the sample PL's sample)."),
    )
    parameters = RelativeQYParameters
    form_template = "analysis/kinds/relative_qy_form.html"
    result_template = "analysis/kinds/relative_qy_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        if target_sample(inputs) is None:
            raise ValidationError({"inputs.sample": "no sample to store the QY on."})
        try:
            self.compute(self.load_rows(inputs, parameters), parameters, lambda p, m: None)
        except LabdbError as exc:
            raise ValidationError({exc.field or "inputs": exc.message}) from exc

    def load_rows(self, inputs: Mapping[str, Any], parameters: dict) -> dict:
        """Both emission curves and both absorbances, from the resolved rows."""
        curves = {side: emission_of(inputs, parameters, side) for side in PL_ROLES}
        return {"curves": curves,
                "absorbances": {side: absorbance_of(inputs, parameters, side)
                                for side in ABS_ROLES},
                "warnings": _excitation_warnings(parameters, curves)}

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        return self.load_rows(inputs, run.parameters)

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        standard = parameters["standard"]
        curves, absorbances = loaded["curves"], loaded["absorbances"]
        progress(20, "integrating both emission spectra")
        numbers = engine.QYInputs(
            absorbance_sample=absorbances["sample"]["value"],
            absorbance_reference=absorbances["reference"]["value"],
            absorbance_err=parameters["absorbance_err"], reference_qy=standard["qy"],
            reference_qy_err=standard["qy_err"], n_sample=parameters["n_sample"],
            n_reference=parameters["n_reference"],
            absorbance_model=parameters["absorbance_model"])
        result = engine.relative_qy(_emission(curves["sample"], parameters, "sample"),
                                    _emission(curves["reference"], parameters, "reference"),
                                    numbers)
        if result["qy_pct"] is None or result["qy_pct"] > 100:
            raise EngineError(
                f"QY {result['qy_pct']:.1f} % is above 100 %: check the absorbances, the "
                "integration ranges, and that both spectra were measured with one detector "
                "correction and slit setting", field="parameters.sample_range_nm")
        result["warnings"] = [*loaded["warnings"], *result["warnings"]]
        result["absorbances"] = absorbances
        result["standard"] = standard
        result["excitation_nm"] = parameters["excitation_nm"]
        result["sample_solvent"] = parameters["sample_solvent"]
        progress(90, f"QY {result['qy_pct']:.2f} ± {result['qy_pct_err']:.2f} %")
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from characterization.models import PLMeasurement
        from labdb.lib.records import save_validated

        sample = target_sample(inputs)
        curve_file, scan = _sample_file(inputs, run.parameters)
        standard = result["standard"]
        row = PLMeasurement(
            sample=sample, data_file=curve_file, scan_index=scan,
            source=DataSource.COMPUTED, owner=run.owner,
            citation=f"analysis run {run.pk} ({run.kind})"[:200],
            qy_pct=result["qy_pct"], qy_pct_err=result["qy_pct_err"], qy_method="relative",
            reference_dye=standard["name"][:100], excitation_nm=result["excitation_nm"],
            solvent=result["sample_solvent"][:100],
            extra={"analysis_run": run.pk, "kind": run.kind, "standard": standard,
                   "absorbance_sample": result["absorbances"]["sample"],
                   "absorbance_reference": result["absorbances"]["reference"],
                   "absorbance_model": result["absorbance_model"],
                   "integral_sample": result["sample"]["integral"],
                   "integral_reference": result["reference"]["integral"],
                   "sample_range_nm": result["sample"]["range_nm"],
                   "reference_range_nm": result["reference"]["range_nm"],
                   "n_sample": result["sample"]["n"], "n_reference": result["reference"]["n"],
                   "warnings": result["warnings"], "engine": result["engine"]},
        )
        save_validated(row)
        return [row]

    def rerun_parameters(self, run: AnalysisRun) -> dict:
        """The stored parameters, the standard re-read by id (a curator's correction applies)
        and its refractive index re-taken unless it was given as an override."""
        params = dict(run.parameters)
        used = params.get("standard") or {}
        if params.get("n_reference") == used.get("refractive_index"):
            params["n_reference"] = None
        return params

    def staleness(self, run: AnalysisRun) -> str | None:
        """A run whose standard was since corrected or retired by a curator is stale (the
        inputs' fingerprints are checked by the generic rule when the standard is current)."""
        from analysis.models_qy import QYStandard

        used = (run.parameters or {}).get("standard") or {}
        row = QYStandard.objects.filter(pk=int(used.get("id") or 0)).first()
        if row is None or row.is_retired:
            return f"the QY standard {used.get('name')!r} was retired or removed"
        if row.version != used.get("version"):
            return (f"the QY standard {row.name!r} changed since the run (version "
                    f"{used.get('version')} → {row.version}: QY {row.qy:g})")
        return None

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if out.get("qy_pct") is None:
            return ""
        flag = " (inner filter)" if any("inner-filter" in w for w in out.get("warnings", [])) \
            else ""
        return (f"QY {out['qy_pct']:.1f} ± {out['qy_pct_err'] or 0:.1f} % vs "
                f"{out['standard']['name']}{flag}")


def _sample_file(inputs: Mapping[str, Any], parameters: dict) -> tuple[Any, int | None]:
    """(the sample emission's raw file, its scan index or None for a one-scan file)."""
    if inputs.get("sample_pl") is not None:
        row = inputs["sample_pl"]
        return row.data_file, row.scan_index
    data_file = inputs["sample_pl_file"]
    scans = (data_file.metadata or {}).get("scans") or []
    return data_file, (parameters["sample_scan"] if len(scans) > 1 else None)


KIND = register(RelativeQYKind())
