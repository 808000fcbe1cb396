"""File ingest throughput through ``POST /api/files/`` (issue 16 item 3) beside the bare parser
over the same files, in one run: files/s of the request alone and of request-to-parsed.

Run:  .venv/bin/python benchmarks/ingest_files.py [--files 1000] [--memory-files 120]
      [--runner pool|inline] [--profile [--profile-out FILE]] [--hold-jobs]
A script, not a test: it prints figures and asserts nothing about speed. It uses its own
scratch database and media directory (see benchmarks/_common.py).

Files: every real instrument / XAS data file in ../shared/data (instruments/ and xas/, the
corrupted XDI fixtures in xas/xdi/baddata included; READMEs, licences and FEFF path/input/output
files excluded) is uploaded once, unchanged. The rest of the ``--files`` are SYNTHETIC: copies of
the real XDI files with one ``# Scan.comment: synthetic copy N`` header line inserted, which
keeps them valid XDI and gives each a new sha256 (so none is deduplicated).

What is timed, on the same list of files in the same process:

* **bare parser**: ``parse_file(content, filename=…, limits=…)`` in this process, no database,
  no child process, no preview (a refused file is timed too); files/s = files / the sum of the
  parse times. Also printed: parse + ``render_preview_png`` (what a parse job draws).
* **request only**: each ``client.post("/api/files/", …)`` (Django test Client, multipart,
  logged in) from the call to its response; files/s = files / the sum of those times. With the
  ``pool`` runner (what ``make run`` uses) the parse jobs run meanwhile in the embedded pool of
  the same process and compete with the requests for the CPUs, as on a server.
* **request to parsed** (``pool``): from the first request's start until every uploaded file has
  left ``pending``/``parsing`` (its parse job, preview and measurement rows written); files/s =
  files / that wall time. With ``--runner inline`` (the pytest runner) the parse runs inside
  each request, so request only = request to parsed.

Both are printed as ratios against the bare parser (issue 16 target: request ≥ 0.5×).
Throughput is timed without tracemalloc (it slows allocation several-fold); the tracemalloc peak
comes from a second pass over ``--memory-files`` files (all real files first, the largest among
them) in a fresh process with its own scratch database. ``--profile`` runs cProfile over the
request pass and prints the 25 costliest functions of the requests (cumulative and own time;
``--profile-out`` also writes the pstats file). ``--hold-jobs`` (pool) keeps the pool's threads
busy until the last request has answered, so the requests run without the parse jobs competing
for the CPUs and the GIL: the request's own cost, for profiling, not the headline figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, peak_rss_mb, scratch_setup, synthetic_xdi  # noqa: E402

SKIP_SUFFIXES = {".md", ".txt", ".inp", ".out"}


def real_files() -> list[Path]:
    """The real data files, in a stable order (FEFF path files feff*.dat are not uploads)."""
    files = []
    for top in ("instruments", "xas"):
        for path in sorted((SHARED_DATA / top).rglob("*")):
            if not path.is_file() or path.suffix.lower() in SKIP_SUFFIXES:
                continue
            if path.parent.name.startswith("feff_"):
                continue
            files.append(path)
    return files


def xdi_templates(files: list[Path]) -> list[tuple[Path, bytes]]:
    """Real XDI files that parse, with their copies still parsing — the synthetic base."""
    from characterization.parsers.registry import parse_file
    from labdb.lib.errors import ParseError

    out = []
    for path in files:
        if path.suffix != ".xdi" or "baddata" in path.parts:
            continue
        data = path.read_bytes()
        try:
            parse_file(synthetic_xdi(data, 0), filename=path.name)
        except (ParseError, ValueError):
            continue
        out.append((path, data))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files to upload in total")
    parser.add_argument(
        "--samples",
        type=int,
        default=20,
        help="uploads are attached to these many samples in turn, so derived "
        "measurement rows (XAS spectra, XRD …) are written too",
    )
    parser.add_argument(
        "--memory-files",
        type=int,
        default=120,
        help="files of the separate tracemalloc pass (all real files first; 0 skips it)",
    )
    parser.add_argument(
        "--runner",
        choices=("pool", "inline"),
        default="pool",
        help="job runner: pool (the embedded pool of make run, default) or inline (pytest's: "
        "the parse runs inside the request)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the requests; print the top 25"
    )
    parser.add_argument(
        "--profile-out", help="with --profile: also write the pstats file here (for pstats)"
    )
    parser.add_argument(
        "--hold-jobs",
        action="store_true",
        help="pool runner: keep the pool's threads busy until the last request has answered, so "
        "the parse jobs do not compete with the requests (they run after; for profiling)",
    )
    parser.add_argument("--memory-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["LABDB_JOB_RUNNER"] = args.runner

    if args.memory_pass:
        ingest(args, name="ingest_files_memory", trace=True)
        return
    if args.memory_files:
        # tracemalloc slows allocation several-fold, so it gets its own pass in a fresh process
        # with its own scratch database (no upload is a duplicate). It runs first, while this
        # process is still small: Linux carries ru_maxrss over fork+exec into the child.
        print(
            f"--- memory pass: {args.memory_files} files with tracemalloc on (separate process "
            "and scratch database; its files/s are slowed by tracing)"
        )
        command = [
            sys.executable, __file__, "--memory-pass", "--files", str(args.memory_files),
            "--samples", str(args.samples), "--runner", args.runner,
        ]
        subprocess.run(command, check=True)
        print("\n--- throughput pass (no tracemalloc)")
    ingest(args, name="ingest_files", trace=False)


def upload_list(n_files: int) -> list[tuple[str, bytes, str, Path | None]]:
    """``(name, content, "real" | "synthetic", path)`` of the uploads, real files first."""
    real = real_files()
    templates = xdi_templates(real)
    n_real = min(len(real), n_files)
    out = [(p.name, p.read_bytes(), "real", p) for p in real[:n_real]]
    for n in range(n_files - n_real):
        path, data = templates[n % len(templates)]
        out.append((f"synthetic_{n:05d}_{path.name}", synthetic_xdi(data, n), "synthetic", None))
    print(f"uploads: {n_real} real files from {SHARED_DATA}, unchanged; {n_files - n_real} "
          f"SYNTHETIC XDI files (copies of {len(templates)} real XDI files with a "
          "'# Scan.comment: synthetic copy N' header line: valid XDI, unique sha256)")
    return out


def bare_parser(uploads: list) -> tuple[float, float]:
    """Seconds to parse every upload in this process, without and with the preview PNG."""
    from characterization.parsers.registry import parse_file
    from characterization.previews import render_preview_png
    from characterization.services import parser_limits
    from labdb.lib.errors import ParseError

    limits = parser_limits()
    parse_s = preview_s = 0.0
    for name, data, _, _ in uploads:
        t = time.perf_counter()
        try:
            parsed = parse_file(data, filename=name, limits=limits)
        except (ParseError, ValueError):
            parse_s += time.perf_counter() - t
            continue
        t1 = time.perf_counter()
        parse_s += t1 - t
        try:
            render_preview_png(parsed)
        except ValueError:
            pass
        preview_s += time.perf_counter() - t1
    return parse_s, parse_s + preview_s


def ingest(args, *, name: str, trace: bool) -> None:
    """Upload ``args.files`` files and print the figures beside the bare parser's."""
    scratch = scratch_setup(name)
    print(scratch.describe())
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from labdb.lib import jobs
    from synthesis.models import Sample

    user = User.objects.create_user("bench", password="bench-labdb-pw")
    samples = Sample.objects.bulk_create([
        Sample(code=f"INGEST-{i:03d}", name=f"ingest target {i}", material="CdSe",
               morphology="NPL", owner=user)
        for i in range(args.samples)
    ])
    client = Client()
    client.force_login(user)
    uploads = upload_list(args.files)
    bare_parse_s, bare_preview_s = bare_parser(uploads)  # also imports every parser once
    client.get("/api/files/?page_size=1")  # first request: URL conf, pool start-up sweep
    jobs.wait_idle(60)
    print(f"POST /api/files/ (runner {jobs.runner()}, attached to {args.samples} samples in "
          "turn):")

    release = hold_pool(args)
    rss_before = peak_rss_mb()
    if trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if args.profile else None
    per_format: dict[str, list] = defaultdict(lambda: [0, 0.0])  # n, request s
    statuses: dict[int, int] = defaultdict(int)
    rejected: list[tuple] = []
    ids: list[int] = []
    total_bytes, request_s = 0, 0.0
    start = time.perf_counter()
    for index, (fname, data, _, path) in enumerate(uploads):
        upload = SimpleUploadedFile(fname, data, content_type="application/octet-stream")
        form = {"file": upload, "sample": samples[index % len(samples)].pk}
        t = time.perf_counter()
        if profiler:
            profiler.enable()
        response = client.post("/api/files/", form)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - t
        request_s += elapsed
        total_bytes += len(data)
        statuses[response.status_code] += 1
        body = response.json()
        if response.status_code in (200, 202):
            ids.append(body["id"])
        else:
            rejected.append((path, fname, f"HTTP {response.status_code} {body.get('message')}"))
        per_format[Path(fname).suffix.lower() or "(none)"][0] += 1
        per_format[Path(fname).suffix.lower() or "(none)"][1] += elapsed
    requests_done = time.perf_counter() - start
    release.set()
    jobs.wait_idle(3600)
    parsed_wall = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if tracemalloc.is_tracing() else None
    tracemalloc.stop()
    report(args, uploads, ids, per_format, statuses, rejected, request_s, requests_done,
           parsed_wall, bare_parse_s, bare_preview_s, total_bytes)
    print(f"peak memory: ru_maxrss {peak_rss_mb():.0f} MB (before the uploads {rss_before:.0f} "
          "MB), tracemalloc peak " + (
              f"{traced_peak:.1f} MB (Python allocations during these uploads)"
              if traced_peak is not None else "in the memory pass (tracing would slow this)"))
    if profiler:
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print("\ncProfile of the requests only (cumulative):\n" + out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print("\ncProfile of the requests only (own time):\n" + out.getvalue())


HOLD_JOB = "benchmarks.hold_pool_thread"


def hold_pool(args) -> threading.Event:
    """With ``--hold-jobs``: one blocking job per pool thread, released by the returned event
    (set it after the requests); without it, an event that releases nothing."""
    from django.conf import settings

    from labdb.lib import jobs

    release = threading.Event()
    if not (args.hold_jobs and jobs.runner() == "pool"):
        return release
    started = threading.Semaphore(0)

    def hold(_index: int) -> None:
        started.release()
        release.wait()

    jobs.job(HOLD_JOB)(hold)
    workers = max(1, settings.LABDB_JOB_WORKERS)
    for index in range(workers):
        jobs.dispatch(HOLD_JOB, index)
    for _ in range(workers):
        started.acquire()
    print(f"--hold-jobs: the {workers} pool thread(s) are held until the last request has "
          "answered; the parse jobs run after")
    return release


def report(args, uploads, ids, per_format, statuses, rejected, request_s, requests_done,
           parsed_wall, bare_parse_s, bare_preview_s, total_bytes) -> None:
    """Print the table, the ratios against the bare parser and the parse outcomes."""
    from characterization.models import DataFile

    n = len(uploads)
    print(f"\n{'suffix':<12}{'files':>6}{'request ms/file':>17}{'files/s':>9}")
    for suffix, (count, secs) in sorted(per_format.items()):
        print(f"{suffix:<12}{count:>6}{1000 * secs / count:>17.1f}{count / secs:>9.1f}")
    bare = n / bare_parse_s
    rows = [
        ("bare parser (parse_file, in process)", bare_parse_s),
        ("bare parser + preview PNG", bare_preview_s),
        ("POST /api/files/, request only", request_s),
        ("requests, wall (first start to last answer)", requests_done),
        ("request to parsed (all jobs done), wall", parsed_wall),
    ]
    print(f"\n{'timed':<46}{'s':>8}{'files/s':>9}{'× bare':>8}")
    for label, secs in rows:
        print(f"{label:<46}{secs:>8.2f}{n / secs:>9.1f}{(n / secs) / bare:>8.2f}")
    print(f"target (issue 16): request only ≥ 0.50× the bare parser; here "
          f"{(n / request_s) / bare:.2f}×")
    outcome: dict[str, int] = defaultdict(int)
    for status in DataFile.objects.filter(pk__in=ids).values_list("parse_status", flat=True):
        outcome[status] += 1
    duplicates = statuses.get(200, 0)
    print(f"{n} files, {total_bytes / 1e6:.1f} MB; HTTP {dict(sorted(statuses.items()))} "
          f"(200 = identical content already stored, linked); parse status of the stored "
          f"files: {dict(sorted(outcome.items()))}, {duplicates} duplicate uploads")
    failed = DataFile.objects.filter(pk__in=ids, parse_status="failed")
    bad = [f for f in failed if "baddata" not in f.original_name and not
           f.original_name.startswith("bad_")]
    print(f"parse failed: {failed.count()} (the corrupted XDI fixtures of xas/xdi/baddata "
          f"must fail); others failed: {len(bad)}")
    for f in bad[:20]:
        print(f"  {f.original_name}: {f.parse_error[:110]}")
    for path, fname, message in rejected:
        print(f"  rejected {path.relative_to(SHARED_DATA) if path else fname}: {message}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
