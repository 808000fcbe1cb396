"""A relative QY started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): the real Edinburgh exports ``Fluoracle.csv`` (sample
emission) and ``F980_EmScan.txt`` (reference emission) go to two new samples; the demo member
picks them on /analysis-runs/new/relative_qy/ with the seeded indocyanine-green standard,
types the absorbances and ranges, and finds the QY, the inner-filter warning and the spectra
plot on the run's page.
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
def pl_rows(app_server):
    """(sample PL id, reference PL id) on two new samples."""
    code = f"E2E-QY-{uuid.uuid4().hex[:6]}"
    ids = [app_server.attach_file(EDINST / name, code=code + suffix, material="HgCdSe",
                                  morphology="QD", rows="characterization.PLMeasurement")[2][0]
           for suffix, name in (("", "Fluoracle.csv"), ("-ICG", "F980_EmScan.txt"))]
    return ids[0], ids[1]


def test_relative_qy_started_from_the_ui_shows_the_qy_and_the_plot(member_page, app_server,
                                                                  pl_rows):
    page = member_page
    sample, reference = pl_rows
    page.goto(f"{app_server.url}/analysis-runs/new/relative_qy/")
    expect(page.locator(f'#qy-sample-pl option[value="pl:{sample}"]')).to_be_attached(
        timeout=30_000)
    page.locator("#qy-sample-pl").select_option(f"pl:{sample}")
    page.locator("#qy-reference-pl").select_option(f"pl:{reference}")
    expect(page.locator("#qy-standards option:checked")).to_contain_text(
        "indocyanine green in DMSO")
    expect(page.locator("#qy-standard-note")).to_contain_text("Benson")
    page.fill("#qy-excitation", "700")
    page.fill("#qy-absorbance-sample", "0.12")
    page.fill("#qy-absorbance-reference", "0.05")
    page.fill("#qy-sample-min", "700")
    page.fill("#qy-sample-max", "850")
    page.fill("#qy-reference-min", "720")
    page.fill("#qy-reference-max", "820")
    page.fill("#qy-solvent", "tetrachloroethylene")
    page.click("#qy-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#relative-qy-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(result.locator("h3")).to_contain_text("QY = ")
    expect(result.locator("h3")).to_contain_text(" %")
    expect(page.locator("#relative-qy-warnings")).to_contain_text("inner-filter")
    expect(result.locator("table tbody tr")).to_have_count(2)
    expect(page.locator("#relative-qy-plot .main-svg").first).to_be_visible(timeout=30_000)
