"""The explorer's axes say quantity and unit; the line comes with its 95 % confidence band."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from web.explore import COLUMN_LABELS, column_label, regression_band


def test_every_fixed_frame_column_has_a_label():
    from analysis.selectors.structure_property import BASE_COLUMNS, RATIO_COLUMNS

    assert [c for c in BASE_COLUMNS + RATIO_COLUMNS
            if c not in COLUMN_LABELS and not c.endswith("_id")] == []


@pytest.mark.parametrize(("column", "label"), [
    ("qy_pct", "QY (%)"),
    ("core_ml", "Core thickness (ML)"),
    ("peak_nm", "PL peak (nm)"),
    ("max_setpoint_c", "Highest set point (°C)"),
    ("cd_s_n", "Cd–S coordination number N"),
    ("cd_se_r_a", "Cd–Se distance R (Å)"),
    ("zn_s_sigma2_a2", "Zn–S σ² (Å²)"),
    ("cd_cd_2_n", "Cd–Cd coordination number N (shell 2)"),
    ("cd_s_cd_se_n_ratio", "N(Cd–S) / N(Cd–Se)"),
    ("zn_fit_age_days", "Zn fit age (days)"),
    ("peak_1s_nm", "1S absorption (nm)"),
    ("edge_length_nm", "edge length (nm)"),  # unknown column: unit from its suffix
])
def test_column_label(column, label):
    assert column_label(column) == label


def test_regression_band_matches_scipy_linregress():
    x = np.array([0.0, 1.0, 2.0, 3.5, 4.5, 5.5, 7.0])
    y = np.array([1.1, 2.3, 2.8, 4.9, 5.2, 7.4, 8.1])
    band = regression_band(x, y, points=8)
    line = stats.linregress(x, y)
    assert band["n"] == 7
    assert band["slope"] == pytest.approx(line.slope, rel=1e-12)
    assert band["intercept"] == pytest.approx(line.intercept, rel=1e-12)
    t = stats.t.ppf(0.975, 5)
    assert band["x"][0] == 0.0 and band["x"][-1] == 7.0
    # at x = 0 the half-width of the band is t × the standard error of the intercept
    assert (band["upper"][0] - band["y"][0]) / t == pytest.approx(line.intercept_stderr, rel=1e-9)
    assert band["y"][0] - band["lower"][0] == pytest.approx(band["upper"][0] - band["y"][0])
    # the band is narrowest at the mean of x: half-width t·s/√n there
    residual_sd = np.sqrt(((y - line.intercept - line.slope * x) ** 2).sum() / 5)
    widths = np.array(band["upper"]) - np.array(band["lower"])
    assert widths.min() >= 2 * t * residual_sd / np.sqrt(7) - 1e-12
    assert int(widths.argmin()) in (3, 4)  # grid points 3.0 and 4.0 bracket x̄ = 3.357


def test_regression_band_needs_three_points_and_varying_x():
    assert regression_band([1, 2], [3, 4]) is None
    assert regression_band([2, 2, 2], [1, 2, 3]) is None
    assert regression_band([1, 2, float("nan"), 3], [1, 2, 5, None]) is None  # 2 usable pairs
    assert regression_band([1, 2, 3, float("nan")], [2, 4, 6, 1])["slope"] == pytest.approx(2)


@pytest.fixture
def demo_paper(db):
    """Seed 000 (NPL samples with QY and XAS fits), as the demo loads it."""
    from django.db import transaction

    from analysis.demo import ensure_demo_users
    from characterization.demo import load_characterization
    from synthesis.demo import load_synthesis, read_demo_file

    actor = ensure_demo_users()
    data = read_demo_file("seed000.json")
    with transaction.atomic():
        load_characterization(load_synthesis(data, actor=actor), data)
    return actor


def test_explore_page_labels_axes_and_draws_the_band(demo_paper, client):
    from analysis.selectors import structure_property_frame

    client.force_login(demo_paper)
    html = client.get("/explore/?x=cd_s_cd_se_n_ratio&y=qy_pct&group=architecture").content.decode()
    assert 'data-x-label="N(Cd–S) / N(Cd–Se)" data-y-label="QY (%)"' in html
    assert '<option value="qy_pct" selected>QY (%)</option>' in html
    assert '<option value="cd_s_n">Cd–S coordination number N</option>' in html
    assert "<h2 id=\"h-plot\">QY (%) vs N(Cd–S) / N(Cd–Se) by architecture</h2>" in html
    traces = json.loads(re.search(r'<script id="explore-traces" type="application/json">(.*?)'
                                  r"</script>", html, re.S).group(1))
    line = next(t for t in traces if t["name"] == "least-squares line (all samples)")
    frame = structure_property_frame()
    points = frame[frame.cd_s_cd_se_n_ratio.notna() & frame.qy_pct.notna()]
    fit = stats.linregress(points.cd_s_cd_se_n_ratio.astype(float), points.qy_pct.astype(float))
    slope = (line["y"][-1] - line["y"][0]) / (line["x"][-1] - line["x"][0])
    assert slope == pytest.approx(fit.slope, rel=1e-9)
    assert [t["name"] for t in traces[-3:]] == [
        "95% confidence band (lower)", "95% confidence band", "least-squares line (all samples)"]
    assert len(points) >= 3


@pytest.mark.django_db
def test_explore_page_says_when_intervals_are_the_large_sample_limit(rf, member):
    from django.template.loader import render_to_string

    from analysis.engines.statistics import limit_intervals, resampled_intervals
    from web.explore import FIT_CHOICE_LABELS, Explore, _formatted_intervals

    x = np.linspace(0.0, 9.0, 1200)
    y = 1.5 + 0.8 * x + np.sin(7 * x)
    request = rf.get("/explore/")
    request.user = member
    pages = {}
    for name, intervals in (("limit", limit_intervals(x, y, None, np.full(x.size, 0.5))),
                            ("resampled", resampled_intervals(x, y, None, None, draws=50))):
        m = Explore(available=True, x="core_ml", y="qy_pct", stats={"n": "1200"},
                    resampled=_formatted_intervals(intervals))
        pages[name] = render_to_string("web/explore.html",
                                       {"m": m, "fit_choices": FIT_CHOICE_LABELS}, request)
    assert "Large-sample 95 % intervals of the resampling (delta method)" in pages["limit"]
    assert "Too many points to resample within one request" in pages["limit"]
    assert "None draws" not in pages["limit"]
    assert "Resampled 95 % intervals (50 draws, seed 0)" in pages["resampled"]
    assert "delta method" not in pages["resampled"]
