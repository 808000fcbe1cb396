"""A short load test (benchmarks/load_test.py) against real servers: 8 writers and 2 uploads.

SQLite: the ``make run`` server of the browser tests (``app_server``, one xdist group with the
other live-server tests). PostgreSQL: when DATABASE_URL names one (``make test``'s second
pass), a server started the way ``make serve`` starts, on a scratch database there. Every
request must be answered without a 5xx and without "database is locked"; every upload answers
202 at once and its parse job finishes with the file parsed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import load_test  # noqa: E402

from tests.e2e.conftest import app_server  # noqa: E402, F401  (the make-run server fixture)

DURATION_S, WRITERS, CSV_MB, XLSX_MB = 10, 8, 2.0, 0.3
KINDS = {"login", "sample create", "sample edit", "manual measurement", "csv upload",
         "xlsx upload", "poll file"}


def _check(report: load_test.Report, server_log: str) -> None:
    assert report.server_errors == []
    assert report.locked == 0
    assert load_test.LOCKED not in server_log
    assert set(report.latencies_s) == KINDS
    assert report.statuses["csv upload"] == {202: len(report.latencies_s["csv upload"])}
    assert report.statuses["xlsx upload"] == {202: len(report.latencies_s["xlsx upload"])}
    assert {(p["kind"], p["status"], p["error"]) for p in report.parses} == {
        ("csv upload", "ok", ""), ("xlsx upload", "ok", "")}
    for kind in ("sample create", "manual measurement"):
        assert set(report.statuses[kind]) == {201}, (kind, report.statuses[kind])
    assert set(report.statuses["sample edit"]) <= {200}
    assert set(report.statuses["login"]) == {200}


@pytest.mark.slow
def test_writers_and_uploads_on_sqlite_no_5xx_no_locked(app_server):  # noqa: F811
    report = load_test.run_load(app_server.url, duration_s=DURATION_S, writers=WRITERS,
                                csv_mb=CSV_MB, xlsx_mb=XLSX_MB, user="demo",
                                password="demo-labdb")
    log = Path(app_server.env["LABDB_VAR_DIR"]) / "make-run.log"
    _check(report, log.read_text(errors="replace"))


@pytest.mark.slow
@pytest.mark.xdist_group("app_server")
@pytest.mark.skipif(
    urlparse(os.environ.get("DATABASE_URL", "")).scheme not in {"postgres", "postgresql"},
    reason="PostgreSQL: DATABASE_URL is not a PostgreSQL server (make test's second pass sets it)",
)
def test_writers_and_uploads_on_postgresql_no_5xx_no_locked():
    url = load_test._postgres_scratch(os.environ["DATABASE_URL"], f"load_{os.getpid()}")
    server = load_test.start_server("postgresql", url)
    try:
        report = load_test.run_load(server.url, duration_s=DURATION_S, writers=WRITERS,
                                    csv_mb=CSV_MB, xlsx_mb=XLSX_MB)
    finally:
        server.stop()
    _check(report, server.log_text())
