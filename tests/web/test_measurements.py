"""Sample page: hand-entered measurements (owner, curator, other member, anonymous), attachments,
downloads of stored files, and the sections refreshed after an upload."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from characterization.models import (
    AbsorptionMeasurement,
    DataFile,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
)
from tests.characterization.test_attachments import generated_png
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

QY_POST = {"qy-qy_pct": "62.5", "qy-qy_method": "relative", "qy-reference_dye": "rhodamine 6G",
           "qy-solvent": "hexane", "qy-excitation_nm": "405", "qy-measured_on": "",
           "qy-notes": "bench 3"}
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
XDI = SHARED_DATA / "instruments" / "xdi" / "cu_metal_rt.xdi"


@pytest.fixture
def sample(member):
    return builders.sample("NPL-WEB", actor=member, synthesis_date=dt.date(2026, 1, 5))


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _row_text(html: str, row_id: str) -> str:
    """The text of table row ``row_id``, tags removed, cells separated by " | "."""
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.split(r"</td>\s*<td>", row)]
    return " | ".join(" ".join(unescape(cell).split()) for cell in cells)


def _stamp(measurement) -> str:
    return timezone.localtime(measurement.created_at).strftime("%Y-%m-%d %H:%M")


def _add(client, sample, kind, data):
    return client.post(f"/samples/{sample.pk}/measurements/{kind}/", data)


def test_owner_adds_qy_and_sees_it_with_manual_badge(web, sample):
    response = _add(web, sample, "qy", QY_POST)
    pl = PLMeasurement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/samples/{sample.pk}/#m-qy-{pl.pk}"
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    row = re.search(rf'<tr id="m-qy-{pl.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "<td>62.5</td>" in row
    assert "relative (rhodamine 6G) · hexane · λex 405 nm" in row
    assert '<span aria-hidden="true">✎</span> manual</span>' in row
    assert "alice," in row and "— bench 3" in row
    assert f'href="/measurements/qy/{pl.pk}/edit/"' in row


def test_owner_adds_tem_size_absorption_and_quantity(web, sample):
    assert _add(web, sample, "tem", {"tem-dimension": "length", "tem-mean_nm": "21.3",
                                     "tem-sd_nm": "1.9", "tem-n_counted": "150"}).status_code == 302
    assert _add(web, sample, "absorption", {"absorption-peak_1s_nm": "512"}).status_code == 302
    assert _add(web, sample, "quantity", {"quantity-quantity": "PL lifetime",
                                          "quantity-value": "18.2", "quantity-err": "0.4",
                                          "quantity-unit": "ns"}).status_code == 302
    tem = TEMSizeMeasurement.objects.get()
    assert (tem.length_nm, tem.length_sd_nm, tem.n_counted, tem.source) == (
        21.3, 1.9, 150, "manual")
    assert AbsorptionMeasurement.objects.get().peak_1s_nm == 512.0
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert _row_text(html, f"m-tem-{tem.pk}") == (
        f"21.3 ± 1.9 | — | — | — | — | 150 | — | ✎ manual alice, {_stamp(tem)} edit")
    rq = ReportedQuantity.objects.get()
    assert _row_text(html, f"m-quantity-{rq.pk}") == (
        f"PL lifetime | 18.2 ± 0.4 ns | — | ✎ manual alice, {_stamp(rq)} edit")


def test_bad_qy_shows_error_beside_field_keeps_input_writes_nothing(web, sample):
    response = _add(web, sample, "qy", {**QY_POST, "qy-qy_pct": "120"})
    html = response.content.decode()
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_qy-qy_pct_error"><span aria-hidden="true">✗</span> '
            "QY (%): 120 % is not plausible; expected at least 0 and at most 100 % "
            "(a percentage).</p>") in html
    assert re.search(r'<input type="number" name="qy-qy_pct" value="120"', html)
    assert 'value="rhodamine 6G"' in html
    assert '<details class="manual-entry" id="add-qy" open>' in html
    assert PLMeasurement.objects.count() == 0


def test_unknown_unit_error_beside_unit_field(web, sample):
    response = _add(web, sample, "quantity", {"quantity-quantity": "lifetime",
                                              "quantity-value": "3", "quantity-unit": "nsec2"})
    assert response.status_code == 400
    assert ('id="id_quantity-unit_error"><span aria-hidden="true">✗</span> unit: \'nsec2\' is '
            "not a unit labdb knows; expected a unit such as nm, eV, meV, ns, K, °, Å⁻¹, mol/L "
            "or %, or no unit.</p>") in unescape(response.content.decode())
    assert ReportedQuantity.objects.count() == 0


def test_not_a_number_is_a_form_error(web, sample):
    response = _add(web, sample, "pl", {"pl-peak_nm": "5l2"})
    assert response.status_code == 400
    assert "Enter a number, e.g. 62.5 (a dot for decimals)." in response.content.decode()


def test_other_member_reads_but_cannot_add(other_member, sample):
    client = _login(other_member)
    html = client.get(f"/samples/{sample.pk}/").content.decode()
    assert "Only the owner of NPL-WEB (alice) and curators add measurements." in html
    assert "/measurements/qy/" not in html
    assert _add(client, sample, "qy", QY_POST).status_code == 403
    assert PLMeasurement.objects.count() == 0


def test_curator_adds_to_any_sample(curator, sample):
    assert _add(_login(curator), sample, "pl", {"pl-peak_nm": "512", "pl-fwhm_nm": "9"}
                ).status_code == 302
    assert PLMeasurement.objects.get().owner == curator


def test_anonymous_is_sent_to_login(client, sample):
    response = _add(client, sample, "qy", QY_POST)
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/accounts/login/")
    assert PLMeasurement.objects.count() == 0


def test_edit_with_version_then_stale_edit_409_names_who(web, sample, curator):
    _add(web, sample, "pl", {"pl-peak_nm": "512", "pl-fwhm_nm": "9"})
    pl = PLMeasurement.objects.get()
    url = f"/measurements/pl/{pl.pk}/edit/"
    page = web.get(url).content.decode()
    assert '<input type="hidden" name="version" value="1">' in page
    assert 'name="pl-peak_nm" value="512.0"' in page
    changed = _login(curator).post(url, {"version": "1", "pl-peak_nm": "514", "pl-fwhm_nm": "9"})
    assert changed.status_code == 302
    stale = web.post(url, {"version": "1", "pl-peak_nm": "500", "pl-fwhm_nm": "9"})
    assert stale.status_code == 409
    assert ("This PL peak was changed by carol since you opened it (your version 1, now version "
            "2) — reload the page to see the change, then edit again.") in stale.content.decode()
    assert PLMeasurement.objects.get().peak_nm == 514.0


def test_other_member_cannot_open_edit_and_author_retires(web, other_member, sample):
    _add(web, sample, "pl", {"pl-peak_nm": "512"})
    pl = PLMeasurement.objects.get()
    assert _login(other_member).get(f"/measurements/pl/{pl.pk}/edit/").status_code == 403
    no_reason = web.post(f"/measurements/pl/{pl.pk}/retire/", {"version": "1", "reason": ""})
    assert no_reason.status_code == 400
    assert "reason: say why this record is retired." in no_reason.content.decode()
    retired = web.post(f"/measurements/pl/{pl.pk}/retire/", {"version": "1", "reason": "typo"})
    assert retired.status_code == 302
    assert PLMeasurement.objects.get().is_retired is True
    assert f'id="m-pl-{pl.pk}"' not in web.get(f"/samples/{sample.pk}/").content.decode()


def test_retired_manual_value_listed_and_restored_by_its_author_only(web, other_member, sample):
    _add(web, sample, "pl", {"pl-peak_nm": "512"})
    pl = PLMeasurement.objects.get()
    web.post(f"/measurements/pl/{pl.pk}/retire/", {"version": "1", "reason": "wrong vial"})
    page = web.get(f"/samples/{sample.pk}/").content.decode()
    assert f'href="/samples/{sample.pk}/retired-measurements/"' in page
    listed = web.get(f"/samples/{sample.pk}/retired-measurements/").content.decode()
    item = re.search(rf'<li class="card" id="retired-pl-{pl.pk}">(.*?)</li>', listed, re.S).group(1)
    assert "peak nm <strong>512.0</strong>" in item and "“wrong vial”" in item
    assert f'action="/measurements/pl/{pl.pk}/restore/"' in item
    other = _login(other_member)
    other_view = other.get(f"/samples/{sample.pk}/retired-measurements/").content.decode()
    assert "Only its author or a curator can restore it." in other_view
    refused = other.post(f"/measurements/pl/{pl.pk}/restore/", {"reason": "mine"}, follow=True)
    assert "can restore it" in unescape(refused.content.decode())
    assert PLMeasurement.objects.get().is_retired is True
    no_reason = web.post(f"/measurements/pl/{pl.pk}/restore/", {"reason": " "}, follow=True)
    assert "reason: say why this record is restored." in unescape(no_reason.content.decode())
    restored = web.post(f"/measurements/pl/{pl.pk}/restore/", {"reason": "right vial after all"})
    assert restored.status_code == 302
    assert restored["Location"] == f"/samples/{sample.pk}/#m-pl-{pl.pk}"
    pl.refresh_from_db()
    assert (pl.is_retired, pl.version) == (False, 3)
    assert pl.history.first().history_change_reason == "restored: right vial after all"
    assert f'id="m-pl-{pl.pk}"' in web.get(f"/samples/{sample.pk}/").content.decode()
    assert web.post(f"/measurements/pl/{pl.pk}/restore/", {"reason": "x"}).status_code == 404


# --- files: attachments, downloads, refresh after upload ---------------------------------------

def _upload(client, sample, name, content):
    return client.post(f"/samples/{sample.pk}/files/",
                       {"files": [SimpleUploadedFile(name, content)]},
                       headers={"X-Requested-With": "fetch"})


def test_png_upload_listed_as_attachment_with_thumbnail(web, sample):
    html = _upload(web, sample, "vial.png", generated_png()).content.decode()
    stored = DataFile.objects.get()
    assert "📎</span> attachment" in html and "Could not parse" not in html
    page = web.get(f"/samples/{sample.pk}/").content.decode()
    attachments = re.search(r'<ul class="attachments plain">(.*?)</ul>', page, re.S).group(1)
    assert f'src="/files/{stored.pk}/preview.png"' in attachments
    assert f"sha256 <code>{stored.sha256[:12]}</code>" in attachments
    assert "· alice ·" in attachments
    assert f'href="/files/{stored.pk}/download/"' in attachments
    assert web.get(f"/files/{stored.pk}/preview.png")["Content-Type"] == "image/png"
    dashboard = web.get("/").content.decode()
    assert "vial.png" not in dashboard.split('id="h-parses"')[1].split("</section>")[0]


def test_download_raw_file_from_sample_page_is_byte_identical(web, sample, client):
    content = XDI.read_bytes()
    _upload(web, sample, XDI.name, content)
    stored = DataFile.objects.get()
    page = web.get(f"/samples/{sample.pk}/").content.decode()
    link = re.search(r'href="(/files/\d+/download/)" download="cu_metal_rt.xdi"', page).group(1)
    response = web.get(link)
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == stored.sha256 == hashlib.sha256(content).hexdigest()
    assert response["Content-Disposition"] == 'attachment; filename="cu_metal_rt.xdi"'
    assert response["ETag"] == f'"{stored.sha256}"'
    assert client.get(link).status_code == 302  # anonymous: to the login page


def test_sections_after_upload_show_the_parsed_measurement(web, sample):
    before = web.get(f"/samples/{sample.pk}/sections.json").json()
    assert "No measurements recorded." in before["measurements"]
    _upload(web, sample, CARY.name, CARY.read_bytes())
    row = AbsorptionMeasurement.objects.get(data_file__original_name=CARY.name)
    after = web.get(f"/samples/{sample.pk}/sections.json").json()
    assert f'<tr id="m-absorption-{row.pk}">' in after["measurements"]
    assert "◆</span> measured" in after["measurements"]
    assert f'id="file-{row.data_file_id}"' in after["files"]


def test_sample_page_query_count_same_at_one_and_three_manual_rows_and_attachments(web, sample):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_one(i):
        _add(web, sample, "pl", {"pl-peak_nm": str(510 + i)})
        _add(web, sample, "quantity", {"quantity-quantity": f"q{i}", "quantity-value": "1"})
        _upload(web, sample, f"photo-{i}.png", generated_png(40 + i, 30))

    add_one(0)
    with CaptureQueriesContext(connection) as one:
        assert web.get(f"/samples/{sample.pk}/").status_code == 200
    add_one(1)
    add_one(2)
    with CaptureQueriesContext(connection) as three:
        html = web.get(f"/samples/{sample.pk}/").content.decode()
    assert html.count("✎</span> manual</span> <span") == 6
    assert html.count('<li class="file attachment"') == 3
    assert len(three) == len(one)


def test_upload_without_js_says_photo_stored_as_attachment(web, sample):
    response = web.post(f"/samples/{sample.pk}/files/",
                        {"files": [SimpleUploadedFile("vial.png", generated_png(50, 40))]},
                        follow=True)
    assert response.redirect_chain[-1][0] == f"/samples/{sample.pk}/#files"
    assert "vial.png: stored as an attachment" in response.content.decode()
