"""Electron Microscopy Datasets ``.emd`` (Thermo Fisher Velox and Berkeley EMD, HDF5).

Reader: rosettasciio ``rsciio.emd`` (h5py). Velox files holding an EDS spectrum stream need the
optional ``sparse`` package; without it they are rejected with a clear message. Acceleration
voltage and nominal magnification come from Velox ``original_metadata['Optics']``.
"""

from __future__ import annotations

import io

import h5py
import numpy as np

from ._guard import fail, guarded
from ._limits import DEFAULT_LIMITS, Limits, check_array, check_total
from .base import ParsedFile
from .gatan_dm import _float_or_none
from .rsciio_common import (
    axes_summary,
    image_from_signal,
    image_key_numbers,
    read_signals,
    rsciio_version,
    technique_for,
)

PARSER_NAME = "labdb.emd"
PARSER_VERSION = "1.0.0"
FORMAT = "emd"
LABEL = "EMD (Velox/HDF5)"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_datasets(data: bytes, limits: Limits) -> None:
    """Refuse the file when any HDF5 dataset, any one of its chunks, or all datasets together
    declare more uncompressed bytes than ``limits.max_decoded_bytes`` (read from the dataset
    headers: shape, dtype, chunk shape and filter — nothing is decompressed). Raises ParseError.
    """
    found: list[tuple[str, tuple, int, tuple | None, str | None]] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            found.append((name, obj.shape, obj.dtype.itemsize, obj.chunks, obj.compression))

    with h5py.File(io.BytesIO(data), "r") as h5:
        h5.visititems(visit)
    total = 0
    for name, shape, itemsize, chunks, compression in found:
        packed = f" ({compression}-compressed)" if compression else ""
        check_array(FORMAT, LABEL, f"dataset /{name}{packed}", shape, itemsize, limits)
        if chunks:
            check_array(FORMAT, LABEL, f"chunk of dataset /{name}", chunks, itemsize, limits)
        total += int(np.prod(shape, dtype=np.int64)) * itemsize
    check_total(FORMAT, LABEL, f"{len(found)} HDF5 datasets", total, limits)


def _image_signals(data: bytes, limits: Limits) -> list[dict]:
    """Image signals of the file (``select_type='images'``); a missing optional dependency
    for EDS streams becomes a ParseError that says what to export instead."""
    try:
        return read_signals(
            "emd", data, ".emd", fmt=FORMAT, label=LABEL, limits=limits, select_type="images"
        )
    except ModuleNotFoundError as exc:
        raise fail(
            FORMAT,
            f"{LABEL}: this Velox file contains an EDS spectrum stream that "
            "cannot be read here; export the images separately",
            detail=repr(exc),
        ) from exc


@guarded(FORMAT, LABEL)
def parse_emd(data: bytes, *, filename: str, limits: Limits = DEFAULT_LIMITS) -> ParsedFile:
    """Parse an EMD file: first frame of the first image signal with its pixel size.

    Key numbers: ``pixel_size``, ``pixel_unit``, ``pixel_size_nm``, ``voltage_kv``,
    ``magnification``. Raises ParseError for non-HDF5, truncated files, files without images
    and datasets declaring more than ``limits`` allow (checked on the headers, before reading).
    """
    if not data.startswith(HDF5_MAGIC):
        raise fail(FORMAT, f"{LABEL}: not an HDF5 file")
    check_datasets(data, limits)
    signals = [s for s in _image_signals(data, limits) if s["data"].ndim >= 2]
    if not signals:
        raise fail(FORMAT, f"{LABEL}: the file contains no image")
    signal = signals[0]
    image = image_from_signal(signal)
    optics = (signal.get("original_metadata") or {}).get("Optics") or {}
    voltage_v = _float_or_none(optics.get("AccelerationVoltage"))
    magnification = _float_or_none(optics.get("NominalMagnification"))
    general = signal["metadata"].get("General", {})
    metadata = {
        "title": general.get("title"),
        "date": general.get("date"),
        "time": general.get("time"),
        "shape": list(signal["data"].shape),
        "dtype": str(signal["data"].dtype),
        "axes": axes_summary(signal),
        "n_signals": len(signals),
        "reader": rsciio_version(),
    }
    numbers = image_key_numbers(
        image, None if voltage_v is None else voltage_v / 1000.0, magnification
    )
    return ParsedFile(
        format=FORMAT,
        parser_name=PARSER_NAME,
        parser_version=PARSER_VERSION,
        technique=technique_for("", False),
        image=image,
        metadata=metadata,
        key_numbers=numbers,
    )
