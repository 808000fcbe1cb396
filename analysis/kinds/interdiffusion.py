"""Kinds ``interdiffusion`` and ``interdiffusion_arrhenius``: cation-exchange kinetics.

``interdiffusion``: stored composition measurements (ICP-OES, EDS, XPS …; ``inputs.compositions``,
≥ 3 reaction times) of the aliquot samples of a synthesis run, the guest fraction x (e.g.
Hg/(Hg+Cd)) read from each record's ``ratios``, fitted with Fickian diffusion into a sphere of
the measured radius (engine :mod:`analysis.engines.interdiffusion`, Crank eq. 6.20) → D in
cm² s⁻¹ with its error. Neither samples nor synthesis runs record when an aliquot was taken,
so the reaction times are the parameter ``times_min``, aligned with ``inputs.compositions``
(the start page fills them from a record's ``extra.reaction_time_min`` when there is one). The
radius is ``parameters.radius_nm`` or half the diameter of a stored TEM size measurement
(``inputs.size``). Result mapping: a computed ``ReportedQuantity`` "interdiffusion coefficient"
(cm² s⁻¹) — and "interdiffusion plateau fraction" when x_∞ is fitted — on ``inputs.sample``
or, by default, on the aliquots' common parent (lineage, process "aliquot"), else the latest
aliquot's sample.

``interdiffusion_arrhenius``: succeeded ``interdiffusion`` runs (``inputs.runs``) at ≥ 2–3
temperatures (their ``temperature_c``) → ln D = ln D0 − Ea/(kB T): "activation energy" (eV)
and "diffusion prefactor" (cm² s⁻¹) on ``inputs.sample`` or the runs' common sample (or
their common parent), with the runs listed in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import interdiffusion as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from labdb.lib.errors import EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun

KIND_NAME = "interdiffusion"
ARRHENIUS_KIND_NAME = "interdiffusion_arrhenius"
D_UNIT = "cm² s⁻¹"
# Techniques that measure a composition; "nominal" is what was intended, not measured.
NOT_MEASURED = {"nominal", ""}


def _rows(inputs: Mapping[str, Any], role: str) -> list:
    value = inputs.get(role)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _record(run: AnalysisRun, sample: Any, *, quantity: str, value: float | None,
            err: float | None, unit: str, **extra: Any) -> Any:
    from analysis.services.runs import record_run_quantity

    return record_run_quantity(run, sample=sample, quantity=quantity, value=value, err=err,
                               unit=unit, **extra)


def _common_parent(samples: list) -> Any:
    """The one sample every sample in ``samples`` is an aliquot of (or is), else None."""
    from synthesis.models import SampleParent

    ids = {s.pk for s in samples}
    links = SampleParent.objects.filter(child_id__in=ids, process="aliquot").select_related(
        "parent")
    parents: dict[int, set[int]] = {}
    by_id = {s.pk: s for s in samples}
    for link in links:
        parents.setdefault(link.child_id, set()).add(link.parent_id)
        by_id[link.parent_id] = link.parent
    candidates: set[int] | None = None
    for sid in ids:
        mine = parents.get(sid, set()) | {sid}
        candidates = mine if candidates is None else candidates & mine
    if candidates and len(candidates) == 1:
        return by_id[next(iter(candidates))]
    return None


# ---------------------------------------------------------------- interdiffusion


class InterdiffusionParameters(serializers.Serializer):
    times_min = serializers.ListField(
        child=serializers.FloatField(min_value=0.0), min_length=1,
        help_text="Reaction time of each composition (min from the start of the exchange), in "
        "the order of inputs.compositions.")
    element = serializers.CharField(default="Hg", max_length=3,
                                    help_text="The guest cation whose fraction is fitted.")
    host = serializers.CharField(default="Cd", max_length=3, help_text="The host cation.")
    fraction_key = serializers.CharField(
        default="", allow_blank=True, max_length=60,
        help_text="Key of the ratios to read (a fraction, or % when it ends in _pct); blank: "
        "El/(El+Ho), El_at_pct with Ho_at_pct, or El/Ho.")
    radius_nm = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0,
        help_text="Nanocrystal radius a (nm); or give inputs.size (a TEM size measurement).")
    x0_frac = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0,
                                     help_text="Guest fraction at t = 0 (0 for CdSe).")
    x_inf_frac = serializers.FloatField(default=1.0, min_value=0.0, max_value=1.0,
                                        help_text="Plateau fraction x∞ (start value if fitted).")
    vary_x0 = serializers.BooleanField(default=False)
    vary_x_inf = serializers.BooleanField(default=False, help_text="Fit the plateau x∞.")
    temperature_c = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=-273.15,
        help_text="Reaction temperature (°C); needed for an Arrhenius plot.")

    def validate_radius_nm(self, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValidationError("expected a positive radius in nm.")
        return value


def _radius(parameters: dict, inputs: Mapping[str, Any]) -> tuple[float, dict]:
    """(radius in nm, where it came from); ValidationError naming the field otherwise."""
    size = inputs.get("size")
    given = parameters.get("radius_nm")
    if size is not None and given is not None:
        raise ValidationError({"parameters.radius_nm": (
            "give either parameters.radius_nm or inputs.size (a TEM size measurement), not "
            "both.")})
    if size is not None:
        if not size.diameter_nm or size.diameter_nm <= 0:
            raise ValidationError({"inputs.size": (
                f"TEM size measurement {size.pk} of {size.sample} has no diameter_nm; a "
                "sphere's radius needs a diameter (or give parameters.radius_nm).")})
        return size.diameter_nm / 2.0, {"tem_size": size.pk, "diameter_nm": size.diameter_nm,
                                        "diameter_sd_nm": size.diameter_sd_nm}
    if given is None:
        raise ValidationError({"parameters.radius_nm": (
            "required: the nanocrystal radius in nm, or a TEM size measurement as inputs.size.")})
    return float(given), {"parameter": "radius_nm"}


def _points(parameters: dict, inputs: Mapping[str, Any]) -> list[engine.CompositionPoint]:
    rows = _rows(inputs, "compositions")
    times = parameters["times_min"]
    if len(times) != len(rows):
        raise ValidationError({"parameters.times_min": (
            f"give one reaction time per composition: {len(rows)} compositions, "
            f"{len(times)} times.")})
    if len(rows) < engine.MIN_POINTS:
        raise ValidationError({"inputs.compositions": (
            f"a diffusion coefficient needs compositions at ≥ {engine.MIN_POINTS} reaction "
            f"times (aliquots); got {len(rows)}.")})
    points = []
    for row, time_min in zip(rows, times, strict=True):
        where = f"composition {row.pk} of {row.sample}"
        if (row.method or "") in NOT_MEASURED:
            raise ValidationError({"inputs.compositions": (
                f"{where} is {'a nominal' if row.method else 'an unspecified'} composition; "
                "expected a measured one (ICP-OES, EDS, XPS …).")})
        try:
            x, err, key = engine.fraction_from_ratios(
                row.ratios or {}, element=parameters["element"], host=parameters["host"],
                key=parameters.get("fraction_key") or "")
        except EngineError as exc:
            raise ValidationError({"inputs.compositions": f"{where} {exc.message}"}) from exc
        points.append(engine.CompositionPoint(
            time_s=float(time_min) * 60.0, x_frac=x, x_err_frac=err,
            label=f"{row.sample} ({row.method})", key=f"c{row.pk}"))
    return points


def _options(parameters: dict, radius_nm: float) -> engine.DiffusionOptions:
    return engine.DiffusionOptions(
        radius_nm=radius_nm, x0_frac=parameters["x0_frac"], x_inf_frac=parameters["x_inf_frac"],
        vary_x0=parameters["vary_x0"], vary_x_inf=parameters["vary_x_inf"])


def _engine_field(exc: EngineError) -> str:
    if exc.field == "compositions":
        return "inputs.compositions"
    return f"parameters.{exc.field}" if exc.field else "parameters"


class InterdiffusionKind(AnalysisKind):
    name = KIND_NAME
    label = "Interdiffusion kinetics (Fickian sphere)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("compositions", "composition", many=True, min=1,
                  help="Measured compositions of the aliquots (≥ 3 reaction times)."),
        InputRole("size", "tem_size", required=False,
                  help="TEM size measurement giving the diameter (else parameters.radius_nm)."),
        InputRole("sample", "sample", required=False,
                  help="Sample the coefficient is stored on (default: the aliquots' parent)."),
    )
    parameters = InterdiffusionParameters
    form_template = "analysis/kinds/interdiffusion_form.html"
    result_template = "analysis/kinds/interdiffusion_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        points = _points(parameters, inputs)
        radius_nm, _ = _radius(parameters, inputs)
        try:
            engine._check_points(points, _options(parameters, radius_nm))
        except EngineError as exc:
            raise ValidationError({_engine_field(exc): exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        radius_nm, radius_from = _radius(run.parameters, inputs)
        rows = _rows(inputs, "compositions")
        target = inputs.get("sample") or _common_parent([r.sample for r in rows])
        if target is None:
            latest = max(zip(run.parameters["times_min"], rows, strict=True),
                         key=lambda pair: pair[0])
            target = latest[1].sample
        return {"points": _points(run.parameters, inputs), "radius_nm": radius_nm,
                "radius_from": radius_from,
                "sample": {"id": target.pk, "code": target.code},
                "compositions": [r.pk for r in rows]}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        progress(10, f"fitting D to {len(loaded['points'])} compositions")
        try:
            result = engine.fit_interdiffusion(loaded["points"],
                                               _options(parameters, loaded["radius_nm"]))
        except EngineError as exc:
            raise EngineError(f"{_engine_field(exc)}: {exc.message}",
                              field=_engine_field(exc)) from exc
        t_c = parameters.get("temperature_c")
        result.update({"radius_from": loaded["radius_from"], "sample": loaded["sample"],
                       "compositions": loaded["compositions"], "temperature_c": t_c,
                       "temperature_k": None if t_c is None else t_c + 273.15,
                       "element": parameters["element"], "host": parameters["host"]})
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from synthesis.models import Sample

        sample = Sample.objects.get(pk=result["sample"]["id"])
        common = {"model": result["model"], "radius_nm": result["radius_nm"],
                  "radius_from": result["radius_from"], "temperature_c": result["temperature_c"],
                  "x0_frac": result["x0_frac"], "x_inf_frac": result["x_inf_frac"],
                  "compositions": result["compositions"], "weighted": result["weighted"],
                  "reduced_chi_square": result["reduced_chi_square"],
                  "d_m2_s": result["d_m2_s"], "element": result["element"],
                  "host": result["host"], "engine": result["engine"]}
        rows = [_record(run, sample, quantity="interdiffusion coefficient",
                        value=result["d_cm2_s"], err=result["d_err_cm2_s"], unit=D_UNIT,
                        **common)]
        if result["vary_x_inf"]:
            rows.append(_record(run, sample, quantity="interdiffusion plateau fraction",
                                value=result["x_inf_frac"], err=result["x_inf_err_frac"],
                                unit="fraction", **common))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if out.get("d_cm2_s") is None:
            return ""
        err = out.get("d_err_cm2_s")
        at = f" at {out['temperature_c']:g} °C" if out.get("temperature_c") is not None else ""
        return (f"D = {out['d_cm2_s']:.3g}" + (f" ± {err:.2g}" if err else "")
                + f" cm² s⁻¹{at} ({out['n_points']} aliquots, a = {out['radius_nm']:g} nm)")


# ---------------------------------------------------------------- Arrhenius


class ArrheniusParameters(serializers.Serializer):
    weighted = serializers.BooleanField(
        default=True, help_text="Weight ln D by 1/σ(ln D)² when every run has an error of D.")


def _diffusion_of(run: Any) -> engine.DiffusionAtTemperature:
    where = f"analysis run {run.pk}"
    if run.kind != KIND_NAME:
        raise ValidationError({"inputs.runs": (
            f"{where} is a {run.kind} run; expected interdiffusion runs.")})
    out = run.output or {}
    if run.status != "succeeded" or out.get("d_cm2_s") is None:
        raise ValidationError({"inputs.runs": (
            f"{where} has not succeeded (status {run.status}); it gives no D.")})
    if out.get("temperature_k") is None:
        raise ValidationError({"inputs.runs": (
            f"{where} has no reaction temperature (parameters.temperature_c); rerun it with "
            "one.")})
    return engine.DiffusionAtTemperature(
        temperature_k=float(out["temperature_k"]), d_cm2_s=float(out["d_cm2_s"]),
        d_err_cm2_s=out.get("d_err_cm2_s"),
        label=f"run {run.pk}: {out['sample']['code']} {out['temperature_c']:g} °C")


class ArrheniusKind(AnalysisKind):
    name = ARRHENIUS_KIND_NAME
    label = "Interdiffusion Arrhenius (Ea, D0)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("runs", "run", many=True, min=2,
                  help="Succeeded interdiffusion runs at different temperatures."),
        InputRole("sample", "sample", required=False,
                  help="Sample Ea and D0 are stored on (default: the runs' common sample)."),
    )
    parameters = ArrheniusParameters
    form_template = "analysis/kinds/interdiffusion_arrhenius_form.html"
    result_template = "analysis/kinds/interdiffusion_arrhenius_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        values = [_diffusion_of(r) for r in _rows(inputs, "runs")]
        try:
            engine.fit_arrhenius(values, weighted=parameters["weighted"])
        except EngineError as exc:
            raise ValidationError({f"inputs.{exc.field or 'runs'}": exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        from synthesis.models import Sample

        runs = _rows(inputs, "runs")
        target = inputs.get("sample")
        if target is None:
            samples = list(Sample.objects.filter(
                pk__in={r.output["sample"]["id"] for r in runs}))
            target = samples[0] if len(samples) == 1 else _common_parent(samples)
        return {"values": [_diffusion_of(r) for r in runs], "runs": [r.pk for r in runs],
                "sample": None if target is None else {"id": target.pk, "code": target.code}}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        try:
            result = engine.fit_arrhenius(loaded["values"], weighted=parameters["weighted"])
        except EngineError as exc:
            raise EngineError(f"inputs.runs: {exc.message}", field="inputs.runs") from exc
        result.update({"runs": loaded["runs"], "sample": loaded["sample"]})
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from synthesis.models import Sample

        sample = (Sample.objects.get(pk=result["sample"]["id"]) if result["sample"] else None)
        common = {"runs": result["runs"], "weighted": result["weighted"],
                  "reduced_chi_square": result["reduced_chi_square"],
                  "temperatures_c": [p["temperature_c"] for p in result["points"]],
                  "model": result["model"], "engine": result["engine"]}
        return [
            _record(run, sample, quantity="activation energy",
                    value=result["activation_energy_ev"],
                    err=result["activation_energy_err_ev"], unit="eV", **common),
            _record(run, sample, quantity="diffusion prefactor", value=result["d0_cm2_s"],
                    err=result["d0_err_cm2_s"], unit=D_UNIT, **common),
        ]

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if out.get("activation_energy_ev") is None:
            return ""
        return (f"Ea = {out['activation_energy_ev']:.3g} ± "
                f"{out['activation_energy_err_ev']:.2g} eV, D0 = {out['d0_cm2_s']:.3g} cm² s⁻¹ "
                f"({out['n_points']} temperatures)")


KIND = register(InterdiffusionKind())
ARRHENIUS_KIND = register(ArrheniusKind())
