"""Gatan DigitalMicrograph ``.dm3``/``.dm4`` images, spectra and spectrum images.

Reader: rosettasciio ``rsciio.digitalmicrograph``. Instrument values are read directly from
the DM tag tree (``ImageList/TagGroupN/ImageTags/Microscope Info``): ``Voltage`` (V → kV) and
``Indicated Magnification``, because without HyperSpy rsciio leaves them unmapped.
"""

from __future__ import annotations

from typing import Any

from ._guard import fail, guarded
from ._limits import DEFAULT_LIMITS, Limits
from .base import ParsedFile
from .rsciio_common import (
    axes_summary,
    energy_axis,
    image_from_signal,
    image_key_numbers,
    jsonable,
    read_signals,
    rsciio_version,
    spectrum_from_signal,
    spectrum_key_numbers,
    technique_for,
)

PARSER_NAME = "labdb.gatan_dm"
PARSER_VERSION = "1.0.0"
FORMAT = "gatan_dm"
LABEL = "Gatan DigitalMicrograph"


def microscope_info(original_metadata: dict) -> dict:
    """The last ``Microscope Info`` tag group in ``ImageList`` (the image, not the thumbnail)."""
    found: dict = {}
    image_list = original_metadata.get("ImageList") or {}
    for group in image_list.values() if isinstance(image_list, dict) else []:
        info = ((group or {}).get("ImageTags") or {}).get("Microscope Info")
        if isinstance(info, dict):
            found = info
    return found


def _float_or_none(value) -> float | None:
    """Float of ``value`` or None when missing/non-numeric."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@guarded(FORMAT, LABEL)
def parse_gatan_dm(
    data: bytes, *, filename: str, limits: Limits = DEFAULT_LIMITS
) -> ParsedFile:
    """Parse a DM3/DM4 file: an image (first frame, calibrated pixel size) or an EDS/EELS
    spectrum (x in eV, summed over spectrum-image pixels).

    Key numbers: images → ``pixel_size``, ``pixel_unit``, ``pixel_size_nm``, ``voltage_kv``,
    ``magnification``; spectra → ``n_channels``, ``channel_width_ev``, ``energy_offset_ev``,
    ``voltage_kv``, ``magnification``. Raises ParseError for non-DM, truncated or empty files, and
    for data declaring more bytes or pixels than ``limits`` (header shape checked first).
    """
    version = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if version not in (3, 4):
        raise fail(FORMAT, f"{LABEL}: not a DM3/DM4 file (version field {version})")
    signals = read_signals(
        "digitalmicrograph", data, ".dm4" if version == 4 else ".dm3",
        fmt=FORMAT, label=LABEL, limits=limits,
    )
    if not signals:
        raise fail(FORMAT, f"{LABEL}: the file contains no image or spectrum")
    signal = signals[-1]
    info = microscope_info(signal.get("original_metadata") or {})
    voltage_v = _float_or_none(info.get("Voltage"))
    voltage_kv = None if voltage_v is None else voltage_v / 1000.0
    magnification = _float_or_none(info.get("Indicated Magnification"))
    signal_type = str(signal["metadata"].get("Signal", {}).get("signal_type", ""))
    axis = energy_axis(signal["axes"])
    metadata = {
        "title": signal["metadata"].get("General", {}).get("title"),
        "signal_type": signal_type,
        "shape": list(signal["data"].shape),
        "dtype": str(signal["data"].dtype),
        "axes": axes_summary(signal),
        "microscope": info.get("Name"),
        "illumination": info.get("Illumination Mode"),
        "n_signals": len(signals),
        "microscope_info": jsonable(info),
        "reader": rsciio_version(),
    }
    common: dict[str, Any] = dict(
        format=FORMAT, parser_name=PARSER_NAME, parser_version=PARSER_VERSION, metadata=metadata
    )
    if axis is not None:
        series = spectrum_from_signal(signal, axis, signal_type or "Intensity")
        numbers = {**spectrum_key_numbers(series, axis, voltage_kv), "magnification": magnification}
        return ParsedFile(
            technique=technique_for(signal_type, True),
            series=[series],
            key_numbers=numbers,
            **common,
        )
    image = image_from_signal(signal)
    return ParsedFile(
        technique=technique_for(signal_type, False),
        image=image,
        key_numbers=image_key_numbers(image, voltage_kv, magnification),
        **common,
    )
