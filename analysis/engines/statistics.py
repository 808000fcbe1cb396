"""Correlation statistics for structure–property questions (pure: numpy + scipy, no Django).

``correlate`` answers "does y track x?" with the numbers a chemist expects to see side by side:
Pearson r (linear), Spearman ρ (monotonic, rank based), an ordinary least-squares line with the
standard errors of slope and intercept, all overall and per group. Every number comes straight
from ``scipy.stats`` (``pearsonr``, ``spearmanr``, ``linregress``) so it can be checked by calling
scipy on the same points.

Measurement errors (``x_err``, ``y_err``) are carried into ``points`` for plotting; the line is an
*unweighted* least-squares fit — stated here because published errors are often missing for some
points and weighting by a partial set would silently change the estimator.

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
from scipy import stats

__all__ = ["EXACT_MAX_POINTS", "MIN_POINTS", "correlate"]

#: Fewest points for which r, ρ, p and the line are reported (pearsonr/linregress need > 2
#: points for a p-value and a standard error that mean anything).
MIN_POINTS = 3

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


def _as_array(values: Sequence | None, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.array([np.nan if _num(v) is None else float(v) for v in values], dtype=float)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} values but x has {n}")
    return arr


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


def correlate(x: Sequence, y: Sequence, x_err: Sequence | None = None,
              y_err: Sequence | None = None, groups: Sequence | None = None, *,
              labels: Sequence | None = None,
              censored: Sequence | None = None) -> dict[str, Any]:
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

    Returns ``{"n", "pearson_r", "pearson_p", "spearman_r", "spearman_p", "spearman_p_exact",
    "slope", "slope_err", "intercept", "intercept_err", "note", "n_censored",
    "groups": {group: {same keys}}, "points": [{"x", "y", "x_err", "y_err", "group", "label"}]}``.
    Numbers are floats or None, never NaN.
    Raises ValueError when the sequences have different lengths.
    """
    xs = _as_array(x, len(x), "x")
    ys = _as_array(y, len(x), "y")
    xe = _as_array(x_err, len(x), "x_err")
    ye = _as_array(y_err, len(x), "y_err")
    group_list = list(groups) if groups is not None else [None] * len(x)
    label_list = list(labels) if labels is not None else [None] * len(x)
    censored_list = list(censored) if censored is not None else [False] * len(x)
    if len(group_list) != len(x) or len(label_list) != len(x) or len(censored_list) != len(x):
        raise ValueError("groups, labels and censored need one value per point")
    is_censored = np.array([c is True or c == 1 for c in censored_list], dtype=bool)
    ok = np.isfinite(xs) & np.isfinite(ys) & ~is_censored
    result = _statistics(xs[ok], ys[ok])
    result["n_censored"] = int(is_censored.sum())
    points = [{"x": float(xs[i]), "y": float(ys[i]), "x_err": _num(xe[i]), "y_err": _num(ye[i]),
               "group": _group_name(group_list[i]), "label": label_list[i]}
              for i in np.flatnonzero(ok)]
    per_group: dict[str, Any] = {}
    if groups is not None:
        names = sorted({p["group"] for p in points if p["group"] is not None})
        for name in names:
            mask = ok & np.array([_group_name(g) == name for g in group_list])
            per_group[name] = _statistics(xs[mask], ys[mask])
    result["groups"] = per_group
    result["points"] = points
    return result


def _group_name(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
