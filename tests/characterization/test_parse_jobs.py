"""Parsing off the request (a job) and under an OS budget (a child process with rlimits).

The upload stores the bytes and the file row and answers 202 with the parse pending; the parse
job claims it (pending → parsing), parses in a budgeted child process and writes the outcome
and rows in one short transaction. A file that needs more memory or CPU time than the budget
fails alone with the budget named; the next file parses normally.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from characterization import services
from characterization.models import AbsorptionMeasurement, DataFile, XRDMeasurement
from labdb.lib import jobs
from tests.analysis.test_celery_worker import broker, worker  # noqa: F401  (fixtures)
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

XRDML = SHARED_DATA / "instruments" / "xrdml" / "XRD-918-16_10.xrdml"
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"


def cary_csv(rows: int) -> bytes:
    """A legal Cary CSV of ``rows`` data rows: the real export's header and footer around a
    synthetic absorption spectrum (900 nm downwards in 0.0001 nm steps)."""
    real = CARY.read_text().splitlines()
    data = [f"{900 - i * 1e-4:.7f},{0.03 + (i % 1000) * 1e-5:.11f}," for i in range(rows)]
    return ("\n".join(real[:2] + data + real[143:]) + "\n").encode()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _upload(client, name: str, content: bytes, sample):
    body = {"file": SimpleUploadedFile(name, content), "sample": sample.pk}
    return client.post("/api/files/", body, format="multipart")


# --- the embedded pool: the request does not wait for the parse ----------------------------

_gate = threading.Event()


@jobs.job("tests.hold_the_pool")
def _hold_the_pool(_ignored: int) -> None:
    """A real job that keeps the pool's one worker thread busy until the test opens the gate."""
    _gate.wait(timeout=60)


@pytest.fixture
def pool(settings):
    settings.LABDB_JOB_RUNNER = "pool"
    settings.LABDB_JOB_WORKERS = 1
    settings.LABDB_JOB_SWEEP_EVERY_S = 3600
    jobs.shutdown_pool()
    yield
    _gate.set()
    jobs.wait_idle(120)
    jobs.shutdown_pool()


@pytest.mark.django_db(transaction=True)
def test_upload_answers_202_pending_and_the_pool_parses_it_after(pool, member):
    sample = builders.sample("NPL-POOL-1", actor=member)
    _gate.clear()
    jobs.dispatch("tests.hold_the_pool", 0)  # the one worker thread is busy
    response = _upload(_client(member), XRDML.name, XRDML.read_bytes(), sample)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["parse_status"], body["duplicate"]) == (
        "pending", "pending", False)
    assert body["poll"] == f"http://testserver/api/files/{body['id']}/"
    assert XRDMeasurement.objects.count() == 0
    stored = DataFile.objects.get(pk=body["id"])
    assert stored.file.read() == XRDML.read_bytes()  # the bytes are stored before any parse

    _gate.set()
    assert jobs.wait_idle(120)
    polled = _client(member).get(body["poll"]).json()
    assert (polled["parse_status"], polled["format"], polled["parse_error"]) == (
        "ok", "xrdml", "")
    assert XRDMeasurement.objects.filter(sample=sample, data_file_id=body["id"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_upload_still_links_at_once_with_200(pool, member, other_member):
    first_sample = builders.sample("NPL-POOL-2", actor=member)
    second_sample = builders.sample("NPL-POOL-3", actor=member)
    first = _upload(_client(member), XRDML.name, XRDML.read_bytes(), first_sample)
    assert first.status_code == 202
    assert jobs.wait_idle(120)
    again = _upload(_client(member), "copy.xrdml", XRDML.read_bytes(), second_sample)
    assert again.status_code == 200, again.content
    assert (again.json()["id"], again.json()["duplicate"], again.json()["status"]) == (
        first.json()["id"], True, "ok")
    assert XRDMeasurement.objects.filter(sample=second_sample).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_pool_start_sweep_parses_files_a_stopped_server_left_pending(pool, settings, member):
    settings.LABDB_JOB_RESEND_AFTER_S = 0
    sample = builders.sample("NPL-POOL-4", actor=member)
    _gate.clear()
    jobs.dispatch("tests.hold_the_pool", 0)
    response = _upload(_client(member), XRDML.name, XRDML.read_bytes(), sample)
    assert response.status_code == 202
    jobs.shutdown_pool(wait=False, cancel_queued=True)  # the server stops; its queue is lost
    _gate.set()
    file_id = response.json()["id"]
    assert DataFile.objects.get(pk=file_id).parse_status == "pending"

    jobs.ensure_pool_started()  # what the next server's first request does
    assert _wait_for(lambda: DataFile.objects.get(pk=file_id).parse_status == "ok")
    assert XRDMeasurement.objects.filter(sample=sample).count() == 1


def _wait_for(predicate, timeout_s: float = 120) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


# --- the OS budget: a file that needs too much fails alone ---------------------------------

BIG_ROWS = 400_000  # ~10.8 MB of CSV; parsing it peaks ~180 MB above the child's start


@pytest.fixture
def child_start_mb():
    """The parse child's address space before it parses (it inherits the fork server's)."""
    from characterization.parse_worker import ParseBudget, parse_in_budget

    outcome = parse_in_budget(
        cary_csv(10), filename="small.csv", limits=services.parser_limits(),
        budget=ParseBudget(), preview=False,
    )
    assert outcome.vm_start_mb > 0
    return outcome.vm_start_mb


@pytest.mark.django_db
def test_a_file_over_the_memory_budget_fails_alone_and_the_next_parses(
        settings, member, child_start_mb):
    settings.LABDB_PARSE_MEMORY_MB = int(child_start_mb) + 60
    sample = builders.sample("NPL-BUDGET-1", actor=member)
    client = _client(member)
    response = _upload(client, "big.csv", cary_csv(BIG_ROWS), sample)
    assert response.status_code == 202
    failed = DataFile.objects.get(pk=response.json()["id"])
    assert (failed.parse_status, failed.parse_error) == (
        "failed",
        f"big.csv: the parser exceeded its memory budget ({settings.LABDB_PARSE_MEMORY_MB} MB)",
    )
    assert AbsorptionMeasurement.objects.filter(data_file=failed).count() == 0
    assert failed.file.read() == cary_csv(BIG_ROWS)  # the upload is kept, byte for byte

    settings.LABDB_PARSE_MEMORY_MB = 2048
    normal = _upload(client, CARY.name, CARY.read_bytes(), sample)
    parsed = DataFile.objects.get(pk=normal.json()["id"])
    assert (parsed.parse_status, parsed.format) == ("ok", "cary_csv")
    assert AbsorptionMeasurement.objects.filter(data_file=parsed).count() == 1


@pytest.mark.django_db
def test_a_file_over_the_time_budget_fails_alone(settings, member):
    settings.LABDB_PARSE_TIMEOUT_S = 1
    sample = builders.sample("NPL-BUDGET-2", actor=member)
    response = _upload(_client(member), "slow.csv", cary_csv(BIG_ROWS), sample)
    failed = DataFile.objects.get(pk=response.json()["id"])
    assert (failed.parse_status, failed.parse_error) == (
        "failed", "slow.csv: the parser exceeded its time budget (1 s)")
    assert AbsorptionMeasurement.objects.filter(data_file=failed).count() == 0


@pytest.mark.django_db
def test_reparse_uses_the_same_budget(settings, member, child_start_mb):
    """parse_data_file (reparse_files) parses in the budgeted child too."""
    sample = builders.sample("NPL-BUDGET-3", actor=member)
    data_file, _ = services.attach_data_file(
        content=cary_csv(BIG_ROWS), filename="big.csv", sample=sample, actor=member)
    assert data_file.parse_status == "ok"
    settings.LABDB_PARSE_MEMORY_MB = int(child_start_mb) + 60
    services.parse_data_file(data_file=data_file)
    data_file.refresh_from_db()
    assert (data_file.parse_status, data_file.parse_error) == (
        "failed",
        f"big.csv: the parser exceeded its memory budget ({settings.LABDB_PARSE_MEMORY_MB} MB)",
    )
    # As for any failed re-parse, the rows of the earlier good parse stay.
    assert AbsorptionMeasurement.objects.filter(data_file=data_file).count() == 1


# --- claiming and the sweep ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_delivered_twice_parses_once(member):
    sample = builders.sample("NPL-ONCE", actor=member)
    data_file, _ = services.attach_data_file(
        content=XRDML.read_bytes(), filename=XRDML.name, sample=sample, actor=member)
    parsed_at = DataFile.objects.get(pk=data_file.pk).parsed_at
    assert services.parse_pending_file(data_file.pk) == "ok"  # not pending: left alone
    assert DataFile.objects.get(pk=data_file.pk).parsed_at == parsed_at
    assert XRDMeasurement.objects.filter(data_file=data_file).count() == 1


def _queued_not_run(settings, **attach):
    """A file whose parse job was queued but never ran (a server stopped before its pool got
    to it): with the pool runner inside a test transaction, the after-commit never comes."""
    settings.LABDB_JOB_RUNNER = "pool"
    try:
        data_file, _ = services.attach_data_file(**attach)
    finally:
        settings.LABDB_JOB_RUNNER = "inline"
    assert DataFile.objects.get(pk=data_file.pk).parse_status == "pending"
    return data_file


@pytest.mark.django_db
def test_sweep_requeues_pending_and_dead_parsing_files_only(settings, member):
    settings.LABDB_JOB_RESEND_AFTER_S = 60
    settings.LABDB_PARSE_TIMEOUT_S = 120
    sample = builders.sample("NPL-SWEEP", actor=member)
    old_pending, dead, fresh = (
        _queued_not_run(settings, content=content, filename=name, sample=sample, actor=member)
        for name, content in (
            ("a.xrdml", XRDML.read_bytes()), ("b.csv", CARY.read_bytes()), ("c.csv", cary_csv(20))
        )
    )
    now = timezone.now()
    DataFile.objects.filter(pk=old_pending.pk).update(updated_at=now - dt.timedelta(seconds=61))
    DataFile.objects.filter(pk=dead.pk).update(
        parse_status="parsing", updated_at=now - dt.timedelta(seconds=301))
    assert services.resubmit_lost_parses(now=now) == sorted([old_pending.pk, dead.pk])
    statuses = dict(DataFile.objects.values_list("original_name", "parse_status"))
    assert statuses == {"a.xrdml": "ok", "b.csv": "ok", "c.csv": "pending"}
    assert fresh.pk not in services.resubmit_lost_parses(now=now)


@pytest.mark.django_db
def test_an_unexpected_job_error_fails_the_file_with_the_reason(settings, member):
    sample = builders.sample("NPL-ERR", actor=member)
    data_file = _queued_not_run(
        settings, content=XRDML.read_bytes(), filename=XRDML.name, sample=sample, actor=member)
    DataFile.objects.filter(pk=data_file.pk).update(file="raw/missing/gone.xrdml")
    jobs.run_job(services.PARSE_JOB, data_file.pk)
    data_file.refresh_from_db()
    assert data_file.parse_status == "failed"
    assert data_file.parse_error.startswith("the parse job failed unexpectedly: ")
    assert XRDMeasurement.objects.filter(data_file=data_file).count() == 0


# --- at scale: the same job on a Celery worker, the same budget ----------------------------


@pytest.fixture
def one_second_parse_budget(monkeypatch):
    """LABDB_PARSE_TIMEOUT_S=1 for the worker process started after this fixture."""
    monkeypatch.setenv("LABDB_PARSE_TIMEOUT_S", "1")


@pytest.mark.celery
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_celery_worker_parses_in_the_budgeted_child(one_second_parse_budget, worker,  # noqa: F811
                                                    settings, member, tmp_path):
    """A real Celery worker (prefork) runs the parse job; the bomb fails alone there too."""
    sample = builders.sample("NPL-CELERY", actor=member)
    client = _client(member)
    good = _upload(client, CARY.name, CARY.read_bytes(), sample)  # parses in milliseconds
    assert (good.status_code, good.json()["status"]) == (202, "pending")
    slow = _upload(client, "slow.csv", cary_csv(BIG_ROWS), sample)
    assert slow.status_code == 202
    assert _wait_for(lambda: not DataFile.objects.filter(
        parse_status__in=["pending", "parsing"]).exists(), timeout_s=240), (
        tmp_path / "worker.log").read_text()[-3000:]
    outcome = {f.original_name: (f.parse_status, f.parse_error) for f in DataFile.objects.all()}
    assert outcome == {
        CARY.name: ("ok", ""),
        "slow.csv": ("failed", "slow.csv: the parser exceeded its time budget (1 s)"),
    }
    assert AbsorptionMeasurement.objects.filter(sample=sample).count() == 1
