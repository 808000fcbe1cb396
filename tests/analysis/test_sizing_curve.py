"""``sizing_curve`` runs end to end: POST /api/analysis-runs/ → the inline job → computed
ReportedQuantity rows on the sample, with the curve in the run's output.

The real input is the Cary 50 CSV of ../shared/data/instruments/cary_csv (CuPCtS in water,
a dye, not CdSe: its band at 615 nm stands in for a 1S peak to exercise the raw-file path;
the numbers are checked against numpy on the file read as plain text, not against a
published size). Typed inputs are labelled as such.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from characterization.enums import DataSource
from characterization.models import AbsorptionMeasurement, ReportedQuantity
from characterization.services import record_measurement
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
HC = 1239.841984
YU_CDSE = [1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sample(member):
    return builders.sample("CDSE-QD-1", material="CdSe", morphology="QD", actor=member)


@pytest.fixture
def absorption(api, sample) -> AbsorptionMeasurement:
    body = {"file": SimpleUploadedFile(CARY.name, CARY.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return AbsorptionMeasurement.objects.get(data_file_id=response.json()["id"])


def _cary() -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for line in CARY.read_text().splitlines()[2:]:
        if not line.strip():
            break
        rows.append([float(v) for v in line.split(",")[:2]])
    data = np.array(sorted(rows))
    return data[:, 0], data[:, 1]


def _post(api, inputs: dict, **parameters):
    return api.post("/api/analysis-runs/", {"kind": "sizing_curve", "inputs": inputs,
                                            "parameters": parameters}, format="json")


def _field(response) -> str:
    body = response.json()
    return body.get("field") or next(iter(body.get("errors", body)))


def _run(api, response) -> dict:
    assert response.status_code == 202, response.content
    return api.get(f"/api/analysis-runs/{response.json()['id']}/").json()


def test_run_on_the_raw_file_stores_size_epsilon_concentration_and_mu(api, member, sample,
                                                                     absorption):
    assert absorption.peak_1s_nm == pytest.approx(614.9726563)
    run = _run(api, _post(api, {"absorption": absorption.pk}, correlation="yu2003_cdse",
                          peak_from="spectrum", path_length_cm=1.0, dilution_factor=10.0))
    assert run["status"] == "succeeded", run.get("log")
    # independent: the parabola in energy through the 5 points around the red-most maximum
    x, y = _cary()
    i = int(np.argmin(np.abs(x - 614.9726563)))
    a, b, _c = np.polyfit(HC / x[i - 2:i + 3], y[i - 2:i + 3], 2)
    peak = HC / (-b / (2 * a))
    d = np.polyval(YU_CDSE, peak)
    eps = 5857 * d ** 2.65
    absorbance = float(np.interp(peak, x, y))
    conc_um = absorbance * 10.0 / (eps * 1.0) * 1e6
    volume_cm3 = math.pi / 6 * (d * 1e-7) ** 3
    mu = math.log(10) * eps * 1000 / (6.02214076e23 * volume_cm3)
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(
        extra__analysis_run=run["id"])}
    assert set(rows) == {"diameter from sizing curve", "molar absorption coefficient",
                         "concentration", "intrinsic absorption coefficient"}
    got = {q: (r.value, r.unit) for q, r in rows.items()}
    assert got["diameter from sizing curve"][0] == pytest.approx(d, rel=1e-9)
    assert got["molar absorption coefficient"][0] == pytest.approx(eps, rel=1e-9)
    assert got["concentration"][0] == pytest.approx(conc_um, rel=1e-9)
    assert got["intrinsic absorption coefficient"][0] == pytest.approx(mu, rel=1e-6)
    assert [got[q][1] for q in ("diameter from sizing curve", "molar absorption coefficient",
                                "concentration", "intrinsic absorption coefficient")] == [
        "nm", "M⁻¹ cm⁻¹", "µM", "cm⁻¹"]
    for row in rows.values():
        assert (row.sample_id, row.source, row.owner_id) == (sample.pk, DataSource.COMPUTED,
                                                             member.pk)
        assert row.extra["correlation"] == "yu2003_cdse"
        assert row.extra["doi"] == "10.1021/cm034081k"
        assert row.citation == f"analysis run {run['id']} (sizing_curve)"
        assert row.err is not None and row.err > 0
    # the plot's arrays are in the output; the pages render
    out = run["output"]
    assert out["curve"]["peak_1s_nm"][0] == 450.0 and len(out["spectrum"]["wavelength_nm"]) == 141
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="sizing-curve-plot"' in page, 'id="sizing-curve-output"' in page,
            f"{d:.2f}" in page) == (True, True, True)
    start = _page(member, "/analysis-runs/new/sizing_curve/")
    assert ('id="sizing-absorption"' in start, 'id="sizing-correlation"' in start,
            "js/sizing_curve." in start) == (True, True, True)


def test_typed_1s_and_absorbance_on_the_sample(api, sample):
    """Typed (no file): 1S at 560 ± 1 nm, A = 0.20 ± 0.004, 2 mm cell, Jasieniak 2009."""
    run = _run(api, _post(api, {"sample": sample.pk}, correlation="jasieniak2009_cdse",
                          peak_1s_nm=560.0, peak_1s_err_nm=1.0, absorbance=0.2,
                          absorbance_err=0.004, path_length_cm=0.2))
    assert run["status"] == "succeeded", run.get("log")
    e = HC / 560.0
    d = (59.60816 - 0.54736 * 560 + 1.8873e-3 * 560 ** 2 - 2.85743e-6 * 560 ** 3
         + 1.62974e-9 * 560 ** 4)
    eps = 155507 + 6.67054e13 * math.exp(-e / 0.10551)
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(extra__analysis_run=run["id"])}
    assert rows["diameter from sizing curve"].value == pytest.approx(d, rel=1e-9)
    assert rows["concentration"].value == pytest.approx(0.2 / (eps * 0.2) * 1e6, rel=1e-9)
    assert rows["concentration"].sample_id == sample.pk
    assert run["output"]["peak_from"] == "typed"


def test_epsilon_only_correlation_takes_a_given_diameter(api, sample):
    """Typed: HgSe 3.4 ± 0.2 nm (seed 004's size series), A(400 nm) = 0.5."""
    run = _run(api, _post(api, {"sample": sample.pk}, correlation="seed004_hgse",
                          diameter_nm=3.4, diameter_err_nm=0.2, absorbance=0.5))
    assert run["status"] == "succeeded", run.get("log")
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(extra__analysis_run=run["id"])}
    assert "diameter from sizing curve" not in rows
    eps = rows["molar absorption coefficient"]
    assert (eps.value, eps.extra["wavelength_nm"]) == (pytest.approx(0.0317 * 3.4 ** 3 * 1e6),
                                                       400.0)
    assert eps.err == pytest.approx(eps.value * 3 * 0.2 / 3.4, rel=1e-9)


@pytest.mark.parametrize(("parameters", "field", "words"), [
    ({"correlation": "yu2003_cdse", "peak_1s_nm": 700.0, "absorbance": 0.1},
     "parameters.peak_1s_nm", "does not extrapolate"),
    ({"correlation": "yu2003_cdse", "peak_1s_nm": 560.0, "absorbance": -0.02},
     "parameters.absorbance", "positive absorbance"),
    ({"correlation": "yu2003_cdse", "peak_1s_nm": 560.0, "absorbance": 3.1},
     "parameters.absorbance", "dilute"),
    ({"correlation": "no_such", "peak_1s_nm": 560.0}, "parameters.correlation", ""),
    ({"correlation": "yu2003_cdse", "peak_1s_nm": 560.0, "diameter_nm": 3.0},
     "parameters.diameter_nm", "sizes from the 1S peak"),
    ({"correlation": "seed004_hgse", "absorbance": 0.2}, "parameters.diameter_nm", "diameter"),
    ({"correlation": "yu2003_cdse", "peak_1s_nm": 560.0}, "parameters.absorbance",
     "absorbance"),
])
def test_bad_parameters_are_a_400_naming_the_field(api, sample, parameters, field, words):
    response = _post(api, {"sample": sample.pk}, **parameters)
    assert (response.status_code, _field(response)) == (400, field), response.content
    assert words in str(response.json())


def test_bad_inputs_are_a_400_naming_the_role(api, member, sample, absorption):
    none = _post(api, {}, correlation="yu2003_cdse", peak_1s_nm=560.0, absorbance=0.1)
    other = builders.sample("OTHER-1", material="CdSe", morphology="QD", actor=member)
    mismatch = _post(api, {"absorption": absorption.pk, "sample": other.pk},
                     correlation="yu2003_cdse")
    # the stored 1S (615 nm) is outside the PbS range: known at request time → 400
    stored = _post(api, {"absorption": absorption.pk}, correlation="moreels2009_pbs",
                   peak_from="measurement", absorbance_from="none")
    typed_in = record_measurement(model=AbsorptionMeasurement, sample=sample,
                                  data={"peak_1s_nm": 560.0}, actor=member)
    no_file = _post(api, {"absorption": typed_in.pk}, correlation="yu2003_cdse")
    assert [(r.status_code, _field(r)) for r in (none, mismatch, stored, no_file)] == [
        (400, "inputs.absorption"), (400, "inputs.sample"), (400, "inputs.absorption"),
        (400, "inputs.absorption")]
    assert "does not extrapolate" in str(stored.json())
    assert "no raw file" in str(no_file.json())


def test_a_peak_found_outside_the_range_fails_the_run_with_its_message(api, absorption):
    run = _run(api, _post(api, {"absorption": absorption.pk}, correlation="moreels2009_pbs",
                          peak_from="spectrum", absorbance_from="none"))
    assert run["status"] == "failed"
    assert "inputs.absorption: the 1S peak at 614.7 nm" in str(run)
    assert "does not extrapolate" in str(run)
    assert not ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).exists()


def test_stored_measurement_peak_with_absorbance_from_the_file(api, absorption):
    run = _run(api, _post(api, {"absorption": absorption.pk}, correlation="jasieniak2009_cdse",
                          epsilon_rel_err=0.1))
    assert run["status"] == "succeeded", run.get("log")
    assert run["output"]["peak_from"] == "measurement"
    assert run["output"]["peak_1s_nm"]["value"] == pytest.approx(614.9726563)
    conc = run["output"]["concentration_um"]
    assert conc["err"] / conc["value"] >= 0.1  # ε's 10 % is in the propagated error


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_kinds_endpoint_lists_the_correlations_and_roles(api):
    kinds = {k["name"]: k for k in api.get("/api/analysis-runs/kinds/").json()}
    sizing = kinds["sizing_curve"]
    assert [(r["name"], r["type"], r["required"]) for r in sizing["inputs"]] == [
        ("absorption", "absorption", False), ("sample", "sample", False)]
    schema = sizing["parameters_schema"]["properties"]
    assert set(schema["correlation"]["enum"]) == {
        "yu2003_cdse", "yu2003_cdte", "yu2003_cds", "jasieniak2009_cdse", "moreels2009_pbs",
        "moreels2007_pbse", "seed004_hgse"}
    assert schema["path_length_cm"]["default"] == 1.0


def test_typed_numbers_are_checked_at_request_when_the_peak_comes_from_the_file(api,
                                                                               absorption):
    saturated = _post(api, {"absorption": absorption.pk}, correlation="yu2003_cdse",
                      peak_from="spectrum", absorbance=2.4)
    negative_mu = _post(api, {"absorption": absorption.pk}, correlation="yu2003_cdse",
                        peak_from="spectrum", mu_wavelength_nm=400.0, mu_absorbance=-0.1)
    assert [(r.status_code, _field(r)) for r in (saturated, negative_mu)] == [
        (400, "parameters.absorbance"), (400, "parameters.mu_absorbance")]
