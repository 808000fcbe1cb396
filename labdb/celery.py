"""Celery application. Workers import larch once per process (see analysis.tasks)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labdb.settings")

app = Celery("labdb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
