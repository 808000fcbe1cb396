"""Restore drill: back up WHILE a thread keeps writing, restore into a fresh database and media
folder, compare every row of every table and every checksum; verify_files finds and removes the
orphaned bytes of a crashed upload.

Runs on the configured database: SQLite by default, PostgreSQL with
``bash scripts/with_postgres.sh .venv/bin/pytest -q tests/test_backup.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db import connections as django_connections

from labdb.management.snapshot import sha256_file
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[1]
FILES = [SHARED_DATA / "instruments" / "emsa" / "example1.msa",
         SHARED_DATA / "instruments" / "jcamp" / "BRUKER1.JCM"]


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _load_part_of_demo():
    from analysis.demo import ensure_demo_users
    from characterization.demo import load_characterization
    from characterization.services import attach_data_file
    from synthesis.demo import load_synthesis, read_demo_file

    actor = ensure_demo_users()
    ctx = load_synthesis(read_demo_file("seed002.json"), actor=actor)
    load_characterization(ctx, read_demo_file("seed002.json"))
    sample = next(iter(ctx.samples.values()))
    for path in FILES:
        attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample,
                         actor=actor)


class Writer(threading.Thread):
    """Keeps committing new groups (one transaction each) until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.committed: list[str] = []

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                name = f"writer-{i}"
                try:
                    Group.objects.create(name=name)
                except OperationalError:  # SQLite busy while the backup reads: try again
                    time.sleep(0.01)
                    continue
                self.committed.append(name)
                i += 1
        finally:
            django_connections.close_all()


def _instance_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    var = tmp_path / "restored-var"
    env["LABDB_VAR_DIR"] = str(var)
    env["MEDIA_ROOT"] = str(var / "media")
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{var / 'labdb.sqlite3'}"
    else:
        import psycopg

        db = settings.DATABASES["default"]
        name = f"restored_{os.getpid()}"
        with psycopg.connect(_pg_url(db["NAME"]), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = _pg_url(name)
    return env


def _pg_url(name: str) -> str:
    db = settings.DATABASES["default"]
    return (f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or 'localhost'}"
            f":{db.get('PORT') or 5432}/{name}")


def _manage(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def _connect(url_or_path: str):
    if connection.vendor == "sqlite":
        return sqlite3.connect(url_or_path)
    import psycopg

    return psycopg.connect(url_or_path)


def _rows(conn, table: str) -> list[tuple]:
    rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    return sorted((tuple(r) for r in rows), key=repr)


def test_restore_drill_while_writing(tmp_path, media):
    _load_part_of_demo()
    writer = Writer()
    writer.start()
    while len(writer.committed) < 20:
        time.sleep(0.01)
    before = list(writer.committed)
    dest = tmp_path / "backup"
    call_command("backup", str(dest))
    time.sleep(0.2)
    writer.stop.set()
    writer.join()
    assert len(writer.committed) > len(before)

    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["database_vendor"] == connection.vendor
    assert len(manifest["created_at"].split(".")[1]) >= 6  # microseconds
    stored = sorted(p.relative_to(media).as_posix() for p in Path(media).rglob("*") if p.is_file())
    assert [f["path"] for f in manifest["files"]] == stored
    for entry in manifest["files"]:
        assert entry["sha256"] == sha256_file(Path(media) / entry["path"])

    env = _instance_env(tmp_path)
    done = _manage(env, "restore", str(dest))
    assert done.returncode == 0, done.stderr
    again = _manage(env, "restore", str(dest))
    assert again.returncode != 0
    assert "database: not empty" in again.stderr

    source_db = settings.DATABASES["default"]["NAME"] if connection.vendor == "sqlite" \
        else _pg_url(settings.DATABASES["default"]["NAME"])
    restored_db = env["DATABASE_URL"].removeprefix("sqlite:///")
    with _connect(source_db) as source, _connect(restored_db) as restored:
        for table, count in manifest["row_counts"].items():
            mine, theirs = _rows(source, table), _rows(restored, table)
            assert len(theirs) == count, table
            if table == "auth_group":
                assert set(theirs) <= set(mine)  # the writer went on after the snapshot
                names = {row[1] for row in theirs}
                assert set(before) <= names  # every row committed before the backup is there
            else:
                assert theirs == mine, table  # timestamps compared as stored (microseconds)
        stamps = [r[0] for r in restored.execute(
            'SELECT uploaded_at FROM "characterization_datafile"').fetchall()]
        assert len(stamps) == len(FILES)
    restored_media = Path(env["MEDIA_ROOT"])
    for entry in manifest["files"]:
        assert sha256_file(restored_media / entry["path"]) == entry["sha256"]
    check = _manage(env, "verify_files")
    assert check.returncode == 0, check.stderr
    assert f"{len(FILES)} files checked, 0 missing, 0 altered, 0 orphans" in check.stdout


def test_verify_files_finds_and_deletes_orphans_of_crashed_upload(media):
    from characterization.models import DataFile

    _load_part_of_demo()
    orphan = Path(media) / "raw" / "de" / "ad" / ("dead" + "0" * 60) / "crashed.msa"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(FILES[0].read_bytes() + b"partial")
    from io import StringIO

    out = StringIO()
    call_command("verify_files", stdout=out)
    rel = orphan.relative_to(media).as_posix()
    assert f"orphan: {rel}\n" in out.getvalue()
    assert "2 files checked, 0 missing, 0 altered, 1 orphans" in out.getvalue()
    out = StringIO()
    call_command("verify_files", "--delete-orphans", stdout=out)
    assert f"orphan: {rel} (deleted)" in out.getvalue()
    assert not orphan.exists()
    for data_file in DataFile.objects.all():
        assert sha256_file(Path(media) / data_file.file.name) == data_file.sha256


def test_verify_files_reports_altered_and_missing_bytes(media):
    from django.core.management import CommandError

    from characterization.models import DataFile

    _load_part_of_demo()
    first, second = DataFile.objects.order_by("pk")
    (Path(media) / first.file.name).write_bytes(b"edited by hand")
    (Path(media) / second.file.name).unlink()
    with pytest.raises(CommandError) as err:
        call_command("verify_files")
    assert str(err.value) == "2 files checked, 1 missing, 1 altered, 0 orphans"
