"""Spectral math on synthetic curves whose answers are known analytically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from characterization.parsers import spectra

SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def gaussian(x, center, sigma, height=1.0):
    return height * np.exp(-0.5 * ((x - center) / sigma) ** 2)


def test_nm_to_ev_of_hc_is_one_ev():
    assert spectra.nm_to_ev(1239.841984) == pytest.approx(1.0, rel=1e-12)


def test_nm_to_ev_rejects_non_positive_wavelength():
    with pytest.raises(ValueError):
        spectra.nm_to_ev(0.0)


def test_emission_peak_gaussian_gives_analytic_fwhm_nm_and_mev():
    x = np.arange(500.0, 700.0, 0.01)
    result = spectra.emission_peak_nm(x, gaussian(x, 600.0, 10.0) + 5.0)  # constant baseline
    half = 10.0 * SIGMA_TO_FWHM / 2.0
    expected_mev = (1239.841984 / (600.0 - half) - 1239.841984 / (600.0 + half)) * 1000.0
    assert result["peak_nm"] == pytest.approx(600.0, abs=0.005)
    assert result["fwhm_nm"] == pytest.approx(10.0 * SIGMA_TO_FWHM, rel=1e-5)
    assert result["fwhm_mev"] == pytest.approx(expected_mev, rel=1e-5)


def test_emission_peak_order_of_points_does_not_matter():
    x = np.arange(500.0, 700.0, 0.5)
    y = gaussian(x, 610.0, 8.0)
    assert spectra.emission_peak_nm(x[::-1], y[::-1]) == spectra.emission_peak_nm(x, y)


def test_half_max_crossings_cut_off_peak_raises():
    x = np.arange(590.0, 700.0, 0.5)
    with pytest.raises(ValueError, match="cut off"):
        spectra.half_max_crossings(x, gaussian(x, 595.0, 10.0))


def test_first_excitonic_peak_is_the_red_most_maximum():
    x = np.arange(350.0, 750.0, 0.5)
    y = (
        gaussian(x, 600.0, 12.0, 0.3)
        + gaussian(x, 520.0, 15.0, 0.5)
        + gaussian(x, 400.0, 60.0, 2.0)
    )
    assert spectra.first_excitonic_peak_nm(x, y) == pytest.approx(600.0, abs=0.5)


def test_first_excitonic_peak_ignores_noise_on_a_featureless_tail():
    rng = np.random.default_rng(7)
    x = np.arange(350.0, 750.0, 0.5)
    y = np.exp(-(x - 350.0) / 80.0) + rng.normal(0.0, 1e-4, x.size)
    with pytest.raises(ValueError, match="no excitonic maximum"):
        spectra.first_excitonic_peak_nm(x, y)


def test_first_excitonic_peak_survives_noise():
    rng = np.random.default_rng(1)
    x = np.arange(350.0, 750.0, 0.5)
    y = gaussian(x, 610.0, 15.0, 0.2) + gaussian(x, 420.0, 80.0, 1.5)
    # The sloping background shifts the true local maximum blue-wards of 610 nm: locate it
    # on a fine noiseless grid as the sign change of the derivative.
    fine = np.arange(590.0, 615.0, 0.001)
    slope = np.diff(gaussian(fine, 610.0, 15.0, 0.2) + gaussian(fine, 420.0, 80.0, 1.5))
    true_peak = fine[np.nonzero((slope[:-1] > 0) & (slope[1:] <= 0))[0][0] + 1]
    noisy = y + rng.normal(0.0, 0.002, x.size)
    assert spectra.first_excitonic_peak_nm(x, noisy) == pytest.approx(true_peak, abs=2.0)


def test_first_excitonic_peak_skips_saturated_plateau():
    x = np.arange(400.0, 700.0, 1.0)
    y = np.minimum(gaussian(x, 450.0, 30.0, 20.0), 10.0) + gaussian(x, 620.0, 10.0, 0.5)
    assert spectra.first_excitonic_peak_nm(x, y) == 620.0


def test_edge_energy_of_arctan_step_is_its_centre():
    e = np.arange(8900.0, 9100.0, 0.5)
    mu = np.arctan((e - 8979.0) / 2.0)
    assert spectra.edge_energy_max_derivative(e, mu) == 8979.0


def test_edge_energy_on_non_uniform_grid():
    e = np.concatenate(
        [
            np.arange(8800.0, 8970.0, 10.0),
            np.arange(8970.0, 9000.0, 0.25),
            np.arange(9000.0, 9500.0, 5.0),
        ]
    )
    mu = 1.0 / (1.0 + np.exp(-(e - 8985.0) / 1.5))
    assert spectra.edge_energy_max_derivative(e, mu) == 8985.0


def test_peak_positions_finds_three_gaussians():
    x = np.arange(10.0, 80.0, 0.01)
    y = (
        100.0
        + gaussian(x, 20.0, 0.1, 1000.0)
        + gaussian(x, 35.5, 0.1, 500.0)
        + gaussian(x, 50.0, 0.2, 800.0)
    )
    assert spectra.peak_positions(x, y) == [
        pytest.approx(20.0),
        pytest.approx(35.5),
        pytest.approx(50.0),
    ]


def test_peak_positions_of_flat_curve_is_empty():
    x = np.linspace(0.0, 1.0, 50)
    assert spectra.peak_positions(x, np.ones_like(x)) == []


def test_decimate_keeps_ends_and_limits_points():
    x = np.arange(10001.0)
    xd, yd = spectra.decimate(x, x * 2.0, 100)
    assert (len(xd), xd[0], xd[-1], yd[-1]) == (100, 0.0, 10000.0, 20000.0)
