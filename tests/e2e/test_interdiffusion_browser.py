"""An interdiffusion fit started from the UI, read on the run page (real browser).

Against ``app_server`` (``make run``): a SIMULATED IE-CE synthesis run (80 °C) with one
product, six aliquots of it (lineage "aliquot") each with a SIMULATED ICP-OES composition
Hg/(Hg+Cd) from Crank eq. 6.20 with D = 1e-18 cm² s⁻¹ and its reaction time in
``extra.reaction_time_min``, and a TEM size measurement (3.3 nm) of the product. The demo member
picks the synthesis run on /analysis-runs/new/interdiffusion/, the page lists the aliquots'
compositions with their times, the radius comes from the TEM measurement; the run page shows D
and the x(t) data + fit plot.

The second test starts an ``effective_mass_overlap`` run (CdSe 1.4 nm / HgSe 2.0 nm) on a new
sample from its start page and finds the wavefunction plot on the run page.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
RUN_TIMEOUT_S = 180

MAKE_SERIES = """
import math
from django.utils import timezone
from characterization.models import CompositionMeasurement, TEMSizeMeasurement
from characterization.services import record_measurement
from synthesis import services
code = {code!r}
recipe = services.create_recipe(
    data={{"slug": code.lower(), "name": "SIMULATED IE-CE " + code}},
    steps=[{{"action": "hold", "setpoint_value": 80, "setpoint_unit": "degC",
             "duration_value": 240, "duration_unit": "min"}}])
run = services.record_synthesis_run(
    data={{"code": code, "started_at": timezone.now()}}, recipe=recipe,
    products=[{{"data": {{"code": code + "-P", "name": "SIMULATED product",
                         "material": "HgxCd1-xSe", "morphology": "QD"}}}}])
parent = run.products.get()
for i, t in enumerate((2, 10, 30, 60, 120, 240)):
    tau = 1e-18 * t * 60 / (1.65e-7) ** 2
    x = 1 - 6 / math.pi**2 * sum(math.exp(-n * n * math.pi**2 * tau) / n**2
                                 for n in range(1, 3000))
    x = min(1.0, max(0.0, x + 0.01 * math.sin(1.7 * i + 0.3)))
    aliquot = services.create_sample(
        data={{"code": f"{{code}}-{{t}}min", "name": "SIMULATED aliquot",
              "material": "HgxCd1-xSe", "morphology": "QD"}},
        layers=[], parents=[{{"parent": parent, "process": "aliquot"}}])
    record_measurement(model=CompositionMeasurement, sample=aliquot, data={{
        "method": "ICP-OES", "source": "simulated",
        "ratios": {{"Hg/(Hg+Cd)": x, "Hg/(Hg+Cd)_err": 0.015}},
        "extra": {{"reaction_time_min": t}}}})
size = record_measurement(model=TEMSizeMeasurement, sample=parent, data={{
    "diameter_nm": 3.3, "diameter_sd_nm": 0.3, "source": "simulated"}})
print(run.pk, size.pk)
"""


@pytest.fixture(scope="module")
def series(app_server):
    """(synthesis run id, TEM size id) of a new SIMULATED series."""
    code = f"E2E-IECE-{uuid.uuid4().hex[:6]}"
    out = app_server.manage("shell", "-c", MAKE_SERIES.format(code=code))
    run_id, size_id = (int(v) for v in out.stdout.split()[-2:])
    return run_id, size_id


def test_interdiffusion_started_from_the_ui_shows_d_and_the_plot(member_page, app_server,
                                                                  series):
    page = member_page
    run_id, size_id = series
    page.goto(f"{app_server.url}/analysis-runs/new/interdiffusion/")
    picker = page.locator("#interdiffusion-synthesis-run")
    expect(picker.locator(f'option[value="{run_id}"]')).to_be_attached(timeout=30_000)
    picker.select_option(str(run_id))
    rows = page.locator("#interdiffusion-compositions tbody tr")
    expect(rows).to_have_count(6, timeout=30_000)
    expect(page.locator("[name=temperature_c]")).to_have_value("80")
    expect(rows.nth(5).locator("input[type=number]")).to_have_value("240")
    page.locator("#interdiffusion-size").select_option(str(size_id))
    page.click("#interdiffusion-submit")
    page.wait_for_url(re.compile(r".*/analysis-runs/\d+/$"), timeout=30_000)
    result = page.locator("#interdiffusion-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(page.locator("#interdiffusion-numbers")).to_contain_text("cm² s⁻¹")
    expect(page.locator("#interdiffusion-points tbody tr")).to_have_count(6)
    expect(page.locator("#interdiffusion-plot .main-svg").first).to_be_visible(timeout=30_000)


MAKE_SAMPLE = """
from synthesis import services
sample = services.create_sample(data={{"code": {code!r}, "name": "CdSe/HgSe 4 nm",
                                      "material": "CdSe/HgSe", "morphology": "QD"}},
                                layers=[], parents=[])
print(sample.pk)
"""


def test_effective_mass_overlap_started_from_the_ui_shows_the_wavefunctions(member_page,
                                                                           app_server):
    code = f"E2E-EMA-{uuid.uuid4().hex[:6]}"
    sample_id = int(app_server.manage("shell", "-c", MAKE_SAMPLE.format(code=code))
                    .stdout.split()[-1])
    page = member_page
    page.goto(f"{app_server.url}/analysis-runs/new/effective_mass_overlap/")
    page.fill("#effective-mass-search", code)
    select = page.locator("#effective-mass-sample")
    expect(select.locator(f'option[value="{sample_id}"]')).to_be_attached(timeout=30_000)
    select.select_option(str(sample_id))
    rows = page.locator("#effective-mass-layers tbody tr")
    rows.nth(0).locator("[name=outer_radius_nm]").fill("1.4")
    rows.nth(1).locator("[name=outer_radius_nm]").fill("2.0")
    page.click("#effective-mass-submit")
    page.wait_for_url(re.compile(r".*/analysis-runs/\d+/$"), timeout=30_000)
    result = page.locator("#effective-mass-result")
    # The run page follows the run and reloads itself when it finishes (analysis_runs.js);
    # a reload here would race with that one.
    expect(result).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
    expect(result).to_be_visible()
    expect(result.locator("h3").first).to_contain_text(code)
    expect(page.locator("#effective-mass-plot .main-svg").first).to_be_visible(timeout=30_000)
