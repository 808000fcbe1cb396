"""Engine ``analysis.engines.interdiffusion`` against independent computations.

* The series F(τ) (Crank eq. 6.20/6.21) against a finite-difference solution of the radial
  diffusion equation written here (Crank–Nicolson on u = r·c, Rannacher start), to 1e-4.
* SIMULATED compositions from a known D (seed 004's ~1e-22 m² s⁻¹ = 1e-18 cm² s⁻¹ at 80 °C,
  3.3 nm CdSe) recovered; with noise, the error bar covers the truth and matches a direct
  ``scipy.optimize.curve_fit`` of the same model.
* The Arrhenius line against ``scipy.stats.linregress`` (unweighted) and against
  ``numpy.polyfit`` with weights and ``cov="unscaled"`` (weighted).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg, optimize, stats

from analysis.engines import interdiffusion as engine
from labdb.lib.errors import EngineError

RADIUS_NM = 1.65  # 3.3 nm CdSe of seed 004
D_TRUE_CM2_S = 1.0e-18  # ~1e-22 m² s⁻¹ (seed 004, IE-CE at 80 °C)
TIMES_MIN = [1.0, 3.0, 7.0, 15.0, 30.0, 60.0, 120.0, 240.0]


def _finite_difference_uptake(taus: list[float], n_r: int = 800, n_steps: int = 20000
                              ) -> np.ndarray:
    """F(τ) of a unit sphere (a = 1, D = 1), c(1, τ) = 1, c(r, 0) = 0, solved as
    ∂u/∂τ = ∂²u/∂r² for u = r·c (u(0) = 0, u(1) = 1) by Crank–Nicolson; the first 4 steps
    backward Euler (Rannacher) to damp the discontinuous start. F = 3 ∫ r u dr."""
    r = np.linspace(0.0, 1.0, n_r + 1)
    h = r[1] - r[0]
    tau_end = max(taus)
    dt = tau_end / n_steps
    m = n_r - 1  # interior unknowns
    u = np.zeros(m)

    def banded(theta: float) -> np.ndarray:
        lam = theta * dt / h**2
        ab = np.zeros((3, m))
        ab[0, 1:] = -lam
        ab[1, :] = 1 + 2 * lam
        ab[2, :-1] = -lam
        return ab

    implicit, cn = banded(1.0), banded(0.5)
    lam_cn = 0.5 * dt / h**2
    out, wanted = [], sorted(taus)
    step, tau = 0, 0.0
    while wanted:
        if step < 4:
            rhs = u.copy()
            rhs[-1] += dt / h**2 * 1.0
            u = linalg.solve_banded((1, 1), implicit, rhs)
        else:
            lap = np.empty(m)
            lap[1:-1] = u[:-2] - 2 * u[1:-1] + u[2:]
            lap[0] = -2 * u[0] + u[1]
            lap[-1] = u[-2] - 2 * u[-1] + 1.0
            rhs = u + lam_cn * lap
            rhs[-1] += lam_cn * 1.0
            u = linalg.solve_banded((1, 1), cn, rhs)
        step += 1
        tau = step * dt
        while wanted and tau >= wanted[0] - 1e-15:
            full = np.concatenate([[0.0], u, [1.0]])
            out.append(3.0 * np.trapezoid(r * full, r))
            wanted.pop(0)
    order = np.argsort(taus)
    result = np.empty(len(taus))
    result[order] = out
    return result


def test_series_matches_a_finite_difference_solution_to_1e_4():
    taus = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    numerical = _finite_difference_uptake(taus)
    series = engine.fraction_exchanged(taus)
    assert np.max(np.abs(series - numerical)) < 1e-4


def test_short_and_long_time_forms_agree_where_they_meet():
    # eq. 6.21 (τ < 0.01) and eq. 6.20 (τ ≥ 0.01) evaluated on both sides of the switch
    below = engine.fraction_exchanged([engine.SMALL_TAU * (1 - 1e-12)])[0]
    long_form = 1 - 6 / math.pi**2 * sum(
        math.exp(-(n**2) * math.pi**2 * engine.SMALL_TAU) / n**2 for n in range(1, 2000))
    assert below == pytest.approx(long_form, abs=1e-10)
    assert engine.fraction_exchanged([0.0, 50.0]).tolist() == [0.0, 1.0]


def _simulated(d_cm2_s: float, x_inf: float, noise: float = 0.0, seed: int = 0
               ) -> list[engine.CompositionPoint]:
    """SIMULATED aliquot compositions x(t) of a 3.3 nm sphere."""
    t_s = np.array(TIMES_MIN) * 60.0
    x = engine.composition_at(t_s, d_cm2_s=d_cm2_s, radius_nm=RADIUS_NM, x0_frac=0.0,
                              x_inf_frac=x_inf)
    x = x + np.random.default_rng(seed).normal(0.0, noise, x.size) if noise else x
    return [engine.CompositionPoint(float(t), float(v), noise or None, f"SIMULATED {i}")
            for i, (t, v) in enumerate(zip(t_s, x, strict=True))]


def test_known_d_is_recovered_from_simulated_noise_free_compositions():
    points = _simulated(D_TRUE_CM2_S, 0.97)
    result = engine.fit_interdiffusion(
        points, engine.DiffusionOptions(radius_nm=RADIUS_NM, vary_x_inf=True))
    assert result["d_cm2_s"] == pytest.approx(D_TRUE_CM2_S, rel=1e-6)
    assert result["x_inf_frac"] == pytest.approx(0.97, abs=1e-6)
    assert result["d_m2_s"] == pytest.approx(1e-22, rel=1e-6)
    # τ½ = 0.03055 (F = 1/2) → t½ = τ½ a²/D
    assert result["half_exchange_time_s"] == pytest.approx(
        0.030548 * (RADIUS_NM * 1e-7) ** 2 / D_TRUE_CM2_S, rel=1e-3)


def test_noisy_simulated_fit_matches_curve_fit_and_covers_the_truth():
    points = _simulated(D_TRUE_CM2_S, 1.0, noise=0.02, seed=3)
    result = engine.fit_interdiffusion(points, engine.DiffusionOptions(radius_nm=RADIUS_NM))
    t = np.array([p.time_s for p in points])
    x = np.array([p.x_frac for p in points])

    def model(t_s, log10_d):
        return engine.composition_at(t_s, d_cm2_s=10**log10_d, radius_nm=RADIUS_NM,
                                     x0_frac=0.0, x_inf_frac=1.0)

    popt, pcov = optimize.curve_fit(model, t, x, p0=[-17.5], sigma=np.full(x.size, 0.02),
                                    absolute_sigma=True)
    direct_d = 10 ** popt[0]
    direct_err = direct_d * math.log(10) * math.sqrt(pcov[0, 0])
    assert result["weighted"] is True
    assert result["d_cm2_s"] == pytest.approx(direct_d, rel=1e-5)
    assert result["d_err_cm2_s"] == pytest.approx(direct_err, rel=1e-3)
    assert abs(result["d_cm2_s"] - D_TRUE_CM2_S) < 3 * result["d_err_cm2_s"]


def test_fewer_than_three_times_is_refused_naming_times_min():
    points = _simulated(D_TRUE_CM2_S, 1.0)[:2]
    with pytest.raises(EngineError) as exc:
        engine.fit_interdiffusion(points, engine.DiffusionOptions(radius_nm=RADIUS_NM))
    assert exc.value.field == "times_min"


def test_a_composition_that_never_changes_is_refused():
    points = [engine.CompositionPoint(t * 60.0, 0.0) for t in TIMES_MIN]
    with pytest.raises(EngineError) as exc:
        engine.fit_interdiffusion(points, engine.DiffusionOptions(radius_nm=RADIUS_NM))
    assert (exc.value.field, "not determined" in exc.value.message) == ("compositions", True)


@pytest.mark.parametrize(("ratios", "key", "expected"), [
    ({"Hg/(Hg+Cd)": 0.4, "Hg/(Hg+Cd)_err": 0.02}, "", (0.4, 0.02, "Hg/(Hg+Cd)")),
    ({"Hg_at_pct": 20.0, "Cd_at_pct": 30.0}, "", (0.4, None, "Hg_at_pct, Cd_at_pct")),
    ({"Hg/Cd": 1.0}, "", (0.5, None, "Hg/Cd")),
    ({"x_pct": 25.0, "x_pct_err": 1.0}, "x_pct", (0.25, 0.01, "x_pct")),
])
def test_fraction_from_ratios_reads_the_stored_forms(ratios, key, expected):
    assert engine.fraction_from_ratios(ratios, element="Hg", host="Cd", key=key) == \
        pytest.approx(expected)


def test_fraction_from_ratios_refuses_what_is_not_a_guest_fraction():
    with pytest.raises(EngineError, match="gives no Hg fraction"):
        engine.fraction_from_ratios({"Cd/Se": 1.2}, element="Hg", host="Cd")
    with pytest.raises(EngineError, match="outside 0…1"):
        engine.fraction_from_ratios({"Hg/(Hg+Cd)": 1.4}, element="Hg", host="Cd")


def _arrhenius_values(errors: bool) -> list[engine.DiffusionAtTemperature]:
    """SIMULATED D(T) from Ea = 0.9 eV, D0 = 1e-5 cm² s⁻¹ with a little scatter."""
    temps_c = [25.0, 50.0, 80.0, 110.0]
    scatter = [1.1, 0.92, 1.05, 0.97]
    out = []
    for t_c, s in zip(temps_c, scatter, strict=True):
        d = 1e-5 * math.exp(-0.9 / (engine.K_B_EV_PER_K * (t_c + 273.15))) * s
        out.append(engine.DiffusionAtTemperature(t_c + 273.15, d, 0.1 * d if errors else None,
                                                 f"SIMULATED {t_c:g} °C"))
    return out


def test_arrhenius_unweighted_matches_linregress():
    values = _arrhenius_values(errors=False)
    result = engine.fit_arrhenius(values)
    x = [1 / (engine.K_B_EV_PER_K * v.temperature_k) for v in values]
    y = [math.log(v.d_cm2_s) for v in values]
    direct = stats.linregress(x, y)
    assert result["weighted"] is False
    assert result["activation_energy_ev"] == pytest.approx(-direct.slope, rel=1e-10)
    assert result["activation_energy_err_ev"] == pytest.approx(direct.stderr, rel=1e-8)
    assert result["ln_d0"] == pytest.approx(direct.intercept, rel=1e-10)
    assert result["ln_d0_err"] == pytest.approx(direct.intercept_stderr, rel=1e-8)
    assert result["activation_energy_ev"] == pytest.approx(0.9, abs=0.05)


def test_arrhenius_weighted_matches_polyfit_with_unscaled_covariance():
    values = _arrhenius_values(errors=True)
    result = engine.fit_arrhenius(values)
    x = np.array([1 / (engine.K_B_EV_PER_K * v.temperature_k) for v in values])
    y = np.log([v.d_cm2_s for v in values])
    coef, cov = np.polyfit(x, y, 1, w=np.full(x.size, 1 / 0.1), cov="unscaled")
    assert result["weighted"] is True
    assert result["activation_energy_ev"] == pytest.approx(-coef[0], rel=1e-10)
    assert result["activation_energy_err_ev"] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-8)
    assert result["d0_cm2_s"] == pytest.approx(math.exp(coef[1]), rel=1e-8)


def test_arrhenius_needs_three_temperatures_without_errors():
    with pytest.raises(EngineError) as exc:
        engine.fit_arrhenius(_arrhenius_values(errors=False)[:2])
    assert exc.value.field == "runs"
