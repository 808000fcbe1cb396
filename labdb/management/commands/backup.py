"""``manage.py backup DEST``: database snapshot, stored files, manifest (see snapshot.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labdb.management.snapshot import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database (consistent snapshot), the stored files and a manifest to DEST."

    def add_arguments(self, parser):
        parser.add_argument("dest", help="A new or empty directory.")

    def handle(self, *args, **options):
        try:
            manifest = backup(Path(options["dest"]))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        rows = sum(manifest["row_counts"].values())
        self.stdout.write(self.style.SUCCESS(
            f"backup of {manifest['database_vendor']} written to {options['dest']}: {rows} rows "
            f"in {len(manifest['row_counts'])} tables, {len(manifest['files'])} files"))
