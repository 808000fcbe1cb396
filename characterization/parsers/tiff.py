"""TEM/SEM ``.tif`` images with calibration (JEOL SightX, DigitalMicrograph, ImageJ, FEI…).

Reader: rosettasciio ``rsciio.tiff`` (needs tifffile). A truncated TIFF makes rsciio return
``[]`` without an exception — that is an error here. Plain camera TIFFs have no calibration:
``pixel_size`` is then None and the UI must ask for nm/px.
"""

from __future__ import annotations

from ._guard import fail, guarded
from ._limits import DEFAULT_LIMITS, Limits
from .base import ParsedFile
from .rsciio_common import (
    axes_summary,
    image_from_signal,
    image_key_numbers,
    jsonable,
    read_signals,
    rsciio_version,
    technique_for,
)

PARSER_NAME = "labdb.tiff"
PARSER_VERSION = "1.1.0"
FORMAT = "tiff"
LABEL = "TIFF image"
MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _tem_numbers(metadata: dict) -> tuple[float | None, float | None]:
    """(beam energy in kV, magnification) from rsciio's Acquisition_instrument, if mapped."""
    tem = (metadata.get("Acquisition_instrument") or {}).get("TEM") or {}
    kv, mag = tem.get("beam_energy"), tem.get("magnification")
    return (None if kv is None else float(kv)), (None if mag is None else float(mag))


VOLTAGE_KEYS = ("AccelerationVoltage", "AccVoltage", "HighTension", "HT", "Voltage")
MAG_KEYS = ("NominalMagnification", "Magnification", "IndicatedMagnification")


def _find(tree, keys: tuple[str, ...]):
    """The first value (depth-first) of any of ``keys`` in a nested dict/list tree."""
    if isinstance(tree, dict):
        for key in keys:
            if key in tree and isinstance(tree[key], (int, float)):
                return tree[key]
        for value in tree.values():
            found = _find(value, keys)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = _find(value, keys)
            if found is not None:
                return found
    return None


def _vendor_optics(original: dict) -> dict:
    """kV, magnification and camera length from vendor tags (JEOL SightX ``ImageDescription``
    trees and others): voltages above 1000 are in V; JEOL's ``ImageFormingSystem`` gives the
    camera length (mm) in DIFF mode and the magnification in MAG/LOWMAG modes."""
    volts = _find(original, VOLTAGE_KEYS)
    out: dict = {
        "voltage_kv": None if volts is None else float(volts) / (1000.0 if volts > 1000 else 1),
        "magnification": _find(original, MAG_KEYS),
        "camera_length_mm": None,
    }
    forming = _find_dict(original, "ImageFormingSystem")
    if forming:
        mode, value = str(forming.get("ModeString", "")).upper(), forming.get("SelectorValue")
        unit = str(forming.get("SelectorUnitString", "")).lower()
        if mode == "DIFF" and isinstance(value, (int, float)):
            out["camera_length_mm"] = float(value) * (10.0 if unit == "cm" else 1.0)
        elif mode in ("MAG", "LOWMAG", "MAG1", "MAG2") and isinstance(value, (int, float)):
            out["magnification"] = float(value)
    return out


def _find_dict(tree, key: str) -> dict | None:
    """The first nested dict stored under ``key``."""
    if isinstance(tree, dict):
        if isinstance(tree.get(key), dict):
            return tree[key]
        children = list(tree.values())
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = _find_dict(child, key)
        if found is not None:
            return found
    return None


@guarded(FORMAT, LABEL)
def parse_tiff(data: bytes, *, filename: str, limits: Limits = DEFAULT_LIMITS) -> ParsedFile:
    """Parse a TIFF: first frame as ImageData with its calibrated pixel size.

    Key numbers: ``pixel_size``, ``pixel_unit``, ``pixel_size_nm`` (None for reciprocal units
    such as ``1 / nm`` or an uncalibrated image), ``voltage_kv``, ``magnification``,
    ``camera_length_mm`` (diffraction) when the vendor tags carry them; the whole tag tree is
    kept in ``metadata["header"]``. Raises ParseError for non-TIFF or truncated files and for
    images declaring more bytes or pixels than ``limits`` (checked before decoding).
    """
    if not data.startswith(MAGICS):
        raise fail(FORMAT, f"{LABEL}: not a TIFF file (header {data[:4]!r})")
    signals = read_signals("tiff", data, ".tif", fmt=FORMAT, label=LABEL, limits=limits)
    if not signals:
        raise fail(FORMAT, f"{LABEL}: no readable image; the file looks truncated")
    signal = signals[0]
    image = image_from_signal(signal)
    voltage_kv, magnification = _tem_numbers(signal["metadata"])
    original = jsonable(signal.get("original_metadata") or {})
    vendor = _vendor_optics(original)
    voltage_kv = voltage_kv if voltage_kv is not None else vendor["voltage_kv"]
    magnification = magnification if magnification is not None else vendor["magnification"]
    general = signal["metadata"].get("General", {})
    metadata = {
        "title": general.get("title"),
        "date": general.get("date"),
        "shape": list(signal["data"].shape),
        "dtype": str(signal["data"].dtype),
        "axes": axes_summary(signal),
        "calibrated": image.pixel_size is not None,
        "n_signals": len(signals),
        "acquisition": jsonable(signal["metadata"].get("Acquisition_instrument", {})),
        "header": original,
        "reader": rsciio_version(),
    }
    numbers = image_key_numbers(image, voltage_kv, magnification)
    numbers["camera_length_mm"] = vendor["camera_length_mm"]
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique_for("", False),
        image=image,
        metadata=metadata,
        key_numbers=numbers,
    )
