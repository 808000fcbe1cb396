"""Samples created, edited and retired in the web UI: the API's services, permissions, version
check and history; errors beside the field they concern; nothing half-written."""

from __future__ import annotations

import pytest
from django.test import Client

from synthesis.models import Sample, SampleLayer, SampleParent
from tests.synthesis import builders

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _management(prefix: str, total: int, initial: int = 0) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _sample_post(**overrides) -> dict:
    data = {"code": "NPL-W1", "name": "4.5 ML cores, batch W1", "material": "CdSe",
            "morphology": "NPL", "crystal_phase": "ZB", "synthesis_date": "2025-03-04",
            "storage_conditions": "hexane, 4 °C, dark", "external_origin": "", "notes": "",
            **_management("layers", 2), **_management("parents", 1),
            "layers-0-role": "core", "layers-0-material": "CdSe",
            "layers-0-thickness_value": "4.5", "layers-0-thickness_unit": "ML"}
    data.update(overrides)
    return data


@pytest.fixture
def parent(member):
    return builders.sample("NPL-P1", actor=member, core_ml=4.5)


def test_sample_new_creates_layers_and_parent_with_history_user(member, parent):
    response = _client(member).post("/samples/new/", _sample_post(**{
        "code": "CS-W1", "material": "CdSe/CdS",
        "layers-1-role": "shell", "layers-1-material": "CdS",
        "layers-1-thickness_value": "1.2", "layers-1-thickness_unit": "nm",
        "parents-0-parent": str(parent.pk), "parents-0-process": "shell_growth",
        "parents-0-note": "c-ALD, 3 cycles"}))
    sample = Sample.objects.get(code="CS-W1")
    assert response.status_code == 302
    assert response["Location"] == f"/samples/{sample.pk}/"
    assert sample.owner == member
    assert sample.storage_conditions == "hexane, 4 °C, dark"
    layers = [(x.role, x.material, x.thickness_ml, x.thickness_nm) for x in sample.layers.all()]
    assert layers == [("core", "CdSe", 4.5, None), ("shell", "CdS", None, 1.2)]
    link = SampleParent.objects.get(child=sample)
    assert (link.parent_id, link.process, link.note) == (parent.pk, "shell_growth",
                                                         "c-ALD, 3 cycles")
    assert sample.history.first().history_user == member


def test_sample_layer_thickness_in_angstrom_stored_in_nm(member):
    _client(member).post("/samples/new/", _sample_post(**{
        "layers-0-thickness_value": "12", "layers-0-thickness_unit": "Å"}))
    layer = SampleLayer.objects.get(sample__code="NPL-W1")
    assert (layer.thickness_ml, layer.thickness_nm) == (None, 1.2)


def test_sample_new_duplicate_code_shown_beside_code_and_nothing_written(member, parent):
    response = _client(member).post("/samples/new/", _sample_post(code="NPL-P1"))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('<p class="field-error" id="id_code_error"><span aria-hidden="true">✗</span> '
            "a sample with code &#x27;NPL-P1&#x27; exists already.</p>") in html
    assert 'name="name" value="4.5 ML cores, batch W1"' in html
    assert Sample.objects.count() == 1


def test_sample_bad_layer_shown_beside_that_layer_and_nothing_written(member):
    response = _client(member).post("/samples/new/", _sample_post(**{
        "layers-1-role": "shell", "layers-1-material": "CdS",
        "layers-1-composition_x": "1.5"}))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('id="id_layers-1-composition_x_error"><span aria-hidden="true">✗</span> '
            "x is a fraction: between 0 and 1.</p>") in html
    assert Sample.objects.filter(code="NPL-W1").exists() is False
    assert SampleLayer.objects.count() == 0


def test_sample_layer_without_material_rejected_beside_it(member):
    response = _client(member).post("/samples/new/", _sample_post(**{
        "layers-1-role": "shell"}))
    html = response.content.decode()
    assert response.status_code == 400
    assert ('id="id_layers-1-material_error"><span aria-hidden="true">✗</span> '
            "Give the layer&#x27;s material, e.g. CdS.</p>") in html


def test_sample_lineage_cycle_shown_with_parents(member, parent):
    child = builders.sample("NPL-C1", actor=member,
                            parents=[{"parent": parent, "process": "purification"}])
    url = f"/samples/{parent.pk}/edit/"
    data = _sample_post(code="NPL-P1", name="NPL-P1", version=str(parent.version), **{
        "parents-0-parent": str(child.pk), "parents-0-process": "other"})
    response = _client(member).post(url, data)
    html = response.content.decode()
    assert response.status_code == 400
    assert ('id="id_parents-0-parent_error"><span aria-hidden="true">✗</span> NPL-C1 '
            "descends from NPL-P1; linking it as a parent would make a cycle.</p>") in html
    parent.refresh_from_db()
    assert (parent.name, parent.version) == ("NPL-P1", 1)


def test_sample_edit_by_owner_replaces_layers_and_bumps_version(member, parent):
    client = _client(member)
    form = client.get(f"/samples/{parent.pk}/edit/").content.decode()
    assert 'name="version" value="1"' in form
    assert 'name="layers-0-thickness_value" value="4.5"' in form
    response = client.post(f"/samples/{parent.pk}/edit/", _sample_post(
        code="NPL-P1", name="renamed", version="1", **_management("layers", 2, 1)))
    parent.refresh_from_db()
    assert response.status_code == 302
    assert (parent.name, parent.version) == ("renamed", 2)
    assert [(x.role, x.thickness_ml) for x in parent.layers.all()] == [("core", 4.5)]
    assert parent.history.first().history_user == member


def test_sample_edit_by_curator_allowed(curator, member, parent):
    response = _client(curator).post(f"/samples/{parent.pk}/edit/", _sample_post(
        code="NPL-P1", name="fixed by curator", version="1"))
    parent.refresh_from_db()
    assert response.status_code == 302
    assert parent.name == "fixed by curator"
    assert parent.history.first().history_user == curator


def test_sample_edit_by_other_member_forbidden_and_no_button(other_member, parent):
    client = _client(other_member)
    page = client.get(f"/samples/{parent.pk}/").content.decode()
    assert f'href="/samples/{parent.pk}/edit/"' not in page
    assert client.get(f"/samples/{parent.pk}/edit/").status_code == 403
    response = client.post(f"/samples/{parent.pk}/edit/", _sample_post(
        code="NPL-P1", name="hijacked", version="1"))
    parent.refresh_from_db()
    assert response.status_code == 403
    assert parent.name == "NPL-P1"


def test_sample_owner_sees_edit_and_retire_buttons(member, parent):
    page = _client(member).get(f"/samples/{parent.pk}/").content.decode()
    assert f'<a class="button" href="/samples/{parent.pk}/edit/">Edit</a>' in page
    assert f'<a class="button danger" href="/retire/sample/{parent.pk}/">Retire</a>' in page


def test_sample_pages_send_anonymous_to_login(parent):
    client = _client()
    for url in ("/samples/new/", f"/samples/{parent.pk}/edit/", f"/retire/sample/{parent.pk}/"):
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (
            302, f"/accounts/login/?next={url}")
    assert client.post("/samples/new/", _sample_post()).status_code == 302
    assert Sample.objects.count() == 1


def test_sample_stale_edit_refused_with_who_changed_it(member, curator, parent):
    _client(curator).post(f"/samples/{parent.pk}/edit/", _sample_post(
        code="NPL-P1", name="curator's name", version="1"))
    response = _client(member).post(f"/samples/{parent.pk}/edit/", _sample_post(
        code="NPL-P1", name="my name", version="1"))
    html = response.content.decode()
    assert response.status_code == 409
    assert ("✗ Sample NPL-P1 was changed by carol since you opened it — reload.") in html
    assert '<tr><th scope="row">Name</th><td>curator&#x27;s name</td></tr>' in html
    assert 'name="name" value="my name"' in html
    parent.refresh_from_db()
    assert (parent.name, parent.version) == ("curator's name", 2)


def test_sample_retire_asks_reason_then_hides_it(member, parent):
    client = _client(member)
    page = client.get(f"/retire/sample/{parent.pk}/").content.decode()
    assert "<h1>Retire sample “NPL-P1”?</h1>" in page
    refused = client.post(f"/retire/sample/{parent.pk}/", {"reason": "  "})
    assert refused.status_code == 400
    assert "say why this record is retired." in refused.content.decode()
    parent.refresh_from_db()
    assert parent.is_retired is False
    response = client.post(f"/retire/sample/{parent.pk}/", {"reason": "duplicate of NPL-P2"})
    parent.refresh_from_db()
    assert (response.status_code, response["Location"]) == (302, "/samples/")
    assert (parent.is_retired, parent.retired_reason) == (True, "duplicate of NPL-P2")
    assert Sample.objects.filter(pk=parent.pk).exists()
    listing = client.get("/samples/").content.decode()
    assert "Sample NPL-P1 retired: it no longer appears in lists" in listing
    assert f'href="/samples/{parent.pk}/"' not in listing
    assert client.get(f"/samples/{parent.pk}/").status_code == 410  # retired page, Restore


def test_sample_retire_by_other_member_forbidden(other_member, parent):
    response = _client(other_member).post(f"/retire/sample/{parent.pk}/", {"reason": "mine"})
    parent.refresh_from_db()
    assert response.status_code == 403
    assert parent.is_retired is False


def test_sample_add_row_button_adds_a_layer_row_without_saving(member):
    response = _client(member).post("/samples/new/", _sample_post(add_row="layers"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="layers-TOTAL_FORMS" value="3"' in html
    assert 'name="layers-2-material"' in html
    assert Sample.objects.count() == 0
