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
    link = f'<a href="/admin/synthesis/sample/{sample.pk}/change/">sample {sample.pk}</a>'
    assert link in listing
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


# --- sample import with layers and parents ---------------------------------------------------

SAMPLE_HEADER = "code,name,material,morphology,crystal_phase,notes,layers,parents\n"
STACK_CSV = (
    SAMPLE_HEADER
    + "IMP-core,4.5 ML core,CdSe,NPL,ZB,,core:CdSe:4.5 ML,\n"
    + "IMP-cs,core/shell,CdSe/CdS,NPL,ZB,,core:CdSe:4.5 ML; shell:CdS:2 ML,"
    + "IMP-core (shell_growth)\n"
    + 'IMP-grad,gradient,CdSe/CdZnS,NPL,ZB,,"core:CdSe:4.5 ML; shell:CdZnS:x=0.5:gradient",'
    + "IMP-core (shell_growth); IMP-cs (aliquot)\n"
)


def _import_through_admin(client, content: bytes, name: str, fmt: str):
    """Upload as a curator, then confirm the dry run (the admin's two steps)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = client.get("/admin/synthesis/sample/import/").context["form"]
    choice = next(value for value, label in form.fields["format"].choices
                  if str(label).lower() == fmt)
    upload = SimpleUploadedFile(name, content)
    dry = client.post("/admin/synthesis/sample/import/",
                      {"import_file": upload, "format": choice, "resource": "0"})
    assert dry.status_code == 200
    confirm = dry.context.get("confirm_form")
    if confirm is None:
        return dry
    return client.post("/admin/synthesis/sample/process_import/", confirm.initial, follow=True)


def _stack(code):
    sample = Sample.objects.get(code=code)
    layers = [(la.role, la.material, la.thickness_ml, la.composition_x, la.gradient)
              for la in sample.layers.all()]
    parents = sorted((link.parent.code, link.process) for link in sample.parent_links.all())
    return layers, parents


def test_admin_import_page_documents_the_cell_formats(admin_client):
    page = admin_client.get("/admin/synthesis/sample/import/").content.decode()
    assert "<code>core:CdSe:4.5 ML; shell:CdS:2 ML</code>" in page
    assert "with role one of core, crown, shell" in page
    assert "shell_growth (shell growth)" in page


def test_admin_csv_import_creates_layers_and_parents_through_the_services(admin_client, curator):
    done = _import_through_admin(admin_client, STACK_CSV.encode(), "stack.csv", "csv")
    assert done.redirect_chain == [("/admin/synthesis/sample/", 302)]
    assert _stack("IMP-core") == ([("core", "CdSe", 4.5, None, False)], [])
    assert _stack("IMP-cs") == (
        [("core", "CdSe", 4.5, None, False), ("shell", "CdS", 2.0, None, False)],
        [("IMP-core", "shell_growth")],
    )
    assert _stack("IMP-grad") == (
        [("core", "CdSe", 4.5, None, False), ("shell", "CdZnS", None, 0.5, True)],
        [("IMP-core", "shell_growth"), ("IMP-cs", "aliquot")],
    )
    created = Sample.objects.get(code="IMP-cs")
    assert (created.owner, created.history.get().history_user) == (curator, curator)


def test_admin_csv_import_with_a_bad_layer_role_imports_nothing_and_lists_roles(admin_client):
    bad = STACK_CSV.replace("shell:CdS:2 ML", "mantle:CdS:2 ML")
    page = _import_through_admin(admin_client, bad.encode(), "bad.csv", "csv")
    html = page.content.decode()
    assert page.context.get("confirm_form") is None  # nothing to confirm: refused
    assert [row.number for row in page.context["result"].invalid_rows] == [2]
    assert ("<li>Row 2: layers: layer 2 (&#x27;mantle:CdS:2 ML&#x27;): &#x27;mantle&#x27; is not "
            "a valid layer role; expected one of core, crown, shell.</li>") in html
    assert Sample.objects.filter(code__startswith="IMP-").count() == 0


def test_import_errors_name_the_row_and_the_valid_choices():
    def rejected(csv_text):
        with pytest.raises(DomainError) as err:
            import_table(kind="samples", content=csv_text.encode(), file_format="csv")
        assert Sample.objects.count() == 0
        return err.value.message

    prefix = "samples file rejected, nothing imported: "
    platelet = STACK_CSV.replace("IMP-cs,core/shell,CdSe/CdS,NPL", "IMP-cs,c,CdSe,platelet")
    assert rejected(platelet) == (
        prefix + "row 2: morphology: 'platelet' is not a valid morphology; expected one of "
        "NPL (nanoplatelet), QD (quantum dot), MSC (magic-size cluster), rod (nanorod), bulk, "
        "film, other."
    )
    assert rejected(STACK_CSV.replace("IMP-core (shell_growth)\n", "IMP-core (annealing)\n")) == (
        prefix + "row 2: parents: parent IMP-core: 'annealing' is not a valid derivation "
        "process; expected one of crown_growth (crown growth), shell_growth (shell growth), "
        "cation_exchange (cation exchange), ligand_exchange (ligand exchange), purification, "
        "aliquot, extraction, other."
    )
    assert rejected(STACK_CSV.replace("IMP-core (shell_growth)\n", "NOPE-1 (shell_growth)\n")) == (
        prefix + "row 2: parents: there is no sample with code 'NOPE-1' (a parent must exist "
        "already or come earlier in the file)."
    )
    assert rejected(STACK_CSV.replace("shell:CdS:2 ML", "shell:CdS:2 layers")) == (
        prefix + "row 2: layers: layer 2 ('shell:CdS:2 layers'): cannot read '2 layers'; after "
        "role:material give a thickness (4.5 ML or 1.2 nm), x=<fraction>, formula=<text> or "
        "gradient."
    )
    assert rejected(STACK_CSV.replace("notes,layers", "notes,qy_pct,layers")
                    .replace(",,core", ",,,core")) == (
        prefix + "file: column(s) 'qy_pct' cannot be imported into samples; importable columns "
        "are code, name, material, morphology, crystal_phase, synthesis_date, "
        "storage_conditions, external_origin, is_reference, notes, parents, layers."
    )


def test_xlsx_import_of_layers_and_parents_and_unchanged_reimport_keeps_notes(curator):
    import tablib

    rows = [line.split(",", 7) for line in STACK_CSV.splitlines()[1:3]]
    book = tablib.Dataset(*rows, headers=SAMPLE_HEADER.strip().split(","))
    assert import_table(kind="samples", content=book.export("xlsx"), file_format="xlsx",
                        actor=curator) == {"new": 2, "updated": 0, "skipped": 0}
    assert _stack("IMP-cs")[1] == [("IMP-core", "shell_growth")]
    Sample.objects.get(code="IMP-cs").parent_links.update(note="8 mL of the 4.5 ML batch")
    again = import_table(kind="samples", content=book.export("xlsx"), file_format="xlsx")
    assert again == {"new": 0, "updated": 0, "skipped": 2}
    assert Sample.objects.get(code="IMP-cs").parent_links.get().note == "8 mL of the 4.5 ML batch"
    exported = export_table(kind="samples", file_format="csv").decode().splitlines()
    assert exported[2].endswith(",IMP-core (shell_growth),core:CdSe:4.5 ML; shell:CdS:2 ML")
    rows[1][6] = "core:CdSe:4.5 ML; shell:CdS:3 ML"
    book = tablib.Dataset(*rows, headers=SAMPLE_HEADER.strip().split(","))
    assert import_table(kind="samples", content=book.export("xlsx"), file_format="xlsx",
                        actor=curator) == {"new": 0, "updated": 1, "skipped": 1}
    assert _stack("IMP-cs")[0][1] == ("shell", "CdS", 3.0, None, False)
    assert Sample.objects.get(code="IMP-cs").version == 2


def test_history_revert_of_a_sample_restores_its_layers_and_parents(admin_client, member):
    from tests.characterization.test_admin_safety import _form_fields

    core = builders.sample("REV-core", core_ml=4.5, actor=member)
    other = builders.sample("REV-other", core_ml=3.5, actor=member)
    sample = builders.sample("REV-cs", core_ml=4.5, actor=member,
                             parents=[{"parent": core, "process": "shell_growth"}])
    services.update_sample(
        sample=sample, expected_version=1, changes={"notes": "re-shelled"}, actor=member,
        layers=[{"role": "core", "material": "CdSe", "thickness_ml": 5.5},
                {"role": "shell", "material": "CdS", "thickness_ml": 2.0}],
        parents=[{"parent": other, "process": "aliquot"}],
    )
    first = sample.history.earliest()
    url = f"/admin/synthesis/sample/{sample.pk}/history/{first.history_id}/"
    form = admin_client.get(url).context["adminform"].form
    assert admin_client.post(url, _form_fields(form)).status_code == 302
    sample.refresh_from_db()
    assert (sample.notes, sample.version) == ("", 3)
    assert [(la.role, la.material, la.thickness_ml) for la in sample.layers.all()] == [
        ("core", "CdSe", 4.5)]
    assert [(link.parent.code, link.process) for link in sample.parent_links.all()] == [
        ("REV-core", "shell_growth")]
