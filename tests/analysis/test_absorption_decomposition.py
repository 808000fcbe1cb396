"""Absorption decomposition as an analysis run, end to end on real UV-vis files.

Files are uploaded through /api/files/ onto a sample (the parse job makes an absorption
measurement where the file's parser finds a 1S peak), runs go through POST
/api/analysis-runs/ → the inline job → the stored result, and the stored records are
compared with the engine called directly on the same file (its own tests check the engine
against scipy curve_fit and numpy).
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.engines import absorption_decomposition as eng
from characterization.enums import DataSource
from characterization.models import AbsorptionMeasurement, DataFile, ReportedQuantity
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
FLUORACLE = SHARED_DATA / "lab_exports" / "edinst" / "Fluoracle_absorbance.txt"
EMISSION = SHARED_DATA / "lab_exports" / "edinst" / "Fluoracle_emission.txt"
UVWINLAB = SHARED_DATA / "lab_exports" / "perkinelmer_uvwinlab" / "UVWinlab.csv"
CARY_PARAMETERS = {"energy_range_ev": [1.55, 2.6], "model": "gaussians",
                   "background": "linear"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sample(member):
    return builders.sample("QD-ABS", material="CdSe", morphology="QD", actor=member)


def _upload(api, path, sample) -> DataFile:
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return DataFile.objects.get(pk=response.json()["id"])


def _post(api, inputs, **parameters):
    return api.post("/api/analysis-runs/", {"kind": "absorption_decomposition",
                                            "inputs": inputs, "parameters": parameters},
                    format="json")


def _run(api, inputs, **parameters) -> dict:
    response = _post(api, inputs, **parameters)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    return run


def _direct(path, **options):
    from characterization.parsers.registry import parse_file

    series = parse_file(path.read_bytes(), filename=path.name).series[0]
    return eng.decompose(np.asarray(series.x), np.asarray(series.y),
                         eng.DecompositionOptions(**options))


def test_run_on_an_absorption_measurement_stores_the_contract_records(api, member, sample):
    data_file = _upload(api, CARY, sample)
    parsed_row = AbsorptionMeasurement.objects.get(data_file=data_file, source="measured")
    run = _run(api, {"absorption": parsed_row.pk}, **CARY_PARAMETERS)
    direct = _direct(CARY, energy_range_ev=(1.55, 2.6), model="gaussians",
                     background="linear")
    out = run["output"]
    assert [t["center_ev"] for t in out["transitions"]] == [
        t["center_ev"] for t in direct["transitions"]]
    computed = AbsorptionMeasurement.objects.get(source=DataSource.COMPUTED)
    q = direct["quality"]
    assert (computed.sample, computed.data_file, computed.owner) == (sample, data_file, member)
    assert (computed.peak_1s_nm, computed.peak_1s_ev, computed.hwhm_1s_mev,
            computed.peak_to_valley) == (q["peak_1s_nm"], q["peak_1s_ev"], q["hwhm_1s_mev"],
                                         q["peak_to_valley"])
    assert computed.peak_1s_nm == pytest.approx(parsed_row.peak_1s_nm, abs=3.0)
    assert computed.extra["analysis_run"] == run["id"]
    assert computed.citation == f"analysis run {run['id']} (absorption_decomposition)"
    rows = ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).order_by("pk")
    energies = [(r.extra["transition"], r.value, r.err, r.unit) for r in rows
                if r.quantity == "transition energy"]
    assert energies == [(t["index"], t["center_ev"], t["center_err_ev"], "eV")
                        for t in direct["transitions"]]
    strengths = [(r.extra["transition"], r.value) for r in rows
                 if r.quantity == "relative oscillator strength"]
    assert strengths == [(t["index"], t["relative_oscillator_strength"])
                         for t in direct["transitions"]]
    assert {(r.sample_id, r.source) for r in rows} == {(sample.pk, DataSource.COMPUTED)}
    # the run page carries the plot data (json_script) and the script, no inline code
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert 'id="absorption-decomposition-output"' in page
    assert 'id="absorption-decomposition-plot"' in page
    assert "js/absorption_decomposition." in page
    start = _page(member, "/analysis-runs/new/absorption_decomposition/")
    assert 'id="absdec-absorption"' in start and "js/absorption_decomposition." in start


def test_run_on_a_file_with_eq1_stores_the_size_dispersion(api, sample):
    data_file = _upload(api, FLUORACLE, sample)
    assert not AbsorptionMeasurement.objects.filter(data_file=data_file).exists()
    run = _run(api, {"file": data_file.pk}, energy_range_ev=[2.15, 2.6], model="eq1",
               bulk_gap_ev=1.74)
    direct = _direct(FLUORACLE, energy_range_ev=(2.15, 2.6), model="eq1", bulk_gap_ev=1.74)
    dr = ReportedQuantity.objects.get(extra__analysis_run=run["id"],
                                      quantity="relative size dispersion")
    assert (dr.value, dr.err) == (direct["dR"], direct["dR_err"])
    computed = AbsorptionMeasurement.objects.get(data_file=data_file)
    assert computed.peak_1s_nm == direct["quality"]["peak_1s_nm"]
    assert computed.hwhm_1s_mev == direct["quality"]["hwhm_1s_mev"]


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _error_fields(response) -> str:
    assert response.status_code == 400, response.content
    return response.content.decode()


def test_a_pl_file_is_refused_naming_the_input(api, sample):
    data_file = _upload(api, EMISSION, sample)
    assert data_file.technique == "pl"
    body = _error_fields(_post(api, {"file": data_file.pk}))
    assert "inputs.file" in body and "expected a UV-vis absorbance spectrum" in body


def test_saturated_and_negative_absorbance_are_refused_naming_the_input(api, sample):
    data_file = _upload(api, UVWINLAB, sample)
    row = AbsorptionMeasurement.objects.get(data_file=data_file)
    body = _error_fields(_post(api, {"absorption": row.pk}))
    assert "inputs.absorption" in body and "negative absorbance" in body
    body = _error_fields(_post(api, {"absorption": row.pk},
                               energy_range_ev=[1239.84193 / 300, 1239.84193 / 262]))
    assert "inputs.absorption" in body and "saturated absorbance" in body


def test_bad_parameters_and_inputs_are_a_400_naming_the_field(api, sample):
    data_file = _upload(api, CARY, sample)
    row = AbsorptionMeasurement.objects.get(data_file=data_file)
    body = _error_fields(_post(api, {"absorption": row.pk}, energy_range_ev=[0.5, 1.2]))
    assert "parameters.energy_range_ev" in body and "outside the spectrum" in body
    body = _error_fields(_post(api, {"absorption": row.pk}, n_transitions=7,
                               energy_range_ev=[1.55, 2.6]))
    assert "parameters.n_transitions" in body and "only 2" in body
    body = _error_fields(_post(api, {"absorption": row.pk, "file": data_file.pk}))
    assert "inputs.absorption" in body and "not both" in body
    body = _error_fields(_post(api, {}))
    assert "inputs.absorption" in body
    body = _error_fields(_post(api, {"absorption": row.pk}, model="lorentzians"))
    assert "model" in body


def test_a_typed_in_absorption_without_a_file_is_refused(api, member, sample):
    from labdb.lib.records import save_validated

    typed = save_validated(AbsorptionMeasurement(sample=sample, peak_1s_nm=550.0,
                                                 owner=member))
    body = _error_fields(_post(api, {"absorption": typed.pk}))
    assert "inputs.absorption" in body and "no raw data file" in body


def test_a_failure_in_the_worker_is_stored_with_its_message(api, sample):
    """eq. 1 with a bulk gap above the transitions passes the request checks (the bounds come
    from the minima, found in the worker too) but the engine refuses it: the run is failed."""
    data_file = _upload(api, CARY, sample)
    row = AbsorptionMeasurement.objects.get(data_file=data_file)
    response = _post(api, {"absorption": row.pk}, energy_range_ev=[1.55, 2.6], model="eq1",
                     bulk_gap_ev=1.9)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "failed"
    assert "bulk band gap 1.9 eV is not below every transition" in str(run)
