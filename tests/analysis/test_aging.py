"""Aging: series, the 2σ change rule, planned re-measurements and the seed-000 demo study."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.db import transaction
from django.utils import timezone

from analysis.demo import load_demo
from analysis.models import AgingStudy, PlannedRemeasurement
from analysis.selectors.aging import (
    AGING_CHANGE_COLUMNS,
    AGING_SERIES_COLUMNS,
    aging_changes,
    aging_series,
    due_remeasurements,
)
from analysis.services.aging import (
    create_aging_study,
    load_demo_aging_study,
    mark_remeasured,
)
from characterization.models import PLMeasurement, TEMSizeMeasurement
from characterization.services import record_measurement, record_xas_fit
from labdb.lib.errors import DomainError
from synthesis.models import Sample, SampleParent

pytestmark = pytest.mark.django_db

CDZNS_45 = "NPL-CdSe/CdZnS-4.5ML"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The three demo papers, loaded once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_demo(report=lambda line: None)
        yield
        transaction.set_rollback(True)


def _sample(code: str, *, synthesis_date: dt.date | None = None) -> Sample:
    return Sample.objects.create(code=code, name=code, material="CdSe/CdZnS", morphology="NPL",
                                 synthesis_date=synthesis_date)


def _at(day: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)


def _fit(sample, day: int, n: float, n_err: float | None):
    return record_xas_fit(sample=sample, data={"absorber": "Cd", "edge_name": "K",
                                               "source": "computed", "measured_at": _at(day)},
                          paths=[{"absorber": "Cd", "scatterer": "S", "n": n, "n_err": n_err,
                                  "r_a": 2.49, "r_err_a": 0.01}])


# --- the demo: Table 6 / Table S3 ------------------------------------------------------------

def test_demo_aging_cd_s_falls_3_5_to_2_7_not_significant_by_2_sigma(demo):
    series = aging_series(Sample.objects.get(code=CDZNS_45))
    assert list(series.columns) == AGING_SERIES_COLUMNS
    cd_s = series[series["property"] == "cd_s_n"]
    assert [(a if not math.isnan(a) else None, v, e, c, lab) for a, v, e, c, lab in zip(
        cd_s["age_days"], cd_s["value"], cd_s["err"], cd_s["citation"], cd_s["age_label"])] == [
        (None, 2.367, 0.867, "Table 3", ""),
        (76.09, 3.5, 0.3, "Table 6", "2.5 months"),
        (182.62, 2.7, 0.7, "Table 6", "6 months")]
    changes = aging_changes(series)
    assert list(changes.columns) == AGING_CHANGE_COLUMNS
    assert changes["property"].tolist() == ["cd_s_n", "cd_s_r_a", "cd_s_sigma2_a2", "zn_s_n",
                                            "zn_s_r_a", "zn_s_sigma2_a2"]
    row = changes.iloc[0]
    assert (row["from_value"], row["to_value"], row["edge"]) == (3.5, 2.7, "Cd K")
    assert row["delta"] == pytest.approx(-0.8, abs=1e-12)
    assert row["combined_err"] == math.sqrt(0.3 ** 2 + 0.7 ** 2)  # 0.7616
    assert row["threshold"] == 2 * math.sqrt(0.58)  # 1.5232 > |−0.8|
    assert (bool(row["significant"]), row["verdict"]) == (False, "not significant")
    zn = changes.iloc[3]
    assert (zn["from_value"], zn["to_value"], zn["edge"]) == (4.8, 4.9, "Zn K")
    assert zn["delta"] == pytest.approx(0.1, abs=1e-12)
    assert zn["combined_err"] == math.sqrt(0.4 ** 2 + 0.8 ** 2)
    # Nothing in the paper's aging tables passes the 2σ rule.
    assert changes["significant"].tolist() == [False] * 6
    assert set(changes["verdict"]) == {"not significant"}


def test_demo_aging_series_is_one_query_and_lineage_three(demo, django_assert_num_queries):
    sample = Sample.objects.get(code=CDZNS_45)
    with django_assert_num_queries(1):
        series = aging_series(sample)
    assert set(series["sample_code"]) == {CDZNS_45}
    with django_assert_num_queries(3):
        lineage = aging_series(sample, include_lineage=True)
    assert sorted(set(lineage["sample_code"])) == ["NPL-CdSe-4.5ML", CDZNS_45]
    assert len(lineage) == len(series) + 9  # the core: Tables 1 and 2 (Se–Cd, Cd–Se, Cd–O)


def test_demo_aging_study_is_idempotent(demo):
    from django.contrib.auth.models import User

    actor = User.objects.get(username="demo")
    first = load_demo_aging_study(actor)  # load_demo may already have created it
    second = load_demo_aging_study(actor)
    assert first.pk == second.pk
    assert AgingStudy.objects.filter(sample__code=CDZNS_45).count() == 1
    today = timezone.localdate()
    assert (first.storage_condition, first.started_on) == ("ambient conditions, in a premise",
                                                           today)
    planned = list(first.planned.values_list("label", "due_on", "done_on"))
    assert planned == [("2.5 months", today + dt.timedelta(days=76), None),
                       ("6 months", today + dt.timedelta(days=183), None),
                       ("1.5 years", today + dt.timedelta(days=548), None)]
    due = due_remeasurements(today + dt.timedelta(days=183))
    assert due[["sample_code", "label", "days_overdue", "status"]].values.tolist() == [
        [CDZNS_45, "2.5 months", 107, "overdue"], [CDZNS_45, "6 months", 0, "due"]]


# --- synthetic samples with dates ------------------------------------------------------------

def test_age_from_measured_at_minus_synthesis_date_and_significant_drop(member):
    sample = _sample("AGE-1", synthesis_date=dt.date(2024, 1, 1))
    first, second = _fit(sample, 10, 4.0, 0.1), _fit(sample, 40, 3.0, 0.2)
    series = aging_series(sample)
    n = series[series["property"] == "cd_s_n"]
    assert n[["age_days", "value", "err", "measurement_id"]].values.tolist() == [
        [10.0, 4.0, 0.1, first.pk], [40.0, 3.0, 0.2, second.pk]]
    change = aging_changes(series).set_index("property").loc["cd_s_n"]
    assert change["delta"] == -1.0
    assert change["combined_err"] == math.sqrt(0.1 ** 2 + 0.2 ** 2)
    assert (bool(change["significant"]), change["verdict"]) == (True, "significant")


def test_missing_error_makes_the_test_undefined(member):
    sample = _sample("AGE-2", synthesis_date=dt.date(2024, 1, 1))
    for day, qy in ((5, 80.0), (95, 60.0)):
        record_measurement(model=PLMeasurement, sample=sample,
                           data={"qy_pct": qy, "measured_at": _at(day)})
    change = aging_changes(aging_series(sample)).iloc[0]
    assert (change["property"], change["delta"], change["from_age_days"],
            change["to_age_days"]) == ("qy_pct", -20.0, 5.0, 95.0)
    assert math.isnan(change["combined_err"])
    assert (bool(change["significant"]), change["verdict"]) == (False,
                                                                "undefined (error missing)")


def test_tem_error_is_standard_error_of_the_mean(member):
    sample = _sample("AGE-3", synthesis_date=dt.date(2024, 1, 1))
    record_measurement(model=TEMSizeMeasurement, sample=sample, data={
        "length_nm": 20.0, "length_sd_nm": 2.0, "n_counted": 100, "measured_at": _at(1)})
    series = aging_series(sample)
    row = series[series["property"] == "tem_length_nm"].iloc[0]
    assert (row["value"], row["err"], row["age_days"]) == (20.0, 0.2, 1.0)


def test_stored_age_used_when_no_synthesis_date(member):
    sample = _sample("AGE-4")
    record_measurement(model=PLMeasurement, sample=sample, data={
        "qy_pct": 50.0, "age_label": "3 months", "age_days": 91.31, "measured_at": _at(3)})
    assert aging_series(sample)["age_days"].tolist() == [91.31]


def test_lineage_includes_parent_core(member):
    core = _sample("AGE-CORE", synthesis_date=dt.date(2024, 1, 1))
    shell = _sample("AGE-SHELL", synthesis_date=dt.date(2024, 1, 2))
    SampleParent.objects.create(child=shell, parent=core, process="shell_growth")
    _fit(core, 3, 3.4, 0.2)
    _fit(shell, 5, 2.4, 0.3)
    lineage = aging_series(shell, include_lineage=True)
    assert lineage[lineage["property"] == "cd_s_n"][["sample_code", "value"]].values.tolist() \
        == [["AGE-CORE", 3.4], ["AGE-SHELL", 2.4]]
    # Changes compare points of the same sample only.
    assert aging_changes(lineage).empty


# --- planning --------------------------------------------------------------------------------

def test_create_study_from_labels_and_dates_and_due_list(member, django_assert_num_queries):
    sample = _sample("AGE-5", synthesis_date=dt.date(2024, 1, 1))
    study = create_aging_study(sample=sample, storage_condition="dark, argon, 4 °C",
                               planned=["1 month", dt.date(2024, 6, 1),
                                        {"label": "1 year", "due_on": dt.date(2025, 1, 2)}],
                               actor=member)
    assert study.owner == member
    assert list(study.planned.values_list("label", "due_on")) == [
        ("1 month", dt.date(2024, 1, 31)), ("", dt.date(2024, 6, 1)),
        ("1 year", dt.date(2025, 1, 2))]
    with django_assert_num_queries(1):
        due = due_remeasurements(dt.date(2024, 6, 1), horizon_days=7)
    assert due[["label", "due_on", "days_overdue", "status"]].values.tolist() == [
        ["1 month", dt.date(2024, 1, 31), 122, "overdue"], ["", dt.date(2024, 6, 1), 0, "due"]]
    first = PlannedRemeasurement.objects.get(study=study, label="1 month")
    done = mark_remeasured(planned=first, done_on=dt.date(2024, 2, 2), actor=member,
                           note="PL + TEM")
    assert (done.done_on, done.note) == (dt.date(2024, 2, 2), "PL + TEM")
    assert mark_remeasured(planned=first, done_on=dt.date(2024, 2, 2), actor=member).pk == \
        first.pk
    with pytest.raises(DomainError, match="already recorded as done on 2024-02-02"):
        mark_remeasured(planned=first, done_on=dt.date(2024, 2, 3), actor=member)
    assert due_remeasurements(dt.date(2024, 6, 1))["label"].tolist() == [""]
    assert due_remeasurements(dt.date(2024, 5, 1), horizon_days=60)["status"].tolist() == [
        "upcoming"]


def test_create_study_rejects_label_without_start_and_empty_storage(member):
    sample = _sample("AGE-6")
    with pytest.raises(DomainError, match="give started_on"):
        create_aging_study(sample=sample, storage_condition="ambient", planned=["6 months"],
                           actor=member)
    with pytest.raises(DomainError, match="storage_condition"):
        create_aging_study(sample=sample, storage_condition=" ", planned=[], actor=member)
    with pytest.raises(DomainError, match="planned\\[1\\]: 'soon' is neither a date"):
        create_aging_study(sample=sample, storage_condition="ambient", planned=["soon"],
                           actor=member, started_on=dt.date(2024, 1, 1))
    assert not AgingStudy.objects.filter(sample=sample).exists()


def test_mark_remeasured_rejects_future_and_before_start(member):
    study = create_aging_study(sample=_sample("AGE-7"), storage_condition="ambient",
                               planned=["2 weeks"], actor=member,
                               started_on=dt.date(2024, 3, 1))
    planned = study.planned.get()
    with pytest.raises(DomainError, match="in the future"):
        mark_remeasured(planned=planned, done_on=timezone.localdate() + dt.timedelta(days=1),
                        actor=member)
    with pytest.raises(DomainError, match="before the study started"):
        mark_remeasured(planned=planned, done_on=dt.date(2024, 2, 1), actor=member)
