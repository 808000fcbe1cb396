"""A real Redis broker and a real Celery worker: a worker killed mid-fit, the job completes once.

Starts ``redis-server`` and ``celery worker`` (prefork, 1 process) as subprocesses and stops
them by the process ids recorded here — never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import override_settings

from analysis import services
from analysis.models import FitRun
from characterization.models import XASFit
from labdb.celery import app as celery_app
from tests.analysis.test_fit_runs import XAS, spectrum_of

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class Redis:
    """A redis-server on a fixed loopback port that the test can stop and start again."""

    def __init__(self, tmp_path):
        self.server = shutil.which("redis-server")
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        assert _wait(up, timeout=10, step=0.05)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        _drop_connections()


@contextlib.contextmanager
def running_broker(tmp_path):
    """A redis-server for the Celery app, the app pointed at it for the span; stopped by pid."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-packages installs it)")
    server = Redis(tmp_path)
    server.start()
    old = {k: celery_app.conf[k] for k in ("broker_url",)}
    celery_app.conf.update(broker_url=server.url)
    _drop_connections()
    try:
        with override_settings(LABDB_JOB_RUNNER="celery"):  # this process sends to the broker
            yield server
    finally:
        celery_app.conf.update(**old)
        server.stop()


@pytest.fixture
def broker(tmp_path):
    with running_broker(tmp_path) as server:
        yield server.url


def _drop_connections() -> None:
    """Forget broker connections made with the previous settings (the app caches a pool)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def worker(broker, settings, tmp_path):
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LABDB_VAR_DIR": str(tmp_path / "var"),
        "LABDB_JOB_HEARTBEAT_TIMEOUT_S": "120",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "labdb",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def thirteen_path_model() -> dict:
    sig = ["sig2_p1", "sig2_p2", "sig2_p3", "sig2_p4", "sig2_p5", "sig2_p6"] + ["sig2_p5"] * 7
    guess = {
        k: {"kind": "guess", "value": v}
        for k, v in dict(
            s02=1, e01=4, e0=4, alpha=0, sig2_p1=0.002, sig2_p2=0.002, sig2_p3=0.002, sig2_p6=0.002
        ).items()
    }
    folder = XAS / "larch_examples" / "feff_cu_13paths"
    return {
        "feff": {
            "path_files": {
                f"feff{i:04d}": (folder / f"feff{i:04d}.dat").read_text() for i in range(1, 14)
            }
        },
        "parameters": {
            **guess,
            "sig2_p4": {"kind": "def", "expr": "sig2_p3"},
            "sig2_p5": {"kind": "def", "expr": "sig2_p4"},
        },
        "datasets": [
            {
                "id": "cu",
                "processing": {
                    "pre_edge": {},
                    "autobk": {"rbkg": 1.1, "kweight": 2, "clamp_hi": 50},
                    "xftf": {},
                },
                "transform": {
                    "kmin": 3,
                    "kmax": 16,
                    "kweight": [2, 1, 3],
                    "dk": 5,
                    "rmin": 1.4,
                    "rmax": 4.7,
                },
                "paths": [
                    {
                        "path_file": f"feff{i:04d}",
                        "s02": "s02",
                        "e0": "e01" if i == 1 else "e0",
                        "sigma2": sig[i - 1],
                        "deltar": "alpha*reff",
                    }
                    for i in range(1, 14)
                ],
            }
        ],
    }


def _wait(predicate, timeout: float, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def test_worker_killed_mid_fit_job_completes_exactly_once(worker, tmp_path):
    spectrum = spectrum_of(XAS / "larch_examples" / "cu_metal_rt.xdi")
    run = services.request_fit_run(spectrum=spectrum, model=thirteen_path_model())

    def fitting():
        current = FitRun.objects.get(pk=run.pk)
        return current if current.status == "running" and current.progress_pct >= 35 else None

    running = _wait(fitting, timeout=120)
    assert running is not None, (tmp_path / "worker.log").read_text()[-3000:]
    child_pid = int(running.worker.rpartition(":")[2])
    assert child_pid != worker.pid  # the prefork child, not the main worker process
    os.kill(child_pid, signal.SIGKILL)

    done = _wait(
        lambda: FitRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(),
        timeout=180,
        step=0.2,
    )
    assert done is not None, (tmp_path / "worker.log").read_text()[-3000:]
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert "lost; taking over" in done.log
    assert XASFit.objects.filter(source="computed").count() == 1
    assert XASFit.objects.get(source="computed").provenance["fit_run"] == run.pk
