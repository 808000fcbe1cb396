"""JCAMP-DX spectra (``.jdx``, ``.dx``, ``.jcm``), including LINK (compound) files.

Reader: jcamp, wrapped strictly: the library *prints* X/Y-check failures and returns
mismatched arrays, so stdout is captured (each printed line becomes a warning) and the
result must satisfy ``len(x) == len(y) == ##NPOINTS``; an ``##END=`` record is required.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import re

import numpy as np

from ._dates import from_jcamp, stamp
from ._guard import fail, guarded
from .base import ParsedFile, Series

PARSER_NAME = "labdb.jcamp"
PARSER_VERSION = "1.1.0"
FORMAT = "jcamp"
LABEL = "JCAMP-DX"
WAVENUMBER_UNITS = {"1/CM", "CM-1", "CM^-1", "1/CM-1", "WAVENUMBERS", "CM(-1)"}
TECHNIQUES = {"INFRARED": "ftir", "UV": "uvvis", "VIS": "uvvis", "FLUORESCENCE": "pl"}


def _read_quietly(data: bytes) -> tuple[dict, list[str]]:
    """Run ``jcamp.read`` with stdout captured: (dict, printed warning lines)."""
    import jcamp

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = jcamp.read(io.BytesIO(data))
    return result, [line for line in buf.getvalue().splitlines() if line.strip()]


def header_fields(data: bytes) -> dict[str, str]:
    """Every ``##KEY= value`` record before the first data table (keys upper-case, no ##)."""
    fields: dict[str, str] = {}
    for line in data.decode("latin-1").splitlines():
        m = re.match(r"^##\s*([^=]+?)\s*=\s*(.*)$", line)
        if not m:
            continue
        key = m.group(1).upper().replace(" ", "").replace("_", "").replace("-", "")
        if key in ("XYDATA", "PEAKTABLE", "XYPOINTS", "DATATABLE", "END"):
            break
        fields.setdefault(key, m.group(2).strip())
    return fields


def _x_axis(xunits: str) -> tuple[str, str]:
    """(label, unit) for a JCAMP ``##XUNITS`` value."""
    norm = xunits.strip().upper().replace(" ", "")
    if norm in WAVENUMBER_UNITS:
        return "Wavenumber", "cm⁻¹"
    if norm in ("NANOMETERS", "NM"):
        return "Wavelength", "nm"
    if norm in ("MICROMETERS", "UM", "MICRONS"):
        return "Wavelength", "µm"
    return "x", xunits.strip()


def _y_unit(yunits: str, y: np.ndarray) -> str:
    """Normalised y unit: ``%T`` vs ``T (0-1)`` for TRANSMITTANCE, else as written."""
    norm = yunits.strip().upper()
    if norm == "TRANSMITTANCE":
        return "%T" if float(np.nanmax(y)) > 1.5 else "T (0-1)"
    return yunits.strip()


def _spectrum(block: dict, warnings: list[str]) -> Series:
    """Strictly validated Series for one JCAMP block; ValueError on any inconsistency."""
    x = np.asarray(block.get("x", []), dtype=float)
    y = np.asarray(block.get("y", []), dtype=float)
    declared = block.get("npoints")
    if x.size == 0 or x.size != y.size:
        raise fail(
            FORMAT,
            f"{LABEL}: decoded {x.size} x values but {y.size} y values; the data "
            "table is truncated or corrupted",
        )
    if declared is not None and int(float(declared)) != x.size:
        raise fail(
            FORMAT,
            f"{LABEL}: the header declares ##NPOINTS={declared} but {x.size} points were decoded",
        )
    if warnings:
        raise fail(
            FORMAT,
            f"{LABEL}: the data failed the format's X/Y checks "
            f"({len(warnings)} failure(s)); the file is corrupted",
            detail="; ".join(warnings[:5]),
        )
    x_label, x_unit = _x_axis(str(block.get("xunits", "")))
    y_unit = _y_unit(str(block.get("yunits", "")), y)
    return Series(
        name=str(block.get("title", "spectrum")),
        x=x,
        y=y,
        x_label=x_label,
        x_unit=x_unit,
        y_label=str(block.get("yunits", "y")).strip(),
        y_unit=y_unit,
    )


def _technique(block: dict, x_unit: str) -> str:
    """ftir / uvvis / pl from ``##DATA TYPE``; a cm⁻¹ axis means ftir; else other."""
    data_type = str(block.get("data type", "")).upper()
    found = next((t for word, t in TECHNIQUES.items() if word in data_type), None)
    return found or ("ftir" if x_unit == "cm⁻¹" else "other")


@guarded(FORMAT, LABEL)
def parse_jcamp(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a JCAMP-DX file (one spectrum, or a LINK file with several blocks).

    Key numbers: ``n_points`` and, for wavenumber axes, ``wavenumber_min_cm1`` /
    ``wavenumber_max_cm1`` of the first spectrum. Raises ParseError for missing ``##END=``,
    printed check failures, length mismatches, and LINK files without any x/y spectrum.
    """
    if b"##END" not in data.upper():
        raise fail(FORMAT, f"{LABEL}: the file has no ##END= record; it looks truncated")
    block, warnings = _read_quietly(data)
    fields = header_fields(data)
    children = block.get("children") or []
    if str(block.get("data type", "")).upper() == "LINK" or children:
        with_data = [c for c in children if len(c.get("x", [])) or len(c.get("y", []))]
        if not with_data:
            titles = ", ".join(repr(str(c.get("title", "?"))) for c in children)
            raise fail(
                FORMAT,
                f"{LABEL}: this LINK (compound) file contains no x/y spectrum, "
                f"only {len(children)} block(s): {titles}",
            )
        blocks = with_data
    else:
        blocks = [block]
    series = [_spectrum(b, warnings) for b in blocks]
    main = series[0]
    key_numbers: dict[str, int | float | None] = {
        "n_points": int(main.x.size),
        "wavenumber_min_cm1": None,
        "wavenumber_max_cm1": None,
    }
    if main.x_unit == "cm⁻¹":
        key_numbers.update(
            wavenumber_min_cm1=float(main.x.min()), wavenumber_max_cm1=float(main.x.max())
        )
    metadata = {
        "title": block.get("title"),
        "data_type": block.get("data type"),
        "xunits": blocks[0].get("xunits"),
        "yunits": blocks[0].get("yunits"),
        "y_unit": main.y_unit,
        "origin": block.get("origin"),
        "owner": block.get("owner"),
        "n_blocks": len(blocks),
        "header": fields,
        "reader": f"jcamp {importlib.metadata.version('jcamp')}",
    }
    when, source = from_jcamp(fields)
    metadata.update(stamp(when, source, day_only=source == "##DATE"))
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=_technique(blocks[0], main.x_unit),
        series=series,
        metadata=metadata,
        key_numbers=key_numbers,
    )
