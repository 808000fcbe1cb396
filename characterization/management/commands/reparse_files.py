"""``manage.py reparse_files``: parse stored files again (after a parser improved)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from characterization.models import DataFile
from characterization.parsers.registry import PARSERS
from characterization.services import parse_data_file


class Command(BaseCommand):
    help = "Re-parse stored raw files whose parser version changed (or all with --all)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="re-parse every file")
        parser.add_argument("--failed", action="store_true", help="only files that failed")

    def handle(self, *args, **options):
        files = DataFile.objects.filter(is_retired=False).order_by("id")
        if options["failed"]:
            files = files.filter(parse_status="failed")
        todo = [f for f in files if options["all"] or options["failed"] or _outdated(f)]
        changed = 0
        for data_file in tqdm(todo, desc="re-parsing", unit="file", disable=not todo):
            before = (data_file.parse_status, data_file.parser_version)
            parse_data_file(data_file=data_file)
            changed += (data_file.parse_status, data_file.parser_version) != before
        self.stdout.write(f"re-parsed {len(todo)} file(s); {changed} changed status or version")


def _outdated(data_file: DataFile) -> bool:
    """True when the file's parser has a newer version than the one recorded."""
    current = PARSERS.get(data_file.format)
    return current is None or current[1] != data_file.parser_version
