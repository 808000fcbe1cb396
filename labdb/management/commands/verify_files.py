"""``manage.py verify_files [--delete-orphans]``: stored bytes against their DataFile rows."""

from django.core.management.base import BaseCommand, CommandError

from labdb.management.snapshot import verify_files


class Command(BaseCommand):
    help = ("Check every stored file's sha256 against its DataFile row, list rows whose file is "
            "missing and orphaned bytes under media/raw; --delete-orphans removes the orphans.")

    def add_arguments(self, parser):
        parser.add_argument("--delete-orphans", action="store_true")

    def handle(self, *args, **options):
        report = verify_files(delete_orphans=options["delete_orphans"])
        for name in report["orphans"]:
            deleted = " (deleted)" if name in report["deleted"] else ""
            self.stdout.write(f"orphan: {name}{deleted}")
        for name in report["missing"]:
            self.stdout.write(f"missing: {name}")
        for name in report["mismatched"]:
            self.stdout.write(f"sha256 differs: {name}")
        summary = (f"{report['checked']} files checked, {len(report['missing'])} missing, "
                   f"{len(report['mismatched'])} altered, {len(report['orphans'])} orphans")
        if report["missing"] or report["mismatched"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
