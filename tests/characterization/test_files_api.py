"""Raw files through the API: stored unchanged, deduplicated, parsed, or rejected cleanly."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from characterization.models import DataFile, XRDMeasurement
from characterization.services import sanitize_filename
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

XRDML = SHARED_DATA / "instruments" / "xrdml" / "XRD-918-16_10.xrdml"
NOT_OPUS = SHARED_DATA / "instruments" / "opus" / "not_opus.spa"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(client, path, sample=None, name=None):
    content = path.read_bytes()
    body = {"file": SimpleUploadedFile(name or path.name, content)}
    if sample is not None:
        body["sample"] = sample.pk
    return client.post("/api/files/", body, format="multipart"), content


def test_upload_xrdml_round_trip(api, member):
    sample = builders.sample("NPL-X", actor=member)
    response, content = _upload(api, XRDML, sample)
    assert response.status_code == 202, response.content  # stored; parsed by the job
    body = response.json()
    assert (body["status"], body["poll"]) == ("ok", f"http://testserver/api/files/{body['id']}/")
    assert (body["sha256"], body["format"], body["parse_status"], body["parse_error"]) == (
        hashlib.sha256(content).hexdigest(),
        "xrdml",
        "ok",
        "",
    )
    assert body["key_numbers"]["n_points"] == 5027
    stored = DataFile.objects.get(pk=body["id"])
    with default_storage.open(stored.file.name, "rb") as handle:
        assert handle.read() == content
    assert stored.size_bytes == len(content)
    xrd = XRDMeasurement.objects.get(data_file=stored)
    assert (xrd.sample_id, xrd.wavelength_a) == (sample.pk, pytest.approx(1.540598))
    download = api.get(body["download_url"])
    assert b"".join(download.streaming_content) == content
    preview = api.get(body["preview_url"])
    assert b"".join(preview.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_identical_content_stored_once(api, member):
    first, _ = _upload(api, XRDML)
    second, _ = _upload(api, XRDML, name="copy.xrdml")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["duplicate"] is True
    assert DataFile.objects.count() == 1


def test_unrecognised_content_kept_as_attachment_without_rows(api, member):
    """A Thermo OMNIC .spa no parser recognises: stored unchanged as an attachment, not failed."""
    sample = builders.sample("NPL-Y", actor=member)
    response, content = _upload(api, NOT_OPUS, sample)
    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["parse_status"], body["parse_error"], body["format"]) == (
        "attachment",
        "skipped",
        "",
        "",
    )
    stored = DataFile.objects.get(pk=body["id"])
    with default_storage.open(stored.file.name, "rb") as handle:
        assert handle.read() == content
    assert XRDMeasurement.objects.count() == 0


def test_truncated_xrdml_fails_cleanly(api, tmp_path):
    broken = tmp_path / "broken.xrdml"
    broken.write_bytes(XRDML.read_bytes()[: XRDML.stat().st_size // 2])
    response, _ = _upload(api, broken)
    body = response.json()
    assert (body["parse_status"], body["format"]) == ("failed", "xrdml")
    assert body["parse_error"].startswith("broken.xrdml:")
    assert XRDMeasurement.objects.count() == 0


def test_upload_size_limit(api, settings):
    settings.LABDB_MAX_UPLOAD_BYTES = 1000
    response, _ = _upload(api, XRDML)
    assert response.status_code == 413  # refused while the body streams in
    assert response.json()["message"] == (
        "file: XRD-918-16_10.xrdml is larger than the upload limit of 0 MB "
        "(LABDB_MAX_UPLOAD_BYTES); it was not stored. Split or compress the export."
    )
    assert DataFile.objects.count() == 0


def test_path_traversal_name_cannot_escape_media(api, settings):
    response, _ = _upload(api, XRDML, name="../../../etc/passwd.xrdml")
    stored = DataFile.objects.get(pk=response.json()["id"])
    assert stored.original_name == "passwd.xrdml"
    path = default_storage.path(stored.file.name)
    assert path.startswith(str(settings.MEDIA_ROOT))


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\data\\scan 1.xrdml", "scan_1.xrdml"),
        ("..", "upload"),
        ("", "upload"),
        ("a/b/../c.csv", "c.csv"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_upload_requires_login(anon_api):
    response, _ = _upload(anon_api, XRDML)
    assert response.status_code in (401, 403)
    assert DataFile.objects.count() == 0


def test_reparse_command_keeps_raw_file(api, member, capsys):
    from django.core.management import call_command

    response, content = _upload(api, XRDML, builders.sample("NPL-Z", actor=member))
    call_command("reparse_files", "--all")
    stored = DataFile.objects.get(pk=response.json()["id"])
    assert stored.parse_status == "ok"
    assert XRDMeasurement.objects.filter(data_file=stored).count() == 1
    with default_storage.open(stored.file.name, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == stored.sha256
    assert "re-parsed 1 file(s)" in capsys.readouterr().out


def test_xas_fit_contract(api, member):
    sample = builders.sample("REF-X", actor=member, material="CdS", morphology="bulk")
    body = {
        "sample": sample.pk,
        "absorber": "Cd",
        "edge_name": "K",
        "source": "published",
        "citation": "Table 9",
        "r_factor": 0.012,
        "paths": [
            {
                "absorber": "Cd",
                "scatterer": "S",
                "n": 3.5,
                "n_err": 0.3,
                "r_a": 2.52,
                "r_err_a": 0.01,
                "sigma2_a2": 0.007,
                "sigma2_err_a2": 0.001,
            }
        ],
    }
    created = api.post("/api/xas-fits/", body, format="json")
    assert created.status_code == 201, created.content
    listed = api.get(f"/api/xas-fits/?sample={sample.pk}").json()
    assert listed["count"] == 1
    fit = listed["results"][0]
    assert (fit["edge"], fit["source"], fit["r_factor"]) == ("Cd K", "published", 0.012)
    path = fit["paths"][0]
    assert {
        k: path[k]
        for k in (
            "absorber",
            "scatterer",
            "r_a",
            "r_err_a",
            "n",
            "n_err",
            "sigma2_a2",
            "sigma2_err_a2",
        )
    } == {
        "absorber": "Cd",
        "scatterer": "S",
        "r_a": 2.52,
        "r_err_a": 0.01,
        "n": 3.5,
        "n_err": 0.3,
        "sigma2_a2": 0.007,
        "sigma2_err_a2": 0.001,
    }
    by_edge = api.get("/api/xas-fits/?edge=Cd K").json()
    assert by_edge["count"] == 1


def test_pl_contract(api, member):
    sample = builders.sample("NPL-PL", actor=member)
    body = {
        "sample": sample.pk,
        "peak_nm": 512.0,
        "fwhm_nm": 8.5,
        "fwhm_mev": 40.1,
        "qy_pct": 89,
        "source": "published",
        "citation": "§2.2.4",
    }
    assert api.post("/api/pl-measurements/", body, format="json").status_code == 201
    result = api.get(f"/api/pl-measurements/?sample={sample.pk}").json()["results"][0]
    assert (result["qy_pct"], result["peak_nm"], result["fwhm_nm"], result["fwhm_mev"]) == (
        89.0,
        512.0,
        8.5,
        40.1,
    )


def test_pl_qy_above_100_rejected(api, member):
    sample = builders.sample("NPL-QY", actor=member)
    response = api.post(
        "/api/pl-measurements/", {"sample": sample.pk, "qy_pct": 120}, format="json"
    )
    assert response.status_code == 400


def test_admin_upload_stores_and_parses(client, curator):
    curator.is_staff = curator.is_superuser = True
    curator.save()
    client.force_login(curator)
    sample = builders.sample("NPL-ADM")
    flags = "synthesis-dataflag-content_type-object_id"  # the admin's inline of curator flags
    response = client.post("/admin/characterization/datafile/add/", {
        "sample": sample.pk, "upload": SimpleUploadedFile(XRDML.name, XRDML.read_bytes()),
        f"{flags}-TOTAL_FORMS": "0", f"{flags}-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:1500]
    stored = DataFile.objects.get()
    assert (stored.format, stored.parse_status, stored.sample_id) == ("xrdml", "ok", sample.pk)
    page = client.get(f"/admin/characterization/datafile/{stored.pk}/change/").content.decode()
    assert f"/api/files/{stored.pk}/preview/" in page
