"""/health/ (no login, no data) and request ids on every response and log record."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from labdb.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_health_ok_without_login(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = Client().get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "migrations", "storage"}  # no broker configured
    assert body["checks"]["migrations"] == {"ok": True, "message": "all applied"}
    assert body["checks"]["storage"] == {"ok": True, "message": "FileSystemStorage reachable"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_503_names_the_failing_check(settings, tmp_path):
    blocker = tmp_path / "media"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker
    response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is False
    assert body["checks"]["storage"]["message"].startswith("NotADirectoryError:")


def test_unreachable_broker_fails_health(settings, tmp_path):
    from labdb.celery import app

    settings.MEDIA_ROOT = tmp_path
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    old = app.conf.broker_url
    app.conf.broker_url = settings.CELERY_BROKER_URL
    app._pool = None
    try:
        response = Client().get("/health/")
    finally:
        app.conf.broker_url = old
        app._pool = None
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["worker"]["ok"] is False


def test_request_id_generated_or_kept_and_echoed():
    client = Client()
    fresh = client.get("/health/")
    assert len(fresh["X-Request-ID"]) == 32
    kept = client.get("/health/", HTTP_X_REQUEST_ID="proxy-abc.123")
    assert kept["X-Request-ID"] == "proxy-abc.123"
    unsafe = client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert unsafe["X-Request-ID"] != "bad id\nwith newline"
    assert len(unsafe["X-Request-ID"]) == 32


def test_json_log_record_carries_the_request_id():
    record = logging.LogRecord(
        "labdb", logging.INFO, __file__, 1, "sample %s saved", ("NPL-1",), None
    )
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["message"], entry["request_id"]) == (
        "INFO",
        "labdb",
        "sample NPL-1 saved",
        "req-42",
    )
