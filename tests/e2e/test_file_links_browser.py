"""In a real browser, against the server ``make run`` starts: one stored file on two samples,
unlinking it from one and linking it again, declaring the absorber of an XAS file that does
not state it, and files linked to a synthesis run.

Files are real ones from /work/shared/data: the Cary UV-vis export (its 1S absorption row is
the measurement that must appear on each sample), the SSRL microprobe scan (10900–11411 eV, no
element in its header: Ge K) and a JEOL TIFF as the "flask photo" of a run. Parsing runs as a
background job, so every row is waited for (Playwright expect with a timeout, or the page
reloaded until the server has it), never assumed present at once.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
SSRL = SHARED_DATA / "xas" / "beamlines" / "SSRLmicro_2008.dat"
PHOTO = SHARED_DATA / "instruments" / "tiff" / "JEOL-SightX-SAED-dummy.tif"
WAIT_MS = 60_000

CREATE_SAMPLES = """
from django.contrib.auth.models import User
from synthesis.services import create_sample
demo = User.objects.get(username="demo")
for code in {codes!r}:
    s = create_sample(data={{"code": code, "name": "browser file links", "material": "CdSe",
                             "morphology": "NPL"}}, layers=[], parents=[], actor=demo)
    print(s.pk)
"""

CREATE_RUN = """
from django.contrib.auth.models import User
from synthesis.models import Recipe
from synthesis.services import record_synthesis_run
demo = User.objects.get(username="demo")
recipe = Recipe.objects.filter(is_current=True, is_retired=False).order_by("id").first()
run = record_synthesis_run(data={{"code": "{code}"}}, recipe=recipe, actor=demo,
                           unknown_inputs=[i.name for i in recipe.inputs.all()])
print(run.pk)
"""


def _samples(app_server, n: int) -> list[tuple[str, int]]:
    """``n`` new samples owned by the demo member, with unique codes (shared database)."""
    tag = uuid.uuid4().hex[:6].upper()
    codes = [f"NPL-LINK-{tag}-{chr(65 + i)}" for i in range(n)]
    out = app_server.manage("shell", "-c", CREATE_SAMPLES.format(codes=codes))
    return list(zip(codes, [int(x) for x in out.stdout.split()[-n:]], strict=True))


def _upload_on_sample_page(page, app_server, pk: int, path) -> None:
    page.goto(f"{app_server.url}/samples/{pk}/#files")
    page.get_by_role("button", name=re.compile("Drop instrument files here")).wait_for()
    page.get_by_label("Files to attach").set_input_files(str(path))
    page.locator("[data-upload-status]").filter(
        has_text=re.compile("Upload finished|Stored")).wait_for(timeout=WAIT_MS)


def _reload_until(page, selector: str, *, timeout_s: float = 60) -> None:
    """Reload until ``selector`` is on the page (the parse job writes the rows later)."""
    deadline = time.monotonic() + timeout_s
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} did not appear in {timeout_s} s"
        time.sleep(1)
        page.reload()


def _absorption_rows(page):
    return page.locator("[data-section=measurements] tr[id^='m-absorption-']")


def test_same_file_on_two_samples_then_unlinked_and_linked_again(member_page, app_server):
    from playwright.sync_api import expect

    page = member_page
    (code_a, pk_a), (code_b, pk_b) = _samples(app_server, 2)
    _upload_on_sample_page(page, app_server, pk_a, CARY)
    _upload_on_sample_page(page, app_server, pk_b, CARY)
    expect(page.locator("[data-upload-results] [data-already-stored]")).to_have_text(
        f"{CARY.name}: already stored — linked to {code_b}", timeout=WAIT_MS)

    for pk, other in ((pk_a, code_b), (pk_b, code_a)):
        page.goto(f"{app_server.url}/samples/{pk}/")
        _reload_until(page, "[data-section=measurements] tr[id^='m-absorption-']")
        expect(_absorption_rows(page)).to_have_count(1)
        item = page.locator("ul.files li.file").filter(has_text=CARY.name)
        expect(item.locator("[data-file-samples]")).to_contain_text(other)

    # Unlink from A with a reason: the file and its row leave A only.
    page.goto(f"{app_server.url}/samples/{pk_a}/")
    item = page.locator("ul.files li.file").filter(has_text=CARY.name)
    item.get_by_text(f"Unlink from {code_a}").click()
    item.get_by_label(f"Why does this file not belong to {code_a}?").fill("scan of sample B only")
    item.get_by_role("button", name="Unlink").click()
    expect(page.locator(".messages")).to_contain_text(f"{CARY.name}: unlinked from {code_a}")
    expect(page.locator("ul.files li.file").filter(has_text=CARY.name)).to_have_count(0)
    expect(_absorption_rows(page)).to_have_count(0)
    unlinked = page.locator("[data-unlinked-files]")
    unlinked.get_by_text("Unlinked files (1)").click()
    expect(unlinked.locator(f"[data-unlinked-file='{CARY.name}']")).to_contain_text(
        "scan of sample B only")
    page.goto(f"{app_server.url}/samples/{pk_b}/")
    expect(_absorption_rows(page)).to_have_count(1)

    # Link it again: the same row comes back on A.
    page.goto(f"{app_server.url}/samples/{pk_a}/")
    page.locator("[data-unlinked-files]").get_by_text("Unlinked files (1)").click()
    page.get_by_role("button", name=f"Link again to {code_a}").click()
    expect(page.locator(".messages")).to_contain_text(f"{CARY.name}: linked to {code_a}")
    expect(page.locator("ul.files li.file").filter(has_text=CARY.name)).to_have_count(1)
    expect(_absorption_rows(page)).to_have_count(1)
    expect(page.locator("[data-unlinked-files]")).to_have_count(0)


def test_declare_the_absorber_of_an_xas_file_that_does_not_state_it(member_page, app_server):
    from playwright.sync_api import expect

    page = member_page
    ((code, pk),) = _samples(app_server, 1)
    _upload_on_sample_page(page, app_server, pk, SSRL)
    page.goto(f"{app_server.url}/samples/{pk}/")
    _reload_until(page, "form[data-declare-xas]")
    form = page.locator("form[data-declare-xas]")
    expect(form).to_contain_text("This file does not say which absorber it is (element unknown).")
    expect(page.locator("#fits")).not_to_contain_text("Ge K edge")
    form.get_by_label("Element").fill("Ge")
    form.get_by_label("Edge").fill("K")
    form.get_by_role("button", name="Declare").click()
    expect(page.locator(".messages")).to_contain_text(f"{SSRL.name}: declared Ge K")
    expect(page.locator("form[data-declare-xas]")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"Ge K edge · fluorescence · SSRL"))).to_have_count(1)


def test_a_file_linked_to_a_run_listed_downloaded_and_unlinked(member_page, app_server,
                                                               tmp_path):
    from playwright.sync_api import expect

    page = member_page
    code = f"RUN-LINK-{uuid.uuid4().hex[:6].upper()}"
    pk = int(app_server.manage("shell", "-c", CREATE_RUN.format(code=code)).stdout.split()[-1])
    page.goto(f"{app_server.url}/runs/{pk}/")
    expect(page.locator("[data-no-run-files]")).to_have_text("No files linked to this run.")
    form = page.locator("form[data-run-upload]")
    form.get_by_label(re.compile("^Files of this run")).set_input_files(str(PHOTO))
    form.get_by_label("Note").fill("flask at 240 °C")
    form.get_by_role("button", name=f"Upload to {code}").click()
    messages = page.locator(".messages")
    expect(messages).to_contain_text(re.compile(
        rf"{re.escape(PHOTO.name)}: (stored for run|already stored — linked to run) {code}"))
    item = page.locator(f"[data-run-file='{PHOTO.name}']")
    expect(item).to_contain_text("flask at 240 °C")
    with page.expect_download() as info:
        item.get_by_role("link", name=f"Download {PHOTO.name}").click()
    saved = tmp_path / PHOTO.name
    info.value.save_as(saved)
    assert saved.read_bytes() == PHOTO.read_bytes()

    # The same bytes again: already stored, linked to this run once.
    form = page.locator("form[data-run-upload]")
    form.get_by_label(re.compile("^Files of this run")).set_input_files(str(PHOTO))
    form.get_by_role("button", name=f"Upload to {code}").click()
    expect(page.locator(".messages")).to_contain_text(
        f"{PHOTO.name}: already stored — linked to run {code}")
    expect(page.locator(f"[data-run-file='{PHOTO.name}']")).to_have_count(1)

    item = page.locator(f"[data-run-file='{PHOTO.name}']")
    item.get_by_text(f"Unlink from {code}").click()
    item.get_by_label(f"Why does this file not belong to run {code}?").fill("another flask")
    item.get_by_role("button", name="Unlink").click()
    expect(page.locator(".messages")).to_contain_text(f"{PHOTO.name}: unlinked from run {code}")
    expect(page.locator("[data-no-run-files]")).to_be_visible()
    unlinked = page.locator("[data-run-unlinked]")
    unlinked.get_by_text("Unlinked files (1)").click()
    expect(unlinked).to_contain_text("another flask")
    unlinked.get_by_role("button", name=f"Link again to {code}").click()
    expect(page.locator(".messages")).to_contain_text(f"{PHOTO.name}: linked to run {code}")
    expect(page.locator(f"[data-run-file='{PHOTO.name}']")).to_have_count(1)
