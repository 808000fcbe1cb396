"""Schemathesis over every operation of ``/api/schema/``: 0 server errors, 0 schema violations.

The server is started exactly as ``make run`` starts it (tests/e2e/conftest.py
``start_app_server``: DEBUG off, collectstatic, demo data) with a var directory of its own, so
the generated writes (records created, edited, retired by a lab member) never touch the
database the browser tests share. Schemathesis (pinned in requirements.lock) runs as its CLI,
authenticated as the demo member with a knox token, with a fixed seed and a bounded number of
examples per operation, in the phases examples, fuzzing and stateful (it follows the links
between operations schemathesis infers, e.g. POST then GET/PATCH/DELETE of the new record),
with the checks not_a_server_error, response_schema_conformance,
status_code_conformance and content_type_conformance. Its JSON report is read and the test
fails with every finding listed.

Left out: ``POST /api/auth/logout/`` (it would revoke the token the run uses, so every later
request would be a 401), and the "coverage" phase: it is not bounded by the number of examples
(boundary values of every parameter plus every unsupported method of every path: over 10 000
requests and more than 10 minutes for 180 operations on a loaded 2-core machine). Budget:
MAX_EXAMPLES per operation was chosen so that the run stays under ~4 minutes on 2 cores (the
totals are printed with ``-s``).

The server always uses SQLite (as ``make run``), so the test runs once, in the SQLite suite.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import DEMO_PASSWORD, DEMO_USER, ROOT, start_app_server, stop_app_server

SEED = 20261201
MAX_EXAMPLES = 10
CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "content_type_conformance")
PHASES = ("examples", "fuzzing", "stateful")
EXCLUDED_PATHS = ("/api/auth/logout/",)
SCHEMATHESIS = ROOT / ".venv" / "bin" / "schemathesis"

only_in_sqlite_suite = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="the make-run server uses SQLite whatever DATABASE_URL says: run once, in the "
           "SQLite suite")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    server, process = start_app_server(tmp_path_factory.mktemp("schemathesis-var"))
    try:
        yield server
    finally:
        stop_app_server(process)


def _token(url: str) -> str:
    basic = base64.b64encode(f"{DEMO_USER}:{DEMO_PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{url}/api/auth/login/", method="POST",
                                     headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def run_schemathesis(url: str, token: str, report_dir: Path) -> dict:
    """The schemathesis CLI over ``url``/api/schema/; its JSON report (a dict)."""
    command = [str(SCHEMATHESIS), "run", f"{url}/api/schema/?format=json",
               "--header", f"Authorization: Token {token}",
               "--checks", ",".join(CHECKS), "--phases", ",".join(PHASES),
               "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
               "--generation-database", "none", "--workers", "2", "--no-color",
               "--report", "json", "--report-json-path", str(report_dir / "report.json"),
               "--request-timeout", "60", "--max-failures", "200"]
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    (report_dir / "output.txt").write_text(done.stdout + done.stderr)
    report = json.loads((report_dir / "report.json").read_text())
    report["output_tail"] = (done.stdout + done.stderr)[-20000:]
    return report


@only_in_sqlite_suite
def test_schemathesis_finds_no_server_error_and_no_schema_violation(api_server, tmp_path):
    report = run_schemathesis(api_server.url, _token(api_server.url), tmp_path)
    ops, cases = report["operations"], report["test_cases"]
    print(f"\nschemathesis {report['schemathesis_version']}: {ops['tested']}/{ops['total']} "
          f"operations, {cases['generated']} test cases, {len(report['failures'])} kinds of "
          f"failure, {len(report['errors'])} errors, {report['running_time']:.0f} s "
          f"(seed {SEED}, {MAX_EXAMPLES} examples per operation)")
    assert report["complete"] is True, report["output_tail"]
    assert ops["errored"] == 0, report["output_tail"]
    assert ops["tested"] == ops["total"] - len(EXCLUDED_PATHS), report["output_tail"]
    # "examples" has nothing to run: the schema carries no explicit examples.
    assert {p: report["phases"][p]["status"] for p in PHASES} == {
        "examples": "skip", "fuzzing": "success", "stateful": "success",
    }, report["output_tail"]
    assert (report["failures"], report["errors"]) == ([], []), report["output_tail"]


# --- the root causes of earlier findings, pinned on the test database ---------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), [("/api/samples/?parent=", "parent"),
                                           ("/api/files/?sample=", "sample")])
def test_twenty_digit_id_filter_is_a_400_naming_the_parameter(api, url, name):
    response = api.get(url + "12345678901234567890")
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"{name}: Ensure this value is less than or equal to 9223372036854775807.")
    assert api.get(url + "1.5").json()["message"] == f"{name}: Enter a whole number."


@pytest.mark.django_db
def test_schema_documents_the_error_answers_of_each_operation(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]

    def statuses(path, method):
        return sorted(paths[path][method]["responses"])

    assert statuses("/api/samples/", "get") == ["200", "400", "401", "403", "404", "503"]
    assert statuses("/api/samples/{id}/", "patch") == [
        "200", "400", "401", "403", "404", "409", "415", "503"]
    assert statuses("/api/files/{id}/download/", "get") == [
        "200", "400", "401", "403", "404", "410", "503"]
    assert statuses("/api/files/", "post") == [
        "200", "202", "400", "401", "403", "409", "413", "415", "503"]
    error = paths["/api/samples/{id}/"]["delete"]["responses"]["409"]["content"]
    assert error == {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
    assert schema["components"]["schemas"]["ApiError"]["required"] == ["error", "message"]
    reason = [p for p in paths["/api/samples/{id}/"]["delete"]["parameters"]
              if p["name"] == "reason"]
    assert [(p["in"], p.get("required", False)) for p in reason] == [("query", False)]


@pytest.mark.django_db
def test_non_numeric_file_id_is_a_json_404(api):
    response = api.post("/api/files/false/unlink/", {"sample": 1, "reason": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


@pytest.mark.django_db
def test_uploading_the_bytes_of_a_retired_file_again_answers_with_that_record(api):
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
    with path.open("rb") as handle:
        first = api.post("/api/files/", {"file": handle}, format="multipart").json()
    retired = api.delete(f"/api/files/{first['id']}/?reason=uploaded by mistake")
    assert retired.status_code == 200
    with path.open("rb") as handle:
        again = api.post("/api/files/", {"file": handle}, format="multipart")
    assert (again.status_code, again.json()["id"], again.json()["is_retired"],
            again.json()["duplicate"]) == (200, first["id"], True, True)
