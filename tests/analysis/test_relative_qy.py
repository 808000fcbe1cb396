"""Relative QY as an analysis run, end to end on real exports.

Real files, uploaded through /api/files/ (the parse job derives their measurement rows):
``lab_exports/edinst/Fluoracle.csv`` (an emission scan, 600–850 nm) plays the sample,
``F980_EmScan.txt`` (675–820 nm) the indocyanine-green reference, the Cary
``CuPCtS_H2O_vis.csv`` absorbance spectrum gives an absorbance at the excitation wavelength,
``Fluoracle_emission_multiple.txt`` (five scans) serves the multi-scan file inputs. Neither
file has a published QY: the expected numbers are computed here from the text files read with
numpy (not our parsers), ``numpy.trapezoid`` and the closed-form propagation formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import AnalysisRun
from analysis.models_qy import QYStandard
from characterization.enums import DataSource
from characterization.models import AbsorptionMeasurement, DataFile, PLMeasurement
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

EDINST = SHARED_DATA / "lab_exports" / "edinst"
SAMPLE_PL = EDINST / "Fluoracle.csv"
ICG_PL = EDINST / "F980_EmScan.txt"
MULTI_PL = EDINST / "Fluoracle_emission_multiple.txt"
IRF = EDINST / "F980_IRF.txt"
FLUORACLE_ABS = EDINST / "Fluoracle_absorbance.txt"
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
CARY_FILTERS = SHARED_DATA / "instruments" / "cary_csv" / "filters.csv"
LN10 = math.log(10.0)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def numeric_rows(path, delimiter: str) -> np.ndarray:
    """The all-numeric rows of a text export (header lines skipped), read with numpy."""
    rows = []
    for line in path.read_text().splitlines():
        cells = [c for c in line.split(delimiter) if c.strip()]
        if not cells:
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            continue
    width = len(rows[-1])
    return np.array([r for r in rows if len(r) == width])


def integral(path, delimiter, lo, hi, column=1) -> float:
    table = numeric_rows(path, delimiter)
    x, y = table[:, 0], table[:, column]
    mask = (x >= lo) & (x <= hi)
    return float(np.trapezoid(y[mask], x[mask]))


def f_abs(a: float) -> float:
    return 1 - 10 ** (-a)


def dlnf(a: float) -> float:
    return LN10 * 10 ** (-a) / (1 - 10 ** (-a))


def upload(api, path, sample) -> DataFile:
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    data_file = DataFile.objects.get(pk=response.json()["id"])
    assert data_file.parse_status == "ok", data_file.parse_error
    return data_file


@pytest.fixture
def lab(api, member):
    """A QD sample with its emission and absorption files, an ICG reference sample with its
    emission file, and the multi-scan emission file on a third sample."""
    qd = builders.sample("QD-QY-1", material="HgCdSe", morphology="QD", actor=member)
    icg = builders.sample("REF-ICG", material="indocyanine green", morphology="other",
                          actor=member)
    multi = builders.sample("QD-QY-2", material="CdSe", morphology="QD", actor=member)
    files = {"sample_pl": upload(api, SAMPLE_PL, qd), "icg_pl": upload(api, ICG_PL, icg),
             "cary": upload(api, CARY, qd), "multi_pl": upload(api, MULTI_PL, multi)}
    return {"qd": qd, "icg": icg, "multi": multi, **files,
            "qd_pl": PLMeasurement.objects.get(data_file=files["sample_pl"]),
            "icg_pl_row": PLMeasurement.objects.get(data_file=files["icg_pl"]),
            "qd_abs": AbsorptionMeasurement.objects.get(data_file=files["cary"])}


def post(api, inputs, **parameters):
    body = {"kind": "relative_qy", "inputs": inputs,
            "parameters": {"standard": "indocyanine green in DMSO", "excitation_nm": 700.0,
                           "sample_range_nm": [700.0, 850.0],
                           "reference_range_nm": [720.0, 820.0],
                           "absorbance_reference": 0.05, "sample_solvent": "tetrachloroethylene",
                           **parameters}}
    return api.post("/api/analysis-runs/", body, format="json")


def field_of(response) -> str:
    """The field a 400 names: ``inputs.<role>`` / ``parameters.<field>``."""
    body = response.json()
    if body.get("field"):
        return body["field"]
    errors = body.get("errors", body)
    key = next(iter(errors))
    if key == "parameters" and isinstance(errors[key], dict):
        return f"parameters.{next(iter(errors[key]))}"
    return key


def test_seeded_standards_carry_a_doi_and_the_icg_value_of_seed_004():
    icg = QYStandard.objects.get(name="indocyanine green in DMSO")
    assert (icg.qy, icg.qy_err, icg.solvent, icg.refractive_index, icg.doi) == (
        0.13, None, "DMSO", 1.479, "10.1021/je60075a020")
    assert icg.excitation_min_nm <= 700 <= icg.excitation_max_nm
    assert all(s.doi.startswith("10.") for s in QYStandard.objects.all())
    assert QYStandard.objects.get(name="fluorescein in 0.1 M NaOH").qy == 0.925


def test_qy_run_stores_the_sample_qy_of_a_direct_computation(api, member, lab):
    response = post(api, {"sample_pl": lab["qd_pl"].pk, "reference_pl": lab["icg_pl_row"].pk,
                          "sample_absorption": lab["qd_abs"].pk})
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    cary = numeric_rows(CARY, ",")
    order = np.argsort(cary[:, 0])
    a_s = float(np.interp(700.0, cary[order, 0], cary[order, 1]))
    i_s = integral(SAMPLE_PL, ",", 700.0, 850.0)
    i_r = integral(ICG_PL, "\t", 720.0, 820.0)
    expected = 0.13 * (i_s / i_r) * (f_abs(0.05) / f_abs(a_s)) * (1.505**2 / 1.479**2)
    err = expected * math.hypot(dlnf(a_s) * 0.002, dlnf(0.05) * 0.002)  # ICG: no stated err
    row = PLMeasurement.objects.get(extra__analysis_run=run["id"])
    assert row.qy_pct == pytest.approx(expected * 100, rel=1e-9)
    assert row.qy_pct_err == pytest.approx(err * 100, rel=1e-9)
    assert (row.sample, row.data_file, row.source, row.qy_method, row.reference_dye,
            row.excitation_nm, row.solvent, row.owner) == (
        lab["qd"], lab["sample_pl"], DataSource.COMPUTED, "relative",
        "indocyanine green in DMSO", 700.0, "tetrachloroethylene", member)
    assert row.citation == f"analysis run {run['id']} (relative_qy)"
    out = run["output"]
    assert out["absorbances"]["sample"]["value"] == pytest.approx(a_s, rel=1e-12)
    warned = [w.split(" ")[0] for w in out["warnings"]]
    assert warned == ["the", "absorbance_sample:", "the"]  # 530 nm, A > 0.1, no err
    assert "states excitation at 530 nm" in out["warnings"][0]
    assert row.extra["warnings"] == out["warnings"]
    assert len(out["spectra"]["sample"]["wavelength_nm"]) == 251
    # the run page shows the QY and carries the plot data; the start page its pickers
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="relative-qy-plot"' in page, 'id="relative-qy-output"' in page,
            f"{row.qy_pct:.2f}" in page, "inner-filter" in page) == (True, True, True, True)
    start = _page(member, "/analysis-runs/new/relative_qy/")
    assert ('id="qy-sample-pl"' in start, 'id="qy-standards"' in start,
            "js/relative_qy." in start, "indocyanine green in DMSO" in start) == (
        True, True, True, True)


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_file_inputs_read_the_chosen_scans_and_the_absorbance_spectrum(api, lab):
    response = post(api, {"sample_pl_file": lab["multi_pl"].pk,
                          "reference_pl_file": lab["multi_pl"].pk,
                          "sample_absorption_file": lab["cary"].pk},
                    standard="rhodamine 6G in ethanol", excitation_nm=530.0,
                    sample_range_nm=[540.0, 590.0], reference_range_nm=None, sample_scan=2,
                    reference_scan=0, absorbance_reference=0.03, sample_solvent="toluene",
                    absorbance_model="linear", baseline_mode="constant", baseline_sample=10.0,
                    baseline_reference=12.0)
    assert response.status_code == 202, response.content
    run = AnalysisRun.objects.get(pk=response.json()["id"])
    assert run.status == "succeeded", run.log
    table = numeric_rows(MULTI_PL, "\t")
    x = table[:, 0]
    mask = (x >= 540.0) & (x <= 590.0)
    i_s = float(np.trapezoid(table[mask, 3] - 10.0, x[mask]))  # scan 2 = column 3
    i_r = float(np.trapezoid(table[mask, 1] - 12.0, x[mask]))
    cary = numeric_rows(CARY, ",")
    order = np.argsort(cary[:, 0])
    a_s = float(np.interp(530.0, cary[order, 0], cary[order, 1]))
    expected = 0.95 * (i_s / i_r) * (0.03 / a_s) * (1.497**2 / 1.361**2)
    rel = math.sqrt((0.015 / 0.95) ** 2 + (0.002 / a_s) ** 2 + (0.002 / 0.03) ** 2)
    row = PLMeasurement.objects.get(extra__analysis_run=run.pk)
    assert (row.qy_pct, row.qy_pct_err) == (pytest.approx(expected * 100, rel=1e-9),
                                            pytest.approx(expected * rel * 100, rel=1e-9))
    assert (row.sample, row.data_file, row.scan_index, row.reference_dye) == (
        lab["multi"], lab["multi_pl"], 2, "rhodamine 6G in ethanol")
    assert run.output["reference"]["range_nm"] == [540.0, 590.0]
    # the same request again is the same run; a curator's correction of the standard makes
    # it stale
    again = post(api, {"sample_pl_file": lab["multi_pl"].pk,
                       "reference_pl_file": lab["multi_pl"].pk,
                       "sample_absorption_file": lab["cary"].pk},
                 **{k: v for k, v in run.parameters.items() if k not in ("n_sample",
                                                                         "n_reference")},
                 )
    assert again.json()["id"] == run.pk
    from analysis.services.runs import staleness_of_run

    assert staleness_of_run(run) == ""
    standard = QYStandard.objects.get(name="rhodamine 6G in ethanol")
    QYStandard.objects.filter(pk=standard.pk).update(qy=0.94, version=standard.version + 1)
    assert "changed since the run" in staleness_of_run(run)


@pytest.fixture
def bad_files(api, member):
    odd = builders.sample("QY-ODD", material="CdSe", morphology="QD", actor=member)
    return {"irf": upload(api, IRF, odd), "abs": upload(api, FLUORACLE_ABS, odd),
            "filters": upload(api, CARY_FILTERS, odd)}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"inputs": {"reference_pl": None}}, "inputs.reference_pl", "required"),
    ({"inputs": {"sample_pl_file": "multi"}}, "inputs.sample_pl", "not both"),
    ({"inputs": {"sample_pl": None, "sample_pl_file": "abs"}}, "inputs.sample_pl_file",
     "emission spectrum"),
    ({"inputs": {"reference_pl": None, "reference_pl_file": "irf"}}, "inputs.reference_pl_file",
     "irf data"),
    ({"inputs": {"sample_absorption": None, "sample_absorption_file": "filters"},
      "parameters": {"sample_absorption_scan": 1}}, "inputs.sample_absorption_file", "%T"),
    ({"parameters": {"absorbance_reference": 0.0}}, "parameters.absorbance_reference",
     "positive absorbance"),
    ({"parameters": {"absorbance_reference": 2.5}}, "parameters.absorbance_reference",
     "saturated"),
    ({"parameters": {"absorbance_unit": "%T"}}, "parameters.absorbance_unit", "log10(%T)"),
    ({"parameters": {"standard": "coumarin 999"}}, "parameters.standard", "no QY standard"),
    ({"parameters": {"sample_range_nm": [550.0, 900.0]}}, "parameters.sample_range_nm",
     "outside the data"),
    ({"parameters": {"sample_solvent": "unobtainium"}}, "parameters.n_sample",
     "no refractive index"),
    ({"parameters": {"absorbance_reference": None}}, "parameters.absorbance_reference",
     "required"),
    ({"parameters": {"excitation_nm": 950.0}}, "inputs.sample_absorption", "outside"),
    ({"parameters": {"absorbance_sample": 0.05}}, "parameters.absorbance_sample", "not both"),
])
def test_bad_input_is_a_400_naming_the_field(api, lab, bad_files, change, field, says):
    ids = {"multi": lab["multi_pl"].pk, **{k: f.pk for k, f in bad_files.items()}}
    inputs = {"sample_pl": lab["qd_pl"].pk, "reference_pl": lab["icg_pl_row"].pk,
              "sample_absorption": lab["qd_abs"].pk}
    for role, value in change.get("inputs", {}).items():
        inputs[role] = ids[value] if isinstance(value, str) else value
    inputs = {k: v for k, v in inputs.items() if v is not None}
    response = post(api, inputs, **change.get("parameters", {}))
    assert (response.status_code, field_of(response)) == (400, field), response.content
    assert says in response.content.decode()
    assert not PLMeasurement.objects.filter(source=DataSource.COMPUTED).exists()


def test_qy_standards_list_serves_the_current_standards(api, anon_api):
    """GET /api/qy-standards/: members read the current standards; anonymous users do not."""
    QYStandard.objects.filter(name="cresyl violet in ethanol").update(is_retired=True)
    assert anon_api.get("/api/qy-standards/").status_code in (401, 403)
    response = api.get("/api/qy-standards/")
    rows = {r["name"]: (r["qy"], r["qy_err"], r["doi"]) for r in response.json()}
    assert (response.status_code, len(rows)) == (200, 8)
    assert rows["rhodamine 6G in ethanol"] == (
        0.95, 0.015, "10.1562/0031-8655(2002)075<0327:FQYATR>2.0.CO;2")
    assert "cresyl violet in ethanol" not in rows
