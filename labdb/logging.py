"""Log records for operators: optional JSON lines, a request id on every record, one start-up line.

``LABDB_LOG_FORMAT=json`` writes one JSON object per record (time, level, logger, message,
request_id, exception); the default is plain text. The request id comes from
``labdb.middleware.RequestIdMiddleware`` through a context variable, so records logged while a
request is served carry it, and records logged elsewhere (workers, commands) carry "-".
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "labdb_request_id", default="-"
)

_started = False


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's id, or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``exception`` holds the formatted traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict for settings; ``log_format`` is "text" or "json" (else ValueError)."""
    if log_format not in {"text", "json"}:
        raise ValueError(f"LABDB_LOG_FORMAT={log_format!r}: use 'text' or 'json'.")
    formatter = (
        {"()": "labdb.logging.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "labdb.logging.RequestIdFilter"}},
        "formatters": {"labdb": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["request_id"],
                "formatter": "labdb",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # The start-up line and job events are INFO: shown even when the root level is WARNING.
        "loggers": {
            "labdb": {"level": "INFO" if level == "WARNING" else level},
            "analysis": {"level": "INFO" if level == "WARNING" else level},
        },
    }


def startup_summary(settings) -> str:
    """One line naming the database, storage backend, broker and where jobs run."""
    db = settings.DATABASES["default"]
    vendor = db["ENGINE"].rsplit(".", 1)[-1]
    where = db.get("HOST") or "local socket" if vendor == "postgresql" else db["NAME"]
    backend = settings.STORAGES["default"]["BACKEND"]
    if backend.endswith("S3Storage"):
        opts = settings.STORAGES["default"]["OPTIONS"]
        storage = f"S3 bucket {opts['bucket_name']} at {opts.get('endpoint_url') or 'AWS'}"
    else:
        storage = f"local files in {settings.MEDIA_ROOT}"
    broker = settings.CELERY_BROKER_URL
    if broker:
        safe_broker = broker.split("@")[-1] if "@" in broker else broker
        jobs = f"broker {safe_broker}, jobs run on Celery workers"
    else:
        jobs = "no broker, jobs run in-process"
    return f"labdb: database {vendor} ({where}); storage {storage}; {jobs}"


def log_startup(settings) -> None:
    """Log the start-up summary once per process at INFO on the "labdb" logger."""
    global _started
    if _started:
        return
    _started = True
    logging.getLogger("labdb").info(startup_summary(settings))
