"""labdb.lib.jobs: one job path — registry, submit after commit, the embedded pool, sweeps.

The jobs below are real registered jobs (the registry is the code under test); the fit job is
the real one, run on the real pool against the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from analysis import services as fit_services
from analysis.models import FitRun
from labdb.lib import jobs
from synthesis.models import Sample
from tests.analysis.test_fit_runs import XAS, fit_a_model, spectrum_of
from tests.synthesis import builders

ROOT = Path(__file__).resolve().parents[1]
seen: list[tuple] = []
errors: list[tuple] = []
_gate = threading.Event()


def _record_error(n: int, *, exc: Exception) -> None:
    errors.append((n, type(exc).__name__, str(exc)))


@jobs.job("tests.count_samples", on_error=_record_error)
def _count_samples(n: int) -> None:
    """Reads the committed database from whatever thread runs it; fails for n < 0."""
    if n < 0:
        raise ValueError(f"negative input {n}")
    seen.append((n, threading.current_thread().name, Sample.objects.count()))


@jobs.job("tests.wait_for_gate")
def _wait_for_gate(_n: int) -> None:
    _gate.wait(timeout=60)


raw_connections: list[tuple[int, object]] = []


@jobs.job("tests.note_connection")
def _note_connection(leave_open: int) -> None:
    """Notes the thread's DB-API connection; ``leave_open`` leaves autocommit off, as a job
    that died inside a transaction would (the pool must not hand that connection on)."""
    Sample.objects.exists()
    raw_connections.append((leave_open, connection.connection))
    if leave_open:
        connection.set_autocommit(False)


@pytest.fixture(autouse=True)
def _clean():
    raw_connections.clear()
    seen.clear()
    errors.clear()
    yield


@pytest.fixture
def pool(settings):
    settings.LABDB_JOB_RUNNER = "pool"
    settings.LABDB_JOB_WORKERS = 2
    settings.LABDB_JOB_SWEEP_EVERY_S = 3600
    jobs.shutdown_pool()
    yield
    _gate.set()
    jobs.wait_idle(180)
    jobs.shutdown_pool()


def test_unknown_job_and_non_id_arguments_are_refused():
    with pytest.raises(LookupError, match=r"no background job named 'tests.nope' \(registered: "):
        jobs.submit("tests.nope", 1)
    with pytest.raises(TypeError, match=r"arguments must be database ids \(int\), got \('7',\)"):
        jobs.submit("tests.count_samples", "7")


@pytest.mark.django_db
def test_inline_runs_at_submit_time_in_the_calling_thread(member):
    builders.sample("JOB-1", actor=member)
    with transaction.atomic():
        assert jobs.submit("tests.count_samples", 3) is True
        assert seen == [(3, threading.current_thread().name, 1)]  # before the commit


@pytest.mark.django_db
def test_inline_error_is_recorded_by_on_error_not_raised():
    assert jobs.submit("tests.count_samples", -1) is True
    assert errors == [(-1, "ValueError", "negative input -1")]


@pytest.mark.django_db(transaction=True)
def test_pool_runs_after_commit_on_its_threads_and_never_after_rollback(pool, member):
    with transaction.atomic():
        builders.sample("JOB-2", actor=member)
        assert jobs.submit("tests.count_samples", 1) is False
        time.sleep(0.3)
        assert seen == []  # not before the commit
    assert jobs.wait_idle(60)
    assert [(n, name.startswith("labdb-job"), count) for n, name, count in seen] == [
        (1, True, 1)]
    with transaction.atomic():
        jobs.submit("tests.count_samples", 2)
        transaction.set_rollback(True)
    assert jobs.wait_idle(60)
    assert [n for n, _, _ in seen] == [1]  # the rolled-back submit never ran


@pytest.mark.django_db(transaction=True)
def test_pool_error_is_logged_and_recorded_and_the_pool_goes_on(pool, caplog):
    jobs.dispatch("tests.count_samples", -5)
    jobs.dispatch("tests.count_samples", 5)
    assert jobs.wait_idle(60)
    assert errors == [(-5, "ValueError", "negative input -5")]
    assert [n for n, _, _ in seen] == [5]
    assert "job tests.count_samples(-5,) failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_pool_is_bounded_by_labdb_job_workers(pool, settings):
    settings.LABDB_JOB_WORKERS = 1
    jobs.shutdown_pool()
    _gate.clear()
    jobs.dispatch("tests.wait_for_gate", 0)
    jobs.dispatch("tests.count_samples", 9)
    time.sleep(0.5)
    assert seen == []  # the one thread is busy: the second job waits its turn
    _gate.set()
    assert jobs.wait_idle(60)
    assert [n for n, _, _ in seen] == [9]


@pytest.mark.django_db(transaction=True)
def test_pool_thread_keeps_its_connection_between_jobs_until_unusable_or_shutdown(
        pool, settings):
    """No connect and close per job (issue 16 item 4): the worker reuses its connection; one a
    job left inside a transaction is closed and the next job gets a new one; the pool's
    shutdown closes what its stopped workers kept."""
    settings.LABDB_JOB_WORKERS = 1
    jobs.shutdown_pool()
    for leave_open in (0, 0, 1, 0):
        jobs.dispatch("tests.note_connection", leave_open)
        assert jobs.wait_idle(60)
    first, second, third, fourth = (raw for _, raw in raw_connections)
    assert first is second is third  # reused by the next jobs
    assert fourth is not third  # the one left in a transaction was not handed on
    (kept,) = [c for conns in jobs._kept.values() for c in conns]
    assert kept.connection is fourth
    jobs.shutdown_pool()
    assert kept.connection is None and jobs._kept == {}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fit_request_answers_queued_and_the_pool_runs_it_then_a_lost_run_is_recovered(
        pool, settings, member):
    with jobs.inline():  # the spectrum's file parsed at once
        spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", actor=member)
    _gate.clear()
    jobs.dispatch("tests.wait_for_gate", 0)
    jobs.dispatch("tests.wait_for_gate", 0)  # both threads busy: the fit waits in the queue
    run = fit_services.request_fit_run(spectrum=spectrum, model=fit_a_model(), actor=member)
    stored = FitRun.objects.get(pk=run.pk)
    assert (run.status, stored.status, stored.task_id) == ("queued", "queued", jobs.pool_task_id())
    assert not fit_services.dispatch_pending(stored)  # it is in a pool, not waiting for a broker

    # The server stops with the fit still queued; a new server process starts.
    jobs.shutdown_pool(wait=False, cancel_queued=True)
    _gate.set()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = jobs.pool_task_id().split(":")[1]
    FitRun.objects.filter(pk=run.pk).update(task_id=f"pool:{host}:{gone}")
    jobs.ensure_pool_started()  # the new server's first request: its pool sweeps

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = FitRun.objects.get(pk=run.pk)
        if done.status in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert (done.status, done.error, done.attempts) == ("succeeded", "", 1)
    assert done.task_id == jobs.pool_task_id()
    assert done.worker.startswith(f"{host}:{os.getpid()}")
    assert done.result is not None and done.result.r_factor is not None


def test_runner_setting_is_checked_at_start():
    env = {**os.environ, "LABDB_JOB_RUNNER": "threads", "DJANGO_SETTINGS_MODULE": "labdb.settings"}
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert ("LABDB_JOB_RUNNER='threads': expected pool (background threads in the server), "
            "celery (workers; needs CELERY_BROKER_URL) or inline (tests only).") in result.stderr
    env["LABDB_JOB_RUNNER"] = "celery"
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                            env=env, capture_output=True, text=True)
    assert "LABDB_JOB_RUNNER=celery needs CELERY_BROKER_URL" in result.stderr


def test_default_runner_is_the_pool_without_a_broker_and_celery_with_one():
    code = "from django.conf import settings; print(settings.LABDB_JOB_RUNNER)"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CELERY_BROKER_URL", "LABDB_JOB_RUNNER")}
    env["DJANGO_SETTINGS_MODULE"] = "labdb.settings"
    plain = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=True)
    broker = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                            env={**env, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"},
                            capture_output=True, text=True, check=True)
    assert (plain.stdout.strip(), broker.stdout.strip()) == ("pool", "celery")


@pytest.mark.django_db
def test_management_commands_can_run_jobs_inline_whatever_the_setting(settings, member):
    settings.LABDB_JOB_RUNNER = "pool"
    builders.sample("JOB-3", actor=member)
    with jobs.inline():
        assert jobs.submit("tests.count_samples", 4) is True
    assert seen == [(4, threading.current_thread().name, 1)]
    assert jobs.runner() == "pool"
    assert connection.in_atomic_block  # the test's transaction: nothing was committed
