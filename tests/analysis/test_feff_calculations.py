"""FEFF calculations as a resource: compute (bounded, stored by cache key), upload path files,
download feff.inp and each path, reference a stored calculation from a fit model, see it on
the fit page and on its own page.

Real FEFF (feff6l from the xraylarch wheel) on the ZnSe zinc-blende lattice, real uploaded path
files of Larch's Cu example, real fits of ``cu_metal_rt.xdi``.
"""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from analysis import services
from analysis.engines import feff as feff_engine
from analysis.models import FeffCalculation, FitRun
from labdb.lib.errors import DomainError
from tests.analysis.test_fit_runs import fit_a_model, run_now, spectrum_of
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.django_db]
XAS = SHARED_DATA / "xas"
FEFF_CU = XAS / "larch_examples" / "feff_cu"
ZNSE = {"source": "lattice", "kind": "zincblende", "a_a": 5.6676, "cation": "Zn", "anion": "Se"}
URL = "/api/feff-calculations/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def znse_request(**changes):
    return {"structure": ZNSE, "absorber": "Zn", "edge": "K", "cluster_radius_a": 4.5,
            "feff_version": 6, **changes}


def upload(api, *names, folder=FEFF_CU, extra=()):
    files = [SimpleUploadedFile(n, (folder / n).read_bytes()) for n in names]
    files += [SimpleUploadedFile(n, content) for n, content in extra]
    return api.post(URL, {"files": files}, format="multipart")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- compute
def test_post_structure_computes_paths_then_answers_200_from_the_store(api):
    response = api.post(URL, znse_request(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    calc = FeffCalculation.objects.get()
    assert (body["id"], body["source"], body["absorber"], body["edge"]) == (
        calc.pk, "computed", "Zn", "K")
    assert (body["cluster_radius_a"], body["feff_version"], body["structure"]) == (4.5, 6, ZNSE)
    base = f"http://testserver{URL}{calc.pk}"
    assert body["feff_inp_url"] == f"{base}/feff.inp"
    rows = [(p["name"], p["index"], p["nleg"], p["reff_a"], p["degen"], p["scatterers"],
             p["amplitude_ratio_pct"], p["url"]) for p in body["paths"]]
    assert rows == [
        ("feff0001.dat", 1, 2, 2.4541, 4.0, "Zn-Se", 100.0, f"{base}/paths/feff0001.dat"),
        ("feff0002.dat", 2, 2, 4.0076, 12.0, "Zn-Zn", 78.433, f"{base}/paths/feff0002.dat"),
        ("feff0003.dat", 3, 3, 4.4579, 12.0, "Zn-Se-Se", 10.921, f"{base}/paths/feff0003.dat"),
        ("feff0004.dat", 4, 3, 4.4579, 24.0, "Zn-Zn-Se", 32.645, f"{base}/paths/feff0004.dat"),
    ]
    assert body["elapsed_s"] == calc.elapsed_s and body["elapsed_s"] > 0
    # the same calculation again: the stored one, FEFF not started
    before = feff_engine.feff_run_counts()
    again = api.post(URL, znse_request(), format="json")
    assert (again.status_code, again.json()["id"]) == (200, calc.pk)
    assert feff_engine.feff_run_counts() == before
    assert FeffCalculation.objects.count() == 1


def test_feff_inp_and_path_files_download_as_text(api):
    calc_id = api.post(URL, znse_request(), format="json").json()["id"]
    calc = FeffCalculation.objects.get(pk=calc_id)
    inp = api.get(f"{URL}{calc_id}/feff.inp")
    assert (inp.status_code, inp["Content-Type"]) == (200, "text/plain; charset=utf-8")
    assert inp["Content-Disposition"] == 'attachment; filename="feff.inp"'
    assert inp.content.decode() == calc.feff_input
    assert inp.content.decode().splitlines()[:2] == [
        "TITLE ZnSe zincblende a=5.6676, Zn K", "HOLE      1   1.0"]
    path = api.get(f"{URL}{calc_id}/paths/feff0001.dat")
    text = path.content.decode()
    assert text == feff_engine.FeffRun.from_json(calc.path_files).paths[0].text
    assert hashlib.sha256(path.content).hexdigest() == calc.paths[0]["sha256"]
    files_dat = api.get(f"{URL}{calc_id}/paths/files.dat").content.decode()
    assert files_dat.splitlines()[-4].split() == [
        "feff0001.dat", "0.00000", "100.000", "4.000", "2", "2.4541"]
    missing = api.get(f"{URL}{calc_id}/paths/feff0099.dat")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"FEFF calculation {calc_id} has no file feff0099.dat."


def test_list_filters_by_absorber(api):
    zn = api.post(URL, znse_request(), format="json").json()["id"]
    se = api.post(URL, znse_request(absorber="Se"), format="json").json()["id"]
    listed = api.get(URL, {"absorber": "Se"}).json()
    assert [c["id"] for c in listed["results"]] == [se]
    assert [c["id"] for c in api.get(URL).json()["results"]] == [se, zn]
    assert api.get(f"{URL}{se}/").json()["paths"][0]["scatterers"] == "Se-Zn"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"absorber": "Zn"}, "structure",
     "structure: send JSON {structure, absorber, edge, cluster_radius_a, feff_version} to "
     "compute FEFF paths, or upload feffNNNN.dat files as multipart."),
    (znse_request(structure={**ZNSE, "a_a": None}), "structure.a_a",
     "structure.a_a: expected the lattice constant a in Å."),
    (znse_request(structure={**ZNSE, "a_a": "5.67"}), "structure.a_a",
     "structure.a_a: expected a number (Å), got '5.67'."),
    (znse_request(structure={**ZNSE, "anion": "Xx"}), "structure.anion",
     "structure.anion: 'Xx' is not an element symbol."),
    (znse_request(structure={**ZNSE, "kind": "rocksalt"}), "structure.kind",
     "structure.kind: lattice kind must be 'zincblende' or 'wurtzite', got 'rocksalt'."),
    (znse_request(structure={"source": "icsd"}), "structure.source",
     "structure.source: expected amcsd (a CIF bundled with larixite), cif or lattice, "
     "got 'icsd'."),
    (znse_request(structure={"source": "cif", "cif_text": "data_x\n"}), "structure.cif_text",
     "structure.cif_text: not a CIF: the text has no _cell_length_a or _atom_site entries."),
    (znse_request(structure={"source": "amcsd", "elements": ["Zn", "Xe"]}),
     "structure.elements", "structure.elements: no bundled AMCSD structure with elements Zn-Xe."),
    (znse_request(absorber="Cd"), "absorber",
     "absorber: absorber 'Cd' is not in the lattice (Zn, Se)."),
    (znse_request(edge="M5"), "edge", "edge: expected one of K, L1, L2, L3, got 'M5'."),
    (znse_request(cluster_radius_a=9), "cluster_radius_a",
     "cluster_radius_a: expected a radius between 2 and 8 Å (larger clusters: run the fit as a "
     "background job), got 9."),
    (znse_request(feff_version=7), "feff_version", "feff_version: expected 6 or 8, got 7."),
    (znse_request(structure={**ZNSE, "a_a": 2.5}, cluster_radius_a=8), "cluster_radius_a",
     "cluster_radius_a: 8 Å gives 1099 atoms; at most 400 are computed in a request — choose a "
     "smaller radius."),
])
def test_bad_structure_input_is_400_naming_the_field(api, body, field, message):
    before = feff_engine.feff_run_counts()
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == (field, message)
    assert feff_engine.feff_run_counts() == before
    assert FeffCalculation.objects.count() == 0


def test_anonymous_cannot_read_or_compute(anon_api):
    assert anon_api.get(URL).status_code in (401, 403)
    assert anon_api.post(URL, znse_request(), format="json").status_code in (401, 403)


# --------------------------------------------------------------------------- upload
def test_uploaded_path_files_are_stored_once_with_their_sha256(api):
    names = ("feff0001.dat", "feff0002.dat", "feff0003.dat")
    response = upload(api, *names)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["source"], body["absorber"], body["edge"], body["feff_version"]) == (
        "uploaded", "Cu", "K", 6)
    assert (body["feff_inp_url"], body["files_dat_url"], body["cluster_radius_a"]) == (
        None, None, None)
    assert body["structure"] == {"source": "uploaded",
                                 "files": {n: sha(FEFF_CU / n) for n in names}}
    rows = [(p["name"], p["nleg"], p["reff_a"], p["degen"], p["scatterers"],
             p["amplitude_ratio_pct"], p["sha256"]) for p in body["paths"]]
    assert rows == [
        ("feff0001.dat", 2, 2.5478, 12.0, "Cu-Cu", None, sha(FEFF_CU / "feff0001.dat")),
        ("feff0002.dat", 2, 3.6032, 6.0, "Cu-Cu", None, sha(FEFF_CU / "feff0002.dat")),
        ("feff0003.dat", 3, 3.8218, 48.0, "Cu-Cu-Cu", None, sha(FEFF_CU / "feff0003.dat")),
    ]
    download = api.get(body["paths"][2]["url"])
    assert download.content == (FEFF_CU / "feff0003.dat").read_bytes()
    again = upload(api, *names)
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    assert FeffCalculation.objects.count() == 1


def test_upload_with_feff_inp_keeps_it_and_its_radius(api):
    response = upload(api, "feff0001.dat", "feff6l_Cu.inp")
    assert response.status_code == 201, response.json()
    body = response.json()
    inp = api.get(body["feff_inp_url"]).content
    assert inp == (FEFF_CU / "feff6l_Cu.inp").read_bytes()
    calc = FeffCalculation.objects.get()
    assert body["cluster_radius_a"] == calc.cluster_radius_a == _rmax(FEFF_CU / "feff6l_Cu.inp")


def _rmax(path) -> float:
    line = next(ln for ln in path.read_text().splitlines() if ln.split()[:1] == ["RMAX"])
    return float(line.split()[1])


@pytest.mark.parametrize(("extra", "message"), [
    ((("notes.txt", b"hello"),),
     "notes.txt: not a FEFF file; expected path files (feffNNNN.dat), feff.inp or files.dat."),
    ((("feff0009.dat", b"Cu metal\n 2 12.0 2.54\n"),),
     "feff0009.dat: not a FEFF path file (no path header with nleg, degeneracy and reff, or no "
     "k / real[p] table)."),
    ((("files.dat", b"nothing here\n"),),
     "files.dat: not FEFF's path list (no 'feffNNNN.dat sig2 amp ratio deg nlegs r effective' "
     "rows)."),
])
def test_upload_refuses_a_file_that_is_not_feff_naming_it(api, extra, message):
    response = upload(api, "feff0001.dat", extra=extra)
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("files", message)
    assert FeffCalculation.objects.count() == 0


def test_upload_of_paths_with_two_absorbers_is_refused(api):
    zn = api.post(URL, znse_request(), format="json").json()["id"]
    text = api.get(f"{URL}{zn}/paths/feff0001.dat").content
    response = upload(api, "feff0001.dat", extra=(("feff0101.dat", text),))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "files: the path files have different absorbers (Cu, Zn); upload one FEFF calculation "
        "at a time.")


# --------------------------------------------------------------------------- permissions
def test_members_cannot_delete_curators_delete_unused_calculations(api, curator_api):
    calc_id = upload(api, "feff0001.dat").json()["id"]
    assert api.delete(f"{URL}{calc_id}/").status_code == 403
    assert FeffCalculation.objects.filter(pk=calc_id).exists()
    assert curator_api.delete(f"{URL}{calc_id}/").status_code == 204
    assert not FeffCalculation.objects.filter(pk=calc_id).exists()


# --------------------------------------------------------------------------- fits by id
def calculation_model(calc_id: int) -> dict:
    model = fit_a_model()
    model["feff"] = {"calculation": calc_id}
    model["datasets"][0]["paths"][0]["path_file"] = "feffcu01"
    return model


@pytest.mark.slow
def test_fit_referencing_an_uploaded_calculation_equals_the_pasted_path_file(
        api, curator_api, member, django_capture_on_commit_callbacks):
    response = upload(api, "feffcu01.dat", "feff0002.dat")
    assert response.status_code == 201, response.json()
    calc_id = response.json()["id"]
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    by_id = run_now(django_capture_on_commit_callbacks, spectrum=spectrum,
                    model=calculation_model(calc_id), actor=member)
    assert (by_id.status, by_id.error) == ("succeeded", "")
    pasted = run_now(django_capture_on_commit_callbacks, spectrum=spectrum, model=fit_a_model(),
                     actor=member)
    assert pasted.result_id != by_id.result_id
    assert by_id.result.r_factor == pasted.result.r_factor
    assert by_id.result.provenance["parameters"] == pasted.result.provenance["parameters"]
    feff = by_id.result.provenance["feff"]
    assert (feff["source"], feff["calculation"], feff["calculation_source"]) == (
        "calculation", calc_id, "uploaded")
    assert feff["sha256"] == {"feff0002": sha(FEFF_CU / "feff0002.dat"),
                              "feffcu01": sha(FEFF_CU / "feffcu01.dat")}
    assert by_id.feff_id == calc_id
    # used by a fit: kept
    refused = curator_api.delete(f"{URL}{calc_id}/")
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        f"FEFF calculation {calc_id} is used by fit run(s) {by_id.pk}; it is kept so those fits "
        "can be repeated.")
    # the fit page shows the calculation's paths and links
    web = Client()
    web.force_login(member)
    html = web.get(f"/fits/{by_id.result_id}/").content.decode()
    assert '<h2 id="h-fit-feff">FEFF</h2>' in html
    assert f'href="/api/feff-calculations/{calc_id}/paths/feffcu01.dat"' in html
    assert f'<a href="/feff/{calc_id}/">FEFF calculation {calc_id}</a>' in html
    assert "No feff.inp was uploaded with these path files." in html
    assert '<h2 id="h-fit-feff">' not in web.get(f"/fits/{pasted.result_id}/").content.decode()


def test_model_naming_a_missing_calculation_is_refused_before_queueing(member):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    with pytest.raises(DomainError) as caught:
        services.request_fit_run(spectrum=spectrum, model=calculation_model(999_999))
    assert (caught.value.field, caught.value.message) == (
        "model.feff.calculation",
        "model.feff.calculation: there is no stored FEFF calculation 999999 (upload the path "
        "files or compute them at /api/feff-calculations/).")
    assert FitRun.objects.count() == 0


def test_feff_page_shows_inp_path_table_and_downloads(api, member):
    calc_id = api.post(URL, znse_request(), format="json").json()["id"]
    web = Client()
    web.force_login(member)
    html = web.get(f"/feff/{calc_id}/").content.decode()
    assert f"<h1>FEFF calculation {calc_id}: Zn K edge</h1>" in html
    assert ('<tr><th scope="row">1</th><td>Zn-Se</td><td>2</td><td>2.4541</td><td>4</td>'
            f'<td>100.000</td><td><a href="/api/feff-calculations/{calc_id}/paths/feff0001.dat" '
            'download="feff0001.dat">feff0001.dat</a></td></tr>') in html
    assert f'href="/api/feff-calculations/{calc_id}/feff.inp" download="feff.inp"' in html
    assert "HOLE      1   1.0" in html
    assert web.get("/feff/999999/").status_code == 404


@pytest.mark.slow
def test_fit_computed_from_a_structure_shows_its_feff_on_the_fit_page(
        api, member, django_capture_on_commit_callbacks):
    from tests.analysis.test_fit_runs import znse_structure_model

    spectrum = spectrum_of(XAS / "xdi" / "zn_znse_rt.xdi", code="REF-ZnSe", actor=member)
    run = run_now(django_capture_on_commit_callbacks, spectrum=spectrum,
                  model=znse_structure_model(), actor=member)
    assert (run.status, run.error) == ("succeeded", "")
    calc = FeffCalculation.objects.get()
    assert run.feff_id == calc.pk
    # the API answers 200 with the calculation the fit computed (same cache key)
    same = api.post(URL, znse_request(), format="json")
    assert (same.status_code, same.json()["id"]) == (200, calc.pk)
    web = Client()
    web.force_login(member)
    html = web.get(f"/fits/{run.result_id}/").content.decode()
    assert f'<a href="/feff/{calc.pk}/">FEFF calculation {calc.pk}</a>' in html
    assert f'href="/api/feff-calculations/{calc.pk}/feff.inp" download="feff.inp"' in html
    assert "<summary>feff.inp</summary>" in html
