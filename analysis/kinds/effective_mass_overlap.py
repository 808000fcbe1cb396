"""Kind ``effective_mass_overlap``: electron–hole wavefunction overlap and electron surface
localization of a spherical layered nanocrystal (seed 004, eqs. 2–3), stored on a sample.

Layers are given innermost first as Hg fraction x and outer radius (nm): CdSe (x = 0), HgSe
(x = 1) or Hg_xCd_{1−x}Se with seed 004's parameters interpolated linearly in x; any parameter
of a layer may be overridden (``m_e``, ``m_h``, ``delta_ec_ev``, ``delta_ev_ev``, ``eps_inf``,
``lattice_a``). Engine: :mod:`analysis.engines.effective_mass`. Result mapping: computed
``ReportedQuantity`` rows "electron–hole overlap" and "surface localization" (electron,
dimensionless) on ``inputs.sample``, with the layer stack in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import effective_mass as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from labdb.lib.errors import EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun

OVERRIDES = ("m_e", "m_h", "delta_ec_ev", "delta_ev_ev", "eps_inf", "lattice_a")


class LayerSerializer(serializers.Serializer):
    x_hg_frac = serializers.FloatField(min_value=0.0, max_value=1.0,
                                       help_text="Hg fraction x of Hg_xCd_{1−x}Se (0 = CdSe).")
    outer_radius_nm = serializers.FloatField(min_value=0.0, help_text="Outer radius (nm).")
    name = serializers.CharField(default="", allow_blank=True, max_length=60,
                                 help_text="What the layer is called (core, shell …).")
    m_e = serializers.FloatField(required=False, min_value=0.0, help_text="m₀")
    m_h = serializers.FloatField(required=False, min_value=0.0, help_text="m₀")
    delta_ec_ev = serializers.FloatField(required=False)
    delta_ev_ev = serializers.FloatField(required=False)
    eps_inf = serializers.FloatField(required=False, min_value=1.0)
    lattice_a = serializers.FloatField(required=False, min_value=1.0, help_text="Å")


class MediumSerializer(serializers.Serializer):
    m_e = serializers.FloatField(default=1.0, min_value=0.0)
    m_h = serializers.FloatField(default=1.0, min_value=0.0)


def _default_layers() -> list[dict]:
    return [{"x_hg_frac": 0.0, "outer_radius_nm": 2.0, "name": "CdSe"}]


class OverlapParameters(serializers.Serializer):
    layers = LayerSerializer(many=True, default=_default_layers,
                             help_text="Innermost first; e.g. a CdSe core and an HgSe shell.")
    medium = MediumSerializer(default=dict)
    grid_nm = serializers.FloatField(default=0.002, min_value=0.0, max_value=0.05)
    box_margin_nm = serializers.FloatField(default=2.0, min_value=0.5, max_value=20.0)
    coulomb = serializers.BooleanField(default=True)

    def validate_layers(self, value: list[dict]) -> list[dict]:
        if not value:
            raise ValidationError("give at least one layer.")
        radii = [layer["outer_radius_nm"] for layer in value]
        if radii[0] <= 0 or any(b <= a for a, b in zip(radii, radii[1:], strict=False)):
            raise ValidationError("outer radii must be positive and increase outwards (nm).")
        for layer in value:
            for key in ("m_e", "m_h"):
                if key in layer and layer[key] <= 0:
                    raise ValidationError(f"{key} must be positive (units of m₀).")
        return value


def engine_layers(parameters: dict) -> list[engine.Layer]:
    """The engine's layers: seed 004's interpolation in x, then the overrides."""
    out = []
    for item in parameters["layers"]:
        base = engine.alloy_layer(item["x_hg_frac"], item["outer_radius_nm"],
                                  label=item.get("name") or "")
        changes = {k: item[k] for k in OVERRIDES if item.get(k) is not None}
        out.append(engine.Layer(**{**base.__dict__, **changes}))
    return out


def _solve(parameters: dict) -> dict:
    medium = parameters.get("medium") or {}
    return engine.solve_overlap(
        engine_layers(parameters),
        medium=engine.Medium(m_e=medium.get("m_e", 1.0), m_h=medium.get("m_h", 1.0)),
        grid=engine.Grid(step_nm=parameters["grid_nm"],
                         box_margin_nm=parameters["box_margin_nm"]),
        coulomb=parameters["coulomb"])


class EffectiveMassOverlapKind(AnalysisKind):
    name = "effective_mass_overlap"
    label = "Effective-mass e–h overlap (layered sphere)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (InputRole("sample", "sample", help="The sample the overlap is stored on."),)
    parameters = OverlapParameters
    form_template = "analysis/kinds/effective_mass_overlap_form.html"
    result_template = "analysis/kinds/effective_mass_overlap_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        try:
            engine._check(engine_layers(parameters),
                          engine.Grid(parameters["grid_nm"], parameters["box_margin_nm"]))
        except EngineError as exc:
            raise ValidationError({f"parameters.{exc.field or 'layers'}": exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        sample = inputs["sample"]
        return {"sample": {"id": sample.pk, "code": sample.code}}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        progress(10, "solving the electron and hole radial equations")
        try:
            result = _solve(parameters)
        except EngineError as exc:
            raise EngineError(f"parameters.{exc.field or 'layers'}: {exc.message}",
                              field=f"parameters.{exc.field or 'layers'}") from exc
        result["sample"] = loaded["sample"]
        return result

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        from analysis.services.runs import record_run_quantity

        sample = inputs["sample"]
        common = {"layers": result["layers"], "medium": result["medium"],
                  "model": result["model"], "grid": result["grid"],
                  "electron_energy_ev": result["electron_energy_ev"],
                  "hole_energy_ev": result["hole_energy_ev"], "gap_1s_ev": result["gap_1s_ev"],
                  "engine": result["engine"]}
        return [
            record_run_quantity(run, sample=sample, quantity="electron–hole overlap",
                                value=result["overlap"], err=None, unit="", equation=
                                "seed 004 eq. 2", **common),
            record_run_quantity(run, sample=sample, quantity="surface localization",
                                value=result["electron_surface_fraction"], err=None, unit="",
                                carrier="electron", equation="seed 004 eq. 3",
                                surface_shell_nm=result["surface_shell_nm"], **common),
        ]

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        if out.get("overlap") is None:
            return ""
        return (f"overlap {out['overlap']:.3f}, electron surface fraction "
                f"{out['electron_surface_fraction']:.3f}, 1S gap {out['gap_1s_ev']:.2f} eV")


KIND = register(EffectiveMassOverlapKind())
