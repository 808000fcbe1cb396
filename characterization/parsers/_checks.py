"""Layout checks shared by the text readers: a reader that assumes a layout must verify it.

Each check raises ``ValueError`` with a sentence a chemist can act on; the guard turns it into
a ``ParseError`` naming the file and the format. None of these import Django.
"""

from __future__ import annotations

import numpy as np


def require_monotonic(x: np.ndarray, *, what: str, unit: str, first_row: int = 1) -> None:
    """Raise ValueError unless ``x`` strictly increases or strictly decreases.

    ``first_row`` is the file's row number of ``x[0]`` (for the message). A scan axis that
    turns back or repeats is a sign of shifted or swapped columns, never of real data.
    """
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return
    steps = np.diff(x)
    sign = 1.0 if steps[0] > 0 else -1.0
    bad = np.flatnonzero(steps * sign <= 0)
    if steps[0] == 0 or bad.size:
        k = 0 if steps[0] == 0 else int(bad[0])
        raise ValueError(
            f"the {what} column must run steadily up or down, but row {first_row + k + 1} has "
            f"{x[k + 1]:g} {unit} after {x[k]:g} {unit}; the columns look shifted or swapped"
        )


def require_declared_points(
    n_found: int, *, start: float, stop: float, step: float, what: str, unit: str
) -> None:
    """Raise ValueError when a header's Start/Stop/Step do not give ``n_found`` points."""
    if step == 0:
        raise ValueError(f"the header states a {what} step of 0 {unit}")
    expected = int(round(abs(stop - start) / abs(step))) + 1
    if expected != n_found:
        raise ValueError(
            f"the header states {what} {start:g}–{stop:g} {unit} in steps of {step:g} "
            f"({expected} points), but {n_found} data rows follow; the file looks truncated"
        )


def require_axis_matches(
    x: np.ndarray, *, start: float, stop: float, what: str, unit: str, tol: float
) -> None:
    """Raise ValueError unless the data's first/last x equal the header's Start/Stop."""
    if abs(float(x[0]) - start) > tol or abs(float(x[-1]) - stop) > tol:
        raise ValueError(
            f"the header states {what} {start:g}–{stop:g} {unit}, but the data run "
            f"{float(x[0]):g}–{float(x[-1]):g} {unit}"
        )


def require_complete_last_row(rows: list[list[str]], *, ends_with_newline: bool) -> None:
    """Raise ValueError when the file ends in the middle of its last number.

    Some instruments omit the final line break, so its absence alone is not an error; but then
    every value of the last row must be at least as long as the shortest value of its column
    in the other rows (a cut ``1.28452024E+1`` → ``1.2845`` is caught).
    """
    if ends_with_newline or len(rows) < 3:
        return
    last = rows[-1]
    for col, cell in enumerate(last):
        lengths = [len(r[col]) for r in rows[:-1] if len(r) > col and r[col]]
        if lengths and len(cell) < min(lengths):
            raise ValueError(
                f"the last data row ends in the middle of a number ({cell!r}); "
                "the file looks truncated"
            )
