"""Backup, restore and file verification (``manage.py backup / restore / verify_files``).

A backup directory holds ``database.sqlite3`` (SQLite, made with the online backup API, so
writes in progress never leave it half-copied) or ``database.pgdump`` (PostgreSQL, ``pg_dump
-Fc`` inside an exported REPEATABLE READ snapshot, the same snapshot the row counts are read in),
``media/`` (every stored file, byte for byte) and ``manifest.json``: each file's path, sha256
and size, row counts per table, labdb version, database vendor and ``created_at`` (ISO 8601
with microseconds, UTC).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

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
    media = Path(settings.MEDIA_ROOT)
    files = []
    for path in sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []:
        rel = path.relative_to(media).as_posix()
        target = dest / "media" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        files.append({"path": rel, "sha256": sha256_file(target), "size": target.stat().st_size})
    return files


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
    Checks every file against the manifest before writing anything, and the restored row
    counts against it afterwards."""
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
    media = Path(settings.MEDIA_ROOT)
    for entry in manifest["files"]:
        target = media / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "media" / entry["path"], target)
    counts = _current_counts(manifest["row_counts"])
    if counts != manifest["row_counts"]:
        raise BackupError(f"restored row counts differ from the manifest: {counts}")
    return manifest


def _current_counts(tables) -> dict[str, int]:
    with connection.cursor() as cursor:
        out = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            out[table] = cursor.fetchone()[0]
    return out


def verify_files(*, delete_orphans: bool = False) -> dict:
    """Every DataFile's bytes against its sha256 and size; stored bytes under media/raw that no
    row names (orphans, e.g. left by a crashed upload), removed with ``delete_orphans``.

    Returns {"checked": n, "missing": [...], "mismatched": [...], "orphans": [...],
    "deleted": [...]} with paths relative to MEDIA_ROOT."""
    from characterization.models import DataFile

    media = Path(settings.MEDIA_ROOT)
    report = {"checked": 0, "missing": [], "mismatched": [], "orphans": [], "deleted": []}
    known = set()
    for name, sha, size in DataFile.objects.values_list("file", "sha256", "size_bytes"):
        known.add(name)
        report["checked"] += 1
        path = media / name
        if not path.exists():
            report["missing"].append(name)
        elif path.stat().st_size != size or sha256_file(path) != sha:
            report["mismatched"].append(name)
    raw = media / "raw"
    for path in sorted(p for p in raw.rglob("*") if p.is_file()) if raw.exists() else []:
        rel = path.relative_to(media).as_posix()
        if rel not in known:
            report["orphans"].append(rel)
            if delete_orphans:
                path.unlink()
                report["deleted"].append(rel)
    return report
