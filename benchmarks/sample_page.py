"""Sample page with many computed XAS fits: page + plot data, cold and warm, against the old
per-view PNG rendering (issue: a page with four fits took 4.7 s).

Run:  .venv/bin/python benchmarks/sample_page.py [--fits 10] [--requests 20] [--cold 5]
      [--baseline 3]
A script, not a test: it prints figures and asserts nothing about speed. It builds its own
scratch database (benchmarks/_common.py). The fits are real: the first with the fit service on
the shared cu_metal_rt.xdi (Larch doc fit A), the others as refits of it (each a real larch fit).

What one "view" is:
* new: GET /samples/<id>/ and then GET /api/xas-fits/<id>/plot-data.json for each fit (what
  the page's script requests; the browser fetches them in parallel, here they run one after
  another, so the sum is an upper bound). Cold = the plot cache emptied before the view; warm =
  as cached by earlier views.
* old (baseline): GET /samples/<id>/ and the three PNGs per fit rendered on every view, exactly
  as the previous plot endpoint did (fit + fit run loaded, ``analysis.selectors.fit_plot``).
Timings use the Django test Client in-process, logged in (no network, no browser drawing).
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

TARGET_P95_MS = 500.0
KINDS = ("mu", "chik", "chir")


def build(n_fits: int):
    """A Cu foil sample with ``n_fits`` computed fits (real fits; setup, not timed)."""
    from django.contrib.auth.models import User

    from analysis.services import request_fit_run, request_refit
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
    started = time.perf_counter()
    run = request_fit_run(spectrum=spectrum, model=fit_a_model(), actor=user)
    run.refresh_from_db()
    if run.status != "succeeded":
        raise SystemExit(f"the first fit failed: {run.error}")
    fit_ids = [run.result_id]
    while len(fit_ids) < n_fits:
        refit = request_refit(fit=run.result, actor=user)
        refit.refresh_from_db()
        fit_ids.append(refit.result_id)
        print(f"  fit {len(fit_ids)}/{n_fits} stored", flush=True)
    print(f"built {n_fits} computed fits in {time.perf_counter() - started:.1f} s")
    return user, sample, fit_ids


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _get(client, url: str, expect: str | None = None):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    if expect and response.get("X-Labdb-Plot-Cache") != expect:
        raise SystemExit(f"GET {url}: cache {response.get('X-Labdb-Plot-Cache')}, not {expect}")
    return response


def new_view(client, sample_id: int, fit_ids: list[int], expect: str) -> dict[str, float]:
    timings = {"page": _ms(lambda: _get(client, f"/samples/{sample_id}/"))}
    timings["data"] = sum(
        _ms(lambda pk=pk: _get(client, f"/api/xas-fits/{pk}/plot-data.json", expect))
        for pk in fit_ids
    )
    timings["view"] = timings["page"] + timings["data"]
    return timings


def old_view(client, sample_id: int, fit_ids: list[int]) -> float:
    """The previous endpoint's work: load fit + run, render three PNGs per fit, every view."""
    from analysis.selectors import fit_plot
    from characterization.models import XASFit

    def render_all():
        _get(client, f"/samples/{sample_id}/")
        for pk in fit_ids:
            fit = XASFit.objects.select_related("fit_run").get(pk=pk)
            for kind in KINDS:
                fit_plot(fit, kind=kind, fmt="png")

    return _ms(render_all)


def clear_cache(fit_ids: list[int]) -> None:
    from django.core.files.storage import default_storage

    from analysis.services.fit_plots import cached_plot_entries

    for pk in fit_ids:
        for name in cached_plot_entries(pk):
            default_storage.delete(f"fit-plots/{pk}/{name}")


def _line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<34} n={len(values):<3} p50 {percentile(values, 50):8.1f} ms   "
        f"p95 {percentile(values, 95):8.1f} ms   max {max(values):8.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10, help="computed fits on the sample")
    parser.add_argument("--requests", type=int, default=20, help="warm views timed")
    parser.add_argument("--cold", type=int, default=5, help="cold views timed (cache emptied)")
    parser.add_argument("--baseline", type=int, default=3, help="old-style views timed")
    args = parser.parse_args()
    scratch = scratch_setup("sample_page")
    from django.core.management import call_command
    from django.test import Client

    # Pages name hashed static files: build the manifest in the scratch var dir, as make run does.
    call_command("collectstatic", interactive=False, verbosity=0)

    user, sample, fit_ids = build(args.fits)
    client = Client()
    client.force_login(user)
    _get(client, f"/samples/{sample.pk}/")  # template and URL caches, not timed

    cold = []
    for _ in range(args.cold):
        clear_cache(fit_ids)
        cold.append(new_view(client, sample.pk, fit_ids, "miss"))
    warm = [new_view(client, sample.pk, fit_ids, "hit") for _ in range(args.requests)]
    old = [old_view(client, sample.pk, fit_ids) for _ in range(args.baseline)]
    png_cold, png_warm = [], []
    for pk in fit_ids:
        png_cold.append(_ms(lambda pk=pk: _get(client, f"/api/xas-fits/{pk}/plot.png?kind=chir",
                                                "miss")))
        png_warm.append(_ms(lambda pk=pk: _get(client, f"/api/xas-fits/{pk}/plot.png?kind=chir",
                                                "hit")))

    print(
        f"\nsample page with {args.fits} computed fits ({scratch.engine}; {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    print(_line("new, cold: page", [t["page"] for t in cold]))
    print(_line(f"new, cold: {args.fits} plot-data requests", [t["data"] for t in cold]))
    print(_line("new, cold: page + plot data", [t["view"] for t in cold]))
    print(_line("new, warm: page", [t["page"] for t in warm]))
    print(_line(f"new, warm: {args.fits} plot-data requests", [t["data"] for t in warm]))
    print(_line("new, warm: page + plot data", [t["view"] for t in warm]))
    print(_line(f"old: page + {3 * args.fits} PNGs drawn", old))
    print(_line("PNG download, first (rendered)", png_cold))
    print(_line("PNG download, again (cached)", png_warm))
    warm_p95 = percentile([t["view"] for t in warm], 95)
    print(
        f"\nold p50 / new warm p50: "
        f"{percentile(old, 50) / percentile([t['view'] for t in warm], 50):.1f}×   "
        f"old p50 / new cold p50: "
        f"{percentile(old, 50) / percentile([t['view'] for t in cold], 50):.1f}×"
    )
    print(
        f"target p95 < {TARGET_P95_MS:.0f} ms warm (page + its plot data): "
        f"{'met' if warm_p95 < TARGET_P95_MS else 'NOT met'} ({warm_p95:.1f} ms)"
    )


if __name__ == "__main__":
    main()
