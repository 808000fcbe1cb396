"""In a real browser: a lab member types a QY (with its method) and a TEM size on a sample page
and sees them with the "manual" badge; drops a photo and sees it as an attachment with a
thumbnail; uploads a raw file whose measurement appears without a reload, and downloads it.

The PNG is GENERATED with Pillow (no photo is vendored in the shared data); the UV-vis file is
the real Cary export from /work/shared/data.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import uuid

import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"

CREATE_SAMPLE = """
from django.contrib.auth.models import User
from synthesis.services import create_sample
demo = User.objects.get(username="demo")
sample = create_sample(data={{"code": "{code}", "name": "browser manual entry",
                              "material": "CdSe", "morphology": "NPL"}},
                       layers=[], parents=[], actor=demo)
print(sample.pk)
"""

DROP_FILE_JS = """([selector, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  const zone = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true,
                                            cancelable: true}));
  }
}"""


def _generated_png() -> bytes:
    from PIL import Image

    image = Image.linear_gradient("L").resize((800, 600)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class WithoutFormAnswer400:
    """The page's console errors minus chromium's note that ``url`` answered HTTP 400 — the
    deliberate status of a form sent back with errors — whenever that note arrives."""

    NOTE = "console: Failed to load resource: the server responded with a status of 400"

    def __init__(self, errors: list, url: str):
        self.errors, self.url = errors, url

    def __iter__(self):
        return (e for e in self.errors if not (e.startswith(self.NOTE) and self.url in e))


@pytest.fixture
def own_sample(app_server):
    """A sample owned by the demo member, with a unique code (the database is shared)."""
    code = f"NPL-MAN-{uuid.uuid4().hex[:6].upper()}"
    out = app_server.manage("shell", "-c", CREATE_SAMPLE.format(code=code))
    return code, int(out.stdout.strip().splitlines()[-1])


def test_manual_qy_and_tem_size_shown_with_manual_badge(member_page, app_server, own_sample):
    page = member_page
    code, pk = own_sample
    page.goto(f"{app_server.url}/samples/{pk}/")
    page.get_by_text("Quantum yield", exact=True).click()
    qy = page.get_by_role("form", name="Add Quantum yield")
    qy.get_by_label("QY (%)").fill("71.5")
    qy.get_by_label("Method").select_option("absolute")
    qy.get_by_label("Solvent").fill("hexane")
    qy.get_by_label("Excitation wavelength (nm)").fill("405")
    qy.get_by_role("button", name="Add QY").click()
    page.wait_for_url(re.compile(rf"/samples/{pk}/#m-qy-\d+$"))
    row = page.locator("tr[id^='m-qy-']")
    assert row.locator("td").nth(3).inner_text() == "71.5"
    assert row.locator("td").nth(4).inner_text() == "absolute · hexane · λex 405 nm"
    assert row.locator(".badge-manual").inner_text() == "✎ manual"

    page.get_by_text("TEM size", exact=True).click()
    tem = page.get_by_role("form", name="Add TEM size")
    tem.get_by_label("What was measured").select_option("edge")
    tem.get_by_label("Mean (nm)").fill("12.4")
    tem.get_by_label("SD (nm)").fill("0.8")
    tem.get_by_label("N counted").fill("212")
    tem.get_by_role("button", name="Add TEM size").click()
    page.wait_for_url(re.compile(rf"/samples/{pk}/#m-tem-\d+$"))
    row = page.locator("tr[id^='m-tem-']")
    assert row.locator("td").nth(4).inner_text() == "12.4 ± 0.8"
    assert row.locator("td").nth(5).inner_text() == "212"
    assert row.locator(".badge-manual").inner_text() == "✎ manual"


def test_bad_qy_error_beside_field_keeps_what_was_typed(member_page, app_server, own_sample):
    page = member_page
    _, pk = own_sample
    page.goto(f"{app_server.url}/samples/{pk}/")
    page.get_by_text("Quantum yield", exact=True).click()
    qy = page.get_by_role("form", name="Add Quantum yield")
    qy.get_by_label("QY (%)").fill("130")
    qy.get_by_label("Method").select_option("relative")
    page.js_errors = WithoutFormAnswer400(page.js_errors, f"/samples/{pk}/measurements/qy/")
    qy.get_by_role("button", name="Add QY").click()
    qy = page.get_by_role("form", name="Add Quantum yield")
    assert qy.locator("#id_qy-qy_pct_error").inner_text() == (
        "✗ QY (%): 130 % is not plausible; expected at least 0 and at most 100 % "
        "(a percentage).")
    assert qy.get_by_label("QY (%)").input_value() == "130"
    assert page.locator("tr[id^='m-qy-']").count() == 0


def test_drop_png_attachment_upload_raw_file_and_download(member_page, app_server, own_sample,
                                                          tmp_path):
    page = member_page
    _, pk = own_sample
    page.goto(f"{app_server.url}/samples/{pk}/#files")
    page.get_by_role("button", name=re.compile("Drop instrument files here")).wait_for()
    png = _generated_png()
    page.evaluate(DROP_FILE_JS, ["[data-dropzone]", "vial-photo.png", "image/png",
                                 base64.b64encode(png).decode()])
    status = page.locator("[data-upload-status]")
    status.filter(has_text="Upload finished").wait_for()
    result = page.locator("[data-upload-results] .file.attachment")
    assert "📎 attachment" in result.inner_text()
    thumb = result.locator("img.thumbnail")
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.element_handle())
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [360, 270]

    # A raw file: its measurement appears in the measurements section without a reload.
    assert page.locator("[data-section=measurements] tr[id^='m-absorption-']").count() == 0
    page.get_by_label("Files to attach").set_input_files(str(CARY))
    page.locator("[data-section=measurements] tr[id^='m-absorption-']").wait_for()
    assert "◆ measured" in page.locator("tr[id^='m-absorption-']").inner_text()

    page.reload()
    assert page.locator("ul.attachments .file").filter(has_text="vial-photo.png").count() == 1
    raw = page.locator("ul.files .file").filter(has_text=CARY.name)
    sha = raw.locator("[title^='sha256 ']").get_attribute("title").split()[1]
    with page.expect_download() as info:
        raw.get_by_role("link", name=f"Download {CARY.name}").click()
    saved = tmp_path / "downloaded.csv"
    info.value.save_as(saved)
    assert info.value.suggested_filename == CARY.name
    data = saved.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha == hashlib.sha256(CARY.read_bytes()).hexdigest()
