"""Screenshots of every page of the UI, as ``make run`` serves it, into docs/screenshots/.

Run from the project directory:  ``.venv/bin/python -m tests.e2e.screenshots [NAME ...]``
(no names: every page). It starts the server exactly as the browser tests' ``app_server`` does
(``make run`` with its own var directory and port), logs in through the login form, visits each
entry of ``PAGES`` and writes ``docs/screenshots/<name>.png``; the server is stopped by its
process group at the end. States reached only by interaction (an upload with its plots, a form
error, refit progress) are taken by the browser tests into ``var/screenshots/``; the names in
``FROM_BROWSER_TESTS`` are copied from there when present (run ``pytest tests/e2e`` first).

Each PNG is cropped to at most 1200 px high, scaled to 900 px wide and reduced to a 128-colour
palette (~15–80 kB each).

To add a page, add a line to ``PAGES``: ``(name, path)``, or ``(name, path, user)`` for a page
seen as the curator or logged out. ``{sample[CODE]}``, ``{run[CODE]}``, ``{recipe[SLUG]}`` and
``{fit[SAMPLE CODE]}`` (its computed XAS fit) in a path are looked up through the API.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from PIL import Image

from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CURATOR_PASSWORD,
    CURATOR_USER,
    DEMO_PASSWORD,
    DEMO_USER,
    ROOT,
    SCREENSHOTS,
    AppServer,
    start_app_server,
    stop_app_server,
)

TARGET = ROOT / "docs" / "screenshots"
WIDTH, MAX_HEIGHT, COLOURS = 900, 1200, 128
MEMBER, CURATOR, NOBODY = "member", "curator", "logged out"

PAGES: list[tuple] = [
    ("login", "/accounts/login/", NOBODY),
    ("dashboard", "/"),
    ("search", "/search/?q=CdZnS"),
    ("sample-list", "/samples/?architecture=core%2Fcrown%2Fshell&core_ml=4.5"),
    ("sample-page", "/samples/{sample[NPL-CdSe/CdS/CdZnS-4.5ML]}/"),
    ("sample-new", "/samples/new/"),
    ("sample-edit", "/samples/{sample[NPL-CdSe-4.5ML]}/edit/", CURATOR),
    ("run-list", "/runs/"),
    ("run-page", "/runs/{run[RUN-NPL-CdSe/CdS-4.5ML]}/"),
    ("run-edit", "/runs/{run[RUN-NPL-CdSe/CdS-4.5ML]}/edit/", CURATOR),
    ("log-run-pick-recipe", "/runs/new/"),
    ("log-run", "/runs/new/?recipe={recipe[seed000-cdse-cds-core-crown]}"),
    ("recipe-list", "/recipes/"),
    ("recipe-page", "/recipes/{recipe[seed000-cdse-cds-core-crown]}/"),
    ("recipe-new", "/recipes/new/"),
    ("recipe-edit", "/recipes/{recipe[seed000-cdse-cds-core-crown]}/edit/", CURATOR),
    ("chemical-list", "/chemicals/"),
    ("chemical-new", "/chemicals/new/"),
    ("lot-list", "/lots/"),
    ("lot-new", "/lots/new/"),
    ("stock-list", "/stock-solutions/"),
    ("stock-new", "/stock-solutions/new/"),
    ("fit", "/fits/{fit[REF-CdS-bulk]}/"),
    ("fit-runs", "/fit-runs/"),
    ("fit-builder", "/fit-builder/?from_fit={fit[REF-CdS-bulk]}"),
    ("analysis-runs", "/analysis-runs/"),
    ("analysis-new-xanes-lcf", "/analysis-runs/new/xanes_lcf/"),
    ("analysis-new-model-free", "/analysis-runs/new/model_free_exafs/"),
    ("analysis-new-wavelet", "/analysis-runs/new/xas_wavelet/"),
    ("analysis-new-bond-angle", "/analysis-runs/new/bond_angle/"),
    ("analysis-new-pl-decay", "/analysis-runs/new/pl_decay/"),
    ("analysis-new-relative-qy", "/analysis-runs/new/relative_qy/"),
    ("analysis-new-absorption-decomposition", "/analysis-runs/new/absorption_decomposition/"),
    ("analysis-new-sizing-curve", "/analysis-runs/new/sizing_curve/"),
    ("analysis-new-particle-statistics", "/analysis-runs/new/particle_statistics/"),
    ("analysis-new-interdiffusion", "/analysis-runs/new/interdiffusion/"),
    ("analysis-new-interdiffusion-arrhenius", "/analysis-runs/new/interdiffusion_arrhenius/"),
    ("analysis-new-effective-mass-overlap", "/analysis-runs/new/effective_mass_overlap/"),
    ("retired-measurements", "/samples/{sample[NPL-CdSe-4.5ML]}/retired-measurements/"),
    ("feff", "/feff/{feff[Cd]}/"),
    ("flags", "/flags/"),
    ("explore", "/explore/?x=core_ml&y=qy_pct&group=architecture"),
    ("api-tokens", "/account/tokens/"),
    ("api-root", "/api/"),
    ("api-docs", "/api/docs/"),
    ("admin", "/admin/", CURATOR),
]
FROM_BROWSER_TESTS = ("upload-plot", "log-run-error", "refit-progress")


class _Lookup:
    """``lookup[key]`` → the id of the one record of an API list whose ``field`` is ``key``."""

    def __init__(self, server: AppServer, token: str, endpoint: str, field: str,
                 extra: dict | None = None, search_by: str | None = None):
        self.server, self.token, self.endpoint, self.field = server, token, endpoint, field
        self.extra, self.search_by = extra or {}, search_by

    def _get(self, endpoint: str, params: dict) -> list[dict]:
        url = f"{self.server.url}/api/{endpoint}/?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Token {self.token}"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)["results"]

    def __getitem__(self, key: str) -> int:
        if self.search_by:  # e.g. the fit of a sample: find the sample first
            key = str(_Lookup(self.server, self.token, "samples", "code")[key])
            rows = self._get(self.endpoint, {self.search_by: key, **self.extra})
        else:
            rows = [r for r in self._get(self.endpoint, {"search": key, **self.extra})
                    if str(r[self.field]) == key]
        if len(rows) < 1:
            raise LookupError(f"/api/{self.endpoint}/: no record with {self.field} = {key!r}")
        return rows[0]["id"]


def _lookups(server: AppServer) -> dict[str, _Lookup]:
    request = urllib.request.Request(f"{server.url}/api/auth/login/", method="POST")
    password = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    password.add_password(None, server.url, DEMO_USER, DEMO_PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(password))
    token = json.load(opener.open(request))["token"]
    return {"sample": _Lookup(server, token, "samples", "code"),
            "run": _Lookup(server, token, "runs", "code"),
            "recipe": _Lookup(server, token, "recipes", "slug"),
            "fit": _Lookup(server, token, "xas-fits", "sample", {"source": "computed"},
                           search_by="sample"),
            "feff": _Lookup(server, token, "feff-calculations", "absorber")}


def shrink(source: Path, target: Path) -> int:
    """Crop, scale and palette-reduce ``source`` into ``target``; returns its size in bytes."""
    image = Image.open(source).convert("RGB")
    if image.height * WIDTH / image.width > MAX_HEIGHT:
        image = image.crop((0, 0, image.width, int(MAX_HEIGHT * image.width / WIDTH)))
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    return target.stat().st_size


def capture(server: AppServer, pages: list[tuple], raw_dir: Path,
            failed: list[str]) -> dict[str, Path]:
    """Screenshot each page (full page, 1280 px wide) into raw_dir; returns name → PNG.
    A page that answers 4xx/5xx is not shot: it is appended to ``failed``."""
    from playwright.sync_api import sync_playwright

    lookups, shots = _lookups(server), {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts = {}
        for user in (MEMBER, CURATOR, NOBODY):
            contexts[user] = browser.new_context(viewport={"width": 1280, "height": 860})
            page = contexts[user].new_page()
            if user != NOBODY:
                name, password = ((DEMO_USER, DEMO_PASSWORD) if user == MEMBER
                                  else (CURATOR_USER, CURATOR_PASSWORD))
                server.login(page, username=name, password=password)
        for name, path, *who in pages:
            page = contexts[who[0] if who else MEMBER].pages[0]
            url = server.url + path.format_map(lookups)
            response = page.goto(url)
            if response is None or response.status >= 400:
                failed.append(f"{name}: {url} answered {response and response.status}")
                continue
            page.wait_for_load_state("networkidle")
            shots[name] = raw_dir / f"{name}.png"
            page.screenshot(path=str(shots[name]), full_page=True)
        browser.close()
    return shots


def main(names: list[str]) -> None:
    pages = [entry for entry in PAGES if not names or entry[0] in names]
    TARGET.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="labdb-screenshots-"))
    server, process = start_app_server(work / "var")
    try:
        failed: list[str] = []
        shots = capture(server, pages, work, failed)
    finally:
        stop_app_server(process)
    for name in FROM_BROWSER_TESTS:
        if not names or name in names:
            source = SCREENSHOTS / f"{name}.png"
            if source.exists():
                shots[name] = source
            else:
                print(f"{name}: not in {SCREENSHOTS} (run pytest tests/e2e first); kept as is")
    total = 0
    for name, source in shots.items():
        size = shrink(source, TARGET / f"{name}.png")
        total += size
        print(f"{name}.png {size / 1000:.0f} kB")
    print(f"{len(shots)} screenshots, total {total / 1000:.0f} kB")
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit("pages not captured:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    main(sys.argv[1:])
