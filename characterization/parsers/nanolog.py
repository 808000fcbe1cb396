"""Horiba NanoLog / FluorEssence text exports (PL emission and excitation scans).

"ASCII XY" layout (FORMATS.md §3.7): tab-separated, three header rows — short names
(``A  S1cR1c  B  S1  C  R1``), long names (``Wavelength  S1c / R1c …``), units
(``nm  CPS / MicroAmps  nm  CPS …``) — then x/y column pairs. Some exports add a first column of
row labels (``Short Name`` / ``Long Name`` / ``Units``) and a row number on each data line; that
column is verified and dropped (it once shifted every column by one). Every row must have the
header's column count, every x column must be a monotonic scan, and a last row cut mid-number
is refused. The corrected ratio ``S1c/R1c`` is the default signal when present.
The key/value CSV (``Labels,…`` ``Type,Emission Scan,`` ``Start,…``) is Edinburgh Instruments'
layout and is read by ``edinst``.
"""

from __future__ import annotations

import numpy as np

from . import spectra
from ._checks import require_complete_last_row, require_monotonic
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series, scan_list

PARSER_NAME = "labdb.nanolog"
PARSER_VERSION = "1.1.0"
FORMAT = "nanolog"
LABEL = "Horiba NanoLog export"


LABEL_COLUMN = ("short name", "long name", "units")


def _trim(cells: list[str]) -> list[str]:
    """Cells stripped, trailing empty cells (a trailing tab) dropped."""
    out = [c.strip() for c in cells]
    while out and not out[-1]:
        out.pop()
    return out


def _header(lines: list[str]) -> tuple[list[list[str]], list[list[str]], bool]:
    """(three header rows, data rows, has a label column) with the label column removed.

    FluorEssence writes the rows either bare (``A  S1cR1c  B …``) or with a first column of
    row labels ``Short Name`` / ``Long Name`` / ``Units`` followed by a row number on every data
    line. That first column is checked (labels and consecutive row numbers) and dropped.
    """
    rows = [_trim(line.split("\t")) for line in lines if line.strip()]
    if len(rows) < 6:
        raise fail(FORMAT, f"{LABEL}: 3 header rows followed by data rows were expected")
    head, body = rows[:3], rows[3:]
    labelled = tuple(r[0].lower() for r in head) == LABEL_COLUMN
    if not labelled:
        return head, body, False
    for k, row in enumerate(body):
        if not row or row[0] != str(k + 1):
            raise fail(
                FORMAT,
                f"{LABEL}: with a 'Short Name / Long Name / Units' label column every data row "
                f"must start with its row number, but row {k + 4} starts with "
                f"{(row or [''])[0]!r} instead of {k + 1}",
            )
    return [r[1:] for r in head], [r[1:] for r in body], True


def _pair_points(body: list[list[str]], k: int, n_cols: int) -> list[tuple[float, float]]:
    """The (x, y) values of column pair ``k``; a pair may end early, never restart."""
    pts: list[tuple[float, float]] = []
    ended = False
    for i, row in enumerate(body):
        cells = (row + [""] * n_cols)[2 * k : 2 * k + 2]
        if not cells[0] and not cells[1]:
            ended = True
            continue
        if ended or not (cells[0] and cells[1]):
            raise fail(
                FORMAT,
                f"{LABEL}: a FluorEssence export with {n_cols} columns ({n_cols // 2} x/y "
                f"pairs) was expected, but row {i + 4} has {len([c for c in row if c])} values",
            )
        try:
            pts.append((parse_float(cells[0]), parse_float(cells[1])))
        except ValueError:
            raise fail(
                FORMAT, f"{LABEL}: row {i + 4} has a non-number in column pair {k + 1}: {cells}"
            ) from None
    return pts


def _xy_pairs(head: list[list[str]], body: list[list[str]]) -> list[Series]:
    """Layout (a): one Series per x/y column pair, x checked to be a wavelength scan."""
    short, long_, units = head
    n_cols = len(short)
    if n_cols < 2 or n_cols % 2 or len(long_) != n_cols or len(units) != n_cols:
        raise fail(
            FORMAT,
            f"{LABEL}: the three header rows must name the same even number of columns "
            f"(x/y pairs); they have {len(short)}, {len(long_)} and {len(units)}",
        )
    too_wide = next((i for i, r in enumerate(body) if len(r) > n_cols or len(r) % 2), None)
    if too_wide is not None:
        raise fail(
            FORMAT,
            f"{LABEL}: a FluorEssence export with {n_cols} columns ({n_cols // 2} x/y pairs) "
            f"was expected, but row {too_wide + 4} has {len(body[too_wide])} values",
        )
    series = []
    for k in range(n_cols // 2):
        pts = _pair_points(body, k, n_cols)
        if len(pts) < 3:
            raise fail(FORMAT, f"{LABEL}: column pair {long_[2 * k + 1]!r} has fewer than 3 points")
        x, y = np.array(pts).T
        require_monotonic(
            x, what=f"{long_[2 * k] or 'x'} ({short[2 * k]})", unit=units[2 * k], first_row=4
        )
        series.append(
            Series(
                name=long_[2 * k + 1],
                x=x,
                y=y,
                x_label=long_[2 * k] or "Wavelength",
                x_unit=units[2 * k] or "nm",
                y_label=long_[2 * k + 1],
                y_unit=units[2 * k + 1],
            )
        )
    return series


def _parse_xy_layout(text: str) -> tuple[list[Series], dict]:
    """Layout (a): tab-separated with short-name, long-name and unit header rows."""
    head, body, labelled = _header(text.splitlines())
    require_complete_last_row(body, ends_with_newline=text.endswith(("\n", "\r")))
    series = _xy_pairs(head, body)
    meta = {
        "layout": "fluoressence_xy",
        "label_column": labelled,
        "short_names": head[0],
    }
    return series, meta


def _default_series(series: list[Series]) -> Series:
    """The corrected ratio S1c/R1c when present, else the first series."""
    for s in series:
        compact = s.name.replace(" ", "").lower()
        if "s1c" in compact and "r1c" in compact:
            return s
    return series[0]


@guarded(FORMAT, LABEL)
def parse_nanolog(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a FluorEssence text export; all signals become Series (x = wavelength, nm).

    Key numbers from the default signal (S1c/R1c if present): ``peak_nm``, ``fwhm_nm``,
    ``fwhm_mev`` (None when the band is cut off). Raises ParseError for unknown layouts,
    non-numeric or ragged data rows.
    """
    text = decode_text(data)
    lines = text.splitlines()
    if "\t" in (lines[0] if lines else "") and len(lines) > 2 and "wavelength" in lines[1].lower():
        series, meta = _parse_xy_layout(text)
    else:
        raise fail(
            FORMAT,
            f"{LABEL}: the FluorEssence 'ASCII XY' layout (short names, long names, units, "
            "then x/y column pairs) was expected",
        )
    main = _default_series(series)
    try:
        numbers = spectra.emission_peak_nm(main.x, main.y)
    except ValueError:
        numbers = {"peak_nm": None, "fwhm_nm": None, "fwhm_mev": None}
    numbers.update(signal=main.name, n_points=int(main.x.size))
    meta["reader"] = "own FluorEssence reader"
    series.sort(key=lambda s: s is not main)
    meta["scans"] = scan_list(series)
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="pl",
        series=series,
        metadata=meta,
        key_numbers=numbers,
    )
