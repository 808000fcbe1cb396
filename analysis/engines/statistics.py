"""Correlation statistics for structure–property questions (pure: numpy + scipy, no Django).

``correlate`` answers "does y track x?" with the numbers a chemist expects to see side by side:
Pearson r (linear), Spearman ρ (monotonic, rank based), an ordinary least-squares line with the
standard errors of slope and intercept, all overall and per group. Every number comes straight
from ``scipy.stats`` (``pearsonr``, ``spearmanr``, ``linregress``) so it can be checked by calling
scipy on the same points.

Measurement errors (``x_err``, ``y_err``) are carried into ``points`` for plotting; the ``slope``
/ ``intercept`` line is an *unweighted* least-squares fit — stated here because published errors
are often missing for some points and weighting by a partial set would silently change the
estimator. Beside it, the fits that do use both axes' errors (errors in variables):

* ``york``: York et al., Am. J. Phys. 72, 367 (2004), optionally with a correlation r between
  each point's x and y errors; a missing error counts as 0 (exact) on that axis, points with
  neither error are left out. Checked against the published benchmark (Pearson's data with
  York's weights: b = −0.4805 ± 0.0580, a = 5.4799 ± 0.2950).
* ``odr``: orthogonal distance regression with ``scipy.odr`` (needs both errors on every point).
* ``resampled``: seeded percentile intervals of r and the slope, resampling each point within
  its errors, over the points (bootstrap), and both; past the per-request budget of resampled
  values and from 1000 points, their large-sample limit (``limit_intervals``: delta method,
  ``"method": "delta_method"``).
* ``warnings``: n < 6, relative errors above 100 % (named by sample), missing errors.

``spearman_p_exact`` is the two-sided permutation p-value over all n! pairings (n ≤ 8), the
honest one for the 3-point groups of a paper: with n = 3, ρ = 1 has p = 1/3, where scipy's
asymptotic ``spearman_p`` says 0.

Censored points — a printed bound such as "below 1 %", not a measured value — are left out
when ``censored`` marks them (``n_censored`` counts them): a bound is not a point on the line.
A printed range enters, by the frame's rule, as its midpoint with the half-range as its error.

Points where x or y is missing or not finite are dropped (``n`` counts the points used). With
fewer than ``MIN_POINTS`` points, or when x or y is constant, the statistics are ``None`` and
``note`` says why. With n = 3 a p-value near 0.05 needs |r| ≈ 0.997: small groups are weak
evidence, whatever r says.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

#: A column of per-point values: a list or a 1-D numpy array (``len`` and indexing work on both).
Values = Sequence | np.ndarray

__all__ = ["DEFAULT_DRAWS", "DEFAULT_SEED", "EXACT_MAX_POINTS", "FEW_POINTS",
           "LIMIT_MIN_POINTS", "MIN_POINTS", "correlate", "error_warnings",
           "errors_in_variables", "limit_intervals", "odr_line", "resampled_intervals",
           "york_line"]

#: Fewest points for which r, ρ, p and the line are reported (pearsonr/linregress need > 2
#: points for a p-value and a standard error that mean anything).
MIN_POINTS = 3

#: Default number of Monte-Carlo / bootstrap draws and the seed of their generator.
DEFAULT_DRAWS = 2000
DEFAULT_SEED = 0
#: Confidence level of the resampled intervals.
INTERVAL_LEVEL = 0.95
#: Values (draws × points) generated at a time by ``resampled_intervals``.
RESAMPLE_CHUNK = 500_000
#: ``errors_in_variables`` resamples at most this many values (draws × points): ~1 s. With more
#: points the draws are reduced, or (from LIMIT_MIN_POINTS points) the large-sample limit is
#: given instead, and ``eiv_note`` says so.
MAX_RESAMPLED_VALUES = 2_000_000
#: From this many points on, a request whose draws × points exceed MAX_RESAMPLED_VALUES gets
#: ``limit_intervals`` (the large-sample limit, O(n)) instead of fewer draws: at 10⁵ points the
#: budget would allow 20 draws, too few for a 95 % percentile interval.
LIMIT_MIN_POINTS = 1000
#: ODRPACK's time grows fast with the points (10⁵ points: ~30 s); above this York alone (the
#: same line for a straight-line model) is reported.
ODR_MAX_POINTS = 2000
#: A warning or note names at most this many points in its message.
WARN_NAMED = 10
#: A warning lists at most this many points in ``samples`` (``n_samples`` counts them all): a
#: 10⁵-sample lab without y errors would otherwise send 10⁵ names (2 MB) with every answer.
WARN_LISTED = 1000
#: Below this many points a correlation is flagged as weak evidence.
FEW_POINTS = 6
#: Up to this many points the Spearman p-value is also computed exactly (all n! pairings).
EXACT_MAX_POINTS = 8

_STAT_KEYS = ("pearson_r", "pearson_p", "spearman_r", "spearman_p", "spearman_p_exact",
              "slope", "slope_err", "intercept", "intercept_err")


def _num(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _as_array(values: Values | None, n: int, name: str) -> np.ndarray:
    """``values`` as floats, NaN where a value is missing, not a number or not finite (as
    ``_num``). One numpy conversion; value by value only for what numpy cannot read (text that
    is not a number, ``pd.NA``)."""
    if values is None:
        return np.full(n, np.nan)
    try:
        arr = np.array(values, dtype=float)
    except (TypeError, ValueError):
        arr = np.array([np.nan if _num(v) is None else float(v) for v in values], dtype=float)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"{name} has {arr.size} values but x has {n}")
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _flags(values: Values | None, n: int) -> np.ndarray:
    """Per point, whether its ``censored`` value is True or 1 (anything else: not censored)."""
    if values is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr.copy()
    if arr.dtype.kind in "iuf":
        return arr == 1
    return np.fromiter((c is True or c == 1 for c in values), dtype=bool, count=len(values))


def _group_names(groups: Values | None, n: int) -> np.ndarray:
    """``_group_name`` of every group value (object array; None where there is no group),
    computed once per distinct value."""
    if groups is None:
        return np.full(n, None, dtype=object)
    values = list(groups)
    try:
        names = {value: _group_name(value) for value in set(values)}
        out = [names[value] for value in values]
    except TypeError:  # an unhashable group value
        out = [_group_name(value) for value in values]
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    return arr


def _points(idx: np.ndarray, xs: np.ndarray, ys: np.ndarray, xe: np.ndarray, ye: np.ndarray,
            group_names: np.ndarray, labels: np.ndarray | None) -> list[dict[str, Any]]:
    """The point dicts of rows ``idx`` (finite x and y; a NaN error becomes None)."""
    label_list = [None] * idx.size if labels is None else labels[idx].tolist()
    return [{"x": x, "y": y, "x_err": None if x_err != x_err else x_err,
             "y_err": None if y_err != y_err else y_err, "group": group, "label": label}
            for x, y, x_err, y_err, group, label in zip(
                xs[idx].tolist(), ys[idx].tolist(), xe[idx].tolist(), ye[idx].tolist(),
                group_names[idx].tolist(), label_list)]


def _statistics(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """r, ρ, p-values and the least-squares line for finite, paired x/y."""
    out: dict[str, Any] = {"n": int(x.size), **dict.fromkeys(_STAT_KEYS), "note": ""}
    if x.size < MIN_POINTS:
        out["note"] = f"fewer than {MIN_POINTS} points with both values"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "x or y is constant: no correlation can be computed"
        return out
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    line = stats.linregress(x, y)
    out.update(pearson_r=_num(pearson.statistic), pearson_p=_num(pearson.pvalue),
               spearman_r=_num(spearman.statistic), spearman_p=_num(spearman.pvalue),
               spearman_p_exact=_spearman_exact_p(x, y),
               slope=_num(line.slope), slope_err=_num(line.stderr),
               intercept=_num(line.intercept), intercept_err=_num(line.intercept_stderr))
    if x.size < 10:
        out["note"] = (f"n = {x.size}: scipy's p-values are asymptotic and unreliable this small "
                       "(ρ = ±1 gives spearman_p = 0); see spearman_p_exact")
    return out


def _spearman_exact_p(x: np.ndarray, y: np.ndarray) -> float | None:
    """Two-sided exact permutation p-value of Spearman ρ (None above EXACT_MAX_POINTS).

    ρ is the Pearson correlation of the ranks (ties get mean ranks, as in scipy); every one of
    the n! orderings of the y ranks is scored at once with numpy.
    """
    if x.size > EXACT_MAX_POINTS:
        return None
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    perms = np.array(list(itertools.permutations(ry)))
    dx = rx - rx.mean()
    dy = perms - perms.mean(axis=1, keepdims=True)
    rho = (dy @ dx) / (np.sqrt((dx ** 2).sum()) * np.sqrt((dy ** 2).sum(axis=1)))
    observed = abs(stats.spearmanr(x, y).statistic)
    return _num(np.mean(np.abs(rho) >= observed - 1e-12))


def correlate(x: Values, y: Values, x_err: Values | None = None,
              y_err: Values | None = None, groups: Values | None = None, *,
              labels: Values | None = None, censored: Values | None = None,
              error_correlation: float = 0.0, draws: int = DEFAULT_DRAWS,
              seed: int = DEFAULT_SEED, points: slice | None = slice(None)) -> dict[str, Any]:
    """Correlation of ``y`` with ``x``, overall and per group.

    Args:
        x, y: paired values (same length; None/NaN allowed and dropped pairwise).
        x_err, y_err: optional 1σ errors per point, carried into ``points`` only.
        groups: optional group label per point (e.g. the architecture); per-group statistics
            are computed on each group's finite points. Points without a group are counted
            overall only.
        labels: optional name per point (e.g. the sample code), carried into ``points``.
        censored: optional truth value per point; True (a bound, not a value) leaves the point
            out and is counted in ``n_censored``.
        error_correlation, draws, seed: for the York fit and the resampled intervals (see
            ``errors_in_variables``); overall only, not per group.
        points: which of the used points (in input order) to return in ``points``: all by
            default, a slice for a page, None for none (``n`` still counts them all).

    Returns ``{"n", "pearson_r", "pearson_p", "spearman_r", "spearman_p", "spearman_p_exact",
    "slope", "slope_err", "intercept", "intercept_err", "note", "n_censored",
    "groups": {group: {same keys}}, "points": [{"x", "y", "x_err", "y_err", "group", "label"}],
    "york", "odr", "resampled", "warnings", "eiv_note"}`` (the last five: ``errors_in_variables``).
    Numbers are floats or None, never NaN.
    Raises ValueError when the sequences have different lengths.
    """
    n = len(x)
    xs, ys = _as_array(x, n, "x"), _as_array(y, n, "y")
    xe, ye = _as_array(x_err, n, "x_err"), _as_array(y_err, n, "y_err")
    if any(v is not None and len(v) != n for v in (groups, labels, censored)):
        raise ValueError("groups, labels and censored need one value per point")
    is_censored = _flags(censored, n)
    group_names = _group_names(groups, n)
    label_arr = None if labels is None else np.fromiter(labels, dtype=object, count=n)
    ok = np.isfinite(xs) & np.isfinite(ys) & ~is_censored
    used = np.flatnonzero(ok)
    result = _statistics(xs[ok], ys[ok])
    result["n_censored"] = int(is_censored.sum())
    per_group: dict[str, Any] = {}
    if groups is not None:
        for name in sorted({g for g in group_names[used].tolist() if g is not None}):
            per_group[name] = _statistics(xs[ok & (group_names == name)],
                                          ys[ok & (group_names == name)])
    result["groups"] = per_group
    result["points"] = ([] if points is None else
                        _points(used[points], xs, ys, xe, ye, group_names, label_arr))
    result.update(errors_in_variables(xs[ok], ys[ok], xe[ok], ye[ok],
                                      labels=None if label_arr is None else label_arr[used],
                                      error_correlation=error_correlation, draws=draws,
                                      seed=seed))
    return result


def _group_name(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


# --- errors in variables ---------------------------------------------------------------------

_YORK_TOL = 1e-15
_YORK_MAX_ITER = 200


def _sigma(err: ArrayLike | None, n: int) -> np.ndarray:
    """1σ errors as floats (NaN where missing); all NaN when there are none."""
    return np.full(n, np.nan) if err is None else np.asarray(err, dtype=float)


def _errors(err: np.ndarray) -> np.ndarray:
    """1σ errors as used by the fits: missing → 0 (the value is taken as exact), sign dropped."""
    return np.where(np.isfinite(err), np.abs(err), 0.0)


def york_line(x: ArrayLike, y: ArrayLike, x_err: ArrayLike, y_err: ArrayLike, *,
              error_correlation: float = 0.0) -> dict[str, Any]:
    """Straight line y = a + b·x through points with errors on both axes (York et al. 2004).

    York, Evensen, Martínez & De Basabe Delgado, Am. J. Phys. 72, 367 (2004), section III, in
    variance form so that an axis with error 0 is allowed (taken as exact) as long as no point
    has both errors 0: W_i = 1 / (σy_i² + b²σx_i² − 2·b·r·σx_i·σy_i), iterated from the
    least-squares slope until b changes by less than 1e-15 (relative).

    Args:
        x, y: values (any unit; the slope is in y-unit per x-unit).
        x_err, y_err: 1σ errors, same units; missing (None/NaN) counts as 0.
        error_correlation: r, the correlation of each point's x and y errors (−1…1).

    Returns ``{"slope", "slope_err", "intercept", "intercept_err", "slope_err_scaled",
    "intercept_err_scaled", "chi2", "reduced_chi2", "n", "iterations"}``: ``*_err`` are York's
    σ (from the stated errors alone), ``*_err_scaled`` the same times √(χ²/(n − 2)) (the
    scatter of the points beyond their errors, the convention of scipy.odr's ``sd_beta``).
    Raises ValueError with fewer than 3 points, a point with both errors 0, |r| > 1, or no
    convergence.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    vx, vy = _errors(np.asarray(x_err, dtype=float)) ** 2, _errors(np.asarray(y_err,
                                                                             dtype=float)) ** 2
    if xs.size < MIN_POINTS:
        raise ValueError(f"York fit needs at least {MIN_POINTS} points, got {xs.size}")
    if not -1.0 <= error_correlation <= 1.0:
        raise ValueError(f"error_correlation must be between -1 and 1, got {error_correlation}")
    if np.any((vx == 0) & (vy == 0)):
        raise ValueError("a point has neither an x nor a y error")
    cov = error_correlation * np.sqrt(vx * vy)
    b = float(stats.linregress(xs, ys).slope)
    iterations = 0
    while True:
        iterations += 1
        b_new = _york_step(xs, ys, vx, vy, cov, b)[-1]
        if not math.isfinite(b_new):
            raise ValueError("York fit is undefined for these errors (a point's weight "
                             "diverges, e.g. error correlation ±1)")
        converged = abs(b_new - b) <= _YORK_TOL * max(abs(b_new), 1.0)
        b = b_new
        if converged:
            break
        if iterations == _YORK_MAX_ITER:
            raise ValueError(f"York fit did not converge in {_YORK_MAX_ITER} iterations")
    # York 2004 eqs. 13a–b with the final b.
    weights, x_bar, y_bar, beta, _ = _york_step(xs, ys, vx, vy, cov, b)
    a = y_bar - b * x_bar
    adjusted = x_bar + beta
    adj_bar = np.average(adjusted, weights=weights)
    slope_var = 1.0 / np.sum(weights * (adjusted - adj_bar) ** 2)
    intercept_var = 1.0 / np.sum(weights) + adj_bar ** 2 * slope_var
    chi2 = float(np.sum(weights * (ys - b * xs - a) ** 2))
    if not (np.all(np.isfinite(weights) & (weights > 0)) and math.isfinite(slope_var * chi2)):
        raise ValueError("York fit is undefined for these errors (a point's weight diverges, "
                         "e.g. error correlation ±1)")
    scale = math.sqrt(chi2 / (xs.size - 2))
    return {"slope": b, "slope_err": math.sqrt(slope_var), "intercept": float(a),
            "intercept_err": math.sqrt(intercept_var),
            "slope_err_scaled": math.sqrt(slope_var) * scale,
            "intercept_err_scaled": math.sqrt(intercept_var) * scale,
            "chi2": chi2, "reduced_chi2": chi2 / (xs.size - 2), "n": int(xs.size),
            "iterations": iterations}


def _york_step(xs: np.ndarray, ys: np.ndarray, vx: np.ndarray, vy: np.ndarray,
               cov: np.ndarray, b: float) -> tuple[np.ndarray, float, float, np.ndarray, float]:
    """One York iteration at slope b: weights W, weighted means, β and the next slope
    (NaN/inf when a weight diverges; the caller rejects that)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 1.0 / (vy + b * b * vx - 2.0 * b * cov)
        x_bar = float(np.sum(weights * xs) / np.sum(weights))
        y_bar = float(np.sum(weights * ys) / np.sum(weights))
        u, v = xs - x_bar, ys - y_bar
        beta = weights * (u * vy + b * v * vx - (b * u + v) * cov)
        b_next = float(np.sum(weights * beta * v) / np.sum(weights * beta * u))
    return weights, x_bar, y_bar, beta, b_next


def odr_line(x: ArrayLike, y: ArrayLike, x_err: ArrayLike, y_err: ArrayLike) -> dict[str, Any]:
    """Orthogonal distance regression of y = a + b·x with ``scipy.odr`` (ODRPACK).

    Weights are 1/σ² on each axis (``RealData(sx=, sy=)``), starting from the least-squares
    line. ODRPACK needs a positive error on both axes of every point.

    Returns ``{"slope", "slope_err", "intercept", "intercept_err", "reduced_chi2", "n",
    "stop_reason"}``; the errors are scipy's ``sd_beta`` (scaled by √(χ²/(n − 2)), as York's
    ``*_err_scaled``). Raises ValueError with fewer than 3 points or a missing/zero error, or
    when ODRPACK reports that it failed.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sx, sy = np.asarray(x_err, dtype=float), np.asarray(y_err, dtype=float)
    if xs.size < MIN_POINTS:
        raise ValueError(f"ODR needs at least {MIN_POINTS} points, got {xs.size}")
    if not (np.all(np.isfinite(sx) & (sx > 0)) and np.all(np.isfinite(sy) & (sy > 0))):
        raise ValueError("ODR needs a positive x and y error for every point")
    odr = _scipy_odr()
    start = stats.linregress(xs, ys)
    output = odr.ODR(odr.RealData(xs, ys, sx=sx, sy=sy), odr.unilinear,
                     beta0=[start.slope, start.intercept]).run()
    if output.info > 3:  # ODRPACK: 1–3 converged; ≥ 4 problems (see Output.stopreason)
        raise ValueError(f"ODR failed: {'; '.join(output.stopreason)}")
    if not np.all(np.isfinite(np.r_[output.beta, output.sd_beta, output.res_var])):
        raise ValueError("ODR gave no finite line for these points")
    return {"slope": float(output.beta[0]), "slope_err": float(output.sd_beta[0]),
            "intercept": float(output.beta[1]), "intercept_err": float(output.sd_beta[1]),
            "reduced_chi2": float(output.res_var), "n": int(xs.size),
            "stop_reason": "; ".join(output.stopreason)}


def _scipy_odr() -> Any:
    # scipy.odr is deprecated in SciPy 1.17 (removal planned for 1.19, successor: the odrpack
    # package); it is the reference ODRPACK binding until then, so its warning is not news.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from scipy import odr
    return odr


def _label_array(labels: Values | None, n: int) -> np.ndarray | None:
    """``labels`` as an object array (one conversion; None stays None)."""
    if labels is None:
        return None
    arr = labels if isinstance(labels, np.ndarray) and labels.dtype == object else \
        np.fromiter(labels, dtype=object, count=n)
    if arr.size != n:
        raise ValueError(f"labels has {arr.size} values but x has {n}")
    return arr


def _names_at(labels: np.ndarray | None, idx: np.ndarray) -> list[str]:
    """The names of points ``idx``: the label as text, else "point i" (1-based). Only the
    points a message or a list names are named (not all 10⁵ of a lab)."""
    positions = idx.tolist()
    if labels is None:
        return [f"point {i + 1}" for i in positions]
    return [v if isinstance(v, str) else (str(v) if v is not None else f"point {i + 1}")
            for i, v in zip(positions, labels[idx].tolist())]


def _named(names: list[str], total: int) -> str:
    """``names`` (the first WARN_NAMED or more of ``total``) joined for a message, then how many
    more."""
    more = f", and {total - WARN_NAMED} more" if total > WARN_NAMED else ""
    return ", ".join(names[:WARN_NAMED]) + more


def _r_and_slope(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r and least-squares slope of each row of (draws × n) arrays; NaN where x or y
    of a row is constant."""
    dx = xs - xs.mean(axis=1, keepdims=True)
    dy = ys - ys.mean(axis=1, keepdims=True)
    sxx, syy, sxy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1), (dx * dy).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((sxx > 0) & (syy > 0), sxy / np.sqrt(sxx * syy), np.nan)
        slope = np.where(sxx > 0, sxy / sxx, np.nan)
    return r, slope


def _interval(values: np.ndarray, level: float) -> dict[str, Any]:
    kept = values[np.isfinite(values)]
    if kept.size == 0:
        return {"low": None, "high": None, "median": None}
    low, median, high = np.percentile(kept, [50 * (1 - level), 50, 50 * (1 + level)])
    return {"low": _num(low), "high": _num(high), "median": _num(median)}


def resampled_intervals(x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None = None,
                        y_err: ArrayLike | None = None, *, draws: int = DEFAULT_DRAWS,
                        seed: int = DEFAULT_SEED, level: float = INTERVAL_LEVEL
                        ) -> dict[str, Any]:
    """Percentile intervals of Pearson r and the least-squares slope under resampling.

    Three schemes, each with ``draws`` draws from ``numpy.random.default_rng(seed)`` (so the
    same call gives the same numbers):

    * ``within_errors``: every point moved by a normal deviate of its 1σ errors (missing → 0),
    * ``over_points``: the classic bootstrap, n points drawn with replacement,
    * ``both``: a bootstrap draw whose points are then moved within their errors.

    Draws whose x or y is constant give no r (e.g. a bootstrap draw repeating one point); they
    are left out and counted in ``n_degenerate``.

    Returns ``{"method": "resampling", "draws", "seed", "level", "<scheme>": {"r": {"low",
    "high", "median"}, "slope": {...}, "n_degenerate"}}``. Raises ValueError for fewer than
    MIN_POINTS points or draws < 1.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = xs.size
    if n < MIN_POINTS:
        raise ValueError(f"resampling needs at least {MIN_POINTS} points, got {n}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    sx, sy = _errors(_sigma(x_err, n)), _errors(_sigma(y_err, n))
    rng = np.random.default_rng(seed)
    schemes = ("within_errors", "over_points", "both")
    r = {k: np.empty(draws) for k in schemes}
    slope = {k: np.empty(draws) for k in schemes}
    # In chunks of ~RESAMPLE_CHUNK values: memory stays ~50 MB whatever draws × n is.
    rows = max(1, RESAMPLE_CHUNK // n)
    for start in range(0, draws, rows):
        size = min(rows, draws - start)
        z = rng.standard_normal((4, size, n))
        picks = rng.integers(0, n, size=(size, n))
        pairs = {"within_errors": (xs + sx * z[0], ys + sy * z[1]),
                 "over_points": (xs[picks], ys[picks]),
                 "both": (xs[picks] + sx[picks] * z[2], ys[picks] + sy[picks] * z[3])}
        for scheme, (dx, dy) in pairs.items():
            r[scheme][start:start + size], slope[scheme][start:start + size] = \
                _r_and_slope(dx, dy)
    out: dict[str, Any] = {"method": "resampling", "draws": int(draws), "seed": int(seed),
                           "level": level}
    for scheme in schemes:
        out[scheme] = {"r": _interval(r[scheme], level),
                       "slope": _interval(slope[scheme], level),
                       "n_degenerate": int(np.count_nonzero(~np.isfinite(r[scheme])))}
    return out


def _sum_moments(xs: np.ndarray, ys: np.ndarray, sx: np.ndarray, sy: np.ndarray
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per scheme, the mean (5) and covariance (5×5) of the sums (Σx, Σy, Σx², Σy², Σxy) of one
    resampling draw, exactly (no approximation yet), for centred x, y and 1σ errors sx, sy.

    A point moved within its errors, x + sx·z and y + sy·w (z, w independent standard normal),
    has term means m_i = (x, y, x² + sx², y² + sy², xy) and the covariance C_i written out
    below (from E z² = 1, E z³ = 0, E z⁴ = 3). ``within_errors``: the sums of the n moved points
    (mean Σ m_i, covariance Σ C_i); ``over_points``: n points drawn with replacement (mean
    Σ t_i, covariance n × the population covariance of the terms t_i); ``both``: n drawn points
    then moved (mean Σ m_i, covariance Σ C_i + n × the population covariance of the m_i).
    """
    n = xs.size
    vx, vy = sx * sx, sy * sy
    xx, yy, xy = xs * xs, ys * ys, xs * ys
    terms = np.stack([xs, ys, xx, yy, xy])
    moved = terms.copy()
    moved[2] += vx
    moved[3] += vy
    c = np.zeros((5, 5))
    c[0, 0], c[1, 1] = vx.sum(), vy.sum()
    c[0, 2], c[0, 4] = 2 * (xs @ vx), ys @ vx
    c[1, 3], c[1, 4] = 2 * (ys @ vy), xs @ vy
    c[2, 2] = 4 * (xx @ vx) + 2 * (vx @ vx)
    c[3, 3] = 4 * (yy @ vy) + 2 * (vy @ vy)
    c[2, 4], c[3, 4] = 2 * (xy @ vx), 2 * (xy @ vy)
    c[4, 4] = xx @ vy + yy @ vx + vx @ vy
    within = np.triu(c) + np.triu(c, 1).T
    moved_sum = moved.sum(axis=1)
    return {"within_errors": (moved_sum, within),
            "over_points": (terms.sum(axis=1), n * np.cov(terms, bias=True)),
            "both": (moved_sum, within + n * np.cov(moved, bias=True))}


def _delta_r_and_slope(mean: np.ndarray, cov: np.ndarray, n: int
                       ) -> tuple[float, float, float, float]:
    """Pearson r and the least-squares slope at the mean sums, and their standard deviations
    by the delta method (first-order propagation of the sums' covariance); NaN when x or y
    has no spread."""
    a, b, c, d, e = mean
    sxx, syy, sxy = c - a * a / n, d - b * b / n, e - a * b / n
    if not (sxx > 0 and syy > 0):
        return math.nan, math.nan, math.nan, math.nan
    g_sxx = np.array([-2 * a / n, 0.0, 1.0, 0.0, 0.0])
    g_syy = np.array([0.0, -2 * b / n, 0.0, 1.0, 0.0])
    g_sxy = np.array([-b / n, -a / n, 0.0, 0.0, 1.0])
    r, slope = sxy / math.sqrt(sxx * syy), sxy / sxx
    g_r = g_sxy / math.sqrt(sxx * syy) - 0.5 * r * (g_sxx / sxx + g_syy / syy)
    g_slope = (g_sxy - slope * g_sxx) / sxx
    sd_r = math.sqrt(max(float(g_r @ cov @ g_r), 0.0))
    sd_slope = math.sqrt(max(float(g_slope @ cov @ g_slope), 0.0))
    return r, sd_r, slope, sd_slope


def limit_intervals(x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None = None,
                    y_err: ArrayLike | None = None, *, level: float = INTERVAL_LEVEL
                    ) -> dict[str, Any]:
    """The large-sample limit of ``resampled_intervals``: the same three schemes, each
    interval from the exact mean and covariance of the five sums r and the slope are made of
    (``_sum_moments``), propagated by the delta method — r through Fisher's z = atanh r (so
    the interval stays inside −1…1), the slope as a normal interval. As n grows the resampled
    percentile intervals converge to these; from ~10³ points they agree to Monte-Carlo
    precision (tested against 4000 draws), at O(n) cost instead of O(draws × n).

    Returns the shape of ``resampled_intervals`` with ``"method": "delta_method"``,
    ``draws``/``seed`` None and ``n_degenerate`` 0. Raises ValueError for fewer than
    MIN_POINTS points.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = xs.size
    if n < MIN_POINTS:
        raise ValueError(f"intervals need at least {MIN_POINTS} points, got {n}")
    sx, sy = _errors(_sigma(x_err, n)), _errors(_sigma(y_err, n))
    # r and the slope do not change when x or y is shifted: centring keeps the sums small.
    xs, ys = xs - xs.mean(), ys - ys.mean()
    k = float(stats.norm.ppf(0.5 + level / 2))
    out: dict[str, Any] = {"method": "delta_method", "draws": None, "seed": None,
                           "level": level}
    for scheme, (mean, cov) in _sum_moments(xs, ys, sx, sy).items():
        r, sd_r, slope, sd_slope = _delta_r_and_slope(mean, cov, n)
        out[scheme] = {"r": _fisher_interval(r, sd_r, k),
                       "slope": {"low": _num(slope - k * sd_slope),
                                 "high": _num(slope + k * sd_slope), "median": _num(slope)},
                       "n_degenerate": 0}
    return out


def _fisher_interval(r: float, sd_r: float, k: float) -> dict[str, Any]:
    """r ± k·σ on Fisher's z scale (σ_z = σ_r / (1 − r²)), back in r."""
    if not math.isfinite(r):
        return {"low": None, "high": None, "median": None}
    if sd_r == 0.0 or abs(r) >= 1.0:
        return {"low": _num(r), "high": _num(r), "median": _num(r)}
    z, sd_z = math.atanh(r), sd_r / (1.0 - r * r)
    return {"low": _num(math.tanh(z - k * sd_z)), "high": _num(math.tanh(z + k * sd_z)),
            "median": _num(r)}


def error_warnings(x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None, y_err: ArrayLike | None,
                   labels: Values | None = None) -> list[dict[str, Any]]:
    """What a reader must know before trusting a correlation of these points.

    ``{"kind", "message", "samples", "n_samples"}`` each, in this order: ``few_points``
    (n < FEW_POINTS), ``relative_error_over_100_pct`` (|σ/value| > 1 on either axis, value ≠ 0;
    the message names the first WARN_NAMED points with their relative errors),
    ``missing_errors`` (an axis with no error for some points). ``samples`` lists the points
    concerned (sorted by name for the relative errors, in input order for missing errors), at
    most WARN_LISTED of them; ``n_samples`` counts them all (each point's errors are in the
    answer's ``points``).
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = xs.size
    label_arr = _label_array(labels, n)
    out: list[dict[str, Any]] = []
    if n < FEW_POINTS:
        out.append({"kind": "few_points", "samples": [], "n_samples": 0, "message": (
            f"only {n} point{'s' if n != 1 else ''} (fewer than {FEW_POINTS}): r, p and the "
            "line rest on very few samples; read the resampled intervals.")})
    flagged_any: list[np.ndarray] = []
    parts: list[str] = []
    n_parts = 0
    for axis, values, err in (("x", xs, x_err), ("y", ys, y_err)):
        sig = _sigma(err, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(sig) / np.abs(values)
        # A value of exactly 0 has no relative error (it would be ∞ for any σ): not flagged.
        flagged = np.flatnonzero(np.isfinite(rel) & (rel > 1))
        flagged_any.append(flagged)
        n_parts += flagged.size
        shown = flagged[:max(0, WARN_NAMED - len(parts))]
        for i, name in zip(shown.tolist(), _names_at(label_arr, shown)):
            parts.append(f"{name}: {axis} = {values[i]:.4g} ± {abs(sig[i]):.4g} "
                         f"({100 * rel[i]:.0f} %)")
    if n_parts:
        big = sorted(set(_names_at(label_arr, np.union1d(*flagged_any))))
        more = f"; and {n_parts - WARN_NAMED} more" if n_parts > WARN_NAMED else ""
        out.append({"kind": "relative_error_over_100_pct", "samples": big[:WARN_LISTED],
                    "n_samples": len(big),
                    "message": "relative error above 100 % — " + "; ".join(parts) + more + "."})
    for axis, err in (("x", x_err), ("y", y_err)):
        sig = _sigma(err, n)
        lacking = np.flatnonzero(~np.isfinite(sig))
        if lacking.size:
            out_of = "all" if lacking.size == n else f"{lacking.size} of {n}"
            out.append({"kind": "missing_errors",
                        "samples": _names_at(label_arr, lacking[:WARN_LISTED]),
                        "n_samples": int(lacking.size), "message": (
                f"{axis} has no stored error for {out_of} points: taken as exact (error 0) "
                "in the York fit and the within-error resampling; ODR needs both errors.")})
    return out


def _intervals_within_budget(xs: np.ndarray, ys: np.ndarray, xe: np.ndarray, ye: np.ndarray,
                             draws: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """``resampled_intervals`` when ``draws`` × n fits MAX_RESAMPLED_VALUES; above it, from
    LIMIT_MIN_POINTS points on, their large-sample limit (``limit_intervals``), below that the
    draws reduced to fit; either way a note in ``notes`` says what was done."""
    n = xs.size
    if draws * n <= MAX_RESAMPLED_VALUES:
        return resampled_intervals(xs, ys, xe, ye, draws=draws, seed=seed)
    if n >= LIMIT_MIN_POINTS:
        notes.append(f"Intervals: {draws} draws × {n} points would be {draws * n:,} resampled "
                     f"values (at most {MAX_RESAMPLED_VALUES:,} per request), so the three "
                     "schemes are given by their large-sample limit (delta method on the exact "
                     "mean and covariance of the sums, r through Fisher's z), to which the "
                     "resampled percentile intervals converge; ask for at most "
                     f"{MAX_RESAMPLED_VALUES // n} draws to resample.")
        return limit_intervals(xs, ys, xe, ye)
    used = max(1, MAX_RESAMPLED_VALUES // n)
    notes.append(f"Resampling: {used} draws instead of {draws} for {n} points (at "
                 f"most {MAX_RESAMPLED_VALUES:,} resampled values per request).")
    return resampled_intervals(xs, ys, xe, ye, draws=used, seed=seed)


def errors_in_variables(x: ArrayLike, y: ArrayLike, x_err: ArrayLike | None,
                        y_err: ArrayLike | None, *, labels: Values | None = None,
                        error_correlation: float = 0.0, draws: int = DEFAULT_DRAWS,
                        seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The fits and intervals that use the error bars, for finite paired points.

    Returns ``{"york", "odr", "resampled", "warnings", "eiv_note"}``: ``york`` and ``odr`` are
    the dicts of ``york_line`` / ``odr_line`` or None (``eiv_note`` says why), ``resampled``
    the dict of ``resampled_intervals`` or None, ``warnings`` the list of ``error_warnings``.
    Points with neither error are left out of the York fit (``eiv_note`` counts them and names
    the first WARN_NAMED).
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = xs.size
    xe, ye = _sigma(x_err, n), _sigma(y_err, n)
    label_arr = _label_array(labels, n)
    notes: list[str] = []
    out: dict[str, Any] = {"york": None, "odr": None, "resampled": None,
                           "warnings": error_warnings(xs, ys, xe, ye, label_arr)}
    usable = (_errors(xe) > 0) | (_errors(ye) > 0)
    if not usable.all():
        left_out = np.flatnonzero(~usable)
        named = _named(_names_at(label_arr, left_out[:WARN_NAMED]), left_out.size)
        notes.append(f"York: left out {left_out.size} point(s) with neither an x nor a y "
                     f"error ({named}).")
    for key, fit, mask in (("york", york_line, usable), ("odr", odr_line, np.ones(n, bool))):
        if key == "odr" and n > ODR_MAX_POINTS:
            notes.append(f"ODR: not computed above {ODR_MAX_POINTS} points (York gives the "
                         "same straight line).")
            continue
        try:
            kwargs = {"error_correlation": error_correlation} if key == "york" else {}
            out[key] = fit(xs[mask], ys[mask], xe[mask], ye[mask], **kwargs)
        except ValueError as exc:
            name, text = ("York" if key == "york" else "ODR"), str(exc)
            notes.append(f"{text}." if text.startswith(name) else f"{name}: {text}.")
    if n >= MIN_POINTS and np.ptp(xs) > 0 and np.ptp(ys) > 0:
        out["resampled"] = _intervals_within_budget(xs, ys, xe, ye, draws, seed, notes)
    else:
        notes.append(f"Resampled intervals need at least {MIN_POINTS} points with varying x "
                     "and y.")
    out["eiv_note"] = " ".join(notes)
    return out
