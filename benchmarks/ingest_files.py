"""File ingest throughput through ``POST /api/files/`` (issue 3): files/s overall and per format,
parse ok/failed counts, peak memory.

Run:  .venv/bin/python benchmarks/ingest_files.py [--files 1000] [--memory-files 120]
A script, not a test: it prints figures and asserts nothing about speed. It uses its own
scratch database and media directory (see benchmarks/_common.py).

Files: every real instrument / XAS data file in ../shared/data (instruments/ and xas/, the
corrupted XDI fixtures in xas/xdi/baddata included; READMEs, licences and FEFF path/input/output
files excluded) is uploaded once, unchanged. The rest of the ``--files`` are SYNTHETIC: copies of
the real XDI files with one ``# Scan.comment: synthetic copy N`` header line inserted, which
keeps them valid XDI and gives each a new sha256 (so none is deduplicated).

Throughput is timed without tracemalloc (it slows allocation several-fold); the tracemalloc peak
comes from a second pass over ``--memory-files`` files (all real files first, the largest among
them) in a fresh process with its own scratch database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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
    parser.add_argument("--memory-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_pass:
        ingest(args.files, args.samples, name="ingest_files_memory", trace=True)
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
            sys.executable,
            __file__,
            "--memory-pass",
            "--files",
            str(args.memory_files),
            "--samples",
            str(args.samples),
        ]
        subprocess.run(command, check=True)
        print("\n--- throughput pass (no tracemalloc)")
    ingest(args.files, args.samples, name="ingest_files", trace=False)


def ingest(n_files: int, n_samples: int, *, name: str, trace: bool) -> None:
    """Upload ``n_files`` (real files first, then synthetic XDI) and print the figures."""
    scratch = scratch_setup(name)
    print(scratch.describe())
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from synthesis.models import Sample

    user = User.objects.create_user("bench", password="bench-labdb-pw")
    samples = Sample.objects.bulk_create(
        [
            Sample(
                code=f"INGEST-{i:03d}",
                name=f"ingest target {i}",
                material="CdSe",
                morphology="NPL",
                owner=user,
            )
            for i in range(n_samples)
        ]
    )
    client = Client()
    client.force_login(user)

    real = real_files()
    templates = xdi_templates(real)
    n_real = min(len(real), n_files)
    n_synthetic = n_files - n_real
    print(
        f"uploading {n_files} files through POST /api/files/ (Django test Client, "
        f"multipart, attached to {n_samples} samples in turn):"
    )
    print(f"  {n_real} real files from {SHARED_DATA} uploaded once each, unchanged")
    print(
        f"  {n_synthetic} SYNTHETIC XDI files: copies of {len(templates)} real XDI files with "
        "a '# Scan.comment: synthetic copy N' header line (valid XDI, unique sha256)"
    )

    def uploads():
        for path in real[:n_real]:
            yield path.name, path.read_bytes(), "real", path
        for n in range(n_synthetic):
            path, data = templates[n % len(templates)]
            yield f"synthetic_{n:05d}_{path.name}", synthetic_xdi(data, n), "synthetic", None

    rss_before = peak_rss_mb()
    if trace:
        tracemalloc.start()
    per_format: dict[str, list] = defaultdict(lambda: [0, 0.0, 0, 0, 0])  # n, s, ok, failed, dup
    per_kind: dict[str, list] = defaultdict(lambda: [0, 0.0])
    statuses: dict[int, int] = defaultdict(int)
    failures: list[str] = []
    total_bytes = 0
    start = time.perf_counter()
    for index, (name, data, kind, path) in enumerate(uploads()):
        upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
        t = time.perf_counter()
        response = client.post(
            "/api/files/", {"file": upload, "sample": samples[index % len(samples)].pk}
        )
        elapsed = time.perf_counter() - t
        total_bytes += len(data)
        statuses[response.status_code] += 1
        body = response.json()
        if response.status_code not in (200, 201):
            failures.append((path, name, f"HTTP {response.status_code} {body.get('message')}"))
            fmt = "rejected by the API"
        else:
            fmt = body.get("format") or "unrecognised"
        row = per_format[fmt]
        row[0] += 1
        row[1] += elapsed
        if response.status_code == 200:
            row[4] += 1
        elif body.get("parse_status") == "ok":
            row[2] += 1
        elif response.status_code == 201:
            row[3] += 1
            failures.append((path, name, f"parse failed: {body.get('parse_error', '')[:110]}"))
        per_kind[kind][0] += 1
        per_kind[kind][1] += elapsed
    wall = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if tracemalloc.is_tracing() else None
    tracemalloc.stop()

    print(
        f"\n{'format':<20}{'files':>6}{'ok':>6}{'failed':>7}{'dup':>5}{'files/s':>9}{'ms/file':>9}"
    )
    for fmt, (n, secs, ok, failed, dup) in sorted(per_format.items()):
        print(f"{fmt:<20}{n:>6}{ok:>6}{failed:>7}{dup:>5}{n / secs:>9.1f}{1000 * secs / n:>9.1f}")
    n_ok = sum(r[2] for r in per_format.values())
    n_failed = sum(r[3] for r in per_format.values())
    n_dup = sum(r[4] for r in per_format.values())
    n_total = sum(r[0] for r in per_format.values())
    print(
        f"{'TOTAL':<20}{n_total:>6}{n_ok:>6}{n_failed:>7}{n_dup:>5}{n_total / wall:>9.1f}"
        f"{1000 * wall / n_total:>9.1f}"
    )
    for kind, (n, secs) in per_kind.items():
        print(f"  {kind} files: {n} at {n / secs:.1f} files/s")
    print(
        f"overall: {n_total} files, {total_bytes / 1e6:.1f} MB in {wall:.1f} s = "
        f"{n_total / wall:.1f} files/s, {total_bytes / 1e6 / wall:.2f} MB/s "
        f"(HTTP status counts: {dict(sorted(statuses.items()))}; dup = identical content "
        "already stored, answered 200)"
    )
    print(f"parse: {n_ok} ok, {n_failed} failed, {n_dup} duplicates")
    print(
        f"peak memory: ru_maxrss {peak_rss_mb():.0f} MB (before the uploads {rss_before:.0f} "
        "MB), tracemalloc peak "
        + (
            f"{traced_peak:.1f} MB (Python allocations during these uploads)"
            if traced_peak is not None
            else "in the memory pass (tracing would slow this pass)"
        )
    )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    fixtures = [f for f in failures if f[0] is not None and f[0].parent.name == "baddata"]
    if fixtures:
        print(
            f"parse failed, as intended, for the {len(fixtures)} corrupted XDI fixtures of "
            f"{fixtures[0][0].parent} (bad_00 … bad_35 of the XDI spec)"
        )
    others = [f for f in failures if f not in fixtures]
    if others:
        print(f"other failed or rejected uploads ({len(others)}):")
        for path, name, message in others:
            where = path.relative_to(SHARED_DATA) if path else name
            print(f"  {where}: {message}")


if __name__ == "__main__":
    main()
