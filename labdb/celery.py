"""Celery application. Workers import larch once per process (see analysis.tasks).

``celery -A labdb beat`` runs the periodic jobs below: re-sending queued runs whose message
never reached the broker (a broker outage while they were requested) and reaping runs whose
worker stopped beating. Both are idempotent; running beat twice does no harm.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labdb.settings")

app = Celery("labdb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from django.conf import settings  # noqa: E402 (after DJANGO_SETTINGS_MODULE is set)

_SWEEP_EVERY_S = settings.LABDB_JOB_SWEEP_EVERY_S

app.conf.beat_schedule = {
    "resend-queued-fit-runs": {
        "task": "analysis.resend_queued_runs",
        "schedule": _SWEEP_EVERY_S,
    },
    "reap-stale-fit-runs": {
        "task": "analysis.reap_stale_runs",
        "schedule": _SWEEP_EVERY_S,
    },
    "resubmit-lost-parses": {
        "task": "characterization.resubmit_lost_parses",
        "schedule": _SWEEP_EVERY_S,
    },
}
