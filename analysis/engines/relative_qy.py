"""Relative photoluminescence quantum yield of a sample against a reference dye.

    QY = QY_ref · (I / I_ref) · (f_ref / f) · (n² / n_ref²)

* ``I`` — integrated PL: the trapezoid integral of (intensity − constant baseline) over a
  chosen wavelength range, on the spectrum's own wavelength grid; where a range end falls
  between two points the intensity there is interpolated linearly, so the integral is the exact
  area of the piecewise-linear spectrum between the two ends. Intensities in counts (or any
  unit shared by both spectra), wavelengths in nm, ``I`` in counts·nm.
* ``f`` — fraction of the excitation light absorbed: the absorptance f = 1 − 10^(−A) (default),
  or A itself (``absorbance_model="linear"``, the usual dilute approximation: f_ref/f ≈
  A_ref/A). ``A`` is the decadic absorbance (dimensionless, 1 cm path) at the excitation
  wavelength.
* ``n`` — refractive indices of the sample's and the reference's solvents (n_D, 20 °C).

Uncertainty is propagated linearly with ``uncertainties``: the reference's literature QY
uncertainty and one absorbance uncertainty (``absorbance_err``, the photometer's, applied to
each of A and A_ref independently). Integrals and refractive indices are taken as exact; their
error (detector noise, spectral correction, solvent n) is not part of the figure.

Refused (EngineError naming the field): A ≤ 0 or A > 2 (saturated / not measurable), a range
outside a spectrum's data or holding fewer than 3 points, a non-positive integral, a reference
QY outside (0, 1]. Flagged in ``warnings`` (the run still succeeds): A > 0.1 (inner-filter
effect: the emission is re-absorbed and excitation does not reach the whole cuvette), a
reference QY without a stated uncertainty, an excitation outside the standard's range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from uncertainties import ufloat

from analysis.engines._json import json_float as _f
from analysis.engines._json import json_floats as _floats
from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.relative_qy"
ENGINE_VERSION = "1.0"

#: Above this absorbance at the excitation wavelength the inner-filter effect is not negligible.
INNER_FILTER_ABSORBANCE = 0.1
#: Above this the absorbance is not measurable (stray light saturates the photometer).
MAX_ABSORBANCE = 2.0
#: Fewer points than this inside an integration range do not define an integral.
MIN_RANGE_POINTS = 3

#: n_D at 20 °C of common solvents. Source: CRC Handbook of Chemistry and Physics, 97th ed.
#: (2016), "Physical constants of organic compounds" (organic solvents) and "Concentrative
#: properties of aqueous solutions" (0.5 M H2SO4 ≈ 4.8 wt %). Dilute aqueous solutions
#: (0.1 M NaOH) take water's value (the difference is < 0.001).
REFRACTIVE_INDEX: dict[str, float] = {
    "water": 1.333,
    "0.1 M NaOH": 1.333,
    "0.5 M H2SO4": 1.339,
    "ethanol": 1.361,
    "methanol": 1.329,
    "DMSO": 1.479,
    "DMF": 1.430,
    "acetonitrile": 1.344,
    "hexane": 1.375,
    "octane": 1.398,
    "cyclohexane": 1.426,
    "toluene": 1.497,
    "chloroform": 1.446,
    "dichloromethane": 1.424,
    "1,2-dichloroethane": 1.445,
    "tetrachloroethylene": 1.505,
    "carbon tetrachloride": 1.460,
    "THF": 1.405,
}
REFRACTIVE_INDEX_SOURCE = ("CRC Handbook of Chemistry and Physics, 97th ed. (2016): n_D at "
                           "20 °C")
ABSORBANCE_MODELS = ("absorptance", "linear")


def refractive_index_of(solvent: str) -> float | None:
    """n_D of ``solvent`` from :data:`REFRACTIVE_INDEX` (case-insensitive; None if absent)."""
    wanted = solvent.strip().lower()
    return next((n for name, n in REFRACTIVE_INDEX.items() if name.lower() == wanted), None)


@dataclass(frozen=True, eq=False)
class Emission:
    """One emission spectrum: wavelengths (nm), intensities (counts), its label, the
    integration range [start, end] (nm) and the constant baseline (counts) to subtract."""

    label: str
    wavelength_nm: np.ndarray
    intensity: np.ndarray
    range_nm: tuple[float, float]
    baseline: float = 0.0


def sorted_spectrum(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                    field: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite points sorted by ascending x; EngineError naming ``field`` when fewer than
    MIN_RANGE_POINTS remain, the lengths differ, or an x value repeats."""
    xs, ys = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if xs.size != ys.size:
        raise EngineError(f"{label}: {xs.size} wavelengths but {ys.size} intensities",
                          field=field)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size < MIN_RANGE_POINTS:
        raise EngineError(f"{label}: only {xs.size} finite points; at least "
                          f"{MIN_RANGE_POINTS} are needed", field=field)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if np.any(np.diff(xs) == 0):
        raise EngineError(f"{label}: a wavelength appears twice", field=field)
    return xs, ys


def integrate_emission(spectrum: Emission, *, field: str) -> dict[str, Any]:
    """Integrated PL of ``spectrum`` over its range (counts·nm) with the points used.

    Returns ``{"integral", "n_points", "range_nm", "baseline"}``. Raises EngineError (``field``)
    when the range is reversed, lies outside the data, holds fewer than 3 points, or the
    baseline-subtracted integral is not positive.
    """
    lo, hi = float(spectrum.range_nm[0]), float(spectrum.range_nm[1])
    x, y = sorted_spectrum(spectrum.wavelength_nm, spectrum.intensity, field=field,
                           label=spectrum.label)
    if not lo < hi:
        raise EngineError(f"integration range {lo:g}–{hi:g} nm: the start must be below the "
                          "end", field=field)
    if lo < x[0] or hi > x[-1]:
        raise EngineError(f"integration range {lo:g}–{hi:g} nm is outside the data of "
                          f"{spectrum.label} ({x[0]:g}–{x[-1]:g} nm)", field=field)
    inside = (x > lo) & (x < hi)
    xs = np.concatenate(([lo], x[inside], [hi]))
    ys = np.concatenate(([np.interp(lo, x, y)], y[inside], [np.interp(hi, x, y)]))
    n_points = int(np.count_nonzero((x >= lo) & (x <= hi)))
    if n_points < MIN_RANGE_POINTS:
        raise EngineError(f"integration range {lo:g}–{hi:g} nm holds only {n_points} points of "
                          f"{spectrum.label}; at least {MIN_RANGE_POINTS} are needed",
                          field=field)
    integral = float(np.trapezoid(ys - spectrum.baseline, xs))
    if not integral > 0:
        raise EngineError(f"{spectrum.label}: the integrated PL over {lo:g}–{hi:g} nm after "
                          f"subtracting a baseline of {spectrum.baseline:g} is {integral:.4g}; "
                          "it must be positive (check the range and the baseline)", field=field)
    return {"integral": integral, "n_points": n_points, "range_nm": [lo, hi],
            "baseline": float(spectrum.baseline)}


def outside_range_baseline(x: np.ndarray, y: np.ndarray, range_nm: Sequence[float], *,
                           field: str, label: str) -> float:
    """The mean intensity of the points outside ``range_nm`` (a constant baseline estimate);
    EngineError naming ``field`` when fewer than 3 points lie outside."""
    xs, ys = sorted_spectrum(x, y, field=field, label=label)
    outside = (xs < range_nm[0]) | (xs > range_nm[1])
    if np.count_nonzero(outside) < MIN_RANGE_POINTS:
        raise EngineError(f"{label}: fewer than {MIN_RANGE_POINTS} points lie outside the "
                          f"integration range {range_nm[0]:g}–{range_nm[1]:g} nm to estimate a "
                          "baseline from; give the baseline as a number", field=field)
    return float(np.mean(ys[outside]))


def absorbance_at(wavelength_nm: Sequence[float] | np.ndarray,
                  absorbance: Sequence[float] | np.ndarray, excitation_nm: float, *,
                  field: str, label: str) -> float:
    """Absorbance of a spectrum at ``excitation_nm``, linearly interpolated; EngineError
    (``field``) when the excitation lies outside the spectrum."""
    x, y = sorted_spectrum(wavelength_nm, absorbance, field=field, label=label)
    if not x[0] <= excitation_nm <= x[-1]:
        raise EngineError(f"{label}: the excitation wavelength {excitation_nm:g} nm is outside "
                          f"the absorption spectrum ({x[0]:g}–{x[-1]:g} nm)", field=field)
    return float(np.interp(excitation_nm, x, y))


def check_absorbance(value: float, *, field: str) -> list[str]:
    """EngineError (``field``) for A ≤ 0 or A > 2; the inner-filter warning for A > 0.1."""
    if not math.isfinite(value) or value <= 0:
        raise EngineError(f"absorbance {value:.4g} at the excitation wavelength: a positive "
                          "absorbance is needed (the solution must absorb the excitation)",
                          field=field)
    if value > MAX_ABSORBANCE:
        raise EngineError(f"absorbance {value:.4g} at the excitation wavelength is above "
                          f"{MAX_ABSORBANCE:g}: saturated, not measurable; dilute the solution",
                          field=field)
    if value > INNER_FILTER_ABSORBANCE:
        return [f"{field}: absorbance {value:.3g} > {INNER_FILTER_ABSORBANCE:g} at the "
                "excitation wavelength — inner-filter effect: the QY is underestimated unless "
                "the solution is diluted (keep A ≤ 0.1, ideally ≈ 0.05)"]
    return []


@dataclass(frozen=True)
class QYInputs:
    """The numbers besides the two spectra: absorbances (dimensionless, at the excitation
    wavelength) and their common uncertainty, the reference's QY (fraction, 0–1) and its
    uncertainty (None: not stated), refractive indices and the absorbance model."""

    absorbance_sample: float
    absorbance_reference: float
    absorbance_err: float
    reference_qy: float
    reference_qy_err: float | None
    n_sample: float
    n_reference: float
    absorbance_model: str = "absorptance"


def _uncertain(value: float, err: float, tag: str) -> Any:
    """A ufloat tagged ``tag`` (its share of the variance is reported), or the plain float
    when there is no uncertainty to carry."""
    return ufloat(value, err, tag) if err > 0 else float(value)


def _nominal(value: Any) -> float:
    return float(getattr(value, "nominal_value", value))


def absorbed_fraction(absorbance: Any, model: str) -> Any:
    """f = 1 − 10^(−A) (``absorptance``) or A (``linear``); works on ufloats."""
    if model == "linear":
        return absorbance
    return 1 - 10 ** (-absorbance)


def relative_qy(sample: Emission, reference: Emission, numbers: QYInputs) -> dict[str, Any]:
    """The sample's QY relative to the reference (see the module docstring).

    Returns JSON: ``qy`` and ``qy_err`` (fractions), ``qy_pct`` and ``qy_pct_err`` (percent),
    ``sample``/``reference`` (integral, range, points, baseline, absorbance, f, n),
    ``ratios`` (I/I_ref, f_ref/f, n²/n_ref²), ``uncertainty_budget`` (each source's share of
    the variance), ``warnings``, ``spectra`` (both spectra for the plot) and ``engine``.
    Raises EngineError naming ``parameters.<field>`` for a refused input.
    """
    if numbers.absorbance_model not in ABSORBANCE_MODELS:
        raise EngineError(f"absorbance_model must be one of {ABSORBANCE_MODELS}",
                          field="parameters.absorbance_model")
    if not 0 < numbers.reference_qy <= 1:
        raise EngineError(f"the reference's QY {numbers.reference_qy:g} must be a fraction in "
                          "(0, 1]", field="parameters.standard")
    for name in ("n_sample", "n_reference"):
        if not 1.0 <= getattr(numbers, name) <= 3.0:
            raise EngineError(f"refractive index {getattr(numbers, name):g} is not that of a "
                              "liquid (expected 1–3)", field=f"parameters.{name}")
    if numbers.absorbance_err < 0:
        raise EngineError("absorbance_err must not be negative",
                          field="parameters.absorbance_err")
    warnings = [*check_absorbance(numbers.absorbance_sample, field="absorbance_sample"),
                *check_absorbance(numbers.absorbance_reference, field="absorbance_reference")]
    i_s = integrate_emission(sample, field="parameters.sample_range_nm")
    i_r = integrate_emission(reference, field="parameters.reference_range_nm")
    a_s = _uncertain(numbers.absorbance_sample, numbers.absorbance_err, "absorbance_sample")
    a_r = _uncertain(numbers.absorbance_reference, numbers.absorbance_err,
                     "absorbance_reference")
    qy_ref_err = numbers.reference_qy_err
    if qy_ref_err is None:
        warnings.append("the reference's literature QY has no stated uncertainty: the error "
                        "bar leaves it out")
    q_r = _uncertain(numbers.reference_qy, qy_ref_err or 0.0, "reference_qy")
    f_s = absorbed_fraction(a_s, numbers.absorbance_model)
    f_r = absorbed_fraction(a_r, numbers.absorbance_model)
    intensity_ratio = i_s["integral"] / i_r["integral"]
    index_ratio = numbers.n_sample**2 / numbers.n_reference**2
    qy = q_r * intensity_ratio * (f_r / f_s) * index_ratio
    qy_value, qy_err = _nominal(qy), float(getattr(qy, "std_dev", 0.0))
    budget = {tag: (_f((deriv * var.std_dev) ** 2 / qy_err**2) if qy_err > 0 else None)
              for var, deriv in getattr(qy, "derivatives", {}).items()
              if (tag := getattr(var, "tag", None))}
    if qy_value > 1:
        warnings.append(f"QY {qy_value * 100:.1f} % is above 100 %: check the "
                        "absorbances, the ranges and that both spectra share one detector "
                        "correction and slit setting")
    return {
        "qy": _f(qy_value), "qy_err": _f(qy_err),
        "qy_pct": _f(qy_value * 100), "qy_pct_err": _f(qy_err * 100),
        "absorbance_model": numbers.absorbance_model,
        "sample": {**i_s, "label": sample.label, "absorbance": numbers.absorbance_sample,
                   "absorbed_fraction": _f(_nominal(f_s)), "n": numbers.n_sample},
        "reference": {**i_r, "label": reference.label,
                      "absorbance": numbers.absorbance_reference,
                      "absorbed_fraction": _f(_nominal(f_r)), "n": numbers.n_reference,
                      "qy": numbers.reference_qy, "qy_err": qy_ref_err},
        "absorbance_err": numbers.absorbance_err,
        "ratios": {"intensity": _f(intensity_ratio),
                   "absorbed_fraction_ref_over_sample": _f(_nominal(f_r) / _nominal(f_s)),
                   "refractive_index_squared": _f(index_ratio)},
        "uncertainty_budget": budget,
        "warnings": warnings,
        "spectra": {role: _plot_arrays(s) for role, s in (("sample", sample),
                                                          ("reference", reference))},
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
    }


def _plot_arrays(spectrum: Emission) -> dict[str, Any]:
    x, y = sorted_spectrum(spectrum.wavelength_nm, spectrum.intensity, field="inputs",
                           label=spectrum.label)
    return {"label": spectrum.label, "wavelength_nm": _floats(x), "intensity": _floats(y),
            "range_nm": [float(spectrum.range_nm[0]), float(spectrum.range_nm[1])],
            "baseline": float(spectrum.baseline)}
