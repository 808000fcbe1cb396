"""process_mu / mu_from_columns on real data: resolved parameters, exact repeat, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from xas_helpers import read_columns

from analysis.engines.xas_processing import mu_from_columns, process_mu
from labdb.lib.errors import EngineError

PROC = {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
        "xftf": {"kmin": 3, "kmax": 12, "kweight": 2, "dk": 4}}


@pytest.fixture(scope="module")
def znse(xas_data):
    g = read_columns(xas_data / "xdi" / "zn_znse_rt.xdi")
    return g.energy, mu_from_columns({"i0": g.i0, "itrans": g.itrans}, "transmission")


def test_process_mu_resolves_larch_defaults(znse):
    spec = process_mu(*znse, **PROC)
    pre = spec.parameters["pre_edge"]
    # XAS.md §1.2: for this file larch chooses pre1=-150, pre2=-75, norm1=25, norm2=740, nnorm=2
    assert (pre["pre1"], pre["pre2"], pre["norm1"], pre["nnorm"]) == (-150.0, -75.0, 25.0, 2)
    assert round(pre["norm2"]) == 740
    assert round(spec.e0_ev, 2) == 9663.75
    assert spec.parameters["autobk"]["kweight"] == 2
    assert spec.parameters["autobk"]["ek0"] == spec.e0_ev
    assert spec.parameters["xftf"]["dk2"] == 4
    assert [j["key"] for j in spec.journal] == ["pre_edge_callargs", "autobk_callargs",
                                                "xftf_callargs"]
    assert spec.k_inv_a.shape == spec.chi.shape
    assert spec.r_a.shape == spec.chir_mag.shape


def test_process_mu_repeats_exactly_from_resolved_parameters(znse):
    first = process_mu(*znse, **PROC)
    again = process_mu(*znse, **first.parameters)
    assert again.parameters == first.parameters
    assert np.array_equal(again.norm, first.norm)
    assert np.array_equal(again.chi, first.chi)
    assert np.array_equal(again.chir_mag, first.chir_mag)


def test_process_mu_accepts_kw_alias_like_larch(znse):
    a = process_mu(*znse, pre_edge={}, autobk={"rbkg": 1.0, "kw": 2}, xftf={"kmax": 12})
    b = process_mu(*znse, pre_edge={}, autobk={"rbkg": 1.0, "kweight": 2}, xftf={"kmax": 12})
    assert np.array_equal(a.chi, b.chi)


def test_process_mu_nan_mu_is_rejected(znse):
    energy, mu = znse
    mu = mu.copy()
    mu[100] = np.nan
    with pytest.raises(EngineError) as err:
        process_mu(energy, mu, **PROC)
    assert err.value.field == "mu"
    assert err.value.message == ("mu has 1 non-finite value(s) (NaN or ±inf), first at index "
                                 "100")


def test_process_mu_non_monotonic_energy_is_rejected(znse):
    energy, mu = znse
    energy = energy.copy()
    energy[[10, 11]] = energy[[11, 10]]
    with pytest.raises(EngineError) as err:
        process_mu(energy, mu, **PROC)
    assert err.value.field == "energy_ev"
    assert "must increase strictly" in err.value.message


def test_process_mu_too_few_points_is_rejected(znse):
    energy, mu = znse
    with pytest.raises(EngineError) as err:
        process_mu(energy[:20], mu[:20], **PROC)
    assert err.value.field == "energy_ev"
    assert err.value.message == "too few points: 20 (need at least 30)"


def test_process_mu_k_range_outside_data_is_rejected(znse):
    with pytest.raises(EngineError) as err:
        process_mu(*znse, pre_edge={}, autobk={"rbkg": 1.0}, xftf={"kmin": 3, "kmax": 25})
    assert err.value.field == "xftf.kmax"
    assert "outside the data" in err.value.message


def test_process_mu_unknown_parameter_is_rejected(znse):
    with pytest.raises(EngineError) as err:
        process_mu(*znse, pre_edge={"pre_1": -100}, autobk={}, xftf={})
    assert err.value.field == "pre_edge.pre_1"


def test_mu_from_columns_transmission_and_fluorescence():
    i0 = np.array([10.0, 20.0, 40.0])
    assert np.allclose(mu_from_columns({"i0": i0, "itrans": i0 / np.e}, "transmission"), 1.0)
    assert np.allclose(mu_from_columns({"i0": i0, "ifluor": i0 * 0.5}, "fluorescence"), 0.5)


def test_mu_from_columns_rejects_nonpositive_ratio_and_nan():
    with pytest.raises(EngineError) as err:
        mu_from_columns({"i0": np.array([1.0, 2.0]), "itrans": np.array([1.0, -2.0])},
                        "transmission")
    assert err.value.field == "columns.itrans"
    with pytest.raises(EngineError) as err:
        mu_from_columns({"i0": np.array([1.0, np.nan]), "ifluor": np.array([1.0, 2.0])},
                        "fluorescence")
    assert err.value.field == "columns.i0"
    with pytest.raises(EngineError) as err:
        mu_from_columns({"i0": np.array([1.0])}, "fluorescence")
    assert err.value.field == "columns.ifluor"
