"""Fit builder page: first paint in a real browser, and the FEFF-path table latency (uncached
and cached), against the server `make run` starts (issue 11, "Benchmark").

Run:  .venv/bin/python benchmarks/fit_builder.py [--repeat 5]
A script, not a test: it prints figures and asserts nothing about speed. It starts its own
`make run` server (tests/e2e/conftest.py ``start_app_server``: DEBUG off, collectstatic, demo
data, own var dir under /tmp/labdb-bench-fit_builder/) and drives Debian's chromium with
Playwright, logged in as the demo member, on the demo's ZnSe Zn K spectrum.

What is measured:
* first paint: ``performance`` timing of a fresh load of /fit-builder/?spectra=<id> —
  first-contentful-paint, DOMContentLoaded, and the builder ready (its deferred script ran);
  then the first live preview drawn (three plotly plots, one preview request);
* FEFF-path table: from pressing "Run FEFF" to the path table's rows in the page, for a
  structure never computed before (a lattice constant changed by 0.0001 Å each time: one real
  FEFF6 run of a 4.5 Å cluster) and for the same structure again (the stored calculation,
  HTTP 200), with the server's own FEFF time for the uncached ones.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, percentile  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    start_app_server,
    stop_app_server,
)

VAR_DIR = Path("/tmp/labdb-bench-fit_builder")


def _demo_zn_spectrum(server) -> int:
    out = server.manage("shell", "-c", (
        "from characterization.models import XASSpectrum as X; "
        "print(X.objects.filter(element='Zn', data_file__parse_status='ok')"
        ".order_by('pk').values_list('pk', flat=True)[0])"))
    return int(out.stdout.split()[-1])


def _paint_figures(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_selector("#fit-builder[data-ready=true]")
    ready_ms = page.evaluate("performance.now()")
    timing = json.loads(page.evaluate("""JSON.stringify({
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
        dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd})"""))
    page.wait_for_selector(".fb-dataset[data-preview=done]", timeout=120_000)
    drawn_ms = page.evaluate("performance.now()")
    return {"fcp": timing["fcp"], "dcl": timing["dcl"], "ready": ready_ms, "preview": drawn_ms}


def _feff_table_ms(page, a_a: float) -> tuple[float, str]:
    dataset = page.locator(".fb-dataset").first
    dataset.locator("[data-feff=preset]").select_option("0")
    dataset.locator("[data-feff=a_a]").fill(f"{a_a:.4f}")
    dataset.locator("[data-feff=cluster_radius_a]").fill("4.5")
    rows = dataset.locator("[data-slot=feff-paths] input[type=checkbox]")
    page.evaluate("document.querySelector('.fb-dataset [data-slot=feff-paths]').innerHTML = ''")
    start = time.perf_counter()
    dataset.get_by_role("button", name="Run FEFF").click()
    rows.first.wait_for(timeout=300_000)
    elapsed_ms = (time.perf_counter() - start) * 1000
    return elapsed_ms, dataset.locator("[data-slot=feff-status]").inner_text()


def _line(label: str, values: list[float]) -> str:
    return (f"  {label:<44} median {statistics.median(values):8.0f} ms   "
            f"p95 {percentile(values, 95):8.0f} ms   (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="page loads and FEFF runs each")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    shutil.rmtree(VAR_DIR, ignore_errors=True)
    t0 = time.perf_counter()
    server, process = start_app_server(VAR_DIR)
    print(f"make run server up in {time.perf_counter() - t0:.0f} s at {server.url}", flush=True)
    try:
        spectrum_id = _demo_zn_spectrum(server)
        url = f"{server.url}/fit-builder/?spectra={spectrum_id}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context()
            page = context.new_page()
            server.login(page)
            _paint_figures(page, url)  # warm-up: static files cached, larch imported
            paints = [_paint_figures(page, url) for _ in range(args.repeat)]
            uncached, cached, notes = [], [], []
            for i in range(args.repeat):
                a_a = 5.6676 + 0.0001 * (i + 1)
                ms, note = _feff_table_ms(page, a_a)
                uncached.append(ms)
                notes.append(note)
                cached.append(_feff_table_ms(page, a_a)[0])
            browser.close()
    finally:
        stop_app_server(process)
    print(f"\nfit builder page (/fit-builder/?spectra={spectrum_id}, demo ZnSe Zn K), "
          "fresh load each time:")
    print(_line("first contentful paint", [p["fcp"] for p in paints]))
    print(_line("DOMContentLoaded", [p["dcl"] for p in paints]))
    print(_line("builder ready (deferred script ran)", [p["ready"] for p in paints]))
    print(_line("first live preview drawn (3 plots)", [p["preview"] for p in paints]))
    print("\nFEFF path table, from 'Run FEFF' to the rows in the page (ZnSe, 4.5 Å cluster):")
    print(_line("uncached (a new FEFF6 run each time)", uncached))
    print(_line("cached (the same structure again)", cached))
    print(f"  server-side status of the uncached runs: {'; '.join(notes)}")


if __name__ == "__main__":
    main()
