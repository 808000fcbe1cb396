"""A real S3-API server for tests: ``moto_server`` (moto[server]) as a separate process on
loopback, spoken to over HTTP by django-storages and boto3 exactly as a MinIO or AWS endpoint
would be. The session fixture ``s3_endpoint`` (tests/conftest.py) starts one per test process
and stops it by its pid; ``use_s3`` points Django's default storage at a bucket on it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
MOTO_SERVER = ROOT / ".venv" / "bin" / "moto_server"
KEYS = {"LABDB_S3_ACCESS_KEY": "testing", "LABDB_S3_SECRET_KEY": "testing",
        "LABDB_S3_REGION": "us-east-1", "LABDB_S3_ADDRESSING_STYLE": "path"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto_server started for the block, stopped after it."""
    port = _free_port()
    proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"moto_server did not listen on port {port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def storage_options(endpoint: str, bucket: str) -> dict:
    """The OPTIONS labdb/settings.py builds from LABDB_S3_* for this endpoint and bucket."""
    return {"bucket_name": bucket, "endpoint_url": endpoint, "access_key": "testing",
            "secret_key": "testing", "region_name": "us-east-1", "addressing_style": "path",
            "file_overwrite": False}


def use_s3(settings, endpoint: str, bucket: str) -> None:
    """Point the default storage (raw files, previews, fit plots) at ``bucket``."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": storage_options(endpoint, bucket)}}


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The environment variables that make a labdb process use ``bucket`` (README)."""
    return {**KEYS, "LABDB_S3_BUCKET": bucket, "LABDB_S3_ENDPOINT_URL": endpoint}


def client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


def new_bucket(endpoint: str, name: str) -> str:
    client(endpoint).create_bucket(Bucket=name)
    return name


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    """Every object in ``bucket``: key → bytes (read back over HTTP)."""
    s3 = client(endpoint)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", ()):
            out[entry["Key"]] = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return out
