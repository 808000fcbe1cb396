"""Cost of parsing in a budgeted child process (characterization/parse_worker.py).

Run:  .venv/bin/python benchmarks/parse_overhead.py [--repeat 10]

For a few real instrument files, the median time of ``parse_file`` + preview in this process
against ``parse_in_budget`` (fork-server child under RLIMIT_AS/RLIMIT_CPU, result pickled
back); the difference is the per-parse overhead. Also the fork server's first start and the
child's address space before parsing (what ``LABDB_PARSE_MEMORY_MB`` must leave room for).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, scratch_setup  # noqa: E402

FILES = [
    SHARED_DATA / "instruments" / "xdi" / "cu_metal_rt.xdi",
    SHARED_DATA / "instruments" / "xrdml" / "XRD-918-16_10.xrdml",
    SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    scratch_setup("parse_overhead", migrate=False)
    from characterization.parse_worker import ParseBudget, parse_in_budget
    from characterization.parsers.registry import parse_file
    from characterization.previews import render_preview_png
    from characterization.services import parser_limits

    limits, budget = parser_limits(), ParseBudget()
    started = time.perf_counter()
    first = parse_in_budget(FILES[0].read_bytes(), filename=FILES[0].name, limits=limits,
                            budget=budget)
    print(f"fork server start + first parse: {time.perf_counter() - started:.2f} s; child "
          f"address space before parsing {first.vm_start_mb:.0f} MB")
    print(f"{'file':<28}{'in-process ms':>15}{'child ms':>10}{'overhead ms':>13}")
    overheads = []
    for path in FILES:
        data = path.read_bytes()
        here, child = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            render_preview_png(parse_file(data, filename=path.name, limits=limits))
            here.append(time.perf_counter() - t)
            t = time.perf_counter()
            parse_in_budget(data, filename=path.name, limits=limits, budget=budget)
            child.append(time.perf_counter() - t)
        a, b = statistics.median(here) * 1e3, statistics.median(child) * 1e3
        overheads.append(b - a)
        print(f"{path.name:<28}{a:>15.0f}{b:>10.0f}{b - a:>13.0f}")
    print(f"median overhead per parse: {statistics.median(overheads):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
