"""The web UI in a real browser: login, logging a run, uploads with plots, refits, explorer.

Against ``app_server`` (the server ``make run`` starts, with the demo data); records made here
get unique names because every browser test of the session shares that database.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import SHARED_DATA
from tests.e2e.conftest import shot

pytestmark = pytest.mark.browser

# A field has a name for assistive technology: a <label>, or aria-label / aria-labelledby.
UNLABELLED_FIELDS_JS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea'))
  .filter(el => (el.labels === null || el.labels.length === 0)
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id)"""


def assert_every_field_labelled(page):
    assert page.evaluate(UNLABELLED_FIELDS_JS) == []


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


def choose_recipe(page, name_start: str) -> None:
    """On the "Log a run" picker, choose the first recipe whose option starts with
    ``name_start`` (seed 000's, loaded first, where two papers share a recipe name)."""
    option = page.locator("#recipe option").filter(has_text=re.compile("^" + re.escape(name_start)))
    page.get_by_label("Recipe", exact=True).select_option(option.first.get_attribute("value"))
    page.get_by_role("button", name="Start").click()


def open_sample(page, url: str, code: str) -> None:
    page.goto(f"{url}/samples/")
    page.get_by_role("link", name=code, exact=True).click()
    assert code in page.locator("h1").inner_text()


def test_login_required_then_dashboard(page, app_server):
    page.goto(f"{app_server.url}/samples/")
    assert page.url == f"{app_server.url}/accounts/login/?next=/samples/"
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert "Please enter a correct username and password" in page.inner_text("main")
    shot(page, "login")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-labdb")
    page.get_by_label("Password").press("Enter")  # keyboard submit
    page.wait_for_url(f"{app_server.url}/samples/")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    recent_runs = page.locator("section", has=page.get_by_role(
        "heading", name="Recently logged synthesis runs"))
    expect(recent_runs.get_by_role("link", name=re.compile("^RUN-")).first).to_be_visible()
    shot(page, "dashboard", full_page=True)


def test_sample_list_filters_and_sample_page(member_page, app_server):
    page = member_page
    page.get_by_role("link", name="Samples", exact=True).click()
    assert_every_field_labelled(page)
    page.get_by_label("Architecture").select_option("core/crown/shell")
    page.get_by_label("Core thickness (ML)").fill("4.5")
    page.get_by_role("button", name="Apply filters").click()
    assert "architecture=core%2Fcrown%2Fshell" in page.url and "core_ml=4.5" in page.url
    rows = page.locator("table.samples tbody tr")
    # The filtered page has loaded once the expected sample is listed (the URL changes first).
    expect(rows.get_by_role("link", name="NPL-CdSe/CdS/CdZnS-4.5ML", exact=True)).to_be_visible()
    architectures = rows.locator("td:nth-child(5)").all_inner_texts()
    assert architectures and set(architectures) == {"core/crown/shell"}
    assert rows.get_by_role("link", name="NPL-CdSe/CdS/CdZnS-4.5ML", exact=True).count() == 1
    shot(page, "sample-list")
    page.reload()  # the URL reproduces the view
    assert page.locator("table.samples tbody tr td:nth-child(5)").all_inner_texts() == architectures
    page.get_by_role("link", name="NPL-CdSe/CdS/CdZnS-4.5ML").click()
    assert "NPL-CdSe/CdS/CdZnS-4.5ML" in page.locator("h1").inner_text()
    assert "core/crown/shell" in page.inner_text("#h-about + dl")
    fits = page.locator("#fits")
    # Table 8's Cd–S coordination number keeps the printed digits (shown, or in the title)
    cd_s = fits.locator("table.paths tr", has=page.locator("th", has_text="Cd–S")).first
    n_cell = cd_s.locator("td").first.inner_html()
    assert "2.911" in n_cell and "0.432" in n_cell
    shot(page, "sample-page", full_page=True)
    # lineage is clickable: go to the parent core/crown sample
    page.locator("#lineage").get_by_role("link", name="NPL-CdSe/CdS-4.5ML").click()
    assert "NPL-CdSe/CdS-4.5ML" in page.locator("h1").inner_text()


def test_log_run_with_deviation_and_product(member_page, app_server):
    page = member_page
    run_code, sample_code = unique("RUN-E2E"), unique("NPL-E2E-CROWN")
    page.get_by_role("link", name="Log a run", exact=True).click()
    choose_recipe(page, "nML CdSe/CdS core-crown NPLs")
    expect(page.locator("#id_step6-setpoint_value")).to_be_visible()
    assert_every_field_labelled(page)
    assert page.locator("#id_step6-setpoint_value").input_value() == "90"
    page.get_by_label("Run code").fill(run_code)
    page.get_by_label(re.compile("Input “cores”")).select_option(label="NPL-CdSe-4.5ML")
    page.locator("#id_step6-setpoint_value").fill("95")
    page.locator("#id_step6-deviation_note").fill("heated to 95 °C: thermocouple read low")
    page.get_by_label("Sample code").fill(sample_code)
    page.locator("#id_products-0-name").fill("E2E core/crown")
    page.locator("#id_products-0-material").fill("CdSe/CdS")
    page.get_by_label("Derived from inputs by").select_option("crown_growth")
    page.get_by_label("Layer 1 role").select_option("core")
    page.get_by_label("Layer 1 material").fill("CdSe")
    page.get_by_label("Layer 1 thickness (ML)").fill("4.5")
    page.get_by_label("Layer 2 role").select_option("crown")
    page.get_by_label("Layer 2 material").fill("CdS")
    shot(page, "log-run", full_page=False)
    page.get_by_role("button", name="Record run").click()
    expect(page.get_by_role("heading", name=f"Run {run_code}")).to_be_visible()
    deviations = page.locator("section", has=page.get_by_role("heading", name="Deviations"))
    text = deviations.inner_text()
    assert "set point 90 → 95 °C" in text and "thermocouple read low" in text
    shot(page, "run-page", full_page=True)
    page.get_by_role("link", name=sample_code).click()
    assert sample_code in page.locator("h1").inner_text()
    assert f"run {run_code}" in page.inner_text("#h-about + dl")
    parents = page.locator("#lineage").inner_text()
    assert "NPL-CdSe-4.5ML" in parents


def test_log_run_error_is_shown_beside_the_field(member_page, app_server):
    page = member_page
    page.goto(f"{app_server.url}/runs/new/")
    choose_recipe(page, "4.5 ML CdSe nanoplatelets")
    page.get_by_label("Run code").fill(unique("RUN-E2E-BAD"))
    first_unit = page.locator("input[name$='-setpoint_unit']:visible").first
    name = first_unit.get_attribute("name")
    first_unit.fill("degF/s")
    page.get_by_label("Sample code").fill(unique("NPL-E2E-BAD"))
    page.locator("#id_products-0-name").fill("bad")
    page.locator("#id_products-0-material").fill("CdSe")
    page.get_by_role("button", name="Record run").click()
    error = page.locator(f"#id_{name}_error")
    assert "degF/s" in error.inner_text()
    assert page.locator(f"input[name='{name}']").input_value() == "degF/s"
    shot(page, "log-run-error")


def test_upload_by_keyboard_file_dialog_shows_status_and_interactive_plot(member_page,
                                                                          app_server):
    page = member_page
    # Listening before the page loads turns on Playwright's file-chooser interception early;
    # enabling it only inside expect_file_chooser() races with the key press.
    page.on("filechooser", lambda chooser: None)
    open_sample(page, app_server.url, "NPL-CdSe-4.5ML")
    files_before = page.locator("ul.files .file").count()
    page.goto(page.url + "#files")
    zone = page.get_by_role("button", name=re.compile("Drop instrument files here"))
    zone.wait_for(state="visible")  # shown once the page's script has wired it up
    zone.focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")  # the drop zone is a real button: keyboard opens the dialog
    chooser.value.set_files([str(SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"),
                             str(SHARED_DATA / "instruments" / "xrdml" / "XRD-918-16_10.xrdml")])
    status = page.locator("[data-upload-status]")
    status.filter(has_text="Upload finished").wait_for()
    results = page.locator("[data-upload-results]")
    assert results.locator(".file").count() == 2
    assert results.get_by_text("✓ ok").count() == 2
    assert results.locator("img.preview").count() == 2
    plots = results.locator(".plot.plotted .main-svg")
    plots.first.wait_for()
    assert plots.count() >= 2
    # zoom: drag across the XRD plot, the x-axis range changes
    plot = results.locator(".plot.plotted").last
    plot.scroll_into_view_if_needed()
    # the page re-fetches its file and measurement sections after an upload: drag once the
    # page is quiet, so the drag lands on the plot that stays
    page.wait_for_load_state("networkidle")
    before = plot.evaluate("el => el._fullLayout.xaxis.range.slice()")
    box = plot.locator(".nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    width_before = before[1] - before[0]
    page.wait_for_function(
        "([el, w]) => el._fullLayout.xaxis.range[1] - el._fullLayout.xaxis.range[0] < w",
        arg=[plot.element_handle(), width_before], timeout=5000)
    after = plot.evaluate("el => el._fullLayout.xaxis.range.slice()")
    assert after[1] - after[0] < width_before
    results.locator(".file").last.scroll_into_view_if_needed()
    shot(page, "upload-plot")
    page.reload()
    assert page.locator("ul.files .file").count() == files_before + 2


def test_upload_unreadable_file_reports_parse_error(member_page, app_server, tmp_path):
    page = member_page
    junk = tmp_path / "notes.bin"
    # Recognised as XRDML by its content but cut short (unrecognised bytes become attachments).
    junk.write_bytes(b'<?xml version="1.0"?>\n<xrdMeasurements xmlns='
                     b'"http://www.xrdml.com/XRDMeasurement/1.5">\n<broken')
    open_sample(page, app_server.url, "NPL-CdSe-3.5ML")
    # the deferred script (after plotly) must have wired the input before a file is chosen
    page.locator("form.upload.js-upload").wait_for(state="attached")
    page.get_by_label("Files to attach").set_input_files(str(junk))
    status = page.locator("[data-upload-status]")
    status.filter(has_text=re.compile("Upload finished|Upload failed")).wait_for()
    assert status.inner_text().startswith(
        "✓ Upload finished — 1 file(s) could not be parsed, see below."), status.inner_text()
    result = page.locator("[data-upload-results] .file").first.inner_text()
    assert "✗ failed" in result and "Could not parse:" in result


def test_correlation_explorer(member_page, app_server):
    page = member_page
    page.get_by_role("link", name="Explore", exact=True).click()
    assert_every_field_labelled(page)
    page.get_by_label("x axis").select_option("core_ml")
    page.get_by_label("y axis").select_option("qy_pct")
    page.get_by_label("Group (colour and marker)").select_option("architecture")
    page.get_by_role("button", name="Plot", exact=True).click()
    expect(page).to_have_url(re.compile(
        r"/explore/\?x=core_ml&y=qy_pct&group=architecture&fit_choice=latest&"))
    points = page.locator("#explore-plot .scatterlayer .point")
    points.first.wait_for()
    assert points.count() >= 6  # the demo's six samples with a core ML and a QY; tests add more
    legend = page.locator("#explore-plot .legendtext").all_text_contents()
    assert {"core/crown/shell", "core/shell"} <= set(legend)
    assert page.locator("table.stats tbody tr").count() >= 3
    shot(page, "explore", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the table (CSV)").click()
    header = open(download.value.path(), encoding="utf-8").readline()
    assert header.startswith("sample_code,sample_id,architecture,core_ml")
    # The fit choice is a control, and the rule is printed beside the result (issue #14.7):
    # with each sample's latest fit the 6-month aged Cd fit of NPL-CdSe/CdZnS-4.5ML has no
    # Cd–Se path, so that sample drops out; its earliest fit brings it back.
    page.get_by_label("x axis").select_option("cd_s_cd_se_n_ratio")
    page.get_by_label("Group (colour and marker)").select_option(label="no grouping")
    page.get_by_role("button", name="Plot", exact=True).click()
    rule = page.locator("[data-fit-rule]")
    expect(rule).to_contain_text("NPL-CdSe/CdZnS-4.5ML: the Cd fit")
    expect(rule).to_contain_text("so the sample is excluded")
    expect(page.locator("table.eiv")).to_contain_text("York (2004)")
    page.get_by_label("Which fit represents a sample").select_option("earliest")
    page.get_by_role("button", name="Plot", exact=True).click()
    expect(rule).to_contain_text("each sample's earliest measurement and fit")
    expect(rule).not_to_contain_text("so the sample is excluded")


FIT_FIRST = """
import json
from pathlib import Path
from analysis import services
from characterization.models import XASSpectrum
from characterization.services import attach_data_file
from synthesis.models import Sample
from tests.analysis.test_fit_runs import fit_a_model

from labdb.lib import jobs

path = Path({path!r})
sample = Sample.objects.get(code="NPL-CdSe-4.5ML")
with jobs.inline():  # parse and fit here, now (the server's own jobs run in its pool)
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
    run = services.request_fit_run(spectrum=XASSpectrum.objects.get(data_file=data_file),
                                   model=fit_a_model())
run.refresh_from_db()
print(json.dumps({{"run": run.pk, "status": run.status, "fit": run.result_id,
                  "error": run.error}}))
"""

MAKE_STALE = """
from analysis.models import FitRun
from tests.analysis.test_fit_runs import fit_a_model

model = fit_a_model()
model["parameters"]["amp"]["value"] = 0.9
FitRun.objects.filter(pk={run}).update(model=model)
"""


@pytest.mark.slow
def test_refit_and_batch_refit_of_stale_fits(member_page, app_server):
    page = member_page
    path = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
    out = app_server.manage("shell", "-c", FIT_FIRST.format(path=str(path)))
    first = json.loads(out.stdout.strip().splitlines()[-1])
    assert first["status"] == "succeeded", first["error"]
    page.goto(f"{app_server.url}/fits/{first['fit']}/")
    page.get_by_role("button", name="Start refit").click()
    progress = page.locator("[data-progress-text]")
    progress.filter(has_text="Finished").wait_for(timeout=120_000)
    assert "1 of 1 done" in progress.inner_text()
    expect(page.locator("[data-run-rows]").get_by_text("succeeded")).to_be_visible()
    # the unchanged fit is reproduced (no new fit row): the link goes to the reproduced fit
    page.locator("[data-run-rows]").get_by_role("link", name=re.compile("reproduces fit")).click()
    assert "XAS fit of NPL-CdSe-4.5ML" in page.locator("h1").inner_text()
    chir = page.locator(".fit-plot[data-kind='chir']")
    chir.scroll_into_view_if_needed()
    chir.locator(".main-svg").first.wait_for()  # drawn by plotly from the fit's plot data
    shot(page, "fit", full_page=True)
    # the stored model changes: the fit becomes stale, and the batch refit picks it up
    app_server.manage("shell", "-c", MAKE_STALE.format(run=first["run"]))
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("button", name="Refit stale fits").click()
    progress = page.locator("[data-progress-text]")
    progress.filter(has_text="Finished").wait_for(timeout=120_000)
    assert page.locator("progress").get_attribute("value") == "100"
    shot(page, "refit-progress")


def test_api_token_page_create_use_rotate_revoke(member_page, app_server):
    import urllib.error
    import urllib.request

    def samples_status(key: str) -> int:
        request = urllib.request.Request(f"{app_server.url}/api/samples/?search=MSC-311",
                                         headers={"Authorization": f"Token {key}"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    page = member_page
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
    assert_every_field_labelled(page)
    page.get_by_role("button", name="Create a new token").click()
    key = page.get_by_label("New API key").input_value()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert samples_status(key) == 200
    shot(page, "api-tokens")
    row = page.locator("table.tokens tbody tr", has=page.get_by_text(f"{key[:15]}…"))
    row.get_by_role("button", name="Rotate").click()
    new_key = page.get_by_label("New API key").input_value()
    assert new_key != key and samples_status(key) == 401 and samples_status(new_key) == 200
    page.goto(f"{app_server.url}/account/tokens/")  # the key is not shown again
    assert page.get_by_label("New API key").count() == 0
    row = page.locator("table.tokens tbody tr", has=page.get_by_text(f"{new_key[:15]}…"))
    row.get_by_role("button", name="Revoke").click()
    assert f"Token {new_key[:15]}… revoked" in page.locator(".messages").inner_text()
    assert samples_status(new_key) == 401
