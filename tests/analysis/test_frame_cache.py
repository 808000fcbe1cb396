"""The frame cached per data version: fresh after every write, one query when cached, narrow
columns, streamed exports; and the correlation endpoint computed from its own columns."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.selectors.correlation import correlation_of_columns, frame_correlation
from analysis.selectors.frame_cache import (
    cached_structure_property_frame,
    clear_frame_cache,
    data_version,
)
from analysis.selectors.structure_property import structure_property_frame
from characterization.models import PLMeasurement
from characterization.services import record_measurement
from labdb.lib.records import retire_record
from synthesis.models import Sample
from synthesis.services import create_sample

pytestmark = pytest.mark.django_db

FRAME = "/api/analysis/frame/"


def _sample(code: str) -> Sample:
    return create_sample(data={"code": code, "name": f"batch {code}", "material": "CdSe",
                               "morphology": "NPL"})


def _pl(sample: Sample, qy_pct: float, age_days: float = 1.0) -> PLMeasurement:
    return record_measurement(model=PLMeasurement, sample=sample,
                              data={"qy_pct": qy_pct, "peak_nm": 512.0, "age_days": age_days})


@pytest.fixture
def lab(db):
    clear_frame_cache()
    samples = [_sample(f"FC-{i}") for i in range(3)]
    for i, sample in enumerate(samples):
        _pl(sample, qy_pct=10.0 * (i + 1))
    return samples


def _qy(api, code: str) -> float | None:
    rows = api.get(FRAME, {"sample_code": code, "columns": "qy_pct"}).json()
    return rows[0]["qy_pct"] if rows else None


def test_frame_cache_new_measurement_shows_in_next_request(lab, api):
    assert _qy(api, "FC-0") == 10.0
    _pl(lab[0], qy_pct=55.0, age_days=2.0)  # later: the "latest" rule picks it
    assert _qy(api, "FC-0") == 55.0


def test_frame_cache_retire_hides_and_new_sample_appears(lab, api):
    before = api.get(FRAME, {"columns": "qy_pct"}).json()
    assert [r["sample_code"] for r in before] == ["FC-0", "FC-1", "FC-2"]
    retire_record(lab[1], reason="contaminated batch")
    _pl(_sample("FC-3"), qy_pct=40.0)
    after = api.get(FRAME, {"columns": "qy_pct"}).json()
    assert after == [{"sample_code": "FC-0", "qy_pct": 10.0},
                     {"sample_code": "FC-2", "qy_pct": 30.0},
                     {"sample_code": "FC-3", "qy_pct": 40.0}]


def test_frame_cache_retired_measurement_leaves_the_frame(lab, api):
    assert _qy(api, "FC-2") == 30.0
    retire_record(PLMeasurement.objects.get(sample=lab[2]), reason="wrong cuvette")
    assert _qy(api, "FC-2") is None


def test_frame_cache_cached_request_is_one_query(lab, api, django_assert_num_queries):
    # The data version, then the frame's eleven narrow queries (one per branch).
    with django_assert_num_queries(12):
        first = api.get(FRAME, {"columns": "qy_pct,peak_nm"})
    with django_assert_num_queries(1):  # the data version only
        second = api.get(FRAME, {"columns": "qy_pct,peak_nm", "qy_pct__gte": "20"})
    assert [r["qy_pct"] for r in first.json()] == [10.0, 20.0, 30.0]
    assert second.json() == [{"sample_code": "FC-1", "qy_pct": 20.0, "peak_nm": 512.0},
                             {"sample_code": "FC-2", "qy_pct": 30.0, "peak_nm": 512.0}]


def test_frame_cache_equals_a_fresh_build(lab):
    for fit_choice in ("latest", "earliest"):
        cached = cached_structure_property_frame(fit_choice=fit_choice)
        pd.testing.assert_frame_equal(cached, structure_property_frame(fit_choice=fit_choice))
    assert cached_structure_property_frame(filters={"qy_pct__lt": 25}, columns=["qy_pct"]) \
        .to_dict("list") == {"sample_code": ["FC-0", "FC-1"], "qy_pct": [10.0, 20.0]}


def test_data_version_changes_with_each_write_and_not_without(lab):
    first = data_version()
    assert data_version() == first
    sample = Sample.objects.get(code="FC-0")
    sample.notes = "re-dispersed in hexane"
    sample.save()
    second = data_version()
    assert second != first
    retire_record(sample, reason="used up")
    assert data_version() not in (first, second)


def test_frame_columns_unknown_is_400_naming_it(lab, api):
    response = api.get(FRAME, {"columns": "qy_pct,quantum_yield"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("unknown column 'quantum_yield'; valid columns: "
                                                 "sample_code, sample_id,")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_frame_export_streams_large_frames_with_the_same_content(lab, api, settings, fmt):
    buffered = api.get(FRAME, {"format": fmt})
    assert not buffered.streaming
    settings.LABDB_FRAME_STREAM_MIN_ROWS = 2
    streamed = api.get(FRAME, {"format": fmt})
    assert streamed.streaming
    content = b"".join(streamed.streaming_content)
    if fmt == "json":
        assert json.loads(content) == buffered.json()
    else:
        assert content == buffered.content
        assert len(pd.read_csv(io.BytesIO(content))) == 3


# --- correlation from the cached frame's narrow columns --------------------------------------

CORRELATION = "/api/analysis/correlation/"
PEAKS_NM = (505.0, 511.0, 509.0, 520.0, 531.0, 526.0, 540.0, 537.0)
QYS_PCT = (12.0, 20.0, 18.0, 35.0, 47.0, 41.0, 70.0, 62.0)


@pytest.fixture
def series(db):
    clear_frame_cache()
    for i, (peak_nm, qy_pct) in enumerate(zip(PEAKS_NM, QYS_PCT, strict=True)):
        sample = create_sample(data={"code": f"CS-{i}", "name": f"batch {i}", "material": "CdSe",
                                     "morphology": "NPL" if i % 2 else "QD"})
        record_measurement(model=PLMeasurement, sample=sample,
                           data={"qy_pct": qy_pct, "peak_nm": peak_nm, "age_days": 1.0})


def test_correlation_equals_scipy_without_points_by_default(series, api):
    body = api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "group": "morphology"}).json()
    x, y = np.array(PEAKS_NM), np.array(QYS_PCT)
    line = stats.linregress(x, y)
    assert "points" not in body
    assert (body["n"], body["pearson_r"], body["pearson_p"]) == (8, *stats.pearsonr(x, y))
    assert (body["spearman_r"], body["spearman_p"]) == tuple(stats.spearmanr(x, y))
    assert (body["slope"], body["intercept"]) == (line.slope, line.intercept)
    npl = np.arange(8) % 2 == 1
    assert body["groups"]["NPL"]["pearson_r"] == stats.pearsonr(x[npl], y[npl]).statistic
    assert body["groups"]["QD"]["spearman_r"] == stats.spearmanr(x[~npl], y[~npl]).statistic


def test_correlation_narrow_equals_the_full_frame_answer(series):
    full = structure_property_frame()
    expected = correlation_of_columns(full, x="peak_nm", y="qy_pct", group="morphology")
    assert frame_correlation(x="peak_nm", y="qy_pct", group="morphology") == expected


def test_correlation_points_on_request_paginated(series, api, django_assert_num_queries):
    api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct"})  # builds and caches the frame
    with django_assert_num_queries(1):  # cached: the data version only
        body = api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "points": "true",
                                     "points_offset": "2", "points_limit": "3"}).json()
    assert (body["points_total"], body["points_offset"], body["points_limit"]) == (8, 2, 3)
    assert [(p["label"], p["x"], p["y"]) for p in body["points"]] == [
        ("CS-2", 509.0, 18.0), ("CS-3", 520.0, 35.0), ("CS-4", 531.0, 47.0)]
    bad = api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "points": "true",
                                "points_limit": "0"})
    assert (bad.status_code, bad.json()["message"]) == (
        400, "points_limit: expected 1 to 50000 points per page, got 0.")


def test_correlation_answer_is_kept_per_data_version_and_question(series, api):
    """The same question on the same data is answered from memory (the same object); another
    seed is another question; a new measurement changes the version and the next answer."""
    first = frame_correlation(x="peak_nm", y="qy_pct", group="morphology")
    assert frame_correlation(x="peak_nm", y="qy_pct", group="morphology") is first
    reseeded = frame_correlation(x="peak_nm", y="qy_pct", group="morphology", seed=7)
    assert reseeded is not first and reseeded["resampled"]["seed"] == 7
    assert (reseeded["pearson_r"], reseeded["n"]) == (first["pearson_r"], 8)
    record_measurement(model=PLMeasurement, sample=Sample.objects.get(code="CS-0"),
                       data={"qy_pct": 99.0, "peak_nm": 600.0, "age_days": 5.0})
    after = frame_correlation(x="peak_nm", y="qy_pct", group="morphology")
    x, y = np.array([600.0, *PEAKS_NM[1:]]), np.array([99.0, *QYS_PCT[1:]])
    assert after["pearson_r"] == stats.pearsonr(x, y).statistic != first["pearson_r"]
    assert api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "group": "morphology"}
                   ).json()["pearson_r"] == after["pearson_r"]


def test_a_page_of_points_from_the_api_is_that_slice_of_every_point(series, api):
    every = api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "points": "true"}).json()
    page = api.get(CORRELATION, {"x": "peak_nm", "y": "qy_pct", "points": "true",
                                 "points_offset": "5", "points_limit": "10"}).json()
    assert page["points"] == every["points"][5:15] and len(page["points"]) == 3
    assert page["points_total"] == every["points_total"] == len(every["points"]) == 8
    strip = {"points", "points_offset", "points_limit"}
    assert {k: v for k, v in page.items() if k not in strip} == \
        {k: v for k, v in every.items() if k not in strip}


def test_correlation_unknown_column_lists_the_full_frame(series, api):
    message = api.get(CORRELATION, {"x": "peak_nm", "y": "quantum_yield"}).json()["message"]
    assert message.startswith("unknown column 'quantum_yield'; valid columns: sample_code, ")
    assert "cd_s_cd_se_n_ratio" in message


@pytest.mark.django_db(transaction=True)
def test_frame_queries_share_one_transaction_of_their_own():
    # Outside any caller's transaction (autocommit), the frame's eleven queries are wrapped in
    # one transaction so that they read one state: a DEFERRED one on SQLite (not the settings'
    # BEGIN IMMEDIATE, a write lock for the whole build), REPEATABLE READ (which can only be
    # set as a transaction's first statement) on PostgreSQL.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sample = _sample("TX-1")
    _pl(sample, 42.0)
    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        frame = structure_property_frame()
    sqls = [q["sql"] for q in queries.captured_queries]
    # (Django logs PostgreSQL's implicit BEGIN; the level is set right after it.)
    opening = ["BEGIN DEFERRED"] if connection.vendor == "sqlite" else \
        ["BEGIN", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"]
    selects = [sql for sql in sqls if sql.startswith("SELECT")]
    assert (sqls[:len(opening)], len(selects)) == (opening, 11)
    assert frame["qy_pct"].tolist() == [42.0]
    assert not connection.in_atomic_block
