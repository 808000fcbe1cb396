"""Kind ``xanes_pca``: principal component analysis of a set of XANES spectra.

larch ``pca_train`` on the set (variances, cumulative, eigenvalues, components, IND and its
minimum), ``pca_fit`` reconstruction of optional unknowns, and target transformation of
optional candidate standards (engine :mod:`analysis.engines.xanes_lcf`). Result mapping: the
variance of each component and the number of significant components (IND minimum) as
``ReportedQuantity(source="computed")`` rows on the first spectrum's sample; each target's
R-factor on the target's sample. Arrays (components, scree, fits) stay in the run output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import xanes_lcf as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from analysis.kinds.xanes_lcf import (
    E0_CHOICES,
    EnergyRangeField,
    NormalizationSerializer,
    check_range,
    check_same_edge,
    check_unique,
    engine_input,
    normalization_of,
    record_quantity,
    rows_of,
)
from labdb.lib.errors import DomainError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun

ROLES = ("spectra", "unknowns", "targets")


class XanesPcaParameters(serializers.Serializer):
    energy_range_ev = EnergyRangeField()
    normalization = NormalizationSerializer(default=dict)
    e0_from = serializers.ChoiceField(choices=E0_CHOICES, default="stored")
    n_components = serializers.IntegerField(
        default=None, allow_null=True, min_value=1,
        help_text="Components for reconstructions and target transforms (default: the IND "
                  "minimum larch reports).")


class XanesPcaKind(AnalysisKind):
    name = "xanes_pca"
    label = "XANES principal components"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (
        InputRole("spectra", "spectrum", many=True, min=3,
                  help="The set the components are found from."),
        InputRole("unknowns", "spectrum", many=True, required=False, min=0,
                  help="Spectra to reconstruct from the components."),
        InputRole("targets", "spectrum", many=True, required=False, min=0,
                  help="Candidate standards to target-transform."),
    )
    parameters = XanesPcaParameters
    form_template = "analysis/kinds/xanes_pca_form.html"
    result_template = "analysis/kinds/xanes_pca_result.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        spectra = rows_of(inputs, "spectra")
        if len(spectra) < 3:
            raise ValidationError({"inputs.spectra": (
                f"a principal component analysis needs at least 3 spectra; got {len(spectra)}.")})
        seen: list = []
        for role in ROLES:
            rows = rows_of(inputs, role)
            check_unique(rows, role, others=seen)
            check_same_edge(spectra[0], rows, role)
            seen.extend(rows)
        n = parameters.get("n_components")
        if n is not None and n > len(spectra):
            raise ValidationError({"parameters.n_components": (
                f"at most {len(spectra)} (the number of spectra in the set); got {n}.")})
        try:
            check_range(parameters, {role: rows_of(inputs, role) for role in ROLES})
        except DomainError as exc:
            raise ValidationError({exc.field or "inputs": exc.message}) from exc

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        return {role: [engine_input(s, role, run.parameters) for s in rows_of(inputs, role)]
                for role in ROLES}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        lo, hi = parameters["energy_range_ev"]
        options = engine.PcaOptions(energy_range_ev=(float(lo), float(hi)),
                                    n_components=parameters.get("n_components"))
        return engine.run_pca(loaded["spectra"], normalization=normalization_of(parameters),
                              options=options, unknowns=loaded["unknowns"],
                              targets=loaded["targets"], progress=progress)

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        spectra = rows_of(inputs, "spectra")
        model = result["model"]
        common = {"energy_range_ev": run.parameters["energy_range_ev"],
                  "spectra": model["labels"], "engine": result["engine"]}
        sample = spectra[0].sample
        rows = [record_quantity(run, sample, quantity=f"XANES PCA variance, component {i + 1}",
                                value=v, err=None, unit="fraction",
                                extra={**common, "cumulative": model["cumulative_variances"][i]})
                for i, v in enumerate(model["variances"])]
        rows.append(record_quantity(run, sample, quantity="XANES PCA significant components (IND)",
                                    value=model["n_significant"], err=None, unit="",
                                    extra={**common, "ind": model["ind"]}))
        by_key = {f"s{s.pk}": s for s in rows_of(inputs, "targets")}
        for tt in result["targets"]:
            rows.append(record_quantity(
                run, by_key[tt["key"]].sample,
                quantity=f"XANES PCA target transform R-factor: {tt['label']}",
                value=tt["r_factor"], err=None, unit="",
                extra={**common, "n_components": tt["n_components"],
                       "target_spectrum": by_key[tt["key"]].pk, "simulated": tt["simulated"]}))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        model = (run.output or {}).get("model")
        if not model:
            return ""
        head = ", ".join(f"{v:.3f}" for v in model["variances"][:4])
        return f"{len(model['labels'])} spectra; variances {head}; IND → {model['n_significant']}"


KIND = register(XanesPcaKind())
