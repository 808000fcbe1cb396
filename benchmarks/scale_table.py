#!/usr/bin/env python
"""The scale benchmark as one table (issue 16 item 6): every read beside its raw-SQL baseline.

For each size of ``--sizes`` (samples; default 10000,100000) it prints the p50/p95 of

* ``list``     ``GET /api/samples/?page_size=50``
* ``search``   ``GET /api/samples/?page_size=50&search=CdSe-CdS`` (through the search index)
* ``detail``   ``GET /api/samples/<id>/`` of the sample with the most ancestors
* ``lineage``  ``GET /api/samples/<id>/lineage/`` of the same sample
* ``frame 2 columns``  ``GET /api/analysis/frame/?columns=peak_nm,qy_pct``
* ``correlation``  ``GET /api/analysis/correlation/`` for peak_nm~qy_pct and for
  cd_s_cd_se_n_ratio~qy_pct by architecture: the same question again (answered from the
  answer cache of its data version) and, in the ``new seed`` rows, another seed per request
  (the statistics computed afresh from the cached frame)
* ``full frame build``  ``structure_property_frame()`` (no cache)

each beside its baseline, the ratio request/baseline (p50 and p95) and the growth exponent
(slope of log p50 against log samples, fitted over the sizes). Baselines, all raw SQL through a
bare cursor with ``fetchall``:

* list, search, detail, lineage: the data queries the endpoint itself issues (its page SELECT,
  COUNT, search-index lookup and prefetches, captured once with their parameters, without the
  session/user queries of the login), replayed as raw SQL: the database's share of the request;
* frame 2 columns and correlation: the floors of ``correlation_scale.py`` (one narrow SELECT of
  the two columns + ``numpy.corrcoef`` on SQLite, one SQL ``corr()`` on PostgreSQL);
* full frame build: ``baseline_frame()`` of ``structure_property_frame.py`` (raw SQL per table +
  pandas).

A request and its baseline are timed **alternately** in one loop, so load changes on the shared
machine hit both alike. The targets of issue 16 items 1, 2 and 5 are printed beside the figures.

Two synthetic labs per size, each in its own scratch database and its own process: the lineage
lab of ``api_latency.build_lab`` (``samples/5`` synthesis runs, families, parents) for list,
search, detail and lineage; the measurement lab of ``structure_property_frame._generate`` (ten
measurements and five XAS paths per sample) for the frame and the correlation. SQLite by default;
PostgreSQL when ``DATABASE_URL`` names a server (scratch databases ``labdb_bench_scale_*`` are
created there, see ``_common.py``). A benchmark: it prints figures and asserts nothing.

    nice -n 19 .venv/bin/python benchmarks/scale_table.py --sizes 10000,100000
    bash scripts/with_postgres.sh nice -n 19 .venv/bin/python benchmarks/scale_table.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Scratch, percentile, scratch_setup  # noqa: E402

#: The migrated empty SQLite database every phase copies (made by ``--phase template``).
TEMPLATE = Path(tempfile.gettempdir()) / "labdb-bench-scale_template" / "bench.sqlite3"

SEARCH = "CdSe-CdS"
#: (row, target text, size the target applies at, kind, limit): kind "p95_ms" or "ratio_p95".
TARGETS = {
    "list": [("item 5: list + search p95 < 100 ms at 10⁵", 100_000, "p95_ms", 100.0),
             ("item 5: < 150 ms at 10⁶", 1_000_000, "p95_ms", 150.0)],
    "search": [("item 5: list + search p95 < 100 ms at 10⁵", 100_000, "p95_ms", 100.0),
               ("item 5: < 150 ms at 10⁶", 1_000_000, "p95_ms", 150.0)],
    "frame 2 columns": [("item 2: p95 < 300 ms at 10⁵", 100_000, "p95_ms", 300.0)],
    "correlation peak_nm~qy_pct": [("item 1: p95 ≤ 2× floor at 10⁵", 100_000, "ratio_p95", 2.0)],
    "correlation N ratio~qy_pct by arch.": [
        ("item 1: p95 ≤ 2× floor at 10⁵", 100_000, "ratio_p95", 2.0)],
    "correlation peak_nm~qy_pct, new seed": [
        ("item 1: p95 ≤ 2× floor at 10⁵", 100_000, "ratio_p95", 2.0)],
    "correlation N ratio~qy_pct by arch., new seed": [
        ("item 1: p95 ≤ 2× floor at 10⁵", 100_000, "ratio_p95", 2.0)],
    "full frame build": [("item 2: ≤ 1.1× baseline at 10⁵", 100_000, "ratio_p50", 1.1)],
}
ROWS = ("list", "search", "detail", "lineage", "frame 2 columns", "correlation peak_nm~qy_pct",
        "correlation N ratio~qy_pct by arch.", "correlation peak_nm~qy_pct, new seed",
        "correlation N ratio~qy_pct by arch., new seed", "full frame build")
#: Queries of the login and transaction control, not of the read: left out of the baseline.
LOGIN_TABLES = {"django_session", "auth_user"}
CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")


def _is_data_query(sql: str) -> bool:
    if sql.lstrip().upper().startswith(CONTROL):
        return False
    first = re.search(r'\bFROM\s+"?(\w+)"?', sql)
    return not (first and first.group(1) in LOGIN_TABLES)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _db_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]}"
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def alternate(request, baseline, n: int, warmup: int) -> dict:
    """Time ``request`` and ``baseline`` alternately ``n`` times each (after ``warmup`` of each).

    Returns p50/p95 in ms of both and the ratios request/baseline of the p50s and the p95s.
    """
    for _ in range(warmup):
        request()
        baseline()
    req, base = [], []
    for i in range(n):
        # Alternate which goes first too, so neither always follows the other's cache misses.
        pair = ((request, req), (baseline, base)) if i % 2 == 0 else \
            ((baseline, base), (request, req))
        for fn, times in pair:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    out = {"n": n, "p50_ms": percentile(req, 50), "p95_ms": percentile(req, 95),
           "base_p50_ms": percentile(base, 50), "base_p95_ms": percentile(base, 95)}
    out["ratio_p50"] = out["p50_ms"] / out["base_p50_ms"]
    out["ratio_p95"] = out["p95_ms"] / out["base_p95_ms"]
    return out


def _getter(client, url: str, *, new_seed: bool = False):
    """GET ``url`` and check the answer; with ``new_seed`` each call asks another question
    (``&seed=1``, ``2``, …): the correlation is computed afresh from the cached frame instead
    of being answered from the answer cache."""
    seeds = iter(range(1, 10**9))

    def get() -> None:
        target = f"{url}&seed={next(seeds)}" if new_seed else url
        response = client.get(target, HTTP_ACCEPT="application/json")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code != 200:
            sys.exit(f"GET {target} → {response.status_code}: {body[:300]!r}")
    return get


def _replay_of(client, url: str):
    """The endpoint's own data queries (captured once), as a function replaying them raw."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        _getter(client, url)()
    statements = [q["sql"] for q in ctx.captured_queries if _is_data_query(q["sql"])]
    if not statements:
        sys.exit(f"GET {url} issued no data query to replay")

    def replay() -> None:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                cursor.fetchall()
    return replay, len(statements)


def _on_postgres() -> bool:
    """Whether the scratch databases go to a PostgreSQL server (the rule of ``_common.py``)."""
    return urlparse(os.environ.get("DATABASE_URL", "")).scheme in {"postgres", "postgresql",
                                                                   "pgsql"}


def _scratch(name: str, *, fresh: bool) -> Scratch:
    """``scratch_setup`` whose fresh SQLite file starts as a copy of the migrated template.

    Migrating a fresh database takes minutes on a loaded machine; every phase would pay it.
    The template is made once per run (``--phase template``). PostgreSQL migrates as usual.
    """
    scratch = scratch_setup(name, fresh=fresh, migrate=False)
    path = scratch.sqlite_path
    if path and TEMPLATE.exists() and (fresh or not path.exists()):
        # The write-ahead log too: the template's last changes may not be checkpointed yet.
        for suffix in ("", "-wal"):
            source = Path(f"{TEMPLATE}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{path}{suffix}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return scratch


def phase_api(n: int, requests: int, reuse: bool, prepare: bool = False) -> dict:
    """list, search, detail and lineage on the lineage lab of ``api_latency.build_lab``."""
    name = f"scale_api_{n}"
    marker = Path(tempfile.gettempdir()) / f"labdb-bench-{name}" / "lab.json"
    reusing = reuse and marker.exists() and not _on_postgres()
    scratch = _scratch(name, fresh=not reusing)
    from api_latency import build_lab
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    t0 = time.perf_counter()
    if reusing:
        lab = json.loads(marker.read_text())
        print(f"  [{n}] reusing the lineage lab of {marker}", flush=True)
    else:
        lab = build_lab(n, max(1, n // 5))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        if scratch.engine == "sqlite":
            marker.write_text(json.dumps(lab))
        print(f"  [{n}] lineage lab written in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in lab["counts"].items()), flush=True)
    if prepare:
        return {}
    client = Client()
    client.force_login(User.objects.get(pk=lab["user_id"]))
    deep = lab["deep_id"]
    urls = {
        "list": "/api/samples/?page_size=50",
        "search": f"/api/samples/?page_size=50&search={SEARCH}",
        "detail": f"/api/samples/{deep}/",
        "lineage": f"/api/samples/{deep}/lineage/",
    }
    result = {"db": _db_version(), "load_start": _load(), "rows": {}}
    for row, url in urls.items():
        replay, n_queries = _replay_of(client, url)
        m = alternate(_getter(client, url), replay, requests, warmup=5)
        m["url"], m["baseline"] = url, f"{n_queries} captured data queries replayed raw"
        result["rows"][row] = m
        print(f"  [{n}] {row}: p95 {m['p95_ms']:.1f} ms, baseline {m['base_p95_ms']:.1f} ms "
              f"(load {_load()})", flush=True)
    result["load_end"] = _load()
    return result


def phase_frame(n: int, requests: int, repeat: int, reuse: bool, prepare: bool = False
                ) -> dict:
    """Frame, correlation and full build on the measurement lab of structure_property_frame."""
    _scratch(f"scale_frame_{n}", fresh=not reuse)
    from correlation_scale import _client, _floor
    from structure_property_frame import _prepare, baseline_frame

    from analysis.selectors.structure_property import structure_property_frame

    t0 = time.perf_counter()
    _prepare(argparse.Namespace(samples=n, reuse=reuse))
    print(f"  [{n}] measurement lab ready in {time.perf_counter() - t0:.0f} s", flush=True)
    if prepare:
        return {}
    client = _client()
    result = {"db": _db_version(), "load_start": _load(), "rows": {}}
    reads = {
        "frame 2 columns": ("/api/analysis/frame/?columns=peak_nm,qy_pct", "peak_nm"),
        "correlation peak_nm~qy_pct": ("/api/analysis/correlation/?x=peak_nm&y=qy_pct",
                                       "peak_nm"),
        "correlation N ratio~qy_pct by arch.": (
            "/api/analysis/correlation/?x=cd_s_cd_se_n_ratio&y=qy_pct&group=architecture",
            "cd_s_cd_se_n_ratio"),
    }
    for row in [r for r in reads if r.startswith("correlation")]:
        reads[f"{row}, new seed"] = reads[row]
    for row, (url, floor_x) in reads.items():
        get = _getter(client, url, new_seed=row.endswith("new seed"))
        t1 = time.perf_counter()
        get()  # the first request of the data version (cold cache), reported separately
        cold_ms = (time.perf_counter() - t1) * 1000
        m = alternate(get, lambda x=floor_x: _floor(x), requests, warmup=2)
        m["url"], m["cold_ms"] = url, cold_ms
        m["baseline"] = "correlation_scale floor: " + (
            "SQL corr()" if "PostgreSQL" in result["db"] else "narrow SELECT + numpy.corrcoef")
        result["rows"][row] = m
        print(f"  [{n}] {row}: cold {cold_ms:.0f} ms, p95 {m['p95_ms']:.1f} ms, floor "
              f"{m['base_p95_ms']:.1f} ms (load {_load()})", flush=True)
    m = alternate(structure_property_frame, baseline_frame, repeat, warmup=0)
    m["baseline"] = "baseline_frame(): raw SQL per table + pandas"
    result["rows"]["full frame build"] = m
    print(f"  [{n}] full frame build: p50 {m['p50_ms'] / 1000:.2f} s, baseline "
          f"{m['base_p50_ms'] / 1000:.2f} s (load {_load()})", flush=True)
    result["load_end"] = _load()
    return result


def _command(phase: str, n: int, args: argparse.Namespace, out: Path, *, reuse: bool,
             prepare: bool = False) -> list[str]:
    return [sys.executable, __file__, "--phase", phase, "--sizes", str(n), "--out", str(out),
            "--requests", str(args.requests), "--frame-requests", str(args.frame_requests),
            "--repeat", str(args.repeat), *(["--reuse"] if reuse else []),
            *(["--prepare"] if prepare else [])]


def _prepare_all(sizes: list[int], args: argparse.Namespace) -> None:
    """SQLite: write every synthetic lab first, in parallel processes (generation is the slow,
    untimed part); the timed phases then run one at a time on the labs kept (``--reuse``)."""
    t0 = time.perf_counter()
    jobs = []
    for n in sizes:
        for phase in ("api", "frame"):
            out = Path(tempfile.gettempdir()) / f"labdb-bench-scale-prepare-{phase}-{n}.json"
            cmd = _command(phase, n, args, out, reuse=args.reuse, prepare=True)
            jobs.append((phase, n, subprocess.Popen(cmd, cwd=ROOT)))
    for phase, n, proc in jobs:
        if proc.wait() != 0:
            sys.exit(f"writing the {phase} lab of {n} samples failed (exit {proc.returncode})")
    print(f"synthetic labs written in {time.perf_counter() - t0:.0f} s (in parallel, untimed)",
          flush=True)


def _child(phase: str, n: int, args: argparse.Namespace) -> dict:
    out = Path(tempfile.gettempdir()) / f"labdb-bench-scale-{phase}-{n}.json"
    out.unlink(missing_ok=True)
    # On SQLite the labs were written by _prepare_all: reuse them.
    cmd = _command(phase, n, args, out, reuse=args.reuse or not _on_postgres())
    status = subprocess.run(cmd, cwd=ROOT).returncode
    if status != 0 or not out.exists():
        sys.exit(f"the {phase} phase at {n} samples failed (exit status {status})")
    return json.loads(out.read_text())


def _saved(phase: str, n: int) -> dict:
    """The figures a child of an earlier run left (``--table-only``)."""
    out = Path(tempfile.gettempdir()) / f"labdb-bench-scale-{phase}-{n}.json"
    if not out.exists():  # that phase was not measured: its rows stay out of the table
        print(f"note: no saved figures of the {phase} phase at {n} samples ({out})")
        return {"db": "not measured", "load_start": "—", "load_end": "—", "rows": {}}
    return json.loads(out.read_text())


def growth(sizes: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size); None with fewer than two sizes."""
    if len(sizes) < 2:
        return None
    xs, ys = [math.log(s) for s in sizes], [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _verdict(row: str, n: int, m: dict) -> str:
    notes = []
    for text, at, kind, limit in TARGETS.get(row, []):
        if at == n:
            notes.append(f"{text}: {'met' if m[kind] <= limit else 'MISSED'}")
    return "; ".join(notes)


def _fmt(ms: float) -> str:
    return f"{ms:,.1f}" if ms < 1000 else f"{ms / 1000:,.2f} s"


def table(sizes: list[int], results: dict[int, dict]) -> str:
    lines = ["| read | samples | n | p50 | p95 | baseline p50 | baseline p95 | ratio p50 | "
             "ratio p95 | growth exp. (req / base) | target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in ROWS:
        present = [n for n in sizes if row in results[n]]
        exp = growth(present, [results[n][row]["p50_ms"] for n in present])
        bexp = growth(present, [results[n][row]["base_p50_ms"] for n in present])
        gtext = "—" if exp is None or bexp is None else f"{exp:.2f} / {bexp:.2f}"
        for k, n in enumerate(present):
            m = results[n][row]
            lines.append(
                f"| {row if k == 0 else ''} | {n:,} | {m['n']} | {_fmt(m['p50_ms'])} "
                f"| {_fmt(m['p95_ms'])} "
                f"| {_fmt(m['base_p50_ms'])} | {_fmt(m['base_p95_ms'])} | {m['ratio_p50']:.2f}× "
                f"| {m['ratio_p95']:.2f}× | {gtext if k == 0 else ''} | {_verdict(row, n, m)} |")
    return "\n".join(lines)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated sample counts")
    parser.add_argument("--requests", type=int, default=100,
                        help="timed requests (and baselines) per list/search/detail/lineage")
    parser.add_argument("--frame-requests", type=int, default=20,
                        help="timed requests (and floors) per frame/correlation row")
    parser.add_argument("--repeat", type=int, default=3, help="full frame builds (and baselines)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the synthetic labs of an earlier run of the same sizes (SQLite)")
    parser.add_argument("--table-only", action="store_true",
                        help="measure nothing: print the table from the figures the phases of "
                        "earlier runs saved in /tmp (e.g. sizes measured in separate runs)")
    parser.add_argument("--phase", choices=("template", "api", "frame"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    if args.phase:  # a child: one phase at one size, its figures as JSON in --out
        if args.phase == "template":
            scratch_setup("scale_template")
            return
        n = sizes[0]
        result = (phase_api(n, args.requests, args.reuse, args.prepare) if args.phase == "api"
                  else phase_frame(n, args.frame_requests, args.repeat, args.reuse,
                                   args.prepare))
        Path(args.out).write_text(json.dumps(result))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    started = dt.datetime.now(dt.UTC)
    print(f"scale table, started {started:%Y-%m-%d %H:%M} UTC, commit {commit}; "
          f"{os.cpu_count()} CPUs, load average {_load()}", flush=True)
    if not (_on_postgres() or args.table_only or (args.reuse and TEMPLATE.exists())):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--phase", "template"], cwd=ROOT, check=True)
        print(f"migrated the template SQLite database in {time.perf_counter() - t0:.0f} s",
              flush=True)
    if not _on_postgres() and not args.table_only:
        _prepare_all(sizes, args)
    results: dict[int, dict] = {}
    meta = []
    for n in sizes:
        api, frame = (_saved(phase, n) if args.table_only else _child(phase, n, args)
                      for phase in ("api", "frame"))
        results[n] = {**api["rows"], **frame["rows"]}
        db = api["db"] if api["rows"] else frame["db"]
        meta.append(f"{n:,} samples: {db}; load average {api['load_start']} → "
                    f"{api['load_end']} (list…lineage), {frame['load_start']} → "
                    f"{frame['load_end']} (frame…build)")
    print(f"\n### Scale table — {started:%Y-%m-%d %H:%M} UTC, commit {commit}\n")
    print(f"Machine: {os.cpu_count()} CPUs, {os.uname().machine}, "
          f"load average at the end {_load()} (1, 5, 15 min).  ")
    for line in meta:
        print(f"{line}.  ")
    print("Requests: Django test Client, logged in; n = timed requests (full builds) per row, "
          "each alternated with its baseline; frame and correlation rows after the cold first "
          "request. Times in ms unless marked s.\n")
    print(table(sizes, results))
    cold = ", ".join(f"{row} {results[n][row]['cold_ms'] / 1000:.2f} s at {n:,}"
                     for n in sizes for row in ROWS if "cold_ms" in results[n].get(row, {}))
    print(f"\nCold first request of a data version (frame cache empty): {cold}.")


if __name__ == "__main__":
    main()
