"""Key numbers and series construction shared by the XRD parsers (xrdml, brml, RAW)."""

from __future__ import annotations

import numpy as np

from . import spectra
from .base import Series


def xrd_series(twotheta_deg: np.ndarray, intensity: np.ndarray, name: str) -> Series:
    """One diffraction pattern: intensity (counts) against 2θ (degrees)."""
    return Series(
        name=name,
        x=np.asarray(twotheta_deg, dtype=float),
        y=np.asarray(intensity, dtype=float),
        x_label="2θ",
        x_unit="deg",
        y_label="Intensity",
        y_unit="counts",
    )


def xrd_key_numbers(
    twotheta_deg: np.ndarray, intensity: np.ndarray, wavelength_a: float | None
) -> dict:
    """``twotheta_min_deg``, ``twotheta_max_deg``, ``wavelength_a`` (Kα1, Å), ``n_points``,
    ``intensity_min_counts``, ``intensity_max_counts`` and ``peak_positions_deg`` (peaks with
    prominence ≥ 5 % of the intensity range). Raises ValueError on empty/mismatched arrays.
    """
    tt = np.asarray(twotheta_deg, dtype=float)
    it = np.asarray(intensity, dtype=float)
    if tt.ndim != 1 or tt.shape != it.shape or tt.size < 2:
        raise ValueError(f"2θ and intensity arrays do not match ({tt.shape} vs {it.shape})")
    if not (np.all(np.isfinite(tt)) and np.all(np.isfinite(it))):
        raise ValueError("non-finite 2θ or intensity values")
    return {
        "twotheta_min_deg": float(tt.min()),
        "twotheta_max_deg": float(tt.max()),
        "wavelength_a": None if wavelength_a is None else float(wavelength_a),
        "n_points": int(tt.size),
        "intensity_min_counts": float(it.min()),
        "intensity_max_counts": float(it.max()),
        "peak_positions_deg": [round(p, 6) for p in spectra.peak_positions(tt, it)],
    }
