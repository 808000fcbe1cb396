"""The fit builder page, its bundled-structure list and the live processing preview endpoint,
on real files from ../shared/data/xas/ with real larch.

The preview's e0 and edge step must be exactly what a direct larch ``pre_edge`` call gives on
the same μ(E) (so the builder shows the numbers the fit will start from); refusals name the
field of the fit model the page shows them beside.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from analysis import services
from characterization.models import XASSpectrum
from characterization.parsers.registry import parse_file
from characterization.services import attach_data_file, declare_xas_absorber
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db
XAS = SHARED_DATA / "xas"
ZNSE = XAS / "xdi" / "zn_znse_rt.xdi"
CU_RT = XAS / "xdi" / "cu_metal_rt.xdi"
CU_10K = XAS / "xdi" / "cu_metal_10K.xdi"
CU01 = XAS / "larch_examples" / "feff_cu" / "feffcu01.dat"
#: session + user, the spectra with raw data (one query, whatever their number)
QUERIES_PER_PAGE = 3
PRE_EDGE = {"pre1": -150.0, "pre2": -40.0, "norm1": 80.0, "norm2": 600.0, "nnorm": 2}


def spectrum_of(path, code, actor=None):
    sample = builders.sample(code, material=code, morphology="bulk", actor=actor)
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                    sample=sample, actor=actor)
    assert data_file.parse_status == "ok", data_file.parse_error
    return XASSpectrum.objects.get(data_file=data_file)


def larch_mu(path):
    """μ(E) as the parser reads it from the raw file (what the service feeds larch)."""
    parsed = parse_file(path.read_bytes(), filename=path.name)
    mu = next(s for s in parsed.series if s.name.startswith("μ"))
    return np.asarray(mu.x, dtype=float), np.asarray(mu.y, dtype=float)


def preview(api, spectrum_id, **body):
    return api.post(f"/api/xas-spectra/{spectrum_id}/preview-processing/", body, format="json")


def builder_data(response) -> dict:
    html = response.content.decode()
    block = re.search(r'<script id="fit-builder-data" type="application/json">(.*?)</script>',
                      html, re.S)
    return json.loads(block.group(1))


# --- preview endpoint ----------------------------------------------------------------------

def test_preview_e0_and_edge_step_equal_a_direct_larch_pre_edge_call(api, member):
    from larch import Group
    from larch.xafs import pre_edge

    spectrum = spectrum_of(ZNSE, "FB-ZnSe", member)
    response = preview(api, spectrum.pk,
                       processing={"pre_edge": PRE_EDGE, "autobk": {"rbkg": 1.0, "kweight": 2}},
                       transform={"kmin": 3, "kmax": 12, "dk": 1, "window": "hanning",
                                  "kweight": 2, "rmin": 1.5, "rmax": 3.0})
    assert response.status_code == 200, response.content
    body = response.json()
    energy, mu = larch_mu(ZNSE)
    group = Group(energy=energy, mu=mu)
    pre_edge(group, **PRE_EDGE)
    assert (body["e0_ev"], body["edge_step"]) == (float(group.e0), float(group.edge_step))
    assert body["parameters"]["pre_edge"]["pre1"] == -150.0
    assert body["parameters"]["pre_edge"]["nnorm"] == 2
    assert body["parameters"]["xftf"]["kmax"] == 12
    assert body["chik"]["kweight"] == 2
    # curves are thinned for plotting but stay aligned
    assert len(body["mu"]["energy_ev"]) == len(body["mu"]["bkg"]) == len(body["mu"]["pre_edge"])
    assert len(body["chik"]["k_inv_a"]) == len(body["chik"]["kwin"])
    assert body["mu"]["energy_ev"][0] == float(f"{energy[0]:.6g}")


def test_preview_with_larch_defaults_matches_larch_defaults(api, member):
    from larch import Group
    from larch.xafs import pre_edge

    spectrum = spectrum_of(ZNSE, "FB-ZnSe-default", member)
    body = preview(api, spectrum.pk).json()
    energy, mu = larch_mu(ZNSE)
    group = Group(energy=energy, mu=mu)
    pre_edge(group)
    assert (body["e0_ev"], body["edge_step"]) == (float(group.e0), float(group.edge_step))


def test_preview_refuses_rbkg_beyond_the_bound_naming_the_field(api, member):
    spectrum = spectrum_of(ZNSE, "FB-ZnSe-rbkg", member)
    response = preview(api, spectrum.pk, processing={"autobk": {"rbkg": 5}})
    assert response.status_code == 400
    assert response.json()["field"] == "processing.autobk.rbkg"
    assert response.json()["message"].startswith(
        "processing.autobk.rbkg: 5 Å is outside 0–3 Å")


def test_preview_refuses_a_k_range_beyond_the_data_naming_transform_kmax(api, member):
    spectrum = spectrum_of(ZNSE, "FB-ZnSe-k", member)
    response = preview(api, spectrum.pk, transform={"kmin": 3, "kmax": 30})
    assert response.status_code == 400
    assert response.json()["field"] == "transform.kmax"
    assert "outside the data" in response.json()["message"]


def test_preview_refuses_an_unknown_setting_and_an_unknown_spectrum(api, member):
    spectrum = spectrum_of(ZNSE, "FB-ZnSe-key", member)
    response = preview(api, spectrum.pk, processing={"pre_edge": {"pre_one": -150}})
    assert (response.status_code, response.json()["field"]) == (400, "processing.pre_edge.pre_one")
    missing = preview(api, spectrum.pk + 1000)
    assert (missing.status_code, missing.json()["field"]) == (400, "spectrum")


def test_preview_needs_a_login(client, member):
    spectrum = spectrum_of(ZNSE, "FB-ZnSe-anon", member)
    assert preview(client, spectrum.pk).status_code in (401, 403)


# --- builder page --------------------------------------------------------------------------

def test_builder_page_lists_the_spectra_and_loads_its_script_without_inline_code(web, member):
    zn = spectrum_of(ZNSE, "FB-Page-Zn", member)
    cu = spectrum_of(CU_RT, "FB-Page-Cu", member)
    response = web.get(f"/fit-builder/?spectra={zn.pk},{cu.pk}")
    assert response.status_code == 200
    data = builder_data(response)
    assert [(s["id"], s["element"], s["edge"], s["file"]) for s in data["spectra"]] == [
        (zn.pk, "Zn", "K", "zn_znse_rt.xdi"), (cu.pk, "Cu", "K", "cu_metal_rt.xdi")]
    assert data["model"] is None
    assert data["urls"]["preview"] == "/api/xas-spectra/{id}/preview-processing/"
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs for attrs, code in scripts if code.strip() and "json" not in attrs] == []
    assert re.search(r'<script src="/static/js/fit_builder\.[0-9a-f]+\.js" defer>', html)
    assert "onclick" not in html and "javascript:" not in html


def test_builder_page_from_a_stored_fit_prefills_its_model_for_another_spectrum(
        web, member, django_capture_on_commit_callbacks):
    source = spectrum_of(CU_RT, "FB-Fit-Cu", member)
    target = spectrum_of(CU_10K, "FB-Fit-Cu-10K", member)
    model = {
        "feff": {"path_files": {"feffcu01": CU01.read_text()}},
        "parameters": {"amp": {"kind": "guess", "value": 1.0},
                       "de0": {"kind": "guess", "value": 0},
                       "ss": {"kind": "guess", "value": 0.003},
                       "dr": {"kind": "guess", "value": 0}},
        "datasets": [{"id": "cu", "spectrum": source.pk,
                      "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
                                     "xftf": {"kmin": 3, "kmax": 14, "kweight": 2, "dk": 4}},
                      "transform": {"kmin": 3, "kmax": 14, "kweight": 2, "dk": 4,
                                    "rmin": 1.4, "rmax": 3.0},
                      "paths": [{"path_file": "feffcu01", "s02": "amp", "e0": "de0",
                                 "sigma2": "ss", "deltar": "dr"}]}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        run = services.request_fit_run(model=model, actor=member)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    response = web.get(f"/fit-builder/?from_fit={run.result_id}&spectra={target.pk}")
    assert response.status_code == 200
    data = builder_data(response)
    assert data["from_fit"] == run.result_id
    assert [s["id"] for s in data["spectra"]] == [target.pk]
    prefilled = data["model"]
    assert prefilled["parameters"] == model["parameters"]
    dataset = prefilled["datasets"][0]
    assert dataset["spectrum"] == target.pk
    assert dataset["feff"] == model["feff"]  # the shared FEFF source moved into the dataset
    assert dataset["paths"] == model["datasets"][0]["paths"]
    assert "feff" not in prefilled
    # without spectra= the fit's own spectrum is used
    own = builder_data(web.get(f"/fit-builder/?from_fit={run.result_id}"))
    assert [s["id"] for s in own["spectra"]] == [source.pk]


def test_builder_page_for_a_unknown_fit_is_404_and_names_spectra_it_cannot_fit(web):
    assert web.get("/fit-builder/?from_fit=999999").status_code == 404
    response = web.get("/fit-builder/?spectra=999999")
    assert (response.status_code, builder_data(response)["missing"]) == (200, [999999])
    assert "Not in the builder: spectrum 999999" in response.content.decode()


def test_bundled_structures_list_the_amcsd_entries_of_an_element(web):
    response = web.get("/fit-builder/structures.json?element=Zn")
    assert response.status_code == 200
    rows = {row["amcsd_id"]: row for row in response.json()["structures"]}
    assert rows[11535]["mineral"] == "Stilleite"
    assert rows[11535]["elements"] == ["Se", "Zn"]
    assert rows[110]["mineral"] == "Sphalerite"
    assert all("Zn" in row["elements"] and len(row["elements"]) <= 3 for row in rows.values())
    bad = web.get("/fit-builder/structures.json?element=Zn1")
    assert (bad.status_code, bad.json()["field"]) == (400, "element")


def test_run_refusal_names_the_path_field_the_builder_maps_back(api, member):
    """The builder posts its model as is; a wrong path expression comes back naming the JSON
    path of that field (the page puts the message beside datasets[0].paths[0].sigma2)."""
    zn = spectrum_of(ZNSE, "FB-Refuse", member)
    model = {
        "parameters": {"amp": {"kind": "guess", "value": 1.0}},
        "datasets": [{"id": "zn_k", "spectrum": zn.pk,
                      "feff": {"path_files": {"feffcu01": CU01.read_text()}},
                      "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0}},
                      "transform": {"kmin": 3, "kmax": 12, "rmin": 1, "rmax": 3},
                      "paths": [{"path_file": "feffcu01", "s02": "amp", "sigma2": "nope"}]}],
    }
    response = api.post("/api/fit-runs/", {"model": model}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "model.datasets[0].paths[0].sigma2"


def test_builder_page_query_count_does_not_grow_with_the_spectra(
        web, member, django_assert_num_queries):
    spectra = [spectrum_of(path, f"FB-Q-{i}", member)
               for i, path in enumerate((ZNSE, CU_RT, CU_10K))]
    with django_assert_num_queries(QUERIES_PER_PAGE):
        assert web.get(f"/fit-builder/?spectra={spectra[0].pk}").status_code == 200
    with django_assert_num_queries(QUERIES_PER_PAGE):
        ids = ",".join(str(s.pk) for s in spectra)
        assert web.get(f"/fit-builder/?spectra={ids}").status_code == 200


def test_preview_answers_503_when_the_previews_of_this_process_are_saturated(
        api, member, monkeypatch):
    from analysis.services import processing

    spectrum = spectrum_of(ZNSE, "FB-Busy", member)
    monkeypatch.setattr(processing, "WAIT_S", 0.05)
    held = [processing._slots.acquire(timeout=1) for _ in range(processing.MAX_CONCURRENT)]
    try:
        response = preview(api, spectrum.pk)
    finally:
        for _ in held:
            processing._slots.release()
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert response.json()["message"] == (
        "The server is busy computing other previews; try again.")
    assert preview(api, spectrum.pk).status_code == 200


def test_preview_of_two_spectra_of_one_file_draws_each_its_own_scan(api, member):
    """ESRF SNBL 2013 holds two SPEC scans (two spectra of one file, one sha256): each preview
    shows its own scan's μ(E), as the parser reads it, not the first one cached."""
    path = XAS / "beamlines" / "ESRF_SNBL_2013.dat"
    sample = builders.sample("FB-SNBL", material="Ge", morphology="bulk", actor=member)
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                    sample=sample, actor=member)
    declare_xas_absorber(data_file=data_file, element="Ge", edge="K", actor=member)  # unstated
    spectra = list(XASSpectrum.objects.filter(data_file=data_file).order_by("group_index"))
    assert [s.group_index for s in spectra] == [0, 1]
    parsed = parse_file(path.read_bytes(), filename=path.name)
    for spectrum, scan in zip(spectra, parsed.series[:2], strict=True):
        response = preview(api, spectrum.pk)
        assert response.status_code == 200, response.content
        # 456 and 906 points: fewer than the plot's 1 500, so each curve is its whole scan
        assert len(response.json()["mu"]["energy_ev"]) == len(scan.x)
    assert [len(scan.x) for scan in parsed.series[:2]] == [456, 906]
