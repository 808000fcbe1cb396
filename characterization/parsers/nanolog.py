"""Horiba NanoLog / FluorEssence text exports (PL emission and excitation scans).

Two layouts (FORMATS.md §3.7):
(a) "ASCII XY", tab-separated, three header rows — short names (``A  S1cR1c  B  S1  C  R1``),
    long names (``Wavelength  S1c / R1c …``), units (``nm  CPS / MicroAmps  nm  CPS …``) —
    then x/y column pairs;
(b) CSV with a key/value header block (``Labels,0,`` ``Type,Emission Scan,`` ``Start,600.00,``
    ``Stop,…`` ``Step,…`` ``Fixed/Offset,455.00,`` ``Xaxis,Wavelength,`` ``Yaxis,Counts,``)
    followed by numeric rows ``x,y[,y2…]``.
The corrected ratio ``S1c/R1c`` is the default signal when present.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from . import spectra
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series

PARSER_NAME = "labdb.nanolog"
PARSER_VERSION = "1.0.0"
FORMAT = "nanolog"
LABEL = "Horiba NanoLog export"
HEADER_KEYS = ("labels", "type", "start", "stop", "step", "fixed/offset", "xaxis", "yaxis")


def _is_numeric_row(cells: list[str]) -> bool:
    """True if every non-empty cell parses as a finite float (and there are ≥ 2)."""
    values = [c for c in cells if c.strip()]
    try:
        return len(values) >= 2 and all(parse_float(c) is not None for c in values)
    except ValueError:
        return False


def _xy_pairs(rows: list[list[str]], names: list[str], units: list[str]) -> list[Series]:
    """Layout (a): one Series per x/y column pair; empty cells end a shorter pair."""
    series = []
    for k in range(0, len(names) - 1, 2):
        pts = [
            (parse_float(r[k]), parse_float(r[k + 1]))
            for r in rows
            if len(r) > k + 1 and r[k].strip() and r[k + 1].strip()
        ]
        if len(pts) < 3:
            raise fail(FORMAT, f"{LABEL}: column pair {names[k + 1]!r} has fewer than 3 points")
        x, y = np.array(pts).T
        series.append(
            Series(
                name=names[k + 1],
                x=x,
                y=y,
                x_label=names[k] or "Wavelength",
                x_unit=units[k] or "nm",
                y_label=names[k + 1],
                y_unit=units[k + 1],
            )
        )
    return series


def _parse_xy_layout(lines: list[str]) -> tuple[list[Series], dict]:
    """Layout (a): tab-separated with short-name, long-name and unit header rows."""
    rows = [line.split("\t") for line in lines if line.strip()]
    if len(rows) < 6:
        raise fail(FORMAT, f"{LABEL}: expected 3 header rows followed by data")
    short, long_, units = ([c.strip() for c in row] for row in rows[:3])
    body = rows[3:]
    bad = next((i for i, r in enumerate(body) if not _is_numeric_row(r)), None)
    if bad is not None:
        raise fail(FORMAT, f"{LABEL}: data row {bad + 4} is not numeric: {body[bad][:4]}")
    widths = {len([c for c in r if c.strip()]) for r in body}
    if max(widths) != len([c for c in short if c]):
        raise fail(FORMAT, f"{LABEL}: {len(short)} header columns but {max(widths)} data columns")
    series = _xy_pairs(body, long_, units)
    return series, {"layout": "fluoressence_xy", "short_names": [c for c in short if c]}


def _parse_keyvalue_layout(lines: list[str]) -> tuple[list[Series], dict]:
    """Layout (b): CSV key/value header block then numeric x,y… rows."""
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header: dict[str, str] = {}
    data_rows = []
    for row in rows:
        if not any(c.strip() for c in row):
            continue
        if _is_numeric_row(row):
            data_rows.append([c for c in row if c.strip()])
        elif data_rows:
            raise fail(FORMAT, f"{LABEL}: unexpected text row inside the data: {row[:3]}")
        else:
            header[row[0].strip()] = row[1].strip() if len(row) > 1 else ""
    if len(data_rows) < 3 or len({len(r) for r in data_rows}) != 1:
        raise fail(FORMAT, f"{LABEL}: the data block is missing or has ragged rows")
    table = np.array([[parse_float(c) for c in r] for r in data_rows])
    x_label = header.get("Xaxis", "Wavelength")
    series = [
        Series(
            name=f"{header.get('Yaxis', 'Signal')} {j}"
            if table.shape[1] > 2
            else header.get("Yaxis", "Signal"),
            x=table[:, 0],
            y=table[:, j],
            x_label=x_label,
            x_unit="nm" if x_label.lower().startswith("wave") else "",
            y_label=header.get("Yaxis", "Signal"),
            y_unit=header.get("Yaxis", ""),
        )
        for j in range(1, table.shape[1])
    ]
    meta = {"layout": "csv_key_value", "header": header, "scan_type": header.get("Type")}
    try:
        meta["fixed_wavelength_nm"] = parse_float(header.get("Fixed/Offset", ""))
    except ValueError:
        meta["fixed_wavelength_nm"] = None
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
    lines = decode_text(data).splitlines()
    first = lines[0].strip().lower() if lines else ""
    if "\t" in (lines[0] if lines else "") and len(lines) > 2 and "wavelength" in lines[1].lower():
        series, meta = _parse_xy_layout(lines)
    elif first.split(",")[0] in HEADER_KEYS:
        series, meta = _parse_keyvalue_layout(lines)
    else:
        raise fail(FORMAT, f"{LABEL}: neither the FluorEssence XY layout nor the key/value CSV")
    main = _default_series(series)
    try:
        numbers = spectra.emission_peak_nm(main.x, main.y)
    except ValueError:
        numbers = {"peak_nm": None, "fwhm_nm": None, "fwhm_mev": None}
    numbers.update(signal=main.name, n_points=int(main.x.size))
    meta["reader"] = "own FluorEssence reader"
    series.sort(key=lambda s: s is not main)
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="pl",
        series=series,
        metadata=meta,
        key_numbers=numbers,
    )
