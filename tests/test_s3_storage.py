"""Raw files on a real S3-API server (moto_server subprocess over HTTP, tests/s3.py): upload
through the API and the web page, download (bytes unchanged, ETag = sha256), previews rendered
into and served from the bucket, verify_files reading every object back (altered, missing and
orphaned objects), a missing object on download (410 naming the file), a missing bucket (503),
and migrate_files both ways."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests import s3
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

XDI = SHARED_DATA / "xas" / "larch_examples" / "cu_metal_rt.xdi"
CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"

pytestmark = pytest.mark.django_db


def _upload(api, path=XDI):
    with path.open("rb") as handle:
        return api.post("/api/files/", {"file": handle}, format="multipart")


def _raw_key(sha: str, name: str) -> str:
    return f"raw/{sha[:2]}/{sha[2:4]}/{sha}/{name}"


def test_api_upload_download_and_preview_through_s3(settings, s3_endpoint, api):
    bucket = s3.new_bucket(s3_endpoint, "labdb-api")
    s3.use_s3(settings, s3_endpoint, bucket)
    response = _upload(api)
    assert response.status_code == 202, response.content
    body = response.json()
    sha = hashlib.sha256(XDI.read_bytes()).hexdigest()
    assert body["sha256"] == sha
    stored = s3.objects(s3_endpoint, bucket)
    assert sorted(stored) == [f"previews/{sha}.png", _raw_key(sha, "cu_metal_rt.xdi")]
    assert stored[_raw_key(sha, "cu_metal_rt.xdi")] == XDI.read_bytes()

    download = api.get(f"/api/files/{body['id']}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == XDI.read_bytes()
    assert download["ETag"] == f'"{sha}"'
    assert download["Repr-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:"

    preview = api.get(f"/api/files/{body['id']}/preview/")
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/png"
    assert b"".join(preview.streaming_content) == stored[f"previews/{sha}.png"]
    assert stored[f"previews/{sha}.png"][:8] == b"\x89PNG\r\n\x1a\n"
    health = Client().get("/health/").json()
    assert health["checks"]["storage"] == {"ok": True, "message": "S3Storage reachable"}


def test_web_upload_download_and_preview_through_s3(settings, s3_endpoint, member):
    bucket = s3.new_bucket(s3_endpoint, "labdb-web")
    s3.use_s3(settings, s3_endpoint, bucket)
    sample = builders.sample("NPL-S3-WEB", actor=member, synthesis_date=dt.date(2026, 1, 5))
    browser = Client()
    browser.force_login(member)
    with CARY.open("rb") as handle:
        page = browser.post(f"/samples/{sample.pk}/files/", {"files": [handle]})
    assert page.status_code == 302
    from characterization.models import DataFile

    data_file = DataFile.objects.get(original_name=CARY.name)
    sha = hashlib.sha256(CARY.read_bytes()).hexdigest()
    stored = s3.objects(s3_endpoint, bucket)
    assert sorted(stored) == [f"previews/{sha}.png", _raw_key(sha, CARY.name)]
    assert data_file.file.name == _raw_key(sha, CARY.name)
    download = browser.get(f"/files/{data_file.pk}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CARY.read_bytes()
    assert download["ETag"] == f'"{sha}"'
    preview = browser.get(f"/files/{data_file.pk}/preview.png")
    assert preview.status_code == 200
    assert b"".join(preview.streaming_content) == stored[f"previews/{sha}.png"]


def test_missing_object_is_a_410_naming_the_file(settings, s3_endpoint, api, member):
    bucket = s3.new_bucket(s3_endpoint, "labdb-gone")
    s3.use_s3(settings, s3_endpoint, bucket)
    body = _upload(api).json()
    client = s3.client(s3_endpoint)
    for key in s3.objects(s3_endpoint, bucket):
        client.delete_object(Bucket=bucket, Key=key)
    key = _raw_key(body["sha256"], "cu_metal_rt.xdi")
    message = (f"data file {body['id']} (cu_metal_rt.xdi): its stored bytes ({key}) are missing "
               "from the file storage (S3Storage). The record is kept; a curator can restore "
               "the file from a backup (manage.py verify_files lists every missing file).")
    download = api.get(f"/api/files/{body['id']}/download/")
    assert download.status_code == 410
    assert download.json() == {"error": "StoredFileMissing", "message": message, "field": "file"}
    preview = api.get(f"/api/files/{body['id']}/preview/")
    assert preview.status_code == 410
    assert preview.json()["message"].startswith(
        f"preview of data file {body['id']} (cu_metal_rt.xdi): its stored bytes "
        f"(previews/{body['sha256']}.png) are missing")
    browser = Client()
    browser.force_login(member)
    page = browser.get(f"/files/{body['id']}/download/")
    assert page.status_code == 410
    assert page.content.decode() == message


def test_missing_bucket_is_a_json_503_and_a_health_failure(settings, s3_endpoint, api):
    s3.use_s3(settings, s3_endpoint, "no-such-bucket")
    response = _upload(api)
    assert response.status_code == 503
    assert response.json() == {
        "error": "StorageError",
        "message": "file storage: S3 bucket 'no-such-bucket' does not exist at the configured "
        "endpoint",
    }
    health = Client().get("/health/")
    assert health.status_code == 503
    assert health.json()["checks"]["storage"] == {
        "ok": False,
        "message": "S3 bucket 'no-such-bucket' does not exist at the configured endpoint",
    }


def _verify(*args) -> list[str]:
    out = StringIO()
    call_command("verify_files", *args, stdout=out)
    return out.getvalue().splitlines()


def test_verify_files_reads_every_object_back_from_s3(settings, s3_endpoint, api):
    bucket = s3.new_bucket(s3_endpoint, "labdb-verify")
    s3.use_s3(settings, s3_endpoint, bucket)
    xdi, cary = _upload(api).json(), _upload(api, CARY).json()
    assert _verify() == ["file storage: S3Storage bucket 'labdb-verify'",
                         "2 files checked, 0 missing, 0 altered, 0 orphans"]
    client = s3.client(s3_endpoint)
    orphan = _raw_key("f" * 64, "crashed-upload.csv")
    client.put_object(Bucket=bucket, Key=orphan, Body=b"half an upload")
    client.put_object(Bucket=bucket, Key=_raw_key(cary["sha256"], CARY.name), Body=b"edited")
    client.delete_object(Bucket=bucket, Key=_raw_key(xdi["sha256"], XDI.name))
    out = StringIO()
    with pytest.raises(CommandError) as err:
        call_command("verify_files", "--delete-orphans", stdout=out)
    assert str(err.value) == "2 files checked, 1 missing, 1 altered, 1 orphans"
    assert out.getvalue().splitlines() == [
        "file storage: S3Storage bucket 'labdb-verify'",
        f"orphan: {orphan} (deleted)",
        f"missing: data file {xdi['id']} (cu_metal_rt.xdi): {_raw_key(xdi['sha256'], XDI.name)}",
        f"sha256 differs: data file {cary['id']} ({CARY.name}): "
        f"{_raw_key(cary['sha256'], CARY.name)}",
    ]
    assert orphan not in s3.objects(s3_endpoint, bucket)


def test_verify_files_lists_and_removes_orphans_in_the_bucket(settings, s3_endpoint, api):
    bucket = s3.new_bucket(s3_endpoint, "labdb-orphans")
    s3.use_s3(settings, s3_endpoint, bucket)
    _upload(api)
    client = s3.client(s3_endpoint)
    orphans = [_raw_key("e" * 64, "killed.xdi"), f"previews/{'e' * 64}.png"]
    for key in orphans:
        client.put_object(Bucket=bucket, Key=key, Body=b"left by a killed server")
    client.put_object(Bucket=bucket, Key="fits/7/chi_k.json", Body=b"{}")  # not a raw file
    assert _verify() == ["file storage: S3Storage bucket 'labdb-orphans'",
                         f"orphan: {orphans[0]}", f"orphan: {orphans[1]}",
                         "1 files checked, 0 missing, 0 altered, 2 orphans"]
    assert _verify("--delete-orphans")[1:3] == [f"orphan: {orphans[0]} (deleted)",
                                                f"orphan: {orphans[1]} (deleted)"]
    assert sorted(set(s3.objects(s3_endpoint, bucket)) & set(orphans)) == []
    assert "fits/7/chi_k.json" in s3.objects(s3_endpoint, bucket)
    assert _verify()[-1] == "1 files checked, 0 missing, 0 altered, 0 orphans"


def test_migrate_files_both_ways_verified_and_idempotent(settings, s3_endpoint, tmp_path):
    from characterization.models import DataFile
    from characterization.services import attach_data_file

    settings.MEDIA_ROOT = tmp_path / "media"
    attach_data_file(content=XDI.read_bytes(), filename=XDI.name, sample=None)
    names = sorted(
        str(p.relative_to(settings.MEDIA_ROOT))
        for p in settings.MEDIA_ROOT.rglob("*")
        if p.is_file()
    )
    bucket = s3.new_bucket(s3_endpoint, "labdb-move")
    s3.use_s3(settings, s3_endpoint, bucket)
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        call_command("migrate_files", "--to", "s3", stdout=handle)
        call_command("migrate_files", "--to", "s3", stdout=handle)
    lines = out.read_text().splitlines()
    n = len(names)
    assert lines == [
        f"{n}/{n} files checked",
        f"to s3: {n} copied, 0 already present (sha256 equal), 0 missing from the source",
        f"{n}/{n} files checked",
        f"to s3: 0 copied, {n} already present (sha256 equal), 0 missing from the source",
    ]
    assert sorted(s3.objects(s3_endpoint, bucket)) == names
    for path in settings.MEDIA_ROOT.rglob("*"):
        if path.is_file():
            path.unlink()
    with out.open("w") as handle:
        call_command("migrate_files", "--to", "local", stdout=handle)
    assert out.read_text().splitlines()[-1] == (
        f"to local: {n} copied, 0 already present (sha256 equal), 0 missing from the source"
    )
    stored = DataFile.objects.get(original_name=XDI.name)
    assert (settings.MEDIA_ROOT / stored.file.name).read_bytes() == XDI.read_bytes()
