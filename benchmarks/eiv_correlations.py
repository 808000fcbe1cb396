"""Benchmark the error-aware correlation engine: seconds per ``errors_in_variables`` call
(York, ODR, resampled intervals, warnings) by number of points, at the API's default draws.

Run:  .venv/bin/python benchmarks/eiv_correlations.py [--draws 2000] [--points 10,1000,100000]
Synthetic points (seeded normal x, y = x + noise, σx = 0.1, σy = 0.2). Prints figures only;
asserts nothing. Shows where the caps bite (ODR above ODR_MAX_POINTS points, draws reduced
above MAX_RESAMPLED_VALUES values).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--points", default="10,100,1000,2000,10000,100000")
    args = parser.parse_args()
    import numpy as np

    from analysis.engines.statistics import errors_in_variables

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()}")
    rng = np.random.default_rng(1)
    for n in (int(v) for v in args.points.split(",")):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        started = time.perf_counter()
        out = errors_in_variables(x, y, np.full(n, 0.1), np.full(n, 0.2), draws=args.draws)
        took = time.perf_counter() - started
        drawn = out["resampled"]["draws"] if out["resampled"] else 0
        print(f"n={n:7d}: {took:6.2f} s  (ODR {'yes' if out['odr'] else 'no '}, "
              f"{drawn} draws of {args.draws})")


if __name__ == "__main__":
    main()
