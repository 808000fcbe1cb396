"""Fit results: the fit page, /results/, and /arrays/ (k, R, q at k-weights 0–3) cold and cached.

Run:  .venv/bin/python benchmarks/fit_results.py [--requests 20] [--cold 3]
A script, not a test: it prints figures and asserts nothing about speed. It builds its own
scratch database (benchmarks/_common.py) with one real fit (Larch doc fit A on the shared
cu_metal_rt.xdi, through the fit service). Timings use the Django test Client in-process,
logged in. "cold" = the fit's cached entries deleted first (larch is already imported: the
fit ran in this process, as in the embedded job pool); "cached" = served from file storage.
A fit page view in the browser is the page, then 3 array requests (k, R, q) and the μ(E) plot
data; a k-weight switch is 3 array requests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentile, scratch_setup  # noqa: E402
from fit_throughput import CU_XDI, fit_a_model  # noqa: E402
from sample_page import clear_cache  # noqa: E402


def build():
    from django.contrib.auth.models import User

    from analysis.services import request_fit_run
    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from synthesis.services import create_sample

    user = User.objects.create_user("bench", password="bench-pw-123")
    sample = create_sample(
        data={"code": "BENCH-Cu", "name": "Cu foil", "material": "Cu", "morphology": "bulk"},
        actor=user,
    )
    data_file, _ = attach_data_file(
        content=CU_XDI.read_bytes(), filename=CU_XDI.name, sample=sample, actor=user
    )
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    run = request_fit_run(spectrum=spectrum, model=fit_a_model(), actor=user)
    run.refresh_from_db()
    if run.status != "succeeded":
        raise SystemExit(f"the fit failed: {run.error}")
    return user, run.result_id


def _ms(client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    return elapsed


def _switch(client, fit_id: int, kweight: int, fmt: str = "json") -> float:
    return sum(_ms(client, f"/api/xas-fits/{fit_id}/arrays/?space={space}&kweight={kweight}"
                   f"&format={fmt}") for space in ("k", "r", "q"))


def _line(label: str, values: list[float]) -> str:
    return (f"  {label:<40} n={len(values):<3} p50 {percentile(values, 50):8.1f} ms   "
            f"p95 {percentile(values, 95):8.1f} ms   max {max(values):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="cached requests timed")
    parser.add_argument("--cold", type=int, default=3, help="cold k-weight switches timed")
    args = parser.parse_args()
    # jobs (the parse of the upload, the fit) run inline, so each step is done when it returns
    scratch = scratch_setup("fit_results", extra_env={"LABDB_JOB_RUNNER": "inline"})
    from django.core.management import call_command
    from django.test import Client

    call_command("collectstatic", interactive=False, verbosity=0)
    user, fit_id = build()
    client = Client()
    client.force_login(user)
    _ms(client, f"/fits/{fit_id}/")  # template and URL caches, not timed

    page = [_ms(client, f"/fits/{fit_id}/") for _ in range(args.requests)]
    results = [_ms(client, f"/api/xas-fits/{fit_id}/results/") for _ in range(args.requests)]
    cold = []
    for i in range(args.cold):
        clear_cache([fit_id])
        cold.append(_switch(client, fit_id, i % 4))
    for kweight in range(4):
        _switch(client, fit_id, kweight)  # fill the cache
    warm = [_switch(client, fit_id, i % 4) for i in range(args.requests)]
    csv = [_switch(client, fit_id, i % 4, "csv") for i in range(args.requests)]
    print(f"\nfit results of one computed fit ({scratch.engine}; {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(_line("fit page (tables, provenance, picker)", page))
    print(_line("/results/ JSON", results))
    print(_line("k-weight switch, cold (3 arrays computed)", cold))
    print(_line("k-weight switch, cached (3 arrays)", warm))
    print(_line("k, R, q as CSV (cached arrays)", csv))


if __name__ == "__main__":
    main()
