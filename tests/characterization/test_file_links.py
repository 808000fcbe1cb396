"""One stored file, many samples: linking by re-upload, unlinking with a reason, relinking."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from characterization.models import DataFile, DataFileLink, XASSpectrum
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CU_XDI = SHARED_DATA / "xas" / "xdi" / "cu_metal_rt.xdi"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(client, path, sample):
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    return client.post("/api/files/", body, format="multipart")


def _listed(client, sample) -> list[int]:
    return [f["id"] for f in client.get(f"/api/files/?sample={sample.pk}").json()["results"]]


def _page_shows(member, sample, data_file) -> bool:
    web = Client()
    web.force_login(member)
    html = web.get(f"/samples/{sample.pk}/").content.decode()
    return f'id="file-{data_file.pk}"' in html


@pytest.fixture
def shared(api, member):
    """cu_metal_rt.xdi uploaded for REF-A, then the same bytes for REF-B."""
    a = builders.sample("REF-A", material="Cu", morphology="bulk", actor=member)
    b = builders.sample("REF-B", material="Cu", morphology="bulk", actor=member)
    first = _upload(api, CU_XDI, a)
    second = _upload(api, CU_XDI, b)
    assert (first.status_code, second.status_code) == (202, 200), second.content
    return a, b, DataFile.objects.get(), second.json()


def test_same_bytes_for_a_second_sample_link_it_there(shared, api, member):
    a, b, data_file, body = shared
    assert (body["duplicate"], body["message"]) == (True, "already stored — linked to REF-B")
    assert [(s["sample_code"], s["reason"]) for s in body["samples"]] == [
        ("REF-A", "uploaded for this sample"),
        ("REF-B", "uploaded again (identical content)"),
    ]
    assert DataFile.objects.count() == 1
    spectra = XASSpectrum.objects.filter(data_file=data_file).order_by("sample__code")
    assert [(x.sample.code, x.element, x.edge, x.is_retired) for x in spectra] == [
        ("REF-A", "Cu", "K", False),
        ("REF-B", "Cu", "K", False),
    ]
    assert (_listed(api, a), _listed(api, b)) == ([data_file.pk], [data_file.pk])
    assert (_page_shows(member, a, data_file), _page_shows(member, b, data_file)) == (True, True)
    download = api.get(body["download_url"])
    assert b"".join(download.streaming_content) == CU_XDI.read_bytes()


def test_unlink_takes_the_file_off_one_sample_only_and_relink_restores(shared, api, member):
    a, b, data_file, _ = shared
    row_a = XASSpectrum.objects.get(data_file=data_file, sample=a)
    response = api.post(
        f"/api/files/{data_file.pk}/unlink/", {"sample": a.pk, "reason": "wrong foil"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [s["sample_code"] for s in response.json()["samples"]] == ["REF-B"]
    row_a.refresh_from_db()
    assert (row_a.is_retired, row_a.retired_reason) == (
        True, "file unlinked from this sample: wrong foil"
    )
    assert XASSpectrum.objects.get(data_file=data_file, sample=b).is_retired is False
    assert (_listed(api, a), _listed(api, b)) == ([], [data_file.pk])
    assert (_page_shows(member, a, data_file), _page_shows(member, b, data_file)) == (False, True)
    link = DataFileLink.objects.get(data_file=data_file, sample=a)
    assert (link.is_active, link.unlink_reason, link.unlinked_by) == (False, "wrong foil", member)

    again = api.post(
        f"/api/files/{data_file.pk}/link/", {"sample": a.pk, "reason": "right foil after all"},
        format="json",
    )
    assert again.status_code == 200, again.content
    row_a.refresh_from_db()
    assert (row_a.is_retired, row_a.retired_reason) == (False, "")
    assert XASSpectrum.objects.filter(data_file=data_file, sample=a).count() == 1
    assert _listed(api, a) == [data_file.pk]
    history = [h.is_active for h in link.history.order_by("history_date", "history_id")]
    assert history == [True, False, True]


def test_unlink_needs_a_reason(shared, api):
    a, _, data_file, _ = shared
    response = api.post(
        f"/api/files/{data_file.pk}/unlink/", {"sample": a.pk, "reason": " "}, format="json"
    )
    assert (response.status_code, response.json()["field"]) == (400, "reason")
    assert DataFileLink.objects.get(data_file=data_file, sample=a).is_active is True


def test_other_member_and_anonymous_may_not_link_or_unlink(shared, other_api, anon_api,
                                                           other_member):
    a, _, data_file, _ = shared
    theirs = builders.sample("REF-C", material="Cu", morphology="bulk", actor=other_member)
    body = {"sample": a.pk, "reason": "not mine"}
    unlink = other_api.post(f"/api/files/{data_file.pk}/unlink/", body, format="json")
    link = other_api.post(f"/api/files/{data_file.pk}/link/", {"sample": a.pk}, format="json")
    anon = anon_api.post(f"/api/files/{data_file.pk}/unlink/", body, format="json")
    assert (unlink.status_code, link.status_code, anon.status_code) == (403, 403, 401)
    assert unlink.json()["detail"] == (
        "Only the owner of REF-A (alice) and curators can link or unlink its files."
    )
    assert DataFileLink.objects.get(data_file=data_file, sample=a).is_active is True
    own = other_api.post(f"/api/files/{data_file.pk}/link/", {"sample": theirs.pk}, format="json")
    assert own.status_code == 200, own.content
    assert XASSpectrum.objects.filter(data_file=data_file, sample=theirs).count() == 1


def test_web_upload_of_stored_bytes_says_linked_and_unlink_form_takes_it_off(member):
    a = builders.sample("REF-W1", material="Cu", morphology="bulk", actor=member)
    b = builders.sample("REF-W2", material="Cu", morphology="bulk", actor=member)
    web = Client()
    web.force_login(member)
    for sample in (a, b):
        response = web.post(
            f"/samples/{sample.pk}/files/",
            {"files": SimpleUploadedFile(CU_XDI.name, CU_XDI.read_bytes())},
            headers={"X-Requested-With": "fetch"},
        )
        assert response.status_code == 200
    assert "cu_metal_rt.xdi: already stored — linked to REF-W2" in response.content.decode()
    data_file = DataFile.objects.get()
    page_b = web.get(f"/samples/{b.pk}/").content.decode()
    assert 'On 2 samples: <a href="/samples/' in page_b
    gone = web.post(f"/samples/{b.pk}/files/{data_file.pk}/unlink/", {"reason": "split wrong"})
    assert gone.status_code == 302
    assert (_page_shows(member, a, data_file), _page_shows(member, b, data_file)) == (True, False)
    assert XASSpectrum.objects.get(data_file=data_file, sample=b).is_retired is True
