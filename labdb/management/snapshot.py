"""Backup, restore and file verification (``manage.py backup / restore / verify_files``).

A backup directory holds ``database.sqlite3`` (SQLite, made with the online backup API, so
writes in progress never leave it half-copied) or ``database.pgdump`` (PostgreSQL, ``pg_dump
-Fc`` inside an exported REPEATABLE READ snapshot, the same snapshot the row counts are read in),
``media/`` (every stored file, byte for byte, read back from the file storage: the local media
folder or the S3 bucket) and ``manifest.json``: each file's path, sha256 and size, row counts per
table, labdb version, database vendor, the storage backend and ``created_at`` (ISO 8601 with
microseconds, UTC). ``restore`` writes the files into this instance's storage (folder or bucket)
and reads every one back to compare its sha256 with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, connections

from labdb.storage import CHUNK_BYTES, backend_name, copy_into, sha256_stored, stored_names

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
# Tables a freshly migrated database already fills (not data: restore may overwrite them).
SCAFFOLD_TABLES = {"django_migrations", "django_content_type", "auth_permission", "auth_group",
                   "auth_group_permissions", "sqlite_sequence"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why in plain words."""


def labdb_version() -> str:
    try:
        return version("labdb")
    except PackageNotFoundError:
        text = (Path(settings.BASE_DIR) / "pyproject.toml").read_text()
        for line in text.splitlines():
            if line.startswith("version"):
                return line.split("=", 1)[1].strip().strip('"')
    return "unknown"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_url() -> str:
    db = settings.DATABASES["default"]
    return (f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or 'localhost'}"
            f":{db.get('PORT') or 5432}/{db['NAME']}")


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}


def _snapshot_sqlite(dest: Path) -> dict[str, int]:
    source = sqlite3.connect(settings.DATABASES["default"]["NAME"])
    target = sqlite3.connect(dest / SQLITE_FILE)
    try:
        source.backup(target)  # online backup API: one consistent copy, writers may go on
        return _sqlite_counts(target)
    finally:
        target.close()
        source.close()


def _snapshot_postgres(dest: Path) -> dict[str, int]:
    import psycopg

    with psycopg.connect(_pg_url()) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        done = subprocess.run(
            ["pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(dest / PG_FILE), _pg_url()],
            capture_output=True, text=True,
        )
        conn.rollback()
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return counts


def _copy_media(dest: Path) -> list[dict]:
    """Every stored name (folder or bucket) copied to ``dest/media``, streamed, with the sha256
    and size of the bytes read from the storage. Sorted by path."""
    files = []
    for name in sorted(stored_names("")):
        target = dest / "media" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with default_storage.open(name, "rb") as source, target.open("wb") as out:
            for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
        files.append({"path": name, "sha256": digest.hexdigest(), "size": size})
    return files


def storage_description() -> str:
    """``S3Storage bucket 'labdb-raw'`` or ``FileSystemStorage /var/labdb/media``."""
    options = settings.STORAGES["default"].get("OPTIONS", {})
    if "bucket_name" in options:
        return f"{backend_name()} bucket {options['bucket_name']!r}"
    return f"{backend_name()} {settings.MEDIA_ROOT}"


def backup(dest: Path) -> dict:
    """Write a consistent snapshot of the database, the stored files and the manifest to
    ``dest`` (a new or empty directory). The database is copied first, then the files, so every
    file row of the snapshot has its bytes (files added meanwhile are extra, never missing)."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"DEST {dest}: not empty; back up into a new or empty directory.")
    dest.mkdir(parents=True, exist_ok=True)
    vendor = connection.vendor
    created_at = datetime.now(UTC)
    if vendor == "sqlite":
        counts = _snapshot_sqlite(dest)
    elif vendor == "postgresql":
        counts = _snapshot_postgres(dest)
    else:
        raise BackupError(f"database vendor {vendor!r}: only sqlite and postgresql are supported.")
    manifest = {
        "labdb_version": labdb_version(),
        "database_vendor": vendor,
        "database_file": SQLITE_FILE if vendor == "sqlite" else PG_FILE,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "row_counts": counts,
        "storage": storage_description(),
        "files": _copy_media(dest),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(src: Path) -> dict:
    path = Path(src) / MANIFEST
    if not path.exists():
        raise BackupError(f"SRC {src}: no {MANIFEST}; not a labdb backup directory.")
    return json.loads(path.read_text())


def data_rows() -> int:
    """Rows in the current database outside the tables a fresh migrate fills."""
    tables = set(connection.introspection.table_names()) - SCAFFOLD_TABLES
    with connection.cursor() as cursor:
        total = 0
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            total += cursor.fetchone()[0]
    return total


def _check_files(src: Path, manifest: dict) -> None:
    for entry in manifest["files"]:
        path = src / "media" / entry["path"]
        if not path.exists() or sha256_file(path) != entry["sha256"]:
            raise BackupError(f"backup file media/{entry['path']}: missing or its sha256 differs "
                              "from the manifest; the backup is damaged, nothing restored.")


def restore(src: Path, *, force: bool = False) -> dict:
    """Restore the backup in ``src`` into this instance's database and media folder.

    Refuses a database holding data unless ``force``; refuses a backup of the other vendor.
    Checks every backed-up file against the manifest, and the storage (folder or bucket) for
    names that hold other bytes (refused unless ``force``), before writing anything; afterwards
    reads every restored file back from the storage and compares its sha256 with the
    manifest, and the restored row counts."""
    src = Path(src)
    manifest = read_manifest(src)
    vendor = connection.vendor
    if manifest["database_vendor"] != vendor:
        raise BackupError(f"backup is of a {manifest['database_vendor']} database; this instance "
                          f"uses {vendor}.")
    if not force and data_rows():
        raise BackupError("database: not empty; restore goes into an empty instance (pass "
                          "--force to overwrite it).")
    _check_files(src, manifest)
    replace = _storage_conflicts(manifest, force=force)
    connections.close_all()
    if vendor == "sqlite":
        source = sqlite3.connect(src / SQLITE_FILE)
        target = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        done = subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
             "-d", _pg_url(), str(src / PG_FILE)], capture_output=True, text=True)
        if done.returncode:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()}")
    _restore_files(src, manifest, replace=replace)
    counts = _current_counts(manifest["row_counts"])
    if counts != manifest["row_counts"]:
        raise BackupError(f"restored row counts differ from the manifest: {counts}")
    return manifest


def _storage_conflicts(manifest: dict, *, force: bool) -> set[str]:
    """Names the storage already holds with other bytes than the manifest's: BackupError
    unless ``force`` (then they are the ones to replace). Equal bytes are simply kept."""
    conflicts = set()
    for entry in manifest["files"]:
        found = sha256_stored(entry["path"])
        if found is not None and found[0] != entry["sha256"]:
            conflicts.add(entry["path"])
    if conflicts and not force:
        first = sorted(conflicts)[0]
        raise BackupError(f"file storage ({storage_description()}): {len(conflicts)} stored "
                          f"file(s) differ from the backup, e.g. {first}; restore goes into an "
                          "empty instance (pass --force to overwrite them).")
    return conflicts


def _restore_files(src: Path, manifest: dict, *, replace: set[str]) -> None:
    """Write every backed-up file into the storage under its own name, then read it back:
    BackupError naming the file when its sha256 differs from the manifest."""
    for entry in manifest["files"]:
        name = entry["path"]
        if name in replace:
            default_storage.delete(name)
        if not default_storage.exists(name):
            with (src / "media" / name).open("rb") as handle:
                copy_into(default_storage, name, handle)
        found = sha256_stored(name)
        if found != (entry["sha256"], entry["size"]):
            raise BackupError(f"file storage: {name} read back after the restore does not match "
                              "the manifest's sha256 and size.")


def _current_counts(tables) -> dict[str, int]:
    with connection.cursor() as cursor:
        out = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            out[table] = cursor.fetchone()[0]
    return out


def verify_files(*, delete_orphans: bool = False) -> dict:
    """Every DataFile's bytes, read back from the file storage (folder or bucket), against
    its sha256 and size; previews present; stored names under ``raw/`` and ``previews/`` that no
    row names (orphans, e.g. left by a crashed upload), removed with ``delete_orphans``.

    Returns {"checked": n, "missing": [...], "mismatched": [...], "missing_previews": [...],
    "orphans": [...], "deleted": [...]}: storage names; missing/mismatched/missing_previews as
    ``"data file 12 (cu_metal_rt.xdi): raw/…"`` so the row can be found."""
    from characterization.models import DataFile

    report = {"checked": 0, "missing": [], "mismatched": [], "missing_previews": [],
              "orphans": [], "deleted": []}
    known = set()
    rows = DataFile.objects.values_list("pk", "original_name", "file", "sha256", "size_bytes",
                                        "preview").order_by("pk")
    for pk, original, name, sha, size, preview in rows:
        known.update({name, preview} - {""})
        report["checked"] += 1
        row = f"data file {pk} ({original}): "
        found = sha256_stored(name)
        if found is None:
            report["missing"].append(row + name)
        elif found != (sha, size):
            report["mismatched"].append(row + name)
        if preview and not default_storage.exists(preview):
            report["missing_previews"].append(row + preview)
    for folder in ("raw", "previews"):
        for name in stored_names(folder):
            if name not in known:
                report["orphans"].append(name)
                if delete_orphans:
                    default_storage.delete(name)
                    report["deleted"].append(name)
    return report
