"""Agilent Cary CSV exports (Cary 50/60/5000 UV-Vis-NIR, Cary Eclipse fluorescence).

Layout (FORMATS.md §3.6): row 1 = series names, each followed by an empty cell; row 2 =
``Wavelength (nm),Abs,`` (or ``%T``, Eclipse ``Intensity (a.u.)``) per series; then rows of
x,y pairs (series of different lengths padded with empty cells); a blank line; then one
metadata block per series: the series name, ``Collection Time: …``, ``Parameter List :`` with
``Key<2+ spaces>Value`` lines. Dates are kept as raw strings (locale-dependent).
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from . import spectra
from ._checks import require_monotonic
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series

PARSER_NAME = "labdb.cary_csv"
PARSER_VERSION = "1.1.0"
FORMAT = "cary_csv"
LABEL = "Cary CSV"
SATURATED_ABS = 10.0


def _split_sections(text: str) -> tuple[list[list[str]], list[str]]:
    """(CSV rows of the data table, footer lines) split at the first blank line."""
    lines = text.splitlines()
    try:
        blank = next(i for i, line in enumerate(lines) if not line.strip(" ,\t"))
    except StopIteration:
        raise fail(
            FORMAT, f"{LABEL}: no metadata footer after the data table; the export looks truncated"
        ) from None
    return list(csv.reader(io.StringIO("\n".join(lines[:blank])))), lines[blank + 1 :]


def _columns(rows: list[list[str]], n_series: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """x/y arrays for each series from the padded data rows (empty cells end a series)."""
    out = []
    for k in range(n_series):
        xs, ys = [], []
        for row in rows:
            cells = row[2 * k : 2 * k + 2] + ["", ""]
            if not cells[0].strip() and not cells[1].strip():
                continue
            xs.append(parse_float(cells[0]))
            ys.append(parse_float(cells[1]))
        if len(xs) < 2:
            raise fail(FORMAT, f"{LABEL}: series {k + 1} has fewer than 2 data points")
        require_monotonic(np.array(xs), what=f"series {k + 1} wavelength", unit="nm", first_row=3)
        out.append((np.array(xs), np.array(ys)))
    return out


def _footer_blocks(lines: list[str]) -> dict[str, dict]:
    """Metadata per series name: collection time, parameters (``Key  Value``), method log."""
    starts = [i for i in range(len(lines) - 1) if lines[i + 1].startswith("Collection Time:")]
    blocks = {}
    for j, start in enumerate(starts):
        end = starts[j + 1] - 1 if j + 1 < len(starts) else len(lines)
        body = lines[start + 1 : end]
        params = {}
        for line in body:
            match = re.match(r"^(\S.*?)\s{2,}(\S.*)$", line.rstrip(", "))
            if match and ":" not in match.group(1):
                params[match.group(1).strip()] = match.group(2).strip()
        blocks[lines[start].strip().rstrip(",")] = {
            "collected": body[0].split(":", 1)[1].strip(),
            "parameters": params,
        }
    return blocks


def _is_fluorescence(y_label: str, params: dict) -> bool:
    """Eclipse fluorescence series: ``Intensity`` column or ``Data mode Fluorescence``."""
    return y_label.lower().startswith("intensity") or "fluor" in params.get("Data mode", "").lower()


def _uvvis_numbers(series: list[Series]) -> dict:
    """``peak_1s_nm``/``peak_1s_ev`` of the first absorbance series (None if featureless)."""
    out: dict = {"peak_1s_nm": None, "peak_1s_ev": None, "peak_1s_series": None}
    for s in series:
        if s.y_unit == "Abs":
            try:
                peak = spectra.first_excitonic_peak_nm(s.x, s.y)
            except ValueError:
                return out
            return {
                "peak_1s_nm": peak,
                "peak_1s_ev": spectra.nm_to_ev(peak),
                "peak_1s_series": s.name,
            }
    return out


def _pl_numbers(series: list[Series], metas: list[dict]) -> dict:
    """``peak_nm``, ``fwhm_nm``, ``fwhm_mev`` of the first emission series."""
    chosen = next(
        (
            s
            for s, m in zip(series, metas)
            if "emission" in m["parameters"].get("Scan mode", "").lower()
        ),
        series[0],
    )
    try:
        return {**spectra.emission_peak_nm(chosen.x, chosen.y), "pl_series": chosen.name}
    except ValueError:
        return {"peak_nm": None, "fwhm_nm": None, "fwhm_mev": None, "pl_series": chosen.name}


@guarded(FORMAT, LABEL)
def parse_cary_csv(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a Cary CSV: one Series per sample (x = wavelength in nm, y = Abs, %T or a.u.).

    Key numbers: UV-vis → ``peak_1s_nm``/``peak_1s_ev`` (lowest-energy excitonic maximum of the
    first Abs series); fluorescence → ``peak_nm``/``fwhm_nm``/``fwhm_mev``. ``saturated_points``
    counts Abs values of 10 (Cary's over-range marker). Raises ParseError for a missing header,
    non-numeric cells, or a footer that does not describe every series (truncated export).
    """
    rows, footer = _split_sections(decode_text(data))
    if len(rows) < 3 or not rows[1] or not rows[1][0].startswith("Wavelength"):
        raise fail(FORMAT, f"{LABEL}: row 2 must start with 'Wavelength (nm),'")
    names = [rows[0][i].strip() for i in range(0, len(rows[0]), 2) if rows[0][i].strip()]
    y_labels = [
        rows[1][2 * k + 1].strip() if len(rows[1]) > 2 * k + 1 else "" for k in range(len(names))
    ]
    blocks = _footer_blocks(footer)
    missing = [n for n in names if n not in blocks]
    if missing:
        raise fail(
            FORMAT,
            f"{LABEL}: no metadata block for series {missing[:3]}; the export looks truncated",
        )
    arrays = _columns(rows[2:], len(names))
    metas = [blocks[n] for n in names]
    series = [
        Series(
            name=n,
            x=x,
            y=y,
            x_label="Wavelength",
            x_unit="nm",
            y_label=yl,
            y_unit=yl if yl in ("Abs", "%T", "%R") else "a.u.",
        )
        for n, yl, (x, y) in zip(names, y_labels, arrays)
    ]
    fluorescence = any(_is_fluorescence(yl, m["parameters"]) for yl, m in zip(y_labels, metas))
    numbers = _pl_numbers(series, metas) if fluorescence else _uvvis_numbers(series)
    numbers["n_series"] = len(series)
    numbers["saturated_points"] = int(
        sum(np.sum(s.y >= SATURATED_ABS) for s in series if s.y_unit == "Abs")
    )
    metadata = {
        "series": [
            {
                "name": s.name,
                "y": s.y_label,
                "n": int(s.x.size),
                "instrument": m["parameters"].get("Instrument"),
                "collected": m["collected"],
                "parameters": m["parameters"],
            }
            for s, m in zip(series, metas)
        ],
        "reader": "own Cary CSV reader",
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="pl" if fluorescence else "uvvis",
        series=series,
        metadata=metadata,
        key_numbers=numbers,
    )
