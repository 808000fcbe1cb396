"""Retired records are read-only until restored: API, web UI and admin, for every kind.

A write to a retired sample, run, recipe, chemical, lot, stock solution or measurement is
refused (409) with a sentence naming the record, the reason, who retired it and when; the
owner or a curator restores it (API ``POST …/restore/``, the web page's Restore button, the
admin action), with a reason kept in its history, and it is editable again.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from characterization import services as char_services
from characterization.models import PLMeasurement
from labdb.lib.errors import RetiredError
from labdb.lib.records import retire_record
from synthesis import services
from synthesis.models import Chemical, ChemicalLot, Recipe, Sample, StockSolution, SynthesisRun
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

# kind: (API list endpoint, a field a PATCH changes, web edit URL or None)
KINDS = {
    "sample": ("samples", "notes", "/samples/{pk}/edit/"),
    "run": ("runs", "observations", "/runs/{pk}/edit/"),
    "recipe": ("recipes", "description", "/recipes/{pk}/edit/"),
    "chemical": ("chemicals", "supplier", "/chemicals/{pk}/edit/"),
    "lot": ("chemical-lots", "location", "/lots/{pk}/edit/"),
    "stock": ("stock-solutions", "notes", "/stock-solutions/{pk}/edit/"),
    "measurement": ("pl-measurements", "notes", None),
}
LABELS = {
    "sample": "sample NPL-RET", "run": "synthesis run RUN-RET",
    "recipe": "recipe 4.5 ML CdSe NPL (v1)", "chemical": "chemical oleic acid",
    "lot": "chemical lot oleic acid lot OA-17", "stock": "stock solution Se-ODE 0.1 M",
}


def _build(kind: str, member):
    if kind in ("run", "recipe"):
        recipe = builders.core_recipe(actor=member)
        if kind == "recipe":
            return recipe
        return services.record_synthesis_run(data={"code": "RUN-RET"}, recipe=recipe,
                                             actor=member)
    if kind == "sample":
        return builders.sample("NPL-RET", actor=member)
    chemical = builders.chemical("oleic acid", actor=member)
    if kind == "chemical":
        return chemical
    if kind == "lot":
        return services.create_record(model=ChemicalLot, actor=member,
                                      data={"chemical": chemical, "lot_number": "OA-17"})
    if kind == "stock":
        return services.create_stock_solution(data={"code": "SE-1", "name": "Se-ODE 0.1 M"},
                                              actor=member)
    return char_services.record_measurement(
        model=PLMeasurement, sample=builders.sample("NPL-PL", actor=member), actor=member,
        data={"peak_nm": 512, "source": "published"})


def _label(kind, obj) -> str:
    return LABELS.get(kind) or f"PL measurement #{obj.pk}"


def _retired(kind, member):
    obj = _build(kind, member)
    retire_record(obj, reason="duplicate entry", actor=member)
    obj.refresh_from_db()
    return obj


def _sentence(kind, obj, who="alice") -> str:
    when = timezone.localtime(obj.retired_at).strftime("%Y-%m-%d %H:%M %Z")
    return (f"{_label(kind, obj)} is retired (duplicate entry; by {who}, {when}): restore it "
            "first.")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_api_write_to_retired_record_is_409_then_restore_makes_it_editable(kind, member):
    endpoint, field, _ = KINDS[kind]
    obj = _retired(kind, member)
    api = _api(member)
    url = f"/api/{endpoint}/{obj.pk}/"
    refused = api.patch(url, {"version": obj.version, field: "changed"}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {"error": "RetiredError", "message": _sentence(kind, obj),
                              "field": "is_retired"}
    put = api.put(url, {**api.get(url, {"include_retired": "true"}).json(), field: "changed"},
                  format="json")
    assert (put.status_code, put.json()["message"]) == (409, _sentence(kind, obj))
    assert getattr(type(obj).objects.get(pk=obj.pk), field) != "changed"

    restored = api.post(f"{url}restore/", {"reason": "retired by mistake"}, format="json")
    assert restored.status_code == 200
    body = restored.json()
    assert (body["is_retired"], body["retired_reason"], body["version"]) == (
        False, "", obj.version + 1)
    last = type(obj).history.filter(id=obj.pk).order_by("-history_date", "-history_id").first()
    assert (last.history_change_reason, last.history_user.username) == (
        "restored: retired by mistake", "alice")
    edited = api.patch(url, {"version": body["version"], field: "changed"}, format="json")
    assert (edited.status_code, edited.json()[field]) == (200, "changed")


def test_api_restore_needs_owner_or_curator_and_a_reason(member, other_member, curator):
    sample = _retired("sample", member)
    url = f"/api/samples/{sample.pk}/restore/"
    denied = _api(other_member).post(url, {"reason": "mine now"}, format="json")
    assert denied.status_code == 403
    assert denied.json()["message"] == "You do not have permission to perform this action."
    no_reason = _api(member).post(url, {"reason": " "}, format="json")
    assert (no_reason.status_code, no_reason.json()["message"]) == (
        400, "reason: This field may not be blank.")
    assert Sample.objects.get(pk=sample.pk).is_retired is True
    by_curator = _api(curator).post(url, {"reason": "contamination ruled out"}, format="json")
    assert (by_curator.status_code, by_curator.json()["is_retired"]) == (200, False)
    again = _api(curator).post(url, {"reason": "twice"}, format="json")
    assert (again.status_code, again.json()["message"]) == (400, "sample NPL-RET is not retired.")


def test_api_manual_measurement_of_retired_row_is_409_and_retired_sample_takes_none(member):
    sample = builders.sample("NPL-MAN", actor=member)
    pl = char_services.record_manual_measurement(kind="pl", sample=sample, actor=member,
                                                 entry={"peak_nm": 512})
    char_services.retire_manual_measurement(measurement=pl, reason="duplicate entry",
                                            expected_version=1, actor=member)
    pl.refresh_from_db()
    api = _api(member)
    refused = api.patch(f"/api/manual-measurements/pl/{pl.pk}/", {"version": 2, "peak_nm": 513},
                        format="json")
    assert (refused.status_code, refused.json()["message"]) == (409, _sentence("pl", pl))
    retire_record(sample, reason="duplicate entry", actor=member)
    sample.refresh_from_db()
    added = api.post("/api/manual-measurements/", {"kind": "pl", "sample": sample.pk,
                                                   "peak_nm": 520}, format="json")
    assert (added.status_code, added.json()["message"]) == (
        400, f'sample: Invalid pk "{sample.pk}" - object does not exist.')
    with pytest.raises(RetiredError) as refused_by_service:
        char_services.record_manual_measurement(kind="pl", sample=sample, actor=member,
                                                entry={"peak_nm": 520})
    assert refused_by_service.value.message == _sentence("sample", sample).replace(
        "NPL-RET", "NPL-MAN")
    assert PLMeasurement.objects.filter(sample=sample).count() == 1


@pytest.mark.parametrize("kind", [k for k in sorted(KINDS) if KINDS[k][2]])
def test_web_edit_of_retired_record_is_409_with_restore_button(kind, member):
    obj = _retired(kind, member)
    web = _web(member)
    edit_url = KINDS[kind][2].format(pk=obj.pk)
    for response in (web.get(edit_url), web.post(edit_url, {"version": obj.version})):
        assert response.status_code == 409
        page = response.content.decode()
        assert f'<p class="notice" id="retired-message">{_sentence(kind, obj)}</p>' in page
        assert f'<form method="post" action="/restore/{kind}/{obj.pk}/">' in page
    assert type(obj).objects.get(pk=obj.pk).version == obj.version


@pytest.mark.parametrize("kind,url", [("sample", "/samples/{pk}/"), ("run", "/runs/{pk}/"),
                                      ("recipe", "/recipes/{pk}/")])
def test_web_page_of_retired_record_says_why_and_restores(kind, url, member, other_member):
    obj = _retired(kind, member)
    page = _web(member).get(url.format(pk=obj.pk))
    assert page.status_code == 410
    assert _sentence(kind, obj) in page.content.decode()
    other = _web(other_member)
    other_page = other.get(url.format(pk=obj.pk)).content.decode()
    assert "Only its owner or a curator can restore it." in other_page
    assert other.post(f"/restore/{kind}/{obj.pk}/", {"reason": "x"}).status_code == 403
    web = _web(member)
    blank = web.post(f"/restore/{kind}/{obj.pk}/", {"reason": ""})
    assert blank.status_code == 400
    assert "say why this record is restored." in blank.content.decode()
    done = web.post(f"/restore/{kind}/{obj.pk}/", {"reason": "retired by mistake"})
    assert (done.status_code, done["Location"]) == (302, url.format(pk=obj.pk))
    assert web.get(url.format(pk=obj.pk)).status_code == 200
    fresh = type(obj).objects.get(pk=obj.pk)
    assert (fresh.is_retired, fresh.version) == (False, obj.version + 1)


@pytest.mark.parametrize("kind,list_url", [("chemical", "/chemicals/#chemical-{pk}"),
                                           ("lot", "/lots/#lot-{pk}"),
                                           ("stock", "/stock-solutions/#stock-{pk}")])
def test_web_restore_of_listed_kinds_returns_to_the_list(kind, list_url, member):
    obj = _retired(kind, member)
    web = _web(member)
    assert web.get(f"/restore/{kind}/{obj.pk}/").status_code == 200
    done = web.post(f"/restore/{kind}/{obj.pk}/", {"reason": "still on the shelf"})
    assert (done.status_code, done["Location"]) == (302, list_url.format(pk=obj.pk))
    assert type(obj).objects.get(pk=obj.pk).is_retired is False


@pytest.fixture
def admin_client(curator):
    curator.is_staff = True
    curator.save()
    return _web(curator)


def _admin_form(response) -> dict:
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value not in (None, False):
            data[name] = "on" if value is True else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for sub in (formset.management_form, *formset.forms):
            for name in sub.fields:
                value = sub[name].value()
                if value not in (None, False):
                    data[sub.add_prefix(name)] = "on" if value is True else value
    return data


@pytest.mark.parametrize("model,kind", [(Chemical, "chemical"), (Sample, "sample"),
                                        (StockSolution, "stock"), (SynthesisRun, "run"),
                                        (Recipe, "recipe"), (ChemicalLot, "lot"),
                                        (PLMeasurement, "measurement")])
def test_admin_change_of_retired_record_is_refused_and_action_restores(
        model, kind, member, admin_client):
    obj = _retired(kind, member)
    opts = model._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    saved = admin_client.post(url, _admin_form(page))
    assert saved.status_code == 200  # the form again, with the refusal
    assert [str(e) for e in saved.context["adminform"].form.non_field_errors()] == [
        _sentence(kind, obj)]
    assert model.objects.get(pk=obj.pk).version == obj.version

    changelist = f"/admin/{opts.app_label}/{opts.model_name}/"
    ask = admin_client.post(changelist, {"action": "restore_selected",
                                         "_selected_action": [obj.pk]})
    assert ask.status_code == 200
    assert "Why these records come back" in ask.content.decode()
    done = admin_client.post(changelist, {"action": "restore_selected",
                                          "_selected_action": [obj.pk], "confirm_restore": "yes",
                                          "reason": "checked the notebook"})
    assert done.status_code == 302
    fresh = model.objects.get(pk=obj.pk)
    assert (fresh.is_retired, fresh.version) == (False, obj.version + 1)
    last = model.history.filter(id=obj.pk).order_by("-history_date", "-history_id").first()
    assert (last.history_change_reason, last.history_user.username) == (
        "restored: checked the notebook", "carol")


def test_files_cannot_be_linked_to_or_unlinked_from_retired_records(member, settings, tmp_path):
    """A retired sample or run, and a retired file, are read-only: no link is added or taken
    away until they are restored (RetiredError, HTTP 409, with the reason)."""
    settings.MEDIA_ROOT = tmp_path
    sample = builders.sample("NPL-LINK-RET", actor=member)
    other = builders.sample("NPL-LINK-OK", actor=member)
    content = b"a bench note kept with the sample\n" * 4
    data_file, _ = char_services.attach_data_file(content=content, filename="note.txt",
                                                  sample=other, actor=member)
    retire_record(sample, reason="duplicate entry", actor=member)
    sample.refresh_from_db()
    with pytest.raises(RetiredError) as refused:
        char_services.link_data_file(data_file=data_file, sample=sample, actor=member)
    assert "NPL-LINK-RET is retired (duplicate entry" in refused.value.message
    assert not data_file.links.filter(sample=sample).exists()
    retire_record(data_file, reason="uploaded by mistake", actor=member)
    data_file.refresh_from_db()
    with pytest.raises(RetiredError) as refused_file:
        char_services.unlink_data_file(data_file=data_file, sample=other, reason="wrong",
                                       actor=member)
    assert "is retired (uploaded by mistake" in refused_file.value.message
    assert data_file.links.get(sample=other).is_active is True
