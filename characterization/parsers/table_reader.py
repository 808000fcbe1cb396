"""Read CSV (any delimiter, decimal comma) or XLSX tables into a header + string rows.

Shared by the TEM size-table and composition-table parsers. Values stay strings here; the
callers convert them with :func:`to_number`, which knows decimal commas and "<LOD" markers.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from ._guard import fail
from ._text import decode_text, parse_float
from .brml import check_zip_expansion

XLSX_MAX_EXPANDED_BYTES = 64 * 1024 * 1024
BELOW_LIMIT = re.compile(
    r"^\s*(<\s*(lod|loq|dl|[0-9.,]+)|n\.?\s*d\.?|bdl|b\.d\.l\.?|< ?lod)\s*$", re.IGNORECASE
)


def is_xlsx(data: bytes) -> bool:
    """True for a ZIP whose members include ``xl/workbook.xml`` (Office Open XML workbook)."""
    return data[:4] == b"PK\x03\x04" and b"xl/workbook.xml" in data


def _read_xlsx(data: bytes, fmt: str, label: str) -> list[list[str]]:
    """All rows of the first worksheet as strings (zip-bomb guarded)."""
    check_zip_expansion(data, XLSX_MAX_EXPANDED_BYTES, label, fmt)
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        return [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    finally:
        book.close()


def _read_csv(data: bytes) -> tuple[list[list[str]], str]:
    """Rows of a delimited text table and its delimiter (sniffed among , ; tab)."""
    text = decode_text(data)
    sample = "\n".join(text.splitlines()[:20])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter)), delimiter


def read_table(data: bytes, fmt: str, label: str) -> tuple[list[str], list[list[str]], dict]:
    """(header, rows, info) of a CSV/XLSX table; blank rows dropped, rows padded to header.

    ``info`` has ``source`` (csv/xlsx), ``delimiter`` and ``decimal_comma``. Raises ParseError
    for a table without a header or data rows, or rows wider than the header.
    """
    if is_xlsx(data):
        rows = _read_xlsx(data, fmt, label)
        info: dict[str, Any] = {"source": "xlsx", "delimiter": None}
    else:
        rows, delimiter = _read_csv(data)
        info = {"source": "csv", "delimiter": delimiter}
    rows = [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise fail(fmt, f"{label}: the table needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    while (
        header
        and not header[-1]
        and all(len(r) < len(header) or not r[len(header) - 1] for r in body)
    ):
        header = header[:-1]
    for i, row in enumerate(body):
        extra = [c for c in row[len(header) :] if c]
        if extra:
            raise fail(fmt, f"{label}: row {i + 2} has more cells than the header")
        body[i] = (row + [""] * len(header))[: len(header)]
    info["decimal_comma"] = info["delimiter"] in (";", "\t") and any(
        re.fullmatch(r"-?\d+,\d+", c) for r in body for c in r
    )
    return header, body, info


def to_number(cell: str, decimal_comma: bool) -> float | None:
    """Float value of a table cell; None for empty cells and below-limit markers (<LOD, n.d.).

    Raises ValueError for any other text (so a typo is reported, not silently dropped).
    """
    text = cell.strip().replace("\u2212", "-")
    if not text or BELOW_LIMIT.match(text):
        return None
    if decimal_comma:
        text = (
            text.replace(".", "").replace(",", ".")
            if re.fullmatch(r"-?\d{1,3}(\.\d{3})+,\d+", text)
            else text.replace(",", ".")
        )
    return parse_float(text)


def is_below_limit(cell: str) -> bool:
    """True for "<LOD", "<0.01", "n.d.", "bdl" … markers."""
    return bool(BELOW_LIMIT.match(cell.strip()))
