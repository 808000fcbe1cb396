"""``GET /health/``: is this instance able to serve? No login, no lab data in the answer.

Checks: database (a query), storage (list the media root / bucket), broker (a connection, when
CELERY_BROKER_URL is set), worker (a Celery worker answers a ping, when a broker is set) and
migrations (none unapplied). JSON ``{"ok": bool, "checks": {name: {"ok", "message"}}}`` with
200 when every check passes, 503 otherwise. Each check catches its own errors and says what
failed in a line an operator can act on; secrets (passwords in URLs) are never echoed.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

Check = Callable[[], str]


def storage_error_message(exc: Exception) -> str:
    """A short description of a storage failure (missing bucket, credentials, unreachable)."""
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
    bucket = settings.STORAGES["default"].get("OPTIONS", {}).get("bucket_name", "")
    if code in {"NoSuchBucket", "404"} and bucket:
        return f"S3 bucket {bucket!r} does not exist at the configured endpoint"
    if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}:
        return f"S3 refused the credentials or access to bucket {bucket!r} ({code})"
    return f"{type(exc).__name__}: {exc}"[:300]


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return f"{connections[DEFAULT_DB_ALIAS].vendor} reachable"


def check_migrations() -> str:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise RuntimeError(f"{len(pending)} migration(s) not applied ({names}); run migrate")
    return "all applied"


def check_storage() -> str:
    try:
        default_storage.listdir("")
    except FileNotFoundError:
        if not settings.STORAGES["default"]["BACKEND"].endswith("S3Storage"):
            return "local media folder not created yet (made on first upload)"
        raise
    except Exception as exc:
        raise RuntimeError(storage_error_message(exc)) from None
    return settings.STORAGES["default"]["BACKEND"].rsplit(".", 1)[-1] + " reachable"


def check_broker() -> str:
    from labdb.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "reachable"


def check_worker() -> str:
    from labdb.celery import app

    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping within 1 s; fit runs stay queued")
    return f"{len(replies)} worker(s) answered"


def checks() -> dict[str, Check]:
    found: dict[str, Check] = {
        "database": check_database,
        "migrations": check_migrations,
        "storage": check_storage,
    }
    if settings.CELERY_BROKER_URL:
        found["broker"] = check_broker
        found["worker"] = check_worker
    return found


def run_checks() -> dict:
    """{"ok": all passed, "checks": {name: {"ok": bool, "message": str}}}."""
    results = {}
    for name, check in checks().items():
        try:
            results[name] = {"ok": True, "message": check()}
        except Exception as exc:  # a health check reports, never raises
            results[name] = {"ok": False, "message": str(exc)[:300] or type(exc).__name__}
    return {"ok": all(r["ok"] for r in results.values()), "checks": results}


@never_cache
@require_GET
def health(request):
    report = run_checks()
    return JsonResponse(report, status=200 if report["ok"] else 503)
