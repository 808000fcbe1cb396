"""Jobs: thin adapters that take ids and call one service.

``analysis.run_fit`` is the fit job of ``labdb.lib.jobs`` (embedded pool, inline in tests); with
a broker the same job is sent as the Celery task ``analysis.run_fit_job`` below.
``analysis.run_analysis`` (Celery ``analysis.run_analysis_job``) runs every other kind of
analysis run. Services submit jobs by these names; this module imports services, never the
reverse.

Workers import larch once per process (``worker_process_init``), never per request. Tasks are
``acks_late`` with ``reject_on_worker_lost``: a worker killed mid-fit puts the message back and
another worker picks it up; the service's row lock and result check make the write happen once.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from analysis.services.fits import FIT_JOB, execute_fit_run
from analysis.services.runs import (
    ANALYSIS_JOB,
    RunBusy,
    execute_run,
    fail_run,
    reap_stale_runs,
    record_dispatch,
    record_not_sent,
    recover_lost_runs,
    resend_queued_runs,
)
from labdb.lib.jobs import job, register_sweep

logger = logging.getLogger("analysis.jobs")


@worker_process_init.connect
def _preload_larch(**_kwargs) -> None:
    from analysis.engines._larch import preload

    preload()


@worker_ready.connect
def _reap_on_start(**_kwargs) -> None:
    reap_stale_runs()


@shared_task(
    bind=True,
    name="analysis.run_fit_job",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=20,
)
def run_fit_job(self, run_id: int) -> str:
    """Run fit ``run_id`` (idempotent: a finished run is not run again)."""
    try:
        return execute_fit_run(run_id)
    except RunBusy as busy:
        # Another live worker holds it: look again once its heartbeat could have expired.
        raise self.retry(countdown=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S / 4, exc=busy)


@shared_task(name="analysis.reap_stale_runs")
def reap_stale_runs_job() -> dict:
    return reap_stale_runs()


@shared_task(name="analysis.resend_queued_runs")
def resend_queued_runs_job() -> list[int]:
    """Re-send queued runs whose message never reached the broker (celery beat)."""
    return resend_queued_runs()


def _fail_escaped(run_id: int, *, exc: Exception) -> None:
    fail_run(run_id, f"the fit job failed unexpectedly: {type(exc).__name__}: {exc}")


@job(
    FIT_JOB,
    celery_task="analysis.run_fit_job",
    on_error=_fail_escaped,
    on_sent=record_dispatch,
    on_not_sent=record_not_sent,
)
def run_fit(run_id: int) -> None:
    """Run fit ``run_id`` in the embedded pool (or inline); a run another live worker holds
    is left to it (the pool's sweep re-submits it if that worker dies)."""
    try:
        execute_fit_run(run_id)
    except RunBusy as busy:
        logger.info("fit run %s: held by %s; leaving it there", run_id, busy)


# One sweep for runs of every kind (each is re-submitted to its kind's job).
register_sweep("analysis.fit_runs", recover_lost_runs)


@shared_task(
    bind=True,
    name="analysis.run_analysis_job",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=20,
)
def run_analysis_job(self, run_id: int) -> str:
    """Run analysis run ``run_id`` of any kind but the EXAFS fit (idempotent)."""
    try:
        return execute_run(run_id)
    except RunBusy as busy:
        raise self.retry(countdown=settings.LABDB_JOB_HEARTBEAT_TIMEOUT_S / 4, exc=busy)


def _fail_analysis_escaped(run_id: int, *, exc: Exception) -> None:
    fail_run(run_id, f"the analysis job failed unexpectedly: {type(exc).__name__}: {exc}")


@job(
    ANALYSIS_JOB,
    celery_task="analysis.run_analysis_job",
    on_error=_fail_analysis_escaped,
    on_sent=record_dispatch,
    on_not_sent=record_not_sent,
)
def run_analysis(run_id: int) -> None:
    """Run analysis run ``run_id`` in the embedded pool (or inline); a run another live
    worker holds is left to it."""
    try:
        execute_run(run_id)
    except RunBusy as busy:
        logger.info("analysis run %s: held by %s; leaving it there", run_id, busy)

