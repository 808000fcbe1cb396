"""Jobs end with the true reason: a real Redis that goes away and comes back, a real Celery
worker and celery beat (the re-send sweep), and a raw file deleted from storage.

redis-server, ``celery worker`` and ``celery beat`` are subprocesses stopped by their pids.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from analysis import services
from analysis.models import FitRun
from characterization.models import XASFit
from tests.analysis.test_celery_worker import (
    ROOT,
    _database_url,
    _stop,
    _wait,
    running_broker,
)
from tests.analysis.test_fit_runs import XAS, fit_a_model, spectrum_of

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def redis(tmp_path):
    with running_broker(tmp_path) as server:
        yield server


def _celery(args, redis, settings, tmp_path, log_name):
    env = {
        **os.environ,
        "CELERY_BROKER_URL": redis.url,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LABDB_VAR_DIR": str(tmp_path / "var"),
        "LABDB_JOB_RESEND_AFTER_S": "0",
        "LABDB_JOB_SWEEP_EVERY_S": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(tmp_path / log_name, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "labdb", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log


@pytest.fixture
def worker_and_beat(redis, settings, tmp_path):
    worker = _celery(
        [
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        redis,
        settings,
        tmp_path,
        "worker.log",
    )
    beat = _celery(
        ["beat", "--loglevel=info", "--schedule", str(tmp_path / "beat-schedule")],
        redis,
        settings,
        tmp_path,
        "beat.log",
    )
    try:
        yield tmp_path / "worker.log"
    finally:
        for proc, log in (beat, worker):
            _stop(proc)
            log.close()


def _finished(run_id, timeout):
    return _wait(
        lambda: FitRun.objects.filter(pk=run_id, status__in=["succeeded", "failed"]).first(),
        timeout=timeout,
        step=0.2,
    )


def test_broker_outage_202_then_sent_by_the_sweep_and_completed_once(worker_and_beat, redis, api):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    redis.stop()
    response = api.post(
        "/api/fit-runs/", {"spectrum": spectrum.pk, "model": fit_a_model()}, format="json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued (broker unavailable, will be re-sent)"
    run = FitRun.objects.get(pk=body["id"])
    assert (run.status, run.task_id) == ("queued", "")
    assert "broker unavailable" in run.log
    time.sleep(2)
    assert FitRun.objects.get(pk=run.pk).status == "queued"  # nothing can send it yet

    redis.start()
    done = _finished(run.pk, timeout=240)
    assert done is not None, worker_and_beat.read_text()[-3000:]
    assert done.status == "succeeded", done.error
    assert done.attempts == 1
    assert done.task_id != ""
    assert XASFit.objects.filter(source="computed").count() == 1
    log = worker_and_beat.read_text()
    assert f"fit run {run.pk}: started (attempt 1" in log
    assert f"fit run {run.pk}: succeeded in" in log


def test_raw_file_missing_from_storage_fails_once_with_the_true_reason(worker_and_beat, api):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi", code="REF-Cu-gone")
    stored_name = spectrum.data_file.file.name
    reason = (
        f"spectrum: raw file cu_metal_rt.xdi ({stored_name}) is missing from storage; "
        "restore it from a backup or re-upload it."
    )
    with transaction.atomic():  # queued while the file exists; gone before the worker reads it
        run = services.request_fit_run(spectrum=spectrum, model=fit_a_model())
        default_storage.delete(stored_name)
    done = _finished(run.pk, timeout=120)
    assert done is not None, worker_and_beat.read_text()[-3000:]
    assert (done.status, done.attempts, done.error) == ("failed", 1, reason)
    # The worker logs the failure after committing it: give its log a moment to be written.
    line = f"fit run {done.pk}: failed: spectrum: raw file"
    for _ in range(100):
        if line in worker_and_beat.read_text():
            break
        time.sleep(0.1)
    assert line in worker_and_beat.read_text()
    # A new request for the same spectrum is refused at once with the same reason.
    response = api.post(
        "/api/fit-runs/", {"spectrum": spectrum.pk, "model": fit_a_model()}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == reason
