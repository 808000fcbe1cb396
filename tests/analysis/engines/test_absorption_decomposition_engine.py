"""Absorption decomposition engine: SIMULATED spectra of known transitions, real UV-vis files.

Real files (../shared/data): no nanocrystal UV-vis with a series of excitonic transitions is
vendored. The two real absorbance spectra with a band are used instead:

* ``instruments/cary_csv/CuPCtS_H2O_vis.csv`` (Cary 50, copper phthalocyanine tetrasulfonate
  in water: a Q band at 615 nm with a shoulder near 680 nm) — the decomposition checked
  against an independent ``scipy.optimize.curve_fit`` of the same model;
* ``lab_exports/edinst/Fluoracle_absorbance.txt`` (Edinburgh Fluoracle synchronous scan: an
  absorption edge near 540 nm topped by a weak maximum at 524 nm) — the quality numbers
  checked against a direct numpy computation.

Simulated spectra are labelled SIMULATED in their names.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.signal import savgol_coeffs, savgol_filter

from analysis.engines import absorption_decomposition as eng
from labdb.lib.errors import EngineError
from tests.conftest import SHARED_DATA

CARY = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
FLUORACLE = SHARED_DATA / "lab_exports" / "edinst" / "Fluoracle_absorbance.txt"
UVWINLAB = SHARED_DATA / "lab_exports" / "perkinelmer_uvwinlab" / "UVWinlab.csv"
HC = 1239.84193

# SIMULATED: a CdSe-like spectrum of four eq.-1 transitions (E_g 1.74 eV, dR 6 %).
SIM_GAP_EV, SIM_DR = 1.74, 0.06
SIM_TRANSITIONS = ((2.10, 0.05), (2.25, 0.02), (2.45, 0.06), (2.75, 0.10))


def _parsed(path):
    from characterization.parsers.registry import parse_file

    series = parse_file(path.read_bytes(), filename=path.name).series[0]
    return np.asarray(series.x, dtype=float), np.asarray(series.y, dtype=float)


def eq1(energy, transitions, dr, gap):
    """Seed 004 eq. 1 written out independently of the engine."""
    total = np.zeros_like(energy)
    for center, area in transitions:
        total += area / (2 * math.sqrt(2 * math.pi) * dr * (center - gap)) * np.exp(
            -((energy - center) ** 2) / (8 * dr ** 2 * (center - gap) ** 2))
    return total


@pytest.fixture(scope="module")
def simulated_eq1():
    """SIMULATED: eq. 1 on a 0.5 nm grid, 400–700 nm, Gaussian noise σ = 0.003."""
    lam = np.arange(400.0, 700.01, 0.5)
    a = eq1(HC / lam, SIM_TRANSITIONS, SIM_DR, SIM_GAP_EV)
    return lam, a + np.random.default_rng(4).normal(0.0, 0.003, lam.size)


def test_simulated_eq1_spectrum_is_recovered_within_its_errors(simulated_eq1):
    lam, a = simulated_eq1
    out = eng.decompose(lam, a, eng.DecompositionOptions(
        energy_range_ev=(1.85, 2.95), model="eq1", bulk_gap_ev=SIM_GAP_EV))
    assert out["n_transitions"] == 4  # found from the 2nd-derivative minima (auto)
    for t, (center, area) in zip(out["transitions"], SIM_TRANSITIONS, strict=True):
        assert abs(t["initial_ev"] - center) < 0.05  # the minima start within the bound
        assert abs(t["center_ev"] - center) < 3 * t["center_err_ev"]
        assert abs(t["area"] - area) < 3 * t["area_err"]
        assert t["at_bound"] is False
    assert abs(out["dR"] - SIM_DR) < 3 * out["dR_err"]
    ratio = out["transitions"][2]["relative_oscillator_strength"]
    assert abs(ratio - 0.06 / 0.05) < 3 * out["transitions"][2]["relative_oscillator_strength_err"]
    assert out["fit_statistics"]["reduced_chi_square"] == pytest.approx(0.003 ** 2, rel=0.2)
    arrays = out["arrays"]
    assert len(arrays["components"]) == 4
    assert np.allclose(np.sum(arrays["components"], axis=0) + arrays["background"],
                       arrays["fit"])


def test_simulated_gaussians_on_a_linear_background_are_recovered():
    """SIMULATED: three free-width Gaussians + 0.05 + 0.1 (E − E_start), noise σ = 0.002."""
    lam = np.arange(450.0, 750.01, 1.0)
    energy = HC / lam
    truth = ((1.90, 0.020, 0.035), (2.10, 0.030, 0.050), (2.40, 0.060, 0.090))
    start = energy.min() + 0.0  # the engine's E_start is the lowest energy in range
    a = 0.05 + 0.1 * (energy - start)
    for center, area, sigma in truth:
        a += eng.gaussian(energy, area, center, sigma)
    a += np.random.default_rng(7).normal(0.0, 0.002, lam.size)
    out = eng.decompose(lam, a, eng.DecompositionOptions(model="gaussians",
                                                         background="linear"))
    assert out["n_transitions"] == 3
    for t, (center, area, sigma) in zip(out["transitions"], truth, strict=True):
        assert abs(t["center_ev"] - center) < 3 * t["center_err_ev"]
        assert abs(t["area"] - area) < 3 * t["area_err"]
        assert abs(t["sigma_ev"] - sigma) < 3 * t["sigma_err_ev"]
    bg = out["background"]
    assert abs(bg["bg_c0"]["value"] - 0.05) < 3 * bg["bg_c0"]["err"]
    assert abs(bg["bg_c1"]["value"] - 0.1) < 3 * bg["bg_c1"]["err"]


def test_real_cary_spectrum_matches_an_independent_curve_fit():
    """CuPCtS (real Cary 50 file), 1.55–2.6 eV: two Gaussians + a linear background. The same
    model fitted by scipy curve_fit from the engine's 2nd-derivative starting centres gives
    the same centres within 1e-3 eV (and areas within 1 %)."""
    lam, a = _parsed(CARY)
    options = eng.DecompositionOptions(energy_range_ev=(1.55, 2.6), model="gaussians",
                                       background="linear")
    out = eng.decompose(lam, a, options)
    assert out["n_transitions"] == 2
    energy = HC / lam
    inside = (energy >= 1.55) & (energy <= 2.6)
    e, y = energy[inside], a[inside]
    order = np.argsort(e)
    e, y = e[order], y[order]
    start = e[0]

    def model(x, a1, e1, s1, a2, e2, s2, c0, c1):
        g = [ar / (s * math.sqrt(2 * math.pi)) * np.exp(-((x - c) ** 2) / (2 * s * s))
             for ar, c, s in ((a1, e1, s1), (a2, e2, s2))]
        return g[0] + g[1] + c0 + c1 * (x - start)

    guess = [m["initial_ev"] for m in out["transitions"]]
    p0 = [0.02, guess[0], 0.05, 0.1, guess[1], 0.1, 0.05, 0.0]
    lower = [-np.inf, guess[0] - 0.05, 0.001, -np.inf, guess[1] - 0.05, 0.001, -np.inf, -np.inf]
    upper = [np.inf, guess[0] + 0.05, 2.0, np.inf, guess[1] + 0.05, 2.0, np.inf, np.inf]
    popt, _ = curve_fit(model, e, y, p0=p0, bounds=(lower, upper), max_nfev=20000)
    for t, (area, center, sigma) in zip(out["transitions"], (popt[0:3], popt[3:6]),
                                        strict=True):
        assert abs(t["center_ev"] - center) < 1e-3
        assert t["area"] == pytest.approx(area, rel=0.01)
        assert t["sigma_ev"] == pytest.approx(sigma, rel=0.01)
    assert out["transitions"][1]["center_nm"] == pytest.approx(614.0, abs=3.0)  # the Q band


def _direct_quality(energy, a, window_mev, polyorder):
    """The 1S numbers computed directly with numpy/scipy (no engine function)."""
    step = float(np.median(np.diff(energy)))
    n = int(round((energy[-1] - energy[0]) / step)) + 1
    grid = energy[0] + step * np.arange(n)
    grid = grid[grid <= energy[-1] + 1e-12]
    window = max(int(round(window_mev / 1000 / step)), polyorder + 2)
    window += 1 - window % 2
    smooth = savgol_filter(np.interp(grid, energy, a), window, polyorder)
    d = np.diff(a)
    noise = 1.4826 * np.median(np.abs(d)) / math.sqrt(2) * math.sqrt(
        np.sum(savgol_coeffs(window, polyorder) ** 2))
    threshold = max(5 * noise, 0.01 * (smooth.max() - smooth.min()))
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(smooth, prominence=threshold)
    i = peaks[0]
    base = smooth[:i].min()
    level = base + (smooth[i] - base) / 2
    j = np.nonzero(smooth[:i] < level)[0][-1]
    cross = np.interp(level, smooth[j:j + 2], grid[j:j + 2])
    out = {"peak_1s_ev": grid[i], "hwhm_1s_mev": (grid[i] - cross) * 1000}
    if peaks.size > 1:
        out["peak_to_valley"] = smooth[i] / smooth[i:peaks[1] + 1].min()
    return out


def test_quality_numbers_of_the_real_fluoracle_scan_match_a_direct_computation():
    lam, a = _parsed(FLUORACLE)
    out = eng.decompose(lam, a, eng.DecompositionOptions(
        energy_range_ev=(2.15, 2.6), model="gaussians", n_transitions=1))
    energy = HC / lam
    inside = (energy >= 2.15) & (energy <= 2.6)
    e, y = energy[inside][::-1], a[inside][::-1]
    direct = _direct_quality(e, y, 60.0, 3)
    q = out["quality"]
    assert q["peak_1s_ev"] == pytest.approx(direct["peak_1s_ev"], abs=1e-12)
    assert q["peak_1s_nm"] == pytest.approx(524.0, abs=1.5)  # the maximum on the edge
    assert q["hwhm_1s_mev"] == pytest.approx(direct["hwhm_1s_mev"], rel=1e-9)
    assert q["peak_to_valley"] is None  # nothing on its high-energy side in this scan


def test_quality_numbers_of_a_simulated_spectrum_hwhm_and_peak_to_valley(simulated_eq1):
    """SIMULATED eq. 1 spectrum: the direct computation agrees, and the HWHM is close to the
    1S Gaussian's own √(2 ln 2)·σ (σ = 2 dR (E₁ − E_g) = 43.2 meV → 50.9 meV)."""
    lam, a = simulated_eq1
    out = eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(1.85, 2.95),
                                                         bulk_gap_ev=SIM_GAP_EV))
    energy = HC / lam
    inside = (energy >= 1.85) & (energy <= 2.95)
    direct = _direct_quality(energy[inside][::-1], a[inside][::-1], 60.0, 3)
    q = out["quality"]
    assert q["hwhm_1s_mev"] == pytest.approx(direct["hwhm_1s_mev"], rel=1e-9)
    assert q["peak_to_valley"] == pytest.approx(direct["peak_to_valley"], rel=1e-9)
    sigma = 2 * SIM_DR * (2.10 - SIM_GAP_EV)
    assert q["hwhm_1s_mev"] == pytest.approx(math.sqrt(2 * math.log(2)) * sigma * 1000, abs=3)
    assert q["peak_1s_ev"] == pytest.approx(2.10, abs=0.003)
    assert q["peak_to_valley"] > 3


def test_second_derivative_minima_are_those_of_a_direct_savgol(simulated_eq1):
    lam, a = simulated_eq1
    energy = HC / lam[::-1]
    smooth = eng.smoothed(energy, a[::-1], window_mev=60.0, polyorder=3)
    grid = smooth["grid_ev"]
    direct = savgol_filter(np.interp(grid, energy, a[::-1]), smooth["window"], 3, deriv=2,
                           delta=grid[1] - grid[0])
    assert np.allclose(smooth["d2"], direct)
    minima = [m["energy_ev"] for m in eng.derivative_minima(
        grid, smooth["d2"], window=smooth["window"], noise=smooth["noise_d2"])]
    assert len(minima) == 4
    assert np.allclose(minima, [c for c, _ in SIM_TRANSITIONS], atol=0.04)


def test_negative_and_saturated_absorbance_are_refused_naming_the_field():
    """Real PerkinElmer UV WinLab export: A down to −1.3 near 220 nm, 10.0 (over range) at
    200, 240 and 270 nm."""
    lam, a = _parsed(UVWINLAB)
    with pytest.raises(EngineError, match="negative absorbance") as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(), input_field="inputs.absorption")
    assert exc.value.field == "inputs.absorption"
    with pytest.raises(EngineError, match="saturated absorbance 10") as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(HC / 300, HC / 262)),
                      input_field="inputs.file")
    assert exc.value.field == "inputs.file"
    # the same spectrum above 280 nm is neither negative nor saturated
    eng.check_absorbance(*eng.select_range(*eng.wavelength_to_energy(lam, a),
                                           (HC / 700, HC / 280)), field="inputs.absorption")


def test_flat_topped_simulated_spectrum_is_refused():
    """SIMULATED: a band clipped at A = 2.5 (a detector's ceiling) is flat-topped."""
    lam = np.arange(450.0, 650.0, 1.0)
    a = np.minimum(eng.gaussian(HC / lam, 0.5, 2.3, 0.05), 2.5)
    with pytest.raises(EngineError, match="flat-topped") as exc:
        eng.check_absorbance(HC / lam, a, field="inputs.absorption")
    assert exc.value.field == "inputs.absorption"


def test_bad_parameters_name_their_field(simulated_eq1):
    lam, a = simulated_eq1
    with pytest.raises(EngineError) as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(1.85, 2.95),
                                                       n_transitions=9))
    assert exc.value.field == "parameters.n_transitions"
    with pytest.raises(EngineError) as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(1.85, 2.95),
                                                       bulk_gap_ev=2.2))
    assert exc.value.field == "parameters.bulk_gap_ev"
    with pytest.raises(EngineError) as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(1.0, 2.0)))
    assert exc.value.field == "parameters.energy_range_ev"
    with pytest.raises(EngineError) as exc:
        eng.decompose(lam, a, eng.DecompositionOptions(smoothing_window_mev=5000.0))
    assert exc.value.field == "parameters.smoothing_window_mev"


def test_result_is_plain_json(simulated_eq1):
    import json

    lam, a = simulated_eq1
    out = eng.decompose(lam, a, eng.DecompositionOptions(energy_range_ev=(1.85, 2.95),
                                                         background="power_law"))
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text)["engine"] == {"name": eng.ENGINE_NAME,
                                          "version": eng.ENGINE_VERSION}
