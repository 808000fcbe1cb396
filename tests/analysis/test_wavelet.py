"""Kind ``xas_wavelet`` end to end on real CdS (Cd K, 10 K, XASDataLibrary CdS_10K_01): POST
/api/analysis-runs/ → inline job → stored map equal to a direct larch call on the same χ(k)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.engines.xas_processing import process_mu
from analysis.models import AnalysisRun
from analysis.services.fits import load_mu
from characterization.enums import DataSource
from characterization.models import ReportedQuantity
from tests.analysis.test_fit_runs import XAS, spectrum_of

pytestmark = pytest.mark.django_db
URL = "/api/analysis-runs/"
CDS = XAS / "xasdatalibrary" / "CdS_10K_01.xdi"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def cds(member):
    return spectrum_of(CDS, code="REF-CdS-10K", element="Cd", actor=member)


def _post(api, spectrum_id: int, **parameters):
    return api.post(URL, {"kind": "xas_wavelet", "inputs": {"spectrum": spectrum_id},
                          "parameters": parameters}, format="json")


def test_wavelet_run_equals_direct_larch_cauchy_wavelet(api, member, cds):
    from larch import Group
    from larch.xafs import cauchy_wavelet

    response = _post(api, cds.pk, k_weight=2, k_range_inv_a=[2, 16], r_range_a=[0, 6],
                     bands_a=[[1.5, 3.0], [3.0, 4.5]])
    assert response.status_code == 202, response.content
    run = api.get(f"{URL}{response.json()['id']}/").json()
    assert run["status"] == "succeeded", (run.get("error"), run.get("log"))
    out = run["output"]
    energy, mu, raw = load_mu(cds)
    # the kind's E0: the spectrum's stored one (from its file), else larch's
    pre_edge = {"e0": cds.e0_ev} if cds.e0_ev else {}
    done = process_mu(energy, mu, pre_edge=pre_edge, autobk={"rbkg": 1.0}, xftf={})
    assert out["e0_ev"] == done.e0_ev
    k = done.k_inv_a
    group = Group(k=k, chi=np.where((k >= 2) & (k <= 16), done.chi, 0.0))
    cauchy_wavelet(group, kweight=2)
    rows = np.searchsorted(group.wcauchy_r, out["r_a"])
    cols = np.searchsorted(k, out["k_inv_a"])
    assert np.array(out["magnitude"]).tolist() == \
        group.wcauchy_mag[np.ix_(rows, cols)].tolist()
    assert (out["eta"], out["eta_is_larch_default"]) == (326, True)
    assert len(out["r_a"]) <= 200 and len(out["k_inv_a"]) <= 200
    assert out["spectrum"]["sha256"] == raw["sha256"]
    assert run["provenance"]["engine"] == {"name": "labdb.wavelet (larch cauchy_wavelet)",
                                           "version": "1"}
    records = ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).order_by("pk")
    assert [(r.quantity, r.value, r.unit, r.source) for r in records] == [
        ("Cauchy wavelet ridge R, band 1.5–3 Å (k^2)", out["ridges"][0]["r_a"], "angstrom",
         DataSource.COMPUTED),
        ("Cauchy wavelet ridge R, band 3–4.5 Å (k^2)", out["ridges"][1]["r_a"], "angstrom",
         DataSource.COMPUTED)]
    # Cd–S and Cd–Cd without phase correction
    assert [round(r["r_a"], 2) for r in out["ridges"]] == [2.09, 3.85]
    # the run page: the map and |χ(R)| plots get their data by json_script (no inline JS)
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="wavelet-map"' in page, 'id="wavelet-chir"' in page, "js/wavelet." in page,
            'id="wavelet-magnitude"' in page, f"{out['ridges'][0]['r_a']:.3f}" in page) == \
        (True, True, True, True, True)


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_wavelet_start_form_starts_a_run(member, cds):
    from django.test import Client

    assert 'id="wavelet-form"' in _page(member, "/analysis-runs/new/xas_wavelet/")
    client = Client()
    client.force_login(member)
    response = client.post("/analysis-runs/new/xas_wavelet/start/", {
        "input_spectrum": str(cds.pk),
        "parameters": '{"k_range_inv_a": [2, 14], "bands_a": [[1.5, 3.0]]}'})
    run = AnalysisRun.objects.get(kind="xas_wavelet")
    assert (response.status_code, response["Location"]) == (302, f"/analysis-runs/{run.pk}/")
    assert run.status == "succeeded", run.error


def test_wavelet_of_a_simulated_spectrum_is_labelled(api, cds):
    type(cds).objects.filter(pk=cds.pk).update(source=DataSource.SIMULATED)
    run = _post(api, cds.pk, k_range_inv_a=[2, 14], bands_a=[[1.5, 3.0]]).json()
    assert run["status"] == "succeeded", run.get("error")
    assert run["output"]["spectrum"]["simulated"] is True
    (row,) = ReportedQuantity.objects.filter(extra__analysis_run=run["id"])
    assert row.quantity.endswith("(SIMULATED)")


@pytest.mark.parametrize(("parameters", "field", "starts"), [
    ({"k_range_inv_a": [2, 19]}, "parameters.k_range_inv_a",
     "parameters.k_range_inv_a: k ends at 19 Å⁻¹, beyond the data of"),
    ({"bands_a": [[5, 7]]}, "parameters.bands_a",
     "parameters.bands_a: band 1 [5, 7] Å lies outside the R range [0, 6] Å."),
    ({"r_range_a": [0, 12]}, "parameters.r_range_a", "parameters.r_range_a: R ends at most"),
    ({"k_weight": 5}, "parameters.k_weight", "parameters.k_weight: Ensure this value"),
    ({"e0_ev": 1000}, "parameters.e0_ev", "parameters.e0_ev: E0 = 1000 eV is outside"),
])
def test_wavelet_bad_request_is_a_400_naming_the_field(api, cds, parameters, field, starts):
    response = _post(api, cds.pk, **parameters)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(starts), response.json()["message"]
    assert not AnalysisRun.objects.filter(kind="xas_wavelet").exists()
