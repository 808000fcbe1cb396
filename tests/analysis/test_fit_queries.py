"""Queries per fit run, pinned (issue 16 item 4): ``execute_fit_run`` costs a fixed number of
database queries for a 1-path and a 3-path fit of one spectrum — the path rows are written in
one bulk insert, so the count does not grow with the number of paths.

The run is queued with the ``pool`` runner inside the test transaction (its after-commit hand-off
never fires), then executed here under ``CaptureQueriesContext``.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis import services
from analysis.models import FitRun
from tests.analysis.test_fit_runs import XAS, fit_a_model, guesses, spectrum_of

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _three_path_model() -> dict:
    model = fit_a_model()
    model["feff"] = {"path_files": {
        f"feff000{i}": (XAS / "larch_examples" / "feff_cu" / f"feff000{i}.dat").read_text()
        for i in (1, 2, 3)}}
    model["parameters"] = guesses(amp=1, del_e0=3, c3_1=0.002, sig2_1=0.002, sig2_2=0.002,
                                  sig2_3=0.002, alpha=0)
    dataset = model["datasets"][0]
    dataset["processing"]["autobk"]["rbkg"] = 1.1
    dataset["transform"]["rmax"] = 3.5
    common = {"s02": "amp", "e0": "del_e0", "deltar": "alpha*reff"}
    dataset["paths"] = [
        {"label": "p1", "path_file": "feff0001", "sigma2": "sig2_1", "third": "c3_1", **common},
        {"label": "p2", "path_file": "feff0002", "sigma2": "sig2_2", **common},
        {"label": "p3", "path_file": "feff0003", "sigma2": "sig2_3", **common},
    ]
    return model


def _queries_of_run(settings, model: dict) -> tuple[FitRun, list[str]]:
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    settings.LABDB_JOB_RUNNER = "pool"  # queued after commit: never handed off in the test
    run = services.request_fit_run(spectrum=spectrum, model=model)
    assert run.status == "queued"
    with CaptureQueriesContext(connection) as queries:
        status = services.execute_fit_run(run.pk)
    run.refresh_from_db()
    assert status == "succeeded", run.error
    return run, [q["sql"] for q in queries.captured_queries]


#: Queries of ``execute_fit_run`` for a fit of one spectrum whose FEFF paths are given as files,
#: whatever the number of paths (in the test transaction every atomic block is a SAVEPOINT /
#: RELEASE pair, counted here): claim 4 (savepoint, SELECT … FOR UPDATE, UPDATE, release);
#: datasets 1; progress 1 (data read and FEFF paths in one write: no FEFF run in between);
#: store 24 — the run under lock (with its owner), one lookup of the reproduced and previous
#: fits, the XASFit row (its check constraint, INSERT, history: its sample and spectrum are the
#: rows just read, not looked up again by validation), the path rows (one INSERT and one
#: history INSERT for all), the dataset row (one UPDATE), the run UPDATE and its history row;
#: the final status read is the stored run itself. (35, then 32 before: a second progress
#: write, a second earlier-fit lookup, a re-read of the run's spectra, then the existence
#: checks of the fit's sample and spectrum.)
EXECUTE_QUERIES = 30


def _breakdown(sql: list[str]) -> str:
    return "\n".join(s[:140] for s in sql)


def test_queries_of_a_one_path_fit_run(settings):
    run, sql = _queries_of_run(settings, fit_a_model())
    assert run.result.paths.count() == 1
    assert len(sql) == EXECUTE_QUERIES, _breakdown(sql)


def test_queries_of_a_three_path_fit_run_equal_the_one_path_count(settings):
    run, sql = _queries_of_run(settings, _three_path_model())
    assert run.result.paths.count() == 3
    assert len(sql) == EXECUTE_QUERIES, _breakdown(sql)
    path_inserts = [q for q in sql if q.startswith('INSERT INTO "characterization_xaspath"')]
    history = [q for q in sql if q.startswith('INSERT INTO "characterization_historicalxaspath"')]
    assert (len(path_inserts), len(history)) == (1, 1)  # all three rows in one statement each
    assert run.result.paths.first().history.count() == 1


def test_a_bad_path_row_is_named_and_nothing_is_written():
    """The bulk insert falls back to the row-by-row save, which names the first bad path."""
    from characterization.models import XASFit, XASPath
    from characterization.services import record_xas_fit
    from labdb.lib.errors import DomainError
    from tests.synthesis import builders

    sample = builders.sample("BULK-PATHS", material="Cu", morphology="bulk")
    good = {"absorber": "Cu", "scatterer": "Cu", "n": 12.0, "r_a": 2.54}
    with pytest.raises(DomainError) as caught:
        record_xas_fit(sample=sample, data={"absorber": "Cu", "edge_name": "K"},
                       paths=[good, {**good, "r_a": -1.0}, good])
    assert caught.value.field == "paths[2]", caught.value.message
    assert (XASFit.objects.count(), XASPath.objects.count()) == (0, 0)
    fit = record_xas_fit(sample=sample, data={"absorber": "Cu", "edge_name": "K"},
                         paths=[good, {**good, "r_a": 3.61}])
    assert list(fit.paths.order_by("position").values_list("position", "r_a")) == [
        (1, 2.54), (2, 3.61)]


#: Queries of ``request_fit_run`` for a fit of one spectrum (pool runner: the job is handed off
#: after commit, so none of its queries are here): the given spectrum's raw file 1, the
#: identical-run lookup 1, the run INSERT and its history row 2, the dataset rows in one
#: INSERT 1 — inside the service's atomic block (SAVEPOINT / RELEASE in the test transaction).
#: The raw file is read back and parsed once (for the k-range check; the job reuses the parse).
REQUEST_QUERIES = 7


def test_queries_of_a_fit_request(settings):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    settings.LABDB_JOB_RUNNER = "pool"
    with CaptureQueriesContext(connection) as queries:
        run = services.request_fit_run(spectrum=spectrum, model=_three_path_model())
    sql = [q["sql"] for q in queries.captured_queries]
    assert run.status == "queued"
    assert len(sql) == REQUEST_QUERIES, _breakdown(sql)
