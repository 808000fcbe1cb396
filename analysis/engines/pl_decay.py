"""TCSPC photoluminescence decay fitting: 1–4 exponentials, tail fit or IRF reconvolution.

Units: time in ns (channel start times of a uniform TCSPC histogram), counts per channel,
lifetimes ``tau_ns`` in ns, the IRF shift ``shift_ns`` in ns, the background in counts per
channel. Amplitudes are in counts per channel: for a tail fit the component's counts at the
start of the fit range; for a reconvolution the counts a δ-excitation would give at t = 0
(the IRF is normalized to unit area).

Models (``y_k`` the counts of channel k, ``t_k`` its start time, Δ the channel width):

* **tail fit** (no IRF): ``m_k = B + Σᵢ aᵢ exp(−(t_k − t₀)/τᵢ)``, t₀ the first time of the
  fit range (default: from the peak channel to the end);
* **reconvolution** with a measured IRF: the IRF's own baseline (median of the channels
  before its rise) is subtracted, it is normalized to unit area and its cumulative sum C(t)
  (a monotone cubic, PCHIP, through its channel edges) gives the IRF on the decay's channels
  shifted by
s: ``w_k(s) = C(t_k + Δ − s) − C(t_k − s)`` (rebinning and a sub-channel shift in one,
  area-conserving); then ``m_k = B + Σᵢ aᵢ Σ_{j≤k} w_j(s) exp(−(t_k − t_j)/τᵢ)`` over every
  channel, compared with the data inside the fit range (default: the whole decay).

Estimation: Poisson-weighted least squares (weights 1/max(y, 1), scipy ``least_squares``,
trf with bounds aᵢ ≥ 0, τᵢ > 0, B ≥ 0) or maximum likelihood (the Poisson deviance
``2 Σ [m − y + y ln(y/m)]`` minimized, started from the least-squares solution).
Standard errors: least squares ``cov = (JᵀWJ)⁻¹ · χ²ᵥ`` (the scipy ``curve_fit`` /
lmfit default), maximum likelihood the inverse Fisher information ``(Jᵀ diag(1/m) J)⁻¹``;
J = ∂m/∂θ by central differences. χ²ᵥ = Σ (y − m)²/max(y, 1) / (N − p), weighted residuals
(y − m)/√max(y, 1); also the Pearson χ²ᵥ with the model as variance, Σ (y − m)²/m / (N − p),
which stays near 1 for a right model when many channels hold few counts (the data-weighted
χ²ᵥ then exceeds 1, and the data weights bias a low background down by about a count: use
maximum likelihood there). Mean lifetimes (``uncertainties``, covariance propagated):
amplitude-weighted ``Σaτ/Σa`` and intensity-weighted ``Σaτ²/Σaτ``.

Every input-caused failure raises :class:`labdb.lib.errors.EngineError` naming the field
(``inputs.decay``, ``inputs.irf``, ``parameters.<name>``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import least_squares, nnls
from scipy.signal import lfilter
from uncertainties import correlated_values

from analysis.engines._json import json_float as _f
from analysis.engines._json import json_floats as _floats
from labdb.lib.errors import EngineError

ENGINE_NAME = "labdb.pl_decay"
ENGINE_VERSION = "1.0"

MAX_EXPONENTIALS = 4
METHODS = ("least_squares", "mle")
#: Fewer channels than this in a decay cannot be a TCSPC histogram.
MIN_CHANNELS = 3
#: Channel widths may differ by this fraction (the exports print 6–8 digits).
UNIFORM_RTOL = 1e-4

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class Decay:
    """One TCSPC histogram: channel start times (ns, uniform) and counts per channel."""

    time_ns: np.ndarray
    counts: np.ndarray
    label: str = "decay"
    simulated: bool = False


@dataclass(frozen=True)
class DecayOptions:
    """How to fit.

    ``fit_range_ns``: [start, end] in ns (None: from the peak to the end for a tail fit, the
    whole decay for a reconvolution). ``fit_shift``: fit the IRF shift (start value
    ``shift_ns``, or the rise-time difference of decay and IRF when None); otherwise the shift
    is fixed at ``shift_ns`` (0 when None). ``fit_background``: fit B, otherwise B is fixed at
    ``background_counts``. ``initial_taus_ns``: start values of the lifetimes (None: from a
    log-linear fit of the tail).
    """

    n_exponentials: int = 1
    method: str = "least_squares"
    fit_range_ns: tuple[float, float] | None = None
    fit_shift: bool = True
    shift_ns: float | None = None
    fit_background: bool = True
    background_counts: float = 0.0
    initial_taus_ns: tuple[float, ...] | None = None


def check_histogram(decay: Decay, field: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(time_ns, counts, channel width Δ in ns) of a valid histogram.

    EngineError naming ``field`` for fewer than 3 channels, unequal lengths, non-uniform or
    non-increasing times, non-finite or negative counts, or no counts at all.
    """
    t = np.asarray(decay.time_ns, dtype=float).ravel()
    y = np.asarray(decay.counts, dtype=float).ravel()
    if t.size < MIN_CHANNELS or t.size != y.size:
        raise EngineError(f"{field}: {decay.label} has {t.size} times and {y.size} counts; a "
                          f"decay needs at least {MIN_CHANNELS} equal-length channels",
                          field=field)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise EngineError(f"{field}: {decay.label} holds non-numeric times or counts",
                          field=field)
    steps = np.diff(t)
    step = float(np.mean(steps))
    if not step > 0 or np.max(np.abs(steps - step)) > UNIFORM_RTOL * step + 1e-9:
        raise EngineError(f"{field}: {decay.label} is not a TCSPC histogram: its times (ns) "
                          "must increase in equal channel steps", field=field)
    if np.any(y < 0):
        raise EngineError(f"{field}: {decay.label} has negative counts ({y.min():g}); photon "
                          "counts are ≥ 0 (was a background already subtracted?)", field=field)
    if not y.sum() > 0:
        raise EngineError(f"{field}: {decay.label} has no counts (every channel is 0)",
                          field=field)
    return t, y, step


# ---------------------------------------------------------------- the IRF


@dataclass(frozen=True)
class PreparedIrf:
    """The IRF as the model uses it: its channel edges (ns) and normalized cumulative sum."""

    edges_ns: np.ndarray
    cumulative: np.ndarray
    background_counts: float
    rise_ns: float
    label: str
    cdf: Any = None  # PchipInterpolator of cumulative vs edges_ns


def prepare_irf(irf: Decay) -> PreparedIrf:
    """Baseline-subtract (median of the channels before the rise, i.e. before the first
    channel above 10 % of the maximum; 0 with fewer than 3 such channels), clip at 0,
    normalize to unit area, cumulate. EngineError naming ``inputs.irf`` when nothing is left.
    """
    t, y, step = check_histogram(irf, "inputs.irf")
    first = int(np.argmax(y > 0.1 * y.max()))
    baseline = float(np.median(y[:first])) if first >= 3 else 0.0
    net = np.clip(y - baseline, 0.0, None)
    if not net.sum() > 0:
        raise EngineError(f"inputs.irf: {irf.label} has no counts above its baseline "
                          f"({baseline:g})", field="inputs.irf")
    edges = np.append(t, t[-1] + step)
    cumulative = np.concatenate([[0.0], np.cumsum(net) / net.sum()])
    return PreparedIrf(edges, cumulative, baseline, _rise_time(t, net), irf.label,
                       PchipInterpolator(edges, cumulative))


def irf_on_grid(irf: PreparedIrf, time_ns: np.ndarray, step_ns: float,
                shift_ns: float) -> np.ndarray:
    """The IRF's fraction of photons in each decay channel [t_k, t_k + Δ) after a shift of
    ``shift_ns`` (positive: later). C(t) is the monotone cubic (PCHIP) through the cumulative
    sum at the IRF's channel edges, 0 before and 1 after them: the model is then smooth in
    the shift (a piecewise-linear C would put a kink at every whole-channel shift)."""
    lo = _cdf(irf, time_ns - shift_ns)
    hi = _cdf(irf, time_ns + step_ns - shift_ns)
    return np.clip(hi - lo, 0.0, None)


def _cdf(irf: PreparedIrf, t: np.ndarray) -> np.ndarray:
    inside = np.clip(t, irf.edges_ns[0], irf.edges_ns[-1])
    return np.asarray(irf.cdf(inside))


def _rise_time(t: np.ndarray, net: np.ndarray) -> float:
    """Start time of the first channel at half the maximum of ``net`` (ns)."""
    return float(t[int(np.argmax(net >= 0.5 * net.max()))])


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Problem:
    time_ns: np.ndarray
    counts: np.ndarray
    step_ns: float
    window: np.ndarray  # bool mask of the fit range
    n: int
    irf: PreparedIrf | None
    options: DecayOptions
    names: tuple[str, ...]  # the free parameters

    def full(self, theta: np.ndarray) -> dict[str, float]:
        """Every model parameter, free ones from ``theta``, fixed ones from the options."""
        values = dict(zip(self.names, (float(v) for v in theta), strict=True))
        values.setdefault("background_counts", self.options.background_counts)
        values.setdefault("shift_ns", self.options.shift_ns or 0.0)
        return values

    def model(self, theta: np.ndarray) -> np.ndarray:
        """Counts per channel of the fit range for parameters ``theta``."""
        p = self.full(theta)
        amps = np.array([p[f"amplitude_{i}"] for i in range(1, self.n + 1)])
        taus = [p[f"tau_{i}_ns"] for i in range(1, self.n + 1)]
        return p["background_counts"] + self.components(taus, p["shift_ns"]) @ amps

    def components(self, taus: Sequence[float], shift_ns: float) -> np.ndarray:
        """Unit-amplitude exponentials over the fit range, one column per τ (ns)."""
        if self.irf is None:
            t = self.time_ns[self.window]
            return np.column_stack([np.exp(-(t - t[0]) / tau) for tau in taus])
        w = irf_on_grid(self.irf, self.time_ns, self.step_ns, shift_ns)
        # Σ_{j≤k} w_j q^(k−j) with q = exp(−Δ/τ): a first-order recursive filter
        return np.column_stack([lfilter([1.0], [1.0, -math.exp(-self.step_ns / tau)], w)
                                for tau in taus])[self.window]


def check_fit(decay: Decay, irf: Decay | None, options: DecayOptions) -> None:
    """Every check ``fit_decay`` makes before fitting (histograms, IRF, n_exponentials,
    method, fit range, channels vs free parameters); EngineError naming the field."""
    _problem(decay, irf, options)


def _problem(decay: Decay, irf: Decay | None, options: DecayOptions) -> _Problem:
    if not 1 <= options.n_exponentials <= MAX_EXPONENTIALS:
        raise EngineError(f"parameters.n_exponentials: {options.n_exponentials} exponentials "
                          f"asked; between 1 and {MAX_EXPONENTIALS} are fitted",
                          field="parameters.n_exponentials")
    if options.method not in METHODS:
        raise EngineError(f"parameters.method: {options.method!r} is not one of "
                          f"{', '.join(METHODS)}", field="parameters.method")
    t, y, step = check_histogram(decay, "inputs.decay")
    prepared = prepare_irf(irf) if irf is not None else None
    window = _window(t, y, options, reconvolution=prepared is not None)
    n = options.n_exponentials
    names = [f"amplitude_{i}" for i in range(1, n + 1)]
    names += [f"tau_{i}_ns" for i in range(1, n + 1)]
    if options.fit_background:
        names.append("background_counts")
    if prepared is not None and options.fit_shift:
        names.append("shift_ns")
    if int(window.sum()) <= len(names):
        raise EngineError(f"parameters.fit_range_ns: the fit range holds {int(window.sum())} "
                          f"channels; {len(names)} free parameters need more",
                          field="parameters.fit_range_ns")
    return _Problem(t, y, step, window, n, prepared, options, tuple(names))


def _window(t: np.ndarray, y: np.ndarray, options: DecayOptions, *,
            reconvolution: bool) -> np.ndarray:
    if options.fit_range_ns is None:
        start = t[0] if reconvolution else t[int(np.argmax(y))]
        return t >= start
    lo, hi = (float(v) for v in options.fit_range_ns)
    if not lo < hi:
        raise EngineError(f"parameters.fit_range_ns: {lo:g}–{hi:g} ns, the start must be "
                          "below the end", field="parameters.fit_range_ns")
    if hi < t[0] or lo > t[-1]:
        raise EngineError(f"parameters.fit_range_ns: {lo:g}–{hi:g} ns lies outside the decay "
                          f"({t[0]:g}–{t[-1]:g} ns)", field="parameters.fit_range_ns")
    window = (t >= lo) & (t <= hi)
    if not y[window].sum() > 0:
        raise EngineError(f"parameters.fit_range_ns: the decay has no counts between {lo:g} "
                          f"and {hi:g} ns", field="parameters.fit_range_ns")
    return window


# ---------------------------------------------------------------- start values and bounds


def _tail_tau_ns(t: np.ndarray, y: np.ndarray, background: float, step: float) -> float:
    """One lifetime from a straight line through ln(counts − background) after the peak."""
    k = int(np.argmax(y))
    tt, net = t[k:], y[k:] - background
    good = net > max(1.0, 0.05 * net.max())
    if good.sum() < 3:
        return 3.0 * step
    slope = np.polyfit(tt[good], np.log(net[good]), 1)[0]
    span = float(t[-1] - t[0])
    return float(np.clip(-1.0 / slope, step, span)) if slope < 0 else span / 3.0


def _bounds(problem: _Problem, shift_guess: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of the free parameters: a ≥ 0, Δ/10 ≤ τ ≤ 100 × window, 0 ≤ B ≤ max
    counts, the shift within ±max(10 Δ, 5 ns) of its start value."""
    span = float(problem.time_ns[-1] - problem.time_ns[0])
    step = problem.step_ns
    reach = max(10 * step, 5.0)
    lower = {"background_counts": 0.0, "shift_ns": shift_guess - reach}
    upper = {"background_counts": float(problem.counts.max()), "shift_ns": shift_guess + reach}
    for i in range(1, problem.n + 1):
        lower[f"amplitude_{i}"], upper[f"amplitude_{i}"] = 0.0, np.inf
        lower[f"tau_{i}_ns"], upper[f"tau_{i}_ns"] = 0.1 * step, 100 * span
    return (np.array([lower[k] for k in problem.names]),
            np.array([upper[k] for k in problem.names]))


def _linear_part(problem: _Problem, taus: Sequence[float],
                 shift_ns: float) -> tuple[np.ndarray, float, float]:
    """(amplitudes, background, cost) minimising the weighted χ² for fixed τ's and shift
    (non-negative least squares: the amplitudes and B enter the model linearly)."""
    opts = problem.options
    y = problem.counts[problem.window]
    sw = np.sqrt(_weights(problem))
    basis = problem.components(taus, shift_ns)
    target = y if opts.fit_background else y - opts.background_counts
    if opts.fit_background:
        basis = np.column_stack([basis, np.ones(y.size)])
    coef, norm = nnls(basis * sw[:, None], target * sw, maxiter=50 * basis.shape[1])
    background = float(coef[-1]) if opts.fit_background else opts.background_counts
    return coef[: problem.n], background, 0.5 * float(norm) ** 2


def _tau_sets(problem: _Problem) -> list[list[float]]:
    """Start lifetimes: the given ones, or a spread of sets around a log-linear tail estimate
    (scaled down too: with a reconvolution the tail mixes the IRF's own tail in)."""
    opts, n = problem.options, problem.n
    if opts.initial_taus_ns:
        return [[float(v) for v in opts.initial_taus_ns]]
    tail = problem.counts[-max(3, problem.counts.size // 10):]
    tau0 = _tail_tau_ns(problem.time_ns, problem.counts, float(np.median(tail)),
                        problem.step_ns)
    sets = []
    for scale in (1.0, 0.3, 0.1):
        for spread in ((1.0,) if n == 1 else (4.0, 10.0)):
            sets.append([tau0 * scale * spread ** (i - (n - 1) / 2) for i in range(n)])
    return sets


def _starts(problem: _Problem) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Up to three start vectors (best weighted χ² first) with their bounds: every τ set ×
    shift candidate (the rise-time difference ± 4 channels, half-channel steps), amplitudes
    and background solved linearly for each."""
    opts = problem.options
    fit_shift = "shift_ns" in problem.names
    guess = opts.shift_ns if opts.shift_ns is not None else 0.0
    if fit_shift and opts.shift_ns is None:
        assert problem.irf is not None
        tail = problem.counts[-max(3, problem.counts.size // 10):]
        net = np.clip(problem.counts - np.median(tail), 0.0, None)
        guess = _rise_time(problem.time_ns, net) - problem.irf.rise_ns
    shifts = guess + problem.step_ns * np.arange(-4, 4.5, 0.5) if fit_shift else [guess]
    lower, upper = _bounds(problem, guess)
    span = float(problem.time_ns[-1] - problem.time_ns[0])
    tried = []
    for taus in _tau_sets(problem):
        taus = [float(np.clip(t, 0.2 * problem.step_ns, 50 * span)) for t in taus]
        for shift in shifts:
            amps, background, cost = _linear_part(problem, taus, float(shift))
            amps = np.maximum(amps, 1e-3 * max(float(amps.max()), 1.0))  # no start on a bound
            values = {"background_counts": max(background, 1e-3), "shift_ns": float(shift)}
            for i in range(problem.n):
                values[f"amplitude_{i + 1}"] = float(amps[i])
                values[f"tau_{i + 1}_ns"] = taus[i]
            tried.append((cost, np.array([values[k] for k in problem.names])))
    tried.sort(key=lambda item: item[0])
    return [(x0, lower, upper) for _, x0 in tried[:3]]


# ---------------------------------------------------------------- the fit


def _weights(problem: _Problem) -> np.ndarray:
    return 1.0 / np.maximum(problem.counts[problem.window], 1.0)


def _pearson(problem: _Problem, theta: np.ndarray) -> np.ndarray:
    y = problem.counts[problem.window]
    return (y - problem.model(theta)) * np.sqrt(_weights(problem))


def _deviance_terms(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    m = np.maximum(m, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_term = np.where(y > 0, y * np.log(y / m), 0.0)
    return 2.0 * (m - y + log_term)


def _deviance_residual(problem: _Problem, theta: np.ndarray) -> np.ndarray:
    y = problem.counts[problem.window]
    m = problem.model(theta)
    return np.sign(y - m) * np.sqrt(np.maximum(_deviance_terms(y, m), 0.0))


def _solve(problem: _Problem, residual: Callable[[_Problem, np.ndarray], np.ndarray],
           x0: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Any:
    pad = 1e-6 * np.maximum(np.abs(np.where(np.isfinite(upper), upper, x0)), 1.0)
    x0 = np.clip(x0, lower + pad, np.where(np.isfinite(upper), upper - pad, np.inf))
    return least_squares(lambda th: residual(problem, th), x0, bounds=(lower, upper),
                         method="trf", x_scale="jac", ftol=1e-10, xtol=1e-10, gtol=1e-10,
                         max_nfev=3000)


def _best_least_squares(problem: _Problem,
                        progress: Progress) -> tuple[Any, np.ndarray, np.ndarray]:
    """The lowest-χ² least-squares solution from the best start vectors."""
    best = None
    starts = _starts(problem)
    for k, (x0, lower, upper) in enumerate(starts):
        progress(10 + 50 * k // len(starts), f"least squares from start {k + 1}/{len(starts)}")
        out = _solve(problem, _pearson, x0, lower, upper)
        if best is None or out.cost < best[0].cost:
            best = (out, lower, upper)
    assert best is not None
    return best


def _model_jacobian(problem: _Problem, theta: np.ndarray) -> np.ndarray:
    """∂m/∂θ over the fit range by central differences (relative steps)."""
    cols = []
    for i, value in enumerate(theta):
        h = 1e-6 * max(abs(value), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        cols.append((problem.model(up) - problem.model(down)) / (2 * h))
    return np.column_stack(cols)


def _covariance(problem: _Problem, theta: np.ndarray, method: str,
                reduced_chi: float) -> np.ndarray | None:
    jac = _model_jacobian(problem, theta)
    if method == "mle":
        info = jac.T @ (jac / np.maximum(problem.model(theta), 1e-12)[:, None])
        scale = 1.0
    else:
        info = jac.T @ (jac * _weights(problem)[:, None])
        scale = reduced_chi
    try:
        cov = np.linalg.inv(info) * scale
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) < 0):
        return None
    return cov


def fit_decay(decay: Decay, irf: Decay | None = None, *, options: DecayOptions,
              progress: Progress | None = None) -> dict[str, Any]:
    """Fit ``decay`` with ``options.n_exponentials`` exponentials, reconvolved with ``irf``
    when given (a tail fit otherwise).

    Returns JSON: ``model`` (e.g. "2-exponential, IRF reconvolution"), ``method``,
    ``components`` sorted by τ (amplitude ± err, tau_ns ± err, amplitude and intensity
    fractions), ``background_counts`` ± err, ``shift_ns`` ± err (reconvolution),
    ``amplitude_weighted_tau_ns`` / ``intensity_weighted_tau_ns`` with ``_err_ns``,
    ``chi_square``, ``reduced_chi_square``, ``pearson_reduced_chi_square``, ``deviance``,
    ``n_points``, ``n_varys``,
    ``fit_range_ns``, ``parameters`` (free-parameter names) and ``covariance``, ``arrays``
    (time_ns, counts, fit_time_ns, fit, weighted_residual, irf_scaled), ``warnings``,
    ``engine``, ``versions``.

    Raises EngineError naming the field: a decay or IRF without counts or not a histogram,
    n_exponentials outside 1–4, a fit range outside the data or with too few channels, a fit
    that does not converge or whose covariance cannot be computed.
    """
    report = progress or (lambda pct, msg: None)
    problem = _problem(decay, irf, options)
    report(5, f"fitting {decay.label} with {problem.n} exponential(s)")
    out, lower, upper = _best_least_squares(problem, report)
    if options.method == "mle":
        report(70, "maximum likelihood (Poisson deviance) from the least-squares solution")
        out = _solve(problem, _deviance_residual, out.x, lower, upper)
    if not out.success:
        raise EngineError(f"parameters.n_exponentials: the {problem.n}-exponential fit of "
                          f"{decay.label} did "
                          f"not converge ({out.message}); try fewer exponentials or another "
                          "fit range", field="parameters.n_exponentials")
    report(85, "errors from the covariance, mean lifetimes")
    return _result(problem, out.x, decay, irf, lower, upper)


def _result(problem: _Problem, theta: np.ndarray, decay: Decay, irf: Decay | None,
            lower: np.ndarray, upper: np.ndarray) -> dict[str, Any]:
    opts = problem.options
    y = problem.counts[problem.window]
    m = problem.model(theta)
    resid = _pearson(problem, theta)
    chi2 = float(resid @ resid)
    dof = int(y.size - theta.size)
    reduced = chi2 / dof
    cov = _covariance(problem, theta, opts.method, reduced)
    if cov is None:
        raise EngineError(f"parameters.n_exponentials: the {problem.n}-exponential fit of "
                          f"{decay.label} leaves parameters undetermined (singular covariance); "
                          "fit fewer exponentials", field="parameters.n_exponentials")
    err = np.sqrt(np.diag(cov))
    index = {name: i for i, name in enumerate(problem.names)}
    params = problem.full(theta)
    result: dict[str, Any] = {
        "decay": {"label": decay.label, "simulated": decay.simulated},
        "irf": None if problem.irf is None else {
            "label": problem.irf.label, "background_counts": problem.irf.background_counts,
            "simulated": bool(irf is not None and irf.simulated)},
        "model": model_name(problem.n, reconvolution=problem.irf is not None),
        "method": opts.method, "n_exponentials": problem.n,
        **_lifetimes(problem, theta, cov),
        **{key: _f(params[key]) for key in ("background_counts", "shift_ns")},
        "background_err_counts": _err(err, index, "background_counts"),
        "shift_err_ns": _err(err, index, "shift_ns"),
        "chi_square": _f(chi2), "reduced_chi_square": _f(reduced),
        "pearson_reduced_chi_square": _f(float(np.sum((y - m) ** 2 / np.maximum(m, 1e-12)))
                                         / dof),
        "deviance": _f(float(_deviance_terms(y, m).sum())),
        "n_points": int(y.size), "n_varys": int(theta.size),
        "fit_range_ns": [_f(problem.time_ns[problem.window][0]),
                         _f(problem.time_ns[problem.window][-1])],
        "parameters": list(problem.names), "values": _floats(theta),
        "covariance": [_floats(row) for row in cov],
        "arrays": _arrays(problem, theta, m, resid),
        "warnings": _warnings(problem, theta, lower, upper, reduced),
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "versions": software_versions(),
    }
    if problem.irf is None:
        result["shift_ns"] = None
    return result


def _err(err: np.ndarray, index: dict[str, int], name: str) -> float | None:
    return _f(err[index[name]]) if name in index else None


def model_name(n: int, *, reconvolution: bool) -> str:
    """"2-exponential, IRF reconvolution" / "1-exponential tail fit"."""
    return f"{n}-exponential, IRF reconvolution" if reconvolution else f"{n}-exponential tail fit"


def _lifetimes(problem: _Problem, theta: np.ndarray, cov: np.ndarray) -> dict[str, Any]:
    """Components sorted by τ and the two mean lifetimes, covariance propagated."""
    n = problem.n
    idx = [problem.names.index(f"amplitude_{i}") for i in range(1, n + 1)]
    idx += [problem.names.index(f"tau_{i}_ns") for i in range(1, n + 1)]
    sub = cov[np.ix_(idx, idx)]
    values = correlated_values([float(theta[i]) for i in idx], sub)
    amps, taus = values[:n], values[n:]
    order = sorted(range(n), key=lambda i: taus[i].nominal_value)
    amp_sum = sum(amps)
    int_sum = sum(a * t for a, t in zip(amps, taus, strict=True))
    tau_amp = int_sum / amp_sum
    tau_int = sum(a * t * t for a, t in zip(amps, taus, strict=True)) / int_sum
    components = []
    for position, i in enumerate(order, start=1):
        a_frac = amps[i] / amp_sum
        i_frac = amps[i] * taus[i] / int_sum
        components.append({
            "position": position,
            "amplitude": _f(amps[i].nominal_value), "amplitude_err": _f(amps[i].std_dev),
            "tau_ns": _f(taus[i].nominal_value), "tau_err_ns": _f(taus[i].std_dev),
            "amplitude_fraction": _f(a_frac.nominal_value),
            "amplitude_fraction_err": _f(a_frac.std_dev),
            "intensity_fraction": _f(i_frac.nominal_value),
            "intensity_fraction_err": _f(i_frac.std_dev),
        })
    return {"components": components,
            "amplitude_weighted_tau_ns": _f(tau_amp.nominal_value),
            "amplitude_weighted_tau_err_ns": _f(tau_amp.std_dev),
            "intensity_weighted_tau_ns": _f(tau_int.nominal_value),
            "intensity_weighted_tau_err_ns": _f(tau_int.std_dev)}


def _arrays(problem: _Problem, theta: np.ndarray, m: np.ndarray,
            resid: np.ndarray) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "time_ns": _floats(problem.time_ns), "counts": _floats(problem.counts),
        "fit_time_ns": _floats(problem.time_ns[problem.window]), "fit": _floats(m),
        "weighted_residual": _floats(resid), "irf_scaled": None,
    }
    if problem.irf is not None:
        shift = problem.full(theta)["shift_ns"]
        w = irf_on_grid(problem.irf, problem.time_ns, problem.step_ns, shift)
        if w.max() > 0:  # scaled to the decay's peak for the plot only
            arrays["irf_scaled"] = _floats(w * problem.counts.max() / w.max())
    return arrays


def _warnings(problem: _Problem, theta: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              reduced: float) -> list[str]:
    out = []
    for name, value, lo, hi in zip(problem.names, theta, lower, upper, strict=True):
        if np.isclose(value, lo, rtol=1e-6, atol=1e-9) or np.isclose(value, hi, rtol=1e-6):
            out.append(f"{name} is at its bound ({value:.4g}); its error is not meaningful")
    taus = sorted(theta[problem.names.index(f"tau_{i}_ns")] for i in range(1, problem.n + 1))
    if any(b / a < 1.05 for a, b in zip(taus, taus[1:], strict=False)):
        out.append("two lifetimes coincide within 5 %: fewer exponentials describe the decay")
    if taus[0] < problem.step_ns:
        out.append(f"the shortest lifetime ({taus[0]:.3g} ns) is below one channel "
                   f"({problem.step_ns:.3g} ns)")
    if reduced > 1.5:
        out.append(f"χ²ᵥ = {reduced:.3g}: the model does not describe the decay within Poisson "
                   "noise")
    return out


def software_versions() -> dict[str, str]:
    """numpy, scipy and uncertainties versions (provenance)."""
    out = {}
    for name in ("numpy", "scipy", "uncertainties"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "?"
    return out


def mean_lifetimes_ns(amplitudes: Sequence[float], taus_ns: Sequence[float]) -> tuple[float,
                                                                                     float]:
    """(amplitude-weighted Σaτ/Σa, intensity-weighted Σaτ²/Σaτ) in ns, without errors."""
    a = np.asarray(amplitudes, dtype=float)
    t = np.asarray(taus_ns, dtype=float)
    return float((a * t).sum() / a.sum()), float((a * t * t).sum() / (a * t).sum())
