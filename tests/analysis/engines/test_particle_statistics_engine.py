"""Particle-statistics engine against independent numpy/scipy computations.

No real per-particle TEM table is available (../shared/data/instruments/README.md: "ImageJ/Fiji
size tables" have no licensed sample), so the inputs are SIMULATED: a log-normal sample of
known parameters (recovered within its standard errors) and a platelet table built to match
seed 000's Table S1 (5.5 ML CdSe: length 28.6 ± 3.5 nm, width 7.6 ± 1.2 nm, Digimizer).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from analysis.engines import particle_statistics as eng
from labdb.lib.errors import EngineError

# SIMULATED log-normal diameters: median 8.0 nm, s = 0.12 (RSD ≈ 12 %), N = 2000
LN_MEDIAN_NM, LN_S, LN_N = 8.0, 0.12, 2000


def simulated_lognormal(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(math.log(LN_MEDIAN_NM), LN_S, LN_N)


def matched(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    """SIMULATED sizes whose sample mean and SD (ddof = 1) are exactly ``mean`` and ``sd``."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_lognormal_parameters_of_a_simulated_sample_are_recovered():
    x = simulated_lognormal()
    out = eng.particle_statistics([eng.Dimension("diameter", x)])["dimensions"]["diameter"]
    ln = out["fits"]["lognormal"]
    # within 3 standard errors of the true values (s/√N and s/√(2N))
    assert abs(ln["mu_ln"] - math.log(LN_MEDIAN_NM)) < 3 * ln["mu_ln_err"]
    assert abs(ln["s"] - LN_S) < 3 * ln["s_err"]
    assert (out["fits"]["lower_aic"], ln["ks_p"] > 0.05) == ("lognormal", True)
    assert out["n"] == LN_N


def test_statistics_equal_direct_numpy_and_scipy():
    x = matched(28.6, 3.5, 150, seed=3)  # SIMULATED 5.5 ML CdSe platelet lengths (Table S1)
    d = eng.describe(eng.Dimension("length", x))
    q1, q3 = np.percentile(x, [25, 75])
    assert (d["n"], d["mean_nm"], d["sd_nm"], d["median_nm"], d["iqr_nm"]) == (
        150, pytest.approx(28.6, abs=1e-12), pytest.approx(3.5, abs=1e-12),
        float(np.median(x)), float(q3 - q1))
    assert d["rsd_pct"] == pytest.approx(100 * 3.5 / 28.6, rel=1e-12)
    assert d["sem_nm"] == pytest.approx(3.5 / math.sqrt(150), rel=1e-12)
    # MLE normal: mean and SD divided by N; log-normal with loc 0: mean and SD of ln x (ddof 0)
    normal, ln = d["fits"]["normal"], d["fits"]["lognormal"]
    assert (normal["mu_nm"], normal["sigma_nm"]) == (
        pytest.approx(x.mean(), rel=1e-12), pytest.approx(x.std(ddof=0), rel=1e-12))
    assert (ln["mu_ln"], ln["s"]) == (pytest.approx(np.log(x).mean(), rel=1e-9),
                                      pytest.approx(np.log(x).std(ddof=0), rel=1e-6))
    ks = stats.kstest(x, "norm", args=(x.mean(), x.std(ddof=0)))
    assert (normal["ks_statistic"], normal["ks_p"]) == (
        pytest.approx(ks.statistic, rel=1e-9), pytest.approx(ks.pvalue, rel=1e-6))
    loglik = stats.norm.logpdf(x, x.mean(), x.std(ddof=0)).sum()
    assert normal["aic"] == pytest.approx(4 - 2 * loglik, rel=1e-9)


def test_histogram_follows_freedman_diaconis():
    x = matched(7.6, 1.2, 150, seed=4)
    hist = eng.describe(eng.Dimension("width", x))["histogram"]
    edges = np.histogram_bin_edges(x, bins="fd")
    q1, q3 = np.percentile(x, [25, 75])
    h = 2 * (q3 - q1) * 150 ** (-1 / 3)
    assert (hist["edges_nm"], sum(hist["counts"])) == (edges.tolist(), 150)
    assert len(hist["counts"]) == math.ceil((x.max() - x.min()) / h)
    assert hist["counts"] == np.histogram(x, bins=edges)[0].tolist()


def test_a_far_outlier_caps_the_bins_and_a_given_bin_count_wins():
    x = np.concatenate([matched(10.0, 0.2, 500, seed=5), [5000.0]])
    hist = eng.describe(eng.Dimension("diameter", x))["histogram"]
    assert (len(hist["counts"]), hist["rule"].startswith("Freedman–Diaconis gave")) == (
        eng.MAX_BINS, True)
    given = eng.describe(eng.Dimension("diameter", x), n_bins=12)["histogram"]
    assert len(given["counts"]) == 12


def test_fitted_curves_scale_to_expected_counts_per_bin():
    x = simulated_lognormal()
    d = eng.describe(eng.Dimension("diameter", x))
    curves, width = d["curves"], d["histogram"]["bin_width_nm"]
    ratio = np.asarray(curves["lognormal_counts"]) / np.asarray(curves["lognormal_pdf"])
    assert ratio == pytest.approx(np.full(ratio.size, LN_N * width), rel=1e-12)
    # the density integrates to ~1 over the plotted range
    assert np.trapezoid(curves["lognormal_pdf"], curves["x_nm"]) == pytest.approx(1, abs=1e-3)


def test_platelet_lengths_and_widths_separately_with_aspect_ratio():
    length, width = matched(28.6, 3.5, 150, seed=1), matched(7.6, 1.2, 150, seed=2)
    rows = tuple(range(2, 152))
    out = eng.particle_statistics([eng.Dimension("length", length, rows=rows),
                                   eng.Dimension("width", width, rows=rows)])
    dims = out["dimensions"]
    assert [(k, round(v["mean_nm"], 9), round(v["sd_nm"], 9)) for k, v in dims.items()] == [
        ("length", 28.6, 3.5), ("width", 7.6, 1.2)]
    ratio = length / width
    assert (out["aspect_ratio"]["n"], out["aspect_ratio"]["mean"]) == (
        150, pytest.approx(ratio.mean(), rel=1e-12))
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN, no numpy scalars


def test_aspect_ratio_only_for_the_same_rows():
    length, width = matched(28.6, 3.5, 10, seed=1), matched(7.6, 1.2, 10, seed=2)
    out = eng.particle_statistics([eng.Dimension("length", length, rows=tuple(range(10))),
                                   eng.Dimension("width", width, rows=tuple(range(1, 11)))])
    assert out["aspect_ratio"] is None


@pytest.mark.parametrize(("values", "message"), [
    ([5.0, 6.0], "2 particle size(s); at least 3"),
    ([5.0, 0.0, 6.0, 7.0], "row 3 has size 0 nm"),
    ([5.0, 6.0, -2.0, 7.0], "row 4 has size -2 nm"),
    ([5.0, float("nan"), 6.0, 7.0], "row 3 has size nan nm"),
])
def test_bad_sizes_are_refused_naming_the_field(values, message):
    dim = eng.Dimension("width", values, field="inputs.table",
                        rows=tuple(range(2, 2 + len(values))), column="Width (nm)")
    with pytest.raises(EngineError) as exc:
        eng.particle_statistics([dim])
    assert (exc.value.field, message in exc.value.message,
            exc.value.message.startswith("width (column 'Width (nm)')")) == (
        "inputs.table", True, True)


def test_units_convert_to_nm_and_pixels_need_a_calibration():
    assert eng.to_nm([1.5, 2.0], unit="µm").tolist() == [1500.0, 2000.0]
    assert eng.to_nm([10.0], unit="Å").tolist() == [1.0]
    assert eng.to_nm([40.0], unit="px", nm_per_px=0.25).tolist() == [10.0]
    with pytest.raises(EngineError) as exc:
        eng.to_nm([40.0], unit="px")
    assert exc.value.field == "parameters.nm_per_px"
    with pytest.raises(EngineError) as exc:
        eng.to_nm([40.0], unit="mm²")
    assert exc.value.field == "parameters.unit"


def test_no_dimension_or_a_repeated_one_is_refused():
    with pytest.raises(EngineError) as exc:
        eng.particle_statistics([])
    assert exc.value.field == "parameters.geometry"
    with pytest.raises(EngineError) as exc:
        eng.particle_statistics([eng.Dimension("length", [1, 2, 3]),
                                 eng.Dimension("length", [1, 2, 3])])
    assert exc.value.field == "parameters.geometry"
