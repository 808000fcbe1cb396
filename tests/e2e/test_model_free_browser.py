"""A model-free EXAFS run started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): CdS_10K_01 (bulk CdS) goes to a reference sample and
CdS_10K_02 (a repeat scan) to a second sample; the demo member starts ``model_free_exafs`` from
/analysis-runs/new/model_free_exafs/ with M = 10 and finds the N row of the table and the
histograms on the run's page.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser
LIB = SHARED_DATA / "xas" / "xasdatalibrary"
RUN_TIMEOUT_S = 240

MAKE_SPECTRA = """
import time
from pathlib import Path
from characterization.models import XASSpectrum
from characterization.services import attach_data_file
from synthesis import services
code = {code!r}
ids = []
for suffix, name in (("-REF", "CdS_10K_01.xdi"), ("-UNK", "CdS_10K_02.xdi")):
    path = Path({lib!r}) / name
    sample = services.create_sample(data={{"code": code + suffix, "name": code + suffix,
                                          "material": "CdS", "morphology": "bulk"}},
                                    layers=[], parents=[])
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name,
                                    sample=sample)
    for _ in range(600):  # the parse job runs in this process's background pool
        data_file.refresh_from_db()
        if data_file.parse_status not in ("pending", "parsing"):
            break
        time.sleep(0.2)
    for _ in range(100):
        row = XASSpectrum.objects.filter(data_file=data_file).first()
        if row is not None:
            break
        time.sleep(0.2)
    ids.append(row.pk)
print(*ids)
"""


@pytest.fixture(scope="module")
def cds_spectra(app_server):
    """(reference, unknown) spectrum ids on two new samples."""
    code = f"E2E-MF-{uuid.uuid4().hex[:6]}"
    out = app_server.manage("shell", "-c", MAKE_SPECTRA.format(code=code, lib=str(LIB)))
    return tuple(int(v) for v in out.stdout.split()[-2:])


def test_model_free_started_from_the_ui_shows_table_and_histograms(member_page, app_server,
                                                                    cds_spectra):
    page = member_page
    reference, unknown = cds_spectra
    page.goto(f"{app_server.url}/analysis-runs/new/model_free_exafs/")
    expect(page.locator(f'#model-free-reference option[value="{reference}"]')).to_be_attached(
        timeout=30_000)
    page.locator("#model-free-reference").select_option(str(reference))
    page.locator("#model-free-unknown").select_option(str(unknown))
    page.fill("input[name=kmax_inv_a]", "10")
    page.fill("input[name=repeats]", "10")
    page.click("#model-free-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#model-free-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(result.locator('tr[data-parameter="n"] th')).to_have_text("N")
    expect(page.locator("#model-free-hist-n .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#model-free-chir .main-svg").first).to_be_visible()
