"""Curators' admin: every model page, history with revert, all-or-nothing CSV/XLSX import."""

from __future__ import annotations

import pytest
from django.contrib import admin

from labdb.lib.errors import DomainError
from synthesis import services
from synthesis.importing import export_table, import_table
from synthesis.models import Chemical, Sample
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, curator):
    curator.is_staff = True
    curator.is_superuser = True
    curator.save()
    client.force_login(curator)
    return client


def test_every_registered_model_has_a_working_changelist(admin_client):
    builders.sample("NPL-ADMIN", core_ml=4.5)
    for model in admin.site._registry:
        meta = model._meta
        response = admin_client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, meta.label


def test_sample_change_page_has_layer_and_parent_inlines(admin_client):
    core = builders.sample("C1", core_ml=4.5)
    shell = builders.sample("C1/S", parents=[{"parent": core, "process": "shell_growth"}])
    page = admin_client.get(f"/admin/synthesis/sample/{shell.pk}/change/").content.decode()
    assert "parents (lineage)" in page.lower()
    assert "Sample layers" in page


def test_history_shows_who_and_what_and_can_revert(admin_client, member):
    sample = builders.sample("HIST-1", actor=member)
    services.update_sample(
        sample=sample, expected_version=1, changes={"notes": "second"}, actor=member
    )
    history = admin_client.get(f"/admin/synthesis/sample/{sample.pk}/history/").content.decode()
    assert "alice" in history
    first = sample.history.earliest()
    revert = admin_client.post(
        f"/admin/synthesis/sample/{sample.pk}/history/{first.history_id}/",
        {
            "code": "HIST-1",
            "name": "HIST-1",
            "material": "CdSe",
            "morphology": "NPL",
            "crystal_phase": "unknown",
            "notes": "",
            "extra": "{}",
            "owner": member.pk,
            "layers-TOTAL_FORMS": "0",
            "layers-INITIAL_FORMS": "0",
            "parent_links-TOTAL_FORMS": "0",
            "parent_links-INITIAL_FORMS": "0",
        },
    )
    assert revert.status_code == 302, revert.content.decode()[:2000]
    sample.refresh_from_db()
    assert sample.notes == ""
    assert sample.history.count() == 3


def test_delete_is_not_offered_retire_asks_for_a_reason(admin_client, curator):
    sample = builders.sample("NODEL")
    assert admin_client.get(f"/admin/synthesis/sample/{sample.pk}/delete/").status_code == 403
    action = {"action": "retire_selected", "_selected_action": [sample.pk]}
    confirm = admin_client.post("/admin/synthesis/sample/", action)
    assert confirm.status_code == 200
    assert confirm.templates[0].name == "admin/labdb/retire_confirmation.html"
    assert "Why these records are retired" in confirm.content.decode()
    empty = admin_client.post("/admin/synthesis/sample/",
                              {**action, "confirm_retire": "yes", "reason": "  "})
    assert empty.status_code == 200
    assert "This field is required." in empty.content.decode()
    sample.refresh_from_db()
    assert sample.is_retired is False
    done = admin_client.post("/admin/synthesis/sample/",
                             {**action, "confirm_retire": "yes", "reason": "duplicate of NPL-12"})
    assert done.status_code == 302
    sample.refresh_from_db()
    assert (sample.is_retired, sample.retired_reason) == (True, "duplicate of NPL-12")
    last = sample.history.latest()
    assert (last.history_change_reason, last.history_user) == (
        "retired: duplicate of NPL-12", curator)


def test_staff_who_is_not_a_curator_is_refused(client, db):
    from django.contrib.auth.models import Permission, User

    staff = User.objects.create_user("dave", password="pw-dave-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="synthesis"))
    client.force_login(staff)
    sample = builders.sample("STAFF-1")
    assert client.get("/admin/synthesis/sample/").status_code == 403
    assert client.get(f"/admin/synthesis/sample/{sample.pk}/change/").status_code == 403
    assert client.get("/admin/synthesis/sample/import/").status_code == 403
    assert client.get("/admin/characterization/xasfit/").status_code == 403
    refused = client.post("/admin/synthesis/sample/", {
        "action": "retire_selected", "_selected_action": [sample.pk],
        "confirm_retire": "yes", "reason": "not mine to retire"})
    assert refused.status_code == 403
    sample.refresh_from_db()
    assert sample.is_retired is False


def test_flag_page_links_to_the_flagged_record_and_the_record_lists_its_flags(admin_client):
    sample = builders.sample("FLAG-1")
    flag = services.flag_record(target=sample, message="QY printed as 112 %", kind="typo",
                                location="Table 1")
    page = admin_client.get(f"/admin/synthesis/dataflag/{flag.pk}/change/").content.decode()
    assert f'<a href="/admin/synthesis/sample/{sample.pk}/change/">sample: FLAG-1</a>' in page
    listing = admin_client.get("/admin/synthesis/dataflag/").content.decode()
    assert f'<a href="/admin/synthesis/sample/{sample.pk}/change/">sample {sample.pk}</a>' in listing
    record = admin_client.get(f"/admin/synthesis/sample/{sample.pk}/change/").content.decode()
    assert "data flags on this record" in record.lower()
    assert "QY printed as 112 %" in record
    assert f"/admin/synthesis/dataflag/{flag.pk}/change/" in record


GOOD_CSV = (
    b"name,formula,cas,supplier,purity,grade,notes\n"
    b"oleic acid,C18H34O2,112-80-1,Aldrich,90%,technical,\n"
    b"1-octadecene,C18H36,112-88-9,Aldrich,90%,technical,\n"
)
BAD_CSV = (
    b"name,formula,cas,supplier,purity,grade,notes\n"
    b"oleic acid,C18H34O2,112-80-1,Aldrich,90%,technical,\n"
    b"selenium,Se,not-a-cas,Aldrich,99.99%,,\n"
)


def test_chemical_csv_import_all_rows():
    assert import_table(kind="chemicals", content=GOOD_CSV, file_format="csv") == {
        "new": 2,
        "updated": 0,
        "skipped": 0,
    }
    assert sorted(Chemical.objects.values_list("name", flat=True)) == ["1-octadecene", "oleic acid"]


def test_chemical_csv_with_bad_row_rejected_whole():
    with pytest.raises(DomainError) as err:
        import_table(kind="chemicals", content=BAD_CSV, file_format="csv")
    assert err.value.message == (
        "chemicals file rejected, nothing imported: row 2: cas: expected a CAS number such as "
        "7782-49-2."
    )
    assert Chemical.objects.count() == 0


def test_sample_export_and_xlsx_reimport_round_trip():
    core = builders.sample("EXP-1", core_ml=4.5)
    builders.sample("EXP-2", parents=[{"parent": core, "process": "shell_growth"}])
    csv_text = export_table(kind="samples", file_format="csv").decode()
    assert "EXP-2" in csv_text and "EXP-1" in csv_text.splitlines()[2]
    xlsx = export_table(kind="samples", file_format="xlsx")
    Sample.objects.filter(code="EXP-1").update(notes="changed locally")
    result = import_table(kind="samples", content=xlsx, file_format="xlsx")
    assert result["updated"] + result["skipped"] == 2
    assert Sample.objects.get(code="EXP-1").notes == ""
