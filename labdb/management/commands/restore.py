"""``manage.py restore SRC [--force]``: a backup into an empty instance (see snapshot.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labdb.management.snapshot import BackupError, restore


class Command(BaseCommand):
    help = "Restore a `manage.py backup` directory into this (empty) instance."

    def add_arguments(self, parser):
        parser.add_argument("src", help="A directory written by `manage.py backup`.")
        parser.add_argument("--force", action="store_true",
                            help="Overwrite a database that already holds data.")

    def handle(self, *args, **options):
        try:
            manifest = restore(Path(options["src"]), force=options["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"restored backup of {manifest['created_at']}: "
            f"{sum(manifest['row_counts'].values())} rows, {len(manifest['files'])} files"))
