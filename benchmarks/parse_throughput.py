"""Parse every shared instrument/XAS file N times and print files/s and MB/s per format.

Usage: .venv/bin/python benchmarks/parse_throughput.py [N]   (default N = 5)
A script, not a test: it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from characterization.parsers.registry import detect_format, parse_file  # noqa: E402
from labdb.lib.errors import ParseError  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def shared_files() -> list[Path]:
    """Instrument files plus the good XDI / Athena / ASCII XAS files."""
    files = [p for p in (SHARED / "instruments").glob("*/*") if p.is_file()]
    xas = SHARED / "xas"
    files += [p for p in xas.rglob("*.xdi") if "baddata" not in p.parts]
    files += list(xas.rglob("*.prj")) + [xas / "larch_examples" / "znse_zn_xafs.001"]
    return sorted(files)


def main(repeats: int) -> None:
    """Time ``parse_file`` per format; rejected files are timed too and counted separately."""
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])  # n, bytes, s, rejected
    blobs = [(p, p.read_bytes()) for p in shared_files()]
    for path, data in blobs:
        fmt = detect_format(data, path.name)
        rejected = 0
        start = time.perf_counter()
        for _ in range(repeats):
            try:
                parse_file(data, filename=path.name)
            except ParseError:
                rejected = 1
        elapsed = time.perf_counter() - start
        row = stats[fmt]
        row[0] += repeats
        row[1] += repeats * len(data)
        row[2] += elapsed
        row[3] += rejected
    print(f"{'format':<18}{'files':>6}{'rejected':>9}{'parses':>8}{'files/s':>10}{'MB/s':>9}")
    for fmt, (n, size, secs, rejected) in sorted(stats.items()):
        print(
            f"{fmt:<18}{n // repeats:>6}{int(rejected):>9}{n:>8}{n / secs:>10.1f}"
            f"{size / secs / 1e6:>9.2f}"
        )
    total_n = sum(r[0] for r in stats.values())
    total_b = sum(r[1] for r in stats.values())
    total_s = sum(r[2] for r in stats.values())
    print(
        f"{'TOTAL':<18}{total_n // repeats:>6}{int(sum(r[3] for r in stats.values())):>9}"
        f"{total_n:>8}{total_n / total_s:>10.1f}{total_b / total_s / 1e6:>9.2f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
