"""Kind ``model_free_exafs`` through the run API, the job and the stored result, on real files.

Reference: CdS_10K_01 (bulk CdS greenockite, Cd K, 10 K; Cd–S N = 4, R = 2.528 Å as the
degeneracy-weighted mean of the crystal's 2.5179 Å ×1 and 2.5317 Å ×3). Unknown: CdS_10K_02,
a repeat scan of the same powder, so N ≈ 4 and ΔR ≈ 0 within the distribution's width.
The compare fit is the crystal structure's Cd–S shell recorded as a fit of the unknown's sample.
"""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from analysis.engines import model_free as engine
from analysis.engines.xas_processing import process_mu
from analysis.kinds.model_free import KIND
from analysis.models import AnalysisRun
from analysis.services.fits import load_mu
from characterization.models import ReportedQuantity, XASSpectrum
from characterization.services import attach_data_file, record_xas_fit
from labdb.lib import jobs
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
LIB = SHARED_DATA / "xas" / "xasdatalibrary"
R_CDS_A = 2.5283
PARAMETERS = {"k_range_inv_a": [3.0, 10.0], "r_window_a": [1.6, 2.8], "n_ref": 4,
              "r_ref_a": R_CDS_A, "repeats": 20, "seed": 7, "shell": "Cd–S"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _spectrum(name, code, actor):
    sample = builders.sample(code, material="CdS", morphology="bulk", actor=actor)
    path = LIB / name
    with jobs.inline():
        data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                        sample=sample, actor=actor)
    assert data_file.parse_status == "ok", data_file.parse_error
    return XASSpectrum.objects.get(data_file=data_file)


@pytest.fixture
def cds(member):
    reference = _spectrum("CdS_10K_01.xdi", "REF-CdS", member)
    unknown = _spectrum("CdS_10K_02.xdi", "CdS-scan2", member)
    crystal = record_xas_fit(sample=unknown.sample, actor=member, data={
        "absorber": "Cd", "edge_name": "K", "source": "published", "label": "greenockite",
        "citation": "AMCSD 15177 greenockite: Cd–S 2.5179 Å ×1, 2.5317 Å ×3"},
        paths=[{"absorber": "Cd", "scatterer": "S", "n": 4, "r_a": R_CDS_A}])
    other = _spectrum("CdO_10K_01.xdi", "REF-CdO", member)
    return {"reference": reference, "unknown": unknown, "fit": crystal, "cdo": other}


def _post(api, cds, **changes):
    inputs = {"reference": cds["reference"].pk, "unknown": cds["unknown"].pk,
              "compare_fit": cds["fit"].pk}
    inputs.update(changes.pop("inputs", {}))
    inputs = {role: value for role, value in inputs.items() if value is not None}  # omitted
    return api.post("/api/analysis-runs/", {"kind": "model_free_exafs", "inputs": inputs,
                                            "parameters": {**PARAMETERS, **changes}},
                    format="json")


def _direct_engine(cds):
    """The same fit by direct engine calls on the stored raw files (no run machinery)."""
    chis = []
    for spectrum in (cds["reference"], cds["unknown"]):
        energy, mu, _raw = load_mu(spectrum)
        done = process_mu(energy, mu, pre_edge={}, autobk={"rbkg": 1.0, "kweight": 2}, xftf={})
        chis += [done.k_inv_a, done.chi]
    window = engine.ShellWindow(kmin_inv_a=3.0, kmax_inv_a=10.0, dk_inv_a=1.0, kweight=2,
                                rmin_a=1.6, rmax_a=2.8, dr_a=0.2)
    return engine.fit_model_free(*chis, window=window, n_ref=4, r_ref_a=R_CDS_A, repeats=20,
                                 seed=7).to_json()


def test_model_free_run_api_stores_n_and_delta_r_beside_compare_fit(api, cds, member, client):
    response = _post(api, cds)
    assert response.status_code == 202, response.json()
    run = AnalysisRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.error, run.progress_pct) == ("succeeded", "", 100)
    out = run.output
    n, dr = out["parameters"]["n"], out["parameters"]["delta_r_a"]
    assert abs(n["mean"] - 4.0) < 2 * n["sd"]
    assert abs(dr["mean"]) < 2 * dr["sd"]
    assert out["compare_fit"]["fit"] == cds["fit"].pk
    assert out["compare_fit"]["path"]["n"] == 4
    # the run's numbers are the engine's, called directly on the same raw files
    direct = _direct_engine(cds)
    assert out["parameters"] == direct["parameters"]
    assert out["samples"] == direct["samples"]

    rows = ReportedQuantity.objects.filter(extra__analysis_run=run.pk).order_by("pk")
    assert [(r.quantity, r.unit, r.source) for r in rows] == [
        ("Model-free EXAFS N (Cd–S)", "", "computed"),
        ("Model-free EXAFS Δσ² (Cd–S)", "Å²", "computed"),
        ("Model-free EXAFS ΔR (Cd–S)", "Å", "computed"),
        ("Model-free EXAFS ΔE0 (Cd–S)", "eV", "computed"),
    ]
    assert {r.sample_id for r in rows} == {cds["unknown"].sample_id}
    assert (rows[0].value, rows[0].err) == (n["mean"], n["sd"])
    assert KIND.summary(run) == (f"Cd–S: N = {n['mean']:.2f} ± {n['sd']:.2f}, ΔR = "
                                 f"{dr['mean']:.3f} ± {dr['sd']:.3f} Å (20 fits)")
    assert rows[0].extra["compare_fit"] == cds["fit"].pk
    assert rows[0].extra["quantiles"] == n["quantiles"]

    html = render_to_string(KIND.result_template, {"run": run, "kind": KIND})
    assert 'id="model-free-parameters"' in html  # json_script for model_free.js, no inline JS
    assert "samples" not in html  # the M-long sample lists stay out of the page
    assert "<script>" not in html
    row_n = html.split('data-parameter="n"')[1].split("</tr>")[0]
    assert f"{n['mean']:.3f} ± {n['sd']:.3f}" in row_n
    assert "<td>4.000</td>" in row_n  # the compare fit's N beside
    client.force_login(member)
    page = client.get(f"/analysis-runs/{run.pk}/")
    assert page.status_code == 200
    assert page.content.decode().count('id="model-free-result"') == 1
    form = render_to_string(KIND.form_template, {"run": None, "kind": KIND})
    assert 'data-role="compare_fit"' in form and "<script>" not in form


def test_model_free_same_request_returns_the_stored_run(api, cds):
    first = _post(api, cds, repeats=3)
    again = _post(api, cds, repeats=3)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["repeat"] is True


def test_model_free_r_window_without_peak_is_400_naming_r_window(api, cds):
    response = _post(api, cds, r_window_a=[4.6, 5.2])
    assert response.status_code == 400
    body = response.json()
    assert "parameters.r_window_a" in str(body), body
    assert "no peak" in str(body)
    assert not AnalysisRun.objects.filter(kind="model_free_exafs").exists()


def test_model_free_k_range_beyond_data_is_400_naming_k_range(api, cds):
    response = _post(api, cds, k_range_inv_a=[3.0, 19.0])
    assert response.status_code == 400
    assert "parameters.k_range_inv_a" in str(response.json())


def test_model_free_compare_fit_of_another_sample_is_400(api, cds, member):
    other_fit = record_xas_fit(sample=cds["reference"].sample, actor=member, data={
        "absorber": "Cd", "edge_name": "K", "source": "published", "citation": "x"},
        paths=[{"absorber": "Cd", "scatterer": "S", "n": 4, "r_a": R_CDS_A}])
    response = _post(api, cds, inputs={"compare_fit": other_fit.pk})
    assert response.status_code == 400
    assert "inputs.compare_fit" in str(response.json())


def test_model_free_unknown_on_another_edge_is_400_naming_unknown(api, cds, member):
    selenium = _spectrum("Se_ZnSe_rt_01.xdi", "ZnSe-Se", member)
    response = _post(api, cds, inputs={"unknown": selenium.pk, "compare_fit": None})
    assert response.status_code == 400
    assert "inputs.unknown" in str(response.json())
    assert "edge" in str(response.json())


def test_model_free_negative_n_bound_is_400_naming_bounds(api, cds):
    response = _post(api, cds, bounds={"n": [-1, 6]})
    assert response.status_code == 400
    assert "bounds" in response.json()["field"]
    assert "negative" in str(response.json())
