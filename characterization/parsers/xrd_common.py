"""Key numbers and series construction shared by the XRD parsers (xrdml, brml, RAW)."""

from __future__ import annotations

import numpy as np

from .base import Series
from .xrd_peaks import CU_KALPHA2_A, find_reflections


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
    twotheta_deg: np.ndarray,
    intensity: np.ndarray,
    wavelength_a: float | None,
    *,
    kalpha2_a: float | None = None,
    anode: str | None = None,
) -> dict:
    """``twotheta_min_deg``, ``twotheta_max_deg``, ``wavelength_a`` (Kα1, Å), ``n_points``,
    ``intensity_min_counts``, ``intensity_max_counts``, ``reflections`` (see
    ``xrd_peaks.find_reflections``: 2θ, height, FWHM, d, Kα2 twin) and ``peak_positions_deg``
    (their 2θ). A Cu file stating Kα1 only is paired with Cu Kα2 = 1.54439 Å. Raises
    ValueError on empty/mismatched arrays.
    """
    tt = np.asarray(twotheta_deg, dtype=float)
    it = np.asarray(intensity, dtype=float)
    if tt.ndim != 1 or tt.shape != it.shape or tt.size < 2:
        raise ValueError(f"2θ and intensity arrays do not match ({tt.shape} vs {it.shape})")
    if not (np.all(np.isfinite(tt)) and np.all(np.isfinite(it))):
        raise ValueError("non-finite 2θ or intensity values")
    if kalpha2_a is None and (anode or "").strip().lower() == "cu" and wavelength_a:
        kalpha2_a = CU_KALPHA2_A if abs(wavelength_a - 1.5406) < 1e-3 else None
    reflections = (
        find_reflections(tt, it, wavelength_a=wavelength_a, kalpha2_a=kalpha2_a)
        if tt.size >= 20
        else []
    )
    return {
        "twotheta_min_deg": float(tt.min()),
        "twotheta_max_deg": float(tt.max()),
        "wavelength_a": None if wavelength_a is None else float(wavelength_a),
        "n_points": int(tt.size),
        "intensity_min_counts": float(it.min()),
        "intensity_max_counts": float(it.max()),
        "reflections": reflections,
        "reflection_method": "savgol+median background, 5σ counting noise, Kα2 paired",
        "peak_positions_deg": [p["twotheta_deg"] for p in reflections],
    }
