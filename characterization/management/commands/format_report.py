"""``manage.py format_report``: every shared data file through the parser registry, per format.

Walks ``instruments/``, ``lab_exports/`` and ``xas/`` (beamlines included) of the shared data
folder (default ``../shared/data`` beside the repository, or ``--data DIR``), parses each file
as an upload would (``parse_file``, content sniffing, default limits) and prints a Markdown
report: per format and parser version the files parsed and rejected, the metadata keys the
parses state and the measurement fields the derived rows set (the same derivation as an upload:
``services._rows_of`` with every Athena μ group chosen, nothing declared), then every rejected
file with its reason. Documentation files (README.md, License.txt, BadFiles.txt) are skipped.
Reads files only; writes nothing, needs no database.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from characterization.models import DataFile, DataFileLink
from characterization.parsers.registry import PARSERS, parse_file
from characterization.services import _rows_of, athena_groups
from labdb.lib.errors import ParseError

SECTIONS = ("instruments", "lab_exports", "xas")
NOT_DATA = {"README.md", "License.txt", "BadFiles.txt"}
NOT_RECOGNISED = "(not recognised)"


def data_files(root: Path) -> list[Path]:
    """Every data file of the report's sections, sorted by path."""
    return sorted(
        p
        for section in SECTIONS
        for p in (root / section).rglob("*")
        if p.is_file() and p.name not in NOT_DATA
    )


def _derived_rows(parsed) -> list[tuple]:
    """The rows an upload of ``parsed`` derives for one sample (every Athena μ group chosen)."""
    link = DataFileLink(groups=[g["index"] for g in athena_groups(parsed) if not g["is_chi"]])
    return _rows_of(DataFile(declared_xas={}), parsed, link)


def _fields_set(rows: list[tuple]) -> set[str]:
    """``Model.field`` for each field the rows set (not None/empty)."""
    return {
        f"{model.__name__}.{name}"
        for model, values in rows
        for name, value in values.items()
        if value not in (None, "", [], {})
    }


def _parser_of(key: str) -> str:
    name, version = PARSERS.get(key, (NOT_RECOGNISED, ""))
    return f"{name} {version}".strip()


def collect(root: Path) -> tuple[dict, list[tuple[str, str, str]]]:
    """({format: {"parser", "parsed", "rejected", "metadata", "fields", "rows"}},
    [(file, format, reason)]) for every data file under ``root``."""
    formats: dict = defaultdict(
        lambda: {"parsed": 0, "rejected": 0, "rows": 0, "metadata": set(), "fields": set()}
    )
    rejected = []
    for path in data_files(root):
        rel = str(path.relative_to(root))
        try:
            parsed = parse_file(path.read_bytes(), filename=path.name)
        except ParseError as exc:
            key = exc.format if exc.format in PARSERS else NOT_RECOGNISED
            formats[key]["rejected"] += 1
            reason = exc.message.removeprefix(f"{path.name}: ")
            rejected.append((rel, key, reason.split(": the content matches none")[0]))
            continue
        entry = formats[parsed.format]
        entry["parsed"] += 1
        entry["metadata"].update(parsed.metadata)
        rows = _derived_rows(parsed)
        entry["fields"].update(_fields_set(rows))
        entry["rows"] += len(rows)
    return dict(formats), rejected


def _cell(items) -> str:
    return ", ".join(sorted(items)) or "—"


def render(root: Path, formats: dict, rejected: list) -> list[str]:
    """The report as Markdown lines."""
    parsed = sum(v["parsed"] for v in formats.values())
    lines = [
        f"{parsed + len(rejected)} files under {', '.join(SECTIONS)}: {parsed} parsed, "
        f"{len(rejected)} rejected.",
        "",
        "| format | parser | parsed | rejected | rows derived | metadata keys stated "
        "| measurement fields set |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(formats):
        v = formats[key]
        lines.append(
            f"| `{key}` | {_parser_of(key)} | {v['parsed']} | {v['rejected']} | {v['rows']} "
            f"| {_cell(v['metadata'])} | {_cell(v['fields'])} |"
        )
    lines.append(f"| **total** | | {parsed} | {len(rejected)} | "
                 f"{sum(v['rows'] for v in formats.values())} | | |")
    lines += ["", "| rejected file | format | reason |", "|---|---|---|"]
    lines += [f"| `{rel}` | `{key}` | {reason.replace('|', '/')} |" for rel, key, reason in
              rejected]
    return lines


class Command(BaseCommand):
    help = "Parse every shared data file and print, per format, what was parsed/rejected/mapped."

    def add_arguments(self, parser):
        default = Path(settings.BASE_DIR).parent / "shared" / "data"
        parser.add_argument("--data", type=Path, default=default, help="shared data folder")

    def handle(self, *args, **options):
        root = options["data"].resolve()
        formats, rejected = collect(root)
        self.stdout.write("\n".join(render(root, formats, rejected)))
