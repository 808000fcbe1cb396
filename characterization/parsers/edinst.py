"""Edinburgh Instruments F980 / FLS / Fluoracle text and CSV exports (PL, decays, absorbance).

Layout (real files in ``shared/data/lab_exports/edinst/``): optional title lines, then a
key/value header block with one value column per scan — ``Labels``, ``Type`` (``Emission
Scan``, ``Excitation Scan``, ``Synchronous Scan``, ``Time Scan``, ``Instrument Response Time
Scan``), ``Start``, ``Stop``, ``Step``, ``Fixed/Offset``, ``Xaxis`` (``Wavelength`` or
``Time(ns)``), ``Yaxis`` (``Counts``, ``Absorbance``) and acquisition settings — a blank line,
then rows ``x <tab> y1 <tab> y2 …`` (tab- or comma-separated, usually with a trailing
delimiter). Every scan shares the x column.

Checks: each data row has 1 + (number of scans) values, x is monotonic, the row count and the
first/last x equal each scan's Start/Stop/Step, and the last row is not cut mid-number.
Decays (``Time Scan``, IRF) keep time in ns and counts; no emission peak is computed for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import spectra
from ._checks import (
    require_axis_matches,
    require_complete_last_row,
    require_declared_points,
    require_monotonic,
)
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series, scan_list

PARSER_NAME = "labdb.edinst"
PARSER_VERSION = "1.0.0"
FORMAT = "edinst"
LABEL = "Edinburgh Instruments F980/Fluoracle"
DECAY_TYPES = ("time scan", "instrument response time scan")


def looks_like_edinst(lines: list[str]) -> bool:
    """True when one of the first lines is the ``Labels`` row followed by ``Type``."""
    cells = [ln.replace(",", "\t").split("\t")[0].strip().lower() for ln in lines[:12]]
    return any(a == "labels" and b == "type" for a, b in zip(cells, cells[1:]))


def _cells(line: str, delim: str) -> list[str]:
    """Cells of a line with the trailing empty cell (trailing delimiter) removed."""
    out = [c.strip() for c in line.split(delim)]
    while len(out) > 1 and not out[-1]:
        out.pop()
    return out


def _header(lines: list[str], delim: str) -> tuple[list[str], dict[str, list[str]], int]:
    """(title lines, header key → per-scan values, index of the first line after the block)."""
    start = next(i for i, ln in enumerate(lines) if _cells(ln, delim)[0].lower() == "labels")
    title = [ln.strip() for ln in lines[:start] if ln.strip()]
    header: dict[str, list[str]] = {}
    i = start
    while i < len(lines) and lines[i].strip() and not _is_float(_cells(lines[i], delim)[0]):
        cells = [c.strip() for c in lines[i].split(delim)]
        header[cells[0]] = cells[1:]
        i += 1
    return title, header, i


def _table(
    lines: list[str], delim: str, n_scans: int, first_row: int
) -> tuple[np.ndarray, list[list[str]]]:
    """(numeric block, its cells): every row x + one value per scan."""
    rows = [_cells(ln, delim) for ln in lines if ln.strip()]
    if len(rows) < 3:
        raise fail(FORMAT, f"{LABEL}: fewer than 3 data rows follow the header")
    for k, row in enumerate(rows):
        if len(row) != n_scans + 1:
            raise fail(
                FORMAT,
                f"{LABEL}: an export with {n_scans + 1} columns (x and {n_scans} scan"
                f"{'s' if n_scans > 1 else ''}) was expected, but data row {k + 1} "
                f"(line {first_row + k}) has {len(row)} values",
            )
    try:
        table = np.array([[parse_float(c) for c in row] for row in rows])
    except ValueError:
        bad = next(r for r in rows if not all(_is_float(c) for c in r))
        raise fail(FORMAT, f"{LABEL}: a data row is not numeric: {bad[:4]}") from None
    return table, rows


def _is_float(cell: str) -> bool:
    try:
        parse_float(cell)
    except ValueError:
        return False
    return True


def _value(header: dict[str, list[str]], key: str, j: int) -> str:
    """Header value of scan ``j`` for ``key`` (case-insensitive key), '' when absent."""
    for k, values in header.items():
        if k.lower() == key.lower():
            return values[j] if j < len(values) else ""
    return ""


def _check_declared_axis(x: np.ndarray, header: dict, j: int, unit: str) -> None:
    """Each scan's Start/Stop/Step must describe the x column actually present."""
    try:
        start, stop, step = (parse_float(_value(header, k, j)) for k in ("Start", "Stop", "Step"))
    except ValueError:
        return  # a header without numeric Start/Stop/Step states nothing to check
    require_declared_points(x.size, start=start, stop=stop, step=step, what="x", unit=unit)
    require_axis_matches(x, start=start, stop=stop, what="x", unit=unit, tol=abs(step) / 2)


def _series(table: np.ndarray, header: dict, labels: list[str]) -> list[Series]:
    """One Series per scan (x in nm or ns)."""
    out = []
    for j, label in enumerate(labels):
        x_label = _value(header, "Xaxis", j) or "Wavelength"
        unit = "ns" if "time" in x_label.lower() else "nm"
        _check_declared_axis(table[:, 0], header, j, unit)
        out.append(
            Series(
                name=label or f"scan {j + 1}",
                x=table[:, 0],
                y=table[:, j + 1],
                x_label="Time" if unit == "ns" else x_label,
                x_unit=unit,
                y_label=_value(header, "Yaxis", j) or "Counts",
                y_unit=_value(header, "Yaxis", j) or "Counts",
            )
        )
    return out


def _technique(scan_type: str, y_label: str) -> tuple[str, str]:
    """(technique, kind): decays and emission/excitation are PL, absorbance is UV-vis."""
    lowered = scan_type.lower()
    if lowered in DECAY_TYPES:
        return "pl", "irf" if "response" in lowered else "decay"
    if "absorb" in y_label.lower():
        return "uvvis", "absorbance"
    return "pl", lowered.replace(" scan", "") or "emission"


def _key_numbers(series: list[Series], kind: str) -> dict:
    """Emission peak/FWHM of the first scan of an emission scan; decay summary otherwise."""
    first = series[0]
    numbers: dict = {"n_scans": len(series), "n_points": int(first.x.size), "kind": kind}
    if kind == "emission":
        try:
            numbers.update(spectra.emission_peak_nm(first.x, first.y))
        except ValueError:
            numbers.update(peak_nm=None, fwhm_nm=None, fwhm_mev=None)
    elif kind in ("decay", "irf"):
        k = int(np.argmax(first.y))
        numbers.update(
            time_step_ns=float(first.x[1] - first.x[0]),
            time_range_ns=float(first.x[-1] - first.x[0]),
            peak_time_ns=float(first.x[k]),
            peak_counts=float(first.y[k]),
        )
    return numbers


@guarded(FORMAT, LABEL)
def parse_edinst(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an Edinburgh F980/Fluoracle export: every scan a Series, listed in ``scans``.

    Emission scans give ``peak_nm``/``fwhm_nm``/``fwhm_mev`` of the first scan; decays keep
    time (ns) vs counts with ``time_step_ns``, ``peak_time_ns``; absorbance scans are UV-vis.
    Raises ParseError for rows with the wrong number of values, non-numbers, a non-monotonic
    x column, a row count or x range differing from Start/Stop/Step, or a cut last row.
    """
    text = decode_text(data)
    lines = text.splitlines()
    if not looks_like_edinst(lines):
        raise fail(FORMAT, f"{LABEL}: a 'Labels' row followed by a 'Type' row was expected")
    delim = "\t" if any("\t" in ln for ln in lines[:20]) else ","
    title, header, end = _header(lines, delim)
    labels = _cells(delim.join(["Labels", *header["Labels"]]), delim)[1:]
    table, rows = _table(lines[end:], delim, len(labels), first_row=end + 2)
    require_complete_last_row(rows, ends_with_newline=text.endswith(("\n", "\r")))
    x_unit = "ns" if "time" in _value(header, "Xaxis", 0).lower() else "nm"
    require_monotonic(table[:, 0], what="x", unit=x_unit, first_row=1)
    series = _series(table, header, labels)
    technique, kind = _technique(_value(header, "Type", 0), series[0].y_label)
    metadata: dict[str, Any] = {
        "layout": "edinst_csv" if delim == "," else "edinst_txt",
        "title": title,
        "scan_type": _value(header, "Type", 0),
        "kind": kind,
        "header": header,
        "scans": scan_list(series),
        "reader": "own Edinburgh Instruments reader",
    }
    if kind in ("emission", "excitation"):
        try:
            metadata["fixed_wavelength_nm"] = parse_float(_value(header, "Fixed/Offset", 0))
        except ValueError:
            metadata["fixed_wavelength_nm"] = None
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique,
        series=series,
        metadata=metadata,
        key_numbers=_key_numbers(series, kind),
    )
