"""Composition tables: EDS quantification and ICP-OES/MS results (CSV or XLSX).

Two layouts:
* wide — one row per sample, one column per element: ``Cd L wt%``, ``Se K at%``,
  ``Cd 228.802 (mg/L)``, ``Zn ppm`` …;
* long — an ``Element`` column plus one or more quantity columns (``Wt%``, ``At%``, ``ppm``…).
Element symbols are validated against the periodic table (``CD`` or ``Xx`` is an error, not a
silently ignored column). Below-limit markers (``<LOD``, ``<0.01``, ``n.d.``) become None and
are listed per row in ``below_lod``.
"""

from __future__ import annotations

import re

from ._guard import fail, guarded
from .base import ParsedFile
from .elements import is_element_symbol
from .table_reader import is_below_limit, read_table, to_number

PARSER_NAME = "labdb.composition_table"
PARSER_VERSION = "1.0.0"
FORMAT = "composition_table"
LABEL = "Composition table"
UNIT_PATTERN = r"(wt\.?\s*%|at\.?\s*%|mass\s*%|atomic\s*%|ppm|ppb|mg/l|µg/l|ug/l|mg/kg|µg/kg|%)"
ELEMENT_COLUMN = re.compile(
    r"^(?P<sym>[A-Za-z]{1,2})(?=[\s(\[])(?:\s+(?P<line>[KLM](?:a|b|α|β)?\d?))?(?:\s+\d+(?:\.\d+)?(?:\s*nm)?)?"
    r"\s*[(\[]?\s*(?P<unit>" + UNIT_PATTERN + r")\s*[)\]]?$",
    re.IGNORECASE,
)
QUANTITY_COLUMN = re.compile(r"^[(\[]?\s*" + UNIT_PATTERN + r"\s*[)\]]?$", re.IGNORECASE)
SAMPLE_NAMES = ("sample", "sample id", "sample name", "name", "spectrum", "label", "id")


def _norm_unit(unit: str) -> str:
    """Canonical unit string: ``wt%``, ``at%``, ``ppm``, ``mg/L`` …"""
    u = re.sub(r"[\s.]", "", unit.lower()).replace("mass%", "wt%").replace("atomic%", "at%")
    return {"mg/l": "mg/L", "µg/l": "µg/L", "ug/l": "µg/L", "ppm": "ppm", "ppb": "ppb"}.get(u, u)


def element_columns(header: list[str]) -> dict[int, tuple[str, str]]:
    """{column index: (element symbol, unit)} for wide-layout element columns.

    Raises ParseError when a column looks like ``<symbol> <unit>`` but the symbol is not an
    element (wrong case included).
    """
    out = {}
    for i, name in enumerate(header):
        match = ELEMENT_COLUMN.match(name.strip())
        if not match:
            continue
        sym = match.group("sym")
        if not is_element_symbol(sym):
            hint = sym.capitalize() if is_element_symbol(sym.capitalize()) else None
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise fail(
                FORMAT,
                f"{LABEL}: column {name!r} names {sym!r}, which is not a chemical "
                f"element symbol{extra}",
            )
        out[i] = (sym, _norm_unit(match.group("unit")))
    return out


def _number(cell: str, row: int, column: str, decimal_comma: bool) -> float | None:
    """Cell value or None (empty / below limit); ParseError names the offending cell."""
    try:
        return to_number(cell, decimal_comma)
    except ValueError:
        raise fail(
            FORMAT,
            f"{LABEL}: row {row}, column {column!r}: {cell!r} is not a number "
            "(use a number, '<LOD' or leave it empty)",
        ) from None


def _wide_rows(header, body, columns, decimal_comma) -> list[dict]:
    """One row dict per sample: sample name, values per element, unit, below-LOD elements."""
    name_col = next((i for i, h in enumerate(header) if h.strip().lower() in SAMPLE_NAMES), 0)
    rows = []
    for r, row in enumerate(body, start=2):
        values, below = {}, []
        for i, (sym, unit) in columns.items():
            values[f"{sym} {unit}"] = _number(row[i], r, header[i], decimal_comma)
            if is_below_limit(row[i]):
                below.append(sym)
        rows.append(
            {
                "sample": row[name_col] if name_col not in columns else f"row {r}",
                "values": values,
                "below_lod": below,
            }
        )
    return rows


def _long_rows(header, body, decimal_comma) -> list[dict]:
    """Long layout: one row dict per element line (Element column + quantity columns)."""
    el_col = [h.strip().lower() for h in header].index("element")
    qty = {i: _norm_unit(h) for i, h in enumerate(header) if QUANTITY_COLUMN.match(h.strip())}
    if not qty:
        raise fail(FORMAT, f"{LABEL}: an 'Element' column needs quantity columns (Wt%, At%, ppm…)")
    rows = []
    for r, row in enumerate(body, start=2):
        sym = row[el_col].split()[0] if row[el_col].split() else ""
        if sym.lower() in ("total", "totals", "sum"):
            continue
        if not is_element_symbol(sym):
            raise fail(FORMAT, f"{LABEL}: row {r}: {row[el_col]!r} is not a chemical element")
        values = {
            f"{sym} {u}": _number(row[i], r, header[i], decimal_comma) for i, u in qty.items()
        }
        below = [sym] if any(is_below_limit(row[i]) for i in qty) else []
        rows.append({"sample": None, "values": values, "below_lod": below})
    return rows


def _means(rows: list[dict]) -> dict[str, float | None]:
    """Mean of each "<element> <unit>" quantity over rows, ignoring missing values."""
    keys = sorted({k for r in rows for k in r["values"]})
    out = {}
    for key in keys:
        vals = [r["values"].get(key) for r in rows if r["values"].get(key) is not None]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


@guarded(FORMAT, LABEL)
def parse_composition_table(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an EDS/ICP composition table (CSV or XLSX, ',' or ';' + decimal comma).

    Key numbers: ``n_rows``, ``elements`` (symbols, in column order), ``units``, ``layout``,
    ``mean_by_quantity`` ({"Cd wt%": mean, …}, below-LOD cells excluded) and
    ``below_lod_count``. Raises ParseError for unknown element symbols, non-numeric cells or
    a table without element columns.
    """
    header, body, info = read_table(data, FORMAT, LABEL)
    columns = element_columns(header)
    if columns:
        rows, layout = _wide_rows(header, body, columns, info["decimal_comma"]), "wide"
    elif "element" in [h.strip().lower() for h in header]:
        rows, layout = _long_rows(header, body, info["decimal_comma"]), "long"
    else:
        raise fail(
            FORMAT,
            f"{LABEL}: no element columns such as 'Cd L wt%' or 'Zn (mg/L)' and "
            f"no 'Element' column among {header[:8]}",
        )
    if not rows:
        raise fail(FORMAT, f"{LABEL}: the table has no data rows")
    elements = list(dict.fromkeys(k.split()[0] for r in rows for k in r["values"]))
    units = sorted({k.split(" ", 1)[1] for r in rows for k in r["values"]})
    numbers = {
        "n_rows": len(rows),
        "elements": elements,
        "units": units,
        "layout": layout,
        "mean_by_quantity": _means(rows),
        "below_lod_count": sum(len(r["below_lod"]) for r in rows),
    }
    metadata = {**info, "columns": header, "reader": "own table reader"}
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="composition",
        metadata=metadata,
        key_numbers=numbers,
        tables=rows,
    )
