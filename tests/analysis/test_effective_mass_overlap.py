"""Kind ``effective_mass_overlap`` end to end through POST /api/analysis-runs/ (inline job).

The numbers are the engine's (checked against analytical wells and a transfer-matrix solution
in tests/analysis/engines/test_effective_mass_engine.py); here: the request, the stored
quantities on the sample (seed 004 eqs. 2–3), the result page and the 400s.
"""

from __future__ import annotations

import pytest

from analysis.engines import effective_mass as engine
from analysis.models import AnalysisRun
from characterization.enums import DataSource
from characterization.models import ReportedQuantity
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CORE_SHELL = [{"x_hg_frac": 0.0, "outer_radius_nm": 1.4, "name": "CdSe"},
              {"x_hg_frac": 1.0, "outer_radius_nm": 2.0, "name": "HgSe"}]


def _post(api, sample, **parameters):
    body = {"kind": "effective_mass_overlap",
            "inputs": {"sample": sample.pk} if sample is not None else {},
            "parameters": {"layers": CORE_SHELL, **parameters}}
    return api.post("/api/analysis-runs/", body, format="json")


def test_overlap_run_stores_eqs_2_and_3_on_the_sample(api, member):
    sample = builders.sample("EMA-CS-4NM", actor=member, material="CdSe/HgSe", morphology="QD")
    response = _post(api, sample)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    direct = engine.solve_overlap([engine.alloy_layer(0.0, 1.4, "CdSe"),
                                   engine.alloy_layer(1.0, 2.0, "HgSe")])
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(extra__analysis_run=run["id"])}
    assert sorted(rows) == ["electron–hole overlap", "surface localization"]
    overlap, surface = rows["electron–hole overlap"], rows["surface localization"]
    assert (overlap.value, surface.value) == (direct["overlap"],
                                              direct["electron_surface_fraction"])
    assert {(r.sample, r.source, r.unit) for r in rows.values()} == {
        (sample, DataSource.COMPUTED, "")}
    assert (surface.extra["carrier"], overlap.extra["equation"]) == ("electron", "seed 004 eq. 2")
    from django.test import Client

    client = Client()
    client.force_login(member)
    page = client.get(f"/analysis-runs/{run['id']}/").content.decode()
    assert ('id="effective-mass-plot"' in page, f"{direct['overlap']:.4f}" in page) == (True, True)
    start = client.get("/analysis-runs/new/effective_mass_overlap/").content.decode()
    assert 'id="effective-mass-layers"' in start


def test_radii_that_do_not_increase_or_x_above_1_are_400s_naming_layers(api, member):
    sample = builders.sample("EMA-BAD", actor=member, material="CdSe", morphology="QD")
    bad = [{"x_hg_frac": 0.0, "outer_radius_nm": 2.0}, {"x_hg_frac": 1.0, "outer_radius_nm": 1.0}]
    response = _post(api, sample, layers=bad)
    assert (response.status_code, response.json()["field"]) == (400, "parameters.layers")
    response = _post(api, sample, layers=[{"x_hg_frac": 1.5, "outer_radius_nm": 2.0}])
    assert (response.status_code, response.json()["field"]) == (
        400, "parameters.layers.x_hg_frac")
    response = _post(api, None)
    assert (response.status_code, response.json()["field"]) == (400, "inputs.sample")
    assert not AnalysisRun.objects.filter(kind="effective_mass_overlap").exists()
