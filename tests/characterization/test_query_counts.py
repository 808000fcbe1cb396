"""List endpoints of the characterization API: the same number of queries for 1 and 3 items."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characterization import services
from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    FTIRMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASSpectrum,
    XRDMeasurement,
)
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/tem-sizes/",
    "/api/pl-measurements/",
    "/api/absorption-measurements/",
    "/api/pl-lifetimes/",
    "/api/xrd-measurements/",
    "/api/ftir-measurements/",
    "/api/compositions/",
    "/api/xas-spectra/",
    "/api/xas-fits/",
    "/api/reported-quantities/",
    "/api/files/",
]


def _make(i: int, member) -> None:
    sample = builders.sample(f"QC-{i}", actor=member)
    simple = {
        TEMSizeMeasurement: {"length_nm": 10.0},
        PLMeasurement: {"qy_pct": 50.0},
        AbsorptionMeasurement: {"peak_1s_nm": 500.0},
        XRDMeasurement: {"phase": "ZB"},
        FTIRMeasurement: {"wavenumber_min_cm1": 400.0},
        CompositionMeasurement: {"method": "EDS", "ratios": {"Cd/Se": 1.1}},
        XASSpectrum: {"element": "Cd", "edge": "K"},
        ReportedQuantity: {"quantity": "angle", "value": 106.1},
    }
    for model, data in simple.items():
        services.record_measurement(model=model, sample=sample, data=data, actor=member)
    services.record_pl_lifetime(
        sample=sample, data={}, actor=member, components=[{"tau_ns": 2.0}, {"tau_ns": 20.0}]
    )
    services.record_xas_fit(
        sample=sample,
        actor=member,
        data={"absorber": "Cd", "source": "published"},
        paths=[
            {"absorber": "Cd", "scatterer": "S", "n": 4},
            {"absorber": "Cd", "scatterer": "Se", "n": 1},
        ],
    )
    services.attach_data_file(
        content=f"not an instrument file {i}\n".encode() * 5,
        filename=f"note-{i}.txt",
        sample=sample,
        actor=member,
    )


@pytest.mark.parametrize("url", ENDPOINTS)
def test_list_query_count_same_for_1_and_3_items(url, api, member, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _make(0, member)
    with CaptureQueriesContext(connection) as one:
        assert api.get(url).json()["count"] == 1
    _make(1, member)
    _make(2, member)
    with CaptureQueriesContext(connection) as three:
        assert api.get(url).json()["count"] == 3
    assert len(three.captured_queries) == len(one.captured_queries), url
