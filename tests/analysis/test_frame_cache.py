"""The frame cached per data version: fresh after every write, one query when cached, narrow
columns, streamed exports; and the correlation endpoint computed from its own columns."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

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
    with django_assert_num_queries(2):  # the data version, then the frame's one query
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
