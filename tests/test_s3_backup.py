"""Restore drill on S3: files in a bucket of a real S3-API server (moto_server over HTTP),
``manage.py backup`` copies every object into the backup with the manifest; ``manage.py
restore`` into a fresh database and an empty bucket (a separate manage.py process configured
by LABDB_S3_* as the README says); every row of every table and every object's bytes and
sha256 compared; verify_files then passes in the restored instance. A bucket that already
holds other bytes under a backed-up name is refused before anything is written.

Runs on the configured database: SQLite by default, PostgreSQL with
``bash scripts/with_postgres.sh .venv/bin/pytest -q tests/test_s3_backup.py``.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from tests import s3
from tests.test_backup import FILES, _connect, _instance_env, _load_part_of_demo, _manage, _pg_url
from tests.test_backup import _rows as rows_of

pytestmark = pytest.mark.django_db(transaction=True)


def _source_database() -> str:
    name = settings.DATABASES["default"]["NAME"]
    return name if connection.vendor == "sqlite" else _pg_url(name)


def test_s3_backup_then_restore_into_fresh_database_and_empty_bucket(settings, s3_endpoint,
                                                                     tmp_path):
    source = s3.new_bucket(s3_endpoint, "labdb-drill-source")
    s3.use_s3(settings, s3_endpoint, source)
    _load_part_of_demo()
    stored = s3.objects(s3_endpoint, source)
    assert len([k for k in stored if k.startswith("raw/")]) == len(FILES)

    dest = tmp_path / "backup"
    call_command("backup", str(dest))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["storage"] == "S3Storage bucket 'labdb-drill-source'"
    assert [f["path"] for f in manifest["files"]] == sorted(stored)
    for entry in manifest["files"]:
        body = stored[entry["path"]]
        assert (entry["sha256"], entry["size"]) == (hashlib.sha256(body).hexdigest(), len(body))
        assert (dest / "media" / entry["path"]).read_bytes() == body

    target = s3.new_bucket(s3_endpoint, "labdb-drill-restored")
    env = {**_instance_env(tmp_path), **s3.s3_env(s3_endpoint, target)}
    done = _manage(env, "restore", str(dest))
    assert done.returncode == 0, done.stderr
    assert s3.objects(s3_endpoint, target) == stored  # every key, byte for byte
    again = _manage(env, "restore", str(dest))
    assert again.returncode != 0
    assert "database: not empty" in again.stderr

    restored_db = env["DATABASE_URL"].removeprefix("sqlite:///")
    with _connect(_source_database()) as mine, _connect(restored_db) as theirs:
        for table, count in manifest["row_counts"].items():
            assert len(rows_of(theirs, table)) == count, table
            assert rows_of(theirs, table) == rows_of(mine, table), table
        shas = {r[0] for r in theirs.execute(
            'SELECT sha256 FROM "characterization_datafile"').fetchall()}
    assert shas == {hashlib.sha256(p.read_bytes()).hexdigest() for p in FILES}
    check = _manage(env, "verify_files")
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == [
        "file storage: S3Storage bucket 'labdb-drill-restored'",
        f"{len(FILES)} files checked, 0 missing, 0 altered, 0 orphans",
    ]


def test_restore_refuses_a_bucket_holding_other_bytes(settings, s3_endpoint, tmp_path):
    source = s3.new_bucket(s3_endpoint, "labdb-refuse-source")
    s3.use_s3(settings, s3_endpoint, source)
    _load_part_of_demo()
    dest = tmp_path / "backup"
    call_command("backup", str(dest))
    manifest = json.loads((dest / "manifest.json").read_text())
    target = s3.new_bucket(s3_endpoint, "labdb-refuse-target")
    taken = manifest["files"][0]["path"]
    s3.client(s3_endpoint).put_object(Bucket=target, Key=taken, Body=b"another lab's bytes")
    env = {**_instance_env(tmp_path), **s3.s3_env(s3_endpoint, target)}
    done = _manage(env, "restore", str(dest))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "CommandError: file storage (S3Storage bucket 'labdb-refuse-target'): 1 stored file(s) "
        f"differ from the backup, e.g. {taken}; restore goes into an empty instance (pass "
        "--force to overwrite them).")
    assert s3.objects(s3_endpoint, target) == {taken: b"another lab's bytes"}
    forced = _manage(env, "restore", "--force", str(dest))
    assert forced.returncode == 0, forced.stderr
    assert s3.objects(s3_endpoint, target) == s3.objects(s3_endpoint, source)
