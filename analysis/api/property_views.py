"""Structure–property and aging endpoints: thin adapters over the analysis selectors.

``GET /api/analysis/frame/``               the structure–property frame (json, csv or xlsx)
``GET /api/analysis/correlation/``         correlation of two frame columns, overall and by group,
                                           with York/ODR lines on both axes' errors, seeded
                                           resampled intervals, warnings and the fit rule
                                           (``analysis.selectors.correlation``)
``GET /api/analysis/aging/``               a sample's aging series and the changes between points
``GET /api/analysis/plots/correlation.png|svg`` and ``/plots/aging.png|svg``  the figures

The frame takes its own ``?format=csv|json|xlsx``; DRF's URL format override is switched off
for these views (``_OwnFormatParam``) so that it cannot answer 404 for "csv" before we see it.
Every other query parameter not listed for a view is a column filter (``qy_pct__gte=80``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.engines.property_plots import ImageFormat, plot_aging_series, plot_correlation
from analysis.engines.statistics import DEFAULT_DRAWS, DEFAULT_SEED
from analysis.selectors.aging import aging_changes, aging_series
from analysis.selectors.correlation import (
    MAX_DRAWS,
    frame_correlation,
    page_of_points,
    parse_fit_picks,
    points_page,
)
from analysis.selectors.frame_cache import cached_structure_property_frame
from analysis.selectors.structure_property import (
    BASE_COLUMNS,
    BOOLEAN_COLUMNS,
    INTEGER_COLUMNS,
    RATIO_COLUMNS,
    TEXT_COLUMNS,
)
from labdb.lib.errors import DomainError
from labdb.lib.exports import neutralise_frame, safe_csv
from synthesis.models import Sample

FRAME_FORMATS = ("json", "csv", "xlsx")
_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "svg": "image/svg+xml",
}


class _OwnFormatParam(DefaultContentNegotiation):
    """Always the view's first renderer: ``?format=`` belongs to the view, not to DRF."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# --- request parsing (shape only; meaning is the selectors') ---------------------------------

def _frame_args(request, reserved: tuple[str, ...]) -> dict[str, Any]:
    params = request.query_params
    own = ("fit_choice", "as_of", "fit_picks", "include_flagged", "include_censored")
    filters = {key: params.get(key) for key in params if key not in reserved and key not in own}
    return {"fit_choice": params.get("fit_choice") or "latest",
            "as_of": params.get("as_of") or None, "filters": filters,
            "fit_picks": parse_fit_picks(params.get("fit_picks")),
            "include_flagged": _bool(request, "include_flagged"),
            "include_censored": _bool(request, "include_censored")}


def _number(request, name: str, default: float, kind: type = float) -> Any:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise DomainError(f"{name}: expected {expected}, got {raw!r}.", field=name) from None


def _required(request, name: str) -> str:
    value = (request.query_params.get(name) or "").strip()
    if not value:
        raise DomainError(f"{name}: this query parameter is required.", field=name)
    return value


def _bool(request, name: str, default: bool = False) -> bool:
    value = (request.query_params.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise DomainError(f"{name}: expected true or false, got {value!r}.", field=name)


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN/NA → None, timestamps → ISO 8601, numpy scalars → Python."""
    clean = frame.astype(object).where(frame.notna(), None)
    out = clean.to_dict("records")
    for row in out:
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[key] = value.isoformat()
            elif hasattr(value, "item"):
                row[key] = value.item()
    return out


def _json_value(value: Any) -> str:
    """One cell as ``records`` + ``json.dumps`` write it (the path for uncommon cell types)."""
    if isinstance(value, pd.Timestamp):
        value = value.isoformat()
    elif hasattr(value, "item"):
        value = value.item()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _with_nulls(texts: list[str], missing: np.ndarray) -> list[str]:
    for i in np.flatnonzero(missing).tolist():
        texts[i] = "null"
    return texts


def _object_cells(values: np.ndarray) -> list[str]:
    """Cells of an object array: strings escaped as ``json.dumps`` does (one C call each when
    every present cell is a string), anything else through ``_json_value``."""
    missing = pd.isna(values)
    some_missing = bool(missing.any())
    present = values[~missing].tolist() if some_missing else values.tolist()
    encode = json.encoder.encode_basestring  # json.dumps' own escaper (ensure_ascii=False)
    try:
        texts = list(map(encode, present))
    except TypeError:  # a cell that is not a string
        texts = [encode(v) if type(v) is str else _json_value(v) for v in present]
    if not some_missing:
        return texts
    out = np.full(len(values), "null", dtype=object)
    out[~missing] = texts
    return out.tolist()


#: Nullable extension dtypes written from their values and mask.
_MASKED = (pd.BooleanDtype, pd.Int64Dtype, pd.Int32Dtype)


def _column_of(series: pd.Series) -> Any:
    """What ``_json_cells`` reads of a column, sliceable without pandas overhead per chunk: the
    numpy array (numbers, bools, objects), the masked array (Int64, boolean), else the
    Series itself (timestamps, pandas' ``str``, categories: converted to objects per chunk)."""
    dtype = series.dtype
    if isinstance(dtype, _MASKED):
        return series.array
    if isinstance(dtype, np.dtype) and dtype.kind in "fiubO":
        return series.to_numpy()
    return series


def _json_cells(column: Any) -> list[str]:
    """The JSON text of every cell of one ``_column_of`` column, exactly as ``json.dumps``
    writes that cell of ``records()``: floats ``repr``-exact, NaN/NA/None → null, timestamps
    ISO 8601, strings unescaped unicode; vectorised per dtype. Raises ValueError for ±inf,
    like ``json.dumps(allow_nan=False)``."""
    if isinstance(column, pd.Series):
        return _object_cells(column.astype(object).to_numpy())
    if isinstance(column.dtype, _MASKED):
        if isinstance(column.dtype, pd.BooleanDtype):
            texts = ["true" if v else "false"
                     for v in column.to_numpy(dtype=bool, na_value=False).tolist()]
        else:
            texts = list(map(int.__repr__,
                             column.to_numpy(dtype="int64", na_value=0).tolist()))
        return _with_nulls(texts, column.isna())
    kind = column.dtype.kind
    if kind == "f":
        if np.isinf(column).any():
            raise ValueError("Out of range float values are not JSON compliant")
        return _with_nulls(list(map(float.__repr__, column.tolist())), np.isnan(column))
    if kind == "b":
        return ["true" if v else "false" for v in column.tolist()]
    if kind in "iu":
        return list(map(int.__repr__, column.tolist()))
    return _object_cells(column)


def _row_template(frame: pd.DataFrame) -> str:
    """``{"name":%s,…}`` for the frame's columns (a ``%`` in a name escaped)."""
    encode = json.encoder.encode_basestring
    return "{" + ",".join(encode(str(c)).replace("%", "%%") + ":%s"
                          for c in frame.columns) + "}"


def _rows_text(template: str, columns: list[Any], start: int, stop: int) -> str:
    cells = [_json_cells(c.iloc[start:stop] if isinstance(c, pd.Series) else c[start:stop])
             for c in columns]
    if not cells:
        return ",".join([template] * (stop - start))
    return ",".join(map(template.__mod__, zip(*cells, strict=True)))


def json_rows(frame: pd.DataFrame, *, chunk_rows: int | None = None) -> Iterator[str]:
    """The rows of ``frame`` as JSON objects joined by commas (no brackets), ``chunk_rows`` at
    a time (all at once for None; empty chunks never): the same text as
    ``json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False)`` of each
    ``records()`` row, built column by column instead of cell by cell (10⁵ rows × 3 columns
    in tens of ms instead of seconds). Raises ValueError for ±inf."""
    template = _row_template(frame)
    columns = [_column_of(frame.iloc[:, i]) for i in range(frame.shape[1])]
    step = chunk_rows or max(len(frame), 1)
    for start in range(0, len(frame), step):
        yield _rows_text(template, columns, start, min(start + step, len(frame)))


def _download(content: bytes, *, fmt: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


# --- the frame -------------------------------------------------------------------------------

#: Rows per chunk of a streamed export: the memory of one response is a chunk's text, not the
#: whole lab's (10⁵ rows are ~100 MB of JSON).
STREAM_CHUNK_ROWS = 2000


def _stream_min_rows() -> int:
    """Frames of at least this many rows are streamed (setting LABDB_FRAME_STREAM_MIN_ROWS,
    default 1000); smaller ones go out in one piece, with a Content-Length."""
    return int(getattr(settings, "LABDB_FRAME_STREAM_MIN_ROWS", 1000))


def _list(request, name: str) -> list[str]:
    """Comma-separated values of a query parameter (repeated parameters are joined)."""
    raw = ",".join(request.query_params.getlist(name))
    return [v.strip() for v in raw.split(",") if v.strip()]


def _csv_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    for start in range(0, len(frame), STREAM_CHUNK_ROWS):
        chunk = neutralise_frame(frame.iloc[start:start + STREAM_CHUNK_ROWS])
        yield chunk.to_csv(index=False, header=start == 0).encode()


def _json_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    # The same text as DRF's JSONRenderer (compact, unicode) for the same records().
    yield b"["
    for i, text in enumerate(json_rows(frame, chunk_rows=STREAM_CHUNK_ROWS)):
        yield (("," if i else "") + text).encode()
    yield b"]"


def _streamed(frame: pd.DataFrame, fmt: str) -> StreamingHttpResponse:
    """The frame as a streamed CSV download or JSON array, ``STREAM_CHUNK_ROWS`` at a time."""
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_chunks(frame), content_type=_CONTENT_TYPES["csv"])
        response["Content-Disposition"] = 'attachment; filename="structure_property.csv"'
        return response
    return StreamingHttpResponse(_json_chunks(frame), content_type="application/json")

_FRAME_PARAMS = [
    OpenApiParameter("format", str, enum=list(FRAME_FORMATS), default="json",
                     description="json (list of row objects), csv or xlsx (downloads)."),
    OpenApiParameter("fit_choice", str, enum=["latest", "earliest", "as_of"], default="latest",
                     description="Which measurement/fit represents a sample (see the module "
                                 "docs of analysis.selectors.structure_property)."),
    OpenApiParameter("as_of", str, required=False,
                     description="With fit_choice=as_of: an age in days (e.g. 100) or an ISO "
                                 "date."),
    OpenApiParameter("fit_picks", str, required=False,
                     description='Per-sample pick: a JSON object {sample code: XAS fit id}, '
                                 'e.g. {"NPL-CdSe/CdZnS-4.5ML": 11}; each picked fit replaces '
                                 "the fit the rule chose for its sample and absorber (400 if "
                                 "the fit is not one of that sample's usable fits)."),
    OpenApiParameter("include_flagged", bool, required=False, default=False,
                     description="Also use records a curator flagged wrong or duplicate."),
    OpenApiParameter("include_censored", bool, required=False, default=False,
                     description="Put a printed bound ('below 1 %') into qy_pct instead of "
                                 "leaving it empty (qy_pct_censored still says so)."),
    OpenApiParameter("columns", str, required=False,
                     description="Comma-separated frame columns to return (sample_code is "
                                 "always included), e.g. columns=cd_s_n,qy_pct; all by "
                                 "default. Frames of 1000 rows or more are streamed."),
    OpenApiParameter("<column>[__lookup]", str, required=False,
                     description="Any frame column as a filter; lookups exact, ne, gt, gte, lt, "
                                 "lte, in (comma-separated), isnull, contains, icontains. "
                                 "source=published|measured|computed restricts the "
                                 "measurements used."),
]


def _column_schema(name: str) -> dict:
    """OpenAPI schema of one frame column, as ``records`` writes it (missing → null)."""
    if name == "sample_code":
        return {"type": "string"}
    if name == "sample_id":
        return {"type": "integer"}
    if name in INTEGER_COLUMNS:
        return {"type": "integer", "nullable": True}
    if name in BOOLEAN_COLUMNS:
        return {"type": "boolean", "nullable": True}
    if name in TEXT_COLUMNS:
        return {"type": "string", "nullable": True}
    return {"type": "number", "nullable": True}


FRAME_ROW_SCHEMA = {
    "type": "object",
    "description": "One sample. Besides these columns, one per fitted path and quantity "
                   "(<path>_n, _n_err, _r_a, _r_err_a, _sigma2_a2, _sigma2_err_a2, e.g. cd_s_n) "
                   "and per absorber (<absorber>_fit_id, _fit_citation, _fit_age_days), always "
                   "at least cd_s, cd_se, cd and zn; numbers or null.",
    "properties": {name: _column_schema(name) for name in [*BASE_COLUMNS, *RATIO_COLUMNS]},
    "required": [*BASE_COLUMNS, *RATIO_COLUMNS],
    "additionalProperties": {"nullable": True},
}


class StructurePropertyFrameView(APIView):
    content_negotiation_class = _OwnFormatParam

    @extend_schema(
        summary="Structure–property frame (one row per sample)",
        parameters=_FRAME_PARAMS,
        responses={
            (200, "application/json"): OpenApiResponse(
                {"type": "array", "items": FRAME_ROW_SCHEMA},
                description="Rows as objects (format=json)."),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="format=csv"),
            (200, _CONTENT_TYPES["xlsx"]): OpenApiResponse(OpenApiTypes.BINARY,
                                                           description="format=xlsx"),
            400: OpenApiResponse(description="Unknown column, lookup or format."),
        },
    )
    def get(self, request):
        fmt = (request.query_params.get("format") or "json").lower()
        if fmt not in FRAME_FORMATS:
            raise DomainError(f"format: use one of {', '.join(FRAME_FORMATS)}; got {fmt!r}.",
                              field="format")
        columns = _list(request, "columns")
        frame = cached_structure_property_frame(**_frame_args(request, ("format", "columns")),
                                                columns=columns)
        if fmt in ("csv", "json") and len(frame) >= _stream_min_rows():
            return _streamed(frame, fmt)
        if fmt == "csv":
            return _download(safe_csv(frame).encode(), fmt="csv",
                             name="structure_property")
        if fmt == "xlsx":
            buf = io.BytesIO()
            neutralise_frame(frame).to_excel(buf, index=False, sheet_name="structure_property")
            return _download(buf.getvalue(), fmt="xlsx", name="structure_property")
        return Response(records(frame))


# --- correlation -----------------------------------------------------------------------------

#: Points per page of ``?points=true`` (default and most).
POINTS_PAGE = 5000
MAX_POINTS_PAGE = 50000

_CORRELATION_PARAMS = [
    OpenApiParameter("x", str, required=True, description="Frame column on the x axis, e.g. "
                     "cd_s_cd_se_n_ratio."),
    OpenApiParameter("y", str, required=True, description="Frame column on the y axis, e.g. "
                     "qy_pct."),
    OpenApiParameter("group", str, required=False, description="Frame column to group by, "
                     "e.g. architecture."),
    OpenApiParameter("draws", int, required=False, default=DEFAULT_DRAWS,
                     description=f"Resampling draws for the intervals of r and the slope "
                                 f"(1 to {MAX_DRAWS})."),
    OpenApiParameter("seed", int, required=False, default=DEFAULT_SEED,
                     description="Seed of the resampling (numpy default_rng): the same seed "
                                 "gives the same intervals."),
    OpenApiParameter("error_correlation", float, required=False, default=0.0,
                     description="Correlation r (−1…1) between each point's x and y errors, "
                                 "for the York fit (0: independent errors)."),
    OpenApiParameter("points", bool, required=False, default=False,
                     description="Also return the points (x, y, errors, group, label), a page "
                                 "of points_limit from points_offset in sample-code order, "
                                 "with points_total."),
    OpenApiParameter("points_offset", int, required=False, default=0,
                     description="First point of the page (with points=true)."),
    OpenApiParameter("points_limit", int, required=False, default=POINTS_PAGE,
                     description=f"Points per page (1 to {MAX_POINTS_PAGE})."),
    *[p for p in _FRAME_PARAMS[1:] if p.name != "columns"],
]
_CORRELATION_OWN = ("x", "y", "group", "format", "draws", "seed", "error_correlation",
                    "points", "points_offset", "points_limit")


def _correlation(request, points: slice | None = slice(None)) -> dict[str, Any]:
    x, y = _required(request, "x"), _required(request, "y")
    group = (request.query_params.get("group") or "").strip() or None
    return frame_correlation(
        x=x, y=y, group=group, **_frame_args(request, _CORRELATION_OWN),
        draws=_number(request, "draws", DEFAULT_DRAWS, int),
        seed=_number(request, "seed", DEFAULT_SEED, int),
        error_correlation=_number(request, "error_correlation", 0.0), points=points)


class CorrelationView(APIView):
    content_negotiation_class = _OwnFormatParam

    @extend_schema(
        summary="Correlation of two frame columns (Pearson, Spearman, least squares, "
                "York/ODR on the error bars, resampled intervals)",
        parameters=_CORRELATION_PARAMS,
        description=(
            "Pearson r, Spearman ρ and the unweighted least-squares line, overall and per "
            "group; and, overall, the fits that use both axes' 1σ errors (x_err_column, "
            "y_err_column): `york` (York et al. 2004; error_correlation optional; a missing "
            "error counts as exact) and `odr` (scipy.odr; needs both errors on every point), "
            "`resampled` percentile intervals (95 %) of r and the slope from `draws` seeded "
            "draws — within each point's errors, over the points (bootstrap) and both; when "
            "draws × points exceed 2·10⁶ and there are at least 1000 points, their "
            "large-sample limit (`method`: `delta_method`, `eiv_note` says so) — and "
            "`warnings` (n < 6, relative error above 100 % naming the samples, missing "
            "errors; `samples` lists at most 1000, `n_samples` counts all). `fit_rule` says "
            "which measurement/fit represents each sample "
            "(fit_choice, as_of, fit_picks) and which samples an aged fit excluded."),
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
            '{"n", "pearson_r", "pearson_p", "spearman_r", "spearman_p", "slope", '
            '"slope_err", "intercept", "intercept_err", "note", "groups": {group: {...}}, '
            '"points" (only with points=true; with "points_total", "points_offset", '
            '"points_limit"): [{"x", "y", "x_err", "y_err", "group", "label"}], "york": {"slope", '
            '"slope_err", "intercept", "intercept_err", "slope_err_scaled", '
            '"intercept_err_scaled", "chi2", "reduced_chi2", "n", "iterations"} | null, '
            '"odr": {"slope", "slope_err", "intercept", "intercept_err", "reduced_chi2", "n", '
            '"stop_reason"} | null, "resampled": {"method", "draws", "seed", "level", '
            '"within_errors"|"over_points"|"both": {"r": {"low", "high", "median"}, '
            '"slope": {...}, "n_degenerate"}} | null, "warnings": [{"kind", "message", '
            '"samples", "n_samples"}], '
            '"eiv_note", "fit_rule": {"fit_choice", "as_of", "fit_picks", "rule", '
            '"absorbers", "notes"}}')),
            400: OpenApiResponse(description="Unknown or non-numeric column (the message "
                                             "lists the valid columns).")},
    )
    def get(self, request):
        want_points = _bool(request, "points")
        offset = _number(request, "points_offset", 0, int)
        limit = _number(request, "points_limit", POINTS_PAGE, int)
        if offset < 0:
            raise DomainError(f"points_offset: expected a whole number ≥ 0, got {offset}.",
                              field="points_offset")
        if not 1 <= limit <= MAX_POINTS_PAGE:
            raise DomainError(f"points_limit: expected 1 to {MAX_POINTS_PAGE} points per page, "
                              f"got {limit}.", field="points_limit")
        if not want_points:
            # The statistics are the answer; 10⁵ points are megabytes nobody asked for.
            result = _correlation(request, points=None)
            return Response({k: v for k, v in result.items() if k != "points"})
        result = _correlation(request, points=page_of_points(offset, limit))
        return Response(points_page(result, offset=offset, limit=limit))


class CorrelationPlotView(APIView):
    content_negotiation_class = _OwnFormatParam

    @extend_schema(
        summary="Correlation scatter plot (colour and marker per group, 1σ error bars)",
        parameters=_CORRELATION_PARAMS,
        responses={(200, "image/png"): OpenApiTypes.BINARY,
                   (200, "image/svg+xml"): OpenApiTypes.STR},
    )
    def get(self, request, fmt: ImageFormat):  # the URL pattern admits only png|svg
        result = _correlation(request)
        image = plot_correlation(result["points"], x_label=result["x"], y_label=result["y"],
                                 line=result, fmt=fmt)
        return HttpResponse(image, content_type=_CONTENT_TYPES[fmt])


# --- aging -----------------------------------------------------------------------------------

_AGING_PARAMS = [
    OpenApiParameter("sample", int, required=True, description="Sample id."),
    OpenApiParameter("lineage", bool, required=False, default=False,
                     description="Also the sample's ancestors and descendants."),
    OpenApiParameter("include_flagged", bool, required=False, default=False,
                     description="Also records a curator flagged wrong or duplicate (e.g. "
                                 "Table S2, a copy of Table 2)."),
]


def _aging(request) -> tuple[Sample, pd.DataFrame, pd.DataFrame]:
    raw = _required(request, "sample")
    if not raw.isdigit():
        raise DomainError(f"sample: expected a sample id (a number), got {raw!r}.",
                          field="sample")
    sample = get_object_or_404(Sample, pk=int(raw))
    series = aging_series(sample, include_lineage=_bool(request, "lineage"),
                          include_flagged=_bool(request, "include_flagged"))
    return sample, series, aging_changes(series)


class AgingView(APIView):
    content_negotiation_class = _OwnFormatParam

    @extend_schema(
        summary="Aging series of a sample and the changes between consecutive dated points",
        parameters=_AGING_PARAMS,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
            '{"sample_id", "sample_code", "series": [...], "changes": [...]}; a change is '
            'significant when |Δ| > 2·sqrt(e1² + e2²), undefined when an error is missing.')),
            404: OpenApiResponse(description="No such sample.")},
    )
    def get(self, request):
        sample, series, changes = _aging(request)
        return Response({"sample_id": sample.pk, "sample_code": sample.code,
                         "series": records(series), "changes": records(changes)})


class AgingPlotView(APIView):
    content_negotiation_class = _OwnFormatParam

    @extend_schema(
        summary="Aging plot: values over age with 1σ error bars, significant changes starred",
        parameters=_AGING_PARAMS,
        responses={(200, "image/png"): OpenApiTypes.BINARY,
                   (200, "image/svg+xml"): OpenApiTypes.STR},
    )
    def get(self, request, fmt: ImageFormat):  # the URL pattern admits only png|svg
        sample, series, changes = _aging(request)
        image = plot_aging_series(records(series), records(changes), fmt=fmt,
                                  title=f"aging of {sample.code} (★ = change > 2σ)")
        return HttpResponse(image, content_type=_CONTENT_TYPES[fmt])


urlpatterns = [
    path("analysis/frame/", StructurePropertyFrameView.as_view(), name="analysis-frame"),
    path("analysis/correlation/", CorrelationView.as_view(), name="analysis-correlation"),
    path("analysis/aging/", AgingView.as_view(), name="analysis-aging"),
    re_path(r"^analysis/plots/correlation\.(?P<fmt>png|svg)$", CorrelationPlotView.as_view(),
            name="analysis-plot-correlation"),
    re_path(r"^analysis/plots/aging\.(?P<fmt>png|svg)$", AgingPlotView.as_view(),
            name="analysis-plot-aging"),
]
