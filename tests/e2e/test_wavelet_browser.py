"""A Cauchy wavelet run started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): CdS_10K_01 goes to a new sample; the demo member starts
``xas_wavelet`` from /analysis-runs/new/xas_wavelet/ and finds the plotly |W(k,R)| map, the
|χ(R)| panel and the ridge table on the run's page (CSP enforcing: data by json_script only).
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
CDS = SHARED_DATA / "xas" / "xasdatalibrary" / "CdS_10K_01.xdi"
RUN_TIMEOUT_S = 180



@pytest.fixture(scope="module")
def cds_spectrum(app_server):
    code = f"E2E-WT-{uuid.uuid4().hex[:6]}"
    _file, _status, rows = app_server.attach_file(
        CDS, code=code, material="CdS", morphology="bulk", rows="characterization.XASSpectrum")
    return rows[0]


def test_wavelet_started_from_the_ui_shows_map_chir_and_ridges(member_page, app_server,
                                                               cds_spectrum):
    page = member_page
    page.goto(f"{app_server.url}/analysis-runs/new/xas_wavelet/")
    page.fill("#input-spectrum", str(cds_spectrum))
    page.fill("#parameters", '{"k_weight": 2, "k_range_inv_a": [2, 16], "r_range_a": [0, 6], '
                             '"bands_a": [[1.5, 3.0], [3.0, 4.5]]}')
    page.click("#wavelet-form button[type=submit]")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#wavelet-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(page.locator("#wavelet-map .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#wavelet-chir .main-svg").first).to_be_visible()
    rows = page.locator("#wavelet-ridges-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("2.092")
