"""TEM/SEM ``.tif`` images with calibration (JEOL SightX, DigitalMicrograph, ImageJ, FEI…).

Reader: rosettasciio ``rsciio.tiff`` (needs tifffile). A truncated TIFF makes rsciio return
``[]`` without an exception — that is an error here. Plain camera TIFFs have no calibration:
``pixel_size`` is then None and the UI must ask for nm/px.
"""

from __future__ import annotations

from ._guard import fail, guarded
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
PARSER_VERSION = "1.0.0"
FORMAT = "tiff"
LABEL = "TIFF image"
MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _tem_numbers(metadata: dict) -> tuple[float | None, float | None]:
    """(beam energy in kV, magnification) from rsciio's Acquisition_instrument, if mapped."""
    tem = (metadata.get("Acquisition_instrument") or {}).get("TEM") or {}
    kv, mag = tem.get("beam_energy"), tem.get("magnification")
    return (None if kv is None else float(kv)), (None if mag is None else float(mag))


@guarded(FORMAT, LABEL)
def parse_tiff(data: bytes, *, filename: str) -> ParsedFile:
    """Parse a TIFF: first frame as ImageData with its calibrated pixel size.

    Key numbers: ``pixel_size``, ``pixel_unit``, ``pixel_size_nm`` (None for reciprocal units
    such as ``1 / nm`` or an uncalibrated image), ``voltage_kv``, ``magnification`` (when the
    vendor tags carry them). Raises ParseError for non-TIFF or truncated files.
    """
    if not data.startswith(MAGICS):
        raise fail(FORMAT, f"{LABEL}: not a TIFF file (header {data[:4]!r})")
    signals = read_signals("tiff", data, ".tif")
    if not signals:
        raise fail(FORMAT, f"{LABEL}: no readable image; the file looks truncated")
    signal = signals[0]
    image = image_from_signal(signal)
    voltage_kv, magnification = _tem_numbers(signal["metadata"])
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
        "reader": rsciio_version(),
    }
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique_for("", False),
        image=image,
        metadata=metadata,
        key_numbers=image_key_numbers(image, voltage_kv, magnification),
    )
