"""Structure–property and aging endpoints on the demo: exports, correlation, aging, plots."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from django.db import transaction
from scipy import stats

from analysis.api.property_views import json_rows, records
from analysis.demo import load_demo
from analysis.selectors.frame_cache import clear_frame_cache
from analysis.selectors.structure_property import structure_property_frame
from synthesis.models import Sample

pytestmark = pytest.mark.django_db

CDZNS_45 = "NPL-CdSe/CdZnS-4.5ML"
FRAME = "/api/analysis/frame/"
CORRELATION = "/api/analysis/correlation/"
AGING = "/api/analysis/aging/"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The three demo papers, loaded once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo(report=lambda line: None)
        yield
        transaction.set_rollback(True)


def _normal(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Same columns; numbers as float64 and text as object with None for missing."""
    out = frame.reindex(columns=like.columns).reset_index(drop=True)
    for name in like.columns:
        if pd.api.types.is_numeric_dtype(like[name]):
            out[name] = pd.to_numeric(out[name]).astype("float64")
        else:
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


@pytest.mark.parametrize("url", [FRAME, f"{FRAME}?format=csv", CORRELATION + "?x=qy_pct&y=core_ml",
                                 AGING + "?sample=1", "/api/analysis/plots/correlation.png",
                                 "/api/analysis/plots/aging.svg?sample=1"])
def test_anonymous_gets_401_or_403(anon_api, url):
    assert anon_api.get(url).status_code in (401, 403)


# --- the frame -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_frame_export_parses_back_to_the_same_frame(demo, api, fmt):
    expected = structure_property_frame()
    response = api.get(FRAME, {"format": fmt})
    assert response.status_code == 200
    if fmt == "json":
        got = pd.DataFrame(response.json())
        assert list(response.json()[0]) == list(expected.columns)
    else:
        content = b"".join(response.streaming_content) if response.streaming else \
            response.content
        assert response["Content-Disposition"] == \
            f'attachment; filename="structure_property.{fmt}"'
        if fmt == "csv":  # round_trip: pandas' default float parser may differ in the last bit
            got = pd.read_csv(io.BytesIO(content), float_precision="round_trip")
        else:
            got = pd.read_excel(io.BytesIO(content))
        assert list(got.columns) == list(expected.columns)
    # xlsx keeps 15–16 significant digits (Excel's precision): compare to 1e-14 there.
    exact = {"check_exact": True} if fmt != "xlsx" else {"check_exact": False, "rtol": 1e-14}
    pd.testing.assert_frame_equal(_normal(got, expected), _normal(expected, expected), **exact)


def test_frame_streamed_json_is_the_same_text_as_the_buffered_json(demo, api, settings):
    # The streamed export is written column by column (json_rows); DRF renders the buffered
    # one from records(): the bytes must be the same (floats repr-exact, NaN/NA → null, the
    # Int64 ids, the boolean censoring flags, unicode text).
    clear_frame_cache()
    buffered = api.get(FRAME)
    assert not buffered.streaming
    settings.LABDB_FRAME_STREAM_MIN_ROWS = 2
    streamed = api.get(FRAME)
    assert streamed.streaming
    assert b"".join(streamed.streaming_content) == buffered.content


def _awkward_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "sample_code": pd.Series(['a"b\\', "ü€ 100 %s", None], dtype=object),
        "text": pd.Series(["x", None, "z\n"], dtype="str"),
        "qy_pct": [0.1, np.nan, -0.0], "tiny": [1e16, 1.2345678901234567e-300, 5e-324],
        "pl_id": pd.Series([1, None, 3], dtype="Int64"),
        "qy_pct_censored": pd.Series([True, None, False], dtype="boolean"),
        "n": np.array([1, 2, 2 ** 62]), "flag": [True, False, True],
        "measured_at": pd.to_datetime(["2024-01-01T00:00:00Z", None, "2024-02-01T01:02:03.5Z"],
                                      format="ISO8601"),
        "mixed": pd.Series([1, 2.5, np.nan], dtype=object),
        "masked": pd.Series([1.5, None, 2.0], dtype="Float64"), "100%": [1.0, 2.0, 3.0]})


def test_frame_json_rows_are_the_text_of_json_dumps_of_records():
    frame = _awkward_frame()
    expected = ",".join(json.dumps(row, ensure_ascii=False, separators=(",", ":"),
                                   allow_nan=False) for row in records(frame))
    assert list(json_rows(frame)) == [expected]
    assert ",".join(json_rows(frame, chunk_rows=2)) == expected
    assert list(json_rows(frame.iloc[0:0])) == []
    assert list(json_rows(frame[[]])) == ["{},{},{}"]


def test_frame_json_rows_refuse_infinity_like_json_dumps():
    with pytest.raises(ValueError, match="not JSON compliant"):
        list(json_rows(pd.DataFrame({"qy_pct": [1.0, np.inf]})))


def test_frame_json_is_twelve_queries_and_filters_from_query_params(
        demo, api, django_assert_num_queries):
    clear_frame_cache()
    # The data-version query of the frame cache, then the frame's eleven narrow queries (one per
    # branch; a cached frame is the version query only: tests/analysis/test_frame_cache.py).
    with django_assert_num_queries(12):
        response = api.get(FRAME, {"architecture": "core/shell", "qy_pct__gte": "80"})
    assert response.status_code == 200
    rows = response.json()
    assert [r["sample_code"] for r in rows] == [CDZNS_45, "S4-HgCdSe/CdZnS-3.2nm",
                                                "S4-HgSe/CdZnS-3.2nm", "S4-QD1270"]
    first = rows[0]
    assert (first["qy_pct"], first["qy_pct_max"], first["cd_s_n"], first["cd_s_n_err"],
            first["cd_se_n"]) == (89.0, None, 2.7, 0.7, None)


def test_frame_fit_choice_earliest_over_api(demo, api):
    rows = api.get(FRAME, {"fit_choice": "earliest", "sample_code": CDZNS_45}).json()
    assert [(r["cd_s_n"], r["cd_s_n_err"], r["cd_se_n"], r["cd_fit_citation"]) for r in rows] \
        == [(2.367, 0.867, 0.72, "Table 3")]
    rows = api.get(FRAME, {"fit_choice": "as_of", "as_of": "100",
                           "sample_code": CDZNS_45}).json()
    assert (rows[0]["cd_s_n"], rows[0]["cd_s_n_err"]) == (3.5, 0.3)


def test_frame_unknown_column_is_400_naming_it(demo, api):
    response = api.get(FRAME, {"quantum_yield__gte": "80"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "quantum_yield"
    assert body["message"].startswith("unknown column 'quantum_yield'; valid columns: "
                                      "sample_code, sample_id, architecture, core_ml,")
    assert "cd_s_cd_se_n_ratio" in body["message"]


def test_frame_bad_format_and_fit_choice_are_400(api):
    assert api.get(FRAME, {"format": "parquet"}).json()["message"] == (
        "format: use one of json, csv, xlsx; got 'parquet'.")
    assert api.get(FRAME, {"fit_choice": "newest"}).status_code == 400


# --- correlation -----------------------------------------------------------------------------

def test_correlation_matches_scipy_on_the_demo(demo, api):
    response = api.get(CORRELATION, {"x": "cd_s_cd_se_n_ratio", "y": "qy_pct",
                                     "group": "architecture", "fit_choice": "earliest",
                                     "morphology": "NPL", "points": "true"})
    assert response.status_code == 200
    body = response.json()
    frame = structure_property_frame(fit_choice="earliest", filters={"morphology": "NPL"})
    pairs = frame[["cd_s_cd_se_n_ratio", "qy_pct", "architecture"]].dropna()
    x, y = pairs["cd_s_cd_se_n_ratio"].to_numpy(), pairs["qy_pct"].to_numpy()
    line = stats.linregress(x, y)
    assert body["n"] == 6
    assert (body["pearson_r"], body["pearson_p"]) == tuple(stats.pearsonr(x, y))
    assert (body["spearman_r"], body["spearman_p"]) == tuple(stats.spearmanr(x, y))
    assert (body["slope"], body["slope_err"], body["intercept"], body["intercept_err"]) == (
        line.slope, line.stderr, line.intercept, line.intercept_stderr)
    assert (body["x_err_column"], body["y_err_column"]) == ("cd_s_cd_se_n_ratio_err",
                                                            "qy_pct_err")
    assert sorted(body["groups"]) == ["core/crown/shell", "core/shell"]
    for group, stats_ in body["groups"].items():
        mine = pairs[pairs["architecture"] == group]
        assert stats_["n"] == 3
        assert stats_["pearson_r"] == stats.pearsonr(mine["cd_s_cd_se_n_ratio"],
                                                     mine["qy_pct"]).statistic
    point = next(p for p in body["points"] if p["label"] == CDZNS_45)
    assert (point["x"], point["y"], point["group"]) == (2.367 / 0.72, 89.0, "core/shell")
    assert point["x_err"] == frame.set_index("sample_code").loc[CDZNS_45,
                                                                "cd_s_cd_se_n_ratio_err"]


def test_correlation_unknown_column_is_400_listing_valid_ones(demo, api):
    response = api.get(CORRELATION, {"x": "cd_s_cd_se_ratio", "y": "qy_pct"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "cd_s_cd_se_ratio"
    assert body["message"].startswith("unknown column 'cd_s_cd_se_ratio'; valid columns: ")
    assert "cd_s_cd_se_n_ratio" in body["message"]
    missing = api.get(CORRELATION, {"y": "qy_pct"}).json()
    assert missing["message"] == "x: this query parameter is required."
    text = api.get(CORRELATION, {"x": "architecture", "y": "qy_pct"}).json()
    assert text["message"].startswith("architecture: column is not numeric")


# --- aging -----------------------------------------------------------------------------------

def test_aging_endpoint_series_and_changes(demo, api):
    sample = Sample.objects.get(code=CDZNS_45)
    body = api.get(AGING, {"sample": sample.pk}).json()
    assert (body["sample_id"], body["sample_code"]) == (sample.pk, CDZNS_45)
    cd_s = [(r["age_days"], r["value"], r["err"]) for r in body["series"]
            if r["property"] == "cd_s_n"]
    assert cd_s == [(None, 2.367, 0.867), (76.09, 3.5, 0.3), (182.62, 2.7, 0.7)]
    change = body["changes"][0]
    assert (change["property"], change["from_value"], change["to_value"], change["significant"],
            change["verdict"]) == ("cd_s_n", 3.5, 2.7, False, "not significant")
    lineage = api.get(AGING, {"sample": sample.pk, "lineage": "true"}).json()
    assert {r["sample_code"] for r in lineage["series"]} == {CDZNS_45, "NPL-CdSe-4.5ML"}


def test_aging_endpoint_bad_sample(api):
    assert api.get(AGING).json()["message"] == "sample: this query parameter is required."
    assert api.get(AGING, {"sample": "abc"}).status_code == 400
    assert api.get(AGING, {"sample": "999999"}).status_code == 404
    assert api.get(AGING, {"sample": "1", "lineage": "maybe"}).status_code in (400, 404)


# --- plots -----------------------------------------------------------------------------------

def test_correlation_plots_png_and_svg(demo, api):
    params = {"x": "core_ml", "y": "qy_pct", "group": "architecture", "morphology": "NPL"}
    png = api.get("/api/analysis/plots/correlation.png", params)
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = api.get("/api/analysis/plots/correlation.svg", params)
    assert svg["Content-Type"] == "image/svg+xml"
    text = svg.content.decode()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "core/crown/shell" in text and "core/shell" in text  # legend: one entry per group
    assert api.get("/api/analysis/plots/correlation.png", {"x": "nope", "y": "qy_pct"}
                   ).status_code == 400


def test_aging_plots_png_and_svg(demo, api):
    sample = Sample.objects.get(code=CDZNS_45)
    png = api.get("/api/analysis/plots/aging.png", {"sample": sample.pk})
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png.content.startswith(b"\x89PNG")
    svg = api.get("/api/analysis/plots/aging.svg", {"sample": sample.pk})
    assert "cd_s_n" in svg.content.decode()
    assert api.get("/api/analysis/plots/aging.gif", {"sample": sample.pk}).status_code == 404


def test_schema_documents_the_endpoints(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/analysis/frame/", "/api/analysis/correlation/", "/api/analysis/aging/",
            "/api/analysis/plots/correlation.{fmt}", "/api/analysis/plots/aging.{fmt}"} <= \
        set(paths)
