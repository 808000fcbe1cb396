"""A XANES linear combination started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): the cyanobacteria Au L3 project's 720 h group goes to a
new sample and two standards (Au foil, Au3 Cl aq) to reference samples; the demo member
starts ``xanes_lcf`` from /analysis-runs/new/xanes_lcf/, and finds the weights table and the
data/fit/components/residual plot on the run's page.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
PRJ = SHARED_DATA / "lab_exports" / "xas_lcf" / "cyanobacteria.prj"
RUN_TIMEOUT_S = 180

MAKE_SPECTRA = """
import time
from pathlib import Path
from characterization.models import DataFile, XASSpectrum
from characterization.services import attach_data_file
from synthesis import services
code = {code!r}
path = Path({path!r})
ids = []
for suffix, group, material in (("", 7, "Au"), ("-FOIL", 8, "Au"), ("-AU3CL", 10, "Au")):
    sample = services.create_sample(data={{"code": code + suffix, "name": code + suffix,
                                          "material": material, "morphology": "bulk"}},
                                    layers=[], parents=[])
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                    sample=sample, groups=[group])
    for _ in range(600):  # the parse job runs in this process's background pool
        data_file.refresh_from_db()
        if data_file.parse_status not in ("pending", "parsing"):
            break
        time.sleep(0.2)
    for _ in range(100):
        row = XASSpectrum.objects.filter(data_file=data_file, sample=sample).first()
        if row is not None:
            break
        time.sleep(0.2)
    ids.append(row.pk)
print(*ids)
"""


@pytest.fixture(scope="module")
def au_spectra(app_server):
    """(unknown, foil, Au3 Cl aq) spectrum ids on three new samples."""
    code = f"E2E-LCF-{uuid.uuid4().hex[:6]}"
    out = app_server.manage("shell", "-c", MAKE_SPECTRA.format(code=code, path=str(PRJ)))
    return tuple(int(v) for v in out.stdout.split()[-3:])


def test_lcf_started_from_the_ui_shows_weights_and_the_plot(member_page, app_server,
                                                             au_spectra):
    page = member_page
    unknown, foil, au3 = au_spectra
    page.goto(f"{app_server.url}/analysis-runs/new/xanes_lcf/")
    standards = page.locator("#xanes-standards")
    expect(standards.locator(f'input[value="{foil}"]')).to_be_attached(timeout=30_000)
    page.locator("#xanes-unknown").select_option(str(unknown))
    standards.locator(f'input[value="{foil}"]').check()
    standards.locator(f'input[value="{au3}"]').check()
    page.fill("input[name=energy_min_ev]", "11870")
    page.fill("input[name=energy_max_ev]", "12030")
    page.click("#xanes-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#xanes-lcf-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(result.locator("table").first.locator("tbody tr")).to_have_count(2)
    expect(page.locator("#xanes-lcf-plot .main-svg").first).to_be_visible(timeout=30_000)
