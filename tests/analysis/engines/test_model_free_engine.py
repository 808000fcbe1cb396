"""Model-free EXAFS engine (seed 002's method) on real data: two repeat scans of bulk CdS
(greenockite, Cd K, 10 K, SSRL 4-3, XASDataLibrary CdS_10K_01/02).

Scan 01 is the reference (Cd–S: N_ref = 4, R_ref = 2.52 Å by crystallography); scan 02 is the
"unknown": the same material, so the fit must return N ≈ 4 and ΔR ≈ 0 within the width of the
distribution (issue #14 item 5's self-check).
"""

from __future__ import annotations

import numpy as np
import pytest
from xas_helpers import read_columns

from analysis.engines import model_free as mf
from analysis.engines.xas_processing import mu_from_columns, process_mu
from labdb.lib.errors import EngineError

#: Scan 02 differs from scan 01 above k ≈ 10 Å⁻¹ by more than its high-R noise (their filtered
#: amplitudes part by 7 % at 11 Å⁻¹, 20 % at 13 Å⁻¹), so the self-check uses 3–10 Å⁻¹.
WINDOW = mf.ShellWindow(kmin_inv_a=3.0, kmax_inv_a=10.0, dk_inv_a=1.0, kweight=2,
                        rmin_a=1.6, rmax_a=2.8, dr_a=0.2)
PROC = {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2}, "xftf": {}}


def _chi(path):
    g = read_columns(path)
    mu = mu_from_columns({"i0": g.i0, "itrans": g.itrans}, "transmission")
    done = process_mu(g.energy, mu, **PROC)
    return done.k_inv_a, done.chi


@pytest.fixture(scope="module")
def scans(xas_data):
    lib = xas_data / "xasdatalibrary"
    return _chi(lib / "CdS_10K_01.xdi"), _chi(lib / "CdS_10K_02.xdi")


def _fit(scans, **kws):
    (k1, c1), (k2, c2) = scans
    return mf.fit_model_free(k1, c1, k2, c2, window=kws.pop("window", WINDOW), n_ref=4.0,
                             r_ref_a=2.52, **kws)


def test_model_free_repeat_scan_returns_bulk_coordination_within_width(scans):
    steps = []
    result = _fit(scans, repeats=20, seed=7, progress=lambda pct, msg: steps.append(pct))
    out = result.to_json()
    n, dr = out["parameters"]["n"], out["parameters"]["delta_r_a"]
    assert abs(n["mean"] - 4.0) < 2 * n["sd"]
    assert abs(dr["mean"]) < 2 * dr["sd"]
    # the width is a real uncertainty, not a bound-wide smear
    assert 0.005 < n["sd"] < 0.3
    assert dr["sd"] < 0.005
    assert out["noise"]["scale"] >= 1.0
    assert out["derived"]["r_a"]["mean"] == pytest.approx(2.52 + dr["mean"], abs=1e-12)
    assert steps == list(range(5, 101, 5))
    assert sum(n["histogram"]["counts"]) == 20
    assert len(out["samples"]["n"]) == 20
    q = n["quantiles"]
    assert list(q) == ["p2_5", "p16", "p50", "p84", "p97_5"]
    assert q["p2_5"] <= q["p16"] <= q["p50"] <= q["p84"] <= q["p97_5"]
    print(f"N = {n['mean']:.4f} ± {n['sd']:.4f}, ΔR = {dr['mean']:.5f} ± {dr['sd']:.5f} Å, "
          f"{out['timing']['seconds_per_repeat']:.3f} s per repeat")


def test_model_free_reference_on_itself_without_noise_is_exact(scans):
    (k1, c1), _ = scans
    result = mf.fit_model_free(k1, c1, k1, c1, window=WINDOW, n_ref=4.0, r_ref_a=2.52,
                               repeats=2, seed=0, noise="none")
    for name, expected in (("n", 4.0), ("delta_sigma2_a2", 0.0), ("delta_r_a", 0.0),
                           ("delta_e0_ev", 0.0)):
        assert np.allclose(result.samples[name], expected, atol=1e-4), name
    assert result.ssr.max() < 1e-10


def test_model_free_same_seed_is_bit_identical_other_seed_is_not(scans):
    first = _fit(scans, repeats=3, seed=11).to_json()
    again = _fit(scans, repeats=3, seed=11).to_json()
    other = _fit(scans, repeats=3, seed=12).to_json()
    first.pop("timing"), again.pop("timing"), other.pop("timing")
    assert first == again
    assert first["samples"]["n"] != other["samples"]["n"]


def test_model_free_window_without_peak_names_r_window(scans):
    window = mf.ShellWindow(kmin_inv_a=3.0, kmax_inv_a=10.0, rmin_a=4.6, rmax_a=5.2)
    with pytest.raises(EngineError) as info:
        _fit(scans, repeats=1, window=window)
    assert info.value.field == "r_window"


def test_model_free_k_range_beyond_data_names_k_range(scans):
    window = mf.ShellWindow(kmin_inv_a=3.0, kmax_inv_a=19.0)
    with pytest.raises(EngineError) as info:
        _fit(scans, repeats=1, window=window)
    assert info.value.field == "k_range"


def test_model_free_bad_bounds_name_the_parameter(scans):
    with pytest.raises(EngineError) as info:
        _fit(scans, repeats=1, bounds={"delta_r_a": (0.2, -0.2)})
    assert info.value.field == "bounds.delta_r_a"
