"""Ocean Optics SpectraSuite / OceanView text export with header (PL or absorption spectra).

Layout: ``SpectraSuite Data File``, a ``+++`` rule, ``Key: value`` lines (``Date: Wed Nov 16
18:07:25 GMT 2016``, ``Integration Time (usec): 100000 (USB2+H04851)``, ``Spectra Averaged``,
``Number of Pixels in Processed Spectrum: 2048`` …), then ``>>>>>Begin Processed Spectral
Data<<<<<``, rows ``wavelength <tab> value``, and ``>>>>>End Processed Spectral Data<<<<<``.
Checks: both markers present (the end marker proves the export is complete), the row count
equals the stated pixel count, two numbers per row, wavelengths monotonic.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from . import spectra
from ._checks import require_monotonic
from ._dates import from_formats, stamp
from ._guard import fail, guarded
from ._text import decode_text, parse_float
from .base import ParsedFile, Series

PARSER_NAME = "labdb.ocean"
PARSER_VERSION = "1.0.0"
FORMAT = "ocean"
LABEL = "Ocean Optics SpectraSuite export"
BEGIN = ">>>>>Begin Processed Spectral Data<<<<<"
END = ">>>>>End Processed Spectral Data<<<<<"
DATE_FORMATS = ("%a %b %d %H:%M:%S %Z %Y", "%a %b %d %H:%M:%S %Y")


def looks_like_ocean(text: str) -> bool:
    """True for the SpectraSuite header line or its data marker."""
    return text.lstrip().startswith("SpectraSuite Data File") or BEGIN in text[:20000]


def _header(lines: list[str]) -> dict[str, str]:
    """``Key: value`` lines of the header."""
    out = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def _rows(lines: list[str], first_line: int) -> np.ndarray:
    """The data rows: exactly two numbers each."""
    rows = []
    for k, line in enumerate(lines):
        cells = line.replace(",", ".").split() if "\t" not in line else line.split("\t")
        cells = [c.strip() for c in cells if c.strip()]
        try:
            values = [parse_float(c) for c in cells]
        except ValueError:
            values = []
        if len(values) != 2:
            raise fail(
                FORMAT,
                f"{LABEL}: rows of 'wavelength <tab> value' were expected, but line "
                f"{first_line + k} is {line.strip()[:40]!r}",
            )
        rows.append(values)
    return np.array(rows)


@guarded(FORMAT, LABEL)
def parse_ocean(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a SpectraSuite export: one spectrum (x = wavelength, nm), header kept.

    Key numbers: ``peak_nm``/``fwhm_nm``/``fwhm_mev`` of the band maximum (None when cut off),
    ``n_points``. ``measured_at`` from ``Date:`` (its zone, e.g. GMT, is kept). Raises
    ParseError for missing markers (a cut export), a row count differing from the stated
    pixel count, non-numeric rows or a non-monotonic wavelength column.
    """
    lines = decode_text(data).splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip() == BEGIN]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == END]
    if not starts:
        raise fail(FORMAT, f"{LABEL}: the '{BEGIN}' line was expected")
    if not ends or ends[-1] < starts[0]:
        raise fail(FORMAT, f"{LABEL}: no '{END}' line; the export looks truncated")
    header = _header(lines[: starts[0]])
    table = _rows(lines[starts[0] + 1 : ends[-1]], starts[0] + 2)
    stated = header.get("Number of Pixels in Processed Spectrum")
    if stated and stated.isdigit() and int(stated) != table.shape[0]:
        raise fail(
            FORMAT,
            f"{LABEL}: the header states {stated} pixels but {table.shape[0]} rows follow",
        )
    require_monotonic(table[:, 0], what="wavelength", unit="nm", first_row=1)
    series = Series("spectrum", table[:, 0], table[:, 1], "Wavelength", "nm", "Intensity", "counts")
    try:
        numbers = spectra.emission_peak_nm(series.x, series.y)
    except ValueError:
        numbers = {"peak_nm": None, "fwhm_nm": None, "fwhm_mev": None}
    numbers["n_points"] = int(series.x.size)
    date = re.sub(r"\s+", " ", header.get("Date", ""))
    when = from_formats(date, DATE_FORMATS)
    if when is not None and re.search(r" (GMT|UTC) ", date):
        when = when.replace(tzinfo=dt.UTC)
    # with a reference spectrum the processed values are absorbance/transmission (UV-vis);
    # without one they are the detector's counts (emission, PL)
    referenced = header.get("Reference Spectrum Present", "No").lower().startswith("y")
    metadata = {
        "header": header,
        "spectrometer": header.get("Spectrometers"),
        "integration_time_s": _usec(header.get("Integration Time (usec)")),
        "spectra_averaged": header.get("Spectra Averaged"),
        "dark_spectrum_present": header.get("Dark Spectrum Present"),
        "reader": "own SpectraSuite reader",
        **stamp(when, "Date"),
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="uvvis" if referenced else "pl",
        series=[series],
        metadata=metadata,
        key_numbers=numbers,
    )


def _usec(text: str | None) -> float | None:
    """``100000 (USB2+H04851)`` µs → 0.1 s."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)", text or "")
    return float(m.group(1)) / 1e6 if m else None
