"""Engine ``analysis.engines.effective_mass`` against analytical solutions.

* A single finite spherical well (radius a, depth V0, masses m_in inside / m_out outside):
  the l = 0 level from the BenDaniel–Duke transcendental equation
  (1/m_in)(k cot ka − 1/a) = (1/m_out)(−κ − 1/a), solved here by brentq, and the radial
  wavefunction sin(kr)/r inside, e^{−κr}/r outside.
* The infinite-well limit E = ħ²π²/(2 m a²) and the Brus Coulomb term −1.786 e²/(4πε₀ ε a).
* A core/shell stack against a transfer-matrix (analytical piecewise) solution written here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from analysis.engines import effective_mass as engine
from labdb.lib.errors import EngineError

C = engine.HBAR2_OVER_2M0_EV_NM2


def _finite_well_level(a: float, v0: float, m_in: float, m_out: float) -> tuple[float, float,
                                                                                float]:
    """(E, k, κ) of the l = 0 ground state of a spherical well −V0 (eV) of radius a (nm)."""
    def mismatch(e: float) -> float:
        k = math.sqrt((e + v0) * m_in / C)
        kappa = math.sqrt(-e * m_out / C)
        return (k / math.tan(k * a) - 1 / a) / m_in - (-kappa - 1 / a) / m_out

    energies = np.linspace(-v0 * (1 - 1e-9), -1e-9, 200001)
    values = np.array([mismatch(e) for e in energies])
    for i in range(len(energies) - 1):  # the first sign change that is not a cot pole
        if np.sign(values[i]) != np.sign(values[i + 1]) and abs(values[i]) < 1e2:
            e = brentq(mismatch, energies[i], energies[i + 1], xtol=1e-14)
            return e, math.sqrt((e + v0) * m_in / C), math.sqrt(-e * m_out / C)
    raise AssertionError("no bound state")


@pytest.mark.parametrize(("a", "v0", "m_in", "m_out"), [
    (2.0, 1.36, 0.112, 1.0),   # a CdSe-like electron well in a free-electron medium
    (1.5, 0.60, 0.469, 0.469),  # a heavy hole, equal masses
    (3.0, 2.69, 0.042, 0.3),   # light HgSe-like electron
])
def test_finite_well_matches_the_transcendental_solution(a, v0, m_in, m_out):
    expected, k, kappa = _finite_well_level(a, v0, m_in, m_out)
    layer = engine.Layer(outer_radius_nm=a, m_e=m_in, m_h=m_in, delta_ec_ev=-v0,
                         delta_ev_ev=v0)
    result = engine.solve_overlap([layer], medium=engine.Medium(m_e=m_out, m_h=m_out),
                                  grid=engine.Grid(step_nm=0.002, box_margin_nm=3.0),
                                  coulomb=False)
    assert result["electron_energy_ev"] == pytest.approx(expected, rel=2e-4)
    # the wavefunction: A sin(kr)/r inside, A sin(ka) e^{−κ(r−a)}/r outside, normalised
    r = np.array(result["curves"]["r_nm"])
    psi = np.array(result["curves"]["psi_e"])
    shape = np.where(r < a, np.sin(k * r) / r, math.sin(k * a) * np.exp(-kappa * (r - a)) / r)
    rr = np.linspace(1e-6, a + 40 / kappa, 400001)
    dense = np.where(rr < a, np.sin(k * rr) / rr,
                     math.sin(k * a) * np.exp(-kappa * (rr - a)) / rr)
    shape = shape / math.sqrt(np.trapezoid(4 * math.pi * rr**2 * dense**2, rr))
    assert np.max(np.abs(psi - shape)) < 1e-3 * np.max(shape)
    # identical electron and hole: overlap 1
    assert result["overlap"] == pytest.approx(1.0, abs=1e-9)


def test_deep_well_tends_to_the_infinite_well_and_the_brus_coulomb_term():
    a, m, eps = 2.0, 0.2, 10.0
    layer = engine.Layer(outer_radius_nm=a, m_e=m, m_h=m, delta_ec_ev=-400.0,
                         delta_ev_ev=400.0, eps_inf=eps)
    result = engine.solve_overlap([layer], medium=engine.Medium(m_e=m, m_h=m),
                                  grid=engine.Grid(step_nm=0.001, box_margin_nm=0.5))
    e_inf = C * math.pi**2 / (m * a**2)
    kappa = math.sqrt(400.0 * m / C)
    # first-order finite-depth correction of an equal-mass well: E ≈ E∞ (1 − 2/(κa)) − V0
    assert result["electron_energy_ev"] + 400.0 == pytest.approx(
        e_inf * (1 - 2 / (kappa * a)), rel=2e-3)
    # the Coulomb term of the same (slightly leaky) states is within 2/(κa) of Brus's value
    brus = -1.786 * engine.COULOMB_EV_NM / (eps * a)
    assert abs(result["coulomb_ev"] / brus - 1) < 2 / (kappa * a)


def test_coulomb_integral_of_infinite_well_states_is_brus_1_786():
    """⟨−e²/(ε max(r1, r2))⟩ of two sin(πr/a)/r states = −1.786 e²/(4πε₀ ε a) (Brus 1984)."""
    a, eps, h = 2.0, 10.0, 0.0005
    r = (np.arange(int(a / h)) + 0.5) * h
    density = 4 * math.pi * r**2 * (np.sin(math.pi * r / a) / r) ** 2
    density /= density.sum() * h
    value = engine._coulomb_ev(r, density, density, h, eps)
    assert value == pytest.approx(-1.786 * engine.COULOMB_EV_NM / (eps * a), rel=5e-4)


def _transfer_matrix_level(radii, masses, potentials, m_out):
    """l = 0 ground level of a layered well by matching R = (A sin kr + B cos kr)/r (or sinh,
    cosh) layer by layer with R and m⁻¹R' continuous, decaying e^{−κr}/r outside."""
    def outside_mismatch(e: float) -> float:
        a_coef, b_coef = 1.0, 0.0  # regular at 0
        for i, (r_out, m, v) in enumerate(zip(radii, masses, potentials, strict=True)):
            q = math.sqrt(abs(e - v) * m / C)
            osc = e > v

            def f(r, q=q, osc=osc):
                return (math.sin(q * r), math.cos(q * r)) if osc else (
                    math.sinh(q * r), math.cosh(q * r))

            def df(r, q=q, osc=osc):
                return (q * math.cos(q * r), -q * math.sin(q * r)) if osc else (
                    q * math.cosh(q * r), q * math.sinh(q * r))

            s, c = f(r_out)
            ds, dc = df(r_out)
            u = a_coef * s + b_coef * c  # u = r R
            du = a_coef * ds + b_coef * dc
            # (1/m) R' = (1/m)(u'/r − u/r²) continuous; u continuous
            flux = (du / r_out - u / r_out**2) / m
            if i + 1 < len(radii):
                m2, v2 = masses[i + 1], potentials[i + 1]
                q2 = math.sqrt(abs(e - v2) * m2 / C)
                osc2 = e > v2
                s2, c2 = ((math.sin(q2 * r_out), math.cos(q2 * r_out)) if osc2 else
                          (math.sinh(q2 * r_out), math.cosh(q2 * r_out)))
                ds2, dc2 = ((q2 * math.cos(q2 * r_out), -q2 * math.sin(q2 * r_out)) if osc2
                            else (q2 * math.cosh(q2 * r_out), q2 * math.sinh(q2 * r_out)))
                du2 = (flux * m2 + u / r_out**2) * r_out
                det = s2 * dc2 - c2 * ds2
                a_coef, b_coef = (u * dc2 - c2 * du2) / det, (s2 * du2 - u * ds2) / det
            else:
                kappa = math.sqrt(-e * m_out / C)
                return flux * m_out + (kappa / r_out + 1 / r_out**2) * u
        raise AssertionError

    energies = np.linspace(min(potentials) + 1e-6, -1e-6, 40001)
    values = [outside_mismatch(e) for e in energies]
    for i in range(len(energies) - 1):
        if np.sign(values[i]) != np.sign(values[i + 1]):
            return brentq(outside_mismatch, energies[i], energies[i + 1], xtol=1e-13)
    raise AssertionError("no bound state")


def test_core_shell_levels_match_a_transfer_matrix_solution():
    """CdSe core (1.4 nm) / HgSe shell (to 2.0 nm) with seed 004's parameters."""
    layers = [engine.alloy_layer(0.0, 1.4), engine.alloy_layer(1.0, 2.0)]
    result = engine.solve_overlap(layers, grid=engine.Grid(step_nm=0.001, box_margin_nm=3.0),
                                  coulomb=False)
    electron = _transfer_matrix_level([1.4, 2.0], [0.112, 0.042], [-1.36, -2.69], 1.0)
    hole = _transfer_matrix_level([1.4, 2.0], [0.469, 0.019], [-0.60, -1.07], 1.0)
    assert result["electron_energy_ev"] == pytest.approx(electron, rel=2e-4)
    assert result["hole_energy_ev"] == pytest.approx(hole, rel=2e-4)
    assert 0.0 < result["overlap"] <= 1.0
    assert 0.0 < result["electron_surface_fraction"] < 1.0


def test_seed_004_parameters_give_its_bulk_gaps_and_interpolate_linearly():
    cd, hg = engine.alloy_layer(0.0, 2.0), engine.alloy_layer(1.0, 2.0)
    gaps = [engine.MEDIUM_GAP_EV + layer.delta_ec_ev - layer.delta_ev_ev for layer in (cd, hg)]
    assert gaps == pytest.approx([1.74, -0.06], abs=1e-12)
    half = engine.alloy_layer(0.5, 2.0)
    assert (half.m_e, half.m_h, half.delta_ec_ev) == pytest.approx((0.077, 0.244, -2.025))


def test_radii_that_do_not_increase_are_refused_naming_layers():
    with pytest.raises(EngineError) as exc:
        engine.solve_overlap([engine.alloy_layer(0.0, 2.0), engine.alloy_layer(1.0, 1.5)])
    assert exc.value.field == "layers"
