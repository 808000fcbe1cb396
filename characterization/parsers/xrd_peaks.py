"""Reflections worth storing from a powder pattern (pure numerics; scipy.signal).

1. Smooth the counts with a Savitzky–Golay filter (quadratic, window ≈ 0.08° 2θ, ≥ 5 points).
2. Background: a rolling median over 0.6° (blind to reflections narrower than 0.3°), then its
   rolling minimum over ≈ 2° 2θ smoothed by a rolling mean of the same width and clipped below
   the pattern (a peak-free baseline that follows amorphous humps and air scatter).
3. Counting statistics: a point with N counts has σ = √N. A reflection must stand
   ``SIGMA_THRESHOLD`` σ of its background (σ = √background) above the background, in height
   and in prominence, after smoothing. Count-rate files (cps) overstate the noise threshold's
   strictness only for count times < 1 s; the threshold is therefore reported with each peak.
4. Kα2: for a Kα1/Kα2 source each reflection is followed by its Kα2 twin at
   2θ₂ = 2·asin(λ₂/λ₁ · sin θ₁), about half as high. A peak found there (within
   max(2 steps, 0.02°)) with 25–75 % of the height is paired with its Kα1 parent and not
   counted as a reflection (``kalpha2_twotheta_deg`` of the parent).
5. Each reflection: position (° 2θ, the smoothed maximum), net height (counts above the
   background), FWHM (°, from the net smoothed profile at half height) and d = λ₁ / (2 sin θ)
   in Å when the wavelength is known.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import median_filter, minimum_filter1d, uniform_filter1d
from scipy.signal import find_peaks, peak_widths, savgol_filter

SIGMA_THRESHOLD = 5.0
SMOOTH_DEG = 0.08
BACKGROUND_DEG = 2.0
MEDIAN_DEG = 0.6
KALPHA2_RATIO = (0.25, 0.75)
CU_KALPHA2_A = 1.544390  # Å, used when a Cu file states Kα1 only


def _odd(n: float, minimum: int) -> int:
    """The odd integer ≥ ``minimum`` nearest to n."""
    k = max(minimum, int(round(n)))
    return k if k % 2 else k + 1


def background(twotheta_deg: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed counts, background) on the pattern's own 2θ grid."""
    step = float(np.median(np.diff(twotheta_deg)))
    window = _odd(SMOOTH_DEG / step, 5)
    smooth = savgol_filter(counts, min(window, counts.size - (1 - counts.size % 2)), 2)
    width = max(3, int(round(BACKGROUND_DEG / step)))
    # the median over MEDIAN_DEG ignores reflections narrower than half of it and sits on the
    # noise's middle, not on its lowest excursions
    level = median_filter(counts, size=_odd(MEDIAN_DEG / step, 5), mode="nearest")
    base = uniform_filter1d(minimum_filter1d(level, width, mode="nearest"), width, mode="nearest")
    return smooth, np.minimum(base, smooth)


def _pair_kalpha2(peaks: list[dict], lam1: float, lam2: float, tol_deg: float) -> list[dict]:
    """Mark peaks that are the Kα2 twin of a stronger one and drop them from the list."""
    twins: set[int] = set()
    for i, p in enumerate(peaks):
        ratio = lam2 / lam1 * np.sin(np.radians(p["twotheta_deg"] / 2))
        if ratio >= 1:
            continue
        expected = float(np.degrees(2 * np.arcsin(ratio)))
        for j, q in enumerate(peaks):
            lo, hi = KALPHA2_RATIO
            if (
                j != i
                and abs(q["twotheta_deg"] - expected) <= tol_deg
                and lo * p["height_counts"] <= q["height_counts"] <= hi * p["height_counts"]
            ):
                twins.add(j)
                p["kalpha2_twotheta_deg"] = round(q["twotheta_deg"], 4)
    return [p for j, p in enumerate(peaks) if j not in twins]


def find_reflections(
    twotheta_deg: np.ndarray,
    counts: np.ndarray,
    *,
    wavelength_a: float | None,
    kalpha2_a: float | None = None,
    max_reflections: int = 60,
) -> list[dict]:
    """Reflections (ascending 2θ) — see the module docstring. Raises ValueError for < 20 points.

    Each: ``twotheta_deg``, ``height_counts``, ``fwhm_deg``, ``d_a`` (None without a
    wavelength), ``significance_sigma`` and, when paired, ``kalpha2_twotheta_deg``.
    """
    order = np.argsort(twotheta_deg)
    tt, y = np.asarray(twotheta_deg, float)[order], np.asarray(counts, float)[order]
    if tt.size < 20:
        raise ValueError("a pattern needs at least 20 points to look for reflections")
    smooth, base = background(tt, y)
    net = smooth - base
    sigma = np.sqrt(np.maximum(base, 1.0))
    idx, _ = find_peaks(net, height=SIGMA_THRESHOLD * sigma, prominence=SIGMA_THRESHOLD * sigma)
    if idx.size == 0:
        return []
    step = float(np.median(np.diff(tt)))
    widths = peak_widths(net, idx, rel_height=0.5)[0] * step
    peaks: list[dict[str, Any]] = [
        {
            "twotheta_deg": round(float(tt[i]), 4),
            "height_counts": round(float(net[i]), 2),
            "fwhm_deg": round(float(w), 4),
            "d_a": None
            if not wavelength_a
            else round(float(wavelength_a / (2 * np.sin(np.radians(tt[i] / 2)))), 5),
            "significance_sigma": round(float(net[i] / sigma[i]), 1),
            "kalpha2_twotheta_deg": None,
        }
        for i, w in zip(idx, widths)
    ]
    if wavelength_a and kalpha2_a:
        peaks = _pair_kalpha2(peaks, wavelength_a, kalpha2_a, max(2 * step, 0.02))
    if len(peaks) > max_reflections:
        keep = sorted(peaks, key=lambda p: -p["height_counts"])[:max_reflections]
        peaks = sorted(keep, key=lambda p: p["twotheta_deg"])
    return peaks
