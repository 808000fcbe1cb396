"""Bruker OPUS binary spectra (Tensor 37, VERTEX …), files named ``name.0``, ``name.1`` …

Reader: brukeropus. Detection is by the magic ``0A 0A FE FE`` (the extension is a counter).
brukeropus returns ``is_opus == False`` without raising for foreign files and raises
KeyError/struct.error/RecursionError for truncated ones; both become ParseError here.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np

from ._guard import fail, guarded
from ._tempfile import temp_path
from .base import ParsedFile, Series

PARSER_NAME = "labdb.opus"
PARSER_VERSION = "1.1.0"
FORMAT = "opus"
LABEL = "Bruker OPUS"
MAGIC = b"\x0a\x0a\xfe\xfe"
# Preferred block to report (absorbance → transmittance/reflectance → single channels).
PREFERRED_BLOCKS = ("a", "t", "r", "sm", "rf", "sc", "igsm", "igrf")
X_UNITS = {
    "WN": ("Wavenumber", "cm⁻¹"),
    "MI": ("Wavelength", "µm"),
    "LGW": ("ln(wavenumber)", ""),
    "MIN": ("Time", "min"),
    "PNT": ("Point", ""),
    "SEC": ("Time", "s"),
}
BLOCK_KINDS = {
    "a": "absorbance",
    "t": "transmittance",
    "r": "reflectance",
    "sm": "sample_single_channel",
    "rf": "background_single_channel",
    "km": "kubelka_munk",
}
SAMPLE_SPECTRUM_KINDS = ("absorbance", "transmittance", "reflectance", "kubelka_munk")
PARAMS = {
    "instrument": "ins",
    "source": "src",
    "beamsplitter": "bms",
    "detector": "dtc",
    "resolution_cm1": "res",
    "scans": "nss",
    "experiment": "exp",
}


def _param(params, key: str):
    """One OPUS parameter or None (brukeropus params have no ``.get``)."""
    try:
        value = getattr(params, key)
    except (AttributeError, KeyError, RecursionError):
        return None
    return value if isinstance(value, (str, int, float)) else str(value)


def _block_series(opus_file, key: str) -> Series:
    """One data block as a Series (x in cm⁻¹ for WN blocks, points for interferograms)."""
    block = getattr(opus_file, key)
    x = np.asarray(block.x, dtype=float)
    y = np.asarray(block.y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"block {key!r}: x/y shapes {x.shape} and {y.shape} do not match")
    unit_code = _param(block.params, "dxu") or ""
    x_label, x_unit = X_UNITS.get(unit_code, (unit_code or "x", ""))
    return Series(
        name=f"{key}: {block.label}",
        x=x,
        y=y,
        x_label=x_label,
        x_unit=x_unit,
        y_label=str(block.label),
        y_unit="",
    )


def block_kind(key: str) -> str:
    """What an OPUS data block is: absorbance, a single channel (sample or background), an
    interferogram, a phase spectrum … (``other`` for keys this reader does not know)."""
    if key.startswith("ig"):
        return "background_interferogram" if key.endswith("rf") else "interferogram"
    if key.startswith("ph"):
        return "phase"
    return BLOCK_KINDS.get(key, "other")


@guarded(FORMAT, LABEL)
def parse_opus(data: bytes, *, filename: str) -> ParsedFile:
    """Parse an OPUS file: one Series per data block, preferred block first.

    Key numbers: ``block_kind`` and ``is_sample_spectrum`` of the preferred block (a file
    holding only single channels or a background is reported as such, never as the sample's
    absorbance); ``wavenumber_min_cm1``/``wavenumber_max_cm1``/``n_points`` of that block;
    ``absorbance_clipped`` when OPUS clipped absorbance at 6.0. ``metadata["blocks"]`` lists
    every block with its index, key and kind. Raises ParseError for non-OPUS (wrong magic or
    ``is_opus`` False), truncated files and files without data blocks.
    """
    if data[:4] != MAGIC:
        raise fail(
            FORMAT,
            f"{LABEL}: not an OPUS file (magic bytes {data[:4].hex(' ')}, expected 0a 0a fe fe)",
        )
    from brukeropus import read_opus

    with temp_path(data, ".0") as path:
        opus_file = read_opus(path)
    keys = list(getattr(opus_file, "all_data_keys", []) or [])
    if not opus_file.is_opus or not keys:
        raise fail(FORMAT, f"{LABEL}: no OPUS data blocks found")
    ordered = sorted(
        keys,
        key=lambda k: PREFERRED_BLOCKS.index(k) if k in PREFERRED_BLOCKS else len(PREFERRED_BLOCKS),
    )
    series = [_block_series(opus_file, k) for k in ordered]
    main = series[0]
    metadata = {name: _param(opus_file.params, code) for name, code in PARAMS.items()}
    metadata.update(
        data_keys=keys,
        preferred_block=ordered[0],
        datetime=str(getattr(getattr(opus_file, ordered[0]), "datetime", None)),
        reader=f"brukeropus {importlib.metadata.version('brukeropus')}",
    )
    metadata["blocks"] = [
        {"index": i, "key": k, "kind": block_kind(k), "label": s.name, "n_points": int(s.x.size)}
        for i, (k, s) in enumerate(zip(ordered, series))
    ]
    kind = block_kind(ordered[0])
    key_numbers = {
        "block_kind": kind,
        # only a ratioed spectrum describes the sample; a single channel (above all the
        # background's) is instrument response and must not become the sample's FTIR record
        "is_sample_spectrum": kind in SAMPLE_SPECTRUM_KINDS,
        "n_points": int(main.x.size),
        "wavenumber_min_cm1": None,
        "wavenumber_max_cm1": None,
        "absorbance_clipped": bool(ordered[0] == "a" and np.max(main.y) >= 6.0),
    }
    if main.x_unit == "cm⁻¹":
        key_numbers.update(
            wavenumber_min_cm1=float(main.x.min()), wavenumber_max_cm1=float(main.x.max())
        )
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique="ftir",
        series=series,
        metadata=metadata,
        key_numbers=key_numbers,
    )
