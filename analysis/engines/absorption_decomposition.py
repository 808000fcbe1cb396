"""Decomposition of a UV-vis absorption spectrum into Gaussian transitions, and the 1S quality
numbers chemists quote (seed 004, "Spectral decomposition and transition oscillator strength
determination", its eq. 1).

Units: wavelengths in nm, energies in eV (``_ev``), widths in meV where the name says ``_mev``,
absorbance dimensionless (decadic, as the spectrometer writes it). E = 1239.84193 eV·nm / λ.

**Energy scale.** The spectrum is put on an energy axis point by point, A(E) = A(λ = hc/E),
*without* the λ²/hc Jacobian: absorbance is a property measured at each wavelength (the
log of a transmittance ratio), not a density per unit wavelength, so it does not transform
like an emission spectrum. Seed 004 fitted such "energy-scaled absorption spectra".

**Model ``eq1``** (seed 004 eq. 1; the printed exponent has (E − E_g)² in its numerator, a typo:
a Gaussian of centroid Eᵢ, as the text states, needs (E − Eᵢ)²)::

    A(E) = Σᵢ aᵢ / (2 √(2π) dR (Eᵢ − E_g)) · exp[ −(E − Eᵢ)² / (8 dR² (Eᵢ − E_g)²) ]

i.e. Gaussians of area aᵢ and standard deviation σᵢ = 2 dR (Eᵢ − E_g): a confinement energy
Eᵢ − E_g ∝ 1/R² spreads by 2 dR for a relative radius dispersion dR. One dR is shared by all
transitions; E_g is the bulk band gap (a parameter, not fitted; CdSe 1.74 eV). **Model
``gaussians``**: a plain sum of Gaussians, each with its own area aᵢ, centre Eᵢ and σᵢ.

**Fitting** (lmfit, unweighted least squares as the seed's Matlab fit): the number of
transitions n and the initial Eᵢ are the minima of the Savitzky–Golay second derivative
d²A/dE² (``scipy.signal.savgol_filter`` on the spectrum re-sampled to a uniform energy step),
the n most pronounced ones when n is given, every significant one otherwise; each Eᵢ is
bounded to ±``center_bound_mev`` (50 meV) of its initial guess; aᵢ are unbounded (seed 004);
dR is kept above 1e-4 (it divides). Initial aᵢ: non-negative least squares of the data on the
initial Gaussians. Errors: lmfit standard errors (covariance scaled by χ²ᵥ). The relative
oscillator strength of transition i is aᵢ / a₁ (a₁: the lowest-energy transition, 1S), with
its error from the covariance of aᵢ and a₁.

**Background** (added to the transitions): ``none``; ``constant`` c; ``linear``
c₀ + c₁ (E − E_start); ``power_law`` b (E / E_start)^p, the scattering tail of a colloid
(Rayleigh scattering of small particles goes as λ⁻⁴ = E⁴; p is fitted in 0…8, started at 4).

**Quality numbers**, from the measured points inside the energy range (sorted by energy):

* 1S peak: the lowest-energy local maximum of A whose prominence exceeds
  max(5 × noise, 1 % of the absorbance span in range) (noise: 1.4826 · median|Δ²A| / √6);
* HWHM (meV) on the low-energy side: the half-maximum level is baseline + (A₁ₛ − baseline) / 2
  with baseline = the lowest A below the 1S energy in range (``hwhm_baseline="minimum"``) or
  0 (``"zero"``); the crossing is linearly interpolated between the two points that bracket
  the level, walking from the peak to lower energy; HWHM = E₁ₛ − E_cross. None when A never
  drops to the level;
* peak-to-valley: A₁ₛ / min A between the 1S peak and the next local maximum on its
  high-energy side (as prominent as above); None when there is no such maximum in range.

Input-caused failures raise :class:`labdb.lib.errors.EngineError` naming the field:
negative absorbance (below −max(5 × noise, 0.02)), saturated absorbance (above
``max_absorbance``, default 4, or a flat top: the maximum value repeated on ≥ 3 points),
fewer than ``MIN_POINTS`` points in range, no second-derivative minimum, fewer minima than
the n asked for, a bulk gap not below every transition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.signal import find_peaks, savgol_coeffs, savgol_filter

from analysis.engines._json import json_float as _f
from analysis.engines._json import json_floats as _floats
from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.absorption_decomposition"
ENGINE_VERSION = "1.0"

HC_EV_NM = 1239.84193
#: Fewer points than this in the energy range cannot constrain a decomposition.
MIN_POINTS = 20
#: At most this many transitions (the parameters grow as 2n+1 or 3n).
MAX_TRANSITIONS = 12
MIN_DR = 1e-4
#: A second-derivative minimum shallower than this fraction of the deepest one is noise.
DEPTH_FRACTION = 0.05
MODELS = ("eq1", "gaussians")
BACKGROUNDS = ("none", "constant", "linear", "power_law")
HWHM_BASELINES = ("minimum", "zero")

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class DecompositionOptions:
    """What a run fits; every field is a validated run parameter (units in the names)."""

    energy_range_ev: tuple[float, float] | None = None
    n_transitions: int | None = None  # None: every significant 2nd-derivative minimum
    model: str = "eq1"
    bulk_gap_ev: float = 1.74
    background: str = "none"
    center_bound_mev: float = 50.0
    smoothing_window_mev: float = 60.0
    smoothing_polyorder: int = 3
    max_absorbance: float = 4.0
    hwhm_baseline: str = "minimum"


def wavelength_to_energy(wavelength_nm: Any, absorbance: Any) -> tuple[np.ndarray, np.ndarray]:
    """(E in eV ascending, A) of a spectrum given against wavelength (no Jacobian, see module
    docstring); non-finite points dropped. EngineError naming ``inputs`` for λ ≤ 0."""
    lam = np.asarray(wavelength_nm, dtype=float)
    a = np.asarray(absorbance, dtype=float)
    if lam.shape != a.shape or lam.ndim != 1:
        raise EngineError("the spectrum's wavelengths and absorbances differ in length",
                          field="inputs")
    keep = np.isfinite(lam) & np.isfinite(a)
    lam, a = lam[keep], a[keep]
    if np.any(lam <= 0):
        raise EngineError("the spectrum has a wavelength ≤ 0 nm", field="inputs")
    energy = HC_EV_NM / lam
    order = np.argsort(energy, kind="stable")
    return energy[order], a[order]


def noise_level(y: np.ndarray) -> float:
    """Robust white-noise σ of a smooth curve from its second differences (blind to a slope):
    1.4826 · median |yᵢ₋₁ − 2yᵢ + yᵢ₊₁| / √6."""
    d = np.diff(np.asarray(y, dtype=float), n=2)
    return float(1.4826 * np.median(np.abs(d)) / math.sqrt(6.0)) if d.size else 0.0


def select_range(energy_ev: np.ndarray, absorbance: np.ndarray,
                 energy_range_ev: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """The points inside ``energy_range_ev`` (all when None); EngineError naming
    ``parameters.energy_range_ev`` when the range is outside the data or holds < MIN_POINTS."""
    e = np.asarray(energy_ev, dtype=float)
    a = np.asarray(absorbance, dtype=float)
    if e.size < MIN_POINTS:
        raise EngineError(f"the spectrum has only {e.size} points; at least {MIN_POINTS} are "
                          "needed", field="inputs")
    if energy_range_ev is None:
        return e, a
    lo, hi = float(energy_range_ev[0]), float(energy_range_ev[1])
    if not lo < hi:
        raise EngineError(f"energy range {lo:g}–{hi:g} eV: the start must be below the end",
                          field="parameters.energy_range_ev")
    if lo < e.min() - 1e-9 or hi > e.max() + 1e-9:
        raise EngineError(
            f"energy range {lo:g}–{hi:g} eV is outside the spectrum "
            f"({e.min():.3f}–{e.max():.3f} eV, {HC_EV_NM / e.max():.1f}–"
            f"{HC_EV_NM / e.min():.1f} nm); choose a range inside the data",
            field="parameters.energy_range_ev")
    inside = (e >= lo) & (e <= hi)
    n = int(np.count_nonzero(inside))
    if n < MIN_POINTS:
        raise EngineError(f"energy range {lo:g}–{hi:g} eV holds only {n} points of the "
                          f"spectrum; at least {MIN_POINTS} are needed",
                          field="parameters.energy_range_ev")
    return e[inside], a[inside]


def check_absorbance(energy_ev: np.ndarray, absorbance: np.ndarray, *,
                     max_absorbance: float = 4.0, field: str = "inputs") -> None:
    """EngineError naming ``field`` for negative, saturated or flat-topped absorbance in range.

    Negative: the spectrum smoothed by an 11-point moving average (``savgol_filter`` of order
    1) dips below −max(3 × noise, 0.01) (a noisy baseline scattering around zero is fine, a
    baseline offset below zero is not).
    Saturated: a point above ``max_absorbance`` (the detector's linear range ends near A = 3–4;
    Cary and Lambda write 10 for "over range"), or a flat top (the maximum repeated on ≥ 3
    points: a clipped signal).
    """
    a = np.asarray(absorbance, dtype=float)
    e = np.asarray(energy_ev, dtype=float)
    tolerance = max(3.0 * noise_level(a), 0.01)
    window = min(11, a.size if a.size % 2 else a.size - 1)
    smooth = savgol_filter(a, window, 1) if window >= 3 else a
    if smooth.min() < -tolerance:
        i = int(np.argmin(smooth))
        raise EngineError(
            f"negative absorbance: the baseline is at {smooth[i]:.3g} around {e[i]:.3f} eV "
            f"({HC_EV_NM / e[i]:.1f} nm) in the chosen range (11-point average; noise allows "
            f"down to −{tolerance:.3g}); correct the baseline or choose an energy range "
            "without it", field=field)
    if a.max() > max_absorbance:
        i = int(np.argmax(a))
        raise EngineError(
            f"saturated absorbance {a[i]:.3g} at {e[i]:.3f} eV ({HC_EV_NM / e[i]:.1f} nm): above "
            f"A = {max_absorbance:g} the spectrometer is out of its linear range; dilute the "
            "sample or choose an energy range below it", field=field)
    top = a.max()
    flat = int(np.count_nonzero(np.abs(a - top) <= 1e-12 * max(abs(top), 1.0)))
    if flat >= 3 and top > 0:
        raise EngineError(
            f"flat-topped absorbance: the maximum {top:.4g} is repeated on {flat} points, a "
            "clipped (saturated) signal; dilute the sample or choose a range without it",
            field=field)


def uniform_grid(energy_ev: np.ndarray, absorbance: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                           float]:
    """The spectrum linearly re-sampled on a uniform energy grid with the median step."""
    step = float(np.median(np.diff(energy_ev)))
    if not step > 0:
        raise EngineError("the spectrum's energies do not increase (repeated wavelengths)",
                          field="inputs")
    n = int(round((energy_ev[-1] - energy_ev[0]) / step)) + 1
    grid = energy_ev[0] + step * np.arange(n)
    grid = grid[grid <= energy_ev[-1] + 1e-12]
    return grid, np.interp(grid, energy_ev, absorbance), step


def smoothing_window_points(window_mev: float, step_ev: float, polyorder: int, n: int) -> int:
    """``window_mev`` as an odd number of grid points, at least polyorder + 2 (made odd);
    EngineError naming ``parameters.smoothing_window_mev`` when it exceeds the ``n`` points."""
    window = max(int(round(window_mev / 1000.0 / step_ev)), polyorder + 2)
    if window % 2 == 0:
        window += 1
    if window > n:
        raise EngineError(
            f"the smoothing window of {window_mev:g} meV is {window} points, more than the "
            f"{n} points in range; choose a smaller window or a wider range",
            field="parameters.smoothing_window_mev")
    return window


def smoothed(energy_ev: np.ndarray, absorbance: np.ndarray, *, window_mev: float,
             polyorder: int) -> dict:
    """The Savitzky–Golay view of the spectrum on a uniform energy grid: ``grid_ev``,
    ``absorbance`` (smoothed A), ``d2`` (d²A/dE², eV⁻²), ``window`` (points), ``noise`` and
    ``noise_d2`` (σ of the smoothed A and of d²A/dE²: the raw noise × √Σcₖ² of the filter's
    coefficients)."""
    grid, a, step = uniform_grid(energy_ev, absorbance)
    window = smoothing_window_points(window_mev, step, polyorder, grid.size)
    raw_noise = noise_level(np.asarray(absorbance, dtype=float))
    coeffs = savgol_coeffs(window, polyorder)
    coeffs_d2 = savgol_coeffs(window, polyorder, deriv=2, delta=step)
    return {"grid_ev": grid, "window": window,
            "absorbance": savgol_filter(a, window, polyorder),
            "d2": savgol_filter(a, window, polyorder, deriv=2, delta=step),
            "noise": raw_noise * math.sqrt(float(np.sum(coeffs ** 2))),
            "noise_d2": raw_noise * math.sqrt(float(np.sum(coeffs_d2 ** 2)))}


def derivative_minima(grid_ev: np.ndarray, d2: np.ndarray, *, window: int,
                      noise: float = 0.0) -> list[dict]:
    """Minima of d²A/dE² that stand out of its noise. A minimum counts when it is at least
    half a smoothing window from the grid ends (the filter's edge), at least one window
    from a deeper minimum (scipy ``find_peaks`` distance: the filter cannot resolve closer
    transitions), its prominence exceeds max(5 × ``noise`` (σ of d², see :func:`smoothed`),
    2 % of the span of d²) and its depth −d² is at least ``DEPTH_FRACTION`` (5 %) of the
    deepest minimum's (noise wiggles in a flat tail are much
    shallower than a transition's). Ascending energy; each ``{"energy_ev", "d2",
    "prominence"}``."""
    span = float(d2.max() - d2.min())
    edge = window // 2
    inner = d2[edge:d2.size - edge] if d2.size > 2 * edge else d2
    if not span > 0 or not inner.size or not inner.min() < 0:
        return []
    threshold = max(5.0 * noise, 0.02 * span)
    depth = DEPTH_FRACTION * float(-inner.min())
    idx, props = find_peaks(-d2, prominence=threshold, distance=max(1, window))
    out = []
    for i, prom in zip(idx, props["prominences"], strict=True):
        if d2[i] < -depth and edge <= i < grid_ev.size - edge:
            out.append({"energy_ev": float(grid_ev[i]), "d2": float(d2[i]),
                        "prominence": float(prom)})
    return out


def gaussian(energy_ev: np.ndarray, area: float, center_ev: float, sigma_ev: float) -> np.ndarray:
    """Area-normalized Gaussian: area / (σ √(2π)) · exp(−(E − E₀)² / 2σ²)."""
    return area / (sigma_ev * math.sqrt(2 * math.pi)) * np.exp(
        -((energy_ev - center_ev) ** 2) / (2 * sigma_ev ** 2))


def eq1_sigma_ev(center_ev: float, bulk_gap_ev: float, dr: float) -> float:
    """σᵢ of seed 004 eq. 1: 2 dR (Eᵢ − E_g)."""
    return 2.0 * dr * (center_ev - bulk_gap_ev)


def background_curve(energy_ev: np.ndarray, kind: str, values: dict, e_start_ev: float
                     ) -> np.ndarray:
    """The background of ``kind`` with parameter ``values`` (``bg_c``, ``bg_c0``/``bg_c1``,
    ``bg_b``/``bg_p``) on ``energy_ev``."""
    if kind == "constant":
        return np.full_like(energy_ev, values["bg_c"], dtype=float)
    if kind == "linear":
        return values["bg_c0"] + values["bg_c1"] * (energy_ev - e_start_ev)
    if kind == "power_law":
        return values["bg_b"] * (energy_ev / e_start_ev) ** values["bg_p"]
    return np.zeros_like(energy_ev, dtype=float)


def quality_numbers(energy_ev: np.ndarray, absorbance: np.ndarray, *, noise: float,
                    baseline: str = "minimum") -> dict:
    """1S peak, low-energy HWHM and peak-to-valley of a curve (the engine passes the
    Savitzky–Golay smoothed spectrum on its uniform grid; see module docstring): maxima count
    when their prominence exceeds max(5 × ``noise``, 1 % of the span of A). Keys:
    ``peak_1s_ev``, ``peak_1s_nm``, ``peak_1s_absorbance``, ``hwhm_1s_mev``,
    ``hwhm_crossing_ev``, ``hwhm_baseline_absorbance``, ``valley_ev``, ``valley_absorbance``,
    ``peak_to_valley`` (None where undefined)."""
    e = np.asarray(energy_ev, dtype=float)
    a = np.asarray(absorbance, dtype=float)
    out: dict[str, Any] = dict.fromkeys((
        "peak_1s_ev", "peak_1s_nm", "peak_1s_absorbance", "hwhm_1s_mev", "hwhm_crossing_ev",
        "hwhm_baseline_absorbance", "valley_ev", "valley_absorbance", "peak_to_valley"))
    span = float(a.max() - a.min())
    if not span > 0:
        return out
    prominence = max(5.0 * noise, 0.01 * span)
    peaks, _ = find_peaks(a, prominence=prominence)
    if peaks.size == 0:
        return out
    i = int(peaks[0])
    out.update(peak_1s_ev=float(e[i]), peak_1s_nm=HC_EV_NM / float(e[i]),
               peak_1s_absorbance=float(a[i]))
    base = float(a[:i].min()) if baseline == "minimum" and i > 0 else 0.0
    if baseline == "minimum" and i == 0:
        base = float(a[0])
    out["hwhm_baseline_absorbance"] = base
    level = base + 0.5 * (float(a[i]) - base)
    below = np.nonzero(a[:i] < level)[0]
    if below.size and a[i] > base:
        j = int(below[-1])  # a[j] < level ≤ a[j+1]
        x0, y0, x1, y1 = e[j], a[j], e[j + 1], a[j + 1]
        cross = x0 + (level - y0) * (x1 - x0) / (y1 - y0) if y1 != y0 else 0.5 * (x0 + x1)
        out.update(hwhm_crossing_ev=float(cross), hwhm_1s_mev=(float(e[i]) - cross) * 1000.0)
    if peaks.size > 1:
        k = int(peaks[1])
        v = i + int(np.argmin(a[i:k + 1]))
        out.update(valley_ev=float(e[v]), valley_absorbance=float(a[v]))
        if a[v] > 0:
            out["peak_to_valley"] = float(a[i]) / float(a[v])
    return out


# ------------------------------------------------------------------------------ the fit


def _initial_areas(energy: np.ndarray, y: np.ndarray, centers: Sequence[float],
                   sigmas: Sequence[float]) -> np.ndarray:
    """Non-negative least-squares areas of unit Gaussians at the initial centres/widths."""
    basis = np.column_stack([gaussian(energy, 1.0, c, s) for c, s in zip(centers, sigmas,
                                                                           strict=True)])
    areas, _ = nnls(basis, np.clip(y, 0.0, None))
    fallback = np.array([max(float(np.interp(c, energy, y)), 1e-6) * s * math.sqrt(2 * math.pi)
                         for c, s in zip(centers, sigmas, strict=True)])
    return np.where(areas > 0, areas, 0.1 * fallback)


def _initial_sigmas(centers: Sequence[float], span_ev: float) -> list[float]:
    """σ guesses: 0.4 × the distance to the nearest other centre, in 5 meV … span/4."""
    out = []
    for i, c in enumerate(centers):
        gaps = [abs(c - o) for j, o in enumerate(centers) if j != i]
        guess = 0.4 * min(gaps) if gaps else span_ev / 8
        out.append(float(min(max(guess, 0.005), span_ev / 4)))
    return out


def _build_params(options: DecompositionOptions, centers: Sequence[float], energy: np.ndarray,
                  y: np.ndarray) -> Any:
    import lmfit

    bound = options.center_bound_mev / 1000.0
    span = float(energy[-1] - energy[0])
    params = lmfit.Parameters()
    sigmas = _initial_sigmas(centers, span)
    if options.model == "eq1":
        lowest = min(centers) - bound
        if not lowest > options.bulk_gap_ev:
            raise EngineError(
                f"the bulk band gap {options.bulk_gap_ev:g} eV is not below every transition "
                f"(the lowest may go down to {lowest:.3f} eV); eq. 1 needs Eᵢ − E_g > 0: give "
                "the bulk gap of the material (CdSe 1.74 eV)", field="parameters.bulk_gap_ev")
        dr0 = float(np.median([s / (2 * (c - options.bulk_gap_ev))
                               for c, s in zip(centers, sigmas, strict=True)]))
        dr0 = min(max(dr0, 0.01), 0.5)
        params.add("dR", value=dr0, min=MIN_DR)
        sigmas = [eq1_sigma_ev(c, options.bulk_gap_ev, dr0) for c in centers]
    areas = _initial_areas(energy, y, centers, sigmas)
    for i, (c, s, a) in enumerate(zip(centers, sigmas, areas, strict=True), start=1):
        params.add(f"a{i}", value=float(a))
        params.add(f"E{i}", value=float(c), min=float(c) - bound, max=float(c) + bound)
        if options.model == "gaussians":
            params.add(f"s{i}", value=float(s), min=0.001, max=max(span, 0.01))
    if options.background == "constant":
        params.add("bg_c", value=float(max(y.min(), 0.0)))
    elif options.background == "linear":
        params.add("bg_c0", value=float(max(y[0], 0.0)))
        params.add("bg_c1", value=0.0)
    elif options.background == "power_law":
        params.add("bg_b", value=float(max(y[0], 1e-4)), min=0.0)
        params.add("bg_p", value=4.0, min=0.0, max=8.0)
    return params


def _components(values: dict, options: DecompositionOptions, n: int, energy: np.ndarray
                ) -> list[np.ndarray]:
    out = []
    for i in range(1, n + 1):
        center = values[f"E{i}"]
        sigma = (eq1_sigma_ev(center, options.bulk_gap_ev, values["dR"])
                 if options.model == "eq1" else values[f"s{i}"])
        out.append(gaussian(energy, values[f"a{i}"], center, sigma))
    return out


def model_curve(values: dict, options: DecompositionOptions, n: int, energy: np.ndarray,
                e_start_ev: float) -> np.ndarray:
    """Σ transitions + background for parameter ``values`` on ``energy``."""
    total = background_curve(energy, options.background, values, e_start_ev)
    for comp in _components(values, options, n, energy):
        total = total + comp
    return total


def _stderr(params: Any, name: str) -> float | None:
    p = params.get(name)
    return None if p is None else _f(p.stderr)


def _ratio_err(result: Any, i: int) -> float | None:
    """σ of aᵢ/a₁ from the fit covariance (first-order propagation)."""
    covar = getattr(result, "covar", None)
    names = list(getattr(result, "var_names", []) or [])
    if covar is None or f"a{i}" not in names or "a1" not in names:
        return None
    ai, a1 = result.params[f"a{i}"].value, result.params["a1"].value
    if a1 == 0:
        return None
    k, m = names.index(f"a{i}"), names.index("a1")
    grad = np.zeros(len(names))
    grad[k] += 1.0 / a1
    grad[m] += -ai / a1 ** 2
    var = float(grad @ np.asarray(covar) @ grad)
    return math.sqrt(var) if var >= 0 else None


def _sigma_err(result: Any, options: DecompositionOptions, i: int) -> float | None:
    """σ of σᵢ: the fitted s_i's stderr (gaussians) or from dR and Eᵢ (eq. 1)."""
    if options.model == "gaussians":
        return _stderr(result.params, f"s{i}")
    covar = getattr(result, "covar", None)
    names = list(getattr(result, "var_names", []) or [])
    if covar is None or "dR" not in names or f"E{i}" not in names:
        return None
    dr, center = result.params["dR"].value, result.params[f"E{i}"].value
    grad = np.zeros(len(names))
    grad[names.index("dR")] = 2.0 * (center - options.bulk_gap_ev)
    grad[names.index(f"E{i}")] = 2.0 * dr
    var = float(grad @ np.asarray(covar) @ grad)
    return math.sqrt(var) if var >= 0 else None


def _list_ev(minima: Sequence[dict]) -> str:
    return ", ".join(f"{m['energy_ev']:.3f}" for m in minima)


def decompose(wavelength_nm: Any, absorbance: Any, options: DecompositionOptions, *,
              input_field: str = "inputs.absorption", progress: Progress | None = None) -> dict:
    """Fit the absorption spectrum A(λ) with ``options`` (see module docstring).

    Returns plain JSON: ``transitions`` (per transition: ``center_ev`` ± err, ``center_nm``,
    ``initial_ev``, ``area`` ± err, ``sigma_ev`` ± err, ``fwhm_mev``,
    ``relative_oscillator_strength`` ± err, ``at_bound``), ``dR`` ± err (eq1), ``background``,
    ``quality`` (1S peak, HWHM, peak-to-valley), ``fit_statistics`` (χ²ᵥ with A-unit weights,
    R², points, parameters), ``minima`` (the 2nd-derivative minima), ``arrays`` (energy,
    absorbance, fit, background, each transition, residual, and the 2nd derivative on its
    uniform grid) and ``engine``. Raises EngineError naming the field for input-caused
    failures.
    """
    import lmfit

    report = progress or (lambda _pct, _msg: None)
    if options.model not in MODELS:
        raise EngineError(f"model {options.model!r}: use one of {', '.join(MODELS)}",
                          field="parameters.model")
    if options.background not in BACKGROUNDS:
        raise EngineError(f"background {options.background!r}: use one of "
                          f"{', '.join(BACKGROUNDS)}", field="parameters.background")
    energy_all, a_all = wavelength_to_energy(wavelength_nm, absorbance)
    energy, y = select_range(energy_all, a_all, options.energy_range_ev)
    check_absorbance(energy, y, max_absorbance=options.max_absorbance,
                     field=input_field)
    smooth = smoothed(energy, y, window_mev=options.smoothing_window_mev,
                      polyorder=options.smoothing_polyorder)
    grid, d2, window = smooth["grid_ev"], smooth["d2"], smooth["window"]
    minima = derivative_minima(grid, d2, window=window, noise=smooth["noise_d2"])
    report(20, f"{len(minima)} minima of the second derivative "
               f"({_list_ev(minima)} eV)")
    if not minima:
        raise EngineError(
            "the second derivative of A(E) has no significant minimum in the chosen range, so "
            "there is no transition to start from; widen the range or reduce the smoothing "
            "window", field="parameters.energy_range_ev")
    n = options.n_transitions
    if n is not None and n > len(minima):
        raise EngineError(
            f"{n} transitions asked for but the second derivative has only {len(minima)} "
            f"minima in range ({_list_ev(minima)} eV); ask "
            "for fewer or leave it on auto", field="parameters.n_transitions")
    chosen = minima if n is None else sorted(
        sorted(minima, key=lambda m: -m["prominence"])[:n], key=lambda m: m["energy_ev"])
    if len(chosen) > MAX_TRANSITIONS:
        chosen = sorted(sorted(chosen, key=lambda m: -m["prominence"])[:MAX_TRANSITIONS],
                        key=lambda m: m["energy_ev"])
    centers = [m["energy_ev"] for m in chosen]
    n_fit = len(centers)
    e_start = float(energy[0])
    params = _build_params(options, centers, energy, y)
    if len(params) >= energy.size:
        raise EngineError(f"{len(params)} fit parameters for {energy.size} points; widen the "
                          "range or fit fewer transitions", field="parameters.n_transitions")

    def residual(p: Any) -> np.ndarray:
        return model_curve(p.valuesdict(), options, n_fit, energy, e_start) - y

    report(40, f"fitting {n_fit} transitions ({options.model}, background {options.background})")
    result = lmfit.minimize(residual, params, method="least_squares")
    values = result.params.valuesdict()
    fit = model_curve(values, options, n_fit, energy, e_start)
    comps = _components(values, options, n_fit, energy)
    background = background_curve(energy, options.background, values, e_start)
    resid = y - fit
    a1 = values["a1"]
    bound = options.center_bound_mev / 1000.0
    transitions = []
    for i in range(1, n_fit + 1):
        center = values[f"E{i}"]
        sigma = (eq1_sigma_ev(center, options.bulk_gap_ev, values["dR"])
                 if options.model == "eq1" else values[f"s{i}"])
        initial = centers[i - 1]
        transitions.append({
            "index": i,
            "center_ev": _f(center), "center_err_ev": _stderr(result.params, f"E{i}"),
            "center_nm": _f(HC_EV_NM / center), "initial_ev": _f(initial),
            "area": _f(values[f"a{i}"]), "area_err": _stderr(result.params, f"a{i}"),
            "sigma_ev": _f(sigma), "sigma_err_ev": _sigma_err(result, options, i),
            "fwhm_mev": _f(2 * math.sqrt(2 * math.log(2)) * sigma * 1000.0),
            "relative_oscillator_strength": _f(values[f"a{i}"] / a1) if a1 else None,
            "relative_oscillator_strength_err": 0.0 if i == 1 else _ratio_err(result, i),
            "at_bound": bool(abs(abs(center - initial) - bound) < 1e-6),
        })
    ss_res = float(np.sum(resid ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    quality = quality_numbers(grid, smooth["absorbance"], noise=smooth["noise"],
                              baseline=options.hwhm_baseline)
    report(90, "fit done")
    bg_names = [k for k in values if k.startswith("bg_")]
    return {
        "model": options.model,
        "background_kind": options.background,
        "bulk_gap_ev": options.bulk_gap_ev if options.model == "eq1" else None,
        "n_transitions": n_fit,
        "transitions": transitions,
        "dR": _f(values["dR"]) if options.model == "eq1" else None,
        "dR_err": _stderr(result.params, "dR") if options.model == "eq1" else None,
        "background": {k: {"value": _f(values[k]), "err": _stderr(result.params, k)}
                       for k in bg_names},
        "quality": {k: _f(v) for k, v in quality.items()},
        "fit_statistics": {
            "reduced_chi_square": _f(result.redchi), "r_squared": _f(1 - ss_res / ss_tot)
            if ss_tot > 0 else None,
            "n_points": int(energy.size), "n_parameters": int(result.nvarys),
            "success": bool(result.success), "message": str(result.message),
            "errors_estimated": bool(getattr(result, "errorbars", False)),
        },
        "minima": [{k: _f(v) for k, v in m.items()} for m in minima],
        "smoothing_window_points": window,
        "energy_range_ev": [_f(energy[0]), _f(energy[-1])],
        "arrays": {
            "energy_ev": _floats(energy), "absorbance": _floats(y), "fit": _floats(fit),
            "background": _floats(background), "residual": _floats(resid),
            "components": [_floats(c) for c in comps],
            "d2_energy_ev": _floats(grid), "d2": _floats(d2),
            "smoothed_absorbance": _floats(smooth["absorbance"]),
        },
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
    }
