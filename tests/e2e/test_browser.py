"""The web UI in a real browser: login, logging a run, uploads with plots, refits, explorer."""

from __future__ import annotations

import re

import pytest

from tests.conftest import SHARED_DATA
from tests.e2e.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNLABELLED_FIELDS_JS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea'))
  .filter(el => el.labels === null || el.labels.length === 0)
  .map(el => el.name || el.id)"""


def assert_every_field_labelled(page):
    assert page.evaluate(UNLABELLED_FIELDS_JS) == []


def test_login_required_then_dashboard(page, live_server, demo):
    page.goto(f"{live_server.url}/samples/")
    assert page.url == f"{live_server.url}/accounts/login/?next=/samples/"
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert "Please enter a correct username and password" in page.inner_text("main")
    shot(page, "login")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-labdb")
    page.get_by_label("Password").press("Enter")  # keyboard submit
    page.wait_for_url(f"{live_server.url}/samples/")
    page.get_by_role("link", name="Dashboard").click()
    assert page.get_by_role("heading", name="Dashboard", level=1).is_visible()
    assert page.get_by_role("link", name="RUN-NPL-CdSe-4.5ML").is_visible()
    shot(page, "dashboard", full_page=True)


def test_sample_list_filters_and_sample_page(logged_in, live_server):
    page = logged_in
    page.get_by_role("link", name="Samples", exact=True).click()
    assert_every_field_labelled(page)
    page.get_by_label("Architecture").select_option("core/crown/shell")
    page.get_by_label("Core thickness (ML)").fill("4.5")
    page.get_by_role("button", name="Apply filters").click()
    assert "architecture=core%2Fcrown%2Fshell" in page.url and "core_ml=4.5" in page.url
    rows = page.locator("table.samples tbody tr")
    assert rows.count() == 1
    shot(page, "sample-list")
    page.reload()  # the URL reproduces the view
    assert page.locator("table.samples tbody tr").count() == 1
    page.get_by_role("link", name="NPL-CdSe/CdS/CdZnS-4.5ML").click()
    assert "NPL-CdSe/CdS/CdZnS-4.5ML" in page.locator("h1").inner_text()
    assert "core/crown/shell" in page.inner_text("#h-about + dl")
    fits = page.locator("#fits")
    assert "2.911 ± 0.432" in fits.inner_text()
    shot(page, "sample-page", full_page=True)
    # lineage is clickable: go to the parent core/crown sample
    page.locator("#lineage").get_by_role("link", name="NPL-CdSe/CdS-4.5ML").click()
    assert "NPL-CdSe/CdS-4.5ML" in page.locator("h1").inner_text()


def test_log_run_with_deviation_and_product(logged_in, live_server):
    page = logged_in
    from synthesis.models import Recipe

    recipe = Recipe.objects.get(slug="seed000-cdse-cds-core-crown")
    page.get_by_role("link", name="Log a run", exact=True).click()
    page.get_by_label("Recipe").select_option(str(recipe.pk))
    page.get_by_role("button", name="Start").click()
    assert page.locator("#id_step6-setpoint_value").is_visible()
    assert_every_field_labelled(page)
    assert page.locator("#id_step6-setpoint_value").input_value() == "90"
    page.get_by_label("Run code").fill("RUN-E2E-1")
    page.get_by_label(re.compile("Input “cores”")).select_option(label="NPL-CdSe-4.5ML")
    page.locator("#id_step6-setpoint_value").fill("95")
    page.locator("#id_step6-deviation_note").fill("heated to 95 °C: thermocouple read low")
    page.get_by_label("Sample code").fill("NPL-E2E-CROWN")
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
    assert page.get_by_role("heading", name="Run RUN-E2E-1").is_visible()
    deviations = page.locator("section", has=page.get_by_role("heading", name="Deviations"))
    text = deviations.inner_text()
    assert "setpoint_c" in text and "95" in text and "thermocouple read low" in text
    shot(page, "run-page", full_page=True)
    page.get_by_role("link", name="NPL-E2E-CROWN").click()
    assert "NPL-E2E-CROWN" in page.locator("h1").inner_text()
    assert "run RUN-E2E-1" in page.inner_text("#h-about + dl")
    parents = page.locator("#lineage").inner_text()
    assert "NPL-CdSe-4.5ML" in parents


def test_log_run_error_is_shown_beside_the_field(logged_in, live_server):
    page = logged_in
    from synthesis.models import Recipe

    recipe = Recipe.objects.get(slug="seed000-cdse-4-5ml")
    page.goto(f"{live_server.url}/runs/new/?recipe={recipe.pk}")
    page.get_by_label("Run code").fill("RUN-E2E-BAD")
    first_unit = page.locator("input[name$='-setpoint_unit']:visible").first
    name = first_unit.get_attribute("name")
    first_unit.fill("degF/s")
    page.get_by_label("Sample code").fill("NPL-E2E-BAD")
    page.locator("#id_products-0-name").fill("bad")
    page.locator("#id_products-0-material").fill("CdSe")
    page.get_by_role("button", name="Record run").click()
    error = page.locator(f"#id_{name}_error")
    assert "degF/s" in error.inner_text()
    assert page.locator(f"input[name='{name}']").input_value() == "degF/s"
    shot(page, "log-run-error")


def test_upload_by_keyboard_file_dialog_shows_status_and_interactive_plot(logged_in,
                                                                          live_server):
    page = logged_in
    from synthesis.models import Sample

    sample = Sample.objects.get(code="NPL-CdSe-4.5ML")
    # Listening before the page loads turns on Playwright's file-chooser interception early;
    # enabling it only inside expect_file_chooser() races with the key press.
    page.on("filechooser", lambda chooser: None)
    page.goto(f"{live_server.url}/samples/{sample.pk}/#files")
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
    before = plot.evaluate("el => el._fullLayout.xaxis.range.slice()")
    box = plot.locator(".nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    after = plot.evaluate("el => el._fullLayout.xaxis.range.slice()")
    assert after[1] - after[0] < before[1] - before[0]
    results.locator(".file").last.scroll_into_view_if_needed()
    shot(page, "upload-plot")
    page.reload()
    assert page.locator("ul.files .file").count() == 2


def test_upload_unreadable_file_reports_parse_error(logged_in, live_server, tmp_path):
    page = logged_in
    from synthesis.models import Sample

    junk = tmp_path / "notes.dat"
    junk.write_bytes(b"\x00\x01 this is not an instrument file" * 10)
    sample = Sample.objects.get(code="NPL-CdSe-3.5ML")
    page.goto(f"{live_server.url}/samples/{sample.pk}/")
    page.get_by_label("Files to attach").set_input_files(str(junk))
    page.locator("[data-upload-status]").filter(has_text="could not be parsed").wait_for()
    result = page.locator("[data-upload-results] .file").inner_text()
    assert "✗ failed" in result and "Could not parse:" in result


def test_correlation_explorer(logged_in, live_server):
    page = logged_in
    page.get_by_role("link", name="Explore", exact=True).click()
    assert_every_field_labelled(page)
    page.get_by_label("x axis").select_option("core_ml")
    page.get_by_label("y axis").select_option("qy_pct")
    page.get_by_label("Group (colour and marker)").select_option("architecture")
    page.get_by_role("button", name="Plot", exact=True).click()
    assert page.url.endswith("/explore/?x=core_ml&y=qy_pct&group=architecture")
    points = page.locator("#explore-plot .scatterlayer .point")
    points.first.wait_for()
    assert points.count() == 6
    legend = page.locator("#explore-plot .legendtext").all_text_contents()
    assert legend == ["core/crown/shell", "core/shell"]
    assert page.locator("table.stats tbody tr").count() == 3
    shot(page, "explore", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the table (CSV)").click()
    header = open(download.value.path(), encoding="utf-8").readline()
    assert header.startswith("sample_code,sample_id,architecture,core_ml")


@pytest.mark.slow
def test_refit_and_batch_refit_of_stale_fits(logged_in, live_server):
    page = logged_in
    from analysis import services
    from analysis.models import FitRun
    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from synthesis.models import Sample
    from tests.analysis.test_fit_runs import fit_a_model

    sample = Sample.objects.get(code="NPL-CdSe-4.5ML")
    path = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
    data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    first = services.request_fit_run(spectrum=spectrum, model=fit_a_model())  # runs on commit
    first.refresh_from_db()
    assert first.status == "succeeded", first.error
    page.goto(f"{live_server.url}/fits/{first.result_id}/")
    page.get_by_role("button", name="Start refit").click()
    progress = page.locator("[data-progress-text]")
    progress.filter(has_text="Finished").wait_for(timeout=120_000)
    assert "1 of 1 done" in progress.inner_text()
    assert page.locator("[data-run-rows]").get_by_text("succeeded").is_visible()
    page.locator("[data-run-rows]").get_by_role("link", name=re.compile("new fit")).click()
    assert "XAS fit of NPL-CdSe-4.5ML" in page.locator("h1").inner_text()
    chir = page.locator("img[alt^='|χ(R)|']")
    chir.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chir.element_handle())
    shot(page, "fit", full_page=True)
    # the stored model changes: the fit becomes stale, and the batch refit picks it up
    model = fit_a_model()
    model["parameters"]["amp"]["value"] = 0.9
    FitRun.objects.filter(pk=first.pk).update(model=model)
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("button", name="Refit stale fits").click()
    progress = page.locator("[data-progress-text]")
    progress.filter(has_text="Finished").wait_for(timeout=120_000)
    assert page.locator("progress").get_attribute("value") == "100"
    shot(page, "refit-progress")
