"""Fit results API: parameters/correlations/statistics, arrays (JSON or CSV), provenance.

Thin adapters over :mod:`analysis.services.fit_results`; errors are JSON naming the query
parameter (400) or the missing fit (404) whatever format was asked for.
"""

from __future__ import annotations

import json

from django.http import Http404, HttpResponse, JsonResponse
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer

from analysis.services import fit_plots, fit_results
from labdb.lib.errors import DomainError


class CSVRenderer(BaseRenderer):
    """Lets ``?format=csv`` through DRF's content negotiation; the view writes the CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if not isinstance(data, (bytes, str)) else data


def _error(exc: DomainError) -> JsonResponse:
    status = 404 if isinstance(exc, fit_plots.FitNotFound) else 400
    return JsonResponse(exc.as_dict(), status=status, json_dumps_params={"ensure_ascii": False})


@extend_schema(responses={200: dict})
@api_view(["GET"])
def fit_results_view(request, pk: int):
    """Parameter table (value ± error, initial, bounds, kind, at bound), correlation matrix of
    the varied parameters (|r| > 0.8 flagged) and statistics (χ², χ²ᵥ, R-factor, N_idp, N_var,
    AIC, BIC) in total and per dataset."""
    try:
        return JsonResponse(fit_results.fit_results(fit_id=pk),
                            json_dumps_params={"ensure_ascii": False})
    except DomainError as exc:
        return _error(exc)


@extend_schema(
    parameters=[
        OpenApiParameter("space", str, enum=list(fit_results.SPACES)),
        OpenApiParameter("kweight", int, enum=list(fit_results.KWEIGHTS)),
        OpenApiParameter("dataset", str),
        OpenApiParameter("format", str, enum=["json", "csv"]),
    ],
    responses={(200, "application/json"): dict, (200, "text/csv"): str},
)
@api_view(["GET"])
@renderer_classes([JSONRenderer, BrowsableAPIRenderer, CSVRenderer])
def _fit_arrays(request, pk: int):
    """Data, model and residual of a computed fit: k (k^w·χ), R (|χ|, Re, Im) or q, at k-weight
    0–3, as JSON or CSV (with units and provenance as ``#`` comments). Cached per fit
    version."""
    params = request.query_params
    fmt = params.get("format", "json")
    try:
        if fmt not in ("json", "csv"):
            raise DomainError(f"format: expected json or csv, got {fmt!r}.", field="format")
        arrays = fit_results.fit_arrays(
            fit_id=pk, space=params.get("space", "k"), kweight=params.get("kweight", "2"),
            dataset=params.get("dataset") or None,
            etag=request.headers.get("If-None-Match") if fmt == "json" else None,
        )
        if fmt == "json":
            return _cached(arrays)
        payload = json.loads(arrays.content)
        provenance = fit_results.provenance_document(fit_id=pk)["provenance"]
    except DomainError as exc:
        return _error(exc)
    name = f"fit-{pk}-{payload['dataset']}-{payload['space']}-kw{payload['kweight']}.csv"
    response = HttpResponse(fit_results.arrays_csv(payload, provenance),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _AnyFormat(DefaultContentNegotiation):
    """An unknown ``?format=`` reaches the view (which names the choices) instead of a 404."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404:
            return renderers[0], renderers[0].media_type


_fit_arrays.cls.content_negotiation_class = _AnyFormat
fit_arrays_view = _fit_arrays


def _cached(entry: fit_plots.CachedPlot) -> HttpResponse:
    response = HttpResponse(status=304) if entry.not_modified else HttpResponse(
        entry.content, content_type=entry.content_type)
    response["ETag"] = entry.etag
    response["Cache-Control"] = "private, no-cache"
    if not entry.not_modified:
        response["X-Labdb-Plot-Cache"] = "miss" if entry.computed else "hit"
    return response


@extend_schema(responses={(200, "application/json"): dict})
@api_view(["GET"])
def fit_provenance_view(request, pk: int):
    """The fit's provenance as pretty-printed JSON, with ``fit_run_request``: the body that
    POSTed to /api/fit-runs/ runs the same model on the same spectra again."""
    try:
        text = fit_results.provenance_text(fit_id=pk)
    except DomainError as exc:
        return _error(exc)
    response = HttpResponse(text, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="fit-{pk}-provenance.json"'
    return response


urlpatterns = [
    path("xas-fits/<int:pk>/results/", fit_results_view, name="xasfit-results"),
    path("xas-fits/<int:pk>/arrays/", fit_arrays_view, name="xasfit-arrays"),
    path("xas-fits/<int:pk>/provenance.json", fit_provenance_view, name="xasfit-provenance"),
]
