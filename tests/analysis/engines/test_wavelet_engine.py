"""Cauchy wavelet engine: equal to a direct larch ``cauchy_wavelet`` call on real CdS data (Cd K,
10 K, XASDataLibrary CdS_10K_01), ridges where the physics puts them, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from xas_helpers import read_columns

from analysis.engines import wavelet
from analysis.engines.xas_processing import process_mu
from labdb.lib.errors import EngineError


@pytest.fixture(scope="module")
def cds_chi(xas_data):
    g = read_columns(xas_data / "xasdatalibrary" / "CdS_10K_01.xdi",
                     ["energy", "i0", "itrans", "irefer"])
    done = process_mu(g.energy, np.log(g.i0 / g.itrans), pre_edge={}, autobk={"rbkg": 1.0},
                      xftf={})
    return done.k_inv_a, done.chi


def _direct_larch(k, chi, kmin, kmax, k_weight):
    from larch import Group
    from larch.xafs import cauchy_wavelet

    cut = np.where((k >= kmin - 1e-9) & (k <= kmax + 1e-9), chi, 0.0)
    group = Group(k=k, chi=cut)
    cauchy_wavelet(group, kweight=k_weight)
    return group


def test_wavelet_cds_equals_direct_larch_call(cds_chi):
    k, chi = cds_chi
    res = wavelet.wavelet_transform(k, chi, k_weight=2, k_range_inv_a=[2, 16],
                                    r_range_a=[0, 6], bands_a=[[1.5, 3.0], [3.0, 4.5]])
    group = _direct_larch(k, chi, 2, 16, 2)
    mag, r = group.wcauchy_mag, group.wcauchy_r
    rows = np.searchsorted(r, res["r_a"])
    cols = np.searchsorted(k, res["k_inv_a"])
    np.testing.assert_array_equal(np.array(res["magnitude"]), mag[np.ix_(rows, cols)])
    assert res["eta"] == len(r) == 326
    assert res["eta_is_larch_default"] is True
    # ridges searched on larch's full grid inside the k range
    k_cols = np.where((k >= 2) & (k <= 16))[0]
    for ridge, (r1, r2) in zip(res["ridges"], [(1.5, 3.0), (3.0, 4.5)], strict=True):
        band_rows = np.where((r >= r1) & (r <= r2))[0]
        block = mag[np.ix_(band_rows, k_cols)]
        assert ridge["magnitude"] == block.max()
        ir, ik = np.unravel_index(np.argmax(block), block.shape)
        assert (ridge["r_a"], ridge["k_inv_a"]) == (r[band_rows[ir]], k[k_cols[ik]])
    # Cd–S first shell (2.52 Å) and Cd–Cd (4.12 Å) without phase correction: ~0.4 Å shorter
    assert res["ridges"][0]["r_a"] == pytest.approx(2.092, abs=0.001)
    assert res["ridges"][1]["r_a"] == pytest.approx(3.846, abs=0.001)


def test_wavelet_cds_grid_bounded_to_200_points(cds_chi):
    k, chi = cds_chi
    res = wavelet.wavelet_transform(k, chi, k_weight=2, k_range_inv_a=[0, 17],
                                    r_range_a=[0, 10])
    assert res["full_shape"] == [326, 344]
    assert (res["r_stride"], res["k_stride"]) == (2, 2)
    assert (len(res["r_a"]), len(res["k_inv_a"])) == (163, 171)
    assert np.array(res["magnitude"]).shape == (163, 171)


def test_wavelet_cds_chir_equals_larch_xftf(cds_chi):
    from larch import Group
    from larch.xafs import xftf

    k, chi = cds_chi
    res = wavelet.wavelet_transform(k, chi, k_weight=2, k_range_inv_a=[2, 16],
                                    r_range_a=[0, 6])
    group = Group(k=k, chi=chi)
    xftf(group, kmin=2, kmax=16, kweight=2, dk=1.0, window="hanning")
    keep = group.r <= 6
    assert res["chir_mag"] == group.chir_mag[keep].tolist()


def test_wavelet_own_order_equals_larch_at_its_default(cds_chi):
    k, chi = cds_chi
    cut = np.where((k >= 2) & (k <= 16), chi, 0.0) * k**2
    r, mag = wavelet._cauchy_with_order(k, cut, 326, 10.0, 2048)
    group = _direct_larch(k, chi, 2, 16, 2)
    np.testing.assert_array_equal(mag, group.wcauchy_mag)
    np.testing.assert_array_equal(r, group.wcauchy_r)


def test_wavelet_sinusoid_ridge_at_r0_and_sharper_with_eta():
    k = np.arange(0, 401) * 0.05
    chi = np.sin(2 * k * 2.5) * np.exp(-2 * 0.003 * k**2)
    widths = []
    for eta in (40, 100, None, 600):
        res = wavelet.wavelet_transform(k, chi, k_weight=0, k_range_inv_a=[2, 18],
                                        r_range_a=[0, 6], bands_a=[[1.0, 4.0]], eta=eta)
        rstep = res["r_a"][1] - res["r_a"][0]
        assert abs(res["ridges"][0]["r_a"] - 2.5) <= rstep
        profile = np.array(res["magnitude"]).max(axis=1)
        above = np.array(res["r_a"])[profile >= profile.max() / 2]
        widths.append(above.max() - above.min())
    assert widths == sorted(widths, reverse=True)
    assert widths[0] > 2 * widths[-1]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"k_range_inv_a": [2, 19]}, "k_range"),
    ({"k_range_inv_a": [5, 3]}, "k_range"),
    ({"r_range_a": [0, 12]}, "r_range"),
    ({"bands_a": [[5.0, 7.0]]}, "bands.0"),
    ({"bands_a": [[1.0, 2.0], [2.01, 2.02]]}, "bands.1"),
    ({"eta": 0}, "eta"),
    ({"k_weight": 4}, "k_weight"),
])
def test_wavelet_rejects_bad_input_naming_the_field(cds_chi, kwargs, field):
    k, chi = cds_chi
    args = {"k_weight": 2, "k_range_inv_a": [2, 16], "r_range_a": [0, 6], **kwargs}
    with pytest.raises(EngineError) as err:
        wavelet.wavelet_transform(k, chi, **args)
    assert err.value.field == field


def test_wavelet_rejects_grid_not_starting_at_zero(cds_chi):
    k, chi = cds_chi
    with pytest.raises(EngineError) as err:
        wavelet.wavelet_transform(k[10:], chi[10:], k_range_inv_a=[2, 16])
    assert err.value.field == "chi"
