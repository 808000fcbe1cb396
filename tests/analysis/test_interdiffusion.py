"""Kinds ``interdiffusion`` and ``interdiffusion_arrhenius`` end to end through
POST /api/analysis-runs/ (inline job) on stored composition measurements.

No shared data file holds a composition time series (seed 004's Table S2/Figure S9 values are
not in its text), so the aliquots' compositions are SIMULATED (source "simulated", codes
"SIM-…") from Crank eq. 6.20 with a known D, written independently here, and labelled so. The
fitted D is checked against a direct ``scipy.optimize.curve_fit`` of the same data and the
Arrhenius fit against ``scipy.stats.linregress`` of the stored D values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from analysis.models import AnalysisRun
from characterization.enums import DataSource
from characterization.models import CompositionMeasurement, ReportedQuantity, TEMSizeMeasurement
from characterization.services import record_measurement
from synthesis import services
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

DIAMETER_NM = 3.3
TIMES_MIN = [2.0, 10.0, 30.0, 60.0, 120.0, 240.0]
X_ERR = 0.015
K_B_EV_PER_K = 8.617333262e-5


def _crank_uptake(t_s: np.ndarray, d_cm2_s: float, radius_nm: float) -> np.ndarray:
    """F(t) of Crank eq. 6.20 summed to 4000 terms (independent of the engine's evaluation)."""
    tau = d_cm2_s * np.asarray(t_s, dtype=float) / (radius_nm * 1e-7) ** 2
    n = np.arange(1, 4001, dtype=float)
    return 1 - 6 / math.pi**2 * (np.exp(-np.outer(tau, n**2) * math.pi**2) / n**2).sum(axis=1)


def _noise(i: int) -> float:
    """A fixed, reproducible pseudo-scatter (± 0.01) of the SIMULATED compositions."""
    return 0.01 * math.sin(1.7 * i + 0.3)


def _series(member, code: str, d_cm2_s: float, temperature_c: float = 80.0,
            method: str = "ICP-OES", times=TIMES_MIN) -> dict:
    """A SIMULATED IE-CE run: a parent sample, one aliquot per time with an ICP-OES
    composition Hg/(Hg+Cd) ± 0.015, and a TEM size measurement (3.3 nm) of the parent."""
    recipe = services.create_recipe(
        data={"slug": f"iece-{code.lower()}", "name": f"SIMULATED IE-CE {code}"},
        steps=[{"action": "hold", "setpoint_value": temperature_c, "setpoint_unit": "degC",
                "duration_value": 240, "duration_unit": "min"}], actor=member)
    run = services.record_synthesis_run(
        data={"code": f"SIM-RUN-{code}"}, recipe=recipe, actor=member,
        products=[{"data": {"code": f"SIM-{code}", "name": "SIMULATED IE-CE product",
                            "material": "HgxCd1-xSe", "morphology": "QD"}}])
    parent = run.products.get()
    x = _crank_uptake(np.array(times) * 60.0, d_cm2_s, DIAMETER_NM / 2)
    compositions = []
    for i, (t, value) in enumerate(zip(times, x, strict=True)):
        aliquot = builders.sample(f"SIM-{code}-{i}-{t:g}min", actor=member, material="HgxCd1-xSe",
                                  morphology="QD",
                                  parents=[{"parent": parent, "process": "aliquot"}])
        frac = float(min(max(value + _noise(i), 0.0), 1.0))
        compositions.append(record_measurement(
            model=CompositionMeasurement, sample=aliquot, actor=member,
            data={"method": method, "source": DataSource.SIMULATED,
                  "ratios": {"Hg/(Hg+Cd)": frac, "Hg/(Hg+Cd)_err": X_ERR},
                  "notes": "SIMULATED from Crank eq. 6.20", "extra": {"reaction_time_min": t}}))
    size = record_measurement(model=TEMSizeMeasurement, sample=parent, actor=member,
                              data={"diameter_nm": DIAMETER_NM, "diameter_sd_nm": 0.3,
                                    "n_counted": 200, "source": DataSource.SIMULATED})
    return {"run": run, "parent": parent, "compositions": compositions, "size": size,
            "times": list(times), "x": [c.ratios["Hg/(Hg+Cd)"] for c in compositions]}


def _post(api, series: dict, *, inputs: dict | None = None, **parameters):
    body = {"kind": "interdiffusion",
            "inputs": {"compositions": [c.pk for c in series["compositions"]],
                       "size": series["size"].pk, **(inputs or {})},
            "parameters": {"times_min": series["times"], "temperature_c": 80.0, **parameters}}
    body["inputs"] = {k: v for k, v in body["inputs"].items() if v is not None}
    return api.post("/api/analysis-runs/", body, format="json")


def _direct_fit(series: dict) -> tuple[float, float]:
    t = np.array(series["times"]) * 60.0
    x = np.array(series["x"])

    def model(t_s, log10_d):
        return _crank_uptake(t_s, 10**log10_d, DIAMETER_NM / 2)

    popt, pcov = optimize.curve_fit(model, t, x, p0=[-18.0], sigma=np.full(x.size, X_ERR),
                                    absolute_sigma=True)
    d = 10 ** popt[0]
    return d, d * math.log(10) * math.sqrt(pcov[0, 0])


def test_interdiffusion_run_stores_d_of_a_direct_curve_fit_on_the_parent(api, member):
    series = _series(member, "A", 1.0e-18)
    response = _post(api, series)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    direct_d, direct_err = _direct_fit(series)
    out = run["output"]
    assert out["d_cm2_s"] == pytest.approx(direct_d, rel=1e-5)
    assert out["d_err_cm2_s"] == pytest.approx(direct_err, rel=1e-3)
    assert abs(out["d_cm2_s"] - 1.0e-18) < 3 * out["d_err_cm2_s"]  # the SIMULATED truth
    assert (out["radius_nm"], out["radius_from"]["tem_size"]) == (1.65, series["size"].pk)
    (row,) = ReportedQuantity.objects.filter(extra__analysis_run=run["id"])
    assert (row.sample, row.quantity, row.unit, row.source, row.value, row.err) == (
        series["parent"], "interdiffusion coefficient", "cm² s⁻¹", DataSource.COMPUTED,
        out["d_cm2_s"], out["d_err_cm2_s"])
    assert (row.extra["temperature_c"], row.extra["kind"], row.citation) == (
        80.0, "interdiffusion", f"analysis run {run['id']} (interdiffusion)")
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="interdiffusion-plot"' in page, 'id="interdiffusion-output"' in page,
            f"{out['d_cm2_s']:.4g}" in page) == (True, True, True)
    start = _page(member, "/analysis-runs/new/interdiffusion/")
    assert ('id="interdiffusion-synthesis-run"' in start, "js/interdiffusion." in start) == (
        True, True)


def test_interdiffusion_with_fitted_plateau_stores_it_and_a_given_radius(api, member):
    series = _series(member, "B", 2.0e-18)
    response = _post(api, series, inputs={"size": None}, radius_nm=1.65, vary_x_inf=True)
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(extra__analysis_run=run["id"])}
    assert sorted(rows) == ["interdiffusion coefficient", "interdiffusion plateau fraction"]
    assert rows["interdiffusion plateau fraction"].value == run["output"]["x_inf_frac"]
    assert run["output"]["x_inf_err_frac"] > 0


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _field_message(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("field", ""), body.get("message", "")


def test_fewer_than_three_time_points_is_a_400_naming_the_compositions(api, member):
    series = _series(member, "C", 1e-18, times=[10.0, 60.0])
    status, field, message = _field_message(_post(api, series))
    assert (status, field) == (400, "inputs.compositions")
    assert "≥ 3 reaction times" in message
    assert not AnalysisRun.objects.filter(kind="interdiffusion").exists()


def test_repeated_times_and_misaligned_times_are_400s_naming_times_min(api, member):
    series = _series(member, "D", 1e-18, times=[10.0, 10.0, 60.0])
    assert _field_message(_post(api, series))[:2] == (400, "parameters.times_min")
    status, field, message = _field_message(_post(api, series, times_min=[10.0, 60.0]))
    assert (status, field, "3 compositions, 2 times" in message) == (
        400, "parameters.times_min", True)


def test_a_nominal_composition_or_one_without_hg_is_a_400(api, member):
    series = _series(member, "E", 1e-18, method="nominal", times=[10.0, 30.0, 60.0])
    status, field, message = _field_message(_post(api, series))
    assert (status, field, "expected a measured one" in message) == (
        400, "inputs.compositions", True)
    other = _series(member, "F", 1e-18, times=[10.0, 30.0, 60.0])
    CompositionMeasurement.objects.filter(pk=other["compositions"][1].pk).update(
        ratios={"Cd/Se": 1.1})
    status, field, message = _field_message(_post(api, other))
    assert (status, field, "gives no Hg fraction" in message) == (
        400, "inputs.compositions", True)


def test_no_radius_is_a_400_naming_radius_nm(api, member):
    series = _series(member, "G", 1e-18, times=[10.0, 30.0, 60.0])
    assert _field_message(_post(api, series, inputs={"size": None}))[:2] == (
        400, "parameters.radius_nm")
    assert _field_message(_post(api, series, inputs={"size": None}, radius_nm=-1))[:2] == (
        400, "parameters.radius_nm")


def test_a_composition_that_does_not_change_fails_the_run_with_its_message(api, member):
    series = _series(member, "H", 1e-18, times=[10.0, 30.0, 60.0])
    CompositionMeasurement.objects.filter(
        pk__in=[c.pk for c in series["compositions"]]).update(ratios={"Hg/(Hg+Cd)": 0.0})
    response = _post(api, series)
    assert response.status_code == 202, response.content
    run = AnalysisRun.objects.get(pk=response.json()["id"])
    assert (run.status, "D is not determined" in run.error) == ("failed", True)
    assert not ReportedQuantity.objects.filter(extra__analysis_run=run.pk).exists()


def test_arrhenius_over_three_temperatures_matches_linregress_of_the_stored_d(api, member):
    ea_ev, d0 = 1.0, 1.0e-4
    runs = []
    for code, t_c in (("T1", 60.0), ("T2", 80.0), ("T3", 100.0)):
        d_true = d0 * math.exp(-ea_ev / (K_B_EV_PER_K * (t_c + 273.15)))
        series = _series(member, code, d_true, temperature_c=t_c)
        response = _post(api, series, temperature_c=t_c)
        runs.append(response.json()["id"])
    assert set(AnalysisRun.objects.filter(pk__in=runs).values_list("status", flat=True)) == {
        "succeeded"}
    response = api.post("/api/analysis-runs/", {
        "kind": "interdiffusion_arrhenius", "inputs": {"runs": runs},
        "parameters": {"weighted": False}}, format="json")
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    stored = [ReportedQuantity.objects.get(extra__analysis_run=r,
                                           quantity="interdiffusion coefficient") for r in runs]
    x = [1 / (K_B_EV_PER_K * (q.extra["temperature_c"] + 273.15)) for q in stored]
    direct = stats.linregress(x, [math.log(q.value) for q in stored])
    rows = {r.quantity: r for r in ReportedQuantity.objects.filter(extra__analysis_run=run["id"])}
    ea, pre = rows["activation energy"], rows["diffusion prefactor"]
    assert (ea.value, ea.err, ea.unit) == (pytest.approx(-direct.slope, rel=1e-9),
                                           pytest.approx(direct.stderr, rel=1e-6), "eV")
    assert pre.value == pytest.approx(math.exp(direct.intercept), rel=1e-9)
    assert abs(ea.value - ea_ev) < 0.1  # SIMULATED truth, with the compositions' scatter
    # three different parents, no common one: stored without a sample, the runs in extra
    assert (ea.sample, ea.extra["runs"]) == (None, runs)
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="arrhenius-plot"' in page, 'id="arrhenius-output"' in page) == (True, True)


def test_arrhenius_refuses_other_kinds_and_runs_without_a_temperature(api, member):
    series = _series(member, "N", 1e-18, times=[10.0, 30.0, 60.0])
    no_t = _post(api, series, temperature_c=None).json()["id"]
    with_t = _post(api, series, temperature_c=80.0).json()["id"]
    response = api.post("/api/analysis-runs/", {
        "kind": "interdiffusion_arrhenius", "inputs": {"runs": [no_t, with_t]},
        "parameters": {}}, format="json")
    status, field, message = _field_message(response)
    assert (status, field, "no reaction temperature" in message) == (400, "inputs.runs", True)
    response = api.post("/api/analysis-runs/", {
        "kind": "interdiffusion_arrhenius", "inputs": {"runs": [with_t, with_t + 100000]},
        "parameters": {}}, format="json")
    assert _field_message(response)[:2] == (400, "inputs.runs")
