"""``manage.py format_report`` on the real shared data: its totals against the file lists the
parser tests keep (``_files.py``, ``test_beamlines.py``); no database is touched."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from . import test_beamlines as beamlines
from ._files import (
    BAD_XDI_FILES,
    GOOD_INSTRUMENT_FILES,
    REJECTED_REAL,
    SHARED_DATA,
    XAS,
    XAS_GOOD_FILES,
)

NOT_DATA = {"README.md", "License.txt", "BadFiles.txt"}


@pytest.fixture(scope="module")
def report() -> str:
    out = io.StringIO()
    call_command("format_report", "--data", str(SHARED_DATA), stdout=out)
    return out.getvalue()


def _table(report: str) -> dict[str, tuple[int, int, int]]:
    """{format: (parsed, rejected, rows)} from the report's first table."""
    found = {}
    for line in report.splitlines():
        m = re.match(r"^\| `([^`]+)` \| [^|]* \| (\d+) \| (\d+) \| (\d+) \|", line)
        if m:
            found[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    return found


def _rejected(report: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \| `[^`]+` \| ", report, re.MULTILINE))


def _not_instrument_files() -> set[str]:
    """FEFF inputs/paths and larch's printed outputs (not instrument files; the corpus test
    leaves them out for the same reason)."""
    return {
        str(p.relative_to(SHARED_DATA))
        for p in XAS.rglob("*")
        if p.is_file() and ("feff" in p.parent.name or p.parent.name == "reference_outputs")
    }


def test_report_rejects_exactly_the_files_the_parser_tests_list_as_rejected(report):
    expected = (
        {f"instruments/{f}" for f in REJECTED_REAL}
        | {f"xas/xdi/baddata/{f}" for f in BAD_XDI_FILES}
        | {f"xas/beamlines/{f}" for f in beamlines.REJECTED}
        | _not_instrument_files()
    )
    assert _rejected(report) == expected


def test_report_totals_match_the_parser_tests_file_lists(report):
    lab_exports = [p for p in (SHARED_DATA / "lab_exports").rglob("*")
                   if p.is_file() and p.name not in NOT_DATA]
    beamline_parsed = [*beamlines.ACCEPTED, *beamlines.MULTI_SCAN, *beamlines.COLUMN_TABLES,
                       *beamlines.SIMULATED]
    parsed = len(GOOD_INSTRUMENT_FILES) + len(lab_exports) + len(XAS_GOOD_FILES) + len(
        beamline_parsed
    )
    rejected = len(REJECTED_REAL) + len(BAD_XDI_FILES) + len(beamlines.REJECTED) + len(
        _not_instrument_files()
    )
    header = report.splitlines()[0]
    assert header == (
        f"{parsed + rejected} files under instruments, lab_exports, xas: {parsed} parsed, "
        f"{rejected} rejected."
    )
    table = _table(report)
    assert sum(v[0] for v in table.values()) == parsed
    assert sum(v[1] for v in table.values()) == rejected


def test_report_counts_per_format_and_rows_derived(report):
    """Per-format counts from the parser tests' lists: XDI = the good .xdi files of xas/,
    instruments/xdi/ and the two beamline XDI files, the 36 spec bad files rejected;
    xas_ascii = the beamline text files read (FDMNES outputs: fdmnes), instruments/xas_ascii/
    and larch's znse_zn_xafs.001. Rows: Diffrac_multiple.brml's 80 scans are 80 of the 83
    BRML rows; of the xas_ascii files only cu_rt01.xmu (#%atom Cu) states its absorber, so
    it alone has an XAS row before a chemist declares one."""
    table = _table(report)
    xdi_good = [f for f in XAS_GOOD_FILES if f.endswith(".xdi")]
    instrument_xdi = [f for f in GOOD_INSTRUMENT_FILES if f.startswith("xdi/")]
    beamline_xdi = [n for n, v in beamlines.ACCEPTED.items() if v[0] == "xdi"]
    assert table["xdi"][:2] == (
        len(xdi_good) + len(instrument_xdi) + len(beamline_xdi), len(BAD_XDI_FILES)
    )
    beamline_text = [n for n, v in beamlines.ACCEPTED.items() if v[0] == "xas_ascii"]
    instrument_text = [f for f in GOOD_INSTRUMENT_FILES if f.startswith("xas_ascii/")]
    parsed_text = len(beamline_text) + len(beamlines.MULTI_SCAN) + len(beamlines.COLUMN_TABLES)
    assert table["xas_ascii"][:3:2] == (parsed_text + len(instrument_text) + 1, 1)
    assert table["brml"] == (4, 0, 83)
    assert table["bruker_raw"] == (3, 0, 3)


def test_report_lists_mapped_fields_per_format(report):
    line = next(ln for ln in report.splitlines() if ln.startswith("| `edinst` |"))
    assert "PLMeasurement.scan_index" in line and "PLMeasurement.peak_nm" in line
    line = next(ln for ln in report.splitlines() if ln.startswith("| `xas_ascii` |"))
    assert "column_relations" in line and "fluorescence_line" in line
