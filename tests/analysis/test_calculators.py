"""Calculator kinds (bond angle, coordination ratio, stoichiometry candidates) on seed 002's
published numbers as the demo stores them, and their columns in the structure–property frame."""

from __future__ import annotations

import json
import math

import pytest

from analysis.demo import ensure_demo_loader
from analysis.models import AnalysisRun
from analysis.selectors.structure_property import structure_property_frame
from characterization.demo import load_characterization
from characterization.enums import DataSource
from characterization.models import ReportedQuantity, XASFit
from synthesis.demo import load_synthesis, read_demo_file
from synthesis.models import Sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def seed002(db):
    """Seed 002 alone (samples, its XAS fits and printed quantities), as the demo loads it."""
    actor = ensure_demo_loader()
    data = read_demo_file("seed002.json")
    ctx = load_synthesis(data, actor=actor)
    load_characterization(ctx, data)
    return actor


def test_frame_reads_computed_quantity_columns(seed002, django_assert_num_queries):
    msc = Sample.objects.get(code="MSC-322")
    for value in (105.0, 106.1):  # the later record wins (both undated)
        ReportedQuantity.objects.create(
            sample=msc, quantity="Cd–S–Cd bond angle", value=value, err=0.7, unit="deg",
            source=DataSource.COMPUTED, owner=seed002,
            extra={"analysis_run": 1, "frame_column": "cd_s_cd_angle_deg"})
    ReportedQuantity.objects.create(
        sample=msc, quantity="stoichiometry candidates", text_value="Cd39S24", unit="",
        source=DataSource.COMPUTED, owner=seed002,
        extra={"analysis_run": 2, "frame_column": "cd_s_stoichiometry_formula"})
    # the frame's eleven narrow queries (one per branch, the computed quantities among them)
    with django_assert_num_queries(11):
        frame = structure_property_frame()
    assert list(frame.columns[-3:]) == ["computed_cd_s_cd_angle_deg",
                                        "computed_cd_s_cd_angle_deg_err",
                                        "computed_cd_s_stoichiometry_formula"]
    row = frame[frame["sample_code"] == "MSC-322"].iloc[0]
    assert (row["computed_cd_s_cd_angle_deg"], row["computed_cd_s_cd_angle_deg_err"]) == \
        (106.1, 0.7)
    assert row["computed_cd_s_stoichiometry_formula"] == "Cd39S24"
    other = frame[frame["sample_code"] == "MSC-311"].iloc[0]
    assert other["computed_cd_s_stoichiometry_formula"] is None
    published = structure_property_frame(filters={"source": "published"})
    assert "computed_cd_s_cd_angle_deg" not in published.columns


# --- runs through the API --------------------------------------------------------------------

URL = "/api/analysis-runs/"


def _quantity(sample_code: str, starts: str) -> ReportedQuantity:
    return ReportedQuantity.objects.get(sample__code=sample_code, quantity__startswith=starts)


def _model_free_fit(sample_code: str) -> XASFit:
    return XASFit.objects.get(sample__code=sample_code, software="model-free")


def _run(api, kind: str, inputs: dict, parameters: dict) -> dict:
    response = api.post(URL, {"kind": kind, "inputs": inputs, "parameters": parameters},
                        format="json")
    assert response.status_code == 202, response.content
    run = api.get(f"{URL}{response.json()['id']}/").json()
    assert run["status"] == "succeeded", (run.get("error"), run.get("log"))
    return run


def _records(run: dict) -> list[ReportedQuantity]:
    return list(ReportedQuantity.objects.filter(extra__analysis_run=run["id"]).order_by("pk"))


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_bond_angle_run_reproduces_seed002_106_1_from_its_printed_distances(
        seed002, api, member):
    r_cds = _quantity("MSC-322", "Cd–S distance")
    r_cdcd = _quantity("MSC-322", "Cd–Cd distance")
    run = _run(api, "bond_angle", {"quantities": [r_cds.pk, r_cdcd.pk]},
               {"shell1": {"quantity": r_cds.pk, "pair": "Cd-S"},
                "shell2": {"quantity": r_cdcd.pk, "pair": "Cd-Cd"}})
    expected = 2 * math.asin(3.9769 / (2 * 2.4881))
    u = 3.9769 / (2 * 2.4881)
    hand_err = math.degrees(math.hypot(2 * u / (2.4881 * math.sqrt(1 - u * u)) * 0.0098,
                                       1 / (2.4881 * math.sqrt(1 - u * u)) * 0.0096))
    (row,) = _records(run)
    assert (row.sample.code, row.source, row.unit) == ("MSC-322", DataSource.COMPUTED, "deg")
    assert row.quantity == "Cd–S–Cd bond angle (from R(Cd–S) and R(Cd–Cd))"
    assert round(row.value, 1) == 106.1  # printed 106.1(1.1)°
    assert row.value == pytest.approx(math.degrees(expected), rel=1e-14)
    assert row.err == pytest.approx(hand_err, rel=1e-12)
    assert row.extra["error_propagation"]["method"] == "linear"
    assert run["provenance"]["parameters"]["method"] == "linear"
    assert {e["id"] for e in run["inputs"]} == {r_cds.pk, r_cdcd.pk}
    frame = structure_property_frame()
    msc = frame[frame["sample_code"] == "MSC-322"].iloc[0]
    assert (msc["computed_cd_s_cd_angle_deg"], msc["computed_cd_s_cd_angle_deg_err"]) == \
        (row.value, row.err)
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ("106.10 ± 0.70°" in page, 'id="calc-shells"' in page) == (True, True)


def test_bond_angle_monte_carlo_is_stated_and_close_to_linear(seed002, api):
    r_cds = _quantity("MSC-322", "Cd–S distance")
    r_cdcd = _quantity("MSC-322", "Cd–Cd distance")
    run = _run(api, "bond_angle", {"quantities": [r_cds.pk, r_cdcd.pk]},
               {"shell1": {"quantity": r_cds.pk, "pair": "Cd-S"},
                "shell2": {"quantity": r_cdcd.pk, "pair": "Cd-Cd"},
                "method": "monte_carlo", "n_samples": 50_000, "seed": 3})
    out = run["output"]
    assert out["error_propagation"]["method"] == "monte_carlo"
    assert (out["error_propagation"]["n_samples"], out["error_propagation"]["seed"]) == \
        (50_000, 3)
    assert out["angle_deg"] == pytest.approx(106.10, abs=0.03)
    assert out["angle_err_deg"] == pytest.approx(0.704, abs=0.01)


def test_coordination_ratio_run_over_a_published_fit_equals_the_analytic_error(seed002, api):
    fit = _model_free_fit("MSC-311")  # Table 1: N·S0²(Cd–S) 2.62 ± 0.26, (Cd–O) 3.38 ± 0.37
    run = _run(api, "coordination_ratio", {"fits": [fit.pk]},
               {"numerator": {"fit": fit.pk, "path": "Cd-S"},
                "denominator": {"fit": fit.pk, "path": "Cd-O"}})
    (row,) = _records(run)
    ratio = 2.62 / 3.38
    assert (row.quantity, row.sample.code, row.unit) == ("N(Cd–S)/N(Cd–O)", "MSC-311",
                                                        "dimensionless")
    assert row.value == ratio
    assert row.err == pytest.approx(ratio * math.hypot(0.26 / 2.62, 0.37 / 3.38), rel=1e-12)
    assert run["output"]["shells"]["numerator"]["field"] == "n_s02"
    frame = structure_property_frame()
    msc = frame[frame["sample_code"] == "MSC-311"].iloc[0]
    assert msc["computed_cd_s_cd_o_n_ratio"] == ratio


def test_stoichiometry_run_gives_seed002_candidates(seed002, api, member):
    fit = _model_free_fit("MSC-322")  # N·S0²(Cd–S) 2.57 ± 0.27
    mass = _quantity("MSC-322", "mass (mass spectrometry")  # ~5160 Da
    run = _run(api, "stoichiometry_candidates", {"fits": [fit.pk], "quantities": [mass.pk]},
               {"coordination": {"fit": fit.pk, "path": "Cd-S"},
                "mass": {"quantity": mass.pk}})
    rows = _records(run)
    assert [(r.text_value, None if r.value is None else round(r.value, 2)) for r in rows] == [
        ("Cd39S24 / Cd38S28 / Cd40S21", None), ("Cd39S24", 2.46), ("Cd38S28", 2.95),
        ("Cd40S21", 2.1)]
    assert [round(c["mass_da"]) for c in run["output"]["candidates"]] == [5154, 5169, 5170]
    assert run["output"]["rule"] == "|4y/x − N| ≤ 2σ_N; |mass − 5160| ≤ 10 Da"
    assert {r.sample.code for r in rows} == {"MSC-322"}
    frame = structure_property_frame()
    msc = frame[frame["sample_code"] == "MSC-322"].iloc[0]
    assert msc["computed_cd_s_stoichiometry_formula"] == "Cd39S24 / Cd38S28 / Cd40S21"
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="calc-candidates"' in page, '<strong id="calc-closest">Cd39S24</strong>' in page) \
        == (True, True)


def test_calculator_start_form_starts_a_run(seed002, member):
    from django.test import Client

    fit = _model_free_fit("MSC-311")
    assert 'id="calc-form"' in _page(member, "/analysis-runs/new/coordination_ratio/")
    client = Client()
    client.force_login(member)
    response = client.post("/analysis-runs/new/coordination_ratio/start/", {
        "input_fits": str(fit.pk),
        "parameters": json.dumps({"numerator": {"fit": fit.pk, "path": "Cd-S"},
                                  "denominator": {"fit": fit.pk, "path": "Cd-Cd"}})})
    run = AnalysisRun.objects.get(kind="coordination_ratio")
    assert (response.status_code, response["Location"]) == (302, f"/analysis-runs/{run.pk}/")
    assert (run.status, run.output["ratio"]) == ("succeeded", 2.62 / 5.57)
    assert "0.4704 ±" in _page(member, f"/analysis-runs/{run.pk}/")


def test_stoichiometry_with_no_consistent_formula_is_stored_failed(seed002, api):
    fit = _model_free_fit("MSC-322")
    response = api.post(URL, {"kind": "stoichiometry_candidates", "inputs": {"fits": [fit.pk]},
                              "parameters": {"coordination": {"fit": fit.pk, "path": "Cd-S"},
                                             "mass_da": 5160, "n_sigma": 0.1}}, format="json")
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"].startswith("no Cd_xS_y formula satisfies |4y/x − N| ≤ 0.1σ_N")


@pytest.mark.parametrize(("kind", "parameters", "field", "starts"), [
    ("bond_angle", {"shell1": {"fit": "F", "path": "Cd-Se"},
                    "shell2": {"fit": "F", "path": "Cd-Cd"}},
     "parameters.shell1.path", "parameters.shell1.path: fit {F} ("),
    ("bond_angle", {"shell1": {"fit": "F", "path": "Cd-S"},
                    "shell2": {"fit": "F", "path": "Cd-Cd"}},
     "parameters.shell1.path", "parameters.shell1.path: the Cd-S path of fit {F} ("),
    ("coordination_ratio", {"numerator": {"fit": "F", "path": "Cd-S#2"},
                            "denominator": {"fit": "F", "path": "Cd-O"}},
     "parameters.numerator.path", "parameters.numerator.path: fit {F} ("),
    ("coordination_ratio", {"numerator": {"fit": 999999, "path": "Cd-S"},
                            "denominator": {"fit": "F", "path": "Cd-O"}},
     "parameters.numerator.fit", "parameters.numerator.fit: fit 999999 is not among inputs"),
    ("bond_angle", {"shell1": {"fit": "F", "path": "Cd-S"},
                    "shell2": {"fit": "F", "path": "Cd-O"}},
     "parameters.shell2", "parameters.shell2: an A–B–A angle needs"),
])
def test_calculator_over_wrong_paths_is_a_400_naming_the_field(
        seed002, api, kind, parameters, field, starts):
    fit = _model_free_fit("MSC-322")
    text = json.dumps(parameters).replace('"F"', str(fit.pk))
    response = api.post(URL, {"kind": kind, "inputs": {"fits": [fit.pk]},
                              "parameters": json.loads(text)}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field
    assert body["message"].startswith(starts.replace("{F}", str(fit.pk))), body["message"]
    assert not AnalysisRun.objects.filter(kind=kind).exists()


def test_bond_angle_without_a_triangle_is_a_400_on_shell2(seed002, api):
    r_cds = _quantity("MSC-322", "Cd–S distance")
    far = ReportedQuantity.objects.create(
        sample=r_cds.sample, quantity="Cd–Cd distance (entered for the test)", value=5.2,
        err=0.01, unit="angstrom", source=DataSource.MEASURED, owner=seed002)
    response = api.post(URL, {"kind": "bond_angle",
                              "inputs": {"quantities": [r_cds.pk, far.pk]},
                              "parameters": {"shell1": {"quantity": r_cds.pk, "pair": "Cd-S"},
                                             "shell2": {"quantity": far.pk, "pair": "Cd-Cd"}}},
                        format="json")
    assert response.status_code == 400, response.content
    assert (response.json()["field"], response.json()["message"]) == (
        "parameters.shell2", "parameters.shell2: an A–A distance of 5.2 Å needs an A–B distance "
        "above 2.6 Å; shell1 is 2.4881 Å (no A–B–A triangle).")
