"""Interdiffusion kinetics of cation exchange: Fickian diffusion into a sphere, and Arrhenius.

Model (Crank, *The Mathematics of Diffusion*, 2nd ed., §6.3.1): a sphere of radius a whose
surface is held at a constant concentration from t = 0, uniform initial concentration inside.
The fraction of the final uptake reached at time t is (Crank eq. 6.20)

    F(t) = M_t/M_∞ = 1 − (6/π²) Σ_{n≥1} (1/n²) exp(−n² π² D t / a²)

and, for small τ = D t / a² (Crank eq. 6.21),

    F(t) = 6 τ^½ [π^−½ + 2 Σ_{n≥1} ierfc(n/τ^½)] − 3 τ.

The nanocrystal's guest-cation fraction (e.g. Hg/(Hg+Cd), from ICP-OES or EDS) is then

    x(t) = x_0 + (x_∞ − x_0) · F(t)

with x_0 the parent's fraction (0 for CdSe) and x_∞ the plateau (1 for complete exchange, or
fitted). This is the model seed 004 fits to composition over time (its Supplementary Note 1,
ref. 39: Gupta et al., Nano Lett. 22, 6545 (2022)).

Series evaluation: for τ ≥ 0.01 the sum of eq. 6.20 is truncated after N terms with the tail
bound (6/π²)·exp(−(N+1)²π²τ)/N < ``SERIES_TOL`` (1e-12); for τ < 0.01 eq. 6.21 is used, whose
ierfc terms are below 1e-45 there (n/τ^½ ≥ 10), so both branches are exact to ~1e-12.

Fit: lmfit least squares of x(t) over log10 D (and x_∞, x_0 when asked), started from the best
point of a grid over log10 D ∈ [−29.5, −6.5] (cm² s⁻¹); a result outside that range (no change
of composition over the sampled times, or complete exchange before the first one) is refused.
Weighted by the compositions' errors when every point has one (covariance not rescaled),
unweighted otherwise (covariance scaled by χ²ᵥ, lmfit's default).
D's error: σ_D = D·ln10·σ(log10 D).

Arrhenius: ln D = ln D_0 − E_a/(k_B T), a straight line in 1/(k_B T) (eV⁻¹): weighted by
σ(ln D) = σ_D/D when every D has an error (absolute weights), otherwise ordinary least squares
with the standard errors of ``scipy.stats.linregress``.

Units: time in s (inputs and outputs also in min), radius in nm, D in cm² s⁻¹ (and m² s⁻¹),
temperature in K (and °C), E_a in eV, fractions dimensionless (0…1).
Errors: :class:`labdb.lib.errors.EngineError` with a sentence naming the field
(``times_min``, ``radius_nm``, ``compositions``, ``vary_x0``, ``runs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np
from scipy import special

from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.interdiffusion"
ENGINE_VERSION = "1.0"

K_B_EV_PER_K = 8.617333262e-5  # Boltzmann constant, eV K⁻¹ (CODATA 2018)
SERIES_TOL = 1e-12
SMALL_TAU = 0.01  # below: Crank eq. 6.21 (short times); at or above: eq. 6.20
LOG10_D_BOUNDS = (-30.0, -6.0)  # cm² s⁻¹
NM2_TO_CM2 = 1e-14
MIN_POINTS = 3


def _software() -> dict[str, str]:
    import scipy

    return {"numpy": np.__version__, "scipy": scipy.__version__, "lmfit": lmfit.__version__}


def _ierfc(z: np.ndarray) -> np.ndarray:
    """First repeated integral of erfc: exp(−z²)/√π − z·erfc(z)."""
    return np.exp(-z * z) / math.sqrt(math.pi) - z * special.erfc(z)


def _series_terms(tau_min: float) -> int:
    """Terms of eq. 6.20 needed for τ ≥ tau_min so that the tail is below SERIES_TOL."""
    n = 1
    while 6.0 / math.pi**2 * math.exp(-((n + 1) ** 2) * math.pi**2 * tau_min) / n >= SERIES_TOL:
        n += 1
    return n


def fraction_exchanged(tau: Sequence[float] | np.ndarray) -> np.ndarray:
    """F = M_t/M_∞ of diffusion into a sphere at reduced times τ = D t / a² (≥ 0), to 1e-12."""
    tau = np.asarray(tau, dtype=float)
    if np.any(tau < 0) or not np.all(np.isfinite(tau)):
        raise EngineError("reduced time D·t/a² must be finite and ≥ 0.")
    out = np.empty_like(tau)
    small = tau < SMALL_TAU
    if np.any(small):
        ts = tau[small]
        root = np.sqrt(ts)
        tail = np.zeros_like(ts)
        positive = root > 0
        for n in (1, 2, 3):  # ierfc(n/√τ) < 1e-45 for n/√τ ≥ 10: kept for completeness
            tail[positive] += _ierfc(n / root[positive])
        out[small] = 6.0 * root * (1.0 / math.sqrt(math.pi) + 2.0 * tail) - 3.0 * ts
    if np.any(~small):
        tl = tau[~small]
        orders = np.arange(1, _series_terms(float(tl.min())) + 1, dtype=float)
        terms = np.exp(-np.outer(tl, orders**2) * math.pi**2) / orders**2
        out[~small] = 1.0 - 6.0 / math.pi**2 * terms.sum(axis=1)
    return out


def composition_at(
    time_s: Sequence[float] | np.ndarray, *, d_cm2_s: float, radius_nm: float,
    x0_frac: float, x_inf_frac: float,
) -> np.ndarray:
    """x(t) = x_0 + (x_∞ − x_0)·F(D t / a²); t in s, D in cm² s⁻¹, a in nm."""
    a_cm2 = (radius_nm**2) * NM2_TO_CM2
    tau = d_cm2_s * np.asarray(time_s, dtype=float) / a_cm2
    return x0_frac + (x_inf_frac - x0_frac) * fraction_exchanged(tau)


def fraction_from_ratios(
    ratios: Mapping[str, Any], *, element: str, host: str, key: str = ""
) -> tuple[float, float | None, str]:
    """The guest fraction x = element/(element+host) and its error (or None) read from a
    composition record's ``ratios``, and the key(s) it came from.

    Looked up in this order: ``key`` when given (a fraction, or a percentage when the key ends
    in ``_pct`` or contains ``%``); ``El/(El+Ho)``, ``El/(Ho+El)``, ``x_El``, ``El_frac``;
    ``El_at_pct`` with ``Ho_at_pct``; ``El/Ho`` (x = r/(1+r)). An error is ``<key>_err`` in
    the same units. EngineError when none is there or the value is not a number in 0…1.
    """
    def number(name: str) -> float | None:
        value = ratios.get(name)
        if value is None or isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def err_of(name: str, scale: float = 1.0) -> float | None:
        e = number(f"{name}_err")
        return None if e is None else abs(e) * scale

    found: tuple[float, float | None, str] | None = None
    if key:
        value = number(key)
        if value is None:
            raise EngineError(f"has no number under {key!r} (keys: {', '.join(ratios) or 'none'}).")
        scale = 0.01 if key.endswith("_pct") or "%" in key else 1.0
        found = (value * scale, err_of(key, scale), key)
    else:
        for name in (f"{element}/({element}+{host})", f"{element}/({host}+{element})",
                     f"x_{element}", f"{element}_frac"):
            value = number(name)
            if value is not None:
                found = (value, err_of(name), name)
                break
    if found is None:
        guest, other = number(f"{element}_at_pct"), number(f"{host}_at_pct")
        if guest is not None and other is not None and guest + other > 0:
            total = guest + other
            eg, eo = err_of(f"{element}_at_pct"), err_of(f"{host}_at_pct")
            err = (None if eg is None or eo is None
                   else math.hypot(other * eg, guest * eo) / total**2)
            found = (guest / total, err, f"{element}_at_pct, {host}_at_pct")
    if found is None:
        r = number(f"{element}/{host}")
        if r is not None and r >= 0:
            e = err_of(f"{element}/{host}")
            found = (r / (1 + r), None if e is None else e / (1 + r) ** 2, f"{element}/{host}")
    if found is None:
        raise EngineError(
            f"gives no {element} fraction: expected {element}/({element}+{host}), "
            f"{element}_at_pct with {host}_at_pct, or {element}/{host} in its ratios "
            f"(it has: {', '.join(ratios) or 'none'}).")
    value, err, name = found
    if not (0.0 <= value <= 1.0) or not math.isfinite(value):
        raise EngineError(f"{element} fraction {value:g} (from {name}) is outside 0…1.")
    return value, err, name


@dataclass(frozen=True)
class CompositionPoint:
    """One aliquot: reaction time (s), guest fraction (0…1) with optional 1σ error, label."""

    time_s: float
    x_frac: float
    x_err_frac: float | None = None
    label: str = ""
    key: str = ""


@dataclass(frozen=True)
class DiffusionOptions:
    radius_nm: float
    x0_frac: float = 0.0
    x_inf_frac: float = 1.0
    vary_x0: bool = False
    vary_x_inf: bool = False
    n_curve: int = 200


def _check_points(points: Sequence[CompositionPoint], options: DiffusionOptions) -> None:
    if not (options.radius_nm > 0 and math.isfinite(options.radius_nm)):
        raise EngineError(f"radius_nm: expected a positive radius in nm, got {options.radius_nm}.",
                          field="radius_nm")
    times = [p.time_s for p in points]
    if any(not math.isfinite(t) or t < 0 for t in times):
        raise EngineError("times_min: every reaction time must be ≥ 0.", field="times_min")
    if len(set(times)) < MIN_POINTS:
        raise EngineError(
            f"times_min: a diffusion coefficient needs compositions at ≥ {MIN_POINTS} "
            f"different reaction times; got {len(set(times))}.", field="times_min")
    n_varied = 1 + int(options.vary_x0) + int(options.vary_x_inf)
    if len(points) <= n_varied:
        raise EngineError(
            f"vary_x0: {n_varied} fitted parameters need more than {n_varied} points; got "
            f"{len(points)} — fix x0_frac or x_inf_frac.", field="vary_x0")


def _params(log10_d: float, options: DiffusionOptions) -> lmfit.Parameters:
    # log10 D unbounded (the grid start is inside LOG10_D_BOUNDS and the result is checked):
    # a bounded parameter at its range's midpoint has internal value 0, where leastsq's
    # relative Jacobian step is 0. A fitted fraction starts inside its bounds for the same
    # reason (at a bound the transformed derivative vanishes).
    params = lmfit.Parameters()
    params.add("log10_d", value=log10_d)
    for name, value, vary in (("x0", options.x0_frac, options.vary_x0),
                              ("x_inf", options.x_inf_frac, options.vary_x_inf)):
        if vary:
            params.add(name, value=min(max(value, 1e-3), 1 - 1e-3), min=0.0, max=1.0)
        else:
            params.add(name, value=value, vary=False)
    return params


def fit_interdiffusion(points: Sequence[CompositionPoint], options: DiffusionOptions) -> dict:
    """Fit D (and optionally x_∞, x_0) of x(t) = x_0 + (x_∞ − x_0)·F(D t/a²) to ``points``.

    Returns plain JSON: ``d_cm2_s`` ± ``d_err_cm2_s`` (also m² s⁻¹, log10), ``x0_frac``,
    ``x_inf_frac`` (± err when varied), χ², χ²ᵥ, the points with model and residual, a model
    curve for plotting, the half-exchange time and the series tolerance. EngineError naming
    ``times_min``, ``radius_nm``, ``vary_x0`` or ``compositions`` for unusable input.
    """
    _check_points(points, options)
    t = np.array([p.time_s for p in points], dtype=float)
    x = np.array([p.x_frac for p in points], dtype=float)
    errs = [p.x_err_frac for p in points]
    weighted = all(e is not None and e > 0 for e in errs)
    sigma = np.array(errs, dtype=float) if weighted else np.ones_like(x)

    def model(params: lmfit.Parameters) -> np.ndarray:
        v = params.valuesdict()
        return composition_at(t, d_cm2_s=10.0 ** v["log10_d"], radius_nm=options.radius_nm,
                              x0_frac=v["x0"], x_inf_frac=v["x_inf"])

    def residual(params: lmfit.Parameters) -> np.ndarray:
        return (x - model(params)) / sigma

    grid = np.arange(LOG10_D_BOUNDS[0] + 0.5, LOG10_D_BOUNDS[1] - 0.5 + 1e-9, 0.05)
    ssr = [float(np.sum(residual(_params(g, options)) ** 2)) for g in grid]
    start = float(grid[int(np.argmin(ssr))])
    result = lmfit.minimize(residual, _params(start, options), method="leastsq",
                            scale_covar=not weighted)
    best = result.params
    log10_d = float(best["log10_d"].value)
    lo, hi = LOG10_D_BOUNDS
    if not (lo + 0.5 <= log10_d <= hi - 0.5) or not math.isfinite(log10_d):
        raise EngineError(
            "compositions: the fraction does not change over the sampled times (or is complete "
            f"before the first aliquot); D is not determined (fit reached 1e{log10_d:.0f} "
            "cm² s⁻¹).", field="compositions")
    return _diffusion_result(points, options, best, result, weighted, model(best))


def _stderr(param: lmfit.Parameter) -> float | None:
    err = param.stderr
    return float(err) if param.vary and err is not None and math.isfinite(err) else None


def _diffusion_result(points: Sequence[CompositionPoint], options: DiffusionOptions,
                      best: lmfit.Parameters, result: Any, weighted: bool,
                      fitted: np.ndarray) -> dict:
    log10_d = float(best["log10_d"].value)
    d = 10.0**log10_d
    log_err = _stderr(best["log10_d"])
    d_err = None if log_err is None else d * math.log(10.0) * log_err
    x0, x_inf = float(best["x0"].value), float(best["x_inf"].value)
    a_cm2 = options.radius_nm**2 * NM2_TO_CM2
    # F(τ½) = 1/2 at τ½ = 0.030 4…: found on the exact F, not a rule of thumb.
    from scipy.optimize import brentq

    tau_half = brentq(lambda s: float(fraction_exchanged([s])[0]) - 0.5, 1e-6, 1.0, xtol=1e-14)
    t_max = max(p.time_s for p in points)
    curve_t = np.linspace(0.0, t_max * 1.1 if t_max > 0 else 1.0, options.n_curve)
    curve_x = composition_at(curve_t, d_cm2_s=d, radius_nm=options.radius_nm, x0_frac=x0,
                             x_inf_frac=x_inf)
    n_free = int(result.nvarys)
    chi2 = float(result.chisqr)
    dof = len(points) - n_free
    return {
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "software": _software(),
        "model": "Fickian diffusion into a sphere, constant surface concentration "
                 "(Crank eq. 6.20)",
        "d_cm2_s": d, "d_err_cm2_s": d_err,
        "d_m2_s": d * 1e-4, "d_err_m2_s": None if d_err is None else d_err * 1e-4,
        "log10_d_cm2_s": log10_d, "log10_d_err": log_err,
        "x0_frac": x0, "x0_err_frac": _stderr(best["x0"]), "vary_x0": options.vary_x0,
        "x_inf_frac": x_inf, "x_inf_err_frac": _stderr(best["x_inf"]),
        "vary_x_inf": options.vary_x_inf,
        "radius_nm": options.radius_nm,
        "weighted": weighted,
        "chi_square": chi2, "reduced_chi_square": chi2 / dof if dof > 0 else None,
        "n_points": len(points), "n_varied": n_free,
        "half_exchange_time_s": tau_half * a_cm2 / d,
        "half_exchange_time_min": tau_half * a_cm2 / d / 60.0,
        "series_tolerance": SERIES_TOL,
        "points": [{"time_s": p.time_s, "time_min": p.time_s / 60.0, "x_frac": p.x_frac,
                    "x_err_frac": p.x_err_frac, "label": p.label, "key": p.key,
                    "model_frac": float(m), "residual_frac": float(p.x_frac - m)}
                   for p, m in zip(points, fitted, strict=True)],
        "curve": {"time_min": (curve_t / 60.0).tolist(), "x_frac": curve_x.tolist()},
    }


# ---------------------------------------------------------------- Arrhenius


@dataclass(frozen=True)
class DiffusionAtTemperature:
    """One D (cm² s⁻¹, 1σ error or None) at a temperature (K)."""

    temperature_k: float
    d_cm2_s: float
    d_err_cm2_s: float | None = None
    label: str = ""


def fit_arrhenius(values: Sequence[DiffusionAtTemperature], *, weighted: bool = True) -> dict:
    """ln D = ln D_0 − E_a/(k_B T): E_a (eV) ± err, D_0 (cm² s⁻¹) ± err, their covariance.

    ``weighted`` (and every D with an error): weights 1/σ(ln D)², absolute (not rescaled);
    otherwise ordinary least squares with linregress's standard errors (needs ≥ 3
    temperatures). EngineError naming ``runs`` for < 2 (or 3) distinct temperatures or a
    non-positive D or T.
    """
    if any(not (v.temperature_k > 0) or not (v.d_cm2_s > 0) for v in values):
        raise EngineError("runs: every run needs a positive temperature and a positive D.",
                          field="runs")
    inv_kt = np.array([1.0 / (K_B_EV_PER_K * v.temperature_k) for v in values])
    ln_d = np.array([math.log(v.d_cm2_s) for v in values])
    use_weights = weighted and all(v.d_err_cm2_s for v in values)
    need = 2 if use_weights else 3
    if len({round(v.temperature_k, 6) for v in values}) < need:
        raise EngineError(
            f"runs: an Arrhenius fit{' with error bars' if not use_weights else ''} needs "
            f"interdiffusion runs at ≥ {need} different temperatures.", field="runs")
    if use_weights:
        sigma = np.array([float(v.d_err_cm2_s or 0) / v.d_cm2_s for v in values])
    else:
        sigma = np.ones_like(ln_d)
    design = np.column_stack([np.ones_like(inv_kt), inv_kt]) / sigma[:, None]
    coef, *_ = np.linalg.lstsq(design, ln_d / sigma, rcond=None)
    intercept, slope = float(coef[0]), float(coef[1])
    resid = ln_d - (intercept + slope * inv_kt)
    chi2 = float(np.sum((resid / sigma) ** 2))
    dof = len(values) - 2
    cov = np.linalg.inv(design.T @ design)
    if not use_weights:
        cov = cov * (chi2 / dof)
    s_int, s_slope = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    d0 = math.exp(intercept)
    line_x = np.linspace(inv_kt.min(), inv_kt.max(), 50)
    return {
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "software": _software(),
        "model": "ln D = ln D0 − Ea/(kB T)",
        "weighted": bool(use_weights),
        "activation_energy_ev": -slope, "activation_energy_err_ev": s_slope,
        "ln_d0": intercept, "ln_d0_err": s_int,
        "d0_cm2_s": d0, "d0_err_cm2_s": d0 * s_int,
        "cov_ln_d0_slope": float(cov[0, 1]),
        "chi_square": chi2, "reduced_chi_square": chi2 / dof if dof > 0 else None,
        "n_points": len(values),
        "points": [{"label": v.label, "temperature_k": v.temperature_k,
                    "temperature_c": v.temperature_k - 273.15, "inv_kt_per_ev": float(ix),
                    "d_cm2_s": v.d_cm2_s, "d_err_cm2_s": v.d_err_cm2_s, "ln_d": float(y),
                    "ln_d_err": (float(v.d_err_cm2_s) / v.d_cm2_s) if v.d_err_cm2_s else None}
                   for v, ix, y in zip(values, inv_kt, ln_d, strict=True)],
        "line": {"inv_kt_per_ev": line_x.tolist(),
                 "ln_d": (intercept + slope * line_x).tolist()},
    }
