"""Raw files on a real S3-API server (moto_server subprocess, stopped by its pid): upload,
download, and clear JSON errors plus a /health/ failure for a missing bucket or object."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
XDI = ROOT.parent / "shared" / "data" / "xas" / "larch_examples" / "cu_metal_rt.xdi"

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    port = _free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _use_s3(settings, endpoint, bucket):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "file_overwrite": False,
            },
        },
    }


def _client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _upload(api):
    with XDI.open("rb") as handle:
        return api.post("/api/files/", {"file": handle}, format="multipart")


def test_upload_and_download_through_s3(settings, s3_endpoint, api):
    _client(s3_endpoint).create_bucket(Bucket="labdb-raw")
    _use_s3(settings, s3_endpoint, "labdb-raw")
    response = _upload(api)
    assert response.status_code == 201, response.content
    file_id = response.json()["id"]
    download = api.get(f"/api/files/{file_id}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == XDI.read_bytes()
    keys = [o["Key"] for o in _client(s3_endpoint).list_objects_v2(Bucket="labdb-raw")["Contents"]]
    sha = response.json()["sha256"]
    assert sorted(keys) == [
        f"previews/{sha}.png",
        f"raw/{sha[:2]}/{sha[2:4]}/{sha}/cu_metal_rt.xdi",
    ]
    health = Client().get("/health/").json()
    assert health["checks"]["storage"] == {"ok": True, "message": "S3Storage reachable"}


def test_missing_bucket_is_a_json_503_and_a_health_failure(settings, s3_endpoint, api):
    _use_s3(settings, s3_endpoint, "no-such-bucket")
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


def test_missing_object_is_a_json_error(settings, s3_endpoint, api):
    _client(s3_endpoint).create_bucket(Bucket="labdb-gone")
    _use_s3(settings, s3_endpoint, "labdb-gone")
    response = _upload(api)
    assert response.status_code == 201, response.content
    body = response.json()
    s3 = _client(s3_endpoint)
    for obj in s3.list_objects_v2(Bucket="labdb-gone")["Contents"]:
        s3.delete_object(Bucket="labdb-gone", Key=obj["Key"])
    download = api.get(f"/api/files/{body['id']}/download/")
    assert download.status_code == 500
    assert download.json()["error"] == "StorageError"
    assert download.json()["message"].startswith("file storage: a stored file is missing")


def test_migrate_files_both_ways_verified_and_idempotent(settings, s3_endpoint, tmp_path):
    from django.core.management import call_command

    from characterization.models import DataFile
    from characterization.services import attach_data_file

    settings.MEDIA_ROOT = tmp_path / "media"
    attach_data_file(content=XDI.read_bytes(), filename=XDI.name, sample=None)
    names = sorted(
        str(p.relative_to(settings.MEDIA_ROOT))
        for p in settings.MEDIA_ROOT.rglob("*")
        if p.is_file()
    )
    _client(s3_endpoint).create_bucket(Bucket="labdb-move")
    _use_s3(settings, s3_endpoint, "labdb-move")
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
    listed = _client(s3_endpoint).list_objects_v2(Bucket="labdb-move")["Contents"]
    assert sorted(o["Key"] for o in listed) == names
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
