"""Every error under /api/ is JSON {"error", "message"}; the HTML pages elsewhere stay HTML.

Through the real URL conf with DEBUG off (pytest-django's default). The 500 comes from a view
registered only in this module's URL conf (no real code path raises one on purpose).
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import path

import labdb.urls


def _boom(request):
    raise RuntimeError("deliberate failure of a test-only view")


# This module doubles as a URL conf: the real one plus a view that fails.
urlpatterns = [path("api/test-only-boom/", _boom), path("test-only-boom/", _boom),
               *labdb.urls.urlpatterns]
handler400 = labdb.urls.handler400
handler403 = labdb.urls.handler403
handler404 = labdb.urls.handler404
handler500 = labdb.urls.handler500


def _json(response) -> dict:
    assert response["Content-Type"].split(";")[0] == "application/json", response.content[:200]
    return response.json()


@pytest.fixture
def member_client(member):
    client = Client(raise_request_exception=False)
    client.force_login(member)
    return client


def test_api_unknown_url_is_json_404(member_client):
    response = member_client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    body = _json(response)
    assert body["error"] == "NotFound"
    assert body["message"] == (
        "No API endpoint or record at /api/no-such-endpoint/; the endpoints are listed at /api/."
    )
    assert body["request_id"] == response["X-Request-ID"]


def test_api_missing_record_is_json_404(member_client):
    body = _json(member_client.get("/api/samples/999999/"))
    assert (body["error"], body["message"]) == ("NotFound", "No Sample matches the given query.")


def test_page_unknown_url_stays_html_404(member_client):
    response = member_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_api_method_not_allowed_is_json_405(member_client):
    response = member_client.delete("/api/")
    assert response.status_code == 405
    body = _json(response)
    assert (body["error"], body["message"]) == ("MethodNotAllowed", 'Method "DELETE" not allowed.')
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_api_unauthenticated_is_json_401():
    response = Client().get("/api/samples/")
    assert response.status_code == 401
    body = _json(response)
    assert body["error"] == "NotAuthenticated"
    assert body["message"] == "Authentication credentials were not provided."


@pytest.mark.urls("tests.test_api_errors")
def test_api_unhandled_exception_is_json_500(member_client, caplog):
    response = member_client.get("/api/test-only-boom/")
    assert response.status_code == 500
    body = _json(response)
    assert body["error"] == "ServerError"
    assert body["message"] == (
        "The server hit an unexpected error and changed nothing; it is logged under this "
        "request id: tell the lab's administrator."
    )
    assert body["request_id"] == response["X-Request-ID"]
    logged = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert [r.exc_info[1].args[0] for r in logged] == ["deliberate failure of a test-only view"]


@pytest.mark.urls("tests.test_api_errors")
def test_page_unhandled_exception_stays_html_500(member_client):
    response = member_client.get("/test-only-boom/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@override_settings(LABDB_MAX_UPLOAD_BYTES=1000)
def test_api_upload_over_limit_is_json_413(member_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("big.csv", b"x,y\n" * 500, content_type="text/csv")
    response = member_client.post("/api/files/", {"file": upload})
    assert response.status_code == 413
    body = _json(response)
    assert body["field"] == "file"
    assert body["message"] == (
        "file: big.csv is larger than the upload limit of 0 MB (LABDB_MAX_UPLOAD_BYTES); it was "
        "not stored. Split or compress the export."
    )


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_api_form_body_over_memory_limit_is_json_413(member_client):
    response = member_client.post("/api/files/", {"notes": "n" * 5000})
    assert response.status_code == 413
    body = _json(response)
    assert body["error"] == "RequestTooLarge"
    assert body["message"] == (
        "body: the request body is larger than 0 MB without the files "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE); send files as multipart uploads."
    )


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
def test_api_too_many_form_fields_is_json_400(member_client):
    response = member_client.post("/api/files/", {f"f{i}": "1" for i in range(10)})
    assert response.status_code == 400
    body = _json(response)
    assert body["error"] == "BadRequest"
    assert body["message"] == (
        "body: The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
    )


def test_api_malformed_multipart_is_json_400(member_client):
    response = member_client.generic(
        "POST", "/api/files/", b"--nope\r\nContent-Disposition: form-data\r\n\r\nx",
        content_type="multipart/form-data",  # no boundary
    )
    assert response.status_code == 400
    body = _json(response)
    assert body["error"] == "ParseError"
    assert body["message"] == "Multipart form parse error - Invalid boundary in multipart: None"


def test_api_malformed_json_is_json_400(member_client):
    response = member_client.generic(
        "POST", "/api/samples/", b'{"code": ', content_type="application/json"
    )
    assert response.status_code == 400
    body = _json(response)
    assert body["error"] == "ParseError"
    assert body["message"].startswith("JSON parse error - ")


def test_api_session_write_without_csrf_token_is_json_403(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(
        "/api/chemicals/", {"name": "csrf probe"}, content_type="application/json"
    )
    assert response.status_code == 403
    body = _json(response)
    assert body["error"] == "PermissionDenied"
    assert body["message"] == "CSRF Failed: CSRF cookie not set."
    from synthesis.models import Chemical

    assert Chemical.objects.filter(name="csrf probe").count() == 0


def test_page_post_without_csrf_token_stays_html_403(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/account/tokens/", {"name": "x"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def locked_database(transactional_db):
    """Another process's write lock on the SQLite test database, and a 0.2 s busy timeout for
    the server's connection (instead of 20 s), so a write fails with "database is locked"."""
    if connection.vendor != "sqlite":
        pytest.skip("a held SQLite write lock; PostgreSQL has no lock timeout configured")
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    options["timeout"] = 0.2
    options["init_command"] = saved.get("init_command", "").replace(
        "busy_timeout=20000", "busy_timeout=200")
    connection.close()
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()
        options.clear()
        options.update(saved)


def test_api_write_on_locked_database_is_json_503_with_retry_after(member, locked_database):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(member)
    response = client.post("/api/chemicals/", {"name": "lock probe"}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = _json(response)
    assert body["error"] == "DatabaseBusy"
    assert body["message"] == (
        "the database is busy with another write; nothing was changed. Retry in 5 s."
    )


# --- Content-Security-Policy: the header on every answer, and the report endpoint -----------

POLICY = {
    "default-src": "'self'", "script-src": "'self'", "object-src": "'none'",
    "base-uri": "'self'", "frame-ancestors": "'none'", "form-action": "'self'",
    "img-src": "'self' data: blob:", "style-src": "'self' 'unsafe-inline'",
    "font-src": "'self' data:", "connect-src": "'self'", "worker-src": "'self' blob:",
    "report-uri": "/csp-report/",
}


def _directives(header: str) -> dict:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/admin/login/", "/api/docs/",
                                 "/api/redoc/", "/no-such-page/"])
def test_every_page_carries_the_enforcing_policy(member_client, url):
    response = member_client.get(url)
    assert _directives(response["Content-Security-Policy"]) == POLICY
    assert "Content-Security-Policy-Report-Only" not in response


def test_redoc_loads_nothing_from_another_origin(member_client):
    page = member_client.get("/api/redoc/").content.decode()
    assert '<script src="/api/redoc/redoc.standalone.js"></script>' in page
    bundle = member_client.get("/api/redoc/redoc.standalone.js")
    assert bundle["Content-Type"] == "application/javascript; charset=utf-8"
    assert b"cdn.redoc.ly" not in bundle.content
    assert bundle.content.count(b"data:image/svg+xml,%3Csvg xmlns=") == 1
    assert member_client.get("/favicon.ico").status_code == 204


def test_api_docs_have_no_inline_script(member_client):
    for url in ("/api/docs/", "/api/redoc/"):
        page = member_client.get(url).content.decode()
        assert page.count("<script>") == 0, url
        assert "fonts.googleapis.com" not in page
    script = member_client.get("/api/docs/?script=")
    assert (script.status_code, script["Content-Type"]) == (200, "application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_csp_report_is_logged_and_answers_204(caplog):
    report = {"csp-report": {"document-uri": "http://127.0.0.1:8000/samples/",
                             "violated-directive": "script-src-elem",
                             "blocked-uri": "inline"}}
    response = Client().post("/csp-report/", data=json.dumps(report),
                             content_type="application/csp-report")
    assert (response.status_code, response.content) == (204, b"")
    assert [r.getMessage() for r in caplog.records if r.name == "labdb.csp"] == [
        "CSP violation: script-src-elem blocked inline on http://127.0.0.1:8000/samples/"]


def test_csp_report_ignores_oversized_and_non_json_bodies(caplog):
    client = Client()
    assert client.post("/csp-report/", data=b"x" * 70_000,
                       content_type="application/csp-report").status_code == 204
    assert client.post("/csp-report/", data=b"{nope",
                       content_type="application/csp-report").status_code == 204
    assert client.get("/csp-report/").status_code == 405
    assert [r.getMessage() for r in caplog.records if r.name == "labdb.csp"] == [
        "CSP report over 65536 bytes ignored", "CSP report that is not JSON ignored"]


def test_api_error_asked_for_as_html_is_still_json(member_client):
    response = member_client.get("/api/samples/999999/", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    body = _json(response)
    assert (body["error"], body["message"]) == ("NotFound", "No Sample matches the given query.")
