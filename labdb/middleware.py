"""Request ids (echoed as ``X-Request-ID`` and put on log records); JSON errors under /api/."""

from __future__ import annotations

import logging
import re
import uuid

from labdb.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Keep a proxy's ``X-Request-ID`` when it is a safe token, else make a new one (uuid4 hex)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ApiErrorMiddleware:
    """Under /api/, every error answer is JSON ``{"error", "message"}``.

    * A database that is locked or unreachable (``OperationalError``) raised in a view is a 503
      with ``Retry-After`` (the transaction was rolled back; retrying is safe).
    * Any other error response under /api/ that is not JSON (Django's 405 ``Allow`` answers,
      a 413/429 from other middleware…) is replaced by a JSON body with the same status and
      headers. Unhandled exceptions reach ``labdb.errors.server_error`` (handler500).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").split(";")[0].strip().endswith("json"):
            return response
        return _as_json(request, response)

    def process_exception(self, request, exception):
        from django.db import OperationalError

        from labdb.errors import database_busy_response

        if isinstance(exception, OperationalError):
            logging.getLogger("django.request").error(
                "Database busy or unreachable: %s %s (%s)", request.method, request.path,
                exception, exc_info=exception,
            )
            return database_busy_response(request, exception)
        return None


_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "X-Request-ID")


def _as_json(request, response):
    from http import HTTPStatus

    from django.http import JsonResponse

    from labdb.errors import json_error

    status = response.status_code
    data = getattr(response, "data", None)  # a DRF answer rendered as HTML (browsable API)
    if isinstance(data, dict) and "message" in data:
        replaced = JsonResponse(data, status=status)
        for name in _KEPT_HEADERS:
            if response.has_header(name):
                replaced[name] = response[name]
        return replaced
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = response.reason_phrase
    message = f"{reason} ({request.method} {request.path})."
    if status == 405 and response.has_header("Allow"):
        message = f"{request.method} is not allowed on {request.path}; use {response['Allow']}."
    replaced = json_error(status, reason.replace(" ", ""), message, request)
    for name in _KEPT_HEADERS:
        if response.has_header(name):
            replaced[name] = response[name]
    return replaced
