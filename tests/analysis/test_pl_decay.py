"""PL decay fits as analysis runs, end to end on the Edinburgh F980 exports.

The files are uploaded through /api/files/ for a sample, runs go through
POST /api/analysis-runs/ → the inline job → a stored ``PLLifetimeMeasurement`` with its
``LifetimeComponent`` rows. Numbers are compared with a direct scipy ``curve_fit`` written
here (real decay, tail fit) and with the known parameters of a SIMULATED decay built from the
real IRF (uploaded as an Edinburgh export whose name says SIMULATED).
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from scipy.optimize import curve_fit

from characterization.enums import DataSource
from characterization.models import DataFile, PLLifetimeMeasurement
from tests.analysis.engines.test_pl_decay_engine import TRUE, _irf_net, _reconvolved
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

EDINST = SHARED_DATA / "lab_exports" / "edinst"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sample(member):
    return builders.sample("HGSE-QD-1", material="HgSe", morphology="QD", actor=member)


def _upload(api, sample, name: str, content: bytes) -> DataFile:
    body = {"file": SimpleUploadedFile(name, content), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    data_file = DataFile.objects.get(pk=response.json()["id"])
    assert data_file.parse_status == "ok", data_file.parse_error
    return data_file


@pytest.fixture
def files(api, sample) -> dict[str, DataFile]:
    return {name: _upload(api, sample, name, (EDINST / name).read_bytes())
            for name in ("F980_IRF_multiple.txt", "F980_IRF.txt", "F980_EmScan.txt")}


def _edinst_decay(label: str, time_ns: np.ndarray, counts: np.ndarray) -> bytes:
    """An Edinburgh F980 time-scan export of ``counts`` (the layout of F980_IRF.txt)."""
    step = time_ns[1] - time_ns[0]
    head = [f"Labels\t{label}\t", "Type\tTime Scan\t", "Comment\t\t", f"Start\t{time_ns[0]:.2f}\t",
            f"Stop\t{time_ns[-1]:.6f}\t", f"Step\t{step:.8f}\t", "Fixed/Offset\t \t",
            "XAxis\tTime(ns)\t", "YAxis\tCounts\t", ""]
    rows = [f"{t:.7f}\t{c:.8E}\t" for t, c in zip(time_ns, counts, strict=True)]
    return ("\n".join(head + rows) + "\n").encode()


def _post(api, inputs: dict, **parameters):
    return api.post("/api/analysis-runs/", {"kind": "pl_decay", "inputs": inputs,
                                            "parameters": parameters}, format="json")


def _field(response) -> str:
    body = response.json()
    return body.get("field") or next(iter(body.get("errors", body)))


def test_tail_fit_run_stores_the_lifetimes_of_a_direct_curve_fit(api, member, sample, files):
    decay = files["F980_IRF_multiple.txt"]
    response = _post(api, {"decay": decay.pk}, n_exponentials=2, scan_index=24)
    assert response.status_code == 202, response.content
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    # the same decay parsed here and fitted with curve_fit (peak to end, B + 2 exponentials)
    from characterization.parsers.edinst import parse_edinst

    scan = parse_edinst((EDINST / "F980_IRF_multiple.txt").read_bytes(),
                        filename="x").series[24]
    k = int(np.argmax(scan.y))
    t, y = np.asarray(scan.x)[k:], np.asarray(scan.y)[k:]

    def model(tt, a1, tau1, a2, tau2, b):
        return b + a1 * np.exp(-(tt - t[0]) / tau1) + a2 * np.exp(-(tt - t[0]) / tau2)

    popt, _ = curve_fit(model, t, y, p0=[250, 20, 100, 100, 10],
                        sigma=np.sqrt(np.maximum(y, 1)), maxfev=20000)
    a, taus = popt[[0, 2]], popt[[1, 3]]
    tau_int = float((a * taus**2).sum() / (a * taus).sum())
    row = PLLifetimeMeasurement.objects.get(extra__analysis_run=run["id"])
    assert (row.sample, row.data_file, row.source, row.average_kind, row.fit_model) == (
        sample, decay, DataSource.COMPUTED, "intensity", "2-exponential tail fit")
    assert row.average_tau_ns == pytest.approx(tau_int, rel=1e-3)
    assert row.average_tau_ns == row.intensity_weighted_tau_ns
    assert (row.citation, row.owner, row.extra["scan_index"]) == (
        f"analysis run {run['id']} (pl_decay)", member, 24)
    components = list(row.components.all())
    np.testing.assert_allclose([c.tau_ns for c in components], np.sort(taus), rtol=1e-3)
    assert [c.position for c in components] == [1, 2]
    assert all(c.tau_err_ns > 0 and c.amplitude_err > 0 for c in components)
    assert row.reduced_chi_square == run["output"]["reduced_chi_square"]
    # the run page carries the plot's data (json_script) and the parameter table
    page = _page(member, f"/analysis-runs/{run['id']}/")
    assert ('id="pl-decay-plot"' in page, 'id="pl-decay-output"' in page,
            f"{components[0].tau_ns:.3f}" in page) == (True, True, True)
    start = _page(member, "/analysis-runs/new/pl_decay/")
    assert ('id="pl-decay-file"' in start, "js/pl_decay." in start) == (True, True)


def _page(user, url: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_reconvolution_of_a_simulated_decay_recovers_its_lifetimes(api, sample, files):
    from analysis.engines.pl_decay import Decay
    from characterization.parsers.edinst import parse_edinst

    scan = parse_edinst((EDINST / "F980_IRF.txt").read_bytes(), filename="x").series[0]
    irf = Decay(np.asarray(scan.x), np.asarray(scan.y))
    net = _irf_net(irf)
    shifted = np.concatenate([np.zeros(2), net[:-2]])
    step = float(irf.time_ns[1] - irf.time_ns[0])
    mean = _reconvolved(shifted, step, TRUE["a"], TRUE["tau_ns"], TRUE["background"])
    counts = np.random.default_rng(20261202).poisson(mean).astype(float)
    simulated = _upload(api, sample, "SIMULATED_2exp_decay.txt",
                        _edinst_decay("SIMULATED", irf.time_ns, counts))
    response = _post(api, {"decay": simulated.pk, "irf": files["F980_IRF.txt"].pk},
                     n_exponentials=2, method="mle")
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "succeeded", run.get("log")
    row = PLLifetimeMeasurement.objects.get(extra__analysis_run=run["id"])
    for comp, a, tau in zip(row.components.all(), TRUE["a"], TRUE["tau_ns"], strict=True):
        assert abs(comp.tau_ns - tau) < 3 * comp.tau_err_ns
        assert abs(comp.amplitude - a) < 3 * comp.amplitude_err
    assert (row.fit_model, row.extra["simulated"], row.extra["irf_file"]) == (
        "2-exponential, IRF reconvolution", True, files["F980_IRF.txt"].pk)
    assert run["output"]["decay"]["label"] == "SIMULATED_2exp_decay.txt SIMULATED (SIMULATED)"
    assert abs(row.extra["shift_ns"] - 2 * step) < 3 * row.extra["shift_err_ns"]


def test_an_emission_scan_is_refused_as_a_decay(api, files):
    response = _post(api, {"decay": files["F980_EmScan.txt"].pk})
    assert (response.status_code, _field(response)) == (400, "inputs.decay")
    assert "is not a TCSPC decay: it is a emission scan with x in nm" in str(response.json())


def test_a_decay_without_counts_is_refused(api, sample, files):
    t = np.arange(256) * 3.90625
    empty = _upload(api, sample, "SIMULATED_empty_decay.txt",
                    _edinst_decay("dark", t, np.zeros(256)))
    response = _post(api, {"decay": empty.pk})
    assert (response.status_code, _field(response)) == (400, "inputs.decay")
    assert "has no counts (every channel is 0)" in str(response.json())


@pytest.mark.parametrize("n", [0, 5])
def test_n_exponentials_outside_1_to_4_is_refused(api, files, n):
    response = _post(api, {"decay": files["F980_IRF_multiple.txt"].pk}, n_exponentials=n)
    assert (response.status_code, _field(response)) == (400, "parameters.n_exponentials")


def test_a_scan_index_beyond_the_file_and_an_emission_irf_are_refused(api, files):
    decay = files["F980_IRF_multiple.txt"].pk
    beyond = _post(api, {"decay": decay}, scan_index=44)
    emission_irf = _post(api, {"decay": decay, "irf": files["F980_EmScan.txt"].pk})
    assert [(r.status_code, _field(r)) for r in (beyond, emission_irf)] == [
        (400, "parameters.scan_index"), (400, "inputs.irf")]
    assert "holds 44 scan(s) (0–43); there is no scan 44" in str(beyond.json())


def test_a_fit_that_cannot_converge_is_stored_failed_with_its_message(api, files):
    # one exponential reconvolved with an IRF that decays as slowly as the decay itself:
    # the lifetime runs to its lower bound while the amplitude grows without end
    response = _post(api, {"decay": files["F980_IRF_multiple.txt"].pk,
                           "irf": files["F980_IRF.txt"].pk}, n_exponentials=1, scan_index=24)
    run = api.get(f"/api/analysis-runs/{response.json()['id']}/").json()
    assert run["status"] == "failed"
    assert "parameters.n_exponentials: the 1-exponential fit of F980_IRF_multiple.txt " \
        "Decay25 did not converge" in run["error"]
    assert not PLLifetimeMeasurement.objects.filter(extra__analysis_run=run["id"]).exists()
