"""A sizing-curve run started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): the Cary 50 CSV of ../shared/data/instruments (a real
absorption export, a dye band at 615 nm standing in for a 1S peak) is attached to a new sample;
the demo member starts ``sizing_curve`` from /analysis-runs/new/sizing_curve/ with the
absorption picker and the correlation chooser, and finds the results table and the
interactive correlation plot (curve over its validity range, the sample's point) on the run
page. (A refused 1S peak is a 400 the API tests cover: in the browser the fixture counts
the 400's console line as a page error.)
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
RUN_TIMEOUT_S = 180



@pytest.fixture(scope="module")
def absorption_id(app_server):
    code = f"E2E-SIZE-{uuid.uuid4().hex[:6]}"
    _file, _status, rows = app_server.attach_file(
        CARY, code=code, material="CdSe", morphology="QD",
        rows="characterization.AbsorptionMeasurement")
    return rows[0]


def test_sizing_started_from_the_ui_shows_the_numbers_and_the_plot(member_page, app_server,
                                                                   absorption_id):
    page = member_page
    page.goto(f"{app_server.url}/analysis-runs/new/sizing_curve/")
    picker = page.locator("#sizing-absorption")
    expect(picker.locator(f'option[value="{absorption_id}"]')).to_be_attached(timeout=30_000)
    expect(picker.locator(f'option[value="{absorption_id}"]')).to_contain_text("1S 615.0 nm")
    chooser = page.locator("#sizing-correlation")
    expect(chooser.locator('option[value="moreels2009_pbs"]')).to_contain_text("PbS")
    expect(chooser.locator('option[value="yu2003_cdse"]')).to_contain_text("1S 450–650 nm")
    picker.select_option(str(absorption_id))
    chooser.select_option("yu2003_cdse")
    expect(page.locator("#sizing-correlation-info")).to_contain_text("10.1021/cm034081k")
    page.locator("#sizing-peak-from").select_option("spectrum")
    page.fill("input[name=dilution_factor]", "10")
    page.click("#sizing-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#sizing-curve-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    rows = result.locator("table tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(0)).to_contain_text("614.71")
    expect(rows.nth(1)).to_contain_text("5.31")
    expect(page.locator("#sizing-curve-plot .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#sizing-spectrum-plot .main-svg").first).to_be_visible()
    # the sample's point is drawn (a marker trace in the plot)
    expect(page.locator("#sizing-curve-plot .scatterlayer .trace")).to_have_count(4)

