"""Reads about fit runs and computed-vs-published comparisons."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from analysis.models import FitRun
from characterization.models import XASFit
from labdb.lib.errors import DomainError

if TYPE_CHECKING:
    from analysis.engines.plots import ImageFormat

__all__ = ["compare_fits", "fit_plot", "fit_result_json", "fit_run_list"]

COMPARED = (("r_a", "r_err_a"), ("n", "n_err"), ("sigma2_a2", "sigma2_err_a2"))


def fit_run_list(*, include_retired: bool = False) -> QuerySet[FitRun]:
    qs = FitRun.objects.select_related(
        "spectrum__sample", "result", "requested_by", "owner"
    ).prefetch_related("datasets")
    return qs if include_retired else qs.filter(is_retired=False)


def _difference(a: float | None, ea: float | None, b: float | None, eb: float | None) -> dict:
    if a is None or b is None:
        return {
            "computed": a,
            "published": b,
            "difference": None,
            "combined_err": None,
            "sigmas": None,
        }
    combined = math.sqrt((ea or 0.0) ** 2 + (eb or 0.0) ** 2) if (ea or eb) else None
    diff = a - b
    return {
        "computed": a,
        "published": b,
        "difference": diff,
        "combined_err": combined,
        "sigmas": diff / combined if combined else None,
    }


def compare_fits(computed: XASFit, published: XASFit) -> list[dict]:
    """Per matched path (absorber–scatterer) and parameter: difference in units of the
    combined error sqrt(err_computed² + err_published²). Unmatched paths are listed with None.
    """
    mine = {(p.absorber, p.scatterer): p for p in computed.paths.all()}
    theirs = {(p.absorber, p.scatterer): p for p in published.paths.all()}
    rows = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        for value, err in COMPARED:
            rows.append(
                {
                    "absorber": key[0],
                    "scatterer": key[1],
                    "parameter": value,
                    **_difference(
                        getattr(a, value, None),
                        getattr(a, err, None),
                        getattr(b, value, None),
                        getattr(b, err, None),
                    ),
                }
            )
    return rows


def fit_result_json(fit: XASFit) -> dict | None:
    """The stored engine output (with plot arrays) of a computed fit, or None."""
    run = getattr(fit, "fit_run", None)
    if run is None:
        return None
    return run.result_data or None


def _image_format(fmt: str) -> ImageFormat:
    """``fmt`` as an image format the plot engine draws; DomainError naming ``format``."""
    if fmt == "png":
        return "png"
    if fmt == "svg":
        return "svg"
    raise DomainError(f"format: expected png or svg, got {fmt!r}.", field="format")


def fit_plot(fit: XASFit, *, kind: str, fmt: str = "png") -> bytes:
    """normalized μ(E), k^w·χ(k) data vs model, or |χ(R)| data vs model of a computed fit.

    Raises DomainError when the fit has no stored arrays (published fits) or ``kind`` is unknown.
    """
    import numpy as np

    from analysis.engines import plots
    from analysis.engines.fitting import FitResult
    from analysis.engines.xas_processing import ProcessedSpectrum

    image_format = _image_format(fmt)
    data = fit_result_json(fit)
    if not data:
        raise DomainError(
            f"fit {fit.pk}: only fits computed by labdb have spectra to plot; "
            "published fits are stored as printed.",
            field="fit",
        )
    if kind == "mu":
        arrays = {
            k: np.asarray(data["spectrum"][k])
            for k in ("energy_ev", "mu", "norm", "k_inv_a", "chi", "r_a", "chir_mag")
        }
        spectrum = ProcessedSpectrum(**{**data["spectrum"], **arrays})
        return plots.plot_normalized_mu(
            spectrum, fmt=image_format, title=f"normalized μ(E) — {fit}"
        )
    result = FitResult(**data["fit"])
    if kind == "chik":
        return plots.plot_chik_fit(result, fmt=image_format)
    if kind == "chir":
        return plots.plot_chir_fit(result, fmt=image_format)
    raise DomainError("kind: expected mu, chik or chir.", field="kind")
