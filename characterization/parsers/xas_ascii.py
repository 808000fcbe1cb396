"""Beamline ASCII XAS scans: ESRF-style ``#name …`` headers, APS SPEC-like ``#C 1_Energy (keV)``,
IFEFFIT ``.xmu`` (``#%atom``/``#%edge``), and raw Epics scans with ``;`` comments
(``; P1 = {Energy}`` … ``; n_points = 469``).

Column names come, in order of preference, from SPEC ``#C``/``#L`` numbered labels, Epics
``P1/D1 = {Name}`` lines, or the last comment line with as many words as data columns.
Energies in keV (stated, or max < 100) are converted to eV. μ is a given ``mu`` column, else
ln(I0/It), else If/I0. Element and edge are only reported when the file states them.
"""

from __future__ import annotations

import re

import numpy as np

from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile
from .elements import XAS_EDGES, is_element_symbol
from .xas_common import check_energy, energy_to_ev, mu_from_columns, mu_series, xas_key_numbers

PARSER_NAME = "labdb.xas_ascii"
PARSER_VERSION = "1.1.0"
FORMAT = "xas_ascii"
LABEL = "Beamline XAS text file"
SPEC_LABEL_RE = re.compile(r"(\d+)_([^\s(]+)(?:\s*\(([^)]*)\))?")
EPICS_LABEL_RE = re.compile(r"^;\s*([PD]\d+)\s*=\s*\{([^}]*)\}")


def comment_char(lines: list[str]) -> str:
    """'#' or ';' — whichever starts the file's first non-empty line."""
    first = next((ln.lstrip() for ln in lines if ln.strip()), "")
    if first[:1] not in ("#", ";"):
        raise fail(FORMAT, f"{LABEL}: expected a '#' or ';' comment header")
    return first[0]


def _split(lines: list[str], char: str) -> tuple[list[str], np.ndarray]:
    """(comment lines, numeric table); ParseError for ragged rows or non-numbers."""
    comments, rows = [], []
    for k, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(char):
            if rows:
                raise fail(FORMAT, f"{LABEL}: comment line {k + 1} inside the data table")
            comments.append(stripped)
            continue
        try:
            rows.append([parse_float(t) for t in stripped.replace(",", " ").split()])
        except ValueError:
            raise fail(FORMAT, f"{LABEL}: line {k + 1} is not numeric: {stripped[:50]!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise fail(
                FORMAT,
                f"{LABEL}: line {k + 1} has {len(rows[-1])} values, the first "
                f"data line has {len(rows[0])}; the file looks truncated",
            )
    if len(rows) < 5 or len(rows[0]) < 2:
        raise fail(FORMAT, f"{LABEL}: fewer than 5 data rows with at least 2 columns")
    return comments, np.array(rows)


def _spec_names(comments: list[str], n: int) -> tuple[list[str], str | None] | None:
    """SPEC-like numbered labels ``1_Energy (keV) 2_sec …`` → (names, energy unit)."""
    for line in comments:
        labels = SPEC_LABEL_RE.findall(line)
        if len(labels) == n and [int(i) for i, _, _ in labels] == list(range(1, n + 1)):
            return [name.lower() for _, name, _ in labels], (labels[0][2] or None)
    return None


def _epics_names(comments: list[str], n: int) -> list[str] | None:
    """Epics ``; P1 = {Energy}`` labels ordered by the ``; P1 P2 D1 D2`` line."""
    labels = dict(m.groups() for m in (EPICS_LABEL_RE.match(c) for c in comments) if m)
    order = comments[-1].lstrip(";").split() if comments else []
    if labels and len(order) == n and all(o in labels for o in order):
        return [labels[o].strip().lower().replace(" ", "_") for o in order]
    return None


def column_names(comments: list[str], n: int) -> tuple[list[str], str | None]:
    """(lower-case column names, stated energy unit) — see the module docstring."""
    spec = _spec_names(comments, n)
    if spec:
        return spec
    epics = _epics_names(comments, n)
    if epics:
        return epics, None
    for line in reversed(comments):
        words = line.lstrip("#;% ").split()
        if len(words) == n and not any(re.match(r"^[-+]?\d", w) for w in words):
            return [w.lower() for w in words], None
    return [f"col{i + 1}" for i in range(n)], None


def _stated(comments: list[str]) -> dict:
    """Element, edge, E0 (raw number) and declared point count found in the header."""
    text = "\n".join(comments)
    found: dict = {}
    if m := re.search(r"^[#;]%?\s*atom\s*:\s*([A-Za-z]{1,2})\s*$", text, re.M | re.I):
        found["element"] = m.group(1).capitalize()
    if m := re.search(r"^[#;]%?\s*edge\s*:\s*(\w+)\s*$", text, re.M | re.I):
        found["edge"] = m.group(1).upper()
    if m := re.search(r"(?:exafs_edge_energy|\bE0\s*=)\s*([-+\d.eE]+)", text):
        found["e0"] = parse_float(m.group(1))
    if m := re.search(r"^;\s*n_points\s*=\s*(\d+)", text, re.M):
        found["n_points"] = int(m.group(1))
    return found


def check_last_row(text: str, char: str) -> None:
    """Raise ParseError when the file ends inside a number.

    Some beamlines omit the final line break, so a missing one alone is not an error; but
    then the last value must be about as long as the other values of its column (a cut
    ``120444.70`` → ``118`` is caught).
    """
    if text.endswith(("\n", "\r")):
        return
    rows = [
        ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(char)
    ]
    if len(rows) < 3:
        return
    col = len(rows[-1]) - 1
    lengths = [len(r[col]) for r in rows[:-1] if len(r) > col]
    if lengths and len(rows[-1][col]) < float(np.median(lengths)) - 1:
        raise fail(
            FORMAT,
            f"{LABEL}: the last data row ends in the middle of a number; the file looks truncated",
        )


@guarded(FORMAT, LABEL)
def parse_xas_ascii(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a beamline ASCII XAS scan into μ(E) (energy in eV) and XAS key numbers.

    ``e0_ev`` is the header's edge energy (``#C exafs_edge_energy``, ``E0 =``; keV → eV) when
    given, else the maximum of dμ/dE. Raises ParseError for ragged/non-numeric rows, a point
    count differing from a stated ``n_points``, or when no μ can be formed.
    """
    text = decode_text(data)
    lines = text.splitlines()
    char = comment_char(lines)
    check_last_row(text, char)
    comments, table = _split(lines, char)
    names, energy_unit = column_names(comments, table.shape[1])
    stated = _stated(comments)
    if "n_points" in stated and stated["n_points"] != table.shape[0]:
        raise fail(
            FORMAT,
            f"{LABEL}: the header says {stated['n_points']} points but "
            f"{table.shape[0]} rows follow; the file looks truncated",
        )
    e_index = next((i for i, nm in enumerate(names) if "energy" in nm), 0)
    energy, was_kev = energy_to_ev(table[:, e_index], energy_unit)
    check_energy(energy)
    columns = {nm: table[:, i] for i, nm in enumerate(names) if i != e_index}
    mu, mode = mu_from_columns(columns)
    element = stated.get("element") if is_element_symbol(stated.get("element", "")) else None
    edge = stated.get("edge") if stated.get("edge") in XAS_EDGES else None
    e0 = stated.get("e0")
    if e0 is not None and e0 < 100:
        e0 *= 1000.0
    metadata = {
        "columns": names,
        "n_rows": int(table.shape[0]),
        "energy_column": names[e_index],
        "energy_converted_from_kev": was_kev,
        "mu_mode": mode,
        "col0_range_raw": [float(table[:, 0].min()), float(table[:, 0].max())],
        "header": comments[:60],
        "reader": "own beamline ASCII reader",
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="xas",
        series=[mu_series(energy, mu, "μ(E)", mode)],
        metadata=metadata,
        key_numbers=xas_key_numbers(energy, mu, element=element, edge=edge, e0_stated_ev=e0),
    )
