"""Fit pages: a published fit cannot be refitted; a computed one is, and its progress is polled."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db
SAMPLE_PAGE_QUERIES = 31  # whole sample page, run and unlinked links and the SIMULATED overlay list
# (one query, only when the sample has XAS spectra) included; same at 1 and 3 fits


@pytest.fixture
def published_fit(member):
    from characterization.services import record_xas_fit

    sample = builders.sample("NPL-1", actor=member, core_ml=4.5)
    return record_xas_fit(sample=sample, actor=member, data={
        "absorber": "Cd", "edge_name": "K", "source": "published", "citation": "Table 8"},
        paths=[{"absorber": "Cd", "scatterer": "S", "n": 3.5, "n_err": 0.3}])


def test_fit_page_of_published_fit_explains_why_no_refit(web, published_fit):
    html = web.get(f"/fits/{published_fit.pk}/").content.decode()
    assert "3.5 ± 0.3" in html
    assert "it was transcribed from a paper), so it cannot be refitted" in html
    assert "Start refit" not in html


def test_refit_of_published_fit_shows_the_service_message(web, published_fit):
    response = web.post(f"/fits/{published_fit.pk}/refit/", follow=True)
    assert response.redirect_chain == [(f"/fits/{published_fit.pk}/", 302)]
    assert "only fits computed by labdb can be re-run" in response.content.decode()


def test_fit_runs_status_of_unknown_ids_is_finished_and_empty(web, db):
    assert web.get("/fit-runs/status.json?ids=999,abc").json() == {
        "total": 0, "done": 0, "pct": 100, "failed": 0, "finished": True, "html": "\n",
        "text": "✓ Finished: 0 of 0 done."}


def test_refit_stale_with_nothing_stale_says_so(web, db):
    response = web.post("/fits/refit-stale/", follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "No stale fits to refit." in response.content.decode()


@pytest.mark.slow
def test_refit_of_computed_fit_runs_and_reports_progress(web, member,
                                                         django_capture_on_commit_callbacks):
    from analysis import services
    from analysis.models import FitRun
    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from tests.analysis.test_fit_runs import fit_a_model

    sample = builders.sample("REF-Cu", material="Cu", morphology="bulk", actor=member)
    path = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.request_fit_run(spectrum=spectrum, model=fit_a_model(), actor=member)
    first.refresh_from_db()
    assert first.status == "succeeded"
    assert "Start refit" in web.get(f"/fits/{first.result_id}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(f"/fits/{first.result_id}/refit/")
    again = FitRun.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"/fit-runs/?ids={again.pk}"
    status = web.get(f"/fit-runs/status.json?ids={again.pk}").json()
    assert (status["total"], status["done"], status["pct"], status["finished"]) == (1, 1, 100, True)
    # unchanged model and file: recorded as a reproduction of the fit, not a new fit
    assert again.reproduces_id == first.result_id
    assert (f'<a href="/fits/{first.result_id}/">reproduces fit {first.result_id}</a> · '
            "agreed exactly") in status["html"]
    page = web.get(f"/fit-runs/?ids={again.pk}").content.decode()
    assert '<progress id="fit-progress" max="100" value="100">' in page
    sample_page = web.get(f"/samples/{sample.pk}/").content.decode()
    assert f'/api/xas-fits/{first.result_id}/plot.png?kind=chir' in sample_page


@pytest.fixture
def cu_sample_with_fit(member, django_capture_on_commit_callbacks):
    """A Cu foil sample with one fit computed by the real fit service on the shared spectrum."""
    from analysis import services
    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from tests.analysis.test_fit_runs import fit_a_model

    sample = builders.sample("PAGE-Cu", material="Cu", morphology="bulk", actor=member)
    path = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.request_fit_run(spectrum=spectrum, model=fit_a_model(), actor=member)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return sample, run.result


def _page_queries(web, sample) -> tuple[int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = web.get(f"/samples/{sample.pk}/")
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.slow
def test_sample_page_query_count_same_at_one_and_three_fits_and_draws_nothing(
        web, member, cu_sample_with_fit, django_capture_on_commit_callbacks):
    from analysis import services
    from analysis.services.fit_plots import cached_plot_entries
    from characterization.models import XASFit

    sample, fit = cu_sample_with_fit
    one, html = _page_queries(web, sample)
    assert html.count("data-fit-plots=") == 1
    assert f'data-fit-plots="/api/xas-fits/{fit.pk}/plot-data.json"' in html
    from tests.analysis.test_fit_runs import fit_a_model

    for sig2 in (0.001, 0.002):  # changed models: new versions (a plain refit is a reproduction)
        model = fit_a_model()
        model["parameters"]["sig2"]["value"] = sig2
        with django_capture_on_commit_callbacks(execute=True):
            services.request_fit_run(spectrum=fit.spectrum, model=model, actor=member)
    fits = list(XASFit.objects.filter(sample=sample).values_list("pk", flat=True))
    assert len(fits) == 3
    three, html = _page_queries(web, sample)
    assert html.count("data-fit-plots=") == 3
    assert (one, three) == (SAMPLE_PAGE_QUERIES, SAMPLE_PAGE_QUERIES)
    assert [cached_plot_entries(pk) for pk in fits] == [[], [], []]  # the page drew nothing


def test_published_fit_on_sample_page_shows_its_table_only(web, published_fit):
    html = web.get(f"/samples/{published_fit.sample_id}/").content.decode()
    assert "3.5 ± 0.3" in html
    assert "data-fit-plots" not in html
    assert "plot.png" not in html
