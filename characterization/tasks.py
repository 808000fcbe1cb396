"""Jobs: thin adapters that take ids and call one service.

``characterization.parse_file`` parses an uploaded file off the request (``labdb.lib.jobs``:
the embedded pool, inline in tests, or the Celery task of the same name with a broker); the
parse itself runs in a budgeted child process (``characterization.parse_worker``) wherever the
job runs. ``characterization.resubmit_lost_parses`` finds files a stopped server left pending.
"""

from __future__ import annotations

from celery import shared_task

from characterization.services import (
    PARSE_JOB,
    fail_parse,
    parse_pending_file,
    resubmit_lost_parses,
)
from labdb.lib.jobs import job, register_sweep


@job(PARSE_JOB, on_error=fail_parse)
def parse_file_job(file_id: int) -> str | None:
    """Parse pending file ``file_id`` (a file that is not pending is left alone)."""
    return parse_pending_file(file_id)


@shared_task(name=PARSE_JOB, acks_late=True, reject_on_worker_lost=True)
def parse_file_task(file_id: int) -> str | None:
    """The parse job on a Celery worker (same service, same child-process budget)."""
    try:
        return parse_pending_file(file_id)
    except Exception as exc:
        fail_parse(file_id, exc=exc)
        raise


@shared_task(name="characterization.resubmit_lost_parses")
def resubmit_lost_parses_task() -> list[int]:
    """Re-queue files left pending or stuck parsing (celery beat)."""
    return resubmit_lost_parses()


register_sweep("characterization.pending_files", resubmit_lost_parses)
