"""Admin lost update: two curators open the same record; the second save is refused.

The change form carries the stored version (hidden ``expected_version``); a stale save shows a
message with both versions and the current values, changes nothing, and the re-shown form
carries the current version so a deliberate second save goes through.
"""

from __future__ import annotations

import pytest
from django.test import Client

from synthesis.models import Chemical, Sample
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


def _form_data(response) -> dict:
    """The POST a browser would send for the change page as shown (main form and inlines)."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


@pytest.fixture
def two_curators(curator, curators_group):
    from django.contrib.auth.models import User

    other = User.objects.create_user("frank", password="pw-frank-123")
    other.groups.add(curators_group)
    clients = []
    for user in (curator, other):
        user.is_staff = True
        user.save()
        client = Client()
        client.force_login(user)
        clients.append(client)
    return clients


def test_stale_admin_save_is_refused_with_current_values(two_curators):
    first, second = two_curators
    chem = builders.chemical("oleic acid", supplier="Sigma")
    url = f"/admin/synthesis/chemical/{chem.pk}/change/"
    page_a, page_b = first.get(url), second.get(url)
    data_a, data_b = _form_data(page_a), _form_data(page_b)
    assert data_a["expected_version"] == data_b["expected_version"] == chem.version
    assert b'name="expected_version"' in page_a.content

    saved = first.post(url, {**data_a, "supplier": "Alfa Aesar"})
    assert saved.status_code == 302
    chem.refresh_from_db()
    assert (chem.supplier, chem.version) == ("Alfa Aesar", 2)

    stale = second.post(url, {**data_b, "supplier": "TCI"})
    assert stale.status_code == 200
    text = stale.content.decode()
    assert ("this record was changed by someone else while you edited it (you edited version 1, "
            "it is now version 2); nothing was saved. Current values: supplier: Alfa Aesar."
            ) in text
    chem.refresh_from_db()
    assert (chem.supplier, chem.version) == ("Alfa Aesar", 2)

    # the re-shown form carries version 2: saving again is a deliberate overwrite
    again = second.post(url, {**_form_data(stale), "supplier": "TCI"})
    assert again.status_code == 302
    chem.refresh_from_db()
    assert (chem.supplier, chem.version) == ("TCI", 3)


def test_sample_admin_with_inlines_refuses_stale_save(two_curators):
    first, second = two_curators
    sample = builders.sample("VER-1", core_ml=4.5)
    url = f"/admin/synthesis/sample/{sample.pk}/change/"
    data_a, data_b = _form_data(first.get(url)), _form_data(second.get(url))
    assert first.post(url, {**data_a, "notes": "first"}).status_code == 302
    stale = second.post(url, {**data_b, "notes": "second"})
    assert stale.status_code == 200
    assert "it is now version 2); nothing was saved" in stale.content.decode()
    assert Sample.objects.get(pk=sample.pk).notes == "first"


def test_every_lab_record_admin_uses_the_versioned_form():
    from django.contrib import admin

    from labdb.lib.admin import LabRecordAdmin, VersionedRecordForm

    record_admins = [a for a in admin.site._registry.values() if isinstance(a, LabRecordAdmin)]
    assert Chemical in {a.model for a in record_admins}
    for model_admin in record_admins:
        assert issubclass(model_admin.form, VersionedRecordForm), model_admin


def test_form_encoded_sample_create_is_refused_with_415(api):
    """Multipart cannot carry layers/parents: 415 naming JSON, never a 201 without them."""
    response = api.post("/api/samples/", {"code": "FORM-1", "name": "FORM-1",
                                          "material": "CdSe", "morphology": "NPL"},
                        format="multipart")
    assert response.status_code == 415
    assert response.json()["detail"] == (
        "body: expected application/json (the nested layers, parents cannot be sent as a "
        "form); got multipart/form-data.")
    assert not Sample.objects.filter(code="FORM-1").exists()


def test_schema_says_nested_writes_take_json_only(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/samples/", "/api/recipes/", "/api/runs/", "/api/stock-solutions/"):
        operation = schema["paths"].get(path, {}).get("post")
        if operation is None:
            continue
        assert list(operation["requestBody"]["content"]) == ["application/json"], path
    assert list(schema["paths"]["/api/samples/"]["post"]["requestBody"]["content"]) == [
        "application/json"]
