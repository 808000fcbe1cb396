"""``manage.py verify_files [--delete-orphans]``: stored bytes against their DataFile rows.

Works on the configured file storage, the local media folder or the S3 bucket: every file is
read back from it and its sha256 compared with the row's."""

from django.core.management.base import BaseCommand, CommandError

from labdb.management.snapshot import storage_description, verify_files


class Command(BaseCommand):
    help = ("Read every stored file back from the file storage (media folder or S3 bucket) and "
            "check its sha256 against its DataFile row; list rows whose file or preview is "
            "missing and orphaned bytes under raw/ and previews/; --delete-orphans removes "
            "the orphans.")

    def add_arguments(self, parser):
        parser.add_argument("--delete-orphans", action="store_true")

    def handle(self, *args, **options):
        self.stdout.write(f"file storage: {storage_description()}")
        report = verify_files(delete_orphans=options["delete_orphans"])
        for name in report["orphans"]:
            deleted = " (deleted)" if name in report["deleted"] else ""
            self.stdout.write(f"orphan: {name}{deleted}")
        for row in report["missing"]:
            self.stdout.write(f"missing: {row}")
        for row in report["mismatched"]:
            self.stdout.write(f"sha256 differs: {row}")
        for row in report["missing_previews"]:
            self.stdout.write(f"preview missing (re-parse the file to render it): {row}")
        summary = (f"{report['checked']} files checked, {len(report['missing'])} missing, "
                   f"{len(report['mismatched'])} altered, {len(report['orphans'])} orphans")
        if report["missing_previews"]:
            summary += f", {len(report['missing_previews'])} previews missing"
        if report["missing"] or report["mismatched"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
