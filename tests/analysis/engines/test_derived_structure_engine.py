"""Derived-structure calculators against seed 002's printed numbers and hand computations."""

from __future__ import annotations

import math

import pytest

from analysis.engines import derived_structure as ds
from labdb.lib.errors import EngineError

# Seed 002, Results (EXAFS): "fitted Cd-S distance of 2.4881(98) Å and Cd-Cd distance of
# 3.9769(96) Å. This was found to be 106.1(1.1)°".
R_CDS, R_CDS_ERR, R_CDCD, R_CDCD_ERR = 2.4881, 0.0098, 3.9769, 0.0096


def _hand_angle_err_deg(r1, s1, r2, s2):
    u = r2 / (2 * r1)
    root = math.sqrt(1 - u * u)
    d_r1 = -2 * u / (r1 * root)  # dθ/dR1 (rad/Å)
    d_r2 = 1 / (r1 * root)  # dθ/dR2 (rad/Å)
    return math.degrees(math.hypot(d_r1 * s1, d_r2 * s2))


def test_bond_angle_seed002_cd_s_cd_reproduces_printed_106_1():
    out = ds.bond_angle(R_CDS, R_CDS_ERR, R_CDCD, R_CDCD_ERR)
    assert round(out["angle_deg"], 1) == 106.1
    assert out["angle_deg"] == pytest.approx(
        math.degrees(2 * math.asin(R_CDCD / (2 * R_CDS))), rel=1e-15)
    assert out["angle_err_deg"] == pytest.approx(
        _hand_angle_err_deg(R_CDS, R_CDS_ERR, R_CDCD, R_CDCD_ERR), rel=1e-12)
    # the printed 1.1° is not what the printed R errors give to first order
    assert round(out["angle_err_deg"], 2) == 0.70
    assert out["error_propagation"]["method"] == "linear"
    assert out["tetrahedral_deg"] == pytest.approx(109.4712, abs=1e-4)


def test_bond_angle_monte_carlo_agrees_with_linear_for_small_errors():
    lin = ds.bond_angle(R_CDS, R_CDS_ERR, R_CDCD, R_CDCD_ERR)
    mc = ds.bond_angle(R_CDS, R_CDS_ERR, R_CDCD, R_CDCD_ERR, method="monte_carlo",
                       n_samples=200_000, seed=1)
    assert mc["error_propagation"] == {
        "method": "monte_carlo", "n_samples": 200_000, "seed": 1, "dropped_samples": 0,
        "assumption": "independent 1σ normal errors, mean and SD of the samples"}
    assert mc["angle_deg"] == pytest.approx(lin["angle_deg"], abs=0.02)
    assert mc["angle_err_deg"] == pytest.approx(lin["angle_err_deg"], rel=0.01)


def test_bond_angle_rejects_no_triangle():
    with pytest.raises(EngineError) as err:
        ds.bond_angle(1.9, 0.01, 3.9769, 0.01)
    assert err.value.field == "shell2"


def test_coordination_ratio_error_equals_analytic_formula():
    # seed 002 MSC-311, Table 1: N·S0²(Cd–S) = 2.62 ± 0.26, N·S0²(Cd–O) = 3.38 ± 0.37
    out = ds.coordination_ratio(2.62, 0.26, 3.38, 0.37)
    ratio = 2.62 / 3.38
    assert out["ratio"] == ratio
    assert out["ratio_err"] == pytest.approx(
        ratio * math.sqrt((0.26 / 2.62) ** 2 + (0.37 / 3.38) ** 2), rel=1e-12)


def test_coordination_ratio_rejects_zero_denominator():
    with pytest.raises(EngineError) as err:
        ds.coordination_ratio(2.6, 0.2, 0.0, 0.1)
    assert err.value.field == "n2"


@pytest.mark.parametrize(("n", "n_err"), [(2.57, 0.27), (2.62, 0.26)])  # MSC-322, MSC-311
def test_stoichiometry_seed002_three_candidates(n, n_err):
    out = ds.stoichiometry_candidates(n, n_err, mass_da=5160, mass_tolerance_da=10)
    got = [(c["formula"], round(c["coordination"], 2), round(c["mass_da"]))
           for c in out["candidates"]]
    # printed: "Cd38S28, Cd39S24 and Cd40S21 ... 2.95, 2.46 and 2.10 ... 5169, 5154 and 5170"
    assert got == [("Cd39S24", 2.46, 5154), ("Cd38S28", 2.95, 5169), ("Cd40S21", 2.1, 5170)]
    assert out["closest"] == "Cd39S24"
    rejected = {c["formula"] for c in out["rejected"]}
    assert {"Cd37S31", "Cd41S17"} <= rejected  # in the mass window, N 3.35 / 1.66


def test_stoichiometry_one_sigma_keeps_only_the_closest():
    out = ds.stoichiometry_candidates(2.57, 0.27, mass_da=5160, n_sigma=1)
    assert [c["formula"] for c in out["candidates"]] == ["Cd39S24"]


def test_stoichiometry_from_formula_list():
    out = ds.stoichiometry_candidates(2.57, 0.27, formulas=["Cd37S20", "Cd39S24", "Cd33S33"])
    assert [c["formula"] for c in out["candidates"]] == ["Cd39S24", "Cd37S20"]
    assert out["candidates"][1]["coordination"] == 80 / 37
    assert out["candidates"][0]["mass_da"] == pytest.approx(39 * 112.414 + 24 * 32.06)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"formulas": ["Cd39X24"]}, "formulas"),
    ({"formulas": ["CdSe4"]}, "formulas"),
    ({"formulas": ["Cd0S4"]}, "formulas"),
    ({}, "mass_da"),
])
def test_stoichiometry_rejects_bad_input(kwargs, field):
    with pytest.raises(EngineError) as err:
        ds.stoichiometry_candidates(2.57, 0.27, **kwargs)
    assert err.value.field == field


def test_stoichiometry_needs_an_error_on_n():
    with pytest.raises(EngineError) as err:
        ds.stoichiometry_candidates(2.57, None, mass_da=5160)
    assert err.value.field == "coordination"
