#!/usr/bin/env python
"""Benchmark: correlation and narrow frame requests against one SQL query, at lab scale.

Uses the synthetic lab of ``structure_property_frame.py`` (``--samples`` samples, ten
measurements each, 5 paths per sample; same ``--sqlite``/``--reuse``/``DATABASE_URL`` rules)
and prints, in one run, with ``uptime`` beside the numbers (the machine is shared):

* ``GET /api/analysis/correlation/`` p50/p95 (frame cached per data version; the first, cold
  request separately), for the same question again (answer cache) and with another seed per
  request (statistics computed afresh) against the floor: one SQL ``corr()`` over the same two
  columns on PostgreSQL, one narrow SELECT of the two columns + ``numpy.corrcoef`` on SQLite
  (which has no ``corr()``), for peak_nm–qy_pct and cd_s_cd_se_n_ratio–qy_pct by architecture;
* ``GET /api/analysis/frame/?columns=peak_nm,qy_pct`` p50/p95 (target < 300 ms at 10⁵);
* the full frame build against the raw SQL + pandas baseline (target ≤ 1.1×);
* the streamed full CSV and JSON exports: time and peak RSS growth (target < 50 MB;
  resident memory sampled after every chunk).

    .venv/bin/python benchmarks/correlation_scale.py --samples 10000
    .venv/bin/python benchmarks/correlation_scale.py --samples 100000 --reuse --parts correlations
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from structure_property_frame import _best, _prepare, _setup_django, baseline_frame  # noqa: E402

PAIRS = (("peak_nm", "qy_pct", None), ("cd_s_cd_se_n_ratio", "qy_pct", "architecture"))
#: The floor for each pair: the same two values for every live measurement row.
FLOOR_FROM = {
    "peak_nm": ("p.peak_nm", "p.qy_pct", "characterization_plmeasurement p",
                "NOT p.is_retired AND p.source <> 'simulated'"),
    "cd_s_cd_se_n_ratio": (
        "a.n / b.n", "p.qy_pct",
        "characterization_xaspath a JOIN characterization_xaspath b ON b.fit_id = a.fit_id "
        "JOIN characterization_xasfit f ON f.id = a.fit_id "
        "JOIN characterization_plmeasurement p ON p.sample_id = f.sample_id",
        "a.absorber = 'Cd' AND a.scatterer = 'S' AND b.absorber = 'Cd' AND b.scatterer = 'Se' "
        "AND NOT f.is_retired AND NOT p.is_retired"),
}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="builds/floors to time (best of)")
    parser.add_argument("--sqlite", default="/tmp/labdb_bench.sqlite3")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--parts", default="correlations,frame,build,export",
                        help="what to time, comma-separated (default: all four)")
    return parser.parse_args()


def _quantiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def _timed_gets(client, url: str, n: int, *, new_seed: bool = False
                ) -> tuple[float, float, int]:
    """p50, p95 (s) and the body size of ``n`` GETs of ``url``; with ``new_seed`` each asks
    with another seed (computed afresh from the cached frame, not from the answer cache)."""
    times, size = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        response = client.get(f"{url}&seed={i + 1}" if new_seed else url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            sys.exit(f"{url} answered {response.status_code}: {body[:300]!r}")
        size = len(body)
    p50, p95 = _quantiles(times)
    return p50, p95, size


def _floor(x: str) -> float:
    """Seconds for one corr() (PostgreSQL) or narrow SELECT + numpy.corrcoef (SQLite)."""
    import numpy as np
    from django.db import connection

    xe, ye, tables, where = FLOOR_FROM[x]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT corr({xe}, {ye}) FROM {tables} WHERE {where}")
            cursor.fetchone()
        else:
            cursor.execute(f"SELECT {xe}, {ye} FROM {tables} WHERE {where} "
                           f"AND {xe} IS NOT NULL AND {ye} IS NOT NULL")
            values = np.array(cursor.fetchall(), dtype=float)
            np.corrcoef(values[:, 0], values[:, 1])
    return 0.0


def _best_floor(x: str, repeat: int) -> float:
    return _best(lambda: _floor(x), repeat)[0]


def _rss_mb() -> float:
    """The process's resident memory now (MB), from /proc/self/statm.

    Not ``ru_maxrss``: that is the peak of the whole process so far, which the frame build
    before the export has already set far higher, so its growth during an export reads 0.
    """
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def _export(client, fmt: str) -> None:
    """Time and peak RSS growth of the streamed full export (RSS sampled after every chunk)."""
    import gc

    gc.collect()
    before = peak = _rss_mb()
    t0 = time.perf_counter()
    response = client.get(f"/api/analysis/frame/?format={fmt}")
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        peak = max(peak, _rss_mb())
    print(f"full {fmt.upper()} export (cached frame, streamed={response.streaming}): "
          f"{time.perf_counter() - t0:.2f} s, {size / 1e6:.1f} MB; peak RSS growth "
          f"{peak - before:.0f} MB (target < 50 MB)", flush=True)


def _client():
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench")
    client = Client()
    client.force_login(user)
    return client


def _correlations(client, args: argparse.Namespace) -> None:
    from analysis.selectors.frame_cache import clear_frame_cache

    for x, y, group in PAIRS:
        url = f"/api/analysis/correlation/?x={x}&y={y}" + (f"&group={group}" if group else "")
        clear_frame_cache()
        t0 = time.perf_counter()
        client.get(url)
        cold = time.perf_counter() - t0
        p50, p95, size = _timed_gets(client, url, args.requests)
        new50, new95, _ = _timed_gets(client, url, args.requests, new_seed=True)
        floor = _best_floor(x, args.repeat)
        print(f"correlation {x}~{y}{' by ' + group if group else ''}: cold {cold:.2f} s; "
              f"same question p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms "
              f"({size / 1e3:.1f} kB); new seed each request p50 {new50 * 1e3:.0f} ms, "
              f"p95 {new95 * 1e3:.0f} ms; floor {floor * 1e3:.0f} ms; p95/floor "
              f"{p95 / floor:.2f}× / {new95 / floor:.2f}× (target ≤ 2×)", flush=True)


def main() -> None:
    args = _args()
    vendor = _setup_django(args)
    _prepare(args)
    from analysis.selectors.structure_property import structure_property_frame

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"database: {vendor}; samples: {args.samples}; uptime: {load}", flush=True)
    client = _client()
    parts = set(args.parts.split(","))
    if "correlations" in parts:
        _correlations(client, args)
    if "frame" in parts:
        narrow = "/api/analysis/frame/?columns=peak_nm,qy_pct"
        p50, p95, size = _timed_gets(client, narrow, args.requests)
        print(f"frame ?columns=peak_nm,qy_pct: p50 {p50 * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms "
              f"({size / 1e6:.1f} MB; target p95 < 300 ms at 10⁵ samples)", flush=True)
    if "build" in parts:
        build_s, frame = _best(structure_property_frame, args.repeat)
        base_s, _ = _best(baseline_frame, args.repeat)
        print(f"full frame build: {build_s:.2f} s ({frame.shape[0]} × {frame.shape[1]}); raw "
              f"SQL + pandas {base_s:.2f} s; ratio {build_s / base_s:.2f}× (target ≤ 1.1×)",
              flush=True)
    if "export" in parts:
        for fmt in ("csv", "json"):
            _export(client, fmt)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime at the end: {load}", flush=True)


if __name__ == "__main__":
    main()
