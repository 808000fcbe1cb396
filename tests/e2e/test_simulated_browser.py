"""Simulated spectra in a real browser: a model-structure reference sample, the two FDMNES
outputs uploaded to it, SIMULATED on the page, and one overlaid on the other's μ(E) plot.

Against ``app_server`` (the server ``make run`` starts); the sample code is unique because the
browser tests of the session share one database.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA
from tests.e2e.test_browser import unique

pytestmark = pytest.mark.browser

BEAMLINES = SHARED_DATA / "xas" / "beamlines"


def test_fdmnes_outputs_are_simulated_and_overlay_each_other(member_page, app_server):
    page = member_page
    code = unique("MODEL-Mo2C")
    page.goto(f"{app_server.url}/samples/new/")
    page.get_by_label("Code").fill(code)
    page.locator("#id_name").fill(f"{code} FDMNES model structure")
    page.locator("#id_material").fill("Mo2C")
    page.get_by_label("Morphology").select_option("bulk")
    page.locator("#id_is_reference").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text(code)
    page.locator("form.upload.js-upload").wait_for(state="attached")
    page.get_by_label("Files to attach").set_input_files(
        [str(BEAMLINES / "FDMNES_2022_Mo2C_out.dat"),
         str(BEAMLINES / "FDMNES_2022_Mo2C_out_conv.dat")])
    page.locator("[data-upload-status]").filter(has_text="Upload finished").wait_for()
    expect(page.locator("[data-upload-results]").get_by_text("✓ ok")).to_have_count(2)
    page.reload()
    spectra = page.locator("#fits ul.plain li")
    expect(spectra).to_have_count(2)
    expect(spectra.filter(has_text="SIMULATED")).to_have_count(2)
    expect(spectra.filter(has_text="FDMNES Revision 20th of January 2022 · convoluted")
           ).to_have_count(1)
    item = page.locator("ul.files .file").filter(has_text="FDMNES_2022_Mo2C_out_conv.dat")
    item.locator("[data-simulated-overlay]").select_option(
        label=f"SIMULATED · Mo K · {code} · FDMNES raw")
    expect(item.locator("[data-overlay-status]")).to_have_text(
        f"Overlaid: SIMULATED · Mo K · {code} · FDMNES raw")
    legend = item.locator(".plot.plotted .legend")
    expect(legend).to_contain_text(re.compile(r"SIMULATED · Mo K"))
    expect(legend).to_contain_text("μ(E) SIMULATED (FDMNES, convoluted)")
