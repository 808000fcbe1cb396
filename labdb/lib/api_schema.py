"""OpenAPI schema post-processing: the error answers every operation can give, documented.

Every error from ``/api/`` is JSON ``{"error", "message", …}`` (labdb.lib.api.exception_handler
and labdb.errors), but drf-spectacular documents only the success status of each operation.
``document_error_responses`` (a drf-spectacular POSTPROCESSING_HOOK) adds, per operation, the
error statuses it can actually answer with, each with the ``ApiError`` schema:

* 401, 403 — every operation (token or session required; permissions per record);
* 503 — every operation (database locked or unreachable, Retry-After; S3 storage unreachable);
* 400 — operations that take any parameter (path or query) or a request body: a field named
  in ``message``, or a record the operation does not apply to (e.g. plot data of a published
  fit);
* 404 — operations with a path parameter (no such record) or a ``page`` parameter
  ("Invalid page");
* 409 — writes (POST/PUT/PATCH/DELETE): a stale ``version``, a retired record, a record still
  referenced;
* 415 — operations with a request body, sent in a content type they do not take;
* 413 — raw-file uploads over LABDB_MAX_UPLOAD_BYTES;
* 410 — downloads and previews whose stored bytes are gone from the file storage;
* 429 — the login (django-axes lockout after five wrong passwords).

A status an operation already documents keeps its description (and its schema, if it has
one; one without a body gets the ``ApiError`` body).
"""

from __future__ import annotations

import copy

from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API: ``message`` is the sentence to show a chemist;"
                   " ``field`` names the input it is about.",
    "properties": {
        "error": {"type": "string", "description": "Kind of error, e.g. ValidationError, "
                                                   "ConflictError, NotFound, StoredFileMissing."},
        "message": {"type": "string"},
        "field": {"type": "string", "nullable": True},
        "detail": {"description": "DRF's original detail, or low-level text for curators."},
        "errors": {"description": "Every field error, nested as the request body."},
        "current_version": {"type": "integer", "description": "409: the version to reload."},
    },
    "required": ["error", "message"],
}

DESCRIPTIONS = {
    "400": "Bad input: ``message`` names the field and what was expected.",
    "401": "No or invalid credentials (token or session).",
    "403": "Authenticated, but not allowed to do this to this record.",
    "404": "No such record (or page).",
    "409": "Conflict: the record changed since it was read (``current_version``), is retired, "
           "or is still referenced.",
    "410": "The record exists but its stored bytes are gone from the file storage.",
    "413": "The upload is larger than the limit.",
    "415": "The body's content type is not accepted here.",
    "429": "Too many failed logins: locked out for a while.",
    "503": "Database busy or file storage unreachable: retry (see Retry-After).",
}
METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")


def error_statuses(path: str, method: str, operation: dict) -> list[str]:
    """The error statuses ``method path`` can answer with (see the module docstring)."""
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    codes = ["401", "403", "503"]
    if has_body or any(p.get("in") in ("query", "path") for p in params):
        codes.append("400")
    if any(p.get("in") == "path" for p in params) or any(
            p.get("in") == "query" and p.get("name") == "page" for p in params):
        codes.append("404")
    if method in WRITES:
        codes.append("409")
    if has_body:
        codes.append("415")
    if method == "post" and path.rstrip("/").endswith(("/files", "/upload")):
        codes.append("413")
    if method == "get" and path.rstrip("/").endswith(("/download", "/preview")):
        codes.append("410")
    if path.rstrip("/").endswith("/auth/login"):
        codes.append("429")
    return sorted(codes)


def document_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOK: the ``ApiError`` component and, on every operation,
    a response for each status of ``error_statuses``."""
    # A copy: later steps of the generator may edit components in place.
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = copy.deepcopy(
        ERROR_SCHEMA)
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in error_statuses(path, method, operation):
                response = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
                response.setdefault("content", body)
    return result


class LabRecordSchema(AutoSchema):
    """Schema of a LabRecordViewSet: DELETE retires the record and answers 200 with it (the
    viewset's own serializer), not drf-spectacular's default 204 without a body."""

    def get_response_serializers(self):
        if self.method == "DELETE":
            return {200: self._get_serializer()}
        return super().get_response_serializers()
