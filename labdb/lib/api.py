"""API plumbing: pagination, error mapping, and the base viewset for lab records."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.db.models import ProtectedError
from rest_framework import status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labdb.lib.errors import ConflictError, LabdbError, RetiredError
from labdb.lib.records import validation_to_domain
from labdb.storage import StoredFileMissing


class LabdbPagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page_size=`` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    """Map labdb errors to 400/409 with a message a chemist understands.

    Every answer is ``{"error", "message", …}``: DRF's own ``{"detail"}`` answers (401, 403,
    404, 405, 415, 429 …) keep ``detail`` and gain both keys. A locked or unreachable database
    is a 503 with Retry-After. Anything else unhandled becomes a JSON 500 (labdb.errors).
    """
    response = _labdb_response(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        detail = response.data.get("detail")
        if detail is not None and len(response.data) == 1:
            kind = getattr(detail, "code", None) or type(exc).__name__
            kind = "".join(part.capitalize() for part in str(kind).split("_"))
            response.data = {"error": kind, "message": str(detail), "detail": detail}
    return response


def _labdb_response(exc, context):
    if isinstance(exc, OperationalError):
        from labdb.errors import database_busy_response

        busy = database_busy_response(getattr(context.get("request"), "_request", None), exc)
        return Response(json.loads(busy.content), status=busy.status_code,
                        headers={"Retry-After": busy["Retry-After"]})
    if isinstance(exc, DjangoValidationError):
        exc = validation_to_domain(exc)
    if isinstance(exc, ConflictError | RetiredError):
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, StoredFileMissing):  # the row is there, its bytes are gone
        return Response(exc.as_dict(), status=status.HTTP_410_GONE)
    if isinstance(exc, LabdbError):
        return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        return Response(
            {
                "error": "ProtectedError",
                "message": "This record is still referenced by other records; retire it instead.",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DRFValidationError):
        return Response(_flatten_validation(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, BotoCoreError | ClientError):  # S3: missing bucket, credentials, outage
        from labdb.health import storage_error_message

        return Response(
            {"error": "StorageError", "message": f"file storage: {storage_error_message(exc)}"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, FileNotFoundError):  # a stored raw file is gone from the storage
        return Response(
            {"error": "StorageError", "message": f"file storage: a stored file is missing ({exc})"},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return drf_exception_handler(exc, context)


def _first_error(detail, path: str = "") -> tuple[str, str]:
    """(field path, message) of the first error in a nested DRF error structure."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        sub = key if key != "non_field_errors" else ""
        return _first_error(value, f"{path}.{sub}".strip(".") if sub else path)
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if item:
                if isinstance(item, dict | list) and len(detail) > 1 or isinstance(item, dict):
                    return _first_error(item, f"{path}[{index + 1}]")
                return _first_error(item, path)
        return path, "invalid"
    return path, str(detail)


def _flatten_validation(detail) -> dict:
    """DRF's nested errors as one sentence naming the field, plus the full structure."""
    field, message = _first_error(detail)
    text = f"{field}: {message}" if field else message
    return {"error": "ValidationError", "message": text, "field": field or None, "errors": detail}
