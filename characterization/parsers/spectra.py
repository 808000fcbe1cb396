"""Pure spectral math used by the parsers: peaks, FWHM, excitonic peak, XAS edge energy.

All functions take numpy arrays and return plain floats in the units of the input
(``x`` in nm → results in nm), except where the name says otherwise (``_ev``, ``_mev``).
They raise ``ValueError`` when the quantity is undefined for the given curve; parsers turn
that into a missing key number (None), never into a crash.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

HC_EV_NM = 1239.841984  # h·c in eV·nm (CODATA), E[eV] = HC_EV_NM / λ[nm]


def nm_to_ev(wavelength_nm: float) -> float:
    """Photon energy in eV for a wavelength in nm. Raises ValueError for λ ≤ 0."""
    if not wavelength_nm > 0:
        raise ValueError(f"wavelength must be positive, got {wavelength_nm}")
    return HC_EV_NM / wavelength_nm


def _sorted_finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop non-finite points and sort by ascending x. Raises ValueError if < 3 points."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of equal length")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        raise ValueError("need at least 3 finite points")
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def peak_positions(
    x: np.ndarray, y: np.ndarray, *, prominence_frac: float = 0.05, max_peaks: int = 20
) -> list[float]:
    """Positions (units of ``x``, ascending) of peaks with prominence ≥ ``prominence_frac`` ×
    (max(y) − min(y)); at most ``max_peaks``, keeping the most prominent. Flat → [].
    """
    xs, ys = _sorted_finite(x, y)
    span = float(ys.max() - ys.min())
    if span <= 0:
        return []
    idx, props = find_peaks(ys, prominence=prominence_frac * span)
    if idx.size > max_peaks:
        idx = idx[np.argsort(props["prominences"])[::-1][:max_peaks]]
    return sorted(float(xs[i]) for i in idx)


def _crossing(x0: float, y0: float, x1: float, y1: float, level: float) -> float:
    """x where the straight line through (x0, y0)–(x1, y1) reaches ``level``."""
    if y1 == y0:
        return 0.5 * (x0 + x1)
    return x0 + (level - y0) * (x1 - x0) / (y1 - y0)


def half_max_crossings(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(peak_x, left_x, right_x) of the global maximum and its half-maximum crossings.

    Half maximum is taken above the curve's minimum (baseline = min(y)); crossings are
    linearly interpolated between samples. Raises ValueError if either side never drops
    below half maximum (peak cut off by the scan range).
    """
    xs, ys = _sorted_finite(x, y)
    i_max = int(np.argmax(ys))
    base = float(ys.min())
    level = base + 0.5 * (float(ys[i_max]) - base)
    if ys[i_max] <= base:
        raise ValueError("flat curve has no peak")
    left = np.nonzero(ys[:i_max] < level)[0]
    right = np.nonzero(ys[i_max:] < level)[0]
    if left.size == 0 or right.size == 0:
        raise ValueError("peak is cut off by the scan range: no half-maximum crossing")
    li, ri = int(left[-1]), i_max + int(right[0])
    x_left = _crossing(xs[li], ys[li], xs[li + 1], ys[li + 1], level)
    x_right = _crossing(xs[ri - 1], ys[ri - 1], xs[ri], ys[ri], level)
    return float(xs[i_max]), float(x_left), float(x_right)


def emission_peak_nm(wavelength_nm: np.ndarray, intensity: np.ndarray) -> dict:
    """PL key numbers: ``peak_nm``, ``fwhm_nm`` and ``fwhm_mev`` of the strongest band.

    ``fwhm_mev`` = |E(left) − E(right)| × 1000 with E = 1239.841984 / λ at the two
    half-maximum crossings (so it is exact, not the ΔE ≈ E²Δλ/hc approximation).
    Raises ValueError when the band is cut off or the curve is flat.
    """
    peak, left, right = half_max_crossings(wavelength_nm, intensity)
    fwhm_mev = abs(nm_to_ev(left) - nm_to_ev(right)) * 1000.0
    return {"peak_nm": peak, "fwhm_nm": right - left, "fwhm_mev": fwhm_mev}


def noise_level(y: np.ndarray) -> float:
    """Robust noise estimate: 1.4826 × median |Δy| / √2 (σ of white noise on a smooth curve)."""
    d = np.diff(np.asarray(y, dtype=float))
    d = d[np.isfinite(d)]
    return float(1.4826 * np.median(np.abs(d)) / np.sqrt(2.0)) if d.size else 0.0


def first_excitonic_peak_nm(
    wavelength_nm: np.ndarray,
    absorbance: np.ndarray,
    *,
    min_prominence_frac: float = 0.01,
    noise_factor: float = 5.0,
) -> float:
    """Lowest-energy excitonic peak of an absorption spectrum, in nm.

    The first local maximum met when walking from the red (long-wavelength) side whose
    prominence exceeds max(``noise_factor`` × noise, ``min_prominence_frac`` × range).
    Saturated points (the Cary writes 10 for "over range") are ignored.
    Raises ValueError if no such maximum exists (e.g. a featureless tail).
    """
    xs, ys = _sorted_finite(wavelength_nm, absorbance)
    unsaturated = ys < 9.999
    if np.count_nonzero(unsaturated) < 3:
        raise ValueError("not enough unsaturated points")
    threshold = max(
        noise_factor * noise_level(ys[unsaturated]),
        min_prominence_frac * float(np.ptp(ys[unsaturated])),
    )
    if threshold <= 0:
        raise ValueError("flat spectrum")
    idx, _ = find_peaks(ys, prominence=threshold)
    idx = idx[unsaturated[idx]]
    if idx.size == 0:
        raise ValueError("no excitonic maximum above the noise")
    return float(xs[idx[-1]])


def edge_energy_max_derivative(energy_ev: np.ndarray, mu: np.ndarray) -> float:
    """XAS edge energy E0 in eV as the energy of the maximum of dμ/dE.

    Uses the central-difference gradient on the (sorted) non-uniform energy grid and
    ignores the two end points. Raises ValueError for fewer than 5 points.
    """
    e, m = _sorted_finite(energy_ev, mu)
    e, unique_idx = np.unique(e, return_index=True)
    m = m[unique_idx]
    if e.size < 5:
        raise ValueError("need at least 5 distinct energies")
    deriv = np.gradient(m, e)
    i = 1 + int(np.argmax(deriv[1:-1]))
    return float(e[i])


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` evenly spaced samples of (x, y), always keeping both ends."""
    n = len(x)
    if n <= max_points or max_points < 2:
        return np.asarray(x), np.asarray(y)
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return np.asarray(x)[idx], np.asarray(y)[idx]
