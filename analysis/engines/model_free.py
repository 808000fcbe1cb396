"""Model-free EXAFS fit of one shell (seed 002): amplitude and phase taken from a reference
spectrum instead of FEFF, N, Δσ², ΔR and ΔE0 of an unknown found by differential evolution,
repeated M times to give the distribution of each parameter.

Method
------
1. **Fourier filter** (larch ``xftf`` then ``xftr``): χ(k)·kʷ·W(k) → χ(R) → keep the shell's
   R-window Ω(R) (Hanning, ``rmin_a``–``rmax_a``, taper ``dr_a``) → complex χ̃(q). The same
   filter is applied to the reference and to the unknown.
2. **Amplitude and phase of the reference shell** on the k grid of the filter where the k-window
   is flat (``kmin + dk/2`` … ``kmax − dk/2``, Hanning), so dividing by W(k) is exact:

       A_ref(k) = |χ̃_ref(k)| / (kʷ W(k)),     Φ_ref(k) = unwrap(arg χ̃_ref(k)) + π/2

   so that Re χ̃_ref / (kʷ W) = A_ref(k)·sin Φ_ref(k) (eqn 2 of seed 002). A_ref carries the
   reference's N_ref, S0², f(k), 1/(kR_ref²), exp(−2σ²_ref k²) and exp(−2R/λ); Φ_ref carries
   2kR_ref + δ(k).
3. **Model of the unknown's filtered shell** (eqn 1–3 of seed 002 relative to the reference):

       χ(k) = (N/N_ref) · (R_ref/(R_ref+ΔR))² · A_ref(k') · exp(−2k'²Δσ²)
              · sin(Φ_ref(k') + 2k'ΔR),          k' = √(k² − ΔE0·2m/ħ²)

   ΔE0 follows feffit's sign convention (``e0``: k' = √(k² − ΔE0·0.2625 eV⁻¹Å⁻²)); the change of
   the mean free path term with ΔR is neglected (|ΔR| ≪ λ ≈ 5–10 Å).
4. **Fit**: ``scipy.optimize.differential_evolution`` within the given bounds minimises
   SSR = Σ_k [kʷ (χ_unknown,filtered(k) − χ_model(k))]² over the flat part of the k-window
   (population evaluated in one vectorised numpy call, then polished by L-BFGS-B).
5. **Repeats**: repeat i (0 … M−1) runs differential evolution with the seed sequence
   ``(seed, i)``. A single dataset makes every repeat converge to the same minimum, so repeat i
   also adds a fresh Gaussian noise realisation to the raw χ(k) of the reference *and* of the
   unknown before filtering (a parametric bootstrap; ``noise`` mode):
   ``measured`` — σ = ε_k from larch ``estimate_noise`` (|χ(R)| at 15–25 Å);
   ``scaled`` (default) — ε_k × √χ²_ν when the noise-free fit leaves more than the noise would
   (χ²_ν = SSR / expected noise SSR × N_idp/(N_idp − 4), N_idp = 1 + 2ΔkΔR/π; the Ifeffit
   convention for error bars), so the spread also covers what the model cannot fit (e.g. two
   scans of one sample that differ by more than their high-R noise);
   ``none`` — no noise: the spread only shows how reproducibly the optimiser finds the minimum.

Results: mean, SD, quantiles (2.5/16/50/84/97.5 %) and a histogram per parameter, derived
σ² = σ²_ref + Δσ² and R = R_ref + ΔR, every repeat's values and SSR. Same inputs and seed →
identical numbers (bit for bit on one machine and library set).

Units: k in Å⁻¹, R and ΔR in Å, σ² and Δσ² in Å², ΔE0 in eV, N and χ dimensionless.
Errors: :class:`labdb.lib.errors.EngineError` naming the offending field
(``r_window``, ``k_range``, ``bounds.<name>``, ``reference``/``unknown``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labdb.lib.errors import EngineError

from ._larch import larch, software_versions

ENGINE_NAME = "labdb.model_free"
ENGINE_VERSION = "1.0.0"

#: 2m/ħ² in eV⁻¹ Å⁻² (larch ``ETOK``): k² = ETOK·(E − E0).
ETOK = 0.2624682843
#: Fourier transform grid (larch defaults).
KSTEP_INV_A = 0.05
NFFT = 2048
#: High-R range (Å) where |χ(R)| is taken as noise (as larch's estimate_noise, kept below
#: the 25.6 Å that nfft = 2048 with kstep 0.05 reaches).
NOISE_R_A = (15.0, 25.0)
#: Fitted parameters, in this order everywhere (bounds, samples, arrays).
PARAMETERS = ("n", "delta_sigma2_a2", "delta_r_a", "delta_e0_ev")
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "n": (0.0, 12.0),
    "delta_sigma2_a2": (-0.01, 0.03),
    "delta_r_a": (-0.3, 0.3),
    "delta_e0_ev": (-15.0, 15.0),
}
QUANTILES_PCT = (2.5, 16.0, 50.0, 84.0, 97.5)
#: What each repeat adds to the data: ``scaled`` = the measured noise ε_k times √χ²_ν of the
#: noise-free fit when the misfit exceeds the noise (so the spread covers what the model cannot
#: fit), ``measured`` = ε_k only, ``none`` = nothing (optimiser spread only).
NOISE_MODES = ("scaled", "measured", "none")
#: Pure-noise realisations averaged to get the SSR the noise alone leaves.
NOISE_DRAWS = 32
#: |χ(R)| curves in the result end here (Å).
PLOT_R_MAX_A = 8.0
#: A window below this many points of χ(k) cannot constrain four parameters.
MIN_FIT_POINTS = 20

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class ShellWindow:
    """The Fourier filter of one shell.

    k range ``kmin_inv_a``–``kmax_inv_a`` (Å⁻¹) with Hanning taper ``dk_inv_a``, k-weight
    ``kweight``; R-window ``rmin_a``–``rmax_a`` (Å) with Hanning taper ``dr_a``.
    """

    kmin_inv_a: float = 3.0
    kmax_inv_a: float = 14.0
    dk_inv_a: float = 1.0
    kweight: int = 2
    rmin_a: float = 1.6
    rmax_a: float = 2.8
    dr_a: float = 0.2

    def flat_k_range(self) -> tuple[float, float]:
        """Where the Hanning k-window is 1 (Å⁻¹): the fit range."""
        return self.kmin_inv_a + self.dk_inv_a / 2, self.kmax_inv_a - self.dk_inv_a / 2

    def to_json(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class FilteredShell:
    """One spectrum's shell after the filter: complex χ̃(k) on ``k_inv_a`` (flat k-window only,
    already divided by kʷ·W(k)), |χ(R)| of the k-weighted χ(k) and the noise ε_k of χ(k)."""

    k_inv_a: np.ndarray
    chi_complex: np.ndarray
    r_a: np.ndarray
    chir_mag: np.ndarray
    epsilon_k: float

    @property
    def chi(self) -> np.ndarray:
        """The filtered shell χ(k) (real part)."""
        return self.chi_complex.real


@dataclass(frozen=True)
class ShellReference:
    """Amplitude A_ref(k) and phase Φ_ref(k) (rad) of the reference shell on ``k_inv_a``, and the
    reference's known structure: ``n_ref``, ``r_ref_a`` (Å), ``sigma2_ref_a2`` (Å²)."""

    k_inv_a: np.ndarray
    amplitude: np.ndarray
    phase_rad: np.ndarray
    n_ref: float
    r_ref_a: float
    sigma2_ref_a2: float


@dataclass(frozen=True, eq=False)
class ModelFreeResult:
    """Result of :func:`fit_model_free`; :meth:`to_json` is what a run stores."""

    samples: dict[str, np.ndarray]
    ssr: np.ndarray
    reference: ShellReference
    reference_shell: FilteredShell
    unknown_shell: FilteredShell
    window: ShellWindow
    bounds: dict[str, tuple[float, float]]
    repeats: int
    seed: int
    noise: str
    noise_scale: float
    chi2_reduced: float | None
    seconds_per_repeat: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return _result_json(self)


def _check_spectrum(k_inv_a: Any, chi: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(k_inv_a, dtype="float64")
    c = np.asarray(chi, dtype="float64")
    if k.ndim != 1 or k.shape != c.shape or k.size < 10:
        raise EngineError(
            f"{where}: χ(k) must be two 1-D arrays of equal length (≥ 10 points)", field=where
        )
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(c))):
        raise EngineError(f"{where}: χ(k) has non-finite values", field=where)
    if np.any(np.diff(k) <= 0):
        raise EngineError(f"{where}: k must increase strictly", field=where)
    return k, c


def check_window(window: ShellWindow, k_data_max_inv_a: float) -> None:
    """Raise EngineError (field ``k_range`` or ``r_window``) for a window the data cannot fill:
    k range outside 0 … last χ(k) point (+ one k step), fewer than MIN_FIT_POINTS flat points,
    an empty or negative R-window."""
    lo, hi = window.flat_k_range()
    if window.kmin_inv_a < 0 or window.dk_inv_a < 0 or hi <= lo:
        raise EngineError(
            f"k_range: {window.kmin_inv_a}–{window.kmax_inv_a} Å⁻¹ with taper dk = "
            f"{window.dk_inv_a} Å⁻¹ leaves no flat window to fit",
            field="k_range",
        )
    if window.kmax_inv_a > k_data_max_inv_a + KSTEP_INV_A:
        raise EngineError(
            f"k_range: kmax = {window.kmax_inv_a} Å⁻¹ is beyond the data, which end at "
            f"k = {k_data_max_inv_a:.2f} Å⁻¹",
            field="k_range",
        )
    if (hi - lo) / KSTEP_INV_A + 1 < MIN_FIT_POINTS:
        raise EngineError(
            f"k_range: the flat part {lo:g}–{hi:g} Å⁻¹ has fewer than {MIN_FIT_POINTS} points",
            field="k_range",
        )
    if window.rmin_a < 0 or window.rmax_a <= window.rmin_a or window.dr_a < 0:
        raise EngineError(
            f"r_window: {window.rmin_a}–{window.rmax_a} Å is empty or negative", field="r_window"
        )


def _noise_k(k: np.ndarray, chi: np.ndarray, window: ShellWindow) -> float:
    """ε_k: the noise of χ(k) from |χ(R)| at NOISE_R_A (larch estimate_noise)."""
    from larch.xafs import estimate_noise

    lx = larch()
    group = lx.Group()
    estimate_noise(
        k,
        chi,
        group=group,
        rmin=NOISE_R_A[0],
        rmax=NOISE_R_A[1],
        kweight=window.kweight,
        kmin=window.kmin_inv_a,
        kmax=window.kmax_inv_a,
        dk=window.dk_inv_a,
        kwindow="hanning",
        nfft=NFFT,
        kstep=KSTEP_INV_A,
    )
    return float(group.epsilon_k)


def filter_shell(
    k_inv_a: Any,
    chi: Any,
    window: ShellWindow,
    *,
    where: str = "spectrum",
    epsilon_k: float | None = None,
) -> FilteredShell:
    """Fourier filter one shell of χ(k) (larch xftf → Ω(R) → xftr).

    Args:
        k_inv_a, chi: χ(k) on a strictly increasing k grid (Å⁻¹), e.g. autobk's.
        window: k range, k-weight and R-window.
        where: the field named in errors (``reference``/``unknown``).
        epsilon_k: the noise of χ(k) if already known (else estimated).

    Returns the filtered shell on the flat part of the k-window. Raises EngineError.
    """
    from larch.xafs import xftf, xftr

    k, c = _check_spectrum(k_inv_a, chi, where)
    check_window(window, float(k[-1]))
    lx = larch()
    group = lx.Group()
    xftf(
        k,
        c,
        group=group,
        kmin=window.kmin_inv_a,
        kmax=window.kmax_inv_a,
        kweight=window.kweight,
        dk=window.dk_inv_a,
        window="hanning",
        nfft=NFFT,
        kstep=KSTEP_INV_A,
        rmax_out=NOISE_R_A[1] + 2,
    )
    xftr(
        group.r,
        group.chir,
        group=group,
        rmin=window.rmin_a,
        rmax=window.rmax_a,
        dr=window.dr_a,
        window="hanning",
        nfft=NFFT,
        kstep=KSTEP_INV_A,
    )
    q = np.asarray(group.q)
    lo, hi = window.flat_k_range()
    keep = (q >= lo - 1e-9) & (q <= hi + 1e-9)
    kq = q[keep]
    chi_complex = np.asarray(group.chiq)[keep] / kq**window.kweight
    eps = _noise_k(k, c, window) if epsilon_k is None else epsilon_k
    return FilteredShell(
        k_inv_a=kq,
        chi_complex=chi_complex,
        r_a=np.asarray(group.r),
        chir_mag=np.asarray(group.chir_mag),
        epsilon_k=eps,
    )


def shell_peak_r_a(shell: FilteredShell, window: ShellWindow) -> float | None:
    """R (Å) of the highest local maximum of |χ(R)| strictly inside the R-window that stands
    above the noise (5·ε_R), or None when the window holds no peak."""
    r, mag = shell.r_a, shell.chir_mag
    inside = np.flatnonzero((r >= window.rmin_a) & (r <= window.rmax_a))
    if inside.size < 3:
        return None
    seg = mag[inside]
    interior = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
    if interior.size == 0:
        return None
    best = int(interior[np.argmax(seg[interior])])
    high = mag[(r >= NOISE_R_A[0]) & (r <= NOISE_R_A[1])]
    noise_r = float(np.sqrt(np.mean(high**2))) if high.size else 0.0
    if seg[best] <= 5 * noise_r or seg[best] <= seg.min() * 1.05:
        return None
    return float(r[inside[best]])


def extract_reference(
    shell: FilteredShell, *, n_ref: float, r_ref_a: float, sigma2_ref_a2: float = 0.0
) -> ShellReference:
    """A_ref(k) and Φ_ref(k) (rad) of a filtered reference shell (see the module docstring).

    ``n_ref`` and ``r_ref_a`` (Å) must be positive: they are the known coordination number and
    distance of the reference (4 and ≈2.52 Å for Cd–S in bulk CdS). Raises EngineError."""
    if not (n_ref > 0 and math.isfinite(n_ref)):
        raise EngineError(
            "n_ref: the reference coordination number must be positive", field="n_ref"
        )
    if not (r_ref_a > 0 and math.isfinite(r_ref_a)):
        raise EngineError("r_ref_a: the reference distance must be positive (Å)", field="r_ref_a")
    amplitude = np.abs(shell.chi_complex)
    if not np.all(amplitude > 0):
        raise EngineError(
            "reference: the filtered shell vanishes inside the k range", field="reference"
        )
    phase = np.unwrap(np.angle(shell.chi_complex)) + math.pi / 2
    return ShellReference(
        k_inv_a=shell.k_inv_a,
        amplitude=amplitude,
        phase_rad=phase,
        n_ref=float(n_ref),
        r_ref_a=float(r_ref_a),
        sigma2_ref_a2=float(sigma2_ref_a2),
    )


def shell_model(reference: ShellReference, k_inv_a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """χ(k) of the model for parameter vectors ``x`` (shape (4,) or (4, S), in PARAMETERS
    order); returns shape (nk,) or (S, nk). k' outside the reference grid takes the end value
    of A_ref/Φ_ref (np.interp), which only happens for |ΔE0| near the bounds at the ends."""
    xs = np.asarray(x, dtype="float64")
    single = xs.ndim == 1
    n, ds2, dr, de0 = (xs.reshape(4, -1)[i][:, None] for i in range(4))
    kp = np.sqrt(np.clip(k_inv_a[None, :] ** 2 - de0 * ETOK, 0.0, None))
    amp = np.interp(kp, reference.k_inv_a, reference.amplitude)
    pha = np.interp(kp, reference.k_inv_a, reference.phase_rad)
    r_ratio = reference.r_ref_a / (reference.r_ref_a + dr)
    chi = (
        (n / reference.n_ref)
        * r_ratio**2
        * amp
        * np.exp(-2 * kp**2 * ds2)
        * np.sin(pha + 2 * kp * dr)
    )
    return chi[0] if single else chi


def _ssr_function(
    reference: ShellReference, unknown: FilteredShell, kweight: int
) -> Callable[[np.ndarray], np.ndarray | float]:
    k = unknown.k_inv_a
    weight = k**kweight
    target = unknown.chi * weight

    def ssr(x: np.ndarray) -> np.ndarray | float:
        resid = shell_model(reference, k, x) * weight - target
        out = np.sum(resid**2, axis=-1)
        return float(out) if np.ndim(out) == 0 else out

    return ssr


def _check_bounds(
    bounds: Mapping[str, tuple[float, float]] | None,
) -> dict[str, tuple[float, float]]:
    merged = dict(DEFAULT_BOUNDS)
    for name, pair in (bounds or {}).items():
        if name not in DEFAULT_BOUNDS:
            raise EngineError(
                f"bounds.{name}: not a fitted parameter; use one of {', '.join(PARAMETERS)}",
                field=f"bounds.{name}",
            )
        lo, hi = (float(v) for v in pair)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise EngineError(
                f"bounds.{name}: expected finite [low, high] with low < high, got [{lo}, {hi}]",
                field=f"bounds.{name}",
            )
        merged[name] = (lo, hi)
    if merged["n"][0] < 0:
        raise EngineError("bounds.n: a coordination number cannot be negative", field="bounds.n")
    return merged


def _one_fit(
    reference: ShellReference,
    unknown: FilteredShell,
    window: ShellWindow,
    bounds: dict[str, tuple[float, float]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """One differential-evolution fit (vectorised population, L-BFGS-B polish)."""
    from scipy.optimize import differential_evolution

    ssr = _ssr_function(reference, unknown, window.kweight)
    found = differential_evolution(
        ssr,
        [bounds[name] for name in PARAMETERS],
        seed=rng,
        popsize=8,
        tol=1e-5,
        maxiter=2000,
        polish=True,
        updating="deferred",
        vectorized=True,
        init="sobol",
    )
    return np.asarray(found.x, dtype="float64"), float(found.fun)


def _noisy(chi: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    return chi + rng.normal(0.0, eps, size=chi.shape) if eps > 0 else chi


def n_independent(window: ShellWindow) -> float:
    """Independent points of the filtered shell, 1 + 2ΔkΔR/π (larch/Ifeffit's N_idp)."""
    return (
        1 + 2 * (window.kmax_inv_a - window.kmin_inv_a) * (window.rmax_a - window.rmin_a) / math.pi
    )


def _noise_ssr(
    k: np.ndarray,
    eps: float,
    window: ShellWindow,
    kweight: int,
    rng: np.random.Generator,
    draws: int = NOISE_DRAWS,
) -> float:
    """Expected Σ[kʷ χ_filtered]² of white noise ε in χ(k) after the shell filter."""
    total = 0.0
    for _ in range(draws):
        shell = filter_shell(k, rng.normal(0.0, eps, size=k.shape), window, epsilon_k=eps)
        total += float(np.sum((shell.chi * shell.k_inv_a**kweight) ** 2))
    return total / draws


def _noise_scale(
    reference: ShellReference,
    ref_shell: FilteredShell,
    unk_shell: FilteredShell,
    k_ref: np.ndarray,
    k_unk: np.ndarray,
    window: ShellWindow,
    bounds: dict[str, tuple[float, float]],
    seed: int,
) -> tuple[float, float]:
    """(factor on ε_k, χ²_ν): χ²_ν = SSR of the noise-free fit / SSR that the measured noise
    of both spectra alone would leave (× (N_idp − 4)/N_idp for the four fitted parameters);
    the factor is √χ²_ν when above 1 (Ifeffit scales its error bars the same way)."""
    rng = np.random.default_rng([seed, -1 % 2**32])
    best, ssr_best = _one_fit(reference, unk_shell, window, bounds, rng)
    ratio = best[0] / reference.n_ref
    expected = _noise_ssr(
        k_unk, unk_shell.epsilon_k, window, window.kweight, rng
    ) + ratio**2 * _noise_ssr(k_ref, ref_shell.epsilon_k, window, window.kweight, rng)
    n_idp = n_independent(window)
    if n_idp > len(PARAMETERS):
        expected *= (n_idp - len(PARAMETERS)) / n_idp
    chi2_reduced = float(ssr_best / expected) if expected > 0 else float("inf")
    return max(1.0, math.sqrt(chi2_reduced)), chi2_reduced


def fit_model_free(
    reference_k_inv_a: Any,
    reference_chi: Any,
    unknown_k_inv_a: Any,
    unknown_chi: Any,
    *,
    window: ShellWindow,
    n_ref: float,
    r_ref_a: float,
    sigma2_ref_a2: float = 0.0,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    repeats: int = 1000,
    seed: int = 0,
    noise: str = "scaled",
    progress: Progress | None = None,
) -> ModelFreeResult:
    """Fit the unknown's shell with the reference's amplitude and phase, ``repeats`` times.

    Args:
        reference_k_inv_a, reference_chi: χ(k) of the reference (e.g. bulk CdS), Å⁻¹.
        unknown_k_inv_a, unknown_chi: χ(k) of the unknown, Å⁻¹.
        window: the shell's k range / k-weight / R-window (the same filter for both).
        n_ref, r_ref_a, sigma2_ref_a2: the reference shell's N, R (Å) and σ² (Å²).
        bounds: ``{name: (low, high)}`` for any of PARAMETERS (others: DEFAULT_BOUNDS).
        repeats: M ≥ 1 differential-evolution fits, repeat i seeded with ``(seed, i)``.
        noise: ``"scaled"`` (default), ``"measured"`` or ``"none"`` — what each repeat adds to
            both χ(k) (see the module docstring).
        progress: called as ``progress(pct, message)`` about every 5 % of the repeats.

    Raises:
        EngineError naming ``k_range``, ``r_window`` (no |χ(R)| peak of the reference inside),
        ``bounds.<name>``, ``repeats``, ``noise``, ``n_ref``, ``r_ref_a``, ``reference`` or
        ``unknown``.
    """
    if not 1 <= int(repeats) <= 100_000:
        raise EngineError("repeats: expected 1 to 100 000 fits", field="repeats")
    if noise not in NOISE_MODES:
        raise EngineError(f"noise: expected one of {', '.join(NOISE_MODES)}", field="noise")
    limits = _check_bounds(bounds)
    k_ref, chi_ref = _check_spectrum(reference_k_inv_a, reference_chi, "reference")
    k_unk, chi_unk = _check_spectrum(unknown_k_inv_a, unknown_chi, "unknown")
    ref_shell = filter_shell(k_ref, chi_ref, window, where="reference")
    unk_shell = filter_shell(k_unk, chi_unk, window, where="unknown")
    if shell_peak_r_a(ref_shell, window) is None:
        raise EngineError(
            f"r_window: |χ(R)| of the reference has no peak between {window.rmin_a} and "
            f"{window.rmax_a} Å; choose the window around the shell's peak",
            field="r_window",
        )
    reference0 = extract_reference(
        ref_shell, n_ref=n_ref, r_ref_a=r_ref_a, sigma2_ref_a2=sigma2_ref_a2
    )
    scale, chi2_reduced = 1.0, None
    if noise == "scaled":
        scale, chi2_reduced = _noise_scale(
            reference0, ref_shell, unk_shell, k_ref, k_unk, window, limits, int(seed)
        )
    eps_ref, eps_unk = ref_shell.epsilon_k * scale, unk_shell.epsilon_k * scale
    samples = np.empty((int(repeats), len(PARAMETERS)))
    ssr = np.empty(int(repeats))
    step = max(1, int(repeats) // 20)
    started = time.perf_counter()
    for i in range(int(repeats)):
        rng = np.random.default_rng([int(seed), i])
        ref_i, unk_i = ref_shell, unk_shell
        if noise != "none":
            ref_i = filter_shell(
                k_ref,
                _noisy(chi_ref, eps_ref, rng),
                window,
                where="reference",
                epsilon_k=ref_shell.epsilon_k,
            )
            unk_i = filter_shell(
                k_unk,
                _noisy(chi_unk, eps_unk, rng),
                window,
                where="unknown",
                epsilon_k=unk_shell.epsilon_k,
            )
        reference = extract_reference(
            ref_i, n_ref=n_ref, r_ref_a=r_ref_a, sigma2_ref_a2=sigma2_ref_a2
        )
        samples[i], ssr[i] = _one_fit(reference, unk_i, window, limits, rng)
        if progress is not None and ((i + 1) % step == 0 or i + 1 == repeats):
            progress(int(100 * (i + 1) / repeats), f"{i + 1} of {repeats} fits")
    elapsed = time.perf_counter() - started
    return ModelFreeResult(
        samples={name: samples[:, j] for j, name in enumerate(PARAMETERS)},
        ssr=ssr,
        reference=reference0,
        reference_shell=ref_shell,
        unknown_shell=unk_shell,
        window=window,
        bounds=limits,
        repeats=int(repeats),
        seed=int(seed),
        noise=noise,
        noise_scale=scale,
        chi2_reduced=chi2_reduced,
        seconds_per_repeat=elapsed / int(repeats),
    )


def quantile_key(pct: float) -> str:
    """Key of the ``pct`` % quantile in results: 2.5 → "p2_5", 16 → "p16"."""
    return "p" + f"{pct:g}".replace(".", "_")


def distribution(values: np.ndarray) -> dict[str, Any]:
    """Mean, SD (ddof = 1; 0 for one value), quantiles (keys "p2_5" … "p97_5") and a histogram
    (``edges``, ``counts``; √M bins, 10–50) of one parameter's M values."""
    v = np.asarray(values, dtype="float64")
    bins = int(min(50, max(10, round(math.sqrt(v.size)))))
    span = (float(v.min()), float(v.max()))
    if span[1] - span[0] < 1e-12 * max(1.0, abs(span[0])):
        span = (
            span[0] - 0.5e-6 * max(1.0, abs(span[0])),
            span[1] + 0.5e-6 * max(1.0, abs(span[0])),
        )
    counts, edges = np.histogram(v, bins=bins, range=span)
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "quantiles": {quantile_key(q): float(np.percentile(v, q)) for q in QUANTILES_PCT},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _floats(arr: np.ndarray) -> list[float]:
    return [float(v) for v in arr]


def _result_json(res: ModelFreeResult) -> dict[str, Any]:
    ref = res.reference
    stats = {name: distribution(res.samples[name]) for name in PARAMETERS}
    sigma2 = res.samples["delta_sigma2_a2"] + ref.sigma2_ref_a2
    r = res.samples["delta_r_a"] + ref.r_ref_a
    median = np.array([stats[name]["quantiles"]["p50"] for name in PARAMETERS])
    k = res.unknown_shell.k_inv_a
    weight = k**res.window.kweight
    r_plot = res.reference_shell.r_a <= PLOT_R_MAX_A
    return {
        "engine": {"name": ENGINE_NAME, "version": ENGINE_VERSION},
        "software": software_versions(),
        "window": res.window.to_json(),
        "fit_k_range_inv_a": list(res.window.flat_k_range()),
        "bounds": {name: list(res.bounds[name]) for name in PARAMETERS},
        "repeats": res.repeats,
        "seed": res.seed,
        "noise_mode": res.noise,
        "reference_structure": {
            "n_ref": ref.n_ref,
            "r_ref_a": ref.r_ref_a,
            "sigma2_ref_a2": ref.sigma2_ref_a2,
        },
        "parameters": stats,
        "derived": {"sigma2_a2": distribution(sigma2), "r_a": distribution(r)},
        "samples": {name: _floats(res.samples[name]) for name in PARAMETERS},
        "ssr": distribution(res.ssr) | {"values": _floats(res.ssr)},
        "noise": {
            "reference_epsilon_k": res.reference_shell.epsilon_k,
            "unknown_epsilon_k": res.unknown_shell.epsilon_k,
            "scale": res.noise_scale,
            "chi2_reduced": res.chi2_reduced,
            "n_independent": n_independent(res.window),
        },
        "reference_peak_r_a": shell_peak_r_a(res.reference_shell, res.window),
        "curves": {
            "k_inv_a": _floats(k),
            "reference_amplitude": _floats(ref.amplitude),
            "reference_phase_rad": _floats(ref.phase_rad),
            "unknown_filtered_kw": _floats(res.unknown_shell.chi * weight),
            "model_median_kw": _floats(shell_model(ref, k, median) * weight),
            "r_a": _floats(res.reference_shell.r_a[r_plot]),
            "reference_chir_mag": _floats(res.reference_shell.chir_mag[r_plot]),
            "unknown_chir_mag": _floats(res.unknown_shell.chir_mag[r_plot]),
        },
        "timing": {"seconds_per_repeat": res.seconds_per_repeat},
    }
