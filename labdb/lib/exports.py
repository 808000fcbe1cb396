"""Safe spreadsheet exports: cells a spreadsheet would run as a formula are neutralised.

One rule for every CSV/XLSX export (admin import-export, the explorer's CSV, API CSV/XLSX): a
text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with an apostrophe (the OWASP "CSV injection" rule), so Excel, LibreOffice and Google Sheets show
it as text. A cell that is a plain number (``-1.5``, ``+3e-4``) is left alone: it cannot be a
formula and must stay a number. Pure: no Django import.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value: Any) -> Any:
    """``value`` with an apostrophe in front if it is text a spreadsheet would run as a formula.

    Non-text values (numbers, dates, None) are returned unchanged.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if _PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def restore_cell(value: Any) -> Any:
    """Inverse of :func:`neutralise_cell` for re-import: ``'=x`` back to ``=x``; else unchanged."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def neutralise_dataset(dataset):
    """A copy of a tablib ``Dataset`` with every cell passed through :func:`neutralise_cell`."""
    import tablib

    safe = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        safe.append([neutralise_cell(value) for value in row])
    return safe


def neutralise_frame(frame):
    """A copy of a pandas DataFrame whose text cells (and column names) are neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if not (safe[column].dtype == object or str(safe[column].dtype).startswith("str")):
            continue
        safe[column] = safe[column].map(neutralise_cell)
    safe.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in safe.columns]
    return safe


def safe_csv(frame) -> str:
    """``frame.to_csv(index=False)`` with formula-like text cells neutralised."""
    return neutralise_frame(frame).to_csv(index=False)
