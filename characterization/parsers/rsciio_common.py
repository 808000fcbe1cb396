"""Turning rosettasciio signal dicts into ParsedFile parts (images, spectra, calibration).

rosettasciio readers take a path and return a list of signal dicts with ``data``, ``axes``
(array order; ``scale``/``offset``/``units``), ``metadata`` and ``original_metadata``.
"""

from __future__ import annotations

import importlib
import importlib.metadata

import numpy as np

from ._limits import DEFAULT_LIMITS, Limits, check_array, check_total
from ._tempfile import temp_path
from .base import ImageData, Series

LENGTH_TO_NM = {
    "nm": 1.0,
    "µm": 1e3,
    "μm": 1e3,
    "um": 1e3,
    "pm": 1e-3,
    "å": 0.1,
    "a": 0.1,
    "mm": 1e6,
    "m": 1e9,
}
ENERGY_TO_EV = {"ev": 1.0, "kev": 1e3}


def rsciio_version() -> str:
    """``rosettasciio X.Y.Z`` for ``metadata["reader"]``."""
    return f"rosettasciio {importlib.metadata.version('rosettasciio')}"


def read_signals(
    module: str,
    data: bytes,
    suffix: str,
    *,
    fmt: str = "",
    label: str = "",
    limits: Limits = DEFAULT_LIMITS,
    lazy: bool = True,
    **kwargs,
) -> list[dict]:
    """Run ``rsciio.<module>.file_reader`` on ``data`` (via a temporary file).

    The reader runs lazily first so that every signal's declared shape and dtype are checked
    against ``limits`` (bytes and pixels) before anything is decoded; only then are the arrays
    materialised (``lazy=False`` for text readers without lazy support, such as EMSA, whose
    size the registry bounds by rows × columns). Raises ParseError (format ``fmt``, ``label``
    in words) over the limits.
    """
    reader = importlib.import_module(f"rsciio.{module}").file_reader
    with temp_path(data, suffix) as path:
        signals = reader(path, lazy=lazy, **kwargs)
        total = 0
        for sig in signals:
            shape, itemsize = tuple(sig["data"].shape), np.dtype(sig["data"].dtype).itemsize
            title = str(sig.get("metadata", {}).get("General", {}).get("title", "") or "")
            what = ("image" if len(shape) >= 2 else "signal") + (f" {title!r}" if title else "")
            check_array(fmt, label, what, shape, itemsize, limits, image=len(shape) >= 2)
            total += int(np.prod(shape, dtype=np.int64)) * itemsize
        check_total(fmt, label, "signals of the file together", total, limits)
        for sig in signals:  # decode (dask/memory-mapped) before the file is deleted
            sig["data"] = np.array(sig["data"])
    return list(signals)


def unit_text(units) -> str | None:
    """Axis unit as a clean string; '' / None / 'None' / '<undefined>' → None."""
    text = "" if units is None else str(units).strip()
    return None if text in ("", "None", "<undefined>") else text


def length_to_nm(value: float | None, units: str | None) -> float | None:
    """``value`` in ``units`` converted to nm; None for non-length units (``1 / nm``, px)."""
    if value is None or units is None:
        return None
    factor = LENGTH_TO_NM.get(units.strip().lower())
    return None if factor is None else float(value) * factor


def energy_axis(axes: list[dict]) -> dict | None:
    """The first axis whose unit is eV or keV (a spectrum axis), else None."""
    return next(
        (a for a in axes if (unit_text(a.get("units")) or "").lower() in ENERGY_TO_EV), None
    )


def image_from_signal(signal: dict) -> ImageData:
    """First 2-D frame of ``signal`` with the pixel size of its last (x) axis.

    Uncalibrated images (scale 1 with no unit) get ``pixel_size=None``.
    Raises ValueError for signals with fewer than 2 dimensions.
    """
    data = np.asarray(signal["data"])
    if data.ndim < 2:
        raise ValueError(f"not an image: data shape {data.shape}")
    frame = data.reshape((-1,) + data.shape[-2:])[0]
    axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
    x_axis = axes[-1] if axes else {}
    unit = unit_text(x_axis.get("units"))
    scale = float(x_axis.get("scale", 1.0))
    if unit is None:
        return ImageData(pixels=frame, pixel_size=None, pixel_unit=None, pixel_size_nm=None)
    return ImageData(
        pixels=frame, pixel_size=scale, pixel_unit=unit, pixel_size_nm=length_to_nm(scale, unit)
    )


def _energy_to_ev(axis: dict) -> float:
    """eV per unit of an energy ``axis``; KeyError for an axis without an energy unit."""
    unit = unit_text(axis["units"])
    return ENERGY_TO_EV[(unit or "").lower()]


def spectrum_from_signal(signal: dict, axis: dict, y_label: str) -> Series:
    """Spectrum along the energy ``axis`` (x in eV), summed over all other axes."""
    data = np.asarray(signal["data"], dtype=float)
    index = axis.get("index_in_array", signal["axes"].index(axis))
    other = tuple(i for i in range(data.ndim) if i != index)
    y = data.sum(axis=other) if other else data
    factor = _energy_to_ev(axis)
    x = float(axis.get("offset", 0.0)) + float(axis.get("scale", 1.0)) * np.arange(y.size)
    return Series(
        name=str(signal.get("metadata", {}).get("General", {}).get("title", "spectrum")),
        x=x * factor,
        y=y,
        x_label=str(axis.get("name", "Energy")),
        x_unit="eV",
        y_label=y_label,
        y_unit="counts",
    )


def axes_summary(signal: dict) -> list[dict]:
    """JSON-able description of the axes (name, size, scale, offset, units)."""
    return [
        {
            "name": str(a.get("name")),
            "size": int(a.get("size", 0)),
            "scale": float(a.get("scale", 1.0)),
            "offset": float(a.get("offset", 0.0)),
            "units": unit_text(a.get("units")),
            "navigate": bool(a.get("navigate", False)),
        }
        for a in signal["axes"]
    ]


def image_key_numbers(
    image: ImageData, voltage_kv: float | None, magnification: float | None
) -> dict:
    """TEM key numbers: pixel size (file unit and nm), image size in px, kV, magnification."""
    height, width = image.pixels.shape[-2:]
    return {
        "pixel_size": image.pixel_size,
        "pixel_unit": image.pixel_unit,
        "pixel_size_nm": image.pixel_size_nm,
        "image_width_px": int(width),
        "image_height_px": int(height),
        "voltage_kv": voltage_kv,
        "magnification": magnification,
    }


def spectrum_key_numbers(series: Series, axis: dict, voltage_kv: float | None) -> dict:
    """EDS/EELS key numbers: channel count, channel width and offset in eV, beam kV."""
    factor = _energy_to_ev(axis)
    return {
        "n_channels": int(series.x.size),
        "channel_width_ev": float(axis.get("scale", 1.0)) * factor,
        "energy_offset_ev": float(axis.get("offset", 0.0)) * factor,
        "voltage_kv": voltage_kv,
    }


def technique_for(signal_type: str, is_spectrum: bool) -> str:
    """eels / eds / tem_image / other from the rsciio signal type."""
    kind = (signal_type or "").upper()
    if "EELS" in kind:
        return "eels"
    if "EDS" in kind or "EDX" in kind:
        return "eds"
    return "other" if is_spectrum else "tem_image"


def jsonable(value, depth: int = 0):
    """Recursively convert numpy scalars/arrays and odd objects to JSON-safe values."""
    if depth > 12:
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value[:200]]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.shape} {value.dtype}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
