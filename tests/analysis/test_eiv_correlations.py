"""Correlations that respect the error bars (issue #14 item 7).

York (2004) and scipy.odr lines on both axes' errors, seeded resampled intervals of r and the
slope, the warnings, and the fit choice (latest / earliest / as of / per-sample pick) changing
the answer on the demo — each checked against numbers computed independently here with scipy.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from django.db import transaction
from django.test import Client
from scipy import optimize, stats

from analysis.engines.statistics import (
    LIMIT_MIN_POINTS,
    MAX_RESAMPLED_VALUES,
    WARN_LISTED,
    correlate,
    error_warnings,
    limit_intervals,
    odr_line,
    resampled_intervals,
    york_line,
)
from analysis.selectors.correlation import parse_fit_picks
from analysis.selectors.frame_cache import clear_frame_cache
from analysis.selectors.structure_property import structure_property_frame
from labdb.lib.errors import DomainError

CORRELATION = "/api/analysis/correlation/"
CDZNS_45 = "NPL-CdSe/CdZnS-4.5ML"  # its latest Cd fit is the 6-month aged one (no Cd–Se path)
RATIO, QY = "cd_s_cd_se_n_ratio", "qy_pct"

# Pearson's data with York's weights (York 1966; York et al., Am. J. Phys. 72, 367 (2004)).
PEARSON_X = np.array([0.0, 0.9, 1.8, 2.6, 3.3, 4.4, 5.2, 6.1, 6.5, 7.4])
PEARSON_Y = np.array([5.9, 5.4, 4.4, 4.6, 3.5, 3.7, 2.8, 2.8, 2.4, 1.5])
YORK_WX = np.array([1000, 1000, 500, 800, 200, 80, 60, 20, 1.8, 1.0])
YORK_WY = np.array([1, 1.8, 4, 8, 20, 20, 70, 70, 100, 500.0])
PEARSON_SX, PEARSON_SY = 1 / np.sqrt(YORK_WX), 1 / np.sqrt(YORK_WY)


def _scipy_odr():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from scipy import odr
    return odr


def _york_objective_minimum(x, y, sx, sy, r=0.0):
    """The York line found by brute minimisation of its χ²(a, b) with scipy.optimize (not by
    York's iteration): Σ (y − a − b·x)² / (σy² + b²σx² − 2·b·r·σx·σy)."""
    def chi2(p):
        a, b = p
        return np.sum((y - a - b * x) ** 2 / (sy ** 2 + b * b * sx ** 2 - 2 * b * r * sx * sy))
    start = stats.linregress(x, y)
    best = optimize.minimize(chi2, [start.intercept, start.slope], method="Nelder-Mead",
                             options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000})
    return best.x[0], best.x[1], best.fun


# --- York -------------------------------------------------------------------------------------

def test_york_reproduces_the_pearson_york_benchmark():
    fit = york_line(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    # York et al. 2004, "Pearson's data with York's weights": b = −0.4805 ± 0.0580,
    # a = 5.4799 ± 0.2950 (σ from the stated errors).
    assert (round(fit["slope"], 4), round(fit["slope_err"], 4)) == (-0.4805, 0.0580)
    assert (round(fit["intercept"], 4), round(fit["intercept_err"], 4)) == (5.4799, 0.2950)
    # χ² of the published solution, and σ scaled by √(χ²/(n − 2)) = √(11.8664/8)
    assert round(fit["chi2"], 4) == 11.8664
    assert (round(fit["slope_err_scaled"], 4), round(fit["intercept_err_scaled"], 4)) == (
        0.0706, 0.3592)
    a, b, chi2 = _york_objective_minimum(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    assert fit["slope"] == pytest.approx(b, abs=1e-7)
    assert fit["intercept"] == pytest.approx(a, abs=1e-6)
    assert fit["chi2"] == pytest.approx(chi2, rel=1e-9)


def test_york_with_correlated_errors_minimises_its_chi2():
    x = np.array([1.0, 2.1, 2.9, 4.2, 5.1, 5.8])
    y = np.array([2.3, 3.9, 6.4, 8.1, 10.6, 11.4])
    sx = np.array([0.2, 0.1, 0.3, 0.2, 0.25, 0.15])
    sy = np.array([0.4, 0.3, 0.5, 0.2, 0.6, 0.3])
    fit = york_line(x, y, sx, sy, error_correlation=0.6)
    a, b, chi2 = _york_objective_minimum(x, y, sx, sy, r=0.6)
    assert (fit["slope"], fit["intercept"]) == (pytest.approx(b, abs=1e-7),
                                                pytest.approx(a, abs=1e-6))
    assert fit["chi2"] == pytest.approx(chi2, rel=1e-9)
    independent = york_line(x, y, sx, sy)
    assert independent["slope"] != pytest.approx(fit["slope"], abs=1e-3)  # r matters
    # fully correlated errors along the line itself: every weight diverges
    with pytest.raises(ValueError, match="York fit is undefined for these errors"):
        york_line(x, 2 * x, [0.1] * 6, [0.2] * 6, error_correlation=1.0)


def test_york_with_exact_y_is_the_x_error_only_line():
    x = np.array([0.4, 1.1, 2.3, 2.9, 4.0])
    y = np.array([1.0, 2.5, 4.1, 6.2, 7.7])
    sx = np.array([0.1, 0.3, 0.2, 0.4, 0.2])
    fit = york_line(x, y, sx, [None] * 5)
    a, b, _ = _york_objective_minimum(x, y, sx, np.zeros(5))
    assert fit["slope"] == pytest.approx(b, abs=1e-7)
    assert fit["intercept"] == pytest.approx(a, abs=1e-6)
    with pytest.raises(ValueError, match="a point has neither an x nor a y error"):
        york_line(x, y, [0.1, None, 0.2, 0.4, 0.2], [None] * 5)


# --- ODR ------------------------------------------------------------------------------------

def test_odr_line_equals_scipy_odr_called_directly():
    odr = _scipy_odr()
    start = stats.linregress(PEARSON_X, PEARSON_Y)
    direct = odr.ODR(odr.RealData(PEARSON_X, PEARSON_Y, sx=PEARSON_SX, sy=PEARSON_SY),
                     odr.unilinear, beta0=[start.slope, start.intercept]).run()
    fit = odr_line(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    assert (fit["slope"], fit["intercept"]) == (direct.beta[0], direct.beta[1])
    assert (fit["slope_err"], fit["intercept_err"]) == (direct.sd_beta[0], direct.sd_beta[1])
    assert fit["reduced_chi2"] == direct.res_var
    # ODR and York minimise the same χ² for a straight line: same line, same scaled σ
    york = york_line(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    assert fit["slope"] == pytest.approx(york["slope"], abs=1e-6)
    assert fit["slope_err"] == pytest.approx(york["slope_err_scaled"], rel=1e-5)
    with pytest.raises(ValueError, match="ODR needs a positive x and y error for every point"):
        odr_line(PEARSON_X, PEARSON_Y, PEARSON_SX, np.r_[PEARSON_SY[:-1], np.nan])


# --- resampled intervals --------------------------------------------------------------------

def test_within_error_slope_interval_matches_the_analytic_spread():
    # y errors only, all 0.5: the least-squares slope of the moved points is normal with
    # σ = 0.5/√Sxx exactly, so the 95 % interval is b ± 1.95996·σ (to Monte-Carlo precision).
    x = np.linspace(0.0, 9.0, 12)
    y = 1.5 + 0.8 * x + np.array([0.3, -0.2, 0.1, 0.4, -0.5, 0.2, -0.1, 0.0, 0.3, -0.3, 0.2,
                                  -0.4])
    out = resampled_intervals(x, y, None, np.full(12, 0.5), draws=20000, seed=7)
    b = stats.linregress(x, y).slope
    half = stats.norm.ppf(0.975) * 0.5 / np.sqrt(((x - x.mean()) ** 2).sum())
    within = out["within_errors"]["slope"]
    assert within["low"] == pytest.approx(b - half, abs=0.03 * half)
    assert within["high"] == pytest.approx(b + half, abs=0.03 * half)
    assert (out["draws"], out["seed"], out["level"]) == (20000, 7, 0.95)


def test_resampled_intervals_are_reproducible_and_collapse_without_errors():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [1.2, 1.9, 3.4, 3.8, 5.3]
    first = resampled_intervals(x, y, [0.1] * 5, [0.2] * 5, draws=500, seed=3)
    assert resampled_intervals(x, y, [0.1] * 5, [0.2] * 5, draws=500, seed=3) == first
    assert resampled_intervals(x, y, [0.1] * 5, [0.2] * 5, draws=500, seed=4) != first
    exact = resampled_intervals(x, y, None, None, draws=200, seed=0)
    r = stats.pearsonr(x, y).statistic
    assert exact["within_errors"]["r"]["low"] == pytest.approx(r, abs=1e-12)
    assert exact["within_errors"]["r"]["high"] == pytest.approx(r, abs=1e-12)
    assert exact["over_points"]["r"]["low"] < r
    # a bootstrap draw of 3 points repeating one point (1 in 9) has no r: counted, not used
    three = resampled_intervals(x[:3], y[:3], None, None, draws=900, seed=0)
    assert 50 < three["over_points"]["n_degenerate"] < 150


# --- large-sample limit of the resampled intervals --------------------------------------------

def _lab_like_points(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Heavy-tailed scatter (Student t, 4 d.o.f.) about a line, x errors on every point, y
    errors on 70 % of them: nothing the delta method would find easy."""
    rng = np.random.default_rng(seed)
    x = 500 + rng.normal(0, 10, n)
    y = 30 + 0.4 * (x - 500) + 3 * rng.standard_t(4, n)
    sx = np.abs(rng.normal(2, 0.5, n))
    sy = np.where(rng.random(n) < 0.7, np.abs(rng.normal(2, 1, n)), np.nan)
    return x, y, sx, sy


def test_limit_intervals_agree_with_resampling_at_a_thousand_points_and_more():
    # 4000 draws: the Monte-Carlo error of a 2.5 % percentile is ~2 % of the half-width; the
    # largest difference measured was 4.6 % (2026-12-03), so 8 % is ~3.5 Monte-Carlo σ.
    x, y, sx, sy = _lab_like_points(1500, seed=5)
    resampled = resampled_intervals(x, y, sx, sy, draws=4000, seed=1)
    limit = limit_intervals(x, y, sx, sy)
    assert (limit["method"], limit["draws"], limit["seed"]) == ("delta_method", None, None)
    assert resampled["method"] == "resampling"
    for scheme in ("within_errors", "over_points", "both"):
        for quantity in ("r", "slope"):
            got, want = limit[scheme][quantity], resampled[scheme][quantity]
            half = (want["high"] - want["low"]) / 2
            for end in ("low", "median", "high"):
                assert got[end] == pytest.approx(want[end], abs=0.08 * half), \
                    (scheme, quantity, end)
        assert limit[scheme]["n_degenerate"] == 0
    # the errors attenuate r (within errors) and the bootstrap does not: the schemes differ
    assert limit["within_errors"]["r"]["median"] < limit["over_points"]["r"]["median"] - 0.02


def test_limit_interval_of_the_slope_is_exact_for_y_errors_alone():
    # The slope of points moved within constant y errors σ is exactly normal, σ/√Sxx: the
    # delta method is exact for it (the slope is linear in y).
    x = np.linspace(0.0, 9.0, 1200)
    y = 1.5 + 0.8 * x + np.sin(7 * x)
    out = limit_intervals(x, y, None, np.full(x.size, 0.5))
    b = stats.linregress(x, y).slope
    half = stats.norm.ppf(0.975) * 0.5 / np.sqrt(((x - x.mean()) ** 2).sum())
    within = out["within_errors"]["slope"]
    assert within["low"] == pytest.approx(b - half, rel=1e-12)
    assert within["high"] == pytest.approx(b + half, rel=1e-12)
    exact = limit_intervals(x, y, None, None)["within_errors"]["r"]  # no errors: no spread
    assert exact["low"] == exact["high"] == pytest.approx(stats.pearsonr(x, y).statistic)


def test_correlate_resamples_within_the_budget_and_gives_the_limit_beyond_it():
    n = LIMIT_MIN_POINTS + 200
    x, y, sx, sy = _lab_like_points(n, seed=2)
    labels = [f"S{i}" for i in range(n)]
    beyond = correlate(x, y, x_err=sx, y_err=sy, labels=labels, points=None)  # 2000 draws
    assert 2000 * n > MAX_RESAMPLED_VALUES
    assert beyond["resampled"] == limit_intervals(x, y, sx, sy)
    assert f"would be {2000 * n:,} resampled values" in beyond["eiv_note"]
    assert f"ask for at most {MAX_RESAMPLED_VALUES // n} draws" in beyond["eiv_note"]
    draws = MAX_RESAMPLED_VALUES // n
    within = correlate(x, y, x_err=sx, y_err=sy, labels=labels, points=None, draws=draws)
    assert within["resampled"] == resampled_intervals(x, y, sx, sy, draws=draws, seed=0)
    assert "Intervals:" not in within["eiv_note"]
    small = correlate(x[:500], y[:500], x_err=sx[:500], y_err=sy[:500], draws=20000,
                      points=None)  # below LIMIT_MIN_POINTS: fewer draws, as before
    assert small["resampled"]["draws"] == MAX_RESAMPLED_VALUES // 500
    assert f"Resampling: {MAX_RESAMPLED_VALUES // 500} draws instead of 20000 for 500 " \
        "points" in small["eiv_note"]


def test_a_warning_lists_at_most_warn_listed_samples_and_counts_them_all():
    n = WARN_LISTED + 500
    labels = [f"S{i:05d}" for i in range(n)]
    found = error_warnings(np.arange(1.0, n + 1), np.arange(1.0, n + 1), np.full(n, 1e6),
                           None, labels=labels)
    kinds = {w["kind"]: w for w in found}
    missing, big = kinds["missing_errors"], kinds["relative_error_over_100_pct"]
    assert missing["samples"] == labels[:WARN_LISTED] and missing["n_samples"] == n
    assert big["samples"] == labels[:WARN_LISTED] and big["n_samples"] == n
    assert big["message"].endswith(f"; and {n - 10} more.")
    assert big["message"].count(" ± ") == 10


# --- warnings ---------------------------------------------------------------------------------

def test_warnings_name_points_with_relative_error_over_100_pct_and_few_points():
    found = error_warnings([21.0, 2.0, 4.0], [55.8, 3.0, 30.0], [123.0, 0.5, None],
                           [None, None, None], labels=["S-big", "S-ok", "S-none"])
    assert [w["kind"] for w in found] == ["few_points", "relative_error_over_100_pct",
                                          "missing_errors", "missing_errors"]
    assert found[0]["message"].startswith("only 3 points (fewer than 6)")
    assert found[1]["samples"] == ["S-big"]
    assert found[1]["message"] == "relative error above 100 % — S-big: x = 21 ± 123 (586 %)."
    assert found[2]["samples"] == ["S-none"] and found[2]["n_samples"] == 1
    assert found[3]["message"].startswith("y has no stored error for all points")
    assert error_warnings(list(range(1, 7)), list(range(1, 7)), [0.1] * 6, [0.1] * 6) == []


def test_correlate_keeps_its_unweighted_numbers_and_adds_the_eiv_block():
    x, y = PEARSON_X.tolist(), PEARSON_Y.tolist()
    out = correlate(x, y, x_err=PEARSON_SX.tolist(), y_err=PEARSON_SY.tolist(), draws=300)
    line = stats.linregress(x, y)
    assert (out["slope"], out["intercept"]) == (line.slope, line.intercept)
    assert out["york"] == york_line(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    assert out["odr"] == odr_line(PEARSON_X, PEARSON_Y, PEARSON_SX, PEARSON_SY)
    assert out["resampled"] == resampled_intervals(PEARSON_X, PEARSON_Y, PEARSON_SX,
                                                   PEARSON_SY, draws=300, seed=0)
    assert (out["warnings"], out["eiv_note"]) == ([], "")


def test_a_page_of_points_is_the_same_slice_of_all_points_and_none_keeps_the_numbers():
    rng = np.random.default_rng(3)
    x, y = rng.normal(5, 1, 40), rng.normal(2, 1, 40)
    x[[4, 9]] = np.nan  # dropped pairwise: the page counts only used points
    groups = [["NPL", "QD", None][i % 3] for i in range(40)]
    labels = [f"S{i}" for i in range(40)]
    full = correlate(x.tolist(), y.tolist(), groups=groups, labels=labels, draws=50)
    page = correlate(x, y, groups=np.array(groups, dtype=object), labels=labels, draws=50,
                     points=slice(30, 40))
    none = correlate(x, y, groups=groups, labels=labels, draws=50, points=None)
    assert page["points"] == full["points"][30:40]
    assert [p["label"] for p in page["points"]][:2] == ["S32", "S33"]
    assert none["points"] == [] and full["n"] == len(full["points"]) == 38
    strip = {k: v for k, v in full.items() if k != "points"}
    assert {k: v for k, v in page.items() if k != "points"} == strip
    assert {k: v for k, v in none.items() if k != "points"} == strip


def test_the_york_note_counts_every_left_out_point_and_names_the_first_ten():
    n = 25
    out = correlate(list(range(n)), [2.0 * i + (i % 3) for i in range(n)],
                    x_err=[0.1] * 3 + [None] * (n - 3), labels=[f"S{i}" for i in range(n)],
                    draws=10)
    named = ", ".join(f"S{i}" for i in range(3, 13))
    assert out["eiv_note"].startswith(
        f"York: left out 22 point(s) with neither an x nor a y error ({named}, and 12 more).")
    missing = [w for w in out["warnings"] if w["kind"] == "missing_errors"]
    assert missing[0]["samples"] == [f"S{i}" for i in range(3, n)]  # all of them, as data
    assert out["york"]["n"] == 3


def test_parse_fit_picks_json_and_lines():
    assert parse_fit_picks('{"A/B-1": 11}') == {"A/B-1": 11}
    assert parse_fit_picks("A/B-1 = 11\nC-2=4; D = 5") == {"A/B-1": 11, "C-2": 4, "D": 5}
    assert parse_fit_picks("") == {}
    with pytest.raises(DomainError, match="fit_picks: 'A-1' is not 'sample code = fit id'"):
        parse_fit_picks("A-1")
    with pytest.raises(DomainError, match="fit_picks: the fit of 'A' must be a fit id"):
        parse_fit_picks('{"A": "x"}')


# --- on the demo: the fit choice changes the answer ------------------------------------------

@pytest.fixture(scope="module")
def seed000(django_db_setup, django_db_blocker):
    """Seed 000 (the NPL samples with QY and Cd K-edge fits, and the aging study of
    NPL-CdSe/CdZnS-4.5ML), loaded once for the module and rolled back after it."""
    from analysis.demo import ensure_demo_users
    from characterization.demo import load_characterization
    from synthesis.demo import load_synthesis, read_demo_file

    with django_db_blocker.unblock(), transaction.atomic():
        actor = ensure_demo_users()
        data = read_demo_file("seed000.json")
        load_characterization(load_synthesis(data, actor=actor), data)
        yield
        transaction.set_rollback(True)


def _points(**frame_args):
    frame = structure_property_frame(**frame_args)
    both = frame[frame[RATIO].notna() & frame[QY].notna()]
    return (both["sample_code"].tolist(), both[RATIO].to_numpy(), both[QY].to_numpy(),
            both[f"{RATIO}_err"].to_numpy(), frame)


@pytest.mark.django_db
def test_latest_fit_drops_the_aged_point_and_says_so(seed000, api):
    body = api.get(CORRELATION, {"x": RATIO, "y": QY}).json()
    codes, x, y, sx, frame = _points()
    assert CDZNS_45 not in codes and body["n"] == len(codes) == 5
    assert (body["pearson_r"], body["pearson_p"]) == tuple(stats.pearsonr(x, y))
    assert round(body["pearson_r"], 2) == 0.94
    a, b, _ = _york_objective_minimum(x, y, sx, np.zeros(5))  # QY has no stored errors
    assert body["york"]["slope"] == pytest.approx(b, abs=1e-6)
    assert body["york"]["intercept"] == pytest.approx(a, abs=1e-5)
    assert body["odr"] is None
    assert body["eiv_note"] == "ODR needs a positive x and y error for every point."
    kinds = {w["kind"]: w for w in body["warnings"]}
    assert kinds["few_points"]["message"].startswith("only 5 points (fewer than 6)")
    big = sorted(c for c, v, e in zip(codes, x, sx) if abs(e / v) > 1)
    assert kinds["relative_error_over_100_pct"]["samples"] == big
    assert "NPL-CdSe/CdS/CdZnS-4.5ML: x = 20.65 ± 123.3 (597 %)" in \
        kinds["relative_error_over_100_pct"]["message"]
    rule = body["fit_rule"]
    assert rule["rule"].startswith("each sample's latest measurement and fit")
    aged = frame.set_index("sample_code").loc[CDZNS_45]
    assert rule["notes"] == [
        "1 sample(s) represented by an aged fit: 1 excluded, 0 used.",
        f"{CDZNS_45}: the Cd fit {aged['cd_fit_id']} (chosen by the rule) is "
        f"{aged['cd_fit_age_days']:.1f} days after synthesis — an aged sample; x is missing "
        "with this fit, so the sample is excluded."]
    resampled = body["resampled"]
    assert (resampled["draws"], resampled["seed"]) == (2000, 0)
    assert resampled == resampled_intervals(x, y, sx, None, draws=2000, seed=0)


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"fit_choice": "earliest"},
                                    {"fit_picks": '{"%s": "EARLIEST_FIT"}' % CDZNS_45}])
def test_earliest_fit_or_a_pick_brings_the_aged_sample_back(seed000, api, params):
    codes, x, y, sx, frame = _points(fit_choice="earliest")
    earliest_fit = int(frame.set_index("sample_code").loc[CDZNS_45, "cd_fit_id"])
    params = {k: v.replace("EARLIEST_FIT", str(earliest_fit)) for k, v in params.items()}
    body = api.get(CORRELATION, {"x": RATIO, "y": QY, **params}).json()
    assert CDZNS_45 in codes and body["n"] == len(codes) == 6
    assert (body["pearson_r"], body["pearson_p"]) == tuple(stats.pearsonr(x, y))
    assert body["pearson_r"] != pytest.approx(0.94, abs=0.01)
    a, b, _ = _york_objective_minimum(x, y, sx, np.zeros(6))
    assert body["york"]["slope"] == pytest.approx(b, abs=1e-6)
    assert "few_points" not in {w["kind"] for w in body["warnings"]}
    if "fit_picks" in params:
        assert body["fit_rule"]["fit_picks"] == {CDZNS_45: earliest_fit}
        assert body["fit_rule"]["rule"].endswith(f"; picked by hand: {CDZNS_45}: fit "
                                                 f"{earliest_fit}")
    else:
        assert body["fit_rule"]["notes"] == []


@pytest.mark.django_db
def test_as_of_100_days_uses_the_2_5_month_fit(seed000, api):
    body = api.get(CORRELATION, {"x": "cd_s_n", "y": QY, "fit_choice": "as_of",
                                 "as_of": "100"}).json()
    frame = structure_property_frame(fit_choice="as_of", as_of=100)
    row = frame.set_index("sample_code").loc[CDZNS_45]
    assert row["cd_fit_age_days"] == 76.09  # "2.5 months" as published
    both = frame[frame["cd_s_n"].notna() & frame[QY].notna()]
    assert body["n"] == len(both)
    assert body["pearson_r"] == stats.pearsonr(both["cd_s_n"], both[QY]).statistic
    assert body["fit_rule"]["rule"] == ("each sample's latest measurement and fit not later "
                                        "than 100 days after synthesis (undated records "
                                        "qualify)")
    assert body["fit_rule"]["notes"][1].endswith("76.1 days after synthesis — an aged "
                                                 "sample; used.")


@pytest.mark.django_db
def test_correlation_endpoint_is_twelve_queries(seed000, api, django_assert_num_queries):
    clear_frame_cache()
    params = {"x": RATIO, "y": QY, "fit_picks": "{}", "draws": "500"}
    # The frame cache's data version, then the frame's eleven narrow queries (one per branch).
    with django_assert_num_queries(12):
        response = api.get(CORRELATION, params)
    assert response.status_code == 200
    with django_assert_num_queries(1):  # cached frame: the data version only
        assert api.get(CORRELATION, params).json() == response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "field", "start"), [
    ({"fit_picks": '{"NPL-CdSe/CdZnS-4.5ML": 999999}'}, "fit_picks",
     "fit_picks: fit 999999 is not a usable XAS fit of NPL-CdSe/CdZnS-4.5ML"),
    ({"fit_picks": '{"NO-SUCH": 1}'}, "fit_picks", "fit_picks: no sample with code 'NO-SUCH'"),
    ({"fit_picks": "{broken"}, "fit_picks", "fit_picks: not a JSON object"),
    ({"draws": "0"}, "draws", "draws: expected 1 to 20000 resampling draws, got 0."),
    ({"draws": "many"}, "draws", "draws: expected a whole number, got 'many'."),
    ({"error_correlation": "1.5"}, "error_correlation", "error_correlation: the correlation"),
])
def test_bad_correlation_parameters_are_400_naming_the_field(seed000, api, params, field,
                                                             start):
    response = api.get(CORRELATION, {"x": RATIO, "y": QY, **params})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert body["message"].startswith(start)


# --- the explorer -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_explorer_shows_the_fit_choice_rule_and_the_error_aware_fits(seed000, member):
    client = Client()
    client.force_login(member)
    page = client.get("/explore/", {"x": RATIO, "y": QY, "group": "",
                                    "fit_choice": "latest"}).content.decode()
    assert 'name="fit_choice"' in page and 'name="fit_picks"' in page
    assert "each sample&#x27;s latest measurement and fit" in page
    assert f"{CDZNS_45}: the Cd fit" in page and "so the sample is excluded" in page
    assert "York (2004)" in page and "relative error above 100 %" in page
    traces = json.loads(re.search(r'<script id="explore-traces" type="application/json">(.*?)'
                                  r"</script>", page, re.S).group(1))
    york = next(t for t in traces if t["name"] == "York line (errors on both axes)")
    _, x, y, sx, _ = _points()
    a, b, _ = _york_objective_minimum(x, y, sx, np.zeros(len(x)))
    assert (york["y"][1] - york["y"][0]) / (york["x"][1] - york["x"][0]) == pytest.approx(
        b, abs=1e-6)
    earliest = client.get("/explore/", {"x": RATIO, "y": QY, "group": "",
                                        "fit_choice": "earliest"}).content.decode()
    assert "6 samples with both values" in earliest
    assert "so the sample is excluded" not in earliest
    fit_id = int(structure_property_frame(fit_choice="earliest").set_index("sample_code")
                 .loc[CDZNS_45, "cd_fit_id"])
    picked = client.get("/explore/", {"x": RATIO, "y": QY, "group": "",
                                      "fit_picks": f"{CDZNS_45} = {fit_id}"}).content.decode()
    assert "6 samples with both values" in picked
    assert f"picked by hand: {CDZNS_45}: fit {fit_id}." in picked
    bad = client.get("/explore/", {"x": RATIO, "y": QY, "fit_picks": "NO-SUCH = 3"})
    assert ("✗ fit_picks: no sample with code &#x27;NO-SUCH&#x27;. Showing each sample&#x27;s "
            "latest fit instead.") in bad.content.decode()


def test_fit_rule_lists_the_first_warn_listed_aged_samples_and_counts_them_all():
    import pandas as pd

    from analysis.selectors.correlation import fit_rule

    n = WARN_LISTED + 5
    frame = pd.DataFrame({"sample_code": [f"S{i:05d}" for i in range(n)],
                          "cd_n_s": [1.0] * (n - 1) + [None], "qy_pct": [50.0] * n,
                          "cd_fit_id": range(1, n + 1), "cd_fit_age_days": [30.0] * n})
    notes = fit_rule(frame, x="cd_n_s", y="qy_pct", fit_choice="latest")["notes"]
    assert notes[0] == f"{n} sample(s) represented by an aged fit: 1 excluded, {n - 1} used."
    assert len(notes) == 1 + WARN_LISTED + 1
    assert notes[1] == ("S00000: the Cd fit 1 (chosen by the rule) is 30.0 days after "
                        "synthesis — an aged sample; used.")
    assert notes[-1] == f"… and 5 more aged samples, not listed (at most {WARN_LISTED} are)."
