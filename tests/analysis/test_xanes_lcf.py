"""XANES LCF and PCA as analysis runs, end to end on the cyanobacteria Au L3 project.

The project is uploaded through /api/files/ (no group by default), its groups are linked to
samples (the time-series unknowns to the lab's sample, the standards to reference samples),
and runs go through POST /api/analysis-runs/ → the inline job → stored result. Numbers are
compared with direct larch calls on ``read_athena`` groups (xraylarch examples/pca).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from characterization.enums import DataSource
from characterization.models import DataFile, ReportedQuantity, XASSpectrum
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

PRJ = SHARED_DATA / "lab_exports" / "xas_lcf" / "cyanobacteria.prj"
CU_XDI = SHARED_DATA / "xas" / "xdi" / "cu_metal_rt.xdi"
RANGE_EV = [11870.0, 12030.0]
NORMALIZATION = {"pre1_ev": -150, "pre2_ev": -30, "norm1_ev": 150, "norm2_ev": 850, "nnorm": 1}
# group index in the project → name used below
GROUPS = {7: "d_720", 5: "d_20", 8: "Au_foil", 10: "Au3_Cl_aq", 11: "Au_hydroxide",
          12: "Au_cyanide", 13: "Au_thiocyanide", 14: "Au_sulphide", 15: "Au_thiosulphate_aq"}
PCA_SET = ("Au_foil", "Au3_Cl_aq", "Au_hydroxide", "Au_thiocyanide", "Au_sulphide",
           "Au_thiosulphate_aq")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def spectra(api, member) -> dict[str, XASSpectrum]:
    """The project uploaded once; unknowns on AU-CYANO, each standard on its reference sample."""
    unknown = builders.sample("AU-CYANO", material="Au", morphology="QD", actor=member)
    body = {"file": SimpleUploadedFile(PRJ.name, PRJ.read_bytes()), "sample": unknown.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    data_file = DataFile.objects.get(pk=response.json()["id"])
    linked = api.post(f"/api/files/{data_file.pk}/link/",
                      {"sample": unknown.pk, "groups": [5, 7]}, format="json")
    assert linked.status_code == 200, linked.content
    for index, name in GROUPS.items():
        if name.startswith("d_"):
            continue
        ref = builders.sample(f"REF-{name}", material="Au", morphology="bulk", actor=member)
        done = api.post(f"/api/files/{data_file.pk}/link/",
                        {"sample": ref.pk, "groups": [index]}, format="json")
        assert done.status_code == 200, done.content
    rows = XASSpectrum.objects.filter(data_file=data_file)
    return {GROUPS[r.group_index]: r for r in rows}


@pytest.fixture(scope="module")
def athena():
    """The project read by larch itself, normalized as xraylarch examples/pca/pca_aucyano.py."""
    from larch.io import read_athena
    from larch.xafs import pre_edge

    prj = read_athena(str(PRJ), do_fft=False, do_bkg=False)
    for name in GROUPS.values():
        pre_edge(getattr(prj, name), pre1=-150, pre2=-30, nnorm=1, norm1=150, norm2=850)
    return prj


def _post(api, kind: str, inputs: dict, **parameters):
    body = {"kind": kind, "inputs": inputs,
            "parameters": {"energy_range_ev": RANGE_EV, "normalization": NORMALIZATION,
                           **parameters}}
    return api.post("/api/analysis-runs/", body, format="json")


def test_lcf_run_stores_the_fractions_of_a_direct_lincombo_fit(api, member, spectra, athena):
    from larch.math import lincombo_fit

    names = ("Au_foil", "Au3_Cl_aq", "Au_thiocyanide")
    response = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk,
                                        "standards": [spectra[n].pk for n in names]},
                     all_combinations=False)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    direct = lincombo_fit(athena.d_720, [getattr(athena, n) for n in names], arrayname="norm",
                          xmin=RANGE_EV[0], xmax=RANGE_EV[1], sum_to_one=True,
                          minvals=[0.0] * 3, maxvals=[1.0] * 3)
    expected = [(f"XANES LCF fraction: REF-{n} {spectra[n].group_label}", w,
                 direct.params[k].stderr) for n, (k, w) in zip(names, direct.weights.items(),
                                                                strict=True)]
    rows = ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).order_by("pk")
    fractions = [(r.quantity, r.value, r.err) for r in rows if "fraction" in r.quantity]
    assert fractions == expected
    assert {(r.sample.code, r.source, r.unit) for r in rows if "fraction" in r.quantity} == {
        ("AU-CYANO", DataSource.COMPUTED, "fraction")}
    stats = {r.quantity: r.value for r in rows if "fraction" not in r.quantity}
    assert stats == {"XANES LCF reduced chi-square": direct.redchi,
                     "XANES LCF R-factor": direct.rfactor}
    # the plot arrays are in the run's output
    best = run["output"]["best"]
    assert (best["fit"], len(best["weighted_components"])) == (direct.yfit.tolist(), 3)
    # the run page shows the weights and carries the plot's data (json_script, no inline JS)
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="xanes-lcf-plot"' in page, 'id="xanes-lcf-output"' in page,
            f"{direct.weights[next(iter(direct.weights))]:.4f}" in page) == (True, True, True)
    start = _page(member, "/analysis-runs/new/xanes_lcf/")
    assert ('id="xanes-standards"' in start, "js/xanes_lcf." in start) == (True, True)


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_lcf_all_combinations_ranked_and_a_simulated_standard_keeps_its_label(
        api, spectra, athena):
    from larch.math import lincombo_fitall

    names = ("Au_foil", "Au3_Cl_aq", "Au_thiocyanide")
    XASSpectrum.objects.filter(pk=spectra["Au_thiocyanide"].pk).update(
        source=DataSource.SIMULATED)
    response = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk,
                                        "standards": [spectra[n].pk for n in names]})
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    direct = lincombo_fitall(athena.d_720, [getattr(athena, n) for n in names],
                             arrayname="norm", xmin=RANGE_EV[0], xmax=RANGE_EV[1],
                             minvals=[0.0] * 3, maxvals=[1.0] * 3, max_output=10_000)
    assert [r["reduced_chi_square"] for r in run["output"]["ranked"]] == [
        r.redchi for r in direct]
    labels = [c["label"] for c in run["output"]["fit"]["components"]]
    assert labels[2] == f"REF-Au_thiocyanide {spectra['Au_thiocyanide'].group_label} (SIMULATED)"
    simulated = ReportedQuantity.objects.filter(extra__analysis_run=run["id"],
                                                extra__simulated=True)
    in_best = [c["label"] for c in run["output"]["best"]["components"] if c["simulated"]]
    assert [r.quantity for r in simulated] == [f"XANES LCF fraction: {x}" for x in in_best]


def test_pca_run_stores_the_variances_of_a_direct_pca_train(api, member, spectra, athena):
    from larch.math import pca_train

    response = _post(api, "xanes_pca", {"spectra": [spectra[n].pk for n in PCA_SET],
                                        "unknowns": [spectra["d_720"].pk],
                                        "targets": [spectra["Au_cyanide"].pk]},
                     n_components=4)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    direct = pca_train([getattr(athena, n) for n in PCA_SET], arrayname="norm",
                       xmin=RANGE_EV[0], xmax=RANGE_EV[1])
    rows = ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).order_by("pk")
    variances = [r.value for r in rows if "variance" in r.quantity]
    assert variances == pytest.approx(direct.variances.tolist(), abs=1e-12)
    # documented (xraylarch XANES_PCA_example, older larch): agreement to ±5e-5
    assert variances == pytest.approx([0.76698, 0.17138, 0.04203, 0.01884, 0.00077, 0.0],
                                      abs=6e-5)
    model = run["output"]["model"]
    assert (model["n_significant"], run["output"]["n_components"]) == (int(direct.nsig), 4)
    (tt,) = run["output"]["targets"]
    assert tt["label"] == f"REF-Au_cyanide {spectra['Au_cyanide'].group_label}"
    target_row = rows.get(quantity__startswith="XANES PCA target transform")
    assert (target_row.sample.code, target_row.value) == ("REF-Au_cyanide", tt["r_factor"])
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="xanes-pca-scree"' in page, f"{variances[0]:.5f}" in page) == (True, True)


def _field(response) -> str:
    body = response.json()
    return body.get("field") or next(iter(body.get("errors", body)))


def test_lcf_refuses_standards_on_another_edge(api, member, spectra):
    cu = builders.sample("CU-FOIL", material="Cu", morphology="bulk", actor=member)
    body = {"file": SimpleUploadedFile(CU_XDI.name, CU_XDI.read_bytes()), "sample": cu.pk}
    assert api.post("/api/files/", body, format="multipart").status_code == 202
    cu_k = XASSpectrum.objects.get(sample=cu)
    response = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk,
                                        "standards": [spectra["Au_foil"].pk, cu_k.pk]})
    assert (response.status_code, _field(response)) == (400, "inputs.standards")
    assert "Au L3" in str(response.json())


def test_lcf_refuses_an_energy_range_outside_the_data(api, spectra):
    # group d_20 ends at 12460.8 eV
    response = _post(api, "xanes_lcf", {"unknown": spectra["d_20"].pk,
                                        "standards": [spectra["Au_foil"].pk,
                                                      spectra["Au_sulphide"].pk]},
                     energy_range_ev=[11870.0, 12600.0])
    assert (response.status_code, _field(response)) == (400, "parameters.energy_range_ev")
    assert "outside the data of AU-CYANO 20" in str(response.json())


def test_lcf_refuses_fewer_than_two_standards(api, spectra):
    response = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk,
                                        "standards": [spectra["Au_foil"].pk]})
    assert (response.status_code, _field(response)) == (400, "inputs.standards")


def test_lcf_refuses_duplicate_standards_and_the_unknown_as_a_standard(api, spectra):
    foil = spectra["Au_foil"].pk
    twice = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk, "standards": [foil, foil]})
    itself = _post(api, "xanes_lcf", {"unknown": spectra["d_720"].pk,
                                      "standards": [foil, spectra["d_720"].pk]})
    assert [(r.status_code, _field(r)) for r in (twice, itself)] == [
        (400, "inputs.standards"), (400, "inputs.standards")]


def test_pca_refuses_too_many_components(api, spectra):
    response = _post(api, "xanes_pca", {"spectra": [spectra[n].pk for n in PCA_SET[:3]]},
                     n_components=4)
    assert (response.status_code, _field(response)) == (400, "parameters.n_components")
