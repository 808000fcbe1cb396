"""Simulated χ(k) round trip and plots (simulated data must say so)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.engines.feff import LatticeStructure, compute_feff_paths
from analysis.engines.plots import (
    plot_chik_fit,
    plot_chir_fit,
    plot_fit_summary,
    plot_normalized_mu,
)
from analysis.engines.simulation import roundtrip_single_path, simulate_chi_from_paths
from labdb.lib.errors import EngineError

# seed-000 example values (the lead parametrizes this with the real published table later)
SE_CD = {"absorber": "Se", "scatterer": "Cd", "n": 2.7, "n_err": 0.3, "r_a": 2.62,
         "sigma2_a2": 0.0070, "delta_e0_ev": 0.0, "s02": 1.0, "source": "seed-000 example"}


pytestmark = pytest.mark.slow  # real larch fits / FEFF runs

@pytest.fixture(scope="module")
def roundtrip(feff_cache):
    return roundtrip_single_path(SE_CD, feff_cache=feff_cache, noise_frac=0.02, seed=0)


def test_roundtrip_recovers_published_r_and_n(roundtrip):
    rec = roundtrip["recovered"]
    assert abs(rec["r_a"] - SE_CD["r_a"]) <= 0.01
    assert abs(rec["n"] - SE_CD["n"]) <= SE_CD["n_err"]
    assert roundtrip["r_within_0p01_a"] is True
    assert roundtrip["n_within_published_err"] is True
    assert roundtrip["simulated"] is True
    assert roundtrip["label"].startswith("SIMULATED from published fit seed-000 example: Se–Cd")
    assert roundtrip["fit_result"].simulated is True
    assert roundtrip["fit_result"].datasets[0]["simulated"] is True


def test_simulation_is_reproducible_and_labelled(feff_cache):
    run = compute_feff_paths(LatticeStructure("zincblende", 6.05, "Se", "Cd"), absorber="Se",
                             cluster_radius_a=4.5, cache=feff_cache)
    a = simulate_chi_from_paths([SE_CD], run, noise_frac=0.01, seed=3)
    b = simulate_chi_from_paths([SE_CD], run, noise_frac=0.01, seed=3)
    assert a.simulated is True
    assert np.array_equal(a.chi, b.chi)
    assert not np.array_equal(a.chi, a.chi_noiseless)
    assert a.paths[0]["path_file"] == "feff0001"
    with pytest.raises(EngineError) as err:
        simulate_chi_from_paths([{**SE_CD, "r_a": 3.5}], run)
    assert err.value.field == "paths[0].r_a"


def test_plots_render_png_and_svg_and_label_simulated_data(roundtrip, xas_data):
    result = roundtrip["fit_result"]
    png = plot_chik_fit(result)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_chir_fit(result, fmt="svg").decode()
    assert "simulated data" in svg and "SIMULATED" in svg
    assert plot_fit_summary(result)[:4] == b"\x89PNG"
    with pytest.raises(EngineError):
        plot_chik_fit(result, fmt="gif")


def test_normalized_mu_plot_of_measured_data_is_not_labelled_simulated(xas_data):
    from xas_helpers import read_columns

    from analysis.engines.xas_processing import mu_from_columns, process_mu

    g = read_columns(xas_data / "xdi" / "zn_znse_rt.xdi")
    spectrum = process_mu(g.energy, mu_from_columns({"i0": g.i0, "itrans": g.itrans},
                                                    "transmission"),
                          pre_edge={}, autobk={"rbkg": 1.0}, xftf={})
    svg = plot_normalized_mu(spectrum, fmt="svg").decode()
    assert "simulated" not in svg.lower()
