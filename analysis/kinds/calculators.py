"""Kinds ``bond_angle``, ``coordination_ratio`` and ``stoichiometry_candidates``: derived
structure with uncertainty, as runs over stored fits (and printed quantities).

Every number a calculator reads is a *shell*: a path of a stored ``XASFit`` named as the fit
names it (``{"fit": 12, "path": "Cd-S"}``; ``"Cd-S#2"`` is the fit's second Cd–S path) or a
stored ``ReportedQuantity`` (``{"quantity": 7, "pair": "Cd-S"}``, e.g. seed 002's printed
distances, which the demo keeps as quantities because the paper attaches them to no table).
The fits and quantities a shell names must also be given as the run's inputs (``inputs.fits``,
``inputs.quantities``) so the run records their versions. A distance shell reads R ± σ(R)
(Å), a coordination shell N ± σ(N), or N·S0² when the fit reports only that (seed 002's
Table 1), and says which.

Engine: :mod:`analysis.engines.derived_structure` (error propagation by the uncertainties
package, or Monte Carlo when asked: stated in every result). Result mapping: computed
``ReportedQuantity`` rows on the shells' sample, each tagged ``extra.frame_column`` so the
structure–property frame shows it as ``computed_<frame_column>`` (angle in degrees, ratio
dimensionless, stoichiometry candidates as text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import derived_structure as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from characterization.enums import DataSource
from labdb.lib.errors import EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun

_DISTANCE_UNITS = {"angstrom", "å", "a", "ang"}
_DIMENSIONLESS = {"", "dimensionless", "1"}
_PAIR = re.compile(r"^\s*([A-Z][a-z]?)\s*[-–]\s*([A-Z][a-z]?)\s*(?:#(\d+))?\s*$")


# ---------------------------------------------------------------- shells


class ShellSerializer(serializers.Serializer):
    """One shell: ``fit`` + ``path`` (a path of a stored fit) or ``quantity`` (+ ``pair``)."""

    fit = serializers.IntegerField(required=False, min_value=1)
    path = serializers.CharField(required=False, max_length=40, help_text=(
        "absorber-scatterer as the fit names it, e.g. 'Cd-S'; 'Cd-S#2' = the second Cd–S path"))
    quantity = serializers.IntegerField(required=False, min_value=1)
    pair = serializers.CharField(required=False, max_length=40, help_text=(
        "for a quantity: which pair it is, e.g. 'Cd-S' (names the result)"))

    def validate(self, attrs: dict) -> dict:
        by_fit = "fit" in attrs or "path" in attrs
        if by_fit == ("quantity" in attrs):
            raise ValidationError("give either fit and path, or quantity.")
        if by_fit and not ("fit" in attrs and "path" in attrs):
            raise ValidationError({"path" if "fit" in attrs else "fit":
                                   "a fit shell needs both fit (id) and path (e.g. 'Cd-S')."})
        for key in ("path", "pair"):
            if key in attrs and not _PAIR.match(attrs[key]):
                raise ValidationError({key: f"expected 'A-B' (e.g. 'Cd-S'), got {attrs[key]!r}."})
        return attrs


METHOD_CHOICES = (("linear", "first-order propagation (uncertainties package)"),
                  ("monte_carlo", "Monte Carlo: normal samples of every input"))


class _ErrorOptions(serializers.Serializer):
    method = serializers.ChoiceField(choices=METHOD_CHOICES, default="linear")
    n_samples = serializers.IntegerField(default=100_000, min_value=100, max_value=2_000_000)
    seed = serializers.IntegerField(default=0, min_value=0)


@dataclass
class Shell:
    """A resolved shell: the number, its 1σ error, what it is and where it came from."""

    value: float
    err: float | None
    sample: Any
    absorber: str | None
    scatterer: str | None
    source: dict = field(default_factory=dict)

    @property
    def pair(self) -> str:
        return f"{self.absorber}–{self.scatterer}" if self.absorber else ""

    def as_json(self) -> dict:
        return {"value": self.value, "err": self.err, "pair": self.pair or None,
                "sample": str(self.sample) if self.sample else None, **self.source}


def _rows(inputs: Mapping[str, Any], role: str) -> list:
    value = inputs.get(role)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _split(text: str) -> tuple[str, str, int]:
    match = _PAIR.match(text)
    assert match is not None  # validated by ShellSerializer
    return match.group(1), match.group(2), int(match.group(3) or 1)


def _fit_path(fit: Any, path: str, where: str) -> Any:
    absorber, scatterer, nth = _split(path)
    paths = list(fit.paths.all())
    same = [p for p in paths if (p.absorber.lower(), p.scatterer.lower())
            == (absorber.lower(), scatterer.lower())]
    if len(same) < nth:
        have = ", ".join(f"{p.absorber}-{p.scatterer}" for p in paths) or "no paths"
        raise ValidationError({f"{where}.path": (
            f"fit {fit.pk} ({fit}) has no {'' if nth == 1 else f'#{nth} '}{absorber}-{scatterer} "
            f"path; its paths are: {have}.")})
    return same[nth - 1]


def _from_fit(ref: dict, inputs: Mapping[str, Any], where: str, need: str) -> Shell:
    fits = {f.pk: f for f in _rows(inputs, "fits")}
    fit = fits.get(ref["fit"])
    if fit is None:
        raise ValidationError({f"{where}.fit": (
            f"fit {ref['fit']} is not among inputs.fits; give it there too so the run "
            "records which fit it read.")})
    path = _fit_path(fit, ref["path"], where)
    if need == "r":
        value, err, used = path.r_a, path.r_err_a, "r_a"
    elif path.n is not None:
        value, err, used = path.n, path.n_err, "n"
    else:
        value, err, used = path.n_s02, path.n_s02_err, "n_s02"
    if value is None:
        what = "distance R" if need == "r" else "coordination number (N or N·S0²)"
        raise ValidationError({f"{where}.path": (
            f"the {path.absorber}-{path.scatterer} path of fit {fit.pk} ({fit}) has no "
            f"{what}; choose a fit that reports it.")})
    return Shell(float(value), None if err is None else float(err), fit.sample,
                 path.absorber, path.scatterer,
                 {"fit": fit.pk, "path": ref["path"], "path_position": path.position,
                  "field": used, "fit_source": fit.source})


def _from_quantity(ref: dict, inputs: Mapping[str, Any], where: str, need: str) -> Shell:
    rows = {q.pk: q for q in _rows(inputs, "quantities")}
    row = rows.get(ref["quantity"])
    if row is None:
        raise ValidationError({f"{where}.quantity": (
            f"quantity {ref['quantity']} is not among inputs.quantities; give it there too.")})
    units = _DISTANCE_UNITS if need == "r" else _DIMENSIONLESS
    if row.value is None or (row.unit or "").strip().lower() not in units:
        expected = "a distance in Å" if need == "r" else "a dimensionless coordination number"
        raise ValidationError({f"{where}.quantity": (
            f"quantity {row.pk} ({row.quantity}: {row.value} {row.unit}) is not {expected}.")})
    absorber, scatterer = (_split(ref["pair"])[:2] if ref.get("pair") else (None, None))
    return Shell(float(row.value), row.err, row.sample, absorber, scatterer,
                 {"quantity": row.pk, "quantity_name": row.quantity,
                  "quantity_source": row.source})


def resolve_shell(ref: dict, inputs: Mapping[str, Any], where: str, need: str) -> Shell:
    """The shell ``ref`` (validated ShellSerializer data) read from the resolved inputs;
    ``need`` is ``"r"`` (distance, Å) or ``"n"`` (coordination). ValidationError keyed
    ``<where>.fit|path|quantity`` when it names something missing or unusable."""
    if "fit" in ref:
        return _from_fit(ref, inputs, where, need)
    return _from_quantity(ref, inputs, where, need)


def _same_sample(shells: Mapping[str, Shell]) -> Any:
    names = list(shells)
    first = shells[names[0]].sample
    for name in names[1:]:
        if shells[name].sample is not None and first is not None and \
                shells[name].sample.pk != first.pk:
            raise ValidationError({f"parameters.{name}": (
                f"from sample {shells[name].sample}, but {names[0]} is from {first}; a derived "
                "number needs its shells from one sample.")})
    return first


def _engine_call(func: Any, *args: Any, **kwargs: Any) -> dict:
    """The engine's result; its EngineError field is prefixed ``parameters.``."""
    try:
        return func(*args, **kwargs)
    except EngineError as exc:
        raise EngineError(exc.message, field=f"parameters.{exc.field}" if exc.field else None,
                          detail=exc.detail) from exc


def record(run: AnalysisRun, sample: Any, *, quantity: str, value: float | None,
           err: float | None, unit: str, text_value: str = "", **extra: Any) -> Any:
    """One computed ReportedQuantity of ``run`` (``analysis.services.runs.record_run_quantity``
    for numbers; the same fields plus ``text_value`` for text)."""
    from analysis.services.runs import record_run_quantity
    from characterization.models import ReportedQuantity
    from labdb.lib.records import save_validated

    if not text_value:
        return record_run_quantity(run, sample=sample, quantity=quantity[:200], value=value,
                                   err=err, unit=unit, **extra)
    row = ReportedQuantity(
        sample=sample, quantity=quantity[:200], value=value, err=err, unit=unit,
        text_value=text_value[:200], source=DataSource.COMPUTED, owner=run.owner,
        citation=f"analysis run {run.pk} ({run.kind})",
        extra={"analysis_run": run.pk, "kind": run.kind, **extra})
    save_validated(row)
    return row


class _CalculatorKind(AnalysisKind):
    """What the three calculators share: inputs, shell resolution, the load step."""

    inputs = (
        InputRole("fits", "fit", many=True, required=False,
                  help="Stored XAS fits whose paths the shells name."),
        InputRole("quantities", "quantity", many=True, required=False,
                  help="Stored quantities (printed distances, N, a mass) the shells name."),
    )
    shells: ClassVar[dict[str, str]] = {}  # parameter name -> "r" | "n"

    def resolved(self, parameters: dict, inputs: Mapping[str, Any]) -> dict[str, Shell]:
        shells = {name: resolve_shell(parameters[name], inputs, f"parameters.{name}", need)
                  for name, need in self.shells.items()}
        _same_sample(shells)
        return shells

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        if not _rows(inputs, "fits") and not _rows(inputs, "quantities"):
            raise ValidationError({"inputs.fits": "give the fits (or quantities) to read."})
        self.resolved(parameters, inputs)

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        shells = self.resolved(run.parameters, inputs)
        return {name: shell.as_json() for name, shell in shells.items()}

    def sample_of(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> Any:
        return _same_sample(self.resolved(run.parameters, inputs))


# ---------------------------------------------------------------- bond angle


class BondAngleParameters(_ErrorOptions):
    shell1 = ShellSerializer(help_text="A–B distance (first shell), e.g. Cd–S.")
    shell2 = ShellSerializer(help_text="A–A distance (second shell), e.g. Cd–Cd.")

    def validate(self, attrs: dict) -> dict:
        atoms = []
        for name in ("shell1", "shell2"):
            pair = attrs[name].get("path") or attrs[name].get("pair")
            atoms.append(_split(pair)[:2] if pair else None)
        a1, a2 = atoms
        if a1 and a2 and not (a2[0] == a2[1] == a1[0] and a1[0] != a1[1]):
            raise ValidationError({"shell2": (
                f"an A–B–A angle needs the A–B distance as shell1 and the A–A distance as "
                f"shell2 (e.g. Cd-S and Cd-Cd); got {'-'.join(a1)} and {'-'.join(a2)}.")})
        return attrs


def _angle_names(shell1: Shell) -> tuple[str, str]:
    if not shell1.absorber:
        return "bond angle (from two shell distances)", "bond_angle_deg"
    a, b = shell1.absorber, shell1.scatterer
    return (f"{a}–{b}–{a} bond angle (from R({a}–{b}) and R({a}–{a}))",
            f"{a.lower()}_{(b or '').lower()}_{a.lower()}_angle_deg")


class BondAngleKind(_CalculatorKind):
    name = "bond_angle"
    label = "Bond angle from two shell distances"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    parameters = BondAngleParameters
    shells = {"shell1": "r", "shell2": "r"}
    form_template = "analysis/kinds/calc_form.html"
    result_template = "analysis/kinds/calc_bond_angle.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        super().check(parameters, inputs)
        shells = self.resolved(parameters, inputs)
        r1, r2 = shells["shell1"].value, shells["shell2"].value
        if r2 >= 2 * r1:
            raise ValidationError({"parameters.shell2": (
                f"an A–A distance of {r2:g} Å needs an A–B distance above {r2 / 2:g} Å; "
                f"shell1 is {r1:g} Å (no A–B–A triangle).")})

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        s1, s2 = loaded["shell1"], loaded["shell2"]
        out = _engine_call(engine.bond_angle, s1["value"], s1["err"], s2["value"], s2["err"],
                           method=parameters["method"], n_samples=parameters["n_samples"],
                           seed=parameters["seed"])
        return {**out, "shells": loaded}

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        shells = self.resolved(run.parameters, inputs)
        quantity, column = _angle_names(shells["shell1"])
        return [record(run, _same_sample(shells), quantity=quantity, value=result["angle_deg"],
                       err=result["angle_err_deg"], unit="deg", frame_column=column,
                       error_propagation=result["error_propagation"],
                       shells=result["shells"], formula=result["formula"])]

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if "angle_deg" not in out:
            return ""
        return f"{out['angle_deg']:.1f} ± {out['angle_err_deg']:.1f}°"


# ---------------------------------------------------------------- coordination ratio


class CoordinationRatioParameters(_ErrorOptions):
    numerator = ShellSerializer(help_text="N of this shell on top, e.g. Cd–S.")
    denominator = ShellSerializer(help_text="N of this shell below, e.g. Cd–Se.")


class CoordinationRatioKind(_CalculatorKind):
    name = "coordination_ratio"
    label = "Coordination ratio N1/N2"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    parameters = CoordinationRatioParameters
    shells = {"numerator": "n", "denominator": "n"}
    form_template = "analysis/kinds/calc_form.html"
    result_template = "analysis/kinds/calc_ratio.html"

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        a, b = loaded["numerator"], loaded["denominator"]
        out = _engine_call(engine.coordination_ratio, a["value"], a["err"], b["value"],
                           b["err"], method=parameters["method"],
                           n_samples=parameters["n_samples"], seed=parameters["seed"])
        return {**out, "shells": loaded}

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        shells = self.resolved(run.parameters, inputs)
        top, bottom = shells["numerator"], shells["denominator"]
        if top.absorber and bottom.absorber:
            quantity = f"N({top.pair})/N({bottom.pair})"
            column = (f"{top.absorber}_{top.scatterer}_{bottom.absorber}_{bottom.scatterer}"
                      "_n_ratio").lower()
        else:
            quantity, column = "coordination ratio N1/N2", "n_ratio"
        return [record(run, _same_sample(shells), quantity=quantity, value=result["ratio"],
                       err=result["ratio_err"], unit="dimensionless", frame_column=column,
                       error_propagation=result["error_propagation"], shells=result["shells"])]

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        return f"{out['ratio']:.3f} ± {out['ratio_err']:.3f}" if "ratio" in out else ""


# ---------------------------------------------------------------- stoichiometry


class StoichiometryParameters(serializers.Serializer):
    coordination = ShellSerializer(help_text="The cation–anion N, e.g. Cd–S of the cluster.")
    mass_da = serializers.FloatField(required=False, min_value=1.0,
                                     help_text="Mass-spectrometry mass (Da).")
    mass = ShellSerializer(required=False, help_text="…or a stored mass quantity (Da).")
    mass_tolerance_da = serializers.FloatField(default=10.0, min_value=0.0, max_value=500.0)
    formulas = serializers.ListField(child=serializers.CharField(max_length=40),
                                     required=False, max_length=200,
                                     help_text="Formula list (e.g. MS assignments) instead of "
                                     "enumerating every Cd_xS_y in the mass window.")
    anion_coordination = serializers.IntegerField(default=4, min_value=1, max_value=8)
    n_sigma = serializers.FloatField(default=2.0, min_value=0.1, max_value=10.0)

    def validate(self, attrs: dict) -> dict:
        if not ({"mass_da", "mass", "formulas"} & set(attrs)):
            raise ValidationError({"mass_da": "give mass_da, a mass quantity or formulas."})
        if "mass_da" in attrs and "mass" in attrs:
            raise ValidationError({"mass": "give mass_da or a mass quantity, not both."})
        if "mass" in attrs and "quantity" not in attrs["mass"]:
            raise ValidationError({"mass": "the mass is a stored quantity: {'quantity': id}."})
        return attrs


class StoichiometryKind(_CalculatorKind):
    name = "stoichiometry_candidates"
    label = "Stoichiometry candidates (N + mass spectrometry)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    parameters = StoichiometryParameters
    shells = {"coordination": "n"}
    form_template = "analysis/kinds/calc_form.html"
    result_template = "analysis/kinds/calc_stoichiometry.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        super().check(parameters, inputs)
        shell = self.resolved(parameters, inputs)["coordination"]
        if not shell.absorber:
            raise ValidationError({"parameters.coordination.pair": (
                "name the cation–anion pair of the coordination number, e.g. 'Cd-S'.")})
        for element in (shell.absorber, shell.scatterer):
            if element not in engine.ATOMIC_MASS_DA:
                raise ValidationError({"parameters.coordination": (
                    f"no atomic mass for {element}; known: {', '.join(engine.ATOMIC_MASS_DA)}.")})
        if "mass" in parameters:
            self._mass(parameters, inputs)

    def _mass(self, parameters: dict, inputs: Mapping[str, Any]) -> float | None:
        if "mass" not in parameters:
            return parameters.get("mass_da")
        rows = {q.pk: q for q in _rows(inputs, "quantities")}
        row = rows.get(parameters["mass"]["quantity"])
        if row is None:
            raise ValidationError({"parameters.mass.quantity": (
                f"quantity {parameters['mass']['quantity']} is not among inputs.quantities.")})
        if row.value is None or row.unit.strip().lower() not in ("da", "dalton", "g/mol"):
            raise ValidationError({"parameters.mass.quantity": (
                f"quantity {row.pk} ({row.quantity}: {row.value} {row.unit}) is not a mass "
                "in Da.")})
        return float(row.value)

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        return {**super().load(run, inputs), "mass_da": self._mass(run.parameters, inputs)}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        shell = loaded["coordination"]
        cation, anion = (shell["pair"] or "–").split("–")
        out = _engine_call(
            engine.stoichiometry_candidates, shell["value"], shell["err"],
            mass_da=loaded["mass_da"], mass_tolerance_da=parameters["mass_tolerance_da"],
            formulas=parameters.get("formulas"), cation=cation, anion=anion,
            anion_coordination=parameters["anion_coordination"],
            n_sigma=parameters["n_sigma"])
        if not out["candidates"]:
            raise EngineError(
                f"no {cation}_x{anion}_y formula satisfies {out['rule']} for N = "
                f"{shell['value']:g} ± {shell['err']:g}; widen n_sigma or the mass tolerance.",
                field="parameters.n_sigma")
        return {**out, "shells": {"coordination": shell}}

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        sample = self.sample_of(run, inputs)
        cation, anion = result["inputs"]["cation"], result["inputs"]["anion"]
        common = {"rule": result["rule"], "shells": result["shells"]}
        listing = " / ".join(c["formula"] for c in result["candidates"])
        rows = [record(run, sample, quantity=f"stoichiometry candidates {cation}_x{anion}_y",
                       value=None, err=None, unit="", text_value=listing,
                       frame_column=f"{cation}_{anion}_stoichiometry_formula".lower(),
                       closest=result["closest"], **common)]
        for rank, cand in enumerate(result["candidates"], start=1):
            rows.append(record(
                run, sample, quantity=f"stoichiometry candidate {cand['formula']}: "
                f"{cation}–{anion} coordination {result['inputs']['anion_coordination']}y/x",
                value=cand["coordination"], err=None, unit="dimensionless",
                text_value=cand["formula"], rank=rank, mass_da=cand["mass_da"],
                deviation_sigma=cand["deviation_sigma"], **common))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        cands = out.get("candidates") or []
        return " / ".join(c["formula"] for c in cands)


BOND_ANGLE = register(BondAngleKind())
COORDINATION_RATIO = register(CoordinationRatioKind())
STOICHIOMETRY = register(StoichiometryKind())
