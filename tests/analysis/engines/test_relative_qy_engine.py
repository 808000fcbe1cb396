"""The relative-QY engine alone, on real Edinburgh emission scans and on SIMULATED spectra.

Real input: ``lab_exports/edinst/Fluoracle_emission_multiple.txt`` (five emission scans of one
sample, 500–600 nm, 0.5 nm steps) and ``F980_EmScan.txt`` (675–820 nm). No reference QY exists
for them: every figure is checked against an independent computation written here — the text
read with numpy (not our parser), the trapezoid by ``numpy.trapezoid``, off-grid range ends by
``scipy.integrate.quad`` of the linear interpolant, and the uncertainty by the closed-form
first-order propagation formula (not the ``uncertainties`` package the engine uses).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from analysis.engines import relative_qy as engine
from labdb.lib.errors import EngineError
from tests.conftest import SHARED_DATA

EDINST = SHARED_DATA / "lab_exports" / "edinst"
LN10 = math.log(10.0)


def read_edinst(path) -> tuple[np.ndarray, np.ndarray]:
    """x and every scan column of an Edinburgh text export, read with numpy: the numeric rows
    after the header block (tab-separated, trailing tab)."""
    rows = []
    for line in path.read_text().splitlines():
        cells = [c for c in line.split("\t") if c.strip()]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            continue
    table = np.array([r for r in rows if len(r) == len(rows[-1])])
    return table[:, 0], table[:, 1:]


@pytest.fixture(scope="module")
def scans():
    return read_edinst(EDINST / "Fluoracle_emission_multiple.txt")


def emission(label, x, y, lo, hi, baseline=0.0):
    return engine.Emission(label=label, wavelength_nm=x, intensity=y, range_nm=(lo, hi),
                           baseline=baseline)


def numbers(**overrides):
    base = {"absorbance_sample": 0.05, "absorbance_reference": 0.04, "absorbance_err": 0.002,
            "reference_qy": 0.50, "reference_qy_err": 0.02, "n_sample": 1.497,
            "n_reference": 1.361}
    return engine.QYInputs(**{**base, **overrides})


def f_abs(a):
    return 1 - 10 ** (-a)


def test_qy_of_two_real_scans_equals_a_direct_numpy_computation(scans):
    x, ys = scans
    assert (x.size, ys.shape[1]) == (201, 5)
    mask = (x >= 540.0) & (x <= 590.0)
    i_s, i_r = np.trapezoid(ys[mask, 0], x[mask]), np.trapezoid(ys[mask, 1], x[mask])
    expected = 0.50 * (i_s / i_r) * (f_abs(0.04) / f_abs(0.05)) * (1.497**2 / 1.361**2)
    out = engine.relative_qy(emission("Em 1", x, ys[:, 0], 540.0, 590.0),
                             emission("Em 2", x, ys[:, 1], 540.0, 590.0), numbers())
    assert out["sample"]["integral"] == pytest.approx(i_s, rel=1e-12)
    assert out["reference"]["integral"] == pytest.approx(i_r, rel=1e-12)
    assert out["qy"] == pytest.approx(expected, rel=1e-12)
    assert out["qy_pct"] == pytest.approx(expected * 100, rel=1e-12)
    assert (out["sample"]["n_points"], out["warnings"]) == (101, [])


def test_uncertainty_equals_the_first_order_propagation_formula(scans):
    x, ys = scans
    a_s, a_r, s_a, q, s_q = 0.05, 0.04, 0.002, 0.50, 0.02
    out = engine.relative_qy(emission("Em 3", x, ys[:, 2], 545.0, 585.0),
                             emission("Em 4", x, ys[:, 3], 545.0, 585.0), numbers())

    def dlnf(a):  # d ln(1 − 10^−A) / dA
        return LN10 * 10 ** (-a) / (1 - 10 ** (-a))

    rel = math.sqrt((s_q / q) ** 2 + (dlnf(a_s) * s_a) ** 2 + (dlnf(a_r) * s_a) ** 2)
    assert out["qy_err"] == pytest.approx(out["qy"] * rel, rel=1e-9)
    assert out["qy_pct_err"] == pytest.approx(out["qy"] * rel * 100, rel=1e-9)
    budget = out["uncertainty_budget"]
    assert budget["reference_qy"] == pytest.approx((s_q / q) ** 2 / rel**2, rel=1e-9)
    assert sum(budget.values()) == pytest.approx(1.0, rel=1e-12)


def test_linear_absorbance_model_uses_the_absorbance_ratio(scans):
    x, ys = scans
    out = engine.relative_qy(emission("Em 1", x, ys[:, 0], 540.0, 590.0),
                             emission("Em 5", x, ys[:, 4], 540.0, 590.0),
                             numbers(absorbance_model="linear"))
    mask = (x >= 540.0) & (x <= 590.0)
    ratio = np.trapezoid(ys[mask, 0], x[mask]) / np.trapezoid(ys[mask, 4], x[mask])
    assert out["qy"] == pytest.approx(0.50 * ratio * (0.04 / 0.05) * 1.497**2 / 1.361**2,
                                      rel=1e-12)
    rel = math.sqrt((0.02 / 0.50) ** 2 + (0.002 / 0.05) ** 2 + (0.002 / 0.04) ** 2)
    assert out["qy_err"] == pytest.approx(out["qy"] * rel, rel=1e-9)


def test_off_grid_range_ends_integrate_the_linear_interpolant_exactly():
    x, ys = read_edinst(EDINST / "F980_EmScan.txt")
    y = ys[:, 0]
    lo, hi = 740.3, 801.7  # between grid points (1 nm steps)
    direct, _ = quad(lambda w: np.interp(w, x, y), lo, hi,
                     points=x[(x > lo) & (x < hi)].tolist(), limit=500)
    got = engine.integrate_emission(emission("EmScan9", x, y, lo, hi), field="f")
    assert got["integral"] == pytest.approx(direct, rel=1e-9)
    assert got["n_points"] == 61


def test_outside_range_baseline_is_the_mean_outside_and_subtracts_a_rectangle(scans):
    x, ys = scans
    y = ys[:, 0]
    base = engine.outside_range_baseline(x, y, (550.0, 580.0), field="f", label="Em 1")
    outside = (x < 550.0) | (x > 580.0)
    assert base == pytest.approx(float(np.mean(y[outside])), rel=1e-12)
    plain = engine.integrate_emission(emission("Em 1", x, y, 550.0, 580.0), field="f")
    less = engine.integrate_emission(emission("Em 1", x, y, 550.0, 580.0, base), field="f")
    assert less["integral"] == pytest.approx(plain["integral"] - base * 30.0, rel=1e-12)


def test_simulated_gaussians_give_the_qy_set_by_their_areas():
    """SIMULATED: two Gaussian bands of areas 3000 and 12000 counts·nm on 0.5 nm grids; with
    equal absorbances and solvents the QY is QY_ref × 3000/12000."""
    x = np.arange(400.0, 800.0, 0.5)

    def band(area, centre, sigma):
        return area * np.exp(-0.5 * ((x - centre) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    out = engine.relative_qy(
        emission("SIMULATED sample", x, band(3000.0, 620.0, 12.0), 500.0, 740.0),
        emission("SIMULATED reference", x, band(12000.0, 560.0, 10.0), 450.0, 700.0),
        numbers(absorbance_sample=0.05, absorbance_reference=0.05, n_sample=1.361,
                reference_qy=0.8))
    assert out["qy"] == pytest.approx(0.8 * 0.25, rel=1e-6)


def test_without_any_uncertainty_the_error_is_zero_and_the_budget_empty(scans):
    x, ys = scans
    out = engine.relative_qy(emission("Em 1", x, ys[:, 0], 540.0, 590.0),
                             emission("Em 2", x, ys[:, 1], 540.0, 590.0),
                             numbers(absorbance_err=0.0, reference_qy_err=None))
    assert (out["qy_err"], out["uncertainty_budget"]) == (0.0, {})


def test_absorbance_above_0_1_is_flagged_as_inner_filter(scans):
    x, ys = scans
    out = engine.relative_qy(emission("Em 1", x, ys[:, 0], 540.0, 590.0),
                             emission("Em 2", x, ys[:, 1], 540.0, 590.0),
                             numbers(absorbance_sample=0.15, reference_qy_err=None))
    assert [w.split(":")[0] for w in out["warnings"]] == [
        "absorbance_sample", "the reference's literature QY has no stated uncertainty"]
    assert "inner-filter" in out["warnings"][0]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"absorbance_sample": 0.0}, "absorbance_sample"),
    ({"absorbance_reference": -0.01}, "absorbance_reference"),
    ({"absorbance_sample": 2.5}, "absorbance_sample"),
    ({"reference_qy": 1.3}, "parameters.standard"),
    ({"n_sample": 0.9}, "parameters.n_sample"),
    ({"absorbance_model": "log"}, "parameters.absorbance_model"),
])
def test_refused_numbers_name_their_field(scans, overrides, field):
    x, ys = scans
    with pytest.raises(EngineError) as exc:
        engine.relative_qy(emission("Em 1", x, ys[:, 0], 540.0, 590.0),
                           emission("Em 2", x, ys[:, 1], 540.0, 590.0), numbers(**overrides))
    assert exc.value.field == field


@pytest.mark.parametrize(("lo", "hi", "baseline", "says"), [
    (480.0, 590.0, 0.0, "outside the data"),
    (590.0, 540.0, 0.0, "start must be below"),
    (550.0, 550.6, 0.0, "holds only 2 points"),
    (540.0, 590.0, 1e6, "must be positive"),
])
def test_bad_integration_ranges_are_refused(scans, lo, hi, baseline, says):
    x, ys = scans
    with pytest.raises(EngineError) as exc:
        engine.relative_qy(emission("Em 1", x, ys[:, 0], lo, hi, baseline),
                           emission("Em 2", x, ys[:, 1], 540.0, 590.0), numbers())
    assert (exc.value.field, says in exc.value.message) == ("parameters.sample_range_nm", True)


def test_absorbance_at_interpolates_and_refuses_an_excitation_outside():
    x, y = np.array([600.0, 700.0, 800.0]), np.array([0.3, 0.1, 0.05])
    assert engine.absorbance_at(x[::-1], y[::-1], 650.0, field="f", label="a") == \
        pytest.approx(0.2, rel=1e-12)
    with pytest.raises(EngineError) as exc:
        engine.absorbance_at(x, y, 500.0, field="inputs.sample_absorption", label="a")
    assert exc.value.field == "inputs.sample_absorption"


def test_refractive_index_table_is_case_insensitive():
    assert (engine.refractive_index_of("dmso"), engine.refractive_index_of("Toluene"),
            engine.refractive_index_of("unobtainium")) == (1.479, 1.497, None)
