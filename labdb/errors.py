"""Error answers and security reports at the edge of the site.

Under ``/api/`` every error is JSON ``{"error": <kind>, "message": <sentence>}`` (scripts parse
it); elsewhere the normal Django HTML pages are kept. The functions here are Django's
``handler400/403/404/500`` (``labdb/urls.py``) and ``CSRF_FAILURE_VIEW``; together with
``labdb.middleware.ApiErrorMiddleware`` (errors raised outside DRF, non-JSON error responses)
they make every error under ``/api/`` JSON. ``csp_report`` receives the browser's
Content-Security-Policy violation reports and logs them.
"""

from __future__ import annotations

import json
import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

API_PREFIX = "/api/"
CSP_REPORT_MAX_BYTES = 64 * 1024  # a real report is < 2 kB; anything larger is dropped

csp_logger = logging.getLogger("labdb.csp")


def is_api_request(request: HttpRequest) -> bool:
    """True for paths under /api/ (the REST API, its schema and docs)."""
    return request.path.startswith(API_PREFIX)


def json_error(status: int, kind: str, message: str, request=None, **extra) -> JsonResponse:
    """The JSON error body of every /api/ error; carries the request id when there is one."""
    body = {"error": kind, "message": message, **extra}
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JsonResponse(body, status=status)


def database_busy_response(request, exc: OperationalError) -> JsonResponse:
    """503 with Retry-After for a locked or unreachable database (the request did nothing)."""
    retry_s = int(settings.LABDB_RETRY_AFTER_S)
    locked = "locked" in str(exc).lower()
    what = ("the database is busy with another write" if locked
            else "the database is not reachable right now")
    response = json_error(
        503, "DatabaseBusy" if locked else "DatabaseUnavailable",
        f"{what}; nothing was changed. Retry in {retry_s} s.", request,
    )
    response["Retry-After"] = str(retry_s)
    return response


def bad_request(request, exception=None, template_name="400.html"):
    """400 (Django's request parsing: bad multipart, too many fields); 413 for a body over the
    upload limits. JSON under /api/."""
    if isinstance(exception, RequestDataTooBig):
        limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1e6
        message = (f"body: the request body is larger than {limit_mb:.0f} MB without the files "
                   "(DATA_UPLOAD_MAX_MEMORY_SIZE); send files as multipart uploads.")
        if is_api_request(request):
            return json_error(413, "RequestTooLarge", message, request)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    if not is_api_request(request):
        return defaults.bad_request(request, exception, template_name)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        message = f"body: {exception}"
    else:
        message = ("body: the request could not be read (malformed multipart or form data, or "
                   "a bad header); check the Content-Type and its boundary.")
    return json_error(400, "BadRequest", message, request)


def permission_denied(request, exception=None, template_name="403.html"):
    """403: JSON under /api/ with the refusal's sentence when it has one."""
    if not is_api_request(request):
        return defaults.permission_denied(request, exception, template_name)
    text = str(exception or "").strip() or "You do not have permission to do this."
    return json_error(403, "PermissionDenied", text, request)


def page_not_found(request, exception=None, template_name="404.html"):
    """404: JSON under /api/ naming the path and where the endpoint list is."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, template_name)
    return json_error(
        404, "NotFound",
        f"No API endpoint or record at {request.path}; the endpoints are listed at /api/.",
        request,
    )


def server_error(request, template_name="500.html"):
    """500 (an unhandled exception, already logged by Django): JSON under /api/.

    Called inside Django's exception handling, so ``sys.exc_info()`` is the error: a locked
    or unreachable database is a 503 with Retry-After, on every page."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError):
        if is_api_request(request):
            return database_busy_response(request, exc)
        response = HttpResponse(
            "The database is busy; nothing was changed. Reload the page in a few seconds.",
            status=503, content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(int(settings.LABDB_RETRY_AFTER_S))
        return response
    if not is_api_request(request):
        return defaults.server_error(request, template_name)
    return json_error(
        500, "ServerError",
        "The server hit an unexpected error and changed nothing; it is logged under this "
        "request id: tell the lab's administrator.",
        request,
    )


def csrf_failure(request, reason: str = ""):
    """CSRF refusal: JSON under /api/ (say how to authenticate), Django's page elsewhere."""
    if not is_api_request(request):
        return django_csrf_failure(request, reason)
    return json_error(
        403, "CSRFFailed",
        f"CSRF check failed ({reason}). Scripts should send 'Authorization: Token <key>'; "
        "browser sessions must send the X-CSRFToken header.",
        request,
    )


@csrf_exempt
@require_POST
def csp_report(request):
    """Log a browser's Content-Security-Policy violation report (report-uri); 204, no body.

    Accepts ``application/csp-report`` and ``application/reports+json``; bodies over 64 kB or
    not JSON are ignored (logged as such) — the endpoint needs no login and stores nothing.
    """
    body = request.read(CSP_REPORT_MAX_BYTES + 1)
    if len(body) > CSP_REPORT_MAX_BYTES:
        csp_logger.warning("CSP report over %d bytes ignored", CSP_REPORT_MAX_BYTES)
        return HttpResponse(status=204)
    try:
        report = json.loads(body or b"null")
    except ValueError:
        csp_logger.warning("CSP report that is not JSON ignored")
        return HttpResponse(status=204)
    reports = report if isinstance(report, list) else [report]
    for item in reports:
        if not isinstance(item, dict):
            continue
        detail = item.get("csp-report") or item.get("body") or item
        if not isinstance(detail, dict):
            continue
        csp_logger.warning(
            "CSP violation: %s blocked %s on %s",
            detail.get("violated-directive") or detail.get("effectiveDirective"),
            detail.get("blocked-uri") or detail.get("blockedURL"),
            detail.get("document-uri") or detail.get("documentURL"),
        )
    return HttpResponse(status=204)
