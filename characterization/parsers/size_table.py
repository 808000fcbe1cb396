"""TEM particle-size tables (ImageJ/Fiji ``Results`` CSV, own CSV/XLSX lists).

The size column is chosen by name: ``Diameter`` → ``Size`` → ``Feret`` (not FeretX/Y/Angle,
MinFeret) → ``Length`` → ``Major``; otherwise ``Area`` is converted to the equivalent-circle
diameter d = 2·√(A/π). The length unit comes from the header (``Feret (nm)``, ``size_nm``,
``[µm]``…); ImageJ tables carry none (their unit is the image calibration) and then only
the ``*_nm`` key numbers stay None.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ._guard import fail, guarded
from .base import ParsedFile
from .table_reader import read_table, to_number

PARSER_NAME = "labdb.size_table"
PARSER_VERSION = "1.0.0"
FORMAT = "size_table"
LABEL = "TEM size table"
LENGTH_PRIORITY = ("diameter", "size", "feret", "length", "major")
TO_NM = {
    "nm": 1.0,
    "µm": 1000.0,
    "um": 1000.0,
    "μm": 1000.0,
    "å": 0.1,
    "a": 0.1,
    "angstrom": 0.1,
    "pm": 0.001,
    "px": None,
    "pixel": None,
    "pixels": None,
}
UNIT_RE = re.compile(
    r"[\s_(\[]\s*(nm|µm|μm|um|å|angstrom|pm|px|pixels?)\s*(\^?2|²)?\s*[)\]]?\s*$", re.IGNORECASE
)


def _base_name(column: str) -> str:
    """Column name without its unit suffix, lower-cased (``'Feret (nm)'`` → ``'feret'``)."""
    return UNIT_RE.sub("", column).strip().lower()


def _unit(column: str) -> str | None:
    """Unit written in the column header (``nm``, ``µm``, ``px``…) or None."""
    match = UNIT_RE.search(column)
    return match.group(1).lower().replace("μ", "µ") if match else None


def find_size_column(header: list[str]) -> tuple[int, str] | None:
    """(index, kind) of the size column: kind ``length`` or ``area``; None if absent."""
    names = [_base_name(h) for h in header]
    for wanted in LENGTH_PRIORITY:
        for i, name in enumerate(names):
            if (
                name == wanted
                or name.startswith(wanted + " ")
                or (wanted in name and not re.search(r"(min|angle|x$|y$)", name))
            ):
                return i, "length"
    if "area" in names:
        return names.index("area"), "area"
    return None


def _size_values(body: list[list[str]], col: int, kind: str, decimal_comma: bool) -> np.ndarray:
    """Numeric sizes (area → equivalent-circle diameter); ParseError names a bad cell."""
    values = []
    for i, row in enumerate(body):
        try:
            value = to_number(row[col], decimal_comma)
        except ValueError:
            raise fail(FORMAT, f"{LABEL}: row {i + 2}: {row[col]!r} is not a number") from None
        if value is None:
            continue
        if value <= 0:
            raise fail(FORMAT, f"{LABEL}: row {i + 2}: size {value} must be positive")
        values.append(2.0 * math.sqrt(value / math.pi) if kind == "area" else value)
    if len(values) < 1:
        raise fail(FORMAT, f"{LABEL}: no particle sizes in the table")
    return np.array(values)


@guarded(FORMAT, LABEL)
def parse_size_table(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a particle-size table (CSV or XLSX).

    Key numbers: ``n_particles``, ``size_column``, ``size_unit`` (as written, None if not
    stated), ``mean_size``, ``std_size`` (sample std, ddof=1; None for one particle),
    ``median_size`` in that unit, and ``mean_size_nm``/``std_size_nm``/``median_size_nm`` when
    the unit is a length. Tables rows: ``{"index", "size", "size_nm"}``. Raises ParseError
    when no size column exists or a cell is not a number.
    """
    header, body, info = read_table(data, FORMAT, LABEL)
    found = find_size_column(header)
    if found is None:
        raise fail(
            FORMAT,
            f"{LABEL}: no size column (Diameter, Size, Feret, Length, Major or "
            f"Area) among {header[:8]}",
        )
    col, kind = found
    sizes = _size_values(body, col, kind, info["decimal_comma"])
    unit = _unit(header[col])
    factor = TO_NM.get(unit) if unit else None
    std = float(np.std(sizes, ddof=1)) if sizes.size > 1 else None
    numbers: dict[str, Any] = {
        "n_particles": int(sizes.size),
        "size_column": header[col],
        "size_unit": unit,
        "size_kind": "equivalent_circle_diameter" if kind == "area" else "length",
        "mean_size": float(sizes.mean()),
        "std_size": std,
        "median_size": float(np.median(sizes)),
    }
    for key in ("mean_size", "std_size", "median_size"):
        numbers[f"{key}_nm"] = (
            None if factor is None or numbers[key] is None else (numbers[key] * factor)
        )
    rows = [
        {"index": i + 1, "size": float(v), "size_nm": None if factor is None else v * factor}
        for i, v in enumerate(sizes)
    ]
    layout = "imagej_results" if header and header[0] in ("", " ") else "table"
    metadata = {**info, "layout": layout, "columns": header, "reader": "own table reader"}
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="tem_sizes",
        metadata=metadata,
        key_numbers=numbers,
        tables=rows,
    )
