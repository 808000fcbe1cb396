"""TEM particle statistics started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): a SIMULATED Digimizer-style platelet table (built to
seed 000's Table S1 for 5.5 ML CdSe NPLs: length 28.6 ± 3.5 nm, width 7.6 ± 1.2 nm; no real
per-particle table exists in the shared data) is attached to a new sample; the demo member
picks it on /analysis-runs/new/particle_statistics/, chooses the platelet geometry and finds
the statistics table and the two interactive histograms with fitted distributions.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
RUN_TIMEOUT_S = 180

MAKE_TABLE = """
import time
import numpy as np
from characterization.services import attach_data_file
from synthesis import services
code = {code!r}

def matched(mean, sd, n, seed):  # SIMULATED sizes with exactly this mean and SD (ddof=1)
    z = np.random.default_rng(seed).normal(size=n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)

length, width = matched(28.6, 3.5, 150, 11), matched(7.6, 1.2, 150, 12)
lines = ["Object,Length (nm),Width (nm)"]
lines += [f"NPL {{i + 1}},{{a:.6f}},{{b:.6f}}" for i, (a, b) in enumerate(zip(length, width))]
sample = services.create_sample(data={{"code": code, "name": code, "material": "CdSe",
                                      "morphology": "NPL"}}, layers=[], parents=[])
data_file, _ = attach_data_file(content=("\\n".join(lines) + "\\n").encode(),
                                filename=f"SIMULATED_{{code}}.csv", sample=sample)
for _ in range(600):  # the parse job runs in this process's background pool
    data_file.refresh_from_db()
    if data_file.parse_status not in ("pending", "parsing"):
        break
    time.sleep(0.2)
print(data_file.pk, data_file.parse_status, data_file.technique)
"""


@pytest.fixture(scope="module")
def size_table(app_server):
    """Id of the SIMULATED platelet table, parsed as a TEM size table."""
    code = f"E2E-TEM-{uuid.uuid4().hex[:6]}"
    out = app_server.manage("shell", "-c", MAKE_TABLE.format(code=code))
    pk, status, technique = out.stdout.split()[-3:]
    assert (status, technique) == ("ok", "tem_sizes"), out.stdout
    return int(pk)


def test_particle_statistics_from_the_ui_show_table_s1_and_histograms(member_page, app_server,
                                                                      size_table):
    page = member_page
    page.goto(f"{app_server.url}/analysis-runs/new/particle_statistics/")
    table = page.locator("#particle-stats-table")
    expect(table.locator(f'option[value="{size_table}"]')).to_be_attached(timeout=30_000)
    table.select_option(str(size_table))
    expect(page.locator("select[name=length_column] option[value='Length (nm)']")).to_be_attached()
    page.locator("#particle-stats-geometry").select_option("length_width")
    page.click("#particle-stats-submit")
    page.wait_for_url("**/analysis-runs/*/", timeout=30_000)
    result = page.locator("#particle-stats-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    rows = page.locator("#particle-stats-table-summary tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("28.60")
    expect(rows.nth(0)).to_contain_text("3.50")
    expect(rows.nth(1)).to_contain_text("7.60")
    expect(rows.nth(1)).to_contain_text("1.20")
    for name in ("length", "width"):
        plot = page.locator(f"#particle-stats-plot-{name}")
        expect(plot.locator(".main-svg").first).to_be_visible(timeout=30_000)
        expect(plot.locator(".legendtext")).to_have_count(3)  # histogram + two fitted pdfs
