"""PerkinElmer text exports: FL WinLab and UV WinLab ASCII (PEDS), Lambda ``.dsp``, and the
two-column CSVs of UV WinLab and Spectrum (FTIR).

* PEDS ASCII (``PE FL … SPECTRUM ASCII PEDS 1.60`` / ``PE UV …``): numbered header lines —
  line 4/5 the date (``YY/MM/DD``) and time — then a ``#GR`` block (x unit, y unit, y factor,
  y offset, first x, x step, point count, …, y maximum, y minimum) and ``#DATA`` rows
  ``x <tab> y``. Checks: the row count, the first x and the step equal the ``#GR`` block, and
  the data's own maximum and minimum equal the stated ones.
* Lambda ``.dsp`` (first line ``sinacsa``): line 5 x unit, 6/7/8 start/stop/step, 9 point
  count, 10 ordinate (``A``, ``%T``, ``%R``), 16 the collection time (US ``M/D/YYYY h:mm:ss
  AM``); after ``#DATA`` one y value per line, x = start + i·step. Checks: the count, the
  stop and the minimum/maximum the header states (lines 11/12).
* CSV: an optional title line (``Created as New Dataset,…``), then ``nm, A`` / ``cm-1,%T``,
  then ``x,y`` rows; x must be monotonic.
* Spectrum time series CSV (``"Name:"``, ``"Num.Spectra:"``, ``"Num.Points per Spectrum:"``,
  a ``"Time (secs)"`` row, ``"Wavenumber"``, then ``wavenumber, y1, y2 …`` rows): every
  spectrum a series; the point count must match; a stated spectrum count larger than the
  columns present is kept as a warning (exports of a selection do that).
"""

from __future__ import annotations

import re

import numpy as np

from . import spectra
from ._checks import require_complete_last_row, require_declared_points, require_monotonic
from ._dates import US_FORMATS, from_formats, stamp
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series

PARSER_NAME = "labdb.perkinelmer"
PARSER_VERSION = "1.0.0"
FORMAT = "perkinelmer"
LABEL = "PerkinElmer export"
CSV_HEAD = re.compile(r"^\s*(nm|cm-1)\s*,\s*(A|%T|%R|T|R|Abs|E1)\s*,?\s*$", re.IGNORECASE)


def looks_like_perkinelmer(lines: list[str]) -> str | None:
    """Layout key (``peds``, ``dsp``, ``csv``) or None."""
    first = lines[0].strip() if lines else ""
    if first.startswith("PE ") and "PEDS" in first:
        return "peds"
    if first == "sinacsa":
        return "dsp"
    if any(CSV_HEAD.match(ln) for ln in lines[:2]):
        return "csv"
    if first.startswith('"Name:"') and len(lines) > 2 and lines[1].startswith('"Num.Spectra:"'):
        return "multi"
    return None


def _floats(cells: list[str], line_no: int) -> list[float]:
    try:
        return [parse_float(c) for c in cells]
    except ValueError:
        raise fail(FORMAT, f"{LABEL}: line {line_no} is not numeric: {cells[:3]}") from None


def _peds(lines: list[str]) -> tuple[np.ndarray, np.ndarray, str, str, dict]:
    """PEDS ASCII: (x, y, x unit, y unit, metadata)."""
    gr, data = lines.index("#GR"), lines.index("#DATA")
    block = lines[gr + 1 : data]
    x_unit, y_unit = block[0].strip(), block[1].strip()
    first_x, step, n = parse_float(block[4]), parse_float(block[5]), int(block[6])
    y_max, y_min = parse_float(block[8]), parse_float(block[9])
    rows = [
        _floats(ln.replace(",", " ").split(), data + 2 + k)
        for k, ln in enumerate(lines[data + 1 :])
        if ln.strip()
    ]
    if any(len(r) != 2 for r in rows):
        raise fail(FORMAT, f"{LABEL}: every #DATA row must hold x and y")
    table = np.array(rows)
    x, y = table[:, 0], table[:, 1]
    require_declared_points(
        x.size, start=first_x, stop=first_x + step * (n - 1), step=step, what="x", unit=x_unit
    )
    if abs(x[0] - first_x) > abs(step) / 2 or not np.allclose(np.diff(x), step, rtol=1e-3):
        raise ValueError(f"the #GR block states x from {first_x:g} in steps of {step:g}")
    if not (np.isclose(y.max(), y_max, rtol=1e-5) and np.isclose(y.min(), y_min, rtol=1e-5)):
        raise ValueError(
            f"the #GR block states y between {y_min:g} and {y_max:g}, but the data run "
            f"{y.min():g}–{y.max():g}; the file is damaged"
        )
    when = from_formats(f"{lines[3].strip()} {lines[4].strip()}", ("%y/%m/%d %H:%M:%S.%f",))
    meta = {"layout": "peds_ascii", "header_lines": [ln.rstrip() for ln in lines[:gr]]}
    meta["instrument_family"] = lines[0].split()[1]
    return x, y, x_unit, y_unit, {**meta, **stamp(when, "header lines 4–5")}


def _dsp(lines: list[str]) -> tuple[np.ndarray, np.ndarray, str, str, dict]:
    """Lambda .dsp: (x, y, x unit, y unit, metadata)."""
    start, stop, step = (parse_float(lines[i]) for i in (5, 6, 7))
    n, data = int(lines[8]), lines.index("#DATA")
    y = np.array(
        [_floats([ln], data + 2 + k)[0] for k, ln in enumerate(lines[data + 1 :]) if ln.strip()]
    )
    require_declared_points(y.size, start=start, stop=stop, step=step, what="x", unit=lines[4])
    if n != y.size:
        raise ValueError(f"the header states {n} points but {y.size} values follow")
    y_min, y_max = parse_float(lines[10]), parse_float(lines[11])
    if not (np.isclose(y.min(), y_min, rtol=1e-9) and np.isclose(y.max(), y_max, rtol=1e-9)):
        raise ValueError(
            f"the header states values between {y_min:g} and {y_max:g}, but the data run "
            f"{y.min():g}–{y.max():g}; the file is damaged"
        )
    x = start + step * np.arange(y.size)
    when = from_formats(lines[15].strip(), US_FORMATS)
    meta = {"layout": "lambda_dsp", "instrument": lines[28].strip() or lines[13].strip()}
    return x, y, lines[4].strip(), lines[9].strip(), {**meta, **stamp(when, "header line 16")}


def _csv(
    lines: list[str], *, ends_with_newline: bool = True
) -> tuple[np.ndarray, np.ndarray, str, str, dict]:
    """Two-column CSV: (x, y, x unit, y unit, metadata)."""
    head = next(i for i, ln in enumerate(lines[:2]) if CSV_HEAD.match(ln))
    x_unit, y_unit = (c.strip() for c in lines[head].split(",")[:2])
    rows = []
    for k, ln in enumerate(lines[head + 1 :]):
        if not ln.strip():
            continue
        cells = [c for c in ln.split(",") if c.strip()]
        if len(cells) != 2:
            raise fail(
                FORMAT,
                f"{LABEL}: rows of 'x, y' were expected, but line {head + 2 + k} has "
                f"{len(cells)} values",
            )
        rows.append(_floats(cells, head + 2 + k))
    row_cells = [[c.strip() for c in ln.split(",") if c.strip()] for ln in lines[head + 1 :]]
    require_complete_last_row([c for c in row_cells if c], ends_with_newline=ends_with_newline)
    table = np.array(rows)
    meta = {"layout": "csv", "title": lines[0].strip() if head else None}
    return table[:, 0], table[:, 1], x_unit, y_unit, meta


def _multi(lines: list[str]) -> tuple[np.ndarray, list[np.ndarray], list[str], dict]:
    """Spectrum time series CSV: (wavenumbers, one y array per spectrum, labels, metadata)."""
    stated_spectra = int(lines[1].split(",")[1])
    stated_points = int(lines[2].split(",")[1])
    times_row = next(i for i, ln in enumerate(lines) if ln.startswith('"Time (secs)"'))
    times = [parse_float(c) for c in lines[times_row].split(",")[1:] if c.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"Wavenumber"')) + 1
    rows = [ln.split(",") for ln in lines[start:] if ln.strip()]
    bad = next((k for k, r in enumerate(rows) if len(r) != len(times) + 1), None)
    if bad is not None:
        raise fail(
            FORMAT,
            f"{LABEL}: rows of a wavenumber and {len(times)} values were expected, but line "
            f"{start + bad + 1} has {len(rows[bad])} values",
        )
    table = np.array([_floats(r, start + k + 1) for k, r in enumerate(rows)])
    if table.shape[0] != stated_points:
        raise ValueError(
            f"the header states {stated_points} points per spectrum but {table.shape[0]} rows "
            "follow; the file looks truncated"
        )
    meta: dict = {"layout": "spectrum_time_series", "times_s": times}
    if stated_spectra != len(times):
        meta["warnings"] = [
            f"the header states {stated_spectra} spectra; the file holds {len(times)} "
            "(a selection was exported)"
        ]
    labels = [f"t = {t:g} s" for t in times]
    return table[:, 0], [table[:, j + 1] for j in range(len(times))], labels, meta


def _technique(x_unit: str, y_unit: str, family: str | None) -> str:
    if x_unit.lower().startswith("cm"):
        return "ftir"
    return "pl" if family == "FL" else "uvvis"


@guarded(FORMAT, LABEL)
def parse_perkinelmer(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a PerkinElmer export (see the module docstring): one spectrum.

    Key numbers: UV-vis ``peak_1s_nm``/``peak_1s_ev`` of absorbance spectra (first excitonic
    maximum, None if featureless); fluorescence ``peak_nm``/``fwhm_nm``/``fwhm_mev``; FTIR the
    wavenumber range. Raises ParseError when the data disagree with any count, start, step or
    range the header states, for non-numeric rows, or a non-monotonic x column.
    """
    lines = decode_text(data).splitlines()
    layout = looks_like_perkinelmer(lines)
    if layout is None:
        raise fail(FORMAT, f"{LABEL}: a PEDS ASCII, Lambda .dsp or 'nm, A' CSV was expected")
    text = decode_text(data)
    cleaned = [ln.rstrip("\r") for ln in lines]
    if layout == "multi":
        return _parse_multi(cleaned)
    if layout == "csv":
        x, y, x_unit, y_unit, meta = _csv(cleaned, ends_with_newline=text.endswith("\n"))
    else:
        x, y, x_unit, y_unit, meta = {"peds": _peds, "dsp": _dsp}[layout](cleaned)
    require_monotonic(x, what="x", unit=x_unit, first_row=1)
    technique = _technique(x_unit, y_unit, meta.get("instrument_family"))
    x_label = "Wavenumber" if technique == "ftir" else "Wavelength"
    unit = "cm⁻¹" if technique == "ftir" else x_unit.lower()
    series = Series("spectrum", x, y, x_label, unit, y_unit, y_unit)
    numbers: dict = {"n_points": int(x.size)}
    if technique == "ftir":
        numbers.update(wavenumber_min_cm1=float(x.min()), wavenumber_max_cm1=float(x.max()))
    elif technique == "pl":
        try:
            numbers.update(spectra.emission_peak_nm(x, y))
        except ValueError:
            numbers.update(peak_nm=None, fwhm_nm=None, fwhm_mev=None)
    elif y_unit.upper() in ("A", "ABS"):
        try:
            peak = spectra.first_excitonic_peak_nm(x, y)
            numbers.update(peak_1s_nm=peak, peak_1s_ev=spectra.nm_to_ev(peak))
        except ValueError:
            numbers.update(peak_1s_nm=None, peak_1s_ev=None)
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique,
        series=[series],
        metadata={**meta, "x_unit": x_unit, "y_unit": y_unit, "reader": "own PerkinElmer reader"},
        key_numbers=numbers,
    )


def _parse_multi(lines: list[str]) -> ParsedFile:
    """A Spectrum time-series CSV: one FTIR series per stored spectrum."""
    x, ys, labels, meta = _multi(lines)
    require_monotonic(x, what="wavenumber", unit="cm⁻¹", first_row=1)
    series = [Series(lb, x, y, "Wavenumber", "cm⁻¹", "y", "") for lb, y in zip(labels, ys)]
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="ftir",
        series=series,
        metadata={**meta, "reader": "own PerkinElmer reader"},
        key_numbers={
            "n_points": int(x.size),
            "n_spectra": len(series),
            "wavenumber_min_cm1": float(x.min()),
            "wavenumber_max_cm1": float(x.max()),
        },
    )
