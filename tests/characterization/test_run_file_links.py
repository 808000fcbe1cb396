"""Files linked to a synthesis run (a flask photo, a temperature log, a UV-vis during growth):
upload on the run page and through the API (``run`` beside ``sample``), the duplicate message,
unlink with a reason and link again, who may, and the run shown on the file."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test import Client

from characterization.models import DataFile, DataFileLink, DataFileRunLink, PLMeasurement
from synthesis import services as syn_services
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

UVVIS = SHARED_DATA / "instruments" / "cary_csv"
PHOTO = SHARED_DATA / "instruments" / "tiff"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _first(folder, *suffixes):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)[0]


@pytest.fixture
def run(member):
    return syn_services.record_synthesis_run(
        data={"code": "RUN-F1"}, recipe=builders.core_recipe(actor=member), actor=member)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api_upload(api, path, **target):
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), **target}
    return api.post("/api/files/", body, format="multipart")


def test_upload_on_the_run_page_lists_the_file_with_download_and_unlink(run, member):
    web = _web(member)
    photo = _first(PHOTO, ".tif", ".tiff")
    response = web.post(f"/runs/{run.pk}/files/",
                        {"files": SimpleUploadedFile(photo.name, photo.read_bytes()),
                         "reason": "flask at 240 °C"}, follow=True)
    assert response.status_code == 200
    data_file = DataFile.objects.get()
    link = DataFileRunLink.objects.get()
    assert (link.data_file, link.run, link.linked_by, link.reason, link.is_active) == (
        data_file, run, member, "flask at 240 °C", True)
    html = response.content.decode()
    assert f"{photo.name}: stored for run RUN-F1" in html
    assert f'data-run-file="{photo.name}"' in html
    assert f'href="/files/{data_file.pk}/download/"' in html
    assert f'action="/runs/{run.pk}/files/{data_file.pk}/unlink/"' in html
    assert DataFileLink.objects.count() == 0  # a run link is no sample link: no rows derived


def test_same_bytes_again_say_already_stored_linked_to_run(run, member, api):
    spectrum = _first(UVVIS, ".csv")
    first = _api_upload(api, spectrum, run=run.pk)
    assert (first.status_code, first.json()["message"]) == (
        202, f"stored {spectrum.name} for run RUN-F1")
    other = syn_services.record_synthesis_run(
        data={"code": "RUN-F2"}, recipe=run.recipe, actor=member)
    second = _api_upload(api, spectrum, run=other.pk)
    body = second.json()
    assert (second.status_code, body["duplicate"], body["message"]) == (
        200, True, "already stored — linked to run RUN-F2")
    assert [(r["run_code"], r["reason"]) for r in body["runs"]] == [
        ("RUN-F1", "uploaded for this run"), ("RUN-F2", "uploaded again (identical content)")]
    assert (DataFile.objects.count(), body["samples"]) == (1, [])
    listed = api.get(f"/api/files/?run={other.pk}").json()["results"]
    assert [f["id"] for f in listed] == [body["id"]]
    assert api.get(f"/api/files/?run={run.pk}&sample=1").json()["results"] == []
    html = _web(member).post(f"/runs/{other.pk}/files/", {
        "files": SimpleUploadedFile(spectrum.name, spectrum.read_bytes())}, follow=True)
    assert f"{spectrum.name}: already stored — linked to run RUN-F2" in html.content.decode()


def test_upload_for_run_and_sample_links_both_and_derives_the_sample_rows(run, member, api):
    sample = builders.sample("NPL-RUNFILE", actor=member, core_ml=4.5)
    spectrum = _first(UVVIS, ".csv")
    body = _api_upload(api, spectrum, run=run.pk, sample=sample.pk).json()
    assert body["message"] == f"stored {spectrum.name} for NPL-RUNFILE and run RUN-F1"
    assert ([s["sample_code"] for s in body["samples"]], [r["run_code"] for r in body["runs"]]) \
        == (["NPL-RUNFILE"], ["RUN-F1"])
    page = _web(member).get(f"/samples/{sample.pk}/").content.decode()
    assert f'data-file-runs>Runs: <a href="/runs/{run.pk}/">RUN-F1</a>' in page
    run_page = _web(member).get(f"/runs/{run.pk}/").content.decode()
    assert f'Also on <a href="/samples/{sample.pk}/">NPL-RUNFILE</a>' in run_page


def test_unlink_needs_a_reason_is_recorded_and_link_again_restores(run, member, api):
    photo = _first(PHOTO, ".tif", ".tiff")
    data_file = DataFile.objects.get(pk=_api_upload(api, photo, run=run.pk).json()["id"])
    no_reason = api.post(f"/api/files/{data_file.pk}/unlink/", {"run": run.pk, "reason": " "},
                         format="json")
    assert (no_reason.status_code, no_reason.json()["field"]) == (400, "reason")
    web = _web(member)
    html = web.post(f"/runs/{run.pk}/files/{data_file.pk}/unlink/",
                    {"reason": "photo of another flask"}, follow=True).content.decode()
    link = DataFileRunLink.objects.get()
    assert (link.is_active, link.unlinked_by, link.unlink_reason) == (
        False, member, "photo of another flask")
    assert "data-no-run-files" in html and "photo of another flask" in html
    assert api.get(f"/api/files/{data_file.pk}/").json()["runs"] == []
    web.post(f"/runs/{run.pk}/files/{data_file.pk}/link/", {"reason": "it was this flask"})
    link.refresh_from_db()
    assert (link.is_active, link.unlinked_at, link.reason) == (True, None, "it was this flask")
    assert [h.history_change_reason for h in link.history.order_by("history_id")] == [
        None, "unlinked: photo of another flask", "relinked: it was this flask"]
    again = api.post(f"/api/files/{data_file.pk}/unlink/", {"run": run.pk, "reason": "x"},
                     format="json")
    assert again.status_code == 200 and again.json()["runs"] == []
    relink = api.post(f"/api/files/{data_file.pk}/link/", {"run": run.pk}, format="json")
    assert [r["run_code"] for r in relink.json()["runs"]] == ["RUN-F1"]


def test_only_owner_operator_or_curator_may_link(run, member, other_member, other_api,
                                                  curator_api):
    photo = _first(PHOTO, ".tif", ".tiff")
    refused = _api_upload(other_api, photo, run=run.pk)
    assert refused.status_code == 403
    assert "RUN-F1" in refused.json()["detail"]
    assert DataFile.objects.count() == 0  # nothing half-written
    run.operator = other_member
    run.save()
    assert _api_upload(other_api, photo, run=run.pk).status_code == 202
    assert curator_api.post(f"/api/files/{DataFile.objects.get().pk}/unlink/",
                            {"run": run.pk, "reason": "curated"}, format="json").status_code == 200


def test_link_names_sample_or_run_not_both_and_unknown_run(run, member, api):
    photo = _first(PHOTO, ".tif", ".tiff")
    file_id = _api_upload(api, photo, run=run.pk).json()["id"]
    sample = builders.sample("NPL-X", actor=member)
    both = api.post(f"/api/files/{file_id}/link/", {"run": run.pk, "sample": sample.pk},
                    format="json")
    assert both.status_code == 400
    missing = _api_upload(api, photo, run=999999)
    assert (missing.status_code, missing.json()["field"]) == (400, "run")


def test_a_link_to_a_run_is_unique_per_file(run, member):
    photo = _first(PHOTO, ".tif", ".tiff")
    from characterization.services import attach_run_file

    data_file, link, created = attach_run_file(content=photo.read_bytes(), filename=photo.name,
                                               run=run, actor=member)
    assert created and PLMeasurement.objects.count() == 0
    with pytest.raises(IntegrityError), transaction.atomic():
        DataFileRunLink.objects.create(data_file=data_file, run=run, linked_at=link.linked_at)


def test_admin_file_page_lists_sample_and_run_links_read_only(run, member, curator, api):
    """Curators see, on a file's admin page, every sample and run it is linked to (active or
    unlinked, with who/why); links are made and undone through the services, not here."""
    uvvis = _first(UVVIS, ".csv")
    sample = builders.sample("NPL-ADM", actor=member, core_ml=4.5)
    assert _api_upload(api, uvvis, run=run.pk, sample=sample.pk).status_code in (201, 202)
    data_file = DataFile.objects.get()
    curator.is_staff = True
    curator.save()
    response = _web(curator).get(f"/admin/characterization/datafile/{data_file.pk}/change/")
    assert response.status_code == 200
    formsets = {f.opts.model.__name__: f for f in response.context["inline_admin_formsets"]}
    sample_links, run_links = formsets["DataFileLink"], formsets["DataFileRunLink"]
    assert [f.original.sample for f in sample_links] == [sample]
    assert [f.original.run for f in run_links] == [run]
    assert (sample_links.has_add_permission, sample_links.has_change_permission,
            sample_links.has_delete_permission) == (False, False, False)
    html = response.content.decode()
    assert "Linked samples" in html and "Linked synthesis runs" in html
