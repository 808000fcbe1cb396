"""Load test: concurrent writers and large uploads against a real server (loopback only).

Run:  .venv/bin/python benchmarks/load_test.py [--duration 60] [--writers 8]
          [--csv-mb 30] [--xlsx-mb 8]
      bash scripts/with_postgres.sh .venv/bin/python benchmarks/load_test.py   # + PostgreSQL

Starts a server the way ``make serve`` does (``manage.py runserver --noreload``, DEBUG off,
collectstatic, the embedded job pool) on a scratch SQLite database — and, when DATABASE_URL
names a PostgreSQL server, again on a scratch database there — then for ``--duration`` seconds
runs ``--writers`` threads that each log in (``POST /api/auth/login/``), create and edit their
own samples (``POST``/``PATCH /api/samples/``) and add manual measurements
(``POST /api/manual-measurements/``), while two threads upload large files built here (a Cary
CSV spectrum of ``--csv-mb`` MB and a TEM size table XLSX of ``--xlsx-mb`` MB, fresh content
each time) and poll each until its parse job has finished. Prints, per database: requests, 5xx,
"database is locked" (in responses and the server log), p50/p95 per kind, and the parse
durations. Figures are printed, never asserted (tests/test_load.py asserts a short run).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    _UNSAFE_ENV,
    ROOT,
    SHARED_DATA,
    _postgres_scratch,
    free_port,
    percentile,
    stop_process,
)

PYTHON = ROOT / ".venv" / "bin" / "python"
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
USER, PASSWORD = "loadtest", "load-test-password-1"
LOCKED = "database is locked"


# --- files built here ----------------------------------------------------------------------


def cary_csv(megabytes: float, seed: int) -> bytes:
    """A legal Cary CSV spectrum of about ``megabytes`` MB: the real export's header and
    footer around synthetic absorbance rows (``seed`` makes the content unique)."""
    real = CARY.read_text().splitlines()
    rows = max(10, int(megabytes * 1e6 / 27))
    data = [f"{900 - i * 1e-4:.7f},{0.03 + ((i + seed) % 997) * 1e-5:.11f}," for i in range(rows)]
    return ("\n".join(real[:2] + data + real[143:]) + "\n").encode()


def size_table_xlsx(megabytes: float, seed: int) -> bytes:
    """A TEM size table (ImageJ-like columns) as XLSX of about ``megabytes`` MB."""
    from openpyxl import Workbook

    rows = max(10, int(megabytes * 1e6 / 24))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Results")
    sheet.append(["Particle", "Diameter (nm)", "Area (nm^2)", "Circ."])
    for i in range(rows):
        d = 10.0 + ((i * 7919 + seed) % 5000) / 1000
        sheet.append([i + 1, round(d, 4), round(0.785398 * d * d, 3), 0.9])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- a server started like `make serve` ----------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    label: str

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process, label=f"{self.label} server")


def server_env(var_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSAFE_ENV}
    env.pop("LABDB_JOB_RUNNER", None)  # the server's default: the embedded pool
    env.update(LABDB_VAR_DIR=str(var_dir), DATABASE_URL=database_url, DEBUG="false",
               DJANGO_SETTINGS_MODULE="labdb.settings", PYTHONUNBUFFERED="1")
    return env


def start_server(label: str, database_url: str | None = None) -> Server:
    """migrate, collectstatic, one member account, then ``runserver --noreload`` (make serve)."""
    var_dir = Path(tempfile.mkdtemp(prefix=f"labdb-load-{label}-"))
    url = database_url or f"sqlite:///{var_dir / 'labdb.sqlite3'}"
    env = server_env(var_dir, url)
    manage = [str(PYTHON), "manage.py"]
    for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(manage + args, cwd=ROOT, env=env, check=True, capture_output=True)
    password_file = var_dir / "password"
    password_file.write_text(PASSWORD)
    subprocess.run(manage + ["create_member", USER, "--password-file", str(password_file)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    log = var_dir / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(manage + ["runserver", "--noreload", f"127.0.0.1:{port}"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log, label)
    wait_serving(server.url, process, log)
    return server


def wait_serving(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 300) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/accounts/login/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server did not answer within {timeout_s} s:\n{log.read_text()}")


# --- the load ------------------------------------------------------------------------------


@dataclass
class Report:
    """What the clients saw: latencies per kind, 5xx, locked, parse durations."""

    latencies_s: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    locked: int = 0
    parses: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, response, elapsed_s: float) -> None:
        with self.lock:
            self.latencies_s.setdefault(kind, []).append(elapsed_s)
            codes = self.statuses.setdefault(kind, {})
            codes[response.status_code] = codes.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                self.server_errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
            if LOCKED in response.text:
                self.locked += 1

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_s.values())

    @property
    def five_xx(self) -> int:
        return len(self.server_errors)


def _timed(report: Report, kind: str, call, *args, **kwargs):
    started = time.perf_counter()
    response = call(*args, timeout=300, **kwargs)
    report.add(kind, response, time.perf_counter() - started)
    return response


def _session(base: str, report: Report, auth: tuple[str, str]):
    import requests

    session = requests.Session()
    response = _timed(report, "login", session.post, f"{base}/api/auth/login/", auth=auth)
    response.raise_for_status()
    session.headers["Authorization"] = f"Token {response.json()['token']}"
    return session


def writer(base: str, report: Report, deadline: float, number: int, auth) -> None:
    """Log in, then create / edit samples and add manual PL peaks until the deadline."""
    tag = uuid.uuid4().hex[:6]
    session = _session(base, report, auth)
    step = 0
    sample = None
    while time.monotonic() < deadline:
        step += 1
        if sample is None or step % 4 == 1:
            code = f"LOAD-{tag}-{number}-{step}"
            response = _timed(report, "sample create", session.post, f"{base}/api/samples/",
                              json={"code": code, "name": code, "material": "CdSe",
                                    "morphology": "NPL"})
            if response.status_code == 201:
                sample = response.json()
        elif step % 4 == 2:
            response = _timed(report, "sample edit", session.patch,
                              f"{base}/api/samples/{sample['id']}/",
                              json={"version": sample["version"], "notes": f"edit {step}"})
            if response.status_code == 200:
                sample = response.json()
        elif step % 4 == 3:
            _timed(report, "manual measurement", session.post,
                   f"{base}/api/manual-measurements/",
                   json={"kind": "pl", "sample": sample["id"], "peak_nm": 510 + step % 40})
        else:
            session = _session(base, report, auth)  # a fresh login (a write: a new token)


def uploader(base: str, report: Report, deadline: float, kind: str, build, size_mb: float,
             sample_id: int, auth) -> None:
    """Upload fresh content, poll until parsed, again until the deadline (at least once)."""
    session = _session(base, report, auth)
    seed = int(uuid.uuid4().int % 100000)
    first = True
    while first or time.monotonic() < deadline:
        first = False
        content = build(size_mb, seed)
        seed += 1
        name = f"load-{seed}.{'csv' if kind == 'csv upload' else 'xlsx'}"
        started = time.perf_counter()
        response = _timed(report, kind, session.post, f"{base}/api/files/",
                          data={"sample": sample_id}, files={"file": (name, content)})
        if response.status_code != 202:
            continue
        body = response.json()
        poll = body["poll"]
        while body["parse_status"] in ("pending", "parsing"):
            time.sleep(0.5)
            body = _timed(report, "poll file", session.get, poll).json()
        with report.lock:
            report.parses.append({
                "kind": kind, "mb": len(content) / 1e6, "status": body["parse_status"],
                "error": body.get("parse_error", ""),
                "answered_s": report.latencies_s[kind][-1],
                "parsed_after_s": time.perf_counter() - started,
            })


def run_load(base: str, *, duration_s: float, writers: int, csv_mb: float, xlsx_mb: float,
             user: str = USER, password: str = PASSWORD) -> Report:
    """``writers`` writer threads and two uploaders against ``base`` for ``duration_s``."""
    auth = (user, password)
    report = Report()
    setup = _session(base, report, auth)
    code = f"LOAD-UP-{uuid.uuid4().hex[:8]}"
    sample_id = setup.post(f"{base}/api/samples/", json={
        "code": code, "name": code, "material": "CdSe", "morphology": "NPL"},
        timeout=60).json()["id"]
    deadline = time.monotonic() + duration_s
    threads = [threading.Thread(target=writer, args=(base, report, deadline, i, auth))
               for i in range(writers)]
    threads += [
        threading.Thread(target=uploader, args=(base, report, deadline, "csv upload", cary_csv,
                                                csv_mb, sample_id, auth)),
        threading.Thread(target=uploader, args=(base, report, deadline, "xlsx upload",
                                                size_table_xlsx, xlsx_mb, sample_id, auth)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return report


def print_report(label: str, report: Report, server_log: str) -> None:
    log_locked = server_log.count(LOCKED)
    print(f"\n== {label}: {report.requests} requests, {report.five_xx} 5xx, "
          f"{report.locked} 'database is locked' in responses, {log_locked} in the server log")
    print(f"{'kind':<20}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}  statuses")
    for kind, values in sorted(report.latencies_s.items()):
        codes = " ".join(f"{c}×{n}" for c, n in sorted(report.statuses[kind].items()))
        print(f"{kind:<20}{len(values):>6}{percentile(values, 50) * 1e3:>10.0f}"
              f"{percentile(values, 95) * 1e3:>10.0f}  {codes}")
    for parse in report.parses:
        print(f"  {parse['kind']} {parse['mb']:.1f} MB: answered in {parse['answered_s']:.2f} s, "
              f"{parse['status']} after {parse['parsed_after_s']:.1f} s {parse['error']}")
    for line in report.server_errors[:5]:
        print(f"  5xx: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--csv-mb", type=float, default=30.0)
    parser.add_argument("--xlsx-mb", type=float, default=8.0)
    args = parser.parse_args()
    targets = [("SQLite", None)]
    given = os.environ.get("DATABASE_URL", "")
    if urlparse(given).scheme in {"postgres", "postgresql", "pgsql"}:
        targets.append(("PostgreSQL", _postgres_scratch(given, "load_test")))
    else:
        print("(PostgreSQL skipped: run under scripts/with_postgres.sh to include it)")
    for label, url in targets:
        server = start_server(label.lower(), url)
        try:
            report = run_load(server.url, duration_s=args.duration, writers=args.writers,
                              csv_mb=args.csv_mb, xlsx_mb=args.xlsx_mb)
        finally:
            server.stop()
        print_report(label, report, server.log_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
