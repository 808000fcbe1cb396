"""The sizing engine alone: each published correlation against the printed equation evaluated
independently here (numpy/scipy on literal coefficients), the refusal to extrapolate, the
propagated errors against finite differences, eq. 4 of seed 004, and the 1S peak of a real
absorption file (the Cary CSV of ../shared/data/instruments) against scipy.

Printed values: the coefficients and exponents below are typed from the papers (and, for
PbS/PbSe/HgSe ε at 400 nm, as seed 004 prints them: 0.0233, 0.0277, 0.0317 d³ cm⁻¹ µM⁻¹).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.signal import find_peaks

from analysis.engines import sizing
from labdb.lib.errors import EngineError

HC = 1239.841984
SHARED = Path(__file__).resolve().parents[3].parent / "shared"
CARY_CSV = SHARED / "data" / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
SATURATED_CSV = (SHARED / "data" / "lab_exports" / "perkinelmer_uvwinlab"
                 / "UVWinlab.csv")


def _cary_columns(path) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength (nm) and Abs of the Cary CSV's one series, read with plain text splitting
    (independent of labdb's parser): rows 3… up to the first blank line."""
    lines = path.read_text().splitlines()[2:]
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append([float(v) for v in line.split(",")[:2]])
    data = np.array(rows)
    return data[:, 0], data[:, 1]


# ---------------------------------------------------------------- each correlation


def test_yu_2003_cdse_at_550_nm_is_3_0_nm_and_its_power_law():
    d = sizing.diameter_nm(sizing.CORRELATIONS["yu2003_cdse"], 550.0)
    direct = np.polyval([1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57], 550.0)
    assert d == pytest.approx(direct, rel=1e-12)
    assert d == pytest.approx(3.04, abs=0.005)  # the CdSe sizing curve's ~3 nm at 550 nm
    eps = sizing.epsilon_per_m_cm(sizing.CORRELATIONS["yu2003_cdse"], d, None)
    assert eps == pytest.approx(5857 * direct ** 2.65, rel=1e-12)


def test_yu_2003_cdte_and_cds():
    cdte = sizing.CORRELATIONS["yu2003_cdte"]
    d = sizing.diameter_nm(cdte, 600.0)
    assert d == pytest.approx(np.polyval([9.8127e-7, -1.7147e-3, 1.0064, -194.84], 600.0))
    assert sizing.epsilon_per_m_cm(cdte, d, None) == pytest.approx(10043 * d ** 2.12)
    cds = sizing.CORRELATIONS["yu2003_cds"]
    d = sizing.diameter_nm(cds, 400.0)
    assert d == pytest.approx(np.polyval([-6.6521e-8, 1.9557e-4, -9.2352e-2, 13.29], 400.0))
    assert d == pytest.approx(3.383, abs=0.001)
    assert sizing.epsilon_per_m_cm(cds, d, None) == pytest.approx(21536 * d ** 2.3)


def test_jasieniak_2009_cdse_size_and_epsilon_at_the_1s_energy():
    corr = sizing.CORRELATIONS["jasieniak2009_cdse"]
    d = sizing.diameter_nm(corr, 550.0)
    direct = (59.60816 - 0.54736 * 550 + 1.8873e-3 * 550 ** 2 - 2.85743e-6 * 550 ** 3
              + 1.62974e-9 * 550 ** 4)
    assert d == pytest.approx(direct, rel=1e-12)
    assert d == pytest.approx(3.195, abs=0.001)
    e = HC / 550.0
    assert sizing.epsilon_per_m_cm(corr, d, e) == pytest.approx(
        155507 + 6.67054e13 * math.exp(-e / 0.10551), rel=1e-12)


@pytest.mark.parametrize(("key", "e_bulk", "a", "b", "c", "k400"), [
    ("moreels2009_pbs", 0.41, 0.0252, 0.283, 0.0, 0.0233),
    ("moreels2007_pbse", 0.278, 0.016, 0.209, 0.45, 0.0277),
])
def test_moreels_lead_chalcogenides_invert_the_printed_energy_of_size(key, e_bulk, a, b, c, k400):
    corr = sizing.CORRELATIONS[key]
    for d_true in (3.0, 5.0, 7.0):
        energy = e_bulk + 1.0 / (a * d_true ** 2 + b * d_true + c)
        if not corr.peak_range_nm[0] <= HC / energy <= corr.peak_range_nm[1]:
            continue
        solved = brentq(lambda d, e=energy: e_bulk + 1.0 / (a * d * d + b * d + c) - e, 0.5, 30)
        assert sizing.diameter_nm(corr, HC / energy) == pytest.approx(solved, rel=1e-9)
        assert sizing.diameter_nm(corr, HC / energy) == pytest.approx(d_true, rel=1e-9)
        assert sizing.epsilon_per_m_cm(corr, d_true, energy) == pytest.approx(
            k400 * d_true ** 3 * 1e6)
    assert corr.epsilon_at_nm == 400.0
    # 3 nm PbS has its 1S near 925 nm (1.34 eV) by the printed equation
    if key == "moreels2009_pbs":
        assert HC / (0.41 + 1 / (0.0252 * 9 + 0.283 * 3)) == pytest.approx(925.6, abs=0.1)


def test_seed_004_hgse_epsilon_needs_a_given_diameter_in_its_size_series():
    corr = sizing.CORRELATIONS["seed004_hgse"]
    assert not corr.sizes
    assert sizing.epsilon_per_m_cm(corr, 3.4, None) == pytest.approx(0.0317 * 3.4 ** 3 * 1e6)
    with pytest.raises(EngineError, match="parameters.diameter_nm"):
        sizing.compute_sizing(sizing.SizingRequest(correlation="seed004_hgse", absorbance=0.2))
    with pytest.raises(EngineError, match=r"parameters.diameter_nm: a diameter of 5.00 nm"):
        sizing.compute_sizing(sizing.SizingRequest(correlation="seed004_hgse", diameter_nm=5.0))


def test_every_entry_has_a_citation_a_range_and_equations():
    for corr in sizing.CORRELATIONS.values():
        info = corr.as_json()
        assert info["citation"] and info["size_equation"] and info["epsilon_equation"]
        assert info["range_note"] and info["uncertainty"]
        if corr.sizes:
            lo, hi = corr.peak_range_nm
            d_lo, d_hi = (float(sizing.diameter_nm(corr, v)) for v in (lo, hi))
            # the size range is the image of the 1S range (monotonic correlation)
            assert corr.diameter_range_nm[0] <= min(d_lo, d_hi) < max(d_lo, d_hi) <= (
                corr.diameter_range_nm[1])
            assert info["doi"].startswith("10.")


# ---------------------------------------------------------------- refusing to extrapolate


@pytest.mark.parametrize(("key", "peak_nm"), [("yu2003_cdse", 700.0), ("yu2003_cdse", 400.0),
                                              ("jasieniak2009_cdse", 670.0),
                                              ("moreels2009_pbs", 2000.0)])
def test_a_1s_peak_outside_the_validity_range_is_refused(key, peak_nm):
    with pytest.raises(EngineError) as info:
        sizing.compute_sizing(sizing.SizingRequest(correlation=key, peak_nm=peak_nm))
    assert info.value.message.startswith("parameters.peak_1s_nm: the 1S peak at")
    assert "does not extrapolate" in info.value.message


@pytest.mark.parametrize("absorbance", [0.0, -0.05, 2.5])
def test_negative_zero_or_saturated_absorbances_are_refused(absorbance):
    with pytest.raises(EngineError, match="parameters.absorbance: the absorbance is"):
        sizing.compute_sizing(sizing.SizingRequest(correlation="yu2003_cdse", peak_nm=560.0,
                                                   absorbance=absorbance))


# ---------------------------------------------------------------- concentration and errors


def test_concentration_and_its_error_against_finite_differences():
    """c = A·dilution/(ε(D(λ))·L); the propagated σ_c against a numerical Jacobian."""
    req = sizing.SizingRequest(correlation="yu2003_cdse", peak_nm=580.0, peak_err_nm=2.0,
                               absorbance=0.25, absorbance_err=0.005, path_cm=1.0,
                               path_err_cm=0.01, dilution=20.0, dilution_err=0.2,
                               epsilon_rel_err=0.1)
    out = sizing.compute_sizing(req)

    def conc_um(lam, a, path, dil, rel):
        d = np.polyval([1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57], lam)
        return a * dil / (5857 * d ** 2.65 * (1 + rel) * path) * 1e6

    x0 = np.array([580.0, 0.25, 1.0, 20.0, 0.0])
    sig = np.array([2.0, 0.005, 0.01, 0.2, 0.1])
    grad = []
    for i in range(5):
        h = np.zeros(5)
        h[i] = 1e-6 * max(abs(x0[i]), 1.0)
        grad.append((conc_um(*(x0 + h)) - conc_um(*(x0 - h))) / (2 * h[i]))
    sigma = math.sqrt(sum((g * s) ** 2 for g, s in zip(grad, sig, strict=True)))
    assert out["concentration_um"]["value"] == pytest.approx(conc_um(*x0), rel=1e-12)
    assert out["concentration_um"]["err"] == pytest.approx(sigma, rel=1e-6)
    assert out["measured_concentration_um"]["value"] == pytest.approx(conc_um(*x0) / 20)


def test_eq_4_intrinsic_absorption_with_a_given_volume_fraction():
    req = sizing.SizingRequest(correlation="yu2003_cdse", peak_nm=560.0, absorbance=0.3,
                               mu_absorbance=0.9, mu_absorbance_err=0.01,
                               mu_wavelength_nm=400.0, volume_fraction=2e-5,
                               volume_fraction_err=1e-6, path_cm=1.0)
    mu = sizing.compute_sizing(req)["intrinsic_absorption"]
    assert mu["mu_per_cm"]["value"] == pytest.approx(math.log(10) * 0.9 / 2e-5)
    rel = math.hypot(0.01 / 0.9, 1e-6 / 2e-5)
    assert mu["mu_per_cm"]["err"] == pytest.approx(math.log(10) * 0.9 / 2e-5 * rel, rel=1e-9)
    assert (mu["at_nm"], mu["volume_fraction_from"]) == (400.0, "given")


def test_eq_4_from_the_concentration_is_ln10_epsilon_per_particle_volume():
    out = sizing.compute_sizing(sizing.SizingRequest(correlation="yu2003_cdse", peak_nm=560.0,
                                                     absorbance=0.3))
    d = out["diameter_nm"]["value"]
    volume_cm3 = math.pi / 6 * (d * 1e-7) ** 3
    expected = math.log(10) * out["epsilon_per_m_cm"]["value"] * 1000 / (6.02214076e23
                                                                         * volume_cm3)
    assert out["intrinsic_absorption"]["mu_per_cm"]["value"] == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- spectra


def test_1s_peak_of_the_real_cary_file_against_scipy():
    x, y = _cary_columns(CARY_CSV)
    found = sizing.find_1s_peak(x, y)
    # independent: scipy's most prominent peak on the red side, then a parabola in energy
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    idx, props = find_peaks(ys, prominence=0.05 * np.ptp(ys))
    red = idx[np.argmax(xs[idx])]
    assert found["grid_peak_nm"] == pytest.approx(xs[red]) == pytest.approx(614.9726563)
    window = slice(red - 2, red + 3)
    a, b, _c = np.polyfit(HC / xs[window], ys[window], 2)
    assert found["peak_nm"] == pytest.approx(HC / (-b / (2 * a)), rel=1e-9)
    assert abs(found["peak_nm"] - found["grid_peak_nm"]) < 2.6  # inside half a 5-nm step
    assert found["refined"] is True and found["peak_err_nm"] > 0


def test_1s_peak_of_a_simulated_band_on_a_background():
    """SIMULATED: a Gaussian 1S band at 561.3 nm (σ 40 meV) on a rising background, 1 nm
    steps, seeded noise 0.0005."""
    lam = np.arange(450.0, 700.0, 1.0)
    e = HC / lam
    rng = np.random.default_rng(7)
    y = (0.3 * np.exp(-0.5 * ((e - HC / 561.3) / 0.04) ** 2) + 0.05 * (e - 1.7) ** 2
         + rng.normal(0, 0.0005, lam.size))
    found = sizing.find_1s_peak(lam, y)
    assert found["peak_nm"] == pytest.approx(561.3, abs=0.6)
    assert sizing.noise_level(y) == pytest.approx(0.0005, rel=0.2)


def test_absorbance_read_where_the_real_file_saturates_is_refused():
    x, y = _cary_columns(CARY_CSV)
    a, noise = sizing.absorbance_at(x, y, 614.9726563)
    assert a == pytest.approx(0.544806, abs=1e-6) and 0 < noise < 0.01
    with pytest.raises(EngineError, match="outside the spectrum"):
        sizing.absorbance_at(x, y, 150.0)
    lines = SATURATED_CSV.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("nm")) + 1
    data = np.array([[float(v) for v in line.split(",")] for line in lines[start:]
                     if line.strip()])
    at = float(data[np.argmax(data[:, 1] >= 9.999), 0])
    with pytest.raises(EngineError, match="saturated"):
        sizing.absorbance_at(data[:, 0], data[:, 1], at)


def test_curve_spans_the_validity_range():
    curve = sizing.correlation_curve(sizing.CORRELATIONS["yu2003_cdse"])
    assert (curve["peak_1s_nm"][0], curve["peak_1s_nm"][-1]) == (450.0, 650.0)
    assert len(curve["diameter_nm"]) == sizing.CURVE_POINTS
    assert all(isinstance(v, float) for v in curve["epsilon_per_m_cm"])
