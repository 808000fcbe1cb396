"""Shared helpers of the benchmark scripts: a scratch database, percentiles, child processes.

Every benchmark gets its own scratch database so it never touches the developer's data:

* by default a fresh SQLite file in ``/tmp/labdb-bench-<name>/`` (``LABDB_VAR_DIR`` points there,
  so media files and the FEFF cache land there too);
* when ``DATABASE_URL`` names a PostgreSQL server, a database ``labdb_bench_<name>`` created
  on *that server* (dropped first if it exists). The database named in ``DATABASE_URL`` itself
  is only used to issue ``CREATE DATABASE``; nothing is written to it. A SQLite
  ``DATABASE_URL`` (the developer's file) is ignored.

Import this module before Django: ``scratch_setup()`` must run before ``django.setup()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Settings that would send files or jobs outside the scratch area.
_UNSAFE_ENV = (
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "LABDB_FEFF_CACHE_DIR",
    "LABDB_S3_BUCKET",
    "LABDB_S3_ENDPOINT_URL",
    "LABDB_S3_ACCESS_KEY",
    "LABDB_S3_SECRET_KEY",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
)


@dataclass(frozen=True)
class Scratch:
    name: str
    var_dir: Path
    database_url: str
    engine: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None

    def describe(self) -> str:
        where = self.sqlite_path if self.sqlite_path else _redact(self.database_url)
        return f"scratch {self.engine} database: {where} (LABDB_VAR_DIR={self.var_dir})"


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return urlunparse(parsed._replace(netloc=netloc))
    return url


def _postgres_scratch(url: str, name: str) -> str:
    """Create (after dropping) ``labdb_bench_<name>`` on the server of ``url``; its URL."""
    import psycopg

    parsed = urlparse(url)
    dbname = f"labdb_bench_{name}"
    admin_db = unquote(parsed.path.lstrip("/")) or "postgres"
    conninfo = {
        "dbname": admin_db,
        "user": unquote(parsed.username or "") or None,
        "password": unquote(parsed.password or "") or None,
        "host": unquote(parsed.hostname or "") or None,
        "port": parsed.port,
    }
    with psycopg.connect(autocommit=True, **{k: v for k, v in conninfo.items() if v}) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return urlunparse(parsed._replace(path=f"/{dbname}"))


def scratch_setup(
    name: str, *, fresh: bool = True, migrate: bool = True, extra_env: dict[str, str] | None = None
) -> Scratch:
    """Point the settings at a scratch database and media dir, ``django.setup()``, migrate.

    ``fresh`` removes what an earlier run of the same benchmark left behind. ``extra_env`` is
    set after the unsafe variables are cleared (e.g. the benchmark's own CELERY_BROKER_URL).
    """
    var_dir = Path(tempfile.gettempdir()) / f"labdb-bench-{name}"
    if fresh and var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    for var in _UNSAFE_ENV:
        os.environ.pop(var, None)
    given = os.environ.get("DATABASE_URL", "")
    if urlparse(given).scheme in {"postgres", "postgresql", "pgsql"}:
        url, engine, sqlite_path = _postgres_scratch(given, name), "postgresql", None
    else:
        if given:
            print(
                f"note: DATABASE_URL={given} ignored (SQLite: the developer's file); "
                "using a scratch file instead"
            )
        sqlite_path = var_dir / "bench.sqlite3"
        url, engine = f"sqlite:///{sqlite_path}", "sqlite"
    os.environ["LABDB_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "labdb.settings"
    os.environ.setdefault("SECRET_KEY", "labdb-benchmark-scratch-key-not-secret")
    os.environ.update(extra_env or {})

    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    return Scratch(
        name=name, var_dir=var_dir, database_url=url, engine=engine, sqlite_path=sqlite_path
    )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0–100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exited(pid: int) -> bool:
    """True once ``pid`` (our child) has exited; it is NOT reaped, so its pid stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def stop_process(proc: subprocess.Popen, *, label: str, timeout_s: float = 30.0) -> None:
    """Stop a child started with ``start_new_session=True``, by its recorded pid.

    SIGTERM to the pid; after ``timeout_s`` SIGKILL to its process group (group id = its pid,
    holding only what it started, e.g. a Celery worker's pool processes). Leftover group members
    are killed while the leader is still an unreaped zombie, so the pid cannot have been reused
    by an unrelated process.
    """
    pid = proc.pid
    if proc.returncode is not None:
        return
    if not _exited(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_until(lambda: _exited(pid), timeout_s=timeout_s, every_s=0.05):
            print(f"  {label} (pid {pid}) still running {timeout_s:.0f} s after SIGTERM: SIGKILL")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: _exited(pid), timeout_s=10, every_s=0.05)
    try:
        os.killpg(pid, signal.SIGKILL)  # leftovers of the group (leader is a zombie now)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


def wait_until(predicate, *, timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_xdi(template: bytes, n: int) -> bytes:
    """A valid XDI copy of ``template`` made unique by a ``# Scan.comment`` header line.

    The line goes right after the ``# XDI/1.0`` version line, inside the header, so parsers
    read it as one more metadata field and the data columns are unchanged.
    """
    first, _, rest = template.partition(b"\n")
    if not first.lstrip(b"# ").startswith(b"XDI/"):
        raise ValueError("not an XDI file: the first line is not '# XDI/…'")
    return first + b"\n" + f"# Scan.comment: synthetic copy {n}\n".encode() + rest
