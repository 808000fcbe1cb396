"""Background jobs seen in a real browser against ``make run``'s server (embedded job pool).

A refit answers at once with its progress page (the fit is queued or running, not done), the
page follows it by polling and shows the stored fit — no reload by hand. An upload shows
"parsing…" and then the parsed file, its plot and numbers, again without a reload.
"""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from load_test import cary_csv  # noqa: E402  (a legal Cary CSV of a chosen size)

pytestmark = pytest.mark.browser

NO_RELOAD = "window.__labdbNoReload"

CREATE_SAMPLE = """
from django.contrib.auth.models import User
from synthesis.services import create_sample
demo = User.objects.get(username="demo")
sample = create_sample(data={{"code": "{code}", "name": "background parse",
                              "material": "CdSe", "morphology": "NPL"}},
                       layers=[], parents=[], actor=demo)
print(sample.pk)
"""


def _mark_page(page) -> None:
    """A marker that a reload (by hand or by script) would wipe."""
    page.evaluate(f"{NO_RELOAD} = true")


def test_refit_answers_at_once_follows_progress_and_shows_the_stored_fit(member_page,
                                                                         app_server):
    page = member_page
    listing = page.request.get(f"{app_server.url}/api/xas-fits/?source=computed&page_size=100")
    fit = min(listing.json()["results"], key=lambda f: f["id"])  # a demo reference fit
    page.goto(f"{app_server.url}/fits/{fit['id']}/")
    page.get_by_role("button", name="Start refit").click()
    page.wait_for_url(re.compile(r"/fit-runs/\?ids=\d+$"))
    _mark_page(page)
    box = page.locator("[data-fit-progress]")
    row = page.locator("[data-run-rows] tr").first
    # The request did not wait for the fit: the page came back with the run still to do.
    assert box.get_attribute("data-finished") is None
    assert row.get_attribute("data-status") in ("queued", "running")
    assert page.locator("[data-progress-text]").inner_text().startswith("↻ Working: 0 of 1 done")

    page.locator("[data-progress-text]").filter(has_text="Finished").wait_for(timeout=300_000)
    assert page.evaluate(NO_RELOAD) is True
    row = page.locator("[data-run-rows] tr").first
    assert row.get_attribute("data-status") == "succeeded", row.inner_text()
    assert page.locator("progress").get_attribute("value") == "100"
    # an unchanged fit is reproduced: the row links the fit it reproduces (else a new fit)
    row.get_by_role("link", name=re.compile(r"^(reproduces|new) fit \d+$")).click()
    assert page.locator("h1").inner_text().startswith("XAS fit of ")


def test_upload_shows_parsing_then_the_parsed_file_without_a_reload(member_page, app_server,
                                                                    tmp_path):
    page = member_page
    code = f"NPL-JOB-{uuid.uuid4().hex[:6].upper()}"
    pk = int(app_server.manage("shell", "-c", CREATE_SAMPLE.format(code=code))
             .stdout.strip().splitlines()[-1])
    spectrum = tmp_path / "uvvis-long.csv"
    spectrum.write_bytes(cary_csv(3.0, seed=7))  # ~3 MB: its parse takes a few seconds
    page.goto(f"{app_server.url}/samples/{pk}/")
    page.locator("form.upload.js-upload").wait_for(state="attached")
    _mark_page(page)
    page.get_by_label("Files to attach").set_input_files(str(spectrum))

    status = page.locator("[data-upload-status]")
    status.filter(has_text="Stored; parsing").wait_for(timeout=60_000)
    assert status.inner_text() == "✓ Stored; parsing 1 file(s)…"
    item = page.locator("[data-upload-results] li.file").first
    assert item.locator("[data-parse-badge]").inner_text().strip() == "↻ parsing…"

    status.filter(has_text="Upload finished").wait_for(timeout=120_000)
    assert status.inner_text() == "✓ Upload finished."
    item = page.locator("[data-upload-results] li.file").first
    assert item.get_attribute("data-parse-pending") is None
    assert "✓ ok" in item.inner_text()
    assert "uvvis-long.csv" in item.inner_text()
    item.locator(".plot.plotted .main-svg").first.wait_for(timeout=30_000)
    assert page.evaluate(NO_RELOAD) is True
    rows = page.request.get(f"{app_server.url}/api/absorption-measurements/?sample={pk}").json()
    assert rows["count"] == 1
