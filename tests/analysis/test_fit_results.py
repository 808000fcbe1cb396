"""Fit results a referee can check, against the same fit written in bare xraylarch (slow).

One Cu fit (Larch's fit A with a bound on ΔE0 that the fit runs into, a 'def' and a 'set'
parameter) is run once for the module through the fit-run service and once in plain larch;
the parameter table, correlation matrix, statistics (AIC/BIC as larch defines them) and the
k/R/q arrays served by the API must equal larch's numbers; CSV parses back with pandas to the
same floats; the provenance's request runs again through /api/fit-runs/.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from django.db import transaction
from django.test.utils import override_settings

from analysis import services
from analysis.services import fit_results
from analysis.services.fits import load_mu
from characterization.models import XASFit
from characterization.services import record_xas_fit
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
XAS = SHARED_DATA / "xas"
CU01 = XAS / "larch_examples" / "feff_cu" / "feffcu01.dat"
TRANSFORM = {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4, "window": "kaiser",
             "rmin": 1.4, "rmax": 3.0}
E0_MAX = 3.0


def cu_model() -> dict:
    return {
        "feff": {"path_files": {"feffcu01": CU01.read_text()}},
        "parameters": {
            "amp": {"kind": "guess", "value": 1.0, "min": 0},
            "del_e0": {"kind": "guess", "value": 0.0, "max": E0_MAX},
            "sig2": {"kind": "guess", "value": 0.0},
            "del_r": {"kind": "guess", "value": 0.0},
            "c3": {"kind": "set", "value": 0.0},
            "n_s02": {"kind": "def", "expr": "12*amp"},
        },
        "datasets": [{
            "id": "cu_rt",
            "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
                           "xftf": {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4}},
            "transform": TRANSFORM,
            "paths": [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "del_e0",
                       "sigma2": "sig2", "deltar": "del_r", "third": "c3"}],
        }],
    }


def bare_larch_fit(spectrum, order):
    """The same fit in plain xraylarch calls, from the same stored μ(E), the parameters in
    ``order`` (the order the model gives them: lmfit's result depends on the order of its
    variables in the last digits, and the run keeps that order on PostgreSQL too)."""
    from larch import Group
    from larch.fitting import param, param_group
    from larch.xafs import autobk, feffit, feffit_dataset, feffit_transform, feffpath, pre_edge

    energy, mu, _ = load_mu(spectrum)
    group = Group(energy=np.asarray(energy, dtype="float64"), mu=np.asarray(mu, dtype="float64"))
    pre_edge(group)
    autobk(group, rbkg=1.0, kweight=2)
    defined = {"amp": param(1.0, vary=True, min=0),
               "del_e0": param(0.0, vary=True, max=E0_MAX),
               "sig2": param(0.0, vary=True), "del_r": param(0.0, vary=True),
               "c3": param(0.0, vary=False), "n_s02": param(expr="12*amp")}
    pars = param_group(**{name: defined[name] for name in order})
    path = feffpath(str(CU01), s02="amp", e0="del_e0", sigma2="sig2", deltar="del_r",
                    third="c3")
    dataset = feffit_dataset(data=group, transform=feffit_transform(**TRANSFORM),
                             pathlist=[path])
    return feffit(pars, dataset)


@pytest.fixture(scope="module")
def cu(django_db_setup, django_db_blocker, tmp_path_factory):
    """The Cu fit stored by the service, a printed fit of the same edge, and bare larch's fit;
    made once for the module inside a transaction rolled back at its end."""
    from django.contrib.auth.models import User

    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from tests.synthesis import builders

    media = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=media), django_db_blocker.unblock(), transaction.atomic():
        member = User.objects.create_user("results-alice", password="pw-alice-123")
        sample = builders.sample("REF-Cu-results", material="Cu", morphology="bulk",
                                 actor=member)
        path = XAS / "larch_examples" / "cu_metal_rt.xdi"
        data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                        sample=sample, actor=member)
        spectrum = XASSpectrum.objects.get(data_file=data_file)
        run = services.request_fit_run(spectrum=spectrum, model=cu_model(), actor=member)
        services.execute_fit_run(run.pk)  # the job body (on_commit never fires in here)
        run.refresh_from_db()
        assert (run.status, run.error) == ("succeeded", "")
        published = record_xas_fit(sample=sample, actor=member, data={
            "absorber": "Cu", "edge_name": "K", "source": "published", "citation": "Table 1"},
            paths=[{"absorber": "Cu", "scatterer": "Cu", "n": 12, "n_err": 0.5,
                    "r_a": 2.54, "r_err_a": 0.01, "sigma2_a2": 0.0086, "sigma2_err_a2": 0.0004}])
        yield {"run": run, "fit": run.result, "spectrum": spectrum, "member": member,
               "published": published, "media": media,
               "larch": bare_larch_fit(spectrum, list(cu_model()["parameters"]))}
        transaction.set_rollback(True)


@pytest.fixture
def media(cu, settings):
    settings.MEDIA_ROOT = cu["media"]


@pytest.fixture
def rest(cu, media):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(cu["member"])
    return api


def same(a, b):
    """Equal to the last digit: exactly, or within 1e-10 relative (labdb vs bare larch)."""
    return a == b or (a is not None and b is not None
                      and math.isclose(a, b, rel_tol=1e-10, abs_tol=0.0))


# --------------------------------------------------------------------------- parameters
def test_parameter_table_has_every_kind_with_bounds_and_the_del_e0_bound_flagged(cu, rest):
    out = cu["larch"]
    body = rest.get(f"/api/xas-fits/{cu['fit'].pk}/results/").json()
    rows = {row["name"]: row for row in body["parameters"]}
    assert list(rows) == ["amp", "del_e0", "del_r", "sig2", "c3", "n_s02"]
    assert [(r["kind"], r["vary"], r["init"], r["min"], r["max"], r["expr"], r["at_bound"])
            for r in rows.values()] == [
        ("guess", True, 1.0, 0, None, None, None),
        ("guess", True, 0.0, None, E0_MAX, None, "max"),
        ("guess", True, 0.0, None, None, None, None),
        ("guess", True, 0.0, None, None, None, None),
        ("set", False, 0.0, None, None, None, None),
        ("def", False, None, None, None, "12*amp", None),
    ]
    for name, row in rows.items():
        assert same(row["value"], out.params[name].value), name
        assert same(row["stderr"], out.params[name].stderr), name
    assert round(rows["del_e0"]["value"], 6) == 3.0
    # S0² is stored on the fit when it is fitted; N stays FEFF's 12 (degeneracy used as N)
    assert same(body["s02"], out.params["amp"].value)
    assert same(body["s02_err"], out.params["amp"].stderr)
    assert list(cu["fit"].paths.values_list("n", "n_err")) == [(12.0, 0.0)]


def test_correlation_matrix_is_larchs_correl_with_pairs_over_0_8_flagged(cu, rest):
    out = cu["larch"]
    corr = rest.get(f"/api/xas-fits/{cu['fit'].pk}/results/").json()["correlations"]
    names = ["amp", "del_e0", "del_r", "sig2"]
    assert (corr["stored"], corr["names"], corr["threshold"]) == (True, names, 0.8)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            expected = 1.0 if a == b else out.params[a].correl[b]
            assert same(corr["matrix"][i][j], expected), (a, b)
    high = sorted((p["a"], p["b"]) for p in corr["pairs"] if p["high"])
    assert high == [("amp", "sig2"), ("del_e0", "del_r")]
    magnitudes = [abs(p["r"]) for p in corr["pairs"]]
    assert (len(magnitudes), magnitudes) == (6, sorted(magnitudes, reverse=True))
    assert [p["high"] for p in corr["pairs"]] == [m > 0.8 for m in magnitudes]


def test_fit_without_stored_correlations_says_not_stored_refit_to_see(cu, rest):
    from analysis.models import FitRun

    fit = cu["fit"]
    provenance = {k: v for k, v in fit.provenance.items() if k != "correlations"}
    XASFit.objects.filter(pk=fit.pk).update(provenance=provenance)
    data = FitRun.objects.get(pk=cu["run"].pk).result_data
    del data["fit"]["correlations"]
    FitRun.objects.filter(pk=cu["run"].pk).update(result_data=data)
    corr = rest.get(f"/api/xas-fits/{fit.pk}/results/").json()["correlations"]
    assert (corr["stored"], corr["matrix"], corr["note"]) == (
        False, [], "not stored with this fit (computed before correlations were kept): "
        "refit to see")


def test_n_stored_as_degeneracy_for_the_amp_n1_idiom_gets_a_refit_note(cu, rest):
    """A fit stored before N was evaluated for "degen 1, s02 'amp*n1'" (N = 1 ± 0 in its path
    row) says so; the current fit (N = FEFF's 12 for a plain amplitude) has no note."""
    fit = cu["fit"]
    assert rest.get(f"/api/xas-fits/{fit.pk}/results/").json()["n_notes"] == []
    provenance = json.loads(json.dumps(fit.provenance))
    resolved = provenance["resolved_model"]
    resolved["parameters"]["n1"] = {"kind": "guess", "value": 12.0}
    resolved["datasets"][0]["paths"][0].update(degen=1, s02="amp*n1")
    XASFit.objects.filter(pk=fit.pk).update(provenance=provenance)
    fit.paths.update(n=1.0, n_err=0.0)
    notes = rest.get(f"/api/xas-fits/{fit.pk}/results/").json()["n_notes"]
    assert notes == [
        "path Cu1 (cu_rt): N is stored as FEFF's degeneracy 1 ± 0, but the model writes N into "
        "the amplitude (degen 1, s02 expression): this fit was stored before labdb evaluated N "
        "for that form; refit to see N with its error."]


# --------------------------------------------------------------------------- statistics
def test_statistics_total_and_per_dataset_equal_larch_including_aic_and_bic(cu, rest):
    out = cu["larch"]
    st = rest.get(f"/api/xas-fits/{cu['fit'].pk}/results/").json()["statistics"]
    expected = {"chi_square": out.chi_square, "chi2_reduced": out.chi2_reduced,
                "r_factor": out.rfactor, "n_idp": out.n_independent, "n_var": out.nvarys,
                "aic": out.aic, "bic": out.bic}
    assert sorted(st["total"]) == sorted(expected)
    for key, value in expected.items():
        assert same(st["total"][key], value), key
    (dataset,) = st["datasets"]
    assert dataset["id"] == "cu_rt"
    for key, value in expected.items():  # one dataset: its share is the whole fit
        assert same(dataset[key], value), key
    assert (dataset["k_min"], dataset["k_max"], dataset["r_min_a"], dataset["r_max_a"]) == (
        3.0, 17.0, 1.4, 3.0)
    assert out.nvarys == 4


# --------------------------------------------------------------------------- arrays
def _direct_transform(chi, kweight):
    """Bare larch: feffit's own transform (what feffit's save_outputs calls), k-weight set."""
    from larch import Group
    from larch.xafs import feffit_transform

    group = Group()
    feffit_transform(**{**TRANSFORM, "kweight": kweight})._xafsft(
        np.asarray(chi), group=group, rmax_out=10, with_chiq=True)
    return group


@pytest.mark.parametrize("kweight", [2, 3])
def test_arrays_in_k_r_and_q_equal_larch_exactly(cu, rest, kweight):
    ds = cu["larch"].datasets[0]
    k = np.asarray(ds.model.k)
    chi_data, chi_model = np.asarray(ds._chi)[: len(k)], np.asarray(ds.model.chi)
    url = f"/api/xas-fits/{cu['fit'].pk}/arrays/"
    kspace = rest.get(url, {"space": "k", "kweight": kweight}).json()
    assert (kspace["space"], kspace["kweight"], kspace["fit_kweight"], kspace["dataset"]) == (
        "k", kweight, 2, "cu_rt")
    assert kspace["columns"] == ["k_inv_a", "kwin", "data", "model", "residual"]
    assert kspace["units"]["data"] == {2: "Å⁻²", 3: "Å⁻³"}[kweight]
    assert kspace["arrays"]["k_inv_a"] == k.tolist()
    assert kspace["arrays"]["data"] == (chi_data * k**kweight).tolist()
    assert kspace["arrays"]["model"] == (chi_model * k**kweight).tolist()
    assert kspace["arrays"]["residual"] == ((chi_data - chi_model) * k**kweight).tolist()
    data, model = _direct_transform(chi_data, kweight), _direct_transform(chi_model, kweight)
    rspace = rest.get(url, {"space": "r", "kweight": kweight}).json()["arrays"]
    qspace = rest.get(url, {"space": "q", "kweight": kweight}).json()["arrays"]
    assert rspace["r_a"] == data.r.tolist()
    assert qspace["q_inv_a"] == data.q.tolist()
    for who, group in (("data", data), ("model", model)):
        assert rspace[f"mag_{who}"] == group.chir_mag.tolist()
        assert rspace[f"re_{who}"] == group.chir_re.tolist()
        assert rspace[f"im_{who}"] == group.chir_im.tolist()
        assert qspace[f"re_{who}"] == group.chiq_re.tolist()
        assert qspace[f"im_{who}"] == group.chiq_im.tolist()
    if kweight == 2:  # the fit's own k-weight: larch feffit's stored outputs, digit for digit
        assert rspace["re_model"] == ds.model.chir_re.tolist()
        assert rspace["im_model"] == ds.model.chir_im.tolist()
        assert qspace["re_model"] == ds.model.chiq_re.tolist()


def test_arrays_csv_has_units_and_provenance_and_parses_back_to_the_same_floats(cu, rest):
    import pandas as pd

    url = f"/api/xas-fits/{cu['fit'].pk}/arrays/"
    payload = rest.get(url, {"space": "r", "kweight": 3}).json()
    response = rest.get(url, {"space": "r", "kweight": 3, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="fit-{cu["fit"].pk}-cu_rt-r-kw3.csv"')
    text = response.content.decode()
    comments = [line for line in text.splitlines() if line.startswith("#")]
    sha = cu["spectrum"].data_file.sha256
    assert comments[1] == "# space r, k-weight 3 (the fit used 2)"
    assert comments[2].startswith("# units: r_a [Å], rwin [1], mag_data [Å⁻⁴], re_data [Å⁻⁴]")
    assert f"# raw file sha256: {sha}" in comments
    assert f"# model hash: {cu['run'].model_hash}" in comments
    frame = pd.read_csv(io.StringIO(text), comment="#", float_precision="round_trip")
    assert list(frame.columns) == payload["columns"]
    for column in payload["columns"]:
        assert frame[column].tolist() == payload["arrays"][column], column


def test_arrays_cached_per_fit_version_and_kweight(cu, media, django_assert_num_queries):
    fit_id = cu["fit"].pk
    first = fit_results.fit_arrays(fit_id=fit_id, space="q", kweight=1)
    assert first.computed
    with django_assert_num_queries(1):  # the fit's version; the arrays come from storage
        again = fit_results.fit_arrays(fit_id=fit_id, space="q", kweight=1)
    assert (again.computed, again.content) == (False, first.content)
    other = fit_results.fit_arrays(fit_id=fit_id, space="q", kweight=0)
    assert other.computed and other.content != first.content
    not_modified = fit_results.fit_arrays(fit_id=fit_id, space="q", kweight=1, etag=first.etag)
    assert (not_modified.not_modified, not_modified.content) == (True, b"")
    named = fit_results.fit_arrays(fit_id=fit_id, space="q", kweight=1, dataset="cu_rt")
    assert json.loads(named.content)["arrays"] == json.loads(first.content)["arrays"]


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"space": "e"}, "space", "space: expected k, r or q, got 'e'."),
    ({"kweight": "4"}, "kweight", "kweight: expected 0, 1, 2 or 3, got '4'."),
    ({"kweight": "2.5"}, "kweight", "kweight: expected 0, 1, 2 or 3, got '2.5'."),
    ({"format": "xlsx"}, "format", "format: expected json or csv, got 'xlsx'."),
    ({"dataset": "cu_10k"}, "dataset", "dataset: fit {fit} has no dataset 'cu_10k' (it has "
                                       "cu_rt)."),
    ({"dataset": "../../labdb"}, "dataset", "dataset: fit {fit} has no dataset '../../labdb' "
                                            "(it has cu_rt)."),
])
def test_bad_array_queries_are_refused_naming_the_parameter(cu, rest, query, field, message):
    response = rest.get(f"/api/xas-fits/{cu['fit'].pk}/arrays/", query)
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == (
        field, message.format(fit=cu["fit"].pk))


def test_published_fit_has_no_arrays_and_an_unknown_fit_is_404(cu, rest):
    published = cu["published"]
    response = rest.get(f"/api/xas-fits/{published.pk}/arrays/", {"format": "csv"})
    assert (response.status_code, response.json()["field"]) == (400, "fit")
    results = rest.get(f"/api/xas-fits/{published.pk}/results/").json()
    assert (results["parameters"], results["correlations"], results["has_arrays"]) == (
        [], {}, False)
    assert rest.get("/api/xas-fits/999999/arrays/").status_code == 404
    assert rest.get("/api/xas-fits/999999/provenance.json").status_code == 404


# --------------------------------------------------------------------------- provenance
def test_provenance_json_round_trips_through_fit_runs(cu, rest,
                                                      django_capture_on_commit_callbacks):
    fit = cu["fit"]
    response = rest.get(f"/api/xas-fits/{fit.pk}/provenance.json")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    text = response.content.decode()
    assert text.startswith('{\n  "fit": ')
    document = json.loads(text)
    assert document["provenance"] == json.loads(json.dumps(fit.provenance))
    request = document["fit_run_request"]
    assert request == {"spectrum": cu["spectrum"].pk, "model": cu_model()}
    assert list(request["model"]["parameters"]) == list(cu_model()["parameters"])
    again = rest.post("/api/fit-runs/", request, format="json")
    assert (again.status_code, again.json()["id"]) == (201, cu["run"].pk)  # recognised
    with django_capture_on_commit_callbacks(execute=True):
        forced = rest.post("/api/fit-runs/", {**request, "force": True}, format="json")
    assert forced.status_code == 201
    rerun = rest.get(f"/api/fit-runs/{forced.json()['id']}/").json()
    assert rerun["error"] == ""
    # the same model on the unchanged file reproduces the stored fit to every stored digit
    assert (rerun["status"], rerun["result"], rerun["reproduction_of"],
            rerun["reproduced_exactly"]) == ("succeeded", None, fit.pk, True)


# --------------------------------------------------------------------------- fit page
def _page(cu, fit_id):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    web = Client()
    web.force_login(cu["member"])
    with CaptureQueriesContext(connection) as queries:
        response = web.get(f"/fits/{fit_id}/")
    assert response.status_code == 200
    return len(queries), response.content.decode()


RESULTS_QUERIES = 3  # has arrays; the overlay picker's fits and which of them have arrays


def test_fit_page_results_cost_three_queries_whatever_the_number_of_overlay_fits(
        cu, media, django_assert_num_queries):
    fit = XASFit.objects.get(pk=cu["fit"].pk)
    with django_assert_num_queries(RESULTS_QUERIES):
        fit_results.fit_results(fit_id=fit.pk, fit=fit)
        fit_results.provenance_text(fit_id=fit.pk, fit=fit)
        assert len(fit_results.overlay_candidates(fit)) == 1
    one, _ = _page(cu, fit.pk)
    for citation in ("Table 2", "Table 3"):
        record_xas_fit(sample=cu["published"].sample, actor=cu["member"], data={
            "absorber": "Cu", "edge_name": "K", "source": "published", "citation": citation},
            paths=[{"absorber": "Cu", "scatterer": "Cu", "n": 12}])
    three, html = _page(cu, fit.pk)
    assert html.count('data-source="published"') == 3
    assert three == one


def test_fit_page_shows_parameters_correlations_statistics_plots_and_provenance(cu, media):
    _, html = _page(cu, cu["fit"].pk)
    assert html.count('class="at-bound" data-parameter="del_e0"') == 1
    assert html.count('<td class="high">') == 4  # two pairs, both halves of the matrix
    assert 'data-fit-results data-fit-id="%d" data-has-arrays="true"' % cu["fit"].pk in html
    assert html.count('class="fit-plot" data-kind="chir"') == 1
    assert f'<option value="{cu["published"].pk}" data-source="published"' in html
    assert f'href="/api/xas-fits/{cu["fit"].pk}/provenance.json"' in html
    start = html.index('<pre class="json" id="provenance-json">') + len(
        '<pre class="json" id="provenance-json">')
    import html as html_lib

    shown = json.loads(html_lib.unescape(html[start:html.index("</pre>", start)]))
    assert shown["fit_run_request"]["model"] == cu_model()
    _, html = _page(cu, cu["published"].pk)
    assert 'data-has-arrays="false"' in html
    assert "Parameters</h2>" not in html


def test_the_run_keeps_the_given_parameter_order_on_every_database(cu, api):
    """PostgreSQL's jsonb sorts object keys (c3, amp, sig2, …); the variable order of the fit
    is the order given (amp, del_e0, sig2, …), which the bare larch fit above also uses."""
    from analysis.models import FitRun

    given = list(cu_model()["parameters"])
    run = FitRun.objects.get(pk=cu["run"].pk)
    assert list(run.ordered_model()["parameters"]) == given == run.parameter_order
    served = api.get(f"/api/fit-runs/{run.pk}/").json()["model"]
    assert list(served["parameters"]) == given
