"""The structure–property frame on the real demo data: exact printed values, one query."""

from __future__ import annotations

import math

import pytest
from django.db import transaction
from scipy import stats

from analysis.demo import load_demo
from analysis.engines.statistics import correlate
from analysis.selectors.structure_property import (
    BASE_COLUMNS,
    RATIO_COLUMNS,
    error_column,
    structure_property_frame,
)
from characterization.models import PLMeasurement, XASFit
from labdb.lib.errors import DomainError
from synthesis.models import Sample

pytestmark = pytest.mark.django_db

CDZNS_45 = "NPL-CdSe/CdZnS-4.5ML"
PATH_SUFFIXES = ["n", "n_err", "r_a", "r_err_a", "sigma2_a2", "sigma2_err_a2"]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The three demo papers, loaded once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo(report=lambda line: None)
        yield
        transaction.set_rollback(True)


def _row(frame, code):
    rows = frame[frame["sample_code"] == code]
    assert len(rows) == 1
    return rows.iloc[0]


def test_frame_columns_fixed_when_database_is_empty(django_assert_num_queries):
    # Runs before the module's demo fixture is first used (file order).
    assert not Sample.objects.exists()
    # Eleven: one narrow query per branch (samples, recipe steps, layers, PL, TEM, XAS paths,
    # calculator results, computed QY, lifetimes, absorption, sizing), read in one transaction;
    # a fixed number, whatever the size of the lab.
    with django_assert_num_queries(11):
        frame = structure_property_frame()
    always = [f"{p}_{q}" for p in ("cd_s", "cd_se") for q in PATH_SUFFIXES]
    info = [f"{a}_{i}" for a in ("cd", "zn") for i in ("fit_id", "fit_citation", "fit_age_days")]
    assert list(frame.columns) == [*BASE_COLUMNS, *always, *info, *RATIO_COLUMNS]
    assert len(frame) == 0


def test_frame_is_eleven_queries_on_the_demo(demo, django_assert_num_queries):
    # One narrow query per branch (no N+1: the same eleven as on the empty database). Not one
    # UNION: it padded every branch to 19 columns, a third of the cells fetched at 10⁵ samples
    # were NULL padding (benchmarks/README.md, structure_property_frame.py).
    with django_assert_num_queries(11):
        frame = structure_property_frame()
    assert len(frame) == Sample.objects.count() == 60
    assert frame["sample_code"].tolist() == sorted(frame["sample_code"])


def test_frame_path_columns_for_every_fitted_pair(demo):
    frame = structure_property_frame()
    # Published pairs, plus the demo's computed fits (run by load_demo's jobs): REF-CdS-bulk's
    # wurtzite Cd–S split into two shells (cd_s_2) and ZnSe at both edges (se_zn, zn_se).
    pairs = ["cd_cd", "cd_o", "cd_s", "cd_s_2", "cd_se", "se_cd", "se_zn", "zn_o", "zn_s",
             "zn_se"]
    path_columns = [f"{p}_{q}" for p in pairs for q in PATH_SUFFIXES]
    info = [f"{a}_{i}" for a in ("cd", "se", "zn") for i in ("fit_id", "fit_citation",
                                                            "fit_age_days")]
    assert list(frame.columns) == [*BASE_COLUMNS, *path_columns, *info, *RATIO_COLUMNS]


def test_frame_latest_row_of_cdse_cdzns_45_is_the_6_month_fit(demo):
    row = _row(structure_property_frame(), CDZNS_45)
    pl = PLMeasurement.objects.get(sample__code=CDZNS_45, citation="§2.2.4")
    fit = XASFit.objects.get(sample__code=CDZNS_45, citation="Table 6", age_label="6 months")
    assert (row["architecture"], row["core_ml"], row["layer_stack"], row["material"],
            row["morphology"]) == ("core/shell", 4.5, "CdSe 4.5 ML core / Cd_xZn_{1-x}S shell",
                                   "CdSe/CdZnS", "NPL")
    assert row["recipe"] == "nML CdSe/Cd_xZn_{1-x}S core/gradient-shell NPLs (n = 3.5, 4.5, 5.5)"
    assert (row["max_setpoint_c"], row["max_injection_rate_ml_per_h"]) == (300.0, 10.0)
    assert math.isnan(row["total_hold_s"])
    assert (row["length_nm"], row["width_nm"]) == (16.1, 5.2)
    # Two undated QY records tie on age (89 % §2.2.4; 88–90 % §2.2.3): the specific printed
    # value is preferred over the range.
    assert (row["qy_pct"], row["qy_pct_qualifier"], row["qy_pct_censored"], row["pl_id"]) == (
        89.0, None, False, pl.pk)
    assert all(math.isnan(row[c]) for c in ("qy_pct_err", "qy_pct_min", "qy_pct_max"))
    # Cd–S N as printed in Table 6 at 6 months: 2.7 ± 0.7; no Cd–Se path in that fit.
    assert (row["cd_s_n"], row["cd_s_n_err"], row["cd_s_r_a"], row["cd_s_r_err_a"],
            row["cd_s_sigma2_a2"], row["cd_s_sigma2_err_a2"]) == (
        2.7, 0.7, 2.494, 0.019, 0.0006, 0.0026)
    assert (row["cd_fit_id"], row["cd_fit_citation"], row["cd_fit_age_days"]) == (
        fit.pk, "Table 6", 182.62)
    assert math.isnan(row["cd_se_n"]) and math.isnan(row["cd_s_cd_se_n_ratio"])
    assert (row["zn_s_n"], row["zn_s_n_err"], row["zn_fit_citation"]) == (4.9, 0.8, "Table S3")


def test_frame_earliest_row_of_cdse_cdzns_45_is_table_3_with_ratio(demo):
    row = _row(structure_property_frame(fit_choice="earliest"), CDZNS_45)
    assert (row["cd_s_n"], row["cd_s_n_err"], row["cd_se_n"], row["cd_se_n_err"]) == (
        2.367, 0.867, 0.72, 1.106)
    assert row["cd_fit_citation"] == "Table 3" and math.isnan(row["cd_fit_age_days"])
    ratio = 2.367 / 0.72
    assert row["cd_s_cd_se_n_ratio"] == ratio
    assert row["cd_s_cd_se_n_ratio_err"] == pytest.approx(
        ratio * math.sqrt((0.867 / 2.367) ** 2 + (1.106 / 0.72) ** 2), rel=1e-12)
    assert (row["zn_s_n"], row["zn_s_n_err"], row["zn_fit_citation"]) == (4.797, 0.704,
                                                                           "Table 5")
    assert row["qy_pct"] == 89.0


def test_frame_as_of_age_picks_the_2_5_month_fit(demo):
    row = _row(structure_property_frame(fit_choice="as_of", as_of=100), CDZNS_45)
    assert (row["cd_s_n"], row["cd_s_n_err"], row["cd_fit_age_days"]) == (3.5, 0.3, 76.09)
    assert (row["zn_s_n"], row["zn_s_n_err"]) == (4.8, 0.4)
    before = _row(structure_property_frame(fit_choice="as_of", as_of="10"), CDZNS_45)
    assert (before["cd_s_n"], before["cd_fit_citation"]) == (2.367, "Table 3")


def test_frame_core_crown_shell_row_exact(demo):
    row = _row(structure_property_frame(), "NPL-CdSe/CdS/CdZnS-4.5ML")
    assert row["layer_stack"] == "CdSe 4.5 ML core / CdS crown / Cd_xZn_{1-x}S shell"
    assert row["architecture"] == "core/crown/shell"
    assert (row["qy_pct"], row["cd_s_n"], row["cd_s_n_err"], row["cd_se_n"],
            row["cd_se_n_err"], row["zn_s_sigma2_a2"]) == (55.8, 2.911, 0.432, 0.141, 0.842,
                                                           0.0074)


def test_frame_filters_architecture_and_qy(demo):
    frame = structure_property_frame(filters={"architecture": "core/shell", "qy_pct__gte": 80})
    assert frame["sample_code"].tolist() == [CDZNS_45, "S4-HgCdSe/CdZnS-3.2nm",
                                             "S4-HgSe/CdZnS-3.2nm", "S4-QD1270"]
    text = structure_property_frame(filters={"core_ml": "3.5", "architecture__in":
                                             "core/crown,core/crown/shell"})
    assert text["sample_code"].tolist() == ["NPL-CdSe/CdS-3.5ML", "NPL-CdSe/CdS/CdZnS-3.5ML"]


def test_frame_source_filter_restricts_measurements(demo):
    frame = structure_property_frame(filters={"source": "computed"})
    assert len(frame) == 60
    # Only the demo's computed fit (REF-CdS-bulk, run by load_demo) gives a Cd–S number; no
    # published QY or shell enters.
    with_n = frame.loc[frame["cd_s_n"].notna(), "sample_code"].tolist()
    assert with_n == ["REF-CdS-bulk"] and frame["qy_pct"].isna().all()
    assert frame.loc[frame["cd_s_n"].notna(), "cd_fit_citation"].tolist() == [None]


def test_frame_unknown_column_names_it_and_lists_valid_ones(demo):
    with pytest.raises(DomainError) as info:
        structure_property_frame(filters={"quantum_yield__gte": 80})
    assert info.value.field == "quantum_yield"
    assert info.value.message.startswith("unknown column 'quantum_yield'; valid columns: "
                                         "sample_code, sample_id, architecture,")


def test_frame_bad_fit_choice_and_lookup_raise():
    with pytest.raises(DomainError, match="fit_choice must be one of latest, earliest, as_of"):
        structure_property_frame(fit_choice="newest")
    with pytest.raises(DomainError, match="as_of: fit_choice='as_of' needs as_of"):
        structure_property_frame(fit_choice="as_of")


def test_error_column_names():
    columns = ["cd_s_n", "cd_s_n_err", "cd_s_r_a", "cd_s_r_err_a", "zn_s_sigma2_a2",
               "zn_s_sigma2_err_a2", "qy_pct"]
    assert [error_column(c, columns) for c in ("cd_s_n", "cd_s_r_a", "zn_s_sigma2_a2",
                                               "qy_pct")] == [
        "cd_s_n_err", "cd_s_r_err_a", "zn_s_sigma2_err_a2", None]


def test_ratio_vs_qy_correlation_matches_scipy(demo):
    """Does N(Cd–S)/N(Cd–Se) track QY across core thickness? (earliest = Tables 3 and 8)"""
    frame = structure_property_frame(fit_choice="earliest", filters={
        "architecture__in": "core/shell,core/crown/shell", "morphology": "NPL"})
    result = correlate(frame["cd_s_cd_se_n_ratio"].tolist(), frame["qy_pct"].tolist(),
                       x_err=frame["cd_s_cd_se_n_ratio_err"].tolist(),
                       groups=frame["architecture"].tolist(),
                       labels=frame["sample_code"].tolist())
    pairs = frame[["cd_s_cd_se_n_ratio", "qy_pct", "architecture"]].dropna()
    x, y = pairs["cd_s_cd_se_n_ratio"].to_numpy(), pairs["qy_pct"].to_numpy()
    line = stats.linregress(x, y)
    assert result["n"] == 6
    assert (result["pearson_r"], result["pearson_p"]) == tuple(stats.pearsonr(x, y))
    assert (result["spearman_r"], result["spearman_p"]) == tuple(stats.spearmanr(x, y))
    assert (result["slope"], result["slope_err"], result["intercept"],
            result["intercept_err"]) == (line.slope, line.stderr, line.intercept,
                                         line.intercept_stderr)
    for group in ("core/shell", "core/crown/shell"):
        mine = pairs[pairs["architecture"] == group]
        gx, gy = mine["cd_s_cd_se_n_ratio"].to_numpy(), mine["qy_pct"].to_numpy()
        assert result["groups"][group]["n"] == 3
        assert result["groups"][group]["pearson_r"] == stats.pearsonr(gx, gy).statistic
        assert result["groups"][group]["spearman_r"] == stats.spearmanr(gx, gy).statistic
    # What the numbers say (n = 3 per group: weak evidence whatever r is).
    assert round(result["groups"]["core/crown/shell"]["pearson_r"], 4) == 0.9977
    assert result["groups"]["core/crown/shell"]["spearman_p_exact"] == pytest.approx(1 / 3)
    # 4.5 ML enters with its specific 89 % (§2.2.4), not the lower end of 88–90 %.
    assert round(result["groups"]["core/shell"]["pearson_r"], 4) == 0.5477
    assert [p["label"] for p in result["points"]] == frame.loc[pairs.index, "sample_code"].tolist()


def test_correlate_leaves_censored_points_out():
    """A printed bound ("below 1 %") is not a point: with ``censored`` it is left out."""
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 4.5, 6.0, 1.0]
    result = correlate(x, y, censored=[False, False, False, True])
    assert (result["n"], result["n_censored"]) == (3, 1)
    assert result["pearson_r"] == stats.pearsonr(x[:3], y[:3]).statistic
    everything = correlate(x, y)
    assert (everything["n"], everything["n_censored"]) == (4, 0)
    assert everything["pearson_r"] == stats.pearsonr(x, y).statistic


def test_layer_columns_column_wise_for_every_kind_of_layer_row():
    """The column-wise layer columns (Arrow strings, as the frame's fetch gives them): the
    formula before the material, ML before nm, no size or role where none is stored, four
    layers joined in position order whatever the row order, and each role combination named
    once per sample."""
    import numpy as np
    import pandas as pd

    from analysis.selectors.structure_property import _layer_columns

    rows = [  # sample_id, rec_id, material, role, formula, position, thickness ML, nm
        (7, 1, "CdSe", "core", "", 1, 4.0, np.nan),
        (7, 4, "ZnS", "shell", "", 4, np.nan, np.nan),
        (7, 2, "CdS", "crown", "", 2, np.nan, 1.25),
        (7, 3, "CdZnS", "shell", "Cd_xZn_{1-x}S", 3, 2.5, 0.8),
        (9, 5, "HgSe", None, None, 1, np.nan, np.nan),
        (11, 6, "CdS", "shell", "", 1, np.nan, 3.0),
    ]
    layers = pd.DataFrame(rows, columns=["sample_id", "rec_id", "t1", "t2", "t3", "pos", "f1",
                                         "f2"])
    for name in ("t1", "t2", "t3"):
        layers[name] = layers[name].astype("str")
    out = _layer_columns(layers)
    assert out.loc[7, "layer_stack"] == (
        "CdSe 4 ML core / CdS 1.25 nm crown / Cd_xZn_{1-x}S 2.5 ML shell / ZnS shell")
    assert out.loc[9, "layer_stack"] == "HgSe "
    assert out.loc[11, "layer_stack"] == "CdS 3 nm shell"
    assert out["architecture"].to_dict() == {7: "core/crown/shell", 9: None, 11: "shell"}
    assert out.loc[7, "core_ml"] == 4.0
    assert np.isnan(out.loc[11, "core_ml"])
