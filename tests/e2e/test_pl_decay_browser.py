"""A PL decay fit started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): the real Edinburgh export ``F980_IRF_multiple.txt``
(44 TCSPC decays side by side) goes to a new sample; the demo member picks it and its scan
Decay25 on /analysis-runs/new/pl_decay/, asks for 2 exponentials (tail fit, no IRF), and
finds the lifetime table, the mean lifetimes and the log-counts/residual plot on the run's
page.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
EDINST = SHARED_DATA / "lab_exports" / "edinst"
RUN_TIMEOUT_S = 180



@pytest.fixture(scope="module")
def decay_file(app_server):
    """The id of the stored F980 multi-decay file, linked to a new sample."""
    code = f"E2E-TCSPC-{uuid.uuid4().hex[:6]}"
    file_id, _status, _ = app_server.attach_file(EDINST / "F980_IRF_multiple.txt", code=code,
                                                 material="HgSe", morphology="QD")
    return file_id


def test_pl_decay_started_from_the_ui_shows_lifetimes_and_the_plot(member_page, app_server,
                                                                   decay_file):
    page = member_page
    page.goto(f"{app_server.url}/analysis-runs/new/pl_decay/")
    expect(page.locator(f'#pl-decay-file option[value="{decay_file}"]')).to_be_attached(
        timeout=30_000)
    page.locator("#pl-decay-file").select_option(str(decay_file))
    expect(page.locator("#pl-decay-scan option")).to_have_count(44)
    page.locator("#pl-decay-scan").select_option("24")
    expect(page.locator("#pl-decay-scan option:checked")).to_contain_text("Decay25")
    page.locator("#pl-decay-n").select_option("2")
    page.click("#pl-decay-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#pl-decay-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(result.locator("h3")).to_contain_text("2-exponential tail fit of "
                                                 "F980_IRF_multiple.txt Decay25")
    expect(page.locator("#pl-decay-components tbody tr")).to_have_count(2)
    expect(page.locator("#pl-decay-summary")).to_contain_text("intensity-weighted")
    expect(page.locator("#pl-decay-plot .main-svg").first).to_be_visible(timeout=30_000)
