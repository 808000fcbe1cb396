"""``manage.py migrate_files --to s3|local``: copy every stored file between local disk and S3.

Both directions need the S3 settings (LABDB_S3_BUCKET…) and MEDIA_ROOT: ``--to s3`` copies from
MEDIA_ROOT into the bucket (run it before switching, or after, for files stored earlier);
``--to local`` the reverse. Each file keeps its name; the copy is read back and its sha256
compared with the source's. A file already present with the same sha256 is skipped, so the
command is idempotent; one present with different content stops the command (nothing is
overwritten). One progress line per 50 files and a summary at the end.
"""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.management.base import BaseCommand, CommandError
from django.db import models

LABDB_APPS = ("synthesis", "characterization", "analysis")


def _s3_storage():
    from storages.backends.s3 import S3Storage

    backend = settings.STORAGES["default"]
    if not backend["BACKEND"].endswith("S3Storage"):
        raise CommandError("LABDB_S3_BUCKET is not set: there is no S3 storage to copy to or from.")
    return S3Storage(**backend.get("OPTIONS", {}))


def stored_names() -> list[str]:
    """Every file name referenced by a FileField of a labdb model (sorted, unique)."""
    names: set[str] = set()
    for model in apps.get_models():
        if model._meta.app_label not in LABDB_APPS:
            continue
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names.update(n for n in model._base_manager.values_list(field.name, flat=True) if n)
    return sorted(names)


def _sha256(storage, name: str) -> str:
    with storage.open(name, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class Command(BaseCommand):
    help = "Copy stored files between MEDIA_ROOT and the S3 bucket, verified by sha256."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=["s3", "local"])

    def handle(self, *args, **options):
        local = FileSystemStorage(location=settings.MEDIA_ROOT)
        s3 = _s3_storage()
        source, target = (local, s3) if options["to"] == "s3" else (s3, local)
        names = stored_names()
        counts = {"copied": 0, "present": 0, "missing": 0}
        for index, name in enumerate(names, start=1):
            counts[self._copy(source, target, name)] += 1
            if index % 50 == 0 or index == len(names):
                self.stdout.write(f"{index}/{len(names)} files checked")
        self.stdout.write(
            f"to {options['to']}: {counts['copied']} copied, {counts['present']} already "
            f"present (sha256 equal), {counts['missing']} missing from the source"
        )
        if counts["missing"]:
            raise CommandError(f"{counts['missing']} file(s) were missing from the source.")

    def _copy(self, source, target, name: str) -> str:
        if not source.exists(name):
            self.stderr.write(f"missing from the source: {name}")
            return "missing"
        with source.open(name, "rb") as handle:
            content = handle.read()
        digest = hashlib.sha256(content).hexdigest()
        if target.exists(name):
            if _sha256(target, name) == digest:
                return "present"
            raise CommandError(f"{name}: the target holds different content; nothing overwritten.")
        saved = target.save(name, ContentFile(content))
        if saved != name or _sha256(target, name) != digest:
            raise CommandError(f"{name}: the copy does not match the source's sha256.")
        return "copied"
