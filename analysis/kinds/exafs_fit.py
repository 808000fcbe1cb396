"""Kind ``exafs_fit``: a shell fit of EXAFS with larch's feffit (docs/fit-model.md).

The fit keeps its own request, job and result (``analysis/services/fits.py``, an ``XASFit``
with its paths): this kind puts it in the one run list, the one API and the one UI. A run is
``{"kind": "exafs_fit", "inputs": {"spectrum": id}, "parameters": {"model": {...}}}``; the
model's datasets may each name their own spectrum instead (a multi-spectrum fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from analysis.kinds.base import AnalysisKind, InputRole, register

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun


def _larch_version() -> str:
    try:
        return metadata.version("xraylarch")
    except metadata.PackageNotFoundError:  # pragma: no cover - larch is a requirement
        return "unknown"


class ExafsFitParameters(serializers.Serializer):
    """The fit model (docs/fit-model.md) with its ``feff`` section."""

    model = serializers.JSONField(
        help_text="Fit model (docs/fit-model.md) plus a 'feff' section (path files, a stored "
        "calculation or a structure)."
    )
    force = serializers.BooleanField(
        default=False, help_text="Run again even if an identical fit exists (reproducibility)."
    )

    def validate_model(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("expected a JSON object (docs/fit-model.md).")
        return value


class ExafsFitKind(AnalysisKind):
    name = "exafs_fit"
    label = "EXAFS shell fit (feffit)"
    engine_name = "xraylarch feffit"
    engine_version = _larch_version()
    inputs = (
        InputRole(
            "spectrum", "spectrum", required=False,
            help="the XAS spectrum fitted (or name one per dataset in the model)",
        ),
    )
    parameters = ExafsFitParameters
    job_name = "analysis.run_fit"

    def submit(
        self, *, rows: Mapping[str, Any], parameters: dict, actor: Any,
        rerun_of: AnalysisRun | None, force: bool,
    ) -> AnalysisRun:
        from analysis.models import AnalysisRun
        from analysis.services.fits import request_fit_run

        # A run with an id up to the newest before the request existed already: a repeat.
        newest = AnalysisRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        run = request_fit_run(
            spectrum=rows.get("spectrum"), model=parameters["model"], actor=actor,
            refit_of=rerun_of.result if rerun_of is not None else None,
            force=force or parameters.get("force", False),
        )
        run.repeat = run.pk <= newest
        return run

    def staleness(self, run: AnalysisRun) -> str | None:
        from analysis.services.fits import staleness_of

        fit = run.result if run.result_id else run.reproduces
        return staleness_of(fit) if fit is not None else ""

    def rerun_parameters(self, run: AnalysisRun) -> dict:
        return {"model": run.ordered_model(), "force": True}

    def summary(self, run: AnalysisRun) -> str:
        fit = run.result if run.result_id else run.reproduces
        if fit is None:
            return ""
        text = f"fit {fit.pk}: R-factor {fit.r_factor:.4f}" if fit.r_factor is not None else ""
        return text if run.result_id else f"reproduction of {text}"


register(ExafsFitKind())
