"""The structure–property frame's columns of the optical and sizing analyses (issue 15).

Lifetime, the QY's method and the computed relative QY beside the typed-in one, the 1S
absorption feature (HWHM, peak-to-valley) and the diameter from a sizing curve beside the TEM
diameter. The result rows are created here with the services the analysis kinds use
(``record_measurement``/``record_pl_lifetime``; source ``computed`` and the run's provenance in
``extra``, as ``kind.store`` writes them): the frame reads stored measurements whatever produced
them. Values are SIMULATED test numbers unless a demo (published) row is named.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import pandas as pd
import pytest
from scipy import stats

from analysis.demo import load_demo
from analysis.selectors.correlation import correlation_of_columns
from analysis.selectors.frame_cache import (
    FRAME_INPUT_MODELS,
    cached_structure_property_frame,
    clear_frame_cache,
    data_version,
)
from analysis.selectors.structure_property import (
    BASE_COLUMNS,
    HC_EV_NM,
    RESULT_COLUMNS,
    SIZING_QUANTITY,
    structure_property_frame,
)
from characterization.enums import DataSource
from characterization.models import (
    AbsorptionMeasurement,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
)
from characterization.services import record_measurement, record_pl_lifetime
from labdb.lib.records import retire_record
from synthesis.enums import FlagKind
from synthesis.models import DataFlag, Sample
from synthesis.services import create_sample, flag_record

pytestmark = pytest.mark.django_db

FRAME = "/api/analysis/frame/"
SYNTHESIS = dt.date(2026, 3, 2)


def _sample(code: str) -> Sample:
    return create_sample(data={"code": code, "name": f"batch {code}", "material": "CdSe",
                               "morphology": "QD", "synthesis_date": SYNTHESIS})


def _at(days: float) -> dt.datetime:
    """A measurement time ``days`` after the synthesis date (UTC)."""
    start = dt.datetime.combine(SYNTHESIS, dt.time(12, 0), tzinfo=dt.UTC)
    return start + dt.timedelta(days=days)


def _computed(run_id: int, kind: str) -> dict:
    """What an analysis kind's ``store`` writes beside the numbers."""
    return {"source": DataSource.COMPUTED, "citation": f"analysis run {run_id} ({kind})",
            "extra": {"analysis_run": run_id, "kind": kind}}


def _lifetime(sample: Sample, days: float | None, *, components=(), **numbers):
    data = {"measured_at": _at(days) if days is not None else None, **numbers}
    return record_pl_lifetime(sample=sample, data=data, components=list(components))


def _row(frame: pd.DataFrame, code: str) -> pd.Series:
    rows = frame[frame["sample_code"] == code]
    assert len(rows) == 1, code
    return rows.iloc[0]


def _nan(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


@pytest.fixture
def lab(db):
    clear_frame_cache()
    return {code: _sample(code) for code in ("QD-A", "QD-B", "QD-C")}


# --- columns ---------------------------------------------------------------------------------

def test_result_columns_follow_the_pl_columns_with_their_types(lab):
    frame = structure_property_frame()
    at = BASE_COLUMNS.index("pl_id") + 1
    assert BASE_COLUMNS[at:at + len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert list(frame.columns[at:at + len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    for name in ("qy_computed_id", "lifetime_id", "abs_id", "sizing_id"):
        assert str(frame[name].dtype) == "Int64", name
    for name in ("qy_method", "lifetime_kind", "sizing_correlation"):
        assert frame[name].dtype == object and frame[name].isna().all(), name
    for name in ("qy_pct_computed", "lifetime_ns", "abs_1s_hwhm_mev", "sizing_diameter_nm"):
        assert frame[name].dtype == "float64" and frame[name].isna().all(), name
    assert {PLLifetimeMeasurement, AbsorptionMeasurement, PLMeasurement,
            ReportedQuantity} <= set(FRAME_INPUT_MODELS)


# --- PL lifetime -----------------------------------------------------------------------------

def test_lifetime_latest_live_unflagged_with_its_kind(lab):
    a = lab["QD-A"]
    early = _lifetime(a, 3.0, average_tau_ns=21.5, average_tau_err_ns=0.4,
                      average_kind="amplitude",
                      components=[{"amplitude": 0.6, "tau_ns": 5.0}, {"amplitude": 0.4,
                                                                     "tau_ns": 45.0}])
    late = _lifetime(a, 40.0, **_computed(7, "pl_decay"), average_tau_ns=33.25,
                     average_tau_err_ns=0.61, average_kind="intensity",
                     intensity_weighted_tau_ns=33.25, intensity_weighted_tau_err_ns=0.61,
                     amplitude_weighted_tau_ns=18.0, amplitude_weighted_tau_err_ns=0.3,
                     reduced_chi_square=1.04, fit_model="2-exponential, IRF reconvolution")
    # Components only, no mean printed (like seed 004's Figure 2j): not a lifetime number.
    _lifetime(a, 90.0, components=[{"amplitude": 83.5, "tau_ns": 3.8}])
    row = _row(structure_property_frame(), "QD-A")
    assert (row["lifetime_ns"], row["lifetime_ns_err"], row["lifetime_kind"],
            row["lifetime_id"]) == (33.25, 0.61, "intensity", late.pk)
    first = _row(structure_property_frame(fit_choice="earliest"), "QD-A")
    assert (first["lifetime_ns"], first["lifetime_ns_err"], first["lifetime_kind"],
            first["lifetime_id"]) == (21.5, 0.4, "amplitude", early.pk)
    as_of = _row(structure_property_frame(fit_choice="as_of", as_of=10), "QD-A")
    assert as_of["lifetime_id"] == early.pk

    flag_record(target=late, message="IRF of another day", kind=FlagKind.WRONG)
    assert _row(structure_property_frame(), "QD-A")["lifetime_id"] == early.pk
    assert _row(structure_property_frame(include_flagged=True), "QD-A")["lifetime_id"] == late.pk
    retire_record(early, reason="wrong sample in the holder")
    row = _row(structure_property_frame(), "QD-A")
    assert _nan(row["lifetime_ns"]) and _nan(row["lifetime_id"]) and _nan(row["lifetime_kind"])


def test_lifetime_without_stated_mean_kind_and_weighted_fallbacks(lab):
    printed = _lifetime(lab["QD-A"], None, average_tau_ns=12.0)  # "τ_avg = 12 ns", kind unstated
    intensity = _lifetime(lab["QD-B"], 5.0, intensity_weighted_tau_ns=30.0,
                          intensity_weighted_tau_err_ns=1.5, amplitude_weighted_tau_ns=9.0)
    amplitude = _lifetime(lab["QD-C"], 5.0, amplitude_weighted_tau_ns=9.0,
                          amplitude_weighted_tau_err_ns=0.2)
    frame = structure_property_frame()
    got = {code: tuple(_row(frame, code)[c] for c in ("lifetime_ns", "lifetime_ns_err",
                                                      "lifetime_kind", "lifetime_id"))
           for code in lab}
    assert got["QD-A"][0] == 12.0 and _nan(got["QD-A"][1]) and got["QD-A"][2] is None
    assert got["QD-A"][3] == printed.pk
    assert got["QD-B"] == (30.0, 1.5, "intensity", intensity.pk)
    assert got["QD-C"] == (9.0, 0.2, "amplitude", amplitude.pk)


def test_lifetime_choice_equals_a_direct_orm_selection(db):
    """Random lifetimes (SIMULATED) on 15 samples: the frame's pick per sample equals a plain
    Python selection over the ORM rows (latest: dated after undated, then age, then id;
    earliest: undated first, then lowest age, ties to the highest id)."""
    clear_frame_cache()
    rng = random.Random(15)
    samples = [_sample(f"RND-{i:02d}") for i in range(15)]
    for sample in samples:
        for _ in range(rng.randint(0, 4)):
            days = rng.choice([None, float(rng.randint(0, 5)), float(rng.randint(0, 200))])
            row = _lifetime(sample, None, age_days=days,
                            average_tau_ns=round(rng.uniform(1, 90), 2),
                            average_tau_err_ns=round(rng.uniform(0.01, 2), 3),
                            average_kind=rng.choice(["", "amplitude", "intensity"]))
            if rng.random() < 0.15:
                retire_record(row, reason="test: retired")
            elif rng.random() < 0.15:
                flag_record(target=row, message="test: duplicate", kind=FlagKind.DUPLICATE)
    flagged = set(DataFlag.objects.filter(content_type__model="pllifetimemeasurement")
                  .values_list("object_id", flat=True))
    usable = [r for r in PLLifetimeMeasurement.objects.filter(is_retired=False)
              if r.pk not in flagged]

    def latest(r):
        return (r.age_days is not None, r.age_days or 0.0, r.pk)

    def earliest(r):
        return (r.age_days is not None, r.age_days or 0.0, -r.pk)

    for choice, pick in (("latest", lambda rows: max(rows, key=latest)),
                         ("earliest", lambda rows: min(rows, key=earliest))):
        frame = structure_property_frame(fit_choice=choice).set_index("sample_code")
        for sample in samples:
            own = [r for r in usable if r.sample_id == sample.pk]
            got = frame.loc[sample.code, ["lifetime_id", "lifetime_ns"]].tolist()
            if not own:
                assert _nan(got[0]) and _nan(got[1]), (choice, sample.code)
                continue
            expected = pick(own)
            assert got == [expected.pk, expected.average_tau_ns], (choice, sample.code)
    assert any(r.sample_id for r in usable)  # the draw made some usable rows


# --- QY: method-tagged, computed beside typed-in ---------------------------------------------

def test_computed_relative_qy_stands_beside_the_typed_in_qy(lab):
    a, b, c = lab["QD-A"], lab["QD-B"], lab["QD-C"]
    typed = record_measurement(model=PLMeasurement, sample=a, data={
        "peak_nm": 620.0, "qy_pct": 62.0, "qy_method": "absolute", "measured_at": _at(2)})
    computed_old = record_measurement(model=PLMeasurement, sample=a, data={
        **_computed(3, "relative_qy"), "qy_pct": 55.0, "qy_pct_err": 4.0,
        "qy_method": "relative", "reference_dye": "rhodamine 6G", "excitation_nm": 480.0,
        "solvent": "toluene", "measured_at": _at(5)})
    computed = record_measurement(model=PLMeasurement, sample=a, data={
        **_computed(4, "relative_qy"), "qy_pct": 58.7, "qy_pct_err": 3.1,
        "qy_method": "relative", "reference_dye": "rhodamine 6G", "excitation_nm": 480.0,
        "solvent": "toluene", "measured_at": _at(6)})
    published = record_measurement(model=PLMeasurement, sample=b, data={
        "source": DataSource.PUBLISHED, "qy_pct": 30.0, "citation": "Table 1"})
    only_computed = record_measurement(model=PLMeasurement, sample=c, data={
        **_computed(5, "relative_qy"), "qy_pct": 12.5, "qy_pct_err": 0.9,
        "qy_method": "relative", "reference_dye": "indocyanine green"})
    frame = structure_property_frame()
    row = _row(frame, "QD-A")
    # The later computed QY does not replace the typed-in one: both are in the row.
    assert (row["qy_pct"], row["qy_method"], row["pl_id"], row["peak_nm"]) == (
        62.0, "absolute", typed.pk, 620.0)
    assert (row["qy_pct_computed"], row["qy_pct_computed_err"], row["qy_computed_id"]) == (
        58.7, 3.1, computed.pk)
    assert _row(structure_property_frame(fit_choice="earliest"), "QD-A")[
        "qy_computed_id"] == computed_old.pk
    row_b = _row(frame, "QD-B")
    assert (row_b["qy_pct"], row_b["qy_method"], row_b["pl_id"]) == (30.0, "published",
                                                                      published.pk)
    assert _nan(row_b["qy_pct_computed"]) and _nan(row_b["qy_computed_id"])
    row_c = _row(frame, "QD-C")
    assert _nan(row_c["qy_pct"]) and row_c["qy_method"] is None and _nan(row_c["pl_id"])
    assert (row_c["qy_pct_computed"], row_c["qy_computed_id"]) == (12.5, only_computed.pk)
    # source=computed: no typed-in QY represents a sample, the computed QYs stay.
    computed_only = structure_property_frame(filters={"source": "computed"})
    assert computed_only["qy_pct"].isna().all()
    assert computed_only.set_index("sample_code")["qy_pct_computed"].dropna().to_dict() == {
        "QD-A": 58.7, "QD-C": 12.5}


def test_qy_method_only_with_a_qy_and_a_computed_pl_peak_still_represents(lab):
    a = lab["QD-A"]
    # A PL row without a QY has no QY method, even when the method field is filled.
    record_measurement(model=PLMeasurement, sample=a, data={
        "peak_nm": 610.0, "qy_method": "relative", "measured_at": _at(1)})
    # A computed PL row without a QY (a peak fit) represents the sample like any PL row.
    peak_fit = record_measurement(model=PLMeasurement, sample=a, data={
        **_computed(9, "pl_peak"), "peak_nm": 612.5, "fwhm_mev": 95.0, "measured_at": _at(3)})
    row = _row(structure_property_frame(), "QD-A")
    assert (row["peak_nm"], row["fwhm_mev"], row["pl_id"]) == (612.5, 95.0, peak_fit.pk)
    assert row["qy_method"] is None and _nan(row["qy_pct_computed"])


# --- 1S absorption ---------------------------------------------------------------------------

def test_absorption_prefers_a_computed_row_with_hwhm(lab):
    a, b = lab["QD-A"], lab["QD-B"]
    decomposed = record_measurement(model=AbsorptionMeasurement, sample=a, data={
        **_computed(11, "absorption_decomposition"), "peak_1s_nm": 585.2,
        "peak_1s_ev": 2.1187, "hwhm_1s_mev": 41.3, "peak_to_valley": 2.35,
        "measured_at": _at(4)})
    # A later parsed spectrum with only the peak does not displace the decomposition.
    parsed = record_measurement(model=AbsorptionMeasurement, sample=a, data={
        "peak_1s_nm": 586.0, "peak_1s_ev": HC_EV_NM / 586.0, "measured_at": _at(30)})
    # A computed row without a HWHM is no better than any row with a 1S peak.
    record_measurement(model=AbsorptionMeasurement, sample=b, data={
        **_computed(12, "sizing"), "peak_1s_nm": 540.0, "measured_at": _at(2)})
    later_b = record_measurement(model=AbsorptionMeasurement, sample=b, data={
        "source": DataSource.PUBLISHED, "peak_1s_ev": 2.24, "citation": "Figure 1c",
        "age_days": 10.0})
    # No 1S peak: not an absorption row of the frame.
    record_measurement(model=AbsorptionMeasurement, sample=b, data={"measured_at": _at(50)})
    frame = structure_property_frame()
    row = _row(frame, "QD-A")
    assert (row["abs_1s_nm"], row["abs_1s_ev"], row["abs_1s_hwhm_mev"],
            row["abs_peak_to_valley"], row["abs_id"]) == (585.2, 2.1187, 41.3, 2.35,
                                                          decomposed.pk)
    row_b = _row(frame, "QD-B")
    assert (row_b["abs_1s_ev"], row_b["abs_id"]) == (2.24, later_b.pk)
    assert row_b["abs_1s_nm"] == pytest.approx(553.50088571, rel=1e-9)  # hc / 2.24 eV
    assert _nan(row_b["abs_1s_hwhm_mev"]) and _nan(row_b["abs_peak_to_valley"])
    # Before the decomposition existed (as of day 3) nothing qualifies for A; by day 35 the
    # computed row still wins over the later parsed one.
    assert _nan(_row(structure_property_frame(fit_choice="as_of", as_of=3), "QD-A")["abs_id"])
    assert _row(structure_property_frame(fit_choice="as_of", as_of=35), "QD-A")[
        "abs_id"] == decomposed.pk
    retire_record(decomposed, reason="fit window wrong")
    assert _row(structure_property_frame(), "QD-A")["abs_id"] == parsed.pk


# --- diameter from a sizing curve beside TEM ------------------------------------------------

def _sizing(sample: Sample, value: float, err: float | None, *, run_id: int = 21,
            unit: str = "nm", **more) -> ReportedQuantity:
    data = {**_computed(run_id, "sizing_curve"), "quantity": SIZING_QUANTITY, "value": value,
            "err": err, "unit": unit, **more}
    data["extra"] = {**data["extra"], "correlation": "Yu 2003 CdSe"}
    return record_measurement(model=ReportedQuantity, sample=sample, data=data)


def test_sizing_diameter_beside_the_tem_diameter(lab):
    a, b, c = lab["QD-A"], lab["QD-B"], lab["QD-C"]
    tem = record_measurement(model=TEMSizeMeasurement, sample=a, data={
        "diameter_nm": 3.42, "diameter_sd_nm": 0.31, "n_counted": 212, "measured_at": _at(1)})
    _sizing(a, 3.05, 0.12, run_id=20)
    latest = _sizing(a, 3.18, 0.15, run_id=22)
    _sizing(b, 31.0, 1.0, unit="Å")  # not nm: never read as nm
    bound = _sizing(c, 2.0, None, qualifier="<")  # a bound only
    frame = structure_property_frame()
    row = _row(frame, "QD-A")
    assert (row["diameter_nm"], row["tem_id"]) == (3.42, tem.pk)
    assert (row["sizing_diameter_nm"], row["sizing_diameter_nm_err"], row["sizing_correlation"],
            row["sizing_id"]) == (3.18, 0.15, "Yu 2003 CdSe", latest.pk)
    assert _nan(_row(frame, "QD-B")["sizing_diameter_nm"])
    row_c = _row(frame, "QD-C")
    assert _nan(row_c["sizing_diameter_nm"]) and row_c["sizing_id"] == bound.pk
    assert _row(structure_property_frame(include_censored=True), "QD-C")[
        "sizing_diameter_nm"] == 2.0


def test_tem_vs_sizing_curve_correlation_equals_scipy(db):
    """SIMULATED: TEM diameters and sizing-curve diameters of 6 samples; the frame's columns
    correlate as scipy says."""
    clear_frame_cache()
    tem = [2.8, 3.1, 3.6, 4.2, 4.9, 5.5]
    curve = [2.71, 3.22, 3.49, 4.35, 4.80, 5.71]
    for i, (d_tem, d_curve) in enumerate(zip(tem, curve, strict=True)):
        sample = _sample(f"SZ-{i}")
        record_measurement(model=TEMSizeMeasurement, sample=sample,
                           data={"diameter_nm": d_tem, "measured_at": _at(1)})
        _sizing(sample, d_curve, 0.1)
    frame = structure_property_frame()
    result = correlation_of_columns(frame, x="diameter_nm", y="sizing_diameter_nm", draws=50)
    assert result["n"] == 6
    assert result["pearson_r"] == pytest.approx(stats.pearsonr(tem, curve).statistic, rel=1e-12)
    assert result["y_err_column"] == "sizing_diameter_nm_err"


# --- one query, the cache, the API, the explorer ---------------------------------------------

def test_frame_stays_eleven_queries_with_every_result_kind(lab, django_assert_num_queries):
    a = lab["QD-A"]
    _lifetime(a, 2.0, average_tau_ns=10.0)
    record_measurement(model=AbsorptionMeasurement, sample=a, data={"peak_1s_nm": 550.0})
    _sizing(a, 3.0, 0.1)
    record_measurement(model=PLMeasurement, sample=a, data={**_computed(1, "relative_qy"),
                                                           "qy_pct": 40.0, "qy_pct_err": 2.0})
    # One narrow query per branch, the same eleven as on an empty database (no N+1).
    with django_assert_num_queries(11):
        frame = structure_property_frame()
    row = _row(frame, "QD-A")
    assert (row["lifetime_ns"], row["abs_1s_nm"], row["sizing_diameter_nm"],
            row["qy_pct_computed"]) == (10.0, 550.0, 3.0, 40.0)


def test_new_lifetime_and_absorption_show_up_in_the_next_request(lab, api):
    def get(code):
        return api.get(FRAME, {"sample_code": code, "columns":
                               "lifetime_ns,lifetime_kind,abs_1s_hwhm_mev,qy_method"}).json()[0]

    assert get("QD-A") == {"sample_code": "QD-A", "lifetime_ns": None, "lifetime_kind": None,
                           "abs_1s_hwhm_mev": None, "qy_method": None}
    before = data_version()
    _lifetime(lab["QD-A"], 1.0, average_tau_ns=18.4, average_kind="intensity")
    assert data_version() != before
    assert get("QD-A")["lifetime_ns"] == 18.4
    record_measurement(model=AbsorptionMeasurement, sample=lab["QD-A"], data={
        **_computed(2, "absorption_decomposition"), "peak_1s_nm": 560.0, "hwhm_1s_mev": 38.0})
    assert get("QD-A") == {"sample_code": "QD-A", "lifetime_ns": 18.4,
                           "lifetime_kind": "intensity", "abs_1s_hwhm_mev": 38.0,
                           "qy_method": None}
    # A filter on a new column, through the cache.
    kept = cached_structure_property_frame(filters={"lifetime_ns__gt": 10},
                                           columns=["lifetime_ns"])
    assert kept["sample_code"].tolist() == ["QD-A"]


def test_explorer_offers_the_new_columns(lab, client, member):
    for i, sample in enumerate(lab.values()):
        _lifetime(sample, 1.0, average_tau_ns=10.0 + i, average_kind="intensity")
        record_measurement(model=PLMeasurement, sample=sample, data={
            "qy_pct": 20.0 + 5 * i, "qy_method": "relative" if i else "absolute"})
        record_measurement(model=AbsorptionMeasurement, sample=sample, data={
            **_computed(30 + i, "absorption_decomposition"), "peak_1s_nm": 550.0 + 5 * i,
            "hwhm_1s_mev": 40.0 + i, "peak_to_valley": 2.0})
        _sizing(sample, 3.0 + 0.2 * i, 0.1)
    client.force_login(member)
    html = client.get("/explore/?x=lifetime_ns&y=qy_pct&group=qy_method").content.decode()
    for name in ("lifetime_ns", "abs_1s_hwhm_mev", "abs_1s_ev", "sizing_diameter_nm"):
        assert f'<option value="{name}"' in html, name
    assert '<option value="lifetime_ns" selected' in html
    assert '<option value="qy_method" selected' in html


# --- the published demo rows -------------------------------------------------------------

@pytest.fixture
def demo(db):
    load_demo(report=lambda line: None)
    return structure_property_frame()


def test_demo_method_tags_and_published_1s_energies(demo):
    # Seed 004: QYs relative to indocyanine green (printed "≥ 80 %" etc.); seed 000: method
    # not stated, a paper's number.
    assert _row(demo, "S4-QD1270")["qy_method"] == "relative"
    assert _row(demo, "NPL-CdSe/CdZnS-4.5ML")["qy_method"] == "published"
    cdse = _row(demo, "S4-CdSe-ZB-QD-3.3nm")
    assert cdse["abs_1s_ev"] == 2.24
    assert cdse["abs_1s_nm"] == pytest.approx(HC_EV_NM / 2.24, rel=1e-12)
    assert _row(demo, "MSC-311")["abs_1s_nm"] == 311.0
    assert _row(demo, "MSC-311")["abs_1s_ev"] == pytest.approx(HC_EV_NM / 311.0, rel=1e-12)
    # Seed 004 printed only lifetime components (Figure 2j), no mean: no lifetime number.
    assert demo["lifetime_ns"].isna().all()
    assert demo["qy_pct_computed"].isna().all() and demo["sizing_diameter_nm"].isna().all()
