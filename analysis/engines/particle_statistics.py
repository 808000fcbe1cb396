"""Particle-size statistics of a TEM per-particle table (diameters, or platelet lengths and
widths measured separately).

For every dimension (``diameter``, ``length``, ``width`` …) of a set of particles:

* N, mean, **sample** standard deviation (ddof = 1, i.e. divided by N − 1), standard error of
  the mean (SD/√N), relative SD = 100·SD/mean (%), median, quartiles Q1/Q3 (numpy
  ``percentile``, linear interpolation) and IQR = Q3 − Q1, minimum and maximum;
* a histogram whose bin width follows the **Freedman–Diaconis** rule,
  h = 2·IQR·N^(−1/3) (numpy ``histogram_bin_edges(bins="fd")``), at most ``MAX_BINS`` bins,
  or a given number of equal bins;
* maximum-likelihood fits (``scipy.stats``) of a normal distribution (μ, σ; σ is the MLE,
  divided by N) and of a log-normal distribution with its location fixed at 0
  (``lognorm.fit(x, floc=0)``: ln d ~ N(μ_ln, s²); median = e^μ_ln, mean = e^(μ_ln + s²/2),
  SD = mean·√(e^(s²) − 1)), each with asymptotic standard errors (σ/√N and σ/√(2N) for the
  normal; s/√N and s/√(2N) for μ_ln and s), log-likelihood, AIC = 4 − 2 ln L, and the
  one-sample Kolmogorov–Smirnov statistic D and p-value against the fitted distribution.
  The p-value is computed as if the parameters were known; because they were fitted to the
  same data it is too large (Lilliefors) — read it as a screen, not a test;
* the fitted densities on a grid, also scaled to expected counts per histogram bin
  (pdf · N · bin width) for overlaying on the histogram.

Platelets: when length and width come from the same rows of the table, the per-particle aspect
ratio length/width is summarised as well.

Units: every size is in nm (``to_nm`` converts from nm, µm, Å, pm or px with a nm/px
calibration); densities in nm⁻¹. Bad input (fewer than ``MIN_PARTICLES`` sizes, a zero,
negative or non-finite size, px without a calibration) raises
:class:`labdb.lib.errors.EngineError` naming the field the values came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from analysis.engines._json import json_float as _f
from analysis.engines._json import json_floats as _floats
from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.particle_statistics"
ENGINE_VERSION = "1.0"

#: Fewer sizes than this give no meaningful SD, quartiles or fit.
MIN_PARTICLES = 3
#: The Freedman–Diaconis rule gives hundreds of bins for a table with a far outlier; cap it.
MAX_BINS = 200
#: Points of the fitted-density curves.
CURVE_POINTS = 200
#: Length units a table may state → nm per unit.
NM_PER_UNIT = {"nm": 1.0, "µm": 1000.0, "Å": 0.1, "pm": 0.001}

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class Dimension:
    """One measured dimension of the particles, in nm.

    ``name`` is ``diameter``, ``length``, ``width`` …; ``field`` is what a bad value is
    reported against (``parameters.width_column``, ``inputs.table``); ``rows`` are the table
    row numbers of the values (1 = header, as a spreadsheet counts) for error messages and
    for pairing length with width; ``column`` is the table column the values came from.
    """

    name: str
    values_nm: Sequence[float]
    field: str = "inputs.table"
    rows: Sequence[int] = ()
    column: str = ""


def to_nm(values: Sequence[float] | np.ndarray, *, unit: str, nm_per_px: float | None = None,
          field: str = "parameters.unit") -> np.ndarray:
    """``values`` in ``unit`` (nm, µm, Å, pm, or px with ``nm_per_px``) converted to nm.

    Raises EngineError: px without a positive ``nm_per_px`` (field ``parameters.nm_per_px``),
    an unknown unit (``field``).
    """
    data = np.asarray(values, dtype=float)
    if unit == "px":
        if nm_per_px is None or not nm_per_px > 0 or not math.isfinite(nm_per_px):
            raise EngineError("sizes in pixels need the image calibration: give nm_per_px "
                              "(nm per pixel, > 0)", field="parameters.nm_per_px")
        return data * float(nm_per_px)
    if unit not in NM_PER_UNIT:
        raise EngineError(f"unit {unit!r} is not a length unit; expected one of nm, µm, Å, pm "
                          "or px (with nm_per_px)", field=field)
    return data * NM_PER_UNIT[unit]


def check_sizes(dimension: Dimension) -> np.ndarray:
    """The dimension's values as a float array; EngineError naming ``dimension.field`` when
    there are fewer than MIN_PARTICLES or one is zero, negative or not finite."""
    x = np.asarray(dimension.values_nm, dtype=float).ravel()
    where = f"{dimension.name}" + (f" (column {dimension.column!r})" if dimension.column else "")
    bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
    if bad.size:
        i = int(bad[0])
        row = f"row {dimension.rows[i]}" if len(dimension.rows) == x.size else f"particle {i + 1}"
        raise EngineError(f"{where}: {row} has size {x[i]:g} nm; every size must be a positive "
                          f"length ({bad.size} such value(s))", field=dimension.field)
    if x.size < MIN_PARTICLES:
        raise EngineError(f"{where}: {x.size} particle size(s); at least {MIN_PARTICLES} are "
                          "needed for an SD, quartiles and a distribution fit",
                          field=dimension.field)
    return x


def histogram_edges(x: np.ndarray, n_bins: int | None = None) -> tuple[np.ndarray, str]:
    """Bin edges (nm) and the rule used: ``n_bins`` equal bins, else Freedman–Diaconis
    (h = 2·IQR·N^(−1/3)) capped at MAX_BINS equal bins over the data range."""
    if n_bins is not None:
        return np.histogram_bin_edges(x, bins=int(n_bins)), f"{int(n_bins)} equal bins (given)"
    edges = np.histogram_bin_edges(x, bins="fd")
    if edges.size - 1 > MAX_BINS:
        return (np.histogram_bin_edges(x, bins=MAX_BINS),
                f"Freedman–Diaconis gave {edges.size - 1} bins; capped at {MAX_BINS}")
    return edges, "Freedman–Diaconis (h = 2·IQR·N^(−1/3))"


def _ks(x: np.ndarray, dist: Any) -> dict[str, float | None]:
    res = stats.kstest(x, dist.cdf)
    return {"ks_statistic": _f(res.statistic), "ks_p": _f(res.pvalue)}


def fit_normal(x: np.ndarray) -> dict[str, Any]:
    """MLE normal fit: μ, σ (divided by N) with standard errors, ln L, AIC, KS D and p."""
    mu, sigma = stats.norm.fit(x)
    n = x.size
    dist = stats.norm(loc=mu, scale=sigma)
    loglik = float(np.sum(dist.logpdf(x)))
    return {"distribution": "normal", "mu_nm": _f(mu), "mu_err_nm": _f(sigma / math.sqrt(n)),
            "sigma_nm": _f(sigma), "sigma_err_nm": _f(sigma / math.sqrt(2 * n)),
            "mean_nm": _f(mu), "sd_nm": _f(sigma), "median_nm": _f(mu),
            "log_likelihood": _f(loglik), "aic": _f(4.0 - 2.0 * loglik), **_ks(x, dist)}


def fit_lognormal(x: np.ndarray) -> dict[str, Any]:
    """MLE log-normal fit with location 0: μ_ln = ln(median/nm), s, with standard errors;
    median, mean, SD and mode of the fitted distribution (nm); ln L, AIC, KS D and p."""
    s, _loc, scale = stats.lognorm.fit(x, floc=0)
    n = x.size
    mu_ln = math.log(scale)
    dist = stats.lognorm(s, loc=0, scale=scale)
    loglik = float(np.sum(dist.logpdf(x)))
    mean = math.exp(mu_ln + s * s / 2)
    return {"distribution": "lognormal", "mu_ln": _f(mu_ln), "mu_ln_err": _f(s / math.sqrt(n)),
            "s": _f(s), "s_err": _f(s / math.sqrt(2 * n)), "median_nm": _f(scale),
            "mean_nm": _f(mean), "sd_nm": _f(mean * math.sqrt(math.expm1(s * s))),
            "mode_nm": _f(math.exp(mu_ln - s * s)), "log_likelihood": _f(loglik),
            "aic": _f(4.0 - 2.0 * loglik), **_ks(x, dist)}


def _curves(x: np.ndarray, normal: dict, lognormal: dict, bin_width_nm: float) -> dict:
    lo, hi = float(x.min()), float(x.max())
    pad = 0.15 * (hi - lo) if hi > lo else 0.15 * hi
    grid = np.linspace(max(lo - pad, 1e-9 * hi), hi + pad, CURVE_POINTS)
    pdf_n = stats.norm.pdf(grid, loc=normal["mu_nm"], scale=normal["sigma_nm"])
    pdf_l = stats.lognorm.pdf(grid, lognormal["s"], loc=0, scale=lognormal["median_nm"])
    scale = x.size * bin_width_nm
    return {"x_nm": _floats(grid), "normal_pdf": _floats(pdf_n),
            "lognormal_pdf": _floats(pdf_l), "normal_counts": _floats(pdf_n * scale),
            "lognormal_counts": _floats(pdf_l * scale)}


def describe(dimension: Dimension, *, n_bins: int | None = None) -> dict[str, Any]:
    """Statistics, histogram and both fits of one dimension (see the module docstring)."""
    x = check_sizes(dimension)
    n = int(x.size)
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    edges, rule = histogram_edges(x, n_bins)
    counts, _ = np.histogram(x, bins=edges)
    width = float(edges[1] - edges[0])
    normal, lognormal = fit_normal(x), fit_lognormal(x)
    better = "lognormal" if (lognormal["aic"] or 0) < (normal["aic"] or 0) else "normal"
    return {
        "name": dimension.name, "column": dimension.column, "n": n,
        "mean_nm": _f(mean), "sd_nm": _f(sd), "sd_ddof": 1, "sem_nm": _f(sd / math.sqrt(n)),
        "rsd_pct": _f(100.0 * sd / mean), "median_nm": _f(median), "q1_nm": _f(q1),
        "q3_nm": _f(q3), "iqr_nm": _f(q3 - q1), "min_nm": _f(x.min()), "max_nm": _f(x.max()),
        "histogram": {"edges_nm": _floats(edges), "counts": [int(c) for c in counts],
                      "bin_width_nm": _f(width), "rule": rule},
        "fits": {"normal": normal, "lognormal": lognormal, "lower_aic": better},
        "curves": _curves(x, normal, lognormal, width),
        "values_nm": _floats(x),
    }


def aspect_ratio(length: Dimension, width: Dimension) -> dict[str, Any] | None:
    """Per-particle length/width summary when both come from the same table rows (else None)."""
    if not length.rows or list(length.rows) != list(width.rows):
        return None
    ratio = np.asarray(length.values_nm, dtype=float) / np.asarray(width.values_nm, dtype=float)
    if ratio.size < MIN_PARTICLES:
        return None
    q1, median, q3 = (float(v) for v in np.percentile(ratio, [25, 50, 75]))
    sd = float(np.std(ratio, ddof=1))
    return {"n": int(ratio.size), "mean": _f(ratio.mean()), "sd": _f(sd), "median": _f(median),
            "q1": _f(q1), "q3": _f(q3), "rsd_pct": _f(100.0 * sd / float(ratio.mean()))}


def particle_statistics(dimensions: Sequence[Dimension], *, n_bins: int | None = None,
                        progress: Progress | None = None) -> dict[str, Any]:
    """Statistics of every dimension of a set of particles.

    Returns JSON: ``dimensions`` (name → :func:`describe`), ``aspect_ratio`` (length/width,
    or None), ``engine``. Raises EngineError
    for no dimension, a repeated dimension name, or bad sizes (see :func:`check_sizes`).
    """
    report = progress or (lambda pct, msg: None)
    if not dimensions:
        raise EngineError("no size column chosen: give a diameter, or a length and a width",
                          field="parameters.geometry")
    names = [d.name for d in dimensions]
    if len(set(names)) != len(names):
        raise EngineError(f"each dimension may be given once; got {names}",
                          field="parameters.geometry")
    out: dict[str, Any] = {}
    for i, dim in enumerate(dimensions):
        report(10 + 80 * i // len(dimensions), f"{dim.name}: statistics and fits")
        out[dim.name] = describe(dim, n_bins=n_bins)
    by_name = {d.name: d for d in dimensions}
    ratio = (aspect_ratio(by_name["length"], by_name["width"])
             if {"length", "width"} <= set(by_name) else None)
    report(95, "particle statistics done")
    return {"dimensions": out, "aspect_ratio": ratio,
            "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION}}
