"""Benchmark the model-free EXAFS engine: seconds per differential-evolution repeat (and the
implied worker time of M = 1000 and 10 000), per noise mode, on CdS_10K_01 → CdS_10K_02.

Run:  .venv/bin/python benchmarks/model_free.py [--repeats M] [--kmax 12]
Data: ../shared/data/xas/xasdatalibrary. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LIB = ROOT.parent / "shared" / "data" / "xas" / "xasdatalibrary"


def _chi(name: str):
    from larch.io import read_ascii

    from analysis.engines.xas_processing import mu_from_columns, process_mu

    g = read_ascii(str(LIB / name))
    mu = mu_from_columns({"i0": g.i0, "itrans": g.itrans}, "transmission")
    done = process_mu(g.energy, mu, pre_edge={}, autobk={"rbkg": 1.0, "kweight": 2}, xftf={})
    return done.k_inv_a, done.chi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--kmax", type=float, default=12.0)
    args = parser.parse_args()
    from analysis.engines import model_free as mf

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()}")
    (k1, c1), (k2, c2) = _chi("CdS_10K_01.xdi"), _chi("CdS_10K_02.xdi")
    window = mf.ShellWindow(kmin_inv_a=3.0, kmax_inv_a=args.kmax, rmin_a=1.6, rmax_a=2.8)
    for noise in mf.NOISE_MODES:
        started, cpu = time.perf_counter(), time.process_time()
        res = mf.fit_model_free(k1, c1, k2, c2, window=window, n_ref=4, r_ref_a=2.528,
                                repeats=args.repeats, seed=0, noise=noise)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = res.to_json()["parameters"]["n"]
        per = res.seconds_per_repeat
        print(f"noise={noise:9s} M={args.repeats}: {per:.3f} s/repeat (total {total:.1f} s "
              f"incl. set-up) → M=1000 ≈ {per * 1000:.0f} s, M=10000 ≈ {per * 10000 / 60:.0f} "
              f"min; CPU {cpu / args.repeats:.3f} s/repeat; N = {n['mean']:.4f} ± {n['sd']:.4f}")


if __name__ == "__main__":
    main()
